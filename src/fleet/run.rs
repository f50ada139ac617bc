//! Running a fleet: one download and verification of the document, then every entry observed,
//! planned and applied on its own (its account's credentials, its region, its settings): the entries
//! of one account and region in turn, up to `concurrency` accounts and regions at once. An entry's
//! failure is its own: the others complete.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use futures_util::StreamExt;
use futures_util::stream;
use tracing::{error, info, warn};

use super::file::{Entry, Fleet};
use crate::aws::{self, Clients, Session};
use crate::config::Config;
use crate::error::chain;
use crate::kind::Mode;
use crate::load::{Input, LoadError, Loaded, load};
use crate::outcome::{EntryOutcome, FleetOutcome, Inventory, Outcome};
use crate::sync;

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

/// Why an entry stopped midway: the invocation was about to time out.
const CUT_OFF: &str = "cut off: the invocation had less than a minute left; what it changed so far stays \
     (a run cut after any call converges on the next), and the next run continues; split the fleet file \
     or raise its concurrency (docs/organizations.md, \"Fleet size arithmetic\")";

/// Why an entry was not started: the invocation is about to time out.
const OUT_OF_TIME: &str = "not started: the invocation had less than a minute left; split the fleet file or \
     raise its concurrency (docs/organizations.md, \"Fleet size arithmetic\")";

/// `run`, cut off at `deadline` (what it changed so far stays: every run converges after a cut).
async fn bounded<T>(
    deadline: Option<Instant>,
    run: impl Future<Output = Result<T, String>>,
) -> Result<T, String> {
    match deadline {
        Some(d) => tokio::time::timeout_at(d.into(), run)
            .await
            .unwrap_or_else(|_| Err(CUT_OFF.to_string())),
        None => run.await,
    }
}

/// The entry as it runs: its account's clients (its role assumed), and its VPC resolved, so that one
/// VPC named twice (once by id, once as the default VPC) is caught before either writes. `claimed`:
/// the VPCs of this account and region already taken, by entry index.
async fn prepare(
    base: &Session,
    fleet: &Fleet,
    (i, entry): (usize, &Entry),
    claimed: &mut BTreeMap<String, usize>,
) -> Result<(Entry, Clients), String> {
    let clients = Clients::assume(
        base,
        &entry.region,
        &entry.role_arn,
        &session_name(&entry.config),
        fleet.external_id.as_deref(),
    )
    .await
    .map_err(|e| e.to_string())?;
    let mut entry = entry.clone();
    // Only security groups live in a VPC (and only their policy may read VPCs); prefix lists and WAF
    // sets belong to the region, one entry each (`regional_kinds_once`).
    if !entry.config.kinds.security_groups {
        return Ok((entry, clients));
    }
    let vpc = match &entry.config.vpc_id {
        Some(vpc) => vpc.clone(),
        None => {
            let vpc = aws::default_vpc(&clients)
                .await
                .map_err(|e| e.to_string())?;
            entry.config.vpc_id = Some(vpc.clone());
            vpc
        }
    };
    if let Some(first) = claimed.get(&vpc) {
        return Err(format!(
            "{vpc} is already entry #{}'s VPC: one VPC, one entry (two would undo each other's \
             settings); remove one of them from the fleet file",
            first + 1
        ));
    }
    claimed.insert(vpc, i);
    Ok((entry, clients))
}

/// Runs `work` on every entry and returns the outcomes in the file's order. The entries of one account
/// and region run one after the other: they share that region's prefix lists and WAF IP sets and the
/// account's EC2 request rate there, and may name one VPC twice. Up to `fleet.concurrency` such
/// chains run at once. No entry starts after `deadline`, and one still running then is cut off; each
/// entry's outcome goes to `done` as soon as it ends (the hub emits its metrics then, so a killed
/// invocation loses nothing that finished).
async fn each<T, F, Fut>(
    base: &Session,
    fleet: &Fleet,
    deadline: Option<Instant>,
    work: F,
    done: &(dyn Fn(&EntryOutcome<T>) + Sync),
) -> Vec<EntryOutcome<T>>
where
    F: Fn(Entry, Clients) -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let mut chains: Vec<Vec<(usize, &Entry)>> = Vec::new();
    let mut chain_of: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for (i, entry) in fleet.entries.iter().enumerate() {
        let key = (entry.account.as_str(), entry.region.as_str());
        let c = *chain_of.entry(key).or_insert_with(|| {
            chains.push(Vec::new());
            chains.len() - 1
        });
        chains[c].push((i, entry));
    }
    let work = &work;
    let finished: Vec<Vec<(usize, EntryOutcome<T>)>> = stream::iter(chains)
        .map(|chain| async move {
            let mut claimed = BTreeMap::new();
            let mut out = Vec::new();
            for (i, entry) in chain {
                let started = Instant::now();
                let result = if let Some(why) = &entry.refused {
                    Err(why.clone())
                } else if deadline.is_some_and(|d| started >= d) {
                    Err(OUT_OF_TIME.to_string())
                } else {
                    let run = async {
                        match prepare(base, fleet, (i, entry), &mut claimed).await {
                            Ok((entry, clients)) => work(entry, clients).await,
                            Err(e) => Err(e),
                        }
                    };
                    bounded(deadline, run).await
                };
                if let Err(e) = &result {
                    error!(entry = %entry.label().label(), error = %e, "this VPC failed; the others go on");
                }
                let outcome = EntryOutcome {
                    entry: entry.label(),
                    result,
                    duration: started.elapsed(),
                };
                done(&outcome);
                out.push((i, outcome));
            }
            out
        })
        .buffer_unordered(fleet.concurrency)
        .collect()
        .await;
    let mut finished: Vec<(usize, EntryOutcome<T>)> = finished.into_iter().flatten().collect();
    finished.sort_by_key(|(i, _)| *i);
    finished.into_iter().map(|(_, o)| o).collect()
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
    let ranges = crate::load::select_document(
        fleet_config.source,
        &loaded.document.bytes,
        &selection,
        loaded.ranges.synctoken,
    )
    .map_err(|e| e.to_string())?;
    Ok(Arc::new(Loaded {
        document: loaded.document.clone(),
        ranges,
        live: loaded.live,
        // Per-entry settings never name other services, and this ignores regions and families.
        published: loaded.published.clone(),
    }))
}

