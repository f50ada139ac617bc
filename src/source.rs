//! Fetching the ip-ranges document and proving it is the one announced.
//!
//! The URL is pinned: a notification may only point at the configured `IP_RANGES_URL`, so a forged
//! message cannot make sgsync fetch ranges from elsewhere. Downloads have a connect timeout, a total
//! timeout and a size cap (the real document is 2.6 MB; the cap is 32 MiB), and the MD5 is checked
//! against the notification's, as the blog's function does. With a cache ([`crate::cache`]), the
//! request is conditional, and a 304 is answered with the copy.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use md5::{Digest, Md5};

use crate::cache::{self, Cache, Copy};
use thiserror::Error;
use tracing::{debug, warn};

/// Amazon's official document: the default `IP_RANGES_URL`, and the only URL the real
/// `AmazonIpSpaceChanged` notifications name.
pub const DEFAULT_URL: &str = "https://ip-ranges.amazonaws.com/ip-ranges.json";
/// Largest document accepted: twelve times today's, far below a Lambda's memory, so a wrong URL or a
/// hostile server cannot exhaust the function's memory.
pub const DEFAULT_MAX_BYTES: u64 = 32 * 1024 * 1024;

/// Download limits: a Lambda is billed and timed out by the second, so a stalled server must fail
/// the run quickly (it is retried) instead of hanging until the function's own timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Time to establish the connection.
    pub connect_timeout: Duration,
    /// Time for the whole request, body included.
    pub read_timeout: Duration,
    /// Largest body accepted.
    pub max_bytes: u64,
}

impl Default for Limits {
    /// 5 s to connect, 30 s for the whole download (2.6 MB takes well under a second from AWS),
    /// [`DEFAULT_MAX_BYTES`].
    fn default() -> Self {
        Limits {
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(30),
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

/// A document's bytes, with where they came from. Its MD5 is computed on first use (once), so the
/// pipeline can compute it on one core while the other parses.
#[derive(Clone, Debug)]
pub struct Document {
    /// The raw bytes, exactly as received.
    pub bytes: Vec<u8>,
    pub origin: String,
    /// How it was had: read from a file, downloaded, or the kept copy a 304 vouched for.
    pub fetched: Fetched,
    /// Downloaded in full: the entity-tag worth keeping a copy for, if any ([`keep`]).
    pub etag: Option<String>,
    md5: std::sync::OnceLock<String>,
}

impl Document {
    /// Wraps bytes; the MD5 is left for [`Document::md5`] so that constructing a document costs
    /// nothing when no MD5 is needed (the scheduled reconcile).
    pub fn new(bytes: Vec<u8>, origin: impl Into<String>) -> Document {
        Document {
            bytes,
            origin: origin.into(),
            fetched: Fetched::File,
            etag: None,
            md5: std::sync::OnceLock::new(),
        }
    }

    /// Their MD5, lower-case hex: compared with the notification's, and logged so that an operator
    /// can match a run with a published version.
    pub fn md5(&self) -> &str {
        self.md5.get_or_init(|| md5_hex(&self.bytes))
    }
}

/// How a run had its document, as its summary says (`download`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fetched {
    /// No document: an event's run attaches what exists.
    #[default]
    None,
    /// Read from a file (`--ip-ranges FILE`).
    File,
    /// Downloaded in full.
    Full,
    /// The server said it had not changed (a 304), and the kept copy answered.
    NotModified,
}

impl std::fmt::Display for Fetched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Fetched::None => "none",
            Fetched::File => "file",
            Fetched::Full => "full",
            Fetched::NotModified => "not_modified",
        })
    }
}

impl Document {
    /// The server said it has not changed since the copy was kept (a 304): no body crossed the
    /// network.
    pub fn from_cache(&self) -> bool {
        self.fetched == Fetched::NotModified
    }
}

