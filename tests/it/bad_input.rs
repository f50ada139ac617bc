//! Bad input changes nothing: each case exits non-zero with a message that says what was wrong and what
//! to do, and moto sees no write (each test records its own calls through its own proxy).
//!
//! The cases share one emulator, synced once with the real document so that there is something to
//! protect: none of them may write, so they cannot disturb each other. The one case that writes on
//! purpose (a forced shrink) has an emulator of its own.

use std::sync::OnceLock;

use crate::support::proxy::FaultProxy;
use crate::support::*;

/// The shared emulator, synced with the real document, and the documents' server.
struct Synced {
    moto: Moto,
    files: FileServer,
    dir: tempfile::TempDir,
    /// The configured document's URL.
    url: String,
    /// The notification of the real document.
    good: String,
}

fn synced() -> &'static Synced {
    static SYNCED: OnceLock<Synced> = OnceLock::new();
    SYNCED.get_or_init(|| {
        let moto = Moto::start();
        let files = FileServer::start();
        files.put("/ip-ranges.json", latest());
        let url = files.url("/ip-ranges.json");
        let dir = tempfile::tempdir().unwrap();
        let good = write(
            &dir,
            "good.json",
            sns_event(&url, LATEST_MD5, LATEST_SYNCTOKEN),
        );
        let proxy = FaultProxy::start(&moto.endpoint());
        let first = Sgsync::new(&proxy.endpoint())
            .env("IP_RANGES_URL", &url)
            .run(&["apply", "--event", &good, "--output", "json"])
            .ok();
        assert_eq!(first.json()["status"], "applied");
        Synced {
            moto,
            files,
            dir,
            url,
            good,
        }
    })
}

/// A proxy of the test's own in front of the shared emulator, and sgsync pointed through it.
fn client() -> (FaultProxy, Sgsync) {
    let shared = synced();
    let proxy = FaultProxy::start(&shared.moto.endpoint());
    let sgsync = Sgsync::new(&proxy.endpoint()).env("IP_RANGES_URL", &shared.url);
    (proxy, sgsync)
}

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

/// A file of the test's own in the shared folder.
fn file(name: &str, bytes: impl AsRef<[u8]>) -> String {
    write(&synced().dir, name, bytes)
}

/// Runs sgsync, expects a one-line `error:` naming `needles`, and no write at all.
fn refused(proxy: &FaultProxy, sgsync: &Sgsync, args: &[&str], needles: &[&str]) {
    proxy.clear();
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
        writes(&proxy.calls()).is_empty(),
        "{args:?} wrote: {:?}",
        writes(&proxy.calls())
    );
}

/// Runs the notification of the real document under `sgsync` with one more setting, expecting a refusal.
fn setting_refused(variable: &str, value: &str, needles: &[&str]) {
    let (proxy, sgsync) = client();
    let sgsync = sgsync.env(variable, value);
    refused(
        &proxy,
        &sgsync,
        &["apply", "--event", &synced().good],
        needles,
    );
}

#[test]
fn a_notification_whose_md5_differs_from_the_document() {
    let (proxy, sgsync) = client();
    let event = file(
        "md5.json",
        sns_event(
            &synced().url,
            "0123456789abcdef0123456789abcdef",
            LATEST_SYNCTOKEN,
        ),
    );
    refused(
        &proxy,
        &sgsync,
        &["apply", "--event", &event],
        &[
            "MD5 mismatch: got 63431d35877fa5386ded1a7df9cfa971 expected 0123456789abcdef0123456789abcdef",
        ],
    );
}

/// The blog's test event: no URL (the configured one is used), a placeholder MD5 and synctoken
/// 0123456789. The document downloaded is newer than that notification, so it supersedes it.
#[test]
fn the_blogs_test_event_is_superseded_by_the_newer_document() {
    let (proxy, sgsync) = client();
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
    assert!(writes(&proxy.calls()).is_empty());
}

/// A notification newer than what the server has (a stale cache): downloaded again three times, then
/// a failure. A path of its own, so that the download count is this test's alone.
#[test]
fn a_notification_newer_than_the_servers_document_is_retried_then_refused() {
    let (proxy, sgsync) = client();
    let shared = synced();
    shared.files.put("/ahead/ip-ranges.json", latest());
    let url = shared.files.url("/ahead/ip-ranges.json");
    let event = file(
        "ahead.json",
        sns_event(&url, "0123456789abcdef0123456789abcdef", 1787411999),
    );
    refused(
        &proxy,
        &sgsync.env("IP_RANGES_URL", &url),
        &["apply", "--event", &event],
        &["MD5 mismatch"],
    );
    assert_eq!(
        shared.files.hits("/ahead/ip-ranges.json"),
        4,
        "one download and three retries"
    );
}

