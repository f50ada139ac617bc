//! What a script or CI job relies on: `--detailed-exitcode` (0 nothing to do, 2 changes, 1 any
//! error, also when the rest was applied), one JSON document on stdout whatever happened with
//! `--output json`, and a failure to reach AWS said in one line that names where the call went.

use std::io::{Read, Write};
use std::net::TcpListener;

use crate::support::proxy::Faults;
use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn detailed_exit_codes_tell_changes_from_none_and_errors_win() {
    let aws = Aws::start().await;
    let eni = aws.create_interface(&[]).await;
    aws.tag_target(&eni, "AUTOUPDATE").await;
    let dir = tempfile::tempdir().unwrap();
    let first = doc_file(&dir, "first.json", small_document(1_700_000_000, 0..30));
    let sgsync = aws.sgsync();
    let run = |args: &[&str]| sgsync.run(args);

    let plan = run(&["plan", "--ip-ranges", &first, "--detailed-exitcode"]);
    assert_eq!(plan.code, 2, "a plan with changes: {plan:?}");
    // Without the flag, a plan with changes is a success, as before.
    assert_eq!(run(&["plan", "--ip-ranges", &first]).code, 0);
    let apply = run(&["apply", "--ip-ranges", &first, "--detailed-exitcode"]);
    assert_eq!(apply.code, 2, "an apply that changed things: {apply:?}");
    // Progress on stderr, with the logs: each kind as it is applied.
    assert!(
        apply.stderr.contains("[1/1] applying ") && apply.stderr.contains(" applied in "),
        "{apply:?}"
    );
    let again = run(&["apply", "--ip-ranges", &first, "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "nothing to change: {again:?}");
    let plan = run(&["plan", "--ip-ranges", &first, "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "nothing to change: {plan:?}");

    // Part of the run applied, part failed (RAM refuses the share): 1, not 2; the JSON summary
    // says what was applied and lists the error.
    aws.proxy.set_faults(
        Faults {
            deny_service: Some("ram"),
            ..Faults::default()
        },
        1,
    );
    let second = doc_file(&dir, "second.json", small_document(1_700_000_100, 0..40));
    let partial = sgsync
        .clone()
        .env("KINDS", "security-groups,prefix-lists")
        .env("SHARE_WITH", "111122223333")
        .run(&[
            "apply",
            "--ip-ranges",
            &second,
            "--detailed-exitcode",
            "--output",
            "json",
        ]);
    assert_eq!(partial.code, 1, "{partial:?}");
    let summary = partial.json();
    assert_eq!(summary["status"], "applied", "{summary}");
    assert!(
        summary["errors"].to_string().contains("RAM share"),
        "{summary}"
    );
    assert!(partial.stderr.contains("error: RAM share"), "{partial:?}");
}

/// Every way a run can fail before applying anything, with `--output json`: one document on stdout
/// with the failure's kind and message, and the usual one line on stderr.
#[tokio::test(flavor = "multi_thread")]
async fn every_failure_is_one_json_document_on_stdout() {
    let aws = Aws::start().await;
    let dir = tempfile::tempdir().unwrap();
    let good = doc_file(&dir, "good.json", small_document(1_700_000_000, 0..30));
    // A range wider than /8: a sanity check refuses the document.
    let mut doc: serde_json::Value =
        serde_json::from_slice(&small_document(1_700_000_000, 0..30)).unwrap();
    doc["prefixes"][0]["ip_prefix"] = "8.0.0.0/7".into();
    let wide = doc_file(&dir, "wide.json", doc.to_string().as_bytes());
    let cases: Vec<(&str, Output)> = vec![
        (
            "settings",
            aws.sgsync().env("PORTS", "eighty").run(&[
                "plan",
                "--ip-ranges",
                &good,
                "--output",
                "json",
            ]),
        ),
        (
            "input",
            aws.sgsync().run(&[
                "plan",
                "--ip-ranges",
                "/nonexistent/ip-ranges.json",
                "--output",
                "json",
            ]),
        ),
        (
            "aws",
            Sgsync::new("http://127.0.0.1:1").run(&[
                "plan",
                "--ip-ranges",
                &good,
                "--output",
                "json",
            ]),
        ),
    ];
    for (kind, out) in cases {
        assert_eq!(out.code, 1, "{kind}: {out:?}");
        let doc = out.json();
        assert_eq!(doc["status"], "error", "{kind}: {doc}");
        assert_eq!(doc["error"]["kind"], kind, "{doc}");
        let message = doc["error"]["message"].as_str().unwrap();
        assert!(!message.is_empty() && !message.contains('\n'), "{doc}");
        let line = format!("error: {message}");
        assert!(out.stderr.lines().any(|l| l == line), "{kind}: {out:?}");
    }
    // A document a guard refuses (a range wider than /8).
    let out = aws
        .sgsync()
        .run(&["plan", "--ip-ranges", &wide, "--output", "json"]);
    assert_eq!(out.code, 1, "{out:?}");
    let doc = out.json();
    assert_eq!(doc["status"], "error", "{doc}");
    assert_eq!(doc["error"]["kind"], "guard", "{doc}");
}

/// A local server that answers every request with an HTML page, as a captive portal or a wrong
/// AWS_ENDPOINT_URL does.
fn html_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 65536];
            let _ = stream.read(&mut buf);
            let body = "<html><body>Sign in to the network</body></html>";
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://{addr}")
}

/// Each class of failure to reach AWS, as the SDK reports it (a nested debug dump), becomes one
/// line naming where the call went and what to check; the dump is in the log at DEBUG=true only.
#[test]
fn failures_to_reach_aws_are_one_line_naming_the_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let good = doc_file(&dir, "good.json", small_document(1_700_000_000, 0..30));
    let html = html_server();
    let no_credentials = Sgsync::new("http://127.0.0.1:1")
        .without("AWS_ACCESS_KEY_ID")
        .without("AWS_SECRET_ACCESS_KEY")
        .without("AWS_SESSION_TOKEN")
        .env("AWS_CONFIG_FILE", "/nonexistent/config")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials");
    let cases = [
        (
            "connection refused",
            Sgsync::new("http://127.0.0.1:1"),
            "nothing answers at http://127.0.0.1:1",
        ),
        (
            "name not resolved",
            Sgsync::new("http://sgsync-test.invalid"),
            "cannot resolve http://sgsync-test.invalid",
        ),
        (
            "not AWS",
            Sgsync::new(&html),
            "answered with something that is not AWS's API",
        ),
        ("no credentials", no_credentials, "no AWS credentials"),
    ];
    for (class, sgsync, expected) in cases {
        let out = sgsync.run(&["plan", "--ip-ranges", &good]);
        assert_eq!(out.code, 1, "{class}: {out:?}");
        let errors: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| l.starts_with("error: "))
            .collect();
        assert_eq!(errors.len(), 1, "{class}: {out:?}");
        let line = errors[0];
        assert!(line.contains(expected), "{class}: {line}");
        assert!(
            line.contains("check") || line.contains("set "),
            "{class}: no remedy: {line}"
        );
        assert!(
            !line.contains("DispatchFailure")
                && !line.contains("ConnectorError")
                && line.len() < 400,
            "{class}: the SDK's debug form leaked: {line}"
        );
    }
    // REGION beside a different AWS_REGION wins, and says so.
    let out = Sgsync::new("http://127.0.0.1:1")
        .env("REGION", "eu-west-1")
        .run(&["plan", "--ip-ranges", &good]);
    assert!(
        out.stderr
            .contains("REGION=eu-west-1 overrides AWS_REGION=us-east-1"),
        "{out:?}"
    );
    // DEBUG=true shows what the SDK said, for the rare case the line is not enough.
    let out = Sgsync::new("http://127.0.0.1:1")
        .env("DEBUG", "true")
        .run(&["plan", "--ip-ranges", &good]);
    assert!(out.stderr.contains("AWS did not answer"), "{out:?}");
    assert!(out.stderr.contains("Connection refused"), "{out:?}");
}

