//! EC2 reads: the VPC, the managed groups and their rules, the interfaces (targets and the ones that
//! carry a managed group without opting in), and the re-reads the writes make.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{IpPermission, NetworkInterface, SecurityGroup, Tag};

use super::permissions::{self, Split, count, split};
use super::{TAG_DEPLOYMENT, TAG_PREFIX, TAG_SYNCTOKEN, TAG_TARGET, filter};
use crate::aws::sdk_error;
use crate::error::AwsError;
use crate::ownership::{Claim, Ownership, Unrecorded, named_by_sgsync, opts_in};
use crate::security_groups::{ForeignGroup, ObservedGroup, ObservedTarget, Replaces, TargetId};

fn tag<'a>(tags: &'a [Tag], key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
}

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

/// The groups of a VPC as the owner sees them: those it recorded, and those that carry its tags
/// without being recorded.
pub(crate) struct Tagged {
    /// Its recorded groups in the VPC; with `adopt`, also the unrecorded ones it would have made.
    pub(crate) groups: Vec<ObservedGroup>,
    /// Recorded ids found in no VPC of the region: deleted, to be taken out of the record.
    pub(crate) missing: Vec<String>,
    /// Groups carrying its prefix tag and named as it names them, not recorded (and not adopted),
    /// with whether they carry this deployment's tag and are empty.
    pub(crate) unrecorded: Vec<(Unrecorded, bool)>,
    /// Names of its pattern held by groups it does not own.
    pub(crate) taken: BTreeSet<String>,
    /// Groups of its name pattern another deployment owns: id → (name, that deployment).
    pub(crate) others: BTreeMap<String, (String, String)>,
}

/// How many ids one `group-id` filter takes (EC2 allows 200 values per filter).
const IDS_PER_FILTER: usize = 200;

