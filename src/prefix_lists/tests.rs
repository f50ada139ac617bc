//! The prefix-list planner, against the simulated region (`testkit::lists`), whose referee checks
//! every invariant after every call: hand-picked cases, then random histories and crashes.

use std::collections::BTreeSet;

use ipnet::IpNet;
use proptest::prelude::*;

use super::*;
use crate::ownership::Unrecorded;
use crate::rule::Family;
use crate::testkit::lists::{Lists, check_run, resume};

fn v4(i: u32) -> IpNet {
    format!("13.{}.{}.0/24", 32 + i / 256, i % 256)
        .parse()
        .unwrap()
}

fn v6(i: u32) -> IpNet {
    format!("2600:9000:{:x}::/48", 0x100 + i).parse().unwrap()
}

fn nets(range: std::ops::Range<u32>) -> BTreeSet<IpNet> {
    range.map(v4).collect()
}

fn desired(nets: BTreeSet<IpNet>, synctoken: u64, cap: usize) -> Desired {
    Desired {
        nets,
        synctoken,
        stem: "AUTOUPDATE-cloudfront".into(),
        cap,
    }
}

/// Plans from `lists` and runs the plan through the referee.
fn run(lists: &Lists, d: &Desired) -> (Plan, Lists) {
    let observed = lists.observe();
    let p = plan(d, &observed).unwrap();
    let after = check_run(&observed, d, &p, &lists.referenced).unwrap_or_else(|e| panic!("{e}"));
    (p, after)
}

fn synced(n: u32, cap: usize) -> Lists {
    run(&Lists::default(), &desired(nets(0..n), 1, cap)).1
}

fn names(p: &Plan) -> Vec<String> {
    p.actions.iter().map(ToString::to_string).collect()
}

#[test]
fn a_first_run_creates_lists_with_headroom_in_requests_of_at_most_100() {
    let (p, lists) = run(&Lists::default(), &desired(nets(0..250), 1, 200));
    assert_eq!(
        names(&p),
        [
            "create prefix list AUTOUPDATE-cloudfront-ipv4-1 with 100 entries",
            "create prefix list AUTOUPDATE-cloudfront-ipv4-2 with 100 entries",
            "modify prefix list AUTOUPDATE-cloudfront-ipv4-1 (+25 −0)",
            "modify prefix list AUTOUPDATE-cloudfront-ipv4-2 (+25 −0)",
        ]
    );
    // New lists are filled to at most nine tenths of the cap (180 of 200), evenly, and sized with
    // their own tenth of headroom: a later split's remainder fits in a list consumers reference.
    let sizes: Vec<(usize, usize)> = lists
        .lists
        .values()
        .map(|l| (l.entries.len(), l.max_entries))
        .collect();
    assert_eq!(sizes, [(125, 138), (125, 138)]);
}

#[test]
fn a_second_run_is_empty_and_a_new_synctoken_is_one_tag_call() {
    let lists = synced(45, 60);
    assert!(
        plan(&desired(nets(0..45), 1, 60), &lists.observe())
            .unwrap()
            .is_empty()
    );
    let p = plan(&desired(nets(0..45), 2, 60), &lists.observe()).unwrap();
    assert_eq!(names(&p), ["record synctoken 2 on 1 prefix lists"]);
}

