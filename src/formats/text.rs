//! Plain lists: one prefix per line (Cloudflare's `ips-v4` / `ips-v6`, and what other providers and
//! operators publish as text).
//!
//! Accepted, because real lists have them: LF or CRLF line ends, no newline after the last line,
//! blank lines, `#` comments (whole-line or after the prefix), surrounding spaces and tabs, IPv4 and
//! IPv6 in one file, and a bare address, read as /32 or /128. Any other line refuses the document with
//! its number: a plain list has no entry that may be skipped. One list, no version ([`Version::None`]).

use std::net::IpAddr;

use ipnet::IpNet;

use super::{Collector, Family, Format, FormatError, Selected, Selection, Version, canonical};

const FORMAT: Format = Format::Text;

pub(super) fn select(document: &[u8], selection: &Selection) -> Result<Selected, FormatError> {
    if document.is_empty() {
        return Err(FormatError::Truncated {
            format: FORMAT,
            bytes: 0,
            detail: "it is empty".into(),
        });
    }
    // An error page or a JSON document at a text URL: say what it is instead of "line 1 is not a
    // prefix".
    match document.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'<') => {
            return Err(FormatError::Malformed {
                format: FORMAT,
                problem: "it looks like HTML (an error page or a proxy's answer?)".into(),
            });
        }
        Some(b'{' | b'[') => {
            return Err(FormatError::Malformed {
                format: FORMAT,
                problem:
                    "it looks like JSON: choose the provider's format (google, github, cloudflare, \
                          fastly, oracle, azure) instead of text"
                        .into(),
            });
        }
        _ => {}
    }
    let mut collector = Collector::new(FORMAT, selection);
    let selected = collector.wanted(&[], &[]);
    for (i, line) in document.split(|&b| b == b'\n').enumerate() {
        let location = || format!("line {}", i + 1);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Ok(line) = std::str::from_utf8(line) else {
            collector.broken(selected, location, "it is not UTF-8 text".into())?;
            continue;
        };
        // `#` cannot occur in a prefix, so everything after it is a comment.
        let entry = line.split('#').next().unwrap_or_default().trim();
        if entry.is_empty() {
            continue;
        }
        collector.take(selected, parse(entry), entry, location)?;
    }
    collector.finish(Version::None, Default::default, Default::default)
}

/// A line's prefix; a bare address is its host prefix, as plain lists often write single hosts.
fn parse(entry: &str) -> Result<IpNet, String> {
    if !entry.contains('/')
        && let Ok(address) = entry.parse::<IpAddr>()
    {
        return canonical(
            &format!("{address}/{}", address_bits(address)),
            Family::Either,
        );
    }
    canonical(entry, Family::Either).map_err(|problem| {
        if entry.contains(char::is_whitespace) {
            format!("{problem} (one prefix per line)")
        } else {
            problem
        }
    })
}

