//! The deployment's record of what it made, in SSM Parameter Store: `/sgsync/<DEPLOYMENT_ID>/<what>`, a
//! `StringList` (ids of security groups or prefix lists, ARNs of WAF IP sets, or `id:digest` pairs).
//! Only the deployment's role may write that path (the template's policy; `deploy/protect-tags-scp.json`
//! for the rest of an organization), so unlike a tag, which anyone in the account may write, the record
//! says what this deployment made: ownership (docs/design.md, "Ownership"), and the ids other tools
//! read (docs/iac.md).
//!
//! Parameter Store has no compare-and-swap, but every write makes a new version, one after the other.
//! A writer reads the value and its version, writes, and checks that its write became the very next
//! version; if another writer's came in between, it reads that writer's change from the history, applies
//! it on top of its own and writes again. So two runs that overlap (a CLI run beside the function, two
//! VPCs of one deployment) lose no one's change. A record is written only when its set changes.

use std::collections::BTreeSet;

use aws_sdk_ssm::Client;
use aws_sdk_ssm::types::{ParameterTier, ParameterType, Tag};
use tracing::warn;

use super::{TAG_DEPLOYMENT, TAG_PREFIX, sdk_error};
use crate::error::AwsError;
use crate::ownership::{Ownership, Unrecorded};

/// What a `StringList` parameter holds at most (Parameter Store's advanced tier; the parameter
/// moves to it by itself past the standard tier's 4 KB: `Intelligent-Tiering`).
const MAX_VALUE: usize = 8192;

/// What the user hears of a resource (`what`: "group", "prefix list", …) that carries this
/// deployment's tags without being in its record `record`.
pub(crate) fn unrecorded_warning(what: &str, u: &Unrecorded, record: &str) -> String {
    format!(
        "{what} {} ({}) has this deployment's name or tags but is not in its record ({record}): not managed, \
         never filled, attached, shared or counted. Tags are anyone's to write; if an sgsync that kept no \
         record made it, `sgsync apply --adopt` records it (review it with `sgsync plan --adopt`)",
        u.name, u.id
    )
}

/// One record: a set of strings in one parameter.
pub(crate) struct Record<'a> {
    ssm: &'a Client,
    /// `/sgsync/<DEPLOYMENT_ID>/<what>`.
    pub(crate) name: String,
}

/// A record as read: its set, and the version it was read at (0: no parameter yet).
pub(crate) struct Read {
    pub(crate) set: BTreeSet<String>,
    pub(crate) version: i64,
}

fn parse(value: &str) -> BTreeSet<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect()
}

/// The name of the record `what` (`security-groups`, `prefix-lists`, `waf-ip-sets`, …) of
/// `deployment`.
pub(crate) fn record_name(deployment: &str, what: &str) -> String {
    format!("/sgsync/{deployment}/{what}")
}

