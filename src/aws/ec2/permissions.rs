//! [`Rule`]s ↔ EC2's `IpPermission`s: what a group's inbound entries mean to sgsync, and the
//! permissions that name exactly a set of rules (so every request is its own audit record).

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::{IpPermission, IpRange, Ipv6Range, PrefixListId, UserIdGroupPair};
use ipnet::IpNet;

use crate::rule::{PerFamily, PortRange, Rule};
use crate::security_groups::{Destination, Egress};

/// A group's inbound entries as sgsync sees them.
#[derive(Debug, Default)]
pub(super) struct Split {
    /// The TCP/CIDR rules sgsync models.
    pub(super) rules: BTreeSet<Rule>,
    /// Everything else (other protocols, all traffic, group or prefix-list sources), as permissions
    /// that revoke exactly it.
    pub(super) unmanaged: Vec<IpPermission>,
}

impl Split {
    /// How many entries (sources) the unmanaged permissions hold: EC2 counts each against the quota.
    pub(super) fn unmanaged_entries(&self) -> usize {
        self.unmanaged.iter().map(entries).sum()
    }

    /// The slots the unmanaged entries take in each family's quota: a CIDR in its own family, a group
    /// or prefix-list source in both (AWS counts a group reference once per family; a prefix list's
    /// weight is its max entries, which would need another read: these entries are revoked anyway).
    pub(super) fn unmanaged_slots(&self) -> PerFamily {
        let mut slots = PerFamily::default();
        for p in &self.unmanaged {
            let both = p.user_id_group_pairs().len() + p.prefix_list_ids().len();
            slots.v4 += p.ip_ranges().len() + both;
            slots.v6 += p.ipv6_ranges().len() + both;
        }
        slots
    }
}

/// The TCP port range a permission covers, if it is one sgsync models.
fn tcp_ports(p: &IpPermission) -> Option<PortRange> {
    match (p.ip_protocol(), p.from_port(), p.to_port()) {
        (Some("tcp" | "6"), Some(from), Some(to)) => match (u16::try_from(from), u16::try_from(to))
        {
            (Ok(from), Ok(to)) if from > 0 && from <= to => Some(PortRange { from, to }),
            _ => None,
        },
        _ => None,
    }
}

/// The sources of one family (`IpRange`s or `Ipv6Range`s) that are not modelled rules, with the
/// modelled ones added to `rules`: one loop for both families, whose SDK types differ.
fn split_family<R>(
    sources: &[R],
    ports: Option<PortRange>,
    cidr: impl Fn(&R) -> Option<&str>,
    bare: impl Fn(Option<String>) -> R,
    rules: &mut BTreeSet<Rule>,
) -> Vec<R> {
    let mut rest = Vec::new();
    for source in sources {
        match (ports, cidr(source).map(str::parse::<IpNet>)) {
            (Some(ports), Some(Ok(net))) => {
                rules.insert(Rule { net, ports });
            }
            _ => rest.push(bare(cidr(source).map(str::to_string))),
        }
    }
    rest
}

/// Splits inbound permissions into the rules sgsync models and the rest.
pub(super) fn split(permissions: &[IpPermission]) -> Split {
    let mut out = Split::default();
    for p in permissions {
        let ports = tcp_ports(p);
        let v4 = split_family(
            p.ip_ranges(),
            ports,
            IpRange::cidr_ip,
            |cidr| IpRange::builder().set_cidr_ip(cidr).build(),
            &mut out.rules,
        );
        let v6 = split_family(
            p.ipv6_ranges(),
            ports,
            Ipv6Range::cidr_ipv6,
            |cidr| Ipv6Range::builder().set_cidr_ipv6(cidr).build(),
            &mut out.rules,
        );
        let pairs: Vec<UserIdGroupPair> = p
            .user_id_group_pairs()
            .iter()
            .map(|g| {
                UserIdGroupPair::builder()
                    .set_group_id(g.group_id().map(Into::into))
                    .set_user_id(g.user_id().map(Into::into))
                    .build()
            })
            .collect();
        let lists: Vec<PrefixListId> = p
            .prefix_list_ids()
            .iter()
            .map(|l| {
                PrefixListId::builder()
                    .set_prefix_list_id(l.prefix_list_id().map(Into::into))
                    .build()
            })
            .collect();
        if v4.is_empty() && v6.is_empty() && pairs.is_empty() && lists.is_empty() {
            continue;
        }
        out.unmanaged.push(
            IpPermission::builder()
                .set_ip_protocol(p.ip_protocol().map(Into::into))
                .set_from_port(p.from_port())
                .set_to_port(p.to_port())
                .set_ip_ranges(Some(v4))
                .set_ipv6_ranges(Some(v6))
                .set_user_id_group_pairs(Some(pairs))
                .set_prefix_list_ids(Some(lists))
                .build(),
        );
    }
    out
}

/// A permission's protocol as people write it (`-1` is all traffic).
fn protocol(p: &IpPermission) -> String {
    match p.ip_protocol().unwrap_or("-1") {
        "-1" | "all" => "all".into(),
        "6" => "tcp".into(),
        "17" => "udp".into(),
        "1" => "icmp".into(),
        "58" => "icmpv6".into(),
        other => other.to_ascii_lowercase(),
    }
}

/// A permission's ports; `None` for all of them.
fn port_span(p: &IpPermission) -> Option<(i32, i32)> {
    match (p.from_port(), p.to_port()) {
        (Some(from), Some(to)) if !(from == -1 && to == -1) || protocol(p).starts_with("icmp") => {
            Some((from, to))
        }
        _ => None,
    }
}

