//! The outside review's findings, each reproduced against moto through the recording proxy: every test
//! here fails on sgsync as it was before the hardening and passes now.

use std::collections::BTreeSet;

use crate::support::proxy::Faults;
use crate::support::*;

/// Two deployments under the default PREFIX_NAME used to take each other's groups. Now another
/// service's deployment coexists, so does a second deployment of the same service (interleaved
/// numbers: each deployment's groups are what its record says), and a deployment may still change
/// its own settings.
#[tokio::test(flavor = "multi_thread")]
async fn deployments_under_one_prefix_never_touch_each_others_groups() {
    let aws = Aws::start().await;
    let dir = tempfile::tempdir().unwrap();
    let doc = doc_file(&dir, "latest.json", latest());
    let origin = aws
        .sgsync()
        .env("SERVICE", "CLOUDFRONT_ORIGIN_FACING")
        .env("DEPLOYMENT_ID", "origin-80");
    origin.apply_file(&doc).ok();
    let mine = aws.managed_groups("AUTOUPDATE").await;
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].tags["sgsync:deployment"], "origin-80");

    // Another service, another deployment, the same prefix: its own groups, mine untouched.
    let health = aws
        .sgsync()
        .env("SERVICE", "ROUTE53_HEALTHCHECKS")
        .env("DEPLOYMENT_ID", "health");
    health.apply_file(&doc).ok();
    let all = aws.managed_groups("AUTOUPDATE").await;
    assert_eq!(all.len(), 2, "{all:?}");
    assert!(
        all.contains(&mine[0]),
        "the first deployment's group changed: {all:?}"
    );
    origin.apply_file(&doc).ok();
    assert_eq!(aws.managed_groups("AUTOUPDATE").await, all);

    // The same service on another port, as another deployment (the blog's one-function-per-port
    // advice): ownership is each deployment's record, so they coexist: its group takes the next free
    // number, and the first deployment's group is untouched.
    let https = aws
        .sgsync()
        .env("SERVICE", "CLOUDFRONT_ORIGIN_FACING")
        .env("PORTS", "443")
        .env("DEPLOYMENT_ID", "origin-443");
    https.apply_file(&doc).ok();
    let three = aws.managed_groups("AUTOUPDATE").await;
    assert_eq!(three.len(), 3, "{three:?}");
    assert!(three.contains(&mine[0]), "{three:?}");
    let theirs = three
        .iter()
        .find(|g| g.tags["sgsync:deployment"] == "origin-443")
        .unwrap();
    assert_eq!(theirs.name, "AUTOUPDATE-cloudfront_origin_facing-2");
    assert!(theirs.rules.iter().all(|r| r.ends_with("tcp/443")));
    origin.apply_file(&doc).ok();
    https.apply_file(&doc).ok();
    assert_eq!(aws.managed_groups("AUTOUPDATE").await, three);

    // The deployment itself moves to ports 80 and 443: its own groups, as before.
    let both = origin.clone().env("PORTS", "80,443");
    let summary = both.apply_file(&doc).ok().json();
    assert_eq!(summary["status"], "applied");
    let expected = 2 * expected_rules_for(&latest(), "CLOUDFRONT_ORIGIN_FACING").len();
    assert_eq!(summary["rules"], expected);
}

fn expected_rules_for(document: &[u8], service: &str) -> BTreeSet<String> {
    let selection = sgsync::ranges::Selection {
        services: vec![service.into()],
        regions: None,
        ip_versions: sgsync::ranges::IpVersions {
            v4: true,
            v6: false,
        },
    };
    let set = sgsync::ranges::select(document, &selection).unwrap();
    set.ipv4.iter().map(|n| n.to_string()).collect()
}

