//! What is said about the prefix-list kind: its section of the run's summary (`prefix_lists`) and of
//! `sgsync status`, its diff, and each action in a few words.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use serde::Serialize;

use super::model::{Action, Changes, Retiring, Share};
use super::part::Part;
use crate::guard::{self, GuardError, GuardLimits};
use crate::kind::Section;
use crate::kind::{Desired, Gauge, Kind};
use crate::ownership::Unrecorded;
use crate::rule::Family;
use ipnet::IpNet;
use std::collections::BTreeSet;

/// One managed prefix list after the run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(super) struct ListSummary {
    /// `pl-…`; `None` for a list `plan` would create.
    pub(super) id: Option<String>,
    pub(super) name: String,
    pub(super) family: Family,
    /// Its size: also its weight in each security-group rule that references it.
    pub(super) max_entries: usize,
    pub(super) entries: usize,
}

/// The prefix-list kind in a run's summary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
struct ListsSummary {
    pub(super) lists: Vec<ListSummary>,
    pub(super) changes: Changes,
    /// Lists left empty that something still references: kept until nothing does.
    pub(super) kept: Vec<String>,
    /// The RAM share, when `SHARE_WITH` names principals.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) share: Option<Share>,
    /// Lists carrying this deployment's tags and name that it did not record: never filled.
    pub(super) unrecorded: Vec<Unrecorded>,
    /// Recorded lists of an earlier selection, no longer synced.
    pub(super) retiring: Vec<Retiring>,
    pub(super) actions: Vec<Action>,
}

/// The lists after the run (as observed, when the run planned nothing).
pub(super) fn lists_after(l: &Part) -> Vec<ListSummary> {
    if l.plan.layout.is_empty() {
        return l
            .observed
            .lists
            .iter()
            .map(|x| ListSummary {
                id: Some(x.id.clone()),
                name: x.name.clone(),
                family: x.family,
                max_entries: x.max_entries,
                entries: x.entries.len(),
            })
            .collect();
    }
    l.plan
        .layout
        .iter()
        .map(|(name, after)| ListSummary {
            id: match &l.ids {
                Some(ids) => ids.get(name).cloned(),
                None => l
                    .observed
                    .lists
                    .iter()
                    .find(|x| &x.name == name)
                    .map(|x| x.id.clone()),
            },
            name: name.clone(),
            family: after.family,
            max_entries: after.max_entries,
            entries: after.entries.len(),
        })
        .collect()
}

/// The kind's section of the run's summary.
pub(super) fn summary(l: &Part) -> Section {
    let s = ListsSummary {
        lists: lists_after(l),
        changes: l.changes,
        kept: l.kept.clone(),
        share: l.share.clone(),
        unrecorded: l.observed.unrecorded.clone(),
        retiring: l.observed.retiring.clone(),
        actions: l.plan.actions.clone(),
    };
    Section {
        key: Some("prefix_lists"),
        value: serde_json::to_value(s).expect("a summary serializes"),
    }
}

/// One managed prefix list in `sgsync status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
struct ListStatus {
    id: String,
    name: String,
    family: Family,
    /// Its size: its weight in each security-group rule that references it.
    max_entries: usize,
    entries: usize,
    synctoken: Option<u64>,
    /// Its synctoken is older than the newest of the lists: it was not synced with them (a family
    /// no longer selected, a run that stopped midway).
    stale: bool,
    /// What references it (security groups, route tables …, in this or a sharing account).
    referenced_by: Vec<String>,
}

fn list_status(l: &Part) -> Vec<ListStatus> {
    let newest = l.observed.synctokens().max();
    l.observed
        .lists
        .iter()
        .map(|x| ListStatus {
            stale: x.synctoken < newest,
            id: x.id.clone(),
            name: x.name.clone(),
            family: x.family,
            max_entries: x.max_entries,
            entries: x.entries.len(),
            synctoken: x.synctoken,
            referenced_by: l.references.get(&x.id).cloned().unwrap_or_default(),
        })
        .collect()
}

/// The kind's section of `sgsync status`.
pub(super) fn status(l: &Part) -> Section {
    Section {
        key: Some("prefix_lists"),
        value: serde_json::to_value(list_status(l)).expect("a status serializes"),
    }
}

