//! The trust review's findings (docs/design.md, "Threat model"), each reproduced against moto as the
//! principal it names would: someone of the same account who may create groups, lists and IP sets
//! and write tags, but not change interfaces, load balancers or the function; or an unlucky operator.
//! Each test is named after its finding and failed on sgsync before the fix.

use std::collections::BTreeSet;

use crate::support::proxy::Faults;
use crate::support::*;

/// Finding 1: attaching the managed groups opened all outbound traffic on an interface whose own
/// groups restrict it: EC2 gives every new VPC group "all traffic to 0.0.0.0/0" outbound, and sgsync
/// never removed it. Now it is revoked right after the create; one found later (a run stopped in
/// between, or added by hand) is revoked before the group reaches any target.
#[tokio::test(flavor = "multi_thread")]
async fn outbound_widening_on_attach() {
    let aws = Aws::start().await;
    let sgsync = aws.sgsync();
    let locked = aws.create_foreign_group("locked-down").await;
    aws.revoke_all_outbound(&locked).await;
    let eni = aws.create_interface(std::slice::from_ref(&locked)).await;
    aws.tag_target(&eni, "AUTOUPDATE").await;
    let (out, _) = aws.apply_doc(&sgsync, &latest());
    out.ok();
    for g in aws.interface_groups(&eni).await {
        assert!(
            aws.outbound(&g).await.is_empty(),
            "{g} on {eni} allows outbound traffic"
        );
    }

    // Someone adds an outbound rule to a managed group; a new interface opts in.
    let managed = aws.managed_groups("AUTOUPDATE").await;
    aws.add_outbound(&managed[1].id, "0.0.0.0/0").await;
    let second = aws.create_interface(std::slice::from_ref(&locked)).await;
    aws.tag_target(&second, "AUTOUPDATE").await;
    let (out, calls) = aws.apply_doc(&sgsync, &latest());
    out.ok();
    let w = writes(&calls);
    let revoke = w.iter().position(|a| a == "RevokeSecurityGroupEgress");
    let attach = w
        .iter()
        .position(|a| a == "ModifyNetworkInterfaceAttribute");
    assert!(
        revoke.is_some() && revoke < attach,
        "the outbound entry must go before the group reaches the new interface: {w:?}"
    );
    for eni in [&eni, &second] {
        for g in aws.interface_groups(eni).await {
            assert!(aws.outbound(&g).await.is_empty(), "{g} on {eni}");
        }
    }
}

/// Finding 9: `http://localhost:80@any.host/…` passed the loopback-only check for plain http (the
/// user-info part was read as the host). The URL is now parsed as the download client parses it, and
/// user info is refused: nothing is downloaded, nothing is read from AWS.
#[test]
fn a_url_with_user_info_passed_the_loopback_check() {
    let files = FileServer::start();
    files.put("/ip-ranges.json", latest());
    // No AWS behind it: the refusal must come first.
    let sgsync = Sgsync::new("http://127.0.0.1:9").env(
        "IP_RANGES_URL",
        "http://localhost:80@any.host/ip-ranges.json",
    );
    let out = sgsync.run(&["plan"]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("IP_RANGES_URL") && out.stderr.contains("user name or password"),
        "{}",
        out.stderr
    );
}

/// Finding 10: one malformed entry of a service nobody selected (`"ip_prefix": 5`, a key given
/// twice) refused the whole document, so CloudFront's update never arrived. Now it is skipped with
/// a warning; the selected service's entries are still checked strictly.
#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_entry_of_an_unselected_service_refused_the_whole_document() {
    let aws = Aws::start().await;
    let mut doc: serde_json::Value = serde_json::from_slice(&latest()).unwrap();
    let prefixes = doc["prefixes"].as_array_mut().unwrap();
    prefixes.push(serde_json::json!({"ip_prefix": 5, "region": "GLOBAL", "service": "AMAZON"}));
    let mut text = serde_json::to_string(&doc).unwrap();
    // A key given twice cannot be built with serde_json's map: written into the text.
    text = text.replacen(
        r#""prefixes":["#,
        r#""prefixes":[{"ip_prefix":"3.5.0.0/16","ip_prefix":"3.6.0.0/16","region":"GLOBAL","service":"S3"},"#,
        1,
    );
    let (out, _) = aws.apply_doc(&aws.sgsync(), text.as_bytes());
    let summary = out.ok().json();
    assert_eq!(summary["status"], "applied");
    assert_eq!(summary["rules"], 180);
    let warnings = summary["warnings"].to_string();
    assert!(
        warnings.contains("not a string but a number")
            && warnings.contains("holds the field ip_prefix twice"),
        "{warnings}"
    );
}

