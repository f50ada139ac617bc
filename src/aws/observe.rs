//! One read of a VPC: the groups this deployment recorded, and those carrying its tags without being
//! recorded (reported, or adopted with `--adopt`), their rules, the targets (interfaces and load
//! balancers tagged `sgsync:target`), the ones carrying a managed group without the tag, and the
//! quotas. A no-op run makes exactly these reads (the record, the recorded groups by id, the tagged
//! groups of the VPC, interfaces and load balancers, one `DescribeTags` per 20 load balancers of the
//! VPC, plus Service Quotas) and nothing else.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::future;

use super::record::{record_name, unrecorded_warning};
use super::{Clients, ec2, elbv2, quotas};
use crate::error::AwsError;
use crate::ownership::{Ownership, Unrecorded};
use crate::rule::PerFamily;
use crate::security_groups::{
    Observed, ObservedGroup, ObservedTarget, QuotaOverrides, Quotas, Replaces, TargetId,
};

/// What a read of the VPC looks for beyond the deployment's recorded groups and tagged targets.
pub(crate) struct Scope<'a> {
    /// `--adopt`: groups carrying the deployment's tags that it did not record are adopted.
    pub(crate) adopt: bool,
    /// `ATTACH=carriers`: what carries a managed group is a target too.
    pub(crate) carriers: bool,
    /// `REPLACES`: the groups sgsync does not manage on the targets are read, for the swap.
    pub(crate) replaces: Option<&'a Replaces>,
}

/// Reads everything a plan needs in `vpc_id` (`None`: the region's default VPC) about the groups
/// `owner` owns. Targets and quotas are read concurrently.
pub(crate) async fn observe(
    clients: &Clients,
    vpc_id: Option<&str>,
    owner: &Ownership,
    overrides: QuotaOverrides,
    recorded: &BTreeSet<String>,
    scope: Scope<'_>,
) -> Result<Observed, AwsError> {
    let Scope {
        adopt,
        carriers,
        replaces,
    } = scope;
    let vpc_id = match vpc_id {
        Some(id) => id.to_string(),
        None => ec2::read::default_vpc(&clients.ec2).await?,
    };
    let mut warnings = Vec::new();
    let tagged =
        ec2::read::managed_groups(&clients.ec2, &vpc_id, owner, recorded, adopt, &mut warnings)
            .await?;
    let ids: Vec<String> = tagged.groups.iter().map(|g| g.id.clone()).collect();
    let mut eni_warnings = Vec::new();
    let (interfaces, balancers, (read, notes)) = future::join3(
        ec2::read::interfaces(
            &clients.ec2,
            ec2::read::Where::Vpc(&vpc_id),
            owner,
            &ids,
            &mut eni_warnings,
        ),
        elbv2::load_balancers(&clients.elbv2, &vpc_id, &owner.prefix, &ids),
        quotas::resolve(&clients.quotas, overrides),
    )
    .await;
    warnings.extend(eni_warnings);
    let (interfaces, balancers) = (interfaces?, balancers?);
    let mut targets = interfaces.targets.clone();
    targets.extend(balancers.targets);
    let mut untagged = interfaces.untagged.clone();
    untagged.extend(balancers.untagged);
    if carriers {
        // ATTACH=carriers: only someone allowed to change a resource's groups can make it carry a
        // managed group, so carrying one is as good an opt-in as the tag.
        for t in &untagged {
            tracing::info!(target = %t.id, "carries a managed group: a target (ATTACH=carriers)");
        }
        targets.append(&mut untagged);
    }
    for t in &untagged {
        warnings.push(format!(
            "{} carries a managed group but not the tag sgsync:target={}: it is never modified (no new \
             group is attached to it); tag it to make it a target",
            t.id, owner.prefix
        ));
    }
    // Two deployments of one service on one target: each keeps what it applies, so a range one of
    // them withdraws stays allowed while the other still has it. Usually a CLI run that forgot the
    // function's DEPLOYMENT_ID.
    for t in &targets {
        for id in &t.groups {
            if let Some((name, other)) = tagged.others.get(id) {
                warnings.push(format!(
                    "{} also carries {name} ({id}) of deployment '{other}', with the same service and prefix: \
                     a range one deployment withdraws stays allowed there while the other holds it. If this \
                     run should be that deployment, set DEPLOYMENT_ID={other} (the deploy template's stack \
                     name); otherwise give one of them another PREFIX_NAME",
                    t.id
                ));
            }
        }
    }
    let foreign = match replaces {
        Some(replaces) => {
            let on_targets: BTreeSet<String> = (targets.iter())
                .flat_map(|t| &t.groups)
                .filter(|id| !ids.contains(id))
                .cloned()
                .collect();
            let mut foreign = match on_targets.is_empty() {
                true => BTreeMap::new(),
                false => {
                    ec2::read::foreign_groups(
                        &clients.ec2,
                        &on_targets,
                        replaces,
                        &owner.prefix,
                        &mut warnings,
                    )
                    .await?
                }
            };
            let elsewhere: BTreeSet<&String> = (interfaces.bystanders.iter())
                .chain(&balancers.bystanders)
                .chain(untagged.iter().flat_map(|t| &t.groups))
                .collect();
            for (id, g) in &mut foreign {
                g.elsewhere = elsewhere.contains(id);
            }
            if !foreign.values().any(|g| g.replaceable) {
                warnings.push(format!(
                    "REPLACES={replaces} names no group it may swap out on any target (group ids are \
                     lower case; names match exactly, case included; sgsync's own are never swapped): \
                     nothing is swapped out"
                ));
            }
            foreign
        }
        None => BTreeMap::new(),
    };
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
    let unrecorded = unrecorded(
        tagged.unrecorded,
        &interfaces.attached,
        owner,
        &mut warnings,
    );
    Ok(Observed {
        vpc_id,
        groups: tagged.groups,
        targets,
        untagged,
        unrecorded,
        missing: tagged.missing,
        taken_names: tagged.taken,
        quotas,
        rule_digests: BTreeMap::new(),
        foreign,
        warnings,
    })
}

