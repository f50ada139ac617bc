//! Runs a WAF [`Plan`] through [`SetApi`], one call per action: the AWS adapter (`aws::ip_sets`) in
//! production, the simulated world (`testkit::sets`) in the tests.

use std::collections::BTreeMap;
use std::future::Future;

use ipnet::IpNet;
use thiserror::Error;
use tracing::info;

use super::model::{Action, Changes, Observed, Plan};
use crate::error::AwsError;
use crate::rule::Family;

/// The calls a WAF plan is made of. Lock tokens (the optimistic lock) are the adapter's business: it
/// reads the set for a fresh token before each update, and re-reads when another writer won.
pub trait SetApi {
    /// Creates a set tagged as owned; returns its id.
    fn create(
        &mut self,
        name: &str,
        family: Family,
        addresses: &[IpNet],
        synctoken: u64,
    ) -> impl Future<Output = Result<String, AwsError>> + Send;
    /// Replaces a set's addresses.
    fn update(
        &mut self,
        id: &str,
        name: &str,
        addresses: &[IpNet],
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// Records the applied synctoken on a set.
    fn record_synctoken(
        &mut self,
        id: &str,
        name: &str,
        synctoken: u64,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// What a completed run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    pub changes: Changes,
    /// Set name → id after the run.
    pub ids: BTreeMap<String, String>,
}

/// An action that failed; the ones before it were applied.
#[derive(Debug, Error)]
#[error(
    "WAF IP sets: step {step} of {total} ({what}) failed; the {done} steps before it were applied and the next run continues from there: {source}"
)]
pub struct ApplyError {
    pub step: usize,
    pub total: usize,
    pub done: usize,
    pub what: String,
    pub changes: Changes,
    #[source]
    pub source: AwsError,
}

fn id_of(ids: &BTreeMap<String, String>, name: &str) -> Result<String, AwsError> {
    ids.get(name).cloned().ok_or_else(|| {
        AwsError::other(
            "sgsync:apply",
            format!("no id known for WAF IP set {name}; this is a bug, please report it"),
        )
    })
}

/// Runs `plan`, made from `observed`, through `api`.
pub async fn apply<A: SetApi>(
    api: &mut A,
    observed: &Observed,
    plan: &Plan,
) -> Result<Applied, ApplyError> {
    let mut applied = Applied {
        ids: observed
            .sets
            .iter()
            .map(|s| (s.name.clone(), s.id.clone()))
            .collect(),
        ..Applied::default()
    };
    let total = plan.actions.len();
    for (i, action) in plan.actions.iter().enumerate() {
        info!(step = i + 1, total, %action, "applying");
        let step: Result<(), AwsError> = async {
            let c = &mut applied.changes;
            match action {
                Action::Create {
                    set,
                    family,
                    addresses,
                    synctoken,
                } => {
                    let id = api.create(set, *family, addresses, *synctoken).await?;
                    applied.ids.insert(set.clone(), id);
                    c.sets_created += 1;
                    c.addresses_added += addresses.len();
                }
                Action::Update {
                    set,
                    add,
                    remove,
                    addresses,
                } => {
                    api.update(&id_of(&applied.ids, set)?, set, addresses)
                        .await?;
                    c.sets_updated += 1;
                    c.addresses_added += add.len();
                    c.addresses_removed += remove.len();
                }
                Action::RecordSynctoken { sets, synctoken } => {
                    for set in sets {
                        api.record_synctoken(&id_of(&applied.ids, set)?, set, *synctoken)
                            .await?;
                    }
                }
            }
            Ok(())
        }
        .await;
        step.map_err(|source| ApplyError {
            step: i + 1,
            total,
            done: i,
            what: action.to_string(),
            changes: applied.changes,
            source,
        })?;
    }
    Ok(applied)
}
