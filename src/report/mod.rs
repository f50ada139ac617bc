//! Everything sgsync tells its user about a run, in one place: the JSON documents (the run's
//! [`Summary`], which is also the Lambda's answer, [`RangesReport`], [`StatusReport`], the fleet's)
//! and their text for a person at a terminal, as `Display` implementations. Each kind says its own part
//! (`crate::kind::Kind`); these put the parts together. The CLI only chooses between JSON and text.
//!
//! - `ranges`: what a document yields (`sgsync ranges`);
//! - `summary`: one run as JSON, and its log line;
//! - `status`: what exists now (`sgsync status`);
//! - `text`: a run as a reviewer reads it (the diff of `plan` and `apply`);
//! - `fleet`: a fleet run and a fleet's status, a line per VPC.

mod fleet;
mod ranges;
mod status;
mod summary;
mod text;

pub use fleet::{EntryStatus, EntrySummary, FleetStatus, FleetStatusReport, FleetSummary};
pub use ranges::{Cidrs, Counts, RangesReport, Sizing};
pub use status::StatusReport;
pub use summary::Summary;
