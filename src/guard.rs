//! Sanity checks between what is applied and what a new document would apply, made before anything
//! changes. Each refusal says what was wrong, the numbers, and what to do; none writes anything.
//!
//! Pure functions over plain data (the selected ranges, the rules the managed groups hold, the
//! synctokens recorded on them, the clock): the pipeline calls them, the tests call them directly.
//!
//! What a document may not do, and why (docs/design.md, "Guards"):
//! - list a range wider than `WIDEST_IPV4_PREFIX` / `WIDEST_IPV6_PREFIX`, or one that overlaps a
//!   special-purpose block (private, loopback, link-local, shared/CGNAT, documentation, multicast,
//!   reserved; IPv4-mapped, 6to4, NAT64, unique-local …): Amazon publishes global unicast space only,
//!   so such a range means a corrupt document, and no flag lets it through;
//! - add more address space than a bound (the width check is per prefix, so 128 separate /8s would
//!   pass it): per family, at most the space applied now (or a floor), and on a first run at most a
//!   fixed cap; `--force` overrides;
//! - carry a syncToken more than a day ahead of the clock (a far-future token would make every later
//!   document look stale: a silent freeze);
//! - remove more than `MAX_REMOVE_FRACTION` of the applied *rules* (CIDR × port), so a PORTS or filter
//!   change that removes most access needs `--force` / `ALLOW_LARGE_REMOVAL`.

use std::collections::BTreeSet;

use ipnet::IpNet;
use thiserror::Error;

use crate::ranges::RangeSet;
use crate::rule::Family;

/// The limits the guards enforce.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GuardLimits {
    /// The widest IPv4 prefix accepted (default /8); /0 is never accepted.
    pub widest_v4: u8,
    /// The widest IPv6 prefix accepted (default /16); /0 is never accepted.
    pub widest_v6: u8,
    /// The largest fraction of the applied rules one document may remove (default 0.5).
    pub max_remove_fraction: f64,
    /// Whether a larger removal is allowed anyway (`--force` / `ALLOW_LARGE_REMOVAL=true`).
    pub allow_large_removal: bool,
    /// The operator's `--force`: also lets through a document that adds more address space than the
    /// bound, and one older than what is applied.
    pub force: bool,
}

impl GuardLimits {
    /// The limits of the settings' defaults (`config::settings`: WIDEST_IPV4_PREFIX,
    /// WIDEST_IPV6_PREFIX, MAX_REMOVE_FRACTION, ALLOW_LARGE_REMOVAL).
    pub const DEFAULTS: GuardLimits = GuardLimits {
        widest_v4: 8,
        widest_v6: 16,
        max_remove_fraction: 0.5,
        allow_large_removal: false,
        force: false,
    };
}

/// How far ahead of the clock a syncToken may be: a document is published, then announced; a token
/// from the future means a broken clock or a broken document.
pub const MAX_CLOCK_SKEW_SECS: u64 = 24 * 60 * 60;

