//! Everything sgsync tells its user, in one place: the JSON documents (the run's [`Summary`], which is
//! also the Lambda's answer, [`RangesReport`], [`StatusReport`]) and their text for a person at a
//! terminal, as `Display` implementations (an `Outcome`, every kind's actions, the reports). The CLI
//! only chooses between JSON and text.
//!
//! - `ranges`: what a document yields (`sgsync ranges`);
//! - `summary`: one run as JSON, and its log line;
//! - `status`: what exists now (`sgsync status`);
//! - `text`: a run as a reviewer reads it (the diff of `plan` and `apply`), and each action in words;
//! - `fleet`: a fleet run and a fleet's status, a line per VPC.

mod fleet;
mod ranges;
mod status;
mod summary;
mod text;

pub use fleet::{EntryStatus, EntrySummary, FleetStatus, FleetStatusReport, FleetSummary};
pub use ranges::{Counts, RangesReport};
pub use status::{
    GroupStatus, GroupsStatus, ListStatus, SetStatus, SetsStatus, StatusReport, TargetStatus,
};
pub use summary::{
    GroupSummary, GroupsSummary, ListSummary, ListsSummary, SetSummary, SetsSummary, Summary,
};
