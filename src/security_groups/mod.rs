//! Security groups as a target kind: managed groups hold the desired rules and are attached to every
//! target (network interface, ALB, NLB).
//!
//! A kind is three steps, and this module holds the two that are not IO:
//!
//! ```text
//!  aws::observe ──► Observed ──► plan() ──► Plan ──► apply(&mut impl GroupApi) ──► Applied
//!  (adapters)       model.rs     plan.rs,            apply.rs; the AWS adapters (aws::groups) and
//!                                packing.rs          the simulated world (testkit) implement GroupApi
//! ```
//!
//! Another kind (a prefix list, a WAF IP set) plugs in beside this one as its own module with the
//! same three parts, and one step in `sync::sync_vpc`; it does not touch this planner.

mod apply;
mod model;
mod packing;
mod plan;
#[cfg(test)]
mod tests;

pub use apply::{Applied, ApplyError, GroupApi, apply};
pub use model::{
    Action, Capacity, Changes, Claim, Conflict, Desired, Observed, ObservedGroup, ObservedTarget,
    Ownership, Plan, QuotaOverrides, Quotas, TargetId,
};
pub use plan::{PlanError, plan};
