//! The pure planner: desired rules + observed groups, targets and quotas → an ordered [`Plan`].
//!
//! It performs no IO and knows no AWS type (sans-IO), so it is unit- and property-tested on its own,
//! and `sgsync plan` shows exactly the actions `sgsync apply` then runs.
//!
//! The order of a plan is the safety argument (invariants 1 and 2 of docs/design.md):
//!
//! 0. adopt groups an sgsync that kept no record made (`--adopt`: record them);
//! 1. create new groups (each recorded, without outbound entries, before anything else is done to it);
//! 2. early revokes, of nothing still published: ranges the new document no longer publishes (no
//!    address of theirs is still published), where a group needs their slots or is about to reach a
//!    target that does not have it yet; outbound entries and entries sgsync does not manage (added by
//!    hand);
//! 3. authorize every group's new rules (one call per group);
//! 4. set every target's groups to its foreign groups + every managed group that holds rules (one atomic
//!    call per target, re-read just before: attach-only updates first, then swaps, then detach-only);
//! 5. late revokes: stale ranges, second copies and moved rules (one call per group);
//! 6. delete groups left empty (already detached in step 4), and empty unrecorded groups attached
//!    nowhere (a run stopped between create and record), whose names are free again;
//! 7. record the applied synctoken on the groups whose tag differs.
//!
//! Before step 5, every target already allows every desired rule, so nothing a target allowed that is
//! still published is ever missing, at any moment of the run (no lost access). A group reaches a target
//! only once it holds published ranges alone (never widen).

use std::collections::{BTreeMap, BTreeSet};

use thiserror::Error;

use super::model::{
    Action, Desired, Observed, ObservedGroup, ObservedTarget, Plan, Quotas, SkippedTarget, TargetId,
};
use super::packing;
use super::replace;
use crate::addresses::Addresses;
use crate::ownership::natural_key;
use crate::rule::{PerFamily, Rule};

/// Why no plan could be made. Nothing has been changed when the planner says no.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum PlanError {
    /// The selection yields no rules: applying it would remove all access.
    #[error(
        "the desired state has no rules; refusing to empty the managed groups (check SERVICE, SERVICE_REGIONS and IP_VERSIONS)"
    )]
    NoDesiredRules,
    /// The quotas break AWS's product rule, so AWS would refuse what a plan at them asks for.
    #[error(
        "the quotas {} rules per group × {} groups per target = {} exceed AWS's limit of {} for their \
         product; AWS would refuse such a layout: set RULES_PER_GROUP and GROUPS_PER_TARGET to the values \
         Service Quotas shows for L-0EA8095F and L-2AFB9258 (or unset them); nothing was changed",
        .0.rules_per_group, .0.groups_per_target, .0.rules_per_group * .0.groups_per_target, Quotas::PRODUCT_LIMIT
    )]
    ImpossibleQuotas(Quotas),
    /// The plan would take access away from a target sgsync may not modify.
    #[error(
        "{target} carries managed group {group} but not the target tag (sgsync:target = PREFIX_NAME), so \
         sgsync may not change it, and this run would {what}; nothing was changed. Tag it (it then gets \
         every managed group and keeps every published range) or detach {group} from it"
    )]
    UntaggedTarget {
        target: TargetId,
        /// The managed group it carries.
        group: String,
        /// What the run would do to it.
        what: String,
    },
    /// The desired rules do not fit in the groups every target can take.
    #[error("{}", capacity_message(.rules, .fits, .quotas, .foreign, .fullest))]
    OverCapacity {
        /// Rules needed, per family.
        rules: PerFamily,
        /// Rules that fit, per family.
        fits: PerFamily,
        /// The quotas used.
        quotas: Quotas,
        /// Foreign groups on the fullest target.
        foreign: usize,
        /// The target with the most foreign groups, if any.
        fullest: Option<TargetId>,
    },
}

