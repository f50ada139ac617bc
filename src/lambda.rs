//! The Lambda function: the real `lambda_runtime` serving SNS notifications (download, MD5 check,
//! apply) and scheduled events (download, apply: drift repair), returning the run's summary.
//!
//! AWS clients are built once, at init, and reused by warm invocations. An error fails the invocation,
//! so Lambda retries asynchronous events (and the deploy template sends what still fails to a
//! dead-letter queue). Nothing fails silently: a failed run logs its whole error chain at error level
//! before returning it, and every run emits its metrics (`metrics`) on stdout, where CloudWatch Logs
//! turns them into the numbers the template's alarms watch.
//!
//! With `FLEET` set (a path, or `s3://BUCKET/KEY`), the function is a hub: each invocation reads the
//! fleet file again (a change needs no deployment) and syncs every VPC it lists (`fleet`); the
//! invocation fails when any VPC failed, after the others completed.

use std::error::Error;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use tracing::{error, info};

use crate::aws::{Clients, Session};
use crate::config::{Config, ConfigArgs, Environment, FleetLocation};
use crate::error::chain;
use crate::event::Event;
use crate::kind::Mode;
use crate::load::Input;
use crate::outcome::{EntryOutcome, Outcome, Status};
use crate::report::{FleetSummary, Summary};
use crate::{dispatch, event, fleet, metrics};

/// The error type handed to the runtime: the message is what appears in the invocation's error.
type HandlerError = Box<dyn Error + Send + Sync>;