/// A refusal. Nothing was changed.
#[derive(Clone, Debug, PartialEq, Error)]
pub enum GuardError {
    /// A range is wider than the limit: a published /0 or /4 would open the origin to much of the
    /// internet, so it is treated as a corrupt document, not as data.
    #[error(
        "the document lists {net}, wider than the /{limit} this deployment accepts; nothing was changed. \
         If the provider really publishes such a range, raise {variable}; otherwise the document is corrupt: wait for the next one"
    )]
    TooWide {
        net: IpNet,
        /// The widest prefix length accepted.
        limit: u8,
        /// The setting that raises it.
        variable: &'static str,
    },
    /// A range overlaps a special-purpose block, which no AWS service is reached from.
    #[error(
        "the document lists {net}, which overlaps {block} ({purpose}); a provider publishes global unicast \
         addresses only, so the document is corrupt or not the provider's: nothing was changed, wait for the \
         next one or check IP_RANGES_URL"
    )]
    SpecialPurpose {
        net: IpNet,
        /// The special-purpose block it overlaps.
        block: IpNet,
        /// What the block is for, and the RFC.
        purpose: &'static str,
    },
    /// The document adds more address space than one document may.
    #[error(
        "the document would add {added} {family} addresses to the {applied} applied now, more than the \
         {limit} one document may add; nothing was changed. If the provider really published this much new \
         space (compare with the previous document), run again with --force"
    )]
    TooMuchSpace {
        family: Family,
        /// Addresses the document adds, in words (`2^31`).
        added: String,
        /// Addresses applied now, in words.
        applied: String,
        /// The bound, in words.
        limit: String,
    },
    /// The syncToken is from the future.
    #[error(
        "the document's syncToken {synctoken} is {} hours ahead of this machine's clock ({now}); a token \
         from the future would make every later document look older than it: nothing was changed. \
         Check the clock, and the document at IP_RANGES_URL",
        (.synctoken - .now) / 3600
    )]
    FutureSynctoken {
        synctoken: u64,
        /// The clock, in seconds since 1970.
        now: u64,
    },
    /// A selected IP family the document leaves empty.
    #[error(
        "the document has no {family} ranges for the selection, which would empty the {applied} {family} {what} \
         applied now; nothing was changed. If this is expected, narrow IP_VERSIONS, or run again with --force"
    )]
    EmptyFamily {
        what: &'static str,
        family: Family,
        applied: usize,
    },
    /// The document would remove more of the applied rules than allowed in one step.
    #[error(
        "the document would remove {removed} of the {applied} {what} applied now ({percent:.0} %, more than the {limit:.0} % allowed); \
         nothing was changed. If this is expected (a changed PORTS, SERVICE, SERVICE_REGIONS or IP_VERSIONS, \
         or a real large shrink), run again with --force or ALLOW_LARGE_REMOVAL=true"
    )]
    LargeRemoval {
        /// What is counted: security-group rules, prefix-list entries, WAF addresses (of a family).
        what: String,
        /// How many would be removed.
        removed: usize,
        /// How many are applied now.
        applied: usize,
        /// removed / applied, in percent.
        percent: f64,
        /// The limit, in percent.
        limit: f64,
    },
}

/// Special-purpose IPv4 blocks (IANA's special-purpose address registry, RFC 6890 and successors)
/// that an AWS service's published range can never overlap.
const SPECIAL_V4: &[(&str, &str)] = &[
    ("0.0.0.0/8", "\"this network\", RFC 791"),
    ("10.0.0.0/8", "private-use, RFC 1918"),
    (
        "100.64.0.0/10",
        "shared address space (carrier-grade NAT), RFC 6598",
    ),
    ("127.0.0.0/8", "loopback, RFC 1122"),
    ("169.254.0.0/16", "link-local, RFC 3927"),
    ("172.16.0.0/12", "private-use, RFC 1918"),
    ("192.0.0.0/24", "IETF protocol assignments, RFC 6890"),
    ("192.0.2.0/24", "documentation TEST-NET-1, RFC 5737"),
    ("192.88.99.0/24", "6to4 relay anycast, RFC 7526"),
    ("192.168.0.0/16", "private-use, RFC 1918"),
    ("198.18.0.0/15", "benchmarking, RFC 2544"),
    ("198.51.100.0/24", "documentation TEST-NET-2, RFC 5737"),
    ("203.0.113.0/24", "documentation TEST-NET-3, RFC 5737"),
    ("224.0.0.0/4", "multicast, RFC 5771"),
    (
        "240.0.0.0/4",
        "reserved and limited broadcast, RFC 1112 and RFC 919",
    ),
];

