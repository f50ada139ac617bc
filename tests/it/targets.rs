//! Prefix lists and WAF IP sets against a real EC2, WAFv2 and RAM API (moto, with the behaviour AWS has
//! and moto lacks added by `scripts/moto_server.py` and the proxy): what each kind holds after a run,
//! the calls it took, references that bound a list's size, sharing, someone else's concurrent change,
//! crashes after any write, and the real history.

use std::collections::{BTreeMap, BTreeSet};

use crate::support::proxy::{Faults, ProxyCall};
use crate::support::*;

const ALL: &str = "security-groups,prefix-lists,waf-ip-sets";

fn count(calls: &[ProxyCall], action: &str) -> usize {
    calls
        .iter()
        .filter(|c| c.action == action && c.succeeded())
        .count()
}

/// The lists' entries, their union, and that no CIDR is held twice and every list respects its size.
async fn lists_hold(aws: &Aws, family: &str, expected: &BTreeSet<String>) -> Vec<PrefixList> {
    let lists: Vec<PrefixList> = aws
        .prefix_lists("AUTOUPDATE")
        .await
        .into_iter()
        .filter(|l| l.family == family)
        .collect();
    let union: BTreeSet<String> = lists
        .iter()
        .flat_map(|l| l.entries.iter().cloned())
        .collect();
    let held: usize = lists.iter().map(|l| l.entries.len()).sum();
    assert_eq!(
        &union, expected,
        "the {family} lists do not hold exactly the published CIDRs"
    );
    assert_eq!(held, expected.len(), "a CIDR is held twice");
    for l in &lists {
        assert!(
            l.entries.len() <= l.max_entries,
            "{} holds more than its size",
            l.name
        );
        assert!(!l.entries.is_empty(), "{} is empty", l.name);
        assert_eq!(l.tags["sgsync:prefix"], "AUTOUPDATE");
        assert_eq!(l.tags["sgsync:deployment"], "default");
        assert!(
            l.name
                .starts_with(&format!("AUTOUPDATE-cloudfront-{}-", family.to_lowercase()))
        );
    }
    lists
}

