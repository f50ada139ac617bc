//! AWS WAF (wafv2) IP sets: the sets this deployment owns and their addresses, and the writes a plan
//! asks for. `UpdateIPSet` replaces a set whole and needs the lock token of the last read: each update
//! reads the set first, and a `WAFOptimisticLockException` (someone wrote in between) means read again
//! and retry. WAF allows one call per second per account and region of any one Create, Put or Update
//! action, so consecutive calls of one such action are spaced.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_wafv2::Client;
use aws_sdk_wafv2::types::{IpAddressVersion, Scope as WafScope, Tag};
use ipnet::IpNet;
use tracing::warn;

use super::{TAG_DEPLOYMENT, TAG_PREFIX, TAG_SYNCTOKEN, sdk_error};
use crate::error::AwsError;
use crate::ip_sets::{Observed, ObservedSet, Scope, SetApi, SetReads, set_name};
use crate::ownership::{Conflict, Ownership};
use crate::rule::Family;

/// WAF's pace for each Create, Put or Update action: one call per second per account and region
/// (<https://docs.aws.amazon.com/waf/latest/developerguide/limits.html>); a little more, for clocks.
const WRITE_SPACING: Duration = Duration::from_millis(1100);

fn scope(s: Scope) -> WafScope {
    match s {
        Scope::Regional => WafScope::Regional,
        Scope::Cloudfront => WafScope::Cloudfront,
    }
}

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder()
        .key(key)
        .value(value)
        .build()
        .expect("key and value are set")
}

