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
//! The other kinds (`prefix_lists`, `ip_sets`) sit beside this one with the same three parts; `sync`
//! runs them in turn. Ownership (which groups are this deployment's) is shared: `crate::ownership`.

mod apply;
mod model;
mod packing;
mod plan;
#[cfg(test)]
mod tests;

pub use apply::{Applied, ApplyError, GroupApi, apply};
pub use model::{
    Action, Capacity, Changes, Desired, Observed, ObservedGroup, ObservedTarget, Plan,
    QuotaOverrides, Quotas, TargetId,
};
pub use plan::{PlanError, plan};