/// `ranges` does what its help says: it lists the CIDRs, reads a URL with the download checks of
/// `plan`, and says when the selection would not fit a target (CloudFront on 80,443 dual stack
/// needs 6 groups, more than the 5 an interface takes) or a group (the lists' weight).
#[test]
fn ranges_lists_the_cidrs_reads_a_url_and_warns_when_they_do_not_fit() {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let addr = server.server_addr().to_ip().unwrap();
    let document = latest();
    std::thread::spawn(move || {
        for request in server.incoming_requests() {
            let _ = request.respond(tiny_http::Response::from_data(document.clone()));
        }
    });
    let url = format!("http://{addr}/ip-ranges.json");
    // No AWS is read: an endpoint nobody answers at changes nothing.
    let sgsync = Sgsync::new("http://127.0.0.1:1");
    let out = sgsync
        .clone()
        .env("PORTS", "80,443")
        .env("IP_VERSIONS", "ipv4,ipv6")
        .run(&["ranges", "--ip-ranges", &url, "--output", "json"])
        .ok();
    let report = out.json();
    assert_eq!(report["cidrs"]["ipv4"].as_array().unwrap().len(), 180);
    assert_eq!(report["cidrs"]["ipv6"].as_array().unwrap().len(), 31);
    assert!(
        report["cidrs"]["ipv4"]
            .as_array()
            .unwrap()
            .contains(&"13.32.0.0/15".into())
    );
    assert_eq!(report["groups_needed"], 6);
    let warnings = report["warnings"].to_string();
    assert!(
        warnings.contains("6 groups are needed") && warnings.contains("5 groups a target takes"),
        "{warnings}"
    );

    // Text: the CIDRs one per line, and the prefix lists' weight when KINDS names them.
    let out = sgsync
        .env("KINDS", "prefix-lists")
        .run(&["ranges", "--ip-ranges", &url])
        .ok();
    assert!(out.stdout.contains("\n  13.32.0.0/15\n"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("warning: the 4 IPv4 prefix lists weigh 200 rules together"),
        "{}",
        out.stdout
    );

    // A URL nothing answers at: the download's error, as for `plan`.
    let out = Sgsync::new("http://127.0.0.1:1").run(&[
        "ranges",
        "--ip-ranges",
        "http://127.0.0.1:1/ip-ranges.json",
    ]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr
            .contains("downloading http://127.0.0.1:1/ip-ranges.json failed"),
        "{out:?}"
    );
}

/// Help that fits the task: each command lists the settings that concern it (the advanced ones and
/// the others' are accepted as variables, not shown) on one screen, with examples; completions and a
/// manual page come from the same definitions, and the manual lists every setting.
#[test]
fn each_help_fits_a_screen_and_the_manual_lists_every_setting() {
    let sgsync = Sgsync::new("http://127.0.0.1:1");
    for command in [
        "ranges",
        "plan",
        "apply",
        "status",
        "lambda",
        "completions",
        "man",
    ] {
        let out = sgsync.run(&[command, "--help"]).ok();
        let lines = out.stdout.lines().count();
        assert!(
            lines < 40,
            "sgsync {command} --help is {lines} lines:\n{}",
            out.stdout
        );
        assert!(
            out.stdout.lines().all(|l| l.chars().count() <= 100),
            "sgsync {command} --help is wider than 100 columns:\n{}",
            out.stdout
        );
    }
    let plan = sgsync.run(&["plan", "--help"]).ok().stdout;
    assert!(plan.contains("Examples:") && plan.contains("--detailed-exitcode"));
    assert!(
        !plan.contains("--widest-ipv4-prefix"),
        "an advanced setting is listed"
    );
    let ranges = sgsync.run(&["ranges", "--help"]).ok().stdout;
    assert!(
        !ranges.contains("--fleet") && !ranges.contains("--waf-scope"),
        "{ranges}"
    );

    // A setting that does not concern a command is not its flag; as a variable it is read as ever.
    let out = sgsync.run(&["ranges", "--fleet", "fleet.toml"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains("unexpected argument '--fleet'"),
        "{out:?}"
    );
    // A mistyped command line is an error (1), never "changes" (2), and one JSON document on stdout
    // when JSON was asked for.
    let out = sgsync.run(&["plan", "--detailed-exitcode", "--bogus", "--output", "json"]);
    assert_eq!(out.code, 1, "{out:?}");
    let doc = out.json();
    assert_eq!(doc["error"]["kind"], "usage", "{doc}");
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--bogus")
    );
    assert_eq!(sgsync.run(&["--version"]).code, 0);
    let doc = fixture("ip-ranges/latest.json");
    let doc = doc.to_str().unwrap();
    // An advanced setting, hidden from the help, still works as a flag.
    let quota = sgsync
        .run(&[
            "ranges",
            "--ip-ranges",
            doc,
            "--rules-per-group",
            "30",
            "--output",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(quota["groups_needed"], 6);

    let man = sgsync.run(&["man"]).ok().stdout;
    // Each command's flags are in it, and no page it does not have is named.
    assert!(
        man.contains(".SS sgsync plan") && man.contains("detailed\\-exitcode"),
        "{man}"
    );
    assert!(!man.contains("sgsync\\-plan(1)"), "{man}");
    assert!(man.starts_with(".ie") || man.starts_with(".TH"), "not roff");
    for name in sgsync::config::VARIABLES {
        assert!(
            man.contains(&format!("\\fB{name}\\fR")),
            "the manual lacks {name}"
        );
    }
    assert!(man.contains("SGSYNC_LOG") && man.contains("EXIT STATUS"));
    for shell in ["bash", "zsh", "fish"] {
        let script = sgsync.run(&["completions", shell]).ok().stdout;
        assert!(
            script.contains("sgsync") && script.contains("detailed-exitcode"),
            "{shell}: {script}"
        );
    }
}

/// Approved plans: `plan --out FILE` writes the plan with what it was computed from; `apply --plan
/// FILE` applies exactly that plan, or changes nothing and says what moved (the world, a setting,
/// the document). On a terminal, `apply` shows the plan and applies it only on "yes".
#[tokio::test(flavor = "multi_thread")]
async fn an_approved_plan_is_applied_exactly_or_not_at_all() {
    let aws = Aws::start().await;
    let eni = aws.create_interface(&[]).await;
    aws.tag_target(&eni, "AUTOUPDATE").await;
    let dir = tempfile::tempdir().unwrap();
    let first = doc_file(&dir, "first.json", small_document(1_700_000_000, 0..30));
    let second = doc_file(&dir, "second.json", small_document(1_700_000_100, 0..40));
    let plan = dir.path().join("change.plan");
    let plan = plan.to_str().unwrap();
    let sgsync = aws.sgsync();

    // Reviewed, then applied: exactly that.
    let out = sgsync
        .run(&["plan", "--ip-ranges", &first, "--out", plan])
        .ok();
    assert!(
        out.stdout.contains("apply it with `sgsync apply --plan"),
        "{out:?}"
    );
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(plan).unwrap()).unwrap();
    assert_eq!(file["format"], "sgsync-plan/1");
    assert_eq!(file["document"]["synctoken"], 1_700_000_000);
    assert_eq!(file["settings"]["PORTS"], "80");
    assert_eq!(file["plan"]["status"], "planned");
    assert!(
        aws.managed_groups("AUTOUPDATE").await.is_empty(),
        "plan wrote"
    );
    let applied = sgsync
        .run(&["apply", "--plan", plan, "--output", "json"])
        .ok()
        .json();
    assert_eq!(applied["status"], "applied");
    assert_eq!(
        aws.allowed(&aws.interface_groups(&eni).await).await.len(),
        30
    );

    // The world moved between the review and the apply: nothing is changed.
    sgsync
        .run(&["plan", "--ip-ranges", &second, "--out", plan])
        .ok();
    let third = doc_file(&dir, "third.json", small_document(1_700_000_050, 0..35));
    sgsync.run(&["apply", "--ip-ranges", &third]).ok();
    let before = aws.allowed(&aws.interface_groups(&eni).await).await;
    aws.proxy.clear();
    let out = sgsync.run(&["apply", "--plan", plan]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains("the approved plan no longer matches"),
        "{out:?}"
    );
    assert!(
        writes(&aws.proxy.calls()).is_empty(),
        "{:?}",
        writes(&aws.proxy.calls())
    );
    assert_eq!(aws.allowed(&aws.interface_groups(&eni).await).await, before);

    // A setting changed since the review.
    sgsync
        .run(&["plan", "--ip-ranges", &second, "--out", plan])
        .ok();
    let out = sgsync
        .clone()
        .env("PORTS", "443")
        .run(&["apply", "--plan", plan]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("PORTS was '80', is '443'"), "{out:?}");
    // The document changed on disk.
    std::fs::write(&second, small_document(1_700_000_100, 0..41)).unwrap();
    let out = sgsync.run(&["apply", "--plan", plan]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("MD5 mismatch"), "{out:?}");
    assert_eq!(aws.allowed(&aws.interface_groups(&eni).await).await, before);
    // Not a plan.
    let out = sgsync.run(&["apply", "--plan", &second]);
    assert!(
        out.stderr.contains("is not a plan of `sgsync plan --out`"),
        "{out:?}"
    );

    // On a terminal: shown, asked, applied only on "yes".
    let fourth = doc_file(&dir, "fourth.json", small_document(1_700_000_200, 0..45));
    let out = sgsync.run_in_terminal(&["apply", "--ip-ranges", &fourth], "no\n");
    assert!(out.stdout.contains("Apply these changes?"), "{out:?}");
    assert!(out.stdout.contains("nothing was changed"), "{out:?}");
    assert_eq!(aws.allowed(&aws.interface_groups(&eni).await).await, before);
    let out = sgsync.run_in_terminal(&["apply", "--ip-ranges", &fourth], "yes\n");
    assert!(out.stdout.contains("applied"), "{out:?}");
    assert_eq!(
        aws.allowed(&aws.interface_groups(&eni).await).await.len(),
        45
    );
    // Not a terminal (scripts, CI, the function): never asks.
    let out = sgsync.run(&["apply", "--ip-ranges", &fourth]).ok();
    assert!(!out.stdout.contains("Apply these changes?"));
}

/// Output cut short by a closed pipe (`sgsync ranges | head -1`) ends the process quietly: no panic.
#[test]
fn a_closed_pipe_ends_quietly() {
    let doc = fixture("ip-ranges/latest.json");
    let bin = env!("CARGO_BIN_EXE_sgsync");
    for args in [
        format!(
            "{bin} ranges --ip-ranges {} --ip-versions ipv4,ipv6",
            doc.display()
        ),
        format!("{bin} completions zsh"),
        format!("{bin} man"),
    ] {
        for _ in 0..3 {
            let out = std::process::Command::new("sh")
                .args(["-c", &format!("{args} | head -1 >/dev/null")])
                .env_remove("AWS_LAMBDA_RUNTIME_API")
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
                "{args}: {stderr}"
            );
        }
    }
}
