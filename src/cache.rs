//! The last copy of each downloaded document (`DOWNLOAD_CACHE`), so that a conditional GET can be
//! answered "304 Not Modified" and an unchanged document costs no download, while the run still has
//! the whole document to repair drift with.
//!
//! A 304 is the server's word that nothing changed, so a copy is kept only where that word cannot
//! be about another body ([`worth_keeping`]): its entity-tag must be the body's own digest (its MD5,
//! as S3 and CloudFront give, or its SHA-256, whole or a prefix of at least 32 digits), which no
//! other version can share. A time-derived tag (nginx's is the file's time and length: two versions
//! of one second share it, and a proxy hides when it was made) or a modification time (servers
//! answer "not modified since", and a file moved into place can move backwards) is never trusted;
//! such a server is downloaded in full every time. A copy is kept only once the document passed
//! every check of a run, and answers for six hours at most; then it is downloaded in full.
//!
//! One file per URL, named by the SHA-256 of the URL: a first line of JSON (the URL, the entity-tag,
//! when it was kept, the body's SHA-256 and length), then the body exactly as received. A copy is
//! written to a temporary file and renamed into place, so a concurrent run reads the old copy or the
//! new one, never half of one; a copy whose body does not match its first line is ignored (and
//! replaced by the next download). Every fault here is a warning and a full download, never a
//! failed run.
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
    /// Whether a download asks about the copy; when not, it only replaces it.
    ask: bool,
}

/// A copy, and what to ask the server about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Copy {
    /// Sent as `If-None-Match`.
    pub etag: String,
    pub bytes: Vec<u8>,
}

/// A copy's first line.
#[derive(Serialize, Deserialize)]
struct Header {
    format: String,
    url: String,
    etag: String,
    /// When it was kept, in seconds since 1970.
    kept: u64,
    sha256: String,
    len: u64,
}

const FORMAT: &str = "sgsync-cache/2";
/// How long a copy answers 304s before the document is downloaded in full again: whatever a broken
/// server's entity-tags get wrong (a memoised digest of an older body) lasts six hours at most.
const TRUST_FOR: u64 = 6 * 3600;
/// The longest entity-tag kept: a digest's is at most 68 characters (`W/`, quotes and SHA-256's
/// 64 digits); a longer one sent back could overflow a server's header limit on every run.
const MAX_ETAG: usize = 256;
/// Copies (and temporary files of killed runs) untouched this long are removed: a URL that is no
/// longer read (Azure's weekly file names) leaves nothing behind for good.
const PRUNE_AFTER: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);
/// The longest first line read: a URL and an entity-tag, far below this.
const MAX_HEADER: u64 = 64 * 1024;

/// The entity-tag of a response worth keeping a copy of `body` for, or `None`: a valid entity-tag
/// (`"…"` or `W/"…"`, at most [`MAX_ETAG`] characters) whose value is the body's MD5 or its SHA-256
/// (or a prefix of it of at least 32 hex digits, as Rack gives), of a body whose length was framed
/// (`framed`: a `Content-Length`, chunks, HTTP/2; a body ended by the connection closing may have been
/// cut off). A tag derived from anything but the content (a time, a size, a version counter) could
/// be shared by two versions, and the server's 304 would then vouch for the wrong one.
pub fn worth_keeping(etag: Option<&str>, body: &[u8], framed: bool) -> Option<String> {
    let etag = etag?.trim();
    let opaque = etag.strip_prefix("W/").unwrap_or(etag);
    let hex = opaque
        .strip_prefix('"')
        .and_then(|o| o.strip_suffix('"'))?
        .to_ascii_lowercase();
    if !framed
        || etag.len() > MAX_ETAG
        || hex.len() < 32
        || !hex.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return None;
    }
    let content = hex == crate::source::md5_hex(body) || sha256_hex(body).starts_with(&hex);
    content.then(|| etag.to_string())
}

