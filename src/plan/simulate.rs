//! A model of the world a plan runs against, and a checker of every invariant at every step.
//!
//! The planner's tests run plans here instead of against AWS: [`World::apply`] behaves like EC2 where it
//! matters (quotas, duplicate names, `DependencyViolation` on deleting an attached group), and
//! [`check_run`] asserts DESIGN.md's invariants after each action. It is public so integration tests
//! and benchmarks can use the same referee.

use std::collections::{BTreeMap, BTreeSet};

use super::{
    Action, Desired, Observed, ObservedGroup, ObservedTarget, Plan, Quotas, TargetId, plan,
};
use crate::rule::Rule;

/// One group in the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimGroup {
    /// Its id.
    pub id: String,
    /// Its rules.
    pub rules: BTreeSet<Rule>,
    /// Entries sgsync does not model.
    pub unmanaged_entries: usize,
    /// The recorded synctoken.
    pub synctoken: Option<u64>,
}

/// Managed groups by name and every target's attached group ids.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct World {
    /// Managed groups, by name.
    pub groups: BTreeMap<String, SimGroup>,
    /// Each target's attached group ids, managed and foreign, in order.
    pub targets: BTreeMap<TargetId, Vec<String>>,
    created: usize,
}

impl World {
    /// The world as observed.
    pub fn from_observed(observed: &Observed) -> World {
        World {
            groups: observed
                .groups
                .iter()
                .map(|g| {
                    let sim = SimGroup {
                        id: g.id.clone(),
                        rules: g.rules.clone(),
                        unmanaged_entries: g.unmanaged_entries,
                        synctoken: g.synctoken,
                    };
                    (g.name.clone(), sim)
                })
                .collect(),
            targets: observed
                .targets
                .iter()
                .map(|t| (t.id.clone(), t.groups.clone()))
                .collect(),
            created: 0,
        }
    }

    /// What an observe step would report now. Targets left with no managed group drop out of sight,
    /// as they would for the real observe step.
    pub fn observe(&self) -> Observed {
        let managed: BTreeSet<&str> = self.groups.values().map(|g| g.id.as_str()).collect();
        Observed {
            groups: self
                .groups
                .iter()
                .map(|(name, g)| ObservedGroup {
                    id: g.id.clone(),
                    name: name.clone(),
                    rules: g.rules.clone(),
                    unmanaged_entries: g.unmanaged_entries,
                    synctoken: g.synctoken,
                })
                .collect(),
            targets: self
                .targets
                .iter()
                .filter(|(_, ids)| ids.iter().any(|id| managed.contains(id.as_str())))
                .map(|(id, ids)| ObservedTarget {
                    id: id.clone(),
                    groups: ids.clone(),
                })
                .collect(),
        }
    }

    fn group(&mut self, name: &str) -> Result<&mut SimGroup, String> {
        self.groups
            .get_mut(name)
            .ok_or_else(|| format!("InvalidGroup.NotFound: {name}"))
    }