/// Each source or destination of permissions, one per entry: CIDRs as networks, prefix lists and
/// groups by id.
fn ends(p: &IpPermission) -> Vec<Destination> {
    let nets = (p.ip_ranges().iter().filter_map(|r| r.cidr_ip()))
        .chain(p.ipv6_ranges().iter().filter_map(|r| r.cidr_ipv6()))
        .map(|c| match c.parse::<IpNet>() {
            Ok(net) => Destination::Net(net),
            Err(_) => Destination::Other(c.to_string()),
        });
    let others = (p
        .prefix_list_ids()
        .iter()
        .filter_map(|l| l.prefix_list_id()))
    .chain(p.user_id_group_pairs().iter().filter_map(|g| g.group_id()))
    .map(|id| Destination::Other(id.to_string()));
    nets.chain(others).collect()
}

/// Outbound permissions as one entry per destination.
pub(super) fn egress(permissions: &[IpPermission]) -> Vec<Egress> {
    (permissions.iter())
        .flat_map(|p| {
            ends(p).into_iter().map(|to| Egress {
                protocol: protocol(p),
                ports: port_span(p),
                to,
            })
        })
        .collect()
}

/// Inbound entries sgsync does not model, in words (`udp/53 from 10.0.0.0/8`).
pub(super) fn described(unmanaged: &[IpPermission]) -> Vec<String> {
    (unmanaged.iter())
        .flat_map(|p| {
            ends(p).into_iter().map(|from| {
                let entry = Egress {
                    protocol: protocol(p),
                    ports: port_span(p),
                    to: from,
                };
                entry.to_string().replacen(" to ", " from ", 1)
            })
        })
        .collect()
}

/// How many entries (sources) permissions hold: EC2 counts each against the quota.
pub(super) fn count(permissions: &[IpPermission]) -> usize {
    permissions.iter().map(entries).sum()
}

/// How many entries (sources) a permission holds.
fn entries(p: &IpPermission) -> usize {
    p.ip_ranges().len()
        + p.ipv6_ranges().len()
        + p.user_id_group_pairs().len()
        + p.prefix_list_ids().len()
}

/// The permissions naming `rules`: one per port range, IPv4 and IPv6 CIDRs together, so one call
/// carries all of a group's changes and the request alone says exactly what changed.
pub(super) fn permissions(rules: &[Rule], description: Option<&str>) -> Vec<IpPermission> {
    let mut by_ports: BTreeMap<PortRange, (Vec<IpRange>, Vec<Ipv6Range>)> = BTreeMap::new();
    for rule in rules {
        let entry = by_ports.entry(rule.ports).or_default();
        let description = description.map(str::to_string);
        match rule.net {
            IpNet::V4(net) => entry.0.push(
                IpRange::builder()
                    .cidr_ip(net.to_string())
                    .set_description(description)
                    .build(),
            ),
            IpNet::V6(net) => entry.1.push(
                Ipv6Range::builder()
                    .cidr_ipv6(net.to_string())
                    .set_description(description)
                    .build(),
            ),
        }
    }
    by_ports
        .into_iter()
        .map(|(ports, (v4, v6))| {
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(i32::from(ports.from))
                .to_port(i32::from(ports.to))
                .set_ip_ranges((!v4.is_empty()).then_some(v4))
                .set_ipv6_ranges((!v6.is_empty()).then_some(v6))
                .build()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(s: &str, port: u16) -> Rule {
        Rule {
            net: s.parse().unwrap(),
            ports: PortRange::single(port),
        }
    }

    #[test]
    fn permissions_group_by_port_and_round_trip() {
        let rules = vec![
            rule("13.32.0.0/15", 80),
            rule("2600:9000::/28", 80),
            rule("13.32.0.0/15", 443),
        ];
        let perms = permissions(&rules, Some("sgsync"));
        assert_eq!(perms.len(), 2);
        assert_eq!(perms[0].ip_ranges().len(), 1);
        assert_eq!(perms[0].ipv6_ranges().len(), 1);
        let back = split(&perms);
        assert_eq!(back.unmanaged_entries(), 0);
        assert_eq!(back.rules, rules.into_iter().collect());
    }

    #[test]
    fn other_protocols_and_sources_are_counted_not_modelled() {
        let all = IpPermission::builder()
            .ip_protocol("-1")
            .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
            .ipv6_ranges(Ipv6Range::builder().cidr_ipv6("::/0").build())
            .build();
        let udp = IpPermission::builder()
            .ip_protocol("udp")
            .from_port(53)
            .to_port(53)
            .ip_ranges(IpRange::builder().cidr_ip("10.0.0.0/8").build())
            .build();
        let mixed = IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(80)
            .to_port(80)
            .ip_ranges(IpRange::builder().cidr_ip("13.32.0.0/15").build())
            .prefix_list_ids(PrefixListId::builder().prefix_list_id("pl-1").build())
            .build();
        let s = split(&[all, udp, mixed]);
        assert_eq!(s.rules, BTreeSet::from([rule("13.32.0.0/15", 80)]));
        assert_eq!(s.unmanaged_entries(), 4);
        assert_eq!(s.unmanaged_slots(), PerFamily { v4: 3, v6: 2 });
        // The leftover permissions name exactly the unmodelled sources, so revoking them leaves the rule.
        assert_eq!(s.unmanaged[2].ip_ranges().len(), 0);
        assert_eq!(s.unmanaged[2].prefix_list_ids().len(), 1);
    }
}
