//! What a document yields for a selection: the answer of `sgsync ranges`.

use std::fmt;

use serde::Serialize;

use crate::prefix_lists::fresh_sizes;
use crate::ranges::RangeSet;
use crate::rule::PerFamily;
use crate::security_groups::Quotas;

/// The selected CIDRs after aggregation, per family: what becomes rules, list entries or set
/// addresses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Cidrs {
    pub ipv4: Vec<String>,
    pub ipv6: Vec<String>,
}

/// What the allow-lists would look like, beside the counts: the settings that size them.
#[derive(Clone, Copy, Debug)]
pub struct Sizing {
    /// Port ranges: each CIDR is one rule per range.
    pub ports: usize,
    /// The quotas a target and a group are assumed to have.
    pub quotas: Quotas,
    /// `PREFIX_LIST_MAX_ENTRIES`, when `KINDS` names prefix lists.
    pub list_cap: Option<usize>,
    /// Whether `KINDS` names security groups (their capacity is then worth a warning).
    pub groups: bool,
}

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
    /// How the document was had (`full`, `not_modified`, `file`), as the run summary says it.
    pub download: crate::source::Fetched,
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
    /// Groups a target takes (its own groups included) the capacity warnings assume.
    pub groups_per_target: usize,
    /// The selected CIDRs, aggregated.
    pub cidrs: Cidrs,
    /// Entries of other services the document holds that do not parse (skipped, not fatal), and
    /// what would not fit: more groups than a target takes, prefix lists heavier than a group.
    pub warnings: Vec<String>,
}

impl RangesReport {
    /// Summarises `ranges` as `sizing` would turn them into allow-lists.
    pub fn new(service: &str, ranges: &RangeSet, sizing: Sizing) -> Self {
        let Sizing {
            ports,
            quotas,
            list_cap,
            groups,
        } = sizing;
        let by_family = PerFamily {
            v4: ranges.ipv4.len() * ports,
            v6: ranges.ipv6.len() * ports,
        };
        let groups_needed = quotas.groups_for(by_family);
        let mut warnings = ranges.warnings.clone();
        if !groups {
            // No security groups to fill: their arithmetic is shown, not warned about.
        } else if groups_needed > quotas.groups_per_target {
            warnings.push(format!(
                "{groups_needed} groups are needed ({by_family} rules at {} per group and family), more than \
                 the {} groups a target takes (its own group included): security groups cannot hold this \
                 selection; select fewer PORTS or IP_VERSIONS, raise the quotas (RULES_PER_GROUP, \
                 GROUPS_PER_TARGET, after a Service Quotas increase), or use KINDS=prefix-lists or waf-ip-sets",
                quotas.rules_per_group, quotas.groups_per_target
            ));
        } else if groups_needed == quotas.groups_per_target && groups_needed > 0 {
            warnings.push(format!(
                "{groups_needed} groups are needed, every group slot of a target: one with a group of its \
                 own (most have one) has no room for them; select fewer PORTS or IP_VERSIONS, or raise \
                 GROUPS_PER_TARGET after a Service Quotas increase"
            ));
        }
        if let Some(cap) = list_cap {
            for (family, n) in [("IPv4", ranges.ipv4.len()), ("IPv6", ranges.ipv6.len())] {
                let sizes = fresh_sizes(n, cap);
                let weight: usize = sizes.iter().sum();
                let heaviest = sizes.iter().copied().max().unwrap_or(0);
                if heaviest > quotas.rules_per_group {
                    warnings.push(format!(
                        "an {family} prefix list of {heaviest} entries weighs {heaviest} rules in a group that \
                         references it, more than the {} a group holds: lower PREFIX_LIST_MAX_ENTRIES or raise \
                         the rules-per-group quota",
                        quotas.rules_per_group
                    ));
                } else if weight > quotas.rules_per_group {
                    warnings.push(format!(
                        "the {} {family} prefix lists weigh {weight} rules together ({}), more than the {} one \
                         group holds: reference them from {} groups, or raise the rules-per-group quota",
                        sizes.len(),
                        sizes.iter().map(ToString::to_string).collect::<Vec<_>>().join(" + "),
                        quotas.rules_per_group,
                        groups_for_lists(&sizes, quotas.rules_per_group)
                    ));
                }
            }
        }
        RangesReport {
            synctoken: ranges.synctoken.to_string(),
            create_date: ranges.create_date.clone(),
            download: Default::default(),
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
            groups_needed,
            rules_per_group: quotas.rules_per_group,
            groups_per_target: quotas.groups_per_target,
            cidrs: Cidrs {
                ipv4: ranges.ipv4.iter().map(ToString::to_string).collect(),
                ipv6: ranges.ipv6.iter().map(ToString::to_string).collect(),
            },
            warnings,
        }
    }
}

