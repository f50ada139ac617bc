//! Unit and property tests of the planner, run through the real `apply` against the simulated world
//! and its referee (`testkit::groups`).

use std::collections::BTreeSet;

use proptest::prelude::*;

use super::*;
use crate::ownership::{Claim, Ownership, Unrecorded};
use crate::rule::{Family, PerFamily, PortRange, Rule};
use crate::testkit::groups::{Meddle, World, check_run, check_run_meddled};

fn rule(i: u16, port: u16) -> Rule {
    Rule {
        net: format!("10.{}.{}.0/24", i / 256, i % 256).parse().unwrap(),
        ports: PortRange::single(port),
    }
}

fn rules(range: std::ops::Range<u16>) -> BTreeSet<Rule> {
    range.map(|i| rule(i, 443)).collect()
}

/// An IPv6 rule, distinct for each `i`.
fn rule6(i: u16, port: u16) -> Rule {
    Rule {
        net: format!("2600:9000:{i:x}::/48").parse().unwrap(),
        ports: PortRange::single(port),
    }
}

fn desired(rules: BTreeSet<Rule>, synctoken: u64) -> Desired {
    Desired {
        rules,
        synctoken,
        group_stem: "AUTOUPDATE-cloudfront".into(),
        repack: false,
        published: None,
    }
}

fn quotas(rules_per_group: usize, groups_per_target: usize) -> Quotas {
    Quotas {
        rules_per_group,
        groups_per_target,
    }
}

/// `observed` at other quotas.
fn at(observed: &Observed, q: Quotas) -> Observed {
    Observed {
        quotas: q,
        ..observed.clone()
    }
}

/// Plans at quotas `q`.
fn plan_at(d: &Desired, observed: &Observed, q: Quotas) -> Result<Plan, PlanError> {
    plan(d, &at(observed, q))
}

/// Plans at quotas `q`, checks every invariant along the run, and returns the plan and the world after it.
fn run(observed: &Observed, d: &Desired, q: Quotas) -> (Plan, World) {
    let observed = at(observed, q);
    let p = plan(d, &observed).expect("a plan");
    let world = check_run(&observed, d, &p).unwrap_or_else(|e| panic!("{e}\nplan: {p:#?}"));
    (p, world)
}

/// The world after a first sync of `rules(0..n)` (synctoken 1) from nothing.
fn synced(n: u16, q: Quotas) -> World {
    run(&Observed::default(), &desired(rules(0..n), 1), q).1
}

fn kinds(p: &Plan) -> Vec<&'static str> {
    p.actions
        .iter()
        .map(|a| match a {
            Action::CreateGroup { .. } => "create",
            Action::Authorize { .. } => "authorize",
            Action::SetTargetGroups { .. } => "target",
            Action::Revoke { early: true, .. } => "early-revoke",
            Action::Revoke { .. } => "revoke",
            Action::RevokeUnmanaged { .. } => "revoke-unmanaged",
            Action::RevokeOutbound { .. } => "revoke-outbound",
            Action::Reclaim { .. } => "reclaim",
            Action::Forget { .. } => "forget",
            Action::Adopt { .. } => "adopt",
            Action::DeleteGroup { .. } => "delete",
            Action::RecordSynctoken { .. } => "tag",
        })
        .collect()
}

fn with_target(mut world: World, target: &str, foreign: &[&str]) -> World {
    let mut ids: Vec<String> = foreign.iter().map(|s| s.to_string()).collect();
    ids.extend(world.groups.values().map(|g| g.id.clone()));
    world
        .targets
        .insert(TargetId::Interface(target.into()), ids);
    world
}

#[test]
fn first_run_creates_just_enough_groups() {
    let (p, world) = run(
        &Observed::default(),
        &desired(rules(0..180), 1),
        Quotas::default(),
    );
    assert_eq!(
        kinds(&p),
        [
            "create",
            "create",
            "create",
            "authorize",
            "authorize",
            "authorize"
        ]
    );
    let names: Vec<&String> = world.groups.keys().collect();
    assert_eq!(
        names,
        [
            "AUTOUPDATE-cloudfront-1",
            "AUTOUPDATE-cloudfront-2",
            "AUTOUPDATE-cloudfront-3"
        ]
    );
}

#[test]
fn a_second_run_is_empty_and_a_new_synctoken_is_one_tag() {
    let world = synced(100, Quotas::default());
    let same = plan_at(
        &desired(rules(0..100), 1),
        &world.observe(),
        Quotas::default(),
    )
    .unwrap();
    assert!(same.is_empty());
    let newer = plan_at(
        &desired(rules(0..100), 2),
        &world.observe(),
        Quotas::default(),
    )
    .unwrap();
    assert_eq!(kinds(&newer), ["tag"]);
    assert!(!newer.changes_access());
}

#[test]
fn an_added_range_touches_one_group_with_one_call() {
    let world = synced(100, Quotas::default());
    let (p, _) = run(
        &world.observe(),
        &desired(rules(0..101), 1),
        Quotas::default(),
    );
    assert_eq!(kinds(&p), ["authorize"]);
}

#[test]
fn a_replaced_range_in_a_full_group_is_revoked_early_and_only_it() {
    let world = synced(60, Quotas::default());
    let world = with_target(world, "eni-1", &["sg-foreign"]);
    let mut next = rules(1..60);
    next.insert(rule(500, 443));
    let (p, _) = run(&world.observe(), &desired(next, 2), Quotas::default());
    assert_eq!(kinds(&p), ["early-revoke", "authorize", "tag"]);
    assert_eq!(
        p.actions[0],
        Action::Revoke {
            group: "AUTOUPDATE-cloudfront-1".into(),
            rules: vec![rule(0, 443)],
            early: true
        }
    );
}

