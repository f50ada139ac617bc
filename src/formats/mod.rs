//! IP-range documents of providers other than Amazon: Google (cloud.json, goog.json and the crawler
//! lists in the same shape), GitHub's `/meta`, Cloudflare, Fastly, Oracle, Azure Service Tags and plain
//! text lists.
//!
//! This module owns what every format shares: the public API ([`Format`], [`Selection`],
//! [`Selected`], [`Version`], [`FormatError`], [`select`]), a JSON reader that keeps what
//! `serde_json::Value` loses (a key given twice), the canonical-prefix check, the bookkeeping of what
//! the selection matched, and the error texts. Each provider module owns only its document's shape.
//!
//! Strictness follows the ip-ranges.json parser (`ranges.rs`): every selected prefix must be a
//! canonical CIDR; an entry of a selected service that is broken refuses the whole document (applying
//! part of it could cut the service off), while a broken entry nobody selected is skipped with a
//! warning (it must not block updates of what is selected). Ranges are returned as published, deduped
//! but not aggregated: the caller aggregates.

mod azure;
mod cloudflare;
mod fastly;
mod github;
mod google;
mod oracle;
mod text;

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::Deserialize;
use thiserror::Error;

use crate::error::echo;

/// The document formats sgsync can read besides Amazon's ip-ranges.json.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// Google's `{syncToken, creationTime, prefixes}`: cloud.json, goog.json, googlebot, GPTBot, Bingbot.
    Google,
    /// `https://api.github.com/meta`.
    Github,
    /// `https://api.cloudflare.com/client/v4/ips`.
    Cloudflare,
    /// `https://api.fastly.com/public-ip-list`.
    Fastly,
    /// Oracle Cloud's `public_ip_ranges.json`.
    Oracle,
    /// Azure Service Tags (`ServiceTags_Public_YYYYMMDD.json`).
    Azure,
    /// One CIDR per line.
    Text,
}

/// Every format, in the order error messages list them.
const ALL: [Format; 7] = [
    Format::Google,
    Format::Github,
    Format::Cloudflare,
    Format::Fastly,
    Format::Oracle,
    Format::Azure,
    Format::Text,
];

/// A format name that names no format; the caller adds which setting it came from.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error(
    "'{0}' is not a source format; expected one of google, github, cloudflare, fastly, oracle, azure or text"
)]
pub struct FormatNameError(pub String);

impl FromStr for Format {
    type Err = FormatNameError;

    /// The names [`Display`](fmt::Display) prints, in any case and with surrounding spaces: how they
    /// arrive from an environment variable.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        ALL.into_iter()
            .find(|f| f.name() == wanted)
            .ok_or_else(|| FormatNameError(s.to_string()))
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a deployment's ranges come from (`SOURCE`): Amazon's ip-ranges.json (`aws`, the default),
/// or another provider's format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Source {
    #[default]
    Aws,
    Format(Format),
}

impl FromStr for Source {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "aws" => Ok(Source::Aws),
            _ => s.parse().map(Source::Format).map_err(|_| {
                format!(
                    "'{}' is not a source; expected aws, google, github, cloudflare, fastly, oracle, azure \
                     or text",
                    s.trim()
                )
            }),
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Aws => f.write_str("aws"),
            Source::Format(format) => format.fmt(f),
        }
    }
}

