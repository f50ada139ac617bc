//! Azure Service Tags (`ServiceTags_Public_YYYYMMDD.json`, and the same `values` from the Service
//! Tag Discovery API): `values[]` of `{name, id, properties: {changeNumber, region, addressPrefixes}}`,
//! IPv4 and IPv6 mixed in `addressPrefixes`.
//!
//! SERVICE names tags exactly as `values[].name` writes them (`AzureFrontDoor.Backend`,
//! `AzureCloud.westeurope`; the case of the region suffix varies between tags, so no case folding) and
//! is required: the file holds ~3,000 tags. SERVICE_REGIONS matches `properties.region`; a global tag
//! has region `""`, which the value `global` matches (as Google's scope and Amazon's region call it).
//! The version is the top-level `changeNumber` ([`Version::Counter`]), a weak hint only: it has stood
//! still over content changes and gone backwards. The file has no stable URL, so there is no default.

use std::collections::{BTreeMap, BTreeSet};

use super::{
    Collector, Family, Format, FormatError, Json, Lookup, Number, Selected, Selection, Version,
    echo, require_services, required_array, top_object,
};

const FORMAT: Format = Format::Azure;

/// The SERVICE_REGIONS value that matches a global tag's empty region.
const GLOBAL: &str = "global";

pub(super) fn select(document: &[u8], selection: &Selection) -> Result<Selected, FormatError> {
    let json = super::parse_json(FORMAT, document)?;
    let top = top_object(FORMAT, &json)?;
    let version = Version::Counter(match top.get("changeNumber") {
        Lookup::One(Json::Number(Number::Unsigned(n))) => *n,
        Lookup::One(other) => return Err(bad_change_number(other.quoted())),
        Lookup::Missing => return Err(bad_change_number("missing".into())),
        Lookup::Twice => return Err(bad_change_number("given twice".into())),
    });
    let values = required_array(FORMAT, top, "", "values")?;
    if !values.is_empty()
        && !values
            .iter()
            .any(|v| v.as_object().is_some_and(|o| o.has("properties")))
    {
        return Err(FormatError::Malformed {
            format: FORMAT,
            problem: "no entry of 'values' has properties".into(),
        });
    }
    let tags = || values.iter().filter_map(Json::as_object);
    let names = || -> BTreeSet<String> {
        tags()
            .flat_map(|t| t.strings("name"))
            .map(str::to_string)
            .collect()
    };
    require_services(FORMAT, selection, names)?;
    // A tag name in two entries: which one Microsoft meant cannot be known (each has its own
    // changeNumber).
    let mut occurrences: BTreeMap<&str, usize> = BTreeMap::new();
    for name in tags().flat_map(|t| t.strings("name")) {
        *occurrences.entry(name).or_default() += 1;
    }

    let mut collector = Collector::new(FORMAT, selection);
    for (i, value) in values.iter().enumerate() {
        let Some(tag) = value.as_object() else {
            let selected = collector.wanted(&[], &[]);
            collector.broken(
                selected,
                || format!("values[{i}]"),
                format!("it is {}, not an object", value.kind()),
            )?;
            continue;
        };
        let names = tag.strings("name");
        let properties = match tag.get("properties") {
            Lookup::One(Json::Object(fields)) => Some(super::Object(fields)),
            _ => None,
        };
        let regions: Vec<&str> = properties
            .map(|p| p.strings("region"))
            .unwrap_or_default()
            .into_iter()
            .map(|r| if r.is_empty() { GLOBAL } else { r })
            .collect();
        let selected = collector.wanted(&names, &regions);
        let at = match names.first() {
            Some(name) => format!("service tag {}", echo(name)),
            None => format!("values[{i}]"),
        };
        let prefixes = match (
            tag.problem(&["properties"], &["name"]),
            tag.get("properties"),
            properties,
        ) {
            (Some(problem), ..) => Err(problem),
            (None, Lookup::Missing, _) => Err("it has no properties".to_string()),
            (None, Lookup::One(other), None) => {
                Err(format!("its properties is {}, not an object", other.kind()))
            }
            (None, _, Some(p)) => match (
                p.problem(&["addressPrefixes"], &["region"]),
                p.get("addressPrefixes"),
            ) {
                (Some(problem), _) => Err(problem),
                (None, Lookup::One(Json::Array(items))) => Ok(items),
                (None, Lookup::One(other)) => Err(format!(
                    "its addressPrefixes is {}, not an array",
                    other.kind()
                )),
                (None, _) => Err("it has no addressPrefixes".to_string()),
            },
            (None, Lookup::Twice, None) => Err("the entry holds the field properties twice".into()),
        };
        let prefixes = match prefixes {
            Ok(_)
                if names
                    .iter()
                    .any(|n| occurrences.get(n).is_some_and(|&c| c > 1)) =>
            {
                Err("the tag appears more than once in values".to_string())
            }
            other => other,
        };
        match prefixes {
            Err(problem) => collector.broken(selected, || at.clone(), problem)?,
            Ok(items) => {
                for (k, item) in items.iter().enumerate() {
                    collector.prefix(selected, item, Family::Either, || {
                        format!("{at} addressPrefixes[{k}]")
                    })?;
                }
            }
        }
    }

    collector.finish(version, names, || {
        tags()
            .filter(|t| {
                t.strings("name")
                    .iter()
                    .any(|n| selection.services.iter().any(|s| s == n))
            })
            .filter_map(|t| match t.get("properties") {
                Lookup::One(p) => p.as_object(),
                _ => None,
            })
            .flat_map(|p| p.strings("region"))
            .map(|r| if r.is_empty() { GLOBAL } else { r }.to_string())
            .collect()
    })
}

