//! sgsync's integration tests: one binary (each test binary links the whole AWS SDK, so fourteen of
//! them cost minutes and gigabytes to link), a module per area. Every test that needs AWS starts its own
//! moto server (`support::moto`), except where a module shares one on purpose and says why.
//!
//! - `bad_input`: every kind of bad input changes nothing and says what to do;
//! - `ec2_sync`, `ec2_replay`, `hardening`, `faults`: security groups against moto, the real history,
//!   the hardening findings, injected faults and concurrent runs;
//! - `targets`: prefix lists, their RAM share and WAF IP sets;
//! - `events`, `fleet`, `lambda_runtime`: the event path, many accounts, the function on the real runtime;
//! - `trust`: the trust review's findings, each reproduced as the principal of the threat model would;
//! - `migration`: from the blog function's groups to sgsync's in one apply (`REPLACES`);
//! - `notify`: change notifications through SNS to a subscribed queue;
//! - `source_replay`: other providers' real histories through the planner and its referee (no AWS);
//! - `sources`: other providers' ranges (`SOURCE`) beside CloudFront's in one VPC;
//! - `scripting`: exit codes and JSON a script can trust, failures to reach AWS in one line;
//! - `iam_calls`, `deploy_template`: the templates' policies against what a run calls;
//! - `docs`: what the documentation states that a test can check;
//! - `source_http`, `guard_replay`, `planner_replay`: downloads, and the guards and the planner over the
//!   real history (no AWS);
//! - `download_cache`: conditional GETs (`DOWNLOAD_CACHE`) as an operator meets them.

// The futures of a run nest the AWS SDK's deeply; computing their layout needs more than the default.
#![recursion_limit = "256"]

mod support;

mod bad_input;
mod deploy_template;
mod docs;
mod download_cache;
mod ec2_replay;
mod ec2_sync;
mod events;
mod faults;
mod fleet;
mod guard_replay;
mod hardening;
mod iam_calls;
mod lambda_runtime;
mod migration;
mod notify;
mod planner_replay;
mod scripting;
mod source_http;
mod source_replay;
mod sources;
mod targets;
mod trust;