/// Groups needed to reference every list (a list is whole in one rule): first fit, largest first.
fn groups_for_lists(sizes: &[usize], rules_per_group: usize) -> usize {
    let mut sorted = sizes.to_vec();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    let mut groups: Vec<usize> = Vec::new();
    for size in sorted {
        match groups
            .iter_mut()
            .find(|used| **used + size <= rules_per_group)
        {
            Some(used) => *used += size,
            None => groups.push(size),
        }
    }
    groups.len()
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
            "  rules needed: {} ({} group{} at {rpg} IPv4 and {rpg} IPv6 rules per group)",
            self.rules_by_family,
            self.groups_needed,
            if self.groups_needed == 1 { "" } else { "s" },
            rpg = self.rules_per_group
        )?;
        // Warnings before the CIDRs, which may be hundreds of lines.
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        for (family, cidrs) in [("ipv4", &self.cidrs.ipv4), ("ipv6", &self.cidrs.ipv6)] {
            if !cidrs.is_empty() {
                writeln!(f, "{family}:")?;
                for c in cidrs {
                    writeln!(f, "  {c}")?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v4: usize, v6: usize) -> RangeSet {
        RangeSet {
            synctoken: 7,
            create_date: "d".into(),
            ipv4: (0..v4)
                .map(|i| format!("10.{}.{}.0/24", i / 256, i % 256).parse().unwrap())
                .collect(),
            ipv6: (0..v6)
                .map(|i| format!("2600:{i:x}::/32").parse().unwrap())
                .collect(),
            published_v4: v4,
            published_v6: v6,
            warnings: Vec::new(),
            ordered: true,
        }
    }

    fn sizing(ports: usize, list_cap: Option<usize>) -> Sizing {
        Sizing {
            ports,
            quotas: Quotas::default(),
            list_cap,
            groups: true,
        }
    }

    #[test]
    fn the_ranges_report_shows_the_cidrs_and_the_documents_warnings() {
        let set = RangeSet {
            ipv4: vec!["13.32.0.0/15".parse().unwrap()],
            published_v4: 2,
            warnings: vec!["skipped EC2 prefix 'x' (region r): not a valid CIDR prefix".into()],
            ordered: true,
            ..set(0, 0)
        };
        let report = RangesReport::new("CLOUDFRONT", &set, sizing(2, None));
        let text = report.to_string();
        assert!(
            text.contains("  ipv4: 2 published, 1 after aggregation"),
            "{text}"
        );
        assert!(
            text.contains(
                "  rules needed: 2 IPv4 (1 group at 60 IPv4 and 60 IPv6 rules per group)"
            ),
            "{text}"
        );
        assert!(text.contains("ipv4:\n  13.32.0.0/15\n"), "{text}");
        assert!(text.contains("warning: skipped EC2 prefix 'x'"), "{text}");
        assert_eq!(report.cidrs.ipv4, ["13.32.0.0/15"]);
        assert!(report.cidrs.ipv6.is_empty());
    }

    #[test]
    fn more_groups_than_a_target_takes_is_a_warning_with_the_remedies() {
        // CloudFront's shape on 80,443, dual stack: 6 groups at the default quotas.
        let report = RangesReport::new("CLOUDFRONT", &set(150, 30), sizing(2, None));
        assert_eq!(report.groups_needed, 5);
        assert!(
            report.warnings[0].contains("every group slot"),
            "{report:?}"
        );
        let report = RangesReport::new("CLOUDFRONT", &set(180, 30), sizing(2, None));
        assert_eq!(report.groups_needed, 6);
        let w = &report.warnings[0];
        assert!(
            w.contains("6 groups are needed") && w.contains("than the 5 groups a target takes"),
            "{w}"
        );
        assert!(w.contains("KINDS=prefix-lists"), "{w}");
        // Fits: no warning.
        let report = RangesReport::new("CLOUDFRONT", &set(180, 0), sizing(1, None));
        assert!(report.warnings.is_empty(), "{report:?}");
    }

    #[test]
    fn prefix_lists_heavier_than_a_group_are_a_warning() {
        // 180 CIDRs at the default 60: four lists of 45, MaxEntries 50, 200 together.
        let report = RangesReport::new("CLOUDFRONT", &set(180, 0), sizing(1, Some(60)));
        let w = report.warnings.join("\n");
        assert!(
            w.contains("the 4 IPv4 prefix lists weigh 200 rules together (50 + 50 + 50 + 50)")
                && w.contains("reference them from 4 groups"),
            "{w}"
        );
        // One list heavier than a whole group.
        let report = RangesReport::new("CLOUDFRONT", &set(180, 0), sizing(1, Some(100)));
        let w = report.warnings.join("\n");
        assert!(w.contains("weighs 99 rules"), "{w}");
        // Lists that fit one group, and lists not selected: no warning.
        let report = RangesReport::new("CLOUDFRONT", &set(40, 0), sizing(1, Some(60)));
        assert!(report.warnings.is_empty(), "{report:?}");
        let report = RangesReport::new("CLOUDFRONT", &set(180, 0), sizing(1, None));
        assert!(report.warnings.is_empty(), "{report:?}");
        // Without security groups in KINDS, their capacity is no warning.
        let lists_only = Sizing {
            groups: false,
            ..sizing(2, Some(60))
        };
        let report = RangesReport::new("CLOUDFRONT", &set(180, 30), lists_only);
        assert!(
            report
                .warnings
                .iter()
                .all(|w| !w.contains("groups are needed")),
            "{report:?}"
        );
    }

    #[test]
    fn lists_are_placed_whole_in_groups() {
        assert_eq!(groups_for_lists(&[50, 50, 50, 50], 60), 4);
        assert_eq!(groups_for_lists(&[30, 30, 20], 60), 2);
        assert_eq!(groups_for_lists(&[], 60), 0);
    }
}
