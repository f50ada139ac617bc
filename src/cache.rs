//! The last copy of each downloaded document (`DOWNLOAD_CACHE`), so that a conditional GET can be
//! answered "304 Not Modified" and an unchanged document costs no download, while the run still has
//! the whole document to repair drift with.
//!
//! One file per URL, named by the SHA-256 of the URL: a first line of JSON (the URL, the validators,
//! the body's SHA-256 and length), then the body exactly as received. A copy is written to a
//! temporary file and renamed into place, so a concurrent run reads the old copy or the new one,
//! never half of one; a copy whose body does not match its first line is ignored (and replaced by the
//! next download). Every fault here is a warning and a full download, never a failed run.
//!
//! The directory and its files must belong to the user running sgsync and be writable by no one else
//! (as ssh requires of `~/.ssh`): a copy is trusted on the provider's word that it has not changed,
//! and anyone who could write one could pair a body of their own with a validator read from a real
//! response, and have the provider's 304 vouch for it.

use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tracing::{debug, warn};

/// A directory of copies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cache {
    dir: PathBuf,
}

/// A copy, and what to ask the server about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Copy {
    /// Sent as `If-None-Match`.
    pub etag: Option<String>,
    /// Sent as `If-Modified-Since`.
    pub last_modified: Option<String>,
    pub bytes: Vec<u8>,
}

/// A copy's first line.
#[derive(Serialize, Deserialize)]
struct Header {
    format: String,
    url: String,
    etag: Option<String>,
    last_modified: Option<String>,
    sha256: String,
    len: u64,
}

const FORMAT: &str = "sgsync-cache/1";
/// The longest first line read: a URL and two header values, far below this.
const MAX_HEADER: u64 = 64 * 1024;

/// A validator worth keeping from a response: its `ETag`, and its `Last-Modified` only when the
/// response's `Date` is at least 60 seconds later. A modification time has a resolution of one
/// second, so a document changed twice within it keeps the same one; RFC 9110 (8.8.2.2) lets a
/// client rely on it only after 60 seconds.
pub fn validators(
    etag: Option<&str>,
    last_modified: Option<&str>,
    date: Option<&str>,
) -> (Option<String>, Option<String>) {
    let settled = match (last_modified, date) {
        (Some(lm), Some(date)) => match (
            httpdate::parse_http_date(lm),
            httpdate::parse_http_date(date),
        ) {
            (Ok(lm), Ok(date)) => date.duration_since(lm).is_ok_and(|d| d.as_secs() >= 60),
            _ => false,
        },
        _ => false,
    };
    (
        etag.map(str::to_string),
        last_modified.filter(|_| settled).map(str::to_string),
    )
}

impl Cache {
    pub fn new(dir: impl Into<PathBuf>) -> Cache {
        Cache { dir: dir.into() }
    }

    /// The copy of `url`, if there is one that can be trusted and is at most `max_bytes` long.
    pub fn read(&self, url: &str, max_bytes: u64) -> Option<Copy> {
        let path = self.path(url);
        match self.try_read(&path, url, max_bytes) {
            Ok(copy) => copy,
            Err(why) => {
                warn!(copy = %path.display(), "the cached copy is not used ({why}): downloading in full");
                None
            }
        }
    }

    fn try_read(&self, path: &Path, url: &str, max_bytes: u64) -> Result<Option<Copy>, String> {
        let file = match std::fs::File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                debug!(url, "no cached copy");
                return Ok(None);
            }
            Err(e) => return Err(e.to_string()),
        };
        owned(
            &std::fs::metadata(&self.dir).map_err(|e| e.to_string())?,
            "its directory",
        )?;
        let metadata = file.metadata().map_err(|e| e.to_string())?;
        owned(&metadata, "the file")?;
        if !metadata.is_file() {
            return Err("not a regular file".into());
        }
        let mut text = Vec::new();
        file.take(max_bytes.saturating_add(MAX_HEADER))
            .read_to_end(&mut text)
            .map_err(|e| e.to_string())?;
        let newline = text
            .iter()
            .position(|b| *b == b'\n')
            .ok_or("no header line")?;
        let header: Header =
            serde_json::from_slice(&text[..newline]).map_err(|e| format!("header: {e}"))?;
        let bytes = text.split_off(newline + 1);
        if header.format != FORMAT || header.url != url {
            return Err(format!(
                "a copy of {} in format {}",
                header.url, header.format
            ));
        }
        if bytes.len() as u64 != header.len || sha256_hex(&bytes) != header.sha256 {
            return Err("its body does not match its header (cut off or altered)".into());
        }
        if header.len > max_bytes {
            return Err(format!("larger than {max_bytes} bytes"));
        }
        if header.etag.is_none() && header.last_modified.is_none() {
            return Err("no validator".into());
        }
        Ok(Some(Copy {
            etag: header.etag,
            last_modified: header.last_modified,
            bytes,
        }))
    }

    /// Keeps `copy` as the copy of `url`: a warning if that fails, which only means a full download
    /// next time.
    pub fn write(&self, url: &str, copy: &Copy) {
        if let Err(why) = self.try_write(url, copy) {
            warn!(dir = %self.dir.display(), "the download is not cached ({why}): the next run downloads in full");
        }
    }

    fn try_write(&self, url: &str, copy: &Copy) -> Result<(), String> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|e| e.to_string())?;
        owned(
            &std::fs::metadata(&self.dir).map_err(|e| e.to_string())?,
            "the directory",
        )?;
        let header = Header {
            format: FORMAT.into(),
            url: url.into(),
            etag: copy.etag.clone(),
            last_modified: copy.last_modified.clone(),
            sha256: sha256_hex(&copy.bytes),
            len: copy.bytes.len() as u64,
        };
        let path = self.path(url);
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let temporary = path.with_extension(format!("{}-{nanos}.tmp", std::process::id()));
        let written = (|| {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&temporary)?;
            serde_json::to_writer(&mut file, &header)?;
            file.write_all(b"\n")?;
            file.write_all(&copy.bytes)?;
            std::fs::rename(&temporary, &path)
        })();
        written.map_err(|e: std::io::Error| {
            let _ = std::fs::remove_file(&temporary);
            e.to_string()
        })
    }

    /// Forgets the copy of `url` (the server no longer gives a validator for it).
    pub fn remove(&self, url: &str) {
        let _ = std::fs::remove_file(self.path(url));
    }

    fn path(&self, url: &str) -> PathBuf {
        self.dir
            .join(format!("{}.copy", &sha256_hex(url.as_bytes())[..32]))
    }
}