/// Finding 4: a fleet entry could set `PORTS = "1-65535"` (or `IP_VERSIONS`, `SHARE_WITH`) wider than
/// the hub's: whoever may write the fleet file (an S3 object) widened every origin of that entry. Now
/// such an entry fails alone, naming the setting, before anything is read; the others run.
#[tokio::test(flavor = "multi_thread")]
async fn a_fleet_entry_widened_the_hubs_ports() {
    let aws = Aws::start().await;
    let files = FileServer::start();
    files.put("/ip-ranges.json", latest());
    let dir = tempfile::tempdir().unwrap();
    let fleet = doc_file(
        &dir,
        "fleet.toml",
        "role_name = \"sgsync\"\n\
         [[vpc]]\naccount = \"111111111111\"\nregion = \"eu-west-1\"\n\
         [[vpc]]\naccount = \"222222222222\"\nregion = \"eu-west-1\"\n\
         settings = { PORTS = \"443,1-442,444-65535\" }\n",
    );
    let out = aws
        .sgsync()
        .env("IP_RANGES_URL", &files.url("/ip-ranges.json"))
        .env("FLEET", &fleet)
        .run(&["apply", "--output", "json"]);
    assert_eq!(out.code, 1, "{out:?}");
    let summary = out.json();
    assert_eq!(summary["vpcs"][0]["status"], "applied", "{summary}");
    assert_eq!(summary["vpcs"][1]["status"], "failed", "{summary}");
    let why = summary["vpcs"][1]["error"].as_str().unwrap();
    assert!(why.contains("may not widen PORTS: 1-442"), "{why}");
    assert!(
        aws.managed_rules_in("222222222222", "eu-west-1")
            .await
            .is_empty()
    );
    let calls = aws.proxy.calls();
    assert!(
        !calls
            .iter()
            .any(|c| c.account.as_deref() == Some("222222222222")),
        "the refused entry called AWS"
    );
}

/// Finding 2: a group someone else creates, named like a managed one and tagged `sgsync:prefix` and
/// `sgsync:deployment` (or only the prefix: a "legacy" group), was filled with the published rules and
/// attached to every target, and its creator could then swap a rule for 0.0.0.0/0. Now a group is this
/// deployment's only when its record (SSM Parameter Store, which only its role may write) says so: the
/// forged ones are reported (warning, `unrecorded` in the summary, a metric), never filled, attached
/// or counted; the deployment makes its own, under the next free names.
#[tokio::test(flavor = "multi_thread")]
async fn ownership_by_tags_alone_is_forgeable() {
    let aws = Aws::start().await;
    let eni = aws.create_interface(&[]).await;
    aws.tag_target(&eni, "AUTOUPDATE").await;
    let forged = aws
        .create_tagged_group(
            "AUTOUPDATE-cloudfront-1",
            &[
                ("sgsync:prefix", "AUTOUPDATE"),
                ("sgsync:deployment", "default"),
            ],
        )
        .await;
    let legacy = aws
        .create_tagged_group(
            "AUTOUPDATE-cloudfront-2",
            &[("sgsync:prefix", "AUTOUPDATE")],
        )
        .await;
    // Not empty: a forged group with an opening the forger prepared.
    aws.open_to_the_world(&forged).await;

    let (out, _) = aws.apply_doc(&aws.sgsync(), &latest());
    let summary = out.ok().json();
    let unrecorded: Vec<&str> = summary["unrecorded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    assert!(
        unrecorded.contains(&forged.as_str()) && unrecorded.contains(&legacy.as_str()),
        "{summary}"
    );
    assert!(
        summary["warnings"]
            .to_string()
            .contains("not in its record"),
        "{summary}"
    );
    let on_target = aws.groups_on(&eni).await;
    assert!(
        !on_target.contains(&forged) && !on_target.contains(&legacy),
        "a forged group reached the target: {on_target:?}"
    );
    // The deployment's own groups, under the next free names, hold exactly the published rules.
    let all = aws.all_groups().await;
    let names: BTreeSet<&str> = on_target
        .iter()
        .map(|id| all[id].0.as_str())
        .filter(|name| *name != "default")
        .collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "AUTOUPDATE-cloudfront-3",
            "AUTOUPDATE-cloudfront-4",
            "AUTOUPDATE-cloudfront-5"
        ])
    );
    assert_eq!(
        aws.allowed(&on_target.iter().cloned().collect::<Vec<_>>())
            .await,
        expected_rules(&latest(), "80", false)
    );
    assert!(
        aws.all_groups().await[&legacy].1.is_empty(),
        "the legacy-looking group was filled"
    );
}