/// What a launch or tag event names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum EventTarget {
    /// An instance: its interfaces.
    Instance(String),
    Interface(String),
    /// An ALB or NLB, by ARN.
    LoadBalancer(String),
}

impl EventTarget {
    /// The target an ARN names: an instance, a network interface, an ALB or NLB; `None` for anything
    /// else.
    pub(crate) fn from_arn(arn: &str) -> Option<EventTarget> {
        let resource = arn.splitn(6, ':').nth(5)?;
        let service = arn.split(':').nth(2)?;
        match (service, resource.split_once('/')) {
            ("ec2", Some(("instance", id))) => Some(EventTarget::Instance(id.to_string())),
            ("ec2", Some(("network-interface", id))) => {
                Some(EventTarget::Interface(id.to_string()))
            }
            ("elasticloadbalancing", Some(("loadbalancer", rest)))
                if rest.starts_with("app/") || rest.starts_with("net/") =>
            {
                Some(EventTarget::LoadBalancer(arn.to_string()))
            }
            _ => None,
        }
    }
}

impl std::fmt::Display for EventTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EventTarget::Instance(id) => write!(f, "instance {id}"),
            EventTarget::Interface(id) => write!(f, "interface {id}"),
            EventTarget::LoadBalancer(arn) => {
                write!(f, "{}", TargetId::LoadBalancer(arn.clone()))
            }
        }
    }
}

