//! The WAF planner, against the simulated sets (`testkit::sets`) and their referee.

use ipnet::IpNet;
use proptest::prelude::*;

use super::*;
use crate::ownership::Unrecorded;
use crate::rule::Family;
use crate::testkit::sets::{Sets, SimSet, check_run};

fn net(i: u32) -> IpNet {
    if i % 3 == 2 {
        format!("2600:9000:{:x}::/48", 0x100 + i).parse().unwrap()
    } else {
        format!("13.{}.{}.0/24", 32 + i / 256, i % 256)
            .parse()
            .unwrap()
    }
}

fn desired(members: impl IntoIterator<Item = u32>, synctoken: u64, families: &[Family]) -> Desired {
    Desired {
        nets: members
            .into_iter()
            .map(net)
            .filter(|n| families.iter().any(|f| f.holds(n)))
            .collect(),
        synctoken,
        stem: "AUTOUPDATE-cloudfront".into(),
        families: families.to_vec(),
        record: "/sgsync/default/waf-ip-sets".into(),
    }
}

fn run(sets: &Sets, d: &Desired) -> (Plan, Sets) {
    let observed = sets.observe();
    let p = plan(d, &observed).unwrap();
    let after = check_run(&observed, d, &p).unwrap_or_else(|e| panic!("{e}"));
    (p, after)
}

#[test]
fn one_set_per_selected_family_and_one_update_per_changed_set() {
    let both = [Family::V4, Family::V6];
    let (p, sets) = run(&Sets::default(), &desired(0..60, 1, &both));
    assert_eq!(p.actions.len(), 2);
    let names: Vec<&str> = sets.sets.values().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        ["AUTOUPDATE-cloudfront-ipv4", "AUTOUPDATE-cloudfront-ipv6"]
    );
    // Unchanged: nothing.
    assert!(
        plan(&desired(0..60, 1, &both), &sets.observe())
            .unwrap()
            .is_empty()
    );
    // One IPv4 range replaced: one update of the IPv4 set, one tag per set.
    let next = (1..60).chain([1000]);
    let (p, _) = run(&sets, &desired(next, 2, &both));
    let words: Vec<String> = p.actions.iter().map(ToString::to_string).collect();
    assert_eq!(
        words,
        [
            "update WAF IP set AUTOUPDATE-cloudfront-ipv4 (+1 −1)",
            "record synctoken 2 on 2 WAF IP sets",
        ]
    );
}

#[test]
fn a_family_with_no_ranges_still_gets_its_set() {
    // A web ACL rule must always have its set to point at, even an empty one.
    let (_, sets) = run(
        &Sets::default(),
        &desired([0, 1, 3], 1, &[Family::V4, Family::V6]),
    );
    assert_eq!(sets.sets.len(), 2);
    assert!(
        sets.sets
            .values()
            .any(|s| s.family == Family::V6 && s.addresses.is_empty())
    );
}

#[test]
fn refusals_say_why_and_change_nothing() {
    let e = plan(
        &desired(Vec::<u32>::new(), 1, &[Family::V4]),
        &Observed::default(),
    )
    .unwrap_err();
    assert_eq!(e, PlanError::NoDesiredAddresses);
    // A set of this deployment's name that it did not record, and that holds addresses (or is
    // another's): WAF keeps names unique, so the kind stops and says whose move it is.
    let observed = Observed {
        unrecorded: vec![Unrecorded {
            id: "x".into(),
            name: "AUTOUPDATE-cloudfront-ipv4".into(),
            reclaimable: false,
        }],
        ..Observed::default()
    };
    let e = plan(&desired(0..3, 1, &[Family::V4]), &observed).unwrap_err();
    assert!(
        e.to_string().contains(
            "WAF IP set AUTOUPDATE-cloudfront-ipv4 (x) has this deployment's name but is not in its record \
             (/sgsync/default/waf-ip-sets)"
        ),
        "{e}"
    );
    let many = Desired {
        nets: (0..10_001u32)
            .map(|i| {
                format!("{}.{}.{}.0/24", 20 + i / 65536, (i / 256) % 256, i % 256)
                    .parse()
                    .unwrap()
            })
            .collect(),
        synctoken: 1,
        stem: "s".into(),
        families: vec![Family::V4],
        record: "/sgsync/default/waf-ip-sets".into(),
    };
    let e = plan(&many, &Observed::default()).unwrap_err();
    assert!(
        e.to_string()
            .contains("10001 IPv4 CIDRs do not fit in one WAF IP set"),
        "{e}"
    );
}

