//! One run, end to end, shared by the CLI and the Lambda (so an event file given to `sgsync apply
//! --event` is processed exactly as the function would process it):
//!
//! ```text
//! run = load (once) → sync_vpc: guards on the document → the desired state
//!                              → observe every kind KINDS names (groups, lists, sets)
//!                              → freshness over everything they record
//!                              → the removal and growth guards, per kind
//!                              → plan every kind
//!                              → apply (or not), kind after kind, in the order of `kinds`
//!                              → Outcome (with the errors of the kinds that failed)
//! ```
//!
//! [`sync_vpc`] takes an already loaded document, so one download can serve many VPCs. Every kind is
//! planned before any is written. Each kind fails alone: one that cannot be read, passed by its guards
//! or planned is left out (nothing of it written), one that fails midway stops there, and the others
//! are synced; their errors are the run's (exit 1). Only when every kind fails does the run.

use std::collections::BTreeSet;

use ipnet::IpNet;
use tracing::{error, info, warn};

use crate::aws::{self, Clients};
use crate::config::Config;
use crate::guard::{self, Freshness};
use crate::kind::{Desired, KindRun, Mode};
use crate::kinds;
use crate::load::{Input, Loaded, load};
use crate::notify;
use crate::outcome::{Inventory, Outcome, Refusal, RunError, Status};
use crate::report::Summary;
use crate::rule::{Family, desired_rules};

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

/// Syncs every kind `KINDS` names with a loaded document: guards, observe, plan, and in
/// [`Mode::Apply`] apply. A document older than the one applied changes nothing and ends
/// [`Status::Skipped`] (unless forced).
///
/// A run that has something to apply takes the deployment's lease first (`aws::Lock`), then reads
/// and plans again under it: two runs never act on what each read before the other wrote. A run
/// with nothing to do takes no lease, and writes nothing.
pub async fn sync_vpc(
    config: &Config,
    clients: &Clients,
    loaded: &Loaded,
    mode: Mode,
) -> Result<Outcome, RunError> {
    let looked = sync_pass(config, clients, loaded, Mode::Plan).await?;
    if mode == Mode::Plan || looked.status != Status::Planned {
        return Ok(looked);
    }
    let deployment = &config.deployment_id;
    let lock = match clients.lock(deployment, LOCK_WAIT).await? {
        Ok(lock) => lock,
        Err(busy) => {
            return Err(Refusal::Busy {
                lease: busy.lease,
                held_by: busy.held_by,
                left_seconds: busy.left_seconds,
            }
            .into());
        }
    };
    let mut applied = sync_pass(config, clients, loaded, Mode::Apply).await;
    lock.release().await;
    if let Ok(outcome) = &mut applied {
        notify::changed(config, clients, outcome).await;
    }
    applied
}

/// How long a run waits for another run of its deployment to finish applying.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(120);