/// Why no verified document could be had. Nothing is changed in that case.
#[derive(Debug, Error)]
pub enum SourceError {
    /// The notification points somewhere else than the pinned URL.
    #[error(
        "refusing to download from {notified}: notifications may only point to {configured} (IP_RANGES_URL); \
         if this URL is legitimate, set IP_RANGES_URL to it"
    )]
    ForeignUrl {
        /// The notification's URL.
        notified: String,
        /// The configured URL.
        configured: String,
    },
    /// The content is not the announced one.
    #[error(
        "MD5 mismatch: got {got} expected {expected} ({origin}); the document changed or was corrupted in transit, \
         nothing was changed: retry, or check that the MD5 expected (the notification's, or --md5) belongs to \
         this document"
    )]
    Md5Mismatch {
        /// The MD5 of what was received.
        got: String,
        /// The MD5 announced.
        expected: String,
        /// Where the document came from.
        origin: String,
    },
    /// The body is larger than the cap.
    #[error(
        "{origin} is larger than {max_bytes} bytes; refusing it: check that it is ip-ranges.json \
         (IP_RANGES_URL), nothing was changed"
    )]
    TooLarge { origin: String, max_bytes: u64 },
    /// A 304 that names another entity-tag than the copy's.
    #[error(
        "{url} answered Not Modified without naming the cached copy's entity-tag (or naming another)"
    )]
    NotThisCopy { url: String },
    /// The server answered with an error status.
    #[error("downloading {url} failed: HTTP {status}; {}", status_hint(*.status))]
    Status { url: String, status: u16 },
    /// The download failed (connection, timeout, truncated body).
    #[error("downloading {url} failed: {reason}; check the network path to it and retry")]
    Download {
        url: String,
        /// What happened.
        reason: String,
    },
    /// A local file could not be read.
    #[error("cannot read {path}: {reason}; check the path and its permissions")]
    File {
        path: String,
        /// What happened.
        reason: String,
    },
}

/// What to do about an HTTP error status: a 4xx is a wrong URL or a refusal (retrying will not help),
/// a 5xx is the server's problem (retrying will).
fn status_hint(status: u16) -> &'static str {
    match status {
        401 | 403 => "the server refused access: check IP_RANGES_URL and any proxy in between",
        304 => {
            "the server answered Not Modified to a request that asked nothing of the kind (a proxy in \
             between?): retry, or check the network path to it"
        }
        300..=399 => {
            "the server redirected elsewhere, which sgsync does not follow (it only reads from \
             IP_RANGES_URL): set IP_RANGES_URL to the final address"
        }
        404 | 410 => "there is no document there: check IP_RANGES_URL",
        400..=499 => "the request was refused: check IP_RANGES_URL",
        _ => "the server failed: retry later",
    }
}

/// Refuses a notification URL that is not the configured one: the message of an SNS notification is
/// not authenticated by sgsync, so it may only choose *when* to download, never *from where*.
pub fn check_url(notified: &str, configured: &str) -> Result<(), SourceError> {
    if notified.trim() == configured.trim() {
        Ok(())
    } else {
        Err(SourceError::ForeignUrl {
            notified: crate::error::echo(notified),
            configured: configured.to_string(),
        })
    }
}