#[test]
fn growth_creates_a_group_and_attaches_it_keeping_foreign_groups_first() {
    let world = synced(60, Quotas::default());
    let world = with_target(world, "eni-1", &["sg-foreign"]);
    let (p, world) = run(
        &world.observe(),
        &desired(rules(0..70), 2),
        Quotas::default(),
    );
    assert_eq!(kinds(&p), ["create", "authorize", "target", "tag"]);
    let Action::SetTargetGroups {
        foreign,
        attach,
        detach,
        ..
    } = &p.actions[2]
    else {
        panic!("not a target update");
    };
    assert_eq!(foreign, &["sg-foreign"]);
    assert_eq!(attach, &["AUTOUPDATE-cloudfront-2"]);
    assert!(detach.is_empty());
    let ids = &world.targets[&TargetId::Interface("eni-1".into())];
    assert_eq!(ids[0], "sg-foreign");
    assert_eq!(ids.len(), 3);
}

#[test]
fn a_shrink_that_empties_a_group_detaches_revokes_then_deletes_it() {
    let world = synced(70, Quotas::default());
    let world = with_target(world, "eni-1", &[]);
    let (p, world) = run(
        &world.observe(),
        &desired(rules(0..60), 2),
        Quotas::default(),
    );
    assert_eq!(kinds(&p), ["target", "revoke", "delete", "tag"]);
    assert_eq!(world.groups.len(), 1);
}

#[test]
fn capacity_overflow_is_an_error_with_the_numbers_and_remedies() {
    let world = with_target(
        run(
            &Observed::default(),
            &desired(rules(0..10), 1),
            Quotas::default(),
        )
        .1,
        "eni-1",
        &["sg-a", "sg-b"],
    );
    let err = plan_at(
        &desired(rules(0..181), 2),
        &world.observe(),
        Quotas::default(),
    )
    .unwrap_err();
    let text = err.to_string();
    for needle in [
        "181 IPv4 rules need 4 groups of 60 IPv4 and 60 IPv6 rules",
        "at most 180 rules of each family fit",
        "(3 groups = 5 groups per target − 2 foreign on interface eni-1)",
        "CLOUDFRONT_ORIGIN_FACING",
        "L-0EA8095F",
        "nothing was changed",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in {text}");
    }
    assert_eq!(
        plan_at(
            &desired(BTreeSet::new(), 2),
            &world.observe(),
            Quotas::default()
        ),
        Err(PlanError::NoDesiredRules)
    );
}

#[test]
fn duplicates_keep_the_first_copy_and_revoke_the_second_late() {
    let mut world = synced(20, quotas(10, 5));
    world
        .groups
        .get_mut("AUTOUPDATE-cloudfront-2")
        .unwrap()
        .rules
        .insert(rule(0, 443));
    let world = with_target(world, "eni-1", &[]);
    let (p, _) = run(&world.observe(), &desired(rules(0..20), 1), quotas(11, 5));
    assert_eq!(kinds(&p), ["revoke"]);
}

/// Found by the random histories: the first copy of a rule sits in a group that is evacuated, and the
/// group that stays holds its second copy. That copy is kept; authorizing it again would fail with
/// `InvalidPermission.Duplicate`, and revoking it late would cut the range off.
#[test]
fn a_second_copy_is_kept_when_its_first_copy_is_evacuated() {
    let shared = rule(15, 443);
    let group = |id: &str, n: u32, rules: BTreeSet<Rule>| ObservedGroup {
        id: id.into(),
        name: format!("AUTOUPDATE-cloudfront-{n}"),
        rules,
        unmanaged_entries: 0,
        unmanaged_slots: PerFamily::default(),
        outbound: 0,
        adopt: false,
        synctoken: None,
        legacy: false,
    };
    let observed = Observed {
        groups: vec![
            group("sg-1", 1, BTreeSet::from([shared])),
            group(
                "sg-2",
                2,
                BTreeSet::from([rule(9, 80), shared, rule(16, 443)]),
            ),
        ],
        // Three foreign groups leave room for one managed group: only the fuller one can stay.
        targets: vec![ObservedTarget {
            id: TargetId::Interface("eni-0".into()),
            groups: vec![
                "sg-f0".into(),
                "sg-f1".into(),
                "sg-f2".into(),
                "sg-1".into(),
            ],
        }],
        ..Observed::default()
    };
    let d = desired(
        BTreeSet::from([rule(9, 80), shared, rule(16, 443), rule(20, 80)]),
        2,
    );
    let (p, world) = run(&observed, &d, quotas(9, 4));
    assert_eq!(
        kinds(&p),
        ["authorize", "target", "revoke", "delete", "tag"]
    );
    assert!(matches!(
        &p.actions[0],
        Action::Authorize { group, rules } if group == "AUTOUPDATE-cloudfront-2" && rules == &[rule(20, 80)]
    ));
    assert_eq!(world.groups["AUTOUPDATE-cloudfront-2"].rules, d.rules);
}

#[test]
/// Entries added by hand are not published access: they go first, and their slots take the new
/// rules (no group is created for a rule that fits once they are gone).
fn entries_added_by_hand_are_revoked_first_and_a_run_later_nothing_is_left() {
    let mut world = synced(20, quotas(10, 5));
    // Someone opened a full managed group (all traffic from anywhere, say) and a range was added.
    let opened = world.groups.get_mut("AUTOUPDATE-cloudfront-1").unwrap();
    opened.unmanaged_entries = 2;
    opened.unmanaged_slots = PerFamily { v4: 2, v6: 0 };
    let world = with_target(world, "eni-1", &["sg-admin"]);
    let d = desired(rules(0..21), 2);
    let (p, after) = run(&world.observe(), &d, quotas(11, 5));
    assert_eq!(kinds(&p), ["revoke-unmanaged", "authorize", "tag"]);
    assert!(matches!(
        &p.actions[0],
        Action::RevokeUnmanaged { group, entries: 2 } if group == "AUTOUPDATE-cloudfront-1"
    ));
    assert_eq!(after.groups.len(), 2);
    let again = plan_at(&d, &after.observe(), quotas(11, 5)).unwrap();
    assert!(again.is_empty(), "{again:#?}");
}

#[test]
fn too_many_half_empty_groups_are_consolidated_when_a_target_gets_fuller() {
    let mut world = synced(40, quotas(10, 5));
    for (i, g) in world.groups.values_mut().enumerate() {
        // Leave each of the four groups half full.
        let keep: BTreeSet<Rule> = g.rules.iter().take(5).copied().collect();
        g.rules = keep;
        assert!(i < 4);
    }
    let kept: BTreeSet<Rule> = world
        .groups
        .values()
        .flat_map(|g| g.rules.clone())
        .collect();
    let world = with_target(world, "eni-1", &["sg-a", "sg-b", "sg-c"]);
    // Only two managed groups fit next to three foreign ones: two groups are evacuated.
    let (p, world) = run(&world.observe(), &desired(kept, 2), quotas(10, 5));
    assert_eq!(world.groups.len(), 2);
    assert!(kinds(&p).contains(&"delete"));
}

