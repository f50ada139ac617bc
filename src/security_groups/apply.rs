//! Runs a [`Plan`] through [`GroupApi`], one call per action, in the plan's order.
//!
//! [`GroupApi`] is the seam between the core and the world: the AWS adapters implement it in
//! production (`aws::groups`), and the simulated world implements it in the property tests
//! (`testkit::groups`), so the tests drive this very code: the id bookkeeping, the change counting and
//! the order, not a second interpreter of the actions.
//!
//! The plan names groups; new groups get their ids here as they are created. Every call is
//! idempotent against the state a crashed or concurrent run may have left ("already exists", "already
//! gone" are treated as done after a re-read, inside the adapter), so a run that stops anywhere
//! converges on the next.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use tracing::{info, warn};

use super::model::{Action, Changes, Observed, Plan, Quotas, SkippedTarget, TargetId};
use super::packing::published_addresses;
use crate::addresses::Addresses;
use crate::error::{AwsError, StepError, known_id};
use crate::rule::{PortRange, Rule};

/// The calls a plan is made of. Each method is one API call (plus the re-read an adapter makes when
/// AWS says the work was already done), so call counts stay predictable; each returns what it really
/// changed, which is what [`Changes`] reports.
pub trait GroupApi {
    /// Records groups as this deployment's (an sgsync that kept no record made them), and tags those
    /// of `untagged_ids` `sgsync:deployment`.
    fn adopt(
        &mut self,
        group_ids: &[String],
        untagged_ids: &[String],
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// Deletes a group that carries this deployment's tags but is not in its record, if it is still
    /// empty, attached nowhere and unrecorded; returns whether it did.
    fn reclaim(&mut self, group_id: &str) -> impl Future<Output = Result<bool, AwsError>> + Send;
    /// Creates a managed group tagged as owned and with `synctoken`, without any outbound entry (AWS's
    /// default one is revoked right away), and records it as this deployment's before anything else is
    /// done to it; returns its id. A group of that name this deployment already recorded (a concurrent
    /// run made it) is taken as made.
    fn create_group(
        &mut self,
        name: &str,
        synctoken: u64,
    ) -> impl Future<Output = Result<String, AwsError>> + Send;
    /// Authorizes rules in one group; returns how many were added (some may exist already).
    fn authorize(
        &mut self,
        group_id: &str,
        rules: &[Rule],
    ) -> impl Future<Output = Result<usize, AwsError>> + Send;
    /// Revokes rules from one group, by CIDR and port; returns how many were removed.
    fn revoke(
        &mut self,
        group_id: &str,
        rules: &[Rule],
    ) -> impl Future<Output = Result<usize, AwsError>> + Send;
    /// Revokes every entry of the group that is not a managed rule, as it is at the time of the call;
    /// returns how many were removed.
    fn revoke_unmanaged(
        &mut self,
        group_id: &str,
    ) -> impl Future<Output = Result<usize, AwsError>> + Send;
    /// Revokes every outbound entry of the group, as it is at the time of the call; returns how many
    /// were removed.
    fn revoke_outbound(
        &mut self,
        group_id: &str,
    ) -> impl Future<Output = Result<usize, AwsError>> + Send;
    /// A target's groups as they are now, in order; `None` when the target no longer exists.
    fn target_groups(
        &mut self,
        target: &TargetId,
    ) -> impl Future<Output = Result<Option<Vec<String>>, AwsError>> + Send;
    /// Sets all of a target's groups, in order, in one atomic call.
    fn set_target_groups(
        &mut self,
        target: &TargetId,
        group_ids: &[String],
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// Deletes a group, and takes it out of the deployment's record; one already gone is not an error.
    /// `false`: something still references it (a rule of another group, an interface sgsync does not
    /// see): it is kept, recorded, and the next run tries again.
    fn delete_group(
        &mut self,
        group_id: &str,
    ) -> impl Future<Output = Result<bool, AwsError>> + Send;
    /// Takes ids of groups that no longer exist out of the deployment's record.
    fn forget(&mut self, group_ids: &[String])
    -> impl Future<Output = Result<(), AwsError>> + Send;
    /// Records the applied synctoken on groups, in one call.
    fn record_synctoken(
        &mut self,
        group_ids: &[String],
        synctoken: u64,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// Records what each group holds after a full apply (group id → [`digest`] of its rules), for
    /// the event path; `gone` are ids of this VPC's groups that no longer exist. Writes nothing when
    /// the record already says so.
    ///
    /// [`digest`]: super::digest
    fn record_rules(
        &mut self,
        digests: &BTreeMap<String, String>,
        gone: &[String],
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// What a completed run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// What changed.
    pub changes: Changes,
    /// Group name → id after the run (new groups included, deleted ones gone).
    pub ids: BTreeMap<String, String>,
    /// Targets that no longer existed when their groups were to be set (deleted meanwhile): done.
    pub vanished: Vec<TargetId>,
    /// Targets whose groups could not be set (AWS refused, or no room any more): skipped, the rest of
    /// the plan run without taking from them any published rule.
    pub failed: Vec<SkippedTarget>,
    /// Groups left empty that something still references: kept until nothing does.
    pub kept: Vec<String>,
}

/// An action that failed; see [`StepError`].
pub type ApplyError = StepError<Changes>;

/// Runs `plan`, made from `observed`, through `api`; returns what changed and the groups' ids.
pub async fn apply<A: GroupApi>(
    api: &mut A,
    observed: &Observed,
    plan: &Plan,
) -> Result<Applied, ApplyError> {
    let mut ids: BTreeMap<String, String> = observed
        .groups
        .iter()
        .map(|g| (g.name.clone(), g.id.clone()))
        .collect();
    let mut run = Run {
        ids: &mut ids,
        managed: observed.groups.iter().map(|g| g.id.clone()).collect(),
        quotas: observed.quotas,
        changes: Changes::default(),
        vanished: Vec::new(),
        failed: Vec::new(),
        kept: Vec::new(),
        held: (observed.targets.iter())
            .map(|t| (t.id.clone(), t.groups.clone()))
            .collect(),
        published: published_addresses(&plan.layout.values().flatten().copied().collect()),
        protected: BTreeSet::new(),
    };
    let total = plan.actions.len();
    for (i, action) in plan.actions.iter().enumerate() {
        info!(step = i + 1, total, %action, "applying");
        let step = run.action(api, action).await;
        step.map_err(|source| ApplyError {
            kind: "",
            step: i + 1,
            total,
            what: action.to_string(),
            changes: run.changes,
            source,
        })?;
    }
    let (changes, vanished, failed, kept) = (run.changes, run.vanished, run.failed, run.kept);
    Ok(Applied {
        changes,
        ids,
        vanished,
        failed,
        kept,
    })
}

/// The foreign groups a target update swaps out, and those the plan saw staying.
struct Swap<'a> {
    out: &'a [String],
    kept: &'a [String],
}

/// The state of one run of a plan.
struct Run<'a> {
    ids: &'a mut BTreeMap<String, String>,
    /// Every managed group id, created ones included: what is not one of them on a target is foreign.
    managed: BTreeSet<String>,
    quotas: Quotas,
    changes: Changes,
    vanished: Vec<TargetId>,
    failed: Vec<SkippedTarget>,
    kept: Vec<String>,
    /// Each target's groups as observed.
    held: BTreeMap<TargetId, Vec<String>>,
    /// The addresses the groups allow on each port after the plan: what is published.
    published: BTreeMap<PortRange, Addresses>,
    /// Groups on a target whose write failed: from now on no published rule leaves them, and they
    /// are not deleted (the target still relies on them).
    protected: BTreeSet<String>,
}

/// Whether a target write that failed with `e` leaves the rest of the run to go on: AWS refused that
/// target (its code says why), or it no longer has room. Anything else (no answer at all) stops the run.
fn skips_target(e: &AwsError) -> bool {
    e.code.is_some() || e.operation == CAPACITY
}

const CAPACITY: &str = "sgsync:capacity";

impl Run<'_> {
    async fn action<A: GroupApi>(&mut self, api: &mut A, action: &Action) -> Result<(), AwsError> {
        let ids = &mut *self.ids;
        match action {
            Action::Adopt { groups, untagged } => {
                let of = |names: &[String]| {
                    names
                        .iter()
                        .map(|g| known_id(ids, "group", g))
                        .collect::<Result<Vec<_>, _>>()
                };
                api.adopt(&of(groups)?, &of(untagged)?).await?;
            }
            Action::Reclaim { group, id } => {
                if !api.reclaim(id).await? {
                    warn!(
                        group,
                        id, "the unrecorded group is no longer empty and unused: left as it is"
                    );
                }
            }
            Action::CreateGroup { group, synctoken } => {
                let id = api.create_group(group, *synctoken).await?;
                self.managed.insert(id.clone());
                ids.insert(group.clone(), id);
                self.changes.groups_created += 1;
            }
            Action::Authorize { group, rules } => {
                self.changes.rules_authorized += api
                    .authorize(&known_id(ids, "group", group)?, rules)
                    .await?;
            }
            Action::Revoke { group, rules, .. } => {
                let id = known_id(ids, "group", group)?;
                let rules: Vec<Rule> = match self.protected.contains(&id) {
                    // A target whose write failed still relies on this group: only what has no
                    // address published any more leaves it.
                    true => (rules.iter())
                        .filter(|r| {
                            !(self.published.get(&r.ports)).is_some_and(|a| a.overlaps(&r.net))
                        })
                        .copied()
                        .collect(),
                    false => rules.clone(),
                };
                if !rules.is_empty() {
                    self.changes.rules_revoked += api.revoke(&id, &rules).await?;
                }
            }
            Action::SetTargetGroups {
                target,
                managed,
                replace,
                foreign,
                ..
            } => {
                let managed: Vec<String> = managed
                    .iter()
                    .map(|name| known_id(ids, "group", name))
                    .collect::<Result<_, _>>()?;
                let swap = Swap {
                    out: replace,
                    kept: foreign,
                };
                match self.set_target(api, target, managed, swap).await {
                    Ok(()) => {}
                    Err(e) if skips_target(&e) => self.skip(target, &e),
                    Err(e) => return Err(e),
                }
            }
            Action::RevokeUnmanaged { group, .. } => {
                self.changes.rules_revoked += api
                    .revoke_unmanaged(&known_id(ids, "group", group)?)
                    .await?;
            }
            Action::RevokeOutbound { group, .. } => {
                self.changes.rules_revoked +=
                    api.revoke_outbound(&known_id(ids, "group", group)?).await?;
            }
            Action::DeleteGroup { group } => {
                let id = known_id(ids, "group", group)?;
                if self.protected.contains(&id) {
                    warn!(
                        group,
                        "kept: a target whose write failed still carries it; the next run deletes it"
                    );
                } else if api.delete_group(&id).await? {
                    ids.remove(group);
                    self.changes.groups_deleted += 1;
                } else {
                    warn!(
                        group,
                        "kept (empty): something still references it, a rule of another group say; the next \
                         run deletes it once nothing does"
                    );
                    self.kept.push(group.clone());
                }
            }
            Action::Forget { ids } => api.forget(ids).await?,
            Action::RecordSynctoken { groups, synctoken } => {
                let group_ids = groups
                    .iter()
                    .map(|g| known_id(ids, "group", g))
                    .collect::<Result<Vec<_>, _>>()?;
                api.record_synctoken(&group_ids, *synctoken).await?;
            }
        }
        Ok(())
    }

    /// Leaves `target` out of the rest of the run after its write failed with `e`: the managed groups it
    /// carries keep every published rule and are not deleted.
    fn skip(&mut self, target: &TargetId, e: &AwsError) {
        let on = self.held.get(target).cloned().unwrap_or_default();
        self.protected
            .extend(on.into_iter().filter(|id| self.managed.contains(id)));
        let reason = format!(
            "{target}: its groups could not be set ({e}); it was skipped: it keeps the managed groups it \
             has and every published range they hold, and the next run tries again"
        );
        warn!("{reason}");
        self.failed.push(SkippedTarget {
            target: target.clone(),
            reason,
        });
    }

    /// Sets a target's groups to its foreign groups *as they are now* (re-read right before the
    /// write, so a group someone attached since the run looked is kept, in its place) but those the
    /// plan swaps out (`swap.out`), followed by `managed`. A target
    /// deleted meanwhile is done.
    async fn set_target<A: GroupApi>(
        &mut self,
        api: &mut A,
        target: &TargetId,
        managed: Vec<String>,
        swap: Swap<'_>,
    ) -> Result<(), AwsError> {
        let Some(now) = api.target_groups(target).await? else {
            warn!(%target, "the target no longer exists: nothing to attach to");
            self.vanished.push(target.clone());
            return Ok(());
        };
        let mut all: Vec<String> = now
            .into_iter()
            .filter(|id| !self.managed.contains(id) && !swap.out.contains(id))
            .collect();
        // The swap was checked against the groups that stay as the plan saw them (their outbound
        // entries cover the swapped-out ones'): any other set, and it is not made.
        if !swap.out.is_empty() && all.as_slice() != swap.kept {
            return Err(AwsError::other(
                CAPACITY,
                format!(
                    "{target}: its other groups changed since the plan, so the groups REPLACES names \
                     were not swapped out (the check no longer holds); nothing was changed on it, the \
                     next run checks again"
                ),
            ));
        }
        let foreign = all.len();
        all.extend(managed);
        if all.len() > self.quotas.groups_per_target {
            return Err(AwsError::other(
                CAPACITY,
                format!(
                    "{target} now carries {foreign} groups sgsync does not manage, so the {} managed groups \
                     do not fit under its quota of {} groups; nothing was changed on it: free a group slot \
                     on it, then run again",
                    all.len() - foreign,
                    self.quotas.groups_per_target
                ),
            ));
        }
        api.set_target_groups(target, &all).await?;
        self.changes.targets_updated += 1;
        Ok(())
    }
}