/// Loads the document once and syncs every entry of `fleet` with it; no entry starts after
/// `deadline` (the hub function's time running out), and one running then is cut off. Each entry's
/// outcome goes to `done` as soon as it ends.
pub async fn run_fleet(
    config: &Config,
    fleet: &Fleet,
    input: &Input,
    mode: Mode,
    deadline: Option<Instant>,
    done: &(dyn Fn(&EntryOutcome<Outcome>) + Sync),
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
    let base = Session::load(&config.region).await;
    let loaded = &loaded;
    let entries = each(
        &base,
        fleet,
        deadline,
        |entry, clients| async move {
            let document = for_entry(loaded, config, &entry)?;
            sync::sync_vpc(&entry.config, &clients, &document, mode)
                .await
                .map_err(|e| chain(&e))
        },
        done,
    )
    .await;
    Ok(FleetOutcome {
        synctoken: loaded.ranges.synctoken,
        entries,
    })
}

/// Reads every entry of `fleet` as it is now (`sgsync status --fleet`).
pub async fn fleet_status(config: &Config, fleet: &Fleet) -> Vec<EntryOutcome<Inventory>> {
    let base = Session::load(&config.region).await;
    each(
        &base,
        fleet,
        None,
        |entry, clients| async move {
            sync::inventory(&entry.config, &clients)
                .await
                .map_err(|e| chain(&e))
        },
        &|_| {},
    )
    .await
}

/// Reads the fleet file `config.fleet` names (a path, or an S3 object read with `base`'s credentials).
pub async fn read_fleet_file(
    location: &crate::config::FleetLocation,
    base: &Session,
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;

    /// Round 2b, finding 7: the hub's deadline only stopped entries from starting; a running entry
    /// had no limit (prefix-list waits, SDK retries), and the entries' metrics came only when all
    /// had ended, so a killed invocation lost the results of those that had finished. Now an entry
    /// still running at the deadline is cut off, and each outcome is handed on as it ends.
    #[tokio::test]
    async fn the_hub_lost_what_finished_when_an_entry_ran_past_the_deadline() {
        let soon = Instant::now() + Duration::from_millis(50);
        let slow = async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok::<_, String>(())
        };
        let started = Instant::now();
        let cut = bounded(Some(soon), slow).await.unwrap_err();
        assert!(cut.starts_with("cut off"), "{cut}");
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(bounded(None, async { Ok::<_, String>(7) }).await, Ok(7));

        // Each entry's outcome reaches `done` when it ends: entries refused before any call.
        let text = "role_name = \"r\"\n[[vpc]]\naccount = \"111111111111\"\nregion = \"eu-west-1\"\n\
                    [[vpc]]\naccount = \"222222222222\"\nregion = \"eu-west-1\"\n";
        let mut fleet = super::super::file::tests::parse_ok(text);
        for e in &mut fleet.entries {
            e.refused = Some("refused for the test".into());
        }
        let base = Session::load("eu-west-1").await;
        let seen = Mutex::new(Vec::new());
        let done = |o: &EntryOutcome<()>| seen.lock().unwrap().push(o.entry.account.clone());
        let out = each(&base, &fleet, None, |_, _| async { Ok(()) }, &done).await;
        assert_eq!(out.len(), 2);
        assert_eq!(seen.into_inner().unwrap(), ["111111111111", "222222222222"]);
    }
}
