//! The pure planner of the WAF IP-set kind. A set is replaced whole in one call, so there is no
//! ordering to argue: each update goes from the old published set straight to the new one (nothing
//! published is ever missing, nothing else ever allowed). Writes only where addresses differ.

use std::collections::{BTreeMap, BTreeSet};

use ipnet::IpNet;
use thiserror::Error;

use super::model::{ADDRESSES_LIMIT, Action, Desired, Observed, Plan};
use crate::ownership::Conflict;
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
    #[error(
        "WAF IP set {} ({}) is owned by deployment '{}' (tag sgsync:deployment), not by this one; nothing was \
         changed. Give one of the deployments another PREFIX_NAME, or run as that deployment (DEPLOYMENT_ID={})",
        .0[0].name, .0[0].id, .0[0].deployment, .0[0].deployment
    )]
    Conflict(Vec<Conflict>),
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
    if !observed.conflicts.is_empty() {
        return Err(PlanError::Conflict(observed.conflicts.clone()));
    }
    let mut actions = Vec::new();
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
            None => actions.push(Action::Create {
                set: name.clone(),
                family,
                addresses: wanted.iter().copied().collect(),
                synctoken: desired.synctoken,
            }),
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
    Ok(Plan { actions, layout })
}