/// Finding 2, prefix lists, WAF IP sets and the RAM share: a list, a set or a share someone else
/// made under this deployment's name and tags was filled and used as its own (the set's creator could
/// swap in `0.0.0.0/1`; the share's could point it at any account). Now only what the deployment
/// recorded at creation is filled or shared; a forgery is reported and left alone, and one that is
/// empty and unused (what a run stopped between create and record leaves) is deleted and made again.
#[tokio::test(flavor = "multi_thread")]
async fn forged_lists_sets_and_shares_are_never_filled_or_used() {
    let aws = Aws::start().await;
    let ours = [
        ("sgsync:prefix", "AUTOUPDATE"),
        ("sgsync:deployment", "default"),
    ];
    let forged_list = aws
        .create_prefix_list("AUTOUPDATE-cloudfront-ipv4-1", &["0.0.0.0/1"], &ours)
        .await;
    let crashed_list = aws
        .create_prefix_list("AUTOUPDATE-cloudfront-ipv4-2", &[], &ours)
        .await;
    let crashed_set = aws
        .create_ip_set("AUTOUPDATE-cloudfront-ipv4", &[], &ours)
        .await;
    let sgsync = aws.sgsync().env("KINDS", "prefix-lists,waf-ip-sets");
    let (out, _) = aws.apply_doc(&sgsync, &latest());
    let summary = out.ok().json();
    let lists = &summary["prefix_lists"];
    assert_eq!(
        lists["unrecorded"][0]["id"],
        forged_list.as_str(),
        "{lists}"
    );
    assert!(
        summary["warnings"].to_string().contains(&format!(
            "({forged_list}) has this deployment's name or tags"
        )),
        "{summary}"
    );

    let all = aws.prefix_lists("AUTOUPDATE").await;
    let forged = all.iter().find(|l| l.id == forged_list).unwrap();
    assert_eq!(
        forged.entries,
        BTreeSet::from(["0.0.0.0/1".to_string()]),
        "the forged list was changed"
    );
    assert!(
        all.iter().all(|l| l.id != crashed_list),
        "the empty unrecorded list was not reclaimed"
    );
    let recorded = aws.record("default", "prefix-lists").await;
    let managed: BTreeSet<String> = all
        .iter()
        .filter(|l| l.id != forged_list)
        .map(|l| l.id.clone())
        .collect();
    assert_eq!(recorded, managed);
    assert!(!recorded.contains(&forged_list));
    let held: BTreeSet<String> = all
        .iter()
        .filter(|l| recorded.contains(&l.id))
        .flat_map(|l| l.entries.iter().cloned())
        .collect();
    assert_eq!(held, expected_cidrs(&latest(), false));

    // The empty set of this name was deleted and made again, recorded, filled.
    let sets = aws.ip_sets().await;
    assert_eq!(sets.len(), 1, "{sets:?}");
    assert_ne!(sets[0].id, crashed_set);
    let set_arns = aws.record("default", "waf-ip-sets").await;
    assert_eq!(set_arns.len(), 1);
    assert!(set_arns.iter().next().unwrap().contains(&sets[0].id));

    // A share of the deployment's name and tags that it did not record, already pointing at an
    // account: the lists are never added to it (RAM does not keep names unique: the deployment
    // makes, records and uses its own).
    let share = aws
        .create_share(
            "AUTOUPDATE-cloudfront-prefix-lists",
            &["999999999999"],
            &ours,
        )
        .await;
    let sharing = sgsync.clone().env("SHARE_WITH", "111122223333");
    let (out, _) = aws.apply_doc(&sharing, &latest());
    let summary = out.ok().json();
    assert!(
        summary["warnings"].to_string().contains(&share),
        "{summary}"
    );
    let recorded = aws.record("default", "prefix-lists").await;
    assert!(!recorded.contains(&share));
    let forged = aws.share(&share).await;
    assert!(
        forged.0.is_empty(),
        "a list joined the forged share: {forged:?}"
    );
    let own = recorded
        .iter()
        .find(|a| a.starts_with("arn:aws:ram"))
        .unwrap();
    let own = aws.share(own).await;
    assert_eq!(own.1, BTreeSet::from(["111122223333".to_string()]));
    assert!(!own.0.is_empty());
}

