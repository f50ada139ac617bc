//! Offline costs on the real 2.6 MB document: MD5, parsing, selection and aggregation, rules, planning,
//! and the whole offline pipeline; next to the floors (MD5 alone, a bare serde_json parse into
//! `IgnoredAny`). `make bench` runs this and writes the results into BENCHMARKS.md.

use divan::{Bencher, black_box};
use ipnet::Ipv4Net;
use serde::de::IgnoredAny;

use sgsync::formats::{Format, Source};
use sgsync::ranges::{IpVersions, Selection, select};
use sgsync::rule::{PortRange, Rule, desired_rules};
use sgsync::security_groups::{Desired, Observed, TargetId, plan};
use sgsync::source::{self, Document};
use sgsync::testkit::{fixtures, groups::check_run};

fn main() {
    divan::main();
}

fn latest() -> Vec<u8> {
    std::fs::read(fixtures().join("ip-ranges/latest.json")).unwrap()
}

fn cloudfront() -> Selection {
    Selection {
        services: vec!["CLOUDFRONT".into()],
        regions: None,
        ip_versions: IpVersions {
            v4: true,
            v6: false,
        },
    }
}

fn desired(bytes: &[u8]) -> Desired {
    let set = select(bytes, &cloudfront()).unwrap();
    Desired {
        rules: desired_rules(&set.ipv4, &set.ipv6, &[PortRange::single(80)]),
        synctoken: set.synctoken,
        group_stem: "AUTOUPDATE-cloudfront".into(),
        repack: false,
        published: None,
    }
}

/// Floor: MD5 of the document (the notification's check cannot be skipped).
#[divan::bench]
fn floor_md5(b: Bencher) {
    let bytes = latest();
    b.bench(|| source::md5_hex(black_box(&bytes)));
}

/// Floor: serde_json walking the whole document without keeping anything.
#[divan::bench]
fn floor_parse_ignored(b: Bencher) {
    let bytes = latest();
    b.bench(|| serde_json::from_slice::<IgnoredAny>(black_box(&bytes)).unwrap());
}

/// Parse, filter CLOUDFRONT, check every selected prefix, aggregate.
#[divan::bench]
fn select_cloudfront(b: Bencher) {
    let bytes = latest();
    let selection = cloudfront();
    b.bench(|| select(black_box(&bytes), &selection).unwrap());
}

/// Another provider's real document (tests/fixtures/sources), read as a deployment of that source
/// reads it: parse, select, check every selected prefix, aggregate.
fn source(b: Bencher, format: Format, file: &str, services: &[&str]) {
    let bytes = std::fs::read(fixtures().join("sources").join(file)).unwrap();
    let selection = Selection {
        services: services.iter().map(|s| s.to_string()).collect(),
        regions: None,
        ip_versions: IpVersions { v4: true, v6: true },
    };
    b.bench(|| {
        sgsync::select_document(Source::Format(format), black_box(&bytes), &selection, 1).unwrap()
    });
}

/// Google Cloud's cloud.json (2026-01-26, 100 KB), all of it.
#[divan::bench]
fn source_google(b: Bencher) {
    source(b, Format::Google, "google/cloud-2026-01-26.json", &[]);
}

/// GitHub's meta (123 KB), `actions`: thousands of prefixes.
#[divan::bench]
fn source_github(b: Bencher) {
    source(b, Format::Github, "github/meta.json", &["actions"]);
}

/// Cloudflare's IPs.
#[divan::bench]
fn source_cloudflare(b: Bencher) {
    source(b, Format::Cloudflare, "cloudflare/ips.json", &[]);
}

/// Fastly's public IP list.
#[divan::bench]
fn source_fastly(b: Bencher) {
    source(b, Format::Fastly, "fastly/public-ip-list.json", &[]);
}

/// Oracle's public_ip_ranges.json (118 KB), all of it.
#[divan::bench]
fn source_oracle(b: Bencher) {
    source(b, Format::Oracle, "oracle/public_ip_ranges.json", &[]);
}

/// An excerpt of Azure's Service Tags (44 KB), `AzureFrontDoor.Backend`.
#[divan::bench]
fn source_azure(b: Bencher) {
    source(
        b,
        Format::Azure,
        "azure/ServiceTags_Public_excerpt.json",
        &["AzureFrontDoor.Backend"],
    );
}

/// Cloudflare's ips-v4 as a text list.
#[divan::bench]
fn source_text(b: Bencher) {
    source(b, Format::Text, "text/ips-v4.txt", &[]);
}

/// Aggregation alone, on CloudFront's 211 IPv4 prefixes.
#[divan::bench]
fn aggregate(b: Bencher) {
    let doc: serde_json::Value = serde_json::from_slice(&latest()).unwrap();
    let nets: Vec<Ipv4Net> = doc["prefixes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["service"] == "CLOUDFRONT")
        .map(|p| p["ip_prefix"].as_str().unwrap().parse().unwrap())
        .collect();
    b.bench(|| Ipv4Net::aggregate(black_box(&nets)));
}

/// Planning the first sync: 180 rules into 3 new groups.
#[divan::bench]
fn plan_from_empty(b: Bencher) {
    let d = desired(&latest());
    let observed = Observed::default();
    b.bench(|| plan(black_box(&d), &observed).unwrap());
}

/// Planning a one-prefix change against 3 full groups attached to a target.
#[divan::bench]
fn plan_incremental(b: Bencher) {
    let d = desired(&latest());
    let first = plan(&d, &Observed::default()).unwrap();
    let mut world = check_run(&Observed::default(), &d, &first).unwrap();
    let ids: Vec<String> = world.groups.values().map(|g| g.id.clone()).collect();
    world
        .targets
        .insert(TargetId::Interface("eni-1".into()), ids);
    let observed = world.observe();
    let mut next = d.clone();
    let first_rule = *next.rules.iter().next().unwrap();
    next.rules.remove(&first_rule);
    next.rules.insert(Rule {
        net: "15.230.8.0/24".parse().unwrap(),
        ports: PortRange::single(80),
    });
    next.synctoken += 1;
    b.bench(|| plan(black_box(&next), &observed).unwrap());
}

/// The whole offline pipeline as `sgsync apply --ip-ranges FILE --md5 HEX` runs it before any AWS
/// call: MD5 check, select, rules, plan (from empty). The file is already in memory.
#[divan::bench]
fn pipeline(b: Bencher) {
    let bytes = latest();
    let md5 = source::md5_hex(&bytes);
    let selection = cloudfront();
    // The copy of the input is made outside the timing: a download hands its buffer over.
    b.with_inputs(|| bytes.clone()).bench_local_values(|bytes| {
        let doc = Document::new(black_box(bytes), "bench");
        let (check, set) =
            sgsync::verified_selection(&doc, Some(&md5), sgsync::formats::Source::Aws, &selection);
        check.unwrap();
        let set = set.unwrap();
        let d = Desired {
            rules: desired_rules(&set.ipv4, &set.ipv6, &[PortRange::single(80)]),
            synctoken: set.synctoken,
            group_stem: "AUTOUPDATE-cloudfront".into(),
            repack: false,
            published: None,
        };
        let p = plan(&d, &Observed::default()).unwrap();
        black_box(p.actions.len())
    });
}