/// 180 IPv4 + 31 IPv6 rules: three groups, the IPv6 rules in the first group's IPv6 slots (AWS counts
/// the families apart); the old one-budget packing needed four.
#[test]
fn dual_stack_fills_both_families_of_the_same_groups() {
    let mut rules = rules(0..180);
    rules.extend((0..31).map(|i| rule6(i, 443)));
    let (p, world) = run(&Observed::default(), &desired(rules, 1), Quotas::default());
    assert_eq!(kinds(&p).iter().filter(|k| **k == "create").count(), 3);
    let used: Vec<PerFamily> = world
        .groups
        .values()
        .map(|g| PerFamily::of(&g.rules))
        .collect();
    assert_eq!(
        used,
        [
            PerFamily { v4: 60, v6: 31 },
            PerFamily { v4: 60, v6: 0 },
            PerFamily { v4: 60, v6: 0 }
        ]
    );
}

/// A layout packed the old way (one budget for both families: four groups) is left as it is: no rule
/// moves just to save a group. `--repack` consolidates it, make before break, and says so in its plan.
#[test]
fn an_old_layout_moves_only_when_asked_to_repack() {
    let v4: Vec<Rule> = rules(0..180).into_iter().collect();
    let v6: Vec<Rule> = (0..31).map(|i| rule6(i, 80)).collect();
    let group = |n: usize, rules: &[Rule]| ObservedGroup {
        id: format!("sg-old{n}"),
        name: format!("AUTOUPDATE-cloudfront-{n}"),
        rules: rules.iter().copied().collect(),
        unmanaged_entries: 0,
        unmanaged_slots: PerFamily::default(),
        outbound: 0,
        adopt: false,
        synctoken: Some(1),
        legacy: false,
    };
    let groups = vec![
        group(1, &v4[0..60]),
        group(2, &v4[60..120]),
        group(3, &v4[120..180]),
        group(4, &v6),
    ];
    let targets = vec![ObservedTarget {
        id: TargetId::Interface("eni-1".into()),
        groups: std::iter::once("sg-admin".to_string())
            .chain(groups.iter().map(|g| g.id.clone()))
            .collect(),
    }];
    let observed = Observed {
        groups,
        targets,
        ..Observed::default()
    };
    let all: BTreeSet<Rule> = v4.iter().chain(&v6).copied().collect();
    let same = desired(all.clone(), 1);
    let (p, _) = run(&observed, &same, Quotas::default());
    assert!(p.is_empty(), "{:?}", p.actions);

    // A new range is added where there is room, and still nothing moves.
    let mut grown = desired(all.clone(), 2);
    grown.rules.insert(rule6(99, 80));
    let (p, _) = run(&observed, &grown, Quotas::default());
    assert_eq!(kinds(&p), ["authorize", "tag"]);

    let repack = Desired {
        repack: true,
        ..desired(all, 1)
    };
    let (p, world) = run(&observed, &repack, Quotas::default());
    assert_eq!(kinds(&p), ["authorize", "target", "revoke", "delete"]);
    assert_eq!(world.groups.len(), 3);
    let first = &world.groups["AUTOUPDATE-cloudfront-1"];
    assert_eq!(PerFamily::of(&first.rules), PerFamily { v4: 60, v6: 31 });
}

/// The real arithmetic of CloudFront on ports 80 and 443, dual stack: 360 IPv4 + 62 IPv6 rules need 6
/// groups, one more than a target takes; the error says so with AWS's per-family numbers.
#[test]
fn the_refusal_counts_families_as_aws_does() {
    let mut rules: BTreeSet<Rule> = (0..180).flat_map(|i| [rule(i, 80), rule(i, 443)]).collect();
    rules.extend((0..31).flat_map(|i| [rule6(i, 80), rule6(i, 443)]));
    let err = plan(&desired(rules, 1), &Observed::default()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("360 IPv4 + 62 IPv6 rules need 6 groups of 60 IPv4 and 60 IPv6 rules, but at most 300 rules of each family fit (5 groups = 5 groups per target)"),
        "{text}"
    );
}

#[test]
fn quotas_that_break_the_product_rule_are_refused() {
    let e = plan_at(
        &desired(rules(0..10), 1),
        &Observed::default(),
        quotas(250, 5),
    )
    .unwrap_err();
    assert_eq!(e, PlanError::ImpossibleQuotas(quotas(250, 5)));
    assert!(
        e.to_string().contains(
            "250 rules per group × 5 groups per target = 1250 exceed AWS's limit of 1000"
        ),
        "{e}"
    );
}

/// A group attached to a target for the first time allows published ranges only by then: its stale
/// rules and the entries added to it by hand go before the attach, not after (a target never widens).
#[test]
fn a_group_is_cleaned_before_it_reaches_a_new_target() {
    let mut world = synced(10, quotas(10, 5));
    let g = world.groups.get_mut("AUTOUPDATE-cloudfront-1").unwrap();
    g.unmanaged_entries = 1; // all traffic from 0.0.0.0/0, say
    g.unmanaged_slots = PerFamily { v4: 1, v6: 0 };
    let world = with_target(world, "eni-old", &[]);
    let mut world = world;
    world.targets.insert(
        TargetId::Interface("eni-new".into()),
        vec!["sg-admin".into()],
    );
    // One range withdrawn: it is stale in the group the new target is about to get.
    let (p, after) = run(&world.observe(), &desired(rules(1..10), 2), quotas(10, 5));
    assert_eq!(
        kinds(&p),
        ["early-revoke", "revoke-unmanaged", "target", "tag"]
    );
    assert_eq!(
        after.targets[&TargetId::Interface("eni-new".into())],
        [
            "sg-admin".to_string(),
            after.groups["AUTOUPDATE-cloudfront-1"].id.clone()
        ]
    );
}

