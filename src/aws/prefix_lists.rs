//! Customer-managed prefix lists on EC2: the lists this deployment owns and their entries; the writes
//! a plan asks for, with `CurrentVersion` as an optimistic lock (a list modified in between is read
//! again, and only what is still to do is sent); the check that a bigger list still fits every
//! security group that references it; and the RAM share that lets other accounts reference the lists.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{
    AddPrefixListEntry, Filter, ManagedPrefixList, PrefixListState, RemovePrefixListEntry,
    ResourceType, Tag, TagSpecification,
};
use ipnet::IpNet;
use tracing::{info, warn};

use super::{TAG_DEPLOYMENT, TAG_PREFIX, TAG_SYNCTOKEN, sdk_error};
use crate::error::AwsError;
use crate::ownership::{Claim, Conflict, Ownership};
use crate::prefix_lists::{ListApi, Observed, ObservedList};
use crate::rule::{Family, PerFamily};

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

fn tag<'a>(tags: &'a [Tag], key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
}

fn family_of(list: &ManagedPrefixList) -> Option<Family> {
    match list.address_family()? {
        "IPv4" => Some(Family::V4),
        "IPv6" => Some(Family::V6),
        _ => None,
    }
}

fn family_stem(owner: &Ownership, family: Family) -> Ownership {
    Ownership {
        stem: format!("{}-{}", owner.stem, family.tag()),
        ..owner.clone()
    }
}

/// The entries of one list.
async fn entries(ec2: &Client, id: &str) -> Result<BTreeSet<IpNet>, AwsError> {
    const OP: &str = "ec2:GetManagedPrefixListEntries";
    let mut pages = ec2
        .get_managed_prefix_list_entries()
        .prefix_list_id(id)
        .max_results(1000)
        .into_paginator()
        .send();
    let mut out = BTreeSet::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk_error(OP, e))?;
        for entry in page.entries() {
            let cidr = entry.cidr().unwrap_or_default();
            let net: IpNet = cidr
                .parse()
                .map_err(|_| AwsError::malformed(OP, &format!("valid CIDR (got {cidr:?})")))?;
            out.insert(net);
        }
    }
    Ok(out)
}

/// One list's description by id (state, version, size).
async fn describe(ec2: &Client, id: &str) -> Result<ManagedPrefixList, AwsError> {
    const OP: &str = "ec2:DescribeManagedPrefixLists";
    let out = ec2
        .describe_managed_prefix_lists()
        .prefix_list_ids(id)
        .send()
        .await
        .map_err(|e| sdk_error(OP, e))?;
    out.prefix_lists()
        .first()
        .cloned()
        .ok_or_else(|| AwsError::malformed(OP, "prefix list"))
}

/// A list once its last change has finished.
struct Settled {
    version: u64,
    /// `StateMessage` when that change failed (`create-failed`, `modify-failed`): AWS keeps the list
    /// as it was before the change.
    failed: Option<String>,
}

impl Settled {
    /// A list already read in a settled state.
    fn of(list: &ManagedPrefixList) -> Settled {
        let failed = match list.state() {
            Some(
                state @ (PrefixListState::CreateFailed
                | PrefixListState::ModifyFailed
                | PrefixListState::RestoreFailed
                | PrefixListState::DeleteFailed),
            ) => Some(format!(
                "{}: {}",
                state.as_str(),
                list.state_message().unwrap_or("no message")
            )),
            _ => None,
        };
        Settled {
            version: list.version().unwrap_or(0).max(0) as u64,
            failed,
        }
    }
}

/// Waits until a list has finished its last change: EC2 applies changes asynchronously (a modify
/// answers `modify-in-progress` with the old version) and refuses the next one meanwhile
/// (`IncorrectState`).
async fn settled(ec2: &Client, id: &str) -> Result<Settled, AwsError> {
    let mut wait = Duration::from_millis(200);
    for _ in 0..25 {
        let list = describe(ec2, id).await?;
        let in_progress = matches!(
            list.state(),
            Some(
                PrefixListState::CreateInProgress
                    | PrefixListState::ModifyInProgress
                    | PrefixListState::RestoreInProgress
                    | PrefixListState::DeleteInProgress
            )
        );
        if !in_progress {
            return Ok(Settled::of(&list));
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(3));
    }
    Err(AwsError::other(
        "ec2:DescribeManagedPrefixLists",
        format!("prefix list {id} is still changing after a minute; the next run continues"),
    ))
}

/// Waits for the change this run just asked for; its asynchronous failure is this call's error.
async fn finished(ec2: &Client, id: &str, operation: &'static str) -> Result<u64, AwsError> {
    let s = settled(ec2, id).await?;
    match s.failed {
        None => Ok(s.version),
        Some(why) => Err(AwsError::other(
            operation,
            format!(
                "EC2 could not apply the change to prefix list {id} ({why}); the list is as it was before"
            ),
        )),
    }
}