/// Whether a format's documents have services, and whether naming one is a must.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceRule {
    /// SERVICE must name at least one: the whole document is far more than anyone allows (GitHub's
    /// `actions`, Azure's ~3,000 tags).
    Required,
    /// SERVICE narrows the document; unset, all of it is selected.
    Optional,
    /// The document is one list: a SERVICE value is an error.
    None,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Google => "google",
            Format::Github => "github",
            Format::Cloudflare => "cloudflare",
            Format::Fastly => "fastly",
            Format::Oracle => "oracle",
            Format::Azure => "azure",
            Format::Text => "text",
        }
    }

    /// The provider's published URL, or `None` where there is no stable one (Azure's file name changes
    /// every week; a text list can come from anywhere), so IP_RANGES_URL is required.
    pub fn default_url(self) -> Option<&'static str> {
        match self {
            Format::Google => Some("https://www.gstatic.com/ipranges/cloud.json"),
            Format::Github => Some("https://api.github.com/meta"),
            Format::Cloudflare => Some("https://api.cloudflare.com/client/v4/ips"),
            Format::Fastly => Some("https://api.fastly.com/public-ip-list"),
            Format::Oracle => {
                Some("https://docs.oracle.com/en-us/iaas/tools/public_ip_ranges.json")
            }
            Format::Azure | Format::Text => None,
        }
    }

    /// What SERVICE means for this format.
    pub fn services(self) -> ServiceRule {
        match self {
            Format::Github | Format::Azure => ServiceRule::Required,
            Format::Google | Format::Oracle => ServiceRule::Optional,
            Format::Cloudflare | Format::Fastly | Format::Text => ServiceRule::None,
        }
    }

    /// Whether SERVICE_REGIONS means anything: Google's `scope`, Oracle's `region`, Azure's
    /// `properties.region`.
    pub fn has_regions(self) -> bool {
        matches!(self, Format::Google | Format::Oracle | Format::Azure)
    }

    /// What SERVICE names, for the message that asks for it.
    fn service_meaning(self) -> &'static str {
        match self {
            Format::Github => "the top-level keys that hold IP ranges, such as hooks or web",
            Format::Azure => {
                "the service tags to sync (values[].name), such as AzureFrontDoor.Backend"
            }
            Format::Google => "the entries' service field",
            Format::Oracle => "a tag of the CIDRs: OCI, OSN or OBJECT_STORAGE",
            Format::Cloudflare | Format::Fastly | Format::Text => {
                "nothing: the document is one list"
            }
        }
    }

    /// The shape a document of this format has, for the message that refuses another shape.
    fn shape(self) -> &'static str {
        match self {
            Format::Google => {
                r#"{"syncToken"?, "creationTime", "prefixes": [{"ipv4Prefix"|"ipv6Prefix", "service"?, "scope"?}]}"#
            }
            Format::Github => {
                "a JSON object whose IP-list keys (hooks, web, api, git, actions, ...) are arrays of CIDR strings"
            }
            Format::Cloudflare => {
                r#"{"result": {"ipv4_cidrs": [...], "ipv6_cidrs": [...], "etag"}, "success": true, "errors": []}"#
            }
            Format::Fastly => r#"{"addresses": [...], "ipv6_addresses": [...]}"#,
            Format::Oracle => {
                r#"{"last_updated_timestamp", "regions": [{"region", "cidrs": [{"cidr", "tags": [...]}]}]}"#
            }
            Format::Azure => {
                r#"{"changeNumber", "cloud", "values": [{"name", "properties": {"region", "addressPrefixes": [...]}}]}"#
            }
            Format::Text => "one CIDR prefix per line, with blank lines and # comments",
        }
    }

    /// The document IP_RANGES_URL should point at, for the message that refuses another one.
    fn document(self) -> &'static str {
        match self {
            Format::Google => {
                "Google's cloud.json or goog.json, or a list in their shape (googlebot.json, gptbot.json, bingbot.json)"
            }
            Format::Github => "GitHub's https://api.github.com/meta",
            Format::Cloudflare => "Cloudflare's https://api.cloudflare.com/client/v4/ips",
            Format::Fastly => "Fastly's https://api.fastly.com/public-ip-list",
            Format::Oracle => "Oracle's public_ip_ranges.json",
            Format::Azure => "an Azure Service Tags file (ServiceTags_Public_YYYYMMDD.json)",
            Format::Text => "a plain list of CIDR prefixes",
        }
    }
}

/// A document's own version field, for logging and for "never go backwards" checks only: no
/// provider's version is a trustworthy change signal (Google's syncToken changes without content
/// changes, Azure's changeNumber has stood still over a change and gone backwards). Compare the
/// selected ranges to detect a change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Version {
    /// Google's syncToken: milliseconds since 1970 (UTC).
    Millis(u64),
    /// Oracle's last_updated_timestamp in seconds since 1970. The timestamp has no zone; it is read as
    /// UTC, so it compares only with other Oracle timestamps.
    Seconds(u64),
    /// Azure's top-level changeNumber.
    Counter(u64),
    /// Cloudflare's result.etag: an opaque digest, compare for equality only.
    Etag(String),
    /// The document has no version field (GitHub, Fastly, text lists, Google's crawler lists).
    None,
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Version::Millis(ms) => write!(f, "syncToken {ms}"),
            Version::Seconds(s) => {
                let (y, m, d) = civil_from_days(s / 86_400);
                let t = s % 86_400;
                write!(
                    f,
                    "last updated {y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
                    t / 3600,
                    t / 60 % 60,
                    t % 60
                )
            }
            Version::Counter(n) => write!(f, "changeNumber {n}"),
            Version::Etag(e) => write!(f, "etag {}", echo(e)),
            Version::None => f.write_str("no version"),
        }
    }
}

/// What to keep from a document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    /// SERVICE items, exactly as the document writes them; empty keeps all where the format allows.
    pub services: Vec<String>,
    /// SERVICE_REGIONS items; `None` keeps all.
    pub regions: Option<Vec<String>>,
    /// Keep IPv4 prefixes.
    pub ipv4: bool,
    /// Keep IPv6 prefixes.
    pub ipv6: bool,
}

/// The selected prefixes of one document, as published (deduped, not aggregated).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selected {
    /// The document's version field.
    pub version: Version,
    /// Distinct selected IPv4 prefixes.
    pub ipv4: BTreeSet<Ipv4Net>,
    /// Distinct selected IPv6 prefixes.
    pub ipv6: BTreeSet<Ipv6Net>,
    /// Selected IPv4 entries as published, duplicates included (Azure repeats a prefix in several
    /// tags): at least `ipv4.len()`.
    pub published_v4: usize,
    /// Selected IPv6 entries as published, duplicates included.
    pub published_v6: usize,
    /// Broken entries nobody selected, skipped; selected IP versions the document has nothing of.
    pub warnings: Vec<String>,
}