    /// Runs one action as EC2 would, refusing what EC2 refuses (and what moto does not enforce).
    pub fn apply(&mut self, action: &Action, quotas: Quotas) -> Result<(), String> {
        match action {
            Action::CreateGroup { group, synctoken } => {
                if self.groups.contains_key(group) {
                    return Err(format!("InvalidGroup.Duplicate: {group}"));
                }
                // Ids are never reused, as in EC2: a fresh one that no group or target holds.
                let id = loop {
                    self.created += 1;
                    let id = format!("sg-new{:04}", self.created);
                    let taken = self.groups.values().any(|g| g.id == id)
                        || self.targets.values().any(|ids| ids.contains(&id));
                    if !taken {
                        break id;
                    }
                };
                let sim = SimGroup {
                    id,
                    rules: BTreeSet::new(),
                    unmanaged_entries: 0,
                    synctoken: Some(*synctoken),
                };
                self.groups.insert(group.clone(), sim);
            }
            Action::Authorize { group, rules } => {
                let g = self.group(group)?;
                for r in rules {
                    if !g.rules.insert(*r) {
                        return Err(format!("InvalidPermission.Duplicate: {r} in {group}"));
                    }
                }
                if g.rules.len() + g.unmanaged_entries > quotas.rules_per_group {
                    return Err(format!("RulesPerSecurityGroupLimitExceeded: {group}"));
                }
            }
            Action::Revoke { group, rules, .. } => {
                let g = self.group(group)?;
                for r in rules {
                    if !g.rules.remove(r) {
                        return Err(format!("InvalidPermission.NotFound: {r} in {group}"));
                    }
                }
            }
            Action::RevokeUnmanaged { group, .. } => {
                self.group(group)?.unmanaged_entries = 0;
            }
            Action::SetTargetGroups {
                target,
                foreign,
                managed,
                ..
            } => {
                let mut ids = foreign.clone();
                for name in managed {
                    ids.push(self.group(name)?.id.clone());
                }
                if ids.len() > quotas.groups_per_target {
                    return Err(format!("SecurityGroupsPerInterfaceLimitExceeded: {target}"));
                }
                let slot = self
                    .targets
                    .get_mut(target)
                    .ok_or_else(|| format!("target not found: {target}"))?;
                *slot = ids;
            }
            Action::DeleteGroup { group } => {
                let id = self.group(group)?.id.clone();
                if self.targets.values().any(|ids| ids.contains(&id)) {
                    return Err(format!("DependencyViolation: {group} is still attached"));
                }
                self.groups.remove(group);
            }
            Action::RecordSynctoken { groups, synctoken } => {
                for name in groups {
                    self.group(name)?.synctoken = Some(*synctoken);
                }
            }
        }
        Ok(())
    }

    /// The rules each target allows through managed groups; with no target, the managed groups' union
    /// under the key `None` (DESIGN invariant 1 covers that case too).
    fn access(&self) -> BTreeMap<Option<TargetId>, BTreeSet<Rule>> {
        let by_id: BTreeMap<&str, &SimGroup> =
            self.groups.values().map(|g| (g.id.as_str(), g)).collect();
        let mut access = BTreeMap::new();
        access.insert(
            None,
            self.groups
                .values()
                .flat_map(|g| g.rules.iter().copied())
                .collect(),
        );
        for (target, ids) in &self.targets {
            let rules = ids
                .iter()
                .filter_map(|id| by_id.get(id.as_str()))
                .flat_map(|g| g.rules.iter().copied())
                .collect();
            access.insert(Some(target.clone()), rules);
        }
        access
    }

    fn foreign_of(&self, ids: &[String]) -> Vec<String> {
        let managed: BTreeSet<&str> = self.groups.values().map(|g| g.id.as_str()).collect();
        ids.iter()
            .filter(|id| !managed.contains(id.as_str()))
            .cloned()
            .collect()
    }
}

