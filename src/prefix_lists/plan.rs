//! The pure planner of the prefix-list kind: desired CIDRs + observed lists → an ordered [`Plan`].
//!
//! Per IP family, CIDRs are packed stably into lists of at most `PREFIX_LIST_MAX_ENTRIES` entries, as
//! groups are packed with rules: an entry stays in the list that holds it, new entries fill free room
//! first, a list is created only when the others are full (with some headroom, see [`sized`]) and
//! deleted when left empty. The order is the same safety argument as for groups:
//!
//! 1. create lists (tagged at creation, with their first entries);
//! 2. raise `MaxEntries` where a list needs more room (checked beforehand against every referencing
//!    group's quota);
//! 3. per list, requests that add entries and remove those no longer published, together (one version
//!    step) where they fit, at most 100 of each per request;
//! 4. late requests that remove entries some of whose addresses are still published (held twice, or
//!    an aggregate that split or merged): after every addition, so the union of the lists never
//!    misses a published address;
//! 5. delete lists left empty, lists of an earlier selection nothing references, and empty unrecorded
//!    lists nothing references (a run stopped between create and record);
//! 6. record the applied synctoken.
//!
//! With `--adopt`, lists an sgsync that kept no record made are recorded first (step 0).
//!
//! A referencing security group sees the union of the lists it references: reference every list of a
//! family (docs/design.md).

use std::collections::{BTreeMap, BTreeSet};

use ipnet::IpNet;
use thiserror::Error;

use super::model::{
    Action, CHANGES_PER_REQUEST, Desired, ListAfter, MAX_ENTRIES_LIMIT, Observed, ObservedList,
    Plan, fresh_split, sized,
};
use crate::addresses::Addresses;
use crate::ownership::natural_key;
use crate::rule::Family;

/// Why no plan could be made. Nothing has been changed.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum PlanError {
    /// The selection yields no CIDR: applying it would empty the lists.
    #[error(
        "the desired state has no CIDRs; refusing to empty the managed prefix lists (check SERVICE, SERVICE_REGIONS and IP_VERSIONS)"
    )]
    NoDesiredEntries,
    /// The lists of a family are referenced and full: what does not fit would go into a new list,
    /// which those resources do not reference, so they would miss it.
    #[error(
        "the {family} prefix lists are full and referenced by {}, which would not see the new list {new} \
         that the run needs (they reference the lists by id); nothing was changed. Raise \
         PREFIX_LIST_MAX_ENTRIES so the lists grow in place (if the referencing groups can take the \
         weight). --force creates {new}, but what moves there (new ranges, and the rest of an aggregate \
         Amazon split, which leaves the full lists) is missed by those resources until they reference \
         it: reference it at once",
        referencing.join(", ")
    )]
    NewListUnreferenced {
        family: Family,
        new: String,
        referencing: Vec<String>,
    },
    /// A list would grow past what a security group that references it can take.
    #[error(
        "prefix list {list} ({id}) needs {to} entries, but security group {group} ({group_name}) references it and \
         would then count {count} {family} rules (a list counts its max entries in each rule that \
         references it), over its quota of {quota}; nothing was changed. Lower \
         PREFIX_LIST_MAX_ENTRIES (more, smaller lists), reference the list from fewer rules of that \
         group, or raise the rules-per-group quota (L-0EA8095F)"
    )]
    ResizeDoesNotFit {
        list: String,
        id: String,
        /// Its new `MaxEntries`.
        to: usize,
        /// The referencing group.
        group: String,
        group_name: String,
        family: Family,
        /// The rules of `family` the group would count.
        count: usize,
        /// Its rules-per-group quota.
        quota: usize,
    },
}

/// The fate of one existing list.
struct Packed<'a> {
    list: &'a ObservedList,
    kept: BTreeSet<IpNet>,
    duplicate: BTreeSet<IpNet>,
    /// Entries none of whose addresses is published any more: removed with the additions.
    stale: BTreeSet<IpNet>,
    /// Entries no longer published as such, some of whose addresses still are (an aggregate that
    /// split or merged): removed late, after every addition, so no consumer misses a published
    /// address; their slots are not free for this run.
    superseded: BTreeSet<IpNet>,
    added: BTreeSet<IpNet>,
}

