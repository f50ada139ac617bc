//! sgsync under API faults, crashes and concurrent runs, against moto through the fault-injecting
//! proxy. Every run's recorded calls are checked for make-before-break and "never revoke a
//! still-published range"; every end state for exactness, quotas, duplicates and orphans.

use std::collections::BTreeSet;

use crate::support::proxy::Faults;
use crate::support::*;

/// 20 % of calls throttled, 5 % failing with 500, 1 % broken connections before moto and 1 % after
/// moto did the work (the answer is lost): the whole real series converges after each step, retrying a
/// step whose run gave up, as Lambda retries a failed invocation.
#[tokio::test(flavor = "multi_thread")]
async fn the_real_series_converges_through_throttling_and_server_errors() {
    let aws = Aws::start().await;
    let sgsync = aws.sgsync();
    let foreign = aws.create_foreign_group("admin").await;
    let eni = aws.create_interface(std::slice::from_ref(&foreign)).await;
    aws.tag_target(&eni, "AUTOUPDATE").await;
    aws.proxy.set_faults(
        Faults {
            throttle: 0.20,
            server_error: 0.05,
            drop: 0.01,
            lost_response: 0.01,
            groups_per_target: Some(5),
            dependency_violation: true,
            ..Faults::default()
        },
        7,
    );
    let mut gave_up = 0;
    for (i, file) in replay_files().iter().enumerate() {
        let doc = std::fs::read(file).unwrap();
        let expected = expected_rules(&doc, "80", false);
        let mut attempts = 0;
        loop {
            attempts += 1;
            aws.proxy.clear();
            let out = sgsync.run(&["apply", "--ip-ranges", file.to_str().unwrap()]);
            assert_make_before_break(&aws.proxy.calls(), &expected);
            if out.code == 0 {
                break;
            }
            gave_up += 1;
            assert!(
                // EC2 throttles with RequestLimitExceeded, ELBv2 and Service Quotas with Throttling.
                out.stderr.contains("RequestLimitExceeded")
                    || out.stderr.contains("Throttling")
                    || out.stderr.contains("InternalError")
                    || out.stderr.contains("was cut before an answer")
                    || out.stderr.contains("could not be reached")
                    || out.stderr.contains("did not answer in time"),
                "version {i}: unexpected failure {out:?}"
            );
            assert!(attempts < 20, "version {i} never converged: {out:?}");
        }
        let groups = aws
            .assert_holds_exactly(&expected, &format!("version {i}"))
            .await;
        let on = aws.interface_groups(&eni).await;
        assert_eq!(on[0], foreign);
        assert_eq!(
            on.len(),
            groups.len() + 1,
            "version {i}: every group on the interface"
        );
    }
    let injected = aws.proxy.calls().len(); // only the last run's calls are kept; the count is informative
    eprintln!(
        "runs that gave up after the SDK's retries and were retried: {gave_up} (last run: {injected} calls)"
    );
}

/// A growth run killed after its k-th write, for every k: the interface never loses a still-published
/// rule at the crash point, and the next run converges with no duplicate or orphaned group.
#[tokio::test(flavor = "multi_thread")]
async fn a_run_crashed_after_any_write_converges_on_the_next_run() {
    let aws = Aws::start().await;
    let dir = tempfile::tempdir().unwrap();
    let base = doc_file(&dir, "base.json", latest());
    // Two ranges replaced in full groups (early revokes) and three added (a fourth group).
    let grown_doc = edited_document(
        &latest(),
        1787411900,
        &["13.32.0.0/15", "52.84.0.0/15"],
        &[
            "15.230.8.0/24",
            "15.230.11.0/24",
            "44.192.17.128/25",
            "44.192.9.0/24",
        ],
    );
    let grown = doc_file(&dir, "grown.json", &grown_doc);
    let expected = expected_rules(&grown_doc, "80", false);

    let mut k = 0;
    loop {
        aws.reset();
        let sgsync = aws.sgsync().env("VPC_ID", &aws.default_vpc().await);
        aws.proxy.set_faults(
            Faults {
                dependency_violation: true,
                groups_per_target: Some(5),
                ..Faults::default()
            },
            1,
        );
        let foreign = aws.create_foreign_group("admin").await;
        sgsync.run(&["apply", "--ip-ranges", &base]).ok();
        let ids: Vec<String> = aws
            .managed_groups("AUTOUPDATE")
            .await
            .iter()
            .map(|g| g.id.clone())
            .collect();
        let eni = aws
            .create_interface(&[vec![foreign.clone()], ids.clone()].concat())
            .await;
        let alb = aws
            .create_alb("origin", &[vec![foreign.clone()], ids].concat())
            .await;
        aws.tag_target(&eni, "AUTOUPDATE").await;
        aws.tag_target(&alb, "AUTOUPDATE").await;
        let before_eni = aws.allowed(&aws.interface_groups(&eni).await).await;

        aws.proxy.set_faults(
            Faults {
                writes_before_crash: Some(k),
                dependency_violation: true,
                groups_per_target: Some(5),
                ..Faults::default()
            },
            1,
        );
        aws.proxy.clear();
        let crashed = sgsync.run(&["apply", "--ip-ranges", &grown]);
        let calls = aws.proxy.calls();
        assert_make_before_break(&calls, &expected);
        let writes_done = calls
            .iter()
            .filter(|c| c.is_write() && !c.is_lease() && c.succeeded())
            .count();
        // At the crash point the interface still allows everything it allowed that is still published.
        let after_eni = aws.allowed(&aws.interface_groups(&eni).await).await;
        for rule in before_eni.intersection(&expected) {
            assert!(
                after_eni.contains(rule),
                "crash after write {k}: the interface lost {rule}"
            );
        }

        aws.proxy.set_faults(
            Faults {
                dependency_violation: true,
                groups_per_target: Some(5),
                ..Faults::default()
            },
            1,
        );
        // A killed run holds the deployment's lease until it runs out (16 minutes); time is not
        // waited out here: the lease is left as a killed run's is once it ran out.
        aws.write_lease("default", "killed-run", -1).await;
        aws.proxy.clear();
        let next = sgsync
            .run(&["apply", "--ip-ranges", &grown, "--output", "json"])
            .ok();
        if next.json()["status"] == "applied" {
            assert!(
                aws.proxy
                    .calls()
                    .iter()
                    .any(|c| c.is_lease() && c.action == "PutParameter" && c.succeeded()),
                "the next run applied without taking over the lease"
            );
        }
        assert_make_before_break(&aws.proxy.calls(), &expected);
        let groups = aws
            .assert_holds_exactly(&expected, &format!("after a crash at write {k}"))
            .await;
        let want: BTreeSet<String> = groups
            .iter()
            .map(|g| g.id.clone())
            .chain([foreign.clone()])
            .collect();
        assert_eq!(aws.groups_on(&eni).await, want, "crash at {k}");
        assert_eq!(aws.groups_on(&alb).await, want, "crash at {k}");

        if crashed.code == 0 {
            // k reached the run's full write count: nothing was left to do.
            assert_eq!(next.json()["status"], "unchanged");
            assert!(k >= writes_done);
            assert!(k >= 5, "the growth run has at least 5 writes");
            break;
        }
        assert!(crashed.stderr.contains("InjectedCrash"), "{crashed:?}");
        assert_eq!(writes_done, k, "the crash came right after write {k}");
        k += 1;
    }
}

