//! What the tests and benchmarks share, compiled only for them (feature `testkit`, which the crate's
//! own dev-dependency on itself turns on): the simulated worlds of the three kinds and their referees,
//! and the real published history the replays walk through. None of it is in the release library.

pub mod groups;
pub mod lists;
pub mod sets;

use std::path::PathBuf;

/// The repository's test fixtures (`tests/fixtures`).
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The 170 real published versions of `tests/fixtures/ip-ranges/replay`, in publication order.
pub fn replay_files() -> Vec<PathBuf> {
    let dir = fixtures().join("ip-ranges/replay");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(|c: char| c.is_ascii_digit()))
        })
        .collect();
    files.sort();
    assert_eq!(files.len(), 170, "the replay series has 170 versions");
    files
}