/// Special-purpose IPv6 blocks (IANA's IPv6 special-purpose registry).
const SPECIAL_V6: &[(&str, &str)] = &[
    (
        "::/8",
        "reserved: unspecified, loopback, IPv4-compatible and IPv4-mapped addresses, RFC 4291",
    ),
    ("64:ff9b::/96", "NAT64 well-known prefix, RFC 6052"),
    ("64:ff9b:1::/48", "local-use NAT64, RFC 8215"),
    ("100::/64", "discard-only, RFC 6666"),
    (
        "2001::/23",
        "IETF protocol assignments (Teredo, benchmarking, ORCHID …), RFC 2928",
    ),
    ("2001:db8::/32", "documentation, RFC 3849"),
    ("3fff::/20", "documentation, RFC 9637"),
    ("5f00::/16", "segment routing (SRv6) SIDs, RFC 9602"),
    ("2002::/16", "6to4, RFC 3056"),
    ("fc00::/7", "unique local, RFC 4193"),
    ("fe80::/10", "link-local, RFC 4291"),
    ("ff00::/8", "multicast, RFC 4291"),
];

fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The special-purpose block `net` overlaps, if any (the most specific, to name it precisely).
pub(crate) fn special_block(net: &IpNet) -> Option<(IpNet, &'static str)> {
    let table = match net {
        IpNet::V4(_) => SPECIAL_V4,
        IpNet::V6(_) => SPECIAL_V6,
    };
    table
        .iter()
        .filter_map(|(block, purpose)| {
            let block: IpNet = block.parse().expect("the table holds valid prefixes");
            overlaps(net, &block).then_some((block, *purpose))
        })
        .max_by_key(|(block, _)| block.prefix_len())
}

/// Refuses ranges wider than the limits and ranges in special-purpose space.
pub fn check_ranges(ranges: &RangeSet, limits: &GuardLimits) -> Result<(), GuardError> {
    let v4 = ranges
        .ipv4
        .iter()
        .map(|n| (IpNet::V4(*n), limits.widest_v4.max(1), "WIDEST_IPV4_PREFIX"));
    let v6 = ranges
        .ipv6
        .iter()
        .map(|n| (IpNet::V6(*n), limits.widest_v6.max(1), "WIDEST_IPV6_PREFIX"));
    for (net, limit, variable) in v4.chain(v6) {
        if net.prefix_len() < limit {
            return Err(GuardError::TooWide {
                net,
                limit,
                variable,
            });
        }
        if let Some((block, purpose)) = special_block(&net) {
            return Err(GuardError::SpecialPurpose {
                net,
                block,
                purpose,
            });
        }
    }
    Ok(())
}

/// The address-space bound of one document, per family, as powers of two: a family with nothing
/// applied may receive at most `first` (a first run, or the first IPv6 ranges); otherwise at most as
/// much as is applied, or `floor` when that is more. Checked against the real history in
/// `tests/it/guard_replay.rs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SpaceBound {
    first: u32,
    floor: u32,
}

impl SpaceBound {
    fn of(family: Family) -> SpaceBound {
        match family {
            // 2^24: a /8's worth, four times CloudFront's whole IPv4 space (2^22.0 in 2026).
            // 2^20: a /12's worth; the largest IPv4 growth of CloudFront or its origin-facing
            // ranges in 2017–2026 was 2^19.6 (+786,432 addresses, 35 % of what was applied).
            Family::V4 => SpaceBound {
                first: 24,
                floor: 20,
            },
            // 2^100: a /28, the size of CloudFront's own block 2600:9000::/28 (its first IPv6
            // publication in 2017 was that block whole). 2^96: a /32's worth.
            Family::V6 => SpaceBound {
                first: 100,
                floor: 96,
            },
        }
    }
}

/// How many addresses `nets` cover, counting overlaps once.
fn space(nets: &[IpNet]) -> u128 {
    IpNet::aggregate(&nets.to_vec())
        .iter()
        .map(|n| 1u128 << (n.max_prefix_len() - n.prefix_len()).min(127))
        .fold(0u128, u128::saturating_add)
}