/// Refuses what another user owns or may write.
fn owned(metadata: &std::fs::Metadata, what: &str) -> Result<(), String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if metadata.uid() != me {
        return Err(format!(
            "{what} belongs to user {}, not to this one ({me}): set DOWNLOAD_CACHE to a directory of your own",
            metadata.uid()
        ));
    }
    if metadata.mode() & 0o022 != 0 {
        return Err(format!(
            "{what} may be written by other users (mode {:o}): chmod go-w it, or set DOWNLOAD_CACHE to a \
             directory of your own",
            metadata.mode() & 0o7777
        ));
    }
    Ok(())
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://example.com/ranges.json";

    fn copy(body: &[u8]) -> Copy {
        Copy {
            etag: Some("\"v1\"".into()),
            last_modified: None,
            bytes: body.to_vec(),
        }
    }

    #[test]
    fn a_copy_is_read_back_only_for_its_url_and_intact() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().join("sgsync"));
        assert_eq!(cache.read(URL, 1000), None);
        cache.write(URL, &copy(b"{\"a\": 1}\n"));
        assert_eq!(cache.read(URL, 1000), Some(copy(b"{\"a\": 1}\n")));
        assert_eq!(cache.read("https://example.com/other.json", 1000), None);
        // Over the cap: the copy is not used (a download would be refused too).
        assert_eq!(cache.read(URL, 3), None);
        let mode = std::fs::metadata(dir.path().join("sgsync")).unwrap().mode();
        assert_eq!(mode & 0o777, 0o700);

        // A byte changed in the body: the copy is ignored, and the next write replaces it.
        let path = cache.path(URL);
        let mut text = std::fs::read(&path).unwrap();
        *text.last_mut().unwrap() = b' ';
        std::fs::write(&path, &text).unwrap();
        assert_eq!(cache.read(URL, 1000), None);
        cache.write(URL, &copy(b"[]"));
        assert_eq!(cache.read(URL, 1000), Some(copy(b"[]")));
        // Cut off: ignored.
        let text = std::fs::read(&path).unwrap();
        std::fs::write(&path, &text[..text.len() - 1]).unwrap();
        assert_eq!(cache.read(URL, 1000), None);
        cache.remove(URL);
        assert!(!path.exists());
        // No temporary file is left behind.
        assert_eq!(
            std::fs::read_dir(dir.path().join("sgsync"))
                .unwrap()
                .count(),
            0
        );
    }

    #[test]
    fn copies_others_may_write_are_not_trusted() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        cache.write(URL, &copy(b"[]"));
        assert!(cache.read(URL, 1000).is_some());
        std::fs::set_permissions(cache.path(URL), std::fs::Permissions::from_mode(0o666)).unwrap();
        assert_eq!(cache.read(URL, 1000), None);
        std::fs::set_permissions(cache.path(URL), std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        assert_eq!(cache.read(URL, 1000), None);
        // Nor written there.
        let path = cache.path(URL);
        std::fs::remove_file(&path).unwrap();
        cache.write(URL, &copy(b"[]"));
        assert!(!path.exists());
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    }

    #[test]
    fn a_modification_time_validates_only_once_settled() {
        let lm = "Mon, 07 Dec 2026 10:00:00 GMT";
        let (etag, kept) = validators(None, Some(lm), Some("Mon, 07 Dec 2026 10:00:59 GMT"));
        assert_eq!((etag, kept), (None, None));
        let (_, kept) = validators(
            Some("W/\"x\""),
            Some(lm),
            Some("Mon, 07 Dec 2026 10:01:00 GMT"),
        );
        assert_eq!(kept.as_deref(), Some(lm));
        assert_eq!(validators(None, Some(lm), None), (None, None));
        assert_eq!(validators(None, Some("yesterday"), Some(lm)), (None, None));
        assert_eq!(
            validators(Some("\"e\""), None, None),
            (Some("\"e\"".to_string()), None)
        );
    }
}
