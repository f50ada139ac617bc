//! The pure planner: desired rules + observed groups, targets and quotas → an ordered [`Plan`].
//!
//! It performs no IO and knows no AWS type (sans-IO), so it is unit- and property-tested on its own,
//! and `sgsync plan` shows exactly the actions `sgsync apply` then runs.
//!
//! The order of a plan is the safety argument (invariants 1 and 2 of docs/design.md):
//!
//! 1. create new groups;
//! 2. early revokes: only where a group needs slots for new rules, and only of ranges the new document
//!    no longer publishes (so no access that must remain is lost);
//! 3. authorize every group's new rules (one call per group);
//! 4. set every target's groups to its foreign groups + every managed group that holds rules (one atomic
//!    call per target: attach-only updates first, then swaps, then detach-only updates);
//! 5. late revokes: stale ranges, second copies and moved rules (one call per group);
//! 6. delete groups left empty (already detached in step 4);
//! 7. record the applied synctoken on the groups whose tag differs.
//!
//! Before step 5, every target already allows every desired rule, so nothing a target allowed that is
//! still published is ever missing, at any moment of the run.

use std::collections::{BTreeMap, BTreeSet};

use thiserror::Error;

use super::model::{Action, Desired, Observed, ObservedTarget, Plan, Quotas, TargetId};
use super::packing::{self, natural_key};
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
         To fix: select fewer ranges (SERVICE=CLOUDFRONT_ORIGIN_FACING, SERVICE_REGIONS, IP_VERSIONS=ipv4), \
         use fewer PORTS (each port or range doubles the rules), free group slots on the targets, or raise \
         the quotas in Service Quotas (L-0EA8095F rules per group, L-2AFB9258 groups per interface) and set \
         RULES_PER_GROUP / GROUPS_PER_TARGET if Service Quotas is not readable",
        quotas.groups_for(*rules),
        quotas.groups_per_target
    )
}

/// Plans the actions that take the observed managed groups and targets to exactly `desired`.
///
/// Returns a plan whose actions, run in order, keep every invariant of docs/design.md at every step;
/// or, when the desired state cannot fit the quotas, an error and no partial plan.
pub fn plan(desired: &Desired, observed: &Observed) -> Result<Plan, PlanError> {
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
    let pack = |max_groups| {
        packing::pack(
            &desired.rules,
            &observed.groups,
            quotas.rules_per_group,
            max_groups,
            &desired.group_stem,
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

    let mut actions = Vec::new();

    // 1. Create.
    for (name, _) in &packing.created {
        actions.push(Action::CreateGroup {
            group: name.clone(),
            synctoken: desired.synctoken,
        });
    }
    // 2. Early revokes, only of unpublished ranges, only where slots are needed.
    let early: Vec<bool> = packing
        .existing
        .iter()
        .map(|g| g.needs_early_revoke(quotas.rules_per_group))
        .collect();
    for (g, _) in packing.existing.iter().zip(&early).filter(|(_, e)| **e) {
        actions.push(Action::Revoke {
            group: g.observed.name.clone(),
            rules: g.stale.iter().copied().collect(),
            early: true,
        });
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
        if current == wanted {
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
        });
    }
    updates.sort_by_key(|a| match a {
        Action::SetTargetGroups { attach, detach, .. } => (!detach.is_empty(), attach.is_empty()),
        _ => unreachable!("only target updates are sorted here"),
    });
    actions.extend(updates);

    // 5. Late revokes.
    for (g, early) in packing.existing.iter().zip(&early) {
        let mut rules: BTreeSet<Rule> = g.duplicate.union(&g.moved_out).copied().collect();
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
    // Entries sgsync does not model, in groups that stay (a deleted group takes them with it).
    for g in &packing.existing {
        if g.observed.unmanaged_entries > 0 && layout.contains_key(&g.observed.name) {
            actions.push(Action::RevokeUnmanaged {
                group: g.observed.name.clone(),
                entries: g.observed.unmanaged_entries,
            });
        }
    }
    // 6. Delete what is left empty.
    for g in &packing.existing {
        if !layout.contains_key(&g.observed.name) {
            actions.push(Action::DeleteGroup {
                group: g.observed.name.clone(),
            });
        }
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

    Ok(Plan { actions, layout })
}
