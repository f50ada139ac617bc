//! GitHub's `https://api.github.com/meta`: top-level keys (`hooks`, `web`, `api`, `git`, `actions`,
//! `pages`, `copilot`, …) whose values are arrays of CIDRs, IPv4 and IPv6 mixed in one array.
//!
//! SERVICE names such keys and is required (`actions` alone is ~5,400 prefixes). Which keys are IP
//! lists is decided by content, not by a list of names: GitHub adds keys (`copilot`) and drops them
//! (`dependabot`), and `ssh_keys` is an array of strings too, but of SSH keys. The document has no
//! version field ([`Version::None`]); change is detected from the ranges themselves.

use std::collections::BTreeSet;

use super::{
    Collector, Family, Format, FormatError, Json, Lookup, Selected, Selection, Version, echo,
    require_services, top_object,
};

const FORMAT: Format = Format::Github;

pub(super) fn select(document: &[u8], selection: &Selection) -> Result<Selected, FormatError> {
    let json = super::parse_json(FORMAT, document)?;
    let top = top_object(FORMAT, &json)?;
    let lists: Vec<(&str, &[Json<'_>])> = top
        .0
        .iter()
        .filter_map(|(key, value)| match value {
            Json::Array(items) if is_ip_list(items) => Some((key.as_ref(), items.as_slice())),
            _ => None,
        })
        .collect();
    if lists.is_empty() {
        // A rate-limited or failed call answers `{"message": "API rate limit exceeded …",
        // "documentation_url": …}` with no lists: quote GitHub rather than call it the wrong shape.
        if let Lookup::One(Json::String(message)) = top.get("message") {
            return Err(FormatError::ProviderError {
                format: FORMAT,
                message: echo(message),
            });
        }
        return Err(FormatError::Malformed {
            format: FORMAT,
            problem: "no top-level key holds a list of IP ranges".into(),
        });
    }
    let known = || -> BTreeSet<String> { lists.iter().map(|(k, _)| k.to_string()).collect() };
    require_services(FORMAT, selection, known)?;

    let mut collector = Collector::new(FORMAT, selection);
    let mut twice = BTreeSet::new();
    // Counted once: a document of many keys must not cost their square (red team round 7, F4).
    let seen = top.counts();
    for &(key, items) in &lists {
        let selected = collector.wanted(&[key], &[]);
        // A key given twice: which list GitHub meant cannot be known.
        if seen[key] > 1 {
            if twice.insert(key) {
                collector.broken(
                    selected,
                    || format!("key '{}'", echo(key)),
                    "the document holds this key twice".into(),
                )?;
            }
            continue;
        }
        for (i, item) in items.iter().enumerate() {
            collector.prefix(selected, item, Family::Either, || {
                format!("{}[{i}]", echo(key))
            })?;
        }
    }
    collector.finish(Version::None, known, BTreeSet::new)
}

/// Whether a top-level array is an IP list: anything but a non-empty array of strings none of which
/// looks like an address (`ssh_keys`). A list with a broken entry still counts, so that a selected
/// key with one is refused for the entry, not answered "unknown SERVICE".
fn is_ip_list(items: &[Json<'_>]) -> bool {
    let not_an_address = |item: &Json<'_>| match item {
        Json::String(text) => {
            let text = text.trim();
            text.is_empty()
                || !text
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() || matches!(c, '.' | ':' | '/'))
        }
        _ => false,
    };
    items.is_empty() || !items.iter().all(not_an_address)
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{fixture, mutate, sel};
    use super::super::{FormatError, Version, select};
    use super::FORMAT;
    use proptest::prelude::*;

    fn meta() -> Vec<u8> {
        fixture("github", "meta-2025-10-30.json")
    }

    /// Counts computed with Python's `ipaddress` from the fixture.
    #[test]
    fn the_real_meta_gives_its_counts() {
        for (key, v4, v6) in [
            ("hooks", 4, 2),
            ("web", 20, 2),
            ("git", 36, 2),
            ("pages", 6, 4),
            ("packages", 25, 0),
            ("actions", 4299, 1104),
            ("actions_macos", 8, 0),
            ("codespaces", 185, 0),
            ("copilot", 15, 2),
        ] {
            let got = select(FORMAT, &meta(), &sel(&[key], None, "46")).unwrap();
            assert_eq!(got.version, Version::None);
            assert_eq!((got.ipv4.len(), got.ipv6.len()), (v4, v6), "{key}");
        }
        // The same prefix under several keys is kept once.
        let both = select(FORMAT, &meta(), &sel(&["hooks", "web"], None, "46")).unwrap();
        assert_eq!((both.ipv4.len(), both.ipv6.len()), (20, 2));
        assert_eq!((both.published_v4, both.published_v6), (24, 4));
        assert!(both.warnings.is_empty());
        let pages = select(FORMAT, &meta(), &sel(&["pages"], None, "6")).unwrap();
        assert!(pages.ipv6.iter().all(|n| n.prefix_len() == 128));
    }

    #[test]
    fn service_is_required_and_typos_are_answered_with_the_ip_keys() {
        let e = select(FORMAT, &meta(), &sel(&[], None, "4")).unwrap_err();
        assert!(matches!(e, FormatError::ServiceRequired { .. }), "{e}");
        let text = e.to_string();
        assert!(
            text.contains("actions, actions_macos, api, codespaces, copilot, git"),
            "{text}"
        );
        assert!(
            !text.contains("ssh_keys") && !text.contains("domains"),
            "{text}"
        );
        // dependabot was dropped from the document in 2025: a configured key can disappear.
        let e = select(FORMAT, &meta(), &sel(&["hooks", "dependabot"], None, "4"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("SERVICE 'dependabot' is not a service of the github document (a typo?)"),
            "{e}"
        );
        let e = select(FORMAT, &meta(), &sel(&["hook"], None, "4"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("nearest first: hooks, "), "{e}");
        // Keys that are not IP lists are not services.
        for key in [
            "ssh_keys",
            "domains",
            "verifiable_password_authentication",
            "ssh_key_fingerprints",
        ] {
            let e = select(FORMAT, &meta(), &sel(&[key], None, "4")).unwrap_err();
            assert!(
                matches!(e, FormatError::UnknownService { .. }),
                "{key}: {e}"
            );
        }
    }

    #[test]
    fn a_broken_entry_refuses_when_selected_and_warns_otherwise() {
        let doc = |bad: &str| {
            format!(
                r#"{{"ssh_keys": ["ssh-ed25519 AAAA"], "hooks": ["192.30.252.0/22", "2a0a:a440::/29"], "web": ["140.82.112.0/20", {bad}]}}"#
            )
        };
        for (bad, problem) in [
            (r#""140.82.112.1/20""#, "the network is 140.82.112.0/20"),
            (r#""::ffff:140.82.112.0/116""#, "IPv4-mapped"),
            (r#""140.82.112.4""#, "without a /length"),
            ("7", "not a string but a number"),
            (r#""2a0a:a440::1/29""#, "the network is 2a0a:a440::/29"),
        ] {
            let ok = select(FORMAT, doc(bad).as_bytes(), &sel(&["hooks"], None, "46"))
                .unwrap_or_else(|e| panic!("{bad}: {e}"));
            assert_eq!((ok.ipv4.len(), ok.ipv6.len()), (1, 1));
            assert!(
                ok.warnings[0].contains("web[1]") && ok.warnings[0].contains(problem),
                "{bad}: {:?}",
                ok.warnings
            );
            let e = select(FORMAT, doc(bad).as_bytes(), &sel(&["web"], None, "4"))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("web[1]") && e.contains(problem) && e.contains("nothing was changed"),
                "{bad}: {e}"
            );
        }
        // A key given twice: refused when selected, skipped otherwise.
        let twice =
            br#"{"hooks": ["192.30.252.0/22"], "web": ["140.82.112.0/20"], "web": ["10.0.0.0/8"]}"#;
        let e = select(FORMAT, twice, &sel(&["web"], None, "4")).unwrap_err();
        assert!(
            e.to_string().contains("key 'web'") && e.to_string().contains("twice"),
            "{e}"
        );
        let ok = select(FORMAT, twice, &sel(&["hooks"], None, "4")).unwrap();
        assert_eq!(ok.warnings.len(), 1, "{:?}", ok.warnings);
    }

    #[test]
    fn wrong_shapes_and_api_errors_are_refused() {
        let doc = meta();
        let e = select(FORMAT, &doc[..doc.len() - 10], &sel(&["hooks"], None, "4")).unwrap_err();
        assert!(matches!(e, FormatError::Truncated { .. }), "{e}");
        let limited = br#"{"message": "API rate limit exceeded for 192.0.2.1.", "documentation_url": "https://docs.github.com/rest"}"#;
        let e = select(FORMAT, limited, &sel(&["hooks"], None, "4")).unwrap_err();
        assert!(matches!(e, FormatError::ProviderError { .. }), "{e}");
        assert!(e.to_string().contains("API rate limit exceeded"), "{e}");
        let e = select(
            FORMAT,
            br#"{"ssh_keys": ["ssh-rsa AAAA"]}"#,
            &sel(&["hooks"], None, "4"),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("no top-level key holds a list of IP ranges"),
            "{e}"
        );
        let e = select(
            FORMAT,
            br#"["192.30.252.0/22"]"#,
            &sel(&["hooks"], None, "4"),
        )
        .unwrap_err();
        assert!(matches!(e, FormatError::Malformed { .. }), "{e}");
        // A key present but empty, or without the family asked for: refused as empty.
        let e = select(
            FORMAT,
            br#"{"hooks": [], "web": ["10.0.0.0/8"]}"#,
            &sel(&["hooks"], None, "4"),
        )
        .unwrap_err();
        assert!(matches!(e, FormatError::Empty { .. }), "{e}");
        let e = select(FORMAT, &meta(), &sel(&["packages"], None, "6"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("no ipv6 prefixes for service packages in the github document"),
            "{e}"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn garbage_and_mutations_never_panic(
            cut in 0usize..130_000,
            at in 0usize..130_000,
            byte in any::<u8>(),
            junk in prop::collection::vec(any::<u8>(), 0..64),
        ) {
            let selection = sel(&["hooks", "pages", "actions"], None, "46");
            let _ = select(FORMAT, &junk, &selection);
            let doc = meta();
            mutate(FORMAT, &doc, (&selection, &selection), (cut, at, byte, &junk));
        }
    }
}
