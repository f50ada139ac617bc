//! Security groups as a kind of allow-list: managed groups hold the desired rules and are attached to
//! every target (network interface, ALB, NLB).
//!
//! ```text
//!  GroupReads::observe ──► Observed ──► plan() ──► Plan ──► apply(&mut impl GroupApi) ──► Applied
//!  (aws::groups)           model.rs     plan.rs,            apply.rs; the AWS adapters (aws::groups)
//!                                       packing.rs          and the simulated world (testkit) implement it
//! ```
//!
//! `run` drives those steps as the kind contract of `crate::kind`; `part` is the kind's part of a
//! run as plain data, `report` what is said about it, `text` its diff. The other kinds (`prefix_lists`,
//! `ip_sets`) have the same parts. Ownership (which groups are this deployment's) is shared:
//! `crate::ownership`.

mod apply;
mod model;
mod packing;
mod part;
mod plan;
mod replace;
mod report;
mod run;
#[cfg(test)]
mod tests;
mod text;

pub use apply::{Applied, ApplyError, GroupApi, apply};
pub use model::{
    Action, Capacity, Changes, Desired, Observed, ObservedGroup, ObservedTarget, Plan,
    QuotaOverrides, Quotas, SkippedTarget, TargetId, digest,
};
#[cfg(feature = "testkit")]
pub(crate) use packing::published_addresses;
pub(crate) use part::Part;
pub use plan::{PlanError, plan};
pub use replace::{Destination, Egress, ForeignGroup, GroupPattern, Replaces};
pub use run::GroupReads;
pub(crate) use run::{Run, apply_part};
