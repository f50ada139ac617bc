//! EC2 writes: one API call each (plus, when EC2 says part of the work was already done by a crashed or
//! concurrent run, one re-read and one call for the rest), so call counts stay predictable.

use std::collections::BTreeSet;
use std::future::Future;
use std::time::Duration;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{IpPermission, IpRange, ResourceType, Tag, TagSpecification};
use tracing::warn;

use super::permissions::permissions;
use super::read;
use super::{TAG_DEPLOYMENT, TAG_PREFIX, TAG_SYNCTOKEN};
use crate::aws::sdk_error;
use crate::error::AwsError;
use crate::ownership::Ownership;
use crate::rule::Rule;

/// Tags of a new managed group: its name, ownership (prefix and deployment) and the synctoken its
/// rules come from.
fn tags(name: &str, owner: &Ownership, synctoken: u64) -> TagSpecification {
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
    TagSpecification::builder()
        .resource_type(ResourceType::SecurityGroup)
        .tags(tag("Name", name))
        .tags(tag(TAG_PREFIX, &owner.prefix))
        .tags(tag(TAG_DEPLOYMENT, &owner.deployment))
        .tags(tag(TAG_SYNCTOKEN, &synctoken.to_string()))
        .build()
}

/// Retries a call that names a group while EC2 says the group does not exist: right after
/// `CreateSecurityGroup`, EC2 is eventually consistent, and a new group may be unknown to the next
/// call for a moment. A missing group is never taken for done work.
pub(crate) async fn eventually<T, Fut>(call: impl Fn() -> Fut) -> Result<T, AwsError>
where
    Fut: Future<Output = Result<T, AwsError>>,
{
    let mut wait = Duration::from_millis(200);
    for _ in 0..5 {
        match call().await {
            Err(e) if e.is("InvalidGroup.NotFound") || e.is("InvalidSecurityGroup") => {
                warn!(
                    operation = e.operation,
                    wait_ms = wait.as_millis() as u64,
                    "the group is not known yet (EC2 is eventually consistent): retrying"
                );
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
            other => return other,
        }
    }
    call().await
}

/// What a create found.
pub(crate) enum Created {
    /// A new group, without its default outbound rule.
    New(String),
    /// The name was taken, by this group (if it could be read).
    Taken(Option<String>, AwsError),
}

/// Creates a managed group, tagged at creation (no separate CreateTags call, and never an untagged
/// moment), and revokes the outbound rule EC2 gives it. A name already taken is reported with the
/// group that holds it: whether that is this deployment's is the record's to say.
pub(crate) async fn create_group(
    ec2: &Client,
    vpc_id: &str,
    name: &str,
    description: &str,
    owner: &Ownership,
    synctoken: u64,
) -> Result<Created, AwsError> {
    const OP: &str = "ec2:CreateSecurityGroup";
    let created = ec2
        .create_security_group()
        .vpc_id(vpc_id)
        .group_name(name)
        .description(description)
        .tag_specifications(tags(name, owner, synctoken))
        .send()
        .await;
    let err = match created {
        Ok(out) => {
            let id = out
                .group_id()
                .map(str::to_string)
                .ok_or_else(|| AwsError::malformed(OP, "group id"))?;
            revoke_default_outbound(ec2, &id).await?;
            return Ok(Created::New(id));
        }
        Err(e) => sdk_error(OP, e),
    };
    if !err.is("InvalidGroup.Duplicate") {
        return Err(err);
    }
    Ok(Created::Taken(
        read::group_named(ec2, vpc_id, name).await?,
        err,
    ))
}

/// Sends `rules` with `send`; when EC2 answers one of `redo_on` (some of the work was done already),
/// re-reads the group, keeps the rules `to_do` still says need the call, and sends those. Returns how
/// many rules this call changed.
async fn send_rest<Fut>(
    ec2: &Client,
    group_id: &str,
    rules: &[Rule],
    redo_on: &[&str],
    to_do: fn(&BTreeSet<Rule>, &Rule) -> bool,
    send: impl Fn(&[Rule]) -> Fut,
) -> Result<usize, AwsError>
where
    Fut: Future<Output = Result<usize, AwsError>>,
{
    let err = match send(rules).await {
        Ok(n) => return Ok(n),
        Err(err) if redo_on.iter().any(|code| err.is(code)) => err,
        Err(err) => return Err(err),
    };
    let present = read::entries(ec2, group_id).await?.rules;
    let rest: Vec<Rule> = rules
        .iter()
        .filter(|r| to_do(&present, r))
        .copied()
        .collect();
    warn!(
        group = group_id,
        done_already = rules.len() - rest.len(),
        code = err.code.as_deref().unwrap_or_default(),
        "EC2 refused the call; re-read the group and sending what is still to do"
    );
    if rest.is_empty() {
        return Ok(0);
    }
    send(&rest).await
}

/// Authorizes `rules` in one call. When EC2 says some already exist, or that the group is full (EC2
/// may count the duplicates before it notices them), the group is re-read and only the missing rules
/// are authorized. Returns how many were added.
pub(crate) async fn authorize(
    ec2: &Client,
    group_id: &str,
    rules: &[Rule],
    description: &str,
) -> Result<usize, AwsError> {
    const OP: &str = "ec2:AuthorizeSecurityGroupIngress";
    let send = |rules: &[Rule]| {
        let call = ec2
            .authorize_security_group_ingress()
            .group_id(group_id)
            .set_ip_permissions(Some(permissions(rules, Some(description))));
        let n = rules.len();
        async move { call.send().await.map(|_| n).map_err(|e| sdk_error(OP, e)) }
    };
    let redo_on = [
        "InvalidPermission.Duplicate",
        "RulesPerSecurityGroupLimitExceeded",
    ];
    let to_do = |present: &BTreeSet<Rule>, r: &Rule| !present.contains(r);
    eventually(|| send_rest(ec2, group_id, rules, &redo_on, to_do, &send)).await
}

/// Revokes `rules` in one call, named by CIDR and port. Rules already gone are not an error: the
/// group is re-read and only the present rules are revoked. Returns how many were removed.
pub(crate) async fn revoke(
    ec2: &Client,
    group_id: &str,
    rules: &[Rule],
) -> Result<usize, AwsError> {
    const OP: &str = "ec2:RevokeSecurityGroupIngress";
    let send = |rules: &[Rule]| {
        let call = ec2
            .revoke_security_group_ingress()
            .group_id(group_id)
            .set_ip_permissions(Some(permissions(rules, None)));
        let n = rules.len();
        async move {
            let out = call.send().await.map_err(|e| sdk_error(OP, e))?;
            // EC2 answers a revoke of some absent rules with success and lists them as unknown.
            let unknown = out.unknown_ip_permissions().len();
            if unknown > 0 {
                warn!(group = group_id, unknown, "some rules were already gone");
            }
            Ok(n.saturating_sub(unknown))
        }
    };
    let redo_on = ["InvalidPermission.NotFound"];
    send_rest(
        ec2,
        group_id,
        rules,
        &redo_on,
        |present, r| present.contains(r),
        send,
    )
    .await
}

/// Revokes every inbound entry of a managed group that sgsync does not model (all traffic, other
/// protocols, group or prefix-list sources): a managed group allows the published ranges and nothing
/// else, so anything added by hand is drift. The group is re-read first, so only what is there now is
/// revoked; returns how many entries were removed.
pub(crate) async fn revoke_unmanaged(ec2: &Client, group_id: &str) -> Result<usize, AwsError> {
    const OP: &str = "ec2:RevokeSecurityGroupIngress";
    let entries = read::entries(ec2, group_id).await?;
    let count = entries.unmanaged_entries();
    if count == 0 {
        return Ok(0);
    }
    let revoked = ec2
        .revoke_security_group_ingress()
        .group_id(group_id)
        .set_ip_permissions(Some(entries.unmanaged))
        .send()
        .await;
    match revoked.map_err(|e| sdk_error(OP, e)) {
        Ok(_) => Ok(count),
        // Removed meanwhile (a concurrent run, or by hand): what we wanted.
        Err(err) if err.is("InvalidPermission.NotFound") => Ok(0),
        Err(err) => Err(err),
    }
}

/// Revokes the outbound rule EC2 gives every new VPC group (all traffic to 0.0.0.0/0), right after
/// its creation and before it is attached anywhere: a managed group allows no outbound traffic. One call
/// naming exactly that rule; a group without it is done.
async fn revoke_default_outbound(ec2: &Client, group_id: &str) -> Result<(), AwsError> {
    const OP: &str = "ec2:RevokeSecurityGroupEgress";
    let all = IpPermission::builder()
        .ip_protocol("-1")
        .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
        .build();
    let revoked = eventually(|| async {
        ec2.revoke_security_group_egress()
            .group_id(group_id)
            .ip_permissions(all.clone())
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))
    })
    .await;
    match revoked {
        Ok(_) => Ok(()),
        Err(e) if e.is("InvalidPermission.NotFound") => Ok(()),
        Err(e) => Err(e),
    }
}