/// Lower-case hex MD5, the form the notifications and `md5sum` use.
pub fn md5_hex(bytes: &[u8]) -> String {
    Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Checks a document against the MD5 a notification announced (any case): the proof that what was
/// downloaded is the version Amazon announced, complete and unaltered.
pub fn verify_md5(doc: &Document, expected: &str) -> Result<(), SourceError> {
    let expected = expected.trim().to_ascii_lowercase();
    if doc.md5() == expected {
        Ok(())
    } else {
        Err(SourceError::Md5Mismatch {
            got: doc.md5().to_string(),
            expected,
            origin: doc.origin.clone(),
        })
    }
}

/// Says what went wrong with a request, naming which limit a timeout hit, then the causes.
fn describe(e: &reqwest::Error, limits: &Limits) -> String {
    let what = if e.is_timeout() && e.is_connect() {
        format!(
            "could not connect within the connect timeout ({} ms)",
            limits.connect_timeout.as_millis()
        )
    } else if e.is_timeout() {
        format!(
            "no complete answer within the total request timeout ({} ms)",
            limits.read_timeout.as_millis()
        )
    } else if e.is_connect() {
        "could not connect".to_string()
    } else if e.is_body() || e.is_decode() {
        "the body was cut off".to_string()
    } else {
        "request failed".to_string()
    };
    let mut text = format!("{what} ({e}");
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text.push(')');
    text
}

/// Downloads a document, streaming it so an oversized body is cut off at the cap (a `Content-Length`
/// over the cap is refused before the body is read). With a `cache` holding a copy of `url`, asks
/// whether it changed (`If-None-Match`) and answers a 304 with the copy; a 304 naming another
/// entity-tag, or an error answered to the question, is asked again without it. The document is
/// kept only by [`keep`], once a run has checked it.
pub async fn fetch(
    url: &str,
    limits: &Limits,
    cache: Option<&Cache>,
) -> Result<Document, SourceError> {
    let copy = (cache.filter(|c| c.asks())).and_then(|c| c.read(url, limits.max_bytes));
    let Some(copy) = copy else {
        return download(url, limits, None, cache.is_some()).await;
    };
    match download(url, limits, Some(&copy.etag), true).await {
        Ok(document) if document.from_cache() => {
            if let Some(cache) = cache {
                debug!(url, copy = %cache.path(url).display(), "the server answered 304: reading the kept copy");
            }
            Ok(Document {
                bytes: copy.bytes,
                ..document
            })
        }
        Ok(document) => Ok(document),
        Err(e @ (SourceError::Status { .. } | SourceError::NotThisCopy { .. })) => {
            warn!(
                "the question about the cached copy was answered wrongly ({e}): downloading in full"
            );
            download(url, limits, None, true).await
        }
        Err(e) => Err(e),
    }
}

/// One GET, conditional on `asking` (the copy's entity-tag). A 304 to it is a [`Document`] without
/// bytes, [`Fetched::NotModified`]. Only when `keeping` (a cache is in use) is the body's digest
/// compared with its entity-tag.
async fn download(
    url: &str,
    limits: &Limits,
    asking: Option<&str>,
    keeping: bool,
) -> Result<Document, SourceError> {
    let failed = |reason: String| SourceError::Download {
        url: url.to_string(),
        reason,
    };
    let client = reqwest::Client::builder()
        .connect_timeout(limits.connect_timeout)
        .timeout(limits.read_timeout)
        .user_agent(concat!("sgsync/", env!("CARGO_PKG_VERSION")))
        // The URL is pinned (see `check_url`); following a redirect would read from somewhere else.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| failed(describe(&e, limits)))?;
    let mut request = client.get(url);
    if let Some(asked) = asking {
        request = request.header(reqwest::header::IF_NONE_MATCH, asked);
    }
    let mut response = request
        .send()
        .await
        .map_err(|e| failed(describe(&e, limits)))?;
    let status = response.status();
    let header = |name| {
        (response.headers().get(name)).and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
    };
    if let (reqwest::StatusCode::NOT_MODIFIED, Some(asked)) = (status, asking) {
        // A 304 must name the entity-tag of what it vouches for (RFC 9110 §15.4.5), and only one
        // naming the copy's, every time it names one, is about the copy (RFC 9111 §4.3.4, weak
        // comparison): a server that answers 304 to anything names none.
        let opaque = |t: &str| t.trim().trim_start_matches("W/").to_string();
        let named: Vec<String> = (response.headers().get_all(reqwest::header::ETAG).iter())
            .map(|v| v.to_str().map_or_else(|_| String::new(), opaque))
            .collect();
        if named.is_empty() || named.iter().any(|n| *n != opaque(asked)) {
            return Err(SourceError::NotThisCopy {
                url: url.to_string(),
            });
        }
        let mut document = Document::new(Vec::new(), url);
        document.fetched = Fetched::NotModified;
        return Ok(document);
    }
    if !status.is_success() {
        return Err(SourceError::Status {
            url: url.to_string(),
            status: status.as_u16(),
        });
    }
    let too_large = || SourceError::TooLarge {
        origin: url.to_string(),
        max_bytes: limits.max_bytes,
    };
    if response
        .content_length()
        .is_some_and(|n| n > limits.max_bytes)
    {
        return Err(too_large());
    }
    // A body ended only by the connection closing may have been cut off: no copy of it is kept.
    let framed = response.content_length().is_some()
        || response.version() >= reqwest::Version::HTTP_2
        || header(reqwest::header::TRANSFER_ENCODING).is_some_and(|t| t.contains("chunked"));
    let tag = (header(reqwest::header::ETAG).map(str::to_string)).filter(|_| keeping);
    // The length was checked against the cap just above, so this allocation is bounded too.
    let mut bytes = Vec::with_capacity(response.content_length().unwrap_or(0) as usize);
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| failed(describe(&e, limits)))?
    {
        if (bytes.len() + chunk.len()) as u64 > limits.max_bytes {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    let mut document = Document::new(bytes, url);
    document.fetched = Fetched::Full;
    document.etag = tag.and_then(|tag| cache::worth_keeping(Some(&tag), &document.bytes, framed));
    Ok(document)
}

/// Keeps a downloaded document as the copy of its URL, once a run has checked it (a copy is never a
/// document that failed a check: a 304 would pin it); forgets the copy when the server gave nothing
/// worth keeping one for.
pub fn keep(cache: Option<&Cache>, document: &Document) {
    let (Some(cache), Fetched::Full) = (cache, document.fetched) else {
        return;
    };
    match &document.etag {
        Some(etag) => cache.write(
            &document.origin,
            &Copy {
                etag: etag.clone(),
                bytes: document.bytes.clone(),
            },
        ),
        None => {
            debug!(
                url = %document.origin,
                "not cached: the server's entity-tag is not the body's MD5 or SHA-256 (or there is none, or the body was not framed)"
            );
            cache.remove(&document.origin);
        }
    }
}

/// Reads a document from a file, under the same size cap as a download, so `--ip-ranges /dev/zero`
/// or a wrong path to a huge file fails cleanly instead of filling memory.
pub fn read_file(path: &Path, max_bytes: u64) -> Result<Document, SourceError> {
    let file_error = |reason: String| SourceError::File {
        path: path.display().to_string(),
        reason,
    };
    let too_large = || SourceError::TooLarge {
        origin: path.display().to_string(),
        max_bytes,
    };
    let file = std::fs::File::open(path).map_err(|e| file_error(e.to_string()))?;
    let metadata = file.metadata().map_err(|e| file_error(e.to_string()))?;
    if metadata.is_dir() {
        return Err(file_error("it is a directory, not a file".into()));
    }
    let size = metadata.len();
    if size > max_bytes {
        return Err(too_large());
    }
    // Read at most one byte more than the cap: the size above does not bound a pipe or a device,
    // or a file that grows while it is read.
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| file_error(e.to_string()))?;
    if bytes.len() as u64 > max_bytes {
        return Err(too_large());
    }
    Ok(Document::new(bytes, path.display().to_string()))
}

/// Reads a file or downloads a URL (`http://` or `https://`, any case): the CLI's `--ip-ranges`
/// takes either, so operators can test with a saved document.
pub async fn load(
    file_or_url: &str,
    limits: &Limits,
    cache: Option<&Cache>,
) -> Result<Document, SourceError> {
    let scheme = file_or_url
        .split_once("://")
        .map(|(scheme, _)| scheme.to_ascii_lowercase());
    if matches!(scheme.as_deref(), Some("http" | "https")) {
        fetch(file_or_url, limits, cache).await
    } else {
        read_file(Path::new(file_or_url), limits.max_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_of_the_real_document_matches_its_published_sum() {
        let path = crate::testkit::fixtures().join("ip-ranges/latest.json");
        let doc = read_file(&path, DEFAULT_MAX_BYTES).unwrap();
        assert_eq!(doc.md5(), "63431d35877fa5386ded1a7df9cfa971");
        assert!(verify_md5(&doc, "63431D35877FA5386DED1A7DF9CFA971").is_ok());
        let e = verify_md5(&doc, "7fd59f5c7f5cf643036cbd4443ad3e4b")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("MD5 mismatch: got 63431d35877fa5386ded1a7df9cfa971 expected 7fd59f5c7f5cf643036cbd4443ad3e4b"), "{e}");
        let e = read_file(Path::new(&path), 1000).unwrap_err().to_string();
        assert!(e.contains("larger than 1000 bytes"), "{e}");
        let e = read_file(Path::new("/nonexistent/ip-ranges.json"), 1000)
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot read /nonexistent/ip-ranges.json"), "{e}");
    }

    #[test]
    fn md5_hex_is_lower_case_md5sum() {
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        let doc = Document::new(b"abc".to_vec(), "memory");
        assert_eq!(doc.md5(), "900150983cd24fb0d6963f7d28e17f72");
        assert!(verify_md5(&doc, " 900150983CD24FB0D6963F7D28E17F72\n").is_ok());
    }

    #[test]
    fn files_are_capped_even_when_their_size_says_nothing() {
        // /dev/zero reports size 0 and never ends: the cap still stops the read.
        let e = read_file(Path::new("/dev/zero"), 4096).unwrap_err();
        assert!(
            matches!(
                e,
                SourceError::TooLarge {
                    max_bytes: 4096,
                    ..
                }
            ),
            "{e}"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("exact.json");
        std::fs::write(&path, [b'x'; 100]).unwrap();
        assert_eq!(read_file(&path, 100).unwrap().bytes.len(), 100);
        assert!(read_file(&path, 99).is_err());
        let e = read_file(dir.path(), 100).unwrap_err().to_string();
        assert!(
            e.contains("cannot read") && e.contains("permissions"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn load_reads_paths_and_leaves_urls_to_fetch() {
        let path = crate::testkit::fixtures().join("ip-ranges/small.json");
        let path = path.to_str().unwrap();
        let doc = load(path, &Limits::default(), None).await.unwrap();
        assert_eq!(doc.origin, path);
        // A URL is fetched, not opened as a file: nothing listens on port 9 of localhost.
        let limits = Limits {
            connect_timeout: Duration::from_millis(500),
            ..Limits::default()
        };
        let e = load("HTTP://127.0.0.1:9/ip-ranges.json", &limits, None)
            .await
            .unwrap_err();
        assert!(matches!(e, SourceError::Download { .. }), "{e}");
        assert!(e.to_string().contains("could not connect"), "{e}");
    }

    #[test]
    fn status_errors_say_whether_to_retry() {
        let error = |status| {
            SourceError::Status {
                url: DEFAULT_URL.into(),
                status,
            }
            .to_string()
        };
        assert!(error(404).contains("check IP_RANGES_URL"), "{}", error(404));
        assert!(error(403).contains("refused access"), "{}", error(403));
        assert!(error(503).contains("retry later"), "{}", error(503));
        assert!(error(503).contains(DEFAULT_URL));
    }

    #[test]
    fn only_the_pinned_url_is_accepted() {
        assert!(check_url(DEFAULT_URL, DEFAULT_URL).is_ok());
        let e = check_url("https://evil.example/ip-ranges.json", DEFAULT_URL)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("evil.example") && e.contains("IP_RANGES_URL"),
            "{e}"
        );
        assert!(check_url(&format!(" {DEFAULT_URL}\n"), DEFAULT_URL).is_ok());
        // Not a prefix match, not case-insensitive, not another scheme.
        for other in [
            "https://ip-ranges.amazonaws.com/ip-ranges.json.evil.example",
            "http://ip-ranges.amazonaws.com/ip-ranges.json",
            "https://IP-RANGES.amazonaws.com/ip-ranges.json",
            "",
        ] {
            assert!(check_url(other, DEFAULT_URL).is_err(), "{other}");
        }
    }
}