fn capacity_message(
    rules: &PerFamily,
    fits: &PerFamily,
    quotas: &Quotas,
    foreign: &usize,
    fullest: &Option<TargetId>,
) -> String {
    let groups = quotas.groups_per_target.saturating_sub(*foreign);
    let on = match fullest {
        Some(t) if *foreign > 0 => format!(" − {foreign} foreign on {t}"),
        _ => String::new(),
    };
    let rpg = quotas.rules_per_group;
    let fits = if fits.v4 == fits.v6 {
        format!("{} rules of each family", fits.v4)
    } else {
        format!("{fits} rules")
    };
    format!(
        "the desired state does not fit: {rules} rules need {} groups of {rpg} IPv4 and {rpg} IPv6 rules, \
         but at most {fits} fit ({groups} groups = {} groups per target{on}); nothing was changed. \
         To fix: select fewer ranges (SERVICE, SERVICE_REGIONS, IP_VERSIONS=ipv4; for CloudFront SERVICE=CLOUDFRONT_ORIGIN_FACING), \
         use fewer PORTS (each port or range doubles the rules), free group slots on the targets (moving \
         from the blog's function: REPLACES=name:<its PREFIX_NAME>_* swaps its groups out in the same \
         write, docs/migrating-from-the-blog.md), or raise the quotas in Service Quotas (L-0EA8095F rules per group, L-2AFB9258 groups per interface) and set \
         RULES_PER_GROUP / GROUPS_PER_TARGET if Service Quotas is not readable",
        quotas.groups_for(*rules),
        quotas.groups_per_target
    )
}

/// Plans the actions that take the observed managed groups and targets to exactly `desired`.
///
/// Returns a plan whose actions, run in order, keep every invariant of docs/design.md at every step;
/// or, when the desired state cannot fit the quotas, an error and no partial plan.
///
/// One crowded target never stops the rest: when the groups do not fit on every target, the targets
/// with the most groups of their own are left out, one at a time, until they fit on the others. A
/// target left out is never modified and holds on to what it has (as an untagged one: no published
/// rule leaves the groups it carries, none of them is deleted), and the plan names it
/// ([`Plan::skipped_targets`]). When no target could take the groups, or they would not fit even
/// without any, the run is refused as a whole.
pub fn plan(desired: &Desired, observed: &Observed) -> Result<Plan, PlanError> {
    let (swapped, swapping, refused) = swaps(desired, observed);
    let mut p = plan_capacity(desired, &swapped, &swapping)?;
    p.skipped_targets.splice(0..0, refused);
    released(desired, observed, &mut p);
    Ok(p)
}

/// Target → the foreign group ids its update swaps out (`REPLACES`).
type Swapping = BTreeMap<TargetId, Vec<String>>;

/// `observed` with the groups `REPLACES` names taken off each tagged target whose swap the verdict
/// allows (the target update then swaps them out), and the targets whose swap it refuses left out,
/// like targets without room: never modified, and keeping every published rule of the managed
/// groups they carry. Also returns, per target, the ids its update swaps out.
fn swaps(desired: &Desired, observed: &Observed) -> (Observed, Swapping, Vec<SkippedTarget>) {
    let mut out = observed.clone();
    let mut swapping = Swapping::new();
    if observed.foreign.values().all(|g| !g.replaceable) {
        return (out, swapping, Vec::new());
    }
    let mut refused = Vec::new();
    let targets = std::mem::take(&mut out.targets);
    for mut t in targets {
        let names_one = |id: &String| observed.foreign.get(id).is_some_and(|g| g.replaceable);
        if !t.groups.iter().any(names_one) {
            out.targets.push(t);
            continue;
        }
        match replace::verdict(&t.groups, &observed.foreign, desired) {
            Ok(ids) => {
                t.groups.retain(|id| !ids.contains(id));
                swapping.insert(t.id.clone(), ids);
                out.targets.push(t);
            }
            Err(why) => {
                refused.push(SkippedTarget {
                    reason: format!("{}: {why}", t.id),
                    target: t.id.clone(),
                });
                out.untagged.push(t);
            }
        }
    }
    (out, swapping, refused)
}

/// What a plan's swaps leave: the replaced groups now attached nowhere, and the rules they held that
/// the document no longer publishes.
fn released(desired: &Desired, observed: &Observed, plan: &mut Plan) {
    let swapped: BTreeMap<&TargetId, &Vec<String>> = (plan.actions.iter())
        .filter_map(|a| match a {
            Action::SetTargetGroups {
                target, replace, ..
            } if !replace.is_empty() => Some((target, replace)),
            _ => None,
        })
        .collect();
    let ids: BTreeSet<&String> = swapped.values().flat_map(|ids| ids.iter()).collect();
    for id in ids {
        let Some(g) = observed.foreign.get(id) else {
            continue;
        };
        let everywhere = (observed.targets.iter())
            .filter(|t| t.groups.contains(id))
            .all(|t| swapped.get(&t.id).is_some_and(|ids| ids.contains(id)));
        if everywhere && !g.elsewhere {
            plan.released.push(format!("{} ({id})", g.name));
        }
        plan.dropped.extend(replace::dropped(g, desired));
    }
}

