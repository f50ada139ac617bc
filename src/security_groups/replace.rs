//! `REPLACES`: groups sgsync does not manage that it may swap out of a tagged target for its own, in
//! the very write that attaches its groups (the one exception to "foreign groups are never detached",
//! made for migrations from the blog's function). What REPLACES names, the plain data of the groups it
//! may take off, and the pure verdict per target: a swap is allowed only when it takes nothing away
//! that the document still publishes, inbound, and nothing at all outbound.
//!
//! Names are claims anyone who may create groups can make, but not on a target: a group reaches an
//! interface or load balancer only through someone allowed to change its groups, so a hostile group
//! named `AUTOUPDATE_x` sits in the VPC attached to nothing, and REPLACES never sees it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use ipnet::IpNet;

use super::model::Desired;
use crate::addresses::Addresses;
#[cfg(test)]
use crate::addresses::Published;
use crate::guard::special_block;
use crate::rule::{PortRange, Rule};

/// One item of `REPLACES`: a group id, or a `name:` glob pattern (`*`, `?`, `[…]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupPattern {
    /// `sg-…`: this group.
    Id(String),
    /// `name:AUTOUPDATE_*`: groups whose name matches (a name cannot change after creation).
    Name(String),
}

/// The groups `REPLACES` names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Replaces(pub Vec<GroupPattern>);

impl FromStr for Replaces {
    type Err = String;

    /// A comma list of `sg-…` ids and `name:PATTERN` items; the error names the one bad item.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = Vec::new();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            if let Some(pattern) = item.strip_prefix("name:") {
                let pattern = pattern.trim();
                // A pattern that does not start with a few literal characters names far more than
                // one function's groups (`*`, `?*`, `[!_]*`, `w*`).
                let literal = pattern
                    .chars()
                    .take_while(|c| !matches!(c, '*' | '?' | '[' | ']'))
                    .count();
                if literal < 3 {
                    return Err(format!(
                        "'{item}' would name far more than the groups to replace, the team's own \
                         included: start the pattern with at least 3 characters of the names, e.g. \
                         name:AUTOUPDATE_*"
                    ));
                }
                glob::Pattern::new(pattern)
                    .map_err(|e| format!("'{item}' is not a valid name pattern ({e})"))?;
                out.push(GroupPattern::Name(pattern.to_string()));
            } else if is_group_id(item) {
                out.push(GroupPattern::Id(item.to_string()));
            } else if is_group_id(&item.to_ascii_lowercase()) {
                return Err(format!(
                    "'{item}': group ids are lower case (EC2 matches them exactly); write {}",
                    item.to_ascii_lowercase()
                ));
            } else if item.starts_with("tag:") {
                return Err(format!(
                    "'{item}': tags are anyone's to write, so they cannot name groups to replace; give \
                     group ids (sg-…) or name:PATTERN"
                ));
            } else {
                return Err(format!(
                    "'{item}' is neither a group id (sg- and 8 or 17 hex digits) nor name:PATTERN \
                     (e.g. name:AUTOUPDATE_*)"
                ));
            }
        }
        if out.is_empty() {
            return Err("no group named; give group ids (sg-…) or name:PATTERN".into());
        }
        Ok(Replaces(out))
    }
}

fn is_group_id(s: &str) -> bool {
    s.strip_prefix("sg-").is_some_and(|hex| {
        matches!(hex.len(), 8 | 17)
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

impl fmt::Display for Replaces {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let items: Vec<String> = (self.0.iter())
            .map(|p| match p {
                GroupPattern::Id(id) => id.clone(),
                GroupPattern::Name(n) => format!("name:{n}"),
            })
            .collect();
        f.write_str(&items.join(","))
    }
}

impl Replaces {
    /// Whether the group `id` named `name` is one to replace.
    pub fn names(&self, id: &str, name: &str) -> bool {
        self.0.iter().any(|p| match p {
            GroupPattern::Id(i) => i == id,
            GroupPattern::Name(pattern) => {
                glob::Pattern::new(pattern).is_ok_and(|p| p.matches(name))
            }
        })
    }
}

/// Where an outbound entry lets traffic go.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Destination {
    /// A CIDR.
    Net(IpNet),
    /// A prefix list or a group (`pl-…`, `sg-…`): only the same entry covers it.
    Other(String),
}

/// One outbound entry of a group: one protocol, port range and destination.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Egress {
    /// `all`, `tcp`, `udp`, `icmp`, `icmpv6` or a protocol number.
    pub protocol: String,
    /// The port range (ICMP: type and code); `None` for every port.
    pub ports: Option<(i32, i32)>,
    pub to: Destination,
}

