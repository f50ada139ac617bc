//! The two quotas that bound a layout, read from Service Quotas, because accounts raise them: a plan
//! made with the defaults would create more groups than needed, or refuse what fits.

use aws_sdk_servicequotas::Client;
use tracing::warn;

use super::sdk_error;
use crate::error::AwsError;
use crate::security_groups::{QuotaOverrides, Quotas};

/// Service Quotas code of "Inbound or outbound rules per security group".
const RULES_PER_GROUP: &str = "L-0EA8095F";
/// Service Quotas code of "Security groups per network interface".
const GROUPS_PER_INTERFACE: &str = "L-2AFB9258";

async fn quota(client: &Client, code: &'static str) -> Result<usize, AwsError> {
    const OP: &str = "servicequotas:GetServiceQuota";
    let out = client
        .get_service_quota()
        .service_code("vpc")
        .quota_code(code)
        .send()
        .await
        .map_err(|e| sdk_error(OP, e))?;
    match out.quota().and_then(|q| q.value()) {
        Some(v) if (1.0..=100_000.0).contains(&v) => Ok(v as usize),
        _ => Err(AwsError::malformed(OP, "usable quota value")),
    }
}

/// The quotas to plan with: overrides win; otherwise Service Quotas. `None`, with the reasons, when a
/// quota that is not overridden cannot be read (not reachable, not permitted): the caller then plans
/// with what it can prove.
pub(super) async fn resolve(
    client: &Client,
    overrides: QuotaOverrides,
) -> (Option<Quotas>, Vec<String>) {
    let defaults = Quotas::default();
    let mut notes = Vec::new();
    let mut read =
        async |code: &'static str, name: &str, fallback: usize| match quota(client, code).await {
            Ok(v) => v,
            Err(e) => {
                let note = format!("could not read the {name} quota ({code}): {e}");
                warn!("{note}");
                notes.push(note);
                fallback
            }
        };
    let rules_per_group = match overrides.rules_per_group {
        Some(v) => v,
        None => read(RULES_PER_GROUP, "rules per group", defaults.rules_per_group).await,
    };
    let groups_per_target = match overrides.groups_per_target {
        Some(v) => v,
        None => {
            read(
                GROUPS_PER_INTERFACE,
                "groups per interface",
                defaults.groups_per_target,
            )
            .await
        }
    };
    let quotas = Quotas {
        rules_per_group,
        groups_per_target,
    };
    (notes.is_empty().then_some(quotas), notes)
}

/// The quotas to plan with: overrides, else Service Quotas, else AWS's defaults (for kinds that need
/// them without a VPC's groups to fall back on: a prefix list's weight in referencing groups).
pub(super) async fn planning(client: &Client, overrides: QuotaOverrides) -> Quotas {
    resolve(client, overrides)
        .await
        .0
        .unwrap_or_else(|| overrides.over(Quotas::default()))
}
