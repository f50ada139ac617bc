//! Many VPCs — across accounts and regions — kept in sync by one process (`--fleet FILE`, or the
//! function in hub mode): the fleet file ([`parse`]), and the run over it ([`run_fleet`],
//! [`fleet_status`]). Each entry is an ordinary run (`sync::sync_vpc`) with its own credentials
//! (`AssumeRole` into its account), region and settings; they share one download of the document and
//! one HTTP connection pool.

mod file;
mod run;

pub use file::{DEFAULT_CONCURRENCY, Entry, Fleet, FleetError, MAX_CONCURRENCY, parse};
pub use run::{fleet_status, read_fleet_file, run_fleet};
