//! Everything sgsync tells its user, in one place: the JSON documents (the run's [`Summary`], which is
//! also the Lambda's answer, [`RangesReport`], [`StatusReport`]) and their text for a person at a
//! terminal, as `Display` implementations (an [`Outcome`], an [`Action`], the reports). The CLI only
//! chooses between JSON and text.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use serde::Serialize;

use crate::outcome::{Outcome, Status};
use crate::ranges::RangeSet;
use crate::rule::PerFamily;
use crate::security_groups::{Action, Changes, Observed, Plan, Quotas, TargetId};

/// Published and aggregated prefix counts of one IP version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Prefixes the document lists for the selection.
    pub published: usize,
    /// Prefixes after lossless aggregation (what becomes rules).
    pub aggregated: usize,
}

/// What a document yields for a selection: the answer of `sgsync ranges`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RangesReport {
    /// The document's syncToken, as published (a string of digits).
    pub synctoken: String,
    /// The document's createDate.
    pub create_date: String,
    /// The selected service(s), comma-separated.
    pub service: String,
    /// IPv4 counts (zero when IPv4 is not selected).
    pub ipv4: Counts,
    /// IPv6 counts (zero when IPv6 is not selected).
    pub ipv6: Counts,
    /// Rules needed: aggregated prefixes × port ranges.
    pub rules: usize,
    /// The same, per family (each family has its own rules-per-group quota).
    pub rules_by_family: PerFamily,
    /// Groups needed at the given rules per group: the larger family decides.
    pub groups_needed: usize,
    /// Rules per group and family the group count assumes.
    pub rules_per_group: usize,
    /// Entries of other services the document holds that do not parse (skipped, not fatal).
    pub warnings: Vec<String>,
}

impl RangesReport {
    /// Summarises `ranges` for `ports` port ranges and `rules_per_group`.
    pub fn new(service: &str, ranges: &RangeSet, ports: usize, rules_per_group: usize) -> Self {
        let by_family = PerFamily {
            v4: ranges.ipv4.len() * ports,
            v6: ranges.ipv6.len() * ports,
        };
        let quotas = Quotas {
            rules_per_group,
            ..Quotas::default()
        };
        RangesReport {
            synctoken: ranges.synctoken.to_string(),
            create_date: ranges.create_date.clone(),
            service: service.to_string(),
            ipv4: Counts {
                published: ranges.published_v4,
                aggregated: ranges.ipv4.len(),
            },
            ipv6: Counts {
                published: ranges.published_v6,
                aggregated: ranges.ipv6.len(),
            },
            rules: by_family.total(),
            rules_by_family: by_family,
            groups_needed: quotas.groups_for(by_family),
            rules_per_group,
            warnings: ranges.warnings.clone(),
        }
    }
}

impl fmt::Display for RangesReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} ranges in document {} ({})",
            self.service, self.synctoken, self.create_date
        )?;
        writeln!(
            f,
            "  ipv4: {} published, {} after aggregation",
            self.ipv4.published, self.ipv4.aggregated
        )?;
        writeln!(
            f,
            "  ipv6: {} published, {} after aggregation",
            self.ipv6.published, self.ipv6.aggregated
        )?;
        writeln!(
            f,
            "  rules needed: {} ({} groups at {rpg} IPv4 and {rpg} IPv6 rules per group)",
            self.rules_by_family,
            self.groups_needed,
            rpg = self.rules_per_group
        )?;
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        Ok(())
    }
}

/// One managed group after the run (or, for `plan`, after the plan would run).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GroupSummary {
    /// Its id; `None` for a group `plan` would create.
    pub id: Option<String>,
    pub name: String,
    pub rules: usize,
}

/// The summary of one run: printed by `plan`/`apply --output json`, returned by the Lambda, logged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// How the run ended.
    pub status: Status,
    /// The document's synctoken.
    pub synctoken: String,
    /// The selected service(s).
    pub service: String,
    /// Desired rules.
    pub rules: usize,
    /// Managed groups after the run.
    pub groups: Vec<GroupSummary>,
    /// What changed (for `plan`: what would change).
    pub changes: Changes,
    pub vpc_id: String,
    /// The quotas planned with.
    pub quotas: Quotas,
    /// The targets: interfaces and load balancers tagged `sgsync:target` = `PREFIX_NAME`.
    pub targets: Vec<TargetId>,
    /// Interfaces and load balancers that carry a managed group without the tag: never modified;
    /// tag them to make them targets.
    pub untagged_targets: Vec<TargetId>,
    /// Things the user should know.
    pub warnings: Vec<String>,
    /// The plan's actions, in order (empty when nothing changes).
    pub actions: Vec<Action>,
}