/// Revokes every outbound entry of a managed group, as it is now (re-read first); returns how many
/// entries were removed.
pub(crate) async fn revoke_outbound(ec2: &Client, group_id: &str) -> Result<usize, AwsError> {
    const OP: &str = "ec2:RevokeSecurityGroupEgress";
    let outbound = read::outbound(ec2, group_id).await?;
    let count = super::permissions::count(&outbound);
    if count == 0 {
        return Ok(0);
    }
    let revoked = ec2
        .revoke_security_group_egress()
        .group_id(group_id)
        .set_ip_permissions(Some(outbound))
        .send()
        .await;
    match revoked.map_err(|e| sdk_error(OP, e)) {
        Ok(_) => Ok(count),
        Err(err) if err.is("InvalidPermission.NotFound") => Ok(0),
        Err(err) => Err(err),
    }
}

/// Sets an interface's groups (all of them: foreign first, then managed) in one atomic call.
pub(crate) async fn set_interface_groups(
    ec2: &Client,
    interface_id: &str,
    group_ids: &[String],
) -> Result<(), AwsError> {
    eventually(|| async {
        ec2.modify_network_interface_attribute()
            .network_interface_id(interface_id)
            .set_groups(Some(group_ids.to_vec()))
            .send()
            .await
            .map_err(|e| sdk_error("ec2:ModifyNetworkInterfaceAttribute", e))
    })
    .await?;
    Ok(())
}

