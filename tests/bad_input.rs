//! Bad input changes nothing: each case exits non-zero with a message that says what was wrong and what
//! to do, and moto sees no write (the proxy records every call).

mod support;

use support::*;

/// The real document with CLOUDFRONT ranges added (both families) and another syncToken.
fn with_ranges(synctoken: u64, v4: &[&str], v6: &[&str]) -> Vec<u8> {
    let mut doc: serde_json::Value =
        serde_json::from_slice(&edited_document(&latest(), synctoken, &[], v4)).unwrap();
    for net in v6 {
        doc["ipv6_prefixes"].as_array_mut().unwrap().push(serde_json::json!({
            "ipv6_prefix": net, "region": "GLOBAL", "service": "CLOUDFRONT", "network_border_group": "GLOBAL"
        }));
    }
    serde_json::to_vec(&doc).unwrap()
}

fn write(dir: &tempfile::TempDir, name: &str, bytes: impl AsRef<[u8]>) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_str().unwrap().to_string()
}

/// Runs sgsync, expects a one-line `error:` naming `needles`, and no write at all.
fn refused(aws: &Aws, sgsync: &Sgsync, args: &[&str], needles: &[&str]) {
    aws.proxy.clear();
    let out = sgsync.run(args);
    assert_ne!(out.code, 0, "{args:?} succeeded: {out:?}");
    let line = out
        .stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error line: {out:?}"));
    for needle in needles {
        assert!(line.contains(needle), "{args:?}: {needle:?} not in {line}");
    }
    assert!(
        writes(&aws.proxy.calls()).is_empty(),
        "{args:?} wrote: {:?}",
        writes(&aws.proxy.calls())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_documents_events_and_settings_change_nothing() {
    let aws = Aws::start().await;
    let files = FileServer::start();
    files.put("/ip-ranges.json", latest());
    let url = files.url("/ip-ranges.json");
    let sgsync = aws.sgsync().env("IP_RANGES_URL", &url);
    let dir = tempfile::tempdir().unwrap();

    // A first, good sync so that there is something to protect.
    let good = write(
        &dir,
        "good.json",
        sns_event(&url, LATEST_MD5, LATEST_SYNCTOKEN),
    );
    sgsync.run(&["apply", "--event", &good]).ok();
    let before = aws.all_groups().await;

    let mismatch = write(
        &dir,
        "md5.json",
        sns_event(&url, "0123456789abcdef0123456789abcdef", LATEST_SYNCTOKEN),
    );
    refused(
        &aws,
        &sgsync,
        &["apply", "--event", &mismatch],
        &[
            "MD5 mismatch: got 63431d35877fa5386ded1a7df9cfa971 expected 0123456789abcdef0123456789abcdef",
        ],
    );

    // The blog's test event: no URL (the configured one is used), a placeholder MD5 and synctoken
    // 0123456789. The document downloaded is newer than that notification, so it supersedes it.
    let blog = fixture("events/sns-blog-test-event.json");
    let out = sgsync
        .run(&[
            "apply",
            "--event",
            blog.to_str().unwrap(),
            "--output",
            "json",
        ])
        .ok();
    assert_eq!(out.json()["status"], "unchanged");
    assert!(
        out.stderr.contains("supersedes the notification"),
        "{out:?}"
    );

    // The same synctoken with another MD5 is a corrupt document.
    let same_token = write(
        &dir,
        "same.json",
        sns_event(&url, "0123456789abcdef0123456789abcdef", LATEST_SYNCTOKEN),
    );
    refused(
        &aws,
        &sgsync,
        &["apply", "--event", &same_token],
        &["MD5 mismatch"],
    );

    // A notification newer than what the server has (a stale cache): retried, then a failure.
    let ahead = write(
        &dir,
        "ahead.json",
        sns_event(&url, "0123456789abcdef0123456789abcdef", 1787411999),
    );
    let before_hits = files.hits("/ip-ranges.json");
    refused(
        &aws,
        &sgsync,
        &["apply", "--event", &ahead],
        &["MD5 mismatch"],
    );
    assert_eq!(
        files.hits("/ip-ranges.json") - before_hits,
        4,
        "one download and three retries"
    );

    let hits = files.hits("/ip-ranges.json");
    let foreign = write(
        &dir,
        "foreign.json",
        sns_event("http://127.0.0.1:9/evil.json", LATEST_MD5, LATEST_SYNCTOKEN),
    );
    refused(
        &aws,
        &sgsync,
        &["apply", "--event", &foreign],
        &[
            "refusing to download from http://127.0.0.1:9/evil.json",
            "IP_RANGES_URL",
        ],
    );
    assert_eq!(
        files.hits("/ip-ranges.json"),
        hits,
        "a foreign URL must not be downloaded"
    );

    let truncated = write(&dir, "truncated.json", &latest()[..1_000_000]);
    refused(
        &aws,
        &sgsync,
        &["apply", "--ip-ranges", &truncated],
        &["truncated", "download it again"],
    );

    let host_bits = edited_document(&latest(), 1787411826, &[], &["120.52.22.97/27"]);
    let host_bits = write(&dir, "host-bits.json", &host_bits);
    refused(
        &aws,
        &sgsync,
        &["apply", "--ip-ranges", &host_bits],
        &["120.52.22.97/27", "host bits", "120.52.22.96/27"],
    );

    let wide = edited_document(&latest(), 1787411826, &[], &["0.0.0.0/0"]);
    let wide = write(&dir, "wide.json", &wide);
    refused(
        &aws,
        &sgsync,
        &["apply", "--ip-ranges", &wide],
        &["0.0.0.0/0", "WIDEST_IPV4_PREFIX"],
    );

    let not_json = write(&dir, "page.json", b"<html>Service Unavailable</html>");
    refused(
        &aws,
        &sgsync,
        &["apply", "--ip-ranges", &not_json],
        &["not valid"],
    );

    refused(
        &aws,
        &sgsync.clone().env("PORTS", "80,https"),
        &["apply", "--event", &good],
        &["PORTS", "https", "80,443"],
    );
    refused(
        &aws,
        &sgsync.clone().env("SERVICE", "CLOUDFRONT,CLOUDFRNT"),
        &["apply", "--event", &good],
        &[
            "SERVICE 'CLOUDFRNT' is not a service",
            "nearest first: CLOUDFRONT, ",
        ],
    );
    // A region typo would silently drop most ranges.
    refused(
        &aws,
        &sgsync.clone().env("SERVICE_REGIONS", "GLOBAL,us-east1"),
        &["apply", "--event", &good],
        &[
            "SERVICE_REGIONS 'us-east1' is not a region of CLOUDFRONT",
            "nearest first: us-east-1, ",
        ],
    );

    // Capacity: dual stack on two ports needs 360 IPv4 + 62 IPv6 rules, 6 groups; 5 × 60 per family fit.
    refused(
        &aws,
        &sgsync
            .clone()
            .env("IP_VERSIONS", "ipv4,ipv6")
            .env("PORTS", "80,443"),
        &["apply", "--event", &good],
        &[
            "360 IPv4 + 62 IPv6 rules need 6 groups",
            "at most 300 rules of each family",
            "CLOUDFRONT_ORIGIN_FACING",
        ],
    );

    // A PORTS change keeps every CIDR and removes every rule: the removal guard counts rules.
    refused(
        &aws,
        &sgsync.clone().env("PORTS", "8080"),
        &["apply", "--event", &good],
        &["would remove 180 of the 180 rules", "--force"],
    );

    // Ranges no AWS service is reached from: the document is corrupt, and no flag lets it through.
    let dual = sgsync.clone().env("IP_VERSIONS", "ipv4,ipv6");
    for (v4, v6, needle) in [
        (&["10.0.0.0/8"][..], &[][..], "private-use"),
        (&[], &["::ffff:0:0/96"], "IPv4-mapped"),
        (&[], &["2002::/16"], "6to4"),
    ] {
        let doc = with_ranges(LATEST_SYNCTOKEN + 1, v4, v6);
        let file = write(&dir, "special.json", &doc);
        refused(
            &aws,
            &dual,
            &["apply", "--ip-ranges", &file],
            &[needle, "corrupt"],
        );
        refused(
            &aws,
            &dual,
            &["apply", "--ip-ranges", &file, "--force"],
            &[needle],
        );
    }
    // 128 separate /16s pass the width check, not the bound on the address space one document adds
    // (2^23 addresses beside the 2^22 applied).
    let public: Vec<String> = (1..=223u32)
        .filter(|i| ![10, 100, 127, 169, 172, 192, 198, 203].contains(i))
        .take(128)
        .map(|i| format!("{i}.1.0.0/16"))
        .collect();
    let public: Vec<&str> = public.iter().map(String::as_str).collect();
    let wide = write(
        &dir,
        "wide.json",
        with_ranges(LATEST_SYNCTOKEN + 1, &public, &[]),
    );
    refused(
        &aws,
        &sgsync,
        &["apply", "--ip-ranges", &wide],
        &["would add 8388608 IPv4 addresses", "--force"],
    );

    // The document comes over HTTPS, or from this machine.
    refused(
        &aws,
        &sgsync.clone().env(
            "IP_RANGES_URL",
            "http://ip-ranges.amazonaws.com/ip-ranges.json",
        ),
        &["apply"],
        &["IP_RANGES_URL", "https"],
    );
    // An absurd value is quoted by its start and its length, not echoed whole.
    let huge = "a".repeat(200_000);
    let flood = write(&dir, "flood.json", sns_event(&url, &huge, LATEST_SYNCTOKEN));
    aws.proxy.clear();
    let out = sgsync.run(&["apply", "--event", &flood]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.len() < 2_000 && out.stderr.contains("(200000 bytes)"),
        "{} bytes of error",
        out.stderr.len()
    );

    // A large shrink needs --force.
    let keep: Vec<String> = expected_rules(&latest(), "80", false)
        .into_iter()
        .take(30)
        .map(|r| r.split(' ').next().unwrap().to_string())
        .collect();
    let all_cf: Vec<String> = {
        let doc: serde_json::Value = serde_json::from_slice(&latest()).unwrap();
        doc["prefixes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["service"] == "CLOUDFRONT")
            .map(|p| p["ip_prefix"].as_str().unwrap().to_string())
            .collect()
    };
    let remove: Vec<&str> = all_cf
        .iter()
        .filter(|p| !keep.iter().any(|k| k == *p))
        .map(String::as_str)
        .collect();
    let shrunk = write(
        &dir,
        "shrunk.json",
        edited_document(&latest(), 1787411827, &remove, &[]),
    );
    refused(
        &aws,
        &sgsync,
        &["apply", "--ip-ranges", &shrunk],
        &["would remove", "--force"],
    );

    assert_eq!(
        aws.all_groups().await,
        before,
        "a refused run changed the groups"
    );

    // An older document is skipped, not an error, and changes nothing.
    let older = write(
        &dir,
        "older.json",
        edited_document(&latest(), 1700000000, &["13.32.0.0/15"], &[]),
    );
    aws.proxy.clear();
    let out = sgsync
        .run(&["apply", "--ip-ranges", &older, "--output", "json"])
        .ok();
    assert_eq!(out.json()["status"], "skipped");
    assert!(writes(&aws.proxy.calls()).is_empty());
    assert_eq!(aws.all_groups().await, before);

    // With --force the shrink goes through, in make-before-break order.
    aws.proxy.clear();
    let out = sgsync
        .run(&[
            "apply",
            "--ip-ranges",
            &shrunk,
            "--force",
            "--output",
            "json",
        ])
        .ok();
    assert_eq!(out.json()["status"], "applied");
    let shrunk_doc = edited_document(&latest(), 1787411827, &remove, &[]);
    assert_make_before_break(
        &aws.proxy.calls(),
        &expected_rules(&shrunk_doc, "80", false),
    );
    assert!(writes(&aws.proxy.calls()).contains(&"RevokeSecurityGroupIngress".to_string()));
}
