//! Loading the document: where it comes from ([`Input`]) → verified bytes → the selected ranges
//! ([`Loaded`]), or a [`LoadError`] that says what was wrong. Nothing is read from or written to AWS
//! here, so a fleet of VPCs shares one load.

use std::time::Duration;

use thiserror::Error;
use tracing::{info, warn};

use crate::addresses::{Addresses, Published};
use crate::config::Config;
use crate::event::{Event, Notification};
use ipnet::{Ipv4Net, Ipv6Net};

use crate::cache::Cache;
use crate::formats::{self, FormatError, Source, Version};
use crate::ranges::{self, RangeSet, RangesError, Selection};
use crate::source::{self, Document, Limits, SourceError};

/// Where the document comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// An `AmazonIpSpaceChanged` notification: download from its URL (which must be the configured
    /// one) and check the document against its MD5 and synctoken.
    Notification(Notification),
    /// The configured `IP_RANGES_URL`, with nothing to check it against: the daily schedule, or an
    /// operator's "sync now".
    Configured,
    /// A file or URL given by an operator, with an optional MD5 to check.
    Location {
        /// Path or http(s) URL.
        file_or_url: String,
        /// Expected MD5, lower-case hex.
        md5: Option<String>,
    },
}

impl Input {
    /// The document an event asks for; `None` for the events that need none (a launch, a tag: they
    /// attach the groups that exist).
    pub fn for_event(event: &Event) -> Option<Input> {
        match event {
            Event::Notification(n) => Some(Input::Notification(n.clone())),
            Event::Schedule => Some(Input::Configured),
            Event::Instance(_) | Event::Tag(_) | Event::GroupsSet(_) => None,
        }
    }
}

/// A verified document and the ranges selected from it.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The bytes, as received.
    pub document: Document,
    /// The selected, aggregated ranges.
    pub ranges: RangeSet,
    /// Downloaded from `IP_RANGES_URL` without a notification (the schedule, a "sync now"): the live
    /// document, so if it is older than what is applied, something recorded is wrong.
    pub live: bool,
    /// With `REPLACES`: what the document publishes for the selected services in every region and
    /// both families, and for any service; `None` when not needed, or when that wider reading
    /// failed (then no swap is allowed).
    pub published: Option<Published>,
}

/// What the document publishes for `selection`'s services in every region and both families, and
/// for any service (Amazon's document; another provider's counts as its selected services only);
/// `None` when they cannot be read (a broken entry outside the selection, say).
pub(crate) fn published(source: Source, bytes: &[u8], selection: &Selection) -> Option<Published> {
    let wide = Selection {
        regions: None,
        ip_versions: ranges::IpVersions { v4: true, v6: true },
        ..selection.clone()
    };
    let refuse = |what: &str, e: &dyn std::fmt::Display| -> Option<Published> {
        warn!(
            "REPLACES: the document's ranges of {what} could not be read ({e}): no group is swapped out"
        );
        None
    };
    let set = match select_document(source, bytes, &wide, unix_now()) {
        Ok(set) => set,
        Err(e) => return refuse("SERVICE in every region and family", &e),
    };
    let nets: Vec<ipnet::IpNet> = (set.ipv4.iter().map(|n| ipnet::IpNet::V4(*n)))
        .chain(set.ipv6.iter().map(|n| ipnet::IpNet::V6(*n)))
        .collect();
    let service = Addresses::of(&nets);
    let document = match source {
        Source::Aws => match ranges::every_prefix(bytes) {
            Ok(nets) => Addresses::of(&nets),
            Err(e) => return refuse("every service", &e),
        },
        // Another provider's document counts as its selected services only.
        Source::Format(_) => service.clone(),
    };
    Some(Published { service, document })
}

