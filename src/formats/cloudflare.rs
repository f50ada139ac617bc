//! Cloudflare's `https://api.cloudflare.com/client/v4/ips`: `result.ipv4_cidrs` and
//! `result.ipv6_cidrs` inside the v4 API envelope (`success`, `errors`, `messages`).
//!
//! The document is one list (no SERVICE, no SERVICE_REGIONS). An answer with `success: false` or
//! errors is refused with Cloudflare's own messages. The version is `result.etag`, an opaque digest
//! for equality only. Other lists in `result` (`jdcloud_cidrs`, present with `?networks=jdcloud`, IPv4
//! and IPv6 mixed) are not selected, and a warning says so.

use super::{
    Collector, Family, Format, FormatError, Json, Lookup, Selected, Selection, Version, echo,
    required, required_array, top_object,
};

const FORMAT: Format = Format::Cloudflare;

pub(super) fn select(document: &[u8], selection: &Selection) -> Result<Selected, FormatError> {
    let json = super::parse_json(FORMAT, document)?;
    let top = top_object(FORMAT, &json)?;
    envelope(top)?;
    let result = match required(FORMAT, top, "", "result")? {
        Json::Object(fields) => super::Object(fields),
        other => {
            return Err(FormatError::Malformed {
                format: FORMAT,
                problem: format!("'result' is {}, not an object", other.kind()),
            });
        }
    };
    let version = match result.get("etag") {
        Lookup::One(Json::String(etag)) if !etag.trim().is_empty() => {
            Version::Etag(etag.to_string())
        }
        Lookup::One(other) => return Err(bad_etag(other.quoted())),
        Lookup::Missing => return Err(bad_etag("missing".into())),
        Lookup::Twice => return Err(bad_etag("given twice".into())),
    };
    let ipv4 = required_array(FORMAT, result, "result.", "ipv4_cidrs")?;
    let ipv6 = required_array(FORMAT, result, "result.", "ipv6_cidrs")?;

    let mut collector = Collector::new(FORMAT, selection);
    for (field, items, family) in [
        ("ipv4_cidrs", ipv4, Family::V4("result.ipv4_cidrs")),
        ("ipv6_cidrs", ipv6, Family::V6("result.ipv6_cidrs")),
    ] {
        // The whole list is selected: a broken entry refuses the document.
        let selected = collector.wanted(&[], &[]);
        for (i, item) in items.iter().enumerate() {
            collector.prefix(selected, item, family, || format!("result.{field}[{i}]"))?;
        }
    }
    let mut selected = collector.finish(version, Default::default, Default::default)?;
    for (key, value) in result.0 {
        if matches!(value, Json::Array(_)) && key != "ipv4_cidrs" && key != "ipv6_cidrs" {
            selected.warnings.push(format!(
                "result.{} of the cloudflare document is not used: only ipv4_cidrs and ipv6_cidrs are selected",
                echo(key)
            ));
        }
    }
    Ok(selected)
}

/// Refuses an answer that says it failed, quoting Cloudflare's `errors[].message` (and code).
fn envelope(top: super::Object<'_, '_>) -> Result<(), FormatError> {
    let errors: &[Json<'_>] = match top.get("errors") {
        Lookup::One(Json::Array(errors)) => errors,
        _ => &[],
    };
    let success = match top.get("success") {
        Lookup::One(Json::Bool(success)) => Some(*success),
        _ => None,
    };
    if success == Some(false) || !errors.is_empty() {
        let messages: Vec<String> = errors
            .iter()
            .map(|error| {
                let field = |key| {
                    error.as_object().and_then(|o| match o.get(key) {
                        Lookup::One(v) => Some(v.quoted()),
                        _ => None,
                    })
                };
                match (field("message"), field("code")) {
                    (Some(message), Some(code)) => format!("{message} (code {code})"),
                    (Some(message), None) => message,
                    (None, _) => format!("an error without a message ({})", error.kind()),
                }
            })
            .take(5)
            .collect();
        return Err(FormatError::ProviderError {
            format: FORMAT,
            message: if messages.is_empty() {
                "success is false, with no error message".into()
            } else {
                messages.join("; ")
            },
        });
    }
    if success != Some(true) {
        return Err(FormatError::Malformed {
            format: FORMAT,
            problem: match top.get("success") {
                Lookup::Missing => "there is no 'success'".to_string(),
                Lookup::Twice => "the key 'success' is given twice".to_string(),
                Lookup::One(v) => format!("'success' is {}, expected true", v.quoted()),
            },
        });
    }
    Ok(())
}

