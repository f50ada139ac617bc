//! The ip-ranges.json model: parse, select (service, region, IP version), aggregate losslessly.
//!
//! The real document is 2.6 MB with ~17,000 entries of which CloudFront is ~240, so parsing borrows
//! strings from the input instead of allocating one per field. Strictness is targeted: an entry of a
//! selected service that is not a canonical prefix refuses the whole document (applying a part of it
//! could cut CloudFront off), while a bad entry of another service is only a warning (it must not block
//! CloudFront updates).

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::Deserialize;
use thiserror::Error;

/// Which IP versions to allow: dual-stack origins need both, but IPv6 doubles the rule count (and the
/// quota pressure), so it is a choice, not a given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpVersions {
    /// IPv4 prefixes (`prefixes`).
    pub v4: bool,
    /// IPv6 prefixes (`ipv6_prefixes`).
    pub v6: bool,
}

/// An `IP_VERSIONS` value that names no IP version; the caller adds which setting it came from.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("'{0}' is not an IP version; expected ipv4, ipv6 or ipv4,ipv6")]
pub struct IpVersionsError(pub String);

impl FromStr for IpVersions {
    type Err = IpVersionsError;

    /// Accepts `ipv4`, `ipv6`, `ipv4,ipv6` in any order and case, and `both` / `dual`, so that the
    /// spellings operators actually type in an environment variable all work.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut v = IpVersions {
            v4: false,
            v6: false,
        };
        for item in s.split(',').map(|i| i.trim().to_ascii_lowercase()) {
            match item.as_str() {
                "ipv4" | "4" => v.v4 = true,
                "ipv6" | "6" => v.v6 = true,
                "both" | "dual" | "dualstack" => {
                    v.v4 = true;
                    v.v6 = true;
                }
                other => return Err(IpVersionsError(other.to_string())),
            }
        }
        Ok(v)
    }
}

impl fmt::Display for IpVersions {
    /// Prints the form [`FromStr`] reads back (`ipv4`, `ipv6`, `ipv4,ipv6`), so reports and error
    /// messages show the value to put in `IP_VERSIONS`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match (self.v4, self.v6) {
            (true, true) => "ipv4,ipv6",
            (true, false) => "ipv4",
            (false, true) => "ipv6",
            (false, false) => "no IP version",
        })
    }
}

/// What to keep from the document: one service's ranges, not all of AWS, is what a CloudFront origin
/// must accept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    /// Service names, exactly as the document writes them (`CLOUDFRONT`).
    pub services: Vec<String>,
    /// The document's `region` values to keep (`GLOBAL` is one); `None` keeps all.
    pub regions: Option<Vec<String>>,
    /// IP versions to keep.
    pub ip_versions: IpVersions,
}

/// The selected ranges of one document, aggregated: the input of the rule builder and the guard, and
/// (with the counts before aggregation) what the report shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeSet {
    /// The document's syncToken (seconds since the epoch of its publication).
    pub synctoken: u64,
    /// The document's createDate.
    pub create_date: String,
    /// IPv4 ranges after lossless aggregation, sorted.
    pub ipv4: Vec<Ipv4Net>,
    /// IPv6 ranges after lossless aggregation, sorted.
    pub ipv6: Vec<Ipv6Net>,
    /// Distinct selected IPv4 prefixes as published.
    pub published_v4: usize,
    /// Distinct selected IPv6 prefixes as published.
    pub published_v6: usize,
    /// Entries of other services that were skipped because they do not parse.
    pub warnings: Vec<String>,
    /// Whether `synctoken` is the provider's own time, which orders documents (Amazon's syncToken,
    /// Google's, Oracle's timestamp); otherwise it is the time of the download, and what changed is
    /// told by the ranges alone (GitHub, Cloudflare, Fastly, Azure, text lists).
    pub ordered: bool,
}

/// Why a document was refused. Nothing is changed when the document is refused.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum RangesError {
    /// The bytes end before the JSON does.
    #[error(
        "the ip-ranges document is truncated ({bytes} bytes, {detail}); it was cut off in transit: download it again"
    )]
    Truncated {
        /// Bytes read.
        bytes: usize,
        /// The parser's position.
        detail: String,
    },
    /// Not JSON, or JSON of the wrong shape.
    #[error(
        "the ip-ranges document is not valid: {0}; expected the JSON format of ip-ranges.json: check that \
         IP_RANGES_URL (or the file given) is Amazon's ip-ranges.json (another provider's document needs \
         SOURCE, docs/sources.md), nothing was changed"
    )]
    Malformed(String),
    /// The syncToken is missing or not a number.
    #[error(
        "the ip-ranges document's syncToken is {0}, expected a string of digits (seconds since 1970); \
         the document is corrupt or not ip-ranges.json (another provider's document needs SOURCE, \
         docs/sources.md), nothing was changed"
    )]
    BadSynctoken(String),
    /// A prefix of a selected service is not a canonical CIDR.
    #[error(
        "{service} prefix '{prefix}' (region {region}) is {problem}; the document is corrupt, nothing was changed"
    )]
    BadPrefix {
        service: String,
        region: String,
        /// The prefix as published.
        prefix: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A SERVICE item names no service of the document.
    #[error(
        "SERVICE '{service}' is not a service of document {synctoken} (a typo?); nothing was changed. \
         Services in this document, nearest first: {known}"
    )]
    UnknownService {
        service: String,
        synctoken: u64,
        /// The document's services, nearest first.
        known: String,
    },
    /// A SERVICE_REGIONS item names no region the selected services publish ranges in.
    #[error(
        "SERVICE_REGIONS '{region}' is not a region of {services} in document {synctoken} (a typo?); \
         nothing was changed. Regions of {services}, nearest first: {known}"
    )]
    UnknownRegion {
        region: String,
        /// The selected services, comma-separated.
        services: String,
        synctoken: u64,
        /// The regions they publish ranges in, nearest first.
        known: String,
    },
    /// The selection matches nothing.
    #[error(
        "no {versions} prefixes for service {services}{regions} in document {synctoken}; check SERVICE, SERVICE_REGIONS \
         and IP_VERSIONS (services in this document: {known})"
    )]
    Empty {
        /// The services asked for.
        services: String,
        /// The region filter, as text.
        regions: String,
        /// The IP versions asked for.
        versions: IpVersions,
        /// The document's synctoken.
        synctoken: u64,
        /// The services the document has.
        known: String,
    },
}

