//! ELBv2: application and network load balancers. Their network interfaces belong to AWS, so their
//! groups change through `SetSecurityGroups`, never through EC2. A load balancer is a target when it
//! carries the tag `sgsync:target` = `PREFIX_NAME`.

use aws_sdk_elasticloadbalancingv2::Client;
use aws_sdk_elasticloadbalancingv2::types::{
    EnforceSecurityGroupInboundRulesOnPrivateLinkTrafficEnum, LoadBalancer, LoadBalancerTypeEnum,
    TagDescription,
};

use super::{TAG_TARGET, sdk_error};
use crate::error::AwsError;
use crate::security_groups::{ObservedTarget, TargetId};

/// The load balancers of one VPC, as sgsync sees them.
#[derive(Default)]
pub(super) struct LoadBalancers {
    /// Tagged `sgsync:target` = the prefix: targets.
    pub(super) targets: Vec<ObservedTarget>,
    /// Carrying a managed group without the tag: never modified.
    pub(super) untagged: Vec<ObservedTarget>,
    /// The groups of the others: a group `REPLACES` names stays in use there after a swap.
    pub(super) bystanders: std::collections::BTreeSet<String>,
}

/// Whether a load balancer takes security groups (gateway load balancers do not).
fn takes_groups(lb: &LoadBalancer) -> bool {
    matches!(
        lb.r#type(),
        Some(LoadBalancerTypeEnum::Application | LoadBalancerTypeEnum::Network) | None
    )
}

/// Whether `arn` carries the target tag with `prefix`, among the tags of a `DescribeTags` answer.
fn opted_in(tags: &[TagDescription], arn: &str, prefix: &str) -> bool {
    tags.iter().any(|d| {
        d.resource_arn() == Some(arn)
            && d.tags().iter().any(|t| {
                t.key() == Some(TAG_TARGET)
                    && t.value()
                        .is_some_and(|v| crate::ownership::opts_in(v, prefix))
            })
    })
}

/// `DescribeTags` takes at most 20 ARNs.
const TAGS_PER_CALL: usize = 20;

/// The ALBs and NLBs of `vpc_id`: tagged ones are targets; untagged ones carrying any of `managed` are
/// reported. One `DescribeLoadBalancers` (paginated), and one `DescribeTags` per 20 load balancers of
/// the VPC (none when it has none).
pub(super) async fn load_balancers(
    elbv2: &Client,
    vpc_id: &str,
    prefix: &str,
    managed: &[String],
) -> Result<LoadBalancers, AwsError> {
    const OP: &str = "elasticloadbalancing:DescribeLoadBalancers";
    let mut pages = elbv2.describe_load_balancers().into_paginator().send();
    let mut in_vpc: Vec<(String, Vec<String>)> = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk_error(OP, e))?;
        for lb in page.load_balancers() {
            if lb.vpc_id() != Some(vpc_id) || !takes_groups(lb) {
                continue;
            }
            let arn = lb
                .load_balancer_arn()
                .ok_or_else(|| AwsError::malformed(OP, "load balancer ARN"))?;
            in_vpc.push((arn.to_string(), lb.security_groups().to_vec()));
        }
    }
    let mut found = LoadBalancers::default();
    for chunk in in_vpc.chunks(TAGS_PER_CALL) {
        let out = elbv2
            .describe_tags()
            .set_resource_arns(Some(chunk.iter().map(|(arn, _)| arn.clone()).collect()))
            .send()
            .await
            .map_err(|e| sdk_error("elasticloadbalancing:DescribeTags", e))?;
        for (arn, groups) in chunk {
            let opted_in = opted_in(out.tag_descriptions(), arn, prefix);
            let target = ObservedTarget {
                id: TargetId::LoadBalancer(arn.clone()),
                groups: groups.clone(),
            };
            if opted_in {
                found.targets.push(target);
            } else if groups.iter().any(|g| managed.contains(g)) {
                found.untagged.push(target);
            } else {
                found.bystanders.extend(groups.iter().cloned());
            }
        }
    }
    Ok(found)
}

/// One load balancer by ARN: its VPC and, when it carries the target tag, it as a target (`None` when
/// it does not exist, takes no groups, or is not tagged). One `DescribeLoadBalancers`, one `DescribeTags`.
pub(super) async fn load_balancer(
    elbv2: &Client,
    arn: &str,
    prefix: &str,
) -> Result<Option<(String, ObservedTarget)>, AwsError> {
    let Some(lb) = described(elbv2, arn).await? else {
        return Ok(None);
    };
    let Some(vpc) = lb.vpc_id().filter(|_| takes_groups(&lb)) else {
        return Ok(None);
    };
    let tags = elbv2
        .describe_tags()
        .resource_arns(arn)
        .send()
        .await
        .map_err(|e| sdk_error("elasticloadbalancing:DescribeTags", e))?;
    Ok(opted_in(tags.tag_descriptions(), arn, prefix).then(|| {
        (
            vpc.to_string(),
            ObservedTarget {
                id: TargetId::LoadBalancer(arn.to_string()),
                groups: lb.security_groups().to_vec(),
            },
        )
    }))
}

/// A load balancer as it is right before its groups are set.
pub(super) struct Now {
    /// Its groups, in order.
    pub(super) groups: Vec<String>,
    /// An NLB's PrivateLink inbound-rules enforcement (`on` / `off`): `SetSecurityGroups` must send it
    /// back, or it may reset to its default.
    pub(super) enforcement: Option<String>,
}

fn now_of(lb: &LoadBalancer) -> Now {
    let network = lb.r#type() == Some(&LoadBalancerTypeEnum::Network);
    Now {
        groups: lb.security_groups().to_vec(),
        enforcement: lb
            .enforce_security_group_inbound_rules_on_private_link_traffic()
            .filter(|_| network)
            .map(str::to_string),
    }
}

/// A load balancer's groups now; `None` when it no longer exists.
pub(super) async fn current(elbv2: &Client, arn: &str) -> Result<Option<Now>, AwsError> {
    Ok(described(elbv2, arn).await?.as_ref().map(now_of))
}

/// One load balancer by ARN; `None` when it does not exist.
async fn described(elbv2: &Client, arn: &str) -> Result<Option<LoadBalancer>, AwsError> {
    const OP: &str = "elasticloadbalancing:DescribeLoadBalancers";
    let out = elbv2
        .describe_load_balancers()
        .load_balancer_arns(arn)
        .send()
        .await
        .map_err(|e| sdk_error(OP, e));
    match out {
        Ok(out) => Ok(out.load_balancers().first().cloned()),
        Err(e) if e.is("LoadBalancerNotFound") => Ok(None),
        Err(e) => Err(e),
    }
}

/// Sets a load balancer's groups (all of them: foreign first, then managed) in one atomic call,
/// keeping an NLB's PrivateLink enforcement as it was.
pub(super) async fn set_groups(
    elbv2: &Client,
    arn: &str,
    group_ids: &[String],
    enforcement: Option<&str>,
) -> Result<(), AwsError> {
    super::ec2::write::eventually(|| async {
        elbv2
            .set_security_groups()
            .load_balancer_arn(arn)
            .set_security_groups(Some(group_ids.to_vec()))
            .set_enforce_security_group_inbound_rules_on_private_link_traffic(
                enforcement.map(EnforceSecurityGroupInboundRulesOnPrivateLinkTrafficEnum::from),
            )
            .send()
            .await
            .map_err(|e| sdk_error("elasticloadbalancing:SetSecurityGroups", e))
    })
    .await?;
    Ok(())
}