/// An interface that carries a managed group without the target tag is never modified; the plan may
/// not take a published rule away from it, nor delete a group it carries.
#[test]
fn an_untagged_carrier_is_never_modified_and_never_loses_access() {
    let world = synced(70, quotas(60, 5));
    let ids: Vec<String> = world.groups.values().map(|g| g.id.clone()).collect();
    let mut world = with_target(world, "eni-tagged", &[]);
    world
        .untagged
        .insert(TargetId::Interface("eni-untagged".into()), ids.clone());
    // Growth: a third group for the tagged target; the untagged one keeps what it has.
    let (p, after) = run(&world.observe(), &desired(rules(0..130), 2), quotas(60, 5));
    assert_eq!(
        kinds(&p),
        ["create", "authorize", "authorize", "target", "tag"]
    );
    assert_eq!(
        after.untagged[&TargetId::Interface("eni-untagged".into())],
        ids
    );
    // A shrink that empties the second group (Amazon withdrew what it holds): the ranges go, the
    // group the untagged interface carries is kept, empty, and the run goes on (trust round 2: one
    // untagged carrier used to stop every run, so withdrawn ranges stayed allowed everywhere).
    let (p, later) = run(&after.observe(), &desired(rules(0..60), 3), quotas(60, 5));
    assert!(
        !p.actions.iter().any(
            |a| matches!(a, Action::DeleteGroup { group } if group == "AUTOUPDATE-cloudfront-2")
        ),
        "{p:?}"
    );
    assert!(later.groups["AUTOUPDATE-cloudfront-2"].rules.is_empty());
    assert_eq!(
        later.untagged[&TargetId::Interface("eni-untagged".into())],
        ids
    );
}

/// A group of another deployment under the same name pattern (or one this deployment did not record)
/// holds its name: new groups take the next free one, and the run goes on. Two deployments of one
/// service under one prefix coexist with interleaved numbers.
#[test]
fn a_name_another_deployment_holds_is_skipped_not_a_stop() {
    let observed = Observed {
        taken_names: ["AUTOUPDATE-cloudfront-1".to_string()].into(),
        unrecorded: vec![Unrecorded {
            id: "sg-theirs".into(),
            name: "AUTOUPDATE-cloudfront-1".into(),
            reclaimable: false,
        }],
        ..Observed::default()
    };
    let (p, after) = run(&observed, &desired(rules(0..70), 1), quotas(60, 5));
    assert_eq!(kinds(&p), ["create", "create", "authorize", "authorize"]);
    let names: Vec<&String> = after.groups.keys().collect();
    assert_eq!(
        names,
        ["AUTOUPDATE-cloudfront-2", "AUTOUPDATE-cloudfront-3"]
    );
    assert!(after.unrecorded.contains_key("AUTOUPDATE-cloudfront-1"));
}

/// A run stopped between creating a group and recording it leaves an empty group attached nowhere:
/// the next run deletes it (last, with the other deletions), and its name is free again.
#[test]
fn an_empty_unused_unrecorded_group_is_reclaimed_and_its_name_reused() {
    let observed = Observed {
        unrecorded: vec![Unrecorded {
            id: "sg-crashed".into(),
            name: "AUTOUPDATE-cloudfront-1".into(),
            reclaimable: true,
        }],
        ..Observed::default()
    };
    let (p, after) = run(&observed, &desired(rules(0..10), 1), quotas(60, 5));
    assert_eq!(kinds(&p), ["create", "authorize", "reclaim"]);
    assert!(after.groups.contains_key("AUTOUPDATE-cloudfront-2"));
    assert!(after.unrecorded.is_empty());
    // The next run may use the name again.
    let (_, later) = run(&after.observe(), &desired(rules(0..70), 2), quotas(60, 5));
    assert!(later.groups.contains_key("AUTOUPDATE-cloudfront-1"));
}

/// A deployment's own groups follow its settings: when SERVICE (or PREFIX_NAME) changes, the groups
/// named for the old selection are retired make-before-break: the new ones are created, filled and
/// attached first, then the old ones detached and deleted.
#[test]
fn groups_of_an_earlier_selection_are_retired_make_before_break() {
    let world = with_target(synced(70, quotas(60, 5)), "eni-1", &["sg-foreign"]);
    let observed = world.observe();
    let origin_facing = Desired {
        group_stem: "AUTOUPDATE-cloudfront_origin_facing".into(),
        ..desired(rules(30..100), 2)
    };
    let (p, after) = run(&observed, &origin_facing, quotas(60, 5));
    assert_eq!(
        kinds(&p),
        [
            "create",
            "create",
            "authorize",
            "authorize",
            "target",
            "revoke",
            "revoke",
            "delete",
            "delete"
        ],
        "{:#?}",
        p.actions
    );
    let names: Vec<&String> = after.groups.keys().collect();
    assert_eq!(
        names,
        [
            "AUTOUPDATE-cloudfront_origin_facing-1",
            "AUTOUPDATE-cloudfront_origin_facing-2"
        ]
    );
}

#[test]
fn groups_an_older_sgsync_made_are_adopted_first() {
    let mut world = synced(70, quotas(60, 5));
    for g in world.groups.values_mut() {
        g.legacy = true;
    }
    let (p, after) = run(&world.observe(), &desired(rules(0..71), 2), quotas(60, 5));
    assert_eq!(kinds(&p), ["adopt", "authorize", "tag"]);
    assert!(after.groups.values().all(|g| !g.legacy));
}

#[test]
fn names_held_by_groups_of_others_are_skipped() {
    let observed = Observed {
        taken_names: ["AUTOUPDATE-cloudfront-1".to_string()].into(),
        ..Observed::default()
    };
    let (_, world) = run(&observed, &desired(rules(0..70), 1), quotas(60, 5));
    let names: Vec<&String> = world.groups.keys().collect();
    assert_eq!(
        names,
        ["AUTOUPDATE-cloudfront-2", "AUTOUPDATE-cloudfront-3"]
    );
}

