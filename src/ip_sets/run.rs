//! The WAF IP-set kind in a run ([`Run`], the kind contract of `crate::kind`): observe the sets of
//! the scope, plan, apply. Generic over the kind's API traits, which the AWS adapters implement.

use std::collections::BTreeMap;
use std::future::Future;

use futures_util::future::BoxFuture;

use super::apply::{SetApi, apply};
use super::model::{Changes, Desired, Observed, Scope};
use super::part::Part;
use super::plan::plan;
use crate::error::AwsError;
use crate::kind::{self, Kind, KindError, KindRun};

/// The reads a run needs beside the writes of [`SetApi`].
pub trait SetReads {
    /// The sets of this deployment's names in the scope, and their ARNs by id.
    fn observe(
        &mut self,
    ) -> impl Future<Output = Result<(Observed, BTreeMap<String, String>), AwsError>> + Send;
    /// Set id → ARN, the sets this run created included.
    fn arns(&self) -> BTreeMap<String, String>;
}

/// The kind while a run goes on.
pub(crate) struct Run<A> {
    api: A,
    part: Part,
    /// Sets are `{stem}-ipv4` / `{stem}-ipv6`.
    stem: String,
    /// The record's name, for what is said about sets it does not hold.
    record: String,
}

impl<A> Run<A> {
    pub(crate) fn new(api: A, scope: Scope, stem: String, record: String) -> Run<A> {
        Run {
            api,
            part: Part::observed(scope, Observed::default(), BTreeMap::new()),
            stem,
            record,
        }
    }
}

impl<A: SetApi + SetReads + Send> KindRun for Run<A> {
    fn observe(&mut self, _for_status: bool) -> BoxFuture<'_, Result<(), KindError>> {
        Box::pin(async move {
            let (observed, arns) = self.api.observe().await?;
            self.part = Part::observed(self.part.scope, observed, arns);
            Ok(())
        })
    }

    fn part(&self) -> &dyn Kind {
        &self.part
    }

    fn plan<'a>(&'a mut self, desired: &'a kind::Desired) -> BoxFuture<'a, Result<(), KindError>> {
        Box::pin(async move {
            let desired = Desired {
                nets: desired.nets.clone(),
                synctoken: desired.synctoken,
                stem: self.stem.clone(),
                families: desired.families.clone(),
                record: self.record.clone(),
            };
            self.part.plan = plan(&desired, &self.part.observed).map_err(KindError::plan)?;
            Ok(())
        })
    }

    fn count_plan(&mut self) {
        self.part.changes = Changes::of_plan(&self.part.plan);
    }

    fn apply(&mut self) -> BoxFuture<'_, Result<(), KindError>> {
        Box::pin(async move {
            if self.part.plan.is_empty() {
                return Ok(());
            }
            let applied = apply(&mut self.api, &self.part.observed, &self.part.plan).await?;
            self.part.changes = applied.changes;
            self.part.ids = applied.ids;
            self.part.kept = applied.kept;
            self.part.arns = self.api.arns();
            Ok(())
        })
    }

    fn finish(self: Box<Self>) -> Box<dyn Kind> {
        Box::new(self.part)
    }
}