/// Two applies at once, of the same document and of different ones: the deployment's lease lets
/// one apply at a time; the other waits, reads again and applies on top of it (or skips an older
/// document). No duplicate groups, quotas held, and the newer document wins whichever ran first.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_applies_leave_no_duplicates_and_converge() {
    let aws = Aws::start().await;
    let sgsync = aws.sgsync();
    let dir = tempfile::tempdir().unwrap();
    let base = doc_file(&dir, "base.json", latest());
    let base_rules = expected_rules(&latest(), "80", false);
    let newer_doc = edited_document(
        &latest(),
        1787411900,
        &["13.32.0.0/15"],
        &["15.230.8.0/24", "15.230.11.0/24"],
    );
    let newer = doc_file(&dir, "newer.json", &newer_doc);
    let newer_rules = expected_rules(&newer_doc, "80", false);

    // Same document, from nothing. Latency on every call makes both runs read the empty state and
    // plan before either writes, so both want the lease.
    aws.proxy.set_faults(
        Faults {
            latency: std::time::Duration::from_millis(40),
            ..Faults::default()
        },
        1,
    );
    aws.proxy.clear();
    let (a, b) = std::thread::scope(|s| {
        let run = || sgsync.run(&["apply", "--ip-ranges", &base, "--output", "json"]);
        let a = s.spawn(run);
        let b = s.spawn(run);
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!((a.code, b.code), (0, 0), "{a:?}\n{b:?}");
    let calls = aws.proxy.calls();
    let lease_reads = calls
        .iter()
        .filter(|c| c.is_lease() && c.action == "GetParameter")
        .count();
    assert!(
        lease_reads >= 4,
        "both runs asked for the lease ({lease_reads} reads of it): the runs did not overlap"
    );
    let creates = calls
        .iter()
        .filter(|c| c.action == "CreateSecurityGroup")
        .count();
    assert_eq!(creates, 3, "the second run created groups again");
    let mut statuses = [a.json()["status"].clone(), b.json()["status"].clone()];
    statuses.sort_by_key(|s| s.to_string());
    assert_eq!(statuses, ["applied", "unchanged"], "{a:?}\n{b:?}");
    aws.assert_holds_exactly(&base_rules, "same document at once")
        .await;

    // Two different changes at once, both planned from the same state: whichever takes the lease
    // first, the newer document's rules are what is left (the older one, second, is skipped under
    // the lease instead of revoking what the newer one added).
    let middle_doc = edited_document(&latest(), 1787411850, &["13.32.0.0/15"], &[]);
    let middle = doc_file(&dir, "middle.json", &middle_doc);
    // A lease a killed run left, run out: both runs read it and both write; only the writer of the
    // next version may hold it (the other waits), and both give it back.
    aws.write_lease("default", "killed-run", -1).await;
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| sgsync.run(&["apply", "--ip-ranges", &middle, "--output", "json"]));
        let b = s.spawn(|| sgsync.run(&["apply", "--ip-ranges", &newer, "--output", "json"]));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!((a.code, b.code), (0, 0), "{a:?}\n{b:?}");
    assert_eq!(b.json()["status"], "applied", "{b:?}");
    assert!(
        ["applied", "skipped"].contains(&a.json()["status"].as_str().unwrap()),
        "{a:?}"
    );
    aws.assert_holds_exactly(&newer_rules, "right after the race")
        .await;
    assert!(
        aws.lease("default").await.is_none(),
        "a lease was left behind: {:?}",
        aws.lease("default").await
    );
    aws.proxy.set_faults(Faults::default(), 1);
    let groups = aws.managed_groups("AUTOUPDATE").await;
    let names: BTreeSet<&str> = groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(
        names.len(),
        groups.len(),
        "duplicate groups: {groups:?}\n{a:?}\n{b:?}"
    );
    assert!(groups.iter().all(|g| g.rules.len() <= 60));
    // The older document is now stale: skipped.
    let again = sgsync
        .run(&["apply", "--ip-ranges", &base, "--output", "json"])
        .ok();
    assert_eq!(again.json()["status"], "skipped");
}