/// The addresses of a set, and the lock token to update it with.
async fn read(
    waf: &Client,
    s: Scope,
    name: &str,
    id: &str,
) -> Result<(Vec<IpNet>, String, String), AwsError> {
    const OP: &str = "wafv2:GetIPSet";
    let out = waf
        .get_ip_set()
        .name(name)
        .scope(scope(s))
        .id(id)
        .send()
        .await
        .map_err(|e| sdk_error(OP, e))?;
    let set = out
        .ip_set()
        .ok_or_else(|| AwsError::malformed(OP, "IP set"))?;
    let addresses = set
        .addresses()
        .iter()
        .map(|a| {
            a.parse::<IpNet>()
                .map_err(|_| AwsError::malformed(OP, &format!("valid CIDR (got {a:?})")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let token = out
        .lock_token()
        .ok_or_else(|| AwsError::malformed(OP, "lock token"))?
        .to_string();
    Ok((addresses, token, set.arn().to_string()))
}

/// The sets named as this deployment names them (`{stem}-ipv4`, `{stem}-ipv6`) in `s`, with their
/// addresses; one carrying another deployment's tag (or none) is a conflict.
async fn observe(
    waf: &Client,
    s: Scope,
    owner: &Ownership,
) -> Result<(Observed, BTreeMap<String, String>), AwsError> {
    const OP: &str = "wafv2:ListIPSets";
    let wanted: BTreeMap<String, Family> = Family::ALL
        .iter()
        .map(|f| (set_name(&owner.stem, *f), *f))
        .collect();
    let mut observed = Observed::default();
    let mut arns = BTreeMap::new();
    let mut marker: Option<String> = None;
    loop {
        let out = waf
            .list_ip_sets()
            .scope(scope(s))
            .limit(100)
            .set_next_marker(marker.clone())
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        for summary in out.ip_sets() {
            let (Some(name), Some(id), Some(arn)) = (summary.name(), summary.id(), summary.arn())
            else {
                continue;
            };
            let Some(family) = wanted.get(name).copied() else {
                continue;
            };
            let tags = waf
                .list_tags_for_resource()
                .resource_arn(arn)
                .send()
                .await
                .map_err(|e| sdk_error("wafv2:ListTagsForResource", e))?;
            let tags: BTreeMap<&str, &str> = tags
                .tag_info_for_resource()
                .map(|t| t.tag_list().iter().map(|t| (t.key(), t.value())).collect())
                .unwrap_or_default();
            let owned = tags.get(TAG_PREFIX) == Some(&owner.prefix.as_str())
                && tags.get(TAG_DEPLOYMENT) == Some(&owner.deployment.as_str());
            if !owned {
                observed.conflicts.push(Conflict {
                    id: id.to_string(),
                    name: name.to_string(),
                    deployment: tags
                        .get(TAG_DEPLOYMENT)
                        .map_or("none (no sgsync tags)".to_string(), |d| d.to_string()),
                });
                continue;
            }
            let (addresses, _, _) = read(waf, s, name, id).await?;
            observed.sets.push(ObservedSet {
                id: id.to_string(),
                name: name.to_string(),
                family,
                addresses: addresses.into_iter().collect(),
                synctoken: tags.get(TAG_SYNCTOKEN).and_then(|v| v.parse().ok()),
            });
            arns.insert(id.to_string(), arn.to_string());
        }
        marker = out
            .next_marker()
            .map(str::to_string)
            .filter(|m| !m.is_empty());
        if marker.is_none() || out.ip_sets().is_empty() {
            break;
        }
    }
    Ok((observed, arns))
}

/// The WAF kind's [`SetReads`] and [`SetApi`] on wafv2.
pub(crate) struct AwsSets<'a> {
    waf: &'a Client,
    scope: Scope,
    owner: Ownership,
    description: String,
    arns: BTreeMap<String, String>,
    /// When each paced action was last called.
    last: BTreeMap<&'static str, Instant>,
}

impl<'a> AwsSets<'a> {
    pub(crate) fn new(
        clients: &'a super::Clients,
        scope: Scope,
        owner: Ownership,
        description: String,
    ) -> Self {
        AwsSets {
            waf: &clients.waf,
            scope,
            owner,
            description,
            arns: BTreeMap::new(),
            last: BTreeMap::new(),
        }
    }

    /// Waits until another call of `action` is within WAF's pace.
    async fn pace(&mut self, action: &'static str) {
        if let Some(last) = self.last.get(action) {
            let since = last.elapsed();
            if since < WRITE_SPACING {
                tokio::time::sleep(WRITE_SPACING - since).await;
            }
        }
        self.last.insert(action, Instant::now());
    }
}

impl SetReads for AwsSets<'_> {
    async fn observe(&mut self) -> Result<(Observed, BTreeMap<String, String>), AwsError> {
        let (observed, arns) = observe(self.waf, self.scope, &self.owner).await?;
        self.arns = arns.clone();
        Ok((observed, arns))
    }

    fn arns(&self) -> BTreeMap<String, String> {
        self.arns.clone()
    }
}

impl SetApi for AwsSets<'_> {
    async fn create(
        &mut self,
        name: &str,
        family: Family,
        addresses: &[IpNet],
        synctoken: u64,
    ) -> Result<String, AwsError> {
        const OP: &str = "wafv2:CreateIPSet";
        self.pace(OP).await;
        let version = match family {
            Family::V4 => IpAddressVersion::Ipv4,
            Family::V6 => IpAddressVersion::Ipv6,
        };
        let out = self
            .waf
            .create_ip_set()
            .name(name)
            .scope(scope(self.scope))
            .description(&self.description)
            .ip_address_version(version)
            .set_addresses(Some(addresses.iter().map(ToString::to_string).collect()))
            .tags(tag(TAG_PREFIX, &self.owner.prefix))
            .tags(tag(TAG_DEPLOYMENT, &self.owner.deployment))
            .tags(tag(TAG_SYNCTOKEN, &synctoken.to_string()))
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        let summary = out
            .summary()
            .ok_or_else(|| AwsError::malformed(OP, "summary"))?;
        let (Some(id), Some(arn)) = (summary.id(), summary.arn()) else {
            return Err(AwsError::malformed(OP, "id and ARN"));
        };
        self.arns.insert(id.to_string(), arn.to_string());
        Ok(id.to_string())
    }

    async fn update(&mut self, id: &str, name: &str, addresses: &[IpNet]) -> Result<(), AwsError> {
        const OP: &str = "wafv2:UpdateIPSet";
        for _ in 0..5 {
            let (present, token, _) = read(self.waf, self.scope, name, id).await?;
            let wanted: std::collections::BTreeSet<&IpNet> = addresses.iter().collect();
            if present.iter().collect::<std::collections::BTreeSet<_>>() == wanted {
                return Ok(()); // someone (a concurrent run) wrote it already
            }
            self.pace(OP).await;
            let sent = self
                .waf
                .update_ip_set()
                .name(name)
                .scope(scope(self.scope))
                .id(id)
                // UpdateIPSet replaces every mutable field: the description is sent again.
                .description(&self.description)
                .set_addresses(Some(addresses.iter().map(ToString::to_string).collect()))
                .lock_token(token)
                .send()
                .await
                .map_err(|e| sdk_error(OP, e));
            match sent {
                Ok(_) => return Ok(()),
                Err(e) if e.is("WAFOptimisticLockException") => {
                    warn!(
                        set = name,
                        "another writer updated the set meanwhile: reading it again"
                    );
                }
                Err(e) => return Err(e),
            }
        }
        Err(AwsError::other(
            OP,
            format!("WAF IP set {name} kept changing under this run; the next run continues"),
        ))
    }

    async fn record_synctoken(
        &mut self,
        id: &str,
        name: &str,
        synctoken: u64,
    ) -> Result<(), AwsError> {
        let Some(arn) = self.arns.get(id).cloned() else {
            return Err(AwsError::other(
                "wafv2:TagResource",
                format!("no ARN known for WAF IP set {name}"),
            ));
        };
        self.waf
            .tag_resource()
            .resource_arn(arn)
            .tags(tag(TAG_SYNCTOKEN, &synctoken.to_string()))
            .send()
            .await
            .map_err(|e| sdk_error("wafv2:TagResource", e))?;
        Ok(())
    }
}
