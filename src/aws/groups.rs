//! The security-group kind on AWS: [`GroupReads`] and [`GroupApi`] through EC2 for groups and
//! interfaces, ELBv2 for load balancers, and the deployment's record in SSM Parameter Store (what it
//! made: ownership). This is what a run drives in production.

use std::collections::{BTreeMap, BTreeSet};

use super::ec2::write::Created;
use super::observe::{GROUPS_RECORD, RULES_RECORD};
use super::record::Record;
use super::{Clients, ec2, elbv2, observe};
use crate::error::AwsError;
use crate::ownership::Ownership;
use crate::rule::Rule;
use crate::security_groups::{GroupApi, GroupReads, Observed, QuotaOverrides, Replaces, TargetId};

/// The AWS side of one VPC's security groups: the clients, the VPC, and what new groups and rules
/// are made with.
pub(crate) struct AwsGroups<'a> {
    clients: &'a Clients,
    /// The VPC; `None` until `observe` resolves the region's default VPC.
    vpc_id: Option<String>,
    owner: Ownership,
    overrides: QuotaOverrides,
    group_description: String,
    rule_description: String,
    /// `--adopt`: groups carrying this deployment's tags that it did not record are adopted.
    adopt: bool,
    /// `/sgsync/<DEPLOYMENT_ID>/security-groups`.
    record: Record<'a>,
    /// The record as read by the last observe.
    recorded: BTreeSet<String>,
    /// NLBs' PrivateLink enforcement as re-read before their groups are set, to send back unchanged.
    enforcement: BTreeMap<String, String>,
    /// `ATTACH=carriers`: what carries a managed group is a target too.
    carriers: bool,
    /// `REPLACES`: the groups that may be swapped out of targets.
    replaces: Option<Replaces>,
}

impl<'a> AwsGroups<'a> {
    /// The groups `owner` owns in `vpc_id` (`None`: the region's default VPC); new groups and rules
    /// are described as given.
    pub(crate) fn new(
        clients: &'a Clients,
        vpc_id: Option<String>,
        owner: Ownership,
        overrides: QuotaOverrides,
        group_description: String,
        rule_description: String,
        adopt: bool,
    ) -> Self {
        AwsGroups {
            clients,
            vpc_id,
            record: Record::new(&clients.ssm, &owner.deployment, GROUPS_RECORD),
            owner,
            overrides,
            group_description,
            rule_description,
            adopt,
            recorded: BTreeSet::new(),
            enforcement: BTreeMap::new(),
            carriers: false,
            replaces: None,
        }
    }

    /// The same, keeping every interface and load balancer that carries a managed group carrying
    /// all of them (`ATTACH=carriers`), besides the tagged targets.
    pub(crate) fn attaching_carriers(mut self, on: bool) -> Self {
        self.carriers = on;
        self
    }

    /// The same, swapping the groups `replaces` names out of targets (`REPLACES`).
    pub(crate) fn replacing(mut self, replaces: Option<Replaces>) -> Self {
        self.replaces = replaces;
        self
    }

    /// Whether group `id` (a concurrent run's, just made) appears in the record within a few seconds.
    async fn wait_for_record(&mut self, id: &str) -> Result<bool, AwsError> {
        for wait in [200, 400, 800, 1600] {
            if self.record.read().await?.set.contains(id) {
                self.recorded.insert(id.to_string());
                return Ok(true);
            }
            tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
        }
        Ok(false)
    }

    /// The refusal of a create whose name a group this deployment did not record holds.
    fn taken(&self, name: &str, vpc: &str, err: AwsError) -> AwsError {
        AwsError {
            message: format!(
                "a group named {name} already exists in {vpc} but this deployment did not record it ({}); \
                 the next run skips the name",
                self.record.name
            ),
            ..err
        }
    }

    fn vpc(&self) -> Result<&str, AwsError> {
        self.vpc_id.as_deref().ok_or_else(|| {
            AwsError::other(
                "sgsync:apply",
                "no VPC known before the first read; this is a bug, please report it",
            )
        })
    }
}

impl GroupReads for AwsGroups<'_> {
    async fn observe(&mut self) -> Result<Observed, AwsError> {
        self.recorded = self.record.read().await?.set;
        let observed = observe::observe(
            self.clients,
            self.vpc_id.as_deref(),
            &self.owner,
            self.overrides,
            &self.recorded,
            observe::Scope {
                adopt: self.adopt,
                carriers: self.carriers,
                replaces: self.replaces.as_ref(),
            },
        )
        .await?;
        self.vpc_id = Some(observed.vpc_id.clone());
        Ok(observed)
    }

    async fn names_taken(
        &mut self,
        vpc_id: &str,
        names: &[String],
    ) -> Result<BTreeSet<String>, AwsError> {
        let found = ec2::read::names_taken(
            &self.clients.ec2,
            vpc_id,
            names,
            &self.recorded,
            &self.owner,
        )
        .await?;
        let mut taken = BTreeSet::new();
        for (name, (id, ours)) in found {
            // One of this deployment's tags that it did not record may be a concurrent run's, made
            // a moment ago and recorded right after: given a moment, the record says so, and this
            // run takes it as made (its create then finds it).
            if ours && self.wait_for_record(&id).await? {
                continue;
            }
            taken.insert(name);
        }
        Ok(taken)
    }
}