/// The lists tagged with this deployment's prefix, classified by name and deployment tag, with their
/// entries (one `GetManagedPrefixListEntries` per owned list).
pub(crate) async fn observe(ec2: &Client, owner: &Ownership) -> Result<Observed, AwsError> {
    const OP: &str = "ec2:DescribeManagedPrefixLists";
    let mut pages = ec2
        .describe_managed_prefix_lists()
        .filters(filter(&format!("tag:{TAG_PREFIX}"), &owner.prefix))
        .into_paginator()
        .send();
    let mut observed = Observed::default();
    let mut names = BTreeSet::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk_error(OP, e))?;
        for list in page.prefix_lists() {
            let (Some(id), Some(name), Some(family)) = (
                list.prefix_list_id(),
                list.prefix_list_name(),
                family_of(list),
            ) else {
                continue;
            };
            let gone = matches!(
                list.state(),
                Some(PrefixListState::DeleteComplete | PrefixListState::DeleteInProgress)
            );
            if gone {
                continue;
            }
            let deployment = tag(list.tags(), TAG_DEPLOYMENT);
            match family_stem(owner, family).claim(name, deployment) {
                Claim::Own => {}
                Claim::Conflict { deployment } => {
                    observed.conflicts.push(Conflict {
                        id: id.to_string(),
                        name: name.to_string(),
                        deployment,
                    });
                    continue;
                }
                // Lists are new in sgsync: none was made without a deployment tag.
                Claim::Legacy | Claim::OtherService | Claim::Stray => continue,
            }
            // EC2 does not keep names unique: a second list of one name (two runs at once) is
            // emptied and deleted under a name of its own.
            let name = if names.insert(name.to_string()) {
                name.to_string()
            } else {
                observed.warnings.push(format!(
                    "prefix lists {name} exist twice; {id} is emptied and deleted (two runs at once?)"
                ));
                format!("{name}#{id}")
            };
            let state = match list.state() {
                Some(
                    PrefixListState::CreateInProgress
                    | PrefixListState::ModifyInProgress
                    | PrefixListState::RestoreInProgress,
                ) => settled(ec2, id).await?,
                _ => Settled::of(list),
            };
            if let Some(why) = state.failed {
                observed.warnings.push(format!(
                    "prefix list {name} ({id}): its last change failed ({why}); AWS kept it as it was"
                ));
            }
            observed.lists.push(ObservedList {
                id: id.to_string(),
                name,
                family,
                max_entries: list.max_entries().unwrap_or(0).max(0) as usize,
                version: state.version,
                entries: entries(ec2, id).await?,
                synctoken: tag(list.tags(), TAG_SYNCTOKEN).and_then(|v| v.parse().ok()),
            });
        }
    }
    Ok(observed)
}

/// A `ModifyManagedPrefixList` that lost the race: the list moved to another version meanwhile.
fn version_conflict(e: &AwsError) -> bool {
    e.is("IncorrectState")
        || (e.is("InvalidParameterValue") && e.message.to_ascii_lowercase().contains("version"))
        || e.is("PrefixListVersionMismatch")
}

/// The prefix-list kind's [`ListApi`] on EC2.
pub(crate) struct AwsLists<'a> {
    ec2: &'a Client,
    owner: &'a Ownership,
    /// Each entry's description: the service it comes from.
    description: &'a str,
    /// Names by id: `ModifyManagedPrefixList` is sent with the name (moto drops a name a
    /// modification leaves out; AWS keeps it either way).
    names: BTreeMap<String, String>,
    /// The version each list had after its last change this run saw: the `CurrentVersion` of the next
    /// modification, without a read (a list changed meanwhile answers `PrefixListVersionMismatch`).
    versions: BTreeMap<String, u64>,
}

impl<'a> AwsLists<'a> {
    pub(crate) fn new(
        ec2: &'a Client,
        owner: &'a Ownership,
        description: &'a str,
        observed: &Observed,
    ) -> Self {
        AwsLists {
            ec2,
            owner,
            description,
            names: observed
                .lists
                .iter()
                .map(|l| {
                    (
                        l.id.clone(),
                        l.name.split('#').next().unwrap_or(&l.name).to_string(),
                    )
                })
                .collect(),
            versions: observed
                .lists
                .iter()
                .map(|l| (l.id.clone(), l.version))
                .collect(),
        }
    }

    fn add_entry(&self, net: &IpNet) -> AddPrefixListEntry {
        AddPrefixListEntry::builder()
            .cidr(net.to_string())
            .description(self.description)
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
            .ec2
            .create_managed_prefix_list()
            .prefix_list_name(name)
            .address_family(family.to_string())
            .max_entries(max_entries as i32)
            .set_entries(Some(entries.iter().map(|n| self.add_entry(n)).collect()))
            .tag_specifications(tags)
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        let id = out
            .prefix_list()
            .and_then(|l| l.prefix_list_id())
            .ok_or_else(|| AwsError::malformed(OP, "prefix list id"))?
            .to_string();
        let version = finished(self.ec2, &id, OP).await?;
        self.names.insert(id.clone(), name.to_string());
        self.versions.insert(id.clone(), version);
        Ok(id)
    }

