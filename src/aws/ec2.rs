//! EC2: the VPC, the managed groups and their rules, the interfaces they are attached to; and the writes
//! the plan asks for. Each function is one API call (plus pagination, plus a re-read when EC2 says the
//! work was already done), so call counts stay predictable.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{
    Filter, IpPermission, IpRange, Ipv6Range, PrefixListId, ResourceType, SecurityGroup, Tag,
    TagSpecification, UserIdGroupPair,
};
use ipnet::IpNet;
use tracing::{info, warn};

use super::{AwsError, TAG_PREFIX, TAG_SYNCTOKEN};
use crate::plan::{ObservedGroup, ObservedTarget, TargetId};
use crate::rule::{PortRange, Rule};

fn filter(name: &str, values: impl IntoIterator<Item = impl Into<String>>) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.into_iter().map(Into::into).collect()))
        .build()
}

/// The region's default VPC, used when `VPC_ID` is not set (the blog's behaviour).
pub async fn default_vpc(ec2: &Client) -> Result<String, AwsError> {
    const OP: &str = "ec2:DescribeVpcs";
    let out = ec2
        .describe_vpcs()
        .filters(filter("is-default", ["true"]))
        .send()
        .await
        .map_err(|e| AwsError::new(OP, e))?;
    match out.vpcs().first().and_then(|v| v.vpc_id()) {
        Some(id) => Ok(id.to_string()),
        None => Err(AwsError {
            operation: OP,
            code: None,
            message: "this region has no default VPC: set VPC_ID to the VPC of your origin".into(),
        }),
    }
}

/// The managed groups of this deployment in `vpc_id`: tagged `sgsync:prefix = prefix` and named with
/// that prefix. A group with the tag but another name is reported and left alone: ownership needs both.
pub async fn managed_groups(
    ec2: &Client,
    vpc_id: &str,
    prefix: &str,
    warnings: &mut Vec<String>,
) -> Result<Vec<ObservedGroup>, AwsError> {
    const OP: &str = "ec2:DescribeSecurityGroups";
    let mut pages = ec2
        .describe_security_groups()
        .filters(filter("vpc-id", [vpc_id]))
        .filters(filter(&format!("tag:{TAG_PREFIX}"), [prefix]))
        .into_paginator()
        .send();
    let mut groups = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::new(OP, e))?;
        for g in page.security_groups() {
            let (Some(id), Some(name)) = (g.group_id(), g.group_name()) else {
                return Err(AwsError::malformed(OP, "group id or name"));
            };
            if !name.starts_with(prefix) {
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
    let (rules, unmanaged) = rules_of(g.ip_permissions());
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
        rules,
        unmanaged_entries: unmanaged,
        synctoken,
    }
}

/// Splits inbound permissions into TCP/CIDR rules and a count of everything else.
fn rules_of(permissions: &[IpPermission]) -> (BTreeSet<Rule>, usize) {
    let (rules, unmanaged) = split(permissions);
    (rules, unmanaged.iter().map(entries).sum())
}

/// The TCP port range a permission covers, if it is one sgsync models.
fn tcp_ports(p: &IpPermission) -> Option<PortRange> {
    match (p.ip_protocol(), p.from_port(), p.to_port()) {
        (Some("tcp" | "6"), Some(from), Some(to)) => match (u16::try_from(from), u16::try_from(to))
        {
            (Ok(from), Ok(to)) if from > 0 && from <= to => Some(PortRange { from, to }),
            _ => None,
        },
        _ => None,
    }
}