impl From<&Outcome> for Summary {
    fn from(o: &Outcome) -> Summary {
        Summary {
            status: o.status,
            synctoken: o.synctoken.to_string(),
            service: o.service.clone(),
            rules: o.rules,
            groups: o
                .groups_after()
                .into_iter()
                .map(|g| GroupSummary {
                    id: g.id,
                    name: g.name,
                    rules: g.rules,
                })
                .collect(),
            changes: o.changes,
            vpc_id: o.observed.vpc_id.clone(),
            quotas: o.observed.quotas,
            targets: o.observed.targets.iter().map(|t| t.id.clone()).collect(),
            untagged_targets: o.observed.untagged.iter().map(|t| t.id.clone()).collect(),
            warnings: o.warnings(),
            actions: o.plan.actions.clone(),
        }
    }
}

impl Summary {
    /// One line for logs.
    pub fn headline(&self) -> String {
        let c = &self.changes;
        let verb = match self.status {
            Status::Applied => "applied",
            Status::Unchanged => "unchanged",
            Status::Planned => "planned",
            Status::Skipped => "skipped",
        };
        format!(
            "{verb}: {} rules of {} (document {}) in {} groups; {} groups created, {} rules authorized, {} rules revoked, {} targets updated, {} groups deleted",
            self.rules,
            self.service,
            self.synctoken,
            self.groups.len(),
            c.groups_created,
            c.rules_authorized,
            c.rules_revoked,
            c.targets_updated,
            c.groups_deleted
        )
    }
}

/// The plan as a reviewer reads it, terraform-style: groups to create (+), change (~) and delete (-),
/// with every rule added or removed, then target updates.
fn render_plan(plan: &Plan, observed: &Observed) -> String {
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

/// One managed group in `sgsync status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GroupStatus {
    pub id: String,
    pub name: String,
    /// Rules sgsync manages in it, per family.
    pub rules: PerFamily,
    /// Entries sgsync does not manage (they use slots too).
    pub unmanaged_entries: usize,
    /// Slots used per family: its rules and the entries sgsync does not manage.
    pub used: PerFamily,
    /// Free rule slots, per family.
    pub free: PerFamily,
    /// The synctoken its rules come from.
    pub synctoken: Option<u64>,
}

/// One target in `sgsync status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TargetStatus {
    /// The interface or load balancer.
    pub target: TargetId,
    /// Managed groups attached, by name.
    pub managed: Vec<String>,
    /// Foreign group ids attached.
    pub foreign: Vec<String>,
    /// Group slots still free on it.
    pub free_group_slots: usize,
}

/// What `sgsync status` shows: the managed groups against the quota, the targets, the free capacity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StatusReport {
    pub vpc_id: String,
    /// The ownership prefix.
    pub prefix: String,
    pub quotas: Quotas,
    /// The newest synctoken recorded on the groups.
    pub applied_synctoken: Option<u64>,
    /// Managed groups.
    pub groups: Vec<GroupStatus>,
    /// Targets carrying them.
    pub targets: Vec<TargetStatus>,
    /// Rules the managed groups hold, per family.
    pub rules: PerFamily,
    /// Most rules of each family that fit on every target: rules per group × (groups per target −
    /// most foreign).
    pub max_rules: usize,
    /// Things to know.
    pub warnings: Vec<String>,
}

impl StatusReport {
    /// The report of one read of a VPC whose groups carry ownership `prefix`.
    pub fn new(prefix: &str, o: &Observed) -> StatusReport {
        let q = o.quotas;
        let targets: Vec<TargetStatus> = o
            .targets
            .iter()
            .map(|t| TargetStatus {
                target: t.id.clone(),
                managed: t
                    .groups
                    .iter()
                    .filter_map(|id| o.group_name(id).map(str::to_string))
                    .collect(),
                foreign: o.foreign_of(t).cloned().collect(),
                free_group_slots: q.groups_per_target.saturating_sub(t.groups.len()),
            })
            .collect();
        StatusReport {
            vpc_id: o.vpc_id.clone(),
            prefix: prefix.to_string(),
            quotas: q,
            applied_synctoken: o.applied_synctoken(),
            groups: o
                .groups
                .iter()
                .map(|g| GroupStatus {
                    id: g.id.clone(),
                    name: g.name.clone(),
                    rules: PerFamily::of(&g.rules),
                    unmanaged_entries: g.unmanaged_entries,
                    used: g.used(),
                    free: g.used().free_under(q.rules_per_group),
                    synctoken: g.synctoken,
                })
                .collect(),
            targets,
            rules: PerFamily::of(o.groups.iter().flat_map(|g| &g.rules)),
            max_rules: o.capacity().max_rules,
            warnings: o.warnings.clone(),
        }
    }
}