/// The groups `owner` recorded (`recorded`, ids of any VPC of the region), and the groups in
/// `vpc_id` carrying its prefix tag that it did not record, classified by [`Ownership::claim`]: its
/// own and legacy pattern are unrecorded (or, with `adopt`, adopted); another deployment's take their
/// names; other services' deployments are left alone silently; any other name is reported.
pub(crate) async fn managed_groups(
    ec2: &Client,
    vpc_id: &str,
    owner: &Ownership,
    recorded: &BTreeSet<String>,
    adopt: bool,
    warnings: &mut Vec<String>,
) -> Result<Tagged, AwsError> {
    const OP: &str = "ec2:DescribeSecurityGroups";
    let mut tagged = Tagged {
        groups: Vec::new(),
        missing: Vec::new(),
        unrecorded: Vec::new(),
        taken: BTreeSet::new(),
        others: BTreeMap::new(),
    };
    // The record first, by id (a filter, not GroupIds: an id that no longer exists is not an error).
    let ids: Vec<&String> = recorded.iter().collect();
    let mut found = BTreeSet::new();
    for chunk in ids.chunks(IDS_PER_FILTER) {
        let mut pages = ec2
            .describe_security_groups()
            .filters(filter("group-id", chunk.iter().map(|s| s.as_str())))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sdk_error(OP, e))?;
            for g in page.security_groups() {
                let (Some(id), Some(name)) = (g.group_id(), g.group_name()) else {
                    return Err(AwsError::malformed(OP, "group id or name"));
                };
                found.insert(id.to_string());
                if g.vpc_id() != Some(vpc_id) {
                    continue;
                }
                // The record says it is this deployment's; the group must say so too (it was tagged
                // at creation), or someone else's group is in the record (written without the SCP).
                if tag(g.tags(), TAG_DEPLOYMENT) != Some(owner.deployment.as_str()) {
                    warnings.push(format!(
                        "group {id} ({name}) is in this deployment's record but does not carry its tag \
                         {TAG_DEPLOYMENT}={}: left alone (someone else's group in the record? attach \
                         deploy/protect-tags-scp.json); take it out of the record",
                        owner.deployment
                    ));
                    tagged.taken.insert(name.to_string());
                    continue;
                }
                // Nor can a name, once given: a recorded group sgsync did not name is someone
                // else's (a record and tags written without the SCP), and is never used.
                let prefix = tag(g.tags(), TAG_PREFIX).unwrap_or_default();
                if !crate::ownership::named_by_sgsync(name, prefix) {
                    warnings.push(format!(
                        "group {id} ({name}) is in this deployment's record but is not named as sgsync names \
                         its groups ({prefix}-<service>-<n>): someone else's group, left alone and never \
                         attached (the record and tags were written without deploy/protect-tags-scp.json?); \
                         take it out of the record"
                    ));
                    continue;
                }
                tagged
                    .groups
                    .push(observed_group(id, name, g, false, false, warnings));
            }
        }
    }
    tagged.missing = recorded.difference(&found).cloned().collect();
    let prefix = &owner.prefix;
    let mut pages = ec2
        .describe_security_groups()
        .filters(filter("vpc-id", [vpc_id]))
        .filters(filter(&format!("tag:{TAG_PREFIX}"), [prefix]))
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk_error(OP, e))?;
        for g in page.security_groups() {
            let (Some(id), Some(name)) = (g.group_id(), g.group_name()) else {
                return Err(AwsError::malformed(OP, "group id or name"));
            };
            if recorded.contains(id) {
                continue;
            }
            let claim = owner.claim(name, tag(g.tags(), TAG_DEPLOYMENT));
            match claim {
                Claim::Own | Claim::Legacy if adopt => {
                    let legacy = claim == Claim::Legacy;
                    tagged
                        .groups
                        .push(observed_group(id, name, g, true, legacy, warnings));
                }
                Claim::Own | Claim::Legacy => {
                    tagged.taken.insert(name.to_string());
                    let empty = g.ip_permissions().is_empty();
                    tagged.unrecorded.push((
                        Unrecorded {
                            id: id.to_string(),
                            name: name.to_string(),
                            reclaimable: false,
                        },
                        claim == Claim::Own && empty,
                    ));
                }
                Claim::Conflict { deployment } => {
                    tagged.taken.insert(name.to_string());
                    (tagged.others).insert(id.to_string(), (name.to_string(), deployment));
                }
                Claim::OtherService => {}
                Claim::Stray => warnings.push(format!(
                    "group {id} ({name}) carries {TAG_PREFIX}={prefix} but is not named {}-<n>: not managed, left alone",
                    owner.stem
                )),
            }
        }
    }
    Ok(tagged)
}

fn observed_group(
    id: &str,
    name: &str,
    g: &SecurityGroup,
    adopt: bool,
    legacy: bool,
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
    ObservedGroup {
        id: id.to_string(),
        name: name.to_string(),
        unmanaged_slots: entries.unmanaged_slots(),
        rules: entries.rules,
        unmanaged_entries: unmanaged,
        outbound: count(g.ip_permissions_egress()),
        synctoken: tag(g.tags(), TAG_SYNCTOKEN).and_then(|v| v.parse().ok()),
        adopt,
        legacy,
    }
}

/// Which of `names` groups in `vpc_id` that are not in `recorded` hold: name → (id, whether the group
/// carries `owner`'s tags, as one a concurrent run of this deployment just made does until it records
/// it).
pub(crate) async fn names_taken(
    ec2: &Client,
    vpc_id: &str,
    names: &[String],
    recorded: &BTreeSet<String>,
    owner: &Ownership,
) -> Result<BTreeMap<String, (String, bool)>, AwsError> {
    const OP: &str = "ec2:DescribeSecurityGroups";
    let out = ec2
        .describe_security_groups()
        .filters(filter("vpc-id", [vpc_id]))
        .filters(filter("group-name", names))
        .send()
        .await
        .map_err(|e| sdk_error(OP, e))?;
    let mut taken = BTreeMap::new();
    for g in out.security_groups() {
        let (Some(id), Some(name)) = (g.group_id(), g.group_name()) else {
            continue;
        };
        if names.iter().any(|n| n == name) && !recorded.contains(id) {
            let ours = tag(g.tags(), TAG_PREFIX) == Some(owner.prefix.as_str())
                && tag(g.tags(), TAG_DEPLOYMENT) == Some(owner.deployment.as_str());
            taken.insert(name.to_string(), (id.to_string(), ours));
        }
    }
    Ok(taken)
}

