//! The security-group kind as a reviewer reads it: a plan's diff (groups to create `+`, change `~`
//! and delete `-`, each rule added or removed, then each target's update), and each action in a few
//! words for logs and errors.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use super::model::{Action, Observed, Plan};

/// The security groups to create (+), change (~) and delete (-), with every rule added or removed,
/// then target updates.
pub(super) fn diff(plan: &Plan, observed: &Observed) -> String {
    let mut out = String::new();
    let id_of = |name: &str| {
        observed
            .groups
            .iter()
            .find(|g| g.name == name)
            .map(|g| g.id.clone())
    };
    let mut per_group: BTreeMap<&str, (Vec<String>, Vec<String>)> = BTreeMap::new();
    let mut created = Vec::new();
    let mut deleted = Vec::new();
    let mut targets = Vec::new();
    let mut adopted: Vec<String> = Vec::new();
    for action in &plan.actions {
        match action {
            Action::CreateGroup { group, .. } => created.push(group.as_str()),
            Action::Authorize { group, rules } => per_group
                .entry(group)
                .or_default()
                .0
                .extend(rules.iter().map(|r| format!("+ {r}"))),
            Action::Revoke {
                group,
                rules,
                early,
            } => per_group
                .entry(group)
                .or_default()
                .1
                .extend(rules.iter().map(|r| {
                    format!(
                        "- {r}{}",
                        if *early {
                            "  (early: frees a slot)"
                        } else {
                            ""
                        }
                    )
                })),
            Action::SetTargetGroups {
                target,
                foreign,
                attach,
                detach,
                replace,
                ..
            } => {
                let mut line = format!("  ~ {target}:");
                for a in attach {
                    let _ = write!(line, " +{a}");
                }
                for d in detach {
                    let _ = write!(line, " -{d}");
                }
                for id in replace {
                    let name = observed.foreign.get(id).map_or("", |g| g.name.as_str());
                    let _ = write!(line, " -{name} ({id}, REPLACES)");
                }
                if !foreign.is_empty() {
                    let kept: Vec<String> = (foreign.iter())
                        .map(|id| match observed.foreign.get(id) {
                            Some(g) => format!("{} ({id})", g.name),
                            None => id.clone(),
                        })
                        .collect();
                    let _ = write!(line, " (keeps {})", kept.join(", "));
                }
                targets.push(line);
            }
            Action::RevokeOutbound { group, entries } => {
                per_group.entry(group).or_default().1.push(format!(
                    "- {entries} outbound entries (a managed group allows no outbound traffic)"
                ))
            }
            Action::RevokeUnmanaged { group, entries } => {
                per_group.entry(group).or_default().1.push(format!(
                    "- {entries} entries not managed by sgsync (all traffic, other protocols, \
                     group or prefix-list sources)"
                ))
            }
            Action::Adopt { groups, .. } => adopted.extend(groups.iter().cloned()),
            Action::Reclaim { group, id } => targets.push(format!(
                "  - group {group} ({id}): carries this deployment's tags but is not in its record, empty and \
                 attached nowhere (a run stopped between creating and recording it): deleted, its name is free"
            )),
            Action::Forget { ids } => targets.push(format!(
                "  ~ record: forget {} (no longer exist)",
                ids.join(", ")
            )),
            Action::DeleteGroup { group } => deleted.push(group.as_str()),
            Action::RecordSynctoken { .. } => {}
        }
    }
    let mut names: Vec<&str> = per_group
        .keys()
        .copied()
        .chain(deleted.iter().copied())
        .collect();
    names.sort();
    names.dedup();
    for name in created
        .iter()
        .copied()
        .chain(names.into_iter().filter(|n| !created.contains(n)))
    {
        let (adds, removes) = per_group.get(name).cloned().unwrap_or_default();
        let (mark, label) = if created.contains(&name) {
            ("+", "new".to_string())
        } else if deleted.contains(&name) {
            ("-", id_of(name).unwrap_or_default())
        } else {
            ("~", id_of(name).unwrap_or_default())
        };
        let _ = writeln!(out, "  {mark} group {name} ({label})");
        for line in adds.iter().chain(&removes) {
            let _ = writeln!(out, "      {line}");
        }
    }
    for line in targets {
        let _ = writeln!(out, "{line}");
    }
    if !adopted.is_empty() {
        let _ = writeln!(
            out,
            "  ~ adopt {} (made by an sgsync that kept no record: recorded as this deployment's)",
            adopted.join(", ")
        );
    }
    if let Some(Action::RecordSynctoken { groups, synctoken }) = plan
        .actions
        .iter()
        .find(|a| matches!(a, Action::RecordSynctoken { .. }))
    {
        let _ = writeln!(
            out,
            "  ~ record synctoken {synctoken} on {}",
            groups.join(", ")
        );
    }
    out
}

/// An action in a few words, for logs and errors.
impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::CreateGroup { group, .. } => write!(f, "create group {group}"),
            Action::Authorize { group, rules } => {
                write!(f, "authorize {} rules in {group}", rules.len())
            }
            Action::Revoke { group, rules, .. } => {
                write!(f, "revoke {} rules from {group}", rules.len())
            }
            Action::SetTargetGroups {
                target,
                attach,
                detach,
                replace,
                ..
            } => write!(
                f,
                "set groups of {target} (+{} −{}{})",
                attach.len(),
                detach.len(),
                match replace.len() {
                    0 => String::new(),
                    n => format!(", swapping out {n} groups REPLACES names"),
                }
            ),
            Action::RevokeOutbound { group, entries } => {
                write!(f, "revoke {entries} outbound entries from {group}")
            }
            Action::RevokeUnmanaged { group, entries } => {
                write!(
                    f,
                    "revoke {entries} entries not managed by sgsync from {group}"
                )
            }
            Action::Adopt { groups, .. } => write!(
                f,
                "record {} groups made by an sgsync that kept no record as this deployment's",
                groups.len()
            ),
            Action::Reclaim { group, .. } => {
                write!(f, "delete the empty unrecorded group {group}")
            }
            Action::Forget { ids } => write!(f, "forget {} deleted groups", ids.len()),
            Action::DeleteGroup { group } => write!(f, "delete group {group}"),
            Action::RecordSynctoken { groups, synctoken } => {
                write!(f, "record synctoken {synctoken} on {} groups", groups.len())
            }
        }
    }
}
