//! The prefix-list kind's part of a run, as plain data ([`Part`]), and what is said about it.

use std::collections::BTreeMap;

use super::model::{Changes, Observed, Plan, Share};

/// The region's managed prefix lists in a run: as read, the plan, what changed, the share.
#[derive(Clone, Debug, Default)]
pub(crate) struct Part {
    /// The lists as read before the run.
    pub(crate) observed: Observed,
    pub(crate) plan: Plan,
    pub(crate) changes: Changes,
    /// List name → id after an applied run.
    pub(crate) ids: Option<BTreeMap<String, String>>,
    /// Lists left empty that something still references (kept until nothing does).
    pub(crate) kept: Vec<String>,
    /// The RAM share, when `SHARE_WITH` names principals.
    pub(crate) share: Option<Share>,
    /// List id → what references it (read for `status` only).
    pub(crate) references: BTreeMap<String, Vec<String>>,
    /// The share's failure, if it failed: on its own, the lists synced all the same.
    pub(crate) share_error: Option<String>,
}

impl Part {
    /// The list ids after the run (as observed, when nothing was applied).
    pub(crate) fn ids(&self) -> BTreeMap<String, String> {
        match &self.ids {
            Some(ids) => ids.clone(),
            None => self
                .observed
                .lists
                .iter()
                .map(|l| (l.name.clone(), l.id.clone()))
                .collect(),
        }
    }
}
