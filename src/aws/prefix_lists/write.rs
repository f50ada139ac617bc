//! Writing prefix lists: the prefix-list kind's [`ListApi`] on EC2, with `CurrentVersion` as an
//! optimistic lock (a list modified in between is read again, and only what is still to do is sent),
//! each change waited for until it has settled. A list is created empty and recorded before it gets
//! entries, so a run that stops in between leaves an empty list the next run may reclaim.

use std::time::Duration;

use aws_sdk_ec2::types::{
    AddPrefixListEntry, PrefixListState, RemovePrefixListEntry, ResourceType, Tag, TagSpecification,
};
use ipnet::IpNet;
use tracing::{info, warn};

use super::AwsLists;
use super::read::entries;
use super::state::{finished, settled};
use crate::aws::{TAG_DEPLOYMENT, TAG_PREFIX, TAG_SYNCTOKEN, sdk_error};
use crate::error::AwsError;
use crate::prefix_lists::ListApi;
use crate::rule::Family;

/// A `ModifyManagedPrefixList` that lost the race: the list moved to another version meanwhile.
fn version_conflict(e: &AwsError) -> bool {
    e.is("IncorrectState")
        || (e.is("InvalidParameterValue") && e.message.to_ascii_lowercase().contains("version"))
        || e.is("PrefixListVersionMismatch")
}

impl AwsLists<'_> {
    fn add_entry(&self, net: &IpNet) -> AddPrefixListEntry {
        AddPrefixListEntry::builder()
            .cidr(net.to_string())
            .description(&self.description)
            .build()
    }
}

impl ListApi for AwsLists<'_> {
    async fn create(
        &mut self,
        name: &str,
        family: Family,
        max_entries: usize,
        entries: &[IpNet],
        synctoken: u64,
    ) -> Result<String, AwsError> {
        const OP: &str = "ec2:CreateManagedPrefixList";
        let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
        let tags = TagSpecification::builder()
            .resource_type(ResourceType::PrefixList)
            .tags(tag("Name", name))
            .tags(tag(TAG_PREFIX, &self.owner.prefix))
            .tags(tag(TAG_DEPLOYMENT, &self.owner.deployment))
            .tags(tag(TAG_SYNCTOKEN, &synctoken.to_string()))
            .build();
        let out = self
            .clients
            .ec2
            .create_managed_prefix_list()
            .prefix_list_name(name)
            .address_family(family.to_string())
            .max_entries(max_entries as i32)
            .tag_specifications(tags)
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        let id = out
            .prefix_list()
            .and_then(|l| l.prefix_list_id())
            .ok_or_else(|| AwsError::malformed(OP, "prefix list id"))?
            .to_string();
        let version = finished(&self.clients.ec2, &id, OP).await?;
        self.names.insert(id.clone(), name.to_string());
        self.versions.insert(id.clone(), version);
        self.record
            .update(&self.owner, std::slice::from_ref(&id), &[])
            .await?;
        if !entries.is_empty() {
            self.modify(&id, entries, &[]).await?;
        }
        Ok(id)
    }

    async fn resize(&mut self, id: &str, max_entries: usize) -> Result<(), AwsError> {
        const OP: &str = "ec2:ModifyManagedPrefixList";
        // A size change is not a new version: no CurrentVersion is needed.
        self.clients
            .ec2
            .modify_managed_prefix_list()
            .prefix_list_id(id)
            .set_prefix_list_name(self.names.get(id).cloned())
            .max_entries(max_entries as i32)
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        // A group that cannot take the bigger list fails the change asynchronously.
        let version = finished(&self.clients.ec2, id, OP).await?;
        self.versions.insert(id.to_string(), version);
        Ok(())
    }

    async fn modify(
        &mut self,
        id: &str,
        add: &[IpNet],
        remove: &[IpNet],
    ) -> Result<(usize, usize), AwsError> {
        const OP: &str = "ec2:ModifyManagedPrefixList";
        let (mut add, mut remove) = (add.to_vec(), remove.to_vec());
        for attempt in 0..5 {
            let version = match (attempt, self.versions.get(id)) {
                (0, Some(v)) => *v,
                _ => settled(&self.clients.ec2, id).await?.version,
            };
            if attempt > 0 {
                // Someone (a crashed or concurrent run) changed the list: send only what is still to do.
                let present = entries(&self.clients.ec2, id).await?;
                add.retain(|n| !present.contains(n));
                remove.retain(|n| present.contains(n));
                if add.is_empty() && remove.is_empty() {
                    return Ok((0, 0));
                }
            }
            let sent = self
                .clients
                .ec2
                .modify_managed_prefix_list()
                .prefix_list_id(id)
                .current_version(version as i64)
                .set_prefix_list_name(self.names.get(id).cloned())
                .set_add_entries(
                    (!add.is_empty()).then(|| add.iter().map(|n| self.add_entry(n)).collect()),
                )
                .set_remove_entries((!remove.is_empty()).then(|| {
                    remove
                        .iter()
                        .map(|n| RemovePrefixListEntry::builder().cidr(n.to_string()).build())
                        .collect()
                }))
                .send()
                .await
                .map_err(|e| sdk_error(OP, e));
            match sent {
                Ok(_) => {
                    let version = finished(&self.clients.ec2, id, OP).await?;
                    self.versions.insert(id.to_string(), version);
                    return Ok((add.len(), remove.len()));
                }
                Err(e) if version_conflict(&e) || e.is("InvalidPrefixListModification") => {
                    warn!(
                        list = id,
                        code = e.code.as_deref().unwrap_or_default(),
                        "the list changed meanwhile: reading it again"
                    );
                }
                Err(e) => return Err(e),
            }
        }
        Err(AwsError::other(
            OP,
            format!("prefix list {id} kept changing under this run; the next run continues"),
        ))
    }

    async fn delete(&mut self, id: &str) -> Result<bool, AwsError> {
        let deleted = self.delete_list(id).await?;
        if deleted {
            let id = id.to_string();
            self.record.update(&self.owner, &[], &[id]).await?;
        }
        Ok(deleted)
    }

    async fn adopt(&mut self, ids: &[String]) -> Result<(), AwsError> {
        self.record.update(&self.owner, ids, &[]).await
    }

    async fn reclaim(&mut self, id: &str) -> Result<bool, AwsError> {
        self.delete_list(id).await
    }

    async fn forget(&mut self, ids: &[String]) -> Result<(), AwsError> {
        self.record.update(&self.owner, &[], ids).await
    }

    async fn record_synctoken(&mut self, ids: &[String], synctoken: u64) -> Result<(), AwsError> {
        self.clients
            .ec2
            .create_tags()
            .set_resources(Some(ids.to_vec()))
            .tags(
                Tag::builder()
                    .key(TAG_SYNCTOKEN)
                    .value(synctoken.to_string())
                    .build(),
            )
            .send()
            .await
            .map_err(|e| sdk_error("ec2:CreateTags", e))?;
        Ok(())
    }
}

