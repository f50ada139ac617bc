//! Every AWS call a run makes is one the deployed role allows. moto does not enforce IAM, so a call
//! added to the code without its permission in `deploy/template.yaml` would pass every other test
//! and fail on AWS with AccessDenied. For each kind alone (`KINDS`), the calls of a first sync with
//! targets, a no-op and, for security groups, a launch event are recorded by the proxy and checked
//! against the actions of the template's common policy and that kind's policy.

use std::collections::BTreeSet;

use crate::support::*;
use serde_yaml_ng::Value;

/// The actions (`service:Action`) of the template role's policies with these names.
fn allowed(policies: &[&str]) -> BTreeSet<String> {
    let path = format!("{}/deploy/template.yaml", env!("CARGO_MANIFEST_DIR"));
    let template: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let as_list = |v: &Value| match v {
        Value::Sequence(items) => items.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    };
    let mut actions = BTreeSet::new();
    for policy in as_list(&template["Resources"]["Role"]["Properties"]["Policies"]) {
        // A kind's policy is `Fn::If: [Manages…, policy, AWS::NoValue]`.
        let policy = policy
            .get("Fn::If")
            .map_or(policy.clone(), |b| b[1].clone());
        if !policies.contains(&policy["PolicyName"].as_str().unwrap()) {
            continue;
        }
        for statement in as_list(&policy["PolicyDocument"]["Statement"]) {
            assert_eq!(statement["Effect"], "Allow");
            for a in as_list(&statement["Action"]) {
                actions.insert(a.as_str().unwrap().to_string());
            }
        }
    }
    assert!(!actions.is_empty(), "no policy named {policies:?}");
    actions
}

/// The calls the proxy saw that none of `allowed` covers (an action ending in `*` covers a prefix).
fn not_allowed(aws: &Aws, allowed: &BTreeSet<String>) -> BTreeSet<String> {
    aws.proxy
        .calls()
        .into_iter()
        .map(|c| format!("{}:{}", c.service, c.action))
        .filter(|call| {
            !allowed.iter().any(|a| match a.strip_suffix('*') {
                Some(prefix) => call.starts_with(prefix),
                None => call == a,
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_call_of_each_kind_is_allowed_by_the_template_policy_of_that_kind() {
    let files = FileServer::start();
    files.put("/ip-ranges.json", latest());
    let url = files.url("/ip-ranges.json");
    for (kind, policy) in [
        ("security-groups", "sgsync-security-groups"),
        ("prefix-lists", "sgsync-prefix-lists"),
        ("waf-ip-sets", "sgsync-waf-ip-sets"),
    ] {
        let aws = Aws::start().await;
        let sgsync = aws.sgsync().env("KINDS", kind).env("IP_RANGES_URL", &url);
        // Targets before the first sync: an interface and a load balancer that opt in.
        let foreign = aws.create_foreign_group("admin").await;
        let eni = aws.create_interface(std::slice::from_ref(&foreign)).await;
        let alb = aws
            .create_alb("origin", std::slice::from_ref(&foreign))
            .await;
        aws.tag_target(&eni, "AUTOUPDATE").await;
        aws.tag_target(&alb, "AUTOUPDATE").await;
        let first = sgsync.run(&["apply", "--output", "json"]).ok().json();
        assert_eq!(first["status"], "applied", "{kind}: {first}");
        sgsync.run(&["apply"]).ok();
        sgsync.run(&["status"]).ok();
        if kind == "security-groups" {
            assert_eq!(aws.interface_groups(&eni).await.len(), 4, "{kind}");
            let (instance, launched) = aws.launch_instance(&[]).await;
            aws.tag_target(&launched, "AUTOUPDATE").await;
            let dir = tempfile::tempdir().unwrap();
            let mut event: serde_json::Value = serde_json::from_slice(
                &std::fs::read(fixture("events/ec2-instance-running.json")).unwrap(),
            )
            .unwrap();
            event["detail"]["instance-id"] = serde_json::Value::String(instance);
            let path = dir.path().join("running.json");
            std::fs::write(&path, event.to_string()).unwrap();
            let attached = sgsync
                .run(&[
                    "apply",
                    "--event",
                    path.to_str().unwrap(),
                    "--output",
                    "json",
                ])
                .ok()
                .json();
            assert_eq!(attached["status"], "applied", "{attached}");
        }
        let calls: BTreeSet<String> = aws.proxy.calls().into_iter().map(|c| c.action).collect();
        assert!(
            calls.len() >= 3,
            "{kind}: too few calls to mean anything: {calls:?}"
        );
        let missing = not_allowed(&aws, &allowed(&["sgsync", policy]));
        assert!(
            missing.is_empty(),
            "{kind}: calls the template's {policy} policy does not allow: {missing:?}"
        );
    }
}