/// How many addresses of `desired` `applied` does not cover.
fn added_space(applied: &[IpNet], desired: &[IpNet]) -> u128 {
    let applied = IpNet::aggregate(&applied.to_vec());
    IpNet::aggregate(&desired.to_vec())
        .iter()
        .map(|d| {
            if applied.iter().any(|a| a.contains(d)) {
                return 0;
            }
            let inside = applied
                .iter()
                .filter(|a| d.contains(*a))
                .cloned()
                .collect::<Vec<_>>();
            space(&[*d]).saturating_sub(space(&inside))
        })
        .fold(0u128, u128::saturating_add)
}

/// An address count in words: exact while it is readable, a power of two beyond.
fn words(n: u128) -> String {
    if n < 1 << 32 {
        n.to_string()
    } else {
        format!("2^{:.1}", (n as f64).log2())
    }
}

/// Refuses a document that adds more address space than the bound (see [`SpaceBound`]), unless
/// forced. `applied` and `desired` are the CIDRs of the managed rules and of the new document.
pub fn check_growth(
    applied: &BTreeSet<IpNet>,
    desired: &BTreeSet<IpNet>,
    limits: &GuardLimits,
) -> Result<(), GuardError> {
    if limits.force {
        return Ok(());
    }
    for family in Family::ALL {
        let of = |set: &BTreeSet<IpNet>| -> Vec<IpNet> {
            set.iter().filter(|n| family.holds(n)).copied().collect()
        };
        let (applied, desired) = (of(applied), of(desired));
        let bound = SpaceBound::of(family);
        let applied_space = space(&applied);
        let limit = if applied.is_empty() {
            1u128 << bound.first
        } else {
            applied_space.max(1u128 << bound.floor)
        };
        let added = added_space(&applied, &desired);
        if added > limit {
            return Err(GuardError::TooMuchSpace {
                family,
                added: words(added),
                applied: words(applied_space),
                limit: words(limit),
            });
        }
    }
    Ok(())
}

/// Refuses a document whose syncToken is more than [`MAX_CLOCK_SKEW_SECS`] ahead of `now` (seconds
/// since 1970).
pub fn check_synctoken(synctoken: u64, now: u64) -> Result<(), GuardError> {
    if synctoken > now.saturating_add(MAX_CLOCK_SKEW_SECS) {
        return Err(GuardError::FutureSynctoken { synctoken, now });
    }
    Ok(())
}

/// The applied synctoken: the newest one recorded on the managed groups, ignoring any more than a
/// day ahead of the clock (returned apart, to be warned about; the next apply overwrites them).
pub fn applied_synctoken(
    recorded: impl IntoIterator<Item = u64>,
    now: u64,
) -> (Option<u64>, Option<u64>) {
    let (future, sane): (Vec<u64>, Vec<u64>) = recorded
        .into_iter()
        .partition(|t| *t > now.saturating_add(MAX_CLOCK_SKEW_SECS));
    (sane.into_iter().max(), future.into_iter().max())
}

/// How a document's synctoken compares with the one applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freshness {
    /// Newer than, or the same as, what is applied (or nothing is applied yet).
    Current,
    /// Older than what is applied: skip it, it is not an error.
    Stale { applied: u64 },
}

/// Compares a document with the applied synctoken.
pub fn freshness(document: u64, applied: Option<u64>) -> Freshness {
    match applied {
        Some(applied) if document < applied => Freshness::Stale { applied },
        _ => Freshness::Current,
    }
}

/// Refuses a document that removes more than the allowed fraction of what is applied (the `what` of
/// one kind: the managed groups' rules, the lists' entries, the sets' addresses), unless forced.
pub fn check_removal<T: Ord>(
    what: &'static str,
    applied: &BTreeSet<T>,
    desired: &BTreeSet<T>,
    limits: &GuardLimits,
) -> Result<(), GuardError> {
    if applied.is_empty() || limits.allow_large_removal || limits.force {
        return Ok(());
    }
    let removed = applied.difference(desired).count();
    let fraction = removed as f64 / applied.len() as f64;
    if fraction > limits.max_remove_fraction {
        return Err(GuardError::LargeRemoval {
            what: what.to_string(),
            removed,
            applied: applied.len(),
            percent: fraction * 100.0,
            limit: limits.max_remove_fraction * 100.0,
        });
    }
    Ok(())
}

