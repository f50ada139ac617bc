//! Google's range documents: `cloud.json` (entries with `service` and `scope`), `goog.json` (bare
//! entries) and the crawler lists published in the same shape (googlebot / common-crawlers, GPTBot,
//! Bingbot).
//!
//! SERVICE matches an entry's `service` (in practice always "Google Cloud"), SERVICE_REGIONS its
//! `scope` (a GCP region or "global"). The version is `syncToken`, milliseconds since 1970; the
//! crawler lists have none (only a `creationTime` without a zone, in UTC there but Pacific time in
//! gstatic's files), so theirs is [`Version::None`] rather than a time that cannot be compared.

use std::collections::BTreeSet;

use super::{
    Collector, Family, Format, FormatError, Json, Lookup, Selected, Selection, Version,
    required_array, top_object,
};

const FORMAT: Format = Format::Google;

pub(super) fn select(document: &[u8], selection: &Selection) -> Result<Selected, FormatError> {
    let json = super::parse_json(FORMAT, document)?;
    let top = top_object(FORMAT, &json)?;
    let version = match top.get("syncToken") {
        // The crawler lists have no syncToken at all: that is their shape, not damage.
        Lookup::Missing => Version::None,
        Lookup::One(value) => Version::Millis(sync_token(value)?),
        Lookup::Twice => {
            return Err(FormatError::Malformed {
                format: FORMAT,
                problem: "the key 'syncToken' is given twice".into(),
            });
        }
    };
    let prefixes = required_array(FORMAT, top, "", "prefixes")?;
    // Another provider's document (ip-ranges.json also has syncToken and prefixes) would otherwise be
    // refused entry by entry; say once that it is of another shape.
    let is_google_entry = |entry: &Json<'_>| {
        entry
            .as_object()
            .is_some_and(|o| o.has("ipv4Prefix") || o.has("ipv6Prefix"))
    };
    if !prefixes.is_empty() && !prefixes.iter().any(is_google_entry) {
        return Err(FormatError::Malformed {
            format: FORMAT,
            problem: "no entry of 'prefixes' has an ipv4Prefix or ipv6Prefix".into(),
        });
    }

    let mut collector = Collector::new(FORMAT, selection);
    for (i, entry) in prefixes.iter().enumerate() {
        let Some(fields) = entry.as_object() else {
            // Neither service nor scope can be read: selected only by a selection of everything.
            let selected = collector.wanted(&[], &[]);
            collector.broken(
                selected,
                || format!("prefixes[{i}]"),
                format!("it is {}, not an object", entry.kind()),
            )?;
            continue;
        };
        let services = fields.strings("service");
        let scopes = fields.strings("scope");
        let selected = collector.wanted(&services, &scopes);
        let location = || {
            let mut at = format!("prefixes[{i}]");
            let context: Vec<String> = [("service", &services), ("scope", &scopes)]
                .into_iter()
                .filter_map(|(name, values)| values.first().map(|v| format!("{name} {v}")))
                .collect();
            if !context.is_empty() {
                at.push_str(&format!(" ({})", context.join(", ")));
            }
            at
        };
        let problem = fields.problem(&["ipv4Prefix", "ipv6Prefix"], &["service", "scope"]);
        let field = match (problem, fields.get("ipv4Prefix"), fields.get("ipv6Prefix")) {
            (Some(problem), ..) => Err(problem),
            (None, Lookup::One(v4), Lookup::Missing) => Ok((v4, Family::V4("ipv4Prefix"))),
            (None, Lookup::Missing, Lookup::One(v6)) => Ok((v6, Family::V6("ipv6Prefix"))),
            (None, Lookup::Missing, Lookup::Missing) => {
                Err("it has neither an ipv4Prefix nor an ipv6Prefix".to_string())
            }
            (None, ..) => Err("it has both an ipv4Prefix and an ipv6Prefix".to_string()),
        };
        match field {
            Ok((value, family)) => collector.prefix(selected, value, family, location)?,
            Err(problem) => collector.broken(selected, location, problem)?,
        }
    }

    let objects = || prefixes.iter().filter_map(Json::as_object);
    collector.finish(
        version,
        || {
            objects()
                .flat_map(|o| o.strings("service"))
                .map(str::to_string)
                .collect()
        },
        || {
            objects()
                .filter(|o| {
                    selection.services.is_empty()
                        || o.strings("service")
                            .iter()
                            .any(|s| selection.services.iter().any(|w| w == s))
                })
                .flat_map(|o| o.strings("scope"))
                .map(str::to_string)
                .collect::<BTreeSet<String>>()
        },
    )
}