/// Why a document was refused. Nothing is changed when a document is refused.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum FormatError {
    /// The bytes end before the document does.
    #[error(
        "the {format} document is truncated ({bytes} bytes, {detail}); it was cut off in transit: download it \
         again, nothing was changed"
    )]
    Truncated {
        format: Format,
        bytes: usize,
        /// Where the parser stopped.
        detail: String,
    },
    /// Not JSON, or not the format's shape.
    #[error(
        "the {format} document is not valid: {problem}; expected {}: check that IP_RANGES_URL (or the file \
         given) is {}, nothing was changed",
        .format.shape(),
        .format.document()
    )]
    Malformed { format: Format, problem: String },
    /// The version field is missing or unreadable.
    #[error(
        "the {format} document's {field} is {found}, expected {expected}; the document is corrupt or not {}, \
         nothing was changed",
        .format.document()
    )]
    BadVersion {
        format: Format,
        /// The field's name in the document.
        field: &'static str,
        /// What it holds instead.
        found: String,
        expected: &'static str,
    },
    /// The provider's API answered with an error document instead of the ranges.
    #[error(
        "the {format} API answered with an error instead of the ranges: {message}; nothing was changed, try \
         again later (a rate limit or an outage passes)"
    )]
    ProviderError { format: Format, message: String },
    /// A selected prefix is not a canonical CIDR of the right family.
    #[error(
        "{location} of the {format} document holds '{prefix}', which is {problem}; the document is corrupt, \
         nothing was changed"
    )]
    BadPrefix {
        format: Format,
        /// Where in the document, in the provider's terms.
        location: String,
        /// The prefix as published.
        prefix: String,
        problem: String,
    },
    /// A selected entry is not of the shape its prefixes could be read from.
    #[error(
        "{location} of the {format} document is malformed: {problem}; the document is corrupt, nothing was \
         changed"
    )]
    BadEntry {
        format: Format,
        location: String,
        problem: String,
    },
    /// A SERVICE item names no service of the document.
    #[error(
        "SERVICE '{service}' is not a service of {document} (a typo?); nothing was changed. Services in this \
         document, nearest first: {known}"
    )]
    UnknownService {
        format: Format,
        service: String,
        /// The document and its version.
        document: String,
        /// The document's services, nearest first.
        known: String,
    },
    /// A SERVICE_REGIONS item names no region the selected services publish ranges in.
    #[error(
        "SERVICE_REGIONS '{region}' is not a region of {services} in {document} (a typo?); nothing was \
         changed. Regions there, nearest first: {known}"
    )]
    UnknownRegion {
        format: Format,
        region: String,
        /// The selected services, comma-separated, or "any service".
        services: String,
        document: String,
        known: String,
    },
    /// SERVICE was given for a format whose document is one list.
    #[error(
        "SERVICE is '{service}', but a {format} document has no services (it is one list); unset SERVICE, \
         nothing was changed"
    )]
    ServiceNotAccepted { format: Format, service: String },
    /// SERVICE_REGIONS was given for a format without regions.
    #[error(
        "SERVICE_REGIONS is '{regions}', but a {format} document has no regions; unset SERVICE_REGIONS, \
         nothing was changed"
    )]
    RegionsNotAccepted { format: Format, regions: String },
    /// SERVICE is unset for a format that needs it.
    #[error(
        "SERVICE is required for the {format} format: it names {}; set it to one or more of: {known}; \
         nothing was changed",
        .format.service_meaning()
    )]
    ServiceRequired {
        format: Format,
        /// The document's services.
        known: String,
    },
    /// The selection matches nothing.
    #[error("no {versions} prefixes for {what} in {document}; {hint}, nothing was changed")]
    Empty {
        format: Format,
        /// The selection, as text.
        what: String,
        /// The IP versions asked for.
        versions: String,
        document: String,
        /// Which settings to check.
        hint: String,
    },
}

/// Selects the prefixes of `selection` from a document of `format`: every check on the document's
/// content happens here, before anything is planned.
pub fn select(
    format: Format,
    document: &[u8],
    selection: &Selection,
) -> Result<Selected, FormatError> {
    // Settings that cannot mean anything for the format are refused before the document is read:
    // ignoring them would silently select more than the operator asked for.
    if format.services() == ServiceRule::None && !selection.services.is_empty() {
        return Err(FormatError::ServiceNotAccepted {
            format,
            service: echo(&selection.services.join(",")),
        });
    }
    if !format.has_regions()
        && let Some(regions) = &selection.regions
    {
        return Err(FormatError::RegionsNotAccepted {
            format,
            regions: echo(&regions.join(",")),
        });
    }
    // A byte-order mark is an encoding marker, not content; some Windows tools add one.
    let document = document
        .strip_prefix(b"\xEF\xBB\xBF".as_slice())
        .unwrap_or(document);
    match format {
        Format::Google => google::select(document, selection),
        Format::Github => github::select(document, selection),
        Format::Cloudflare => cloudflare::select(document, selection),
        Format::Fastly => fastly::select(document, selection),
        Format::Oracle => oracle::select(document, selection),
        Format::Azure => azure::select(document, selection),
        Format::Text => text::select(document, selection),
    }
}

/// Up to ten of `known`, the closest to `wanted` first (edit distance, ignoring case), and how many
/// more there are: what an error message shows an operator who made a typo.
fn nearest_first(wanted: &str, known: BTreeSet<String>) -> String {
    let wanted = wanted.to_ascii_lowercase();
    let mut known: Vec<String> = known.into_iter().filter(|k| !k.is_empty()).collect();
    // Stable: equally near values keep their alphabetical order.
    known.sort_by_cached_key(|k| strsim::levenshtein(&wanted, &k.to_ascii_lowercase()));
    limited(known, 10)
}

