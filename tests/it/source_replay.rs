//! Other providers' real histories (tests/fixtures/sources, PROVENANCE.md): each version read as a
//! deployment of that source reads it, through the document guards, then planned and run in order
//! against the simulated world and its referee (every invariant checked call by call, the real
//! `apply`), with a target carrying one group of its own. No AWS.

use std::collections::BTreeSet;

use sgsync::formats::{Format, Source};
use sgsync::guard::GuardLimits;
use sgsync::ranges::{IpVersions, Selection};
use sgsync::rule::{PortRange, Rule, desired_rules};
use sgsync::security_groups::{Desired, Observed, TargetId, plan};
use sgsync::testkit::groups::check_run;

use crate::support::fixture;

/// Replays `files` of `format` in order with `services` on port 443, dual stack.
fn replay(format: Format, files: &[&str], services: &[&str], regions: Option<&[&str]>) -> usize {
    let selection = Selection {
        services: services.iter().map(|s| s.to_string()).collect(),
        regions: regions.map(|r| r.iter().map(|s| s.to_string()).collect()),
        ip_versions: IpVersions { v4: true, v6: true },
    };
    let mut observed = Observed::default();
    let mut previous: Option<BTreeSet<Rule>> = None;
    let mut changed = 0;
    for (i, file) in files.iter().enumerate() {
        let bytes = std::fs::read(fixture(&format!("sources/{file}"))).unwrap();
        // A source without versions is named by the time of its download: here, its place.
        let set =
            sgsync::select_document(Source::Format(format), &bytes, &selection, 1_000 + i as u64)
                .unwrap_or_else(|e| panic!("{file}: {e}"));
        sgsync::guard::check_ranges(&set, &GuardLimits::DEFAULTS)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let rules = desired_rules(&set.ipv4, &set.ipv6, &[PortRange::single(443)]);
        let d = Desired {
            rules: rules.clone(),
            synctoken: set.synctoken,
            group_stem: format!("AUTOUPDATE-{format}"),
            repack: false,
            published: None,
        };
        let p = plan(&d, &observed).unwrap_or_else(|e| panic!("{file}: {e}"));
        if previous.as_ref() == Some(&rules) {
            assert!(
                !p.changes_access(),
                "{file}: unchanged ranges but {:?}",
                p.actions
            );
        } else if previous.is_some() {
            changed += 1;
        }
        let mut world = check_run(&observed, &d, &p).unwrap_or_else(|e| panic!("{file}: {e}"));
        if i == 0 {
            let mut ids = vec!["sg-own".to_string()];
            ids.extend(world.groups.values().map(|g| g.id.clone()));
            world
                .targets
                .insert(TargetId::Interface("eni-origin".into()), ids);
        }
        let held: BTreeSet<Rule> = world
            .groups
            .values()
            .flat_map(|g| g.rules.iter().copied())
            .collect();
        assert_eq!(held, rules, "{file}: not exactly the published rules");
        observed = world.observe();
        previous = Some(rules);
    }
    changed
}

#[test]
fn github_hooks_web_and_copilot_over_four_captures() {
    let files = [
        "github/meta-2025-05.json",
        "github/meta-2025-10-30.json",
        "github/meta-2026-01-26.json",
        "github/meta.json",
    ];
    for service in ["hooks", "web", "api", "git", "copilot"] {
        replay(Format::Github, &files, &[service], None);
    }
}

#[test]
fn google_cloud_json_over_four_versions() {
    // All of cloud.json is more than 300 IPv4 ranges: a few regions' at a time is what groups hold.
    let files = [
        "google/cloud-2024-07-15.json",
        "google/cloud-2025-05-06.json",
        "google/cloud-2025-10-30.json",
        "google/cloud-2026-01-26.json",
    ];
    let regions = ["europe-west1", "us-central1", "asia-northeast1"];
    let changed = replay(Format::Google, &files, &["Google Cloud"], Some(&regions));
    assert!(
        changed > 0,
        "Google's ranges changed between these versions"
    );
}

#[test]
fn oracle_object_storage_over_four_versions() {
    let files = [
        "oracle/public_ip_ranges-2025-04-14.json",
        "oracle/public_ip_ranges-2025-07-31.json",
        "oracle/public_ip_ranges-2025-10-07.json",
        "oracle/public_ip_ranges.json",
    ];
    replay(Format::Oracle, &files, &["OBJECT_STORAGE"], None);
}

#[test]
fn azure_front_door_backend_over_six_weeks() {
    let files = [
        "azure/ServiceTags_Public_20250217_excerpt.json",
        "azure/ServiceTags_Public_20250303_excerpt.json",
        "azure/ServiceTags_Public_20250804_excerpt.json",
        "azure/ServiceTags_Public_20250908_excerpt.json",
        "azure/ServiceTags_Public_20251006_excerpt.json",
        "azure/ServiceTags_Public_excerpt.json",
    ];
    replay(Format::Azure, &files, &["AzureFrontDoor.Backend"], None);
}
