//! What one run did, as plain data: the input of every report (the summary JSON, the text, the log
//! line), built by `sync` and read by `report`.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::rule::PerFamily;
use crate::security_groups::{Changes, Observed, Plan, TargetId};

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

/// One run's result for one VPC.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// How it ended.
    pub status: Status,
    /// The selected service(s), comma-separated.
    pub service: String,
    /// The document's synctoken.
    pub synctoken: u64,
    /// The document's createDate.
    pub create_date: String,
    /// How many rules the document asks for.
    pub rules: usize,
    /// The VPC as read before the run.
    pub observed: Observed,
    /// The plan that ran (or, for `plan`, would run); empty when nothing changes or the run skipped.
    pub plan: Plan,
    /// What changed (for `plan`: what would change).
    pub changes: Changes,
    /// Group name → id after an applied run; `None` when nothing was applied (ids are the observed ones).
    pub ids: Option<BTreeMap<String, String>>,
    /// What the document's parse said beside the ranges (entries of other services that were skipped).
    pub document_warnings: Vec<String>,
}

/// One managed group after the run (for `plan`: after the plan would run; when skipped: as observed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupAfter {
    /// Its id; `None` for a group `plan` would create.
    pub id: Option<String>,
    pub name: String,
    /// How many rules it holds.
    pub rules: usize,
}

/// How much more a target can take under the quotas, after the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Headroom {
    /// Rules of each family that still fit: free slots in the managed groups, plus a full group's worth
    /// per free group slot on the target.
    pub rules: PerFamily,
    /// Group slots still free on the target.
    pub groups: usize,
}

impl Outcome {
    /// The headroom of every target after the run (as observed, when nothing was applied).
    pub fn headroom(&self) -> Vec<(TargetId, Headroom)> {
        let quotas = self.observed.quotas;
        let used: Vec<PerFamily> = if self.status == Status::Skipped || self.plan.layout.is_empty()
        {
            self.observed.groups.iter().map(|g| g.used()).collect()
        } else {
            self.plan.layout.values().map(PerFamily::of).collect()
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

    /// The managed groups as the run leaves them.
    pub fn groups_after(&self) -> Vec<GroupAfter> {
        if self.status == Status::Skipped {
            return self
                .observed
                .groups
                .iter()
                .map(|g| GroupAfter {
                    id: Some(g.id.clone()),
                    name: g.name.clone(),
                    rules: g.rules.len(),
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

    /// Every warning of the run: the document's, then the VPC's.
    pub fn warnings(&self) -> Vec<String> {
        self.document_warnings
            .iter()
            .chain(&self.observed.warnings)
            .cloned()
            .collect()
    }
}
