//! Fetching the ip-ranges document and proving it is the one announced.
//!
//! The URL is pinned: a notification may only point at the configured `IP_RANGES_URL`, so a forged
//! message cannot make sgsync fetch ranges from elsewhere. Downloads have a connect timeout, a total
//! timeout and a size cap (the real document is 2.6 MB; the cap is 32 MiB), and the MD5 is checked
//! against the notification's, as the blog's function does.

use std::path::Path;
use std::time::Duration;

use md5::{Digest, Md5};
use thiserror::Error;

/// Amazon's official document.
pub const DEFAULT_URL: &str = "https://ip-ranges.amazonaws.com/ip-ranges.json";
/// Largest document accepted: twelve times today's, far below a Lambda's memory.
pub const DEFAULT_MAX_BYTES: u64 = 32 * 1024 * 1024;

/// Download limits.
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
    /// The URL or path.
    pub origin: String,
    md5: std::sync::OnceLock<String>,
}

impl Document {
    /// Wraps bytes.
    pub fn new(bytes: Vec<u8>, origin: impl Into<String>) -> Document {
        Document {
            bytes,
            origin: origin.into(),
            md5: std::sync::OnceLock::new(),
        }
    }

    /// Their MD5, lower-case hex.
    pub fn md5(&self) -> &str {
        self.md5.get_or_init(|| md5_hex(&self.bytes))
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
         nothing was changed: retry, or check that the notification belongs to this document"
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
    #[error("{origin} is larger than {max_bytes} bytes; refusing it (is the URL right?)")]
    TooLarge {
        /// The URL or path.
        origin: String,
        /// The cap.
        max_bytes: u64,
    },
    /// The server answered with an error status.
    #[error("downloading {url} failed: HTTP {status}; retry later")]
    Status {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The download failed (connection, timeout, truncated body).
    #[error("downloading {url} failed: {reason}; check the network path to it and retry")]
    Download {
        /// The URL.
        url: String,
        /// What happened.
        reason: String,
    },
    /// A local file could not be read.
    #[error("cannot read {path}: {reason}")]
    File {
        /// The path.
        path: String,
        /// What happened.
        reason: String,
    },
}

/// Refuses a notification URL that is not the configured one.
pub fn check_url(notified: &str, configured: &str) -> Result<(), SourceError> {
    if notified.trim() == configured.trim() {
        Ok(())
    } else {
        Err(SourceError::ForeignUrl {
            notified: notified.to_string(),
            configured: configured.to_string(),
        })
    }
}

/// Lower-case hex MD5.
pub fn md5_hex(bytes: &[u8]) -> String {
    Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Checks a document against the MD5 a notification announced.
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

fn describe(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "the body was cut off"
    } else {
        "request failed"
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

/// Downloads a document, streaming it so an oversized body is cut off at the cap.
pub async fn fetch(url: &str, limits: &Limits) -> Result<Document, SourceError> {
    let download = |reason: String| SourceError::Download {
        url: url.to_string(),
        reason,
    };
    let client = reqwest::Client::builder()
        .connect_timeout(limits.connect_timeout)
        .timeout(limits.read_timeout)
        .user_agent(concat!("sgsync/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| download(describe(&e)))?;
    let mut response = client
        .get(url)
        .send()
        .await
        .map_err(|e| download(describe(&e)))?;
    let status = response.status();
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
    let mut bytes = Vec::with_capacity(response.content_length().unwrap_or(0) as usize);
    while let Some(chunk) = response.chunk().await.map_err(|e| download(describe(&e)))? {
        if (bytes.len() + chunk.len()) as u64 > limits.max_bytes {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Document::new(bytes, url))
}

/// Reads a document from a file, under the same size cap.
pub fn read_file(path: &Path, max_bytes: u64) -> Result<Document, SourceError> {
    let file_error = |reason: String| SourceError::File {
        path: path.display().to_string(),
        reason,
    };
    let size = std::fs::metadata(path)
        .map_err(|e| file_error(e.to_string()))?
        .len();
    if size > max_bytes {
        return Err(SourceError::TooLarge {
            origin: path.display().to_string(),
            max_bytes,
        });
    }
    let bytes = std::fs::read(path).map_err(|e| file_error(e.to_string()))?;
    Ok(Document::new(bytes, path.display().to_string()))
}

/// Reads a file or downloads a URL (`http://` or `https://`).
pub async fn load(file_or_url: &str, limits: &Limits) -> Result<Document, SourceError> {
    if file_or_url.starts_with("https://") || file_or_url.starts_with("http://") {
        fetch(file_or_url, limits).await
    } else {
        read_file(Path::new(file_or_url), limits.max_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_of_the_real_document_matches_its_published_sum() {
        let path = format!(
            "{}/tests/fixtures/ip-ranges/latest.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let doc = read_file(Path::new(&path), DEFAULT_MAX_BYTES).unwrap();
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
    fn only_the_pinned_url_is_accepted() {
        assert!(check_url(DEFAULT_URL, DEFAULT_URL).is_ok());
        let e = check_url("https://evil.example/ip-ranges.json", DEFAULT_URL)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("evil.example") && e.contains("IP_RANGES_URL"),
            "{e}"
        );
    }
}