/// The values in alphabetical order, up to twenty: what to choose from when nothing was chosen.
fn listing(known: BTreeSet<String>) -> String {
    limited(known.into_iter().filter(|k| !k.is_empty()).collect(), 20)
}

fn limited(mut values: Vec<String>, keep: usize) -> String {
    let more = values.len().saturating_sub(keep);
    values.truncate(keep);
    let mut text = values
        .iter()
        .map(|v| echo(v))
        .collect::<Vec<_>>()
        .join(", ");
    if text.is_empty() {
        text.push_str("none");
    }
    if more > 0 {
        text.push_str(&format!(" and {more} more"));
    }
    text
}

/// "the google document (syncToken 1769717571194)": how messages name the document.
fn describe(format: Format, version: &Version) -> String {
    match version {
        Version::None => format!("the {format} document"),
        v => format!("the {format} document ({v})"),
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm): std has no
/// calendar, and a date library for one timestamp field is not worth a dependency.
fn days_from_civil(year: u64, month: u64, day: u64) -> Option<u64> {
    let y = if month <= 2 {
        year.checked_sub(1)?
    } else {
        year
    };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe).checked_sub(719_468)
}

/// The inverse of [`days_from_civil`], for printing a [`Version::Seconds`].
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

// ---------------------------------------------------------------------------------------------
// JSON as written

/// A JSON value as written. `serde_json::Value` keeps only the last of a key given twice; a document
/// with `"hooks"` twice is ambiguous, so objects keep every pair. Strings borrow from the input
/// unless they hold escapes (Azure's full file has ~93,000 of them).
#[derive(Debug)]
enum Json<'a> {
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    Object(Vec<(Cow<'a, str>, Json<'a>)>),
}

/// A JSON number: only non-negative integers are read (version counters), the rest is quoted.
#[derive(Debug)]
enum Number {
    Unsigned(u64),
    Other(String),
}

