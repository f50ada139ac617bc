//! Sharing the managed prefix lists with other accounts through AWS RAM (`SHARE_WITH`): one resource
//! share per deployment, `{stem}-prefix-lists`, holding every managed list and every principal named.
//! Each run adds what is missing (a new list, a new principal) and nothing else: a run with nothing new
//! makes no write, and a principal dropped from `SHARE_WITH` is reported, not withdrawn. The share is
//! this deployment's when its record (`/sgsync/<DEPLOYMENT_ID>/prefix-lists`) holds the share's ARN.

use std::collections::BTreeSet;

use aws_sdk_ram::Client;
use aws_sdk_ram::types::{
    ResourceOwner, ResourceShareAssociationStatus, ResourceShareAssociationType, Tag,
};

use super::record::Record;
use super::{TAG_DEPLOYMENT, TAG_PREFIX, sdk_error};
use crate::error::AwsError;
use crate::ownership::Ownership;
use crate::prefix_lists::ShareState;

async fn associated(
    ram: &Client,
    share: &str,
    kind: ResourceShareAssociationType,
) -> Result<BTreeSet<String>, AwsError> {
    const OP: &str = "ram:GetResourceShareAssociations";
    let mut out = BTreeSet::new();
    let mut next: Option<String> = None;
    loop {
        let page = ram
            .get_resource_share_associations()
            .association_type(kind.clone())
            .resource_share_arns(share)
            .set_next_token(next.clone())
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        for a in page.resource_share_associations() {
            let live = matches!(
                a.status(),
                Some(
                    ResourceShareAssociationStatus::Associated
                        | ResourceShareAssociationStatus::Associating
                )
            );
            if let (true, Some(entity)) = (live, a.associated_entity()) {
                out.insert(entity.to_string());
            }
        }
        next = page.next_token().map(str::to_string);
        if next.is_none() {
            return Ok(out);
        }
    }
}

/// What the deployment says about its share: who it is, what it recorded (and where), and its
/// settings.
pub(super) struct Deployment<'a> {
    pub(super) owner: &'a Ownership,
    pub(super) recorded: &'a BTreeSet<String>,
    pub(super) record: &'a str,
    /// `--adopt`.
    pub(super) adopt: bool,
    /// `ALLOW_EXTERNAL_SHARE`.
    pub(super) allow_external: bool,
}