/// The target is read again right before its groups are written: a group someone attached in between
/// stays (after the ones that were there), and a target deleted in between is done, not an error.
#[test]
fn targets_are_read_again_before_their_groups_are_written() {
    let world = synced(60, quotas(60, 5));
    let world = with_target(world, "eni-1", &["sg-admin"]);
    let mut world = with_target(world, "eni-2", &[]);
    let gone = TargetId::Interface("eni-2".into());
    world.targets.get_mut(&gone).unwrap().clear();
    let observed = world.observe();
    let d = desired(rules(0..70), 2);
    let p = plan(&d, &observed).unwrap();
    let eni1 = TargetId::Interface("eni-1".into());
    let meddling = vec![
        (
            0,
            Meddle::Attach {
                target: eni1.clone(),
                group: "sg-late".into(),
            },
        ),
        (
            0,
            Meddle::Delete {
                target: gone.clone(),
            },
        ),
    ];
    let after = check_run_meddled(&observed, &d, &p, meddling).unwrap();
    let on_eni1 = &after.targets[&eni1];
    assert_eq!(
        on_eni1[..2],
        ["sg-admin".to_string(), "sg-late".to_string()]
    );
    assert_eq!(on_eni1.len(), 4);
    assert!(!after.targets.contains_key(&gone));

    // Someone took the last free slot: the managed groups no longer fit; refused, saying so.
    let full = (0..3)
        .map(|i| {
            let group = format!("sg-x{i}");
            let target = eni1.clone();
            (0, Meddle::Attach { target, group })
        })
        .collect();
    let err = check_run_meddled(&observed, &d, &p, full).unwrap_err();
    assert!(
        err.contains("sgsync:capacity")
            && err.contains("interface eni-1 now carries 4 groups sgsync does not manage"),
        "{err}"
    );
}

#[test]
fn ownership_is_the_exact_name_and_the_deployment() {
    let owner = Ownership {
        prefix: "AUTOUPDATE".into(),
        stem: "AUTOUPDATE-cloudfront".into(),
        deployment: "prod".into(),
    };
    assert_eq!(
        owner.claim("AUTOUPDATE-cloudfront-1", Some("prod")),
        Claim::Own
    );
    assert_eq!(owner.claim("AUTOUPDATE-cloudfront-12", None), Claim::Legacy);
    assert_eq!(
        owner.claim("AUTOUPDATE-cloudfront-3", Some("port-443")),
        Claim::Conflict {
            deployment: "port-443".into()
        }
    );
    // Another service under the same prefix coexists; even one whose name starts like this one's.
    for other in [
        "AUTOUPDATE-route53_healthchecks-1",
        "AUTOUPDATE-cloudfront_origin_facing-2",
        "AUTOUPDATE-cloudfront+route53_healthchecks-1",
    ] {
        assert_eq!(
            owner.claim(other, Some("x")),
            Claim::OtherService,
            "{other}"
        );
    }
    for stray in [
        "AUTOUPDATE-cloudfront-01",
        "AUTOUPDATE-cloudfront-0",
        "AUTOUPDATE-cloudfront-1a",
        "AUTOUPDATE-manual",
        "AUTOUPDATEcloudfront-1",
        "web-admin",
    ] {
        assert_eq!(owner.claim(stray, Some("prod")), Claim::Stray, "{stray}");
    }
}

// --- Properties -------------------------------------------------------------------------------

/// A random starting world that respects its quotas.
#[derive(Clone, Debug)]
struct Start {
    observed: Observed,
    /// False when the layout has duplicate rules or unmanaged entries: only then may the planner
    /// give up before the plain capacity bound.
    clean: bool,
}

/// Rules of both families on two ports: a quarter each of IPv4/IPv6 × 80/443.
fn universe_rule(i: u16) -> Rule {
    let port = if i.is_multiple_of(2) { 80 } else { 443 };
    if i >= SINGLES {
        // Aggregates over two neighbouring singles (`10.0.2k.0/23`, `2600:9000:2k::/47`): histories
        // split and merge them, as Amazon's withdrawals and additions do to the aggregated document.
        let j = (i - SINGLES) / 2;
        let k = 2 * (j / 2);
        let net = match j.is_multiple_of(2) {
            true => format!("10.0.{k}.0/23"),
            false => format!("2600:9000:{k:x}::/47"),
        };
        return Rule {
            net: net.parse().unwrap(),
            ports: PortRange::single(port),
        };
    }
    if (i / 2).is_multiple_of(2) {
        rule(i / 4, port)
    } else {
        rule6(i / 4, port)
    }
}

/// Single /24s and /48s; beyond them, aggregates of neighbouring pairs.
const SINGLES: u16 = 96;
const UNIVERSE: u16 = SINGLES + 24;

fn rule_set(max: usize) -> impl Strategy<Value = BTreeSet<Rule>> {
    prop::collection::btree_set(0..UNIVERSE, 0..=max)
        .prop_map(|s| s.into_iter().map(universe_rule).collect())
}