#[test]
fn a_notification_pointing_elsewhere_is_never_downloaded() {
    let (proxy, sgsync) = client();
    let event = file(
        "foreign.json",
        sns_event("http://127.0.0.1:9/evil.json", LATEST_MD5, LATEST_SYNCTOKEN),
    );
    refused(
        &proxy,
        &sgsync,
        &["apply", "--event", &event],
        &[
            "refusing to download from http://127.0.0.1:9/evil.json",
            "IP_RANGES_URL",
        ],
    );
    assert_eq!(
        synced().files.hits("/evil.json"),
        0,
        "a foreign URL must not be downloaded"
    );
}

#[test]
fn a_truncated_document() {
    let (proxy, sgsync) = client();
    let truncated = file("truncated.json", &latest()[..1_000_000]);
    refused(
        &proxy,
        &sgsync,
        &["apply", "--ip-ranges", &truncated],
        &["truncated", "download it again"],
    );
}

#[test]
fn a_prefix_with_host_bits() {
    let (proxy, sgsync) = client();
    let doc = edited_document(&latest(), 1787411826, &[], &["120.52.22.97/27"]);
    let doc = file("host-bits.json", &doc);
    refused(
        &proxy,
        &sgsync,
        &["apply", "--ip-ranges", &doc],
        &["120.52.22.97/27", "host bits", "120.52.22.96/27"],
    );
}

#[test]
fn a_range_wider_than_the_limit() {
    let (proxy, sgsync) = client();
    let doc = edited_document(&latest(), 1787411826, &[], &["0.0.0.0/0"]);
    let doc = file("wide-0.json", &doc);
    refused(
        &proxy,
        &sgsync,
        &["apply", "--ip-ranges", &doc],
        &["0.0.0.0/0", "WIDEST_IPV4_PREFIX"],
    );
}

#[test]
fn an_html_page_instead_of_json() {
    let (proxy, sgsync) = client();
    let page = file("page.json", b"<html>Service Unavailable</html>");
    refused(
        &proxy,
        &sgsync,
        &["apply", "--ip-ranges", &page],
        &["not valid"],
    );
}

#[test]
fn a_port_that_is_not_a_number() {
    setting_refused("PORTS", "80,https", &["PORTS", "https", "80,443"]);
}

#[test]
fn a_service_typo() {
    setting_refused(
        "SERVICE",
        "CLOUDFRONT,CLOUDFRNT",
        &[
            "SERVICE 'CLOUDFRNT' is not a service",
            "nearest first: CLOUDFRONT, ",
        ],
    );
}

/// A region typo would silently drop most ranges.
#[test]
fn a_region_typo() {
    setting_refused(
        "SERVICE_REGIONS",
        "GLOBAL,us-east1",
        &[
            "SERVICE_REGIONS 'us-east1' is not a region of CLOUDFRONT",
            "nearest first: us-east-1, ",
        ],
    );
}

/// Dual stack on two ports needs 360 IPv4 + 62 IPv6 rules, 6 groups; 5 × 60 per family fit.
#[test]
fn a_selection_over_the_capacity_of_the_targets() {
    let (proxy, sgsync) = client();
    let sgsync = sgsync
        .env("IP_VERSIONS", "ipv4,ipv6")
        .env("PORTS", "80,443");
    refused(
        &proxy,
        &sgsync,
        &["apply", "--event", &synced().good],
        &[
            "360 IPv4 + 62 IPv6 rules need 6 groups",
            "at most 300 rules of each family",
            "CLOUDFRONT_ORIGIN_FACING",
        ],
    );
}

/// A PORTS change keeps every CIDR and removes every rule: the removal guard counts rules.
#[test]
fn a_ports_change_that_removes_every_rule() {
    setting_refused(
        "PORTS",
        "8080",
        &["would remove 180 of the 180 IPv4 rules", "--force"],
    );
}

/// Ranges no AWS service is reached from: the document is corrupt, and no flag lets it through.
fn special_purpose(name: &str, v4: &[&str], v6: &[&str], needle: &str) {
    let (proxy, sgsync) = client();
    let dual = sgsync.env("IP_VERSIONS", "ipv4,ipv6");
    let doc = file(name, with_ranges(LATEST_SYNCTOKEN + 1, v4, v6));
    refused(
        &proxy,
        &dual,
        &["apply", "--ip-ranges", &doc],
        &[needle, "corrupt"],
    );
    refused(
        &proxy,
        &dual,
        &["apply", "--ip-ranges", &doc, "--force"],
        &[needle],
    );
}

#[test]
fn a_private_ipv4_range_even_with_force() {
    special_purpose("private.json", &["10.0.0.0/8"], &[], "private-use");
}

#[test]
fn an_ipv4_mapped_ipv6_range_even_with_force() {
    special_purpose("mapped.json", &[], &["::ffff:0:0/96"], "IPv4-mapped");
}

