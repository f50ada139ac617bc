//! A fleet of VPCs in several accounts and regions (moto keeps one backend per account, reached through
//! `AssumeRole`), synced by `sgsync … --fleet FILE`: exact groups everywhere, one download, a second run
//! that writes nothing, an entry whose role cannot be assumed failing alone, throttling in one account
//! slowing that account only, per-entry settings, one VPC named twice synced once, and a bad fleet file
//! refused before any AWS call.

use std::collections::BTreeSet;

use crate::support::proxy::Faults;
use crate::support::*;
use serde_json::Value;

const FLEET: &str = r#"
role_name = "sgsync"
concurrency = 4

[[vpc]]
account = "111111111111"
region = "eu-west-1"
settings = { PORTS = "80", IP_VERSIONS = "ipv4" }

[[vpc]]
account = "111111111111"
region = "us-east-1"
settings = { PORTS = "80", IP_VERSIONS = "ipv4" }

[[vpc]]
account = "222222222222"
region = "eu-west-1"
settings = { PORTS = "80", IP_VERSIONS = "ipv4" }

[[vpc]]
account = "333333333333"
region = "ap-southeast-2"
settings = { PORTS = "443" }
"#;

/// (account, region, rules) of every entry of [`FLEET`].
fn expected() -> Vec<(&'static str, &'static str, BTreeSet<String>)> {
    let cloudfront = expected_rules(&latest(), "80", false);
    // The hub allows 80 and 443, both families; each entry narrows it (one port; IPv4 only).
    let dual_443 = expected_rules(&latest(), "443", true);
    vec![
        ("111111111111", "eu-west-1", cloudfront.clone()),
        ("111111111111", "us-east-1", cloudfront.clone()),
        ("222222222222", "eu-west-1", cloudfront),
        ("333333333333", "ap-southeast-2", dual_443),
    ]
}

struct Setup {
    aws: Aws,
    files: FileServer,
    _dir: tempfile::TempDir,
    fleet: String,
    sgsync: Sgsync,
}

async fn setup(fleet: &str) -> Setup {
    let aws = Aws::start().await;
    let files = FileServer::start();
    files.put("/ip-ranges.json", latest());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fleet.toml");
    std::fs::write(&path, fleet).unwrap();
    let sgsync = aws
        .sgsync()
        .env("IP_RANGES_URL", &files.url("/ip-ranges.json"))
        .env("PORTS", "80,443")
        .env("IP_VERSIONS", "ipv4,ipv6")
        .env("FLEET", path.to_str().unwrap());
    Setup {
        aws,
        files,
        fleet: path.to_str().unwrap().to_string(),
        _dir: dir,
        sgsync,
    }
}

