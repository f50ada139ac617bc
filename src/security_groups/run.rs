//! The security-group kind in a run ([`Run`], the kind contract of `crate::kind`): observe the VPC,
//! plan (skipping names that groups this deployment does not own hold), apply. Generic over the
//! kind's API traits, which the AWS adapters implement.

use std::collections::BTreeSet;
use std::future::Future;

use futures_util::future::BoxFuture;
use tracing::warn;

use super::apply::{ApplyError, GroupApi, apply};
use super::model::{Action, Changes, Desired, Observed, Plan};
use super::part::Part;
use super::plan::plan;
use crate::error::AwsError;
use crate::kind::{self, Kind, KindError, KindRun};

/// The reads a run needs beside the writes of [`GroupApi`].
pub trait GroupReads {
    /// One read of the VPC: its managed groups, their targets, the quotas.
    fn observe(&mut self) -> impl Future<Output = Result<Observed, AwsError>> + Send;
    /// Which of `names` groups in the VPC that this deployment does not own hold.
    fn names_taken(
        &mut self,
        vpc_id: &str,
        names: &[String],
    ) -> impl Future<Output = Result<BTreeSet<String>, AwsError>> + Send;
}

/// The kind while a run goes on.
pub(crate) struct Run<A> {
    api: A,
    part: Part,
    /// New groups are `{stem}-{n}`.
    stem: String,
    /// `--repack`.
    repack: bool,
}

impl<A> Run<A> {
    /// The kind, to be read and written through `api`; new groups are named `{stem}-{n}`.
    pub(crate) fn new(api: A, stem: String, repack: bool) -> Run<A> {
        Run {
            api,
            part: Part::default(),
            stem,
            repack,
        }
    }
}

/// Runs the plan of `part` (made from its observed VPC) through `api` and records what changed; a
/// target deleted meanwhile becomes a warning.
pub(crate) async fn apply_part<A: GroupApi>(
    api: &mut A,
    part: &mut Part,
) -> Result<(), ApplyError> {
    let applied = apply(api, &part.observed, &part.plan).await?;
    for target in &applied.vanished {
        part.observed.warnings.push(format!(
            "{target} was deleted during the run: nothing to attach to"
        ));
    }
    // A swap that was not made leaves its groups where they are: not released.
    let not_made: Vec<&String> = (part.observed.targets.iter())
        .filter(|t| applied.failed.iter().any(|f| f.target == t.id))
        .flat_map(|t| &t.groups)
        .collect();
    part.plan
        .released
        .retain(|g| !not_made.iter().any(|id| g.ends_with(&format!("({id})"))));
    // Nor is what it would have dropped.
    let kept_names: Vec<&str> = (not_made.iter())
        .filter_map(|id| part.observed.foreign.get(*id).map(|g| g.name.as_str()))
        .collect();
    part.plan
        .dropped
        .retain(|r| !kept_names.iter().any(|n| r.contains(&format!("(of {n})"))));
    part.changes = applied.changes;
    part.ids = Some(applied.ids);
    part.failed_targets = applied.failed;
    Ok(())
}

/// Plans, and when the plan creates groups, makes sure no group this deployment does not own holds
/// their names (an untagged group squatting `AUTOUPDATE-cloudfront-4` would fail every create): such
/// names are skipped and the plan made again. Only runs that create groups pay the extra read.
async fn plan_with_free_names<A: GroupReads>(
    api: &mut A,
    desired: &Desired,
    observed: &mut Observed,
) -> Result<Plan, KindError> {
    for _ in 0..3 {
        let plan = plan(desired, observed).map_err(KindError::plan)?;
        let created: Vec<String> = plan
            .actions
            .iter()
            .filter_map(|a| match a {
                Action::CreateGroup { group, .. } => Some(group.clone()),
                _ => None,
            })
            .collect();
        if created.is_empty() {
            return Ok(plan);
        }
        let squatted = api.names_taken(&observed.vpc_id, &created).await?;
        if squatted.is_empty() {
            return Ok(plan);
        }
        for name in &squatted {
            let note = format!(
                "a group this deployment does not own is named {name}, a name sgsync gives its groups: \
                 that name is skipped (rename or delete that group to free it)"
            );
            warn!("{note}");
            observed.warnings.push(note);
        }
        observed.taken_names.extend(squatted);
    }
    plan(desired, observed).map_err(KindError::plan)
}

impl<A: GroupApi + GroupReads + Send> KindRun for Run<A> {
    fn observe(&mut self, _for_status: bool) -> BoxFuture<'_, Result<(), KindError>> {
        Box::pin(async move {
            let observed = self.api.observe().await?;
            self.part = Part::observed(observed);
            Ok(())
        })
    }

    fn part(&self) -> &dyn Kind {
        &self.part
    }

    fn plan<'a>(&'a mut self, desired: &'a kind::Desired) -> BoxFuture<'a, Result<(), KindError>> {
        Box::pin(async move {
            let desired = Desired {
                rules: desired.rules.clone(),
                synctoken: desired.synctoken,
                group_stem: self.stem.clone(),
                repack: self.repack,
                published: desired.published.clone(),
            };
            let plan =
                plan_with_free_names(&mut self.api, &desired, &mut self.part.observed).await?;
            self.part.plan = plan;
            Ok(())
        })
    }

    fn count_plan(&mut self) {
        self.part.changes = Changes::of_plan(&self.part.plan);
    }

    fn apply(&mut self) -> BoxFuture<'_, Result<(), KindError>> {
        Box::pin(async move {
            if !self.part.plan.is_empty() {
                apply_part(&mut self.api, &mut self.part).await?;
            }
            // What each group holds now, for the event path (written only when it changed).
            let (digests, gone) = self.part.rule_digests();
            self.api.record_rules(&digests, &gone).await?;
            Ok(())
        })
    }

    fn finish(self: Box<Self>) -> Box<dyn Kind> {
        Box::new(self.part)
    }
}
