//! Runs a prefix-list [`Plan`] through [`ListApi`], one call per action, in order: the AWS adapter
//! (`aws::prefix_lists`) in production, the simulated world (`testkit::lists`) in the tests.

use std::collections::BTreeMap;
use std::future::Future;

use ipnet::IpNet;
use tracing::{info, warn};

use super::model::{Action, Changes, Observed, Plan};
use crate::error::{AwsError, StepError, known_id};
use crate::rule::Family;

/// The calls a prefix-list plan is made of. Versions (the optimistic lock) are the adapter's business:
/// it re-reads a list whose version moved and applies what is still to do.
pub trait ListApi {
    /// Creates a list tagged as owned and records it, with `entries` (at most 100); returns its id.
    fn create(
        &mut self,
        name: &str,
        family: Family,
        max_entries: usize,
        entries: &[IpNet],
        synctoken: u64,
    ) -> impl Future<Output = Result<String, AwsError>> + Send;
    /// Raises a list's `MaxEntries`.
    fn resize(
        &mut self,
        id: &str,
        max_entries: usize,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// Adds and removes entries in one modification; returns how many were added and removed (some
    /// may have been already).
    fn modify(
        &mut self,
        id: &str,
        add: &[IpNet],
        remove: &[IpNet],
    ) -> impl Future<Output = Result<(usize, usize), AwsError>> + Send;
    /// Deletes a recorded list and takes it out of the record; `false` when a resource still
    /// references it (it is kept, empty, and stays recorded).
    fn delete(&mut self, id: &str) -> impl Future<Output = Result<bool, AwsError>> + Send;
    /// Records lists as this deployment's (`--adopt`).
    fn adopt(&mut self, ids: &[String]) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// Deletes an unrecorded list; `false` when something references it after all (it is kept).
    fn reclaim(&mut self, id: &str) -> impl Future<Output = Result<bool, AwsError>> + Send;
    /// Takes ids of lists that no longer exist out of the record.
    fn forget(&mut self, ids: &[String]) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// Records the applied synctoken on lists, in one call.
    fn record_synctoken(
        &mut self,
        ids: &[String],
        synctoken: u64,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// What a completed run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    pub changes: Changes,
    /// List name → id after the run.
    pub ids: BTreeMap<String, String>,
    /// Lists left empty that a resource still references: kept until it no longer does.
    pub kept: Vec<String>,
}

/// An action that failed; see [`StepError`].
pub type ApplyError = StepError<Changes>;

/// Runs `plan`, made from `observed`, through `api`.
pub async fn apply<A: ListApi>(
    api: &mut A,
    observed: &Observed,
    plan: &Plan,
) -> Result<Applied, ApplyError> {
    let mut applied = Applied {
        ids: observed
            .lists
            .iter()
            .map(|l| (l.name.clone(), l.id.clone()))
            .collect(),
        ..Applied::default()
    };
    let total = plan.actions.len();
    for (i, action) in plan.actions.iter().enumerate() {
        info!(step = i + 1, total, %action, "applying");
        let step = run(api, action, &mut applied).await;
        step.map_err(|source| ApplyError {
            kind: "prefix lists: ",
            step: i + 1,
            total,
            what: action.to_string(),
            changes: applied.changes,
            source,
        })?;
    }
    Ok(applied)
}

async fn run<A: ListApi>(
    api: &mut A,
    action: &Action,
    applied: &mut Applied,
) -> Result<(), AwsError> {
    let c = &mut applied.changes;
    match action {
        Action::Create {
            list,
            family,
            max_entries,
            entries,
            synctoken,
        } => {
            let id = api
                .create(list, *family, *max_entries, entries, *synctoken)
                .await?;
            applied.ids.insert(list.clone(), id);
            c.lists_created += 1;
            c.entries_added += entries.len();
        }
        Action::Resize { list, to, .. } => {
            api.resize(&known_id(&applied.ids, "prefix list", list)?, *to)
                .await?;
            c.lists_resized += 1;
        }
        Action::Modify {
            list, add, remove, ..
        } => {
            let (added, removed) = api
                .modify(&known_id(&applied.ids, "prefix list", list)?, add, remove)
                .await?;
            c.entries_added += added;
            c.entries_removed += removed;
        }
        Action::Delete { list } => {
            if api
                .delete(&known_id(&applied.ids, "prefix list", list)?)
                .await?
            {
                applied.ids.remove(list);
                c.lists_deleted += 1;
            } else {
                warn!(
                    list,
                    "the list is empty but still referenced: kept until nothing references it"
                );
                applied.kept.push(list.clone());
            }
        }
        Action::Adopt { lists } => {
            let ids = lists
                .iter()
                .map(|l| known_id(&applied.ids, "prefix list", l))
                .collect::<Result<Vec<_>, _>>()?;
            api.adopt(&ids).await?;
        }
        Action::Retire { list, id } => {
            if api.delete(id).await? {
                c.lists_deleted += 1;
            } else {
                warn!(
                    list,
                    "the list of an earlier selection is referenced again: kept until nothing references it"
                );
                applied.kept.push(list.clone());
            }
        }
        Action::Reclaim { list, id } => {
            if !api.reclaim(id).await? {
                warn!(
                    list,
                    "the unrecorded list is referenced after all: kept, its name stays taken"
                );
            }
        }
        Action::Forget { ids } => api.forget(ids).await?,
        Action::RecordSynctoken { lists, synctoken } => {
            let ids = lists
                .iter()
                .map(|l| known_id(&applied.ids, "prefix list", l))
                .collect::<Result<Vec<_>, _>>()?;
            api.record_synctoken(&ids, *synctoken).await?;
        }
    }
    Ok(())
}
