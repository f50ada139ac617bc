//! Real HTTP downloads from servers on 127.0.0.1: the real document, an oversized body (with and
//! without `Content-Length`), error statuses, a server that never answers, a stall mid-body and a body
//! cut short. Each failure must be an error that names the URL and what happened, never a hang, a
//! panic or a partial document.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::support::{LATEST_MD5, latest};
use sgsync::source::{self, Limits, SourceError};

/// A tiny_http server on a free port, answering by path. It lives as long as the test process.
fn serve() -> SocketAddr {
    let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
    let addr = server.server_addr().to_ip().unwrap();
    let latest = latest();
    thread::spawn(move || {
        for request in server.incoming_requests() {
            let path = request.url().to_string();
            let _ = match path.as_str() {
                // Large enough that tiny_http sends it chunked, so no Content-Length: the cap has to
                // be enforced while streaming.
                "/ip-ranges.json" => {
                    request.respond(tiny_http::Response::from_data(latest.clone()))
                }
                "/big-with-length" => request.respond(
                    tiny_http::Response::from_data(vec![b' '; 5000])
                        .with_chunked_threshold(usize::MAX),
                ),
                "/big-chunked" => request.respond(
                    tiny_http::Response::from_data(vec![b' '; 5000]).with_chunked_threshold(1),
                ),
                "/small" => request.respond(
                    tiny_http::Response::from_data(vec![b'x'; 1000]).with_chunked_threshold(1),
                ),
                "/forbidden" => request.respond(tiny_http::Response::empty(403)),
                "/unavailable" => request.respond(tiny_http::Response::empty(503)),
                "/moved" => request.respond(
                    tiny_http::Response::empty(302).with_header(
                        "Location: /ip-ranges.json"
                            .parse::<tiny_http::Header>()
                            .unwrap(),
                    ),
                ),
                _ => request
                    .respond(tiny_http::Response::from_string("not here").with_status_code(404)),
            };
        }
    });
    addr
}

/// A raw TCP server that reads the request, then lets `answer` misbehave on the connection.
fn raw(answer: impl Fn(TcpStream) + Send + Sync + 'static) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let answer = Arc::new(answer);
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let answer = Arc::clone(&answer);
            thread::spawn(move || {
                let mut stream = stream;
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                answer(stream);
            });
        }
    });
    addr
}

fn url(addr: SocketAddr, path: &str) -> String {
    format!("http://{addr}{path}")
}

fn short(max_bytes: u64, read_timeout_ms: u64) -> Limits {
    Limits {
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_millis(read_timeout_ms),
        max_bytes,
    }
}

