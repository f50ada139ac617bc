//! The guards against the real history (tests/fixtures/ip-ranges/replay, 170 versions, 2017–2026):
//! what Amazon really published never trips the range checks or the address-space bound, and the
//! removal guard stops exactly the steps listed here (each a real, large shrink that an operator
//! confirms with `--force`). docs/design.md ("Guards") quotes these results.

use std::collections::BTreeSet;

use ipnet::IpNet;

use sgsync::addresses::Addresses;
use sgsync::guard::{check_families, check_growth, check_ranges, check_synctoken};
use sgsync::ranges::{IpVersions, Selection, select};
use sgsync::rule::{Family, PortRange, Rule, desired_rules};
use sgsync::testkit::replay_files;

/// Each version's selected ranges and rules, in order.
fn walk(service: &str, v4: bool) -> Vec<(String, sgsync::ranges::RangeSet, BTreeSet<Rule>)> {
    let selection = Selection {
        services: vec![service.into()],
        regions: None,
        ip_versions: IpVersions { v4, v6: true },
    };
    replay_files()
        .iter()
        .filter_map(|f| {
            let bytes = std::fs::read(f).unwrap();
            // Before a service existed, its selection is refused: nothing to apply yet.
            let set = select(&bytes, &selection).ok()?;
            let rules = desired_rules(&set.ipv4, &set.ipv6, &[PortRange::single(80)]);
            let name = f.file_name().unwrap().to_str().unwrap().to_string();
            Some((name, set, rules))
        })
        .collect()
}

/// The guards' limits at the settings' defaults.
fn limits() -> sgsync::guard::GuardLimits {
    sgsync::config::Config::from_args(
        &sgsync::config::ConfigArgs::default(),
        &sgsync::config::Environment::default(),
    )
    .unwrap()
    .guard
}

/// Which steps of `service`'s history (dual stack, or IPv6 alone) the guards refuse without `--force`.
fn refused(service: &str, v4: bool) -> Vec<String> {
    let limits = limits();
    let nets =
        |rules: &BTreeSet<Rule>| -> BTreeSet<IpNet> { rules.iter().map(|r| r.net).collect() };
    let mut previous: Option<BTreeSet<Rule>> = None;
    let mut refused = Vec::new();
    for (name, set, rules) in walk(service, v4) {
        check_ranges(&set, &limits).unwrap_or_else(|e| panic!("{service} {name}: {e}"));
        // Every version was published, then announced: its token is never in the future.
        check_synctoken(set.synctoken, set.synctoken).unwrap();
        let applied = previous.clone().unwrap_or_default();
        check_growth(&nets(&applied), &nets(&rules), &limits)
            .unwrap_or_else(|e| panic!("{service} {name}: {e}"));
        // As a run counts it: per family, by address (an aggregate that split is not removed).
        let published = Addresses::of(&nets(&rules));
        let removed: BTreeSet<Rule> = (applied.iter())
            .filter(|r| !published.overlaps(&r.net))
            .copied()
            .collect();
        let families: Vec<Family> = match v4 {
            true => Family::ALL.to_vec(),
            false => vec![Family::V6],
        };
        if let Err(e) = check_families(
            "rules",
            &applied,
            &removed,
            &rules,
            &families,
            Rule::family,
            &limits,
        ) {
            refused.push(format!("{name}: {e}"));
        }
        previous = Some(rules);
    }
    refused
}

#[test]
fn cloudfronts_history_passes_every_guard_but_its_large_shrinks() {
    let refused = refused("CLOUDFRONT", true);
    assert!(refused.is_empty(), "{refused:#?}");
}

/// July 2025: CLOUDFRONT_ORIGIN_FACING's IPv6 list went from a few prefixes to 476 and back in a
/// day. The /48s and /63s sit inside the /40s already published, so aggregation keeps the rules few
/// (6 → 9 → 25 → 2) and the added space small: no step adds more than the bound. The removal guard,
/// per family and by address, refuses none of it, IPv6 alone either: the 24 rules the shrink back
/// drops (of 25) lie inside /40s that stay published, so no address of them stops being allowed.
/// Counted by rules, as before round 2b, six steps of that summer would have been stopped.
#[test]
fn the_origin_facing_history_and_its_july_2025_event() {
    let refused_dual = refused("CLOUDFRONT_ORIGIN_FACING", true);
    assert!(refused_dual.is_empty(), "{refused_dual:#?}");
    let refused_v6 = refused("CLOUDFRONT_ORIGIN_FACING", false);
    assert!(refused_v6.is_empty(), "{refused_v6:#?}");
    let by_rules: Vec<String> = {
        let limits = limits();
        let mut previous: Option<BTreeSet<Rule>> = None;
        let mut steps = Vec::new();
        for (name, _, rules) in walk("CLOUDFRONT_ORIGIN_FACING", false) {
            let applied = previous.clone().unwrap_or_default();
            if sgsync::guard::check_removal("rules", &applied, &rules, &limits).is_err() {
                steps.push(name[..4].to_string());
            }
            previous = Some(rules);
        }
        steps
    };
    assert_eq!(by_rules, ["0118", "0119", "0120", "0124", "0130", "0131"]);
    let july: Vec<(String, usize)> = walk("CLOUDFRONT_ORIGIN_FACING", true)
        .into_iter()
        .filter(|(name, _, _)| ("0117".."0121").contains(&&name[..4]))
        .map(|(name, set, _)| (name[..4].to_string(), set.ipv6.len()))
        .collect();
    assert_eq!(
        july,
        [
            ("0117".to_string(), 6),
            ("0118".to_string(), 9),
            ("0119".to_string(), 25),
            ("0120".to_string(), 2)
        ]
    );
}