impl<'a> Record<'a> {
    /// The record `what` of `deployment`.
    pub(crate) fn new(ssm: &'a Client, deployment: &str, what: &str) -> Record<'a> {
        Record {
            ssm,
            name: record_name(deployment, what),
        }
    }

    /// The set as it is now; an absent parameter is an empty record.
    pub(crate) async fn read(&self) -> Result<Read, AwsError> {
        const OP: &str = "ssm:GetParameter";
        let out = self.ssm.get_parameter().name(&self.name).send().await;
        match out.map_err(|e| sdk_error(OP, e)) {
            Ok(out) => {
                let p = out
                    .parameter()
                    .ok_or_else(|| AwsError::malformed(OP, "parameter"))?;
                Ok(Read {
                    set: parse(p.value().unwrap_or_default()),
                    version: p.version(),
                })
            }
            Err(e) if e.is("ParameterNotFound") => Ok(Read {
                set: BTreeSet::new(),
                version: 0,
            }),
            Err(e) => Err(e),
        }
    }

    /// Adds `add` to the record and removes `remove` from it, keeping every change another writer
    /// made meanwhile; writes nothing when the set does not change.
    pub(crate) async fn update(
        &self,
        owner: &Ownership,
        add: &[String],
        remove: &[String],
    ) -> Result<(), AwsError> {
        let mut want_add: BTreeSet<String> = add.iter().cloned().collect();
        let mut want_remove: BTreeSet<String> = remove.iter().cloned().collect();
        for _ in 0..8 {
            let now = self.read().await?;
            let mut next = now.set.clone();
            next.extend(want_add.iter().cloned());
            next.retain(|v| !want_remove.contains(v));
            if next == now.set {
                return Ok(());
            }
            let Some(written) = self.write(owner, &next, now.version).await? else {
                continue; // another writer created the parameter first: read it again
            };
            if written == now.version + 1 {
                return Ok(());
            }
            // Others wrote versions between the one read and ours, which ours overwrote: their
            // changes are read off the history and made again, with ours, in the next round.
            let (their_add, their_remove) = self.changes_between(now, written).await?;
            warn!(
                record = %self.name,
                "another run wrote the record meanwhile: merging its change"
            );
            want_add = want_add
                .difference(&their_remove)
                .cloned()
                .chain(their_add.iter().cloned())
                .collect();
            want_remove = want_remove
                .difference(&their_add)
                .cloned()
                .chain(their_remove)
                .collect();
        }
        Err(AwsError::other(
            "ssm:PutParameter",
            format!(
                "{} kept changing under this run (other runs writing it?); the next run records what is \
                 left",
                self.name
            ),
        ))
    }

    /// Writes `set` (or deletes the parameter when it is empty); returns the version written, `None`
    /// when another writer created the parameter first.
    async fn write(
        &self,
        owner: &Ownership,
        set: &BTreeSet<String>,
        read_at: i64,
    ) -> Result<Option<i64>, AwsError> {
        const OP: &str = "ssm:PutParameter";
        if set.is_empty() {
            // Parameter Store keeps no empty list: no parameter is an empty record.
            let deleted = self.ssm.delete_parameter().name(&self.name).send().await;
            return match deleted.map_err(|e| sdk_error("ssm:DeleteParameter", e)) {
                Ok(_) => Ok(Some(read_at + 1)),
                Err(e) if e.is("ParameterNotFound") => Ok(Some(read_at + 1)),
                Err(e) => Err(e),
            };
        }
        let value = set.iter().cloned().collect::<Vec<_>>().join(",");
        if value.len() > MAX_VALUE {
            return Err(AwsError::other(
                OP,
                format!(
                    "{} would hold {} entries ({} characters), more than Parameter Store's {MAX_VALUE}; \
                     split the deployment (one DEPLOYMENT_ID per group of VPCs)",
                    self.name,
                    set.len(),
                    value.len()
                ),
            ));
        }
        let tag = |k: &str, v: &str| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .expect("key and value are set")
        };
        let mut put = self
            .ssm
            .put_parameter()
            .name(&self.name)
            .value(value)
            .r#type(ParameterType::StringList)
            .tier(ParameterTier::IntelligentTiering);
        put = if read_at == 0 {
            // Created tagged; Parameter Store refuses tags beside Overwrite.
            put.overwrite(false)
                .tags(tag(TAG_PREFIX, &owner.prefix))
                .tags(tag(TAG_DEPLOYMENT, &owner.deployment))
        } else {
            put.overwrite(true)
        };
        match put.send().await.map_err(|e| sdk_error(OP, e)) {
            Ok(out) => Ok(Some(out.version())),
            Err(e) if e.is("ParameterAlreadyExists") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// What other writers added and removed between version `read.version` (whose set is `read.set`)
    /// and version `ours` (exclusive).
    async fn changes_between(
        &self,
        read: Read,
        ours: i64,
    ) -> Result<(BTreeSet<String>, BTreeSet<String>), AwsError> {
        const OP: &str = "ssm:GetParameterHistory";
        let mut pages = self
            .ssm
            .get_parameter_history()
            .name(&self.name)
            .into_paginator()
            .send();
        let mut versions = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sdk_error(OP, e))?;
            for p in page.parameters() {
                if p.version() > read.version && p.version() < ours {
                    versions.push((p.version(), parse(p.value().unwrap_or_default())));
                }
            }
        }
        versions.sort_by_key(|(v, _)| *v);
        let (mut added, mut removed) = (BTreeSet::new(), BTreeSet::new());
        let mut before = read.set;
        for (_, set) in versions {
            added.extend(set.difference(&before).cloned());
            removed.extend(before.difference(&set).cloned());
            before = set;
        }
        let both: BTreeSet<String> = added.intersection(&removed).cloned().collect();
        for v in &both {
            // Added, then removed again (or the reverse): the last word is what the history ends with.
            if before.contains(v) {
                removed.remove(v);
            } else {
                added.remove(v);
            }
        }
        Ok((added, removed))
    }
}