impl Cache {
    pub fn new(dir: impl Into<PathBuf>) -> Cache {
        Cache {
            dir: dir.into(),
            ask: true,
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The same directory, for a download that must not be answered by the copy (the copy was called
    /// current but is not the expected document) and replaces it.
    pub fn refreshing(&self) -> Cache {
        Cache {
            dir: self.dir.clone(),
            ask: false,
        }
    }

    /// Whether a download asks about the copy.
    pub fn asks(&self) -> bool {
        self.ask
    }

    /// Where the copy of `url` is.
    pub fn path(&self, url: &str) -> PathBuf {
        self.dir
            .join(format!("{}.copy", &sha256_hex(url.as_bytes())[..32]))
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
        if self.dir.exists() && !self.dir.is_dir() {
            return Err(not_a_directory());
        }
        let file = match std::fs::File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                debug!(url, "no cached copy");
                return Ok(None);
            }
            Err(e) => {
                return Err(format!(
                    "{e}; choose a DOWNLOAD_CACHE directory you may read, or set it to off"
                ));
            }
        };
        self.owned_dir("its directory")?;
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
        let now = now();
        if header.kept > now + 60 || now - header.kept.min(now) > TRUST_FOR {
            debug!(
                url,
                "the copy is more than six hours old: downloading in full"
            );
            return Ok(None);
        }
        if bytes.len() as u64 != header.len || sha256_hex(&bytes) != header.sha256 {
            return Err("its body does not match its header (cut off or altered)".into());
        }
        if header.len > max_bytes {
            return Err(format!("larger than {max_bytes} bytes"));
        }
        if worth_keeping(Some(&header.etag), &bytes, true).is_none() {
            return Err("its entity-tag is not its body's digest".into());
        }
        Ok(Some(Copy {
            etag: header.etag,
            bytes,
        }))
    }

    /// Keeps `copy` as the copy of `url`: a warning if that fails, which only means a full download
    /// next time.
    pub fn write(&self, url: &str, copy: &Copy) {
        match self.try_write(url, copy) {
            Ok(path) => debug!(copy = %path.display(), "kept a copy of the download"),
            Err(why) => warn!(
                dir = %self.dir.display(),
                "the download is not cached ({why}): the next run downloads in full"
            ),
        }
        self.prune();
    }

    fn try_write(&self, url: &str, copy: &Copy) -> Result<PathBuf, String> {
        let remedy = "choose a DOWNLOAD_CACHE you may write, or set it to off";
        if self.dir.exists() && !self.dir.is_dir() {
            return Err(not_a_directory());
        }
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|e| format!("cannot create it: {e}; {remedy}"))?;
        self.owned_dir("the directory")?;
        let header = Header {
            format: FORMAT.into(),
            url: url.into(),
            etag: copy.etag.clone(),
            kept: now(),
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
        match written {
            Ok(()) => Ok(path),
            Err(e) => {
                let _ = std::fs::remove_file(&temporary);
                Err(format!("{e}; {remedy}"))
            }
        }
    }

    /// Removes copies and temporary files untouched for [`PRUNE_AFTER`].
    fn prune(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let ours = (name.to_str()).is_some_and(|n| n.ends_with(".copy") || n.ends_with(".tmp"));
            let old = (entry.metadata().and_then(|m| m.modified()))
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > PRUNE_AFTER));
            if ours && old {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    /// Refuses a directory another user owns or may write, or a link to one another user planted.
    fn owned_dir(&self, what: &str) -> Result<(), String> {
        let link = std::fs::symlink_metadata(&self.dir).map_err(|e| e.to_string())?;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        if link.file_type().is_symlink() && link.uid() != me {
            return Err(format!(
                "{what} is a link user {} made: set DOWNLOAD_CACHE to a directory of your own",
                link.uid()
            ));
        }
        owned(
            &std::fs::metadata(&self.dir).map_err(|e| e.to_string())?,
            what,
        )
    }

    /// Forgets the copy of `url` (the server no longer gives a validator for it).
    pub fn remove(&self, url: &str) {
        let _ = std::fs::remove_file(self.path(url));
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
            "{what} may be written by other users (mode {:o}): set DOWNLOAD_CACHE to a directory only you \
             may write, e.g. one that does not exist yet (sgsync creates it, mode 700)",
            metadata.mode() & 0o7777
        ));
    }
    Ok(())
}