fn bad_change_number(found: String) -> FormatError {
    FormatError::BadVersion {
        format: FORMAT,
        field: "changeNumber",
        found,
        expected: "a non-negative integer",
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{fixture, mutate, sel};
    use super::super::{FormatError, Version, select};
    use super::FORMAT;
    use proptest::prelude::*;

    const LF: &str = "ServiceTags_Public_20250217_excerpt.json";
    const CRLF: &str = "ServiceTags_Public_20250804_excerpt.json";

    /// Counts computed with Python's `ipaddress` from the fixtures.
    #[test]
    fn the_real_excerpts_give_their_counts_with_lf_and_crlf() {
        for (file, change, backend, westeurope) in [
            (LF, 346, (78, 92), (396, 37)),
            (CRLF, 365, (77, 92), (413, 44)),
        ] {
            let doc = fixture("azure", file);
            let got = select(FORMAT, &doc, &sel(&["AzureFrontDoor.Backend"], None, "46")).unwrap();
            assert_eq!(got.version, Version::Counter(change), "{file}");
            assert_eq!((got.ipv4.len(), got.ipv6.len()), backend, "{file}");
            let we = select(FORMAT, &doc, &sel(&["AzureCloud.westeurope"], None, "46")).unwrap();
            assert_eq!((we.ipv4.len(), we.ipv6.len()), westeurope, "{file}");
            assert!(we.warnings.is_empty());
        }
        let doc = fixture("azure", LF);
        let front_door = sel(
            &[
                "AzureFrontDoor.Frontend",
                "AzureFrontDoor.FirstParty",
                "AzureFrontDoor.Backend",
            ],
            None,
            "46",
        );
        let got = select(FORMAT, &doc, &front_door).unwrap();
        assert_eq!((got.ipv4.len(), got.ipv6.len()), (209, 217));
        let v6 = select(FORMAT, &doc, &sel(&["AzureDevOps"], None, "6")).unwrap();
        assert_eq!((v6.ipv4.len(), v6.ipv6.len()), (0, 2));
    }

    #[test]
    fn regions_match_properties_region_and_global_matches_the_empty_one() {
        let doc = fixture("azure", LF);
        let tags = [
            "ActionGroup.WestEurope",
            "ApiManagement.WestEurope",
            "AzureDevOps",
        ];
        let got = select(FORMAT, &doc, &sel(&tags, Some(&["westeurope"]), "4")).unwrap();
        assert_eq!(got.ipv4.len(), 3 + 6);
        let got = select(FORMAT, &doc, &sel(&tags, Some(&["global"]), "4")).unwrap();
        assert_eq!(got.ipv4.len(), 24);
        let e = select(FORMAT, &doc, &sel(&tags, Some(&["westeurop"]), "4"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("nearest first: westeurope, global"), "{e}");
        let e = select(
            FORMAT,
            &doc,
            &sel(&["AzureDevOps"], Some(&["westeurope"]), "4"),
        )
        .unwrap_err();
        assert!(matches!(e, FormatError::UnknownRegion { .. }), "{e}");
    }

    #[test]
    fn service_is_required_and_typos_are_answered_nearest_first() {
        let doc = fixture("azure", LF);
        let e = select(FORMAT, &doc, &sel(&[], None, "4")).unwrap_err();
        assert!(matches!(e, FormatError::ServiceRequired { .. }), "{e}");
        assert!(
            e.to_string().contains(
                "ActionGroup.WestEurope, ApiManagement.WestEurope, AzureCloud.westeurope"
            ),
            "{e}"
        );
        // Exact names only, but the case-insensitive nearest comes first.
        let e = select(FORMAT, &doc, &sel(&["AzureCloud.WestEurope"], None, "4"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("SERVICE 'AzureCloud.WestEurope' is not a service of the azure document (changeNumber 346)"), "{e}");
        assert!(e.contains("nearest first: AzureCloud.westeurope, "), "{e}");
    }

    fn doc(entry: &str) -> String {
        format!(
            r#"{{"changeNumber": 7, "cloud": "Public", "values": [{entry},
            {{"name": "AzureDevOps", "id": "AzureDevOps", "properties": {{"changeNumber": 8, "region": "", "addressPrefixes": ["20.37.158.0/23", "2603:1030:a07:15::3d2/127"]}}}}]}}"#
        )
    }

    #[test]
    fn a_broken_tag_refuses_when_selected_and_warns_otherwise() {
        for (props, problem) in [
            (
                r#"{"region": "", "addressPrefixes": ["13.73.248.9/29"]}"#,
                "the network is 13.73.248.8/29",
            ),
            (
                r#"{"region": "", "addressPrefixes": ["::ffff:13.73.248.8/125"]}"#,
                "IPv4-mapped",
            ),
            (
                r#"{"region": "", "addressPrefixes": ["13.73.248.8"]}"#,
                "without a /length",
            ),
            (
                r#"{"region": "", "addressPrefixes": [null]}"#,
                "not a string but null",
            ),
            (
                r#"{"region": "", "addressPrefixes": "13.73.248.8/29"}"#,
                "its addressPrefixes is a string, not an array",
            ),
            (r#"{"region": ""}"#, "it has no addressPrefixes"),
            (
                r#"{"region": 3, "addressPrefixes": []}"#,
                "its region is not a string but a number",
            ),
            (
                r#"{"region": "", "addressPrefixes": [], "addressPrefixes": []}"#,
                "holds the field addressPrefixes twice",
            ),
        ] {
            let entry = format!(r#"{{"name": "AzureFrontDoor.Backend", "properties": {props}}}"#);
            let ok = select(
                FORMAT,
                doc(&entry).as_bytes(),
                &sel(&["AzureDevOps"], None, "46"),
            )
            .unwrap_or_else(|e| panic!("{props}: {e}"));
            assert_eq!((ok.ipv4.len(), ok.ipv6.len()), (1, 1));
            assert!(
                ok.warnings[0].contains("AzureFrontDoor.Backend")
                    && ok.warnings[0].contains(problem),
                "{props}: {:?}",
                ok.warnings
            );
            let e = select(
                FORMAT,
                doc(&entry).as_bytes(),
                &sel(&["AzureFrontDoor.Backend"], None, "4"),
            )
            .unwrap_err()
            .to_string();
            assert!(
                e.contains("service tag AzureFrontDoor.Backend")
                    && e.contains(problem)
                    && e.contains("nothing was changed"),
                "{props}: {e}"
            );
        }
        // A tag name in two entries: refused when selected, skipped otherwise.
        let twice = doc(
            r#"{"name": "AzureDevOps", "properties": {"region": "", "addressPrefixes": ["10.0.0.0/8"]}}, {"name": "X", "properties": {"region": "", "addressPrefixes": ["10.0.0.0/8"]}}"#,
        );
        let e = select(FORMAT, twice.as_bytes(), &sel(&["AzureDevOps"], None, "4")).unwrap_err();
        assert!(e.to_string().contains("appears more than once"), "{e}");
        let ok = select(FORMAT, twice.as_bytes(), &sel(&["X"], None, "4")).unwrap();
        assert_eq!(ok.warnings.len(), 2, "{:?}", ok.warnings);
    }

    #[test]
    fn wrong_shapes_and_versions_are_refused() {
        let full = fixture("azure", CRLF);
        let e = select(
            FORMAT,
            &full[..full.len() / 2],
            &sel(&["AzureDevOps"], None, "4"),
        )
        .unwrap_err();
        assert!(matches!(e, FormatError::Truncated { .. }), "{e}");
        for (number, needle) in [
            ("-1", "-1"),
            ("3.5", "3.5"),
            (r#""346""#, "'346'"),
            ("null", "null"),
        ] {
            let text = format!(r#"{{"changeNumber": {number}, "values": []}}"#);
            let e = select(FORMAT, text.as_bytes(), &sel(&["AzureDevOps"], None, "4")).unwrap_err();
            assert!(matches!(e, FormatError::BadVersion { .. }), "{e}");
            assert!(
                e.to_string().contains(&format!("changeNumber is {needle}")),
                "{e}"
            );
        }
        let e = select(
            FORMAT,
            br#"{"changeNumber": 1, "values": [{"name": "a"}]}"#,
            &sel(&["a"], None, "4"),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("no entry of 'values' has properties"),
            "{e}"
        );
        let e = select(
            FORMAT,
            br#"{"changeNumber": 1, "values": {}}"#,
            &sel(&["a"], None, "4"),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("'values' is an object, not an array"),
            "{e}"
        );
        let e = select(
            FORMAT,
            &fixture("github", "meta-2025-10-30.json"),
            &sel(&["hooks"], None, "4"),
        )
        .unwrap_err();
        assert!(
            matches!(e, FormatError::BadVersion { .. }) && e.to_string().contains("Service Tags"),
            "{e}"
        );
        let empty =
            doc(r#"{"name": "Empty", "properties": {"region": "", "addressPrefixes": []}}"#);
        let e = select(FORMAT, empty.as_bytes(), &sel(&["Empty"], None, "46")).unwrap_err();
        assert!(
            e.to_string().starts_with(
                "no ipv4,ipv6 prefixes for service Empty in the azure document (changeNumber 7)"
            ),
            "{e}"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn garbage_and_mutations_never_panic(
            cut in 0usize..45_000,
            at in 0usize..45_000,
            byte in any::<u8>(),
            junk in prop::collection::vec(any::<u8>(), 0..64),
        ) {
            let selection = sel(&["AzureFrontDoor.Backend", "AzureCloud.westeurope"], None, "46");
            let _ = select(FORMAT, &junk, &selection);
            for name in [LF, CRLF] {
                let doc = fixture("azure", name);
                mutate(FORMAT, &doc, (&selection, &sel(&["AzureDevOps"], Some(&["global"]), "46")), (cut, at, byte, &junk));
            }
        }
    }
}