/// Splits inbound permissions into the TCP/CIDR rules sgsync models and the rest (other protocols,
/// all traffic, group or prefix-list sources), the rest as permissions that revoke exactly it.
fn split(permissions: &[IpPermission]) -> (BTreeSet<Rule>, Vec<IpPermission>) {
    let mut rules = BTreeSet::new();
    let mut unmanaged = Vec::new();
    for p in permissions {
        let ports = tcp_ports(p);
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for r in p.ip_ranges() {
            match (ports, r.cidr_ip().map(str::parse::<IpNet>)) {
                (Some(ports), Some(Ok(net))) => {
                    rules.insert(Rule { net, ports });
                }
                _ => v4.push(
                    IpRange::builder()
                        .set_cidr_ip(r.cidr_ip().map(Into::into))
                        .build(),
                ),
            }
        }
        for r in p.ipv6_ranges() {
            match (ports, r.cidr_ipv6().map(str::parse::<IpNet>)) {
                (Some(ports), Some(Ok(net))) => {
                    rules.insert(Rule { net, ports });
                }
                _ => v6.push(
                    Ipv6Range::builder()
                        .set_cidr_ipv6(r.cidr_ipv6().map(Into::into))
                        .build(),
                ),
            }
        }
        let pairs: Vec<UserIdGroupPair> = p
            .user_id_group_pairs()
            .iter()
            .map(|g| {
                UserIdGroupPair::builder()
                    .set_group_id(g.group_id().map(Into::into))
                    .set_user_id(g.user_id().map(Into::into))
                    .build()
            })
            .collect();
        let lists: Vec<PrefixListId> = p
            .prefix_list_ids()
            .iter()
            .map(|l| {
                PrefixListId::builder()
                    .set_prefix_list_id(l.prefix_list_id().map(Into::into))
                    .build()
            })
            .collect();
        if v4.is_empty() && v6.is_empty() && pairs.is_empty() && lists.is_empty() {
            continue;
        }
        unmanaged.push(
            IpPermission::builder()
                .set_ip_protocol(p.ip_protocol().map(Into::into))
                .set_from_port(p.from_port())
                .set_to_port(p.to_port())
                .set_ip_ranges(Some(v4))
                .set_ipv6_ranges(Some(v6))
                .set_user_id_group_pairs(Some(pairs))
                .set_prefix_list_ids(Some(lists))
                .build(),
        );
    }
    (rules, unmanaged)
}

/// How many entries (sources) a permission holds: EC2 counts each against the rules quota.
fn entries(p: &IpPermission) -> usize {
    p.ip_ranges().len()
        + p.ipv6_ranges().len()
        + p.user_id_group_pairs().len()
        + p.prefix_list_ids().len()
}

/// Revokes every inbound entry of a managed group that sgsync does not model (all traffic, other
/// protocols, group or prefix-list sources): a managed group allows the published ranges and nothing
/// else, so anything added by hand is drift. The group is re-read first, so only what is there now is
/// revoked; returns how many entries were removed.
pub async fn revoke_unmanaged(ec2: &Client, group_id: &str) -> Result<usize, AwsError> {
    const OP: &str = "ec2:RevokeSecurityGroupIngress";
    let out = ec2
        .describe_security_groups()
        .group_ids(group_id)
        .send()
        .await
        .map_err(|e| AwsError::new("ec2:DescribeSecurityGroups", e))?;
    let g = out
        .security_groups()
        .first()
        .ok_or_else(|| AwsError::malformed("ec2:DescribeSecurityGroups", "security group"))?;
    let (_, unmanaged) = split(g.ip_permissions());
    let count: usize = unmanaged.iter().map(entries).sum();
    if count == 0 {
        return Ok(0);
    }
    match ec2
        .revoke_security_group_ingress()
        .group_id(group_id)
        .set_ip_permissions(Some(unmanaged))
        .send()
        .await
    {
        Ok(_) => Ok(count),
        Err(e) => {
            let err = AwsError::new(OP, e);
            // Removed meanwhile (a concurrent run, or by hand): what we wanted.
            if err.is("InvalidPermission.NotFound") {
                Ok(0)
            } else {
                Err(err)
            }
        }
    }
}

/// The rules a group holds now: the re-read after EC2 says a rule already exists or is already gone.
pub async fn group_rules(ec2: &Client, group_id: &str) -> Result<BTreeSet<Rule>, AwsError> {
    const OP: &str = "ec2:DescribeSecurityGroups";
    let out = ec2
        .describe_security_groups()
        .group_ids(group_id)
        .send()
        .await
        .map_err(|e| AwsError::new(OP, e))?;
    let g = out
        .security_groups()
        .first()
        .ok_or_else(|| AwsError::malformed(OP, "security group"))?;
    Ok(rules_of(g.ip_permissions()).0)
}

