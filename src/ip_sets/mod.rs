//! AWS WAF IP sets as a target kind: one set per IP family holding the published CIDRs, for a web
//! ACL's rule to match. The same three parts as the other kinds:
//!
//! ```text
//!  aws::ip_sets::observe ──► Observed ──► plan() ──► Plan ──► apply(&mut impl SetApi)
//! ```

mod apply;
mod model;
mod plan;
#[cfg(test)]
mod tests;

pub use apply::{Applied, ApplyError, SetApi, apply};
pub use model::{ADDRESSES_LIMIT, Action, Changes, Desired, Observed, ObservedSet, Plan, Scope};
pub use plan::{PlanError, plan, set_name};
