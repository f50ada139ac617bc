//! What is said about the WAF IP-set kind: its section of the run's summary (`waf_ip_sets`) and of
//! `sgsync status`, its diff, and each action in a few words.

use std::fmt::{self, Write as _};

use serde::Serialize;

use super::model::{Action, Changes, Scope};
use super::part::Part;
use crate::guard::{self, GuardError, GuardLimits};
use crate::kind::Section;
use crate::kind::{Desired, Gauge, Kind};
use crate::ownership::Unrecorded;
use crate::rule::Family;
use ipnet::IpNet;
use std::collections::BTreeSet;

/// One managed WAF IP set after the run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(super) struct SetSummary {
    /// Its id; `None` for a set `plan` would create.
    pub(super) id: Option<String>,
    /// What a web ACL rule names; `None` for a set `plan` would create.
    pub(super) arn: Option<String>,
    pub(super) name: String,
    pub(super) family: Family,
    pub(super) addresses: usize,
}

/// The WAF kind in a run's summary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
struct SetsSummary {
    pub(super) scope: Scope,
    pub(super) sets: Vec<SetSummary>,
    pub(super) changes: Changes,
    /// Sets of this deployment's names that it did not record: never filled.
    pub(super) unrecorded: Vec<Unrecorded>,
    /// Sets to retire that a web ACL still uses: kept, no longer synced.
    pub(super) kept: Vec<String>,
    pub(super) actions: Vec<Action>,
}

/// The sets after the run (as observed, when the run planned nothing).
pub(super) fn sets_after(s: &Part) -> Vec<SetSummary> {
    if s.plan.layout.is_empty() {
        return s
            .observed
            .sets
            .iter()
            .map(|x| SetSummary {
                id: Some(x.id.clone()),
                arn: s.arns.get(&x.id).cloned(),
                name: x.name.clone(),
                family: x.family,
                addresses: x.addresses.len(),
            })
            .collect();
    }
    s.plan
        .layout
        .iter()
        .map(|(name, (family, addresses))| {
            let id = s.ids.get(name).cloned();
            SetSummary {
                arn: id.as_ref().and_then(|id| s.arns.get(id).cloned()),
                id,
                name: name.clone(),
                family: *family,
                addresses: addresses.len(),
            }
        })
        .collect()
}

/// The kind's section of the run's summary.
pub(super) fn summary(s: &Part) -> Section {
    let summary = SetsSummary {
        scope: s.scope,
        sets: sets_after(s),
        changes: s.changes,
        unrecorded: s.observed.unrecorded.clone(),
        kept: s.kept.clone(),
        actions: s.plan.actions.clone(),
    };
    Section {
        key: Some("waf_ip_sets"),
        value: serde_json::to_value(summary).expect("a summary serializes"),
    }
}

/// One managed WAF IP set in `sgsync status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
struct SetStatus {
    id: String,
    /// What a web ACL rule names.
    arn: Option<String>,
    name: String,
    family: Family,
    addresses: usize,
    synctoken: Option<u64>,
    /// Its synctoken is older than the newest of the sets: not synced with them (a family no longer
    /// selected that a web ACL still uses, a run that stopped midway).
    stale: bool,
}

/// The WAF IP sets in `sgsync status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
struct SetsStatus {
    scope: Scope,
    sets: Vec<SetStatus>,
}

fn sets_status(s: &Part) -> SetsStatus {
    let newest = s.observed.synctokens().max();
    SetsStatus {
        scope: s.scope,
        sets: s
            .observed
            .sets
            .iter()
            .map(|x| SetStatus {
                id: x.id.clone(),
                arn: s.arns.get(&x.id).cloned(),
                name: x.name.clone(),
                family: x.family,
                addresses: x.addresses.len(),
                synctoken: x.synctoken,
                stale: x.synctoken < newest,
            })
            .collect(),
    }
}

/// The kind's section of `sgsync status`.
pub(super) fn status(s: &Part) -> Section {
    Section {
        key: Some("waf_ip_sets"),
        value: serde_json::to_value(sets_status(s)).expect("a status serializes"),
    }
}

/// The kind's part of `sgsync status` as text.
pub(super) fn status_text(s: &Part, prefix: &str, synctoken: &str) -> String {
    let status = sets_status(s);
    let mut f = String::new();
    let _ = writeln!(
        f,
        "WAF IP sets ({}): {} managed with prefix {prefix} (synctoken {synctoken})",
        status.scope,
        status.sets.len(),
    );
    for set in &status.sets {
        let token = match (set.synctoken, set.stale) {
            (Some(t), true) => format!("STALE at synctoken {t}"),
            (Some(t), false) => format!("synctoken {t}"),
            (None, _) => "no synctoken".to_string(),
        };
        let _ = writeln!(
            f,
            "  {} ({}): {} addresses, {token}, {}",
            set.name,
            set.family,
            set.addresses,
            set.arn.as_deref().unwrap_or(&set.id)
        );
    }
    f
}