/// [`plan`] after the swaps: targets without room are left out until the groups fit on the rest.
fn plan_capacity(
    desired: &Desired,
    observed: &Observed,
    swapping: &Swapping,
) -> Result<Plan, PlanError> {
    let first = match plan_for(desired, observed, swapping) {
        Err(e @ PlanError::OverCapacity { .. }) => e,
        other => return other,
    };
    let mut narrowed = observed.clone();
    let mut skipped = Vec::new();
    loop {
        let fullest = (narrowed.targets.iter().enumerate())
            .max_by_key(|(_, t)| narrowed.foreign_of(t).count())
            .map(|(i, _)| i);
        let Some(i) = fullest else {
            return Err(first);
        };
        let target = narrowed.targets.remove(i);
        if narrowed.targets.is_empty() {
            return Err(first);
        }
        skipped.push((target.clone(), narrowed.foreign_of(&target).count()));
        narrowed.untagged.push(target);
        match plan_for(desired, &narrowed, swapping) {
            Ok(mut p) => {
                let quotas = observed.quotas;
                let groups = p.layout.len();
                p.skipped_targets = (skipped.into_iter())
                    .map(|(t, own)| SkippedTarget {
                        reason: format!(
                            "{} carries {own} groups sgsync does not manage, leaving room for {} of the {groups} \
                             managed groups under its quota of {} groups: it was skipped (it keeps the \
                             managed groups it has, and every published range they hold, but gets no new \
                             ones); free group slots on it (detach groups it no longer needs; the blog \
                             function's are swapped out in the same write with REPLACES=name:<its \
                             PREFIX_NAME>_*) or raise the groups-per-interface quota (L-2AFB9258)",
                            t.id,
                            quotas.groups_per_target.saturating_sub(own),
                            quotas.groups_per_target
                        ),
                        target: t.id,
                    })
                    .collect();
                return Ok(p);
            }
            Err(PlanError::OverCapacity { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// [`plan`] for every target of `observed`.
fn plan_for(
    desired: &Desired,
    observed: &Observed,
    swapping: &Swapping,
) -> Result<Plan, PlanError> {
    let quotas = observed.quotas;
    if desired.rules.is_empty() {
        return Err(PlanError::NoDesiredRules);
    }
    if quotas.rules_per_group * quotas.groups_per_target > Quotas::PRODUCT_LIMIT {
        return Err(PlanError::ImpossibleQuotas(quotas));
    }
    let name_of: BTreeMap<&str, &str> = observed
        .groups
        .iter()
        .map(|g| (g.id.as_str(), g.name.as_str()))
        .collect();

    // The target with the most foreign groups bounds how many managed groups every target can take.
    let capacity = observed.capacity();
    let rules = PerFamily::of(&desired.rules);
    let over = |fits: PerFamily| PlanError::OverCapacity {
        rules,
        fits,
        quotas,
        foreign: capacity.fullest.as_ref().map_or(0, |(_, n)| *n),
        fullest: capacity.fullest.as_ref().map(|(t, _)| t.clone()),
    };
    if rules.exceeds(capacity.max_rules) {
        return Err(over(PerFamily::both(capacity.max_rules)));
    }
    // An unrecorded group's name is taken in EC2 whether or not the adapter listed it.
    let taken: BTreeSet<String> = (observed.taken_names.iter().cloned())
        .chain(observed.unrecorded.iter().map(|u| u.name.clone()))
        .collect();
    let pack = |max_groups| {
        packing::pack(
            &desired.rules,
            &observed.groups,
            quotas.rules_per_group,
            max_groups,
            &desired.group_stem,
            &taken,
        )
    };
    // A repack asks for the fewest groups the rules need; when entries sgsync does not manage (or
    // second copies) take the slots that would need, it settles for what the targets allow.
    let fewest = quotas.groups_for(rules).min(capacity.max_groups);
    let packing = match desired.repack {
        true => pack(fewest).or_else(|_| pack(capacity.max_groups)),
        false => pack(capacity.max_groups),
    }
    .map_err(|s| over(s.fits))?;

    // The layout after the plan: every group that holds a rule, in stable order.
    let mut layout: BTreeMap<String, BTreeSet<Rule>> = BTreeMap::new();
    let mut final_groups: Vec<&str> = Vec::new();
    for g in &packing.existing {
        let rules = g.final_rules();
        if !rules.is_empty() {
            final_groups.push(&g.observed.name);
            layout.insert(g.observed.name.clone(), rules);
        }
    }
    for (name, rules) in &packing.created {
        final_groups.push(name);
        layout.insert(name.clone(), rules.clone());
    }
    check_untagged(observed, desired, &name_of, &layout)?;
    // Groups some target gets for the first time: by then they must allow published ranges only,
    // so their stale rules go early (a target never widens).
    let newly_attached = |name: &str| {
        observed.targets.iter().any(|t| {
            !t.groups
                .iter()
                .any(|id| name_of.get(id.as_str()) == Some(&name))
        })
    };

    let mut actions = Vec::new();
    // Groups an untagged interface or load balancer carries stay, even empty: sgsync may not detach
    // them there.
    let untagged_carry: BTreeSet<&str> = (observed.untagged.iter())
        .flat_map(|t| &t.groups)
        .filter_map(|id| name_of.get(id.as_str()).copied())
        .collect();
    let stays = |name: &str| layout.contains_key(name) || untagged_carry.contains(name);

    // 0. Adopt the groups an sgsync that kept no record made (`--adopt`), so that every later call
    //    is on this deployment's; reclaim the names of empty unrecorded groups nobody uses.
    let adopted: Vec<&ObservedGroup> = packing
        .existing
        .iter()
        .map(|g| g.observed)
        .filter(|g| g.adopt || g.legacy)
        .collect();
    if !adopted.is_empty() {
        actions.push(Action::Adopt {
            groups: adopted.iter().map(|g| g.name.clone()).collect(),
            untagged: adopted
                .iter()
                .filter(|g| g.legacy)
                .map(|g| g.name.clone())
                .collect(),
        });
    }

    // 1. Create.
    for (name, _) in &packing.created {
        actions.push(Action::CreateGroup {
            group: name.clone(),
            synctoken: desired.synctoken,
        });
    }
    // 2. Early revokes, only of unpublished ranges (where slots are needed, and in groups about to be
    //    attached somewhere new) and of entries sgsync does not manage.
    let fresh: Vec<bool> = packing
        .existing
        .iter()
        .map(|g| layout.contains_key(&g.observed.name) && newly_attached(&g.observed.name))
        .collect();
    let early: Vec<bool> = packing
        .existing
        .iter()
        .zip(&fresh)
        .map(|(g, fresh)| {
            !g.stale.is_empty() && (*fresh || g.needs_early_revoke(quotas.rules_per_group))
        })
        .collect();
    for (g, _) in packing.existing.iter().zip(&early).filter(|(_, e)| **e) {
        actions.push(Action::Revoke {
            group: g.observed.name.clone(),
            rules: g.stale.iter().copied().collect(),
            early: true,
        });
    }
    // Entries sgsync does not model, in groups that stay (a deleted group takes them with it): not
    // published access, so they go before anything is added, freeing their slots and reaching no
    // target that did not have them.
    for g in &packing.existing {
        if g.observed.outbound > 0 && stays(&g.observed.name) {
            actions.push(Action::RevokeOutbound {
                group: g.observed.name.clone(),
                entries: g.observed.outbound,
            });
        }
        if g.observed.unmanaged_entries > 0 && stays(&g.observed.name) {
            actions.push(Action::RevokeUnmanaged {
                group: g.observed.name.clone(),
                entries: g.observed.unmanaged_entries,
            });
        }
    }
    // 3. Authorize.
    let additions = packing
        .existing
        .iter()
        .map(|g| (&g.observed.name, &g.added))
        .chain(packing.created.iter().map(|(n, r)| (n, r)));
    for (name, rules) in additions.filter(|(_, r)| !r.is_empty()) {
        actions.push(Action::Authorize {
            group: name.clone(),
            rules: rules.iter().copied().collect(),
        });
    }

    // 4. Targets: one atomic update each; attach-only first, detach-only last.
    let mut updates: Vec<Action> = Vec::new();
    let mut targets: Vec<&ObservedTarget> = observed.targets.iter().collect();
    targets.sort_by(|a, b| a.id.cmp(&b.id));
    for t in targets {
        let current: BTreeSet<&str> = t
            .groups
            .iter()
            .filter_map(|id| name_of.get(id.as_str()).copied())
            .collect();
        let wanted: BTreeSet<&str> = final_groups.iter().copied().collect();
        let replace = swapping.get(&t.id).cloned().unwrap_or_default();
        if current == wanted && replace.is_empty() {
            continue;
        }
        let sorted = |set: BTreeSet<&str>| {
            let mut v: Vec<String> = set.into_iter().map(str::to_owned).collect();
            v.sort_by(|a, b| natural_key(a).cmp(&natural_key(b)));
            v
        };
        updates.push(Action::SetTargetGroups {
            target: t.id.clone(),
            foreign: observed.foreign_of(t).cloned().collect(),
            managed: final_groups.iter().map(|n| n.to_string()).collect(),
            attach: sorted(wanted.difference(&current).copied().collect()),
            detach: sorted(current.difference(&wanted).copied().collect()),
            replace,
        });
    }
    updates.sort_by_key(|a| match a {
        Action::SetTargetGroups {
            attach,
            detach,
            replace,
            ..
        } => (!detach.is_empty() || !replace.is_empty(), attach.is_empty()),
        _ => unreachable!("only target updates are sorted here"),
    });
    actions.extend(updates);

    // 5. Late revokes: stale ranges, second copies, rules that moved, and superseded rules (an
    //    aggregate that split or merged), whose still-published addresses are now held elsewhere on
    //    every target.
    for (g, early) in packing.existing.iter().zip(&early) {
        let mut rules: BTreeSet<Rule> = (g.duplicate.iter())
            .chain(&g.moved_out)
            .chain(&g.superseded)
            .copied()
            .collect();
        if !early {
            rules.extend(&g.stale);
        }
        if !rules.is_empty() {
            actions.push(Action::Revoke {
                group: g.observed.name.clone(),
                rules: rules.into_iter().collect(),
                early: false,
            });
        }
    }

    // 6. Delete what is left empty, but a group an untagged interface or load balancer carries: that
    //    one is kept, empty (sgsync may not detach it there), until it no longer does.
    for g in &packing.existing {
        if !layout.contains_key(&g.observed.name)
            && !untagged_carry.contains(g.observed.name.as_str())
        {
            actions.push(Action::DeleteGroup {
                group: g.observed.name.clone(),
            });
        }
    }
    // Empty unrecorded groups attached nowhere (a run stopped between create and record): deleted
    // with the others, their names free for the next run (this one skipped them).
    for u in observed.unrecorded.iter().filter(|u| u.reclaimable) {
        actions.push(Action::Reclaim {
            group: u.name.clone(),
            id: u.id.clone(),
        });
    }
    // 7. Bookkeeping: the synctoken the groups now reflect.
    let untagged: Vec<String> = packing
        .existing
        .iter()
        .filter(|g| layout.contains_key(&g.observed.name))
        .filter(|g| g.observed.synctoken != Some(desired.synctoken))
        .map(|g| g.observed.name.clone())
        .collect();
    if !untagged.is_empty() {
        actions.push(Action::RecordSynctoken {
            groups: untagged,
            synctoken: desired.synctoken,
        });
    }
    if !observed.missing.is_empty() {
        actions.push(Action::Forget {
            ids: observed.missing.clone(),
        });
    }

    Ok(Plan {
        actions,
        layout,
        ..Plan::default()
    })
}

/// Refuses a layout that would take a published rule away from, or delete a group attached to, an
/// interface or load balancer that carries a managed group but not the target tag: sgsync may not
/// change such a target, so its groups must keep what it is allowed now.
fn check_untagged(
    observed: &Observed,
    desired: &Desired,
    name_of: &BTreeMap<&str, &str>,
    layout: &BTreeMap<String, BTreeSet<Rule>>,
) -> Result<(), PlanError> {
    let published = packing::published_addresses(&desired.rules);
    for t in &observed.untagged {
        let managed: Vec<&str> = t
            .groups
            .iter()
            .filter_map(|id| name_of.get(id.as_str()).copied())
            .collect();
        // A group it carries that the layout no longer needs is kept, not deleted (below); what it
        // still holds that is published may not leave it.
        // By address: a rule that splits (part of an aggregate withdrawn) must keep its remainder in
        // the groups the target carries.
        let after: BTreeSet<Rule> = (managed.iter())
            .filter_map(|n| layout.get(*n))
            .flatten()
            .copied()
            .collect();
        let after = packing::published_addresses(&after);
        for name in &managed {
            let group = observed.groups.iter().find(|g| g.name == **name);
            for rule in group.into_iter().flat_map(|g| &g.rules) {
                let Some(published) = published.get(&rule.ports) else {
                    continue;
                };
                let still = published.intersection(&Addresses::of([&rule.net]));
                let kept = after.get(&rule.ports).cloned().unwrap_or_default();
                if let Some(lost) = kept.missing(&still).first() {
                    return Err(PlanError::UntaggedTarget {
                        target: t.id.clone(),
                        group: name.to_string(),
                        what: format!(
                            "take {lost} tcp/{} away from it (it moves to a group it does not carry)",
                            rule.ports
                        ),
                    });
                }
            }
        }
    }
    Ok(())
}
