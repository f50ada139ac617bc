//! sgsync keeps AWS network allow-lists holding exactly the IP ranges Amazon publishes for one service
//! (CloudFront by default), so that a CloudFront origin accepts traffic from CloudFront and nothing
//! else. Three kinds of allow-list, chosen with `TARGETS`: VPC security groups attached to tagged
//! targets, customer-managed prefix lists (optionally shared through RAM), and WAF IP sets.
//!
//! One run is a pipeline; each stage is one module, and only the modules under `aws` perform AWS IO:
//!
//! ```text
//! event ─► event         SNS / scheduled / launch / tag event → Event (a launch or a tag goes to
//!                        `attach`: the managed groups onto the new target, without a document)
//!        ► load          where the document comes from → verified bytes → selected ranges
//!            ► source    download from the pinned URL (timeout, size cap) or read a file; MD5 check
//!            ► ranges    parse ip-ranges.json, keep the service / regions / IP versions, aggregate
//!        ► rule          ranges × ports → desired rules (the unit every quota counts)
//!        ► guard         sanity checks between what is applied and what would be
//!        ► aws::…        one read per kind: groups + targets + quotas, prefix lists, WAF IP sets;
//!                        `ownership` says which of them are this deployment's
//!        ► <kind>::plan  PURE: desired state + observed + quotas → ordered actions, for each kind:
//!                          security_groups (rules packed into groups attached to targets)
//!                          prefix_lists    (CIDRs packed into lists; shared through RAM)
//!                          ip_sets         (CIDRs, one WAF IP set per family)
//!        ► <kind>::apply run the actions through the kind's API trait (GroupApi, ListApi,
//!                        SetApi), implemented by `aws::…` and by the simulated worlds in `testkit`
//!        ► outcome       what the run did, as plain data
//!        ► report        the outcome as JSON (the summary) and as text
//!        ► metrics       the outcome as CloudWatch metrics (Embedded Metric Format log lines)
//! ```
//!
//! `sync` runs that sequence for the CLI and the Lambda alike; `fleet` runs it for many VPCs (accounts,
//! regions) after one load; `lambda` serves it on the real `lambda_runtime`. Vocabulary modules (settings, events, documents, ranges, rules, guards,
//! ownership, the three kinds, reports) are public namespaces; the machinery (AWS adapters, loading, the
//! pipeline, the Lambda loop) is private, and what callers need of it is re-exported below.

#![warn(unreachable_pub)]

mod attach;
mod aws;
pub mod config;
mod error;
pub mod event;
pub mod fleet;
pub mod guard;
pub mod ip_sets;
mod lambda;
mod load;
mod metrics;
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

pub use aws::{Clients, base_config};
pub use error::AwsError;
pub use lambda::{chain as error_chain, serve};
pub use load::{Input, LoadError, Loaded, load, verified_selection};
pub use outcome::{
    GroupsOutcome, Headroom, Inventory, ListsOutcome, Outcome, SetsOutcome, Share, Status,
};
pub use sync::{Mode, RunError, inventory, observe, run, run_event, sync_vpc};