/// The kind's part of `sgsync status` as text.
pub(super) fn status_text(l: &Part, prefix: &str, synctoken: &str) -> String {
    let lists = list_status(l);
    let mut f = String::new();
    let _ = writeln!(
        f,
        "Prefix lists: {} managed with prefix {prefix} (synctoken {synctoken})",
        lists.len(),
    );
    for x in lists {
        let refs = if x.referenced_by.is_empty() {
            "not referenced".to_string()
        } else {
            format!("referenced by {}", x.referenced_by.join(", "))
        };
        let token = match (x.synctoken, x.stale) {
            (Some(t), true) => format!(", STALE at synctoken {t}"),
            (Some(t), false) => format!(", synctoken {t}"),
            (None, _) => ", no synctoken".to_string(),
        };
        let _ = writeln!(
            f,
            "  {} {} ({}): {} of {} entries{token}, {refs}",
            x.id, x.name, x.family, x.entries, x.max_entries
        );
    }
    f
}

/// The prefix lists to create (+), change (~) and delete (-), with every entry added or removed.
pub(super) fn diff(l: &Part) -> String {
    let mut out = String::new();
    let id_of = |name: &str| {
        l.observed
            .lists
            .iter()
            .find(|x| x.name == name)
            .map_or_else(String::new, |x| x.id.clone())
    };
    // Per list, in plan order: its header once, then its lines.
    let mut order: Vec<&str> = Vec::new();
    let mut lines: BTreeMap<&str, (String, Vec<String>)> = BTreeMap::new();
    for action in &l.plan.actions {
        let (name, header, body): (&str, Option<String>, Vec<String>) = match action {
            Action::Create {
                list,
                family,
                max_entries,
                entries,
                ..
            } => (
                list,
                Some(format!(
                    "  + prefix list {list} (new, {family}, max {max_entries} entries)"
                )),
                entries.iter().map(|n| format!("+ {n}")).collect(),
            ),
            Action::Resize { list, from, to } => {
                (list, None, vec![format!("max entries {from} → {to}")])
            }
            Action::Modify {
                list,
                add,
                remove,
                late,
            } => (
                list,
                None,
                add.iter()
                    .map(|n| format!("+ {n}"))
                    .chain(remove.iter().map(|n| {
                        let why = if *late {
                            "  (late: held by another list too)"
                        } else {
                            ""
                        };
                        format!("- {n}{why}")
                    }))
                    .collect(),
            ),
            Action::Delete { list } => (
                list,
                Some(format!("  - prefix list {list} ({})", id_of(list))),
                Vec::new(),
            ),
            Action::RecordSynctoken { lists, synctoken } => {
                let _ = writeln!(
                    out,
                    "  ~ record synctoken {synctoken} on {}",
                    lists.join(", ")
                );
                continue;
            }
            Action::Adopt { lists } => {
                let _ = writeln!(
                    out,
                    "  ~ adopt {} (--adopt: made by an sgsync that kept no record; recorded as this \
                     deployment's)",
                    lists.join(", ")
                );
                continue;
            }
            Action::Retire { list, id } => {
                let _ = writeln!(
                    out,
                    "  - prefix list {list} ({id}): of an earlier SERVICE or PREFIX_NAME, referenced by \
                     nothing: deleted"
                );
                continue;
            }
            Action::Reclaim { list, id } => {
                let _ = writeln!(
                    out,
                    "  - prefix list {list} ({id}): carries this deployment's tags but is not in its record, \
                     empty and referenced by nothing (a run stopped between creating and recording it): \
                     deleted, its name is free"
                );
                continue;
            }
            Action::Forget { ids } => {
                let _ = writeln!(
                    out,
                    "  ~ record: forget {} (no longer exist)",
                    ids.join(", ")
                );
                continue;
            }
        };
        if !lines.contains_key(name) {
            order.push(name);
            let header = header
                .clone()
                .unwrap_or_else(|| format!("  ~ prefix list {name} ({})", id_of(name)));
            lines.insert(name, (header, Vec::new()));
        }
        let slot = lines.get_mut(name).expect("inserted above");
        if let Some(h) = header {
            slot.0 = h;
        }
        slot.1.extend(body);
    }
    let mut text = String::new();
    for name in order {
        let (header, body) = &lines[name];
        let _ = writeln!(text, "{header}");
        for line in body {
            let _ = writeln!(text, "      {line}");
        }
    }
    text.push_str(&out);
    if let Some(share) = &l.share
        && (share.lists_added > 0 || share.principals_added > 0)
    {
        let _ = writeln!(
            text,
            "  {} RAM share {}: +{} list(s), +{} principal(s) of {}",
            if share.arn.is_some() { "~" } else { "+" },
            share.name,
            share.lists_added,
            share.principals_added,
            share.principals.join(", ")
        );
    }
    text
}

