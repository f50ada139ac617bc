//! AWS WAF (wafv2) IP sets: the sets this deployment owns and their addresses, and the writes a plan
//! asks for. `UpdateIPSet` replaces a set whole and needs the lock token of the last read: each update
//! reads the set first, and a `WAFOptimisticLockException` (someone wrote in between) means read again
//! and retry. WAF allows one call per second per account and region of any one Create, Put or Update
//! action, so consecutive calls of one such action are spaced.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use aws_sdk_wafv2::Client;
use aws_sdk_wafv2::types::{IpAddressVersion, Scope as WafScope, Tag};
use ipnet::IpNet;
use tracing::warn;

use super::record::{Record, unrecorded_warning};
use super::{TAG_DEPLOYMENT, TAG_PREFIX, TAG_SYNCTOKEN, sdk_error};
use crate::error::AwsError;
use crate::ip_sets::{Observed, ObservedSet, RetiringSet, Scope, SetApi, SetReads, set_name};
use crate::ownership::{Ownership, Unrecorded};
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

/// The sets of the scope this deployment recorded (by ARN) and those of its names (`{stem}-ipv4`,
/// `{stem}-ipv6`) it did not; and every recorded set's ARN by id.
async fn observe(
    waf: &Client,
    s: Scope,
    owner: &Ownership,
    recorded: &BTreeSet<String>,
    record: &str,
    adopt: bool,
) -> Result<(Observed, BTreeMap<String, String>), AwsError> {
    const OP: &str = "wafv2:ListIPSets";
    let wanted: BTreeMap<String, Family> = Family::ALL
        .iter()
        .map(|f| (set_name(&owner.stem, *f), *f))
        .collect();
    let mut observed = Observed::default();
    let mut arns = BTreeMap::new();
    let mut seen = BTreeSet::new();
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
            seen.insert(arn.to_string());
            let recorded = recorded.contains(arn);
            let Some(family) = wanted.get(name).copied() else {
                if recorded {
                    arns.insert(id.to_string(), arn.to_string());
                    observed.retiring.push(RetiringSet {
                        id: id.to_string(),
                        name: name.to_string(),
                    });
                }
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
            let ours = tags.get(TAG_PREFIX) == Some(&owner.prefix.as_str())
                && tags.get(TAG_DEPLOYMENT) == Some(&owner.deployment.as_str());
            let adopted = !recorded && ours && adopt;
            if !recorded && !adopted {
                // A set of this deployment's name that it did not record.
                let empty = ours && read(waf, s, name, id).await?.0.is_empty();
                let u = Unrecorded {
                    id: id.to_string(),
                    name: name.to_string(),
                    // Whether a web ACL uses it shows when it is deleted: WAF refuses.
                    reclaimable: empty,
                };
                if !empty {
                    observed
                        .warnings
                        .push(unrecorded_warning("WAF IP set", &u, record));
                }
                observed.unrecorded.push(u);
                continue;
            }
            arns.insert(id.to_string(), arn.to_string());
            let (addresses, _, _) = read(waf, s, name, id).await?;
            let synctoken = tags.get(TAG_SYNCTOKEN).and_then(|v| v.parse().ok());
            observed.sets.push(ObservedSet {
                id: id.to_string(),
                name: name.to_string(),
                family,
                addresses: addresses.into_iter().collect(),
                synctoken,
                adopt: adopted,
            });
        }
        marker = out
            .next_marker()
            .map(str::to_string)
            .filter(|m| !m.is_empty());
        if marker.is_none() || out.ip_sets().is_empty() {
            break;
        }
    }
    observed.missing = recorded
        .iter()
        .filter(|arn| !seen.contains(*arn))
        .cloned()
        .collect();
    Ok((observed, arns))
}

/// The record of a deployment's WAF IP sets: `/sgsync/<DEPLOYMENT_ID>/waf-ip-sets`.
pub(crate) const SETS_RECORD: &str = "waf-ip-sets";