#[tokio::test]
async fn the_real_document_downloads_byte_for_byte_and_verifies() {
    let addr = serve();
    let u = url(addr, "/ip-ranges.json");
    let doc = source::fetch(&u, &Limits::default(), None).await.unwrap();
    assert_eq!(doc.bytes.len(), 2_600_669);
    assert_eq!(doc.bytes, latest());
    assert_eq!(doc.md5(), LATEST_MD5);
    assert_eq!(doc.origin, u);
    source::verify_md5(&doc, LATEST_MD5).unwrap();
    source::verify_md5(&doc, &LATEST_MD5.to_uppercase()).unwrap();

    // load() treats the URL as a URL.
    let loaded = source::load(&u, &Limits::default(), None).await.unwrap();
    assert_eq!(loaded.md5(), LATEST_MD5);

    // Exactly at the cap is accepted; one byte over is not.
    let small = url(addr, "/small");
    assert_eq!(
        source::fetch(&small, &short(1000, 5000), None)
            .await
            .unwrap()
            .bytes
            .len(),
        1000
    );
    assert!(
        source::fetch(&small, &short(999, 5000), None)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn an_md5_mismatch_names_both_hashes_and_what_to_do() {
    let addr = serve();
    let doc = source::fetch(&url(addr, "/ip-ranges.json"), &Limits::default(), None)
        .await
        .unwrap();
    let wrong = "0123456789abcdef0123456789abcdef";
    let e = source::verify_md5(&doc, wrong).unwrap_err();
    let text = e.to_string();
    assert!(
        text.starts_with(&format!("MD5 mismatch: got {LATEST_MD5} expected {wrong}")),
        "{text}"
    );
    assert!(
        text.contains("nothing was changed") && text.contains("retry"),
        "{text}"
    );
    assert!(text.contains(&doc.origin), "{text}");
}

#[tokio::test]
async fn bodies_over_the_cap_are_refused_with_or_without_a_length() {
    let addr = serve();
    for path in ["/big-with-length", "/big-chunked"] {
        let u = url(addr, path);
        let e = source::fetch(&u, &short(1000, 5000), None)
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                SourceError::TooLarge {
                    max_bytes: 1000,
                    ..
                }
            ),
            "{path}: {e}"
        );
        let text = e.to_string();
        assert!(
            text.contains(&u) && text.contains("larger than 1000 bytes"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn error_statuses_are_refused_with_the_status_and_the_url() {
    let addr = serve();
    for (path, status, hint) in [
        ("/missing", 404, "check IP_RANGES_URL"),
        ("/forbidden", 403, "refused access"),
        ("/unavailable", 503, "retry later"),
        // A redirect is not followed, even to a good document: the URL is pinned.
        ("/moved", 302, "does not follow"),
    ] {
        let u = url(addr, path);
        let e = source::fetch(&u, &Limits::default(), None)
            .await
            .unwrap_err();
        assert!(
            matches!(e, SourceError::Status { status: s, .. } if s == status),
            "{path}: {e}"
        );
        let text = e.to_string();
        assert!(
            text.contains(&u) && text.contains(&format!("HTTP {status}")) && text.contains(hint),
            "{text}"
        );
    }
}

/// Fetches from a server that stalls, with a 500 ms total timeout: the error comes well before the
/// server's 10 s stall ends. Returns the URL and the error.
async fn fetch_timing_out(addr: SocketAddr) -> (String, SourceError) {
    let u = url(addr, "/ip-ranges.json");
    let started = Instant::now();
    let e = source::fetch(&u, &short(source::DEFAULT_MAX_BYTES, 500), None)
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    (u, e)
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    // Accepts the connection and reads the request, then holds it open and says nothing.
    let addr = raw(|stream| {
        thread::sleep(Duration::from_secs(10));
        drop(stream);
    });
    let (u, e) = fetch_timing_out(addr).await;
    let text = e.to_string();
    assert!(matches!(e, SourceError::Download { .. }), "{text}");
    assert!(text.contains(&u), "{text}");
    assert!(text.contains("total request timeout (500 ms)"), "{text}");
}

#[tokio::test]
async fn a_stall_in_the_middle_of_the_body_times_out() {
    let addr = raw(|mut stream| {
        let _ =
            stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n{\"syncToken\": ");
        let _ = stream.flush();
        thread::sleep(Duration::from_secs(10));
    });
    let (_, e) = fetch_timing_out(addr).await;
    assert!(e.to_string().contains("total request timeout"), "{e}");
}

#[tokio::test]
async fn a_body_cut_short_is_an_error_not_a_partial_document() {
    // Announces 100,000 bytes, sends 20, closes the connection.
    let addr = raw(|mut stream| {
        let _ = stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n{\"syncToken\": \"17874");
        let _ = stream.flush();
        drop(stream);
    });
    let u = url(addr, "/ip-ranges.json");
    let e = source::fetch(&u, &Limits::default(), None)
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, SourceError::Download { .. }), "{text}");
    assert!(text.contains(&u) && text.contains("cut off"), "{text}");
}

#[tokio::test]
async fn a_closed_port_is_a_connection_error() {
    // Bind then drop: the port was free a moment ago and nothing listens on it now.
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let u = url(addr, "/ip-ranges.json");
    let e = source::fetch(&u, &short(source::DEFAULT_MAX_BYTES, 2000), None)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("could not connect"), "{e}");
}

#[test]
fn a_notification_may_not_point_elsewhere() {
    let e = source::check_url("https://evil.example/ip-ranges.json", source::DEFAULT_URL)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("https://evil.example/ip-ranges.json")
            && e.contains(source::DEFAULT_URL)
            && e.contains("set IP_RANGES_URL"),
        "{e}"
    );
    source::check_url(source::DEFAULT_URL, source::DEFAULT_URL).unwrap();
}

/// The document is fetched over TLS that verifies the server: one presenting a self-signed
/// certificate (for the right host, even) is refused before anything is read.
#[tokio::test]
async fn a_server_with_an_untrusted_certificate_is_refused() {
    use std::sync::Arc;
    use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    use tokio_rustls::rustls::{ServerConfig, crypto};

    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let config =
        ServerConfig::builder_with_provider(Arc::new(crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![certified.cert.der().clone()], key)
            .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        // The client aborts the handshake: no request ever arrives.
        acceptor.accept(stream).await.is_ok()
    });
    let e = source::fetch(
        &format!("https://{addr}/ip-ranges.json"),
        &Limits::default(),
        None,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(e.contains("certificate"), "{e}");
    assert!(!served.await.unwrap(), "the handshake completed");
}

