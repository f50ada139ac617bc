//! One inbound rule: a CIDR × a TCP port range.
//!
//! This is the unit every quota counts in ("one rule = one CIDR × one port or port range"), the unit the
//! planner packs into groups, and the unit every authorize/revoke request names, so that each change can be
//! audited from the request alone (invariant 7 of docs/design.md). Protocol is always TCP: CloudFront reaches origins
//! over HTTP(S) only.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// An inclusive TCP port range; a single port is `from == to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortRange {
    /// First port, inclusive.
    pub from: u16,
    /// Last port, inclusive.
    pub to: u16,
}

impl PortRange {
    /// A range holding one port.
    pub fn single(port: u16) -> Self {
        PortRange {
            from: port,
            to: port,
        }
    }

    /// Whether two ranges share at least one port.
    pub fn overlaps(&self, other: &PortRange) -> bool {
        self.from <= other.to && other.from <= self.to
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.from == self.to {
            write!(f, "{}", self.from)
        } else {
            write!(f, "{}-{}", self.from, self.to)
        }
    }
}

impl FromStr for PortRange {
    type Err = String;

    /// Parses `443` or `8000-8080`; the error says what was wrong with the one item.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let port = |p: &str| -> Result<u16, String> {
            match p.trim().parse::<u16>() {
                Ok(0) => Err(format!("'{s}': port 0 is not a valid TCP port")),
                Ok(n) => Ok(n),
                Err(_) => Err(format!("'{s}' is not a port number from 1 to 65535")),
            }
        };
        let range = match s.split_once('-') {
            Some((a, b)) => PortRange {
                from: port(a)?,
                to: port(b)?,
            },
            None => PortRange::single(port(s)?),
        };
        if range.from > range.to {
            return Err(format!("'{s}': a range must go from low to high"));
        }
        Ok(range)
    }
}

/// Parses a comma list of ports and ranges (`80`, `80,443`, `8000-8080,443`), rejecting empty items,
/// duplicates and overlaps: an overlap is almost always a typo, and silently merging it would hide one.
pub fn parse_port_list(list: &str) -> Result<Vec<PortRange>, String> {
    if list.trim().is_empty() {
        return Err("the list is empty".into());
    }
    let mut ranges: Vec<PortRange> = Vec::new();
    for item in list.split(',') {
        if item.trim().is_empty() {
            return Err(format!("'{list}' has an empty item"));
        }
        let range: PortRange = item.parse()?;
        if let Some(prev) = ranges.iter().find(|r| r.overlaps(&range)) {
            return Err(format!("{prev} and {range} overlap; list each port once"));
        }
        ranges.push(range);
    }
    ranges.sort();
    Ok(ranges)
}

/// One inbound TCP rule: traffic from `net` to `ports`.
///
/// Ordered by network first, so that the rules for one CIDR on several ports sit next to each other and
/// the packer tends to keep them in the same group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rule {
    /// The source CIDR (IPv4 or IPv6).
    pub net: IpNet,
    /// The destination TCP port range.
    pub ports: PortRange,
}

/// Serialized as its display form (`13.32.0.0/15 tcp/80`): what a person reading a plan wants.
impl serde::Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} tcp/{}", self.net, self.ports)
    }
}

/// An IP family. AWS counts the rules-per-group quota separately for each: a group holds 60 IPv4
/// **and** 60 IPv6 inbound rules by default (Amazon VPC quotas, "Inbound or outbound rules per
/// security group").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl Family {
    /// Both families, IPv4 first.
    pub const ALL: [Family; 2] = [Family::V4, Family::V6];

    /// The family in resource names: prefix lists `{stem}-ipv4-{n}`, WAF IP sets `{stem}-ipv6`.
    pub fn tag(self) -> &'static str {
        match self {
            Family::V4 => "ipv4",
            Family::V6 => "ipv6",
        }
    }

    /// The family of `net`.
    pub fn of(net: &IpNet) -> Family {
        match net {
            IpNet::V4(_) => Family::V4,
            IpNet::V6(_) => Family::V6,
        }
    }

    /// Whether `net` is of this family.
    pub fn holds(self, net: &IpNet) -> bool {
        matches!(
            (self, net),
            (Family::V4, IpNet::V4(_)) | (Family::V6, IpNet::V6(_))
        )
    }
}

/// Serialized as it is displayed (`IPv4`, `IPv6`), which is also what EC2 calls a prefix list's
/// address family.
impl serde::Serialize for Family {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        })
    }
}

impl Rule {
    /// The family of the rule's source, which decides which quota it counts against.
    pub fn family(&self) -> Family {
        match self.net {
            IpNet::V4(_) => Family::V4,
            IpNet::V6(_) => Family::V6,
        }
    }
}

/// A count per family: rules, free slots, quota use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PerFamily {
    /// The IPv4 count.
    #[serde(rename = "ipv4")]
    pub v4: usize,
    /// The IPv6 count.
    #[serde(rename = "ipv6")]
    pub v6: usize,
}

