//! Oracle Cloud's `public_ip_ranges.json`: `regions[].cidrs[]`, each CIDR with `tags` (`OCI`, `OSN`,
//! `OBJECT_STORAGE`).
//!
//! SERVICE matches a tag, as "the CIDR's tags contain it" (`OBJECT_STORAGE` only ever comes with
//! `OSN`); unset, every CIDR is selected. SERVICE_REGIONS matches `region`. The version is
//! `last_updated_timestamp` (`2026-01-16T09:22:47.074571`, no zone): read as UTC into seconds since
//! 1970 ([`Version::Seconds`]), which orders Oracle documents but is not a true instant. The file has
//! only IPv4 today; an IPv6 CIDR would be read as such.

use std::collections::BTreeSet;

use super::{
    Collector, Family, Format, FormatError, Json, Lookup, Object, Selected, Selection, Version,
    days_from_civil, echo, required_array, top_object,
};

const FORMAT: Format = Format::Oracle;

pub(super) fn select(document: &[u8], selection: &Selection) -> Result<Selected, FormatError> {
    let json = super::parse_json(FORMAT, document)?;
    let top = top_object(FORMAT, &json)?;
    let version = Version::Seconds(match top.get("last_updated_timestamp") {
        Lookup::One(Json::String(text)) => {
            timestamp(text).ok_or_else(|| bad_timestamp(format!("'{}'", echo(text))))?
        }
        Lookup::One(other) => {
            return Err(bad_timestamp(format!("{} (not a string)", other.quoted())));
        }
        Lookup::Missing => return Err(bad_timestamp("missing".into())),
        Lookup::Twice => return Err(bad_timestamp("given twice".into())),
    });
    let regions = required_array(FORMAT, top, "", "regions")?;
    if !regions.is_empty()
        && !regions
            .iter()
            .any(|r| r.as_object().is_some_and(|o| o.has("cidrs")))
    {
        return Err(FormatError::Malformed {
            format: FORMAT,
            problem: "no entry of 'regions' has cidrs".into(),
        });
    }

    let mut collector = Collector::new(FORMAT, selection);
    for (i, region) in regions.iter().enumerate() {
        let Some(fields) = region.as_object() else {
            let selected = collector.wanted(&[], &[]);
            collector.broken(
                selected,
                || format!("regions[{i}]"),
                format!("it is {}, not an object", region.kind()),
            )?;
            continue;
        };
        let names = fields.strings("region");
        let at = match names.first() {
            Some(name) => format!("region {}", echo(name)),
            None => format!("regions[{i}]"),
        };
        let cidrs = match (fields.problem(&["cidrs"], &["region"]), fields.get("cidrs")) {
            (Some(problem), _) => Err(problem),
            (None, Lookup::One(Json::Array(items))) => Ok(items),
            (None, Lookup::One(other)) => {
                Err(format!("its cidrs is {}, not an array", other.kind()))
            }
            (None, _) => Err("it has no cidrs".to_string()),
        };
        let cidrs = match cidrs {
            Ok(cidrs) => cidrs,
            Err(problem) => {
                // The tags cannot be read: selected only when no SERVICE narrows the selection.
                let selected = collector.wanted(&[], &names);
                collector.broken(selected, || at.clone(), problem)?;
                continue;
            }
        };
        for (j, cidr) in cidrs.iter().enumerate() {
            let Some(entry) = cidr.as_object() else {
                let selected = collector.wanted(&[], &names);
                collector.broken(
                    selected,
                    || format!("{at} cidrs[{j}]"),
                    format!("it is {}, not an object", cidr.kind()),
                )?;
                continue;
            };
            let tags = tags_of(entry);
            let selected = collector.wanted(&tags, &names);
            let location = || {
                let mut location = format!("{at} cidrs[{j}]");
                if !tags.is_empty() {
                    location.push_str(&format!(" (tags {})", echo(&tags.join(","))));
                }
                location
            };
            match (tag_problem(entry), entry.get("cidr")) {
                (Some(problem), _) => collector.broken(selected, location, problem)?,
                (None, Lookup::One(value)) => {
                    collector.prefix(selected, value, Family::Either, location)?;
                }
                (None, _) => collector.broken(selected, location, "it has no cidr".into())?,
            }
        }
    }

    let entries = || {
        regions
            .iter()
            .filter_map(Json::as_object)
            .flat_map(|region| {
                let names = region.strings("region");
                region
                    .all("cidrs")
                    .filter_map(|c| match c {
                        Json::Array(items) => Some(items.iter()),
                        _ => None,
                    })
                    .flatten()
                    .filter_map(Json::as_object)
                    .map(move |cidr| (names.clone(), tags_of(cidr)))
            })
    };
    collector.finish(
        version,
        || {
            entries()
                .flat_map(|(_, tags)| tags)
                .map(str::to_string)
                .collect()
        },
        || {
            entries()
                .filter(|(_, tags)| {
                    selection.services.is_empty()
                        || tags
                            .iter()
                            .any(|t| selection.services.iter().any(|s| s == t))
                })
                .flat_map(|(names, _)| names)
                .map(str::to_string)
                .collect::<BTreeSet<String>>()
        },
    )
}