async fn run(config: &Config, clients: &Clients, event: &Event) -> Result<Outcome, HandlerError> {
    Ok(dispatch::run_event(config, clients, event, Mode::Apply).await?)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Prints EMF lines on stdout, one JSON object per line: what CloudWatch's Embedded Metric Format reads.
fn emit(lines: Vec<Value>) {
    for line in lines {
        println!("{line}");
    }
}

/// Handles one invocation's payload.
async fn handle(config: &Config, clients: &Clients, payload: Value) -> Result<Value, HandlerError> {
    let scope = [("Deployment", config.deployment_id.as_str())];
    let event = match event::parse_event(&payload) {
        Ok(event) => event,
        Err(e) => {
            error!(error = %e, "the event is not one sgsync handles; nothing was changed");
            emit(metrics::of_failure(&scope, now_ms()));
            return Err(e.into());
        }
    };
    let result = run(config, clients, &event).await;
    if let Err(e) = &result {
        error!(error = %chain(e.as_ref()), "the run failed; nothing after the failed step was changed");
    }
    // A launch or tag event has its own metrics: it must neither count as a successful sync (the
    // alarm on RunSucceeded watches the notification and daily runs, which launches must not mask)
    // nor report the synctoken of a run that read no document.
    if let Some(at) = event
        .time_ms()
        .filter(|_| Input::for_event(&event).is_none())
    {
        let latency = match &result {
            Ok(outcome) if outcome.status == Status::Applied => {
                let seconds = (now_ms() as i64 - at).max(0) as f64 / 1000.0;
                info!(
                    latency_seconds = seconds,
                    "attached the managed groups after the event"
                );
                Some(seconds)
            }
            _ => None,
        };
        let succeeded = result.as_ref().is_ok_and(|o| o.all_errors().is_empty());
        emit(metrics::of_attach(&scope, succeeded, latency, now_ms()));
    } else {
        emit(match &result {
            Ok(outcome) => metrics::of_outcome(&scope, outcome, now_ms()),
            Err(_) => metrics::of_failure(&scope, now_ms()),
        });
    }
    let outcome = result?;
    let errors = outcome.all_errors();
    if let Some(first) = errors.first() {
        // Everything else was done; the invocation fails so that Lambda's own error metric, the
        // alarms and the dead-letter queue see it.
        for e in &errors {
            error!(error = %e, "failed without stopping the rest of the run");
        }
        return Err(format!(
            "{} error(s), everything else was done; first: {first}",
            errors.len()
        )
        .into());
    }
    Ok(serde_json::to_value(Summary::from(&outcome))?)
}

/// Handles one invocation as a hub: the fleet file, read now, then every VPC in it.
async fn handle_fleet(
    config: &Config,
    args: &ConfigArgs,
    base: &Session,
    location: &FleetLocation,
    payload: Value,
    deadline: Option<Instant>,
) -> Result<Value, HandlerError> {
    let scope = [("Deployment", config.deployment_id.as_str())];
    let outcome = async {
        let event = event::parse_event(&payload)?;
        let input = Input::for_event(&event).ok_or(
            "a hub does not handle launch and tag events (they happen in the spoke accounts): deploy \
             sgsync in each account for them (deploy/stackset.yaml), or let the daily run attach new targets",
        )?;
        let (text, name) = fleet::read_fleet_file(location, base).await?;
        let env = Environment {
            aws_region: Some(config.region.clone()),
            ..Environment::of_process()
        };
        let fleet = fleet::parse(&text, &name, args, &env)?;
        // Each entry's metrics as soon as it ends: an invocation killed later loses none of them.
        let emit_entry = |e: &EntryOutcome<Outcome>| {
            let entry_scope = [
                ("Deployment", config.deployment_id.as_str()),
                ("Account", e.entry.account.as_str()),
                ("Region", e.entry.region.as_str()),
            ];
            emit(match &e.result {
                Ok(o) => metrics::of_outcome(&entry_scope, o, now_ms()),
                Err(_) => metrics::of_failure(&entry_scope, now_ms()),
            });
            if let Ok(o) = &e.result {
                info!(entry = %e.entry.label(), "{}", Summary::from(o).headline());
            }
        };
        let run = fleet::run_fleet(config, &fleet, &input, Mode::Apply, deadline, &emit_entry);
        Ok::<_, HandlerError>(run.await?)
    }
    .await;
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            error!(error = %chain(e.as_ref()), "the fleet run failed before any VPC; nothing was changed");
            emit(metrics::of_failure(&scope, now_ms()));
            return Err(e);
        }
    };
    let now = now_ms();
    // The fleet as a whole, for the alarms: it succeeded when every VPC did.
    emit(if outcome.failed() == 0 {
        metrics::of_fleet(&scope, outcome.entries.len(), now)
    } else {
        metrics::of_failure(&scope, now)
    });
    let summary = FleetSummary::from(&outcome);
    if outcome.failed() > 0 {
        let first = outcome
            .entries
            .iter()
            .find_map(|e| {
                let why = match &e.result {
                    Err(why) => Some(why.clone()),
                    Ok(o) => o.all_errors().into_iter().next(),
                };
                why.map(|why| format!("{}: {why}", e.entry.label()))
            })
            .unwrap_or_default();
        return Err(format!(
            "{} of {} VPCs failed (the others completed); first: {first}",
            outcome.failed(),
            outcome.entries.len()
        )
        .into());
    }
    Ok(serde_json::to_value(summary)?)
}

/// Serves invocations until the runtime stops the process. `args` are the raw settings, which every
/// fleet entry starts from.
pub async fn serve(config: Config, args: ConfigArgs) -> Result<(), lambda_runtime::Error> {
    // The runtime panics without its environment: say what this command is for instead.
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_none() {
        return Err(
            "`sgsync lambda` is the function's entry point and runs inside AWS Lambda (or `cargo lambda \
             watch`), which sets AWS_LAMBDA_RUNTIME_API; to run sgsync yourself use `sgsync plan`, `apply` \
             or `status`"
                .into(),
        );
    }
    let base = Session::load(&config.region).await;
    let clients = Clients::connect(&config.region).await;
    let shared = Arc::new((config, clients, args, base));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let shared = Arc::clone(&shared);
        async move {
            let (config, clients, args, base) = &*shared;
            match &config.fleet {
                Some(location) => {
                    // No VPC starts in the invocation's last minute: those not reached are reported
                    // as such, instead of the whole run being cut off by the timeout.
                    let left =
                        Duration::from_millis(event.context.deadline.saturating_sub(now_ms()));
                    let deadline = Instant::now() + left.saturating_sub(Duration::from_secs(60));
                    handle_fleet(config, args, base, location, event.payload, Some(deadline)).await
                }
                None => handle(config, clients, event.payload).await,
            }
        }
    }))
    .await
}
