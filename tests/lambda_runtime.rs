//! The Lambda path: the binary started as Lambda starts it (`AWS_LAMBDA_RUNTIME_API` set), serving
//! invocations through the real `lambda_runtime` from a local implementation of the Lambda Runtime API
//! (the same HTTP protocol the Lambda service speaks), against moto.

mod support;

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::*;

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

    let mut child = Command::new(env!("CARGO_BIN_EXE_sgsync"))
        .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{}", api.port))
        .env("AWS_LAMBDA_FUNCTION_NAME", "sgsync")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_ENDPOINT_URL", aws.proxy.endpoint())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("IP_RANGES_URL", &url)
        .env_remove("AWS_PROFILE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

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
