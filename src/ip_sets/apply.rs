//! Runs a WAF [`Plan`] through [`SetApi`], one call per action: the AWS adapter (`aws::ip_sets`) in
//! production, the simulated world (`testkit::sets`) in the tests.

use std::collections::BTreeMap;
use std::future::Future;

use ipnet::IpNet;
use tracing::{info, warn};

use super::model::{Action, Changes, Observed, Plan};
use crate::error::{AwsError, StepError, known_id};
use crate::rule::Family;

/// The calls a WAF plan is made of. Lock tokens (the optimistic lock) are the adapter's business: it
/// reads the set for a fresh token before each update, and re-reads when another writer won.
pub trait SetApi {
    /// Creates a set tagged as owned and records it; returns its id.
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
    /// Records sets as this deployment's (`--adopt`).
    fn adopt(&mut self, ids: &[String]) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// Deletes a recorded set and takes it out of the record; `false` when a web ACL or rule group
    /// still uses it (it is kept, and stays recorded).
    fn retire(
        &mut self,
        id: &str,
        name: &str,
    ) -> impl Future<Output = Result<bool, AwsError>> + Send;
    /// Deletes an unrecorded set; `false` when something uses it after all.
    fn reclaim(
        &mut self,
        id: &str,
        name: &str,
    ) -> impl Future<Output = Result<bool, AwsError>> + Send;
    /// Takes ARNs of sets that no longer exist out of the record.
    fn forget(&mut self, arns: &[String]) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// What a completed run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    pub changes: Changes,
    /// Set name → id after the run.
    pub ids: BTreeMap<String, String>,
    /// Sets to retire that a web ACL still uses: kept.
    pub kept: Vec<String>,
}

/// An action that failed; see [`StepError`].
pub type ApplyError = StepError<Changes>;

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
                    api.update(&known_id(&applied.ids, "WAF IP set", set)?, set, addresses)
                        .await?;
                    c.sets_updated += 1;
                    c.addresses_added += add.len();
                    c.addresses_removed += remove.len();
                }
                Action::Adopt { sets } => {
                    let ids = sets
                        .iter()
                        .map(|s| known_id(&applied.ids, "WAF IP set", s))
                        .collect::<Result<Vec<_>, _>>()?;
                    api.adopt(&ids).await?;
                }
                Action::Retire { set, id } => {
                    if api.retire(id, set).await? {
                        applied.ids.remove(set);
                    } else {
                        warn!(
                            set,
                            "a web ACL or rule group still uses the set: kept (no longer synced) until \
                             nothing does"
                        );
                        applied.kept.push(set.clone());
                    }
                }
                Action::Reclaim { set, id } => {
                    if !api.reclaim(id, set).await? {
                        return Err(AwsError::other(
                            "wafv2:DeleteIPSet",
                            format!(
                                "WAF IP set {set} ({id}) is not in this deployment's record and a web ACL uses \
                                 it: its name stays taken; delete or rename it, or adopt it with --adopt"
                            ),
                        ));
                    }
                }
                Action::Forget { arns } => api.forget(arns).await?,
                Action::RecordSynctoken { sets, synctoken } => {
                    for set in sets {
                        api.record_synctoken(
                            &known_id(&applied.ids, "WAF IP set", set)?,
                            set,
                            *synctoken,
                        )
                        .await?;
                    }
                }
            }
            Ok(())
        }
        .await;
        step.map_err(|source| ApplyError {
            kind: "WAF IP sets: ",
            step: i + 1,
            total,
            what: action.to_string(),
            changes: applied.changes,
            source,
        })?;
    }
    Ok(applied)
}
