//! One run, end to end: where the document comes from → verified bytes → ranges → desired rules →
//! observe → plan → apply (or not) → summary. The CLI and the Lambda both call [`run`], so an event
//! file given to `sgsync apply --event` is processed exactly as the Lambda would process it.

use std::collections::BTreeSet;
use std::time::Duration;

use ipnet::IpNet;
use thiserror::Error;
use tracing::{info, warn};

use crate::apply::{self, ApplyError, Changes};
use crate::aws::observe::{Observation, observe};
use crate::aws::{AwsError, Clients};
use crate::config::Config;
use crate::guard::{self, Freshness, GuardError};
use crate::notification::{Notification, NotificationError, Trigger};
use crate::plan::{self, Desired, Plan, PlanError};
use crate::ranges::{self, RangeSet, RangesError, Selection};
use crate::report::{GroupSummary, Status, Summary};
use crate::rule::desired_rules;
use crate::source::{self, Document, Limits, SourceError};

/// Where the document comes from.
#[derive(Clone, Debug)]
pub enum Input {
    /// A Lambda event: an SNS notification (download from its URL, which must be the configured one,
    /// and check its MD5) or a scheduled event (download from the configured URL).
    Trigger(Trigger),
    /// A file or URL given by an operator, with an optional MD5 to check.
    Location {
        /// Path or http(s) URL.
        file_or_url: String,
        /// Expected MD5, lower-case hex.
        md5: Option<String>,
    },
    /// The configured `IP_RANGES_URL`, unverified (the operator's "sync now").
    Configured,
}

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
    /// The event is not one sgsync handles.
    #[error(transparent)]
    Notification(#[from] NotificationError),
    /// The document could not be fetched or verified.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The document is malformed or the selection is empty.
    #[error(transparent)]
    Ranges(#[from] RangesError),
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

/// Everything a run produced, for the CLI's text output and the Lambda's answer.
#[derive(Debug)]
pub struct Outcome {
    /// The summary.
    pub summary: Summary,
    /// The plan that was (or would be) run.
    pub plan: Plan,
    /// The world before the run.
    pub observation: Observation,
    /// The selected ranges.
    pub ranges: RangeSet,
}

/// Checks the MD5 (when one is expected) and selects the ranges at the same time, on two threads:
/// on the real document MD5 (~4 ms) takes as long as the parse and selection together, so running
/// them side by side halves the offline pipeline. Nothing is applied unless both succeed.
pub fn verified_selection(
    doc: &Document,
    md5: Option<&str>,
    selection: &Selection,
) -> (Result<(), SourceError>, Result<RangeSet, RangesError>) {
    match md5 {
        None => (Ok(()), ranges::select(&doc.bytes, selection)),
        Some(md5) => std::thread::scope(|s| {
            let check = s.spawn(|| source::verify_md5(doc, md5));
            let selected = ranges::select(&doc.bytes, selection);
            (
                check.join().expect("the MD5 thread does not panic"),
                selected,
            )
        }),
    }
}

/// Fetches and verifies the document for `input`, and selects its ranges.
pub async fn load(config: &Config, input: &Input) -> Result<(Document, RangeSet), RunError> {
    let limits = Limits::default();
    let selection = config.selection();
    let (document, selected) = match input {
        Input::Trigger(Trigger::Notification(n)) => {
            notified(config, n, &limits, &selection).await?
        }
        Input::Trigger(Trigger::Reconcile { .. }) | Input::Configured => {
            let doc = source::fetch(&config.ip_ranges_url, &limits).await?;
            let (_, selected) = verified_selection(&doc, None, &selection);
            (doc, selected)
        }
        Input::Location { file_or_url, md5 } => {
            let doc = source::load(file_or_url, &limits).await?;
            let (check, selected) = verified_selection(&doc, md5.as_deref(), &selection);
            check?;
            (doc, selected)
        }
    };
    info!(origin = %document.origin, bytes = document.bytes.len(), md5 = %document.md5(), "document loaded");
    Ok((document, selected?))
}

/// Downloads the document a notification announces and checks it against the notification.
///
/// A document *newer* than the notification (Amazon published again in between) is applied: it is what
/// the notification would lead to anyway. An *older* one means a stale cache answered: download again
/// with backoff, then fail so Lambda retries the event. The same synctoken with another MD5 is a
/// corrupt or tampered document: fail.
async fn notified(
    config: &Config,
    n: &Notification,
    limits: &Limits,
    selection: &Selection,
) -> Result<(Document, Result<RangeSet, RangesError>), RunError> {
    let url = n.url.as_deref().unwrap_or(&config.ip_ranges_url);
    source::check_url(url, &config.ip_ranges_url)?;
    let delays = retry_delays();
    let mut attempt = 0;
    loop {
        let doc = source::fetch(url, limits).await?;
        let (check, selected) = verified_selection(&doc, Some(&n.md5), selection);
        let Err(mismatch) = check else {
            return Ok((doc, selected));
        };
        let synctoken = match &selected {
            Ok(set) => set.synctoken,
            Err(_) => match ranges::synctoken(&doc.bytes) {
                Ok(t) => t,
                Err(_) => return Err(mismatch.into()),
            },
        };
        if synctoken > n.synctoken {
            warn!(
                notified = n.synctoken,
                downloaded = synctoken,
                "the downloaded document supersedes the notification: applying the newer one"
            );
            return Ok((doc, selected));
        }
        if synctoken == n.synctoken || attempt >= delays.len() {
            return Err(mismatch.into());
        }
        warn!(
            notified = n.synctoken,
            downloaded = synctoken,
            retry_in_ms = delays[attempt].as_millis() as u64,
            "the downloaded document is older than the notification; downloading again"
        );
        tokio::time::sleep(delays[attempt]).await;
        attempt += 1;
    }
}

/// Backoff between downloads of a document older than its notification: 2, 4, 8 s (overridable
/// with `SGSYNC_DOWNLOAD_RETRY_MS` for tests, as a base that doubles).
fn retry_delays() -> Vec<Duration> {
    let base = std::env::var("SGSYNC_DOWNLOAD_RETRY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000u64);
    (0..3).map(|i| Duration::from_millis(base << i)).collect()
}

/// Runs the pipeline once.
pub async fn run(
    config: &Config,
    clients: &Clients,
    input: &Input,
    mode: Mode,
) -> Result<Outcome, RunError> {
    let (_document, ranges) = load(config, input).await?;
    for w in &ranges.warnings {
        warn!("{w}");
    }
    guard::check_width(&ranges, &config.guard)?;
    let desired = Desired {
        rules: desired_rules(&ranges.ipv4, &ranges.ipv6, &config.ports),
        synctoken: ranges.synctoken,
        group_stem: config.group_stem(),
    };
    let observation = observe(clients, config).await?;
    for w in &observation.warnings {
        warn!("{w}");
    }
    let applied = observation.applied_synctoken();
    let stale = guard::freshness(ranges.synctoken, applied) != Freshness::Current;
    let plan = if stale {
        warn!(document = ranges.synctoken, applied = ?applied, "the document is older than the one applied: skipped, nothing changed");
        Plan::default()
    } else {
        let applied_nets: BTreeSet<IpNet> = observation
            .observed
            .groups
            .iter()
            .flat_map(|g| g.rules.iter().map(|r| r.net))
            .collect();
        let desired_nets: BTreeSet<IpNet> = desired.rules.iter().map(|r| r.net).collect();
        guard::check_shrink(&applied_nets, &desired_nets, &config.guard)?;
        plan::plan(&desired, &observation.observed, observation.quotas.quotas)?
    };

    let (status, changes, ids) = if stale {
        (Status::Skipped, Changes::default(), None)
    } else if plan.is_empty() {
        (Status::Unchanged, Changes::default(), None)
    } else if mode == Mode::Plan {
        (Status::Planned, Changes::of_plan(&plan), None)
    } else {
        let (changes, ids) = apply::apply(clients, config, &observation, &plan).await?;
        (Status::Applied, changes, Some(ids))
    };
    let groups = if stale {
        observation
            .observed
            .groups
            .iter()
            .map(|g| GroupSummary {
                id: Some(g.id.clone()),
                name: g.name.clone(),
                rules: g.rules.len(),
            })
            .collect()
    } else {
        plan.layout
            .iter()
            .map(|(name, rules)| GroupSummary {
                id: match &ids {
                    Some(ids) => ids.get(name).cloned(),
                    None => observation.group_id(name).map(str::to_string),
                },
                name: name.clone(),
                rules: rules.len(),
            })
            .collect()
    };
    let mut warnings = ranges.warnings.clone();
    warnings.extend(observation.warnings.iter().cloned());
    warnings.extend(observation.quotas.notes.iter().cloned());
    let summary = Summary {
        status,
        synctoken: ranges.synctoken.to_string(),
        service: config.service_label(),
        rules: desired.rules.len(),
        groups,
        changes,
        vpc_id: observation.vpc_id.clone(),
        quotas: observation.quotas.quotas,
        targets: observation
            .observed
            .targets
            .iter()
            .map(|t| t.id.clone())
            .collect(),
        warnings,
        actions: plan.actions.clone(),
    };
    info!(
        status = ?summary.status,
        synctoken = ranges.synctoken,
        changes = %serde_json::to_string(&summary.changes).unwrap_or_default(),
        "{}",
        summary.headline()
    );
    Ok(Outcome {
        summary,
        plan,
        observation,
        ranges,
    })
}
