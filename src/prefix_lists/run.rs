//! The prefix-list kind in a run ([`Run`], the kind contract of `crate::kind`): observe the lists,
//! plan (and weigh its resizes against the groups that reference the lists), apply, then complete
//! the RAM share. Generic over the kind's API traits, which the AWS adapters implement.

use std::future::Future;

use futures_util::future::BoxFuture;
use tracing::warn;

use super::apply::{ListApi, apply};
use super::model::{Action, Changes, Desired, Observed, Share, ShareState};
use super::part::Part;
use super::plan::{PlanError, plan};
use super::resize::{Referencing, check_resizes};
use crate::error::AwsError;
use crate::kind::{self, Kind, KindError, KindRun};
use crate::rule::Family;

/// The reads a run needs beside the writes of [`ListApi`].
pub trait ListReads {
    /// The lists this deployment owns in the region, with their entries.
    fn observe(&mut self) -> impl Future<Output = Result<Observed, AwsError>> + Send;
    /// The security groups of this account that reference any of `list_ids`, with what they hold;
    /// and how many references from other accounts' resources were left out (they cannot be read).
    fn referencing(
        &mut self,
        list_ids: &[String],
    ) -> impl Future<Output = Result<(Vec<Referencing>, usize), AwsError>> + Send;
    /// What references a list (security groups, route tables, firewalls, of any account).
    fn references(
        &mut self,
        list_id: &str,
    ) -> impl Future<Output = Result<Vec<String>, AwsError>> + Send;
    /// The rules-per-group quota a referencing group is held to.
    fn rules_per_group(&mut self) -> impl Future<Output = usize> + Send;
}

/// The RAM share of the lists (`SHARE_WITH`).
pub trait ShareApi {
    /// The share against the lists `list_ids` (as they are now) and `principals`.
    fn share_state(
        &mut self,
        list_ids: &[String],
        principals: &[String],
    ) -> impl Future<Output = Result<ShareState, AwsError>> + Send;
    /// Adds what `state` lacks (creating the share when there is none); returns its ARN.
    fn complete_share(
        &mut self,
        state: &ShareState,
    ) -> impl Future<Output = Result<String, AwsError>> + Send;
}

/// The kind while a run goes on.
pub(crate) struct Run<A> {
    api: A,
    part: Part,
    /// Lists are `{stem}-ipv4-{n}` / `{stem}-ipv6-{n}`.
    stem: String,
    /// `PREFIX_LIST_MAX_ENTRIES`.
    cap: usize,
    /// `SHARE_WITH`.
    share_with: Vec<String>,
}

impl<A> Run<A> {
    pub(crate) fn new(api: A, stem: String, cap: usize, share_with: Vec<String>) -> Run<A> {
        Run {
            api,
            part: Part::default(),
            stem,
            cap,
            share_with,
        }
    }
}

impl<A: ListApi + ListReads + ShareApi + Send> Run<A> {
    /// Refuses resizes a referencing group cannot take (see `resize`).
    async fn check_resizes(&mut self) -> Result<(), KindError> {
        let resizes = self
            .part
            .plan
            .actions
            .iter()
            .any(|a| matches!(a, Action::Resize { .. }));
        if !resizes {
            return Ok(());
        }
        let ids = self.part.ids();
        let list_ids: Vec<String> = ids.values().cloned().collect();
        let (groups, foreign) = self.api.referencing(&list_ids).await?;
        if foreign > 0 {
            let note = format!(
                "{foreign} reference(s) to the lists from other accounts' resources cannot be read from here: \
                 they are not weighed before a resize, and EC2 refuses a resize such a resource cannot take"
            );
            warn!("{note}");
            self.part.observed.warnings.push(note);
        }
        let rules_per_group = self.api.rules_per_group().await;
        check_resizes(&self.part.plan, &ids, &groups, rules_per_group).map_err(KindError::plan)
    }

    /// Completes the share against the lists as they are now.
    async fn complete_share(&mut self) -> Result<(), KindError> {
        if let Some(state) = self.share(0).await? {
            let arn = self.api.complete_share(&state).await?;
            if let Some(share) = &mut self.part.share {
                share.arn = Some(arn);
            }
        }
        Ok(())
    }

    /// Refuses a new list in a family whose lists something references: it would not reference
    /// the new one, and miss what goes there (docs/design.md, "Prefix lists").
    async fn check_new_lists(&mut self) -> Result<(), KindError> {
        let created: Vec<(String, Family)> = (self.part.plan.actions.iter())
            .filter_map(|a| match a {
                Action::Create { list, family, .. } => Some((list.clone(), *family)),
                _ => None,
            })
            .collect();
        for (new, family) in created {
            let existing: Vec<String> = (self.part.observed.lists.iter())
                .filter(|l| l.family == family)
                .map(|l| l.id.clone())
                .collect();
            let mut referencing = Vec::new();
            for id in existing {
                referencing.extend(self.api.references(&id).await?);
            }
            referencing.sort();
            referencing.dedup();
            if !referencing.is_empty() {
                return Err(KindError::plan(PlanError::NewListUnreferenced {
                    family,
                    new,
                    referencing,
                }));
            }
        }
        Ok(())
    }