/// The WAF IP sets to create (+) and update (~), with every address added or removed.
pub(super) fn diff(s: &Part) -> String {
    let mut out = String::new();
    for action in &s.plan.actions {
        match action {
            Action::Create {
                set,
                family,
                addresses,
                ..
            } => {
                let _ = writeln!(out, "  + WAF IP set {set} (new, {family}, {})", s.scope);
                for a in addresses {
                    let _ = writeln!(out, "      + {a}");
                }
            }
            Action::Update {
                set, add, remove, ..
            } => {
                let id = s.ids.get(set).map_or("", String::as_str);
                let _ = writeln!(out, "  ~ WAF IP set {set} ({id})");
                for a in add {
                    let _ = writeln!(out, "      + {a}");
                }
                for r in remove {
                    let _ = writeln!(out, "      - {r}");
                }
            }
            Action::RecordSynctoken { sets, synctoken } => {
                let _ = writeln!(
                    out,
                    "  ~ record synctoken {synctoken} on {}",
                    sets.join(", ")
                );
            }
            Action::Adopt { sets } => {
                let _ = writeln!(
                    out,
                    "  ~ adopt {} (--adopt: made by an sgsync that kept no record; recorded as this \
                     deployment's)",
                    sets.join(", ")
                );
            }
            Action::Retire { set, id } => {
                let _ = writeln!(
                    out,
                    "  - WAF IP set {set} ({id}): of an earlier selection or an unselected family: deleted \
                     unless a web ACL still uses it"
                );
            }
            Action::Reclaim { set, id } => {
                let _ = writeln!(
                    out,
                    "  - WAF IP set {set} ({id}): carries this deployment's tags but is not in its record, \
                     empty (a run stopped between creating and recording it): deleted and made again"
                );
            }
            Action::Forget { arns } => {
                let _ = writeln!(
                    out,
                    "  ~ record: forget {} (no longer exist)",
                    arns.join(", ")
                );
            }
        }
    }
    out
}

/// A WAF action in a few words, for logs and errors.
impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Create { set, addresses, .. } => {
                write!(
                    f,
                    "create WAF IP set {set} with {} addresses",
                    addresses.len()
                )
            }
            Action::Update {
                set, add, remove, ..
            } => write!(
                f,
                "update WAF IP set {set} (+{} −{})",
                add.len(),
                remove.len()
            ),
            Action::RecordSynctoken { sets, synctoken } => {
                write!(
                    f,
                    "record synctoken {synctoken} on {} WAF IP sets",
                    sets.len()
                )
            }
            Action::Adopt { sets } => write!(
                f,
                "record {} WAF IP sets made by an sgsync that kept no record as this deployment's",
                sets.len()
            ),
            Action::Retire { set, .. } => write!(f, "retire WAF IP set {set}"),
            Action::Reclaim { set, .. } => {
                write!(f, "delete the empty unrecorded WAF IP set {set}")
            }
            Action::Forget { arns } => write!(f, "forget {} deleted WAF IP sets", arns.len()),
        }
    }
}

/// What is said about the kind's part: the guards against what it holds, its sections, its diff.
impl Kind for Part {
    fn noun(&self) -> &'static str {
        "WAF IP sets"
    }

    fn synctokens(&self) -> Vec<u64> {
        self.observed.synctokens().collect()
    }

    fn check(&self, desired: &Desired, limits: &GuardLimits) -> Result<(), GuardError> {
        let applied: BTreeSet<IpNet> = self
            .observed
            .sets
            .iter()
            .flat_map(|s| s.addresses.iter().copied())
            .collect();
        guard::check_entries(
            "WAF IP set addresses",
            &applied,
            &desired.nets,
            &desired.families,
            limits,
        )
    }

    fn planned(&self) -> bool {
        !self.plan.is_empty()
    }

    fn changes_made(&self) -> usize {
        let c = &self.changes;
        c.sets_created + c.sets_updated + c.addresses_added + c.addresses_removed
    }

    fn changes_text(&self, planned: bool) -> String {
        let c = &self.changes;
        if planned {
            format!(
                "{} WAF IP set(s) to create, {} to update ({} address(es) to add, {} to remove)",
                c.sets_created, c.sets_updated, c.addresses_added, c.addresses_removed
            )
        } else {
            format!(
                "{} WAF IP set(s) created, {} updated ({} address(es) added, {} removed)",
                c.sets_created, c.sets_updated, c.addresses_added, c.addresses_removed
            )
        }
    }

    fn warnings(&self) -> Vec<String> {
        self.observed.warnings.clone()
    }

    fn summary(&self) -> Section {
        summary(self)
    }

    fn headline(&self) -> String {
        let sets = sets_after(self);
        let c = &self.changes;
        format!(
            "{} addresses in {} sets; {} sets created, {} updated, {} addresses added, {} removed",
            sets.iter().map(|x| x.addresses).sum::<usize>(),
            sets.len(),
            c.sets_created,
            c.sets_updated,
            c.addresses_added,
            c.addresses_removed
        )
    }

    fn diff(&self) -> String {
        diff(self)
    }

    fn line(&self) -> String {
        format!("{} WAF IP sets", sets_after(self).len())
    }

    fn status_line(&self) -> String {
        format!("{} WAF IP sets", self.observed.sets.len())
    }

    fn status(&self) -> Section {
        status(self)
    }

    fn status_text(&self, prefix: &str, synctoken: &str) -> String {
        status_text(self, prefix, synctoken)
    }

    fn errors(&self) -> Vec<String> {
        (self.kept.iter())
            .map(|set| {
                format!(
                    "WAF IP set {set} is of an earlier SERVICE or an IP family no longer selected, and a web ACL or \
                     rule group still uses it: it is no longer synced (what it allows goes stale); point \
                     those rules at this deployment's current sets, then the next run deletes it"
                )
            })
            .collect()
    }

    fn gauges(&self) -> Vec<Gauge> {
        vec![Gauge {
            dimension: None,
            values: vec![(
                "UnrecordedIpSets",
                "Count",
                self.observed.unrecorded.len() as f64,
            )],
        }]
    }
}