impl GroupApi for AwsGroups<'_> {
    async fn adopt(
        &mut self,
        group_ids: &[String],
        untagged_ids: &[String],
    ) -> Result<(), AwsError> {
        self.record.update(&self.owner, group_ids, &[]).await?;
        self.recorded.extend(group_ids.iter().cloned());
        if !untagged_ids.is_empty() {
            ec2::write::tag_deployment(&self.clients.ec2, untagged_ids, &self.owner).await?;
        }
        Ok(())
    }

    async fn reclaim(&mut self, group_id: &str) -> Result<bool, AwsError> {
        // Read again: the record and the group as they are now, not as the plan saw them.
        if self.record.read().await?.set.contains(group_id)
            || !ec2::read::empty_and_unused(&self.clients.ec2, group_id).await?
        {
            return Ok(false);
        }
        ec2::write::delete_group(&self.clients.ec2, group_id).await
    }

    async fn target_groups(&mut self, target: &TargetId) -> Result<Option<Vec<String>>, AwsError> {
        match target {
            TargetId::Interface(eni) => ec2::read::interface_groups(&self.clients.ec2, eni).await,
            TargetId::LoadBalancer(arn) => {
                let now = elbv2::current(&self.clients.elbv2, arn).await?;
                Ok(now.map(|now| {
                    if let Some(e) = now.enforcement {
                        self.enforcement.insert(arn.clone(), e);
                    }
                    now.groups
                }))
            }
        }
    }

    async fn create_group(&mut self, name: &str, synctoken: u64) -> Result<String, AwsError> {
        let vpc = self.vpc()?.to_string();
        let (c, description) = (&self.clients.ec2, &self.group_description);
        match ec2::write::create_group(c, &vpc, name, description, &self.owner, synctoken).await? {
            Created::New(id) => {
                // Recorded before anything else is done to it: a run that stops right here leaves
                // an empty group attached nowhere, which the next run reclaims.
                self.record
                    .update(&self.owner, std::slice::from_ref(&id), &[])
                    .await?;
                self.recorded.insert(id.clone());
                Ok(id)
            }
            // A concurrent run of this deployment made it and records it right after (the name was
            // free when this run looked): given a moment, the record says so.
            Created::Taken(Some(id), err) => match self.wait_for_record(&id).await? {
                true => Ok(id),
                false => Err(self.taken(name, &vpc, err)),
            },
            Created::Taken(None, err) => Err(self.taken(name, &vpc, err)),
        }
    }

    async fn record_rules(
        &mut self,
        digests: &BTreeMap<String, String>,
        gone: &[String],
    ) -> Result<(), AwsError> {
        let record = Record::new(&self.clients.ssm, &self.owner.deployment, RULES_RECORD);
        let now = record.read().await?.set;
        let want: BTreeSet<String> = digests.iter().map(|(id, d)| format!("{id}:{d}")).collect();
        // Entries of this VPC's groups that differ; other VPCs' entries are theirs.
        let ours = |id: &str| digests.contains_key(id) || gone.iter().any(|g| g == id);
        let remove: Vec<String> = (now.iter())
            .filter(|e| !want.contains(*e))
            .filter(|e| e.split_once(':').is_some_and(|(id, _)| ours(id)))
            .cloned()
            .collect();
        let add: Vec<String> = want.difference(&now).cloned().collect();
        if add.is_empty() && remove.is_empty() {
            return Ok(());
        }
        record.update(&self.owner, &add, &remove).await
    }

    async fn authorize(&mut self, group_id: &str, rules: &[Rule]) -> Result<usize, AwsError> {
        ec2::write::authorize(&self.clients.ec2, group_id, rules, &self.rule_description).await
    }

    async fn revoke(&mut self, group_id: &str, rules: &[Rule]) -> Result<usize, AwsError> {
        ec2::write::revoke(&self.clients.ec2, group_id, rules).await
    }

    async fn revoke_unmanaged(&mut self, group_id: &str) -> Result<usize, AwsError> {
        ec2::write::revoke_unmanaged(&self.clients.ec2, group_id).await
    }

    async fn revoke_outbound(&mut self, group_id: &str) -> Result<usize, AwsError> {
        ec2::write::revoke_outbound(&self.clients.ec2, group_id).await
    }

    async fn set_target_groups(
        &mut self,
        target: &TargetId,
        group_ids: &[String],
    ) -> Result<(), AwsError> {
        match target {
            TargetId::Interface(eni) => {
                ec2::write::set_interface_groups(&self.clients.ec2, eni, group_ids).await
            }
            TargetId::LoadBalancer(arn) => {
                let enforcement = self.enforcement.get(arn).map(String::as_str);
                elbv2::set_groups(&self.clients.elbv2, arn, group_ids, enforcement).await
            }
        }
    }

    async fn delete_group(&mut self, group_id: &str) -> Result<bool, AwsError> {
        if !ec2::write::delete_group(&self.clients.ec2, group_id).await? {
            return Ok(false);
        }
        self.forget(&[group_id.to_string()]).await?;
        Ok(true)
    }

    async fn forget(&mut self, group_ids: &[String]) -> Result<(), AwsError> {
        self.record.update(&self.owner, &[], group_ids).await?;
        self.recorded.retain(|id| !group_ids.contains(id));
        Ok(())
    }

    async fn record_synctoken(
        &mut self,
        group_ids: &[String],
        synctoken: u64,
    ) -> Result<(), AwsError> {
        ec2::write::record_synctoken(&self.clients.ec2, group_ids, synctoken).await
    }
}