    /// The share as it stands against the lists that exist now; `created` lists the plan would add.
    async fn share(&mut self, created: usize) -> Result<Option<ShareState>, KindError> {
        if self.share_with.is_empty() {
            return Ok(None);
        }
        let ids: Vec<String> = self.part.ids().into_values().collect();
        let state = self.api.share_state(&ids, &self.share_with).await?;
        // A principal SHARE_WITH no longer names is never withdrawn (its rules referencing the lists
        // would stop matching), but no new list goes to it: that would widen what it sees.
        if !state.extra_principals.is_empty() && (created > 0 || !state.missing_lists.is_empty()) {
            return Err(KindError::Aws(AwsError::other(
                "ram:AssociateResourceShare",
                format!(
                    "the RAM share {} also shares the lists with {}, which SHARE_WITH does not name: no new \
                     list is added to it (that would share it there too); remove those principals from \
                     the share in RAM, or name them in SHARE_WITH",
                    state.name,
                    state.extra_principals.join(", ")
                ),
            )));
        }
        for arn in &state.unrecorded {
            self.part.observed.warnings.push(format!(
                "a RAM share named {} ({arn}) is not in this deployment's record: someone else's (RAM does not \
                 keep names unique); never used",
                state.name
            ));
        }
        self.part.share = Some(Share {
            name: state.name.clone(),
            arn: state.arn.clone(),
            principals: self.share_with.clone(),
            lists_added: state.missing_lists.len() + created,
            principals_added: state.missing_principals.len(),
        });
        Ok(Some(state))
    }
}

impl<A: ListApi + ListReads + ShareApi + Send> KindRun for Run<A> {
    fn observe(&mut self, for_status: bool) -> BoxFuture<'_, Result<(), KindError>> {
        Box::pin(async move {
            let observed = self.api.observe().await?;
            self.part = Part {
                observed,
                ..Part::default()
            };
            if for_status {
                for list in &self.part.observed.lists {
                    let refs = self.api.references(&list.id).await?;
                    self.part.references.insert(list.id.clone(), refs);
                }
            }
            Ok(())
        })
    }

    fn part(&self) -> &dyn Kind {
        &self.part
    }

    fn plan<'a>(&'a mut self, desired: &'a kind::Desired) -> BoxFuture<'a, Result<(), KindError>> {
        Box::pin(async move {
            let force = desired.force;
            let desired = Desired {
                nets: desired.nets.clone(),
                synctoken: desired.synctoken,
                stem: self.stem.clone(),
                cap: self.cap,
            };
            self.part.plan = plan(&desired, &self.part.observed).map_err(KindError::plan)?;
            self.check_resizes().await?;
            if !force {
                self.check_new_lists().await?;
            }
            let created = self
                .part
                .plan
                .actions
                .iter()
                .filter(|a| matches!(a, Action::Create { .. }))
                .count();
            // The share fails alone: the lists are synced all the same.
            let state = match self.share(created).await {
                Ok(state) => state,
                Err(e) => {
                    self.part.share_error = Some(e.to_string());
                    None
                }
            };
            if let Some(state) = state {
                for p in &state.extra_principals {
                    self.part.observed.warnings.push(format!(
                        "the RAM share {} also shares the lists with {p}, which SHARE_WITH does not name: sgsync \
                         never withdraws a share (that account's rules referencing the lists would stop \
                         matching); remove it in RAM if that is intended",
                        state.name
                    ));
                }
            }
            Ok(())
        })
    }

    fn count_plan(&mut self) {
        self.part.changes = Changes::of_plan(&self.part.plan);
    }

    fn apply(&mut self) -> BoxFuture<'_, Result<(), KindError>> {
        Box::pin(async move {
            if !self.part.plan.is_empty() {
                let applied = apply(&mut self.api, &self.part.observed, &self.part.plan).await?;
                self.part.changes = applied.changes;
                self.part.ids = Some(applied.ids);
                self.part.kept = applied.kept;
            }
            // The lists may have changed: the share is read again against what exists now; it fails
            // alone (an error of the run), after the lists.
            if self.part.share_error.is_none()
                && let Err(e) = self.complete_share().await
            {
                self.part.share_error = Some(e.to_string());
            }
            Ok(())
        })
    }

    fn finish(self: Box<Self>) -> Box<dyn Kind> {
        Box::new(self.part)
    }
}
