//! Customer-managed prefix lists as a target kind: lists holding the published CIDRs, for security
//! group rules (here or, shared through AWS RAM, in other accounts), route tables or firewalls to
//! reference. The same three parts as the security-group kind:
//!
//! ```text
//!  aws::prefix_lists::observe ──► Observed ──► plan() ──► Plan ──► apply(&mut impl ListApi)
//! ```

mod apply;
mod model;
mod plan;
#[cfg(test)]
mod tests;

pub use apply::{Applied, ApplyError, ListApi, apply};
pub use model::{
    Action, CHANGES_PER_REQUEST, Changes, Desired, ListAfter, MAX_ENTRIES_LIMIT, Observed,
    ObservedList, Plan, sized,
};
pub use plan::{PlanError, plan};