/// The distinct non-empty values `field` takes over both arrays: only on an error path.
fn known_values<'a>(
    v4: &'a [Entry<'a>],
    v6: &'a [Entry<'a>],
    field: impl Fn(&'a Entry<'a>) -> Option<&'a str>,
) -> BTreeSet<&'a str> {
    v4.iter()
        .chain(v6)
        .filter_map(field)
        .filter(|v| !v.is_empty())
        .collect()
}

/// Up to ten of `known`, the closest to `wanted` first (edit distance, ignoring case), and how many
/// more there are: what an error message shows an operator who made a typo.
fn nearest_first(wanted: &str, known: BTreeSet<&str>) -> String {
    let wanted = wanted.to_ascii_lowercase();
    let mut known: Vec<&str> = known.into_iter().collect();
    known.sort_by_key(|k| strsim::levenshtein(&wanted, &k.to_ascii_lowercase()));
    let more = known.len().saturating_sub(10);
    known.truncate(10);
    let mut text = known.join(", ");
    if more > 0 {
        text.push_str(&format!(" and {more} more"));
    }
    if text.is_empty() {
        text.push_str("none");
    }
    text
}

#[derive(Deserialize)]
struct Document<'a> {
    /// A `Value` rather than a string so that a number or `null` is reported as a bad syncToken (what
    /// it is) rather than as a parse error of the whole document.
    #[serde(rename = "syncToken", default)]
    sync_token: Option<serde_json::Value>,
    #[serde(rename = "createDate", borrow, default)]
    create_date: Option<Text<'a>>,
    #[serde(borrow)]
    prefixes: Option<Vec<Entry<'a>>>,
    #[serde(borrow, default)]
    ipv6_prefixes: Vec<Entry<'a>>,
}

/// One entry of either array; the two arrays differ only in the name of the prefix field. Read
/// leniently (a field of the wrong type, a field given twice): such an entry of a selected service
/// refuses the document, and one of another service is skipped with a warning, so a broken entry of
/// a service nobody selected cannot stop CloudFront's updates.
struct Entry<'a> {
    ip_prefix: Field<'a>,
    ipv6_prefix: Field<'a>,
    region: Field<'a>,
    service: Field<'a>,
    /// A field of the four that the entry holds more than once.
    duplicate: Option<&'static str>,
    /// The other value of a `service` or `region` given twice: whichever names the selection, the
    /// entry counts as selected (and is refused for the duplicate).
    again: Vec<(&'static str, Field<'a>)>,
}

/// One field of an entry as read: a string, or what it was instead.
enum Field<'a> {
    Missing,
    Text(Text<'a>),
    /// Not a string: what it is ("a number", "null" …).
    Invalid(&'static str),
}

impl Field<'_> {
    /// The string, if it is one.
    fn text(&self) -> Option<&str> {
        match self {
            Field::Text(t) => Some(t),
            Field::Missing | Field::Invalid(_) => None,
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Field<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::{IgnoredAny, MapAccess, SeqAccess};
        struct Visitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visitor<'a> {
            type Value = Field<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Field::Text(Text(Cow::Borrowed(v))))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Field::Text(Text(Cow::Owned(v.to_owned()))))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Field::Invalid("a boolean"))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Field::Invalid("a number"))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Field::Invalid("a number"))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Field::Invalid("a number"))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Field::Invalid("null"))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Field::Invalid("an array"))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Field::Invalid("an object"))
            }
        }
        deserializer.deserialize_any(Visitor(std::marker::PhantomData))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Entry<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::{IgnoredAny, MapAccess};
        struct Visitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visitor<'a> {
            type Value = Entry<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entry = Entry {
                    ip_prefix: Field::Missing,
                    ipv6_prefix: Field::Missing,
                    region: Field::Missing,
                    service: Field::Missing,
                    duplicate: None,
                    again: Vec::new(),
                };
                while let Some(key) = map.next_key::<Text<'de>>()? {
                    let (name, slot) = match &*key {
                        "ip_prefix" => ("ip_prefix", &mut entry.ip_prefix),
                        "ipv6_prefix" => ("ipv6_prefix", &mut entry.ipv6_prefix),
                        "region" => ("region", &mut entry.region),
                        "service" => ("service", &mut entry.service),
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                            continue;
                        }
                    };
                    let value: Field<'a> = map.next_value()?;
                    if matches!(slot, Field::Missing) {
                        *slot = value;
                    } else {
                        entry.duplicate = entry.duplicate.or(Some(name));
                        entry.again.push((name, value));
                    }
                }
                Ok(entry)
            }
        }
        deserializer.deserialize_map(Visitor(std::marker::PhantomData))
    }
}