/// Every string tag of a CIDR (of both `tags` fields when it is given twice, which refuses the entry
/// if it is selected).
fn tags_of<'j>(cidr: Object<'j, '_>) -> Vec<&'j str> {
    cidr.all("tags")
        .filter_map(|t| match t {
            Json::Array(items) => Some(items.iter().filter_map(Json::as_str)),
            _ => None,
        })
        .flatten()
        .collect()
}

/// What is wrong with a CIDR entry's fields. A missing `tags` is read as no tags: it matters only
/// to a SERVICE, which then does not match.
fn tag_problem(cidr: Object<'_, '_>) -> Option<String> {
    if let Some(problem) = cidr.problem(&["cidr", "tags"], &[]) {
        return Some(problem);
    }
    match cidr.get("tags") {
        Lookup::One(Json::Array(items)) => items
            .iter()
            .find(|t| t.as_str().is_none())
            .map(|t| format!("its tags hold {}, not only strings", t.kind())),
        Lookup::One(other) => Some(format!("its tags is {}, not an array", other.kind())),
        Lookup::Missing | Lookup::Twice => None,
    }
}

fn bad_timestamp(found: String) -> FormatError {
    FormatError::BadVersion {
        format: FORMAT,
        field: "last_updated_timestamp",
        found,
        expected: "a date and time such as 2026-01-16T09:22:47.074571",
    }
}