/// One group as it is now: the re-read after EC2 says a rule already exists or is already gone, and
/// before revoking what sgsync does not manage.
async fn group(ec2: &Client, group_id: &str) -> Result<SecurityGroup, AwsError> {
    const OP: &str = "ec2:DescribeSecurityGroups";
    let out = ec2
        .describe_security_groups()
        .group_ids(group_id)
        .send()
        .await
        .map_err(|e| sdk_error(OP, e))?;
    out.security_groups()
        .first()
        .cloned()
        .ok_or_else(|| AwsError::malformed(OP, "security group"))
}

/// The groups of `ids` sgsync does not manage, as a swap (`REPLACES`) would see them: name, whether
/// REPLACES names it, inbound rules and other entries, outbound entries, the groups whose rules name
/// it. A group with sgsync's name or tags (another deployment's) is never one to replace, whatever
/// REPLACES says. One `DescribeSecurityGroups` per 100 ids, and two more (paginated) for the
/// references when REPLACES names any.
pub(crate) async fn foreign_groups(
    ec2: &Client,
    ids: &BTreeSet<String>,
    replaces: &Replaces,
    prefix: &str,
    warnings: &mut Vec<String>,
) -> Result<BTreeMap<String, ForeignGroup>, AwsError> {
    const OP: &str = "ec2:DescribeSecurityGroups";
    let ids: Vec<String> = ids.iter().cloned().collect();
    let mut out = BTreeMap::new();
    for chunk in ids.chunks(100) {
        let found = ec2
            .describe_security_groups()
            .set_group_ids(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        for g in found.security_groups() {
            let id = g
                .group_id()
                .ok_or_else(|| AwsError::malformed(OP, "group id"))?;
            let name = g.group_name().unwrap_or_default().to_string();
            let inbound = split(g.ip_permissions());
            let sgsyncs = named_by_sgsync(&name, prefix)
                || g.tags()
                    .iter()
                    .any(|t| t.key().is_some_and(|k| k.starts_with("sgsync:")));
            let named = replaces.names(id, &name);
            if named && sgsyncs {
                warnings.push(format!(
                    "REPLACES names {name} ({id}), which carries sgsync's name or tags (another \
                     deployment's, or one sgsync made): it is never swapped out"
                ));
            }
            out.insert(
                id.to_string(),
                ForeignGroup {
                    replaceable: named && !sgsyncs,
                    name,
                    rules: inbound.rules,
                    unmodelled: permissions::described(&inbound.unmanaged),
                    egress: permissions::egress(g.ip_permissions_egress()),
                    elsewhere: false,
                    referenced_by: Vec::new(),
                },
            );
        }
    }
    let named: Vec<String> = (out.iter())
        .filter(|(_, g)| g.replaceable)
        .map(|(id, _)| id.clone())
        .collect();
    for chunk in named.chunks(100) {
        for key in ["ip-permission.group-id", "egress.ip-permission.group-id"] {
            let mut pages = ec2
                .describe_security_groups()
                .filters(filter(key, chunk.iter().cloned()))
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| sdk_error(OP, e))?;
                for by in page.security_groups() {
                    let (by_id, by_name) = (
                        by.group_id().unwrap_or_default(),
                        by.group_name().unwrap_or_default(),
                    );
                    let pairs = (by.ip_permissions().iter())
                        .chain(by.ip_permissions_egress())
                        .flat_map(|p| p.user_id_group_pairs())
                        .filter_map(|pair| pair.group_id());
                    for target in pairs {
                        // Its own rules count too: members reach each other through them.
                        if let Some(g) = out.get_mut(target) {
                            let who = format!("{by_name} ({by_id})");
                            if !g.referenced_by.contains(&who) {
                                g.referenced_by.push(who);
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(out)
}

/// One group's inbound entries as they are now.
pub(super) async fn entries(ec2: &Client, group_id: &str) -> Result<Split, AwsError> {
    Ok(split(group(ec2, group_id).await?.ip_permissions()))
}

/// One group's outbound entries as they are now, as permissions that revoke exactly them.
pub(super) async fn outbound(ec2: &Client, group_id: &str) -> Result<Vec<IpPermission>, AwsError> {
    Ok(group(ec2, group_id).await?.ip_permissions_egress().to_vec())
}

/// The interfaces of one VPC (or of one instance, or one interface), as sgsync sees them.
#[derive(Default)]
pub(crate) struct Interfaces {
    /// Interfaces tagged `sgsync:target` = the prefix: targets.
    pub(crate) targets: Vec<ObservedTarget>,
    /// Interfaces carrying a managed group without the tag: never modified.
    pub(crate) untagged: Vec<ObservedTarget>,
    /// The VPCs the targets are in.
    pub(crate) vpcs: BTreeSet<String>,
    /// Every group attached to any interface read (load balancers' interfaces included): what "used
    /// nowhere" is checked against.
    pub(crate) attached: BTreeSet<String>,
    /// The groups of the interfaces that are neither targets nor carriers of a managed group (load
    /// balancers' aside): a group `REPLACES` names stays in use there after a swap.
    pub(crate) bystanders: BTreeSet<String>,
}

/// Which interfaces to read.
pub(crate) enum Where<'a> {
    Vpc(&'a str),
    Instance(&'a str),
    Interface(&'a str),
}

fn groups_of(eni: &NetworkInterface) -> Vec<String> {
    eni.groups()
        .iter()
        .filter_map(|g| g.group_id().map(str::to_string))
        .collect()
}

/// The interfaces of `vpc_id`: the tagged ones are targets; an untagged one that carries any of
/// `managed` is reported (and protected: its groups may not lose what it allows). Interfaces AWS
/// manages for a service (requester-managed) cannot be modified: ALB/NLB interfaces are reached through
/// ELBv2; a Classic Load Balancer's or another service's are reported, saying what to do.
///
/// The interfaces are listed by VPC and matched here rather than with a multi-valued `group-id`
/// filter: moto (5.2.5) applies such a filter as "all of these groups", which would hide an interface
/// that lacks a group created since.
pub(crate) async fn interfaces(
    ec2: &Client,
    place: Where<'_>,
    owner: &Ownership,
    managed: &[String],
    warnings: &mut Vec<String>,
) -> Result<Interfaces, AwsError> {
    const OP: &str = "ec2:DescribeNetworkInterfaces";
    let by = match place {
        Where::Vpc(id) => filter("vpc-id", [id]),
        Where::Instance(id) => filter("attachment.instance-id", [id]),
        Where::Interface(id) => filter("network-interface-id", [id]),
    };
    let mut pages = ec2
        .describe_network_interfaces()
        .filters(by)
        .max_results(1000)
        .into_paginator()
        .send();
    let mut found = Interfaces::default();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk_error(OP, e))?;
        for eni in page.network_interfaces() {
            let id = eni
                .network_interface_id()
                .ok_or_else(|| AwsError::malformed(OP, "network interface id"))?;
            let opted_in =
                tag(eni.tag_set(), TAG_TARGET).is_some_and(|v| opts_in(v, &owner.prefix));
            let groups = groups_of(eni);
            found.attached.extend(groups.iter().cloned());
            let carries = groups.iter().any(|g| managed.contains(g));
            let description = eni.description().unwrap_or_default();
            let load_balancer = eni.requester_managed() == Some(true)
                && (description.starts_with("ELB app/") || description.starts_with("ELB net/"));
            if !opted_in && !carries {
                if !load_balancer {
                    found.bystanders.extend(groups);
                }
                continue;
            }
            if eni.requester_managed() == Some(true) {
                if !load_balancer {
                    warnings.push(aws_managed(id, description, &owner.prefix));
                    // Never modified, so what it carries stays in use.
                    found.bystanders.extend(groups);
                }
                continue;
            }
            let target = ObservedTarget {
                id: TargetId::Interface(id.to_string()),
                groups,
            };
            if opted_in {
                found.vpcs.extend(eni.vpc_id().map(str::to_string));
                found.targets.push(target);
            } else {
                found.untagged.push(target);
            }
        }
    }
    Ok(found)
}

/// What to do about an interface AWS manages for a service that carries a managed group or the tag.
fn aws_managed(id: &str, description: &str, prefix: &str) -> String {
    match description.strip_prefix("ELB ") {
        Some(classic) => format!(
            "interface {id} belongs to the Classic Load Balancer {classic}: sgsync cannot change a Classic \
             Load Balancer's groups (only ALBs and NLBs, through ELBv2); migrate it to an ALB, or keep its \
             groups by hand"
        ),
        None => format!(
            "interface {id} is managed by AWS ({}): sgsync cannot change its groups; tag the resource that \
             owns it ({TAG_TARGET}={prefix}) if it is a load balancer, or attach the managed groups through \
             the owning service",
            if description.is_empty() {
                "no description"
            } else {
                description
            }
        ),
    }
}

/// An interface's groups now; `None` when it no longer exists.
pub(crate) async fn interface_groups(
    ec2: &Client,
    interface_id: &str,
) -> Result<Option<Vec<String>>, AwsError> {
    const OP: &str = "ec2:DescribeNetworkInterfaces";
    let out = ec2
        .describe_network_interfaces()
        .network_interface_ids(interface_id)
        .send()
        .await
        .map_err(|e| sdk_error(OP, e));
    match out {
        Ok(out) => Ok(out.network_interfaces().first().map(groups_of)),
        Err(e) if e.is("InvalidNetworkInterfaceID.NotFound") => Ok(None),
        Err(e) => Err(e),
    }
}

/// The id of the group named `name` in `vpc_id`: what a create that found the name taken must know
/// (a concurrent run of the same deployment made and recorded it, or someone else holds the name).
pub(super) async fn group_named(
    ec2: &Client,
    vpc_id: &str,
    name: &str,
) -> Result<Option<String>, AwsError> {
    const OP: &str = "ec2:DescribeSecurityGroups";
    let out = ec2
        .describe_security_groups()
        .filters(filter("vpc-id", [vpc_id]))
        .filters(filter("group-name", [name]))
        .send()
        .await
        .map_err(|e| sdk_error(OP, e))?;
    Ok(out
        .security_groups()
        .first()
        .and_then(|g| g.group_id())
        .map(str::to_string))
}

/// Whether a group is empty (no inbound entry) and attached to no interface: what may be reclaimed.
pub(crate) async fn empty_and_unused(ec2: &Client, group_id: &str) -> Result<bool, AwsError> {
    let g = match group(ec2, group_id).await {
        Ok(g) => g,
        Err(e) if e.is("InvalidGroup.NotFound") => return Ok(false),
        Err(e) => return Err(e),
    };
    if !g.ip_permissions().is_empty() {
        return Ok(false);
    }
    const OP: &str = "ec2:DescribeNetworkInterfaces";
    let out = ec2
        .describe_network_interfaces()
        .filters(filter("group-id", [group_id]))
        .send()
        .await
        .map_err(|e| sdk_error(OP, e))?;
    Ok(out.network_interfaces().is_empty())
}

#[cfg(test)]
mod tests {
    use super::aws_managed;

    #[test]
    fn interfaces_aws_manages_get_a_warning_that_says_what_to_do() {
        let classic = aws_managed("eni-1", "ELB my-classic-lb", "AUTOUPDATE");
        assert!(
            classic.contains("Classic Load Balancer my-classic-lb")
                && classic.contains("migrate it to an ALB"),
            "{classic}"
        );
        let endpoint = aws_managed("eni-2", "VPC Endpoint Interface vpce-1", "AUTOUPDATE");
        assert!(
            endpoint.contains("managed by AWS (VPC Endpoint Interface vpce-1)")
                && endpoint.contains("sgsync:target=AUTOUPDATE"),
            "{endpoint}"
        );
    }
}