impl Egress {
    /// Whether this entry allows everything `other` allows.
    fn covers(&self, other: &Egress) -> bool {
        let protocol = self.protocol == "all" || self.protocol == other.protocol;
        let ports = match (self.ports, other.ports) {
            _ if self.protocol == "all" => true,
            (None, _) => true,
            (Some(_), None) => false,
            // ICMP's "ports" are a type and a code, -1 for any: only the same or "any" covers.
            _ if self.protocol.starts_with("icmp") => self.ports == other.ports,
            (Some((a, b)), Some((c, d))) => a <= c && d <= b,
        };
        let to = match (&self.to, &other.to) {
            (Destination::Net(mine), Destination::Net(theirs)) => mine.contains(theirs),
            (mine, theirs) => mine == theirs,
        };
        protocol && ports && to
    }
}

impl fmt::Display for Egress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let to = match &self.to {
            Destination::Net(n) => n.to_string(),
            Destination::Other(o) => o.clone(),
        };
        match (self.protocol.as_str(), self.ports) {
            ("all", _) => write!(f, "all traffic to {to}"),
            (p, None) => write!(f, "{p} to {to}"),
            (p, Some((a, b))) if a == b => write!(f, "{p}/{a} to {to}"),
            (p, Some((a, b))) => write!(f, "{p}/{a}-{b} to {to}"),
        }
    }
}

/// A group sgsync does not manage, attached to a tagged target that carries a group REPLACES names:
/// what a swap would take off that target.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ForeignGroup {
    pub name: String,
    /// REPLACES names it.
    pub replaceable: bool,
    /// Its TCP inbound rules from CIDRs.
    pub rules: BTreeSet<Rule>,
    /// Its other inbound entries (all traffic, other protocols, group or prefix-list sources), as
    /// text: sgsync cannot tell what they are for, so a group that has one is never swapped out.
    pub unmodelled: Vec<String>,
    /// Its outbound entries.
    pub egress: Vec<Egress>,
    /// Attached to an interface or load balancer that is not a tagged target: a swap does not take
    /// it out of use.
    pub elsewhere: bool,
    /// Groups whose rules name it as a source or destination: its members have access through it,
    /// which no CIDR comparison sees, so it is never swapped out.
    pub referenced_by: Vec<String>,
}

/// The verdict on one target that carries groups REPLACES names: the ids to swap out, or why not
/// (what would be lost, named).
pub(super) fn verdict(
    target_groups: &[String],
    foreign: &BTreeMap<String, ForeignGroup>,
    desired: &Desired,
) -> Result<Vec<String>, String> {
    let (replaced, kept): (Vec<&String>, Vec<&String>) = (target_groups.iter())
        .filter(|id| foreign.contains_key(*id))
        .partition(|id| foreign[*id].replaceable);
    let mut missing: Vec<String> = Vec::new();
    let Some(wide) = &desired.published else {
        return Err(refusal(
            &replaced,
            foreign,
            &["what the document publishes beyond the selection, which could not be read".into()],
        ));
    };
    let selected = Addresses::of(desired.rules.iter().map(|r| &r.net));
    let ports: BTreeSet<PortRange> = desired.rules.iter().map(|r| r.ports).collect();
    for id in &replaced {
        let g = &foreign[*id];
        if let Some(entry) = g.unmodelled.first() {
            missing.push(format!(
                "inbound {entry} (of {}, which sgsync cannot compare with the published ranges)",
                g.name
            ));
        }
        if let Some(by) = g.referenced_by.first() {
            missing.push(format!(
                "the access its members have through rules of {by} that name {} ({id})",
                g.name
            ));
        }
        for rule in &g.rules {
            // A group that held the published ranges held them on PORTS and nowhere else: a rule on
            // another port is the team's own (SSH from the office), never one to drop.
            let on_ports = ports
                .iter()
                .any(|p| p.from <= rule.ports.from && rule.ports.to <= p.to);
            if !on_ports {
                missing.push(format!(
                    "inbound {rule} (of {}: tcp/{} is not on PORTS; add it to PORTS if the published \
                     ranges need it)",
                    g.name, rule.ports
                ));
                continue;
            }
            // What the document still publishes of it, for SERVICE in any region or family, must
            // be what this deployment allows: an IPv6 range with IP_VERSIONS=ipv4 is still
            // CloudFront's.
            let still = wide.service.intersection(&Addresses::of([&rule.net]));
            if let Some(lost) = selected.missing(&still).first() {
                missing.push(format!(
                    "inbound {lost} tcp/{} (of {}: the document still publishes it for SERVICE, but \
                     SERVICE_REGIONS or IP_VERSIONS leave it out)",
                    rule.ports, g.name
                ));
                continue;
            }
            // What it allows beyond them goes with it: ranges withdrawn from SERVICE, which the
            // document still publishes for another service (Amazon's own). Anything the document
            // never published is not a withdrawn range but something someone added (an office, a
            // monitor), and special-purpose space no provider publishes.
            let rest = wide.service.missing(&Addresses::of([&rule.net]));
            if let Some((block, purpose)) = rest.iter().find_map(special_block) {
                missing.push(format!(
                    "inbound {rule} (of {}: it allows {block}, {purpose} space, which no provider \
                     publishes)",
                    g.name
                ));
                continue;
            }
            if let Some(added) = wide.document.missing(&Addresses::of(&rest)).first() {
                missing.push(format!(
                    "inbound {added} tcp/{} (of {}: the document never published it, for any service: \
                     not a withdrawn range but one someone added)",
                    rule.ports, g.name
                ));
            }
        }
        for out in &g.egress {
            let kept_by = (kept.iter().filter_map(|k| foreign.get(*k)))
                .any(|k| k.egress.iter().any(|e| e.covers(out)));
            let said = format!("outbound {out}");
            if !kept_by && !missing.iter().any(|m| m.starts_with(&format!("{said} "))) {
                missing.push(format!(
                    "{said} (of {}; no group that stays allows it: allow it in one, or revoke it from \
                     the groups REPLACES names if the origin does not need it)",
                    g.name
                ));
            }
        }
    }
    match missing.is_empty() {
        true => Ok(replaced.into_iter().cloned().collect()),
        false => Err(refusal(&replaced, foreign, &missing)),
    }
}