/// Finding 5: a group nobody of sgsync made, named like a managed one, carrying `sgsync:prefix` and a
/// synctoken 23 h ahead, made every run `skipped`, exit 0; re-tagged daily it kept the VPC frozen,
/// and the scheduled run succeeded. Now only recorded resources' tokens count (the forgery is
/// reported, nothing more), and a scheduled run that finds the live document older than what this
/// deployment applied fails: exit 1, an error in the summary, `RunFailed`.
#[tokio::test(flavor = "multi_thread")]
async fn a_forged_synctoken_froze_the_vpc_silently() {
    let aws = Aws::start().await;
    let sgsync = aws.sgsync();
    aws.apply_doc(&sgsync, &latest()).0.ok();
    let ahead = (LATEST_SYNCTOKEN + 23 * 3600).to_string();
    let forged = aws
        .create_tagged_group(
            "AUTOUPDATE-cloudfront-9",
            &[
                ("sgsync:prefix", "AUTOUPDATE"),
                ("sgsync:deployment", "default"),
                ("sgsync:synctoken", &ahead),
            ],
        )
        .await;
    aws.open_to_the_world(&forged).await;
    // A newer document is applied, not skipped.
    let newer = edited_document(&latest(), LATEST_SYNCTOKEN + 60, &[], &["3.172.100.0/24"]);
    let (out, _) = aws.apply_doc(&sgsync, &newer);
    let summary = out.ok().json();
    assert_eq!(summary["status"], "applied", "{summary}");
    assert!(summary["unrecorded"].to_string().contains(&forged));

    // A recorded group whose token someone moved ahead, and the schedule's live document: the run
    // skips and fails, so the alarm fires.
    let recorded = aws.managed_groups("AUTOUPDATE").await[0].id.clone();
    aws.ec2
        .create_tags()
        .resources(&recorded)
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key("sgsync:synctoken")
                .value(&ahead)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let files = FileServer::start();
    files.put("/ip-ranges.json", newer.clone());
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
    let summary = out.json();
    assert_eq!(summary["status"], "skipped");
    assert!(
        summary["errors"][0]
            .as_str()
            .unwrap()
            .contains("live document"),
        "{summary}"
    );
}