/// Splits `removes` and `adds` for one list into requests of at most 100 of each, removals first, so
/// that the list never holds more than `max` entries after any request (it starts with `count`).
fn requests(
    mut count: usize,
    max: usize,
    removes: &BTreeSet<IpNet>,
    adds: &BTreeSet<IpNet>,
) -> Vec<(Vec<IpNet>, Vec<IpNet>)> {
    let mut removes: Vec<IpNet> = removes.iter().copied().collect();
    let mut adds: Vec<IpNet> = adds.iter().copied().collect();
    removes.reverse();
    adds.reverse();
    let mut out = Vec::new();
    while !removes.is_empty() || !adds.is_empty() {
        let take_removes = removes.len().min(CHANGES_PER_REQUEST);
        let remove: Vec<IpNet> = removes.split_off(removes.len() - take_removes);
        count -= remove.len();
        let room = max.saturating_sub(count).min(CHANGES_PER_REQUEST);
        let take_adds = adds.len().min(room);
        let add: Vec<IpNet> = adds.split_off(adds.len() - take_adds);
        count += add.len();
        if add.is_empty() && remove.is_empty() {
            // Nothing fits: cannot happen when max covers the final count (the planner sizes it so).
            break;
        }
        out.push((add, remove));
    }
    out
}

/// Plans the actions that take the observed lists to exactly `desired`.
pub fn plan(desired: &Desired, observed: &Observed) -> Result<Plan, PlanError> {
    if desired.nets.is_empty() {
        return Err(PlanError::NoDesiredEntries);
    }
    let cap = desired.cap.clamp(1, MAX_ENTRIES_LIMIT);
    let mut creates = Vec::new();
    let mut resizes = Vec::new();
    let mut early = Vec::new();
    let mut late = Vec::new();
    let mut deletes = Vec::new();
    let mut layout = BTreeMap::new();
    let taken: BTreeSet<&str> = (observed.lists.iter().map(|l| l.name.as_str()))
        .chain(observed.taken.iter().map(String::as_str))
        .chain(observed.unrecorded.iter().map(|u| u.name.as_str()))
        .chain(observed.retiring.iter().map(|r| r.name.as_str()))
        .collect();

    for family in Family::ALL {
        let wanted: BTreeSet<IpNet> = desired
            .nets
            .iter()
            .filter(|n| family.holds(n))
            .copied()
            .collect();
        let published = Addresses::of(&wanted);
        let mut lists: Vec<&ObservedList> = observed
            .lists
            .iter()
            .filter(|l| l.family == family)
            .collect();
        lists.sort_by(|a, b| natural_key(&a.name).cmp(&natural_key(&b.name)));

        let mut held = BTreeSet::new();
        let mut packed: Vec<Packed> = lists
            .into_iter()
            .map(|list| {
                let mut p = Packed {
                    list,
                    kept: BTreeSet::new(),
                    duplicate: BTreeSet::new(),
                    stale: BTreeSet::new(),
                    superseded: BTreeSet::new(),
                    added: BTreeSet::new(),
                };
                for net in &list.entries {
                    if !wanted.contains(net) && published.overlaps(net) {
                        p.superseded.insert(*net);
                    } else if !wanted.contains(net) {
                        p.stale.insert(*net);
                    } else if held.insert(*net) {
                        p.kept.insert(*net);
                    } else {
                        p.duplicate.insert(*net);
                    }
                }
                p
            })
            .collect();
        let mut missing: Vec<IpNet> = wanted.difference(&held).copied().collect();
        missing.reverse();
        // Existing lists that keep entries receive first, up to what they may grow to; a second copy
        // stays until the end, so its slot is not free for this run. Those that change anyway (they
        // lose an entry) come first: an addition there costs no request of its own.
        let mut order: Vec<usize> = (0..packed.len())
            .filter(|&i| !packed[i].kept.is_empty())
            .collect();
        order.sort_by_key(|&i| packed[i].stale.is_empty() && packed[i].superseded.is_empty());
        for i in order {
            let p = &mut packed[i];
            let budget = cap.max(p.list.max_entries);
            let free = budget.saturating_sub(p.kept.len() + p.duplicate.len() + p.superseded.len());
            let take = free.min(missing.len());
            p.added.extend(missing.split_off(missing.len() - take));
        }
        // Then lists left empty (a crashed run's, say), before new ones.
        for p in packed.iter_mut().filter(|p| p.kept.is_empty()) {
            let budget = cap.max(p.list.max_entries);
            let free = budget.saturating_sub(p.duplicate.len() + p.superseded.len());
            let take = free.min(missing.len());
            p.added.extend(missing.split_off(missing.len() - take));
        }
        let mut names = (1..).map(|n| format!("{}-{}-{n}", desired.stem, family.tag()));
        let (_, per_list) = fresh_split(missing.len(), cap);
        while !missing.is_empty() {
            let name = names
                .by_ref()
                .find(|n| !taken.contains(n.as_str()))
                .expect("an unbounded range of names has a free one");
            let take = per_list.min(missing.len());
            let entries: BTreeSet<IpNet> = missing
                .split_off(missing.len() - take)
                .into_iter()
                .collect();
            let max_entries = sized(entries.len(), cap);
            let mut rest: BTreeSet<IpNet> = entries.clone();
            let first: Vec<IpNet> = rest.iter().take(CHANGES_PER_REQUEST).copied().collect();
            for n in &first {
                rest.remove(n);
            }
            creates.push(Action::Create {
                list: name.clone(),
                family,
                max_entries,
                entries: first.clone(),
                synctoken: desired.synctoken,
            });
            for (add, remove) in requests(first.len(), max_entries, &BTreeSet::new(), &rest) {
                early.push(Action::Modify {
                    list: name.clone(),
                    add,
                    remove,
                    late: false,
                });
            }
            layout.insert(
                name,
                ListAfter {
                    family,
                    max_entries,
                    entries,
                },
            );
        }

        for p in &packed {
            let after: BTreeSet<IpNet> = p.kept.union(&p.added).copied().collect();
            // During the run the list holds what it keeps, its second copies, its superseded entries
            // and what it gets.
            let peak = after.len() + p.duplicate.len() + p.superseded.len();
            let mut max_entries = p.list.max_entries;
            if peak > max_entries {
                max_entries = sized(after.len(), cap.max(p.list.max_entries)).max(peak);
                resizes.push(Action::Resize {
                    list: p.list.name.clone(),
                    from: p.list.max_entries,
                    to: max_entries,
                });
            }
            let count = p.list.entries.len();
            // Early requests must stay under the size with the superseded entries still in.
            for (add, remove) in requests(count, max_entries, &p.stale, &p.added) {
                early.push(Action::Modify {
                    list: p.list.name.clone(),
                    add,
                    remove,
                    late: false,
                });
            }
            let late_removes: BTreeSet<IpNet> = p.duplicate.union(&p.superseded).copied().collect();
            if !late_removes.is_empty() {
                let count = after.len() + late_removes.len();
                for (add, remove) in requests(count, max_entries, &late_removes, &BTreeSet::new()) {
                    late.push(Action::Modify {
                        list: p.list.name.clone(),
                        add,
                        remove,
                        late: true,
                    });
                }
            }
            if after.is_empty() {
                deletes.push(Action::Delete {
                    list: p.list.name.clone(),
                });
            } else {
                layout.insert(
                    p.list.name.clone(),
                    ListAfter {
                        family,
                        max_entries,
                        entries: after,
                    },
                );
            }
        }
    }

    let retag: Vec<String> = observed
        .lists
        .iter()
        .filter(|l| layout.contains_key(&l.name) && l.synctoken != Some(desired.synctoken))
        .map(|l| l.name.clone())
        .collect();
    let adopt: Vec<String> = (observed.lists.iter().filter(|l| l.adopt))
        .map(|l| l.name.clone())
        .collect();
    let mut actions: Vec<Action> = Vec::new();
    if !adopt.is_empty() {
        actions.push(Action::Adopt { lists: adopt });
    }
    actions.extend(creates);
    actions.extend(resizes);
    actions.extend(early);
    actions.extend(late);
    actions.extend(deletes);
    // Nothing references these: deleting them takes nothing from anyone.
    for r in observed.retiring.iter().filter(|r| r.references.is_empty()) {
        actions.push(Action::Retire {
            list: r.name.clone(),
            id: r.id.clone(),
        });
    }
    for u in observed.unrecorded.iter().filter(|u| u.reclaimable) {
        actions.push(Action::Reclaim {
            list: u.name.clone(),
            id: u.id.clone(),
        });
    }
    if !observed.missing.is_empty() {
        actions.push(Action::Forget {
            ids: observed.missing.clone(),
        });
    }
    if !retag.is_empty() {
        actions.push(Action::RecordSynctoken {
            lists: retag,
            synctoken: desired.synctoken,
        });
    }
    Ok(Plan { actions, layout })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(i: u32) -> IpNet {
        format!("{}.{}.{}.0/24", 13 + i / 65536, (i / 256) % 256, i % 256)
            .parse()
            .unwrap()
    }

    #[test]
    fn requests_stay_under_the_limits_and_the_size() {
        let removes: BTreeSet<IpNet> = (0..150).map(net).collect();
        let adds: BTreeSet<IpNet> = (1000..1230).map(net).collect();
        let reqs = requests(150, 250, &removes, &adds);
        let mut count = 150;
        for (add, remove) in &reqs {
            assert!(add.len() <= 100 && remove.len() <= 100);
            count = count - remove.len() + add.len();
            assert!(count <= 250);
        }
        assert_eq!(count, 230);
        assert_eq!(reqs.iter().map(|(a, _)| a.len()).sum::<usize>(), 230);
        assert_eq!(reqs.iter().map(|(_, r)| r.len()).sum::<usize>(), 150);
        // Removals and additions share a request where they fit: one version step.
        assert_eq!((reqs[0].0.len(), reqs[0].1.len()), (100, 100));
    }
}