fn address_bits(address: IpAddr) -> u8 {
    match address {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{fixture, mutate, sel};
    use super::super::{FormatError, Version, select};
    use super::FORMAT;
    use proptest::prelude::*;

    #[test]
    fn the_real_lists_give_their_counts() {
        let v4 = select(FORMAT, &fixture("text", "ips-v4.txt"), &sel(&[], None, "4")).unwrap();
        assert_eq!(v4.version, Version::None);
        assert_eq!((v4.ipv4.len(), v4.ipv6.len()), (15, 0));
        assert!(
            v4.ipv4.contains(&"131.0.72.0/22".parse().unwrap()),
            "the last line has no newline"
        );
        let v6 = select(
            FORMAT,
            &fixture("text", "ips-v6.txt"),
            &sel(&[], None, "46"),
        )
        .unwrap();
        assert_eq!((v6.ipv4.len(), v6.ipv6.len()), (0, 7));
        assert!(
            v6.warnings[0].contains("no IPv4 prefix"),
            "{:?}",
            v6.warnings
        );
        // Cloudflare's API and text lists are the same lists.
        let api = select(
            super::super::Format::Cloudflare,
            &fixture("cloudflare", "ips.json"),
            &sel(&[], None, "4"),
        )
        .unwrap();
        assert_eq!(api.ipv4, v4.ipv4);
    }

    #[test]
    fn comments_blank_lines_crlf_and_bare_addresses_are_read() {
        let doc = b"# Example list\r\n\r\n  10.0.0.0/8   # the big one\r\n\t2001:db8::/32\r\n192.0.2.7\r\n2001:db8::1\n10.0.0.0/8\n";
        let got = select(FORMAT, doc, &sel(&[], None, "46")).unwrap();
        let v4: Vec<String> = got.ipv4.iter().map(|n| n.to_string()).collect();
        let v6: Vec<String> = got.ipv6.iter().map(|n| n.to_string()).collect();
        assert_eq!(v4, ["10.0.0.0/8", "192.0.2.7/32"]);
        assert_eq!(v6, ["2001:db8::/32", "2001:db8::1/128"]);
        assert_eq!((got.published_v4, got.published_v6), (3, 2));
    }

    #[test]
    fn anything_else_is_refused_with_its_line_number() {
        for (doc, line, problem) in [
            (
                &b"10.0.0.0/8\n10.0.0.1/8\n"[..],
                "line 2",
                "the network is 10.0.0.0/8",
            ),
            (b"10.0.0.0/8\nexample.com\n", "line 2", "not a valid CIDR"),
            (b"10.0.0.0/8 10.1.0.0/16\n", "line 1", "one prefix per line"),
            (b"\n\n::ffff:10.0.0.0/104", "line 3", "IPv4-mapped"),
            (b"10.0.0.0/8\n\xff\xfe\n", "line 2", "not UTF-8"),
            (
                b"10.0.0.0/8\r10.1.0.0/16\n",
                "line 1",
                "one prefix per line",
            ),
            (b"10.0.0.0/8; SBL1\n", "line 1", "not a valid CIDR"),
        ] {
            let e = select(FORMAT, doc, &sel(&[], None, "46"))
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with(line) && e.contains(problem) && e.contains("nothing was changed"),
                "{e}"
            );
        }
        let e = select(FORMAT, b"", &sel(&[], None, "4")).unwrap_err();
        assert!(matches!(e, FormatError::Truncated { bytes: 0, .. }), "{e}");
        let e = select(FORMAT, b"# nothing yet\n\n", &sel(&[], None, "4")).unwrap_err();
        assert!(matches!(e, FormatError::Empty { .. }), "{e}");
        assert!(
            e.to_string()
                .starts_with("no ipv4 prefixes for the list in the text document"),
            "{e}"
        );
        let e = select(FORMAT, b"2001:db8::/32\n", &sel(&[], None, "4")).unwrap_err();
        assert!(matches!(e, FormatError::Empty { .. }), "{e}");
        let e = select(FORMAT, b"  <!DOCTYPE html><html>", &sel(&[], None, "4")).unwrap_err();
        assert!(e.to_string().contains("looks like HTML"), "{e}");
        let e = select(
            FORMAT,
            &fixture("fastly", "public-ip-list.json"),
            &sel(&[], None, "4"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("looks like JSON"), "{e}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn garbage_and_mutations_never_panic(
            cut in 0usize..300,
            at in 0usize..300,
            byte in any::<u8>(),
            junk in prop::collection::vec(any::<u8>(), 0..64),
            lines in prop::collection::vec("[0-9a-f:./# \t\r]{0,24}", 0..8),
        ) {
            let selection = sel(&[], None, "46");
            let _ = select(FORMAT, &junk, &selection);
            let _ = select(FORMAT, lines.join("\n").as_bytes(), &selection);
            for name in ["ips-v4.txt", "ips-v6.txt"] {
                let doc = fixture("text", name);
                mutate(FORMAT, &doc, (&selection, &selection), (cut, at, byte, &junk));
            }
        }
    }
}
