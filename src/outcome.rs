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
    /// The document's synctoken (for an event's run without a document: the newest recorded).
    pub synctoken: u64,
    /// The document's createDate.
    pub create_date: String,
    /// How many security-group rules the document asks for (CIDRs × port ranges).
    pub rules: usize,
    /// What the run has to say beside the kinds: the document's parse (entries of other services that
    /// were skipped), a synctoken ahead of the clock.
    pub warnings: Vec<String>,
    /// Each kind's part.
    pub(crate) kinds: Vec<Box<dyn Kind>>,
}

impl Outcome {
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
    /// How many entries failed.
    pub fn failed(&self) -> usize {
        self.entries.iter().filter(|e| e.result.is_err()).count()
    }
}
