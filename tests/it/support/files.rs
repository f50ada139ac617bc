//! Documents and where they are served from: the real ip-ranges.json, edited variants, SNS events
//! announcing them, and a real HTTP server on 127.0.0.1.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::fixture;

/// The real document (`tests/fixtures/ip-ranges/latest.json`), its published MD5 and its syncToken.
pub fn latest() -> Vec<u8> {
    std::fs::read(fixture("ip-ranges/latest.json")).unwrap()
}
pub const LATEST_MD5: &str = "63431d35877fa5386ded1a7df9cfa971";
pub const LATEST_SYNCTOKEN: u64 = 1787411825;

/// GitHub's `meta` document of 2025-10-30, a real capture (tests/fixtures/sources/PROVENANCE.md).
pub fn github_meta() -> Vec<u8> {
    std::fs::read(fixture("sources/github/meta-2025-10-30.json")).unwrap()
}

/// Its `hooks` ranges, checked by hand against the file.
pub const HOOKS_V4: [&str; 4] = [
    "140.82.112.0/20",
    "143.55.64.0/20",
    "185.199.108.0/22",
    "192.30.252.0/22",
];

/// A real HTTP server for documents, on 127.0.0.1; contents can change between runs.
pub struct FileServer {
    port: u16,
    files: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
    hits: Arc<Mutex<BTreeMap<String, usize>>>,
    answers: Arc<Mutex<Vec<Answer>>>,
    lie: Arc<std::sync::atomic::AtomicBool>,
    server: Arc<tiny_http::Server>,
}

/// One request a server with validators answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub path: String,
    /// The `If-None-Match` it carried.
    pub if_none_match: Option<String>,
    pub status: u16,
}

/// The `ETag` a server with validators gives `body`: its MD5, as S3 and CloudFront give.
pub fn etag_of(body: &[u8]) -> String {
    format!("\"{}\"", sgsync::source::md5_hex(body))
}

impl FileServer {
    /// Starts the server: no validators (no `ETag`, no `Last-Modified`), so nothing is cached.
    pub fn start() -> FileServer {
        FileServer::serve(false)
    }

    /// Starts a server that gives each body an `ETag` and answers `If-None-Match` as a provider's
    /// does, recording each request ([`FileServer::answers`]).
    pub fn with_etags() -> FileServer {
        FileServer::serve(true)
    }

    fn serve(etags: bool) -> FileServer {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let port = server.server_addr().to_ip().unwrap().port();
        let files: Arc<Mutex<BTreeMap<String, Vec<u8>>>> = Arc::default();
        let hits: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
        let answers: Arc<Mutex<Vec<Answer>>> = Arc::default();
        let lie: Arc<std::sync::atomic::AtomicBool> = Arc::default();
        let (s, f, h, a, l) = (
            server.clone(),
            files.clone(),
            hits.clone(),
            answers.clone(),
            lie.clone(),
        );
        std::thread::spawn(move || {
            for request in s.incoming_requests() {
                let path = request.url().to_string();
                *h.lock().unwrap().entry(path.clone()).or_default() += 1;
                let body = f.lock().unwrap().get(&path).cloned();
                let Some(body) = body else {
                    let _ = request.respond(tiny_http::Response::empty(404));
                    continue;
                };
                if !etags {
                    let _ = request.respond(tiny_http::Response::from_data(body));
                    continue;
                }
                let if_none_match = request
                    .headers()
                    .iter()
                    .find(|h| h.field.equiv("If-None-Match"))
                    .map(|h| h.value.to_string());
                let etag = etag_of(&body);
                // A lying server (a broken cache in front of the provider) calls any copy current.
                let matches = if_none_match.as_deref() == Some(etag.as_str());
                let lies = !matches
                    && if_none_match.is_some()
                    && l.load(std::sync::atomic::Ordering::SeqCst);
                let unchanged = matches || lies;
                let status = if unchanged { 304 } else { 200 };
                a.lock().unwrap().push(Answer {
                    path,
                    if_none_match: if_none_match.clone(),
                    status,
                });
                let header = format!("ETag: {etag}")
                    .parse::<tiny_http::Header>()
                    .unwrap();
                let _ = if lies {
                    // A broken cache in front, which echoes the tag it is asked about (its own
                    // memoised digest of an older body).
                    let echo = format!("ETag: {}", if_none_match.as_deref().unwrap_or_default())
                        .parse::<tiny_http::Header>()
                        .unwrap();
                    request.respond(tiny_http::Response::empty(304).with_header(echo))
                } else if unchanged {
                    request.respond(tiny_http::Response::empty(304).with_header(header))
                } else {
                    request.respond(tiny_http::Response::from_data(body).with_header(header))
                };
            }
        });
        FileServer {
            port,
            files,
            hits,
            answers,
            lie,
            server,
        }
    }

