//! The Lambda function: the real `lambda_runtime` serving SNS notifications (download, MD5 check,
//! apply) and scheduled events (download, apply: drift repair), returning the run's summary.
//!
//! AWS clients are built once, at init, and reused by warm invocations. An error fails the invocation,
//! so Lambda retries asynchronous events (and the deploy template sends what still fails to a
//! dead-letter destination).

use std::sync::Arc;

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

use crate::aws::Clients;
use crate::config::Config;
use crate::event;
use crate::report::Summary;
use crate::sync::{self, Mode};

/// The error type handed to the runtime: the message is what appears in the invocation's error.
type HandlerError = Box<dyn std::error::Error + Send + Sync>;

/// Handles one invocation's payload.
async fn handle(config: &Config, clients: &Clients, payload: Value) -> Result<Value, HandlerError> {
    let input = event::parse_event(&payload)?.into();
    let outcome = sync::run(config, clients, &input, Mode::Apply).await?;
    Ok(serde_json::to_value(Summary::from(&outcome))?)
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
