//! The ip-ranges.json model: parse, select (service, region, IP version), aggregate losslessly.
//!
//! The real document is 2.6 MB with ~17,000 entries of which CloudFront is ~240, so parsing borrows
//! strings from the input instead of allocating one per field. Strictness is targeted: an entry of a
//! selected service that is not a canonical prefix refuses the whole document (applying a part of it
//! could cut CloudFront off), while a bad entry of another service is only a warning (it must not block
//! CloudFront updates).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::Deserialize;
use thiserror::Error;

/// Which IP versions to allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpVersions {
    /// IPv4 prefixes (`prefixes`).
    pub v4: bool,
    /// IPv6 prefixes (`ipv6_prefixes`).
    pub v6: bool,
}

impl Default for IpVersions {
    /// IPv4 only, like the blog's function.
    fn default() -> Self {
        IpVersions {
            v4: true,
            v6: false,
        }
    }
}

impl FromStr for IpVersions {
    type Err = String;

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
                other => return Err(format!("'{other}' is not an IP version")),
            }
        }
        Ok(v)
    }
}

impl fmt::Display for IpVersions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.v4, self.v6) {
            (true, true) => f.write_str("ipv4,ipv6"),
            (false, true) => f.write_str("ipv6"),
            _ => f.write_str("ipv4"),
        }
    }
}

/// What to keep from the document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    /// Service names, exactly as the document writes them (`CLOUDFRONT`).
    pub services: Vec<String>,
    /// The document's `region` values to keep (`GLOBAL` is one); `None` keeps all.
    pub regions: Option<Vec<String>>,
    /// IP versions to keep.
    pub ip_versions: IpVersions,
}

/// The selected ranges of one document, aggregated.
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
    #[error("the ip-ranges document is not valid: {0}; expected the JSON format of ip-ranges.json")]
    Malformed(String),
    /// The syncToken is missing or not a number.
    #[error(
        "the ip-ranges document has syncToken '{0}', expected a number of seconds; the document is corrupt"
    )]
    BadSynctoken(String),
    /// A prefix of a selected service is not a canonical CIDR.
    #[error(
        "{service} prefix '{prefix}' (region {region}) is {problem}; the document is corrupt, nothing was changed"
    )]
    BadPrefix {
        /// The service.
        service: String,
        /// The region.
        region: String,
        /// The prefix as published.
        prefix: String,
        /// What is wrong with it.
        problem: String,
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

#[derive(Deserialize)]
struct Document<'a> {
    #[serde(rename = "syncToken", borrow)]
    sync_token: Option<Cow<'a, str>>,
    #[serde(rename = "createDate", borrow, default)]
    create_date: Option<Cow<'a, str>>,
    #[serde(borrow)]
    prefixes: Option<Vec<Entry<'a>>>,
    #[serde(borrow, default)]
    ipv6_prefixes: Vec<Entry<'a>>,
}

/// One entry of either array; the two arrays differ only in the name of the prefix field.
#[derive(Deserialize)]
struct Entry<'a> {
    #[serde(borrow, default)]
    ip_prefix: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    ipv6_prefix: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    region: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    service: Option<Cow<'a, str>>,
}

fn parse(document: &[u8]) -> Result<Document<'_>, RangesError> {
    serde_json::from_slice::<Document>(document).map_err(|e| {
        if e.is_eof() {
            RangesError::Truncated {
                bytes: document.len(),
                detail: format!("ends at line {} column {}", e.line(), e.column()),
            }
        } else {
            RangesError::Malformed(e.to_string())
        }
    })
}

fn synctoken_of(doc: &Document) -> Result<u64, RangesError> {
    let raw = doc.sync_token.as_deref().unwrap_or_default();
    raw.parse()
        .map_err(|_| RangesError::BadSynctoken(raw.to_string()))
}