/// Reads the deployment's share against `lists` (prefix-list ARNs) and `principals` (account ids,
/// OU or organization ARNs). The share is this deployment's when its record holds the share's ARN and
/// it carries the deployment's tags and sharing setting (a record someone else wrote is refused); a
/// share of its name that it did not record is never used: adopted with `adopt` (`--adopt`) when it
/// carries the deployment's tags, reclaimed when it also shares nothing (a run stopped between
/// creating and recording it), otherwise reported and left alone (RAM does not keep names unique).
pub(super) async fn inspect(
    ram: &Client,
    deployment: &Deployment<'_>,
    lists: &[String],
    principals: &[String],
) -> Result<ShareState, AwsError> {
    let Deployment {
        owner,
        recorded,
        record,
        adopt,
        allow_external,
    } = *deployment;
    let name = format!("{}-prefix-lists", owner.stem);
    let found = ram
        .get_resource_shares()
        .resource_owner(ResourceOwner::SelfValue)
        .name(&name)
        .send()
        .await
        .map_err(|e| sdk_error("ram:GetResourceShares", e))?;
    let live = found
        .resource_shares()
        .iter()
        // The name is matched here too: the filter is a request, and an emulator may ignore it.
        .filter(|s| s.name() == Some(name.as_str()))
        .filter(|s| {
            s.status()
                .is_none_or(|st| matches!(st.as_str(), "ACTIVE" | "PENDING"))
        });
    let mut state = ShareState {
        name: name.clone(),
        ..ShareState::default()
    };
    for share in live {
        let Some(arn) = share.resource_share_arn() else {
            continue;
        };
        let tag = |k: &str| {
            share
                .tags()
                .iter()
                .find(|t| t.key() == Some(k))
                .and_then(|t| t.value())
        };
        let ours = tag(TAG_PREFIX) == Some(owner.prefix.as_str())
            && tag(TAG_DEPLOYMENT) == Some(owner.deployment.as_str());
        if recorded.contains(arn) {
            // The record says so; the share must agree, or someone wrote the record.
            let external = share.allow_external_principals() == Some(true);
            if !ours || (external && !allow_external) {
                return Err(AwsError::other(
                    "ram:GetResourceShares",
                    format!(
                        "the RAM share {arn} is in this deployment's record ({record}) but {}; the lists are not \
                         shared through it. Take it out of the record (or fix the share), then run again",
                        if ours {
                            "allows principals outside the organization, which ALLOW_EXTERNAL_SHARE does not"
                        } else {
                            "does not carry this deployment's tags (someone else's share in the record?)"
                        }
                    ),
                ));
            }
            state.arn = Some(arn.to_string());
            continue;
        }
        if ours && adopt && state.arn.is_none() {
            state.arn = Some(arn.to_string());
            state.adopt = true;
            continue;
        }
        let empty = ours
            && associated(ram, arn, ResourceShareAssociationType::Resource)
                .await?
                .is_empty()
            && associated(ram, arn, ResourceShareAssociationType::Principal)
                .await?
                .is_empty();
        if empty && state.reclaim.is_none() {
            state.reclaim = Some(arn.to_string());
            continue;
        }
        // Someone else's share of this name: never used, only reported.
        state.unrecorded.push(arn.to_string());
    }
    let Some(arn) = state.arn.clone() else {
        state.missing_lists = lists.to_vec();
        state.missing_principals = principals.to_vec();
        return Ok(state);
    };
    let have_lists = associated(ram, &arn, ResourceShareAssociationType::Resource).await?;
    let have_principals = associated(ram, &arn, ResourceShareAssociationType::Principal).await?;
    let wanted: BTreeSet<&String> = principals.iter().collect();
    state.missing_lists = lists
        .iter()
        .filter(|l| !have_lists.contains(*l))
        .cloned()
        .collect();
    state.missing_principals = principals
        .iter()
        .filter(|p| !have_principals.contains(*p))
        .cloned()
        .collect();
    state.extra_principals = have_principals
        .iter()
        .filter(|p| !wanted.contains(p))
        .cloned()
        .collect();
    Ok(state)
}

/// Adds what `state` lacks; returns the share's ARN. A new share is created empty and recorded
/// before it shares anything, so a run that stops in between leaves an empty share the next run
/// reclaims.
pub(super) async fn complete(
    ram: &Client,
    record: &Record<'_>,
    owner: &Ownership,
    state: &ShareState,
    allow_external: bool,
) -> Result<String, AwsError> {
    if let Some(stale) = &state.reclaim {
        ram.delete_resource_share()
            .resource_share_arn(stale)
            .send()
            .await
            .map_err(|e| sdk_error("ram:DeleteResourceShare", e))?;
    }
    let arn = match &state.arn {
        Some(arn) => {
            if state.adopt {
                record.update(owner, std::slice::from_ref(arn), &[]).await?;
            }
            arn.clone()
        }
        None => {
            const OP: &str = "ram:CreateResourceShare";
            let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
            let created = ram
                .create_resource_share()
                .name(&state.name)
                // Inside the organization only, unless ALLOW_EXTERNAL_SHARE says otherwise (then an
                // outside principal must accept RAM's invitation); the role's policy pins the same.
                .allow_external_principals(allow_external)
                .tags(tag(TAG_PREFIX, &owner.prefix))
                .tags(tag(TAG_DEPLOYMENT, &owner.deployment))
                .send()
                .await
                .map_err(|e| sdk_error(OP, e))?;
            let arn = created
                .resource_share()
                .and_then(|s| s.resource_share_arn())
                .map(str::to_string)
                .ok_or_else(|| AwsError::malformed(OP, "resource share ARN"))?;
            record
                .update(owner, std::slice::from_ref(&arn), &[])
                .await?;
            arn
        }
    };
    if state.missing_lists.is_empty() && state.missing_principals.is_empty() {
        return Ok(arn);
    }
    ram.associate_resource_share()
        .resource_share_arn(&arn)
        .set_resource_arns((!state.missing_lists.is_empty()).then(|| state.missing_lists.clone()))
        .set_principals(
            (!state.missing_principals.is_empty()).then(|| state.missing_principals.clone()),
        )
        .send()
        .await
        .map_err(|e| sdk_error("ram:AssociateResourceShare", e))?;
    Ok(arn)
}