/// A string field that borrows from the input unless it has escapes. serde borrows a `Cow<str>` only
/// when it is a field's whole type; inside an `Option` it always allocates, which was three
/// allocations per entry (~50,000 per document) and most of the parse time beyond the JSON scan.
struct Text<'a>(Cow<'a, str>);

impl std::ops::Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visitor<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(Visitor(std::marker::PhantomData))
    }
}

fn parse(document: &[u8]) -> Result<Document<'_>, RangesError> {
    serde_json::from_slice::<Document>(document).map_err(|e| match e.classify() {
        serde_json::error::Category::Eof => RangesError::Truncated {
            bytes: document.len(),
            detail: format!("ends at line {} column {}", e.line(), e.column()),
        },
        serde_json::error::Category::Data => {
            RangesError::Malformed(format!("JSON of another shape ({e})"))
        }
        _ => {
            let start = document.iter().find(|b| !b.is_ascii_whitespace());
            let hint = match start {
                Some(b'<') => " (it looks like HTML: an error page or a proxy's answer?)",
                None => " (it is empty)",
                _ => "",
            };
            RangesError::Malformed(format!("not JSON{hint} ({e})"))
        }
    })
}

fn synctoken_of(doc: &Document) -> Result<u64, RangesError> {
    use serde_json::Value;
    match &doc.sync_token {
        Some(Value::String(raw)) if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) => {
            raw.parse()
                .map_err(|_| RangesError::BadSynctoken(format!("'{raw}' (too large)")))
        }
        Some(Value::String(raw)) => Err(RangesError::BadSynctoken(format!(
            "'{}'",
            raw.chars().take(40).collect::<String>()
        ))),
        None | Some(Value::Null) => Err(RangesError::BadSynctoken("missing".into())),
        Some(other) => Err(RangesError::BadSynctoken(format!(
            "{} (not a string)",
            other.to_string().chars().take(40).collect::<String>()
        ))),
    }
}

/// The document's syncToken: used to compare a downloaded document with its notification (a newer
/// document supersedes the notification, an older one is a stale cache) and with what is applied.
pub fn synctoken(document: &[u8]) -> Result<u64, RangesError> {
    synctoken_of(&parse(document)?)
}

/// Every prefix the document publishes, for any service, region or family, as published (entries
/// that do not parse are skipped: what REPLACES asks of it is only whether an address is Amazon's).
pub fn every_prefix(document: &[u8]) -> Result<Vec<IpNet>, RangesError> {
    let doc = parse(document)?;
    let prefixes = doc.prefixes.as_deref().unwrap_or_default();
    Ok((prefixes.iter().map(|e| &e.ip_prefix))
        .chain(doc.ipv6_prefixes.iter().map(|e| &e.ipv6_prefix))
        .filter_map(|f| f.text()?.trim().parse().ok())
        .collect())
}

/// Parses a prefix, refusing host bits (`120.52.22.97/27`): AWS would refuse such a rule, and a
/// document that has one is not what Amazon meant to publish.
fn canonical<N: FromStr + Copy + PartialEq + fmt::Display>(
    text: &str,
    trunc: impl Fn(&N) -> N,
) -> Result<N, String> {
    let net: N = text
        .trim()
        .parse()
        .map_err(|_| "not a valid CIDR prefix".to_string())?;
    let network = trunc(&net);
    if network != net {
        return Err(format!(
            "not canonical: host bits set; the network is {network}"
        ));
    }
    Ok(net)
}

