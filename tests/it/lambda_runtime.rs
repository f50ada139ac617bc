//! The Lambda path: the binary started as Lambda starts it (`AWS_LAMBDA_RUNTIME_API` set), serving
//! invocations through the real `lambda_runtime` from a local implementation of the Lambda Runtime API
//! (the same HTTP protocol the Lambda service speaks), against moto.

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::*;

/// A local Lambda Runtime API: hands out queued events, collects responses and errors. Only the
/// first `released` events are handed out until `release` lets the rest go, so a test can change
/// the world between two invocations of the same running function.
struct RuntimeApi {
    port: u16,
    results: Arc<Mutex<Vec<(String, String)>>>,
    released: Arc<Mutex<usize>>,
    server: Arc<tiny_http::Server>,
}

impl RuntimeApi {
    fn start(events: Vec<String>, released: usize) -> RuntimeApi {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let port = server.server_addr().to_ip().unwrap().port();
        let results: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let queue = Arc::new(Mutex::new(
            events.into_iter().enumerate().collect::<Vec<_>>(),
        ));
        let released = Arc::new(Mutex::new(released));
        let (s, r, gate) = (server.clone(), results.clone(), released.clone());
        std::thread::spawn(move || {
            for mut request in s.incoming_requests() {
                let url = request.url().to_string();
                if url.ends_with("/invocation/next") {
                    // Hold the next event until it is released (the function waits, as between
                    // invocations; it posts each answer before asking again, so nothing else waits).
                    let held_since = Instant::now();
                    while held_since.elapsed() < Duration::from_secs(120) {
                        let front = queue.lock().unwrap().first().map(|(i, _)| *i);
                        if front.is_none_or(|i| i < *gate.lock().unwrap()) {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    let next = {
                        let mut q = queue.lock().unwrap();
                        if q.is_empty() {
                            None
                        } else {
                            Some(q.remove(0))
                        }
                    };
                    let Some((i, event)) = next else {
                        // No more events: leave the runtime waiting, as Lambda does between invocations.
                        std::thread::spawn(move || {
                            std::thread::sleep(Duration::from_secs(120));
                            drop(request);
                        });
                        continue;
                    };
                    let deadline = (std::time::SystemTime::now() + Duration::from_secs(300))
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .as_millis();
                    let header = |k: &str, v: &str| tiny_http::Header::from_bytes(k, v).unwrap();
                    let response = tiny_http::Response::from_string(event)
                        .with_header(header(
                            "Lambda-Runtime-Aws-Request-Id",
                            &format!("request-{i}"),
                        ))
                        .with_header(header("Lambda-Runtime-Deadline-Ms", &deadline.to_string()))
                        .with_header(header(
                            "Lambda-Runtime-Invoked-Function-Arn",
                            "arn:aws:lambda:us-east-1:123456789012:function:sgsync",
                        ))
                        .with_header(header(
                            "Lambda-Runtime-Trace-Id",
                            "Root=1-00000000-000000000000000000000000",
                        ))
                        .with_header(header("Content-Type", "application/json"));
                    let _ = request.respond(response);
                } else {
                    let mut body = String::new();
                    let _ = request.as_reader().read_to_string(&mut body);
                    r.lock().unwrap().push((url, body));
                    let _ = request
                        .respond(tiny_http::Response::from_string("{}").with_status_code(202));
                }
            }
        });
        RuntimeApi {
            port,
            results,
            released,
            server,
        }
    }

    /// Lets every remaining event go.
    fn release(&self) {
        *self.released.lock().unwrap() = usize::MAX;
    }

    fn wait_for(&self, n: usize) -> Vec<(String, String)> {
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            let r = self.results.lock().unwrap().clone();
            if r.len() >= n {
                return r;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "the function answered only {:?}",
            self.results.lock().unwrap()
        );
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.unblock();
    }
}

/// The binary started as Lambda starts it, against moto through the proxy, with `env` on top.
fn function(api: &RuntimeApi, aws: &Aws, name: &str, env: &[(&str, &str)]) -> std::process::Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sgsync"));
    cmd.env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{}", api.port))
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_ENDPOINT_URL", aws.proxy.endpoint())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.spawn().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_function_serves_sns_scheduled_and_bad_events() {
    use aws_sdk_ec2::types::{IpPermission, IpRange};
    let aws = Aws::start().await;
    let files = FileServer::start();
    let latest = latest();
    files.put("/ip-ranges.json", latest.clone());
    let url = files.url("/ip-ranges.json");
    let scheduled = std::fs::read_to_string(fixture("events/scheduled.json")).unwrap();
    let api = RuntimeApi::start(
        vec![
            sns_event(&url, LATEST_MD5, LATEST_SYNCTOKEN),
            scheduled,
            r#"{"Records": [{"eventSource": "aws:s3"}]}"#.to_string(),
            // A notification whose document is not the one announced.
            sns_event(&url, "0123456789abcdef0123456789abcdef", LATEST_SYNCTOKEN),
        ],
        1,
    );
    let expected = expected_rules(&latest, "80", false);

    let mut child = function(&api, &aws, "sgsync", &[("IP_RANGES_URL", url.as_str())]);

    // The notification: the first sync.
    let results = api.wait_for(1);
    let (path, body) = &results[0];
    assert!(
        path.ends_with("/invocation/request-0/response"),
        "{results:?}"
    );
    let summary: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(summary["status"], "applied");
    assert_eq!(summary["rules"], 180);
    assert_eq!(aws.managed_groups("AUTOUPDATE").await.len(), 3);
    assert_make_before_break(&aws.proxy.calls(), &expected);

    // Drift while the function waits for its next event: a published rule revoked by hand and the
    // whole internet let in.
    let group = aws.managed_groups("AUTOUPDATE").await[0].clone();
    let lost = group.rules.iter().next().unwrap().clone();
    let cidr = lost.split(' ').next().unwrap();
    aws.ec2
        .revoke_security_group_ingress()
        .group_id(&group.id)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(80)
                .to_port(80)
                .ip_ranges(IpRange::builder().cidr_ip(cidr).build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    aws.ec2
        .authorize_security_group_ingress()
        .group_id(&group.id)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("-1")
                .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    api.release();

    // The schedule repairs it.
    let results = api.wait_for(4);
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    let logs = String::from_utf8_lossy(&output.stderr);
    let metrics: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not EMF ({e}): {l}")))
        .collect();
    let (path, body) = &results[1];
    assert!(
        path.ends_with("/invocation/request-1/response"),
        "{results:?}"
    );
    let summary: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(summary["status"], "applied", "the schedule repairs drift");
    assert_eq!(summary["changes"]["rules_authorized"], 1, "{summary}");
    assert_eq!(summary["changes"]["rules_revoked"], 1, "{summary}");
    let groups = aws.managed_groups("AUTOUPDATE").await;
    let (all, count) = union(&groups);
    assert_eq!((all, count), (expected.clone(), expected.len()));

    let (path, body) = &results[2];
    assert!(path.ends_with("/invocation/request-2/error"), "{results:?}");
    assert!(
        body.contains("aws:s3") && body.contains("AmazonIpSpaceChanged"),
        "{body}"
    );

    // A failed run says why in the logs, at error level, before the invocation fails.
    let (path, body) = &results[3];
    assert!(path.ends_with("/invocation/request-3/error"), "{results:?}");
    assert!(body.contains("MD5 mismatch"), "{body}");
    let errors: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["level"] == "ERROR")
        .collect();
    assert!(
        errors.iter().any(|l| l["error"]
            .as_str()
            .is_some_and(|e| e.contains("MD5 mismatch"))),
        "{logs}"
    );
    assert!(
        errors
            .iter()
            .any(|l| l["error"].as_str().is_some_and(|e| e.contains("aws:s3"))),
        "{logs}"
    );

    // Every invocation leaves its metrics (Embedded Metric Format) on stdout: two successful runs
    // (with the run's numbers and each target's headroom), two failed ones.
    let runs: Vec<&serde_json::Value> = metrics
        .iter()
        .filter(|m| {
            m["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == serde_json::json!([["Deployment"]])
        })
        .collect();
    assert_eq!(runs.len(), 4, "{metrics:?}");
    let succeeded: Vec<f64> = runs
        .iter()
        .map(|m| m["RunSucceeded"].as_f64().unwrap())
        .collect();
    assert_eq!(succeeded, [1.0, 1.0, 0.0, 0.0]);
    assert!(runs.iter().all(|m| m["Deployment"] == "sgsync"));
    assert_eq!(runs[0]["RulesApplied"], 180.0);
    assert_eq!(runs[0]["GroupsApplied"], 3.0);
    // The repair: one rule back, the entry added by hand gone, in the same three groups.
    assert_eq!(runs[1]["ChangesMade"], 2.0, "{}", runs[1]);
    assert_eq!(runs[1]["GroupsApplied"], 3.0, "{}", runs[1]);
    assert!(runs[1]["AppliedSynctokenAgeSeconds"].as_f64().unwrap() > 0.0);
    assert_eq!(runs[3]["RunFailed"], 1.0);

    // Logs are JSON lines.
    let first = logs
        .lines()
        .find(|l| l.starts_with('{'))
        .expect("JSON log lines");
    let line: serde_json::Value = serde_json::from_str(first).unwrap();
    assert!(
        line["level"].is_string() && line["message"].is_string(),
        "{first}"
    );
}

/// Puts a fleet file into moto's S3.
async fn put_fleet(aws: &Aws, bucket: &str, text: &str) {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(aws.moto.endpoint())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_ec2::config::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .load()
        .await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    let _ = s3.create_bucket().bucket(bucket).send().await;
    s3.put_object()
        .bucket(bucket)
        .key("fleet.toml")
        .body(text.as_bytes().to_vec().into())
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_hub_function_reads_its_fleet_from_s3_at_every_run() {
    let aws = Aws::start().await;
    let files = FileServer::start();
    files.put("/ip-ranges.json", latest());
    let url = files.url("/ip-ranges.json");
    let entry = |account: &str, region: &str| {
        format!("[[vpc]]\naccount = \"{account}\"\nregion = \"{region}\"\n")
    };
    let two = format!(
        "role_name = \"sgsync\"\n{}{}",
        entry("111111111111", "eu-west-1"),
        entry("222222222222", "us-east-1")
    );
    put_fleet(&aws, "org-sgsync", &two).await;
    let scheduled = std::fs::read_to_string(fixture("events/scheduled.json")).unwrap();
    let api = RuntimeApi::start(vec![scheduled.clone(), scheduled], 1);
    let mut child = function(
        &api,
        &aws,
        "sgsync-hub",
        &[
            ("IP_RANGES_URL", url.as_str()),
            ("FLEET", "s3://org-sgsync/fleet.toml"),
        ],
    );
    let expected = expected_rules(&latest(), "80", false);

    let results = api.wait_for(1);
    let summary: serde_json::Value = serde_json::from_str(&results[0].1).unwrap();
    assert_eq!(summary["status"], "applied", "{summary}");
    assert_eq!(summary["vpcs"].as_array().unwrap().len(), 2);
    for (account, region) in [("111111111111", "eu-west-1"), ("222222222222", "us-east-1")] {
        let groups = aws.managed_rules_in(account, region).await;
        let union: std::collections::BTreeSet<String> =
            groups.values().flatten().cloned().collect();
        assert_eq!(union, expected, "{account} {region}");
    }

    // A third VPC added to the file: the next run syncs it, without a deployment.
    put_fleet(
        &aws,
        "org-sgsync",
        &format!("{two}{}", entry("333333333333", "eu-central-1")),
    )
    .await;
    api.release();
    let results = api.wait_for(2);
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    let summary: serde_json::Value = serde_json::from_str(&results[1].1).unwrap();
    let statuses: Vec<&str> = summary["vpcs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["unchanged", "unchanged", "applied"], "{summary}");
    assert_eq!(
        aws.managed_rules_in("333333333333", "eu-central-1")
            .await
            .len(),
        3
    );

    // Metrics: a line per VPC with its account and region, and one for the fleet.
    let metrics: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let dims = |m: &serde_json::Value| m["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0].clone();
    let per_vpc: Vec<&serde_json::Value> = metrics
        .iter()
        .filter(|m| dims(m) == serde_json::json!(["Deployment", "Account", "Region"]))
        .collect();
    assert_eq!(per_vpc.len(), 5, "2 VPCs, then 3");
    assert!(
        per_vpc
            .iter()
            .any(|m| m["Account"] == "333333333333" && m["Region"] == "eu-central-1")
    );
    let fleet: Vec<&serde_json::Value> = metrics
        .iter()
        .filter(|m| dims(m) == serde_json::json!(["Deployment"]))
        .collect();
    assert_eq!(fleet.len(), 2);
    assert!(
        fleet
            .iter()
            .all(|m| m["RunSucceeded"] == 1.0 && m["Deployment"] == "sgsync-hub")
    );
    assert_eq!(fleet[1]["FleetVpcs"], 3.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_function_attaches_a_launched_instance_and_reports_how_long_it_waited() {
    let aws = Aws::start().await;
    let dir = tempfile::tempdir().unwrap();
    let doc = dir.path().join("ip-ranges.json");
    std::fs::write(&doc, latest()).unwrap();
    // The function's deployment is its name.
    aws.sgsync()
        .env("DEPLOYMENT_ID", "sgsync")
        .run(&["apply", "--ip-ranges", doc.to_str().unwrap()])
        .ok();
    let (instance, eni) = aws.launch_instance(&[]).await;
    aws.tag_target(&eni, "AUTOUPDATE").await;
    // An instance launched without groups has the VPC's default group.
    let own = aws.interface_groups(&eni).await.len();
    let mut event: serde_json::Value = serde_json::from_slice(
        &std::fs::read(fixture("events/ec2-instance-running.json")).unwrap(),
    )
    .unwrap();
    event["detail"]["instance-id"] = serde_json::Value::String(instance.clone());
    // Launched a few seconds ago.
    let launched = std::time::SystemTime::now() - Duration::from_secs(3);
    let secs = launched
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // As EventBridge writes `time`: RFC 3339, UTC, whole seconds.
    event["time"] = serde_json::Value::String(
        chrono::DateTime::from_timestamp(secs, 0)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    );
    let api = RuntimeApi::start(vec![event.to_string()], 1);
    let mut child = function(
        &api,
        &aws,
        "sgsync",
        &[("IP_RANGES_URL", "http://127.0.0.1:9/ip-ranges.json")],
    );
    let results = api.wait_for(1);
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    let summary: serde_json::Value = serde_json::from_str(&results[0].1).unwrap();
    assert_eq!(summary["status"], "applied", "{summary}");
    assert_eq!(aws.interface_groups(&eni).await.len(), own + 3);
    let metrics: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m.get("_aws").is_some())
        .collect();
    let waited: Vec<f64> = metrics
        .iter()
        .filter_map(|m| m["EventToAttachSeconds"].as_f64())
        .collect();
    assert_eq!(waited.len(), 1, "one EventToAttachSeconds metric");
    assert!((3.0..60.0).contains(&waited[0]), "{waited:?}");
    // Its own counters: a launch is not a sync, so it cannot keep the no-successful-run alarm quiet.
    assert!(
        metrics.iter().any(|m| m["AttachSucceeded"] == 1.0),
        "{metrics:?}"
    );
    assert!(
        metrics
            .iter()
            .all(|m| m.get("RunSucceeded").is_none()
                && m.get("AppliedSynctokenAgeSeconds").is_none()),
        "{metrics:?}"
    );
}