/// Network interfaces of `vpc_id` carrying any of `group_ids`, as targets. Interfaces AWS manages for
/// a service (requester-managed, e.g. a load balancer's) cannot be modified: load balancers are reached
/// through ELBv2 instead, anything else is reported.
///
/// The interfaces are listed by VPC and matched here rather than with a multi-valued `group-id`
/// filter: moto (5.2.5) applies such a filter as "all of these groups", which would hide an interface
/// that lacks a group created since (exactly the interface that needs it attached).
pub async fn interfaces_with(
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
        let page = page.map_err(|e| AwsError::new(OP, e))?;
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

/// Tags of a new managed group: ownership, its name and the synctoken its rules come from.
fn tags(name: &str, prefix: &str, synctoken: u64) -> TagSpecification {
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
    TagSpecification::builder()
        .resource_type(ResourceType::SecurityGroup)
        .tags(tag("Name", name))
        .tags(tag(TAG_PREFIX, prefix))
        .tags(tag(TAG_SYNCTOKEN, &synctoken.to_string()))
        .build()
}

/// Creates a managed group, tagged at creation (no separate CreateTags call, and never an untagged
/// moment). If the name exists already (a crashed or concurrent run created it), the existing group is
/// adopted when it carries this deployment's ownership tag, and refused otherwise.
pub async fn create_group(
    ec2: &Client,
    vpc_id: &str,
    name: &str,
    description: &str,
    prefix: &str,
    synctoken: u64,
) -> Result<String, AwsError> {
    const OP: &str = "ec2:CreateSecurityGroup";
    let created = ec2
        .create_security_group()
        .vpc_id(vpc_id)
        .group_name(name)
        .description(description)
        .tag_specifications(tags(name, prefix, synctoken))
        .send()
        .await;
    match created {
        Ok(out) => out
            .group_id()
            .map(str::to_string)
            .ok_or_else(|| AwsError::malformed(OP, "group id")),
        Err(e) => {
            let err = AwsError::new(OP, e);
            if !err.is("InvalidGroup.Duplicate") {
                return Err(err);
            }
            let out = ec2
                .describe_security_groups()
                .filters(filter("vpc-id", [vpc_id]))
                .filters(filter("group-name", [name]))
                .send()
                .await
                .map_err(|e| AwsError::new("ec2:DescribeSecurityGroups", e))?;
            let g = out.security_groups().first();
            let owned = g.is_some_and(|g| {
                g.tags()
                    .iter()
                    .any(|t| t.key() == Some(TAG_PREFIX) && t.value() == Some(prefix))
            });
            match g.and_then(|g| g.group_id()) {
                Some(id) if owned => {
                    info!(
                        group = name,
                        id,
                        "group already exists (an earlier or concurrent run created it): adopting it"
                    );
                    Ok(id.to_string())
                }
                _ => Err(AwsError {
                    operation: OP,
                    code: err.code,
                    message: format!(
                        "a group named {name} already exists in {vpc_id} but is not owned by sgsync (no tag {TAG_PREFIX}={prefix}); rename that group or choose another PREFIX_NAME"
                    ),
                }),
            }
        }
    }
}

/// The permissions naming `rules`: one per port range, IPv4 and IPv6 CIDRs together, so one call
/// carries all of a group's changes and the request alone says exactly what changed.
fn permissions(rules: &[Rule], description: Option<&str>) -> Vec<IpPermission> {
    let mut by_ports: BTreeMap<PortRange, (Vec<IpRange>, Vec<Ipv6Range>)> = BTreeMap::new();
    for rule in rules {
        let entry = by_ports.entry(rule.ports).or_default();
        match rule.net {
            IpNet::V4(net) => entry.0.push(
                IpRange::builder()
                    .cidr_ip(net.to_string())
                    .set_description(description.map(str::to_string))
                    .build(),
            ),
            IpNet::V6(net) => entry.1.push(
                Ipv6Range::builder()
                    .cidr_ipv6(net.to_string())
                    .set_description(description.map(str::to_string))
                    .build(),
            ),
        }
    }
    by_ports
        .into_iter()
        .map(|(ports, (v4, v6))| {
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(i32::from(ports.from))
                .to_port(i32::from(ports.to))
                .set_ip_ranges((!v4.is_empty()).then_some(v4))
                .set_ipv6_ranges((!v6.is_empty()).then_some(v6))
                .build()
        })
        .collect()
}

/// Authorizes `rules` in one call. When EC2 says some already exist, or that the group is full (an
/// interrupted or concurrent run authorized some of them already; EC2 may count the duplicates before
/// it notices them), the group is re-read and only the missing rules are authorized. Returns how many
/// were added.
pub async fn authorize(
    ec2: &Client,
    group_id: &str,
    rules: &[Rule],
    description: &str,
) -> Result<usize, AwsError> {
    const OP: &str = "ec2:AuthorizeSecurityGroupIngress";
    let send = |rules: Vec<IpPermission>| {
        ec2.authorize_security_group_ingress()
            .group_id(group_id)
            .set_ip_permissions(Some(rules))
            .send()
    };
    match send(permissions(rules, Some(description))).await {
        Ok(_) => Ok(rules.len()),
        Err(e) => {
            let err = AwsError::new(OP, e);
            if !err.is("InvalidPermission.Duplicate")
                && !err.is("RulesPerSecurityGroupLimitExceeded")
            {
                return Err(err);
            }
            let present = group_rules(ec2, group_id).await?;
            let missing: Vec<Rule> = rules
                .iter()
                .filter(|r| !present.contains(r))
                .copied()
                .collect();
            warn!(
                group = group_id,
                already = rules.len() - missing.len(),
                "some rules already exist; authorizing the rest"
            );
            if missing.is_empty() {
                return Ok(0);
            }
            send(permissions(&missing, Some(description)))
                .await
                .map_err(|e| AwsError::new(OP, e))?;
            Ok(missing.len())
        }
    }
}

/// Revokes `rules` in one call, named by CIDR and port. Rules already gone are not an error: the
/// group is re-read and only the present rules are revoked. Returns how many were removed.
pub async fn revoke(ec2: &Client, group_id: &str, rules: &[Rule]) -> Result<usize, AwsError> {
    const OP: &str = "ec2:RevokeSecurityGroupIngress";
    let send = |rules: Vec<IpPermission>| {
        ec2.revoke_security_group_ingress()
            .group_id(group_id)
            .set_ip_permissions(Some(rules))
            .send()
    };
    match send(permissions(rules, None)).await {
        Ok(out) => {
            let unknown = out.unknown_ip_permissions().len();
            if unknown > 0 {
                warn!(group = group_id, unknown, "some rules were already gone");
            }
            Ok(rules.len().saturating_sub(unknown))
        }
        Err(e) => {
            let err = AwsError::new(OP, e);
            if !err.is("InvalidPermission.NotFound") {
                return Err(err);
            }
            let present = group_rules(ec2, group_id).await?;
            let still: Vec<Rule> = rules
                .iter()
                .filter(|r| present.contains(r))
                .copied()
                .collect();
            warn!(
                group = group_id,
                gone = rules.len() - still.len(),
                "some rules were already gone; revoking the rest"
            );
            if still.is_empty() {
                return Ok(0);
            }
            send(permissions(&still, None))
                .await
                .map_err(|e| AwsError::new(OP, e))?;
            Ok(still.len())
        }
    }
}

/// Sets an interface's groups (all of them: foreign first, then managed) in one atomic call.
pub async fn set_interface_groups(
    ec2: &Client,
    interface_id: &str,
    group_ids: &[String],
) -> Result<(), AwsError> {
    ec2.modify_network_interface_attribute()
        .network_interface_id(interface_id)
        .set_groups(Some(group_ids.to_vec()))
        .send()
        .await
        .map_err(|e| AwsError::new("ec2:ModifyNetworkInterfaceAttribute", e))?;
    Ok(())
}

/// Deletes a managed group; one already gone is not an error.
pub async fn delete_group(ec2: &Client, group_id: &str) -> Result<(), AwsError> {
    match ec2.delete_security_group().group_id(group_id).send().await {
        Ok(_) => Ok(()),
        Err(e) => {
            let err = AwsError::new("ec2:DeleteSecurityGroup", e);
            if err.is("InvalidGroup.NotFound") {
                warn!(group = group_id, "group already deleted");
                return Ok(());
            }
            Err(err)
        }
    }
}

/// Records the applied synctoken on groups, in one call.
pub async fn record_synctoken(
    ec2: &Client,
    group_ids: &[String],
    synctoken: u64,
) -> Result<(), AwsError> {
    ec2.create_tags()
        .set_resources(Some(group_ids.to_vec()))
        .tags(
            Tag::builder()
                .key(TAG_SYNCTOKEN)
                .value(synctoken.to_string())
                .build(),
        )
        .send()
        .await
        .map_err(|e| AwsError::new("ec2:CreateTags", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(s: &str, port: u16) -> Rule {
        Rule {
            net: s.parse().unwrap(),
            ports: PortRange::single(port),
        }
    }

    #[test]
    fn permissions_group_by_port_and_round_trip() {
        let rules = vec![
            rule("13.32.0.0/15", 80),
            rule("2600:9000::/28", 80),
            rule("13.32.0.0/15", 443),
        ];
        let perms = permissions(&rules, Some("sgsync"));
        assert_eq!(perms.len(), 2);
        assert_eq!(perms[0].ip_ranges().len(), 1);
        assert_eq!(perms[0].ipv6_ranges().len(), 1);
        let (back, unmanaged) = rules_of(&perms);
        assert_eq!(unmanaged, 0);
        assert_eq!(back, rules.into_iter().collect());
    }

    #[test]
    fn other_protocols_and_sources_are_counted_not_modelled() {
        let all = IpPermission::builder()
            .ip_protocol("-1")
            .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
            .build();
        let (rules, unmanaged) = rules_of(&[all]);
        assert!(rules.is_empty());
        assert_eq!(unmanaged, 1);
    }
}