/// One far-future syncToken, in a document or on a group, used to freeze every later run as
/// `skipped`, exit 0. Now the document is refused, the tag is ignored (and overwritten), `--force`
/// applies an older document, and a live document older than the tags logs an error.
#[tokio::test(flavor = "multi_thread")]
async fn a_far_future_synctoken_never_freezes_sync() {
    let aws = Aws::start().await;
    let dir = tempfile::tempdir().unwrap();
    let sgsync = aws.sgsync();
    sgsync
        .apply_file(&doc_file(&dir, "latest.json", latest()))
        .ok();

    // A document from the year 5138: refused, nothing written.
    let future = edited_document(&latest(), 99_999_999_999, &[], &[]);
    aws.proxy.clear();
    let out = sgsync.apply_file(&doc_file(&dir, "future.json", &future));
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("ahead of this machine's clock"),
        "{}",
        out.stderr
    );
    assert!(writes(&aws.proxy.calls()).is_empty());

    // A tag from the year 5138 on one group: ignored with a warning, and the next change overwrites it.
    let group = aws.managed_groups("AUTOUPDATE").await[0].clone();
    aws.ec2
        .create_tags()
        .resources(&group.id)
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key("sgsync:synctoken")
                .value("99999999999")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let newer = edited_document(
        &latest(),
        LATEST_SYNCTOKEN + 60,
        &["13.32.0.0/15"],
        &[NEW_PREFIXES[0]],
    );
    let summary = sgsync
        .apply_file(&doc_file(&dir, "newer.json", &newer))
        .ok()
        .json();
    assert_eq!(summary["status"], "applied");
    assert!(
        summary["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("99999999999")),
        "{summary}"
    );
    let tags: BTreeSet<String> = aws
        .managed_groups("AUTOUPDATE")
        .await
        .iter()
        .map(|g| g.tags["sgsync:synctoken"].clone())
        .collect();
    assert_eq!(tags, BTreeSet::from([(LATEST_SYNCTOKEN + 60).to_string()]));

    // An older document is skipped (exit 0) ... unless forced.
    let older = doc_file(&dir, "older.json", latest());
    assert_eq!(sgsync.apply_file(&older).ok().json()["status"], "skipped");
    let forced = sgsync
        .run(&[
            "apply",
            "--ip-ranges",
            &older,
            "--force",
            "--output",
            "json",
        ])
        .ok();
    assert_eq!(forced.json()["status"], "applied");

    // The live document (the schedule) older than what the groups record: skipped, with an ERROR
    // line, and the run fails (exit 1, an error in the summary) so that the alarms see it.
    let files = FileServer::start();
    files.put("/ip-ranges.json", latest());
    let tagged = aws.managed_groups("AUTOUPDATE").await[0].id.clone();
    aws.ec2
        .create_tags()
        .resources(&tagged)
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key("sgsync:synctoken")
                .value((LATEST_SYNCTOKEN + 3600).to_string())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let schedule = fixture("events/scheduled.json");
    let out = sgsync
        .clone()
        .env("IP_RANGES_URL", &files.url("/ip-ranges.json"))
        .run(&[
            "apply",
            "--event",
            schedule.to_str().unwrap(),
            "--output",
            "json",
        ]);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.json()["status"], "skipped");
    assert!(
        out.json()["errors"][0]
            .as_str()
            .unwrap()
            .contains("is older than the synctoken"),
        "{out:?}"
    );
    assert!(
        out.stderr
            .lines()
            .any(|l| l.contains("ERROR") && l.contains("--force")),
        "{}",
        out.stderr
    );
}