/// The WAF kind's [`SetReads`] and [`SetApi`] on wafv2.
pub(crate) struct AwsSets<'a> {
    waf: &'a Client,
    scope: Scope,
    owner: Ownership,
    description: String,
    /// `--adopt`: sets carrying this deployment's tags and names that it did not record are taken
    /// over.
    adopt: bool,
    /// `/sgsync/<DEPLOYMENT_ID>/waf-ip-sets`: the sets' ARNs.
    record: Record<'a>,
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
        adopt: bool,
    ) -> Self {
        AwsSets {
            waf: &clients.waf,
            scope,
            record: Record::new(&clients.ssm, &owner.deployment, SETS_RECORD),
            owner,
            description,
            adopt,
            arns: BTreeMap::new(),
            last: BTreeMap::new(),
        }
    }

    /// The record's name.
    pub(crate) fn record_name(&self) -> String {
        self.record.name.clone()
    }

    fn arn(&self, id: &str, op: &'static str) -> Result<String, AwsError> {
        self.arns
            .get(id)
            .cloned()
            .ok_or_else(|| AwsError::other(op, format!("no ARN known for WAF IP set {id}")))
    }

    /// Deletes a set (reading its lock token first); `false` when a web ACL or rule group uses it.
    async fn delete(&mut self, id: &str, name: &str) -> Result<bool, AwsError> {
        const OP: &str = "wafv2:DeleteIPSet";
        for _ in 0..5 {
            let token = match read(self.waf, self.scope, name, id).await {
                Ok((_, token, _)) => token,
                Err(e) if e.is("WAFNonexistentItemException") => return Ok(true),
                Err(e) => return Err(e),
            };
            self.pace(OP).await;
            let sent = self
                .waf
                .delete_ip_set()
                .name(name)
                .scope(scope(self.scope))
                .id(id)
                .lock_token(token)
                .send()
                .await
                .map_err(|e| sdk_error(OP, e));
            match sent {
                Ok(_) => return Ok(true),
                Err(e) if e.is("WAFNonexistentItemException") => return Ok(true),
                Err(e) if e.is("WAFAssociatedItemException") => return Ok(false),
                Err(e) if e.is("WAFOptimisticLockException") => continue,
                Err(e) => return Err(e),
            }
        }
        Err(AwsError::other(
            OP,
            format!("WAF IP set {name} kept changing under this run; the next run continues"),
        ))
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
        let recorded = self.record.read().await?.set;
        let (observed, arns) = observe(
            self.waf,
            self.scope,
            &self.owner,
            &recorded,
            &self.record.name,
            self.adopt,
        )
        .await?;
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
            // Empty until recorded: a run that stops in between leaves a set the next reclaims.
            .set_addresses(Some(Vec::new()))
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
        self.record
            .update(&self.owner, &[arn.to_string()], &[])
            .await?;
        if !addresses.is_empty() {
            self.update(id, name, addresses).await?;
        }
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
        let arn = self.arn(id, "wafv2:TagResource")?;
        tracing::debug!(set = name, "recording the synctoken");
        self.waf
            .tag_resource()
            .resource_arn(arn)
            .tags(tag(TAG_SYNCTOKEN, &synctoken.to_string()))
            .send()
            .await
            .map_err(|e| sdk_error("wafv2:TagResource", e))?;
        Ok(())
    }

    async fn adopt(&mut self, ids: &[String]) -> Result<(), AwsError> {
        let arns = ids
            .iter()
            .map(|id| self.arn(id, "ssm:PutParameter"))
            .collect::<Result<Vec<_>, _>>()?;
        self.record.update(&self.owner, &arns, &[]).await
    }

    async fn retire(&mut self, id: &str, name: &str) -> Result<bool, AwsError> {
        let arn = self.arn(id, "wafv2:DeleteIPSet")?;
        if !self.delete(id, name).await? {
            return Ok(false);
        }
        self.record.update(&self.owner, &[], &[arn]).await?;
        Ok(true)
    }

    async fn reclaim(&mut self, id: &str, name: &str) -> Result<bool, AwsError> {
        self.delete(id, name).await
    }

    async fn forget(&mut self, arns: &[String]) -> Result<(), AwsError> {
        self.record.update(&self.owner, &[], arns).await
    }
}