/// A prefix-list action in a few words, for logs and errors.
impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Create { list, entries, .. } => {
                write!(
                    f,
                    "create prefix list {list} with {} entries",
                    entries.len()
                )
            }
            Action::Resize { list, from, to } => {
                write!(f, "resize prefix list {list} from {from} to {to} entries")
            }
            Action::Modify {
                list, add, remove, ..
            } => write!(
                f,
                "modify prefix list {list} (+{} −{})",
                add.len(),
                remove.len()
            ),
            Action::Delete { list } => write!(f, "delete prefix list {list}"),
            Action::Adopt { lists } => write!(
                f,
                "record {} prefix lists made by an sgsync that kept no record as this deployment's",
                lists.len()
            ),
            Action::Retire { list, .. } => {
                write!(f, "delete prefix list {list} of an earlier selection")
            }
            Action::Reclaim { list, .. } => {
                write!(f, "delete the empty unrecorded prefix list {list}")
            }
            Action::Forget { ids } => write!(f, "forget {} deleted prefix lists", ids.len()),
            Action::RecordSynctoken { lists, synctoken } => {
                write!(
                    f,
                    "record synctoken {synctoken} on {} prefix lists",
                    lists.len()
                )
            }
        }
    }
}

/// What is said about the kind's part: the guards against what it holds, its sections, its diff.
impl Kind for Part {
    fn noun(&self) -> &'static str {
        "prefix lists"
    }

    fn synctokens(&self) -> Vec<u64> {
        self.observed.synctokens().collect()
    }

    fn check(&self, desired: &Desired, limits: &GuardLimits) -> Result<(), GuardError> {
        let applied: BTreeSet<IpNet> = self
            .observed
            .lists
            .iter()
            .flat_map(|l| l.entries.iter().copied())
            .collect();
        guard::check_entries(
            "prefix-list entries",
            &applied,
            &desired.nets,
            &desired.families,
            limits,
        )
    }

    fn planned(&self) -> bool {
        let share_needed = self
            .share
            .as_ref()
            .is_some_and(|s| s.arn.is_none() || s.lists_added + s.principals_added > 0);
        !self.plan.is_empty() || share_needed
    }

    fn changes_made(&self) -> usize {
        let c = &self.changes;
        c.lists_created + c.lists_resized + c.entries_added + c.entries_removed + c.lists_deleted
    }

    fn changes_text(&self, planned: bool) -> String {
        let c = &self.changes;
        if planned {
            format!(
                "{} prefix list(s) to create, {} to resize, {} entr(ies) to add, {} to remove, {} list(s) to delete",
                c.lists_created,
                c.lists_resized,
                c.entries_added,
                c.entries_removed,
                c.lists_deleted
            )
        } else {
            format!(
                "{} prefix list(s) created, {} resized, {} entr(ies) added, {} removed, {} list(s) deleted",
                c.lists_created,
                c.lists_resized,
                c.entries_added,
                c.entries_removed,
                c.lists_deleted
            )
        }
    }

    fn warnings(&self) -> Vec<String> {
        self.observed.warnings.clone()
    }

    fn errors(&self) -> Vec<String> {
        let share = self.share_error.iter().map(|e| format!("RAM share: {e}"));
        self.observed.errors.iter().cloned().chain(share).collect()
    }

    fn summary(&self) -> Section {
        summary(self)
    }

    fn headline(&self) -> String {
        let lists = lists_after(self);
        let c = &self.changes;
        format!(
            "{} entries in {} lists; {} lists created, {} resized, {} entries added, {} removed, {} lists deleted",
            lists.iter().map(|x| x.entries).sum::<usize>(),
            lists.len(),
            c.lists_created,
            c.lists_resized,
            c.entries_added,
            c.entries_removed,
            c.lists_deleted
        )
    }

    fn diff(&self) -> String {
        diff(self)
    }

    fn line(&self) -> String {
        format!("{} prefix lists", lists_after(self).len())
    }

    fn status_line(&self) -> String {
        format!("{} prefix lists", self.observed.lists.len())
    }

    fn status(&self) -> Section {
        status(self)
    }

    fn status_text(&self, prefix: &str, synctoken: &str) -> String {
        status_text(self, prefix, synctoken)
    }

    fn gauges(&self) -> Vec<Gauge> {
        vec![Gauge {
            dimension: None,
            values: vec![(
                "UnrecordedPrefixLists",
                "Count",
                self.observed.unrecorded.len() as f64,
            )],
        }]
    }
}
