//! The Lambda function: the real `lambda_runtime` serving SNS notifications (download, MD5 check,
//! apply) and scheduled events (download, apply: drift repair), returning the run's summary.
//!
//! AWS clients are built once, at init, and reused by warm invocations. An error fails the invocation,
//! so Lambda retries asynchronous events (and the deploy template sends what still fails to a
//! dead-letter queue). Nothing fails silently: a failed run logs its whole error chain at error level
//! before returning it, and every run emits its metrics (`metrics`) on stdout, where CloudWatch Logs
//! turns them into the numbers the template's alarms watch.

use std::error::Error;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use tracing::error;

use crate::aws::Clients;
use crate::config::Config;
use crate::event;
use crate::metrics;
use crate::outcome::Outcome;
use crate::report::Summary;
use crate::sync::{self, Mode};

/// The error type handed to the runtime: the message is what appears in the invocation's error.
type HandlerError = Box<dyn Error + Send + Sync>;

/// An error and its causes on one line, so that a log line keeps it whole.
pub fn chain(e: &dyn Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

async fn run(config: &Config, clients: &Clients, payload: Value) -> Result<Outcome, HandlerError> {
    let input = event::parse_event(&payload)?.into();
    Ok(sync::run(config, clients, &input, Mode::Apply).await?)
}

/// Handles one invocation's payload.
async fn handle(config: &Config, clients: &Clients, payload: Value) -> Result<Value, HandlerError> {
    let result = run(config, clients, payload).await;
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let lines = match &result {
        Ok(outcome) => metrics::of_outcome(&config.deployment_id, outcome, now_ms),
        Err(e) => {
            error!(error = %chain(e.as_ref()), "the run failed; nothing after the failed step was changed");
            metrics::of_failure(&config.deployment_id, now_ms)
        }
    };
    for line in lines {
        // stdout, one JSON object per line: what CloudWatch's Embedded Metric Format reads.
        println!("{line}");
    }
    Ok(serde_json::to_value(Summary::from(&result?))?)
}

/// Serves invocations until the runtime stops the process.
pub async fn serve(config: Config) -> Result<(), lambda_runtime::Error> {
    let clients = Clients::connect(&config.region).await;
    let shared = Arc::new((config, clients));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let shared = Arc::clone(&shared);
        async move { handle(&shared.0, &shared.1, event.payload).await }
    }))
    .await
}