fn start() -> impl Strategy<Value = Sets> {
    (
        prop::option::of(prop::collection::btree_set(0u32..300, 0..80)),
        prop::option::of(prop::collection::btree_set(0u32..300, 0..80)),
        0u64..3,
    )
        .prop_map(|(v4, v6, token)| {
            let mut sets = Sets::default();
            for (i, (family, members)) in
                [(Family::V4, v4), (Family::V6, v6)].into_iter().enumerate()
            {
                if let Some(members) = members {
                    sets.sets.insert(
                        format!("set-start{i}"),
                        SimSet {
                            name: set_name("AUTOUPDATE-cloudfront", family),
                            family,
                            addresses: members
                                .into_iter()
                                .map(net)
                                .filter(|n| family.holds(n))
                                .collect(),
                            synctoken: Some(token),
                        },
                    );
                }
            }
            sets
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn random_histories_keep_every_invariant(
        start in start(),
        documents in prop::collection::vec(prop::collection::btree_set(0u32..300, 1..150), 1..4),
        v6 in any::<bool>(),
    ) {
        let families: Vec<Family> = if v6 { vec![Family::V4, Family::V6] } else { vec![Family::V4] };
        let mut sets = start;
        for (i, members) in documents.into_iter().enumerate() {
            let d = desired(members, 10 + i as u64, &families);
            if d.nets.is_empty() {
                continue;
            }
            let observed = sets.observe();
            let p = plan(&d, &observed).unwrap();
            let writes: usize = p.actions.len();
            let after = check_run(&observed, &d, &p).map_err(TestCaseError::fail)?;
            // One call per changed set, one per retagged set: nothing else.
            let expected_writes = p.actions.iter().map(|a| match a {
                Action::RecordSynctoken { sets, .. } => sets.len(),
                _ => 1,
            }).sum::<usize>();
            prop_assert_eq!(after.writes, expected_writes);
            prop_assert!(writes <= 3);
            sets = after;
        }
    }
}

/// What is said about the kind: the diff a reviewer reads, the counts, the summary.
#[test]
fn an_update_reads_as_a_diff_of_addresses() {
    use std::collections::BTreeMap;

    use crate::kind::Kind;
    let d = desired(0..70, 7, &[Family::V4]);
    let observed = Observed {
        sets: vec![ObservedSet {
            id: "set-1".into(),
            name: "AUTOUPDATE-cloudfront-ipv4".into(),
            family: Family::V4,
            addresses: d
                .nets
                .iter()
                .skip(1)
                .copied()
                .chain(["192.0.2.0/24".parse().unwrap()])
                .collect(),
            synctoken: Some(6),
            adopt: false,
        }],
        ..Observed::default()
    };
    let p = plan(&d, &observed).unwrap();
    let part = Part {
        changes: Changes::of_plan(&p),
        plan: p,
        ..Part::observed(Scope::Regional, observed, BTreeMap::new())
    };
    let diff = part.diff();
    let first = d.nets.iter().next().unwrap();
    for needle in [
        "  ~ WAF IP set AUTOUPDATE-cloudfront-ipv4 (set-1)\n".to_string(),
        format!("      + {first}\n      - 192.0.2.0/24\n"),
        "  ~ record synctoken 7 on AUTOUPDATE-cloudfront-ipv4\n".to_string(),
    ] {
        assert!(diff.contains(&needle), "missing {needle:?} in\n{diff}");
    }
    assert_eq!(
        part.changes_text(true),
        "0 WAF IP set(s) to create, 1 to update (1 address(es) to add, 1 to remove)"
    );
    let summary = part.summary();
    assert_eq!(summary.key, Some("waf_ip_sets"));
    assert_eq!(summary.value["scope"], "REGIONAL");
    assert_eq!(summary.value["actions"][0]["action"], "update");
    assert_eq!(summary.value["sets"][0]["addresses"], d.nets.len());
}

/// An empty unrecorded set of this deployment's tags (a run stopped between create and record) is
/// deleted and made again; a recorded set of a family no longer selected, or of an earlier
/// selection, is retired unless a web ACL uses it.
#[test]
fn unrecorded_empty_sets_are_reclaimed_and_old_ones_retired() {
    let observed = Observed {
        unrecorded: vec![Unrecorded {
            id: "crashed".into(),
            name: "AUTOUPDATE-cloudfront-ipv4".into(),
            reclaimable: true,
        }],
        ..Observed::default()
    };
    let d = desired(0..3, 1, &[Family::V4]);
    let p = plan(&d, &observed).unwrap();
    let kinds: Vec<String> = p.actions.iter().map(ToString::to_string).collect();
    assert_eq!(
        kinds,
        [
            "delete the empty unrecorded WAF IP set AUTOUPDATE-cloudfront-ipv4",
            "create WAF IP set AUTOUPDATE-cloudfront-ipv4 with 2 addresses",
        ]
    );
    let after = check_run(&observed, &d, &p).unwrap();
    assert!(after.unrecorded.is_empty());

    // IP_VERSIONS narrowed to IPv4, and SERVICE changed once before: both old sets go.
    let both = desired(0..80, 1, &[Family::V4, Family::V6]);
    let mut observed = check_run(
        &Observed::default(),
        &both,
        &plan(&both, &Observed::default()).unwrap(),
    )
    .unwrap()
    .observe();
    observed.retiring.push(RetiringSet {
        id: "old".into(),
        name: "AUTOUPDATE-cloudfront_origin_facing-ipv4".into(),
    });
    let v4 = desired(0..80, 1, &[Family::V4]);
    let p = plan(&v4, &observed).unwrap();
    let kinds: Vec<String> = p.actions.iter().map(ToString::to_string).collect();
    assert_eq!(
        kinds,
        [
            "retire WAF IP set AUTOUPDATE-cloudfront-ipv6",
            "retire WAF IP set AUTOUPDATE-cloudfront_origin_facing-ipv4",
        ]
    );
}
