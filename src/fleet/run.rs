//! Running a fleet: one download and verification of the document, then every entry observed,
//! planned and applied on its own (its account's credentials, its region, its settings), at most
//! `concurrency` at once. An entry's failure is its own: the others complete.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use futures_util::StreamExt;
use futures_util::stream;
use tracing::{error, info, warn};

use super::file::{Entry, Fleet};
use crate::aws::{self, Clients};
use crate::config::Config;
use crate::lambda::chain;
use crate::load::{Input, LoadError, Loaded, load};
use crate::outcome::{Inventory, Outcome};
use crate::ranges;
use crate::sync::{self, Mode};

/// One entry's result.
#[derive(Debug)]
pub struct EntryOutcome<T> {
    pub entry: Entry,
    /// What the run did, or why it failed (the whole error chain, one line).
    pub result: Result<T, String>,
    /// How long the entry took, credentials included.
    pub duration: Duration,
}

/// A fleet run: every entry, in the file's order.
#[derive(Debug)]
pub struct FleetOutcome {
    /// The document's synctoken.
    pub synctoken: u64,
    pub entries: Vec<EntryOutcome<Outcome>>,
}

impl FleetOutcome {
    /// How many entries failed.
    pub fn failed(&self) -> usize {
        self.entries.iter().filter(|e| e.result.is_err()).count()
    }
}

/// The AWS session name sgsync's assumed roles carry (CloudTrail shows it): `sgsync-DEPLOYMENT`.
fn session_name(config: &Config) -> String {
    let id: String = config
        .deployment_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "+=,.@-_".contains(*c))
        .take(56)
        .collect();
    format!("sgsync-{id}")
}

/// The entry's clients: its region, and its account's credentials when it names a role.
async fn clients(base: &SdkConfig, fleet: &Fleet, entry: &Entry) -> Result<Clients, String> {
    match &entry.role_arn {
        None => Ok(Clients::in_region(base, &entry.region)),
        Some(arn) => Clients::assume(
            base,
            &entry.region,
            arn,
            &session_name(&entry.config),
            fleet.external_id.as_deref(),
        )
        .await
        .map_err(|e| e.to_string()),
    }
}

/// Runs `work` on every entry, at most `fleet.concurrency` at once, keeping the file's order.
async fn each<T, F, Fut>(base: &SdkConfig, fleet: &Fleet, work: F) -> Vec<EntryOutcome<T>>
where
    F: Fn(Entry, Clients) -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let work = &work;
    let mut done: Vec<(usize, EntryOutcome<T>)> = stream::iter(fleet.entries.iter().enumerate())
        .map(|(i, entry)| async move {
            let started = Instant::now();
            let result = match clients(base, fleet, entry).await {
                Ok(clients) => work(entry.clone(), clients).await,
                Err(e) => Err(e),
            };
            if let Err(e) = &result {
                error!(entry = %entry.label(), error = %e, "this VPC failed; the others go on");
            }
            let outcome = EntryOutcome {
                entry: entry.clone(),
                result,
                duration: started.elapsed(),
            };
            (i, outcome)
        })
        .buffer_unordered(fleet.concurrency)
        .collect()
        .await;
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, o)| o).collect()
}

/// The document as an entry needs it: the fleet's, selected again when the entry's settings select
/// other services, regions or IP versions.
fn for_entry(
    loaded: &Arc<Loaded>,
    fleet_config: &Config,
    entry: &Entry,
) -> Result<Arc<Loaded>, String> {
    let selection = entry.config.selection();
    if selection == fleet_config.selection() {
        return Ok(Arc::clone(loaded));
    }
    let ranges = ranges::select(&loaded.document.bytes, &selection).map_err(|e| e.to_string())?;
    Ok(Arc::new(Loaded {
        document: loaded.document.clone(),
        ranges,
        live: loaded.live,
    }))
}

/// Loads the document once and syncs every entry of `fleet` with it.
pub async fn run_fleet(
    config: &Config,
    fleet: &Fleet,
    input: &Input,
    mode: Mode,
) -> Result<FleetOutcome, LoadError> {
    let loaded = Arc::new(load(config, input).await?);
    for w in &loaded.ranges.warnings {
        warn!("{w}");
    }
    info!(
        entries = fleet.entries.len(),
        concurrency = fleet.concurrency,
        synctoken = loaded.ranges.synctoken,
        "syncing the fleet"
    );
    let base = aws::base_config(&config.region).await;
    let loaded = &loaded;
    let entries = each(&base, fleet, |entry, clients| async move {
        let document = for_entry(loaded, config, &entry)?;
        sync::sync_vpc(&entry.config, &clients, &document, mode)
            .await
            .map_err(|e| chain(&e))
    })
    .await;
    Ok(FleetOutcome {
        synctoken: loaded.ranges.synctoken,
        entries,
    })
}

/// Reads every entry of `fleet` as it is now (`sgsync status --fleet`).
pub async fn fleet_status(config: &Config, fleet: &Fleet) -> Vec<EntryOutcome<Inventory>> {
    let base = aws::base_config(&config.region).await;
    each(&base, fleet, |entry, clients| async move {
        sync::inventory(&entry.config, &clients)
            .await
            .map_err(|e| chain(&e))
    })
    .await
}

/// Reads the fleet file `config.fleet` names (a path, or an S3 object read with `base`'s credentials).
pub async fn read_fleet_file(
    location: &crate::config::FleetLocation,
    base: &SdkConfig,
) -> Result<(String, String), String> {
    use crate::config::FleetLocation;
    match location {
        FleetLocation::Path(path) => std::fs::read_to_string(path)
            .map(|text| (text, path.display().to_string()))
            .map_err(|e| format!("cannot read the fleet file {}: {e}", path.display())),
        FleetLocation::S3 { bucket, key } => aws::read_s3(base, bucket, key, 4 << 20)
            .await
            .map(|text| (text, format!("s3://{bucket}/{key}")))
            .map_err(|e| format!("cannot read the fleet file: {e}")),
    }
}
