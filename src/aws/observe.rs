//! One read of the world: the VPC, the managed groups and their rules, every target they are attached
//! to, and the quotas. A no-op run makes exactly these reads (at most four EC2/ELBv2 calls, plus
//! Service Quotas) and nothing else.

use futures_util::future;

use super::quotas::{self, ResolvedQuotas};
use super::{AwsError, Clients, ec2, elbv2};
use crate::config::Config;
use crate::plan::Observed;

/// The world as one run sees it before planning.
#[derive(Clone, Debug)]
pub struct Observation {
    /// The VPC whose groups are managed.
    pub vpc_id: String,
    /// Managed groups and their targets, as the planner takes them.
    pub observed: Observed,
    /// The quotas to plan with, and where they came from.
    pub quotas: ResolvedQuotas,
    /// Things the user should know (unmanageable interfaces, unmodelled entries, …).
    pub warnings: Vec<String>,
}

impl Observation {
    /// The newest synctoken recorded on the managed groups: what is applied.
    pub fn applied_synctoken(&self) -> Option<u64> {
        self.observed
            .groups
            .iter()
            .filter_map(|g| g.synctoken)
            .max()
    }

    /// The id of a managed group, by name.
    pub fn group_id(&self, name: &str) -> Option<&str> {
        self.observed
            .groups
            .iter()
            .find(|g| g.name == name)
            .map(|g| g.id.as_str())
    }
}

/// Reads everything a plan needs. Targets and quotas are read concurrently.
pub async fn observe(clients: &Clients, config: &Config) -> Result<Observation, AwsError> {
    let mut warnings = Vec::new();
    let vpc_id = match &config.vpc_id {
        Some(id) => id.clone(),
        None => ec2::default_vpc(&clients.ec2).await?,
    };
    let groups =
        ec2::managed_groups(&clients.ec2, &vpc_id, &config.prefix_name, &mut warnings).await?;
    let ids: Vec<String> = groups.iter().map(|g| g.id.clone()).collect();
    let mut eni_warnings = Vec::new();
    let (interfaces, balancers, quotas) = future::join3(
        ec2::interfaces_with(&clients.ec2, &vpc_id, &ids, &mut eni_warnings),
        elbv2::load_balancers_with(&clients.elbv2, &ids),
        quotas::resolve(&clients.quotas, config),
    )
    .await;
    warnings.extend(eni_warnings);
    let mut targets = interfaces?;
    targets.extend(balancers?);
    Ok(Observation {
        vpc_id,
        observed: Observed { groups, targets },
        quotas,
        warnings,
    })
}