/// Finding 7: one tagged interface without a free group slot (still carrying the blog function's
/// groups, say) made every run refuse: new ranges never arrived and withdrawn ranges stayed allowed on
/// every other target. Now it is skipped with an error naming it (exit 1, `errors` and
/// `skipped_targets` in the summary, status `applied`), never loses a published range it allowed, and
/// every other target is synced. A target whose write fails (someone filled its slots meanwhile) is
/// skipped the same way.
#[tokio::test(flavor = "multi_thread")]
async fn one_crowded_target_stopped_the_whole_vpc() {
    let aws = Aws::start().await;
    aws.proxy.set_faults(
        Faults {
            groups_per_target: Some(5),
            ..Faults::default()
        },
        1,
    );
    let sgsync = aws.sgsync();
    let mut own = Vec::new();
    for i in 0..4 {
        own.push(aws.create_foreign_group(&format!("blog-{i}")).await);
    }
    let crowded = aws.create_interface(&own).await;
    let base = aws.create_foreign_group("base").await;
    let roomy = aws.create_interface(std::slice::from_ref(&base)).await;
    let busy = aws.create_interface(std::slice::from_ref(&base)).await;
    for eni in [&crowded, &roomy, &busy] {
        aws.tag_target(eni, "AUTOUPDATE").await;
    }
    let (out, _) = aws.apply_doc(&sgsync, &latest());
    assert_eq!(out.code, 1, "{out:?}");
    let summary = out.json();
    assert_eq!(summary["status"], "applied");
    assert_eq!(
        summary["skipped_targets"][0]["id"],
        crowded.as_str(),
        "{summary}"
    );
    let errors = summary["errors"].to_string();
    assert!(
        errors.contains(&crowded) && errors.contains("free group slots on it"),
        "{errors}"
    );
    assert_eq!(
        aws.interface_groups(&crowded).await,
        own,
        "the crowded target was changed"
    );
    // What the managed groups on a target allow (the foreign ones have rules of their own).
    let managed_allow = |eni: String| {
        let aws = &aws;
        async move {
            let managed: BTreeSet<String> = (aws.managed_groups("AUTOUPDATE").await)
                .into_iter()
                .map(|g| g.id)
                .collect();
            let on: Vec<String> = (aws.groups_on(&eni).await)
                .into_iter()
                .filter(|g| managed.contains(g))
                .collect();
            aws.allowed(&on).await
        }
    };
    let published = expected_rules(&latest(), "80", false);
    for eni in [&roomy, &busy] {
        assert_eq!(managed_allow(eni.clone()).await, published);
    }

    // A new range needs a fourth group; meanwhile (right as the run creates it, after the run read
    // the targets) someone fills `busy`'s slots.
    let before = managed_allow(busy.clone()).await;
    let filler = aws.create_foreign_group("filler").await;
    let mut full = vec![base.clone(), filler];
    full.extend(
        aws.managed_groups("AUTOUPDATE")
            .await
            .into_iter()
            .map(|g| g.id),
    );
    let query = std::iter::once(format!(
        "Action=ModifyNetworkInterfaceAttribute&NetworkInterfaceId={busy}"
    ))
    .chain(
        full.iter()
            .enumerate()
            .map(|(i, g)| format!("SecurityGroupId.{}={g}", i + 1)),
    )
    .collect::<Vec<_>>()
    .join("&");
    aws.proxy.set_faults(
        Faults {
            groups_per_target: Some(5),
            before_first: Some(("CreateSecurityGroup", query)),
            ..Faults::default()
        },
        1,
    );
    let grown = edited_document(
        &latest(),
        LATEST_SYNCTOKEN + 60,
        &["13.32.0.0/15"],
        &["15.230.11.0/24", "44.192.9.0/24", "3.172.100.0/24"],
    );
    let (out, _) = aws.apply_doc(&sgsync, &grown);
    assert_eq!(out.code, 1, "{out:?}");
    let summary = out.json();
    let skipped = summary["skipped_targets"].to_string();
    assert!(
        skipped.contains(&busy) && skipped.contains(&crowded),
        "{summary}"
    );
    let now_published = expected_rules(&grown, "80", false);
    assert_eq!(
        managed_allow(roomy.clone()).await,
        now_published,
        "the roomy target was not synced"
    );
    let kept = managed_allow(busy.clone()).await;
    let lost: Vec<&String> = before
        .iter()
        .filter(|r| now_published.contains(*r) && !kept.contains(*r))
        .collect();
    assert!(
        lost.is_empty(),
        "the skipped target lost published ranges: {lost:?}"
    );
}

