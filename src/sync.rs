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
use tracing::{error, info, warn};

use crate::aws::{self, AwsGroups, Clients};
use crate::config::Config;
use crate::error::AwsError;
use crate::guard::{self, Freshness, GuardError};
use crate::load::{Input, LoadError, Loaded, load};
use crate::outcome::{Outcome, Status};
use crate::report::Summary;
use crate::rule::{Rule, desired_rules};
use crate::security_groups::{
    self, Action, ApplyError, Changes, Desired, Observed, Ownership, Plan, PlanError,
};

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
/// apply. A document older than the one applied changes nothing and ends [`Status::Skipped`]
/// (unless forced).
pub async fn sync_vpc(
    config: &Config,
    clients: &Clients,
    loaded: &Loaded,
    mode: Mode,
) -> Result<Outcome, RunError> {
    let ranges = &loaded.ranges;
    let now = unix_now();
    guard::check_ranges(ranges, &config.guard)?;
    guard::check_synctoken(ranges.synctoken, now)?;
    let owner = config.ownership();
    let desired = Desired {
        rules: desired_rules(&ranges.ipv4, &ranges.ipv6, &config.ports),
        synctoken: ranges.synctoken,
        group_stem: owner.stem.clone(),
        repack: config.repack,
    };
    let mut observed = observe(config, clients).await?;
    let recorded = observed.groups.iter().filter_map(|g| g.synctoken);
    let (applied, future) = guard::applied_synctoken(recorded, now);
    if let Some(future) = future {
        let note = format!(
            "a managed group records synctoken {future}, more than a day ahead of the clock; it is ignored \
             (a tag like that would make every document look stale) and this run overwrites it"
        );
        warn!("{note}");
        observed.warnings.push(note);
    }
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
    if let Freshness::Stale { applied } = guard::freshness(ranges.synctoken, applied) {
        let document = ranges.synctoken;
        if config.guard.force {
            warn!(
                document,
                applied, "the document is older than the one applied: applying it anyway (--force)"
            );
        } else if loaded.live {
            // The live document is Amazon's current one: a newer recorded token means a tag is wrong,
            // and nothing will ever be applied until someone looks.
            error!(
                document,
                applied,
                "the live document at IP_RANGES_URL is older than the synctoken recorded on the managed groups: \
                 nothing changed, and no document will be applied until that is fixed; check the groups' \
                 sgsync:synctoken tags, then run `sgsync apply --force`"
            );
            outcome.status = Status::Skipped;
            return Ok(logged(outcome));
        } else {
            warn!(
                document,
                applied, "the document is older than the one applied: skipped, nothing changed"
            );
            outcome.status = Status::Skipped;
            return Ok(logged(outcome));
        }
    }
    let applied_rules: BTreeSet<Rule> = outcome
        .observed
        .groups
        .iter()
        .flat_map(|g| g.rules.iter().copied())
        .collect();
    guard::check_removal(&applied_rules, &desired.rules, &config.guard)?;
    let nets =
        |rules: &BTreeSet<Rule>| -> BTreeSet<IpNet> { rules.iter().map(|r| r.net).collect() };
    guard::check_growth(&nets(&applied_rules), &nets(&desired.rules), &config.guard)?;
    outcome.plan = plan_with_free_names(clients, &desired, &mut outcome.observed, &owner).await?;
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
    for target in &applied.vanished {
        outcome.observed.warnings.push(format!(
            "{target} was deleted during the run: nothing to attach to"
        ));
    }
    outcome.status = Status::Applied;
    outcome.changes = applied.changes;
    outcome.ids = Some(applied.ids);
    Ok(logged(outcome))
}

/// Plans, and when the plan creates groups, makes sure no group this deployment does not own holds
/// their names (an untagged group squatting `AUTOUPDATE-cloudfront-4` would fail every create): such
/// names are skipped and the plan made again. Only runs that create groups pay the extra read.
async fn plan_with_free_names(
    clients: &Clients,
    desired: &Desired,
    observed: &mut Observed,
    owner: &Ownership,
) -> Result<Plan, RunError> {
    for _ in 0..3 {
        let plan = security_groups::plan(desired, observed)?;
        let created: Vec<String> = plan
            .actions
            .iter()
            .filter_map(|a| match a {
                Action::CreateGroup { group, .. } => Some(group.clone()),
                _ => None,
            })
            .collect();
        if created.is_empty() {
            return Ok(plan);
        }
        let squatted = aws::names_taken(clients, &observed.vpc_id, &created, owner).await?;
        if squatted.is_empty() {
            return Ok(plan);
        }
        for name in &squatted {
            let note = format!(
                "a group this deployment does not own is named {name}, a name sgsync gives its groups: \
                 that name is skipped (rename or delete that group to free it)"
            );
            warn!("{note}");
            observed.warnings.push(note);
        }
        observed.taken_names.extend(squatted);
    }
    Ok(security_groups::plan(desired, observed)?)
}

/// Seconds since 1970, the unit of synctokens.
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
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
