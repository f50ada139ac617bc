//! A new target protected within seconds: the EventBridge launch and tag events (the AWS samples in
//! `tests/fixtures/events/`, given the ids of real moto resources), processed by `sgsync apply --event`
//! exactly as the function processes them. No document is downloaded (the document server is down);
//! a few reads and one write per target; every safety rule of a full run holds.

use std::collections::BTreeSet;

use crate::support::*;
use serde_json::Value;

/// The first managed groups, made by a full run; returns their ids.
async fn synced(aws: &Aws) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ip-ranges.json");
    std::fs::write(&path, latest()).unwrap();
    aws.sgsync()
        .run(&["apply", "--ip-ranges", path.to_str().unwrap()])
        .ok();
    aws.managed_groups("AUTOUPDATE")
        .await
        .into_iter()
        .map(|g| g.id)
        .collect()
}

/// An event fixture with its ids replaced by real ones, written to a file.
fn event_file(
    dir: &tempfile::TempDir,
    fixture_name: &str,
    edit: impl FnOnce(&mut Value),
) -> String {
    let mut event: Value =
        serde_json::from_slice(&std::fs::read(fixture(&format!("events/{fixture_name}"))).unwrap())
            .unwrap();
    edit(&mut event);
    let path = dir.path().join(fixture_name);
    std::fs::write(&path, event.to_string()).unwrap();
    path.to_str().unwrap().to_string()
}

fn instance_event(dir: &tempfile::TempDir, fixture_name: &str, instance: &str) -> String {
    event_file(dir, fixture_name, |e| {
        e["detail"]["instance-id"] = Value::String(instance.into());
        e["resources"][0] = Value::String(format!(
            "arn:aws:ec2:us-east-1:123456789012:instance/{instance}"
        ));
    })
}

fn tag_event(dir: &tempfile::TempDir, arn: &str, value: Option<&str>) -> String {
    let fixture_name = if value.is_some() {
        "tag-change-load-balancer.json"
    } else {
        "tag-change-removed.json"
    };
    event_file(dir, fixture_name, |e| {
        e["resources"][0] = Value::String(arn.into());
        // Delivered in the deployment's Region, where the resource is (the sample is from us-west-2).
        e["region"] = Value::String("us-east-1".into());
        if let Some(v) = value {
            e["detail"]["tags"]["sgsync:target"] = Value::String(v.into());
        }
    })
}

/// sgsync with its document server pointing at nothing: an event run must not need it.
fn offline(aws: &Aws) -> Sgsync {
    aws.sgsync()
        .env("IP_RANGES_URL", "http://127.0.0.1:9/ip-ranges.json")
}

