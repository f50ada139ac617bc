//! What one run did, as plain data: the input of every report (the summary JSON, the text, the log
//! line), built by `sync` and read by `report`.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::rule::PerFamily;
use crate::security_groups::{Changes, Observed, Plan, TargetId};
use crate::{ip_sets, prefix_lists};

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

/// One run's result: the document, and what happened to each kind of allow-list it keeps in sync
/// (`None` for a kind `TARGETS` does not name).
#[derive(Clone, Debug)]
pub struct Outcome {
    /// How it ended, over all kinds: `Applied` when any kind changed.
    pub status: Status,
    /// The selected service(s), comma-separated.
    pub service: String,
    /// The document's synctoken.
    pub synctoken: u64,
    /// The document's createDate.
    pub create_date: String,
    /// How many security-group rules the document asks for (CIDRs × port ranges).
    pub rules: usize,
    /// What the run has to say beside the kinds: the document's parse (entries of other services that
    /// were skipped), a synctoken ahead of the clock.
    pub warnings: Vec<String>,
    /// The security groups of the VPC.
    pub groups: Option<GroupsOutcome>,
    /// The region's customer-managed prefix lists.
    pub lists: Option<ListsOutcome>,
    /// The WAF IP sets of the scope.
    pub sets: Option<SetsOutcome>,
}

/// The security-group kind's part of a run.
#[derive(Clone, Debug)]
pub struct GroupsOutcome {
    /// The VPC as read before the run.
    pub observed: Observed,
    /// The plan that ran (or, for `plan`, would run); empty when nothing changes or the run skipped.
    pub plan: Plan,
    /// What changed (for `plan`: what would change).
    pub changes: Changes,
    /// Group name → id after an applied run; `None` when nothing was applied (ids are the observed ones).
    pub ids: Option<BTreeMap<String, String>>,
}

/// The prefix-list kind's part of a run.
#[derive(Clone, Debug)]
pub struct ListsOutcome {
    /// The lists as read before the run.
    pub observed: prefix_lists::Observed,
    pub plan: prefix_lists::Plan,
    pub changes: prefix_lists::Changes,
    /// List name → id after an applied run.
    pub ids: Option<BTreeMap<String, String>>,
    /// Lists left empty that something still references (kept until nothing does).
    pub kept: Vec<String>,
    /// The RAM share, when `SHARE_WITH` names principals and the run applied.
    pub share: Option<Share>,
}

/// The RAM share of the lists (`SHARE_WITH`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Share {
    /// `{stem}-prefix-lists`.
    pub name: String,
    /// Its ARN; `None` when it does not exist yet.
    pub arn: Option<String>,
    /// The principals it is shared with (`SHARE_WITH`).
    pub principals: Vec<String>,
    /// Lists the run added to it (for `plan`: would add).
    pub lists_added: usize,
    /// Principals the run added to it (for `plan`: would add).
    pub principals_added: usize,
}

/// The WAF kind's part of a run.
#[derive(Clone, Debug)]
pub struct SetsOutcome {
    pub scope: ip_sets::Scope,
    /// The sets as read before the run.
    pub observed: ip_sets::Observed,
    pub plan: ip_sets::Plan,
    pub changes: ip_sets::Changes,
    /// Set name → id after the run (observed ids when nothing was applied).
    pub ids: BTreeMap<String, String>,
    /// Set id → ARN (what a web ACL rule names).
    pub arns: BTreeMap<String, String>,
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
        let Some(g) = &self.groups else {
            return Vec::new();
        };
        let quotas = g.observed.quotas;
        let used: Vec<PerFamily> = if self.status == Status::Skipped || g.plan.layout.is_empty() {
            g.observed.groups.iter().map(|g| g.used()).collect()
        } else {
            g.plan.layout.values().map(PerFamily::of).collect()
        };
        let free_in_groups = used.iter().fold(PerFamily::default(), |acc, u| {
            acc.plus(u.free_under(quotas.rules_per_group))
        });
        g.observed
            .targets
            .iter()
            .map(|t| {
                let foreign = g.observed.foreign_of(t).count();
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
        let Some(g) = &self.groups else {
            return Vec::new();
        };
        if self.status == Status::Skipped {
            return g
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
        g.plan
            .layout
            .iter()
            .map(|(name, rules)| GroupAfter {
                id: match &g.ids {
                    Some(ids) => ids.get(name).cloned(),
                    None => g.observed.group_id(name).map(str::to_string),
                },
                name: name.clone(),
                rules: rules.len(),
            })
            .collect()
    }

    /// Every synctoken the managed resources recorded before the run.
    pub fn recorded_synctokens(&self) -> Vec<u64> {
        let groups = self.groups.iter().flat_map(|g| g.observed.synctokens());
        let lists = self.lists.iter().flat_map(|l| l.observed.synctokens());
        let sets = self.sets.iter().flat_map(|s| s.observed.synctokens());
        groups.chain(lists).chain(sets).collect()
    }

    /// The synctoken applied after the run: the document's when it was applied (or already was),
    /// else the newest recorded.
    pub fn applied_synctoken(&self) -> Option<u64> {
        match self.status {
            Status::Applied | Status::Unchanged => Some(self.synctoken),
            Status::Planned | Status::Skipped => self.recorded_synctokens().into_iter().max(),
        }
    }

    /// Every warning of the run: its own, then each kind's.
    pub fn all_warnings(&self) -> Vec<String> {
        let groups = self.groups.iter().flat_map(|g| &g.observed.warnings);
        let lists = self.lists.iter().flat_map(|l| &l.observed.warnings);
        let sets = self.sets.iter().flat_map(|s| &s.observed.warnings);
        self.warnings
            .iter()
            .chain(groups)
            .chain(lists)
            .chain(sets)
            .cloned()
            .collect()
    }
}

/// What exists now, for `sgsync status`: one read of every kind `TARGETS` names.
#[derive(Clone, Debug)]
pub struct Inventory {
    /// The ownership prefix.
    pub prefix: String,
    pub groups: Option<Observed>,
    pub lists: Option<prefix_lists::Observed>,
    /// List id → what references it.
    pub references: BTreeMap<String, Vec<String>>,
    /// The scope, the sets, and their ARNs by id.
    pub sets: Option<(ip_sets::Scope, ip_sets::Observed, BTreeMap<String, String>)>,
}

impl Inventory {
    /// The newest synctoken recorded on any managed resource.
    pub fn applied_synctoken(&self) -> Option<u64> {
        let groups = self.groups.iter().flat_map(|o| o.synctokens());
        let lists = self.lists.iter().flat_map(|o| o.synctokens());
        let sets = self.sets.iter().flat_map(|(_, o, _)| o.synctokens());
        groups.chain(lists).chain(sets).max()
    }
}