fn start() -> impl Strategy<Value = Start> {
    (1usize..=12, 1usize..=5)
        .prop_flat_map(|(rpg, gpt)| {
            // Entries sgsync does not manage: IPv4 CIDRs, IPv6 CIDRs, group references (both families).
            let unmanaged = (0..=rpg.min(2), 0..=rpg.min(2), 0..=1usize);
            // Outbound entries: AWS's default one (a run stopped right after a create), or more by hand.
            let group = (
                rule_set(2 * rpg),
                unmanaged,
                prop::option::of(0u64..3),
                prop::bool::weighted(0.2),
                prop::sample::select(vec![0usize, 0, 0, 1, 2]),
            );
            (
                Just(rpg),
                Just(gpt),
                prop::collection::vec(group, 0..=gpt.min(4)),
                prop::sample::subsequence((1u32..9).collect::<Vec<_>>(), 4),
                // Targets: foreign groups, which managed groups they carry, and whether they are tagged.
                prop::collection::vec((0..gpt, any::<u8>(), prop::bool::weighted(0.8)), 0..=3),
            )
        })
        .prop_map(|(rpg, gpt, groups, numbers, targets)| {
            let mut clean = true;
            let mut seen = BTreeSet::new();
            let groups: Vec<ObservedGroup> = groups
                .into_iter()
                .enumerate()
                .map(
                    |(i, (mut rules, (v4, v6, both), synctoken, legacy, outbound))| {
                        let slots = PerFamily {
                            v4: (v4 + both).min(rpg),
                            v6: (v6 + both).min(rpg),
                        };
                        for family in Family::ALL {
                            let room = rpg - slots.get(family);
                            while PerFamily::of(&rules).get(family) > room {
                                let last =
                                    *rules.iter().rev().find(|r| r.family() == family).unwrap();
                                rules.remove(&last);
                            }
                        }
                        let entries = v4 + v6 + both;
                        clean &=
                            entries == 0 && outbound == 0 && rules.iter().all(|r| seen.insert(*r));
                        ObservedGroup {
                            id: format!("sg-{i}"),
                            name: format!("AUTOUPDATE-cloudfront-{}", numbers[i]),
                            rules,
                            unmanaged_entries: entries,
                            unmanaged_slots: slots,
                            outbound,
                            synctoken,
                            adopt: legacy,
                            legacy,
                        }
                    },
                )
                .collect();
            let mut tagged = Vec::new();
            let mut untagged = Vec::new();
            for (t, (foreign, mask, opted_in)) in targets.into_iter().enumerate() {
                let mut ids: Vec<String> = (0..foreign).map(|f| format!("sg-f{t}{f}")).collect();
                for (i, g) in groups.iter().enumerate() {
                    if ids.len() < gpt && (mask >> i) & 1 == 1 {
                        ids.push(g.id.clone());
                    }
                }
                let carries = ids.len() > foreign;
                let target = ObservedTarget {
                    id: TargetId::Interface(format!("eni-{t}")),
                    groups: ids,
                };
                if opted_in {
                    tagged.push(target);
                } else if carries {
                    // An untagged interface is seen only through a managed group it carries.
                    untagged.push(target);
                }
            }
            Start {
                observed: Observed {
                    groups,
                    targets: tagged,
                    untagged,
                    quotas: quotas(rpg, gpt),
                    ..Observed::default()
                },
                clean,
            }
        })
}

/// Someone attaching a foreign group to a target while a run goes on, before call `at`.
fn meddle() -> impl Strategy<Value = Option<(usize, usize)>> {
    prop::option::weighted(0.3, (0usize..12, 0usize..3))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Random histories over random starting layouts and quotas: every run keeps every invariant,
    /// lands on exactly the desired rules, and a second plan is empty; the planner refuses only what
    /// does not fit.
    #[test]
    fn random_histories_keep_every_invariant(
        start in start(),
        history in prop::collection::vec((rule_set(48), meddle()), 1..6),
    ) {
        let mut observed = start.observed.clone();
        let mut clean = start.clean;
        for (step, (rules, meddle)) in history.into_iter().enumerate() {
            let d = desired(rules, 10 + step as u64);
            let capacity = observed.capacity().max_rules;
            match plan(&d, &observed) {
                Ok(p) => {
                    // The targets left out had no room; the others take every group.
                    let skipped: Vec<&TargetId> = p.skipped_targets.iter().map(|s| &s.target).collect();
                    let kept = Observed {
                        targets: (observed.targets.iter())
                            .filter(|t| !skipped.contains(&&t.id))
                            .cloned()
                            .collect(),
                        ..observed.clone()
                    };
                    prop_assert!(skipped.is_empty() || !kept.targets.is_empty());
                    prop_assert!(!PerFamily::of(&d.rules).exceeds(kept.capacity().max_rules));
                    let meddling: Vec<(usize, Meddle)> = meddle
                        .filter(|(_, t)| *t < observed.targets.len())
                        .map(|(at, t)| {
                            let target = observed.targets[t].id.clone();
                            (at, Meddle::Attach { target, group: format!("sg-other{step}") })
                        })
                        .into_iter()
                        .collect();
                    let world = match check_run_meddled(&observed, &d, &p, meddling) {
                        Ok(world) => world,
                        // Someone took the slot a managed group needed: refused, with a clear error.
                        Err(e) if e.contains("sgsync:capacity") => return Ok(()),
                        Err(e) => return Err(TestCaseError::fail(format!("step {step}: {e}\n{p:#?}"))),
                    };
                    observed = world.observe();
                    clean = true; // the planner's own layouts never hold duplicates
                    // ... nor entries it does not model: those are revoked by every run.
                    prop_assert!(
                        observed.groups.iter().all(|g| g.unmanaged_entries == 0),
                        "step {step}: unmanaged entries survived the run"
                    );
                }
                Err(PlanError::NoDesiredRules) => prop_assert!(d.rules.is_empty()),
                Err(PlanError::OverCapacity { rules, fits, .. }) => {
                    prop_assert!(fits.v4 < rules.v4 || fits.v6 < rules.v6);
                    if clean {
                        // Superseded rules (an aggregate that split or merged) hold their slots until
                        // what replaces them is in place: the peak is what must fit.
                        let published = crate::security_groups::packing::published_addresses(&d.rules);
                        let superseded = PerFamily::of(
                            observed.groups.iter().flat_map(|g| &g.rules).filter(|r| {
                                !d.rules.contains(r)
                                    && published.get(&r.ports).is_some_and(|a| a.overlaps(&r.net))
                            }),
                        );
                        prop_assert!(
                            rules.plus(superseded).exceeds(capacity),
                            "refused {rules} rules (+{superseded} superseded) with capacity {capacity}"
                        );
                    }
                }
                Err(PlanError::UntaggedTarget { .. }) => {
                    // Refused only if the plan made without regard to the untagged targets would break one.
                    let blind = Observed { untagged: Vec::new(), ..observed.clone() };
                    if let Ok(p) = plan(&d, &blind) {
                        prop_assert!(
                            check_run(&observed, &d, &p).is_err(),
                            "refused a plan that keeps every untagged target whole"
                        );
                    }
                    return Ok(());
                }
                Err(e) => return Err(TestCaseError::fail(e.to_string())),
            }
        }
    }

    /// The planner is a function: the same input gives the same plan.
    #[test]
    fn plans_are_deterministic(start in start(), rules in rule_set(48)) {
        let d = desired(rules, 7);
        prop_assert_eq!(plan(&d, &start.observed), plan(&d, &start.observed));
    }
}