#[test]
fn a_replaced_range_is_one_modification_adding_and_removing_together() {
    let lists = synced(45, 60);
    let mut next = nets(0..45);
    next.remove(&v4(7));
    next.insert(v4(900));
    let (p, _) = run(&lists, &desired(next, 2, 60));
    assert_eq!(
        names(&p),
        [
            "modify prefix list AUTOUPDATE-cloudfront-ipv4-1 (+1 −1)",
            "record synctoken 2 on 1 prefix lists",
        ]
    );
    match &p.actions[0] {
        Action::Modify {
            add, remove, late, ..
        } => {
            assert_eq!(
                (add.as_slice(), remove.as_slice(), *late),
                ([v4(900)].as_slice(), [v4(7)].as_slice(), false)
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn growth_fills_the_headroom_then_resizes_within_the_cap_then_creates_a_list() {
    // 45 entries → max 50 (a tenth, at least five, of headroom).
    let lists = synced(45, 60);
    assert_eq!(lists.lists.values().next().unwrap().max_entries, 50);
    // Three more fit the headroom: no resize.
    let (p, lists) = run(&lists, &desired(nets(0..48), 2, 60));
    assert!(
        !p.actions.iter().any(|a| matches!(a, Action::Resize { .. })),
        "{p:?}"
    );
    // Ten more need a resize, up to the cap (60) and no further.
    let (p, lists) = run(&lists, &desired(nets(0..58), 3, 60));
    assert!(
        matches!(
            p.actions[0],
            Action::Resize {
                from: 50,
                to: 60,
                ..
            }
        ),
        "{p:?}"
    );
    // Past the cap: a second list.
    let (p, lists) = run(&lists, &desired(nets(0..70), 4, 60));
    assert!(
        names(&p)[0].starts_with("create prefix list AUTOUPDATE-cloudfront-ipv4-2"),
        "{p:?}"
    );
    assert_eq!(lists.lists.len(), 2);
}

#[test]
fn a_shrink_that_empties_a_list_deletes_it_unless_something_references_it() {
    // Two lists of 35; the second is emptied.
    let lists = synced(70, 60);
    let (p, after) = run(&lists, &desired(nets(0..35), 2, 60));
    assert!(
        names(&p).contains(&"delete prefix list AUTOUPDATE-cloudfront-ipv4-2".to_string()),
        "{p:?}"
    );
    assert_eq!(after.lists.len(), 1);
    // A referenced list is kept (empty), and the next run tries again.
    let mut referenced = lists.clone();
    referenced.referenced = referenced
        .lists
        .iter()
        .filter(|(_, l)| l.name.ends_with("-2"))
        .map(|(id, _)| id.clone())
        .collect();
    let (_, after) = run(&referenced, &desired(nets(0..35), 2, 60));
    assert_eq!(after.lists.len(), 2);
}

#[test]
fn dual_stack_keeps_one_family_per_list() {
    let mut both = nets(0..30);
    both.extend((0..20).map(v6));
    let (_, lists) = run(&Lists::default(), &desired(both, 1, 60));
    let families: Vec<(Family, usize)> = lists
        .lists
        .values()
        .map(|l| (l.family, l.entries.len()))
        .collect();
    assert_eq!(families, [(Family::V4, 30), (Family::V6, 20)]);
}

#[test]
fn a_cidr_held_twice_loses_its_second_copy_late() {
    let mut lists = synced(70, 60);
    // Someone (a crashed run of two at once) put list 1's first entry into list 2 as well.
    let second = lists
        .lists
        .values_mut()
        .find(|l| l.name.ends_with("-2"))
        .unwrap();
    second.entries.insert(v4(0));
    let (p, _) = run(&lists, &desired(nets(0..70), 2, 60));
    assert!(
        p.actions.iter().any(
            |a| matches!(a, Action::Modify { late: true, remove, .. } if remove == &vec![v4(0)])
        ),
        "{p:?}"
    );
}

/// Names other deployments' lists (or unrecorded ones) hold are skipped, never taken: two
/// deployments of one service under one prefix coexist.
#[test]
fn a_name_another_list_holds_is_skipped_and_an_empty_unrecorded_one_reclaimed() {
    let observed = Observed {
        taken: ["AUTOUPDATE-cloudfront-ipv4-1".to_string()].into(),
        unrecorded: vec![Unrecorded {
            id: "pl-crashed".into(),
            name: "AUTOUPDATE-cloudfront-ipv4-2".into(),
            reclaimable: true,
        }],
        ..Observed::default()
    };
    let d = desired(nets(0..3), 1, 60);
    let p = plan(&d, &observed).unwrap();
    assert_eq!(
        names(&p),
        [
            "create prefix list AUTOUPDATE-cloudfront-ipv4-3 with 3 entries",
            "delete the empty unrecorded prefix list AUTOUPDATE-cloudfront-ipv4-2",
        ]
    );
    let after = check_run(&observed, &d, &p, &BTreeSet::new()).unwrap();
    assert!(after.unrecorded.is_empty());
    assert_eq!(
        plan(&desired(BTreeSet::new(), 1, 60), &Observed::default()).unwrap_err(),
        PlanError::NoDesiredEntries
    );
}

/// An unrecorded list is never filled: not even one that is empty (it is reclaimed instead), and one
/// that holds entries is left alone.
#[test]
fn an_unrecorded_list_is_never_filled() {
    let observed = Observed {
        unrecorded: vec![Unrecorded {
            id: "pl-forged".into(),
            name: "AUTOUPDATE-cloudfront-ipv4-1".into(),
            reclaimable: false,
        }],
        ..Observed::default()
    };
    let p = plan(&desired(nets(0..3), 1, 60), &observed).unwrap();
    assert!(
        p.actions.iter().all(|a| !a.to_string().contains("ipv4-1")),
        "{p:?}"
    );
}

/// Lists of an earlier SERVICE are deleted when nothing references them, kept as they are otherwise.
#[test]
fn lists_of_an_earlier_selection_are_deleted_once_unreferenced() {
    let mut observed = synced(3, 60).observe();
    observed.retiring = vec![
        Retiring {
            id: "pl-old1".into(),
            name: "AUTOUPDATE-cloudfront_origin_facing-ipv4-1".into(),
            references: Vec::new(),
        },
        Retiring {
            id: "pl-old2".into(),
            name: "AUTOUPDATE-cloudfront_origin_facing-ipv4-2".into(),
            references: vec!["sg-1".into()],
        },
    ];
    let p = plan(&desired(nets(0..3), 1, 60), &observed).unwrap();
    assert_eq!(
        names(&p),
        ["delete prefix list AUTOUPDATE-cloudfront_origin_facing-ipv4-1 of an earlier selection"]
    );
}

/// `--adopt` records the lists an sgsync that kept no record made before anything else.
#[test]
fn adopted_lists_are_recorded_first() {
    let mut observed = synced(3, 60).observe();
    observed.lists[0].adopt = true;
    let p = plan(&desired(nets(0..4), 2, 60), &observed).unwrap();
    assert_eq!(
        names(&p)[0],
        "record 1 prefix lists made by an sgsync that kept no record as this deployment's"
    );
}

#[test]
fn a_list_bigger_than_the_cap_is_used_as_it_is() {
    // PREFIX_LIST_MAX_ENTRIES lowered from 200 to 60: the list keeps its size and its entries.
    let lists = synced(150, 200);
    let (p, after) = run(&lists, &desired(nets(0..155), 2, 60));
    assert_eq!(
        names(&p)[0],
        "modify prefix list AUTOUPDATE-cloudfront-ipv4-1 (+5 −0)"
    );
    assert_eq!(after.lists.len(), 1);
}

/// A random starting region: lists of both families with random sizes, entries (some stale, some
/// held twice) and synctokens; and a random next document.
/// Singles below 200 (v4 `/24`s, every fourth a v6 `/48`); from 200, aggregates of two neighbouring
/// v4 singles (`/23`): histories split and merge them, as withdrawals and additions do to the
/// aggregated document.
fn universe(i: u32) -> IpNet {
    if i >= 200 {
        let k = 2 * (i - 200);
        return format!("13.{}.{}.0/23", 32 + k / 256, k % 256)
            .parse()
            .unwrap();
    }
    if i % 4 == 3 { v6(i) } else { v4(i) }
}

fn start() -> impl Strategy<Value = Lists> {
    prop::collection::vec(
        (
            any::<bool>(),
            1usize..90,
            prop::collection::btree_set(0u32..240, 0..70),
            0u64..3,
        ),
        0..4,
    )
    .prop_map(|specs| {
        let mut lists = Lists::default();
        let mut numbers = [0usize; 2];
        for (i, (v6_list, max, members, token)) in specs.into_iter().enumerate() {
            let family = if v6_list { Family::V6 } else { Family::V4 };
            let n = &mut numbers[usize::from(v6_list)];
            *n += 1;
            let entries: BTreeSet<IpNet> = members
                .into_iter()
                .map(universe)
                .filter(|net| family.holds(net))
                .take(max)
                .collect();
            lists.lists.insert(
                format!("pl-start{i}"),
                crate::testkit::lists::SimList {
                    name: format!("AUTOUPDATE-cloudfront-{}-{n}", family.tag()),
                    family,
                    max_entries: max.max(entries.len()),
                    version: 1,
                    entries,
                    synctoken: Some(token),
                },
            );
        }
        lists
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn random_histories_keep_every_invariant(
        start in start(),
        documents in prop::collection::vec(prop::collection::btree_set(0u32..240, 1..200), 1..4),
        cap in 5usize..120,
    ) {
        let mut lists = start;
        for (i, members) in documents.into_iter().enumerate() {
            let d = desired(members.into_iter().map(universe).collect(), 10 + i as u64, cap);
            let observed = lists.observe();
            let p = plan(&d, &observed).unwrap();
            lists = check_run(&observed, &d, &p, &BTreeSet::new()).map_err(TestCaseError::fail)?;
        }
    }

    #[test]
    fn a_run_cut_after_any_call_converges_on_the_next(
        start in start(),
        members in prop::collection::btree_set(0u32..240, 1..200),
        cap in 5usize..120,
        cut in 1usize..12,
    ) {
        let d = desired(members.into_iter().map(universe).collect(), 10, cap);
        let observed = start.observe();
        let p = plan(&d, &observed).unwrap();
        resume(&observed, &d, &p, cut).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn plans_are_deterministic(start in start(), members in prop::collection::btree_set(0u32..240, 1..100)) {
        let d = desired(members.into_iter().map(universe).collect(), 10, 60);
        let observed = start.observe();
        prop_assert_eq!(plan(&d, &observed), plan(&d, &observed));
    }
}

/// What is said about the kind: the diff a reviewer reads, the counts, the summary, each action.
#[test]
fn a_plan_reads_as_a_diff_and_each_action_as_a_few_words() {
    use crate::kind::Kind;
    let observed = Observed::default();
    let p = plan(&desired(nets(0..70), 7, 60), &observed).unwrap();
    let part = Part {
        changes: Changes::of_plan(&p),
        plan: p,
        observed,
        ..Part::default()
    };
    let diff = part.diff();
    for needle in [
        "  + prefix list AUTOUPDATE-cloudfront-ipv4-1 (new, IPv4, max 40 entries)\n",
        "  + prefix list AUTOUPDATE-cloudfront-ipv4-2 (new, IPv4, max 40 entries)\n",
        &format!("      + {}\n", v4(0)),
    ] {
        assert!(diff.contains(needle), "missing {needle:?} in\n{diff}");
    }
    assert_eq!(
        part.changes_text(true),
        "2 prefix list(s) to create, 0 to resize, 70 entr(ies) to add, 0 to remove, 0 list(s) to delete"
    );
    let summary = part.summary();
    assert_eq!(summary.key, Some("prefix_lists"));
    assert_eq!(summary.value["lists"][0]["family"], "IPv4");
    let entries: u64 = summary.value["lists"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["entries"].as_u64().unwrap())
        .sum();
    assert_eq!(entries, 70);
    assert_eq!(
        names(&part.plan)[0],
        "create prefix list AUTOUPDATE-cloudfront-ipv4-1 with 35 entries"
    );
}
