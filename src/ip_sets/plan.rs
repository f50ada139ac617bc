//! The pure planner of the WAF IP-set kind. A set is replaced whole in one call, so there is no
//! ordering to argue: each update goes from the old published set straight to the new one (nothing
//! published is ever missing, nothing else ever allowed). Writes only where addresses differ.

use std::collections::{BTreeMap, BTreeSet};

use ipnet::IpNet;
use thiserror::Error;

use super::model::{ADDRESSES_LIMIT, Action, Desired, Observed, Plan};
use crate::rule::Family;

/// Why no plan could be made. Nothing has been changed.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum PlanError {
    #[error(
        "the desired state has no CIDRs; refusing to empty the managed WAF IP sets (check SERVICE, SERVICE_REGIONS and IP_VERSIONS)"
    )]
    NoDesiredAddresses,
    #[error(
        "{count} {family} CIDRs do not fit in one WAF IP set (at most {ADDRESSES_LIMIT}); nothing was changed: \
         select fewer ranges (SERVICE, SERVICE_REGIONS)"
    )]
    TooMany { family: Family, count: usize },
    /// WAF keeps names unique: a set of this name the deployment did not record blocks it.
    #[error(
        "WAF IP set {set} ({id}) has this deployment's name but is not in its record ({record}); no WAF IP \
         set was changed. Tags are anyone's to write: delete or rename that set, or, if an sgsync that \
         kept no record made it, run `sgsync apply --adopt`"
    )]
    NameTaken {
        set: String,
        id: String,
        record: String,
    },
}

/// The set name of a family: `{stem}-ipv4`, `{stem}-ipv6`.
pub fn set_name(stem: &str, family: Family) -> String {
    format!("{stem}-{}", family.tag())
}

/// Plans the actions that make the sets hold exactly `desired`.
pub fn plan(desired: &Desired, observed: &Observed) -> Result<Plan, PlanError> {
    if desired.nets.is_empty() {
        return Err(PlanError::NoDesiredAddresses);
    }
    let mut actions = Vec::new();
    let adopt: Vec<String> = (observed.sets.iter().filter(|s| s.adopt))
        .map(|s| s.name.clone())
        .collect();
    if !adopt.is_empty() {
        actions.push(Action::Adopt { sets: adopt });
    }
    let mut layout = BTreeMap::new();
    let mut retag = Vec::new();
    for &family in &desired.families {
        let wanted: BTreeSet<IpNet> = desired
            .nets
            .iter()
            .filter(|n| family.holds(n))
            .copied()
            .collect();
        if wanted.len() > ADDRESSES_LIMIT {
            return Err(PlanError::TooMany {
                family,
                count: wanted.len(),
            });
        }
        let name = set_name(&desired.stem, family);
        match observed.sets.iter().find(|s| s.name == name) {
            None => {
                if let Some(u) = observed.unrecorded.iter().find(|u| u.name == name) {
                    if !u.reclaimable {
                        return Err(PlanError::NameTaken {
                            set: name,
                            id: u.id.clone(),
                            record: desired.record.clone(),
                        });
                    }
                    actions.push(Action::Reclaim {
                        set: name.clone(),
                        id: u.id.clone(),
                    });
                }
                actions.push(Action::Create {
                    set: name.clone(),
                    family,
                    addresses: wanted.iter().copied().collect(),
                    synctoken: desired.synctoken,
                });
            }
            Some(set) => {
                if set.addresses != wanted {
                    actions.push(Action::Update {
                        set: name.clone(),
                        add: wanted.difference(&set.addresses).copied().collect(),
                        remove: set.addresses.difference(&wanted).copied().collect(),
                        addresses: wanted.iter().copied().collect(),
                    });
                }
                if set.synctoken != Some(desired.synctoken) {
                    retag.push(name.clone());
                }
            }
        }
        layout.insert(name, (family, wanted));
    }
    if !retag.is_empty() {
        actions.push(Action::RecordSynctoken {
            sets: retag,
            synctoken: desired.synctoken,
        });
    }
    // Sets of a family no longer selected, and of an earlier selection: after everything else.
    let unselected = (observed.sets.iter())
        .filter(|s| !desired.families.contains(&s.family))
        .map(|s| (&s.name, &s.id));
    let earlier = observed.retiring.iter().map(|r| (&r.name, &r.id));
    for (name, id) in unselected.chain(earlier) {
        actions.push(Action::Retire {
            set: name.clone(),
            id: id.clone(),
        });
    }
    if !observed.missing.is_empty() {
        actions.push(Action::Forget {
            arns: observed.missing.clone(),
        });
    }
    Ok(Plan { actions, layout })
}
