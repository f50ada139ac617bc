//! The WAF IP-set kind's part of a run, as plain data ([`Part`]), and what is said about it.

use std::collections::BTreeMap;

use super::model::{Changes, Observed, Plan, Scope};

/// The WAF IP sets of one scope in a run: as read, the plan, what changed.
#[derive(Clone, Debug)]
pub(crate) struct Part {
    pub(crate) scope: Scope,
    /// The sets as read before the run.
    pub(crate) observed: Observed,
    pub(crate) plan: Plan,
    pub(crate) changes: Changes,
    /// Set name → id after the run (observed ids when nothing was applied).
    pub(crate) ids: BTreeMap<String, String>,
    /// Set id → ARN (what a web ACL rule names).
    pub(crate) arns: BTreeMap<String, String>,
    /// Sets to retire that a web ACL still uses: kept.
    pub(crate) kept: Vec<String>,
}

impl Part {
    /// The sets of `scope` as read, with their ARNs by id.
    pub(crate) fn observed(
        scope: Scope,
        observed: Observed,
        arns: BTreeMap<String, String>,
    ) -> Part {
        Part {
            scope,
            ids: observed
                .sets
                .iter()
                .map(|s| (s.name.clone(), s.id.clone()))
                .collect(),
            observed,
            plan: Plan::default(),
            changes: Changes::default(),
            kept: Vec::new(),
            arns,
        }
    }
}