/// Seconds since 1970 of `YYYY-MM-DDTHH:MM:SS[.fraction][Z]`, read as UTC; the fraction (Oracle
/// writes microseconds) is dropped. Anything else is `None`: a version that cannot be read cannot
/// guard against going backwards.
fn timestamp(text: &str) -> Option<u64> {
    let bytes = text.as_bytes();
    let head = bytes.get(..19)?;
    let number = |from: usize, to: usize| -> Option<u64> {
        let digits = head.get(from..to)?;
        digits
            .iter()
            .all(u8::is_ascii_digit)
            .then(|| digits.iter().fold(0, |n, d| n * 10 + u64::from(d - b'0')))
    };
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if separators
        .iter()
        .any(|&(at, sep)| head.get(at) != Some(&sep))
    {
        return None;
    }
    let (year, month, day) = (number(0, 4)?, number(5, 7)?, number(8, 10)?);
    let (hour, minute, second) = (number(11, 13)?, number(14, 16)?, number(17, 19)?);
    let mut rest = bytes.get(19..)?;
    if let Some(fraction) = rest.strip_prefix(b".") {
        let digits = fraction.iter().take_while(|b| b.is_ascii_digit()).count();
        if !(1..=9).contains(&digits) {
            return None;
        }
        rest = &fraction[digits..];
    }
    if !(rest.is_empty() || rest == b"Z") {
        return None;
    }
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if year < 1970 || day == 0 || day > month_days || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    Some(days_from_civil(year, month, day)? * 86_400 + hour * 3600 + minute * 60 + second)
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{fixture, mutate, sel};
    use super::super::{FormatError, Version, select};
    use super::{FORMAT, timestamp};
    use proptest::prelude::*;

    fn ranges() -> Vec<u8> {
        fixture("oracle", "public_ip_ranges-2025-04-14.json")
    }

    /// Counts computed with Python's `ipaddress` (and the epoch with `datetime`) from the fixture.
    #[test]
    fn the_real_document_gives_its_counts() {
        let all = select(FORMAT, &ranges(), &sel(&[], None, "46")).unwrap();
        // 2025-04-14T08:03:27.161530
        assert_eq!(all.version, Version::Seconds(1_744_617_807));
        assert_eq!(
            (all.ipv4.len(), all.published_v4, all.ipv6.len()),
            (790, 790, 0)
        );
        // No IPv6 in Oracle's file: asked for, and said.
        assert!(
            all.warnings[0].contains("no IPv6 prefix"),
            "{:?}",
            all.warnings
        );
        for (tag, count) in [("OCI", 432), ("OSN", 358), ("OBJECT_STORAGE", 42)] {
            let got = select(FORMAT, &ranges(), &sel(&[tag], None, "4")).unwrap();
            assert_eq!(got.ipv4.len(), count, "{tag}");
            assert!(got.warnings.is_empty(), "{tag}: {:?}", got.warnings);
        }
        let ashburn = select(FORMAT, &ranges(), &sel(&[], Some(&["us-ashburn-1"]), "4")).unwrap();
        assert_eq!(ashburn.ipv4.len(), 63);
        let both = sel(&["OCI"], Some(&["us-ashburn-1", "eu-frankfurt-1"]), "4");
        assert_eq!(
            select(FORMAT, &ranges(), &both).unwrap().ipv4.len(),
            40 + 40
        );
        let storage = sel(&["OBJECT_STORAGE"], Some(&["eu-frankfurt-1"]), "4");
        assert_eq!(select(FORMAT, &ranges(), &storage).unwrap().ipv4.len(), 2);
    }

    #[test]
    fn typos_are_answered_nearest_first() {
        let e = select(FORMAT, &ranges(), &sel(&["OSM"], None, "4"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("SERVICE 'OSM' is not a service of the oracle document (last updated 2025-04-14T08:03:27)"), "{e}");
        assert!(
            e.ends_with("nearest first: OSN, OCI, OBJECT_STORAGE"),
            "{e}"
        );
        let e = select(
            FORMAT,
            &ranges(),
            &sel(&["OCI"], Some(&["us-ashburn1"]), "4"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("not a region of OCI") && e.contains("nearest first: us-ashburn-1, "),
            "{e}"
        );
        assert!(e.contains(" and 31 more"), "41 regions: {e}");
    }

    fn doc(entry: &str) -> String {
        format!(
            r#"{{"last_updated_timestamp": "2025-04-14T08:03:27.161530", "regions": [
            {{"region": "us-ashburn-1", "cidrs": [{entry}, {{"cidr": "129.80.0.0/16", "tags": ["OCI"]}}]}}]}}"#
        )
    }

    #[test]
    fn a_broken_entry_refuses_when_selected_and_warns_otherwise() {
        for (entry, problem) in [
            (
                r#"{"cidr": "134.70.24.1/21", "tags": ["OSN"]}"#,
                "the network is 134.70.24.0/21",
            ),
            (
                r#"{"cidr": "::ffff:134.70.24.0/117", "tags": ["OSN"]}"#,
                "IPv4-mapped",
            ),
            (
                r#"{"cidr": 134, "tags": ["OSN"]}"#,
                "not a string but a number",
            ),
            (
                r#"{"cidr": "134.70.24.0/21", "cidr": "134.70.32.0/21", "tags": ["OSN"]}"#,
                "holds the field cidr twice",
            ),
            (
                r#"{"cidr": "134.70.24.0/21", "tags": ["OSN", 5]}"#,
                "its tags hold a number",
            ),
            (r#"{"tags": ["OSN"]}"#, "it has no cidr"),
        ] {
            // SERVICE=OCI does not select the OSN entry: skipped, with a warning.
            let ok = select(FORMAT, doc(entry).as_bytes(), &sel(&["OCI"], None, "4"))
                .unwrap_or_else(|e| panic!("{entry}: {e}"));
            assert_eq!(ok.ipv4.len(), 1);
            assert!(
                ok.warnings[0].contains("region us-ashburn-1 cidrs[0]")
                    && ok.warnings[0].contains(problem),
                "{entry}: {:?}",
                ok.warnings
            );
            for selection in [sel(&["OSN"], None, "4"), sel(&[], None, "4")] {
                let e = select(FORMAT, doc(entry).as_bytes(), &selection)
                    .unwrap_err()
                    .to_string();
                assert!(
                    e.contains("cidrs[0]")
                        && e.contains(problem)
                        && e.contains("nothing was changed"),
                    "{entry}: {e}"
                );
            }
        }
        // The wrong family is not a thing here (IPv4 and IPv6 are one list), but an IPv6 CIDR is
        // kept as IPv6.
        let v6 = doc(r#"{"cidr": "2603:c020::/32", "tags": ["OCI"]}"#);
        let got = select(FORMAT, v6.as_bytes(), &sel(&["OCI"], None, "6")).unwrap();
        assert_eq!(got.ipv6.len(), 1);
        // Missing tags are no tags: no SERVICE matches them, but the CIDR is read.
        let bare = doc(r#"{"cidr": "134.70.24.0/21"}"#);
        assert_eq!(
            select(FORMAT, bare.as_bytes(), &sel(&[], None, "4"))
                .unwrap()
                .ipv4
                .len(),
            2
        );
        assert_eq!(
            select(FORMAT, bare.as_bytes(), &sel(&["OCI"], None, "4"))
                .unwrap()
                .ipv4
                .len(),
            1
        );
        // A broken region: refused when its name is selected, skipped when another is.
        let broken_region = br#"{"last_updated_timestamp": "2025-04-14T08:03:27", "regions": [
            {"region": "eu-paris-1", "cidrs": {}},
            {"region": "us-ashburn-1", "cidrs": [{"cidr": "129.80.0.0/16", "tags": ["OCI"]}]}]}"#;
        let ok = select(
            FORMAT,
            broken_region,
            &sel(&[], Some(&["us-ashburn-1"]), "4"),
        )
        .unwrap();
        assert!(
            ok.warnings[0].contains("region eu-paris-1") && ok.warnings[0].contains("not an array"),
            "{:?}",
            ok.warnings
        );
        let e = select(FORMAT, broken_region, &sel(&[], Some(&["eu-paris-1"]), "4")).unwrap_err();
        assert!(matches!(e, FormatError::BadEntry { .. }), "{e}");
    }

    #[test]
    fn wrong_shapes_and_versions_are_refused() {
        let full = ranges();
        let e = select(FORMAT, &full[..full.len() - 3], &sel(&[], None, "4")).unwrap_err();
        assert!(matches!(e, FormatError::Truncated { .. }), "{e}");
        let e = select(
            FORMAT,
            br#"{"last_updated_timestamp": "2025-04-14T08:03:27", "regions": [{"region": "x"}]}"#,
            &sel(&[], None, "4"),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("no entry of 'regions' has cidrs"),
            "{e}"
        );
        let e = select(
            FORMAT,
            br#"{"last_updated_timestamp": "2025-04-14T08:03:27"}"#,
            &sel(&[], None, "4"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("there is no 'regions'"), "{e}");
        for (stamp, needle) in [
            (r#""yesterday""#, "'yesterday'"),
            ("1744617807", "1744617807 (not a string)"),
            (r#""2025-02-29T00:00:00""#, "'2025-02-29T00:00:00'"),
        ] {
            let doc = format!(r#"{{"last_updated_timestamp": {stamp}, "regions": []}}"#);
            let e = select(FORMAT, doc.as_bytes(), &sel(&[], None, "4")).unwrap_err();
            assert!(matches!(e, FormatError::BadVersion { .. }), "{e}");
            assert!(e.to_string().contains(needle), "{needle}: {e}");
        }
        let e = select(FORMAT, br#"{"regions": []}"#, &sel(&[], None, "4")).unwrap_err();
        assert!(
            e.to_string().contains("last_updated_timestamp is missing"),
            "{e}"
        );
        let e = select(
            FORMAT,
            br#"{"last_updated_timestamp": "2025-04-14T08:03:27", "regions": []}"#,
            &sel(&[], None, "4"),
        )
        .unwrap_err();
        assert!(matches!(e, FormatError::Empty { .. }), "{e}");
    }

    #[test]
    fn timestamps_are_read_strictly() {
        assert_eq!(timestamp("2025-04-14T08:03:27.161530"), Some(1_744_617_807));
        assert_eq!(timestamp("2025-04-14T08:03:27"), Some(1_744_617_807));
        assert_eq!(timestamp("2025-04-14T08:03:27.1Z"), Some(1_744_617_807));
        assert_eq!(timestamp("1970-01-01T00:00:00"), Some(0));
        assert_eq!(timestamp("2024-02-29T23:59:59"), Some(1_709_251_199));
        for bad in [
            "",
            "2025-04-14",
            "2025-04-14 08:03:27",
            "2025-04-14T08:03:27.",
            "2025-04-14T08:03:27+02:00",
            "2025-13-01T00:00:00",
            "2025-04-31T00:00:00",
            "2025-04-14T24:00:00",
            "1969-12-31T23:59:59",
            "2025-04-14T08:03:27.1234567890",
            "+025-04-14T08:03:27",
            "2025-04-14T08:03:27é",
        ] {
            assert_eq!(timestamp(bad), None, "{bad}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn garbage_and_mutations_never_panic(
            cut in 0usize..90_000,
            at in 0usize..90_000,
            byte in any::<u8>(),
            junk in prop::collection::vec(any::<u8>(), 0..64),
            stamp in ".{0,30}",
        ) {
            let selection = sel(&["OCI"], None, "46");
            let _ = select(FORMAT, &junk, &selection);
            let _ = timestamp(&stamp);
            let doc = ranges();
            mutate(FORMAT, &doc, (&selection, &sel(&[], Some(&["us-ashburn-1"]), "4")), (cut, at, byte, &junk));
        }
    }
}