/// A download, kept as a run keeps it once the document passed its checks.
async fn fetch_and_keep(url: &str, cache: &sgsync::cache::Cache) -> source::Document {
    let doc = source::fetch(url, &Limits::default(), Some(cache))
        .await
        .unwrap();
    source::keep(Some(cache), &doc);
    doc
}

/// Conditional GETs: a copy is kept with its `ETag`, the next request asks `If-None-Match`, a 304 is
/// answered with the copy (no body crosses the network), a changed document replaces it, and a copy
/// that was altered is never sent as a question.
#[tokio::test]
async fn an_unchanged_document_costs_no_download_and_a_changed_one_replaces_the_copy() {
    use crate::support::{FileServer, etag_of, small_document};
    use sgsync::cache::Cache;
    let files = FileServer::with_etags();
    let first = small_document(1, 0..3);
    files.put("/doc.json", first.clone());
    let u = files.url("/doc.json");
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path().join("cache"));
    let statuses = || {
        (files.answers().iter())
            .map(|a| (a.status, a.if_none_match.clone()))
            .collect::<Vec<_>>()
    };

    let doc = fetch_and_keep(&u, &cache).await;
    assert!(!doc.from_cache());
    assert_eq!(doc.bytes, first);
    let doc = fetch_and_keep(&u, &cache).await;
    assert!(doc.from_cache(), "answered from the copy");
    assert_eq!(doc.bytes, first);
    assert_eq!(
        statuses(),
        [(200, None), (304, Some(etag_of(&first)))],
        "the second request asked whether it changed"
    );

    // Changed: downloaded, and the copy follows.
    let second = small_document(2, 0..4);
    files.put("/doc.json", second.clone());
    let doc = fetch_and_keep(&u, &cache).await;
    assert_eq!(
        (doc.bytes.clone(), doc.from_cache()),
        (second.clone(), false)
    );
    let doc = fetch_and_keep(&u, &cache).await;
    assert_eq!(
        (doc.bytes.clone(), doc.from_cache()),
        (second.clone(), true)
    );
    assert_eq!(statuses()[3], (304, Some(etag_of(&second))));

    // An altered copy (a byte of its body) is not used: the request asks nothing, the copy is replaced.
    let copy = std::fs::read_dir(dir.path().join("cache"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut text = std::fs::read(&copy).unwrap();
    let at = text.len() - 10;
    text[at] ^= 1;
    std::fs::write(&copy, &text).unwrap();
    let doc = fetch_and_keep(&u, &cache).await;
    assert_eq!(
        (doc.bytes.clone(), doc.from_cache()),
        (second.clone(), false)
    );
    assert_eq!(statuses()[4], (200, None));
    assert!(fetch_and_keep(&u, &cache).await.from_cache());

    // Without a cache nothing is asked.
    source::fetch(&u, &Limits::default(), None).await.unwrap();
    assert_eq!(statuses()[6], (200, None));

    // Eight runs at once share the directory: each gets the whole document, none a torn copy.
    let third = small_document(3, 0..5);
    files.put("/doc.json", third.clone());
    let runs = (0..8).map(|_| {
        let (u, cache) = (u.clone(), cache.clone());
        tokio::spawn(async move { fetch_and_keep(&u, &cache).await })
    });
    for run in futures_util::future::join_all(runs).await {
        assert_eq!(run.unwrap().bytes, third);
    }
    let doc = fetch_and_keep(&u, &cache).await;
    assert_eq!((doc.bytes.clone(), doc.from_cache()), (third, true));
}

/// A notification (or an operator's expected MD5) whose document the server calls unchanged, when the copy is an older one (a
/// broken cache in front of the provider): the copy fails the MD5, and the document is downloaded
/// again in full at once, not after the stale-cache backoff.
#[tokio::test]
async fn a_copy_that_is_not_the_announced_document_is_downloaded_again() {
    use crate::support::{FileServer, edited_document};
    use sgsync::config::{Config, ConfigArgs, Environment};
    let files = FileServer::with_etags();
    let old = latest();
    files.put("/ip-ranges.json", old.clone());
    let dir = tempfile::tempdir().unwrap();
    let mut args = ConfigArgs::default();
    for (k, v) in [
        ("IP_RANGES_URL", files.url("/ip-ranges.json")),
        ("DOWNLOAD_CACHE", dir.path().display().to_string()),
        ("DOWNLOAD_RETRY_MS", "60000".into()),
    ] {
        args.set(k, &v).unwrap();
    }
    let config = Config::from_args(&args, &Environment::default()).unwrap();
    let loaded = sgsync::load(&config, &sgsync::Input::Configured)
        .await
        .unwrap();
    assert!(!loaded.document.from_cache());

    let new = edited_document(&old, LATEST_SYNCTOKEN_NEXT, &[], &[]);
    files.put("/ip-ranges.json", new.clone());
    files.lie_not_modified(true);
    let notification = sgsync::event::Notification {
        url: None,
        md5: source::md5_hex(&new),
        synctoken: LATEST_SYNCTOKEN_NEXT,
    };
    let started = Instant::now();
    let loaded = sgsync::load(&config, &sgsync::Input::Notification(notification))
        .await
        .unwrap();
    assert_eq!(loaded.ranges.synctoken, LATEST_SYNCTOKEN_NEXT);
    assert!(!loaded.document.from_cache());
    // Not the minute of DOWNLOAD_RETRY_MS.
    assert!(started.elapsed() < Duration::from_secs(30));
    let answers = files.answers();
    assert_eq!(
        (answers.iter().map(|a| a.status).collect::<Vec<_>>()),
        [200, 304, 200]
    );
    assert_eq!(answers[2].if_none_match, None);
    // The copy is the announced document now: the next scheduled run, answered 304, reads it (not
    // the older one, which would fail the run as stale).
    let loaded = sgsync::load(&config, &sgsync::Input::Configured)
        .await
        .unwrap();
    assert!(loaded.document.from_cache());
    assert_eq!(loaded.ranges.synctoken, LATEST_SYNCTOKEN_NEXT);
    assert_eq!(files.answers()[3].status, 304);

    // The same for an operator's `--ip-ranges URL --md5 SUM`.
    let third = edited_document(&old, LATEST_SYNCTOKEN_NEXT + 60, &[], &[]);
    files.put("/ip-ranges.json", third.clone());
    let location = sgsync::Input::Location {
        file_or_url: files.url("/ip-ranges.json"),
        md5: Some(source::md5_hex(&third)),
    };
    let loaded = sgsync::load(&config, &location).await.unwrap();
    assert_eq!(loaded.ranges.synctoken, LATEST_SYNCTOKEN_NEXT + 60);
    let answers = files.answers();
    assert_eq!(
        (answers[4..].iter().map(|a| a.status).collect::<Vec<_>>()),
        [304, 200]
    );
    let loaded = sgsync::load(&config, &sgsync::Input::Configured)
        .await
        .unwrap();
    assert!(loaded.document.from_cache());
    assert_eq!(loaded.ranges.synctoken, LATEST_SYNCTOKEN_NEXT + 60);
}

const LATEST_SYNCTOKEN_NEXT: u64 = crate::support::LATEST_SYNCTOKEN + 60;

/// A server whose every answer a test scripts: `answer` gets the request's `If-None-Match` and
/// returns the status, the headers and the body.
fn scripted(
    answer: impl Fn(Option<String>) -> (u16, Vec<(&'static str, String)>, Vec<u8>) + Send + 'static,
) -> SocketAddr {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let addr = server.server_addr().to_ip().unwrap();
    thread::spawn(move || {
        for request in server.incoming_requests() {
            let asked = (request.headers().iter())
                .find(|h| h.field.equiv("If-None-Match"))
                .map(|h| h.value.to_string());
            let (status, headers, body) = answer(asked);
            let mut response = tiny_http::Response::from_data(body).with_status_code(status);
            for (name, value) in headers {
                response.add_header(tiny_http::Header::from_bytes(name, value).unwrap());
            }
            let _ = request.respond(response);
        }
    });
    addr
}

/// Red team rounds 8 and 9: what a server's validators get wrong never pins a copy. Nothing is kept
/// for an entity-tag that is not the body's digest: nginx's time and length (shared by two versions
/// of one second, behind a proxy that restamps `Date` or hides `Last-Modified` too: F1, N1, N2),
/// `*`, one of a header's size (F5, F6), another body's digest; nor for a body the connection's
/// close ended (F4). A 304 that does not name the copy's tag alone (F8; round 10) or an error
/// answered to the question (F5) is asked again without it.
#[tokio::test]
async fn what_a_servers_validators_get_wrong_never_pins_a_copy() {
    use sgsync::cache::{Cache, Copy};
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path());
    let kept = |u: &str| cache.read(u, 1000).is_some();
    let tag = |body: &[u8]| format!("\"{}\"", source::md5_hex(body));

    for (case, etag) in [
        ("nginx's time and length", "\"6b1722a9-2\"".to_string()),
        ("a star", "*".to_string()),
        (
            "too long",
            format!("\"{}{}\"", source::md5_hex(b"[]"), "0".repeat(300)),
        ),
        ("unquoted", source::md5_hex(b"[]")),
        ("another body's digest", tag(b"[1]")),
        ("the body's digest", tag(b"[]")),
    ] {
        let headers = vec![("ETag", etag)];
        let u = url(
            scripted(move |_| (200, headers.clone(), b"[]".to_vec())),
            "/",
        );
        let doc = source::fetch(&u, &Limits::default(), Some(&cache))
            .await
            .unwrap();
        source::keep(Some(&cache), &doc);
        assert_eq!(kept(&u), case == "the body's digest", "{case}");
    }

    // A body ended by the connection closing, though its entity-tag is its digest.
    let addr = raw(move |mut s| {
        let head = format!(
            "HTTP/1.1 200 OK\r\nETag: \"{}\"\r\nConnection: close\r\n\r\n[]",
            source::md5_hex(b"[]")
        );
        let _ = s.write_all(head.as_bytes());
    });
    let u = url(addr, "/");
    let doc = source::fetch(&u, &Limits::default(), Some(&cache))
        .await
        .unwrap();
    assert_eq!(doc.bytes, b"[]");
    source::keep(Some(&cache), &doc);
    assert!(!kept(&u), "an unframed body was kept");

    // A 304 that does not name the copy's tag alone (another version's, weak or strong; none at
    // all, as a server that answers 304 to anything; the copy's and another's: round 10, G1-G3), and
    // a 431 to the question: each asked again, in full.
    let new = b"[\"new\"]".to_vec();
    let old = b"[\"old\"]".to_vec();
    let other = tag(b"[\"other\"]");
    let keep_old = |u: &str| {
        let copy = Copy {
            etag: tag(&old),
            bytes: old.clone(),
        };
        cache.write(u, &copy);
    };
    for (case, refusal) in [
        ("another version", (304, vec![("ETag", other.clone())])),
        ("another, weak", (304, vec![("ETag", format!("W/{other}"))])),
        ("no tag", (304, vec![])),
        (
            "two tags",
            (304, vec![("ETag", tag(&old)), ("ETag", other.clone())]),
        ),
        ("a refusal", (431, vec![])),
    ] {
        let (refusal, body, etag) = (refusal.clone(), new.clone(), tag(&new));
        let u = url(
            scripted(move |asked| match asked {
                Some(_) => (refusal.0, refusal.1.clone(), Vec::new()),
                None => (200, vec![("ETag", etag.clone())], body.clone()),
            }),
            "/",
        );
        keep_old(&u);
        assert!(kept(&u));
        let doc = source::fetch(&u, &Limits::default(), Some(&cache))
            .await
            .unwrap();
        assert_eq!(
            (doc.bytes.clone(), doc.from_cache()),
            (new.clone(), false),
            "{case}"
        );
        source::keep(Some(&cache), &doc);
        assert_eq!(cache.read(&u, 1000).unwrap().etag, tag(&new), "{case}");
    }
    // The copy's own tag, weak or strong, is a 304 about the copy.
    for named in [tag(&old), format!("W/{}", tag(&old))] {
        let u = url(
            scripted(move |_| (304, vec![("ETag", named.clone())], Vec::new())),
            "/",
        );
        keep_old(&u);
        let doc = source::fetch(&u, &Limits::default(), Some(&cache))
            .await
            .unwrap();
        assert_eq!((doc.bytes.clone(), doc.from_cache()), (old.clone(), true));
    }
}

/// Red team round 8 (F4): a copy is kept only once the document passed the run's checks, so a
/// broken body the server's 304 would vouch for is never pinned.
#[tokio::test]
async fn a_document_that_fails_a_check_is_never_kept() {
    use crate::support::FileServer;
    use sgsync::config::{Config, ConfigArgs, Environment};
    let files = FileServer::with_etags();
    files.put(
        "/ip-ranges.json",
        b"{\"syncToken\": \"1\", \"prefixes\": [".to_vec(),
    );
    let dir = tempfile::tempdir().unwrap();
    let mut args = ConfigArgs::default();
    args.set("IP_RANGES_URL", &files.url("/ip-ranges.json"))
        .unwrap();
    args.set("DOWNLOAD_CACHE", &dir.path().display().to_string())
        .unwrap();
    let config = Config::from_args(&args, &Environment::default()).unwrap();
    assert!(
        sgsync::load(&config, &sgsync::Input::Configured)
            .await
            .is_err()
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    // Fixed: kept, and the next run is answered 304.
    files.put("/ip-ranges.json", latest());
    sgsync::load(&config, &sgsync::Input::Configured)
        .await
        .unwrap();
    let loaded = sgsync::load(&config, &sgsync::Input::Configured)
        .await
        .unwrap();
    assert!(loaded.document.from_cache());
}