async fn assert_exact(aws: &Aws, account: &str, region: &str, rules: &BTreeSet<String>) {
    let groups = aws.managed_rules_in(account, region).await;
    let union: BTreeSet<String> = groups.values().flatten().cloned().collect();
    let held: usize = groups.values().map(BTreeSet::len).sum();
    assert_eq!(
        &union, rules,
        "{account} {region} does not hold exactly the published rules"
    );
    assert_eq!(held, rules.len(), "{account} {region} holds a rule twice");
    // The quota holds per family, as AWS counts it.
    for family in [false, true] {
        assert!(
            groups
                .values()
                .all(|r| r.iter().filter(|rule| rule.contains(':') == family).count() <= 60),
            "{account} {region}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_vpc_of_the_fleet_is_kept_exact_with_one_download_and_a_second_run_writes_nothing() {
    let s = setup(FLEET).await;
    let out = s.sgsync.run(&["apply", "--output", "json"]).ok();
    let summary = out.json();
    assert_eq!(summary["status"], "applied", "{summary}");
    assert_eq!(summary["failed"], 0);
    let vpcs = summary["vpcs"].as_array().unwrap();
    assert_eq!(vpcs.len(), 4);
    for (vpc, (account, region, rules)) in vpcs.iter().zip(expected()) {
        assert_eq!(vpc["account"], account);
        assert_eq!(vpc["region"], region);
        assert_eq!(vpc["status"], "applied");
        assert_eq!(vpc["rules"], rules.len());
        assert!(vpc["vpc_id"].as_str().unwrap().starts_with("vpc-"));
        assert_exact(&s.aws, account, region, &rules).await;
    }
    // One download for the whole fleet; one AssumeRole per entry; every call in its own account.
    assert_eq!(s.files.hits("/ip-ranges.json"), 1);
    let calls = s.aws.proxy.calls();
    assert_eq!(calls.iter().filter(|c| c.action == "AssumeRole").count(), 4);
    assert!(
        calls
            .iter()
            .filter(|c| c.service == "ec2")
            .all(|c| c.account.is_some()),
        "an EC2 call was made with the hub's own credentials"
    );

    s.aws.proxy.clear();
    let again = s.sgsync.run(&["apply"]).ok();
    assert_only_assumed_roles(&s.aws.proxy.calls());
    assert!(
        again
            .stdout
            .contains("Fleet: 4 VPCs: 0 applied, 0 planned, 4 unchanged, 0 skipped, 0 failed"),
        "{}",
        again.stdout
    );
    assert!(
        again.stdout.contains("111111111111  eu-west-1"),
        "{}",
        again.stdout
    );

    let status = s.sgsync.run(&["status", "--output", "json"]).ok().json();
    let vpcs = status["vpcs"].as_array().unwrap();
    assert_eq!(vpcs.len(), 4);
    assert_eq!(vpcs[0]["groups"].as_array().unwrap().len(), 3);
    assert_eq!(vpcs[3]["groups"].as_array().unwrap().len(), 3);
    assert!(
        s.sgsync
            .run(&["status"])
            .ok()
            .stdout
            .contains("Fleet: 4 VPCs, 0 failed to read.")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_entry_whose_role_cannot_be_assumed_fails_alone() {
    let s = setup(FLEET).await;
    s.aws.proxy.set_faults(
        Faults {
            deny_assume_role: Some("222222222222".into()),
            ..Faults::default()
        },
        1,
    );
    let out = s.sgsync.run(&["apply", "--output", "json"]);
    assert_eq!(out.code, 1, "{out:?}");
    let summary: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(summary["status"], "failed");
    assert_eq!(summary["failed"], 1);
    let failed = &summary["vpcs"][2];
    assert_eq!(failed["status"], "failed");
    let why = failed["error"].as_str().unwrap();
    assert!(
        why.contains("cannot assume arn:aws:iam::222222222222:role/sgsync"),
        "{why}"
    );
    assert!(why.contains("deploy/spoke-role.yaml"), "{why}");
    for (i, (account, region, rules)) in expected().into_iter().enumerate() {
        if i == 2 {
            assert!(s.aws.managed_rules_in(account, region).await.is_empty());
        } else {
            assert_eq!(summary["vpcs"][i]["status"], "applied");
            assert_exact(&s.aws, account, region, &rules).await;
        }
    }
    let text = s.sgsync.run(&["plan"]);
    assert_eq!(text.code, 1);
    assert!(
        text.stdout
            .contains("222222222222  eu-west-1       (default VPC)          FAILED"),
        "{}",
        text.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn throttling_in_one_account_slows_that_account_only() {
    let s = setup(FLEET).await;
    s.aws.proxy.set_faults(
        Faults {
            throttle_account: Some(("111111111111".into(), 0.25)),
            ..Faults::default()
        },
        7,
    );
    let out = s.sgsync.run(&["apply", "--output", "json"]).ok();
    let summary = out.json();
    assert_eq!(summary["failed"], 0, "{summary}");
    for (account, region, rules) in expected() {
        assert_exact(&s.aws, account, region, &rules).await;
    }
    let calls = s.aws.proxy.calls();
    let throttled = |account: &str| {
        calls
            .iter()
            .filter(|c| c.injected && c.account.as_deref() == Some(account))
            .count()
    };
    assert!(throttled("111111111111") > 0);
    assert_eq!(throttled("222222222222") + throttled("333333333333"), 0);
    let ms = |i: usize| summary["vpcs"][i]["duration_ms"].as_f64().unwrap();
    let slow = (ms(0) + ms(1)) / 2.0;
    let others = (ms(2) + ms(3)) / 2.0;
    assert!(
        slow > others,
        "throttled entries took {slow} ms on average, the others {others} ms"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_fleet_file_is_refused_before_any_aws_call() {
    let s = setup("role_name = \"sgsync\"\n[[vpc]]\naccount = \"111111111111\"\nregion = \"eu-west-1\"\nsettings = { PORTS = \"http\" }\n").await;
    let out = s.sgsync.run(&["apply"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains(&format!(
            "fleet file {}: [[vpc]] #1 (111111111111 eu-west-1):",
            s.fleet
        )),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("PORTS"), "{}", out.stderr);
    assert!(s.aws.proxy.calls().is_empty());
    assert_eq!(s.files.hits("/ip-ranges.json"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn one_vpc_named_twice_is_synced_once_and_the_other_entry_says_why() {
    let s = setup(FLEET).await;
    let ec2 = s.aws.account_ec2("111111111111", "eu-west-1").await;
    let default = ec2
        .describe_vpcs()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("is-default")
                .values("true")
                .build(),
        )
        .send()
        .await
        .unwrap()
        .vpcs()[0]
        .vpc_id()
        .unwrap()
        .to_string();
    // Once as the default VPC, once by its id, with other settings: the two would undo each other.
    let twice = format!(
        "role_name = \"sgsync\"\n\
         [[vpc]]\naccount = \"111111111111\"\nregion = \"eu-west-1\"\n\
         settings = {{ PORTS = \"80\", IP_VERSIONS = \"ipv4\" }}\n\
         [[vpc]]\naccount = \"111111111111\"\nregion = \"eu-west-1\"\nvpc_id = \"{default}\"\n\
         settings = {{ PORTS = \"443\", IP_VERSIONS = \"ipv4\" }}\n"
    );
    std::fs::write(&s.fleet, twice).unwrap();
    let out = s.sgsync.run(&["apply", "--output", "json"]);
    assert_eq!(out.code, 1, "{out:?}");
    let summary: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(summary["vpcs"][0]["status"], "applied", "{summary}");
    assert_eq!(summary["vpcs"][1]["status"], "failed", "{summary}");
    let why = summary["vpcs"][1]["error"].as_str().unwrap();
    assert!(
        why.contains(&format!("{default} is already entry #1's VPC")),
        "{why}"
    );
    // Only the first entry's rules (port 80): the second wrote nothing.
    assert_exact(
        &s.aws,
        "111111111111",
        "eu-west-1",
        &expected_rules(&latest(), "80", false),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn entries_without_security_groups_read_no_vpc_which_their_role_may_not() {
    // The spoke role's prefix-list policy has no ec2:DescribeVpcs (lists belong to the region): an
    // entry keeping lists only must not look its default VPC up.
    let s = setup(
        "role_name = \"sgsync\"\n[[vpc]]\naccount = \"111111111111\"\nregion = \"eu-west-1\"\n\
         settings = { KINDS = \"prefix-lists\" }\n",
    )
    .await;
    let summary = s.sgsync.run(&["apply", "--output", "json"]).ok().json();
    assert_eq!(summary["vpcs"][0]["status"], "applied", "{summary}");
    let actions: Vec<String> = s.aws.proxy.calls().into_iter().map(|c| c.action).collect();
    assert!(
        actions.iter().any(|a| a == "CreateManagedPrefixList"),
        "{actions:?}"
    );
    assert!(!actions.iter().any(|a| a == "DescribeVpcs"), "{actions:?}");
}

/// On a terminal, a fleet run says each VPC as it finishes (on stderr); without one it says nothing
/// more than before (scripts read stdout, logs stay as they were).
#[tokio::test(flavor = "multi_thread")]
async fn a_fleet_on_a_terminal_shows_each_vpc_as_it_finishes() {
    let s = setup(FLEET).await;
    // `script` merges the terminal's output into its stdout.
    let out = s.sgsync.run_in_terminal(&["plan"], "");
    for n in 1..=4 {
        assert!(out.stdout.contains(&format!("[{n}/4] ")), "{out:?}");
    }
    assert!(
        out.stdout.contains("333333333333 ap-southeast-2"),
        "{out:?}"
    );
    let quiet = s.sgsync.run(&["plan"]).ok();
    assert!(!quiet.stderr.contains("[1/4]"), "{quiet:?}");
}

/// Another provider's ranges through a fleet (`SOURCE=cloudflare`): one download, every VPC holds
/// exactly Cloudflare's ranges in groups named after the source, and the same document a second
/// later writes nothing although it has no version of its own.
#[tokio::test(flavor = "multi_thread")]
async fn a_fleet_of_another_source_is_kept_exact_and_an_unchanged_document_writes_nothing() {
    let s = setup(
        r#"
role_name = "sgsync"

[[vpc]]
account = "111111111111"
region = "eu-west-1"

[[vpc]]
account = "222222222222"
region = "us-east-1"
"#,
    )
    .await;
    let ips = std::fs::read(fixture("sources/cloudflare/ips.json")).unwrap();
    s.files.put("/ips", ips.clone());
    let sgsync = s
        .sgsync
        .clone()
        .env("SOURCE", "cloudflare")
        .env("PREFIX_NAME", "AUTOUPDATE")
        .env("PORTS", "443")
        .env("IP_RANGES_URL", &s.files.url("/ips"));
    let out = sgsync.run(&["apply", "--output", "json"]).ok();
    assert_eq!(out.json()["status"], "applied", "{out:?}");
    assert_eq!(s.files.hits("/ips"), 1);
    let doc: Value = serde_json::from_slice(&ips).unwrap();
    let want: BTreeSet<String> = (doc["result"]["ipv4_cidrs"].as_array().unwrap().iter())
        .chain(doc["result"]["ipv6_cidrs"].as_array().unwrap())
        .map(|c| format!("{} tcp/443", c.as_str().unwrap()))
        .collect();
    assert_eq!(want.len(), 22);
    for (account, region) in [("111111111111", "eu-west-1"), ("222222222222", "us-east-1")] {
        let groups = s.aws.managed_rules_in(account, region).await;
        assert_eq!(
            groups.keys().collect::<Vec<_>>(),
            ["AUTOUPDATE-cloudflare-1"],
            "{account}"
        );
        assert_eq!(groups["AUTOUPDATE-cloudflare-1"], want, "{account}");
    }
    std::thread::sleep(std::time::Duration::from_millis(1100));
    s.aws.proxy.clear();
    let again = sgsync.run(&["apply", "--output", "json"]).ok();
    assert_eq!(again.json()["status"], "unchanged", "{again:?}");
    assert_only_assumed_roles(&s.aws.proxy.calls());
}

/// A fleet run that had nothing to do: its only writes are the roles it assumed.
fn assert_only_assumed_roles(calls: &[crate::support::proxy::ProxyCall]) {
    let writes = writes(calls);
    assert!(writes.iter().all(|w| w == "AssumeRole"), "{writes:?}");
}