impl AwsLists<'_> {
    /// Deletes a list and waits until it is gone; `false` when something references it (EC2 keeps
    /// it).
    async fn delete_list(&mut self, id: &str) -> Result<bool, AwsError> {
        const OP: &str = "ec2:DeleteManagedPrefixList";
        let not_found = |e: &AwsError| {
            e.is("InvalidPrefixListID.NotFound") || e.is("InvalidPrefixListId.NotFound")
        };
        let deleted = self
            .clients
            .ec2
            .delete_managed_prefix_list()
            .prefix_list_id(id)
            .send()
            .await
            .map_err(|e| sdk_error(OP, e));
        match deleted {
            Ok(_) => {}
            Err(e) if not_found(&e) => return Ok(true),
            Err(e) if e.is("InvalidPrefixListModification") || e.is("DependencyViolation") => {
                info!(list = id, "still referenced: kept");
                return Ok(false);
            }
            Err(e) => return Err(e),
        }
        // A list something references fails to delete asynchronously (`delete-failed`).
        let mut wait = Duration::from_millis(200);
        for _ in 0..25 {
            let out = self
                .clients
                .ec2
                .describe_managed_prefix_lists()
                .prefix_list_ids(id)
                .send()
                .await
                .map_err(|e| sdk_error("ec2:DescribeManagedPrefixLists", e));
            let state = match out {
                Ok(out) => out.prefix_lists().first().and_then(|l| l.state().cloned()),
                Err(e) if not_found(&e) => None,
                Err(e) => return Err(e),
            };
            match state {
                None | Some(PrefixListState::DeleteComplete) => return Ok(true),
                Some(PrefixListState::DeleteFailed) => {
                    info!(list = id, "still referenced: kept");
                    return Ok(false);
                }
                Some(_) => {
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(3));
                }
            }
        }
        Err(AwsError::other(
            OP,
            format!(
                "prefix list {id} is still being deleted after a minute; the next run looks again"
            ),
        ))
    }
}
