//! One run, end to end, shared by the CLI and the Lambda (so an event file given to
//! `sgsync apply --event` is processed exactly as the function would process it):
//!
//! ```text
//! run = load (once) → sync_vpc: guards → observe → plan → apply (or not) → Outcome
//! ```
//!
//! [`sync_vpc`] takes an already loaded document, so one download can serve many VPCs.

use std::collections::BTreeSet;

use ipnet::IpNet;
use thiserror::Error;
use tracing::{info, warn};

use crate::aws::{self, AwsGroups, Clients};
use crate::config::Config;
use crate::error::AwsError;
use crate::guard::{self, Freshness, GuardError};
use crate::load::{Input, LoadError, Loaded, load};
use crate::outcome::{Outcome, Status};
use crate::report::Summary;
use crate::rule::desired_rules;
use crate::security_groups::{self, ApplyError, Changes, Desired, Observed, Plan, PlanError};

/// Whether the run may write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Read and plan; write nothing.
    Plan,
    /// Read, plan and apply.
    Apply,
}

/// Why a run failed. In every case but [`RunError::Apply`] nothing was changed.
#[derive(Debug, Error)]
pub enum RunError {
    /// The document could not be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// Reading AWS failed.
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// A sanity check refused the document.
    #[error(transparent)]
    Guard(#[from] GuardError),
    /// The desired state does not fit.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// An action failed midway.
    #[error(transparent)]
    Apply(#[from] ApplyError),
}

/// Loads the document `input` names and syncs the configured VPC with it.
pub async fn run(
    config: &Config,
    clients: &Clients,
    input: &Input,
    mode: Mode,
) -> Result<Outcome, RunError> {
    let loaded = load(config, input).await?;
    for w in &loaded.ranges.warnings {
        warn!("{w}");
    }
    sync_vpc(config, clients, &loaded, mode).await
}

/// Reads the configured VPC: its managed groups, their targets, the quotas.
pub async fn observe(config: &Config, clients: &Clients) -> Result<Observed, AwsError> {
    let observed = aws::observe(
        clients,
        config.vpc_id.as_deref(),
        &config.ownership(),
        config.quota_overrides,
    )
    .await?;
    for w in &observed.warnings {
        warn!("{w}");
    }
    Ok(observed)
}

/// Syncs the configured VPC with a loaded document: guards, observe, plan, and in [`Mode::Apply`]
/// apply. A document older than the one applied changes nothing and ends [`Status::Skipped`].
pub async fn sync_vpc(
    config: &Config,
    clients: &Clients,
    loaded: &Loaded,
    mode: Mode,
) -> Result<Outcome, RunError> {
    let ranges = &loaded.ranges;
    guard::check_width(ranges, &config.guard)?;
    let owner = config.ownership();
    let desired = Desired {
        rules: desired_rules(&ranges.ipv4, &ranges.ipv6, &config.ports),
        synctoken: ranges.synctoken,
        group_stem: owner.stem.clone(),
        repack: config.repack,
    };
    let observed = observe(config, clients).await?;
    let mut outcome = Outcome {
        status: Status::Unchanged,
        service: config.service_label(),
        synctoken: ranges.synctoken,
        create_date: ranges.create_date.clone(),
        rules: desired.rules.len(),
        observed,
        plan: Plan::default(),
        changes: Changes::default(),
        ids: None,
        document_warnings: ranges.warnings.clone(),
    };
    let applied = outcome.observed.applied_synctoken();
    if let Freshness::Stale { applied } = guard::freshness(ranges.synctoken, applied) {
        warn!(
            document = ranges.synctoken,
            applied, "the document is older than the one applied: skipped, nothing changed"
        );
        outcome.status = Status::Skipped;
        return Ok(logged(outcome));
    }
    let applied_nets: BTreeSet<IpNet> = outcome
        .observed
        .groups
        .iter()
        .flat_map(|g| g.rules.iter().map(|r| r.net))
        .collect();
    let desired_nets: BTreeSet<IpNet> = desired.rules.iter().map(|r| r.net).collect();
    guard::check_shrink(&applied_nets, &desired_nets, &config.guard)?;
    outcome.plan = security_groups::plan(&desired, &outcome.observed)?;
    if outcome.plan.is_empty() {
        return Ok(logged(outcome));
    }
    if mode == Mode::Plan {
        outcome.status = Status::Planned;
        outcome.changes = Changes::of_plan(&outcome.plan);
        return Ok(logged(outcome));
    }
    let descriptions = config.descriptions();
    let mut api = AwsGroups::new(
        clients,
        &outcome.observed.vpc_id,
        &owner,
        &descriptions.group,
        &descriptions.rule,
    );
    let applied = security_groups::apply(&mut api, &outcome.observed, &outcome.plan).await?;
    outcome.status = Status::Applied;
    outcome.changes = applied.changes;
    outcome.ids = Some(applied.ids);
    Ok(logged(outcome))
}

/// Logs the outcome's one-line summary (CloudWatch keeps it whole).
fn logged(outcome: Outcome) -> Outcome {
    let summary = Summary::from(&outcome);
    info!(
        status = ?summary.status,
        synctoken = outcome.synctoken,
        changes = %serde_json::to_string(&summary.changes).unwrap_or_default(),
        "{}",
        summary.headline()
    );
    outcome
}