/// Selects and aggregates the ranges of `selection` from a document: the only way ranges enter
/// sgsync, so every check on the document's content happens here, before anything is planned.
pub fn select(document: &[u8], selection: &Selection) -> Result<RangeSet, RangesError> {
    let doc = parse(document)?;
    let synctoken = synctoken_of(&doc)?;
    let Some(prefixes) = &doc.prefixes else {
        return Err(RangesError::Malformed(
            "there is no 'prefixes' array".into(),
        ));
    };
    // Which SERVICE and SERVICE_REGIONS items the document has: every one must exist (a typo would
    // silently drop ranges). A region counts when a selected service publishes ranges in it.
    let mut seen_services = vec![false; selection.services.len()];
    let mut seen_regions = vec![false; selection.regions.as_ref().map_or(0, Vec::len)];
    let mut wanted = |service: &str, region: &str| {
        let Some(s) = selection.services.iter().position(|s| s == service) else {
            return false;
        };
        seen_services[s] = true;
        match &selection.regions {
            None => true,
            Some(rs) => match rs.iter().position(|r| r == region) {
                Some(r) => {
                    seen_regions[r] = true;
                    true
                }
                None => false,
            },
        }
    };
    let mut warnings = Vec::new();
    let mut v4: BTreeSet<Ipv4Net> = BTreeSet::new();
    let mut v6: BTreeSet<Ipv6Net> = BTreeSet::new();

    for (array, is_v6) in [(prefixes, false), (&doc.ipv6_prefixes, true)] {
        for entry in array {
            let service = entry.service.text().unwrap_or("");
            let region = entry.region.text().unwrap_or("");
            let field = if is_v6 {
                &entry.ipv6_prefix
            } else {
                &entry.ip_prefix
            };
            let text = field.text().unwrap_or("");
            let mut selected = wanted(service, region);
            for (name, value) in &entry.again {
                let value = value.text().unwrap_or("");
                selected |= match *name {
                    "service" => wanted(value, region),
                    "region" => wanted(service, value),
                    _ => false,
                };
            }
            let malformed = match (entry.duplicate, field, &entry.service, &entry.region) {
                (Some(name), ..) => Some(format!("the entry holds the field {name} twice")),
                (_, Field::Invalid(what), ..) => Some(format!("not a string but {what}")),
                (_, _, Field::Invalid(what), _) => {
                    Some(format!("its service is not a string but {what}"))
                }
                (_, _, _, Field::Invalid(what)) => {
                    Some(format!("its region is not a string but {what}"))
                }
                _ => None,
            };
            let parsed: Result<IpNet, String> = match malformed {
                Some(problem) => Err(problem),
                None if is_v6 => canonical::<Ipv6Net>(text, Ipv6Net::trunc).map(IpNet::V6),
                None => canonical::<Ipv4Net>(text, Ipv4Net::trunc).map(IpNet::V4),
            };
            // Name the real mistake when an IPv6 prefix sits among the IPv4 ones or vice versa.
            let parsed = parsed.map_err(|problem| {
                let other_version = if is_v6 {
                    text.trim().parse::<Ipv4Net>().is_ok()
                } else {
                    text.trim().parse::<Ipv6Net>().is_ok()
                };
                if other_version {
                    format!(
                        "an IPv{} prefix in the {} array",
                        if is_v6 { 4 } else { 6 },
                        if is_v6 { "ipv6_prefixes" } else { "prefixes" }
                    )
                } else {
                    problem
                }
            });
            match (parsed, selected) {
                (Err(problem), true) => {
                    return Err(RangesError::BadPrefix {
                        service: service.to_string(),
                        region: region.to_string(),
                        prefix: crate::error::echo(text),
                        problem,
                    });
                }
                (Err(problem), false) => warnings.push(format!(
                    "skipped {service} prefix '{text}' (region {region}): {problem}"
                )),
                (Ok(_), false) => {}
                (Ok(IpNet::V4(net)), true) if selection.ip_versions.v4 => {
                    v4.insert(net);
                }
                (Ok(IpNet::V6(net)), true) if selection.ip_versions.v6 => {
                    v6.insert(net);
                }
                (Ok(_), true) => {}
            }
        }
    }

    if let Some(i) = seen_services.iter().position(|seen| !seen) {
        let known = known_values(prefixes, &doc.ipv6_prefixes, |e| e.service.text());
        return Err(RangesError::UnknownService {
            service: selection.services[i].clone(),
            synctoken,
            known: nearest_first(&selection.services[i], known),
        });
    }
    if let Some(i) = seen_regions.iter().position(|seen| !seen) {
        let regions = selection.regions.as_deref().unwrap_or_default();
        let known = known_values(prefixes, &doc.ipv6_prefixes, |e| {
            e.service
                .text()
                .filter(|s| selection.services.iter().any(|w| w == s))
                .and(e.region.text())
        });
        return Err(RangesError::UnknownRegion {
            region: regions[i].clone(),
            services: selection.services.join(","),
            synctoken,
            known: nearest_first(&regions[i], known),
        });
    }
    if v4.is_empty() && v6.is_empty() {
        // Only on this error path: which services the document has, to help fix the selection.
        let mut known: BTreeSet<&str> = prefixes
            .iter()
            .chain(&doc.ipv6_prefixes)
            .filter_map(|e| e.service.text())
            .collect();
        known.remove("");
        let mut names: Vec<&str> = known.into_iter().collect();
        let more = names.len().saturating_sub(10);
        names.truncate(10);
        let mut known = names.join(", ");
        if known.is_empty() {
            known.push_str("none");
        }
        if more > 0 {
            known.push_str(&format!(" and {more} more"));
        }
        return Err(RangesError::Empty {
            services: selection.services.join(","),
            regions: selection
                .regions
                .as_ref()
                .map_or(String::new(), |r| format!(" in regions {}", r.join(","))),
            versions: selection.ip_versions,
            synctoken,
            known,
        });
    }

    // One selected family empty: allowed (the other has ranges), but never silently. Where something
    // of it is applied, the per-family guard refuses the run (guard::check_families).
    for (family, selected, empty) in [
        ("IPv4", selection.ip_versions.v4, v4.is_empty()),
        ("IPv6", selection.ip_versions.v6, v6.is_empty()),
    ] {
        if selected && empty {
            warnings.push(format!(
                "IP_VERSIONS selects {family}, but the document has no {family} prefix for {}: nothing of \
                 {family} is allowed (a document that lost a family is refused where some of it is applied)",
                selection.services.join(",")
            ));
        }
    }
    let v4_list: Vec<Ipv4Net> = v4.iter().copied().collect();
    let v6_list: Vec<Ipv6Net> = v6.iter().copied().collect();
    Ok(RangeSet {
        synctoken,
        create_date: doc.create_date.as_deref().unwrap_or_default().to_string(),
        ipv4: Ipv4Net::aggregate(&v4_list),
        ipv6: Ipv6Net::aggregate(&v6_list),
        published_v4: v4.len(),
        published_v6: v6.len(),
        warnings,
        ordered: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(crate::testkit::fixtures().join("ip-ranges").join(name)).unwrap()
    }

    fn sel(services: &[&str], versions: &str) -> Selection {
        Selection {
            services: services.iter().map(|s| s.to_string()).collect(),
            regions: None,
            ip_versions: versions.parse().unwrap(),
        }
    }

    #[test]
    fn the_real_document_gives_the_published_counts() {
        let doc = fixture("latest.json");
        let cf = select(&doc, &sel(&["CLOUDFRONT"], "ipv4,ipv6")).unwrap();
        assert_eq!(cf.synctoken, 1787411825);
        assert_eq!(cf.create_date, "2026-08-22-15-17-05");
        assert_eq!((cf.published_v4, cf.ipv4.len()), (211, 180));
        assert_eq!((cf.published_v6, cf.ipv6.len()), (32, 31));
        assert!(cf.warnings.is_empty());
        let of = select(&doc, &sel(&["CLOUDFRONT_ORIGIN_FACING"], "ipv4,ipv6")).unwrap();
        assert_eq!((of.published_v4, of.published_v6), (46, 3));
        let v4 = select(&doc, &sel(&["CLOUDFRONT"], "ipv4")).unwrap();
        assert!(v4.ipv6.is_empty() && v4.published_v6 == 0);
        assert_eq!(synctoken(&doc).unwrap(), 1787411825);
    }

    #[test]
    fn regions_and_several_services_filter() {
        let doc = fixture("latest.json");
        let mut global = sel(&["CLOUDFRONT"], "ipv4");
        global.regions = Some(vec!["GLOBAL".into()]);
        assert_eq!(select(&doc, &global).unwrap().published_v4, 118);
        let both = select(
            &doc,
            &sel(&["CLOUDFRONT", "CLOUDFRONT_ORIGIN_FACING"], "ipv4"),
        )
        .unwrap();
        // Origin-facing prefixes lie inside CloudFront ones (12 are the very same prefixes, counted
        // once): aggregation absorbs them all.
        assert_eq!(both.published_v4, 245);
        assert_eq!(both.ipv4.len(), 180);
    }

    #[test]
    fn field_order_and_unknown_fields_do_not_matter() {
        let doc = br#"{"ipv6_prefixes": [{"service": "CLOUDFRONT", "ipv6_prefix": "2600:9000::/28", "region": "GLOBAL", "x": 1}],
            "prefixes": [{"region": "GLOBAL", "service": "CLOUDFRONT", "network_border_group": "GLOBAL", "ip_prefix": "13.32.0.0/15"}],
            "createDate": "2026-01-01-00-00-00", "extra": {"a": [1, 2]}, "syncToken": "42"}"#;
        let r = select(doc, &sel(&["CLOUDFRONT"], "ipv4,ipv6")).unwrap();
        assert_eq!(r.synctoken, 42);
        assert_eq!(r.ipv4, vec!["13.32.0.0/15".parse::<Ipv4Net>().unwrap()]);
        assert_eq!(r.ipv6.len(), 1);
    }

    #[test]
    fn escaped_strings_are_read_like_plain_ones() {
        // Fields borrow from the input; one with a JSON escape cannot, and must still be read.
        let doc = br#"{"syncToken": "42", "createDate": "2026\u002d01",
            "prefixes": [{"ip_prefix": "13.32.0.0\/15", "region": "GLOBAL", "service": "CLOUD\u0046RONT"}]}"#;
        let r = select(doc, &sel(&["CLOUDFRONT"], "ipv4")).unwrap();
        assert_eq!(r.ipv4, vec!["13.32.0.0/15".parse::<Ipv4Net>().unwrap()]);
        assert_eq!(r.create_date, "2026-01");
    }

    #[test]
    fn broken_documents_are_refused_with_the_reason() {
        let doc = fixture("small.json");
        let e = select(&doc[..doc.len() / 2], &sel(&["CLOUDFRONT"], "ipv4")).unwrap_err();
        assert!(matches!(e, RangesError::Truncated { .. }), "{e}");
        assert!(e.to_string().contains("download it again"));
        let e = select(b"<html>503</html>", &sel(&["CLOUDFRONT"], "ipv4")).unwrap_err();
        assert!(matches!(e, RangesError::Malformed(_)), "{e}");
        let e = select(
            br#"{"syncToken": "1", "createDate": "x"}"#,
            &sel(&["CLOUDFRONT"], "ipv4"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("no 'prefixes' array"), "{e}");
        for (doc, needle) in [
            (&br#"{"syncToken": "soon", "prefixes": []}"#[..], "'soon'"),
            (br#"{"prefixes": []}"#, "missing"),
            (br#"{"syncToken": null, "prefixes": []}"#, "missing"),
            (br#"{"syncToken": 42, "prefixes": []}"#, "42 (not a string)"),
            (br#"{"syncToken": "+42", "prefixes": []}"#, "'+42'"),
            (br#"{"syncToken": "", "prefixes": []}"#, "''"),
            (
                br#"{"syncToken": "99999999999999999999999", "prefixes": []}"#,
                "too large",
            ),
        ] {
            let e = select(doc, &sel(&["CLOUDFRONT"], "ipv4")).unwrap_err();
            assert!(matches!(e, RangesError::BadSynctoken(_)), "{e}");
            assert!(e.to_string().contains(needle), "{needle}: {e}");
            assert!(synctoken(doc).is_err());
        }
    }

    #[test]
    fn not_json_says_what_it_looks_like() {
        let html = select(b"<html>503</html>", &sel(&["CLOUDFRONT"], "ipv4")).unwrap_err();
        assert!(html.to_string().contains("looks like HTML"), "{html}");
        assert!(html.to_string().contains("IP_RANGES_URL"), "{html}");
        // Nothing at all is a truncation: the download stopped before the first byte.
        let empty = select(b"", &sel(&["CLOUDFRONT"], "ipv4")).unwrap_err();
        assert!(
            matches!(empty, RangesError::Truncated { bytes: 0, .. }),
            "{empty}"
        );
        let shape = select(
            br#"{"syncToken": "1", "prefixes": {}}"#,
            &sel(&["CLOUDFRONT"], "ipv4"),
        )
        .unwrap_err();
        assert!(shape.to_string().contains("another shape"), "{shape}");
        let partial = br#"{"syncToken": "1", "prefixes": [{"ip_pre"#;
        let cut = select(partial, &sel(&["CLOUDFRONT"], "ipv4")).unwrap_err();
        let expected = format!("truncated ({} bytes", partial.len());
        assert!(cut.to_string().contains(&expected), "{cut}");
    }

    #[test]
    fn a_prefix_in_the_other_array_is_refused_for_the_service_and_skipped_elsewhere() {
        let doc = |service: &str| {
            format!(
                r#"{{"syncToken": "1", "createDate": "d", "prefixes": [
                {{"ip_prefix": "13.32.0.0/15", "region": "GLOBAL", "service": "CLOUDFRONT"}}],
                "ipv6_prefixes": [{{"ipv6_prefix": "13.33.0.0/16", "region": "us-east-1", "service": "{service}"}}]}}"#
            )
        };
        let e = select(doc("CLOUDFRONT").as_bytes(), &sel(&["CLOUDFRONT"], "ipv4")).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("IPv4 prefix in the ipv6_prefixes array")
                && text.contains("13.33.0.0/16")
                && text.contains("us-east-1")
                && text.contains("CLOUDFRONT"),
            "{text}"
        );
        let ok = select(doc("EC2").as_bytes(), &sel(&["CLOUDFRONT"], "ipv4")).unwrap();
        assert_eq!(ok.published_v4, 1);
        assert!(ok.warnings[0].contains("EC2") && ok.warnings[0].contains("13.33.0.0/16"));
    }

    #[test]
    fn a_bad_prefix_of_the_service_refuses_a_bad_one_elsewhere_warns() {
        let doc = |service: &str, prefix: &str| {
            format!(
                r#"{{"syncToken": "1", "createDate": "d", "prefixes": [
                {{"ip_prefix": "{prefix}", "region": "GLOBAL", "service": "{service}"}},
                {{"ip_prefix": "13.32.0.0/15", "region": "GLOBAL", "service": "CLOUDFRONT"}}]}}"#
            )
        };
        let e = select(
            doc("CLOUDFRONT", "120.52.22.97/27").as_bytes(),
            &sel(&["CLOUDFRONT"], "ipv4"),
        )
        .unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("120.52.22.97/27")
                && text.contains("120.52.22.96/27")
                && text.contains("GLOBAL"),
            "{text}"
        );
        let e = select(
            doc("CLOUDFRONT", "2600:9000::/28").as_bytes(),
            &sel(&["CLOUDFRONT"], "ipv4"),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("IPv6 prefix in the prefixes array"),
            "{e}"
        );
        let e = select(
            doc("CLOUDFRONT", "13.32.0.0/33").as_bytes(),
            &sel(&["CLOUDFRONT"], "ipv4"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("not a valid CIDR"), "{e}");
        // Leading zeros read as octal by some tools (ipnet before 2.12.3 took them as decimal).
        let e = select(
            doc("CLOUDFRONT", "013.32.0.0/15").as_bytes(),
            &sel(&["CLOUDFRONT"], "ipv4"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("not a valid CIDR"), "{e}");
        let ok = select(
            doc("AMAZON", "120.52.22.97/27").as_bytes(),
            &sel(&["CLOUDFRONT"], "ipv4"),
        )
        .unwrap();
        assert_eq!(ok.ipv4.len(), 1);
        assert_eq!(ok.warnings.len(), 1);
        assert!(ok.warnings[0].contains("AMAZON"));
    }

    /// A field of the wrong type or a field given twice: the whole document used to be refused, even
    /// for an entry of a service nobody selected. Now such an entry is skipped with a warning, unless
    /// it is one of the selection's (then the document is corrupt where it matters).
    #[test]
    fn a_malformed_entry_of_another_service_warns_one_of_the_selection_refuses() {
        let doc = |entry: &str| {
            format!(
                r#"{{"syncToken": "1", "createDate": "d", "prefixes": [
                {entry},
                {{"ip_prefix": "13.32.0.0/15", "region": "GLOBAL", "service": "CLOUDFRONT"}}]}}"#
            )
        };
        let cf = sel(&["CLOUDFRONT"], "ipv4");
        for (entry, warning) in [
            (
                r#"{"ip_prefix": 5, "region": "GLOBAL", "service": "AMAZON"}"#,
                "not a string but a number",
            ),
            (
                r#"{"ip_prefix": "3.5.0.0/16", "ip_prefix": "3.6.0.0/16", "region": "GLOBAL", "service": "AMAZON"}"#,
                "holds the field ip_prefix twice",
            ),
            (
                r#"{"ip_prefix": ["3.5.0.0/16"], "region": null, "service": "EC2"}"#,
                "not a string but an array",
            ),
            (
                r#"{"ip_prefix": "3.5.0.0/16", "region": {"a": 1}, "service": "EC2"}"#,
                "its region is not a string but an object",
            ),
            (
                r#"{"ip_prefix": "3.5.0.0/16", "region": "GLOBAL", "service": 7}"#,
                "its service is not a string but a number",
            ),
        ] {
            let ok = select(doc(entry).as_bytes(), &cf).unwrap_or_else(|e| panic!("{entry}: {e}"));
            assert_eq!(ok.ipv4.len(), 1, "{entry}");
            assert!(
                ok.warnings[0].contains(warning),
                "{entry}: {:?}",
                ok.warnings
            );
        }
        for (entry, problem) in [
            (
                r#"{"ip_prefix": 5, "region": "GLOBAL", "service": "CLOUDFRONT"}"#,
                "not a string but a number",
            ),
            (
                r#"{"ip_prefix": "3.5.0.0/16", "region": "GLOBAL", "service": "CLOUDFRONT", "ip_prefix": "3.6.0.0/16"}"#,
                "holds the field ip_prefix twice",
            ),
            // Either value of a service given twice may be the one meant: the selection's refuses.
            (
                r#"{"ip_prefix": "3.5.0.0/16", "region": "GLOBAL", "service": "AMAZON", "service": "CLOUDFRONT"}"#,
                "holds the field service twice",
            ),
        ] {
            let e = select(doc(entry).as_bytes(), &cf).unwrap_err().to_string();
            assert!(e.contains(problem) && e.contains("corrupt"), "{entry}: {e}");
        }
    }

    #[test]
    fn unknown_services_and_regions_are_refused_nearest_first() {
        let latest = fixture("latest.json");
        let e = select(&latest, &sel(&["CLOUDFRONT", "CLOUDFRNT"], "ipv4"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("SERVICE 'CLOUDFRNT' is not a service of document 1787411825"),
            "{e}"
        );
        let known = e.split("nearest first: ").nth(1).unwrap();
        let (names, more) = known.split_once(" and ").unwrap();
        let names: Vec<&str> = names.split(", ").collect();
        assert_eq!(names.len(), 10, "{e}");
        assert_eq!(names[0], "CLOUDFRONT", "{e}");
        assert!(more.ends_with(" more"), "{e}");

        let mut typo = sel(&["CLOUDFRONT"], "ipv4");
        typo.regions = Some(vec!["GLOBAL".into(), "us-east1".into()]);
        let e = select(&latest, &typo).unwrap_err().to_string();
        assert!(
            e.starts_with("SERVICE_REGIONS 'us-east1' is not a region of CLOUDFRONT"),
            "{e}"
        );
        assert!(
            e.contains("nearest first: us-east-1, "),
            "the closest region comes first: {e}"
        );

        let none = select(
            br#"{"syncToken": "1", "prefixes": []}"#,
            &sel(&["CLOUDFRONT"], "ipv4"),
        )
        .unwrap_err();
        assert!(none.to_string().ends_with("nearest first: none"), "{none}");
        // Every item exists, but not in the IP version asked for: still refused, saying so.
        let v4_only = br#"{"syncToken": "1", "prefixes": [{"ip_prefix": "13.32.0.0/15", "region": "GLOBAL", "service": "CLOUDFRONT"}]}"#;
        let e = select(v4_only, &sel(&["CLOUDFRONT"], "ipv6")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("no ipv6 prefixes for service CLOUDFRONT"),
            "{e}"
        );
    }

    #[test]
    fn ip_versions_parse_and_print() {
        assert_eq!(
            "ipv6, IPv4".parse::<IpVersions>().unwrap().to_string(),
            "ipv4,ipv6"
        );
        assert_eq!(
            "both".parse::<IpVersions>().unwrap(),
            IpVersions { v4: true, v6: true }
        );
        assert_eq!("IPV6".parse::<IpVersions>().unwrap().to_string(), "ipv6");
        assert_eq!(
            "dual".parse::<IpVersions>().unwrap().to_string(),
            "ipv4,ipv6"
        );
        for text in ["ipv4", "ipv6", "ipv4,ipv6"] {
            assert_eq!(text.parse::<IpVersions>().unwrap().to_string(), text);
        }
        let e = "ipv4,ipv5".parse::<IpVersions>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "'ipv5' is not an IP version; expected ipv4, ipv6 or ipv4,ipv6"
        );
        assert!("".parse::<IpVersions>().is_err());
        assert_eq!(
            IpVersions {
                v4: false,
                v6: false
            }
            .to_string(),
            "no IP version"
        );
    }

    #[test]
    fn every_replayed_version_parses_and_its_service_is_never_empty() {
        let mut last = 0;
        for path in crate::testkit::replay_files() {
            let doc = std::fs::read(&path).unwrap();
            let set = select(&doc, &sel(&["CLOUDFRONT"], "ipv4,ipv6"))
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(set.synctoken > last, "{}", path.display());
            // Before 2018 CloudFront published no IPv6: said, and nothing else is.
            assert!(
                set.warnings
                    .iter()
                    .all(|w| set.ipv6.is_empty() && w.contains("no IPv6 prefix for CLOUDFRONT")),
                "{}: {:?}",
                path.display(),
                set.warnings
            );
            assert!(set.ipv4.len() <= set.published_v4);
            last = set.synctoken;
        }
    }

    /// Addresses covered by a set of IPv4 prefixes inside 10.0.0.0/16, as a bitmap.
    fn coverage(nets: &[Ipv4Net]) -> Vec<bool> {
        let mut bits = vec![false; 1 << 16];
        for n in nets {
            let start =
                (u32::from(n.network()) - u32::from(std::net::Ipv4Addr::new(10, 0, 0, 0))) as usize;
            let len = 1usize << (32 - n.prefix_len());
            bits[start..start + len].iter_mut().for_each(|b| *b = true);
        }
        bits
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        /// Aggregation covers exactly the addresses of its input and leaves nothing to merge.
        #[test]
        fn aggregation_is_lossless_and_minimal(raw in prop::collection::vec((0u32..65536, 16u8..=28), 1..40)) {
            let nets: Vec<Ipv4Net> = raw
                .into_iter()
                .map(|(offset, len)| Ipv4Net::new(std::net::Ipv4Addr::from(0x0a00_0000 + offset), len).unwrap().trunc())
                .collect();
            let entries: Vec<String> = nets
                .iter()
                .map(|n| format!(r#"{{"ip_prefix": "{n}", "region": "GLOBAL", "service": "CLOUDFRONT"}}"#))
                .collect();
            let doc = format!(r#"{{"syncToken": "1", "createDate": "d", "prefixes": [{}]}}"#, entries.join(","));
            let got = select(doc.as_bytes(), &sel(&["CLOUDFRONT"], "ipv4")).unwrap();
            prop_assert_eq!(coverage(&got.ipv4), coverage(&nets));
            prop_assert_eq!(got.published_v4, nets.iter().collect::<BTreeSet<_>>().len());
            // Sorted and disjoint: each prefix ends before the next begins.
            for pair in got.ipv4.windows(2) {
                prop_assert!(pair[0].broadcast() < pair[1].network(), "{:?}", pair);
            }
            // Minimal: no two outputs are the two halves of one wider prefix (they would merge).
            for (i, a) in got.ipv4.iter().enumerate() {
                for b in &got.ipv4[i + 1..] {
                    prop_assert!(
                        a.prefix_len() != b.prefix_len() || a.supernet().is_none() || a.supernet() != b.supernet(),
                        "{} and {} should have merged", a, b
                    );
                }
            }
            prop_assert!(got.ipv4.len() <= got.published_v4);
        }

        /// The same for IPv6, with prefixes inside one /112 so that coverage fits a bitmap.
        #[test]
        fn ipv6_aggregation_is_lossless(raw in prop::collection::vec((0u32..65536, 112u8..=124), 1..40)) {
            let base = u128::from("2600:9000::".parse::<std::net::Ipv6Addr>().unwrap());
            let nets: Vec<Ipv6Net> = raw
                .into_iter()
                .map(|(offset, len)| Ipv6Net::new((base + u128::from(offset)).into(), len).unwrap().trunc())
                .collect();
            let entries: Vec<String> = nets
                .iter()
                .map(|n| format!(r#"{{"ipv6_prefix": "{n}", "region": "GLOBAL", "service": "CLOUDFRONT"}}"#))
                .collect();
            let doc = format!(r#"{{"syncToken": "1", "prefixes": [], "ipv6_prefixes": [{}]}}"#, entries.join(","));
            let got = select(doc.as_bytes(), &sel(&["CLOUDFRONT"], "ipv6")).unwrap();
            let bits = |nets: &[Ipv6Net]| {
                let mut bits = vec![false; 1 << 16];
                for n in nets {
                    let start = (u128::from(n.network()) - base) as usize;
                    bits[start..start + (1usize << (128 - n.prefix_len()))].iter_mut().for_each(|b| *b = true);
                }
                bits
            };
            prop_assert_eq!(bits(&got.ipv6), bits(&nets));
            for pair in got.ipv6.windows(2) {
                prop_assert!(pair[0].broadcast() < pair[1].network(), "{:?}", pair);
            }
            prop_assert_eq!(Ipv6Net::aggregate(&got.ipv6), got.ipv6.clone());
        }

        /// Arbitrary bytes and truncations of a real document never panic.
        #[test]
        fn garbage_and_truncations_never_panic(cut in 0usize..6000, junk in prop::collection::vec(any::<u8>(), 0..200)) {
            let doc = fixture("small.json");
            let cut = cut.min(doc.len());
            let _ = select(&doc[..cut], &sel(&["CLOUDFRONT"], "ipv4"));
            let _ = select(&junk, &sel(&["CLOUDFRONT"], "ipv4"));
            let mut spliced = doc[..cut].to_vec();
            spliced.extend(&junk);
            let _ = select(&spliced, &sel(&["CLOUDFRONT"], "ipv4,ipv6"));
        }
    }
}