impl fmt::Display for StatusReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "VPC {}: {} managed groups with prefix {} (synctoken {})",
            self.vpc_id,
            self.groups.len(),
            self.prefix,
            self.applied_synctoken
                .map_or("none".to_string(), |t| t.to_string())
        )?;
        for g in &self.groups {
            let unmanaged = if g.unmanaged_entries > 0 {
                format!(" ({} not managed by sgsync)", g.unmanaged_entries)
            } else {
                String::new()
            };
            let rpg = self.quotas.rules_per_group;
            writeln!(
                f,
                "  {} {}: IPv4 {}/{rpg}, IPv6 {}/{rpg} rules{unmanaged}",
                g.id, g.name, g.used.v4, g.used.v6,
            )?;
        }
        if self.targets.is_empty() {
            writeln!(
                f,
                "No targets: attach the managed groups to your origin's interfaces or load balancer."
            )?;
        }
        for t in &self.targets {
            writeln!(
                f,
                "  {}: {} managed + {} foreign groups, {} of {} slots free",
                t.target,
                t.managed.len(),
                t.foreign.len(),
                t.free_group_slots,
                self.quotas.groups_per_target
            )?;
        }
        writeln!(
            f,
            "Capacity: IPv4 {} of {max}, IPv6 {} of {max} rules used ({} rules per group and family × {} groups per target)",
            self.rules.v4,
            self.rules.v6,
            self.quotas.rules_per_group,
            self.quotas.groups_per_target,
            max = self.max_rules,
        )?;
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        Ok(())
    }
}

/// The changes in words, for the last line of `plan` and `apply`.
fn counts(c: &Changes, planned: bool) -> String {
    if planned {
        format!(
            "{} group(s) to create, {} rule(s) to authorize, {} to revoke, {} target(s) to update, {} group(s) to delete",
            c.groups_created,
            c.rules_authorized,
            c.rules_revoked,
            c.targets_updated,
            c.groups_deleted
        )
    } else {
        format!(
            "{} group(s) created, {} rule(s) authorized, {} revoked, {} target(s) updated, {} group(s) deleted",
            c.groups_created,
            c.rules_authorized,
            c.rules_revoked,
            c.targets_updated,
            c.groups_deleted
        )
    }
}

/// What `sgsync plan` and `sgsync apply` print: the document and the VPC, the warnings, the diff, and
/// how the run ended.
impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let q = self.observed.quotas;
        writeln!(
            f,
            "{} document {} ({}): {} rules in VPC {} (quotas: {} rules per group, {} groups per target)",
            self.service,
            self.synctoken,
            self.create_date,
            self.rules,
            self.observed.vpc_id,
            q.rules_per_group,
            q.groups_per_target
        )?;
        for w in self.warnings() {
            writeln!(f, "warning: {w}")?;
        }
        match self.status {
            Status::Skipped => writeln!(
                f,
                "Skipped: the document is older than the one applied ({}); nothing was changed.",
                self.observed
                    .applied_synctoken()
                    .map_or("none".to_string(), |t| t.to_string())
            ),
            Status::Unchanged => writeln!(
                f,
                "No changes: the managed groups already hold exactly the published ranges."
            ),
            Status::Planned => {
                f.write_str(&render_plan(&self.plan, &self.observed))?;
                writeln!(
                    f,
                    "Plan: {}. Nothing was changed.",
                    counts(&self.changes, true)
                )
            }
            Status::Applied => {
                f.write_str(&render_plan(&self.plan, &self.observed))?;
                writeln!(f, "Applied: {}.", counts(&self.changes, false))
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::rule::{PortRange, Rule};
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
            changes: Changes::of_plan(&plan),
            plan,
            observed,
            ids: None,
            document_warnings: vec!["a document warning".into()],
        }
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
        assert_eq!(summary.groups.len(), 2);
        assert_eq!(summary.groups[0].id, None);
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
        unchanged.plan.actions.clear();
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
        let p = outcome(Status::Planned).plan;
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

    #[test]
    fn the_ranges_report_shows_the_documents_warnings() {
        let set = RangeSet {
            synctoken: 7,
            create_date: "d".into(),
            ipv4: vec!["13.32.0.0/15".parse().unwrap()],
            ipv6: Vec::new(),
            published_v4: 2,
            published_v6: 0,
            warnings: vec!["skipped EC2 prefix 'x' (region r): not a valid CIDR prefix".into()],
        };
        let report = RangesReport::new("CLOUDFRONT", &set, 2, 60);
        let text = report.to_string();
        assert!(
            text.contains("  ipv4: 2 published, 1 after aggregation"),
            "{text}"
        );
        assert!(
            text.contains(
                "  rules needed: 2 IPv4 (1 groups at 60 IPv4 and 60 IPv6 rules per group)"
            ),
            "{text}"
        );
        assert!(text.contains("warning: skipped EC2 prefix 'x'"), "{text}");
    }
}
