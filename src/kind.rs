//! The contract every kind of allow-list keeps (security groups, prefix lists, WAF IP sets), so that
//! the orchestrator (`sync`), the outcome, the reports and the metrics handle them in one loop and a
//! new kind touches its own folder, its adapter, its simulated world, its template policy and the one
//! list in `kinds`.
//!
//! A kind is two values:
//!
//! - [`Kind`]: its part of a run as plain data (what it observed, planned and changed) and everything
//!   said about it (guards, the summary section, the diff, the status, the metrics). Pure; this is
//!   what an `Outcome` and an `Inventory` hold.
//! - [`KindRun`]: the same part while the run goes on, with the adapter it reads and writes through
//!   (observe, plan, apply). Each kind's `run` module implements it generically over the kind's API
//!   traits, which the AWS adapters (`aws`) implement; so a kind's folder never names an adapter.

use std::collections::BTreeSet;
use std::error::Error;
use std::fmt::Debug;

use futures_util::future::BoxFuture;
use ipnet::IpNet;
use serde_json::Value;

use crate::error::{AwsError, StepError};
use crate::guard::{GuardError, GuardLimits};
use crate::rule::{Family, Rule};

/// What a document asks of every kind: each takes the part it holds (rules for groups, CIDRs for
/// lists and sets).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Desired {
    /// The document's synctoken, recorded on what holds its ranges.
    pub(crate) synctoken: u64,
    /// Its CIDRs × `PORTS`: what security groups hold.
    pub(crate) rules: BTreeSet<Rule>,
    /// Its CIDRs: what prefix lists and WAF IP sets hold.
    pub(crate) nets: BTreeSet<IpNet>,
    /// The IP families `IP_VERSIONS` selects.
    pub(crate) families: Vec<Family>,
    /// `--force`: what a kind refuses unless forced goes ahead.
    pub(crate) force: bool,
    /// With `REPLACES`: every address the document publishes for the selected services, in every
    /// region and family ([`crate::Loaded::published`]).
    pub(crate) published: Option<crate::addresses::Published>,
}

/// Whether a run may write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Read and plan; write nothing.
    Plan,
    /// Read, plan and apply.
    Apply,
}

/// A kind's refusal or failure, under the kind's own error type: its text is the message a user
/// reads (each kind's errors say what was wrong and what to do).
#[derive(Debug, thiserror::Error)]
pub enum KindError {
    /// Reading AWS failed.
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// The kind cannot be planned (capacity, a conflict, a list that would not fit a group): nothing
    /// was written.
    #[error(transparent)]
    Plan(Box<dyn Error + Send + Sync>),
    /// An action failed midway (`error::StepError`): the actions before it were applied.
    #[error(transparent)]
    Apply(Box<dyn Error + Send + Sync>),
}

impl KindError {
    /// A kind's refusal to plan.
    pub(crate) fn plan(e: impl Error + Send + Sync + 'static) -> KindError {
        KindError::Plan(Box::new(e))
    }
}

/// Every kind's apply fails with the same type, over its own change counts.
impl<C: Debug + Send + Sync + 'static> From<StepError<C>> for KindError {
    fn from(e: StepError<C>) -> KindError {
        KindError::Apply(Box::new(e))
    }
}

/// One section of a JSON report (the run's summary, `status`).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Section {
    /// The key it sits under; `None`: its fields sit at the top level (the security groups', where
    /// they were before other kinds existed).
    pub(crate) key: Option<&'static str>,
    /// The section, a JSON object.
    pub(crate) value: Value,
}

/// A metric a kind emits besides the run's own.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Gauge {
    /// A dimension of its own (`("Target", "interface eni-1")`), or none.
    pub(crate) dimension: Option<(&'static str, String)>,
    /// Name, unit, value.
    pub(crate) values: Vec<(&'static str, &'static str, f64)>,
}

/// One kind's part of a run (or of `status`) as plain data, and what is said about it.
pub(crate) trait Kind: Debug + Send + Sync {
    /// Its name in a sentence: `groups`, `prefix lists`, `WAF IP sets`.
    fn noun(&self) -> &'static str;
    /// The synctokens its resources recorded before the run.
    fn synctokens(&self) -> Vec<u64>;
    /// The removal and growth guards against what it holds now.
    fn check(&self, desired: &Desired, limits: &GuardLimits) -> Result<(), GuardError>;
    /// Whether its plan changes anything.
    fn planned(&self) -> bool;
    /// How many changes it made (for a plan: would make), all counts together.
    fn changes_made(&self) -> usize;
    /// Its changes in words, for the last line of `plan` (`planned`) and `apply`.
    fn changes_text(&self, planned: bool) -> String;
    /// What the run has to say about it.
    fn warnings(&self) -> Vec<String>;
    /// What failed without stopping the rest (a target skipped, a group refused on the event path):
    /// the run still fails at the end (exit 1, `RunFailed`), after everything else was done.
    fn errors(&self) -> Vec<String> {
        Vec::new()
    }
    /// Where it lives, for the first line of `plan`/`apply` (a VPC and its quotas), if anywhere.
    fn place(&self) -> Option<String> {
        None
    }
    /// Its section of the run's summary: what it holds after the run (as observed when the run
    /// planned nothing), what changed, the plan's actions.
    fn summary(&self) -> Section;
    /// Its part of the run's log line: what it holds, what changed.
    fn headline(&self) -> String;
    /// Its plan as a reviewer reads it (`+` create, `~` change, `-` delete), one line each.
    fn diff(&self) -> String;
    /// Its section of `sgsync status`.
    fn status(&self) -> Section;
    /// Its part of `sgsync status` as text; `synctoken` is the newest recorded on any kind.
    fn status_text(&self, prefix: &str, synctoken: &str) -> String;
    /// What it holds, in a few words, for a fleet's line per VPC (after a run).
    fn line(&self) -> String;
    /// What it holds now, in a few words, for a fleet's `status` line per VPC.
    fn status_line(&self) -> String;
    /// Metrics of its own, beside the run's.
    fn gauges(&self) -> Vec<Gauge> {
        Vec::new()
    }
}

/// A kind's part while a run goes on: the adapter it works through, and the steps of the run.
pub(crate) trait KindRun: Send {
    /// Reads what this deployment owns of the kind (and, for `status`, what references it).
    fn observe(&mut self, for_status: bool) -> BoxFuture<'_, Result<(), KindError>>;
    /// The part as it stands.
    fn part(&self) -> &dyn Kind;
    /// Plans the actions that reach `desired` (reading what the plan needs, such as which names
    /// are free); nothing is written.
    fn plan<'a>(&'a mut self, desired: &'a Desired) -> BoxFuture<'a, Result<(), KindError>>;
    /// Counts what the plan would change (a `plan` run).
    fn count_plan(&mut self);
    /// Runs the plan.
    fn apply(&mut self) -> BoxFuture<'_, Result<(), KindError>>;
    /// The part, once the run is over.
    fn finish(self: Box<Self>) -> Box<dyn Kind>;
}