/// Finding 6: changing SERVICE from CLOUDFRONT to CLOUDFRONT_ORIGIN_FACING in one deployment left the
/// CLOUDFRONT groups attached (214 CIDRs, some no longer published) and never synced again, with no
/// warning; `status` called them foreign; the removal guard did not fire. Now they are the
/// deployment's groups of an earlier selection: the guard counts their rules as removed (so the change
/// needs `--force`), the plan shows them emptied and deleted, and they are retired make-before-break.
#[tokio::test(flavor = "multi_thread")]
async fn changing_service_orphaned_the_old_groups() {
    let aws = Aws::start().await;
    let eni = aws.create_interface(&[]).await;
    aws.tag_target(&eni, "AUTOUPDATE").await;
    let sgsync = aws.sgsync();
    aws.apply_doc(&sgsync, &latest()).0.ok();
    let old: BTreeSet<String> = (aws.managed_groups("AUTOUPDATE").await)
        .into_iter()
        .map(|g| g.id)
        .collect();

    let origin_facing = sgsync.clone().env("SERVICE", "CLOUDFRONT_ORIGIN_FACING");
    let (out, calls) = aws.apply_doc(&origin_facing, &latest());
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("--force"), "{}", out.stderr);
    assert!(writes(&calls).is_empty());

    let dir = tempfile::tempdir().unwrap();
    let file = doc_file(&dir, "ip-ranges.json", latest());
    let out = origin_facing
        .run(&["apply", "--ip-ranges", &file, "--force", "--output", "json"])
        .ok();
    let summary = out.json();
    assert_eq!(summary["changes"]["groups_deleted"], old.len(), "{summary}");
    let on = aws.groups_on(&eni).await;
    assert!(
        on.is_disjoint(&old),
        "an old group is still attached: {on:?}"
    );
    let all = aws.all_groups().await;
    assert!(
        old.iter().all(|g| !all.contains_key(g)),
        "an old group was left"
    );
    let names: BTreeSet<&str> = on
        .iter()
        .filter_map(|id| all.get(id).map(|(n, _)| n.as_str()))
        .filter(|n| *n != "default")
        .collect();
    assert!(
        names
            .iter()
            .all(|n| n.starts_with("AUTOUPDATE-cloudfront_origin_facing-")),
        "{names:?}"
    );
    let recorded = aws.record("default", "security-groups").await;
    assert!(recorded.is_disjoint(&old));
    assert_eq!(recorded.len(), names.len());
    // The ordering: every new group reached the target before any old one left it.
    let w = writes(&aws.proxy.calls());
    let attach = w
        .iter()
        .position(|a| a == "ModifyNetworkInterfaceAttribute");
    let delete = w.iter().position(|a| a == "DeleteSecurityGroup");
    assert!(attach < delete, "{w:?}");
}

/// Round 2b, finding 1: make-before-break compared CIDR strings. When Amazon withdrew one /24 inside
/// a published block, the aggregation split it (`23.228.248.0/22` → `23.228.248.0/24` +
/// `23.228.250.0/23`, both still published), the old aggregate counted as unpublished and was
/// revoked early, before its remainder was authorized: addresses published in both documents were
/// denied in between (and for good if the run stopped there); the lists lost them to a new list no
/// consumer referenced. Now a removal some of whose addresses are still published goes late, after
/// its remainder is in place, in groups and lists alike.
#[tokio::test(flavor = "multi_thread")]
async fn an_aggregate_that_split_lost_still_published_addresses() {
    let aws = Aws::start().await;
    let eni = aws.create_interface(&[]).await;
    aws.tag_target(&eni, "AUTOUPDATE").await;
    let sgsync = aws.sgsync().env("KINDS", "security-groups,prefix-lists");
    aws.apply_doc(&sgsync, &latest()).0.ok();
    let split = edited_document(&latest(), LATEST_SYNCTOKEN + 60, &["23.228.249.0/24"], &[]);
    let (out, calls) = aws.apply_doc(&sgsync, &split);
    out.ok();
    let position = |action: &str, key: &str, cidr: &str| {
        calls.iter().position(|c| {
            c.action == action
                && c.succeeded()
                && c.params.iter().any(|(k, v)| k.contains(key) && v == cidr)
        })
    };
    // Groups: the remainder is authorized before the old aggregate goes.
    let added = position("AuthorizeSecurityGroupIngress", "CidrIp", "23.228.250.0/23")
        .expect("the remainder is authorized");
    let removed = position("RevokeSecurityGroupIngress", "CidrIp", "23.228.248.0/22")
        .expect("the aggregate is revoked");
    assert!(added < removed, "{:?}", writes(&calls));
    // Lists: the same, in a list the consumers already reference (no new list).
    let added = position("ModifyManagedPrefixList", "AddEntry", "23.228.250.0/23")
        .expect("the remainder is added");
    let removed = position("ModifyManagedPrefixList", "RemoveEntry", "23.228.248.0/22")
        .expect("the aggregate is removed");
    assert!(added < removed, "{:?}", writes(&calls));
    assert!(!writes(&calls).contains(&"CreateManagedPrefixList".to_string()));
    let groups: Vec<String> = aws.groups_on(&eni).await.into_iter().collect();
    let allowed = aws.allowed(&groups).await;
    assert!(
        allowed.contains("23.228.250.0/23 tcp/80") && allowed.contains("23.228.248.0/24 tcp/80")
    );
    assert!(!allowed.contains("23.228.248.0/22 tcp/80"));
}