/// Runs `plan` from `observed` and checks DESIGN.md's invariants after every action:
/// no lost access, make before break, quotas, foreign groups untouched, one call per group per
/// direction, the exact final layout, and that planning again changes nothing.
/// Returns the world after the run, or the first violation.
pub fn check_run(
    observed: &Observed,
    desired: &Desired,
    quotas: Quotas,
    plan_: &Plan,
) -> Result<World, String> {
    let mut world = World::from_observed(observed);
    let before_access = world.access();
    let foreign_before: BTreeMap<TargetId, Vec<String>> = world
        .targets
        .iter()
        .map(|(t, ids)| (t.clone(), world.foreign_of(ids)))
        .collect();
    // A group or target already over a (lowered) quota may stay as full as it was, never fuller.
    let group_cap = |world: &World, name: &str| {
        observed
            .groups
            .iter()
            .find(|g| g.name == name)
            .map_or(0, |g| g.rules.len() + g.unmanaged_entries)
            .max(quotas.rules_per_group)
            .max(world.groups[name].unmanaged_entries)
    };
    let target_cap = |t: &TargetId| {
        observed
            .targets
            .iter()
            .find(|o| &o.id == t)
            .map_or(0, |o| o.groups.len())
            .max(quotas.groups_per_target)
    };

    let last_make = plan_.actions.iter().rposition(Action::is_make);
    let mut calls: BTreeMap<(String, &str), usize> = BTreeMap::new();
    for (i, action) in plan_.actions.iter().enumerate() {
        // Make before break; early revokes only ever drop unpublished ranges.
        match action {
            Action::Revoke {
                rules, early: true, ..
            } => {
                if let Some(r) = rules.iter().find(|r| desired.rules.contains(r)) {
                    return Err(format!("step {i}: early revoke of still-published {r}"));
                }
            }
            a if a.is_break() && last_make.is_some_and(|m| m > i) => {
                return Err(format!("step {i}: {a:?} comes before a make action"));
            }
            _ => {}
        }
        let key = match action {
            Action::Authorize { group, .. } => Some((group.clone(), "authorize")),
            Action::Revoke {
                group, early: true, ..
            } => Some((group.clone(), "early revoke")),
            Action::Revoke { group, .. } => Some((group.clone(), "revoke")),
            _ => None,
        };
        if let Some(key) = key {
            let n = calls.entry(key.clone()).or_default();
            *n += 1;
            if *n > 1 {
                return Err(format!("step {i}: a second {} call for {}", key.1, key.0));
            }
        }
        // A lowered quota must not make the simulated EC2 refuse what real EC2 (at its real quota) takes.
        let lenient = Quotas {
            rules_per_group: usize::MAX,
            groups_per_target: usize::MAX,
        };
        world
            .apply(action, lenient)
            .map_err(|e| format!("step {i}: {action:?}: {e}"))?;

        for (name, g) in &world.groups {
            if g.rules.len() + g.unmanaged_entries > group_cap(&world, name) {
                return Err(format!("step {i}: group {name} exceeds the rules quota"));
            }
        }
        for (t, ids) in &world.targets {
            if ids.len() > target_cap(t) {
                return Err(format!("step {i}: {t} exceeds the groups quota"));
            }
            if world.foreign_of(ids) != foreign_before[t] {
                return Err(format!("step {i}: foreign groups of {t} changed"));
            }
        }
        let now = world.access();
        for (who, rules) in &before_access {
            let empty = BTreeSet::new();
            let have = now.get(who).unwrap_or(&empty);
            if let Some(r) = rules
                .iter()
                .find(|r| desired.rules.contains(r) && !have.contains(r))
            {
                return Err(format!("step {i}: {who:?} lost still-published {r}"));
            }
        }
    }

    // The final layout: exactly the desired rules, each once, on every target, within the quotas.
    let held: usize = world.groups.values().map(|g| g.rules.len()).sum();
    let union: BTreeSet<Rule> = world
        .groups
        .values()
        .flat_map(|g| g.rules.iter().copied())
        .collect();
    if union != desired.rules || held != desired.rules.len() {
        return Err(format!(
            "final layout holds {held} rules ({} distinct), desired {}",
            union.len(),
            desired.rules.len()
        ));
    }
    for (name, g) in &world.groups {
        if g.rules.is_empty() {
            return Err(format!("group {name} is left empty"));
        }
        if g.rules.len() + g.unmanaged_entries > quotas.rules_per_group {
            return Err(format!("group {name} ends over the rules quota"));
        }
        if plan_.layout.get(name) != Some(&g.rules) {
            return Err(format!("plan layout disagrees with the world for {name}"));
        }
    }
    if plan_.layout.len() != world.groups.len() {
        return Err("plan layout names groups the world does not have".into());
    }
    let all: BTreeSet<&str> = world.groups.values().map(|g| g.id.as_str()).collect();
    for (t, ids) in &world.targets {
        let attached: BTreeSet<&str> = ids.iter().map(String::as_str).collect();
        if !all.is_subset(&attached) {
            return Err(format!("{t} does not have every managed group"));
        }
        if ids.len() > quotas.groups_per_target {
            return Err(format!("{t} ends over the groups quota"));
        }
    }
    let again = plan(desired, &world.observe(), quotas)
        .map_err(|e| format!("planning again fails: {e}"))?;
    if !again.is_empty() {
        return Err(format!("planning again is not empty: {:?}", again.actions));
    }
    Ok(world)
}