    /// What the server answered so far (a server with validators only).
    pub fn answers(&self) -> Vec<Answer> {
        self.answers.lock().unwrap().clone()
    }

    /// Makes the server answer 304 to any conditional request, naming the tag it was asked about,
    /// whatever it holds.
    pub fn lie_not_modified(&self, lie: bool) {
        self.lie.store(lie, std::sync::atomic::Ordering::SeqCst);
    }

    /// Serves `bytes` at `path`.
    pub fn put(&self, path: &str, bytes: Vec<u8>) {
        self.files.lock().unwrap().insert(path.to_string(), bytes);
    }

    /// The URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// How many requests `path` got.
    pub fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.server.unblock();
    }
}

/// An SNS event as Lambda delivers it, announcing a document.
pub fn sns_event(url: &str, md5: &str, synctoken: u64) -> String {
    let mut event: Value =
        serde_json::from_slice(&std::fs::read(fixture("events/sns-latest.json")).unwrap()).unwrap();
    let message = serde_json::json!({
        "create-time": "2026-08-22T15:17:05+00:00",
        "synctoken": synctoken.to_string(),
        "md5": md5,
        "url": url,
    });
    event["Records"][0]["Sns"]["Message"] = Value::String(message.to_string());
    event.to_string()
}

/// A variant of a real document: its syncToken replaced, CLOUDFRONT IPv4 prefixes removed and added.
pub fn edited_document(base: &[u8], synctoken: u64, remove: &[&str], add: &[&str]) -> Vec<u8> {
    let mut doc: Value = serde_json::from_slice(base).unwrap();
    doc["syncToken"] = Value::String(synctoken.to_string());
    let prefixes = doc["prefixes"].as_array_mut().unwrap();
    prefixes.retain(|p| {
        !(p["service"] == "CLOUDFRONT" && remove.contains(&p["ip_prefix"].as_str().unwrap()))
    });
    for a in add {
        prefixes.push(serde_json::json!({"ip_prefix": a, "region": "GLOBAL", "service": "CLOUDFRONT", "network_border_group": "GLOBAL"}));
    }
    serde_json::to_vec_pretty(&doc).unwrap()
}

/// The rules sgsync's own library derives from a document (to compare with what AWS holds).
pub fn expected_rules(document: &[u8], ports: &str, v6: bool) -> BTreeSet<String> {
    let selection = sgsync::ranges::Selection {
        services: vec!["CLOUDFRONT".into()],
        regions: None,
        ip_versions: sgsync::ranges::IpVersions { v4: true, v6 },
    };
    let set = sgsync::ranges::select(document, &selection).unwrap();
    let ports = sgsync::rule::parse_port_list(ports).unwrap();
    sgsync::rule::desired_rules(&set.ipv4, &set.ipv6, &ports)
        .iter()
        .map(|r| r.to_string())
        .collect()
}

/// The CIDRs of a document's selection, as strings (what lists and sets hold).
pub fn expected_cidrs(document: &[u8], v6: bool) -> BTreeSet<String> {
    expected_rules(document, "80", v6)
        .into_iter()
        .map(|r| r.trim_end_matches(" tcp/80").to_string())
        .collect()
}

/// Public prefixes CloudFront does not publish (and that do not merge with each other or with
/// CloudFront's when aggregated), for documents that add ranges: documentation ranges such as
/// 198.51.100.0/24 are special-purpose space, which the guards refuse.
pub const NEW_PREFIXES: [&str; 4] = [
    "15.230.8.0/24",
    "15.230.11.0/24",
    "44.192.9.0/24",
    "44.192.17.128/25",
];

/// Writes `bytes` to `name` in `dir`; returns its path.
pub fn doc_file(dir: &tempfile::TempDir, name: &str, bytes: impl AsRef<[u8]>) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_str().unwrap().to_string()
}

/// A document of CloudFront IPv4 /24s in distinct /16s (so none aggregate), public unicast space.
pub fn small_document(synctoken: u64, cidrs: impl IntoIterator<Item = u32>) -> Vec<u8> {
    let prefixes: Vec<Value> = cidrs
        .into_iter()
        .map(|i| {
            serde_json::json!({"ip_prefix": cidr(i), "region": "GLOBAL", "service": "CLOUDFRONT", "network_border_group": "GLOBAL"})
        })
        .collect();
    serde_json::to_vec_pretty(&serde_json::json!({
        "syncToken": synctoken.to_string(),
        "createDate": "2026-11-01-00-00-00",
        "prefixes": prefixes,
        "ipv6_prefixes": [],
    }))
    .unwrap()
}

pub fn cidr(i: u32) -> String {
    format!("{}.{}.7.0/24", 13 + i / 200, 32 + i % 200)
}

pub fn cidrs(range: std::ops::Range<u32>) -> BTreeSet<String> {
    range.map(cidr).collect()
}