fn refusal(
    replaced: &[&String],
    foreign: &BTreeMap<String, ForeignGroup>,
    missing: &[String],
) -> String {
    format!(
        "swapping out {} would take away {}{}; nothing was changed on it",
        (replaced.iter())
            .map(|id| format!("{} ({id})", foreign[*id].name))
            .collect::<Vec<_>>()
            .join(", "),
        missing[0],
        match missing.len() - 1 {
            0 => String::new(),
            n => format!(" and {n} more"),
        }
    )
}

/// What a swap drops because the selected services no longer publish it (the document still does,
/// for another service): said in the plan, so nobody is surprised.
pub(super) fn dropped(group: &ForeignGroup, desired: &Desired) -> Vec<String> {
    let Some(wide) = &desired.published else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for rule in &group.rules {
        let rest = wide.service.missing(&Addresses::of([&rule.net]));
        match rest.as_slice() {
            [] => {}
            [only] if *only == rule.net => out.push(format!("{rule} (of {})", group.name)),
            [first, ..] => out.push(format!(
                "{rule} (of {}) but what SERVICE publishes of it: {} prefix(es) such as {first}",
                group.name,
                rest.len()
            )),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(net: &str, port: u16) -> Rule {
        Rule {
            net: net.parse().unwrap(),
            ports: PortRange::single(port),
        }
    }

    fn all_out(to: &str) -> Egress {
        Egress {
            protocol: "all".into(),
            ports: None,
            to: Destination::Net(to.parse().unwrap()),
        }
    }

    fn world(
        blog: ForeignGroup,
        own_egress: Vec<Egress>,
    ) -> (Vec<String>, BTreeMap<String, ForeignGroup>) {
        let own = ForeignGroup {
            name: "web".into(),
            egress: own_egress,
            ..ForeignGroup::default()
        };
        let groups = vec!["sg-0000000a".to_string(), "sg-0000000b".to_string()];
        let foreign = BTreeMap::from([
            ("sg-0000000a".to_string(), own),
            ("sg-0000000b".to_string(), blog),
        ]);
        (groups, foreign)
    }

    fn blog(rules: &[Rule], egress: Vec<Egress>) -> ForeignGroup {
        ForeignGroup {
            name: "AUTOUPDATE_x".into(),
            replaceable: true,
            rules: rules.iter().copied().collect(),
            egress,
            ..ForeignGroup::default()
        }
    }

    fn desired() -> Desired {
        let rules: BTreeSet<Rule> = [rule("13.32.0.0/15", 443), rule("2600:9000::/28", 443)].into();
        Desired {
            published: Some(Published {
                service: Addresses::of(rules.iter().map(|r| &r.net)),
                // Amazon's other services still publish 54.0.0.0/8.
                document: Addresses::of(
                    rules
                        .iter()
                        .map(|r| r.net)
                        .chain(["54.0.0.0/8".parse().unwrap()])
                        .collect::<Vec<_>>()
                        .iter(),
                ),
            }),
            rules,
            synctoken: 1,
            group_stem: "AUTOUPDATE-cloudfront".into(),
            repack: false,
        }
    }

    #[test]
    fn items_are_ids_or_name_patterns_and_tags_or_everything_are_refused() {
        let r: Replaces = "sg-0123abcd, name:AUTOUPDATE_*".parse().unwrap();
        assert!(r.names("sg-0123abcd", "anything"));
        assert!(r.names("sg-9", "AUTOUPDATE_HTTPS_ab12"));
        assert!(!r.names("sg-9", "web"));
        assert_eq!(r.to_string(), "sg-0123abcd,name:AUTOUPDATE_*");
        for (bad, says) in [
            ("name:*", "far more than the groups"),
            ("name:?*", "far more than the groups"),
            ("name:[!_]*", "far more than the groups"),
            ("name:w*", "far more than the groups"),
            ("sg-0123ABCD", "lower case"),
            ("tag:AutoUpdate=true", "anyone's to write"),
            ("sg-12", "neither a group id"),
            ("AUTOUPDATE_*", "neither a group id"),
            ("name:AUTO[", "not a valid name pattern"),
            (" , ", "no group named"),
        ] {
            let e = bad.parse::<Replaces>().unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn what_the_document_publishes_beyond_the_selection_is_never_swapped_away() {
        // IP_VERSIONS=ipv4: the IPv6 range is still CloudFront's, in the document.
        let mut d = desired();
        d.rules.retain(|r| r.net.addr().is_ipv4());
        let old = blog(
            &[rule("13.32.0.0/15", 443), rule("2600:9000::/28", 443)],
            vec![],
        );
        let (groups, foreign) = world(old, vec![]);
        let e = verdict(&groups, &foreign, &d).unwrap_err();
        assert!(e.contains("inbound 2600:9000::/28 tcp/443"), "{e}");
        assert!(e.contains("still publishes it for SERVICE"), "{e}");
        // Without the document's wider reading, nothing is swapped.
        d.published = None;
        let old = blog(&[rule("13.32.0.0/15", 443)], vec![]);
        let (groups, foreign) = world(old, vec![]);
        assert!(verdict(&groups, &foreign, &d).is_err());
    }

    #[test]
    fn a_rule_only_partly_published_is_said_to_be_dropped() {
        let old = blog(&[rule("13.32.0.0/14", 443)], vec![]);
        let (_, foreign) = world(old, vec![]);
        assert_eq!(
            dropped(&foreign["sg-0000000b"], &desired()),
            [
                "13.32.0.0/14 tcp/443 (of AUTOUPDATE_x) but what SERVICE publishes of it: 1 prefix(es) such as 13.34.0.0/15"
            ]
        );
    }

    /// Red team round 6, n1: an uptime monitor's or an office's public range on the port is not a
    /// range Amazon withdrew: only what the document still publishes for another service is.
    #[test]
    fn what_the_document_never_published_is_never_dropped() {
        let old = blog(
            &[rule("13.32.0.0/15", 443), rule("8.8.8.0/24", 443)],
            vec![],
        );
        let (groups, foreign) = world(old, vec![]);
        let e = verdict(&groups, &foreign, &desired()).unwrap_err();
        assert!(e.contains("inbound 8.8.8.0/24 tcp/443"), "{e}");
        assert!(e.contains("never published it"), "{e}");
        let old = blog(
            &[rule("13.32.0.0/15", 443), rule("54.1.0.0/16", 443)],
            vec![],
        );
        let (groups, foreign) = world(old, vec![]);
        assert!(verdict(&groups, &foreign, &desired()).is_ok());
    }

    #[test]
    fn a_group_whose_members_others_allow_is_never_swapped_out() {
        let mut old = blog(&[rule("13.32.0.0/15", 443)], vec![]);
        old.referenced_by = vec!["db (sg-0000000d)".into()];
        let (groups, foreign) = world(old, vec![]);
        let e = verdict(&groups, &foreign, &desired()).unwrap_err();
        assert!(e.contains("rules of db (sg-0000000d)"), "{e}");
    }

    #[test]
    fn a_swap_that_keeps_every_published_rule_and_the_outbound_access_is_allowed() {
        // The blog's group also holds a range no longer published: dropped on purpose.
        let old = blog(
            &[rule("13.32.0.0/15", 443), rule("54.0.0.0/24", 443)],
            vec![all_out("0.0.0.0/0")],
        );
        let (groups, foreign) = world(old, vec![all_out("0.0.0.0/0")]);
        assert_eq!(
            verdict(&groups, &foreign, &desired()),
            Ok(vec!["sg-0000000b".to_string()])
        );
        assert_eq!(
            dropped(&foreign["sg-0000000b"], &desired()),
            ["54.0.0.0/24 tcp/443 (of AUTOUPDATE_x)"]
        );
    }

    #[test]
    fn a_published_range_on_a_port_sgsync_does_not_allow_refuses_the_swap() {
        let old = blog(&[rule("13.32.0.0/16", 80)], vec![]);
        let (groups, foreign) = world(old, vec![]);
        let e = verdict(&groups, &foreign, &desired()).unwrap_err();
        assert!(e.contains("inbound 13.32.0.0/16 tcp/80"), "{e}");
        assert!(e.contains("AUTOUPDATE_x (sg-0000000b)"), "{e}");
        assert!(e.contains("not on PORTS"), "{e}");
    }

    #[test]
    fn the_teams_own_rules_are_never_dropped_as_unpublished() {
        // Named by id by mistake: SSH from the office, and a private range on the published port.
        for (team, says) in [
            (rule("10.0.0.0/8", 22), "tcp/22 is not on PORTS"),
            (rule("10.0.0.0/8", 443), "10.0.0.0/8, private-use"),
            // A world-open rule on the port: its private part is the VPC's own (health checks).
            (rule("0.0.0.0/0", 443), "which no provider publishes"),
        ] {
            let old = blog(&[team], vec![]);
            let (groups, foreign) = world(old, vec![]);
            let e = verdict(&groups, &foreign, &desired()).unwrap_err();
            assert!(e.contains(says), "{e}");
        }
    }

    #[test]
    fn outbound_access_only_the_replaced_group_gave_refuses_the_swap() {
        let old = blog(&[rule("13.32.0.0/15", 443)], vec![all_out("0.0.0.0/0")]);
        // The team's own group allows HTTPS out only.
        let https = Egress {
            protocol: "tcp".into(),
            ports: Some((443, 443)),
            to: Destination::Net("0.0.0.0/0".parse().unwrap()),
        };
        let (groups, foreign) = world(old.clone(), vec![https.clone()]);
        let e = verdict(&groups, &foreign, &desired()).unwrap_err();
        assert!(e.contains("outbound all traffic to 0.0.0.0/0"), "{e}");
        // The other way round, a narrower entry is covered by a wider one.
        let narrow = blog(&[], vec![https]);
        let (groups, foreign) = world(narrow, vec![all_out("0.0.0.0/0")]);
        assert!(verdict(&groups, &foreign, &desired()).is_ok());
        // With no group staying, nothing covers the outbound access.
        let alone = BTreeMap::from([("sg-0000000b".to_string(), old)]);
        let e = verdict(&["sg-0000000b".to_string()], &alone, &desired()).unwrap_err();
        assert!(e.contains("no group that stays"), "{e}");
    }

    #[test]
    fn entries_sgsync_cannot_compare_refuse_the_swap() {
        let mut old = blog(&[], vec![]);
        old.unmodelled = vec!["all traffic from sg-0000000c".into()];
        let (groups, foreign) = world(old, vec![]);
        let e = verdict(&groups, &foreign, &desired()).unwrap_err();
        assert!(e.contains("inbound all traffic from sg-0000000c"), "{e}");
    }

    #[test]
    fn icmp_and_group_destinations_are_covered_only_by_the_same_entry_or_all_traffic() {
        let icmp = |t: i32| Egress {
            protocol: "icmp".into(),
            ports: Some((t, -1)),
            to: Destination::Net("0.0.0.0/0".parse().unwrap()),
        };
        assert!(!icmp(8).covers(&icmp(0)));
        assert!(icmp(8).covers(&icmp(8)));
        let to_group = Egress {
            protocol: "tcp".into(),
            ports: Some((5432, 5432)),
            to: Destination::Other("sg-0000000d".into()),
        };
        assert!(!all_out("0.0.0.0/0").covers(&to_group));
        assert!(to_group.covers(&to_group.clone()));
        assert!(!all_out("10.0.0.0/8").covers(&all_out("0.0.0.0/0")));
    }
}