/// Reads what a launch or tag event needs, and nothing more: the event's targets (an instance's
/// interfaces, an interface, a load balancer) that carry the target tag, the managed groups of their
/// VPC, the quotas. `vpc_id` is the deployment's VPC: a target elsewhere is not this deployment's.
pub(crate) async fn observe_event_targets(
    clients: &Clients,
    vpc_id: Option<&str>,
    owner: &Ownership,
    overrides: QuotaOverrides,
    target: &EventTarget,
) -> Result<Observed, AwsError> {
    let record = |what| super::record::Record::new(&clients.ssm, &owner.deployment, what);
    let (recorded, digests) =
        future::try_join(record(GROUPS_RECORD).read(), record(RULES_RECORD).read()).await?;
    let recorded = recorded.set;
    let rule_digests = (digests.set.iter())
        .filter_map(|e| e.split_once(':'))
        .map(|(id, d)| (id.to_string(), d.to_string()))
        .collect();
    let mut warnings = Vec::new();
    let (targets, vpcs): (Vec<ObservedTarget>, BTreeSet<String>) = match target {
        EventTarget::Instance(id) | EventTarget::Interface(id) => {
            let place = match target {
                EventTarget::Instance(_) => ec2::read::Where::Instance(id),
                _ => ec2::read::Where::Interface(id),
            };
            let found =
                ec2::read::interfaces(&clients.ec2, place, owner, &[], &mut warnings).await?;
            (found.targets, found.vpcs)
        }
        EventTarget::LoadBalancer(arn) => {
            match elbv2::load_balancer(&clients.elbv2, arn, &owner.prefix).await? {
                Some((vpc, t)) => (vec![t], BTreeSet::from([vpc])),
                None => (Vec::new(), BTreeSet::new()),
            }
        }
    };
    let Some(vpc) = vpcs.into_iter().next() else {
        return Ok(Observed {
            warnings,
            ..Observed::default()
        });
    };
    // Without VPC_ID the deployment is the default VPC's: a target elsewhere is another's.
    let mine = match vpc_id {
        Some(mine) => mine.to_string(),
        None => ec2::read::default_vpc(&clients.ec2).await?,
    };
    if mine != vpc {
        warnings.push(format!(
            "{target} is in {vpc}, not in this deployment's VPC {mine}: left to the deployment of {vpc}"
        ));
        return Ok(Observed {
            vpc_id: vpc,
            warnings,
            ..Observed::default()
        });
    }
    let (tagged, (read, _)) = future::join(
        ec2::read::managed_groups(&clients.ec2, &vpc, owner, &recorded, false, &mut warnings),
        quotas::resolve(&clients.quotas, overrides),
    )
    .await;
    let tagged = tagged?;
    for (u, _) in &tagged.unrecorded {
        warnings.push(unrecorded_warning("group", u, &groups_record(owner)));
    }
    let quotas = read.unwrap_or_else(|| held(&tagged.groups, &targets, overrides));
    Ok(Observed {
        vpc_id: vpc,
        groups: tagged.groups,
        targets,
        untagged: Vec::new(),
        unrecorded: tagged.unrecorded.into_iter().map(|(u, _)| u).collect(),
        missing: Vec::new(),
        taken_names: tagged.taken,
        quotas,
        rule_digests,
        foreign: BTreeMap::new(),
        warnings,
    })
}

/// The record of a deployment's security groups: `/sgsync/<DEPLOYMENT_ID>/security-groups`.
pub(crate) const GROUPS_RECORD: &str = "security-groups";

/// What the last full apply left in each group (`sg-…:digest`, for the event path):
/// `/sgsync/<DEPLOYMENT_ID>/security-group-rules`.
pub(crate) const RULES_RECORD: &str = "security-group-rules";

fn groups_record(owner: &Ownership) -> String {
    record_name(&owner.deployment, GROUPS_RECORD)
}

/// The unrecorded groups, each reclaimable when it carries this deployment's own tags, is empty and
/// is attached to no interface (what a run that stopped between create and record leaves).
fn unrecorded(
    found: Vec<(Unrecorded, bool)>,
    attached: &BTreeSet<String>,
    owner: &Ownership,
    warnings: &mut Vec<String>,
) -> Vec<Unrecorded> {
    found
        .into_iter()
        .map(|(mut u, own_and_empty)| {
            u.reclaimable = own_and_empty && !attached.contains(&u.id);
            if !u.reclaimable {
                warnings.push(unrecorded_warning("group", &u, &groups_record(owner)));
            }
            u
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::EventTarget;

    #[test]
    fn event_targets_are_read_off_the_arn() {
        let i = "arn:aws:ec2:us-east-1:123456789012:instance/i-0abc";
        assert_eq!(
            EventTarget::from_arn(i),
            Some(EventTarget::Instance("i-0abc".into()))
        );
        let eni = "arn:aws:ec2:us-east-1:123456789012:network-interface/eni-0abc";
        assert_eq!(
            EventTarget::from_arn(eni),
            Some(EventTarget::Interface("eni-0abc".into()))
        );
        let alb = "arn:aws:elasticloadbalancing:us-west-2:123456789012:loadbalancer/app/web/50dc6c495c0c9188";
        assert_eq!(
            EventTarget::from_arn(alb),
            Some(EventTarget::LoadBalancer(alb.into()))
        );
        for other in [
            "arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/tg/50dc6c495c0c9188",
            "arn:aws:elasticloadbalancing:us-west-2:123456789012:loadbalancer/gwy/g/50dc",
            "arn:aws:ec2:us-east-1:123456789012:volume/vol-0abc",
            "arn:aws:s3:::bucket",
            "not an arn",
        ] {
            assert_eq!(EventTarget::from_arn(other), None, "{other}");
        }
    }
}
