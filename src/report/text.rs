//! A run as a reviewer reads it: the diff of `plan` and `apply`, terraform-style (`+` create,
//! `~` change, `-` delete) for every kind, and each action in a few words for logs and errors.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use crate::ip_sets;
use crate::outcome::{GroupsOutcome, ListsOutcome, Outcome, SetsOutcome, Status};
use crate::prefix_lists;
use crate::security_groups::{Action, Observed, Plan};

/// The security groups to create (+), change (~) and delete (-), with every rule added or removed,
/// then target updates.
fn render_groups(plan: &Plan, observed: &Observed) -> String {
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
                ..
            } => {
                let mut line = format!("  ~ {target}:");
                for a in attach {
                    let _ = write!(line, " +{a}");
                }
                for d in detach {
                    let _ = write!(line, " -{d}");
                }
                if !foreign.is_empty() {
                    let _ = write!(line, " (keeps {})", foreign.join(", "));
                }
                targets.push(line);
            }
            Action::RevokeUnmanaged { group, entries } => {
                per_group.entry(group).or_default().1.push(format!(
                    "- {entries} entries not managed by sgsync (all traffic, other protocols, \
                     group or prefix-list sources)"
                ))
            }
            Action::Adopt { groups } => adopted.extend(groups.iter().cloned()),
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
            "  ~ adopt {} (made by an sgsync that did not record deployments)",
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