/// `sgsync apply --event FILE --output json`, which must succeed; its summary.
fn apply_event(aws: &Aws, file: &str) -> Value {
    offline(aws)
        .run(&["apply", "--event", file, "--output", "json"])
        .ok()
        .json()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_launched_instance_whose_interface_opts_in_gets_every_managed_group_without_a_document() {
    let aws = Aws::start().await;
    let managed = synced(&aws).await;
    let foreign = aws.create_foreign_group("web-admin").await;
    let (instance, eni) = aws.launch_instance(std::slice::from_ref(&foreign)).await;
    // moto does not copy launch-time interface tags (AWS does, from the launch template's
    // TagSpecifications for network-interface): tag it after launch, as AWS would have.
    aws.tag_target(&eni, "AUTOUPDATE").await;
    let own = aws.interface_groups(&eni).await;
    assert!(own.contains(&foreign));
    let dir = tempfile::tempdir().unwrap();

    aws.proxy.clear();
    let summary = apply_event(
        &aws,
        &instance_event(&dir, "ec2-instance-running.json", &instance),
    );
    assert_eq!(summary["status"], "applied", "{summary}");
    assert_eq!(summary["changes"]["targets_updated"], 1);
    // Every managed group beside its own; its own first in the request (moto reports an instance's
    // interface groups as a set, so the order is read off the request).
    let groups: BTreeSet<String> = aws.interface_groups(&eni).await.into_iter().collect();
    let expected: BTreeSet<String> = own.iter().cloned().chain(managed.iter().cloned()).collect();
    assert_eq!(groups, expected);
    let calls = aws.proxy.calls();
    let sent = calls
        .iter()
        .find(|c| c.action == "ModifyNetworkInterfaceAttribute")
        .unwrap()
        .values_ending("")
        .into_iter()
        .filter(|v| v.starts_with("sg-"))
        .collect::<Vec<_>>();
    assert_eq!(
        sent[..own.len()].iter().collect::<BTreeSet<_>>(),
        own.iter().collect::<BTreeSet<_>>()
    );
    // A handful of reads (the two records, the recorded groups among them), one write; nothing
    // downloaded (the server is down).
    assert_eq!(writes(&calls), ["ModifyNetworkInterfaceAttribute"]);
    let reads = calls.iter().filter(|c| !c.is_write()).count();
    assert!(
        reads <= 9,
        "{:?}",
        calls.iter().map(|c| &c.action).collect::<Vec<_>>()
    );
    assert!(calls.iter().all(|c| c.action != "DescribeLoadBalancers"));

    // The same event again (EventBridge delivers at least once): nothing to do.
    aws.proxy.clear();
    let again = apply_event(
        &aws,
        &instance_event(&dir, "ec2-instance-running.json", &instance),
    );
    assert_eq!(again["status"], "unchanged");
    assert!(writes(&aws.proxy.calls()).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn untagged_instances_and_other_states_change_nothing() {
    let aws = Aws::start().await;
    synced(&aws).await;
    let foreign = aws.create_foreign_group("web-admin").await;
    let (untagged, eni) = aws.launch_instance(std::slice::from_ref(&foreign)).await;
    let (tagged, tagged_eni) = aws.launch_instance(std::slice::from_ref(&foreign)).await;
    aws.tag_target(&tagged_eni, "AUTOUPDATE").await;
    let dir = tempfile::tempdir().unwrap();

    aws.proxy.clear();
    let out = apply_event(
        &aws,
        &instance_event(&dir, "ec2-instance-running.json", &untagged),
    );
    assert_eq!(out["status"], "unchanged");
    assert!(
        out["warnings"][0]
            .as_str()
            .unwrap()
            .contains("carries sgsync:target=AUTOUPDATE"),
        "{out}"
    );
    assert_eq!(
        aws.interface_groups(&eni).await,
        std::slice::from_ref(&foreign)
    );

    let stopped = apply_event(
        &aws,
        &instance_event(&dir, "ec2-instance-stopped.json", &tagged),
    );
    assert_eq!(stopped["status"], "unchanged");
    assert!(stopped.to_string().contains("is stopped"), "{stopped}");
    assert_eq!(
        aws.interface_groups(&tagged_eni).await,
        std::slice::from_ref(&foreign)
    );
    assert!(writes(&aws.proxy.calls()).is_empty());

    // A plan of the event says what it would do, and does nothing.
    let planned = offline(&aws)
        .run(&[
            "plan",
            "--event",
            &instance_event(&dir, "ec2-instance-running.json", &tagged),
        ])
        .ok();
    assert!(
        planned
            .stdout
            .contains(&format!("~ interface {tagged_eni}")),
        "{}",
        planned.stdout
    );
    assert_eq!(aws.interface_groups(&tagged_eni).await, [foreign]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_load_balancer_tagged_after_creation_is_attached_by_the_tag_event() {
    let aws = Aws::start().await;
    let managed = synced(&aws).await;
    let foreign = aws.create_foreign_group("alb-admin").await;
    let alb = aws
        .create_alb("origin", std::slice::from_ref(&foreign))
        .await;
    let dir = tempfile::tempdir().unwrap();

    // Tagged for another deployment: not ours.
    aws.proxy.clear();
    let other = apply_event(&aws, &tag_event(&dir, &alb, Some("OTHER")));
    assert_eq!(other["status"], "unchanged");
    assert!(writes(&aws.proxy.calls()).is_empty());

    aws.tag_target(&alb, "AUTOUPDATE").await;
    aws.proxy.clear();
    let out = apply_event(&aws, &tag_event(&dir, &alb, Some("AUTOUPDATE")));
    assert_eq!(out["status"], "applied", "{out}");
    let groups = aws.lb_groups(&alb).await;
    assert_eq!(groups[0], foreign);
    assert_eq!(
        groups[1..].iter().cloned().collect::<BTreeSet<_>>(),
        managed.iter().cloned().collect()
    );
    assert_eq!(writes(&aws.proxy.calls()), ["SetSecurityGroups"]);

    // The tag removed: no longer a target; sgsync leaves it as it is.
    aws.proxy.clear();
    let removed = apply_event(&aws, &tag_event(&dir, &alb, None));
    assert_eq!(removed["status"], "unchanged");
    assert!(
        removed.to_string().contains("no longer a target"),
        "{removed}"
    );
    assert!(writes(&aws.proxy.calls()).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_target_without_room_for_the_groups_is_refused_with_its_name_and_the_numbers() {
    let aws = Aws::start().await;
    synced(&aws).await;
    let mut foreign = Vec::new();
    for i in 0..3 {
        foreign.push(aws.create_foreign_group(&format!("team-{i}")).await);
    }
    let (instance, eni) = aws.launch_instance(&foreign).await;
    aws.tag_target(&eni, "AUTOUPDATE").await;
    let before = aws.interface_groups(&eni).await;
    let dir = tempfile::tempdir().unwrap();
    aws.proxy.clear();
    let out = offline(&aws).run(&[
        "apply",
        "--event",
        &instance_event(&dir, "ec2-instance-running.json", &instance),
    ]);
    assert_eq!(out.code, 1, "{out:?}");
    // 3 foreign + 3 managed groups > 5 per interface.
    assert!(out.stderr.contains(&eni), "{}", out.stderr);
    assert!(out.stderr.contains("3 foreign"), "{}", out.stderr);
    assert!(writes(&aws.proxy.calls()).is_empty());
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(sorted(aws.interface_groups(&eni).await), sorted(before));
}

#[tokio::test(flavor = "multi_thread")]
async fn events_that_are_not_for_sgsync_are_refused_clearly() {
    let aws = Aws::start().await;
    let dir = tempfile::tempdir().unwrap();
    let other_key = event_file(&dir, "tag-change-ec2-instance.json", |_| {});
    let out = offline(&aws).run(&["apply", "--event", &other_key]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("tag change of other keys"),
        "{}",
        out.stderr
    );
    // A launch in another Region (a replayed file): its instance cannot be this deployment's.
    let elsewhere = event_file(&dir, "ec2-instance-running.json", |e| {
        e["region"] = Value::String("eu-west-1".into());
    });
    let out = offline(&aws).run(&["apply", "--event", &elsewhere]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains("the event happened in eu-west-1, this deployment is in us-east-1"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("REGION=eu-west-1"), "{}", out.stderr);
    assert!(aws.proxy.calls().is_empty());
}

/// Trust finding 3: after a full apply, `tcp/22 from ::/0` and `tcp/1-65535 from 2000::/3` added by
/// hand to a managed group reached a newly tagged interface on its tag event: the event path took
/// every rule the groups held as desired, and a TCP rule with a CIDR source looks managed. Now a group
/// is attached only while it holds exactly what the last full apply recorded of it (a digest per
/// group, `/sgsync/<DEPLOYMENT_ID>/security-group-rules`); entries sgsync never models (all traffic,
/// group and prefix-list sources) are revoked before the attach, as in a full run. A group that differs
/// is named in an error (exit 1) and not attached; the other groups are; the next full run repairs it.
#[tokio::test(flavor = "multi_thread")]
async fn the_event_path_attaches_entries_added_by_hand() {
    use aws_sdk_ec2::types::{IpPermission, IpRange, Ipv6Range, PrefixListId, UserIdGroupPair};
    let aws = Aws::start().await;
    // Groups of 50 rules, so that a hand has room to add some (moto holds a group to 60).
    let sgsync = aws.sgsync().env("RULES_PER_GROUP", "50");
    aws.apply_doc(&sgsync, &latest()).0.ok();
    let groups: Vec<String> = (aws.managed_groups("AUTOUPDATE").await)
        .into_iter()
        .map(|g| g.id)
        .collect();
    assert_eq!(groups.len(), 4);
    let published = expected_rules(&latest(), "80", false);
    let tcp = |from: i32, to: i32| {
        IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(from)
            .to_port(to)
    };
    // A TCP CIDR on another port, and a group source.
    aws.authorize_raw(
        &groups[0],
        tcp(22, 22)
            .ip_ranges(IpRange::builder().cidr_ip("10.0.0.0/8").build())
            .build(),
    )
    .await;
    let foreign = aws.create_foreign_group("someone-else").await;
    aws.authorize_raw(
        &groups[0],
        tcp(80, 80)
            .user_id_group_pairs(UserIdGroupPair::builder().group_id(&foreign).build())
            .build(),
    )
    .await;
    // IPv6 on a published port, and a prefix-list source.
    aws.authorize_raw(
        &groups[1],
        tcp(1, 65535)
            .ipv6_ranges(Ipv6Range::builder().cidr_ipv6("2000::/3").build())
            .build(),
    )
    .await;
    let list = aws
        .create_prefix_list("someones-list", &["192.0.2.0/24"], &[])
        .await;
    aws.authorize_raw(
        &groups[2],
        tcp(80, 80)
            .prefix_list_ids(PrefixListId::builder().prefix_list_id(&list).build())
            .build(),
    )
    .await;
    // All traffic from anywhere.
    aws.authorize_raw(
        &groups[3],
        IpPermission::builder()
            .ip_protocol("-1")
            .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
            .build(),
    )
    .await;

    let eni = aws.create_interface(&[]).await;
    aws.tag_target(&eni, "AUTOUPDATE").await;
    let dir = tempfile::tempdir().unwrap();
    let arn = format!("arn:aws:ec2:us-east-1:123456789012:network-interface/{eni}");
    let file = tag_event(&dir, &arn, Some("AUTOUPDATE"));
    let out = offline(&aws)
        .env("RULES_PER_GROUP", "50")
        .run(&["apply", "--event", &file, "--output", "json"]);
    assert_eq!(out.code, 1, "{out:?}");
    let summary = out.json();
    let errors = summary["errors"].to_string();
    assert!(
        errors.contains(&groups[0]) && errors.contains(&groups[1]) && !errors.contains(&groups[2]),
        "{summary}"
    );
    assert!(errors.contains("not attached to"), "{errors}");

    // Only the unchanged groups reached the interface, cleaned first of what sgsync never models.
    let on = aws.groups_on(&eni).await;
    assert!(on.contains(&groups[2]) && on.contains(&groups[3]), "{on:?}");
    assert!(
        !on.contains(&groups[0]) && !on.contains(&groups[1]),
        "a group with entries added by hand reached the interface: {on:?}"
    );
    for g in &groups[2..] {
        let reached = aws.inbound_entries(g).await;
        assert!(
            reached.iter().all(|e| published.contains(e)),
            "the interface was given entries nobody published: {reached:?}"
        );
    }

    // The next full run revokes what was added and attaches every group.
    let (out, _) = aws.apply_doc(&sgsync, &latest());
    out.ok();
    let on = aws.groups_on(&eni).await;
    assert!(groups.iter().all(|g| on.contains(g)), "{on:?}");
    let mut held = BTreeSet::new();
    for g in &groups {
        held.extend(aws.inbound_entries(g).await);
    }
    assert_eq!(held, published);
}

/// The CloudTrail record of a call that set a target's groups (`--event`, as the function gets it).
fn groups_set_event(
    dir: &tempfile::TempDir,
    target: &str,
    edit: impl FnOnce(&mut Value),
) -> String {
    let fixture_name = if target.starts_with("eni-") {
        "cloudtrail-modify-network-interface-attribute.json"
    } else {
        "cloudtrail-set-security-groups.json"
    };
    event_file(dir, fixture_name, |e| {
        let request = &mut e["detail"]["requestParameters"];
        if target.starts_with("eni-") {
            request["networkInterfaceId"] = Value::String(target.into());
        } else {
            request["loadBalancerArn"] = Value::String(target.into());
        }
        edit(e);
    })
}

/// An IaC tool (Terraform, a stack update) puts back its own group list on a target and the managed
/// groups go: the CloudTrail record of that call gives them back within seconds, without a
/// document; untagged targets, failed calls and sgsync's own calls change nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_target_whose_groups_an_iac_tool_reset_gets_the_managed_groups_back() {
    let aws = Aws::start().await;
    let foreign = aws.create_foreign_group("iac-owned").await;
    let eni = aws.create_interface(std::slice::from_ref(&foreign)).await;
    aws.tag_target(&eni, "AUTOUPDATE").await;
    let alb = aws
        .create_alb("origin", std::slice::from_ref(&foreign))
        .await;
    aws.tag_target(&alb, "AUTOUPDATE").await;
    let untagged = aws.create_interface(std::slice::from_ref(&foreign)).await;
    let managed = synced(&aws).await;
    let full: BTreeSet<String> = managed.iter().cloned().chain([foreign.clone()]).collect();
    assert_eq!(aws.groups_on(&eni).await, full);
    let dir = tempfile::tempdir().unwrap();

    for target in [&eni, &alb] {
        aws.set_groups(target, std::slice::from_ref(&foreign)).await;
        aws.proxy.clear();
        let out = apply_event(&aws, &groups_set_event(&dir, target, |_| {}));
        assert_eq!(out["status"], "applied", "{out}");
        assert_eq!(aws.groups_on(target).await, full, "{target}");
        let write = if target.starts_with("eni-") {
            "ModifyNetworkInterfaceAttribute"
        } else {
            "SetSecurityGroups"
        };
        assert_eq!(writes(&aws.proxy.calls()), [write]);

        // sgsync's own call is recorded too (the template's rule filters it out; if it came, it
        // finds nothing to do).
        aws.proxy.clear();
        let own = apply_event(
            &aws,
            &groups_set_event(&dir, target, |e| {
                e["detail"]["userIdentity"]["arn"] =
                    "arn:aws:sts::123456789012:assumed-role/sgsync-role/sgsync".into();
            }),
        );
        assert_eq!(own["status"], "unchanged", "{own}");
        assert!(writes(&aws.proxy.calls()).is_empty());
    }

    // A failed call changed nothing, and nothing is done.
    aws.set_groups(&eni, std::slice::from_ref(&foreign)).await;
    aws.proxy.clear();
    let failed = apply_event(
        &aws,
        &groups_set_event(&dir, &eni, |e| {
            e["detail"]["errorCode"] = "Client.UnauthorizedOperation".into();
        }),
    );
    assert_eq!(failed["status"], "unchanged", "{failed}");
    assert!(writes(&aws.proxy.calls()).is_empty());

    // An interface that never opted in is left as it is.
    aws.proxy.clear();
    let out = apply_event(&aws, &groups_set_event(&dir, &untagged, |_| {}));
    assert_eq!(out["status"], "unchanged", "{out}");
    assert!(writes(&aws.proxy.calls()).is_empty());
    assert_eq!(
        aws.groups_on(&untagged).await,
        BTreeSet::from([foreign.clone()])
    );
}
