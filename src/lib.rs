//! sgsync keeps VPC security groups holding exactly the IP ranges Amazon publishes for one service
//! (CloudFront by default), so that a CloudFront origin accepts traffic from CloudFront and nothing else.
//!
//! One run is a pipeline; each stage is one module, and only the modules under `aws` perform AWS IO:
//!
//! ```text
//! event ─► notification  SNS / scheduled event → Trigger (url, md5, synctoken)
//!        ► source        download from the pinned URL (timeout, size cap) or read a file; MD5 check
//!        ► ranges        parse ip-ranges.json, keep the service / regions / IP versions, aggregate
//!        ► rule          ranges × ports → desired rules (the unit every quota counts)
//!        ► guard         sanity checks between what is applied and what would be
//!        ► aws::observe  managed groups, their rules, the targets they are attached to, quotas
//!        ► plan          PURE: desired rules + observed layout + quotas → ordered actions
//!        ► apply         run the plan's actions through the AWS adapters, in order
//!        ► report        the run's summary as JSON and as text
//! ```
//!
//! Module map:
//! - [`aws`]: the AWS adapters (EC2, ELBv2, Service Quotas): observe and execute, nothing else.
//! - [`config`]: environment variables and flags (the blog's names) → [`config::Config`].
//! - [`notification`]: Lambda events → [`notification::Trigger`].
//! - [`source`]: fetching and verifying the ip-ranges document.
//! - [`ranges`]: the ip-ranges.json model, selection and lossless aggregation.
//! - [`rule`]: one inbound rule (CIDR × port range) and the port list syntax.
//! - [`guard`]: sanity checks (range width, stale documents, large removals) before any change.
//! - [`plan`]: the pure planner (stable packing, make-before-break ordering, capacity).
//! - [`apply`]: runs a plan's actions through the adapters, in order, idempotently.
//! - [`sync`]: one run end to end, shared by the CLI and the Lambda.
//! - [`lambda`]: the Lambda handler on the real `lambda_runtime`.
//! - [`report`]: the summary printed by the CLI and returned by the Lambda.

pub mod apply;
pub mod aws;
pub mod config;
pub mod guard;
pub mod lambda;
pub mod notification;
pub mod plan;
pub mod ranges;
pub mod report;
pub mod rule;
pub mod source;
pub mod sync;
