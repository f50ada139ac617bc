//! Stable bin packing: which group each desired rule ends up in.
//!
//! A group has two budgets, one per IP family (AWS counts IPv4 and IPv6 rules separately against the
//! rules-per-group quota), so a dual-stack selection fills the IPv4 and the IPv6 slots of the same
//! groups.
//!
//! Stability is the point. A rule already in a managed group stays there, so a one-prefix change touches
//! one group and costs one or two API calls; new rules fill free slots of existing groups first; a new
//! group is created only when every existing group is full; a group left empty is deleted. Rules move
//! only when they must: a rule held twice (after a crash or a concurrent run) keeps its first copy (its
//! second when the first must move), a group over the rules quota sheds its excess, and when more groups
//! hold rules than a target can take (or than a repack wants), the emptiest groups are evacuated.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use ipnet::IpNet;

use super::model::ObservedGroup;
use crate::addresses::Addresses;
use crate::ownership::{natural_key, numbered};
use crate::rule::{Family, PerFamily, PortRange, Rule};

/// The fate of one existing group.
#[derive(Clone, Debug)]
pub(super) struct GroupPacking<'a> {
    /// The group as observed.
    pub observed: &'a ObservedGroup,
    /// Desired rules it holds and keeps.
    pub kept: BTreeSet<Rule>,
    /// Desired rules it holds that another group keeps (a second copy): revoked late.
    pub duplicate: BTreeSet<Rule>,
    /// Rules it holds none of whose addresses is published on their ports any more: revoked (early if
    /// slots are needed, else late).
    pub stale: BTreeSet<Rule>,
    /// Rules it holds that are no longer desired as such but some of whose addresses still are (an
    /// aggregate that split when a part of it was withdrawn): revoked late only, once what replaces
    /// them is in place on every target, so no still-published address is ever denied. Their slots
    /// are not free for this run.
    pub superseded: BTreeSet<Rule>,
    /// Desired rules it holds that must move to another group: revoked late, after they are authorized
    /// elsewhere and that group is attached everywhere.
    pub moved_out: BTreeSet<Rule>,
    /// Desired rules it receives.
    pub added: BTreeSet<Rule>,
    /// Of an earlier selection (its name is not `{stem}-{n}` of this one: `SERVICE` or `PREFIX_NAME`
    /// changed): it gives up everything and receives nothing, and is deleted once emptied.
    pub retiring: bool,
}

impl GroupPacking<'_> {
    /// The rules the group holds once the plan has run.
    pub(super) fn final_rules(&self) -> BTreeSet<Rule> {
        self.kept.union(&self.added).copied().collect()
    }

    /// The slots of each family the group holds until the end of the run: what it keeps and second
    /// copies (revoked only at the end). Entries sgsync does not manage take none: they are revoked
    /// before any authorization.
    fn held_until_end(&self) -> PerFamily {
        PerFamily::of(
            self.kept
                .iter()
                .chain(&self.duplicate)
                .chain(&self.superseded),
        )
    }

    /// Whether the group must give up its stale rules before it can take its new ones: the only case
    /// in which a revoke precedes an authorization, and it only ever removes unpublished ranges.
    pub(super) fn needs_early_revoke(&self, rules_per_group: usize) -> bool {
        let peak = PerFamily::of(&self.observed.rules).plus(PerFamily::of(&self.added));
        let added = PerFamily::of(&self.added);
        !self.stale.is_empty()
            && Family::ALL
                .iter()
                .any(|&f| added.get(f) > 0 && peak.get(f) > rules_per_group)
    }
}

/// The packing of all desired rules.
#[derive(Clone, Debug)]
pub(super) struct Packing<'a> {
    /// Existing groups, in stable order.
    pub existing: Vec<GroupPacking<'a>>,
    /// New groups, by name, with their rules, in creation order.
    pub created: Vec<(String, BTreeSet<Rule>)>,
}

/// How many rules could not be placed, when the groups a target can hold are not enough.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Shortfall {
    /// Rules of each family that would fit with the unmanaged entries taken into account.
    pub fits: PerFamily,
}

/// The rules still to place, per family, each handed out in ascending order.
struct Missing {
    v4: Vec<Rule>,
    v6: Vec<Rule>,
}

impl Missing {
    fn new(rules: impl Iterator<Item = Rule>) -> Missing {
        let (mut v4, mut v6): (Vec<Rule>, Vec<Rule>) =
            rules.partition(|r| r.family() == Family::V4);
        // pop() hands rules out in ascending order.
        v4.reverse();
        v6.reverse();
        Missing { v4, v6 }
    }

