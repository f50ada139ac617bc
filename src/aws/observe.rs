//! One read of a VPC: the groups carrying this deployment's prefix tag (its own, adopted, and other
//! deployments' that conflict), their rules, the targets (interfaces and load balancers tagged
//! `sgsync:target`), the ones carrying a managed group without the tag, and the quotas. A no-op run
//! makes exactly these reads (one call each for groups, interfaces and load balancers, one
//! `DescribeTags` per 20 load balancers of the VPC, plus Service Quotas) and nothing else.

use std::collections::BTreeSet;

use futures_util::future;

use super::{Clients, ec2, elbv2, quotas};
use crate::error::AwsError;
use crate::ownership::Ownership;
use crate::rule::PerFamily;
use crate::security_groups::{Observed, ObservedGroup, ObservedTarget, QuotaOverrides, Quotas};

/// Reads everything a plan needs in `vpc_id` (`None`: the region's default VPC) about the groups
/// `owner` owns. Targets and quotas are read concurrently.
pub(crate) async fn observe(
    clients: &Clients,
    vpc_id: Option<&str>,
    owner: &Ownership,
    overrides: QuotaOverrides,
) -> Result<Observed, AwsError> {
    let vpc_id = match vpc_id {
        Some(id) => id.to_string(),
        None => ec2::read::default_vpc(&clients.ec2).await?,
    };
    let mut warnings = Vec::new();
    let tagged = ec2::read::managed_groups(&clients.ec2, &vpc_id, owner, &mut warnings).await?;
    let ids: Vec<String> = tagged.groups.iter().map(|g| g.id.clone()).collect();
    let mut eni_warnings = Vec::new();
    let (interfaces, balancers, (read, notes)) = future::join3(
        ec2::read::interfaces(&clients.ec2, &vpc_id, owner, &ids, &mut eni_warnings),
        elbv2::load_balancers(&clients.elbv2, &vpc_id, &owner.prefix, &ids),
        quotas::resolve(&clients.quotas, overrides),
    )
    .await;
    warnings.extend(eni_warnings);
    let (interfaces, balancers) = (interfaces?, balancers?);
    let mut targets = interfaces.targets;
    targets.extend(balancers.targets);
    let mut untagged = interfaces.untagged;
    untagged.extend(balancers.untagged);
    for t in &untagged {
        warnings.push(format!(
            "{} carries a managed group but not the tag sgsync:target={}: it is never modified (no new \
             group is attached to it); tag it to make it a target",
            t.id, owner.prefix
        ));
    }
    let quotas = match read {
        Some(quotas) => quotas,
        None => held(&tagged.groups, &targets, overrides),
    };
    if read.is_none() {
        warnings.extend(notes.into_iter().map(|n| {
            format!(
                "{n}; planning with {} rules per group and {} groups per target (AWS's defaults, or what the \
                 groups and targets already hold if that is more)",
                quotas.rules_per_group, quotas.groups_per_target
            )
        }));
    }
    Ok(Observed {
        vpc_id,
        groups: tagged.groups,
        targets,
        untagged,
        conflicts: tagged.conflicts,
        taken_names: BTreeSet::new(),
        quotas,
        warnings,
    })
}

/// The quotas to plan with when Service Quotas cannot be read: the overrides, else the larger of
/// AWS's defaults and what the groups and targets already hold (an account whose quotas were raised
/// demonstrably allows that much; planning with less would move rules for nothing).
fn held(groups: &[ObservedGroup], targets: &[ObservedTarget], overrides: QuotaOverrides) -> Quotas {
    let defaults = Quotas::default();
    let rules = groups
        .iter()
        .map(|g| {
            let used: PerFamily = g.used();
            used.max()
        })
        .max()
        .unwrap_or(0);
    let attached = targets.iter().map(|t| t.groups.len()).max().unwrap_or(0);
    overrides.over(Quotas {
        rules_per_group: defaults.rules_per_group.max(rules),
        groups_per_target: defaults.groups_per_target.max(attached),
    })
}

/// Which of `names` are held by groups in `vpc_id` that `owner` does not own.
pub(crate) async fn names_taken(
    clients: &Clients,
    vpc_id: &str,
    names: &[String],
    owner: &Ownership,
) -> Result<BTreeSet<String>, AwsError> {
    ec2::read::names_taken(&clients.ec2, vpc_id, names, owner).await
}