/// The syncToken: a string of digits (milliseconds since 1970), as Google writes it.
fn sync_token(value: &Json<'_>) -> Result<u64, FormatError> {
    let bad = |found: String| FormatError::BadVersion {
        format: FORMAT,
        field: "syncToken",
        found,
        expected: "a string of digits (milliseconds since 1970)",
    };
    match value {
        Json::String(raw) if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) => raw
            .parse()
            .map_err(|_| bad(format!("'{}' (too large)", super::echo(raw)))),
        Json::String(_) => Err(bad(value.quoted())),
        Json::Null => Err(bad("null".into())),
        other => Err(bad(format!("{} (not a string)", other.quoted()))),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{fixture, mutate, sel};
    use super::super::{FormatError, Version, select};
    use super::FORMAT;
    use proptest::prelude::*;

    fn cloud() -> Vec<u8> {
        fixture("google", "cloud-2024-07-15.json")
    }

    /// Counts computed with Python's `ipaddress` from the fixtures (not from this parser).
    #[test]
    fn the_real_cloud_json_gives_its_counts() {
        let all = select(FORMAT, &cloud(), &sel(&[], None, "46")).unwrap();
        assert_eq!(all.version, Version::Millis(1_721_052_295_779));
        assert_eq!((all.ipv4.len(), all.ipv6.len()), (624, 44));
        assert_eq!((all.published_v4, all.published_v6), (624, 44));
        assert!(all.warnings.is_empty(), "{:?}", all.warnings);

        let service = select(FORMAT, &cloud(), &sel(&["Google Cloud"], None, "46")).unwrap();
        assert_eq!(service.ipv4, all.ipv4);

        let scoped = sel(&[], Some(&["us-central1", "global"]), "46");
        let got = select(FORMAT, &cloud(), &scoped).unwrap();
        assert_eq!((got.ipv4.len(), got.ipv6.len()), (76 + 31, 2));
        assert!(got.ipv6.contains(&"2600:1901::/48".parse().unwrap()));

        let v6 = select(FORMAT, &cloud(), &sel(&[], Some(&["europe-west4"]), "6")).unwrap();
        assert_eq!((v6.ipv4.len(), v6.ipv6.len()), (0, 1));
    }

    #[test]
    fn goog_json_and_the_crawler_lists_have_the_same_shape() {
        let goog = select(
            FORMAT,
            &fixture("google", "goog.json"),
            &sel(&[], None, "46"),
        )
        .unwrap();
        assert_eq!(goog.version, Version::Millis(1_714_053_903_689));
        assert_eq!((goog.ipv4.len(), goog.ipv6.len()), (73, 11));
        for (name, v4, v6) in [
            ("googlebot-2021-11-10.json", 90, 90),
            ("gptbot-2025-03-11.json", 6, 0),
            ("bingbot.json", 28, 0),
        ] {
            let got = select(FORMAT, &fixture("google", name), &sel(&[], None, "46")).unwrap();
            // No syncToken in the crawler lists: no version, not an error.
            assert_eq!(got.version, Version::None, "{name}");
            assert_eq!((got.ipv4.len(), got.ipv6.len()), (v4, v6), "{name}");
        }
        // GPTBot publishes no IPv6: asked for both, said so.
        let gpt = select(
            FORMAT,
            &fixture("google", "gptbot-2025-03-11.json"),
            &sel(&[], None, "46"),
        )
        .unwrap();
        assert!(
            gpt.warnings[0].contains("no IPv6 prefix"),
            "{:?}",
            gpt.warnings
        );
    }

    #[test]
    fn service_or_scope_on_a_list_without_them_is_unknown() {
        let e = select(
            FORMAT,
            &fixture("google", "goog.json"),
            &sel(&["Google Cloud"], None, "4"),
        )
        .unwrap_err();
        assert!(matches!(e, FormatError::UnknownService { .. }), "{e}");
        assert!(e.to_string().ends_with("nearest first: none"), "{e}");
        let e = select(
            FORMAT,
            &fixture("google", "bingbot.json"),
            &sel(&[], Some(&["global"]), "4"),
        )
        .unwrap_err();
        assert!(matches!(e, FormatError::UnknownRegion { .. }), "{e}");
    }

    #[test]
    fn typos_are_answered_nearest_first() {
        let e = select(FORMAT, &cloud(), &sel(&["Google Clod"], None, "4"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("SERVICE 'Google Clod' is not a service of the google document (syncToken 1721052295779)"),
            "{e}"
        );
        assert!(e.ends_with("nearest first: Google Cloud"), "{e}");
        let e = select(FORMAT, &cloud(), &sel(&[], Some(&["us-centrl1"]), "4"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("Regions there, nearest first: us-central1, "),
            "{e}"
        );
        assert!(e.contains(" and 34 more"), "44 scopes: {e}");
    }

    #[test]
    fn broken_documents_are_refused_with_the_reason() {
        let doc = cloud();
        let cut = select(FORMAT, &doc[..doc.len() / 2], &sel(&[], None, "4")).unwrap_err();
        assert!(matches!(cut, FormatError::Truncated { .. }), "{cut}");
        let html = select(FORMAT, b"<html>502</html>", &sel(&[], None, "4")).unwrap_err();
        assert!(html.to_string().contains("looks like HTML"), "{html}");
        // Amazon's ip-ranges.json at a google URL: another shape, said once.
        let aws = br#"{"syncToken": "1", "prefixes": [{"ip_prefix": "13.32.0.0/15", "service": "CLOUDFRONT"}]}"#;
        let e = select(FORMAT, aws, &sel(&[], None, "4"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no entry of 'prefixes' has an ipv4Prefix") && e.contains("cloud.json"),
            "{e}"
        );
        for (doc, needle) in [
            (
                &br#"{"prefixes": {}}"#[..],
                "'prefixes' is an object, not an array",
            ),
            (br#"{"syncToken": "1"}"#, "there is no 'prefixes'"),
            (br#"[1]"#, "the document is an array, not an object"),
            (
                br#"{"prefixes": [], "prefixes": []}"#,
                "the key 'prefixes' is given twice",
            ),
        ] {
            let e = select(FORMAT, doc, &sel(&[], None, "4")).unwrap_err();
            assert!(matches!(e, FormatError::Malformed { .. }), "{e}");
            assert!(e.to_string().contains(needle), "{needle}: {e}");
        }
        for (token, needle) in [
            (r#""soon""#, "'soon'"),
            ("1721052295779", "1721052295779 (not a string)"),
            ("null", "is null"),
            (r#""99999999999999999999999""#, "too large"),
        ] {
            let doc = format!(
                r#"{{"syncToken": {token}, "prefixes": [{{"ipv4Prefix": "8.8.8.0/24"}}]}}"#
            );
            let e = select(FORMAT, doc.as_bytes(), &sel(&[], None, "4")).unwrap_err();
            assert!(matches!(e, FormatError::BadVersion { .. }), "{e}");
            assert!(e.to_string().contains(needle), "{needle}: {e}");
        }
    }

    fn doc(entry: &str) -> String {
        format!(
            r#"{{"syncToken": "1", "creationTime": "t", "prefixes": [
            {entry},
            {{"ipv4Prefix": "34.1.208.0/20", "service": "Google Cloud", "scope": "africa-south1"}}]}}"#
        )
    }

    #[test]
    fn a_broken_entry_refuses_when_selected_and_warns_otherwise() {
        let only_africa = sel(&[], Some(&["africa-south1"]), "46");
        for (entry, problem) in [
            (
                r#"{"ipv4Prefix": "34.1.208.1/20", "scope": "SCOPE"}"#,
                "the network is 34.1.208.0/20",
            ),
            (
                r#"{"ipv4Prefix": "2600:1900::/44", "scope": "SCOPE"}"#,
                "an IPv6 prefix in the IPv4 field ipv4Prefix",
            ),
            (
                r#"{"ipv6Prefix": "34.1.0.0/16", "scope": "SCOPE"}"#,
                "an IPv4 prefix in the IPv6 field ipv6Prefix",
            ),
            (
                r#"{"ipv6Prefix": "::ffff:34.1.0.0/112", "scope": "SCOPE"}"#,
                "IPv4-mapped",
            ),
            (
                r#"{"ipv4Prefix": 5, "scope": "SCOPE"}"#,
                "not a string but a number",
            ),
            (
                r#"{"ipv4Prefix": "8.8.8.0/24", "ipv4Prefix": "8.8.4.0/24", "scope": "SCOPE"}"#,
                "holds the field ipv4Prefix twice",
            ),
            (
                r#"{"ipv4Prefix": "8.8.8.0/24", "ipv6Prefix": "2600::/16", "scope": "SCOPE"}"#,
                "both",
            ),
            (
                r#"{"service": "Google Cloud", "scope": "SCOPE"}"#,
                "neither",
            ),
            (
                r#"{"ipv4Prefix": "8.8.8.0/24", "scope": "SCOPE", "service": 7}"#,
                "its service is not a string but a number",
            ),
        ] {
            // Another scope: skipped with a warning that names the entry and the problem.
            let other = doc(&entry.replace("SCOPE", "us-east1"));
            let ok = select(FORMAT, other.as_bytes(), &only_africa)
                .unwrap_or_else(|e| panic!("{entry}: {e}"));
            assert_eq!(ok.ipv4.len(), 1, "{entry}");
            assert!(
                ok.warnings[0].contains("prefixes[0]") && ok.warnings[0].contains(problem),
                "{entry}: {:?}",
                ok.warnings
            );
            // The selected scope: the document is refused.
            let mine = doc(&entry.replace("SCOPE", "africa-south1"));
            let e = select(FORMAT, mine.as_bytes(), &only_africa)
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("prefixes[0]")
                    && e.contains(problem)
                    && e.contains("nothing was changed"),
                "{entry}: {e}"
            );
        }
        // A scope given twice: either value may be the one meant, so the selected one refuses.
        let twice =
            doc(r#"{"ipv4Prefix": "8.8.8.0/24", "scope": "us-east1", "scope": "africa-south1"}"#);
        let e = select(FORMAT, twice.as_bytes(), &only_africa).unwrap_err();
        assert!(e.to_string().contains("holds the field scope twice"), "{e}");
        // Not an object: selected only when everything is.
        let odd = doc(r#""8.8.8.0/24""#);
        assert!(select(FORMAT, odd.as_bytes(), &only_africa).is_ok());
        let e = select(FORMAT, odd.as_bytes(), &sel(&[], None, "4")).unwrap_err();
        assert!(
            e.to_string().contains("it is a string, not an object"),
            "{e}"
        );
    }

    #[test]
    fn duplicates_are_deduped_and_empty_selections_refused() {
        let dup = doc(
            r#"{"ipv4Prefix": "34.1.208.0/20", "service": "Google Cloud", "scope": "africa-south1"}"#,
        );
        let got = select(FORMAT, dup.as_bytes(), &sel(&[], None, "4")).unwrap();
        assert_eq!((got.ipv4.len(), got.published_v4), (1, 2));
        let e = select(FORMAT, dup.as_bytes(), &sel(&[], None, "6")).unwrap_err();
        assert!(matches!(e, FormatError::Empty { .. }), "{e}");
        assert!(
            e.to_string().starts_with(
                "no ipv6 prefixes for all services in the google document (syncToken 1)"
            ),
            "{e}"
        );
        // Spelling is not the prefix: upper case and zeros written out are the same prefix, kept once
        // in canonical form.
        let spelled = doc(
            r#"{"ipv6Prefix": "2A0A:A440::/29"}, {"ipv6Prefix": "2a0a:a440:0:0::/29"}, {"ipv6Prefix": "2a0a:a440::/29"}"#,
        );
        let got = select(FORMAT, spelled.as_bytes(), &sel(&[], None, "6")).unwrap();
        let v6: Vec<String> = got.ipv6.iter().map(|n| n.to_string()).collect();
        assert_eq!(
            (v6, got.published_v6),
            (vec!["2a0a:a440::/29".to_string()], 3)
        );
        let e = select(FORMAT, br#"{"prefixes": []}"#, &sel(&[], None, "4")).unwrap_err();
        assert!(
            e.to_string().contains("services in this document: none"),
            "{e}"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Arbitrary bytes, truncations and splices of real documents never panic, and an `Ok` holds
        /// only canonical prefixes of the families asked for.
        #[test]
        fn garbage_and_mutations_never_panic(
            cut in 0usize..70_000,
            at in 0usize..70_000,
            byte in any::<u8>(),
            junk in prop::collection::vec(any::<u8>(), 0..64),
        ) {
            let selection = sel(&[], None, "46");
            let _ = select(FORMAT, &junk, &selection);
            for doc in [cloud(), fixture("google", "googlebot-2021-11-10.json")] {
                mutate(FORMAT, &doc, (&selection, &sel(&[], Some(&["global"]), "4")), (cut, at, byte, &junk));
            }
        }
    }
}
