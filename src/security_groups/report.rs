//! What is said about the security-group kind: its section of the run's summary and of `sgsync
//! status` (the fields sit at the top level, where they were before other kinds existed), its diff,
//! and each action in a few words.

use std::fmt::Write as _;

use serde::Serialize;

use super::model::{Action, Changes, Observed, Quotas, TargetId};
use super::part::{Headroom, Part};
use super::text;
use crate::guard::{self, GuardError, GuardLimits};
use crate::kind::Section;
use crate::kind::{Desired, Gauge, Kind};
use crate::ownership::Unrecorded;
use crate::rule::{Family, PerFamily, Rule};
use ipnet::IpNet;
use std::collections::BTreeSet;

/// One managed group after the run (or, for `plan`, after the plan would run).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
struct GroupSummary {
    /// Its id; `None` for a group `plan` would create.
    id: Option<String>,
    name: String,
    rules: usize,
}

/// The security-group kind in a run's summary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
struct GroupsSummary<'a> {
    /// Managed groups after the run.
    groups: Vec<GroupSummary>,
    /// What changed (for `plan`: what would change).
    changes: Changes,
    vpc_id: &'a str,
    /// The quotas planned with.
    quotas: Quotas,
    /// The targets: interfaces and load balancers tagged `sgsync:target` = `PREFIX_NAME`.
    targets: Vec<&'a TargetId>,
    /// Interfaces and load balancers that carry a managed group without the tag: never modified;
    /// tag them to make them targets.
    untagged_targets: Vec<&'a TargetId>,
    /// The plan's actions, in order (empty when nothing changes).
    actions: &'a [Action],
    /// Groups carrying this deployment's tags that it did not record: never managed.
    unrecorded: &'a [Unrecorded],
    /// Targets left out of the run (no room, or their write failed): each also an error.
    skipped_targets: Vec<&'a TargetId>,
    /// Groups `REPLACES` names, swapped out of every target and attached nowhere now: never deleted.
    released_groups: &'a [String],
    /// Rules of swapped-out groups that the document no longer publishes.
    dropped_rules: &'a [String],
}

/// The kind's section of the run's summary: top-level fields.
pub(super) fn summary(part: &Part) -> Section {
    let s = GroupsSummary {
        groups: part
            .groups_after()
            .into_iter()
            .map(|g| GroupSummary {
                id: g.id,
                name: g.name,
                rules: g.rules,
            })
            .collect(),
        changes: part.changes,
        vpc_id: &part.observed.vpc_id,
        quotas: part.observed.quotas,
        targets: part.observed.targets.iter().map(|t| &t.id).collect(),
        untagged_targets: part.observed.untagged.iter().map(|t| &t.id).collect(),
        actions: &part.plan.actions,
        unrecorded: &part.observed.unrecorded,
        skipped_targets: part.skipped_targets().map(|s| &s.target).collect(),
        released_groups: &part.plan.released,
        dropped_rules: &part.plan.dropped,
    };
    Section {
        key: None,
        value: serde_json::to_value(s).expect("a summary serializes"),
    }
}

/// One managed group in `sgsync status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
struct GroupStatus {
    id: String,
    name: String,
    /// Rules sgsync manages in it, per family.
    rules: PerFamily,
    /// Entries sgsync does not manage (they use slots too).
    unmanaged_entries: usize,
    /// Slots used per family: its rules and the entries sgsync does not manage.
    used: PerFamily,
    /// Free rule slots, per family.
    free: PerFamily,
    /// The synctoken its rules come from.
    synctoken: Option<u64>,
}

/// One target in `sgsync status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
struct TargetStatus {
    /// The interface or load balancer.
    target: TargetId,
    /// Managed groups attached, by name.
    managed: Vec<String>,
    /// Foreign group ids attached.
    foreign: Vec<String>,
    /// Group slots still free on it.
    free_group_slots: usize,
}

/// The security groups in `sgsync status`: against the quota, the targets, the free capacity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
struct GroupsStatus {
    vpc_id: String,
    quotas: Quotas,
    /// Managed groups.
    groups: Vec<GroupStatus>,
    /// Targets carrying them.
    targets: Vec<TargetStatus>,
    /// Rules the managed groups hold, per family.
    rules: PerFamily,
    /// Most rules of each family that fit on every target: rules per group × (groups per target −
    /// most foreign).
    max_rules: usize,
    /// Groups carrying this deployment's tags that it did not record: never managed.
    unrecorded: Vec<Unrecorded>,
}