/// The removal guard for each selected IP family on its own (a family's share of the whole can be
/// small: 31 IPv6 rules of 212), and a selected family the document leaves empty refused outright: a
/// web ACL or a group that blocks what the sets or lists do not hold would then drop all of that
/// family's traffic. `--force` lets both through. What a family no longer selected holds goes without
/// a guard: narrowing `IP_VERSIONS` asks for exactly that, and an entry of that family added by hand
/// must never be able to stop every run.
///
/// `removed`: what of `applied` has no address published any more (an aggregate that split is not
/// removed: most of it still is).
/// The guards of a kind whose entries are CIDRs (prefix lists, WAF IP sets), by address: an entry
/// is removed only when none of its addresses is published any more (a split aggregate is not);
/// removals are counted per selected family; growth is bounded.
pub fn check_entries(
    what: &'static str,
    applied: &BTreeSet<IpNet>,
    desired: &BTreeSet<IpNet>,
    selected: &[Family],
    limits: &GuardLimits,
) -> Result<(), GuardError> {
    let published = crate::addresses::Addresses::of(desired);
    let removed: BTreeSet<IpNet> = (applied.iter())
        .filter(|n| !published.overlaps(n))
        .copied()
        .collect();
    check_families(
        what,
        applied,
        &removed,
        desired,
        selected,
        Family::of,
        limits,
    )?;
    check_growth(applied, desired, limits)
}