/// The prefix lists to create (+), change (~) and delete (-), with every entry added or removed.
fn render_lists(l: &ListsOutcome) -> String {
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
            prefix_lists::Action::Create {
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
            prefix_lists::Action::Resize { list, from, to } => {
                (list, None, vec![format!("max entries {from} → {to}")])
            }
            prefix_lists::Action::Modify {
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
            prefix_lists::Action::Delete { list } => (
                list,
                Some(format!("  - prefix list {list} ({})", id_of(list))),
                Vec::new(),
            ),
            prefix_lists::Action::RecordSynctoken { lists, synctoken } => {
                let _ = writeln!(
                    out,
                    "  ~ record synctoken {synctoken} on {}",
                    lists.join(", ")
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

/// The WAF IP sets to create (+) and update (~), with every address added or removed.
fn render_sets(s: &SetsOutcome) -> String {
    let mut out = String::new();
    for action in &s.plan.actions {
        match action {
            ip_sets::Action::Create {
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
            ip_sets::Action::Update {
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
            ip_sets::Action::RecordSynctoken { sets, synctoken } => {
                let _ = writeln!(
                    out,
                    "  ~ record synctoken {synctoken} on {}",
                    sets.join(", ")
                );
            }
        }
    }
    out
}

/// Each kind's changes in words, for the last line of `plan` and `apply`.
fn counts(o: &Outcome, planned: bool) -> String {
    let mut parts = Vec::new();
    if let Some(GroupsOutcome { changes: c, .. }) = &o.groups {
        parts.push(if planned {
            format!(
                "{} group(s) to create, {} rule(s) to authorize, {} to revoke, {} target(s) to update, {} group(s) to delete",
                c.groups_created, c.rules_authorized, c.rules_revoked, c.targets_updated, c.groups_deleted
            )
        } else {
            format!(
                "{} group(s) created, {} rule(s) authorized, {} revoked, {} target(s) updated, {} group(s) deleted",
                c.groups_created, c.rules_authorized, c.rules_revoked, c.targets_updated, c.groups_deleted
            )
        });
    }
    if let Some(ListsOutcome { changes: c, .. }) = &o.lists {
        parts.push(if planned {
            format!(
                "{} prefix list(s) to create, {} to resize, {} entr(ies) to add, {} to remove, {} list(s) to delete",
                c.lists_created, c.lists_resized, c.entries_added, c.entries_removed, c.lists_deleted
            )
        } else {
            format!(
                "{} prefix list(s) created, {} resized, {} entr(ies) added, {} removed, {} list(s) deleted",
                c.lists_created, c.lists_resized, c.entries_added, c.entries_removed, c.lists_deleted
            )
        });
    }
    if let Some(SetsOutcome { changes: c, .. }) = &o.sets {
        parts.push(if planned {
            format!(
                "{} WAF IP set(s) to create, {} to update ({} address(es) to add, {} to remove)",
                c.sets_created, c.sets_updated, c.addresses_added, c.addresses_removed
            )
        } else {
            format!(
                "{} WAF IP set(s) created, {} updated ({} address(es) added, {} removed)",
                c.sets_created, c.sets_updated, c.addresses_added, c.addresses_removed
            )
        });
    }
    parts.join("; ")
}

/// The kinds a run keeps, in words: "groups", "groups, prefix lists and WAF IP sets".
fn kinds(o: &Outcome) -> String {
    let mut names = Vec::new();
    if o.groups.is_some() {
        names.push("groups");
    }
    if o.lists.is_some() {
        names.push("prefix lists");
    }
    if o.sets.is_some() {
        names.push("WAF IP sets");
    }
    match names.split_last() {
        Some((last, [])) => (*last).to_string(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// What `sgsync plan` and `sgsync apply` print: the document and what it is synced into, the
/// warnings, the diff, and how the run ended.
impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.groups {
            Some(g) => {
                let q = g.observed.quotas;
                writeln!(
                    f,
                    "{} document {} ({}): {} rules in VPC {} (quotas: {} rules per group, {} groups per target)",
                    self.service,
                    self.synctoken,
                    self.create_date,
                    self.rules,
                    g.observed.vpc_id,
                    q.rules_per_group,
                    q.groups_per_target
                )?;
            }
            None => writeln!(
                f,
                "{} document {} ({})",
                self.service, self.synctoken, self.create_date
            )?,
        }
        for w in self.all_warnings() {
            writeln!(f, "warning: {w}")?;
        }
        let diff = || {
            let mut text = String::new();
            if let Some(g) = &self.groups {
                text.push_str(&render_groups(&g.plan, &g.observed));
            }
            if let Some(l) = &self.lists {
                text.push_str(&render_lists(l));
            }
            if let Some(s) = &self.sets {
                text.push_str(&render_sets(s));
            }
            text
        };
        match self.status {
            Status::Skipped => writeln!(
                f,
                "Skipped: the document is older than the one applied ({}); nothing was changed.",
                self.recorded_synctokens()
                    .into_iter()
                    .max()
                    .map_or("none".to_string(), |t| t.to_string())
            ),
            Status::Unchanged => writeln!(
                f,
                "No changes: the managed {} already hold exactly the published ranges.",
                kinds(self)
            ),
            Status::Planned => {
                f.write_str(&diff())?;
                writeln!(f, "Plan: {}. Nothing was changed.", counts(self, true))
            }
            Status::Applied => {
                f.write_str(&diff())?;
                writeln!(f, "Applied: {}.", counts(self, false))
            }
        }
    }
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
                ..
            } => write!(
                f,
                "set groups of {target} (+{} −{})",
                attach.len(),
                detach.len()
            ),
            Action::RevokeUnmanaged { group, entries } => {
                write!(
                    f,
                    "revoke {entries} entries not managed by sgsync from {group}"
                )
            }
            Action::Adopt { groups } => write!(
                f,
                "record this deployment on {} groups made by an older sgsync",
                groups.len()
            ),
            Action::DeleteGroup { group } => write!(f, "delete group {group}"),
            Action::RecordSynctoken { groups, synctoken } => {
                write!(f, "record synctoken {synctoken} on {} groups", groups.len())
            }
        }
    }
}

/// A prefix-list action in a few words, for logs and errors.
impl fmt::Display for prefix_lists::Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            prefix_lists::Action::Create { list, entries, .. } => {
                write!(
                    f,
                    "create prefix list {list} with {} entries",
                    entries.len()
                )
            }
            prefix_lists::Action::Resize { list, from, to } => {
                write!(f, "resize prefix list {list} from {from} to {to} entries")
            }
            prefix_lists::Action::Modify {
                list, add, remove, ..
            } => write!(
                f,
                "modify prefix list {list} (+{} −{})",
                add.len(),
                remove.len()
            ),
            prefix_lists::Action::Delete { list } => write!(f, "delete prefix list {list}"),
            prefix_lists::Action::RecordSynctoken { lists, synctoken } => {
                write!(
                    f,
                    "record synctoken {synctoken} on {} prefix lists",
                    lists.len()
                )
            }
        }
    }
}

/// A WAF action in a few words, for logs and errors.
impl fmt::Display for ip_sets::Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ip_sets::Action::Create { set, addresses, .. } => {
                write!(
                    f,
                    "create WAF IP set {set} with {} addresses",
                    addresses.len()
                )
            }
            ip_sets::Action::Update {
                set, add, remove, ..
            } => write!(
                f,
                "update WAF IP set {set} (+{} −{})",
                add.len(),
                remove.len()
            ),
            ip_sets::Action::RecordSynctoken { sets, synctoken } => {
                write!(
                    f,
                    "record synctoken {synctoken} on {} WAF IP sets",
                    sets.len()
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::report::Summary;
    use crate::rule::{PortRange, Rule};
    use crate::security_groups::Changes;
    use crate::security_groups::{Desired, plan};

    fn rules(n: u8) -> BTreeSet<Rule> {
        (0..n)
            .map(|i| Rule {
                net: format!("10.0.{i}.0/24").parse().unwrap(),
                ports: PortRange::single(80),
            })
            .collect()
    }

    fn outcome(status: Status) -> Outcome {
        let desired = Desired {
            rules: rules(70),
            synctoken: 7,
            group_stem: "AUTOUPDATE-cloudfront".into(),
            repack: false,
        };
        let observed = Observed {
            vpc_id: "vpc-1".into(),
            warnings: vec!["a VPC warning".into()],
            ..Observed::default()
        };
        let plan = plan(&desired, &observed).unwrap();
        Outcome {
            status,
            service: "CLOUDFRONT".into(),
            synctoken: 7,
            create_date: "2026-08-22-15-17-05".into(),
            rules: 70,
            warnings: vec!["a document warning".into()],
            groups: Some(GroupsOutcome {
                changes: Changes::of_plan(&plan),
                plan,
                observed,
                ids: None,
            }),
            lists: None,
            sets: None,
        }
    }

    /// The same document into prefix lists and WAF IP sets only: one list holds 70 entries at most
    /// 60 per list (two lists), one IPv4 set exists and gets the new ones.
    fn regional(status: Status) -> Outcome {
        let nets: BTreeSet<ipnet::IpNet> = rules(70).into_iter().map(|r| r.net).collect();
        let lists_observed = prefix_lists::Observed::default();
        let lists_plan = prefix_lists::plan(
            &prefix_lists::Desired {
                nets: nets.clone(),
                synctoken: 7,
                stem: "AUTOUPDATE-cloudfront".into(),
                cap: 60,
            },
            &lists_observed,
        )
        .unwrap();
        let sets_observed = ip_sets::Observed {
            sets: vec![ip_sets::ObservedSet {
                id: "set-1".into(),
                name: "AUTOUPDATE-cloudfront-ipv4".into(),
                family: crate::rule::Family::V4,
                addresses: nets
                    .iter()
                    .skip(1)
                    .copied()
                    .chain(["192.0.2.0/24".parse().unwrap()])
                    .collect(),
                synctoken: Some(6),
            }],
            ..ip_sets::Observed::default()
        };
        let sets_plan = ip_sets::plan(
            &ip_sets::Desired {
                nets,
                synctoken: 7,
                stem: "AUTOUPDATE-cloudfront".into(),
                families: vec![crate::rule::Family::V4],
            },
            &sets_observed,
        )
        .unwrap();
        Outcome {
            status,
            service: "CLOUDFRONT".into(),
            synctoken: 7,
            create_date: "d".into(),
            rules: 70,
            warnings: Vec::new(),
            groups: None,
            lists: Some(ListsOutcome {
                changes: prefix_lists::Changes::of_plan(&lists_plan),
                plan: lists_plan,
                observed: lists_observed,
                ids: None,
                kept: Vec::new(),
                share: None,
            }),
            sets: Some(SetsOutcome {
                scope: ip_sets::Scope::Regional,
                changes: ip_sets::Changes::of_plan(&sets_plan),
                plan: sets_plan,
                ids: [(
                    "AUTOUPDATE-cloudfront-ipv4".to_string(),
                    "set-1".to_string(),
                )]
                .into(),
                observed: sets_observed,
                arns: BTreeMap::new(),
            }),
        }
    }

    #[test]
    fn lists_and_sets_read_as_a_diff_too() {
        let text = regional(Status::Planned).to_string();
        for needle in [
            "CLOUDFRONT document 7 (d)\n",
            "  + prefix list AUTOUPDATE-cloudfront-ipv4-1 (new, IPv4, max 60 entries)",
            "  + prefix list AUTOUPDATE-cloudfront-ipv4-2 (new, IPv4, max 15 entries)",
            "      + 10.0.0.0/24",
            "  ~ WAF IP set AUTOUPDATE-cloudfront-ipv4 (set-1)",
            "      + 10.0.0.0/24\n      - 192.0.2.0/24",
            "  ~ record synctoken 7 on AUTOUPDATE-cloudfront-ipv4",
            "Plan: 2 prefix list(s) to create, 0 to resize, 70 entr(ies) to add, 0 to remove, 0 list(s) to delete; \
             0 WAF IP set(s) to create, 1 to update (1 address(es) to add, 1 to remove). Nothing was changed.",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
        let mut unchanged = regional(Status::Unchanged);
        unchanged.lists.as_mut().unwrap().plan.actions.clear();
        assert!(unchanged.to_string().ends_with(
            "No changes: the managed prefix lists and WAF IP sets already hold exactly the published ranges.\n"
        ));
        let summary = Summary::from(&regional(Status::Planned));
        assert!(summary.security_groups.is_none());
        let lists = summary.prefix_lists.unwrap();
        assert_eq!(lists.lists.iter().map(|l| l.entries).sum::<usize>(), 70);
        assert_eq!(summary.waf_ip_sets.unwrap().sets[0].addresses, 70);
        let json = serde_json::to_value(Summary::from(&regional(Status::Planned))).unwrap();
        assert!(json.get("groups").is_none(), "{json}");
        assert_eq!(json["prefix_lists"]["lists"][0]["family"], "IPv4");
        assert_eq!(json["waf_ip_sets"]["scope"], "REGIONAL");
        assert_eq!(json["waf_ip_sets"]["actions"][0]["action"], "update");
    }

    #[test]
    fn a_plan_reads_as_a_diff_with_what_would_change() {
        let text = outcome(Status::Planned).to_string();
        for needle in [
            "CLOUDFRONT document 7 (2026-08-22-15-17-05): 70 rules in VPC vpc-1 (quotas: 60 rules per group, 5 groups per target)",
            "warning: a document warning",
            "warning: a VPC warning",
            "  + group AUTOUPDATE-cloudfront-1 (new)",
            "      + 10.0.0.0/24 tcp/80",
            "Plan: 2 group(s) to create, 70 rule(s) to authorize, 0 to revoke, 0 target(s) to update, 0 group(s) to delete. Nothing was changed.",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
        let summary = Summary::from(&outcome(Status::Planned));
        let groups = summary.security_groups.unwrap();
        assert_eq!(groups.groups.len(), 2);
        assert_eq!(groups.groups[0].id, None);
        assert_eq!(
            summary.warnings,
            ["a document warning", "a VPC warning"].map(String::from)
        );
    }

    #[test]
    fn applied_unchanged_and_skipped_runs_end_with_one_line_each() {
        let applied = outcome(Status::Applied).to_string();
        assert!(applied.ends_with(
            "Applied: 2 group(s) created, 70 rule(s) authorized, 0 revoked, 0 target(s) updated, 0 group(s) deleted.\n"
        ));
        let mut unchanged = outcome(Status::Unchanged);
        unchanged.groups.as_mut().unwrap().plan.actions.clear();
        assert!(unchanged.to_string().ends_with(
            "No changes: the managed groups already hold exactly the published ranges.\n"
        ));
        let skipped = outcome(Status::Skipped).to_string();
        assert!(
            skipped.ends_with(
                "Skipped: the document is older than the one applied (none); nothing was changed.\n"
            ),
            "{skipped}"
        );
    }

    #[test]
    fn actions_read_as_a_few_words() {
        let p = outcome(Status::Planned).groups.unwrap().plan;
        let words: Vec<String> = p.actions.iter().map(ToString::to_string).collect();
        assert_eq!(
            words,
            [
                "create group AUTOUPDATE-cloudfront-1",
                "create group AUTOUPDATE-cloudfront-2",
                "authorize 60 rules in AUTOUPDATE-cloudfront-1",
                "authorize 10 rules in AUTOUPDATE-cloudfront-2",
            ]
        );
    }
}
