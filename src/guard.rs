//! Sanity checks between what is applied and what a new document would apply, made before anything
//! changes. Each refusal says what was wrong, the numbers, and what to do; none writes anything.
//!
//! Pure functions over plain data: the pipeline calls them with the selected ranges and what the
//! managed groups hold.

use std::collections::BTreeSet;

use ipnet::IpNet;
use thiserror::Error;

use crate::ranges::RangeSet;

/// The limits the guards enforce.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GuardLimits {
    /// The widest IPv4 prefix accepted (default /8); /0 is never accepted.
    pub widest_v4: u8,
    /// The widest IPv6 prefix accepted (default /16); /0 is never accepted.
    pub widest_v6: u8,
    /// The largest fraction of the applied ranges one document may remove (default 0.5).
    pub max_remove_fraction: f64,
    /// Whether a larger removal is allowed anyway (`--force` / `ALLOW_LARGE_REMOVAL=true`).
    pub allow_large_removal: bool,
}

impl Default for GuardLimits {
    fn default() -> Self {
        GuardLimits {
            widest_v4: 8,
            widest_v6: 16,
            max_remove_fraction: 0.5,
            allow_large_removal: false,
        }
    }
}

/// A refusal. Nothing was changed.
#[derive(Clone, Debug, PartialEq, Error)]
pub enum GuardError {
    /// A range is wider than the limit: a published /0 or /4 would open the origin to much of the
    /// internet, so it is treated as a corrupt document, not as data.
    #[error(
        "the document lists {net}, wider than the /{limit} this deployment accepts; nothing was changed. \
         If Amazon really publishes such a range, raise {variable}; otherwise the document is corrupt: wait for the next one"
    )]
    TooWide {
        net: IpNet,
        /// The widest prefix length accepted.
        limit: u8,
        /// The setting that raises it.
        variable: &'static str,
    },
    /// The document would remove more of the applied ranges than allowed in one step.
    #[error(
        "the document would remove {removed} of the {applied} ranges applied now ({percent:.0} %, more than the {limit:.0} % allowed); \
         nothing was changed. If this is expected (a changed SERVICE or IP_VERSIONS, or a real large shrink), \
         run again with --force or ALLOW_LARGE_REMOVAL=true"
    )]
    LargeRemoval {
        /// Ranges that would be removed.
        removed: usize,
        /// Ranges applied now.
        applied: usize,
        /// removed / applied, in percent.
        percent: f64,
        /// The limit, in percent.
        limit: f64,
    },
}

/// Refuses ranges wider than the limits.
pub fn check_width(ranges: &RangeSet, limits: &GuardLimits) -> Result<(), GuardError> {
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
    }
    Ok(())
}

/// How a document's synctoken compares with the one applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freshness {
    /// Newer than, or the same as, what is applied (or nothing is applied yet).
    Current,
    /// Older than what is applied: skip it, it is not an error.
    Stale { applied: u64 },
}

/// Compares a document with the applied synctoken (the newest recorded on the managed groups).
pub fn freshness(document: u64, applied: Option<u64>) -> Freshness {
    match applied {
        Some(applied) if document < applied => Freshness::Stale { applied },
        _ => Freshness::Current,
    }
}

/// Refuses a document that removes more than the allowed fraction of the applied ranges, unless forced.
/// `applied` and `desired` are the distinct CIDRs of the managed groups and of the new document.
pub fn check_shrink(
    applied: &BTreeSet<IpNet>,
    desired: &BTreeSet<IpNet>,
    limits: &GuardLimits,
) -> Result<(), GuardError> {
    if applied.is_empty() || limits.allow_large_removal {
        return Ok(());
    }
    let removed = applied.difference(desired).count();
    let fraction = removed as f64 / applied.len() as f64;
    if fraction > limits.max_remove_fraction {
        return Err(GuardError::LargeRemoval {
            removed,
            applied: applied.len(),
            percent: fraction * 100.0,
            limit: limits.max_remove_fraction * 100.0,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> BTreeSet<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn range_set(v4: &[&str], v6: &[&str]) -> RangeSet {
        RangeSet {
            synctoken: 1,
            create_date: String::new(),
            ipv4: v4.iter().map(|s| s.parse().unwrap()).collect(),
            ipv6: v6.iter().map(|s| s.parse().unwrap()).collect(),
            published_v4: v4.len(),
            published_v6: v6.len(),
            warnings: Vec::new(),
        }
    }

    #[test]
    fn wide_ranges_are_refused_with_the_setting_to_change() {
        let limits = GuardLimits::default();
        assert!(
            check_width(
                &range_set(&["13.32.0.0/15", "10.0.0.0/8"], &["2600:9000::/28"]),
                &limits
            )
            .is_ok()
        );
        let e = check_width(&range_set(&["0.0.0.0/0"], &[]), &limits).unwrap_err();
        assert!(
            e.to_string().contains("0.0.0.0/0") && e.to_string().contains("WIDEST_IPV4_PREFIX")
        );
        let e = check_width(&range_set(&[], &["2600::/12"]), &limits).unwrap_err();
        assert!(e.to_string().contains("/16"));
        // Even a limit of 0 never lets /0 through.
        let open = GuardLimits {
            widest_v4: 0,
            ..limits
        };
        assert!(check_width(&range_set(&["0.0.0.0/0"], &[]), &open).is_err());
    }

    #[test]
    fn older_documents_are_stale_equal_and_newer_are_current() {
        assert_eq!(freshness(5, None), Freshness::Current);
        assert_eq!(freshness(5, Some(5)), Freshness::Current);
        assert_eq!(freshness(6, Some(5)), Freshness::Current);
        assert_eq!(freshness(4, Some(5)), Freshness::Stale { applied: 5 });
    }

    #[test]
    fn large_removals_need_force() {
        let applied = nets(&["10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24", "10.0.3.0/24"]);
        let limits = GuardLimits::default();
        assert!(check_shrink(&applied, &nets(&["10.0.0.0/24", "10.0.1.0/24"]), &limits).is_ok());
        let e = check_shrink(&applied, &nets(&["10.0.0.0/24"]), &limits).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("remove 3 of the 4") && text.contains("75 %") && text.contains("--force"),
            "{text}"
        );
        let forced = GuardLimits {
            allow_large_removal: true,
            ..limits
        };
        assert!(check_shrink(&applied, &nets(&["10.0.0.0/24"]), &forced).is_ok());
        assert!(check_shrink(&BTreeSet::new(), &nets(&["10.0.0.0/24"]), &limits).is_ok());
    }
}
