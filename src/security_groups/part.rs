//! The security-group kind's part of a run, as plain data ([`Part`]), and what is said about it: the
//! guards against what the groups hold, the summary and status sections, the diff, the headroom.

use std::collections::{BTreeMap, BTreeSet};

use super::model::{Changes, Observed, Plan, SkippedTarget, TargetId, digest};
use crate::rule::{PerFamily, Rule};

/// The security groups of one VPC in a run: as read, the plan, what changed.
#[derive(Clone, Debug, Default)]
pub(crate) struct Part {
    /// The VPC as read before the run.
    pub(crate) observed: Observed,
    /// The plan that ran (or, for `plan`, would run); empty when nothing changes or the run skipped.
    pub(crate) plan: Plan,
    /// What changed (for `plan`: what would change).
    pub(crate) changes: Changes,
    /// Group name → id after an applied run; `None` when nothing was applied (ids are the observed ones).
    pub(crate) ids: Option<BTreeMap<String, String>>,
    /// What failed without stopping the rest: a group the event path refused.
    pub(crate) errors: Vec<String>,
    /// Targets whose write failed during the apply: skipped (beside the plan's, which had no room).
    pub(crate) failed_targets: Vec<SkippedTarget>,
}

/// One managed group after the run (for `plan`: after the plan would run; when skipped: as observed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct GroupAfter {
    /// Its id; `None` for a group `plan` would create.
    pub(crate) id: Option<String>,
    pub(crate) name: String,
    /// How many rules it holds.
    pub(crate) rules: usize,
}

/// How much more a target can take under the quotas, after the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Headroom {
    /// Rules of each family that still fit: free slots in the managed groups, plus a full group's worth
    /// per free group slot on the target.
    pub(crate) rules: PerFamily,
    /// Group slots still free on the target.
    pub(crate) groups: usize,
}

impl Part {
    /// A VPC as read, before anything is planned.
    pub(crate) fn observed(observed: Observed) -> Part {
        Part {
            observed,
            ..Part::default()
        }
    }

    /// Whether the run planned (a skipped run did not: the groups are as observed).
    pub(super) fn planned_layout(&self) -> bool {
        !self.plan.layout.is_empty()
    }

    /// The rules the managed groups hold now.
    pub(super) fn held(&self) -> BTreeSet<Rule> {
        self.observed
            .groups
            .iter()
            .flat_map(|g| g.rules.iter().copied())
            .collect()
    }

    /// The managed groups as the run leaves them.
    /// Every target left out of the run: those without room (the plan's), and those whose write
    /// failed.
    pub(crate) fn skipped_targets(&self) -> impl Iterator<Item = &SkippedTarget> {
        (self.plan.skipped_targets.iter()).chain(&self.failed_targets)
    }

    /// Group id → the digest of its rules after the run, and the ids of the groups the run deleted.
    pub(crate) fn rule_digests(&self) -> (BTreeMap<String, String>, Vec<String>) {
        let after: BTreeMap<String, String> = match (self.planned_layout(), &self.ids) {
            (true, Some(ids)) => (self.plan.layout.iter())
                .filter_map(|(name, rules)| Some((ids.get(name)?.clone(), digest(rules))))
                .collect(),
            _ => (self.observed.groups.iter())
                .map(|g| (g.id.clone(), digest(&g.rules)))
                .collect(),
        };
        let gone = (self.observed.groups.iter())
            .filter(|g| !after.contains_key(&g.id))
            .map(|g| g.id.clone())
            .collect();
        (after, gone)
    }

    pub(crate) fn groups_after(&self) -> Vec<GroupAfter> {
        if !self.planned_layout() {
            return self
                .observed
                .groups
                .iter()
                .map(|o| GroupAfter {
                    id: Some(o.id.clone()),
                    name: o.name.clone(),
                    rules: o.rules.len(),
                })
                .collect();
        }
        self.plan
            .layout
            .iter()
            .map(|(name, rules)| GroupAfter {
                id: match &self.ids {
                    Some(ids) => ids.get(name).cloned(),
                    None => self.observed.group_id(name).map(str::to_string),
                },
                name: name.clone(),
                rules: rules.len(),
            })
            .collect()
    }

    /// The headroom of every target after the run (as observed, when nothing was planned).
    pub(crate) fn headroom(&self) -> Vec<(TargetId, Headroom)> {
        let quotas = self.observed.quotas;
        let used: Vec<PerFamily> = if self.planned_layout() {
            self.plan.layout.values().map(PerFamily::of).collect()
        } else {
            self.observed.groups.iter().map(|g| g.used()).collect()
        };
        let free_in_groups = used.iter().fold(PerFamily::default(), |acc, u| {
            acc.plus(u.free_under(quotas.rules_per_group))
        });
        self.observed
            .targets
            .iter()
            .map(|t| {
                let foreign = self.observed.foreign_of(t).count();
                let groups = quotas
                    .groups_per_target
                    .saturating_sub(foreign + used.len());
                let rules = free_in_groups.plus(PerFamily::both(groups * quotas.rules_per_group));
                (t.id.clone(), Headroom { rules, groups })
            })
            .collect()
    }
}