async fn sets_hold(
    aws: &Aws,
    expected_v4: &BTreeSet<String>,
    expected_v6: Option<&BTreeSet<String>>,
) {
    let sets = aws.ip_sets().await;
    let names: Vec<&str> = sets.iter().map(|s| s.name.as_str()).collect();
    let mut want = vec!["AUTOUPDATE-cloudfront-ipv4"];
    if expected_v6.is_some() {
        want.push("AUTOUPDATE-cloudfront-ipv6");
    }
    assert_eq!(names, want);
    assert_eq!(&sets[0].addresses, expected_v4);
    assert_eq!(sets[0].version, "IPV4");
    if let Some(v6) = expected_v6 {
        assert_eq!(&sets[1].addresses, v6);
        assert_eq!(sets[1].version, "IPV6");
    }
    for s in &sets {
        assert_eq!(s.tags["sgsync:prefix"], "AUTOUPDATE");
        assert_eq!(
            s.description,
            "CLOUDFRONT ranges kept in sync by sgsync, do not edit"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn prefix_lists_alone_hold_the_published_cidrs_and_a_second_run_writes_nothing() {
    let aws = Aws::start().await;
    let sgsync = aws.sgsync().env("KINDS", "prefix-lists");
    let (out, calls) = aws.apply_doc(&sgsync, &latest());
    let summary = out.ok().json();
    assert_eq!(summary["status"], "applied");
    // No security group is looked at, let alone made.
    assert!(
        calls.iter().all(|c| !c.action.contains("SecurityGroup")),
        "{:?}",
        writes(&calls)
    );
    assert!(summary.get("groups").is_none(), "{summary}");
    let expected = expected_cidrs(&latest(), false);
    assert_eq!(expected.len(), 180);
    let lists = lists_hold(&aws, "IPv4", &expected).await;
    // Four lists of 45 (new lists leave a tenth of PREFIX_LIST_MAX_ENTRIES' 60 free, shared out
    // evenly, so the remainder of an aggregate that splits later fits in a list its consumers
    // reference), each made empty and tagged at creation, recorded, then filled: a run stopped in
    // between leaves an empty list the next run reclaims.
    assert_eq!(
        lists
            .iter()
            .map(|l| (l.entries.len(), l.max_entries))
            .collect::<Vec<_>>(),
        [(45, 50); 4]
    );
    assert_eq!(
        writes(&calls),
        [
            "CreateManagedPrefixList",
            "PutParameter",
            "ModifyManagedPrefixList"
        ]
        .repeat(4)
    );
    assert!(
        lists
            .iter()
            .all(|l| l.tags["sgsync:synctoken"] == LATEST_SYNCTOKEN.to_string())
    );
    assert!(
        lists
            .iter()
            .all(|l| l.descriptions == BTreeSet::from(["CLOUDFRONT (sgsync)".to_string()]))
    );
    assert_eq!(
        summary["prefix_lists"]["lists"].as_array().unwrap().len(),
        4
    );
    assert_eq!(summary["prefix_lists"]["changes"]["entries_added"], 180);

    let (again, calls) = aws.apply_doc(&sgsync, &latest());
    assert_eq!(again.ok().json()["status"], "unchanged");
    assert!(writes(&calls).is_empty(), "{:?}", writes(&calls));

    let status = sgsync.run(&["status", "--output", "json"]).ok().json();
    assert!(status.get("groups").is_none(), "{status}");
    let listed = status["prefix_lists"].as_array().unwrap();
    assert_eq!(listed.len(), 4);
    assert_eq!(listed[0]["entries"], 45);
    assert_eq!(listed[0]["referenced_by"], serde_json::json!([]));
    assert_eq!(listed[0]["stale"], false);
    let text = sgsync.run(&["status"]).ok().stdout;
    assert!(
        text.contains("Prefix lists: 4 managed with prefix AUTOUPDATE"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn all_three_kinds_dual_stack_and_one_changed_prefix_is_one_call_per_kind() {
    let aws = Aws::start().await;
    let eni = aws.create_interface(&[]).await;
    aws.tag_target(&eni, "AUTOUPDATE").await;
    let sgsync = aws
        .sgsync()
        .env("KINDS", ALL)
        .env("IP_VERSIONS", "ipv4,ipv6");
    let (out, _) = aws.apply_doc(&sgsync, &latest());
    let summary = out.ok().json();
    assert_eq!(summary["status"], "applied");
    let v4 = expected_cidrs(&latest(), false);
    let v6: BTreeSet<String> = expected_cidrs(&latest(), true)
        .difference(&v4)
        .cloned()
        .collect();
    assert!(!v6.is_empty());
    lists_hold(&aws, "IPv4", &v4).await;
    lists_hold(&aws, "IPv6", &v6).await;
    sets_hold(&aws, &v4, Some(&v6)).await;
    let groups = aws.managed_groups("AUTOUPDATE").await;
    let (rules, _) = union(&groups);
    assert_eq!(rules, expected_rules(&latest(), "80", true));
    assert_eq!(summary["waf_ip_sets"]["sets"].as_array().unwrap().len(), 2);
    assert!(
        summary["waf_ip_sets"]["sets"][0]["arn"]
            .as_str()
            .unwrap()
            .contains(":regional/ipset/")
    );

    // One CloudFront range replaced by another.
    let gone = v4.iter().next().unwrap().clone();
    let edited = edited_document(
        &latest(),
        LATEST_SYNCTOKEN + 100,
        &[gone.as_str()],
        &[NEW_PREFIXES[0]],
    );
    let (out, calls) = aws.apply_doc(&sgsync, &edited);
    out.ok();
    let mut v4_next = v4.clone();
    v4_next.remove(&gone);
    v4_next.insert(NEW_PREFIXES[0].to_string());
    lists_hold(&aws, "IPv4", &v4_next).await;
    sets_hold(&aws, &v4_next, Some(&v6)).await;
    // Prefix lists: one modification adding and removing together, one tag call for the synctoken.
    let modifies: Vec<&ProxyCall> = calls
        .iter()
        .filter(|c| c.action == "ModifyManagedPrefixList")
        .collect();
    assert_eq!(modifies.len(), 1, "{:?}", writes(&calls));
    assert_eq!(modifies[0].values_ending(".Cidr").len(), 2);
    assert!(modifies[0].params.contains_key("CurrentVersion"));
    // WAF: one update of the IPv4 set, one tag per set.
    assert_eq!(count(&calls, "UpdateIPSet"), 1);
    assert_eq!(count(&calls, "TagResource"), 2);
    assert_eq!(
        count(&calls, "CreateIPSet") + count(&calls, "CreateManagedPrefixList"),
        0
    );

    let (again, calls) = aws.apply_doc(&sgsync, &edited);
    assert_eq!(again.ok().json()["status"], "unchanged");
    assert!(writes(&calls).is_empty(), "{:?}", writes(&calls));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_list_is_never_grown_past_what_a_referencing_group_can_take() {
    let aws = Aws::start().await;
    let sgsync = aws
        .sgsync()
        .env("KINDS", "prefix-lists")
        .env("PREFIX_LIST_MAX_ENTRIES", "200");
    aws.apply_doc(&sgsync, &small_document(1_700_000_000, 0..45))
        .0
        .ok();
    let list = aws.prefix_lists("AUTOUPDATE").await.remove(0);
    assert_eq!((list.entries.len(), list.max_entries), (45, 50));
    // Someone's origin group: the list (weight 50) and five rules of its own, 55 of 60.
    let group = aws.create_referencing_group("origin", &list.id, 5).await;

    // Ten more ranges need 61 entries: the group would count 66 rules. Refused before any write.
    let grown = small_document(1_700_000_100, 0..55);
    let (out, calls) = aws.apply_doc(&sgsync, &grown);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains(&group), "{}", out.stderr);
    assert!(
        out.stderr.contains("Lower PREFIX_LIST_MAX_ENTRIES"),
        "{}",
        out.stderr
    );
    assert!(writes(&calls).is_empty(), "{:?}", writes(&calls));
    let unchanged = aws.prefix_lists("AUTOUPDATE").await.remove(0);
    assert_eq!((unchanged.entries.len(), unchanged.max_entries), (45, 50));

    // Told the quota is bigger than it is, sgsync tries; EC2 fails the resize (asynchronously) and the
    // run says so, with the list as it was.
    let (out, _) = aws.apply_doc(&sgsync.clone().env("RULES_PER_GROUP", "100"), &grown);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("modify-failed"), "{}", out.stderr);
    assert_eq!(aws.prefix_lists("AUTOUPDATE").await[0].max_entries, 50);

    // The remedy the message names works: lists of at most 55 entries; the group then counts 60.
    let (out, calls) = aws.apply_doc(&sgsync.clone().env("PREFIX_LIST_MAX_ENTRIES", "55"), &grown);
    out.ok();
    lists_hold(&aws, "IPv4", &cidrs(0..55)).await;
    assert_eq!(aws.prefix_lists("AUTOUPDATE").await[0].max_entries, 55);
    assert_eq!(
        count(&calls, "ModifyManagedPrefixList"),
        2,
        "a resize, then the entries"
    );

    let status = sgsync.run(&["status", "--output", "json"]).ok().json();
    assert_eq!(
        status["prefix_lists"][0]["referenced_by"],
        serde_json::json!([group])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn lists_are_shared_through_ram_and_new_lists_and_principals_join_the_share() {
    let aws = Aws::start().await;
    let sgsync = aws
        .sgsync()
        .env("KINDS", "prefix-lists")
        .env("SHARE_WITH", "111122223333");
    let (out, calls) = aws.apply_doc(&sgsync, &small_document(1_700_000_000, 0..45));
    let summary = out.ok().json();
    assert_eq!(count(&calls, "CreateResourceShare"), 1);
    let lists = aws.prefix_lists("AUTOUPDATE").await;
    let shares = aws.shares().await;
    let (resources, principals) = &shares["AUTOUPDATE-cloudfront-prefix-lists"];
    assert_eq!(resources.len(), 1);
    assert!(resources.iter().next().unwrap().ends_with(&lists[0].id));
    assert_eq!(principals, &BTreeSet::from(["111122223333".to_string()]));
    assert_eq!(
        summary["prefix_lists"]["share"]["principals"],
        serde_json::json!(["111122223333"])
    );

    // Nothing new: reads only.
    let (_, calls) = aws.apply_doc(&sgsync, &small_document(1_700_000_000, 0..45));
    assert!(writes(&calls).is_empty(), "{:?}", writes(&calls));

    // Growth past one list: the new list joins the share; a new principal too.
    let sgsync = sgsync.env("SHARE_WITH", "111122223333,444455556666");
    let (out, calls) = aws.apply_doc(&sgsync, &small_document(1_700_000_100, 0..70));
    out.ok();
    assert_eq!(count(&calls, "AssociateResourceShare"), 1);
    let (resources, principals) = aws.shares().await["AUTOUPDATE-cloudfront-prefix-lists"].clone();
    assert_eq!(resources.len(), 2);
    assert_eq!(principals.len(), 2);
    assert_eq!(aws.shares().await.len(), 1, "one share per deployment");

    // A principal dropped from SHARE_WITH is reported, never withdrawn.
    let sgsync = sgsync.env("SHARE_WITH", "111122223333");
    let (out, calls) = aws.apply_doc(&sgsync, &small_document(1_700_000_100, 0..70));
    let summary = out.ok().json();
    assert!(writes(&calls).is_empty(), "{:?}", writes(&calls));
    let warnings = summary["warnings"].to_string();
    assert!(
        warnings.contains("444455556666") && warnings.contains("never withdraws"),
        "{warnings}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_list_someone_changes_meanwhile_is_read_again_and_slow_changes_are_waited_for() {
    let aws = Aws::start().await;
    let sgsync = aws.sgsync().env("KINDS", "prefix-lists");
    // EC2 applies each change asynchronously: sgsync must wait before the next one.
    aws.proxy.set_faults(
        Faults {
            prefix_list_in_progress: 2,
            ..Faults::default()
        },
        1,
    );
    aws.apply_doc(&sgsync, &small_document(1_700_000_000, 0..45))
        .0
        .ok();
    let list = aws.prefix_lists("AUTOUPDATE").await.remove(0);

    // Right before sgsync's modification, someone adds an entry by hand (a new version).
    let query = format!(
        "Action=ModifyManagedPrefixList&Version=2016-11-15&PrefixListId={}&CurrentVersion={}&PrefixListName={}&AddEntry.1.Cidr=44.192.20.0/24",
        list.id, list.version, list.name
    );
    aws.proxy.set_faults(
        Faults {
            prefix_list_in_progress: 2,
            before_first: Some(("ModifyManagedPrefixList", query)),
            ..Faults::default()
        },
        1,
    );
    let next = small_document(1_700_000_100, 1..46);
    let (out, calls) = aws.apply_doc(&sgsync, &next);
    out.ok();
    let mismatch = calls
        .iter()
        .filter(|c| c.action == "ModifyManagedPrefixList" && c.status == 400)
        .count();
    assert_eq!(
        mismatch, 1,
        "the first modification carried the old version"
    );
    assert!(
        calls
            .iter()
            .all(|c| !(c.injected && c.action == "ModifyManagedPrefixList")),
        "a modification was sent while the list was still changing"
    );
    let after = aws.prefix_lists("AUTOUPDATE").await.remove(0);
    let mut want = cidrs(1..46);
    want.insert("44.192.20.0/24".into());
    assert_eq!(
        after.entries, want,
        "the run's change went through on the new version"
    );

    // The entry added by hand is not published: the next run removes it.
    let (out, calls) = aws.apply_doc(&sgsync, &next);
    out.ok();
    assert_eq!(count(&calls, "ModifyManagedPrefixList"), 1);
    lists_hold(&aws, "IPv4", &cidrs(1..46)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn waf_sets_of_another_owner_stop_the_run_and_a_lost_lock_is_retried() {
    let aws = Aws::start().await;
    let sgsync = aws.sgsync().env("KINDS", "waf-ip-sets");
    let squatter = aws
        .create_ip_set("AUTOUPDATE-cloudfront-ipv4", &["13.32.7.0/24"], &[])
        .await;
    let (out, calls) = aws.apply_doc(&sgsync, &small_document(1_700_000_000, 0..45));
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains(&squatter)
            && out
                .stderr
                .contains("has this deployment's name but is not in its record"),
        "{}",
        out.stderr
    );
    assert!(writes(&calls).is_empty());

    aws.reset();
    aws.apply_doc(&sgsync, &small_document(1_700_000_000, 0..45))
        .0
        .ok();
    sets_hold(&aws, &cidrs(0..45), None).await;
    aws.proxy.set_faults(
        Faults {
            waf_lock_conflicts: 1,
            ..Faults::default()
        },
        1,
    );
    let (out, calls) = aws.apply_doc(&sgsync, &small_document(1_700_000_100, 5..60));
    out.ok();
    let updates: Vec<u16> = calls
        .iter()
        .filter(|c| c.action == "UpdateIPSet")
        .map(|c| c.status)
        .collect();
    assert_eq!(
        updates,
        [400, 200],
        "the lost lock is read again and the update sent again"
    );
    sets_hold(&aws, &cidrs(5..60), None).await;

    // WAF's own rules (moto_server.py): a name WAF refuses is refused at start-up, before any call.
    let out = sgsync.clone().env("PREFIX_NAME", "office(1)").run(&[
        "plan",
        "--ip-ranges",
        "/nonexistent",
    ]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains("WAF allows letters, digits, _ and -"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_crashed_after_any_write_converges_and_never_narrows_or_widens() {
    let aws = Aws::start().await;
    let sgsync = aws.sgsync().env("KINDS", "prefix-lists,waf-ip-sets");
    let before = cidrs(0..45);
    let after = cidrs(20..150);
    let both: BTreeSet<String> = before.intersection(&after).cloned().collect();
    let either: BTreeSet<String> = before.union(&after).cloned().collect();
    let mut k = 1;
    loop {
        aws.reset();
        aws.proxy.set_faults(Faults::default(), 1);
        aws.apply_doc(&sgsync, &small_document(1_700_000_000, 0..45))
            .0
            .ok();
        aws.proxy.set_faults(
            Faults {
                writes_before_crash: Some(k),
                ..Faults::default()
            },
            1,
        );
        let (crashed, calls) = aws.apply_doc(&sgsync, &small_document(1_700_000_100, 20..150));
        let done = calls
            .iter()
            .filter(|c| c.is_write() && !c.is_lease() && c.succeeded())
            .count();
        // Whatever the crash left: every range published before and after is still allowed, and
        // nothing published by neither.
        let lists: BTreeSet<String> = aws
            .prefix_lists("AUTOUPDATE")
            .await
            .into_iter()
            .flat_map(|l| l.entries)
            .collect();
        let set = aws.ip_sets().await.remove(0).addresses;
        for (what, held) in [("lists", &lists), ("set", &set)] {
            assert!(
                both.is_subset(held),
                "crash after write {k}: the {what} lost a published range"
            );
            assert!(
                held.is_subset(&either),
                "crash after write {k}: the {what} hold an unpublished range"
            );
        }
        aws.proxy.set_faults(Faults::default(), 1);
        let (next, _) = aws.apply_doc(&sgsync, &small_document(1_700_000_100, 20..150));
        next.ok();
        lists_hold(&aws, "IPv4", &after).await;
        sets_hold(&aws, &after, None).await;
        if crashed.code == 0 {
            assert!(k >= done, "k={k} done={done}");
            assert!(k >= 5, "the growth run has at least 5 writes");
            break;
        }
        assert!(crashed.stderr.contains("InjectedCrash"), "{crashed:?}");
        assert_eq!(done, k);
        k += 1;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn all_170_real_versions_converge_in_lists_and_sets_with_minimal_writes() {
    let aws = Aws::start().await;
    let sgsync = aws.sgsync().env("KINDS", "prefix-lists,waf-ip-sets");
    let mut previous: Option<BTreeSet<String>> = None;
    for (i, file) in replay_files().iter().enumerate() {
        let doc = std::fs::read(file).unwrap();
        let expected = expected_cidrs(&doc, false);
        let (out, calls) = aws.apply_doc(&sgsync, &doc);
        assert_eq!(out.code, 0, "version {i}: {out:?}");
        let lists = lists_hold(&aws, "IPv4", &expected).await;
        assert!(lists.iter().all(|l| l.max_entries <= 60), "version {i}");
        sets_hold(&aws, &expected, None).await;
        let w = writes(&calls);
        if let Some(prev) = &previous {
            let changed = prev != &expected;
            // Lists: per list at most one resize (growing into its headroom) and one modification of
            // its entries (no change here exceeds 100 entries), but a second, late one that removes
            // an aggregate that split or merged once what replaces it is in; one tag call.
            for (resize, most) in [(true, 1), (false, 2)] {
                let calls: Vec<&ProxyCall> = calls
                    .iter()
                    .filter(|c| c.action == "ModifyManagedPrefixList" && c.succeeded())
                    .filter(|c| c.params.contains_key("MaxEntries") == resize)
                    .collect();
                let mut per_list: BTreeMap<&String, usize> = BTreeMap::new();
                for c in &calls {
                    *per_list.entry(&c.params["PrefixListId"]).or_default() += 1;
                }
                assert!(per_list.values().all(|n| *n <= most), "version {i}: {w:?}");
            }
            assert!(count(&calls, "CreateTags") <= 1, "version {i}: {w:?}");
            // WAF: one update when the ranges changed, none otherwise; one tag per new synctoken.
            assert_eq!(
                count(&calls, "UpdateIPSet"),
                usize::from(changed),
                "version {i}: {w:?}"
            );
            assert!(count(&calls, "TagResource") <= 1, "version {i}: {w:?}");
            if !changed {
                assert!(
                    w.iter().all(|a| a == "CreateTags" || a == "TagResource"),
                    "version {i}: unchanged ranges, yet {w:?}"
                );
            }
        }
        previous = Some(expected);
    }
}
