//! What a run did, or why it failed, as plain data: the input of every report (the summary JSON, the
//! text, the log line, the metrics), built by `sync`, `attach` and `fleet`, read by `report`, `metrics`
//! and `lambda`. Each kind's part is held behind the kind contract (`crate::kind::Kind`), so nothing
//! here names a kind.

use std::time::Duration;

use serde::Serialize;
use thiserror::Error;

use crate::error::AwsError;
use crate::guard::GuardError;
use crate::kind::{Kind, KindError};
use crate::load::LoadError;

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Changes were made.
    Applied,
    /// Nothing needed to change; nothing was written.
    Unchanged,
    /// `plan`: changes are needed and were not made.
    Planned,
    /// The document is older than what is applied; nothing was changed.
    Skipped,
}

impl Status {
    /// How it ended, in one word.
    pub fn word(self) -> &'static str {
        match self {
            Status::Applied => "applied",
            Status::Unchanged => "unchanged",
            Status::Planned => "planned",
            Status::Skipped => "skipped",
        }
    }
}

/// One run's result: the document, and each kind's part (the kinds `KINDS` names, in the order they
/// were applied).
#[derive(Debug)]
pub struct Outcome {
    /// How it ended, over all kinds: `Applied` when any kind changed.
    pub status: Status,
    /// The selected service(s), comma-separated.
    pub service: String,
    /// `SOURCE`: whose document (`aws`, `github`, …).
    pub source: String,
    /// The document's synctoken (for an event's run without a document: the newest recorded).
    pub synctoken: u64,
    /// The document's createDate.
    pub create_date: String,
    /// How the document was had (downloaded in full, answered by the kept copy, read from a file).
    pub download: crate::source::Fetched,
    /// How many security-group rules the document asks for (CIDRs × port ranges).
    pub rules: usize,
    /// What the run has to say beside the kinds: the document's parse (entries of other services that
    /// were skipped), a synctoken ahead of the clock.
    pub warnings: Vec<String>,
    /// What failed without stopping the rest of the run (beside each kind's own errors).
    pub errors: Vec<String>,
    /// Each kind's part.
    pub(crate) kinds: Vec<Box<dyn Kind>>,
}

impl Outcome {
    /// Whether the run found changes to make (plan) or made them (apply).
    pub fn changed(&self) -> bool {
        matches!(self.status, Status::Applied | Status::Planned)
    }

    /// The fingerprint of what the run planned (or applied): every kind's actions, in order. An
    /// approved plan (`plan --out`) carries it; `apply --plan` applies only a plan with the same one.
    pub fn plan_fingerprint(&self) -> String {
        plan_fingerprint(self.kinds.iter().map(|k| k.as_ref()))
    }

    /// Everything that failed without stopping the rest: the run's, then each kind's. The run fails
    /// at the end when there is any (exit 1, `RunFailed`).
    pub fn all_errors(&self) -> Vec<String> {
        let mut all = self.errors.clone();
        all.extend(self.kinds.iter().flat_map(|k| k.errors()));
        all
    }

    /// Every synctoken the managed resources recorded before the run.
    pub(crate) fn recorded_synctokens(&self) -> Vec<u64> {
        self.kinds.iter().flat_map(|k| k.synctokens()).collect()
    }

    /// The synctoken applied after the run: the document's when it was applied (or already was),
    /// else the newest recorded.
    pub fn applied_synctoken(&self) -> Option<u64> {
        match self.status {
            Status::Applied | Status::Unchanged => Some(self.synctoken),
            Status::Planned | Status::Skipped => self.recorded_synctokens().into_iter().max(),
        }
    }

    /// Every warning of the run: its own, then each kind's.
    pub fn all_warnings(&self) -> Vec<String> {
        let mut all = self.warnings.clone();
        all.extend(self.kinds.iter().flat_map(|k| k.warnings()));
        all
    }
}

/// What exists now, for `sgsync status`: one read of every kind `KINDS` names.
#[derive(Debug)]
pub struct Inventory {
    /// The ownership prefix.
    pub prefix: String,
    /// Each kind as read.
    pub(crate) kinds: Vec<Box<dyn Kind>>,
}

impl Inventory {
    /// The newest synctoken recorded on any managed resource.
    pub fn applied_synctoken(&self) -> Option<u64> {
        self.kinds.iter().flat_map(|k| k.synctokens()).max()
    }
}

