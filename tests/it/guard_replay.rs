//! The guards against the real history (tests/fixtures/ip-ranges/replay, 170 versions, 2017–2026):
//! what Amazon really published never trips the range checks or the address-space bound, and the
//! removal guard stops exactly the steps listed here (each a real, large shrink that an operator
//! confirms with `--force`). docs/design.md ("Guards") quotes these results.

use std::collections::BTreeSet;

use ipnet::IpNet;

use sgsync::guard::{check_growth, check_ranges, check_removal, check_synctoken};
use sgsync::ranges::{IpVersions, Selection, select};
use sgsync::rule::{PortRange, Rule, desired_rules};
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

/// Which steps of `service`'s history (dual stack, or IPv6 alone) the guards refuse without `--force`.
fn refused(service: &str, v4: bool) -> Vec<String> {
    let limits = sgsync::config::Config::from_args(
        &sgsync::config::ConfigArgs::default(),
        &sgsync::config::Environment::default(),
    )
    .unwrap()
    .guard;
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
        if let Err(e) = check_removal("rules", &applied, &rules, &limits) {
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
/// (6 → 9 → 25 → 2) and the added space small: no step adds more than the bound. Dual stack (with
/// the 45 IPv4 rules) no step removes more than half the rules. IPv6 alone, six steps of that
/// summer's churn do (the shrink back removes 24 of 25 rules): the removal guard stops each until an
/// operator confirms with --force, and the ranges that would go stay allowed meanwhile: nothing is
/// lost, nothing widens.
#[test]
fn the_origin_facing_history_and_its_july_2025_event() {
    let refused_dual = refused("CLOUDFRONT_ORIGIN_FACING", true);
    assert!(refused_dual.is_empty(), "{refused_dual:#?}");
    let refused_v6 = refused("CLOUDFRONT_ORIGIN_FACING", false);
    let steps: Vec<&str> = refused_v6.iter().map(|r| &r[..4]).collect();
    assert_eq!(
        steps,
        ["0118", "0119", "0120", "0124", "0130", "0131"],
        "{refused_v6:#?}"
    );
    assert!(
        refused_v6
            .iter()
            .any(|r| r.starts_with("0120") && r.contains("remove 24 of the 25 rules")),
        "{refused_v6:#?}"
    );
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
