//! What a run tells its user: a JSON summary (for scripts, the Lambda's return value and logs) and the
//! same facts as text for a person at a terminal.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::apply::Changes;
use crate::plan::{Action, Observed, Plan, Quotas, TargetId};
use crate::ranges::RangeSet;

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
    /// Groups needed at the given rules per group.
    pub groups_needed: usize,
    /// Rules per group the group count assumes.
    pub rules_per_group: usize,
}

impl RangesReport {
    /// Summarises `ranges` for `ports` port ranges and `rules_per_group`.
    pub fn new(service: &str, ranges: &RangeSet, ports: usize, rules_per_group: usize) -> Self {
        let rules = (ranges.ipv4.len() + ranges.ipv6.len()) * ports;
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
            rules,
            groups_needed: rules.div_ceil(rules_per_group.max(1)),
            rules_per_group,
        }
    }

    /// The report for a person.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} ranges in document {} ({})",
            self.service, self.synctoken, self.create_date
        );
        let _ = writeln!(
            out,
            "  ipv4: {} published, {} after aggregation",
            self.ipv4.published, self.ipv4.aggregated
        );
        let _ = writeln!(
            out,
            "  ipv6: {} published, {} after aggregation",
            self.ipv6.published, self.ipv6.aggregated
        );
        let _ = writeln!(
            out,
            "  rules needed: {} ({} groups at {} rules per group)",
            self.rules, self.groups_needed, self.rules_per_group
        );
        out
    }
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Changes were made.
    Applied,
    /// Nothing needed to change; nothing was written.
    Unchanged,
    /// `plan`: changes are needed and were not made.
    Planned,
    /// The document is older than what is applied; nothing was changed.
    Skipped,
}

/// One managed group after the run (or, for `plan`, after the plan would run).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GroupSummary {
    /// Its id; `None` for a group `plan` would create.
    pub id: Option<String>,
    /// Its name.
    pub name: String,
    /// Its rule count.
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
    /// The VPC.
    pub vpc_id: String,
    /// The quotas planned with.
    pub quotas: Quotas,
    /// Interfaces and load balancers carrying the managed groups.
    pub targets: Vec<TargetId>,
    /// Things the user should know.
    pub warnings: Vec<String>,
    /// The plan's actions, in order (empty when nothing changes).
    pub actions: Vec<Action>,
}

impl Summary {
    /// One line for logs and the end of the text output.
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
pub fn render_plan(plan: &Plan, observed: &Observed) -> String {
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
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Rules sgsync manages in it.
    pub rules: usize,
    /// Entries sgsync does not manage (they use slots too).
    pub unmanaged_entries: usize,
    /// Free rule slots.
    pub free: usize,
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
    /// The VPC.
    pub vpc_id: String,
    /// The ownership prefix.
    pub prefix: String,
    /// The quotas.
    pub quotas: Quotas,
    /// The newest synctoken recorded on the groups.
    pub applied_synctoken: Option<u64>,
    /// Managed groups.
    pub groups: Vec<GroupStatus>,
    /// Targets carrying them.
    pub targets: Vec<TargetStatus>,
    /// Rules the managed groups hold.
    pub rules: usize,
    /// Most rules that fit on every target: rules per group × (groups per target − most foreign).
    pub max_rules: usize,
    /// Things to know.
    pub warnings: Vec<String>,
}

impl StatusReport {
    /// Builds the report from one observation.
    pub fn new(
        config: &crate::config::Config,
        o: &crate::aws::observe::Observation,
    ) -> StatusReport {
        let q = o.quotas.quotas;
        let name_of = |id: &str| {
            o.observed
                .groups
                .iter()
                .find(|g| g.id == id)
                .map(|g| g.name.clone())
        };
        let targets: Vec<TargetStatus> = o
            .observed
            .targets
            .iter()
            .map(|t| {
                let managed: Vec<String> = t.groups.iter().filter_map(|id| name_of(id)).collect();
                let foreign: Vec<String> = t
                    .groups
                    .iter()
                    .filter(|id| name_of(id).is_none())
                    .cloned()
                    .collect();
                TargetStatus {
                    target: t.id.clone(),
                    free_group_slots: q.groups_per_target.saturating_sub(t.groups.len()),
                    managed,
                    foreign,
                }
            })
            .collect();
        StatusReport {
            vpc_id: o.vpc_id.clone(),
            prefix: config.prefix_name.clone(),
            quotas: q,
            applied_synctoken: o.applied_synctoken(),
            groups: o
                .observed
                .groups
                .iter()
                .map(|g| GroupStatus {
                    id: g.id.clone(),
                    name: g.name.clone(),
                    rules: g.rules.len(),
                    unmanaged_entries: g.unmanaged_entries,
                    free: q
                        .rules_per_group
                        .saturating_sub(g.rules.len() + g.unmanaged_entries),
                    synctoken: g.synctoken,
                })
                .collect(),
            targets,
            rules: o.observed.groups.iter().map(|g| g.rules.len()).sum(),
            max_rules: o.observed.capacity(q).max_rules,
            warnings: o.warnings.iter().chain(&o.quotas.notes).cloned().collect(),
        }
    }
}

/// `sgsync status` for a person.
pub fn render_status(s: &StatusReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "VPC {}: {} managed groups with prefix {} (synctoken {})",
        s.vpc_id,
        s.groups.len(),
        s.prefix,
        s.applied_synctoken
            .map_or("none".to_string(), |t| t.to_string())
    );
    for g in &s.groups {
        let _ = writeln!(
            out,
            "  {} {}: {}/{} rules{}",
            g.id,
            g.name,
            g.rules + g.unmanaged_entries,
            s.quotas.rules_per_group,
            if g.unmanaged_entries > 0 {
                format!(" ({} not managed by sgsync)", g.unmanaged_entries)
            } else {
                String::new()
            }
        );
    }
    if s.targets.is_empty() {
        let _ = writeln!(
            out,
            "No targets: attach the managed groups to your origin's interfaces or load balancer."
        );
    }
    for t in &s.targets {
        let _ = writeln!(
            out,
            "  {}: {} managed + {} foreign groups, {} of {} slots free",
            t.target,
            t.managed.len(),
            t.foreign.len(),
            t.free_group_slots,
            s.quotas.groups_per_target
        );
    }
    let _ = writeln!(
        out,
        "Capacity: {} of {} rules used ({} rules per group × {} groups per target)",
        s.rules, s.max_rules, s.quotas.rules_per_group, s.quotas.groups_per_target
    );
    for w in &s.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    out
}