fn bad_etag(found: String) -> FormatError {
    FormatError::BadVersion {
        format: FORMAT,
        field: "result.etag",
        found,
        expected: "a non-empty string (a digest of the lists)",
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{fixture, mutate, sel};
    use super::super::{FormatError, Version, select};
    use super::FORMAT;
    use proptest::prelude::*;

    fn ips() -> Vec<u8> {
        fixture("cloudflare", "ips.json")
    }

    #[test]
    fn the_real_document_gives_its_counts() {
        let got = select(FORMAT, &ips(), &sel(&[], None, "46")).unwrap();
        assert_eq!(
            got.version,
            Version::Etag("38f79d050aa027e3be3865e495dcc9bc".into())
        );
        assert_eq!((got.ipv4.len(), got.ipv6.len()), (15, 7));
        assert!(got.ipv4.contains(&"131.0.72.0/22".parse().unwrap()));
        assert!(got.ipv6.contains(&"2a06:98c0::/29".parse().unwrap()));
        assert!(got.warnings.is_empty());
        let v6 = select(FORMAT, &ips(), &sel(&[], None, "6")).unwrap();
        assert_eq!((v6.ipv4.len(), v6.ipv6.len(), v6.published_v6), (0, 7, 7));
    }

    fn doc(v4: &str, v6: &str) -> String {
        format!(
            r#"{{"result": {{"ipv4_cidrs": [{v4}], "ipv6_cidrs": [{v6}], "etag": "e"}}, "success": true, "errors": [], "messages": []}}"#
        )
    }

    #[test]
    fn every_entry_is_selected_so_every_broken_one_refuses() {
        for (v4, v6, problem) in [
            (
                r#""173.245.48.1/20""#,
                r#""2400:cb00::/32""#,
                "the network is 173.245.48.0/20",
            ),
            (
                r#""2400:cb00::/32""#,
                r#""2400:cb00::/32""#,
                "an IPv6 prefix in the IPv4 field result.ipv4_cidrs",
            ),
            (
                r#""173.245.48.0/20""#,
                r#""173.245.48.0/20""#,
                "an IPv4 prefix in the IPv6 field result.ipv6_cidrs",
            ),
            (
                r#""173.245.48.0/20""#,
                r#""::ffff:173.245.48.0/116""#,
                "IPv4-mapped",
            ),
            (r#""173.245.48.0/20""#, "null", "not a string but null"),
        ] {
            // Even when only the other family is asked for: the document is corrupt.
            let e = select(FORMAT, doc(v4, v6).as_bytes(), &sel(&[], None, "4"))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(problem) && e.contains("nothing was changed"),
                "{v4} {v6}: {e}"
            );
        }
        // Duplicates are fine.
        let dup = doc(r#""10.0.0.0/8", "10.0.0.0/8""#, "");
        let got = select(FORMAT, dup.as_bytes(), &sel(&[], None, "46")).unwrap();
        assert_eq!((got.ipv4.len(), got.published_v4), (1, 2));
        assert!(
            got.warnings[0].contains("no IPv6 prefix for its list"),
            "{:?}",
            got.warnings
        );
        let e = select(
            FORMAT,
            doc("", r#""2400:cb00::/32""#).as_bytes(),
            &sel(&[], None, "4"),
        )
        .unwrap_err();
        assert!(matches!(e, FormatError::Empty { .. }), "{e}");
        assert!(e.to_string().contains("check IP_VERSIONS"), "{e}");
    }

    #[test]
    fn failures_and_wrong_shapes_are_refused() {
        let failed = br#"{"result": null, "success": false, "errors": [{"code": 10000, "message": "Authentication error"}], "messages": []}"#;
        let e = select(FORMAT, failed, &sel(&[], None, "4")).unwrap_err();
        assert!(matches!(e, FormatError::ProviderError { .. }), "{e}");
        assert!(
            e.to_string()
                .contains("'Authentication error' (code 10000)"),
            "{e}"
        );
        let silent = br#"{"success": false, "errors": []}"#;
        let e = select(FORMAT, silent, &sel(&[], None, "4")).unwrap_err();
        assert!(
            e.to_string()
                .contains("success is false, with no error message"),
            "{e}"
        );
        let doc = ips();
        let e = select(FORMAT, &doc[..doc.len() / 3], &sel(&[], None, "4")).unwrap_err();
        assert!(matches!(e, FormatError::Truncated { .. }), "{e}");
        for (doc, needle) in [
            (&br#"{"result": {"ipv4_cidrs": [], "ipv6_cidrs": [], "etag": "e"}}"#[..], "there is no 'success'"),
            (br#"{"result": [], "success": true}"#, "'result' is an array"),
            (br#"{"result": {"ipv4_cidrs": [], "etag": "e"}, "success": true}"#, "there is no 'result.ipv6_cidrs'"),
            (br#"{"result": {"ipv4_cidrs": [], "ipv4_cidrs": [], "ipv6_cidrs": [], "etag": "e"}, "success": true}"#, "'result.ipv4_cidrs' is given twice"),
            (br#"{"addresses": ["10.0.0.0/8"], "ipv6_addresses": []}"#, "there is no 'success'"),
        ] {
            let e = select(FORMAT, doc, &sel(&[], None, "4")).unwrap_err();
            assert!(matches!(e, FormatError::Malformed { .. }), "{e}");
            assert!(e.to_string().contains(needle), "{needle}: {e}");
        }
        let e = select(
            FORMAT,
            br#"{"result": {"ipv4_cidrs": [], "ipv6_cidrs": []}, "success": true}"#,
            &sel(&[], None, "4"),
        )
        .unwrap_err();
        assert!(matches!(e, FormatError::BadVersion { .. }), "{e}");
        assert!(e.to_string().contains("result.etag is missing"), "{e}");
    }

    #[test]
    fn the_jd_cloud_list_is_not_used_and_said() {
        let doc = br#"{"result": {"ipv4_cidrs": ["10.0.0.0/8"], "ipv6_cidrs": [], "etag": "e", "jdcloud_cidrs": ["1.2.3.0/24"]}, "success": true, "errors": []}"#;
        let got = select(FORMAT, doc, &sel(&[], None, "4")).unwrap();
        assert_eq!(got.ipv4.len(), 1);
        assert!(
            got.warnings[0].contains("result.jdcloud_cidrs"),
            "{:?}",
            got.warnings
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn garbage_and_mutations_never_panic(
            cut in 0usize..1000,
            at in 0usize..1000,
            byte in any::<u8>(),
            junk in prop::collection::vec(any::<u8>(), 0..64),
        ) {
            let selection = sel(&[], None, "46");
            let _ = select(FORMAT, &junk, &selection);
            let doc = ips();
            mutate(FORMAT, &doc, (&selection, &selection), (cut, at, byte, &junk));
        }
    }
}