impl<'a> Json<'a> {
    /// What the value is, for "not a string but …" messages.
    fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Number(_) => "a number",
            Json::String(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    fn as_object(&self) -> Option<Object<'_, 'a>> {
        match self {
            Json::Object(fields) => Some(Object(fields)),
            _ => None,
        }
    }

    /// The value quoted in a message: strings and numbers as written, the rest by kind.
    fn quoted(&self) -> String {
        match self {
            Json::String(s) => format!("'{}'", echo(s)),
            Json::Number(Number::Unsigned(n)) => n.to_string(),
            Json::Number(Number::Other(n)) => n.clone(),
            Json::Bool(b) => b.to_string(),
            other => other.kind().to_string(),
        }
    }
}

impl<'de> Deserialize<'de> for Json<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::{MapAccess, SeqAccess};
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Json<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Json::Null)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Json::Bool(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Json::Number(Number::Unsigned(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Json::Number(Number::Other(v.to_string())))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Json::Number(Number::Other(v.to_string())))
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Json::String(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Json::String(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Json::String(Cow::Owned(v)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Json::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut fields = Vec::new();
                while let Some(Key(key)) = map.next_key()? {
                    fields.push((key, map.next_value()?));
                }
                Ok(Json::Object(fields))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// An object key that borrows from the input: `Cow<str>`'s own `Deserialize` always allocates.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

/// The fields of a JSON object, every pair kept.
#[derive(Clone, Copy)]
struct Object<'j, 'a>(&'j [(Cow<'a, str>, Json<'a>)]);

/// A key looked up in an [`Object`].
enum Lookup<'j, 'a> {
    Missing,
    One(&'j Json<'a>),
    /// Given more than once: which value is meant cannot be known.
    Twice,
}

impl<'j, 'a> Object<'j, 'a> {
    fn all(self, key: &'j str) -> impl Iterator<Item = &'j Json<'a>> + 'j {
        self.0.iter().filter(move |(k, _)| k == key).map(|(_, v)| v)
    }

    fn count(self, key: &str) -> usize {
        self.0.iter().filter(|(k, _)| k == key).count()
    }

    /// How often each key is given: one pass, where counting key by key would cost their square.
    fn counts(self) -> std::collections::HashMap<&'j str, usize> {
        let mut counts = std::collections::HashMap::new();
        for (k, _) in self.0 {
            *counts.entry(k.as_ref()).or_default() += 1;
        }
        counts
    }

    fn has(self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }

    fn get(self, key: &str) -> Lookup<'j, 'a> {
        let mut found = self.0.iter().filter(|(k, _)| k == key).map(|(_, v)| v);
        match (found.next(), found.next()) {
            (None, _) => Lookup::Missing,
            (Some(v), None) => Lookup::One(v),
            (Some(_), Some(_)) => Lookup::Twice,
        }
    }

    /// Every string value of `key` (two when it is given twice): an entry counts as selected when any
    /// of them names the selection, so a duplicate cannot hide a selected entry's breakage.
    fn strings(self, key: &'j str) -> Vec<&'j str> {
        self.all(key).filter_map(Json::as_str).collect()
    }

    /// The first thing wrong with an entry's fields: any of `keys` given twice, or one of `texts`
    /// that is not a string.
    fn problem(self, keys: &[&str], texts: &[&str]) -> Option<String> {
        if let Some(key) = keys.iter().chain(texts).find(|k| self.count(k) > 1) {
            return Some(format!("the entry holds the field {key} twice"));
        }
        texts.iter().find_map(|key| match self.get(key) {
            Lookup::One(v) if v.as_str().is_none() => {
                Some(format!("its {key} is not a string but {}", v.kind()))
            }
            _ => None,
        })
    }
}

/// Reads a JSON document, telling a truncated download from one of another kind.
fn parse_json(format: Format, document: &[u8]) -> Result<Json<'_>, FormatError> {
    serde_json::from_slice::<Json>(document).map_err(|e| match e.classify() {
        serde_json::error::Category::Eof => FormatError::Truncated {
            format,
            bytes: document.len(),
            detail: format!("ends at line {} column {}", e.line(), e.column()),
        },
        _ => FormatError::Malformed {
            format,
            problem: format!("not JSON{} ({e})", looks_like(document)),
        },
    })
}

/// What a document that is not of its format looks like, for the message.
fn looks_like(document: &[u8]) -> &'static str {
    match document.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'<') => " (it looks like HTML: an error page or a proxy's answer?)",
        None => " (it is empty)",
        _ => "",
    }
}

/// The document's top level, which every JSON format has as an object.
fn top_object<'j, 'a>(format: Format, json: &'j Json<'a>) -> Result<Object<'j, 'a>, FormatError> {
    json.as_object().ok_or_else(|| FormatError::Malformed {
        format,
        problem: format!("the document is {}, not an object", json.kind()),
    })
}

/// A field the document cannot be read without; `at` names the enclosing object ("" or "result.").
fn required<'j, 'a>(
    format: Format,
    object: Object<'j, 'a>,
    at: &str,
    key: &str,
) -> Result<&'j Json<'a>, FormatError> {
    let problem = match object.get(key) {
        Lookup::One(v) => return Ok(v),
        Lookup::Missing => format!("there is no '{at}{key}'"),
        Lookup::Twice => format!("the key '{at}{key}' is given twice"),
    };
    Err(FormatError::Malformed { format, problem })
}

/// A required array field.
fn required_array<'j, 'a>(
    format: Format,
    object: Object<'j, 'a>,
    at: &str,
    key: &str,
) -> Result<&'j [Json<'a>], FormatError> {
    match required(format, object, at, key)? {
        Json::Array(items) => Ok(items),
        other => Err(FormatError::Malformed {
            format,
            problem: format!("'{at}{key}' is {}, not an array", other.kind()),
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// Prefixes

/// Which family a field holds, with its name for the message that finds the other family in it.
#[derive(Clone, Copy)]
enum Family {
    V4(&'static str),
    V6(&'static str),
    /// Both families in one list (GitHub, Azure, Oracle, text): split by family.
    Either,
}

/// Parses a prefix, refusing host bits (`120.52.22.97/27`: AWS would refuse such a rule, and a
/// document that has one is not what the provider meant), the wrong family, and IPv4-mapped IPv6
/// (`::ffff:1.2.3.0/120` would be allowed as IPv6 while meaning IPv4 hosts). Spelling is not checked
/// (`2001:DB8::/32` is the same prefix as `2001:db8::/32`), as for ip-ranges.json.
fn canonical(text: &str, family: Family) -> Result<IpNet, String> {
    let text = text.trim();
    let net = match (family, text.parse::<IpNet>()) {
        (Family::V4(_), Ok(net @ IpNet::V4(_)))
        | (Family::V6(_), Ok(net @ IpNet::V6(_)))
        | (Family::Either, Ok(net)) => net,
        (Family::V4(field), Ok(IpNet::V6(_))) => {
            return Err(format!("an IPv6 prefix in the IPv4 field {field}"));
        }
        (Family::V6(field), Ok(IpNet::V4(_))) => {
            return Err(format!("an IPv4 prefix in the IPv6 field {field}"));
        }
        (_, Err(_)) if text.parse::<std::net::IpAddr>().is_ok() => {
            return Err("an address without a /length, not a CIDR prefix".to_string());
        }
        (_, Err(_)) => return Err("not a valid CIDR prefix".to_string()),
    };
    if let IpNet::V6(v6) = net
        && v6.prefix_len() >= 96
        && v6.network().to_ipv4_mapped().is_some()
    {
        return Err("an IPv4-mapped IPv6 prefix; IPv4 ranges must be published as IPv4".into());
    }
    let network = net.trunc();
    if network != net {
        return Err(format!(
            "not canonical: host bits set; the network is {network}"
        ));
    }
    Ok(net)
}

/// What the selection matched so far: the prefixes, the warnings, and which SERVICE and
/// SERVICE_REGIONS items the document has (every one must exist: a typo would silently drop ranges).
struct Collector<'s> {
    format: Format,
    selection: &'s Selection,
    ipv4: BTreeSet<Ipv4Net>,
    ipv6: BTreeSet<Ipv6Net>,
    published_v4: usize,
    published_v6: usize,
    warnings: Vec<String>,
    seen_services: Vec<bool>,
    seen_regions: Vec<bool>,
}

impl<'s> Collector<'s> {
    fn new(format: Format, selection: &'s Selection) -> Self {
        Collector {
            format,
            selection,
            ipv4: BTreeSet::new(),
            ipv6: BTreeSet::new(),
            published_v4: 0,
            published_v6: 0,
            warnings: Vec::new(),
            seen_services: vec![false; selection.services.len()],
            seen_regions: vec![false; selection.regions.as_ref().map_or(0, Vec::len)],
        }
    }

    /// Whether an entry with these service and region values is selected. No SERVICE selects every
    /// service; a region counts as seen only where a selected service has it.
    fn wanted(&mut self, services: &[&str], regions: &[&str]) -> bool {
        let selection = self.selection;
        let mut service_hit = selection.services.is_empty();
        for (s, seen) in selection.services.iter().zip(&mut self.seen_services) {
            if services.contains(&s.as_str()) {
                *seen = true;
                service_hit = true;
            }
        }
        if !service_hit {
            return false;
        }
        let Some(wanted_regions) = &selection.regions else {
            return true;
        };
        let mut region_hit = false;
        for (r, seen) in wanted_regions.iter().zip(&mut self.seen_regions) {
            if regions.contains(&r.as_str()) {
                *seen = true;
                region_hit = true;
            }
        }
        region_hit
    }

    /// A broken entry: refuses the document when selected, is skipped with a warning otherwise.
    fn broken(
        &mut self,
        selected: bool,
        location: impl FnOnce() -> String,
        problem: String,
    ) -> Result<(), FormatError> {
        let location = location();
        if selected {
            return Err(FormatError::BadEntry {
                format: self.format,
                location,
                problem,
            });
        }
        self.warnings.push(format!(
            "skipped {location} of the {} document: {problem}",
            self.format
        ));
        Ok(())
    }

    /// One prefix field of an entry.
    fn prefix(
        &mut self,
        selected: bool,
        value: &Json<'_>,
        family: Family,
        location: impl FnOnce() -> String,
    ) -> Result<(), FormatError> {
        match value.as_str() {
            Some(text) => self.take(selected, canonical(text, family), text, location),
            None => self.broken(
                selected,
                location,
                format!("not a string but {}", value.kind()),
            ),
        }
    }

    /// A parsed prefix: kept when selected and of a selected family; when broken, refused if selected
    /// and skipped with a warning if not.
    fn take(
        &mut self,
        selected: bool,
        parsed: Result<IpNet, String>,
        shown: &str,
        location: impl FnOnce() -> String,
    ) -> Result<(), FormatError> {
        match (parsed, selected) {
            (Err(problem), true) => Err(FormatError::BadPrefix {
                format: self.format,
                location: location(),
                prefix: echo(shown),
                problem,
            }),
            (Err(problem), false) => {
                self.warnings.push(format!(
                    "skipped {} prefix '{}' at {}: {problem}",
                    self.format,
                    echo(shown),
                    location()
                ));
                Ok(())
            }
            (Ok(IpNet::V4(net)), true) if self.selection.ipv4 => {
                self.published_v4 += 1;
                self.ipv4.insert(net);
                Ok(())
            }
            (Ok(IpNet::V6(net)), true) if self.selection.ipv6 => {
                self.published_v6 += 1;
                self.ipv6.insert(net);
                Ok(())
            }
            (Ok(_), _) => Ok(()),
        }
    }

    /// The checks on the selection as a whole. `known_services` and `known_regions` run only on an
    /// error path: the document's services, and the regions of the selected services.
    fn finish(
        self,
        version: Version,
        known_services: impl FnOnce() -> BTreeSet<String>,
        known_regions: impl FnOnce() -> BTreeSet<String>,
    ) -> Result<Selected, FormatError> {
        let format = self.format;
        let selection = self.selection;
        let document = describe(format, &version);
        let unseen = |values: &'s [String], seen: &[bool]| {
            values
                .iter()
                .zip(seen)
                .find(|(_, seen)| !**seen)
                .map(|(v, _)| v.as_str())
        };
        if let Some(service) = unseen(&selection.services, &self.seen_services) {
            return Err(FormatError::UnknownService {
                format,
                service: echo(service),
                document,
                known: nearest_first(service, known_services()),
            });
        }
        let services = if selection.services.is_empty() {
            "any service".to_string()
        } else {
            echo(&selection.services.join(","))
        };
        let regions = selection.regions.as_deref().unwrap_or_default();
        if let Some(region) = unseen(regions, &self.seen_regions) {
            return Err(FormatError::UnknownRegion {
                format,
                region: echo(region),
                services,
                document,
                known: nearest_first(region, known_regions()),
            });
        }
        let versions = match (selection.ipv4, selection.ipv6) {
            (true, true) => "ipv4,ipv6",
            (true, false) => "ipv4",
            (false, true) => "ipv6",
            (false, false) => "no IP version",
        };
        if self.ipv4.is_empty() && self.ipv6.is_empty() {
            let mut what = match format.services() {
                ServiceRule::None => "the list".to_string(),
                _ if selection.services.is_empty() => "all services".to_string(),
                _ => format!("service {services}"),
            };
            if let Some(regions) = &selection.regions {
                what.push_str(&format!(" in regions {}", echo(&regions.join(","))));
            }
            let hint = match format.services() {
                ServiceRule::None => {
                    "check IP_VERSIONS, and that IP_RANGES_URL is the list meant".to_string()
                }
                _ => format!(
                    "check SERVICE, {}and IP_VERSIONS (services in this document: {})",
                    if format.has_regions() {
                        "SERVICE_REGIONS "
                    } else {
                        ""
                    },
                    listing(known_services())
                ),
            };
            return Err(FormatError::Empty {
                format,
                what,
                versions: versions.to_string(),
                document,
                hint,
            });
        }
        let mut warnings = self.warnings;
        // One selected family empty: allowed (the other has ranges), but never silently.
        for (family, wanted, empty) in [
            ("IPv4", selection.ipv4, self.ipv4.is_empty()),
            ("IPv6", selection.ipv6, self.ipv6.is_empty()),
        ] {
            if wanted && empty {
                warnings.push(format!(
                    "IP_VERSIONS selects {family}, but {document} has no {family} prefix for {}: nothing of \
                     {family} is allowed",
                    match format.services() {
                        ServiceRule::None => "its list".to_string(),
                        _ => services.clone(),
                    }
                ));
            }
        }
        Ok(Selected {
            version,
            ipv4: self.ipv4,
            ipv6: self.ipv6,
            published_v4: self.published_v4,
            published_v6: self.published_v6,
            warnings,
        })
    }
}

/// Refuses an unset SERVICE where the format requires one, listing what the document offers.
fn require_services(
    format: Format,
    selection: &Selection,
    known: impl FnOnce() -> BTreeSet<String>,
) -> Result<(), FormatError> {
    if format.services() == ServiceRule::Required && selection.services.is_empty() {
        return Err(FormatError::ServiceRequired {
            format,
            known: listing(known()),
        });
    }
    Ok(())
}

#[cfg(test)]
mod testkit {
    //! What the provider modules' tests share: the real documents and selections.

    use super::Selection;

    /// A staged real document (tests/fixtures/sources/PROVENANCE.md says where each comes from).
    pub(super) fn fixture(provider: &str, name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/sources")
            .join(provider)
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    pub(super) fn sel(services: &[&str], regions: Option<&[&str]>, versions: &str) -> Selection {
        Selection {
            services: services.iter().map(|s| s.to_string()).collect(),
            regions: regions.map(|r| r.iter().map(|s| s.to_string()).collect()),
            ipv4: versions.contains('4'),
            ipv6: versions.contains('6'),
        }
    }

    /// One round of a parser's fuzzing on a real document: `doc` cut at `cut`, one byte at `at` set
    /// to `byte`, and `junk` spliced in at `cut`, each read with `selection` (the splice with
    /// `spliced`): none may panic, and every `Ok` must be sound.
    pub(super) fn mutate(
        format: super::Format,
        doc: &[u8],
        (selection, spliced): (&Selection, &Selection),
        (cut, at, byte, junk): (usize, usize, u8, &[u8]),
    ) {
        let cut = cut % (doc.len() + 1);
        let _ = super::select(format, &doc[..cut], selection);
        let mut flipped = doc.to_vec();
        flipped[at % doc.len()] = byte;
        if let Ok(got) = super::select(format, &flipped, selection) {
            assert_sound(&got, selection);
        }
        let mut mixed = doc[..cut].to_vec();
        mixed.extend(junk);
        mixed.extend(&doc[cut..]);
        if let Ok(got) = super::select(format, &mixed, spliced) {
            assert_sound(&got, spliced);
        }
    }

    /// Every kept prefix is canonical and of the family asked for: what an `Ok` must guarantee even
    /// for a mutated document.
    pub(super) fn assert_sound(selected: &super::Selected, selection: &Selection) {
        assert!(selection.ipv4 || selected.ipv4.is_empty());
        assert!(selection.ipv6 || selected.ipv6.is_empty());
        assert!(selected.ipv4.iter().all(|n| n.trunc() == *n));
        assert!(
            selected
                .ipv6
                .iter()
                .all(|n| n.trunc() == *n && n.network().to_ipv4_mapped().is_none())
        );
        assert!(selected.published_v4 >= selected.ipv4.len());
        assert!(selected.published_v6 >= selected.ipv6.len());
        assert!(!selected.ipv4.is_empty() || !selected.ipv6.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::testkit::sel;
    use super::*;

    #[test]
    fn format_names_parse_print_and_list_the_valid_ones() {
        for f in ALL {
            assert_eq!(f.to_string().parse::<Format>(), Ok(f));
        }
        assert_eq!(" GitHub ".parse::<Format>(), Ok(Format::Github));
        let e = "gogle".parse::<Format>().unwrap_err().to_string();
        assert_eq!(
            e,
            "'gogle' is not a source format; expected one of google, github, cloudflare, fastly, oracle, azure or text"
        );
        assert!("".parse::<Format>().is_err());
    }

    #[test]
    fn urls_services_and_regions_per_format() {
        assert_eq!(
            Format::Google.default_url(),
            Some("https://www.gstatic.com/ipranges/cloud.json")
        );
        assert_eq!(
            Format::Oracle.default_url(),
            Some("https://docs.oracle.com/en-us/iaas/tools/public_ip_ranges.json")
        );
        assert_eq!(Format::Azure.default_url(), None);
        assert_eq!(Format::Text.default_url(), None);
        let rules: Vec<ServiceRule> = ALL.iter().map(|f| f.services()).collect();
        use ServiceRule::{None as No, Optional as Opt, Required as Req};
        assert_eq!(rules, [Opt, Req, No, No, Opt, Req, No]);
        let regions: Vec<bool> = ALL.iter().map(|f| f.has_regions()).collect();
        assert_eq!(regions, [true, false, false, false, true, true, false]);
    }

    #[test]
    fn service_and_regions_are_refused_where_they_mean_nothing() {
        for format in [Format::Cloudflare, Format::Fastly, Format::Text] {
            let e = select(format, b"whatever", &sel(&["cdn"], None, "4")).unwrap_err();
            assert!(
                matches!(e, FormatError::ServiceNotAccepted { .. }),
                "{format}: {e}"
            );
            assert!(
                e.to_string().contains("unset SERVICE") && e.to_string().contains("'cdn'"),
                "{e}"
            );
        }
        for format in [
            Format::Github,
            Format::Cloudflare,
            Format::Fastly,
            Format::Text,
        ] {
            let e = select(format, b"{}", &sel(&[], Some(&["eu"]), "4")).unwrap_err();
            assert!(
                matches!(e, FormatError::RegionsNotAccepted { .. }),
                "{format}: {e}"
            );
            assert!(e.to_string().contains("unset SERVICE_REGIONS"), "{e}");
        }
    }

    #[test]
    fn prefixes_must_be_canonical_and_of_their_family() {
        let ok = |t: &str, f: Family| canonical(t, f).unwrap().to_string();
        assert_eq!(ok("10.0.0.0/8", Family::V4("x")), "10.0.0.0/8");
        assert_eq!(ok(" 2001:DB8::/32 ", Family::V6("x")), "2001:db8::/32");
        assert_eq!(ok("2001:0db8:0:0::/32", Family::Either), "2001:db8::/32");
        let err = |t: &str, f: Family| canonical(t, f).unwrap_err();
        assert!(err("10.0.0.1/8", Family::V4("x")).contains("the network is 10.0.0.0/8"));
        assert!(err("2001:db8::1/32", Family::Either).contains("the network is 2001:db8::/32"));
        assert!(err("2001:db8::/32", Family::V4("f")).contains("IPv6 prefix in the IPv4 field f"));
        assert!(err("10.0.0.0/8", Family::V6("g")).contains("IPv4 prefix in the IPv6 field g"));
        assert!(err("::ffff:10.0.0.0/104", Family::V6("g")).contains("IPv4-mapped"));
        assert!(err("::ffff:10.0.0.0/104", Family::Either).contains("IPv4-mapped"));
        assert!(err("10.0.0.0", Family::Either).contains("without a /length"));
        assert!(err("10.0.0.0/33", Family::Either).contains("not a valid CIDR"));
        assert!(err("010.0.0.0/8", Family::Either).contains("not a valid CIDR"));
        assert!(err("", Family::Either).contains("not a valid CIDR"));
    }

    #[test]
    fn nearest_first_and_listing_cap_and_count() {
        let known: BTreeSet<String> = (0..15).map(|i| format!("svc{i:02}")).collect();
        let text = nearest_first("svc1", known.clone());
        assert!(text.starts_with("svc01, svc10, svc11"), "{text}");
        assert!(text.ends_with(" and 5 more"), "{text}");
        assert_eq!(nearest_first("x", BTreeSet::new()), "none");
        assert_eq!(listing(known).matches(", ").count(), 14);
    }

    #[test]
    fn versions_print_for_logs() {
        assert_eq!(Version::Millis(17).to_string(), "syncToken 17");
        assert_eq!(
            Version::Seconds(1_744_617_807).to_string(),
            "last updated 2025-04-14T08:03:27"
        );
        assert_eq!(
            Version::Seconds(951_782_400).to_string(),
            "last updated 2000-02-29T00:00:00"
        );
        assert_eq!(Version::Counter(346).to_string(), "changeNumber 346");
        assert_eq!(Version::Etag("ab".into()).to_string(), "etag ab");
        assert_eq!(Version::None.to_string(), "no version");
        // Never panics, even for a value no document produces.
        let _ = Version::Seconds(u64::MAX).to_string();
    }

    #[test]
    fn days_round_trip() {
        for days in [0, 59, 60, 365, 10_957, 11_016, 20_192, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), Some(days), "{y}-{m}-{d}");
        }
        assert_eq!(days_from_civil(1969, 12, 31), None);
    }

    #[test]
    fn duplicate_keys_are_kept_and_seen() {
        let json = parse_json(
            Format::Google,
            br#"{"a": 1, "a": "x", "b\u0041": [true, null]}"#,
        )
        .unwrap();
        let top = top_object(Format::Google, &json).unwrap();
        assert!(matches!(top.get("a"), Lookup::Twice));
        assert!(matches!(top.get("bA"), Lookup::One(Json::Array(_))));
        assert!(matches!(top.get("c"), Lookup::Missing));
        assert_eq!(top.strings("a"), ["x"]);
        let e = required(Format::Google, top, "", "a").unwrap_err();
        assert!(e.to_string().contains("the key 'a' is given twice"), "{e}");
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let deep = "[".repeat(100_000) + &"]".repeat(100_000);
        let e = select(Format::Google, deep.as_bytes(), &sel(&[], None, "4")).unwrap_err();
        assert!(matches!(e, FormatError::Malformed { .. }), "{e}");
    }

    #[test]
    fn a_byte_order_mark_is_not_content() {
        let doc = b"\xEF\xBB\xBF{\"addresses\": [\"10.0.0.0/8\"], \"ipv6_addresses\": []}";
        let got = select(Format::Fastly, doc, &sel(&[], None, "4")).unwrap();
        assert_eq!(got.ipv4.len(), 1);
    }
}