#[test]
fn a_6to4_range_even_with_force() {
    special_purpose("6to4.json", &[], &["2002::/16"], "6to4");
}

/// 128 separate /16s pass the width check, not the bound on the address space one document adds
/// (2^23 addresses beside the 2^22 applied).
#[test]
fn more_new_address_space_than_one_document_may_add() {
    let (proxy, sgsync) = client();
    let public: Vec<String> = (1..=223u32)
        .filter(|i| ![10, 100, 127, 169, 172, 192, 198, 203].contains(i))
        .take(128)
        .map(|i| format!("{i}.1.0.0/16"))
        .collect();
    let public: Vec<&str> = public.iter().map(String::as_str).collect();
    let doc = file(
        "space.json",
        with_ranges(LATEST_SYNCTOKEN + 1, &public, &[]),
    );
    refused(
        &proxy,
        &sgsync,
        &["apply", "--ip-ranges", &doc],
        &["would add 8388608 IPv4 addresses", "--force"],
    );
}

/// The document comes over HTTPS, or from this machine.
#[test]
fn a_plain_http_url_of_another_machine() {
    let (proxy, sgsync) = client();
    let sgsync = sgsync.env(
        "IP_RANGES_URL",
        "http://ip-ranges.amazonaws.com/ip-ranges.json",
    );
    refused(&proxy, &sgsync, &["apply"], &["IP_RANGES_URL", "https"]);
}

/// An absurd value is quoted by its start and its length, not echoed whole.
#[test]
fn an_absurd_md5_is_quoted_by_its_length() {
    let (proxy, sgsync) = client();
    let huge = "a".repeat(200_000);
    let flood = file(
        "flood.json",
        sns_event(&synced().url, &huge, LATEST_SYNCTOKEN),
    );
    let out = sgsync.run(&["apply", "--event", &flood]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.len() < 2_000 && out.stderr.contains("(200000 bytes)"),
        "{} bytes of error",
        out.stderr.len()
    );
    assert!(writes(&proxy.calls()).is_empty());
}

/// The real document keeping only its first 30 CLOUDFRONT IPv4 prefixes: a shrink of five sixths.
fn shrunk_document() -> Vec<u8> {
    let keep: Vec<String> = expected_rules(&latest(), "80", false)
        .into_iter()
        .take(30)
        .map(|r| r.split(' ').next().unwrap().to_string())
        .collect();
    let doc: serde_json::Value = serde_json::from_slice(&latest()).unwrap();
    let remove: Vec<String> = doc["prefixes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["service"] == "CLOUDFRONT")
        .map(|p| p["ip_prefix"].as_str().unwrap().to_string())
        .filter(|p| !keep.contains(p))
        .collect();
    let remove: Vec<&str> = remove.iter().map(String::as_str).collect();
    edited_document(&latest(), 1787411827, &remove, &[])
}

#[test]
fn a_large_shrink_needs_force() {
    let (proxy, sgsync) = client();
    let shrunk = file("shrunk.json", shrunk_document());
    refused(
        &proxy,
        &sgsync,
        &["apply", "--ip-ranges", &shrunk],
        &["would remove", "--force"],
    );
}

/// An older document is skipped, not an error, and changes nothing.
#[test]
fn an_older_document_is_skipped_and_changes_nothing() {
    let (proxy, sgsync) = client();
    let older = file(
        "older.json",
        edited_document(&latest(), 1700000000, &["13.32.0.0/15"], &[]),
    );
    let out = sgsync
        .run(&["apply", "--ip-ranges", &older, "--output", "json"])
        .ok();
    assert_eq!(out.json()["status"], "skipped");
    assert!(writes(&proxy.calls()).is_empty());
}

/// With --force the shrink goes through, in make-before-break order (an emulator of its own: it
/// writes).
#[tokio::test(flavor = "multi_thread")]
async fn a_forced_shrink_applies_in_make_before_break_order() {
    let aws = Aws::start().await;
    let sgsync = aws.sgsync();
    let dir = tempfile::tempdir().unwrap();
    let latest_file = write(&dir, "latest.json", latest());
    sgsync.run(&["apply", "--ip-ranges", &latest_file]).ok();
    let shrunk_doc = shrunk_document();
    let shrunk = write(&dir, "shrunk.json", &shrunk_doc);
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
    assert_make_before_break(
        &aws.proxy.calls(),
        &expected_rules(&shrunk_doc, "80", false),
    );
    assert!(writes(&aws.proxy.calls()).contains(&"RevokeSecurityGroupIngress".to_string()));
    let groups = aws.managed_groups("AUTOUPDATE").await;
    assert_eq!(union(&groups).0, expected_rules(&shrunk_doc, "80", false));
}
