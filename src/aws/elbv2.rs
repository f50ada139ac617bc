//! ELBv2: application and network load balancers that carry managed groups. Their network interfaces
//! belong to AWS, so their groups change through `SetSecurityGroups`, never through EC2.

use aws_sdk_elasticloadbalancingv2::Client;

use super::sdk_error;
use crate::error::AwsError;
use crate::security_groups::{ObservedTarget, TargetId};

/// Load balancers whose groups include any of `group_ids`, as targets.
pub(super) async fn load_balancers_with(
    elbv2: &Client,
    group_ids: &[String],
) -> Result<Vec<ObservedTarget>, AwsError> {
    const OP: &str = "elasticloadbalancing:DescribeLoadBalancers";
    if group_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut pages = elbv2.describe_load_balancers().into_paginator().send();
    let mut targets = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk_error(OP, e))?;
        for lb in page.load_balancers() {
            if !lb.security_groups().iter().any(|g| group_ids.contains(g)) {
                continue;
            }
            let arn = lb
                .load_balancer_arn()
                .ok_or_else(|| AwsError::malformed(OP, "load balancer ARN"))?;
            targets.push(ObservedTarget {
                id: TargetId::LoadBalancer(arn.to_string()),
                groups: lb.security_groups().to_vec(),
            });
        }
    }
    Ok(targets)
}

/// Sets a load balancer's groups (all of them: foreign first, then managed) in one atomic call.
pub(super) async fn set_groups(
    elbv2: &Client,
    arn: &str,
    group_ids: &[String],
) -> Result<(), AwsError> {
    elbv2
        .set_security_groups()
        .load_balancer_arn(arn)
        .set_security_groups(Some(group_ids.to_vec()))
        .send()
        .await
        .map_err(|e| sdk_error("elasticloadbalancing:SetSecurityGroups", e))?;
    Ok(())
}