/// Why no document could be loaded. Nothing was changed.
#[derive(Debug, Error)]
pub enum LoadError {
    /// It could not be fetched or verified.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// It is malformed, or the selection is empty.
    #[error(transparent)]
    Ranges(#[from] RangesError),
    /// Another provider's document is malformed, or the selection is empty.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// A notification for a source that has none.
    #[error(
        "an AmazonIpSpaceChanged notification reached a deployment of SOURCE={0}, whose ranges it does not \
         announce: nothing was changed; such a deployment runs on its schedule (unsubscribe it from the topic)"
    )]
    NotAnnounced(Source),
    /// A download, but the source has no fixed address and IP_RANGES_URL names none.
    #[error(
        "SOURCE={0} has no fixed address (Azure publishes a new file name every week; a text list is \
         wherever you keep it): set IP_RANGES_URL to the document, or give it with --ip-ranges FILE; \
         nothing was changed"
    )]
    NoUrl(Source),
}

/// The URL a download reads: IP_RANGES_URL, or the source's own.
pub fn configured_url(config: &Config) -> Result<&str, LoadError> {
    match config.ip_ranges_url.as_str() {
        "" => Err(LoadError::NoUrl(config.source)),
        url => Ok(url),
    }
}

/// The selected ranges of a document of `source`: ip-ranges.json, or another provider's format, whose
/// version becomes the synctoken when it is a time (Google's milliseconds in seconds, Oracle's
/// timestamp) and is otherwise `now`, the time of the download (GitHub, Cloudflare, Fastly, Azure's
/// counter, which has gone backwards, text lists): such documents are told apart by their ranges.
pub fn select_document(
    source: Source,
    bytes: &[u8],
    selection: &Selection,
    now: u64,
) -> Result<RangeSet, LoadError> {
    let Source::Format(format) = source else {
        return Ok(ranges::select(bytes, selection)?);
    };
    let wanted = formats::Selection {
        services: selection.services.clone(),
        regions: selection.regions.clone(),
        ipv4: selection.ip_versions.v4,
        ipv6: selection.ip_versions.v6,
    };
    let got = formats::select(format, bytes, &wanted)?;
    let v4: Vec<Ipv4Net> = got.ipv4.iter().copied().collect();
    let v6: Vec<Ipv6Net> = got.ipv6.iter().copied().collect();
    let (synctoken, ordered) = match got.version {
        Version::Millis(ms) => (ms / 1000, true),
        Version::Seconds(s) => (s, true),
        Version::Counter(_) | Version::Etag(_) | Version::None => (now, false),
    };
    let version = match &got.version {
        Version::None => format!("ranges {}", digest(&v4, &v6)),
        v => format!("{v}, ranges {}", digest(&v4, &v6)),
    };
    Ok(RangeSet {
        synctoken,
        create_date: version,
        ipv4: Ipv4Net::aggregate(&v4),
        ipv6: Ipv6Net::aggregate(&v6),
        published_v4: got.ipv4.len(),
        published_v6: got.ipv6.len(),
        warnings: got.warnings,
        ordered,
    })
}

