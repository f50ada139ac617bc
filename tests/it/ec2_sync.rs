//! sgsync against a real EC2/ELBv2 API (moto), as a user runs it: the binary, real HTTP downloads,
//! an interface with a foreign group and an application load balancer. Every run's calls are recorded
//! by the proxy and checked for make-before-break.

use std::collections::BTreeSet;

use crate::support::*;

/// Applies a document through the proxy and checks the run's calls for make before break.
fn apply_file(
    aws: &Aws,
    sgsync: &Sgsync,
    doc: &[u8],
    ports: &str,
) -> (Output, Vec<proxy::ProxyCall>) {
    let (out, calls) = aws.apply_doc(sgsync, doc);
    if out.code == 0 {
        assert_make_before_break(&calls, &expected_rules(doc, ports, false));
    }
    (out, calls)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_sns_event_syncs_the_full_real_set_and_a_second_run_writes_nothing() {
    let aws = Aws::start().await;
    let files = FileServer::start();
    files.put("/ip-ranges.json", latest());
    let url = files.url("/ip-ranges.json");
    let sgsync = aws.sgsync().env("IP_RANGES_URL", &url);
    let event_dir = tempfile::tempdir().unwrap();
    let event = event_dir.path().join("event.json");
    std::fs::write(&event, sns_event(&url, LATEST_MD5, LATEST_SYNCTOKEN)).unwrap();

    // plan changes nothing.
    let planned = sgsync
        .run(&[
            "plan",
            "--event",
            event.to_str().unwrap(),
            "--output",
            "json",
        ])
        .ok();
    assert_eq!(planned.json()["status"], "planned");
    assert_eq!(planned.json()["changes"]["groups_created"], 3);
    assert!(aws.managed_groups("AUTOUPDATE").await.is_empty());

    aws.proxy.clear();
    let first = sgsync
        .run(&[
            "apply",
            "--event",
            event.to_str().unwrap(),
            "--output",
            "json",
        ])
        .ok();
    let summary = first.json();
    assert_eq!(summary["status"], "applied");
    assert_eq!(summary["synctoken"], LATEST_SYNCTOKEN.to_string());
    assert_eq!(summary["service"], "CLOUDFRONT");
    assert_eq!(summary["rules"], 180);
    assert_eq!(summary["groups"].as_array().unwrap().len(), 3);
    assert_eq!(summary["changes"]["groups_created"], 3);
    assert_eq!(summary["changes"]["rules_authorized"], 180);
    let expected = expected_rules(&latest(), "80", false);
    assert_eq!(expected.len(), 180);
    let groups = aws.assert_holds_exactly(&expected, "").await;
    assert!(
        groups
            .iter()
            .all(|g| g.tags["sgsync:synctoken"] == LATEST_SYNCTOKEN.to_string())
    );
    // Tags at creation: no separate CreateTags call; EC2's default outbound rule revoked right after
    // each create, and the group recorded as this deployment's; one authorize per group; at the end,
    // what each group holds, for the event path.
    assert_eq!(
        writes(&aws.proxy.calls()),
        [
            "CreateSecurityGroup",
            "RevokeSecurityGroupEgress",
            "PutParameter",
            "CreateSecurityGroup",
            "RevokeSecurityGroupEgress",
            "PutParameter",
            "CreateSecurityGroup",
            "RevokeSecurityGroupEgress",
            "PutParameter",
            "AuthorizeSecurityGroupIngress",
            "AuthorizeSecurityGroupIngress",
            "AuthorizeSecurityGroupIngress",
            "PutParameter"
        ]
    );
    for g in &groups {
        assert!(
            aws.outbound(&g.id).await.is_empty(),
            "{} allows outbound traffic",
            g.name
        );
    }

    aws.proxy.clear();
    let second = sgsync
        .run(&[
            "apply",
            "--event",
            event.to_str().unwrap(),
            "--output",
            "json",
        ])
        .ok();
    assert_eq!(second.json()["status"], "unchanged");
    let calls = aws.proxy.calls();
    assert!(
        writes(&calls).is_empty(),
        "a no-op run wrote: {:?}",
        writes(&calls)
    );
    // One read each: the record, the default VPC, the recorded groups and the tagged ones (those
    // not recorded are reported), the interfaces, the load balancers (no DescribeTags: the VPC has no
    // load balancer).
    let mut reads = ec2_elb_reads(&calls);
    reads.sort();
    assert_eq!(
        reads,
        [
            "DescribeLoadBalancers",
            "DescribeNetworkInterfaces",
            "DescribeSecurityGroups",
            "DescribeSecurityGroups",
            "DescribeVpcs",
            "GetParameter"
        ],
        "a no-op run's EC2/ELBv2 reads"
    );
    assert_eq!(files.hits("/ip-ranges.json"), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn changes_grow_into_a_new_group_on_every_target_and_shrink_back_leaving_foreign_groups_alone()
 {
    let aws = Aws::start().await;
    let sgsync = aws.sgsync();
    let foreign = aws.create_foreign_group("web-admin").await;
    let lb_foreign = aws.create_foreign_group("lb-base").await;
    let foreign_before = aws.all_groups().await[&foreign].clone();

    // The origin: an interface and an ALB with groups of their own, opted in by tag.
    let eni = aws.create_interface(std::slice::from_ref(&foreign)).await;
    let alb = aws
        .create_alb("origin", std::slice::from_ref(&lb_foreign))
        .await;
    aws.tag_target(&eni, "AUTOUPDATE").await;
    aws.tag_target(&alb, "AUTOUPDATE").await;

    // The first run creates the groups and attaches them to both, after the foreign ones.
    let (out, calls) = apply_file(&aws, &sgsync, &latest(), "80");
    assert_eq!(out.ok().json()["changes"]["targets_updated"], 2);
    let mut w = writes(&calls);
    // The last write records what the groups hold, for the event path.
    assert_eq!(w.pop().as_deref(), Some("PutParameter"));
    assert!(
        w.ends_with(&[
            "ModifyNetworkInterfaceAttribute".to_string(),
            "SetSecurityGroups".to_string()
        ]) || w.ends_with(&[
            "SetSecurityGroups".to_string(),
            "ModifyNetworkInterfaceAttribute".to_string()
        ]),
        "{w:?}"
    );
    let groups = aws.managed_groups("AUTOUPDATE").await;
    let ids: Vec<String> = groups.iter().map(|g| g.id.clone()).collect();
    assert_eq!(
        aws.interface_groups(&eni).await,
        [vec![foreign.clone()], ids.clone()].concat()
    );
    assert_eq!(
        aws.lb_groups(&alb).await,
        [vec![lb_foreign.clone()], ids.clone()].concat()
    );

    // Incremental change: one prefix replaced. 3 groups are full, so the free slot comes from the
    // removed range: one early revoke + one authorize in one group, plus the bookkeeping: the tag,
    // and the record of what the group holds now.
    let replaced = edited_document(
        &latest(),
        LATEST_SYNCTOKEN + 1,
        &["13.32.0.0/15"],
        &["15.230.8.0/24"],
    );
    let (out, calls) = apply_file(&aws, &sgsync, &replaced, "80");
    out.ok();
    aws.assert_holds_exactly(&expected_rules(&replaced, "80", false), "replaced")
        .await;
    let w = writes(&calls);
    assert_eq!(
        w,
        [
            "RevokeSecurityGroupIngress",
            "AuthorizeSecurityGroupIngress",
            "CreateTags",
            "PutParameter"
        ],
        "{w:?}"
    );

    // A new version with the same ranges: at most the bookkeeping write.
    let same = edited_document(&replaced, LATEST_SYNCTOKEN + 2, &[], &[]);
    let (out, calls) = apply_file(&aws, &sgsync, &same, "80");
    out.ok();
    assert_eq!(writes(&calls), ["CreateTags"]);

    // Growth: two more prefixes need a fourth group, attached to the interface and the load balancer.
    let grown = edited_document(
        &replaced,
        LATEST_SYNCTOKEN + 3,
        &[],
        &["15.230.11.0/24", "44.192.9.0/24"],
    );
    let (out, calls) = apply_file(&aws, &sgsync, &grown, "80");
    let summary = out.ok().json();
    assert_eq!(summary["changes"]["groups_created"], 1);
    assert_eq!(summary["changes"]["targets_updated"], 2);
    let groups = aws
        .assert_holds_exactly(&expected_rules(&grown, "80", false), "grown")
        .await;
    assert_eq!(groups.len(), 4);
    let all_ids: Vec<String> = groups.iter().map(|g| g.id.clone()).collect();
    let eni_groups = aws.interface_groups(&eni).await;
    assert_eq!(eni_groups[0], foreign, "the foreign group stays first");
    assert_eq!(
        eni_groups[1..].iter().cloned().collect::<BTreeSet<_>>(),
        all_ids.iter().cloned().collect()
    );
    let lb_groups = aws.lb_groups(&alb).await;
    assert_eq!(lb_groups[0], lb_foreign);
    assert_eq!(
        lb_groups[1..].iter().cloned().collect::<BTreeSet<_>>(),
        all_ids.iter().cloned().collect()
    );
    let w = writes(&calls);
    assert_eq!(
        w.iter().filter(|a| a.as_str() != "CreateTags").count(),
        7,
        "create + its outbound rule revoked + recorded + authorize + 2 target updates + what the \
         groups hold recorded: {w:?}"
    );

    // Shrink: the fourth group is emptied, detached from both targets and deleted.
    let shrunk = edited_document(
        &latest(),
        LATEST_SYNCTOKEN + 4,
        &["13.32.0.0/15"],
        &["15.230.8.0/24"],
    );
    let (out, calls) = apply_file(&aws, &sgsync, &shrunk, "80");
    let summary = out.ok().json();
    assert_eq!(summary["changes"]["groups_deleted"], 1);
    let groups = aws
        .assert_holds_exactly(&expected_rules(&shrunk, "80", false), "shrunk")
        .await;
    assert_eq!(groups.len(), 3);
    let left: BTreeSet<String> = groups.iter().map(|g| g.id.clone()).collect();
    let eni_groups = aws.interface_groups(&eni).await;
    assert_eq!(eni_groups[0], foreign);
    assert_eq!(
        eni_groups[1..].iter().cloned().collect::<BTreeSet<_>>(),
        left
    );
    let lb_groups = aws.lb_groups(&alb).await;
    assert_eq!(
        lb_groups[1..].iter().cloned().collect::<BTreeSet<_>>(),
        left
    );
    let w = writes(&calls);
    let delete_at = w
        .iter()
        .position(|a| a == "DeleteSecurityGroup")
        .expect("a delete");
    assert!(
        w[..delete_at]
            .iter()
            .filter(|a| a.contains("Modify") || a.contains("SetSecurityGroups"))
            .count()
            == 2
    );

    // The foreign group was never touched.
    assert_eq!(aws.all_groups().await[&foreign], foreign_before);
    assert_eq!(aws.interface_groups(&eni).await[0], foreign);
    assert_eq!(aws.lb_groups(&alb).await[0], lb_foreign);
}

/// Dual stack on port 80: 180 IPv4 + 31 IPv6 rules fit in 3 groups as AWS counts them (60 IPv4 and,
/// apart, 60 IPv6 per group; the emulator counts the same way through scripts/moto_server.py, and this
/// test shows it does). `sgsync ranges` says 3, `apply` makes 3.
#[tokio::test(flavor = "multi_thread")]
async fn dual_stack_needs_three_groups_as_aws_counts_them() {
    use aws_sdk_ec2::types::{IpPermission, IpRange, Ipv6Range};

    let aws = Aws::start().await;
    let sgsync = aws.sgsync().env("IP_VERSIONS", "ipv4,ipv6");
    let path = fixture("ip-ranges/latest.json");
    let ranges = sgsync
        .run(&[
            "ranges",
            "--ip-ranges",
            path.to_str().unwrap(),
            "--output",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(ranges["groups_needed"], 3);
    assert_eq!(ranges["rules_by_family"]["ipv4"], 180);
    assert_eq!(ranges["rules_by_family"]["ipv6"], 31);

    let (out, calls) = aws.apply_doc(&sgsync, &latest());
    let out = out.ok();
    assert_eq!(out.json()["changes"]["groups_created"], 3);
    let expected = expected_rules(&latest(), "80", true);
    assert_make_before_break(&calls, &expected);
    let groups = aws.assert_holds_exactly(&expected, "dual stack").await;
    assert_eq!(groups.len(), 3);
    assert_eq!(per_family(&groups[0].rules), (60, 31));

    // The emulator enforces the quota per family: the first group has room for IPv6, none for IPv4.
    let permission = |v6: bool| {
        let p = IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(8443)
            .to_port(8443);
        if v6 {
            p.ipv6_ranges(Ipv6Range::builder().cidr_ipv6("2001:db8::/32").build())
        } else {
            p.ip_ranges(IpRange::builder().cidr_ip("192.0.2.0/24").build())
        }
        .build()
    };
    let authorize = |v6: bool| {
        aws.ec2
            .authorize_security_group_ingress()
            .group_id(&groups[0].id)
            .ip_permissions(permission(v6))
            .send()
    };
    let full = authorize(false).await.unwrap_err();
    assert_eq!(
        aws_sdk_ec2::error::ProvideErrorMetadata::code(&full),
        Some("RulesPerSecurityGroupLimitExceeded")
    );
    authorize(true).await.expect("IPv6 has room of its own");
}

#[tokio::test(flavor = "multi_thread")]
async fn entries_added_by_hand_to_a_managed_group_are_revoked_and_foreign_groups_untouched() {
    use aws_sdk_ec2::types::{IpPermission, IpRange, Ipv6Range, UserIdGroupPair};
    let aws = Aws::start().await;
    // 56 rules per group leaves the last group room for what is added by hand.
    let sgsync = aws.sgsync().env("RULES_PER_GROUP", "56");
    let expected = expected_rules(&latest(), "80", false);
    let (first, _) = apply_file(&aws, &sgsync, &latest(), "80");
    assert_eq!(first.json()["status"], "applied");
    let admin = aws.create_foreign_group("admin").await;
    let admin_before = aws.allowed(std::slice::from_ref(&admin)).await;
    let groups = aws.managed_groups("AUTOUPDATE").await;
    let target = groups.iter().min_by_key(|g| g.rules.len()).unwrap().clone();

    // Someone opens the managed group by hand: all traffic from anywhere (IPv4 and IPv6), DNS over
    // UDP, SSH from another group. Each would let more than CloudFront in.
    let permissions = [
        IpPermission::builder()
            .ip_protocol("-1")
            .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
            .ipv6_ranges(Ipv6Range::builder().cidr_ipv6("::/0").build())
            .build(),
        IpPermission::builder()
            .ip_protocol("udp")
            .from_port(53)
            .to_port(53)
            .ip_ranges(IpRange::builder().cidr_ip("10.0.0.0/8").build())
            .build(),
        IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(22)
            .to_port(22)
            .user_id_group_pairs(UserIdGroupPair::builder().group_id(&admin).build())
            .build(),
    ];
    aws.ec2
        .authorize_security_group_ingress()
        .group_id(&target.id)
        .set_ip_permissions(Some(permissions.to_vec()))
        .send()
        .await
        .unwrap();

    let planned = sgsync
        .run(&[
            "plan",
            "--ip-ranges",
            fixture("ip-ranges/latest.json").to_str().unwrap(),
        ])
        .ok();
    assert!(
        planned.stdout.contains("4 entries not managed by sgsync"),
        "{}",
        planned.stdout
    );

    let (fixed, calls) = apply_file(&aws, &sgsync, &latest(), "80");
    let summary = fixed.json();
    assert_eq!(summary["status"], "applied", "{summary}");
    assert_eq!(summary["changes"]["rules_revoked"], 4, "{summary}");
    assert_eq!(writes(&calls), ["RevokeSecurityGroupIngress"]);
    aws.assert_holds_exactly(&expected, "").await;
    let raw = aws
        .ec2
        .describe_security_groups()
        .group_ids(&target.id)
        .send()
        .await
        .unwrap();
    for p in raw.security_groups()[0].ip_permissions() {
        assert_eq!(p.ip_protocol(), Some("tcp"), "{p:?}");
        assert!(p.user_id_group_pairs().is_empty(), "{p:?}");
        assert_eq!((p.from_port(), p.to_port()), (Some(80), Some(80)), "{p:?}");
    }
    assert_eq!(
        aws.allowed(std::slice::from_ref(&admin)).await,
        admin_before,
        "the foreign group changed"
    );

    let (again, calls) = apply_file(&aws, &sgsync, &latest(), "80");
    assert_eq!(again.json()["status"], "unchanged");
    assert!(writes(&calls).is_empty(), "{:?}", writes(&calls));
}

#[tokio::test(flavor = "multi_thread")]
async fn quotas_come_from_service_quotas_unless_set_and_fall_back_when_denied() {
    let aws = Aws::start().await;
    let doc = fixture("ip-ranges/latest.json");
    let plan = |sgsync: &Sgsync| {
        aws.proxy.clear();
        let out = sgsync
            .run(&[
                "plan",
                "--ip-ranges",
                doc.to_str().unwrap(),
                "--output",
                "json",
            ])
            .ok();
        let quota_calls = aws
            .proxy
            .calls()
            .iter()
            .filter(|c| c.action == "GetServiceQuota")
            .count();
        (out.json(), quota_calls)
    };
    let fallback_warning = |summary: &serde_json::Value| {
        summary["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("could not read the"))
    };

    // Read from Service Quotas (moto answers AWS's defaults): two calls, no warning.
    let (summary, calls) = plan(&aws.sgsync());
    assert_eq!(calls, 2);
    assert_eq!(summary["quotas"]["rules_per_group"], 60);
    assert_eq!(summary["quotas"]["groups_per_target"], 5);
    assert!(!fallback_warning(&summary), "{summary}");

    // Overrides win, and Service Quotas is not asked.
    let (summary, calls) = plan(
        &aws.sgsync()
            .env("RULES_PER_GROUP", "50")
            .env("GROUPS_PER_TARGET", "4"),
    );
    assert_eq!(calls, 0);
    assert_eq!(summary["quotas"]["rules_per_group"], 50);
    assert_eq!(summary["quotas"]["groups_per_target"], 4);
    assert_eq!(
        summary["changes"]["groups_created"], 4,
        "180 rules at 50 per group"
    );

    // Not permitted: AWS's defaults, with a warning that says so; the run goes on.
    aws.proxy.set_faults(
        proxy::Faults {
            deny_service: Some("servicequotas"),
            ..proxy::Faults::default()
        },
        1,
    );
    let (summary, _) = plan(&aws.sgsync());
    assert_eq!(summary["status"], "planned");
    assert_eq!(summary["quotas"]["rules_per_group"], 60);
    assert_eq!(summary["quotas"]["groups_per_target"], 5);
    assert!(fallback_warning(&summary), "{summary}");
}