fn not_a_directory() -> String {
    "DOWNLOAD_CACHE names a file, not a directory: choose a DOWNLOAD_CACHE you may write, or set it to off"
        .into()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
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
            etag: format!("\"{}\"", crate::source::md5_hex(body)),
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
    fn copies_untouched_for_a_month_are_removed_and_a_file_is_no_directory() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let old = dir.path().join("0123.copy");
        let killed = dir.path().join("0123.99-1.tmp");
        let foreign = dir.path().join("notes.txt");
        let month_ago = SystemTime::now() - PRUNE_AFTER - std::time::Duration::from_secs(60);
        for path in [&old, &killed, &foreign] {
            std::fs::write(path, b"x").unwrap();
            let file = std::fs::File::options().write(true).open(path).unwrap();
            file.set_modified(month_ago).unwrap();
        }
        cache.write(URL, &copy(b"[]"));
        assert!(!old.exists() && !killed.exists());
        assert!(foreign.exists(), "only sgsync's files are pruned");
        assert!(cache.read(URL, 100).is_some());

        let e = Cache::new(&foreign)
            .try_write(URL, &copy(b"[]"))
            .unwrap_err();
        assert!(e.contains("names a file, not a directory"), "{e}");
        // Reading through it: not used, and said the same way.
        assert_eq!(Cache::new(&foreign).read(URL, 100), None);
        let e = Cache::new(&foreign)
            .try_read(&foreign.join("x.copy"), URL, 100)
            .unwrap_err();
        assert!(e.contains("names a file, not a directory"), "{e}");
        // A refreshing cache asks nothing (the download ignores its copy) but keeps what it gets.
        assert!(cache.asks() && !cache.refreshing().asks());
    }

    #[test]
    fn only_an_entity_tag_that_is_the_bodys_digest_is_worth_keeping() {
        let body = b"[]";
        let md5 = crate::source::md5_hex(body);
        let sha = sha256_hex(body);
        let keep = |etag: &str, framed| worth_keeping(Some(etag), body, framed);
        for good in [
            format!("\"{md5}\""),
            format!("\"{}\"", md5.to_ascii_uppercase()),
            format!("W/\"{sha}\""),
            format!("W/\"{}\"", &sha[..32]),
        ] {
            assert_eq!(keep(&good, true).as_deref(), Some(good.as_str()));
        }
        // A body ended by the connection closing.
        assert_eq!(keep(&format!("\"{md5}\""), false), None);
        // Another body's digest; nginx's time and length; a short prefix; `*`; unquoted; too long.
        let other = crate::source::md5_hex(b"[1]");
        for bad in [
            format!("\"{other}\""),
            "\"6b1722a9-14a0\"".to_string(),
            format!("\"{}\"", &sha[..16]),
            "*".to_string(),
            md5.clone(),
            format!("\"{md5}{}\"", "0".repeat(300)),
        ] {
            assert_eq!(keep(&bad, true), None, "{bad}");
        }
        assert_eq!(worth_keeping(None, body, true), None);
    }

    #[test]
    fn a_copy_older_than_six_hours_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        cache.write(URL, &copy(b"[]"));
        assert!(cache.read(URL, 100).is_some());
        let path = cache.path(URL);
        let text = std::fs::read_to_string(&path).unwrap();
        let (line, body) = text.split_once('\n').unwrap();
        let mut header: serde_json::Value = serde_json::from_str(line).unwrap();
        for kept in [now() - TRUST_FOR - 10, now() + 3600] {
            header["kept"] = kept.into();
            std::fs::write(&path, format!("{header}\n{body}")).unwrap();
            assert_eq!(cache.read(URL, 100), None, "kept at {kept}");
        }
        header["kept"] = (now() - TRUST_FOR + 60).into();
        std::fs::write(&path, format!("{header}\n{body}")).unwrap();
        assert!(cache.read(URL, 100).is_some());
    }
}