/// The first 12 hex digits of the SHA-256 of the prefixes, one per line, sorted: what names a
/// version of a document that has no version of its own.
fn digest(v4: &[Ipv4Net], v6: &[Ipv6Net]) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for net in v4
        .iter()
        .map(ToString::to_string)
        .chain(v6.iter().map(ToString::to_string))
    {
        hash.update(net.as_bytes());
        hash.update(b"\n");
    }
    hash.finalize()[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Seconds since 1970.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Checks the MD5 (when one is expected) and selects the ranges at the same time, on two threads:
/// on the real document MD5 (~4 ms) takes as long as the parse and selection together, so running
/// them side by side halves the offline pipeline. Nothing is applied unless both succeed.
pub fn verified_selection(
    doc: &Document,
    md5: Option<&str>,
    source: Source,
    selection: &Selection,
) -> (Result<(), SourceError>, Result<RangeSet, LoadError>) {
    let now = unix_now();
    match md5 {
        None => (Ok(()), select_document(source, &doc.bytes, selection, now)),
        Some(md5) => std::thread::scope(|s| {
            let check = s.spawn(|| source::verify_md5(doc, md5));
            let selected = select_document(source, &doc.bytes, selection, now);
            (
                check.join().expect("the MD5 thread does not panic"),
                selected,
            )
        }),
    }
}

/// Fetches and verifies the document `input` names, and selects its ranges.
pub async fn load(config: &Config, input: &Input) -> Result<Loaded, LoadError> {
    let limits = Limits::default();
    let cache = config.download_cache.as_ref();
    let selection = config.selection();
    let (document, selected) = match input {
        Input::Notification(_) if config.source != Source::Aws => {
            return Err(LoadError::NotAnnounced(config.source));
        }
        Input::Notification(n) => notified(config, n, &limits, cache, &selection).await?,
        Input::Configured => {
            let doc = source::fetch(configured_url(config)?, &limits, cache).await?;
            let (_, selected) = verified_selection(&doc, None, config.source, &selection);
            (doc, selected)
        }
        Input::Location { file_or_url, md5 } => {
            let mut doc = source::load(file_or_url, &limits, cache).await?;
            let (mut check, mut selected) =
                verified_selection(&doc, md5.as_deref(), config.source, &selection);
            if check.is_err() && doc.from_cache() {
                warn!(
                    "the server calls the cached copy current, but it is not the document --md5 names: downloading in full"
                );
                let refreshing = cache.map(Cache::refreshing);
                doc = source::load(file_or_url, &limits, refreshing.as_ref()).await?;
                (check, selected) =
                    verified_selection(&doc, md5.as_deref(), config.source, &selection);
            }
            check?;
            (doc, selected)
        }
    };
    info!(
        origin = %document.origin,
        bytes = document.bytes.len(),
        md5 = %document.md5(),
        download = %document.fetched,
        "document loaded"
    );
    let ranges = selected?;
    // Checked: now a 304 may be answered with it.
    source::keep(cache, &document);
    let published = match config.replaces {
        Some(_) => published(config.source, &document.bytes, &selection),
        None => None,
    };
    Ok(Loaded {
        document,
        ranges,
        live: *input == Input::Configured,
        published,
    })
}

/// Downloads the document a notification announces and checks it against the notification.
///
/// A document *newer* than the notification (Amazon published again in between) is applied: it is what
/// the notification would lead to anyway. An *older* one means a stale CDN answered: download again
/// with backoff (`DOWNLOAD_RETRY_MS`, doubling, three times), then fail so Lambda retries the event.
/// The same synctoken with another MD5 is a corrupt or tampered document: fail. A cached copy the
/// server calls unchanged that is not the announced one is downloaded again in full at once.
async fn notified(
    config: &Config,
    n: &Notification,
    limits: &Limits,
    cache: Option<&Cache>,
    selection: &Selection,
) -> Result<(Document, Result<RangeSet, LoadError>), LoadError> {
    // After a copy the server wrongly called current: download in full, and replace the copy.
    let refreshing = cache.map(Cache::refreshing);
    let mut cache = cache;
    let url = n.url.as_deref().unwrap_or(&config.ip_ranges_url);
    source::check_url(url, &config.ip_ranges_url)?;
    let delays: Vec<Duration> = (0..3).map(|i| config.download_retry * (1 << i)).collect();
    let mut attempt = 0;
    loop {
        let doc = source::fetch(url, limits, cache).await?;
        let (check, selected) = verified_selection(&doc, Some(&n.md5), Source::Aws, selection);
        let Err(mismatch) = check else {
            return Ok((doc, selected));
        };
        if doc.from_cache() {
            warn!(
                "the server calls the cached copy current, but it is not the announced document: downloading in full"
            );
            cache = refreshing.as_ref();
            continue;
        }
        let synctoken = match &selected {
            Ok(set) => set.synctoken,
            Err(_) => match ranges::synctoken(&doc.bytes) {
                Ok(t) => t,
                Err(_) => return Err(mismatch.into()),
            },
        };
        if synctoken > n.synctoken {
            warn!(
                notified = n.synctoken,
                downloaded = synctoken,
                "the downloaded document supersedes the notification: applying the newer one"
            );
            return Ok((doc, selected));
        }
        if synctoken == n.synctoken || attempt >= delays.len() {
            return Err(mismatch.into());
        }
        warn!(
            notified = n.synctoken,
            downloaded = synctoken,
            retry_in_ms = delays[attempt].as_millis() as u64,
            "the downloaded document is older than the notification; downloading again"
        );
        tokio::time::sleep(delays[attempt]).await;
        attempt += 1;
    }
}
