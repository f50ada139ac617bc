//! sgsync keeps AWS network allow-lists holding exactly the IP ranges Amazon publishes for one service
//! (CloudFront by default), so that a CloudFront origin accepts traffic from CloudFront and nothing
//! else. Three kinds of allow-list, chosen with `KINDS`: VPC security groups attached to tagged
//! targets (interfaces and load balancers tagged `sgsync:target`), customer-managed prefix lists
//! (optionally shared through RAM), and WAF IP sets.
//!
//! One run is a pipeline; each stage is one module, and only the modules under `aws` perform AWS IO:
//!
//! ```text
//! event ─► event         SNS / scheduled / launch / tag / CloudTrail groups-set event → Event
//!        ► dispatch      a notification or the schedule → sync; a launch, a tag or a groups-set call
//!                        → attach (the managed groups onto the target, without a document)
//!        ► load          where the document comes from → verified bytes → selected ranges
//!            ► source    download from the pinned URL (timeout, size cap) or read a file; MD5 check
//!            ► cache     the last copy of each download: a conditional GET's 304 is answered by it
//!            ► ranges    parse ip-ranges.json, keep the service / regions / IP versions, aggregate
//!            ► formats   or another provider's document (SOURCE): Google, GitHub, Cloudflare, …
//!        ► rule          ranges × ports → desired rules (the unit every quota counts)
//!        ► guard         sanity checks between what is applied and what would be
//!        ► sync          the orchestrator: for every kind `kinds` lists, in one loop, through the
//!                        contract of `kind` (observe, guard, plan, apply):
//!            ► <kind>::run     observe and write through the kind's API traits, which `aws::…`
//!                              implements (and `testkit`'s simulated worlds, for the writes)
//!            ► <kind>::plan    PURE: desired state + observed + quotas → ordered actions:
//!                                security_groups (rules packed into groups attached to targets)
//!                                prefix_lists    (CIDRs packed into lists; shared through RAM)
//!                                ip_sets         (CIDRs, one WAF IP set per family)
//!            ► <kind>::apply   run the actions, one call each
//!        ► outcome       what the run did (each kind's part, plain data), or why it failed
//!        ► report        the outcome as JSON (the summary) and as text; each kind says its part
//!        ► metrics       the outcome as CloudWatch metrics (Embedded Metric Format log lines)
//!        ► notify        a run that changed anything, told to CHANGE_TOPIC_ARN (SNS)
//! ```
//!
//! `fleet` runs `sync` for many VPCs (accounts, regions) after one load; `lambda` serves it on the real
//! `lambda_runtime`. Layers run one way (docs/design.md, "Layers"): nothing imports a module above it.
//! Vocabulary modules (settings, events, documents, ranges, rules, guards, ownership, the three kinds,
//! reports) are public namespaces; the machinery (AWS adapters, the kind contract, loading, the
//! pipeline, the Lambda loop) is private, and what callers need of it is re-exported below.

#![warn(unreachable_pub)]

pub mod addresses;
mod attach;
mod aws;
pub mod cache;
pub mod config;
mod dispatch;
mod error;
pub mod event;
pub mod fleet;
pub mod formats;
pub mod guard;
pub mod ip_sets;
mod kind;
mod kinds;
mod lambda;
mod load;
mod metrics;
mod notify;
mod outcome;
pub mod ownership;
pub mod prefix_lists;
pub mod ranges;
pub mod report;
pub mod rule;
pub mod security_groups;
pub mod source;
mod sync;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use aws::{Clients, Session};
pub use dispatch::run_event;
pub use error::{AwsError, chain as error_chain};
pub use kind::{KindError, Mode};
pub use lambda::serve;
pub use load::{
    Input, LoadError, Loaded, configured_url, load, select_document, verified_selection,
};
pub use outcome::{
    EntryLabel, EntryOutcome, FleetOutcome, Inventory, Outcome, Refusal, RunError, Status,
};
pub use sync::{inventory, run, sync_vpc};