/// The document's syncToken: used to compare a downloaded document with its notification.
pub fn synctoken(document: &[u8]) -> Result<u64, RangesError> {
    synctoken_of(&parse(document)?)
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

/// Selects and aggregates the ranges of `selection` from a document.
pub fn select(document: &[u8], selection: &Selection) -> Result<RangeSet, RangesError> {
    let doc = parse(document)?;
    let synctoken = synctoken_of(&doc)?;
    let Some(prefixes) = &doc.prefixes else {
        return Err(RangesError::Malformed(
            "there is no 'prefixes' array".into(),
        ));
    };
    let wanted = |service: &str, region: &str| {
        selection.services.iter().any(|s| s == service)
            && selection
                .regions
                .as_ref()
                .is_none_or(|rs| rs.iter().any(|r| r == region))
    };
    let mut warnings = Vec::new();
    let mut known: BTreeSet<&str> = BTreeSet::new();
    let mut v4: BTreeSet<Ipv4Net> = BTreeSet::new();
    let mut v6: BTreeSet<Ipv6Net> = BTreeSet::new();

    for (array, is_v6) in [(prefixes, false), (&doc.ipv6_prefixes, true)] {
        for entry in array {
            let service = entry.service.as_deref().unwrap_or("");
            let region = entry.region.as_deref().unwrap_or("");
            known.insert(service);
            let text = if is_v6 {
                &entry.ipv6_prefix
            } else {
                &entry.ip_prefix
            };
            let text = text.as_deref().unwrap_or("");
            let selected = wanted(service, region);
            let parsed: Result<IpNet, String> = if is_v6 {
                canonical::<Ipv6Net>(text, Ipv6Net::trunc).map(IpNet::V6)
            } else {
                canonical::<Ipv4Net>(text, Ipv4Net::trunc).map(IpNet::V4)
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
                        prefix: text.to_string(),
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

    if v4.is_empty() && v6.is_empty() {
        known.remove("");
        let mut names: Vec<&str> = known.into_iter().collect();
        let more = names.len().saturating_sub(10);
        names.truncate(10);
        let mut known = names.join(", ");
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
    })
}

/// Counts of every service's prefixes in a document, for diagnostics.
pub fn services(document: &[u8]) -> Result<BTreeMap<String, usize>, RangesError> {
    let doc = parse(document)?;
    let mut counts = BTreeMap::new();
    for entry in doc.prefixes.iter().flatten().chain(&doc.ipv6_prefixes) {
        *counts
            .entry(entry.service.as_deref().unwrap_or("").to_string())
            .or_insert(0) += 1;
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/tests/fixtures/ip-ranges/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
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
        let e = select(
            br#"{"syncToken": "soon", "prefixes": []}"#,
            &sel(&["CLOUDFRONT"], "ipv4"),
        )
        .unwrap_err();
        assert!(matches!(e, RangesError::BadSynctoken(_)), "{e}");
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
        let ok = select(
            doc("AMAZON", "120.52.22.97/27").as_bytes(),
            &sel(&["CLOUDFRONT"], "ipv4"),
        )
        .unwrap();
        assert_eq!(ok.ipv4.len(), 1);
        assert_eq!(ok.warnings.len(), 1);
        assert!(ok.warnings[0].contains("AMAZON"));
    }

    #[test]
    fn an_empty_selection_is_refused_naming_what_exists() {
        let doc = fixture("small.json");
        let e = select(&doc, &sel(&["CLOUDFRONTS"], "ipv4")).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("CLOUDFRONTS")
                && text.contains("CLOUDFRONT_ORIGIN_FACING")
                && text.contains("SERVICE"),
            "{text}"
        );
        let mut nowhere = sel(&["CLOUDFRONT"], "ipv4");
        nowhere.regions = Some(vec!["mars-north-1".into()]);
        assert!(
            select(&doc, &nowhere)
                .unwrap_err()
                .to_string()
                .contains("mars-north-1")
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
        assert!("ipv5".parse::<IpVersions>().is_err());
        assert!("".parse::<IpVersions>().is_err());
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
            prop_assert_eq!(Ipv4Net::aggregate(&got.ipv4), got.ipv4.clone());
            for pair in got.ipv4.windows(2) {
                prop_assert!(!pair[0].contains(&pair[1]) && !pair[1].contains(&pair[0]));
            }
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
