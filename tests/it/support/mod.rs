//! Shared support for the integration tests, by concern: a moto server per test (`moto`), a
//! fault-injecting, recording proxy in front of it (`proxy`), documents and a real HTTP server for them
//! (`files`), the SDK to set up and read back security groups, interfaces and load balancers (`aws`),
//! prefix lists, WAF IP sets and shares (`kinds`), other accounts (`accounts`), the `sgsync` binary
//! (`cli`) and checks over recorded calls (`checks`).

mod accounts;
mod aws;
mod checks;
mod cli;
mod files;
mod kinds;
mod moto;
pub mod proxy;

use std::path::PathBuf;

pub use aws::{Aws, per_family, union};
pub use checks::{assert_make_before_break, ec2_elb_reads, writes};
pub use cli::{Output, Sgsync};
pub use files::{
    FileServer, HOOKS_V4, LATEST_MD5, LATEST_SYNCTOKEN, NEW_PREFIXES, cidrs, doc_file,
    edited_document, etag_of, expected_cidrs, expected_rules, github_meta, latest, small_document,
    sns_event,
};
pub use kinds::{IpSet, PrefixList};
pub use moto::Moto;
pub use sgsync::testkit::replay_files;

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A file under `tests/fixtures/`.
pub fn fixture(rel: &str) -> PathBuf {
    sgsync::testkit::fixtures().join(rel)
}