/// Deletes a managed group; one already gone is not an error.
/// Deletes a group; `false` when something still references it (EC2's `DependencyViolation`: a
/// rule of another group, an interface), after a few tries (a detach takes a moment to be seen).
pub(crate) async fn delete_group(ec2: &Client, group_id: &str) -> Result<bool, AwsError> {
    for wait in [500, 1000, 2000, 0] {
        let deleted = ec2.delete_security_group().group_id(group_id).send().await;
        match deleted.map_err(|e| sdk_error("ec2:DeleteSecurityGroup", e)) {
            Ok(_) => return Ok(true),
            Err(err) if err.is("InvalidGroup.NotFound") => {
                warn!(group = group_id, "group already deleted");
                return Ok(true);
            }
            Err(err) if err.is("DependencyViolation") && wait > 0 => {
                tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
            }
            Err(err) if err.is("DependencyViolation") => return Ok(false),
            Err(err) => return Err(err),
        }
    }
    Ok(false)
}

/// Writes one tag on groups, in one call.
async fn tag_groups(
    ec2: &Client,
    group_ids: &[String],
    key: &str,
    value: &str,
) -> Result<(), AwsError> {
    eventually(|| async {
        ec2.create_tags()
            .set_resources(Some(group_ids.to_vec()))
            .tags(Tag::builder().key(key).value(value).build())
            .send()
            .await
            .map_err(|e| sdk_error("ec2:CreateTags", e))
    })
    .await?;
    Ok(())
}

/// Records the applied synctoken on groups, in one call.
pub(crate) async fn record_synctoken(
    ec2: &Client,
    group_ids: &[String],
    synctoken: u64,
) -> Result<(), AwsError> {
    tag_groups(ec2, group_ids, TAG_SYNCTOKEN, &synctoken.to_string()).await
}

/// Tags groups an sgsync that did not record deployments made as this deployment's, in one call.
pub(crate) async fn tag_deployment(
    ec2: &Client,
    group_ids: &[String],
    owner: &Ownership,
) -> Result<(), AwsError> {
    tag_groups(ec2, group_ids, TAG_DEPLOYMENT, &owner.deployment).await
}