/// An entry added by hand to a managed group used to reach a newly tagged target before the late
/// revoke. Now it is revoked before the group is attached anywhere.
#[tokio::test(flavor = "multi_thread")]
async fn an_entry_added_by_hand_never_reaches_a_new_target() {
    use aws_sdk_ec2::types::{IpPermission, Ipv6Range};
    let aws = Aws::start().await;
    let dir = tempfile::tempdir().unwrap();
    let sgsync = aws.sgsync();
    let doc = doc_file(&dir, "latest.json", latest());
    sgsync.apply_file(&doc).ok();
    // All traffic from the whole IPv6 internet (the IPv4 slots of the group are full).
    let group = aws.managed_groups("AUTOUPDATE").await[1].clone();
    aws.ec2
        .authorize_security_group_ingress()
        .group_id(&group.id)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("-1")
                .ipv6_ranges(Ipv6Range::builder().cidr_ipv6("::/0").build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let eni = aws.create_interface(&[]).await;
    aws.tag_target(&eni, "AUTOUPDATE").await;
    aws.proxy.clear();
    sgsync.apply_file(&doc).ok();
    let calls = aws.proxy.calls();
    let revoke = calls
        .iter()
        .position(|c| {
            c.action == "RevokeSecurityGroupIngress"
                && c.params
                    .get("IpPermissions.1.IpProtocol")
                    .map(String::as_str)
                    == Some("-1")
        })
        .expect("the entry is revoked");
    let attach = calls
        .iter()
        .position(|c| c.action == "ModifyNetworkInterfaceAttribute")
        .expect("the interface gets the groups");
    assert!(
        revoke < attach,
        "the entry reached the new target first: {calls:#?}"
    );
    let allowed = aws.allowed(&aws.interface_groups(&eni).await).await;
    assert!(allowed.iter().all(|r| r.contains("tcp/80")), "{allowed:?}");
}

/// A target's group list used to be written from the observation, minutes old: a group attached in
/// between was silently detached. Now the target is read again right before the write.
#[tokio::test(flavor = "multi_thread")]
async fn a_group_attached_during_the_run_stays() {
    let aws = Aws::start().await;
    let dir = tempfile::tempdir().unwrap();
    // Room for six groups: the interface's own, the one attached meanwhile, and four managed ones.
    let sgsync = aws.sgsync().env("GROUPS_PER_TARGET", "6");
    let admin = aws.create_foreign_group("admin").await;
    let late = aws.create_foreign_group("late").await;
    let eni = aws.create_interface(std::slice::from_ref(&admin)).await;
    aws.tag_target(&eni, "AUTOUPDATE").await;
    sgsync
        .apply_file(&doc_file(&dir, "latest.json", latest()))
        .ok();
    let before = aws.interface_groups(&eni).await;

    // Growth needs a fourth group; while it is created, someone attaches `late` to the interface.
    let attach: String = before
        .iter()
        .chain(std::iter::once(&late))
        .enumerate()
        .map(|(i, g)| format!("&SecurityGroupId.{}={g}", i + 1))
        .collect();
    aws.proxy.set_faults(
        Faults {
            before_first: Some((
                "CreateSecurityGroup",
                format!("Action=ModifyNetworkInterfaceAttribute&NetworkInterfaceId={eni}{attach}"),
            )),
            ..Faults::default()
        },
        1,
    );
    let grown = edited_document(&latest(), LATEST_SYNCTOKEN + 60, &[], &NEW_PREFIXES);
    sgsync
        .apply_file(&doc_file(&dir, "grown.json", &grown))
        .ok();
    let after = aws.interface_groups(&eni).await;
    assert_eq!(after[0], admin);
    assert_eq!(
        after[1], late,
        "the group attached meanwhile was dropped: {after:?}"
    );
    assert_eq!(after.len(), 2 + 4);
}

/// Interfaces that carry a managed group without the opt-in tag are reported and never modified; a
/// run that would take access from one, or delete a group it carries, is refused.
#[tokio::test(flavor = "multi_thread")]
async fn untagged_interfaces_are_reported_and_never_modified() {
    let aws = Aws::start().await;
    let dir = tempfile::tempdir().unwrap();
    let sgsync = aws.sgsync();
    let grown = edited_document(&latest(), LATEST_SYNCTOKEN + 60, &[], &NEW_PREFIXES);
    sgsync
        .apply_file(&doc_file(&dir, "grown.json", &grown))
        .ok();
    let ids: Vec<String> = aws
        .managed_groups("AUTOUPDATE")
        .await
        .iter()
        .map(|g| g.id.clone())
        .collect();
    assert_eq!(ids.len(), 4);
    // Attached by hand, not tagged.
    let eni = aws.create_interface(&ids).await;

    aws.proxy.clear();
    let summary = sgsync
        .apply_file(&doc_file(&dir, "grown.json", &grown))
        .ok()
        .json();
    assert_eq!(
        summary["untagged_targets"][0]["id"],
        eni.as_str(),
        "{summary}"
    );
    assert!(summary["targets"].as_array().unwrap().is_empty());
    assert!(
        summary["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("sgsync:target=AUTOUPDATE")),
        "{summary}"
    );
    assert!(writes(&aws.proxy.calls()).is_empty());

    // Back to the real ranges, packed again into three groups: the fourth group's rules move into
    // the others (which the untagged interface carries too), and the fourth is kept, empty, instead
    // of deleted: the interface is never modified and keeps every published range it allows, and
    // the run goes on (one untagged carrier used to stop every run).
    let allowed = aws.allowed(&aws.interface_groups(&eni).await).await;
    aws.proxy.clear();
    let shrunk = edited_document(&latest(), LATEST_SYNCTOKEN + 120, &[], &[]);
    let published = expected_rules(&shrunk, "80", false);
    let shrunk = doc_file(&dir, "shrunk.json", &shrunk);
    sgsync
        .run(&["apply", "--ip-ranges", &shrunk, "--repack"])
        .ok();
    assert!(
        !writes(&aws.proxy.calls()).contains(&"DeleteSecurityGroup".to_string()),
        "{:?}",
        writes(&aws.proxy.calls())
    );
    assert_eq!(aws.interface_groups(&eni).await, ids);
    let now = aws.allowed(&ids).await;
    let lost: Vec<&String> = (allowed.iter())
        .filter(|r| published.contains(*r) && !now.contains(*r))
        .collect();
    assert!(lost.is_empty(), "the untagged interface lost {lost:?}");
}

/// An untagged group squatting the next name used to make every run that needs a group fail.
#[tokio::test(flavor = "multi_thread")]
async fn a_squatted_name_is_skipped() {
    let aws = Aws::start().await;
    let dir = tempfile::tempdir().unwrap();
    let sgsync = aws.sgsync();
    sgsync
        .apply_file(&doc_file(&dir, "latest.json", latest()))
        .ok();
    aws.create_foreign_group("AUTOUPDATE-cloudfront-4").await;
    let grown = edited_document(&latest(), LATEST_SYNCTOKEN + 60, &[], &NEW_PREFIXES);
    let summary = sgsync
        .apply_file(&doc_file(&dir, "grown.json", &grown))
        .ok()
        .json();
    let names: Vec<&str> = summary["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "AUTOUPDATE-cloudfront-1",
            "AUTOUPDATE-cloudfront-2",
            "AUTOUPDATE-cloudfront-3",
            "AUTOUPDATE-cloudfront-5"
        ]
    );
    assert!(
        summary["warnings"].as_array().unwrap().iter().any(|w| w
            .as_str()
            .unwrap()
            .contains("named AUTOUPDATE-cloudfront-4")),
        "{summary}"
    );
}

/// EC2 is eventually consistent: a group just created may be unknown to the next call for a moment.
/// That used to fail the run (or, for a revoke, count as done); now it is retried.
#[tokio::test(flavor = "multi_thread")]
async fn a_group_not_known_yet_right_after_its_creation_is_waited_for() {
    let aws = Aws::start().await;
    let dir = tempfile::tempdir().unwrap();
    let eni = aws.create_interface(&[]).await;
    aws.tag_target(&eni, "AUTOUPDATE").await;
    aws.proxy.set_faults(
        Faults {
            not_found_after_create: 2,
            ..Faults::default()
        },
        1,
    );
    let summary = aws
        .sgsync()
        .apply_file(&doc_file(&dir, "latest.json", latest()))
        .ok()
        .json();
    assert_eq!(summary["status"], "applied");
    let calls = aws.proxy.calls();
    assert!(
        calls
            .iter()
            .any(|c| c.injected && c.action == "RevokeSecurityGroupEgress"),
        "the fault was not met"
    );
    let expected = expected_rules(&latest(), "80", false);
    let (all, count) = union(&aws.managed_groups("AUTOUPDATE").await);
    assert_eq!((all, count), (expected.clone(), expected.len()));
    let managed: BTreeSet<String> = aws
        .managed_groups("AUTOUPDATE")
        .await
        .into_iter()
        .map(|g| g.id)
        .collect();
    let on: BTreeSet<String> = aws.interface_groups(&eni).await.into_iter().collect();
    assert!(managed.is_subset(&on) && managed.len() == 3, "{on:?}");
}

/// `SetSecurityGroups` without the parameter may reset an NLB's PrivateLink inbound-rules enforcement
/// to its default: the setting the load balancer has is sent back.
#[tokio::test(flavor = "multi_thread")]
async fn an_nlb_keeps_its_privatelink_enforcement() {
    let aws = Aws::start().await;
    let dir = tempfile::tempdir().unwrap();
    let base = aws.create_foreign_group("nlb-base").await;
    let nlb = aws.create_nlb("origin", std::slice::from_ref(&base)).await;
    aws.tag_target(&nlb, "AUTOUPDATE").await;
    aws.proxy.set_faults(
        Faults {
            nlb_enforcement: Some("off"),
            ..Faults::default()
        },
        1,
    );
    aws.sgsync()
        .apply_file(&doc_file(&dir, "latest.json", latest()))
        .ok();
    let set = aws
        .proxy
        .calls()
        .into_iter()
        .find(|c| c.action == "SetSecurityGroups")
        .expect("the NLB gets the groups");
    assert_eq!(
        set.params
            .get("EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic")
            .map(String::as_str),
        Some("off"),
        "{set:?}"
    );
    assert_eq!(aws.lb_groups(&nlb).await.len(), 4);
}

/// Service Quotas unreadable used to mean planning with 60 and 5 even where an interface already
/// holds more groups (a raised quota), moving rules for nothing. Now the larger of the defaults and
/// what is held is used.
#[tokio::test(flavor = "multi_thread")]
async fn an_unreadable_quota_falls_back_to_what_is_held() {
    let aws = Aws::start().await;
    let dir = tempfile::tempdir().unwrap();
    let doc = doc_file(&dir, "latest.json", latest());
    let sgsync = aws.sgsync();
    sgsync.apply_file(&doc).ok();
    let mut on: Vec<String> = Vec::new();
    for i in 0..3 {
        on.push(aws.create_foreign_group(&format!("team-{i}")).await);
    }
    on.extend(
        aws.managed_groups("AUTOUPDATE")
            .await
            .into_iter()
            .map(|g| g.id),
    );
    // Six groups on one interface: this account's quota was raised.
    let eni = aws.create_interface(&on).await;
    aws.tag_target(&eni, "AUTOUPDATE").await;
    aws.proxy.set_faults(
        Faults {
            deny_service: Some("servicequotas"),
            ..Faults::default()
        },
        1,
    );
    let summary = sgsync
        .run(&["plan", "--ip-ranges", &doc, "--output", "json"])
        .ok()
        .json();
    assert_eq!(summary["quotas"]["groups_per_target"], 6, "{summary}");
    assert_eq!(summary["status"], "unchanged", "{summary}");
}

/// The blog's own attach rule, as an option (`ATTACH=carriers`): an interface that carries the
/// managed groups without the tag (attached by hand, as the blog told its users) gets the group the
/// ranges grew into; with the default `ATTACH=tagged` it is only reported and keeps what it has. An
/// interface that carries no managed group is never touched either way.
#[tokio::test(flavor = "multi_thread")]
async fn growth_reaches_carriers_only_when_attach_says_so() {
    let grown = edited_document(
        &latest(),
        LATEST_SYNCTOKEN + 60,
        &[],
        &(0..12)
            .map(|i| format!("151.101.{}.0/24", 2 * i))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    for carriers in [false, true] {
        let aws = Aws::start().await;
        let own = aws.create_foreign_group("web").await;
        let tagged = aws.create_interface(std::slice::from_ref(&own)).await;
        aws.tag_target(&tagged, "AUTOUPDATE").await;
        let bystander = aws.create_interface(std::slice::from_ref(&own)).await;
        let sgsync = aws
            .sgsync()
            .env("ATTACH", if carriers { "carriers" } else { "tagged" });
        aws.apply_doc(&sgsync, &latest()).0.ok();
        let first: Vec<String> = aws
            .managed_groups("AUTOUPDATE")
            .await
            .into_iter()
            .map(|g| g.id)
            .collect();
        assert_eq!(first.len(), 3);
        // Attached by hand, without the tag, as the blog's users did.
        let carrier = aws.create_interface(std::slice::from_ref(&own)).await;
        let by_hand: Vec<String> = [own.clone()].into_iter().chain(first.clone()).collect();
        aws.set_groups(&carrier, &by_hand).await;

        let out = aws.apply_doc(&sgsync, &grown).0.ok();
        let managed: BTreeSet<String> = aws
            .managed_groups("AUTOUPDATE")
            .await
            .into_iter()
            .map(|g| g.id)
            .collect();
        assert_eq!(managed.len(), 4, "the ranges grew into a fourth group");
        let full: BTreeSet<String> = managed.iter().cloned().chain([own.clone()]).collect();
        assert_eq!(aws.groups_on(&tagged).await, full);
        let on_carrier = aws.groups_on(&carrier).await;
        if carriers {
            assert_eq!(
                on_carrier, full,
                "ATTACH=carriers: the carrier gets the new group"
            );
        } else {
            assert_eq!(
                on_carrier,
                by_hand.iter().cloned().collect(),
                "ATTACH=tagged: the carrier is not modified"
            );
            assert!(
                out.stderr
                    .contains("carries a managed group but not the tag sgsync:target"),
                "{out:?}"
            );
        }
        assert_eq!(
            aws.groups_on(&bystander).await,
            BTreeSet::from([own.clone()]),
            "an interface without a managed group is never touched"
        );
    }
}
