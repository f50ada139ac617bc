//! Customer-managed prefix lists on EC2: the prefix-list kind's [`ListReads`], [`ListApi`] and
//! [`ShareApi`] ([`AwsLists`]). Reads (`read`), writes with their optimistic lock (`write`), the
//! asynchronous states every change goes through (`state`); the share itself is `aws::share`.

mod read;
mod state;
mod write;

use std::collections::{BTreeMap, BTreeSet};

use super::record::Record;
use super::{Clients, quotas, share};
use crate::error::AwsError;
use crate::ownership::Ownership;
use crate::prefix_lists::{ListReads, Observed, Referencing, ShareApi, ShareState};
use crate::security_groups::QuotaOverrides;

/// The record of a deployment's prefix lists (and of their RAM share):
/// `/sgsync/<DEPLOYMENT_ID>/prefix-lists`.
pub(crate) const LISTS_RECORD: &str = "prefix-lists";

/// The prefix lists of one region, as a run reads and writes them.
pub(crate) struct AwsLists<'a> {
    clients: &'a Clients,
    owner: Ownership,
    overrides: QuotaOverrides,
    /// Each entry's description: the service it comes from.
    description: String,
    /// `ALLOW_EXTERNAL_SHARE`: principals outside the organization may be shared with.
    allow_external: bool,
    /// `--adopt`: lists and a share carrying this deployment's tags that it did not record are taken
    /// over.
    adopt: bool,
    /// `/sgsync/<DEPLOYMENT_ID>/prefix-lists`: the ids of the lists, and the ARN of the share.
    record: Record<'a>,
    /// The record as the last observe read it.
    recorded: BTreeSet<String>,
    /// The account that owns the lists (read with them): references from other accounts are not
    /// readable from here.
    account: Option<String>,
    /// Names by id: `ModifyManagedPrefixList` is sent with the name (moto drops a name a
    /// modification leaves out; AWS keeps it either way).
    names: BTreeMap<String, String>,
    /// The version each list had after its last change this run saw: the `CurrentVersion` of the next
    /// modification, without a read (a list changed meanwhile answers `PrefixListVersionMismatch`).
    versions: BTreeMap<String, u64>,
}

impl<'a> AwsLists<'a> {
    pub(crate) fn new(
        clients: &'a Clients,
        owner: Ownership,
        overrides: QuotaOverrides,
        description: String,
        allow_external: bool,
        adopt: bool,
    ) -> Self {
        AwsLists {
            clients,
            record: Record::new(&clients.ssm, &owner.deployment, LISTS_RECORD),
            owner,
            overrides,
            description,
            allow_external,
            adopt,
            recorded: BTreeSet::new(),
            account: None,
            names: BTreeMap::new(),
            versions: BTreeMap::new(),
        }
    }
}

impl ListReads for AwsLists<'_> {
    async fn observe(&mut self) -> Result<Observed, AwsError> {
        self.recorded = self.record.read().await?.set;
        let (observed, account) = read::observe(
            &self.clients.ec2,
            &self.owner,
            &self.recorded,
            &self.record.name,
            self.adopt,
        )
        .await?;
        self.account = account;
        for l in &observed.lists {
            let name = l.name.split('#').next().unwrap_or(&l.name).to_string();
            self.names.insert(l.id.clone(), name);
            self.versions.insert(l.id.clone(), l.version);
        }
        Ok(observed)
    }

    async fn referencing(
        &mut self,
        list_ids: &[String],
    ) -> Result<(Vec<Referencing>, usize), AwsError> {
        read::referencing(&self.clients.ec2, list_ids, self.account.as_deref()).await
    }

    async fn references(&mut self, list_id: &str) -> Result<Vec<String>, AwsError> {
        read::references(&self.clients.ec2, list_id).await
    }

    async fn rules_per_group(&mut self) -> usize {
        quotas::planning(&self.clients.quotas, self.overrides)
            .await
            .rules_per_group
    }
}

impl ShareApi for AwsLists<'_> {
    async fn share_state(
        &mut self,
        list_ids: &[String],
        principals: &[String],
    ) -> Result<ShareState, AwsError> {
        let arns = if list_ids.is_empty() {
            Vec::new()
        } else {
            read::arns(&self.clients.ec2, list_ids).await?
        };
        let deployment = share::Deployment {
            owner: &self.owner,
            recorded: &self.recorded,
            record: &self.record.name,
            adopt: self.adopt,
            allow_external: self.allow_external,
        };
        share::inspect(&self.clients.ram, &deployment, &arns, principals).await
    }

    async fn complete_share(&mut self, state: &ShareState) -> Result<String, AwsError> {
        share::complete(
            &self.clients.ram,
            &self.record,
            &self.owner,
            state,
            self.allow_external,
        )
        .await
    }
}