    async fn resize(&mut self, id: &str, max_entries: usize) -> Result<(), AwsError> {
        const OP: &str = "ec2:ModifyManagedPrefixList";
        // A size change is not a new version: no CurrentVersion is needed.
        self.ec2
            .modify_managed_prefix_list()
            .prefix_list_id(id)
            .set_prefix_list_name(self.names.get(id).cloned())
            .max_entries(max_entries as i32)
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        // A group that cannot take the bigger list fails the change asynchronously.
        let version = finished(self.ec2, id, OP).await?;
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
                _ => settled(self.ec2, id).await?.version,
            };
            if attempt > 0 {
                // Someone (a crashed or concurrent run) changed the list: send only what is still to do.
                let present = entries(self.ec2, id).await?;
                add.retain(|n| !present.contains(n));
                remove.retain(|n| present.contains(n));
                if add.is_empty() && remove.is_empty() {
                    return Ok((0, 0));
                }
            }
            let sent = self
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
                    let version = finished(self.ec2, id, OP).await?;
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
        const OP: &str = "ec2:DeleteManagedPrefixList";
        let not_found = |e: &AwsError| {
            e.is("InvalidPrefixListID.NotFound") || e.is("InvalidPrefixListId.NotFound")
        };
        let deleted = self
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

    async fn record_synctoken(&mut self, ids: &[String], synctoken: u64) -> Result<(), AwsError> {
        self.ec2
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

/// What references list `id`: security groups, route tables, firewalls …, of this account and of
/// the accounts it is shared with.
pub(crate) async fn references(ec2: &Client, id: &str) -> Result<Vec<String>, AwsError> {
    const OP: &str = "ec2:GetManagedPrefixListAssociations";
    let mut pages = ec2
        .get_managed_prefix_list_associations()
        .prefix_list_id(id)
        .max_results(255)
        .into_paginator()
        .send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk_error(OP, e))?;
        out.extend(
            page.prefix_list_associations()
                .iter()
                .filter_map(|a| a.resource_id())
                .map(str::to_string),
        );
    }
    Ok(out)
}

/// Refuses to raise list `id` to `to` entries when a security group that references it would then
/// exceed its rules quota (`rules_per_group`, per family): a list weighs its `MaxEntries` in every rule
/// that references it, and AWS refuses such a resize (or, worse, the group's next change).
pub(crate) async fn check_resize(
    ec2: &Client,
    id: &str,
    name: &str,
    family: Family,
    to: usize,
    rules_per_group: usize,
) -> Result<(), AwsError> {
    let groups: Vec<String> = references(ec2, id)
        .await?
        .into_iter()
        .filter(|r| r.starts_with("sg-"))
        .collect();
    if groups.is_empty() {
        return Ok(());
    }
    let out = ec2
        .describe_security_groups()
        .set_group_ids(Some(groups))
        .send()
        .await
        .map_err(|e| sdk_error("ec2:DescribeSecurityGroups", e))?;
    let mut weights: BTreeMap<String, (Family, usize)> = BTreeMap::new();
    for g in out.security_groups() {
        let mut used = PerFamily::default();
        for p in g.ip_permissions() {
            used.v4 += p.ip_ranges().len() + p.user_id_group_pairs().len();
            used.v6 += p.ipv6_ranges().len() + p.user_id_group_pairs().len();
            for reference in p.prefix_list_ids() {
                let Some(pl) = reference.prefix_list_id() else {
                    continue;
                };
                let (pl_family, weight) = if pl == id {
                    (family, to)
                } else {
                    match weights.get(pl) {
                        Some(w) => *w,
                        None => {
                            let list = describe(ec2, pl).await?;
                            let w = (
                                family_of(&list).unwrap_or(Family::V4),
                                list.max_entries().unwrap_or(0).max(0) as usize,
                            );
                            weights.insert(pl.to_string(), w);
                            w
                        }
                    }
                };
                *used.get_mut(pl_family) += weight;
            }
        }
        if used.get(family) > rules_per_group {
            return Err(AwsError::other(
                "sgsync:prefix-list-size",
                format!(
                    "prefix list {name} ({id}) needs {to} entries, but security group {} ({}) references it and \
                     would then count {} {family} rules (a list counts its max entries in each rule that \
                     references it), over its quota of {rules_per_group}; nothing was changed. Lower \
                     PREFIX_LIST_MAX_ENTRIES (more, smaller lists), reference the list from fewer rules of that \
                     group, or raise the rules-per-group quota (L-0EA8095F)",
                    g.group_id().unwrap_or("?"),
                    g.group_name().unwrap_or("?"),
                    used.get(family)
                ),
            ));
        }
    }
    Ok(())
}