/// Round 2b, finding 2: apply ran lists → share → groups → WAF sets and stopped at the first error,
/// so a share to a deleted OU (or a RAM outage) left security groups and WAF sets unsynced. Now each
/// kind, and the share, fails alone: the others are synced, the failure is an error of the run.
#[tokio::test(flavor = "multi_thread")]
async fn a_ram_failure_froze_the_other_kinds() {
    let aws = Aws::start().await;
    let eni = aws.create_interface(&[]).await;
    aws.tag_target(&eni, "AUTOUPDATE").await;
    aws.proxy.set_faults(
        Faults {
            deny_service: Some("ram"),
            ..Faults::default()
        },
        1,
    );
    let sgsync = aws
        .sgsync()
        .env("KINDS", "security-groups,prefix-lists,waf-ip-sets")
        .env("SHARE_WITH", "111122223333");
    let (out, _) = aws.apply_doc(&sgsync, &small_document(1_700_000_000, 0..30));
    assert_eq!(out.code, 1, "{out:?}");
    let summary = out.json();
    assert_eq!(summary["status"], "applied");
    assert!(
        summary["errors"].to_string().contains("RAM share"),
        "{summary}"
    );
    let want = cidrs(0..30);
    let held: BTreeSet<String> = (aws.prefix_lists("AUTOUPDATE").await.into_iter())
        .flat_map(|l| l.entries)
        .collect();
    assert_eq!(held, want, "the lists were not synced");
    assert_eq!(
        aws.ip_sets().await[0].addresses,
        want,
        "the WAF set was not synced"
    );
    let on: Vec<String> = aws.groups_on(&eni).await.into_iter().collect();
    assert_eq!(
        aws.allowed(&on).await.len(),
        30,
        "the groups were not synced"
    );
}

/// Round 2b, finding 3: a refusal of one kind (here a list that would grow past what a group
/// referencing it can take) stopped every kind in planning, run after run. Now that kind alone is
/// refused, before any write of it, and the others are synced.
#[tokio::test(flavor = "multi_thread")]
async fn a_resize_that_did_not_fit_blocked_everything() {
    let aws = Aws::start().await;
    let sgsync = aws
        .sgsync()
        .env("KINDS", "prefix-lists,waf-ip-sets")
        .env("PREFIX_LIST_MAX_ENTRIES", "40");
    aws.apply_doc(&sgsync, &small_document(1_700_000_000, 0..30))
        .0
        .ok();
    let list = aws.prefix_lists("AUTOUPDATE").await.remove(0);
    // Someone's group references the list (weight 33) beside 25 rules of its own: 58 of 60.
    aws.create_referencing_group("team-api", &list.id, 25).await;
    let (out, calls) = aws.apply_doc(&sgsync, &small_document(1_700_000_100, 0..39));
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("team-api"), "{}", out.stderr);
    assert!(
        !writes(&calls).contains(&"ModifyManagedPrefixList".to_string()),
        "{:?}",
        writes(&calls)
    );
    assert_eq!(
        aws.ip_sets().await[0].addresses,
        cidrs(0..39),
        "the WAF set was not synced"
    );
}