/// The kind's section of `sgsync status`: top-level fields.
pub(super) fn status(o: &Observed) -> Section {
    Section {
        key: None,
        value: serde_json::to_value(groups_status(o)).expect("a status serializes"),
    }
}

fn groups_status(o: &Observed) -> GroupsStatus {
    let q = o.quotas;
    GroupsStatus {
        vpc_id: o.vpc_id.clone(),
        quotas: q,
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
        targets: o
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
            .collect(),
        rules: PerFamily::of(o.groups.iter().flat_map(|g| &g.rules)),
        max_rules: o.capacity().max_rules,
        unrecorded: o.unrecorded.clone(),
    }
}

/// The kind's part of `sgsync status` as text.
pub(super) fn status_text(o: &Observed, prefix: &str, synctoken: &str) -> String {
    let s = groups_status(o);
    let mut f = String::new();
    let _ = writeln!(
        f,
        "VPC {}: {} managed groups with prefix {prefix} (synctoken {synctoken})",
        s.vpc_id,
        s.groups.len(),
    );
    for g in &s.groups {
        let unmanaged = if g.unmanaged_entries > 0 {
            format!(" ({} not managed by sgsync)", g.unmanaged_entries)
        } else {
            String::new()
        };
        let rpg = s.quotas.rules_per_group;
        let _ = writeln!(
            f,
            "  {} {}: IPv4 {}/{rpg}, IPv6 {}/{rpg} rules{unmanaged}",
            g.id, g.name, g.used.v4, g.used.v6,
        );
    }
    if s.targets.is_empty() {
        let _ = writeln!(
            f,
            "No targets: tag your origin's interfaces or load balancer sgsync:target={prefix} to attach the managed groups."
        );
    }
    for t in &s.targets {
        let _ = writeln!(
            f,
            "  {}: {} managed + {} foreign groups, {} of {} slots free",
            t.target,
            t.managed.len(),
            t.foreign.len(),
            t.free_group_slots,
            s.quotas.groups_per_target
        );
    }
    let _ = writeln!(
        f,
        "Capacity: IPv4 {} of {max}, IPv6 {} of {max} rules used ({} rules per group and family × {} groups per target)",
        s.rules.v4,
        s.rules.v6,
        s.quotas.rules_per_group,
        s.quotas.groups_per_target,
        max = s.max_rules,
    );
    f
}