    fn of(&mut self, family: Family) -> &mut Vec<Rule> {
        match family {
            Family::V4 => &mut self.v4,
            Family::V6 => &mut self.v6,
        }
    }

    fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    fn counts(&self) -> PerFamily {
        PerFamily {
            v4: self.v4.len(),
            v6: self.v6.len(),
        }
    }

    fn retain(&mut self, mut keep: impl FnMut(&Rule) -> bool) {
        self.v4.retain(&mut keep);
        self.v6.retain(&mut keep);
    }
}

/// The addresses `desired` allows on each port range.
pub(crate) fn published_addresses(desired: &BTreeSet<Rule>) -> BTreeMap<PortRange, Addresses> {
    let mut nets: BTreeMap<PortRange, Vec<IpNet>> = BTreeMap::new();
    for r in desired {
        nets.entry(r.ports).or_default().push(r.net);
    }
    (nets.into_iter())
        .map(|(ports, nets)| (ports, Addresses::of(&nets)))
        .collect()
}

/// Packs `desired` into at most `max_groups` groups of `rules_per_group` rules per family, starting
/// from `groups`; new groups take the first free names `{group_stem}-{n}` that are not `taken_names`.
pub(super) fn pack<'a>(
    desired: &BTreeSet<Rule>,
    groups: &'a [ObservedGroup],
    rules_per_group: usize,
    max_groups: usize,
    group_stem: &str,
    taken_names: &BTreeSet<String>,
) -> Result<Packing<'a>, Shortfall> {
    let mut ordered: Vec<&ObservedGroup> = groups.iter().collect();
    ordered.sort_by(|a, b| natural_key(&a.name).cmp(&natural_key(&b.name)));
    let published = published_addresses(desired);
    let still_published = |rule: &Rule| {
        published
            .get(&rule.ports)
            .is_some_and(|a| a.overlaps(&rule.net))
    };

    // Classify every rule of every group; the first group (in stable order) keeps a rule held twice.
    let mut held: BTreeSet<Rule> = BTreeSet::new();
    let mut existing: Vec<GroupPacking> = ordered
        .into_iter()
        .map(|g| {
            let mut p = GroupPacking {
                observed: g,
                kept: BTreeSet::new(),
                duplicate: BTreeSet::new(),
                stale: BTreeSet::new(),
                superseded: BTreeSet::new(),
                moved_out: BTreeSet::new(),
                added: BTreeSet::new(),
                retiring: !numbered(&g.name, group_stem),
            };
            for rule in &g.rules {
                if !desired.contains(rule) && still_published(rule) {
                    p.superseded.insert(*rule);
                } else if !desired.contains(rule) {
                    p.stale.insert(*rule);
                } else if p.retiring {
                    p.moved_out.insert(*rule);
                } else if held.insert(*rule) {
                    p.kept.insert(*rule);
                } else {
                    p.duplicate.insert(*rule);
                }
            }
            // A group over the quota (the quota was lowered) sheds its last rules of that family.
            let room = PerFamily::both(rules_per_group);
            for family in Family::ALL {
                let mut over = PerFamily::of(&p.kept)
                    .get(family)
                    .saturating_sub(room.get(family));
                while over > 0 {
                    let rule = *p
                        .kept
                        .iter()
                        .rev()
                        .find(|r| r.family() == family)
                        .expect("the family is over its room");
                    p.kept.remove(&rule);
                    p.moved_out.insert(rule);
                    over -= 1;
                }
            }
            p
        })
        .collect();

    // More groups hold rules than a target can take (or a repack wants): evacuate the emptiest.
    let mut holders: Vec<usize> = (0..existing.len())
        .filter(|&i| !existing[i].kept.is_empty())
        .collect();
    if holders.len() > max_groups {
        holders.sort_by_key(|&i| (Reverse(existing[i].kept.len()), i));
        for &i in &holders[max_groups..] {
            let g = &mut existing[i];
            g.moved_out.extend(std::mem::take(&mut g.kept));
        }
    }

    let mut missing = Missing::new(
        desired
            .iter()
            .filter(|r| !existing.iter().any(|g| g.kept.contains(r)))
            .copied(),
    );

    // A rule that left its first copy (evacuated or shed) may still have a second copy elsewhere: that
    // copy is kept rather than authorized again, and a group that holds it is never asked to take it.
    for g in existing.iter_mut().filter(|g| !g.kept.is_empty()) {
        keep_copies(g, &mut missing, rules_per_group);
    }

    // Existing groups that keep rules receive first, then empty ones, then new groups.
    let mut used = existing.iter().filter(|g| !g.kept.is_empty()).count();
    // But first, what replaces a superseded rule goes into the group that holds it, where there is
    // room: every target that has the group then has the replacement before the old rule goes.
    for g in existing
        .iter_mut()
        .filter(|g| !g.superseded.is_empty() && !g.retiring)
    {
        let overlapping = |m: &Rule| {
            (g.superseded.iter())
                .any(|s| s.ports == m.ports && Addresses::of([&s.net]).overlaps(&m.net))
        };
        for family in Family::ALL {
            let free = g
                .held_until_end()
                .plus(PerFamily::of(&g.added))
                .free_under(rules_per_group);
            let mut room = free.get(family);
            if room == 0 || (g.kept.is_empty() && g.added.is_empty() && used == max_groups) {
                continue;
            }
            let was_empty = g.kept.is_empty() && g.added.is_empty();
            let queue = missing.of(family);
            let mut taken = Vec::new();
            queue.retain(|m| {
                if room > 0 && overlapping(m) {
                    room -= 1;
                    taken.push(*m);
                    false
                } else {
                    true
                }
            });
            if was_empty && !taken.is_empty() {
                used += 1;
            }
            g.added.extend(taken);
        }
    }
    let receivers: Vec<usize> = (0..existing.len())
        .filter(|&i| !existing[i].kept.is_empty())
        .chain((0..existing.len()).filter(|&i| {
            let g = &existing[i];
            g.kept.is_empty() && g.moved_out.is_empty() && !g.retiring
        }))
        .collect();
    for i in receivers {
        if missing.is_empty() {
            break;
        }
        let g = &mut existing[i];
        if g.kept.is_empty() && g.added.is_empty() {
            if used == max_groups {
                continue;
            }
            used += 1;
            keep_copies(g, &mut missing, rules_per_group);
        }
        // Second copies are revoked only at the end, so their slots are not free for this run.
        let free = g
            .held_until_end()
            .plus(PerFamily::of(&g.added))
            .free_under(rules_per_group);
        for family in Family::ALL {
            let queue = missing.of(family);
            let take = free.get(family).min(queue.len());
            g.added.extend(queue.split_off(queue.len() - take));
        }
        if g.kept.is_empty() && g.added.is_empty() {
            used -= 1; // no slot after all: the group stays unused
        }
    }

    // Names held by managed groups, or by groups this deployment does not own (never reused).
    let taken: BTreeSet<&str> = groups
        .iter()
        .map(|g| g.name.as_str())
        .chain(taken_names.iter().map(String::as_str))
        .collect();
    let mut names = (1..).map(|n| format!("{group_stem}-{n}"));
    let mut created = Vec::new();
    while !missing.is_empty() && used < max_groups && rules_per_group > 0 {
        let name = names
            .by_ref()
            .find(|n| !taken.contains(n.as_str()))
            .expect("an unbounded range of names has a free one");
        let mut rules = BTreeSet::new();
        for family in Family::ALL {
            let queue = missing.of(family);
            let take = rules_per_group.min(queue.len());
            rules.extend(queue.split_off(queue.len() - take));
        }
        created.push((name, rules));
        used += 1;
    }

    if !missing.is_empty() {
        let desired = PerFamily::of(desired);
        let short = missing.counts();
        return Err(Shortfall {
            fits: PerFamily {
                v4: desired.v4 - short.v4,
                v6: desired.v6 - short.v6,
            },
        });
    }
    Ok(Packing { existing, created })
}

/// Keeps, in `g`, the second copies of rules no other group keeps, as far as the group's room in each
/// family allows; they leave `missing` and cost no write.
fn keep_copies(g: &mut GroupPacking<'_>, missing: &mut Missing, rules_per_group: usize) {
    let room = PerFamily::both(rules_per_group);
    let mut kept = PerFamily::of(&g.kept);
    missing.retain(|rule| {
        let f = rule.family();
        if kept.get(f) < room.get(f) && g.duplicate.remove(rule) {
            g.kept.insert(*rule);
            *kept.get_mut(f) += 1;
            false
        } else {
            true
        }
    });
}
