//! What a document yields for a selection: the answer of `sgsync ranges`.

use std::fmt;

use serde::Serialize;

use crate::ranges::RangeSet;
use crate::rule::PerFamily;
use crate::security_groups::Quotas;

/// Published and aggregated prefix counts of one IP version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Prefixes the document lists for the selection.
    pub published: usize,
    /// Prefixes after lossless aggregation (what becomes rules).
    pub aggregated: usize,
}

/// What a document yields for a selection: the answer of `sgsync ranges`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RangesReport {
    /// The document's syncToken, as published (a string of digits).
    pub synctoken: String,
    /// The document's createDate.
    pub create_date: String,
    /// The selected service(s), comma-separated.
    pub service: String,
    /// IPv4 counts (zero when IPv4 is not selected).
    pub ipv4: Counts,
    /// IPv6 counts (zero when IPv6 is not selected).
    pub ipv6: Counts,
    /// Rules needed: aggregated prefixes × port ranges.
    pub rules: usize,
    /// The same, per family (each family has its own rules-per-group quota).
    pub rules_by_family: PerFamily,
    /// Groups needed at the given rules per group: the larger family decides.
    pub groups_needed: usize,
    /// Rules per group and family the group count assumes.
    pub rules_per_group: usize,
    /// Entries of other services the document holds that do not parse (skipped, not fatal).
    pub warnings: Vec<String>,
}

impl RangesReport {
    /// Summarises `ranges` for `ports` port ranges and `rules_per_group`.
    pub fn new(service: &str, ranges: &RangeSet, ports: usize, rules_per_group: usize) -> Self {
        let by_family = PerFamily {
            v4: ranges.ipv4.len() * ports,
            v6: ranges.ipv6.len() * ports,
        };
        let quotas = Quotas {
            rules_per_group,
            ..Quotas::default()
        };
        RangesReport {
            synctoken: ranges.synctoken.to_string(),
            create_date: ranges.create_date.clone(),
            service: service.to_string(),
            ipv4: Counts {
                published: ranges.published_v4,
                aggregated: ranges.ipv4.len(),
            },
            ipv6: Counts {
                published: ranges.published_v6,
                aggregated: ranges.ipv6.len(),
            },
            rules: by_family.total(),
            rules_by_family: by_family,
            groups_needed: quotas.groups_for(by_family),
            rules_per_group,
            warnings: ranges.warnings.clone(),
        }
    }
}

impl fmt::Display for RangesReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} ranges in document {} ({})",
            self.service, self.synctoken, self.create_date
        )?;
        writeln!(
            f,
            "  ipv4: {} published, {} after aggregation",
            self.ipv4.published, self.ipv4.aggregated
        )?;
        writeln!(
            f,
            "  ipv6: {} published, {} after aggregation",
            self.ipv6.published, self.ipv6.aggregated
        )?;
        writeln!(
            f,
            "  rules needed: {} ({} groups at {rpg} IPv4 and {rpg} IPv6 rules per group)",
            self.rules_by_family,
            self.groups_needed,
            rpg = self.rules_per_group
        )?;
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ranges_report_shows_the_documents_warnings() {
        let set = RangeSet {
            synctoken: 7,
            create_date: "d".into(),
            ipv4: vec!["13.32.0.0/15".parse().unwrap()],
            ipv6: Vec::new(),
            published_v4: 2,
            published_v6: 0,
            warnings: vec!["skipped EC2 prefix 'x' (region r): not a valid CIDR prefix".into()],
        };
        let report = RangesReport::new("CLOUDFRONT", &set, 2, 60);
        let text = report.to_string();
        assert!(
            text.contains("  ipv4: 2 published, 1 after aggregation"),
            "{text}"
        );
        assert!(
            text.contains(
                "  rules needed: 2 IPv4 (1 groups at 60 IPv4 and 60 IPv6 rules per group)"
            ),
            "{text}"
        );
        assert!(text.contains("warning: skipped EC2 prefix 'x'"), "{text}");
    }
}
