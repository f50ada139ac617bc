//! AWS WAF IP sets as a kind of allow-list: one set per IP family holding the published CIDRs, for a
//! web ACL's rule to match. The same parts as the other kinds:
//!
//! ```text
//!  SetReads::observe ──► Observed ──► plan() ──► Plan ──► apply(&mut impl SetApi)
//! ```
//!
//! `run` drives them as the kind contract of `crate::kind`; `part` is the kind's part of a run,
//! `report` what is said about it.

mod apply;
mod model;
mod part;
mod plan;
mod report;
mod run;
#[cfg(test)]
mod tests;

pub use apply::{Applied, ApplyError, SetApi, apply};
pub use model::{
    ADDRESSES_LIMIT, Action, Changes, Desired, Observed, ObservedSet, Plan, RetiringSet, Scope,
};
#[cfg(test)]
pub(crate) use part::Part;
pub use plan::{PlanError, plan, set_name};
pub(crate) use run::Run;
pub use run::SetReads;