impl PerFamily {
    /// The same count for both families.
    pub fn both(n: usize) -> PerFamily {
        PerFamily { v4: n, v6: n }
    }

    /// How many of `rules` are of each family.
    pub fn of<'a>(rules: impl IntoIterator<Item = &'a Rule>) -> PerFamily {
        let mut counts = PerFamily::default();
        for r in rules {
            *counts.get_mut(r.family()) += 1;
        }
        counts
    }

    /// The count of one family.
    pub fn get(&self, family: Family) -> usize {
        match family {
            Family::V4 => self.v4,
            Family::V6 => self.v6,
        }
    }

    /// The count of one family, to change.
    pub fn get_mut(&mut self, family: Family) -> &mut usize {
        match family {
            Family::V4 => &mut self.v4,
            Family::V6 => &mut self.v6,
        }
    }

    /// Both counts added together.
    pub fn total(&self) -> usize {
        self.v4 + self.v6
    }

    /// The larger count: what decides how many groups a set of rules needs.
    pub fn max(&self) -> usize {
        self.v4.max(self.v6)
    }

    /// Family-wise sum.
    pub fn plus(self, other: PerFamily) -> PerFamily {
        PerFamily {
            v4: self.v4 + other.v4,
            v6: self.v6 + other.v6,
        }
    }

    /// Family-wise `quota − self`, never below zero: the free slots under a per-family quota.
    pub fn free_under(self, quota: usize) -> PerFamily {
        PerFamily {
            v4: quota.saturating_sub(self.v4),
            v6: quota.saturating_sub(self.v6),
        }
    }

    /// Whether any family exceeds `quota`.
    pub fn exceeds(&self, quota: usize) -> bool {
        self.v4 > quota || self.v6 > quota
    }
}

impl fmt::Display for PerFamily {
    /// `180 IPv4 + 31 IPv6`, or just the family that has any.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.v4, self.v6) {
            (v4, 0) => write!(f, "{v4} IPv4"),
            (0, v6) => write!(f, "{v6} IPv6"),
            (v4, v6) => write!(f, "{v4} IPv4 + {v6} IPv6"),
        }
    }
}

/// The rules that allow `nets` on every one of `ports`: the desired state the planner works towards.
pub fn desired_rules(ipv4: &[Ipv4Net], ipv6: &[Ipv6Net], ports: &[PortRange]) -> BTreeSet<Rule> {
    let nets = ipv4
        .iter()
        .map(|n| IpNet::V4(*n))
        .chain(ipv6.iter().map(|n| IpNet::V6(*n)));
    nets.flat_map(|net| ports.iter().map(move |&ports| Rule { net, ports }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ports_and_ranges() {
        let got = parse_port_list("443, 80,8000-8080").unwrap();
        assert_eq!(
            got,
            vec![
                PortRange::single(80),
                PortRange::single(443),
                PortRange {
                    from: 8000,
                    to: 8080
                }
            ]
        );
        assert_eq!(got[2].to_string(), "8000-8080");
    }

    #[test]
    fn rejects_bad_port_lists_with_the_reason() {
        for (input, needle) in [
            ("", "empty"),
            ("80,", "empty item"),
            ("http", "not a port number"),
            ("0", "port 0"),
            ("70000", "not a port number"),
            ("90-80", "low to high"),
            ("80,80", "overlap"),
            ("80,1-100", "overlap"),
            ("-80", "not a port number"),
        ] {
            let err = parse_port_list(input).unwrap_err();
            assert!(err.contains(needle), "{input:?}: {err}");
        }
    }

    #[test]
    fn families_are_counted_apart() {
        let v4: Vec<Ipv4Net> = vec!["10.0.0.0/8".parse().unwrap()];
        let v6: Vec<Ipv6Net> = vec![
            "2600:9000::/28".parse().unwrap(),
            "2a00::/16".parse().unwrap(),
        ];
        let rules = desired_rules(&v4, &v6, &parse_port_list("80,443").unwrap());
        let counts = PerFamily::of(&rules);
        assert_eq!(counts, PerFamily { v4: 2, v6: 4 });
        assert_eq!((counts.total(), counts.max()), (6, 4));
        assert_eq!(counts.to_string(), "2 IPv4 + 4 IPv6");
        assert_eq!(PerFamily { v4: 3, v6: 0 }.to_string(), "3 IPv4");
        assert_eq!(counts.free_under(3), PerFamily { v4: 1, v6: 0 });
        assert!(counts.exceeds(3) && !counts.exceeds(4));
    }

    #[test]
    fn desired_rules_are_the_cross_product() {
        let v4: Vec<Ipv4Net> = vec!["10.0.0.0/8".parse().unwrap()];
        let v6: Vec<Ipv6Net> = vec!["2600:9000::/28".parse().unwrap()];
        let ports = parse_port_list("80,443").unwrap();
        let rules = desired_rules(&v4, &v6, &ports);
        assert_eq!(rules.len(), 4);
        assert!(
            rules
                .iter()
                .any(|r| r.to_string() == "2600:9000::/28 tcp/443")
        );
    }
}