/// One pass of [`sync_vpc`]: read, plan, and in [`Mode::Apply`] apply.
async fn sync_pass(
    config: &Config,
    clients: &Clients,
    loaded: &Loaded,
    mode: Mode,
) -> Result<Outcome, RunError> {
    let ranges = &loaded.ranges;
    let now = unix_now();
    guard::check_ranges(ranges, &config.guard)?;
    guard::check_synctoken(ranges.synctoken, now)?;
    let mut desired = desired(config, loaded);

    let mut kinds = kinds::selected(config, clients);
    // Each kind fails alone: one that cannot be read, passed by its guards or planned is left out
    // (its error is the run's), and the others go on. Only when every kind fails does the run.
    let mut failed: Vec<(&'static str, RunError)> = Vec::new();
    let mut live = Vec::new();
    for mut kind in kinds {
        match observe_one(&mut *kind, false).await {
            Ok(()) => live.push(kind),
            Err(e) => failed.push((kind.part().noun(), e)),
        }
    }
    kinds = live;
    let mut warnings = ranges.warnings.clone();
    if let Some(errors) = stale(config, loaded, &kinds, now, &mut warnings) {
        let mut outcome = finish(config, loaded, &desired, Status::Skipped, warnings, kinds);
        outcome.errors = errors;
        return Ok(outcome);
    }
    // A document without a version of its own (GitHub, Cloudflare, …) is named by the time of its
    // download: with the same ranges as applied, it keeps the applied synctoken, so an unchanged
    // document writes nothing (not even a tag); with other ranges, the plan is made again with the
    // new one.
    let (applied, _) =
        guard::applied_synctoken(kinds.iter().flat_map(|k| k.part().synctokens()), now);
    if !ranges.ordered
        && let Some(applied) = applied
    {
        desired.synctoken = applied;
    }
    let mut live = Vec::new();
    for mut kind in kinds {
        let checked = kind
            .part()
            .check(&desired, &config.guard)
            .map_err(RunError::from);
        let planned = match checked {
            Ok(()) => kind.plan(&desired).await.map_err(RunError::from),
            Err(e) => Err(e),
        };
        match planned {
            Ok(()) => live.push(kind),
            Err(e) => failed.push((kind.part().noun(), e)),
        }
    }
    kinds = live;
    // Newer than the applied one even within the second it was applied in, so that what is
    // recorded moves on whenever the ranges do (and a plan and its apply agree).
    let next = match applied {
        Some(applied) => ranges.synctoken.max(applied + 1),
        None => ranges.synctoken,
    };
    if !ranges.ordered && next != desired.synctoken && kinds.iter().any(|k| k.part().planned()) {
        desired.synctoken = next;
        let mut live = Vec::new();
        for mut kind in kinds {
            match kind.plan(&desired).await {
                Ok(()) => live.push(kind),
                Err(e) => failed.push((kind.part().noun(), e.into())),
            }
        }
        kinds = live;
    }
    if kinds.is_empty() {
        return Err(first_failure(failed));
    }
    // The schedule's run also looks at the kinds KINDS does not name (a changed KINDS).
    let mut orphaned = Vec::new();
    if loaded.live {
        let owner = config.ownership();
        for (record, held) in
            aws::orphaned_records(clients, &owner.deployment, &config.kinds).await?
        {
            orphaned.push(format!(
                "{record} still holds {held} resource(s) of a kind KINDS no longer names: they are not synced \
                 any more and go stale where they are attached or referenced; put the kind back in KINDS, or \
                 detach and delete them and then the parameter {record}"
            ));
        }
    }
    if mode == Mode::Apply
        && let Some(approved) = &config.approved_plan
    {
        let now = crate::outcome::plan_fingerprint(kinds.iter().map(|k| k.part()));
        if &now != approved || !failed.is_empty() {
            let why = if failed.is_empty() {
                "the managed resources or targets changed since the plan (another run, or a hand)"
                    .to_string()
            } else {
                let nouns: Vec<&str> = failed.iter().map(|(n, _)| *n).collect();
                format!("{} could not be planned now", nouns.join(", "))
            };
            return Err(Refusal::PlanMoved { why }.into());
        }
    }
    let status = if !kinds.iter().any(|k| k.part().planned()) {
        Status::Unchanged
    } else if mode == Mode::Plan {
        for kind in &mut kinds {
            kind.count_plan();
        }
        Status::Planned
    } else {
        let mut applied = false;
        let total = kinds.len();
        for (i, kind) in kinds.iter_mut().enumerate() {
            // Progress, on stderr with the logs: a large apply (many groups, targets, lists) takes a
            // while, and a kind's changes are waited for (prefix lists settle asynchronously).
            let noun = kind.part().noun();
            let steps = kind.part().summary().value["actions"]
                .as_array()
                .map_or(0, Vec::len);
            info!("[{}/{total}] applying {noun}: {steps} step(s)", i + 1);
            let started = std::time::Instant::now();
            match kind.apply().await {
                Ok(()) => {
                    applied = true;
                    info!(
                        "[{}/{total}] {noun} applied in {:.1} s",
                        i + 1,
                        started.elapsed().as_secs_f64()
                    );
                }
                Err(e) => failed.push((noun, e.into())),
            }
        }
        if !applied && failed.len() == 1 && kinds.len() == 1 {
            // The one kind there is failed midway: the run failed, as it always has.
            return Err(first_failure(failed));
        }
        Status::Applied
    };
    let mut outcome = finish(config, loaded, &desired, status, warnings, kinds);
    outcome.errors = (failed.into_iter())
        .map(|(noun, e)| format!("{noun}: {e}"))
        .chain(orphaned)
        .collect();
    for e in &outcome.errors {
        error!("{e}");
    }
    Ok(outcome)
}

/// The run's error when nothing could go on: the first kind's, the others logged.
fn first_failure(failed: Vec<(&'static str, RunError)>) -> RunError {
    let mut failed = failed.into_iter();
    let (_, first) = failed.next().expect("called only when a kind failed");
    for (noun, e) in failed {
        error!("{noun}: {e}");
    }
    first
}

/// Reads one kind, and logs what it has to say.
async fn observe_one(kind: &mut (dyn KindRun + '_), for_status: bool) -> Result<(), RunError> {
    kind.observe(for_status).await?;
    for w in kind.part().warnings() {
        warn!("{w}");
    }
    Ok(())
}

/// What the document asks of every kind.
fn desired(config: &Config, loaded: &Loaded) -> Desired {
    let ranges = &loaded.ranges;
    let nets: BTreeSet<IpNet> = ranges
        .ipv4
        .iter()
        .map(|n| IpNet::V4(*n))
        .chain(ranges.ipv6.iter().map(|n| IpNet::V6(*n)))
        .collect();
    Desired {
        synctoken: ranges.synctoken,
        force: config.guard.force,
        published: loaded.published.clone(),
        rules: desired_rules(&ranges.ipv4, &ranges.ipv6, &config.ports),
        nets,
        families: Family::ALL
            .into_iter()
            .filter(|f| match f {
                Family::V4 => config.ip_versions.v4,
                Family::V6 => config.ip_versions.v6,
            })
            .collect(),
    }
}

/// Whether the document is older than what any kind records: then the run skips (unless forced),
/// with the errors it fails with. A notification older than the applied document is skipped quietly
/// (SNS may deliver out of order); the **live** document older than it fails the run, since nothing
/// will be applied until someone looks. Freshness spans every kind, and only the resources a kind
/// recorded count (an unrecorded one's tag is anyone's to write); a recorded token more than a day
/// ahead of the clock is ignored with a warning (a tag like that would make every document look
/// stale) and overwritten by this run.
fn stale(
    config: &Config,
    loaded: &Loaded,
    kinds: &[Box<dyn KindRun + '_>],
    now: u64,
    warnings: &mut Vec<String>,
) -> Option<Vec<String>> {
    let recorded: Vec<u64> = kinds.iter().flat_map(|k| k.part().synctokens()).collect();
    let (applied, future) = guard::applied_synctoken(recorded, now);
    if let Some(future) = future {
        let note = format!(
            "a managed resource records synctoken {future}, more than a day ahead of the clock; it is ignored \
             (a tag like that would make every document look stale) and this run overwrites it"
        );
        warn!("{note}");
        warnings.push(note);
    }
    let document = loaded.ranges.synctoken;
    // A document without a version of its own is named by the clock of the run that read it: it
    // is never older than what another run (another clock) recorded, so nothing can freeze it.
    if !loaded.ranges.ordered {
        return None;
    }
    let Freshness::Stale { applied } = guard::freshness(document, applied) else {
        return None;
    };
    if config.guard.force {
        warn!(
            document,
            applied, "the document is older than the one applied: applying it anyway (--force)"
        );
        return None;
    }
    if loaded.live {
        // The live document is Amazon's current one: a newer recorded token means a tag is wrong (or
        // the source went backwards), and nothing will ever be applied until someone looks.
        let e = if loaded.document.from_cache() {
            format!(
                "the server at IP_RANGES_URL answered 304 Not Modified, and the copy kept in DOWNLOAD_CACHE \
                 (synctoken {document}) is older than the synctoken {applied} recorded on this deployment's \
                 resources: nothing was changed; run once with DOWNLOAD_CACHE=off: if that applies, the \
                 server's validators are wrong (keep DOWNLOAD_CACHE=off for it); if not, check the resources' \
                 sgsync:synctoken tags"
            )
        } else {
            format!(
                "the live document at IP_RANGES_URL (synctoken {document}) is older than the synctoken {applied} \
                 recorded on this deployment's resources: nothing was changed, and no document will be applied \
                 until that is fixed; check their sgsync:synctoken tags, then run `sgsync apply --force`"
            )
        };
        error!("{e}");
        return Some(vec![e]);
    }
    warn!(
        document,
        applied, "the document is older than the one applied: skipped, nothing changed"
    );
    Some(Vec::new())
}

/// The outcome of a run that ended `status`, logged as one line.
fn finish(
    config: &Config,
    loaded: &Loaded,
    desired: &Desired,
    status: Status,
    warnings: Vec<String>,
    kinds: Vec<Box<dyn KindRun + '_>>,
) -> Outcome {
    let outcome = Outcome {
        status,
        service: config.service_label(),
        source: config.source.to_string(),
        synctoken: desired.synctoken,
        create_date: loaded.ranges.create_date.clone(),
        download: loaded.document.fetched,
        rules: desired.rules.len(),
        warnings,
        errors: Vec::new(),
        kinds: kinds.into_iter().map(|k| k.finish()).collect(),
    };
    let summary = Summary::from(&outcome);
    info!(status = ?summary.status, synctoken = outcome.synctoken, "{}", summary.headline());
    outcome
}

/// Reads every kind `KINDS` names as it is now, for `sgsync status`: the groups and their targets,
/// the lists and what references them, the sets.
pub async fn inventory(config: &Config, clients: &Clients) -> Result<Inventory, RunError> {
    let mut kinds = kinds::selected(config, clients);
    for kind in &mut kinds {
        observe_one(&mut **kind, true).await?;
    }
    Ok(Inventory {
        prefix: config.prefix_name.clone(),
        kinds: kinds.into_iter().map(|k| k.finish()).collect(),
    })
}

/// Seconds since 1970, the unit of synctokens.
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
