//! One read of a VPC: the managed groups and their rules, every target they are attached to, and the
//! quotas. A no-op run makes exactly these reads (at most four EC2/ELBv2 calls, plus Service Quotas)
//! and nothing else.

use futures_util::future;

use super::{Clients, ec2, elbv2, quotas};
use crate::error::AwsError;
use crate::security_groups::{Observed, Ownership, QuotaOverrides};

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
    let groups = ec2::read::managed_groups(&clients.ec2, &vpc_id, owner, &mut warnings).await?;
    let ids: Vec<String> = groups.iter().map(|g| g.id.clone()).collect();
    let mut eni_warnings = Vec::new();
    let (interfaces, balancers, (quotas, notes)) = future::join3(
        ec2::read::interfaces_with(&clients.ec2, &vpc_id, &ids, &mut eni_warnings),
        elbv2::load_balancers_with(&clients.elbv2, &ids),
        quotas::resolve(&clients.quotas, overrides),
    )
    .await;
    warnings.extend(eni_warnings);
    warnings.extend(notes);
    let mut targets = interfaces?;
    targets.extend(balancers?);
    Ok(Observed {
        vpc_id,
        groups,
        targets,
        quotas,
        warnings,
    })
}