/// What is said about the kind: the diff a reviewer reads, the counts, the summary, each action.
#[test]
fn a_plan_reads_as_a_diff_and_each_action_as_a_few_words() {
    use crate::kind::Kind;
    let observed = Observed {
        vpc_id: "vpc-1".into(),
        ..Observed::default()
    };
    let plan = plan(&desired(rules(0..70), 7), &observed).unwrap();
    let part = Part {
        changes: Changes::of_plan(&plan),
        plan,
        ..Part::observed(observed)
    };
    let diff = part.diff();
    for needle in [
        "  + group AUTOUPDATE-cloudfront-1 (new)\n",
        "      + 10.0.0.0/24 tcp/443\n",
        "  + group AUTOUPDATE-cloudfront-2 (new)\n",
    ] {
        assert!(diff.contains(needle), "missing {needle:?} in\n{diff}");
    }
    assert_eq!(
        part.changes_text(true),
        "2 group(s) to create, 70 rule(s) to authorize, 0 to revoke, 0 target(s) to update, 0 group(s) to delete"
    );
    assert_eq!(
        part.place().unwrap(),
        "in VPC vpc-1 (quotas: 60 rules per group, 5 groups per target)"
    );
    let summary = part.summary();
    assert_eq!(summary.key, None);
    assert_eq!(summary.value["groups"][0]["id"], serde_json::Value::Null);
    assert_eq!(summary.value["groups"].as_array().unwrap().len(), 2);
    assert_eq!(summary.value["vpc_id"], "vpc-1");
    let words: Vec<String> = part.plan.actions.iter().map(ToString::to_string).collect();
    assert_eq!(
        words,
        [
            "create group AUTOUPDATE-cloudfront-1",
            "create group AUTOUPDATE-cloudfront-2",
            "authorize 60 rules in AUTOUPDATE-cloudfront-1",
            "authorize 10 rules in AUTOUPDATE-cloudfront-2",
        ]
    );
}

/// AWS gives every new VPC group an outbound rule (all traffic to 0.0.0.0/0). A run stopped right after
/// creating a group leaves it there; so does someone adding one by hand. Attached as is, the group
/// would open all outbound traffic on an interface whose own groups restrict it: it is revoked before
/// any target update, and a group never reaches a target with one.
#[test]
fn outbound_entries_are_revoked_before_the_group_reaches_any_target() {
    let world = synced(70, Quotas::default());
    let mut observed = world.observe();
    observed.groups[1].outbound = 1;
    observed.targets.push(ObservedTarget {
        id: TargetId::Interface("eni-new".into()),
        groups: vec!["sg-foreign".into()],
    });
    let p = plan(&desired(rules(0..70), 2), &observed).unwrap();
    assert_eq!(
        kinds(&p),
        ["revoke-outbound", "target", "tag"],
        "{:#?}",
        p.actions
    );
    let after = check_run(&observed, &desired(rules(0..70), 2), &p).unwrap();
    assert!(after.groups.values().all(|g| g.outbound == 0));
    // Without the revoke, the referee sees the widening.
    let mut skipped = p.clone();
    skipped.actions.remove(0);
    let e = check_run(&observed, &desired(rules(0..70), 2), &skipped).unwrap_err();
    assert!(e.contains("Outbound"), "{e}");
}

/// Trust finding 7: one tagged interface without a free group slot (still carrying the blog
/// function's groups, say) made every run refuse, so new ranges never arrived anywhere and withdrawn
/// ranges stayed allowed on every other target. Now that target is skipped with an error naming it
/// and what to do; it keeps the managed group it has with every published range; the others are synced.
#[test]
fn one_target_without_room_never_stops_the_rest() {
    // 70 rules in two groups; eni-crowded carries 4 of its own groups and the first managed one.
    let world = with_target(
        synced(60, quotas(60, 5)),
        "eni-crowded",
        &["a", "b", "c", "d"],
    );
    let world = with_target(world, "eni-roomy", &[]);
    let observed = world.observe();
    let d = desired(rules(0..70), 2);
    let (p, after) = run(&observed, &d, quotas(60, 5));
    let skipped: Vec<&TargetId> = p.skipped_targets.iter().map(|s| &s.target).collect();
    assert_eq!(skipped, [&TargetId::Interface("eni-crowded".into())]);
    let reason = &p.skipped_targets[0].reason;
    for needle in [
        "eni-crowded carries 4 groups",
        "room for 1 of the 2",
        "L-2AFB9258",
    ] {
        assert!(reason.contains(needle), "{needle:?} not in {reason}");
    }
    let all: BTreeSet<&str> = after.groups.values().map(|g| g.id.as_str()).collect();
    let roomy = &after.targets[&TargetId::Interface("eni-roomy".into())];
    assert!(all.iter().all(|id| roomy.contains(&id.to_string())));
    // The crowded target was not touched, and its group still holds every rule it held.
    assert_eq!(
        after.targets[&TargetId::Interface("eni-crowded".into())],
        world.targets[&TargetId::Interface("eni-crowded".into())]
    );

    // When no target has room, the run is refused as a whole, as before.
    let both = with_target(
        with_target(synced(60, quotas(60, 5)), "eni-1", &["a", "b", "c", "d"]),
        "eni-2",
        &["e", "f", "g", "h"],
    );
    let e = plan_at(&d, &both.observe(), quotas(60, 5)).unwrap_err();
    assert!(matches!(e, PlanError::OverCapacity { .. }), "{e}");
}

/// REPLACES: a target too full for the managed groups, carrying the blog function's groups.
mod replaces {
    use std::collections::BTreeMap;

    use super::*;

    fn all_out() -> Egress {
        Egress {
            protocol: "all".into(),
            ports: None,
            to: Destination::Net("0.0.0.0/0".parse().unwrap()),
        }
    }