/// What was refused that is not an AWS failure. Nothing was changed.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum Refusal {
    /// An event of another region: its resources cannot be this deployment's (a replayed file, or a
    /// rule forwarding events across regions).
    #[error(
        "the event happened in {event}, this deployment is in {deployment}: nothing was changed; \
         replay it with REGION={event} (and that Region's settings)"
    )]
    OtherRegion {
        /// The event's region.
        event: String,
        /// The deployment's.
        deployment: String,
    },
    /// Another run of the deployment held its lease for as long as this one waited.
    #[error(
        "another run of this deployment is applying ({lease} is held: {held_by}); nothing was changed: \
         the next run (or a retry) goes on once it is done. If no run is going on (one was killed), the \
         lease ends by itself within {left_seconds} s"
    )]
    Busy {
        /// The lease's parameter.
        lease: String,
        /// Its holder and expiry, escaped.
        held_by: String,
        /// How long it still holds, at most.
        left_seconds: u64,
    },
    /// `apply --plan`: what would be applied now is not the approved plan.
    #[error(
        "the approved plan no longer matches: applying now would do something else ({why}); nothing was \
         changed. Run `sgsync plan --out FILE` again, review it, and apply that"
    )]
    PlanMoved {
        /// What moved.
        why: String,
    },
    /// A new target cannot just be given the managed groups: they need a full run first.
    #[error(
        "{target} cannot just be given the managed groups: they first need a full run ({actions}); \
         nothing was changed. Run `sgsync apply`, or wait for the daily run"
    )]
    NeedsFullRun {
        /// The event's target.
        target: String,
        /// What a full run would do first.
        actions: String,
    },
}

/// Why a run failed. In every case but a kind's `Apply` failure nothing was changed.
#[derive(Debug, Error)]
pub enum RunError {
    /// The document could not be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// Reading AWS failed.
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// A sanity check refused the document.
    #[error(transparent)]
    Guard(#[from] GuardError),
    /// A kind could not be planned, or an action failed midway.
    #[error(transparent)]
    Kind(#[from] KindError),
    /// The run was refused.
    #[error(transparent)]
    Refused(#[from] Refusal),
}

/// SHA-256 of each kind's name and actions (as the summary's JSON shows them), hex.
fn strip_synctokens(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            map.remove("synctoken");
            map.values_mut().for_each(strip_synctokens);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_synctokens),
        _ => {}
    }
}

pub(crate) fn plan_fingerprint<'a>(kinds: impl Iterator<Item = &'a dyn Kind>) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for kind in kinds {
        let section = kind.summary();
        hash.update(kind.noun().as_bytes());
        hash.update([0]);
        // Without the synctokens the actions record: the approved document is pinned by its MD5, and
        // a source without a version of its own names each download by its time.
        let mut actions = section.value["actions"].clone();
        strip_synctokens(&mut actions);
        hash.update(actions.to_string().as_bytes());
        hash.update([0]);
        // What a swap (REPLACES) drops is part of what was approved.
        if let Some(dropped) = section.value.get("dropped_rules") {
            hash.update(dropped.to_string().as_bytes());
            hash.update([0]);
        }
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Which VPC a fleet entry is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryLabel {
    pub account: String,
    pub region: String,
    /// `None`: the region's default VPC.
    pub vpc_id: Option<String>,
}

impl EntryLabel {
    /// `account region vpc`, for messages.
    pub fn label(&self) -> String {
        format!(
            "{} {} {}",
            self.account,
            self.region,
            self.vpc_id.as_deref().unwrap_or("(default VPC)")
        )
    }
}

/// One fleet entry's result.
#[derive(Debug)]
pub struct EntryOutcome<T> {
    pub entry: EntryLabel,
    /// What the run did, or why it failed (the whole error chain, one line).
    pub result: Result<T, String>,
    /// How long the entry took, credentials included.
    pub duration: Duration,
}

/// A fleet run: every entry, in the file's order.
#[derive(Debug)]
pub struct FleetOutcome {
    /// The document's synctoken.
    pub synctoken: u64,
    pub entries: Vec<EntryOutcome<Outcome>>,
}

impl FleetOutcome {
    /// How many entries failed (or completed with errors).
    pub fn failed(&self) -> usize {
        (self.entries.iter())
            .filter(|e| match &e.result {
                Ok(o) => !o.all_errors().is_empty(),
                Err(_) => true,
            })
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(result: Result<Outcome, String>) -> EntryOutcome<Outcome> {
        EntryOutcome {
            entry: EntryLabel {
                account: "111122223333".into(),
                region: "us-east-1".into(),
                vpc_id: None,
            },
            result,
            duration: Duration::ZERO,
        }
    }

    fn outcome(status: Status, errors: &[&str]) -> Outcome {
        Outcome {
            status,
            service: "CLOUDFRONT".into(),
            source: "aws".into(),
            synctoken: 7,
            create_date: String::new(),
            download: Default::default(),
            rules: 0,
            warnings: Vec::new(),
            errors: errors.iter().map(|e| e.to_string()).collect(),
            kinds: Vec::new(),
        }
    }

    /// A hub counts as failed an entry that failed, and one that completed with errors: a VPC whose
    /// live document is older than what it applied is skipped with an error, and must raise the alarm.
    #[test]
    fn a_hub_fails_for_entries_skipped_with_an_error() {
        let fleet = FleetOutcome {
            synctoken: 7,
            entries: vec![
                entry(Ok(outcome(Status::Applied, &[]))),
                entry(Ok(outcome(Status::Skipped, &[]))),
                entry(Ok(outcome(
                    Status::Skipped,
                    &["the live document is older"],
                ))),
                entry(Err("AccessDenied".into())),
            ],
        };
        assert_eq!(fleet.failed(), 2);
    }
}
