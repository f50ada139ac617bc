//! EC2 reads: the VPC, the managed groups and their rules, the interfaces they are attached to, and
//! the re-read of one group that the writes make when EC2 says the work was already done.

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::SecurityGroup;

use super::permissions::{Split, split};
use super::{TAG_PREFIX, TAG_SYNCTOKEN, filter};
use crate::aws::sdk_error;
use crate::error::AwsError;
use crate::security_groups::{ObservedGroup, ObservedTarget, Ownership, TargetId};

/// The region's default VPC, used when `VPC_ID` is not set (the blog's behaviour).
pub(crate) async fn default_vpc(ec2: &Client) -> Result<String, AwsError> {
    const OP: &str = "ec2:DescribeVpcs";
    let out = ec2
        .describe_vpcs()
        .filters(filter("is-default", ["true"]))
        .send()
        .await
        .map_err(|e| sdk_error(OP, e))?;
    match out.vpcs().first().and_then(|v| v.vpc_id()) {
        Some(id) => Ok(id.to_string()),
        None => Err(AwsError::other(
            OP,
            "this region has no default VPC: set VPC_ID to the VPC of your origin",
        )),
    }
}

/// The managed groups of this deployment in `vpc_id`: tagged `sgsync:prefix` = the owner's prefix and
/// named as it names them. A group with the tag but another name is reported and left alone.
pub(crate) async fn managed_groups(
    ec2: &Client,
    vpc_id: &str,
    owner: &Ownership,
    warnings: &mut Vec<String>,
) -> Result<Vec<ObservedGroup>, AwsError> {
    const OP: &str = "ec2:DescribeSecurityGroups";
    let prefix = &owner.prefix;
    let mut pages = ec2
        .describe_security_groups()
        .filters(filter("vpc-id", [vpc_id]))
        .filters(filter(&format!("tag:{TAG_PREFIX}"), [prefix]))
        .into_paginator()
        .send();
    let mut groups = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk_error(OP, e))?;
        for g in page.security_groups() {
            let (Some(id), Some(name)) = (g.group_id(), g.group_name()) else {
                return Err(AwsError::malformed(OP, "group id or name"));
            };
            if !owner.owns_name(name) {
                warnings.push(format!(
                    "group {id} ({name}) carries {TAG_PREFIX}={prefix} but its name does not start with {prefix}: not managed, left alone"
                ));
                continue;
            }
            groups.push(observed_group(id, name, g, warnings));
        }
    }
    Ok(groups)
}

fn observed_group(
    id: &str,
    name: &str,
    g: &SecurityGroup,
    warnings: &mut Vec<String>,
) -> ObservedGroup {
    let entries = split(g.ip_permissions());
    let unmanaged = entries.unmanaged_entries();
    if unmanaged > 0 {
        warnings.push(format!(
            "group {id} ({name}) holds {unmanaged} inbound entries that are not TCP from a published CIDR \
             (added by hand?); a managed group allows the published ranges only, so apply revokes them: \
             put such rules in a group of your own"
        ));
    }
    let synctoken = g
        .tags()
        .iter()
        .find(|t| t.key() == Some(TAG_SYNCTOKEN))
        .and_then(|t| t.value())
        .and_then(|v| v.parse().ok());
    ObservedGroup {
        id: id.to_string(),
        name: name.to_string(),
        unmanaged_slots: entries.unmanaged_slots(),
        rules: entries.rules,
        unmanaged_entries: unmanaged,
        synctoken,
    }
}

/// One group's inbound entries as they are now: the re-read after EC2 says a rule already exists or
/// is already gone, and before revoking what sgsync does not manage.
pub(super) async fn entries(ec2: &Client, group_id: &str) -> Result<Split, AwsError> {
    const OP: &str = "ec2:DescribeSecurityGroups";
    let out = ec2
        .describe_security_groups()
        .group_ids(group_id)
        .send()
        .await
        .map_err(|e| sdk_error(OP, e))?;
    let g = out
        .security_groups()
        .first()
        .ok_or_else(|| AwsError::malformed(OP, "security group"))?;
    Ok(split(g.ip_permissions()))
}

/// Network interfaces of `vpc_id` carrying any of `group_ids`, as targets. Interfaces AWS manages for
/// a service (requester-managed, e.g. a load balancer's) cannot be modified: load balancers are reached
/// through ELBv2 instead, anything else is reported.
///
/// The interfaces are listed by VPC and matched here rather than with a multi-valued `group-id`
/// filter: moto (5.2.5) applies such a filter as "all of these groups", which would hide an interface
/// that lacks a group created since (exactly the interface that needs it attached).
pub(crate) async fn interfaces_with(
    ec2: &Client,
    vpc_id: &str,
    group_ids: &[String],
    warnings: &mut Vec<String>,
) -> Result<Vec<ObservedTarget>, AwsError> {
    const OP: &str = "ec2:DescribeNetworkInterfaces";
    if group_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut pages = ec2
        .describe_network_interfaces()
        .filters(filter("vpc-id", [vpc_id]))
        .max_results(1000)
        .into_paginator()
        .send();
    let mut targets = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk_error(OP, e))?;
        for eni in page.network_interfaces() {
            let id = eni
                .network_interface_id()
                .ok_or_else(|| AwsError::malformed(OP, "network interface id"))?;
            let carries_managed = eni.groups().iter().any(|g| {
                g.group_id()
                    .is_some_and(|id| group_ids.iter().any(|m| m == id))
            });
            if !carries_managed {
                continue;
            }
            if eni.requester_managed() == Some(true) {
                if !eni.description().unwrap_or_default().starts_with("ELB ") {
                    warnings.push(format!(
                        "interface {id} is managed by AWS ({}): sgsync cannot change its groups; attach the managed groups through the owning service",
                        eni.description().unwrap_or("no description")
                    ));
                }
                continue;
            }
            targets.push(ObservedTarget {
                id: TargetId::Interface(id.to_string()),
                groups: eni
                    .groups()
                    .iter()
                    .filter_map(|g| g.group_id().map(str::to_string))
                    .collect(),
            });
        }
    }
    Ok(targets)
}

/// The id of the group named `name` in `vpc_id` and whether it carries `owner`'s tag: what a create
/// that found the name taken must know before adopting the group.
pub(super) async fn group_named(
    ec2: &Client,
    vpc_id: &str,
    name: &str,
    owner: &Ownership,
) -> Result<Option<(String, bool)>, AwsError> {
    const OP: &str = "ec2:DescribeSecurityGroups";
    let out = ec2
        .describe_security_groups()
        .filters(filter("vpc-id", [vpc_id]))
        .filters(filter("group-name", [name]))
        .send()
        .await
        .map_err(|e| sdk_error(OP, e))?;
    let Some(g) = out.security_groups().first() else {
        return Ok(None);
    };
    let owned = g
        .tags()
        .iter()
        .any(|t| t.key() == Some(TAG_PREFIX) && t.value() == Some(owner.prefix.as_str()));
    Ok(g.group_id().map(|id| (id.to_string(), owned)))
}
