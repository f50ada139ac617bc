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
