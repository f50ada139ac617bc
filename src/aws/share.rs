//! Sharing the managed prefix lists with other accounts through AWS RAM (`SHARE_WITH`): one resource
//! share per deployment, `{stem}-prefix-lists`, holding every managed list and every principal named.
//! Each run adds what is missing (a new list, a new principal) and nothing else: a run with nothing new
//! makes no write, and a principal dropped from `SHARE_WITH` is reported, not withdrawn.

use std::collections::BTreeSet;

use aws_sdk_ram::Client;
use aws_sdk_ram::types::{
    ResourceOwner, ResourceShareAssociationStatus, ResourceShareAssociationType, Tag,
};

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

/// Reads the deployment's share against `lists` (prefix-list ARNs) and `principals` (account ids,
/// OU or organization ARNs).
pub(super) async fn inspect(
    ram: &Client,
    owner: &Ownership,
    lists: &[String],
    principals: &[String],
) -> Result<ShareState, AwsError> {
    let name = format!("{}-prefix-lists", owner.stem);
    let found = ram
        .get_resource_shares()
        .resource_owner(ResourceOwner::SelfValue)
        .name(&name)
        .send()
        .await
        .map_err(|e| sdk_error("ram:GetResourceShares", e))?;
    let arn = found
        .resource_shares()
        .iter()
        // The name is matched here too: the filter is a request, and an emulator may ignore it.
        .filter(|s| s.name() == Some(name.as_str()))
        .filter(|s| {
            s.status()
                .is_none_or(|st| matches!(st.as_str(), "ACTIVE" | "PENDING"))
        })
        .find_map(|s| s.resource_share_arn().map(str::to_string));
    let Some(arn) = arn else {
        return Ok(ShareState {
            name,
            arn: None,
            missing_lists: lists.to_vec(),
            missing_principals: principals.to_vec(),
            extra_principals: Vec::new(),
        });
    };
    let have_lists = associated(ram, &arn, ResourceShareAssociationType::Resource).await?;
    let have_principals = associated(ram, &arn, ResourceShareAssociationType::Principal).await?;
    let wanted: BTreeSet<&String> = principals.iter().collect();
    Ok(ShareState {
        name,
        missing_lists: lists
            .iter()
            .filter(|l| !have_lists.contains(*l))
            .cloned()
            .collect(),
        missing_principals: principals
            .iter()
            .filter(|p| !have_principals.contains(*p))
            .cloned()
            .collect(),
        extra_principals: have_principals
            .iter()
            .filter(|p| !wanted.contains(p))
            .cloned()
            .collect(),
        arn: Some(arn),
    })
}

/// Adds what `state` lacks (creating the share, tagged as owned, when there is none); returns its ARN.
pub(super) async fn complete(
    ram: &Client,
    owner: &Ownership,
    state: &ShareState,
    allow_external: bool,
) -> Result<String, AwsError> {
    let Some(arn) = &state.arn else {
        let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
        let created = ram
            .create_resource_share()
            .name(&state.name)
            .set_resource_arns(Some(state.missing_lists.clone()))
            .set_principals(Some(state.missing_principals.clone()))
            // Inside the organization only, unless ALLOW_EXTERNAL_SHARE says otherwise (then an
            // outside principal must accept RAM's invitation); the role's policy pins the same.
            .allow_external_principals(allow_external)
            .tags(tag(TAG_PREFIX, &owner.prefix))
            .tags(tag(TAG_DEPLOYMENT, &owner.deployment))
            .send()
            .await
            .map_err(|e| sdk_error("ram:CreateResourceShare", e))?;
        return created
            .resource_share()
            .and_then(|s| s.resource_share_arn())
            .map(str::to_string)
            .ok_or_else(|| AwsError::malformed("ram:CreateResourceShare", "resource share ARN"));
    };
    if state.missing_lists.is_empty() && state.missing_principals.is_empty() {
        return Ok(arn.clone());
    }
    ram.associate_resource_share()
        .resource_share_arn(arn)
        .set_resource_arns((!state.missing_lists.is_empty()).then(|| state.missing_lists.clone()))
        .set_principals(
            (!state.missing_principals.is_empty()).then(|| state.missing_principals.clone()),
        )
        .send()
        .await
        .map_err(|e| sdk_error("ram:AssociateResourceShare", e))?;
    Ok(arn.clone())
}