/// Round 2b, findings 4 and 5: with both families selected, a document without `ipv6_prefixes`
/// emptied the IPv6 WAF set, lists and rules (31 of 212 was under the removal bound); narrowing
/// IP_VERSIONS left the other family's set stale forever. Now a selected family the document leaves
/// empty is refused (unless forced), and a family no longer selected is retired.
#[tokio::test(flavor = "multi_thread")]
async fn an_empty_family_was_not_guarded_and_an_unselected_one_went_stale() {
    let aws = Aws::start().await;
    let dual = aws
        .sgsync()
        .env("KINDS", "waf-ip-sets")
        .env("IP_VERSIONS", "ipv4,ipv6");
    aws.apply_doc(&dual, &latest()).0.ok();
    let v6 = |sets: &[IpSet]| {
        sets.iter()
            .find(|s| s.version == "IPV6")
            .map(|s| s.addresses.len())
    };
    let before = v6(&aws.ip_sets().await).unwrap();
    assert!(before > 0);
    let mut doc: serde_json::Value = serde_json::from_slice(&latest()).unwrap();
    doc["syncToken"] = serde_json::Value::String((LATEST_SYNCTOKEN + 60).to_string());
    doc["ipv6_prefixes"] = serde_json::json!([]);
    let no_v6 = serde_json::to_vec(&doc).unwrap();
    let (out, calls) = aws.apply_doc(&dual, &no_v6);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("no IPv6 ranges"), "{}", out.stderr);
    assert!(writes(&calls).is_empty(), "{:?}", writes(&calls));
    assert_eq!(v6(&aws.ip_sets().await), Some(before));

    // IP_VERSIONS narrowed to IPv4: the IPv6 set is retired, not left to go stale.
    let v4_only = aws.sgsync().env("KINDS", "waf-ip-sets");
    let (out, _) = aws.apply_doc(&v4_only, &no_v6);
    out.ok();
    assert_eq!(v6(&aws.ip_sets().await), None);
    assert_eq!(aws.record("default", "waf-ip-sets").await.len(), 1);
}

/// The lease that makes concurrent runs apply one at a time is a parameter: a principal who can
/// write it (without the SCP of docs/deploy.md) could claim it for years and stop every run. A
/// lease never runs longer than a lease can: such a claim is taken over, with a warning.
#[tokio::test(flavor = "multi_thread")]
async fn a_lease_written_by_hand_froze_the_deployment() {
    let aws = Aws::start().await;
    let eni = aws.create_interface(&[]).await;
    aws.tag_target(&eni, "AUTOUPDATE").await;
    let sgsync = aws.sgsync();
    aws.write_lease("default", "attacker", 10 * 365 * 24 * 3600)
        .await;
    let out = aws.apply_doc(&sgsync, &latest()).0.ok();
    assert!(
        out.stderr.contains("claims to run longer than a lease can"),
        "{out:?}"
    );
    aws.assert_holds_exactly(&expected_rules(&latest(), "80", false), "after the claim")
        .await;
}

/// Red team round 4, F1: without the SCP, the principal wrote a team's group (`app-db`, on an
/// interface that never opted in) into the deployment's record and gave it the deployment's tags.
/// With `ATTACH=carriers` that interface got every managed group and `app-db` was emptied and
/// deleted. A name cannot be changed once given: a recorded group sgsync did not name is left alone.
#[tokio::test(flavor = "multi_thread")]
async fn a_forged_record_took_a_teams_group_and_its_interface() {
    let aws = Aws::start().await;
    let eni = aws.create_interface(&[]).await;
    aws.tag_target(&eni, "AUTOUPDATE").await;
    let sgsync = aws.sgsync().env("ATTACH", "carriers");
    aws.apply_doc(&sgsync, &latest()).0.ok();
    let app_db = aws
        .create_tagged_group(
            "app-db",
            &[
                ("sgsync:prefix", "AUTOUPDATE"),
                ("sgsync:deployment", "default"),
            ],
        )
        .await;
    aws.authorize_raw(
        &app_db,
        aws_sdk_ec2::types::IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(5432)
            .to_port(5432)
            .ip_ranges(
                aws_sdk_ec2::types::IpRange::builder()
                    .cidr_ip("10.0.0.0/16")
                    .build(),
            )
            .build(),
    )
    .await;
    let db = aws.create_interface(std::slice::from_ref(&app_db)).await;
    let mut record: Vec<String> = aws
        .record("default", "security-groups")
        .await
        .into_iter()
        .collect();
    record.push(app_db.clone());
    aws.ssm
        .put_parameter()
        .name("/sgsync/default/security-groups")
        .value(record.join(","))
        .r#type(aws_sdk_ssm::types::ParameterType::StringList)
        .overwrite(true)
        .send()
        .await
        .unwrap();

    let out = aws.apply_doc(&sgsync, &latest()).0;
    assert!(
        out.stderr
            .contains("is in this deployment's record but is not named as sgsync names"),
        "{out:?}"
    );
    assert_eq!(aws.groups_on(&db).await, BTreeSet::from([app_db.clone()]));
    let rules = aws.inbound_entries(&app_db).await;
    assert_eq!(rules.len(), 1, "the team's rule was revoked: {rules:?}");
}
