//! Reading prefix lists: the lists this deployment owns and their entries, what references a list,
//! and the security groups that reference the lists, as the resize check needs them.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{Filter, ManagedPrefixList, PrefixListState, Tag};
use ipnet::IpNet;

use super::state::{Settled, describe, settled};
use crate::aws::record::unrecorded_warning;
use crate::aws::{TAG_DEPLOYMENT, TAG_PREFIX, TAG_SYNCTOKEN, sdk_error};
use crate::error::AwsError;
use crate::ownership::{Claim, Ownership, Unrecorded};
use crate::prefix_lists::{Observed, ObservedList, Referencing, Retiring};
use crate::rule::{Family, PerFamily};

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

pub(super) fn tag<'a>(tags: &'a [Tag], key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
}

pub(super) fn family_of(list: &ManagedPrefixList) -> Option<Family> {
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
pub(super) async fn entries(ec2: &Client, id: &str) -> Result<BTreeSet<IpNet>, AwsError> {
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

/// The lists this deployment recorded, and those tagged with its prefix (to see the others); each
/// owned list with its entries (one `GetManagedPrefixListEntries` per list); and the account that
/// owns them. `adopt` (`--adopt`): lists carrying this deployment's tags and name that it did not
/// record are taken over.
pub(super) async fn observe(
    ec2: &Client,
    owner: &Ownership,
    recorded: &BTreeSet<String>,
    record: &str,
    adopt: bool,
) -> Result<(Observed, Option<String>), AwsError> {
    let mut observed = Observed::default();
    let mut account = None;
    let mut names = BTreeSet::new();
    let mut seen = BTreeSet::new();
    let tagged = describe_all(ec2, filter(&format!("tag:{TAG_PREFIX}"), &owner.prefix)).await?;
    // A recorded list whose prefix tag someone removed is still this deployment's: read by id.
    let untagged: Vec<String> = recorded
        .iter()
        .filter(|id| {
            !tagged
                .iter()
                .any(|l| l.prefix_list_id() == Some(id.as_str()))
        })
        .cloned()
        .collect();
    let by_id = match untagged.is_empty() {
        true => Vec::new(),
        false => {
            let ids = Filter::builder()
                .name("prefix-list-id")
                .set_values(Some(untagged))
                .build();
            describe_all(ec2, ids).await?
        }
    };
    for list in tagged.iter().chain(&by_id) {
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
        if gone || !seen.insert(id.to_string()) {
            continue;
        }
        let deployment = tag(list.tags(), TAG_DEPLOYMENT);
        let stem = family_stem(owner, family);
        let mut adopted = false;
        if recorded.contains(id) {
            if tag(list.tags(), TAG_PREFIX) != Some(owner.prefix.as_str())
                || deployment != Some(owner.deployment.as_str())
            {
                // The role may change only lists carrying both tags: no longer synced.
                observed.errors.push(format!(
                    "prefix list {name} ({id}) is in this deployment's record but no longer carries its tags \
                     (sgsync:prefix={}, sgsync:deployment={}): it is left as it is; put the tags back",
                    owner.prefix, owner.deployment
                ));
                observed.taken.insert(name.to_string());
                continue;
            }
            if !stem.names(name) {
                let refs = references(ec2, id).await?;
                if !refs.is_empty() {
                    observed.errors.push(format!(
                        "prefix list {name} ({id}) is of an earlier SERVICE or PREFIX_NAME and no longer synced, but \
                         {} still reference it: move those references to this deployment's current lists (or \
                         delete them), then the next run deletes it",
                        refs.join(", ")
                    ));
                }
                observed.retiring.push(Retiring {
                    id: id.to_string(),
                    name: name.to_string(),
                    references: refs,
                });
                continue;
            }
        } else {
            match stem.claim(name, deployment) {
                Claim::Own if adopt => adopted = true,
                Claim::Own => {
                    // Made and not recorded: a run stopped in between, or someone wrote the tags.
                    let reclaimable =
                        entries(ec2, id).await?.is_empty() && references(ec2, id).await?.is_empty();
                    let u = Unrecorded {
                        id: id.to_string(),
                        name: name.to_string(),
                        reclaimable,
                    };
                    if !reclaimable {
                        observed
                            .warnings
                            .push(unrecorded_warning("prefix list", &u, record));
                    }
                    observed.unrecorded.push(u);
                    continue;
                }
                Claim::Legacy => {
                    let u = Unrecorded {
                        id: id.to_string(),
                        name: name.to_string(),
                        reclaimable: false,
                    };
                    observed
                        .warnings
                        .push(unrecorded_warning("prefix list", &u, record));
                    observed.unrecorded.push(u);
                    continue;
                }
                // Another deployment's: its name is skipped.
                Claim::Conflict { .. } => {
                    observed.taken.insert(name.to_string());
                    continue;
                }
                Claim::OtherService | Claim::Stray => continue,
            }
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
        account = account.or(list.owner_id().map(str::to_string));
        observed.lists.push(ObservedList {
            id: id.to_string(),
            name,
            family,
            max_entries: list.max_entries().unwrap_or(0).max(0) as usize,
            version: state.version,
            entries: entries(ec2, id).await?,
            synctoken: tag(list.tags(), TAG_SYNCTOKEN).and_then(|v| v.parse().ok()),
            adopt: adopted,
        });
    }
    observed.missing = recorded
        .iter()
        .filter(|id| id.starts_with("pl-") && !seen.contains(*id))
        .cloned()
        .collect();
    Ok((observed, account))
}

/// Every list `filter` selects, all pages.
async fn describe_all(ec2: &Client, filter: Filter) -> Result<Vec<ManagedPrefixList>, AwsError> {
    const OP: &str = "ec2:DescribeManagedPrefixLists";
    let mut pages = ec2
        .describe_managed_prefix_lists()
        .filters(filter)
        .into_paginator()
        .send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk_error(OP, e))?;
        out.extend(page.prefix_lists().iter().cloned());
    }
    Ok(out)
}

/// What references list `id`: security groups, route tables, firewalls …, of this account and of
/// the accounts it is shared with.
pub(super) async fn references(ec2: &Client, id: &str) -> Result<Vec<String>, AwsError> {
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

/// The security groups of `account` that reference any of `list_ids`, with the slots their other
/// entries take and every prefix-list reference they hold (each list's family and size read once);
/// and how many references from other accounts' resources were left out (a group in an account the
/// lists are shared with cannot be read with this account's credentials).
pub(super) async fn referencing(
    ec2: &Client,
    list_ids: &[String],
    account: Option<&str>,
) -> Result<(Vec<Referencing>, usize), AwsError> {
    const OP: &str = "ec2:GetManagedPrefixListAssociations";
    let mut groups = BTreeSet::new();
    let mut foreign = 0;
    for id in list_ids {
        let mut pages = ec2
            .get_managed_prefix_list_associations()
            .prefix_list_id(id)
            .max_results(255)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sdk_error(OP, e))?;
            for a in page.prefix_list_associations() {
                let Some(resource) = a.resource_id() else {
                    continue;
                };
                let ours = account.is_none() || a.resource_owner() == account;
                if !ours {
                    foreign += 1;
                } else if resource.starts_with("sg-") {
                    groups.insert(resource.to_string());
                }
            }
        }
    }
    if groups.is_empty() {
        return Ok((Vec::new(), foreign));
    }
    let out = ec2
        .describe_security_groups()
        .set_group_ids(Some(groups.into_iter().collect()))
        .send()
        .await
        .map_err(|e| sdk_error("ec2:DescribeSecurityGroups", e))?;
    let mut lists: BTreeMap<String, (Family, usize)> = BTreeMap::new();
    let mut found = Vec::new();
    for g in out.security_groups() {
        let mut slots = PerFamily::default();
        let mut refs = Vec::new();
        for p in g.ip_permissions() {
            slots.v4 += p.ip_ranges().len() + p.user_id_group_pairs().len();
            slots.v6 += p.ipv6_ranges().len() + p.user_id_group_pairs().len();
            for reference in p.prefix_list_ids() {
                let Some(pl) = reference.prefix_list_id() else {
                    continue;
                };
                let (family, size) = match lists.get(pl) {
                    Some(known) => *known,
                    None => {
                        let list = describe(ec2, pl).await?;
                        let known = (
                            family_of(&list).unwrap_or(Family::V4),
                            list.max_entries().unwrap_or(0).max(0) as usize,
                        );
                        lists.insert(pl.to_string(), known);
                        known
                    }
                };
                refs.push((pl.to_string(), family, size));
            }
        }
        found.push(Referencing {
            id: g.group_id().unwrap_or("?").to_string(),
            name: g.group_name().unwrap_or("?").to_string(),
            slots,
            lists: refs,
        });
    }
    Ok((found, foreign))
}

/// The ARNs of prefix lists, for sharing: `arn:aws:ec2:REGION:ACCOUNT:prefix-list/ID`.
pub(super) async fn arns(ec2: &Client, ids: &[String]) -> Result<Vec<String>, AwsError> {
    let out = ec2
        .describe_managed_prefix_lists()
        .set_prefix_list_ids(Some(ids.to_vec()))
        .send()
        .await
        .map_err(|e| sdk_error("ec2:DescribeManagedPrefixLists", e))?;
    Ok(out
        .prefix_lists()
        .iter()
        .filter_map(|l| l.prefix_list_arn().map(str::to_string))
        .collect())
}
