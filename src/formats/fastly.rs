//! Fastly's `https://api.fastly.com/public-ip-list`: `{"addresses": [...], "ipv6_addresses": [...]}`.
//!
//! One list (no SERVICE, no SERVICE_REGIONS) and no version field ([`Version::None`]). An API error
//! answer (`{"msg": …}`) is refused with Fastly's message.

use super::{
    Collector, Family, Format, FormatError, Json, Lookup, Selected, Selection, Version, echo,
    required_array, top_object,
};

const FORMAT: Format = Format::Fastly;

pub(super) fn select(document: &[u8], selection: &Selection) -> Result<Selected, FormatError> {
    let json = super::parse_json(FORMAT, document)?;
    let top = top_object(FORMAT, &json)?;
    if !top.has("addresses") {
        // Fastly's API errors are `{"msg": "…", "detail": "…"}`: quote them rather than call the
        // answer the wrong shape.
        for key in ["msg", "message"] {
            if let Lookup::One(Json::String(message)) = top.get(key) {
                return Err(FormatError::ProviderError {
                    format: FORMAT,
                    message: echo(message),
                });
            }
        }
    }
    let ipv4 = required_array(FORMAT, top, "", "addresses")?;
    let ipv6 = required_array(FORMAT, top, "", "ipv6_addresses")?;
    let mut collector = Collector::new(FORMAT, selection);
    for (field, items, family) in [
        ("addresses", ipv4, Family::V4("addresses")),
        ("ipv6_addresses", ipv6, Family::V6("ipv6_addresses")),
    ] {
        // The whole list is selected: a broken entry refuses the document.
        let selected = collector.wanted(&[], &[]);
        for (i, item) in items.iter().enumerate() {
            collector.prefix(selected, item, family, || format!("{field}[{i}]"))?;
        }
    }
    collector.finish(Version::None, Default::default, Default::default)
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{fixture, mutate, sel};
    use super::super::{FormatError, Version, select};
    use super::FORMAT;
    use proptest::prelude::*;

    fn list() -> Vec<u8> {
        fixture("fastly", "public-ip-list.json")
    }

    #[test]
    fn the_real_document_gives_its_counts() {
        let got = select(FORMAT, &list(), &sel(&[], None, "46")).unwrap();
        assert_eq!(got.version, Version::None);
        assert_eq!((got.ipv4.len(), got.ipv6.len()), (19, 2));
        assert!(got.ipv6.contains(&"2a04:4e42::/32".parse().unwrap()));
        let v4 = select(FORMAT, &list(), &sel(&[], None, "4")).unwrap();
        assert_eq!((v4.published_v4, v4.published_v6), (19, 0));
    }

    #[test]
    fn broken_entries_and_shapes_are_refused() {
        let doc =
            |v4: &str, v6: &str| format!(r#"{{"addresses": [{v4}], "ipv6_addresses": [{v6}]}}"#);
        for (v4, v6, problem) in [
            (r#""23.235.32.1/20""#, "", "the network is 23.235.32.0/20"),
            (
                r#""2a04:4e40::/32""#,
                "",
                "an IPv6 prefix in the IPv4 field addresses",
            ),
            (
                "",
                r#""23.235.32.0/20""#,
                "an IPv4 prefix in the IPv6 field ipv6_addresses",
            ),
            ("", r#""2a04:4e40::1/32""#, "the network is 2a04:4e40::/32"),
            ("", r#"["2a04:4e40::/32"]"#, "not a string but an array"),
        ] {
            let e = select(FORMAT, doc(v4, v6).as_bytes(), &sel(&[], None, "46"))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(problem) && e.contains("nothing was changed"),
                "{e}"
            );
        }
        let e = select(FORMAT, doc("", "").as_bytes(), &sel(&[], None, "46")).unwrap_err();
        assert!(matches!(e, FormatError::Empty { .. }), "{e}");
        let e = select(
            FORMAT,
            br#"{"addresses": ["10.0.0.0/8"]}"#,
            &sel(&[], None, "4"),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("there is no 'ipv6_addresses'"),
            "{e}"
        );
        let e = select(
            FORMAT,
            br#"{"msg": "Bad request", "detail": "x"}"#,
            &sel(&[], None, "4"),
        )
        .unwrap_err();
        assert!(
            matches!(e, FormatError::ProviderError { .. }) && e.to_string().contains("Bad request"),
            "{e}"
        );
        let full = list();
        let e = select(FORMAT, &full[..100], &sel(&[], None, "4")).unwrap_err();
        assert!(
            matches!(e, FormatError::Truncated { bytes: 100, .. }),
            "{e}"
        );
        let e = select(FORMAT, b"", &sel(&[], None, "4")).unwrap_err();
        assert!(matches!(e, FormatError::Truncated { bytes: 0, .. }), "{e}");
        let e = select(
            FORMAT,
            &fixture("cloudflare", "ips.json"),
            &sel(&[], None, "4"),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("there is no 'addresses'")
                && e.to_string().contains("public-ip-list"),
            "{e}"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn garbage_and_mutations_never_panic(
            cut in 0usize..500,
            at in 0usize..500,
            byte in any::<u8>(),
            junk in prop::collection::vec(any::<u8>(), 0..64),
        ) {
            let selection = sel(&[], None, "46");
            let _ = select(FORMAT, &junk, &selection);
            let doc = list();
            mutate(FORMAT, &doc, (&selection, &selection), (cut, at, byte, &junk));
        }
    }
}
