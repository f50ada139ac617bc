//! Customer-managed prefix lists as a kind of allow-list: lists holding the published CIDRs, for
//! security group rules (here or, shared through AWS RAM, in other accounts), route tables or
//! firewalls to reference. The same parts as the security-group kind:
//!
//! ```text
//!  ListReads::observe ──► Observed ──► plan() ──► Plan ──► apply(&mut impl ListApi)
//!                                      resize.rs: the plan's resizes against the referencing groups
//! ```
//!
//! `run` drives them (and the RAM share, `ShareApi`) as the kind contract of `crate::kind`; `part` is
//! the kind's part of a run, `report` what is said about it.

mod apply;
mod model;
mod part;
mod plan;
mod report;
mod resize;
mod run;
#[cfg(test)]
mod tests;

pub use apply::{Applied, ApplyError, ListApi, apply};
pub use model::{
    Action, CHANGES_PER_REQUEST, Changes, Desired, ListAfter, MAX_ENTRIES_LIMIT, Observed,
    ObservedList, Plan, Retiring, Share, ShareState, fresh_sizes, sized,
};
#[cfg(test)]
pub(crate) use part::Part;
pub use plan::{PlanError, plan};
pub use resize::{Referencing, check_resizes};
pub(crate) use run::Run;
pub use run::{ListReads, ShareApi};