    /// The team's own group and two of the blog's (holding the published ranges on 443 and one
    /// withdrawn range), on one or two interfaces; 130 published rules need 3 groups of 60, and
    /// the default 5 groups per interface leave room for 2.
    fn blog_world(targets: &[&str], own_egress: Vec<Egress>) -> (Observed, Desired) {
        let mut d = desired(rules(0..130), 7);
        let nets: Vec<ipnet::IpNet> = (d.rules.iter().map(|r| r.net))
            .chain(["54.0.0.0/24".parse().unwrap()])
            .collect();
        d.published = Some(crate::addresses::Published {
            service: crate::addresses::Addresses::of(d.rules.iter().map(|r| &r.net)),
            // The withdrawn range is still Amazon's, for another service.
            document: crate::addresses::Addresses::of(&nets),
        });
        // Each also holds a range Amazon withdrew (public space: the test ranges are 10.x).
        let withdrawn = Rule {
            net: "54.0.0.0/24".parse().unwrap(),
            ports: PortRange::single(443),
        };
        let half = |r: std::ops::Range<u16>| -> BTreeSet<Rule> {
            r.map(|i| rule(i, 443)).chain([withdrawn]).collect()
        };
        let blog = |name: &str, rules: BTreeSet<Rule>| ForeignGroup {
            name: name.into(),
            replaceable: true,
            rules,
            egress: vec![all_out()],
            ..ForeignGroup::default()
        };
        let foreign = BTreeMap::from([
            (
                "sg-own".to_string(),
                ForeignGroup {
                    name: "web".into(),
                    egress: own_egress,
                    ..ForeignGroup::default()
                },
            ),
            (
                "sg-b1".to_string(),
                blog("AUTOUPDATE_HTTPS_a1", half(0..65)),
            ),
            (
                "sg-b2".to_string(),
                blog("AUTOUPDATE_HTTPS_b2", half(65..130)),
            ),
        ]);
        let observed = Observed {
            targets: (targets.iter())
                .map(|t| ObservedTarget {
                    id: TargetId::Interface(t.to_string()),
                    groups: vec!["sg-own".into(), "sg-b1".into(), "sg-b2".into()],
                })
                .collect(),
            foreign,
            ..Observed::default()
        };
        (observed, d)
    }

    fn swapped(p: &Plan) -> Vec<(TargetId, Vec<String>, Vec<String>)> {
        (p.actions.iter())
            .filter_map(|a| match a {
                Action::SetTargetGroups {
                    target,
                    foreign,
                    replace,
                    ..
                } => Some((target.clone(), foreign.clone(), replace.clone())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_blogs_groups_leave_in_the_write_that_attaches_sgsyncs() {
        let (observed, d) = blog_world(&["eni-1"], vec![all_out()]);
        let without = Observed {
            foreign: BTreeMap::new(),
            ..observed.clone()
        };
        assert!(matches!(
            plan(&d, &without),
            Err(PlanError::OverCapacity { .. })
        ));
        // The referee checks the order: the swap comes after the managed groups hold every rule.
        let (p, world) = run(&observed, &d, Quotas::default());
        assert_eq!(
            swapped(&p),
            [(
                TargetId::Interface("eni-1".into()),
                vec!["sg-own".to_string()],
                vec!["sg-b1".to_string(), "sg-b2".to_string()]
            )]
        );
        let ids = &world.targets[&TargetId::Interface("eni-1".into())];
        assert_eq!(ids.len(), 4, "{ids:?}");
        assert_eq!(ids[0], "sg-own");
        assert_eq!(
            p.released,
            ["AUTOUPDATE_HTTPS_a1 (sg-b1)", "AUTOUPDATE_HTTPS_b2 (sg-b2)"]
        );
        assert_eq!(
            p.dropped,
            [
                "54.0.0.0/24 tcp/443 (of AUTOUPDATE_HTTPS_a1)",
                "54.0.0.0/24 tcp/443 (of AUTOUPDATE_HTTPS_b2)"
            ]
        );
        assert!(p.skipped_targets.is_empty());
    }

    #[test]
    fn a_swap_that_would_narrow_the_outbound_access_skips_that_target_alone() {
        let https_only = Egress {
            protocol: "tcp".into(),
            ports: Some((443, 443)),
            to: Destination::Net("0.0.0.0/0".parse().unwrap()),
        };
        let (mut observed, d) = blog_world(&["eni-1", "eni-2"], vec![https_only]);
        // eni-2 has a group of its own that allows every outbound connection.
        observed.foreign.insert(
            "sg-own2".into(),
            ForeignGroup {
                name: "api".into(),
                egress: vec![all_out()],
                ..ForeignGroup::default()
            },
        );
        observed.targets[1].groups[0] = "sg-own2".into();
        let p = plan(&d, &observed).unwrap();
        let skipped: Vec<&SkippedTarget> = p.skipped_targets.iter().collect();
        assert_eq!(skipped.len(), 1);
        assert_eq!(skipped[0].target, TargetId::Interface("eni-1".into()));
        assert!(
            skipped[0]
                .reason
                .contains("outbound all traffic to 0.0.0.0/0 (of AUTOUPDATE_HTTPS_a1"),
            "{}",
            skipped[0].reason
        );
        let swaps = swapped(&p);
        assert_eq!(swaps.len(), 1);
        assert_eq!(swaps[0].0, TargetId::Interface("eni-2".into()));
        // eni-1 still carries them: not released.
        assert!(p.released.is_empty(), "{:?}", p.released);
    }

    #[test]
    fn a_blog_group_also_on_an_interface_that_is_not_a_target_is_not_released() {
        let (mut observed, d) = blog_world(&["eni-1"], vec![all_out()]);
        observed.foreign.get_mut("sg-b2").unwrap().elsewhere = true;
        let p = plan(&d, &observed).unwrap();
        assert_eq!(p.released, ["AUTOUPDATE_HTTPS_a1 (sg-b1)"]);
    }

    #[test]
    fn groups_replaces_does_not_name_stay() {
        let (mut observed, d) = blog_world(&["eni-1"], vec![all_out()]);
        observed.foreign.get_mut("sg-b2").unwrap().replaceable = false;
        // sg-b1 alone frees the slot needed: 5 − 2 foreign groups leave room for the 3 managed ones.
        let (p, world) = run(&observed, &d, Quotas::default());
        assert_eq!(swapped(&p)[0].2, ["sg-b1"]);
        let ids = &world.targets[&TargetId::Interface("eni-1".into())];
        assert_eq!(&ids[..2], ["sg-own", "sg-b2"]);
    }
}