pub fn check_families<T: Ord + Clone>(
    what: &'static str,
    applied: &BTreeSet<T>,
    removed: &BTreeSet<T>,
    desired: &BTreeSet<T>,
    selected: &[Family],
    family_of: impl Fn(&T) -> Family,
    limits: &GuardLimits,
) -> Result<(), GuardError> {
    if limits.force {
        return Ok(());
    }
    for &family in selected {
        let of = |set: &BTreeSet<T>| -> BTreeSet<T> {
            set.iter()
                .filter(|t| family_of(t) == family)
                .cloned()
                .collect()
        };
        let (applied, desired, removed) = (of(applied), of(desired), of(removed));
        if desired.is_empty() && !applied.is_empty() {
            return Err(GuardError::EmptyFamily {
                what,
                family,
                applied: applied.len(),
            });
        }
        let described = format!("{family} {what}");
        if applied.is_empty() || limits.allow_large_removal {
            continue;
        }
        let removed = removed.len();
        let fraction = removed as f64 / applied.len() as f64;
        if fraction > limits.max_remove_fraction {
            return Err(GuardError::LargeRemoval {
                what: described,
                removed,
                applied: applied.len(),
                percent: fraction * 100.0,
                limit: limits.max_remove_fraction * 100.0,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::PortRange;
    use crate::rule::Rule;

    fn nets(list: &[&str]) -> BTreeSet<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn rules(list: &[&str], ports: &[u16]) -> BTreeSet<Rule> {
        nets(list)
            .into_iter()
            .flat_map(|net| {
                ports.iter().map(move |p| Rule {
                    net,
                    ports: PortRange::single(*p),
                })
            })
            .collect()
    }

    const LIMITS: GuardLimits = GuardLimits::DEFAULTS;

    fn range_set(v4s: &[&str], v6s: &[&str]) -> RangeSet {
        RangeSet {
            synctoken: 1,
            create_date: String::new(),
            ipv4: v4s.iter().map(|s| s.parse().unwrap()).collect(),
            ipv6: v6s.iter().map(|s| s.parse().unwrap()).collect(),
            published_v4: v4s.len(),
            published_v6: v6s.len(),
            warnings: Vec::new(),
            ordered: true,
        }
    }

    #[test]
    fn wide_ranges_are_refused_with_the_setting_to_change() {
        let limits = LIMITS;
        assert!(
            check_ranges(
                &range_set(&["13.32.0.0/15", "3.0.0.0/8"], &["2600:9000::/28"]),
                &limits
            )
            .is_ok()
        );
        let e = check_ranges(&range_set(&["0.0.0.0/0"], &[]), &limits).unwrap_err();
        assert!(
            e.to_string().contains("0.0.0.0/0") && e.to_string().contains("WIDEST_IPV4_PREFIX")
        );
        let e = check_ranges(&range_set(&[], &["2600::/12"]), &limits).unwrap_err();
        assert!(e.to_string().contains("/16"));
        // Even a limit of 0 never lets /0 through.
        let open = GuardLimits {
            widest_v4: 0,
            ..limits
        };
        assert!(check_ranges(&range_set(&["0.0.0.0/0"], &[]), &open).is_err());
    }

    #[test]
    fn special_purpose_space_is_refused_naming_the_block() {
        let limits = GuardLimits {
            widest_v4: 1,
            widest_v6: 1,
            ..LIMITS
        };
        for (v4s, v6s, needle) in [
            (&["10.0.0.0/8"][..], &[][..], "private-use, RFC 1918"),
            (&["10.20.0.0/16"], &[], "10.0.0.0/8"),
            (&["127.0.0.0/8"], &[], "loopback"),
            (&["169.254.0.0/16"], &[], "link-local"),
            (&["100.64.0.0/10"], &[], "carrier-grade NAT"),
            (&["203.0.113.0/24"], &[], "TEST-NET-3"),
            (&["224.0.0.0/4"], &[], "multicast"),
            (&["8.0.0.0/5"], &[], "10.0.0.0/8"),
            (&[], &["::ffff:0:0/96"], "IPv4-mapped"),
            (&[], &["2002::/16"], "6to4"),
            (&[], &["64:ff9b::/96"], "NAT64"),
            (&[], &["fd00::/8"], "unique local"),
            (&[], &["fe80::/64"], "link-local"),
            (&[], &["ff02::/16"], "multicast"),
            (&[], &["2001:db8:1::/48"], "documentation"),
        ] {
            let e = check_ranges(&range_set(v4s, v6s), &limits).unwrap_err();
            assert!(
                matches!(e, GuardError::SpecialPurpose { .. }) && e.to_string().contains(needle),
                "{v4s:?} {v6s:?}: {e}"
            );
        }
        let forced = GuardLimits {
            force: true,
            ..limits
        };
        assert!(check_ranges(&range_set(&["10.0.0.0/8"], &[]), &forced).is_err());
    }

    #[test]
    fn every_range_of_the_real_document_is_global_unicast() {
        let doc = std::fs::read(crate::testkit::fixtures().join("ip-ranges/latest.json")).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&doc).unwrap();
        let all = value["prefixes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["ip_prefix"].as_str().unwrap())
            .chain(
                value["ipv6_prefixes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p["ipv6_prefix"].as_str().unwrap()),
            );
        for prefix in all {
            let net: IpNet = prefix.parse().unwrap();
            assert_eq!(special_block(&net), None, "{prefix}");
        }
    }

    #[test]
    fn address_space_is_bounded_by_what_is_applied_and_on_a_first_run() {
        let limits = LIMITS;
        // 128 separate /8s pass the width check, not this one.
        let many: Vec<String> = (1..=128).map(|i| format!("{}.0.0.0/8", i + 11)).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let e = check_growth(&BTreeSet::new(), &nets(&many), &limits).unwrap_err();
        assert!(
            e.to_string().contains(
                "add 2147483648 IPv4 addresses to the 0 applied now, more than the 16777216"
            ),
            "{e}"
        );
        // A first run of CloudFront's 2^22 is fine; so is growth up to what is applied.
        assert!(
            check_growth(
                &BTreeSet::new(),
                &nets(&["13.32.0.0/15", "52.84.0.0/15"]),
                &limits
            )
            .is_ok()
        );
        let applied = nets(&["13.32.0.0/11"]);
        assert!(check_growth(&applied, &nets(&["13.32.0.0/11", "52.0.0.0/11"]), &limits).is_ok());
        let e =
            check_growth(&applied, &nets(&["13.32.0.0/11", "52.0.0.0/10"]), &limits).unwrap_err();
        assert!(
            e.to_string()
                .contains("add 4194304 IPv4 addresses to the 2097152 applied"),
            "{e}"
        );
        // Space already covered is not added; forcing lets anything through.
        assert!(check_growth(&nets(&["52.0.0.0/8"]), &nets(&["52.1.0.0/16"]), &limits).is_ok());
        let forced = GuardLimits {
            force: true,
            ..limits
        };
        assert!(check_growth(&BTreeSet::new(), &nets(&many), &forced).is_ok());
        // IPv6: CloudFront's whole /28 on a first IPv6 run, not a /20.
        assert!(check_growth(&BTreeSet::new(), &nets(&["2600:9000::/28"]), &limits).is_ok());
        let e = check_growth(&BTreeSet::new(), &nets(&["2600::/20"]), &limits).unwrap_err();
        assert!(e.to_string().contains("2^108.0 IPv6"), "{e}");
    }

    #[test]
    fn a_synctoken_from_the_future_is_refused_and_a_recorded_one_ignored() {
        let now = 1_787_411_825;
        assert!(check_synctoken(now + 3600, now).is_ok());
        let e = check_synctoken(99_999_999_999, now).unwrap_err();
        assert!(
            e.to_string().contains("ahead of this machine's clock"),
            "{e}"
        );
        assert_eq!(
            applied_synctoken([now - 10, now - 5], now),
            (Some(now - 5), None)
        );
        assert_eq!(
            applied_synctoken([now - 10, 99_999_999_999], now),
            (Some(now - 10), Some(99_999_999_999))
        );
        assert_eq!(
            applied_synctoken([99_999_999_999], now),
            (None, Some(99_999_999_999))
        );
    }

    #[test]
    fn older_documents_are_stale_equal_and_newer_are_current() {
        assert_eq!(freshness(5, None), Freshness::Current);
        assert_eq!(freshness(5, Some(5)), Freshness::Current);
        assert_eq!(freshness(6, Some(5)), Freshness::Current);
        assert_eq!(freshness(4, Some(5)), Freshness::Stale { applied: 5 });
    }

    #[test]
    fn large_removals_count_rules_and_need_force() {
        let applied = rules(
            &[
                "13.32.0.0/15",
                "52.84.0.0/15",
                "54.182.0.0/16",
                "64.252.64.0/18",
            ],
            &[80],
        );
        let limits = LIMITS;
        let half = rules(&["13.32.0.0/15", "52.84.0.0/15"], &[80]);
        assert!(check_removal("rules", &applied, &half, &limits).is_ok());
        let e = check_removal("rules", &applied, &rules(&["13.32.0.0/15"], &[80]), &limits)
            .unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("remove 3 of the 4 rules")
                && text.contains("75 %")
                && text.contains("--force"),
            "{text}"
        );
        // PORTS 80 → 8080: every CIDR stays, every rule goes.
        let moved = rules(
            &[
                "13.32.0.0/15",
                "52.84.0.0/15",
                "54.182.0.0/16",
                "64.252.64.0/18",
            ],
            &[8080],
        );
        assert!(check_removal("rules", &applied, &moved, &limits).is_err());
        for forced in [
            GuardLimits {
                allow_large_removal: true,
                ..limits
            },
            GuardLimits {
                force: true,
                ..limits
            },
        ] {
            assert!(check_removal("rules", &applied, &moved, &forced).is_ok());
        }
        assert!(check_removal("rules", &BTreeSet::new(), &moved, &limits).is_ok());
    }
}