/// What is said about the kind's part: the guards against what it holds, its sections, its diff.
impl Kind for Part {
    fn noun(&self) -> &'static str {
        "groups"
    }

    fn synctokens(&self) -> Vec<u64> {
        self.observed.synctokens().collect()
    }

    fn check(&self, desired: &Desired, limits: &GuardLimits) -> Result<(), GuardError> {
        let applied = self.held();
        // Removed: rules none of whose addresses is published any more (a split aggregate is not).
        let published = super::packing::published_addresses(&desired.rules);
        let removed: BTreeSet<Rule> = (applied.iter())
            .filter(|r| !(published.get(&r.ports)).is_some_and(|a| a.overlaps(&r.net)))
            .copied()
            .collect();
        guard::check_families(
            "rules",
            &applied,
            &removed,
            &desired.rules,
            &desired.families,
            Rule::family,
            limits,
        )?;
        let applied_nets: BTreeSet<IpNet> = applied.iter().map(|r| r.net).collect();
        guard::check_growth(&applied_nets, &desired.nets, limits)
    }

    fn planned(&self) -> bool {
        !self.plan.is_empty()
    }

    fn changes_made(&self) -> usize {
        let c = &self.changes;
        c.groups_created
            + c.rules_authorized
            + c.rules_revoked
            + c.targets_updated
            + c.groups_deleted
    }

    fn changes_text(&self, planned: bool) -> String {
        let c = &self.changes;
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

    fn warnings(&self) -> Vec<String> {
        let released = self.plan.released.iter().map(|g| {
            format!(
                "{g}, named by REPLACES, leaves every target it is on and is attached to no other \
                 interface or load balancer of this VPC: sgsync never deletes a group it does not own; \
                 before you delete it, check what else names it (launch templates, other VPCs and \
                 accounts)"
            )
        });
        let dropped = self.plan.dropped.iter().map(|r| {
            format!(
                "the swap drops {r}: SERVICE no longer publishes it (the document still does, for \
                 another service)"
            )
        });
        (self.observed.warnings.iter().cloned())
            .chain(released)
            .chain(dropped)
            .collect()
    }

    fn errors(&self) -> Vec<String> {
        let skipped = self.skipped_targets().map(|s| s.reason.clone());
        self.errors.iter().cloned().chain(skipped).collect()
    }

    fn place(&self) -> Option<String> {
        let q = self.observed.quotas;
        Some(format!(
            "in VPC {} (quotas: {} rules per group, {} groups per target)",
            self.observed.vpc_id, q.rules_per_group, q.groups_per_target
        ))
    }

    fn summary(&self) -> Section {
        summary(self)
    }

    fn headline(&self) -> String {
        let c = &self.changes;
        let rules: usize = self.groups_after().iter().map(|g| g.rules).sum();
        format!(
            "{rules} rules in {} groups; {} groups created, {} rules authorized, {} rules revoked, {} targets updated, {} groups deleted",
            self.groups_after().len(),
            c.groups_created,
            c.rules_authorized,
            c.rules_revoked,
            c.targets_updated,
            c.groups_deleted
        )
    }

    fn diff(&self) -> String {
        text::diff(&self.plan, &self.observed)
    }

    fn status(&self) -> Section {
        status(&self.observed)
    }

    fn status_text(&self, prefix: &str, synctoken: &str) -> String {
        status_text(&self.observed, prefix, synctoken)
    }

    fn line(&self) -> String {
        let groups = self.groups_after();
        let rules: usize = groups.iter().map(|g| g.rules).sum();
        let headroom = self.headroom();
        // Each family's least headroom over the targets (the fullest target of one family need not
        // be the other's).
        let least = |f: Family| headroom.iter().map(|(_, h)| h.rules.get(f)).min();
        let room = match (least(Family::V4), least(Family::V6)) {
            (Some(v4), Some(v6)) => format!(
                "least headroom IPv4 {v4} / IPv6 {v6} rules over {} targets",
                headroom.len()
            ),
            _ => "no targets".into(),
        };
        format!("{rules} rules in {} groups, {room}", groups.len())
    }

    fn status_line(&self) -> String {
        let o = &self.observed;
        let rules = PerFamily::of(o.groups.iter().flat_map(|g| &g.rules));
        format!(
            "{} groups, IPv4 {} / IPv6 {} rules, {} targets",
            o.groups.len(),
            rules.v4,
            rules.v6,
            o.targets.len()
        )
    }

    fn gauges(&self) -> Vec<Gauge> {
        let mut gauges = vec![Gauge {
            dimension: None,
            values: vec![
                ("GroupsApplied", "Count", self.groups_after().len() as f64),
                (
                    "UnrecordedGroups",
                    "Count",
                    self.observed.unrecorded.len() as f64,
                ),
            ],
        }];
        let headroom = self.headroom();
        // The least over the targets, with the deployment's dimension only: what an alarm with a
        // fixed threshold can watch (a target dimension is known only at run time).
        if !headroom.is_empty() {
            let least = |f: &dyn Fn(&Headroom) -> usize| {
                headroom.iter().map(|(_, h)| f(h)).min().unwrap_or(0) as f64
            };
            gauges[0].values.extend([
                (
                    "LeastRuleHeadroomIPv4",
                    "Count",
                    least(&|h| h.rules.get(Family::V4)),
                ),
                (
                    "LeastRuleHeadroomIPv6",
                    "Count",
                    least(&|h| h.rules.get(Family::V6)),
                ),
                ("LeastGroupHeadroom", "Count", least(&|h| h.groups)),
            ]);
        }
        for (target, h) in headroom {
            gauges.push(Gauge {
                dimension: Some(("Target", target.to_string())),
                values: vec![
                    ("RuleHeadroomIPv4", "Count", h.rules.get(Family::V4) as f64),
                    ("RuleHeadroomIPv6", "Count", h.rules.get(Family::V6) as f64),
                    ("GroupHeadroom", "Count", h.groups as f64),
                ],
            });
        }
        gauges
    }
}
