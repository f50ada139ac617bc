//! A simulated VPC for the security-group kind, and a referee that checks every invariant after every
//! call.
//!
//! [`World`] implements [`GroupApi`] the way EC2 behaves where it matters (ids never reused, duplicate
//! names, `InvalidPermission.Duplicate` / `.NotFound`, `DependencyViolation` on deleting an attached
//! group) and strictly: anything a correct plan never asks for is an error. [`check_run`] runs a plan
//! through the real [`apply`] against a [`World`] wrapped in a referee, so the property tests exercise
//! production's apply, and checks after each call:
//!
//! - no lost access: every target (tagged or not; with none, the union of the managed groups) still
//!   allows every published rule it allowed before the run;
//! - never widen: a target gains nothing but published rules (no stale range, no entry added by hand
//!   reaches a target that did not allow it before);
//! - quotas (each family against its own), foreign groups untouched and kept in order (also those
//!   someone attaches while the run goes on), untagged targets never modified;
//!
//! and over the whole run: make before break, one call per group per direction, the exact final
//! layout, the change counts, and that planning again changes nothing.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::FutureExt;

use crate::addresses::Addresses;
use crate::error::AwsError;
use crate::ownership::Unrecorded;
use crate::rule::{Family, PerFamily, PortRange, Rule};
use crate::security_groups::{
    Action, Changes, Desired, GroupApi, Observed, ObservedGroup, ObservedTarget, Plan, Quotas,
    TargetId, apply, plan, published_addresses,
};

/// One group in the simulated VPC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimGroup {
    pub id: String,
    /// Its TCP/CIDR rules.
    pub rules: BTreeSet<Rule>,
    /// Entries sgsync does not model (all traffic, other sources …).
    pub unmanaged_entries: usize,
    /// The slots they take in each family's quota.
    pub unmanaged_slots: PerFamily,
    /// Outbound entries.
    pub outbound: usize,
    /// The synctoken tag.
    pub synctoken: Option<u64>,
    /// Found unrecorded and adopted (`--adopt`): not recorded yet.
    pub adopt: bool,
    /// Made by an sgsync that did not record deployments (no `sgsync:deployment` tag yet).
    pub legacy: bool,
}

/// The managed groups by name, and every interface's or load balancer's attached group ids (managed
/// and foreign, in order).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct World {
    /// Managed groups, by name.
    pub groups: BTreeMap<String, SimGroup>,
    /// Targets (tagged `sgsync:target`): their group ids, in order.
    pub targets: BTreeMap<TargetId, Vec<String>>,
    /// Interfaces and load balancers without the tag: sgsync must never change them.
    pub untagged: BTreeMap<TargetId, Vec<String>>,
    /// Groups carrying this deployment's tags that it did not record, by name: never touched, but a
    /// reclaimable one may be deleted.
    pub unrecorded: BTreeMap<String, Unrecorded>,
    /// The quotas an observe step reports.
    pub quotas: Quotas,
    /// What the last full apply recorded of each group's rules (group id → digest).
    pub rule_digests: BTreeMap<String, String>,
    created: usize,
}

fn refused(operation: &'static str, code: &str, message: String) -> AwsError {
    AwsError::coded(operation, code, message)
}

impl SimGroup {
    /// The slots of each family the group uses.
    fn used(&self) -> PerFamily {
        PerFamily::of(&self.rules).plus(self.unmanaged_slots)
    }
}

/// What a target allows: a published-range rule, or an entry sgsync does not model (which group, which
/// entry), so "never widen" can see entries added by hand.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Allowed {
    Rule(Rule),
    Unmanaged(String, usize),
    /// An outbound entry of a group: any is a widening where it was not before.
    Outbound(String, usize),
}

impl World {
    /// The world as observed.
    pub fn from_observed(observed: &Observed) -> World {
        let lists = |targets: &[ObservedTarget]| {
            targets
                .iter()
                .map(|t| (t.id.clone(), t.groups.clone()))
                .collect()
        };
        World {
            groups: observed
                .groups
                .iter()
                .map(|g| {
                    let sim = SimGroup {
                        id: g.id.clone(),
                        rules: g.rules.clone(),
                        unmanaged_entries: g.unmanaged_entries,
                        unmanaged_slots: g.unmanaged_slots,
                        outbound: g.outbound,
                        synctoken: g.synctoken,
                        adopt: g.adopt,
                        legacy: g.legacy,
                    };
                    (g.name.clone(), sim)
                })
                .collect(),
            targets: lists(&observed.targets),
            untagged: lists(&observed.untagged),
            unrecorded: observed
                .unrecorded
                .iter()
                .map(|u| (u.name.clone(), u.clone()))
                .collect(),
            quotas: observed.quotas,
            rule_digests: observed.rule_digests.clone(),
            created: 0,
        }
    }

    /// What an observe step would report now: every tagged target, and the untagged ones that carry a
    /// managed group (the others are out of sight, as for the real observe step).
    pub fn observe(&self) -> Observed {
        let managed: BTreeSet<&str> = self.groups.values().map(|g| g.id.as_str()).collect();
        let list = |targets: &BTreeMap<TargetId, Vec<String>>| -> Vec<ObservedTarget> {
            targets
                .iter()
                .map(|(id, ids)| ObservedTarget {
                    id: id.clone(),
                    groups: ids.clone(),
                })
                .collect()
        };
        let mut untagged = list(&self.untagged);
        untagged.retain(|t| t.groups.iter().any(|id| managed.contains(id.as_str())));
        Observed {
            vpc_id: "vpc-sim".into(),
            groups: self
                .groups
                .iter()
                .map(|(name, g)| ObservedGroup {
                    id: g.id.clone(),
                    name: name.clone(),
                    rules: g.rules.clone(),
                    unmanaged_entries: g.unmanaged_entries,
                    unmanaged_slots: g.unmanaged_slots,
                    outbound: g.outbound,
                    synctoken: g.synctoken,
                    adopt: g.adopt,
                    legacy: g.legacy,
                })
                .collect(),
            targets: list(&self.targets),
            untagged,
            unrecorded: self.unrecorded.values().cloned().collect(),
            taken_names: self.unrecorded.keys().cloned().collect(),
            quotas: self.quotas,
            rule_digests: self.rule_digests.clone(),
            ..Observed::default()
        }
    }

    fn by_id(&mut self, operation: &'static str, id: &str) -> Result<&mut SimGroup, AwsError> {
        self.groups
            .values_mut()
            .find(|g| g.id == id)
            .ok_or_else(|| refused(operation, "InvalidGroup.NotFound", id.to_string()))
    }

    /// What each target (tagged or not) allows through managed groups; with no target, the managed
    /// groups' union under the key `None` (invariant 1 covers that case too).
    fn access(&self) -> BTreeMap<Option<TargetId>, BTreeSet<Allowed>> {
        let allowed = |g: &SimGroup| -> Vec<Allowed> {
            g.rules
                .iter()
                .map(|r| Allowed::Rule(*r))
                .chain((0..g.unmanaged_entries).map(|i| Allowed::Unmanaged(g.id.clone(), i)))
                .chain((0..g.outbound).map(|i| Allowed::Outbound(g.id.clone(), i)))
                .collect()
        };
        let by_id: BTreeMap<&str, &SimGroup> =
            self.groups.values().map(|g| (g.id.as_str(), g)).collect();
        let mut access = BTreeMap::new();
        access.insert(None, self.groups.values().flat_map(allowed).collect());
        for (target, ids) in self.targets.iter().chain(&self.untagged) {
            let all = ids
                .iter()
                .filter_map(|id| by_id.get(id.as_str()))
                .flat_map(|g| allowed(g))
                .collect();
            access.insert(Some(target.clone()), all);
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

/// EC2's behaviour, strictly; quotas are the referee's business (a test may lower them below what a
/// group already holds, which real EC2, at its real quota, would not refuse).
impl GroupApi for World {
    async fn adopt(
        &mut self,
        group_ids: &[String],
        untagged_ids: &[String],
    ) -> Result<(), AwsError> {
        for id in group_ids {
            self.by_id("ssm:PutParameter", id)?.adopt = false;
        }
        for id in untagged_ids {
            self.by_id("ec2:CreateTags", id)?.legacy = false;
        }
        Ok(())
    }

    async fn reclaim(&mut self, group_id: &str) -> Result<bool, AwsError> {
        let found = self
            .unrecorded
            .iter()
            .find(|(_, u)| u.id == group_id)
            .map(|(name, u)| (name.clone(), u.reclaimable));
        match found {
            Some((name, true)) => {
                self.unrecorded.remove(&name);
                Ok(true)
            }
            Some((_, false)) => Err(refused(
                "ec2:DeleteSecurityGroup",
                "sgsync:unrecorded",
                format!("{group_id} is not empty and unused: a plan may not reclaim it"),
            )),
            None => Ok(false),
        }
    }

    async fn create_group(&mut self, name: &str, synctoken: u64) -> Result<String, AwsError> {
        const OP: &str = "ec2:CreateSecurityGroup";
        if self.groups.contains_key(name) || self.unrecorded.contains_key(name) {
            return Err(refused(OP, "InvalidGroup.Duplicate", name.to_string()));
        }
        // Ids are never reused, as in EC2: a fresh one that no group or target holds.
        let id = loop {
            self.created += 1;
            let id = format!("sg-new{:04}", self.created);
            let taken = self.groups.values().any(|g| g.id == id)
                || self
                    .targets
                    .values()
                    .chain(self.untagged.values())
                    .any(|ids| ids.contains(&id));
            if !taken {
                break id;
            }
        };
        let sim = SimGroup {
            id: id.clone(),
            rules: BTreeSet::new(),
            unmanaged_entries: 0,
            unmanaged_slots: PerFamily::default(),
            // EC2 gives a new group an outbound rule; the create call revokes it before it returns.
            outbound: 0,
            synctoken: Some(synctoken),
            adopt: false,
            legacy: false,
        };
        self.groups.insert(name.to_string(), sim);
        Ok(id)
    }

    async fn authorize(&mut self, group_id: &str, rules: &[Rule]) -> Result<usize, AwsError> {
        const OP: &str = "ec2:AuthorizeSecurityGroupIngress";
        let g = self.by_id(OP, group_id)?;
        for r in rules {
            if !g.rules.insert(*r) {
                let message = format!("{r} in {group_id}");
                return Err(refused(OP, "InvalidPermission.Duplicate", message));
            }
        }
        Ok(rules.len())
    }

    async fn revoke(&mut self, group_id: &str, rules: &[Rule]) -> Result<usize, AwsError> {
        const OP: &str = "ec2:RevokeSecurityGroupIngress";
        let g = self.by_id(OP, group_id)?;
        for r in rules {
            if !g.rules.remove(r) {
                let message = format!("{r} in {group_id}");
                return Err(refused(OP, "InvalidPermission.NotFound", message));
            }
        }
        Ok(rules.len())
    }

    async fn revoke_unmanaged(&mut self, group_id: &str) -> Result<usize, AwsError> {
        let g = self.by_id("ec2:RevokeSecurityGroupIngress", group_id)?;
        g.unmanaged_slots = PerFamily::default();
        Ok(std::mem::take(&mut g.unmanaged_entries))
    }

    async fn revoke_outbound(&mut self, group_id: &str) -> Result<usize, AwsError> {
        let g = self.by_id("ec2:RevokeSecurityGroupEgress", group_id)?;
        Ok(std::mem::take(&mut g.outbound))
    }

    async fn target_groups(&mut self, target: &TargetId) -> Result<Option<Vec<String>>, AwsError> {
        Ok(self.targets.get(target).cloned())
    }

    async fn set_target_groups(
        &mut self,
        target: &TargetId,
        group_ids: &[String],
    ) -> Result<(), AwsError> {
        const OP: &str = "ec2:ModifyNetworkInterfaceAttribute";
        let slot = self
            .targets
            .get_mut(target)
            .ok_or_else(|| refused(OP, "InvalidNetworkInterfaceID.NotFound", target.to_string()))?;
        *slot = group_ids.to_vec();
        Ok(())
    }

    async fn delete_group(&mut self, group_id: &str) -> Result<bool, AwsError> {
        const OP: &str = "ec2:DeleteSecurityGroup";
        let attached = self
            .targets
            .values()
            .chain(self.untagged.values())
            .any(|ids| ids.iter().any(|i| i == group_id));
        if attached {
            let message = format!("{group_id} is still attached");
            return Err(refused(OP, "DependencyViolation", message));
        }
        let name = self
            .groups
            .iter()
            .find(|(_, g)| g.id == group_id)
            .map(|(n, _)| n.clone())
            .ok_or_else(|| refused(OP, "InvalidGroup.NotFound", group_id.to_string()))?;
        self.groups.remove(&name);
        Ok(true)
    }

    async fn forget(&mut self, _group_ids: &[String]) -> Result<(), AwsError> {
        // The simulated world is its own record: a group that is gone is in no record.
        Ok(())
    }

    async fn record_rules(
        &mut self,
        digests: &BTreeMap<String, String>,
        gone: &[String],
    ) -> Result<(), AwsError> {
        for id in gone {
            self.rule_digests.remove(id);
        }
        self.rule_digests
            .extend(digests.iter().map(|(k, v)| (k.clone(), v.clone())));
        Ok(())
    }

    async fn record_synctoken(
        &mut self,
        group_ids: &[String],
        synctoken: u64,
    ) -> Result<(), AwsError> {
        for id in group_ids {
            self.by_id("ec2:CreateTags", id)?.synctoken = Some(synctoken);
        }
        Ok(())
    }
}

/// Someone else's change to the world while a run goes on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Meddle {
    /// A group sgsync does not manage is attached to a target, at the end of its list.
    Attach {
        /// The target.
        target: TargetId,
        /// The foreign group's id.
        group: String,
    },
    /// The target is deleted.
    Delete {
        /// The target.
        target: TargetId,
    },
}

/// The referee: a [`World`] that checks the invariants after every call, lets the planned meddling
/// happen before the calls it is planned for, and stops the run at the first violation (reported as
/// the error of the call that caused it).
struct Refereed<'a> {
    world: World,
    desired: &'a Desired,
    observed: &'a Observed,
    before_access: BTreeMap<Option<TargetId>, BTreeSet<Allowed>>,
    /// Every target's foreign groups as they must be: as observed, plus what others attached since.
    foreign: BTreeMap<TargetId, Vec<String>>,
    /// The foreign groups the plan swaps out of each target (`REPLACES`): they may leave it, in
    /// its one update, and nothing else may.
    swaps: BTreeMap<TargetId, Vec<String>>,
    untagged_before: BTreeMap<TargetId, Vec<String>>,
    meddling: Vec<(usize, Meddle)>,
    calls: usize,
    /// The addresses of the rules the old layout held that still partly are published (aggregates
    /// that split or merged): the old document published them, so they may reach a new target
    /// until their late revoke.
    superseded: BTreeMap<PortRange, Addresses>,
}

const VIOLATION: &str = "sgsync:invariant";

impl Refereed<'_> {
    /// Lets the meddling planned for this call happen.
    fn before(&mut self) {
        let now = self.calls;
        for (_, meddle) in self.meddling.iter().filter(|(at, _)| *at == now) {
            match meddle {
                Meddle::Attach { target, group } => {
                    // AWS refuses an attach over the quota, someone else's too.
                    let quota = self.observed.quotas.groups_per_target;
                    if let Some(ids) = self
                        .world
                        .targets
                        .get_mut(target)
                        .filter(|ids| ids.len() < quota)
                    {
                        ids.push(group.clone());
                        self.foreign
                            .entry(target.clone())
                            .or_default()
                            .push(group.clone());
                    }
                }
                Meddle::Delete { target } => {
                    self.world.targets.remove(target);
                    self.foreign.remove(target);
                    self.before_access.remove(&Some(target.clone()));
                }
            }
        }
    }

    fn check(&mut self) -> Result<(), AwsError> {
        let step = self.calls;
        self.calls += 1;
        let quotas = self.observed.quotas;
        let fail = |message: String| {
            Err(AwsError::other(
                VIOLATION,
                format!("call {step}: {message}"),
            ))
        };
        // A group or target already over a (lowered) quota may stay as full as it was, never fuller;
        // each family against its own quota, as AWS counts them.
        for (name, g) in &self.world.groups {
            let before = self
                .observed
                .groups
                .iter()
                .find(|o| &o.name == name)
                .map_or(PerFamily::default(), ObservedGroup::used);
            let now = g.used();
            for family in Family::ALL {
                let cap = before.get(family).max(quotas.rules_per_group);
                if now.get(family) > cap {
                    return fail(format!("group {name} exceeds the {family} rules quota"));
                }
            }
        }
        for (t, ids) in &self.world.targets {
            let before = self
                .observed
                .targets
                .iter()
                .find(|o| &o.id == t)
                .map_or(0, |o| o.groups.len());
            if ids.len() > before.max(quotas.groups_per_target) {
                return fail(format!("{t} exceeds the groups quota"));
            }
            let now = self.world.foreign_of(ids);
            let swapped = |before: &Vec<String>| -> Vec<String> {
                let out = self.swaps.get(t).map_or(&[][..], Vec::as_slice);
                before
                    .iter()
                    .filter(|id| !out.contains(id))
                    .cloned()
                    .collect()
            };
            if now != self.foreign[t] && now != swapped(&self.foreign[t]) {
                return fail(format!("foreign groups of {t} changed"));
            }
        }
        if self.world.untagged != self.untagged_before {
            return fail("an untagged interface or load balancer was modified".into());
        }
        let now = self.world.access();
        let empty = BTreeSet::new();
        let published = published_addresses(&self.desired.rules);
        let none = Addresses::default();
        let by_address = |allowed: &BTreeSet<Allowed>| {
            let rules: BTreeSet<Rule> = (allowed.iter())
                .filter_map(|a| match a {
                    Allowed::Rule(r) => Some(*r),
                    Allowed::Unmanaged(..) | Allowed::Outbound(..) => None,
                })
                .collect();
            published_addresses(&rules)
        };
        for (who, before) in &self.before_access {
            let have = now.get(who).unwrap_or(&empty);
            let (was, is) = (by_address(before), by_address(have));
            // No lost access, by address: every address it allowed on a port where it is still
            // published (an aggregate that split keeps its remainder).
            for (ports, was) in &was {
                let still = published.get(ports).unwrap_or(&none).intersection(was);
                if let Some(lost) = is.get(ports).unwrap_or(&none).missing(&still).first() {
                    return fail(format!("{who:?} lost still-published {lost} tcp/{ports}"));
                }
            }
            // Never widen, by address: what it allows now it allowed before, or one of the documents
            // publishes: the new one, or the old one where an aggregate split (a group reaching a new
            // target keeps such a rule until the late revoke; the stale ones go early).
            for (ports, is) in &is {
                let ok = (was.get(ports).unwrap_or(&none))
                    .union(published.get(ports).unwrap_or(&none))
                    .union(self.superseded.get(ports).unwrap_or(&none));
                if let Some(wider) = ok.missing(is).first() {
                    return fail(format!(
                        "{who:?} now allows {wider} tcp/{ports}, published neither before nor now"
                    ));
                }
            }
            if let Some(a) =
                (have.iter()).find(|a| !before.contains(a) && !matches!(a, Allowed::Rule(_)))
            {
                return fail(format!(
                    "{who:?} now allows {a:?}, published neither before nor now"
                ));
            }
        }
        Ok(())
    }

    fn then<T>(&mut self, result: Result<T, AwsError>) -> Result<T, AwsError> {
        let value = result?;
        self.check()?;
        Ok(value)
    }
}

impl GroupApi for Refereed<'_> {
    async fn adopt(
        &mut self,
        group_ids: &[String],
        untagged_ids: &[String],
    ) -> Result<(), AwsError> {
        self.before();
        let r = self.world.adopt(group_ids, untagged_ids).await;
        self.then(r)
    }
    async fn reclaim(&mut self, group_id: &str) -> Result<bool, AwsError> {
        self.before();
        let r = self.world.reclaim(group_id).await;
        self.then(r)
    }
    async fn create_group(&mut self, name: &str, synctoken: u64) -> Result<String, AwsError> {
        self.before();
        let r = self.world.create_group(name, synctoken).await;
        self.then(r)
    }
    async fn authorize(&mut self, group_id: &str, rules: &[Rule]) -> Result<usize, AwsError> {
        self.before();
        let r = self.world.authorize(group_id, rules).await;
        self.then(r)
    }
    async fn revoke(&mut self, group_id: &str, rules: &[Rule]) -> Result<usize, AwsError> {
        self.before();
        let r = self.world.revoke(group_id, rules).await;
        self.then(r)
    }
    async fn revoke_unmanaged(&mut self, group_id: &str) -> Result<usize, AwsError> {
        self.before();
        let r = self.world.revoke_unmanaged(group_id).await;
        self.then(r)
    }
    async fn revoke_outbound(&mut self, group_id: &str) -> Result<usize, AwsError> {
        self.before();
        let r = self.world.revoke_outbound(group_id).await;
        self.then(r)
    }
    async fn target_groups(&mut self, target: &TargetId) -> Result<Option<Vec<String>>, AwsError> {
        // A read, not a call that changes anything: meddling happens before the write that follows.
        self.before();
        self.world.target_groups(target).await
    }
    async fn set_target_groups(
        &mut self,
        target: &TargetId,
        group_ids: &[String],
    ) -> Result<(), AwsError> {
        let r = self.world.set_target_groups(target, group_ids).await;
        self.then(r)
    }
    async fn delete_group(&mut self, group_id: &str) -> Result<bool, AwsError> {
        self.before();
        let r = self.world.delete_group(group_id).await;
        self.then(r)
    }
    async fn forget(&mut self, group_ids: &[String]) -> Result<(), AwsError> {
        self.before();
        let r = self.world.forget(group_ids).await;
        self.then(r)
    }
    async fn record_rules(
        &mut self,
        digests: &BTreeMap<String, String>,
        gone: &[String],
    ) -> Result<(), AwsError> {
        self.before();
        let r = self.world.record_rules(digests, gone).await;
        self.then(r)
    }
    async fn record_synctoken(
        &mut self,
        group_ids: &[String],
        synctoken: u64,
    ) -> Result<(), AwsError> {
        self.before();
        let r = self.world.record_synctoken(group_ids, synctoken).await;
        self.then(r)
    }
}

/// Checks what can be read off the plan alone: make before break (the only removals before the last
/// "make" are early revokes of unpublished ranges and revokes of entries sgsync does not manage), one
/// authorize, one early and one late revoke per group at most, and adoption first.
fn check_order(desired: &Desired, plan: &Plan) -> Result<(), String> {
    let last_make = plan.actions.iter().rposition(Action::is_make);
    let published = published_addresses(&desired.rules);
    let mut calls: BTreeMap<(String, &str), usize> = BTreeMap::new();
    for (i, action) in plan.actions.iter().enumerate() {
        match action {
            Action::Adopt { .. } if i > 0 => {
                return Err(format!("step {i}: adoption is not the first step"));
            }
            Action::Revoke {
                rules, early: true, ..
            } => {
                // By address: no address of an early revoke may be published on its port.
                let still = |r: &&Rule| published.get(&r.ports).is_some_and(|a| a.overlaps(&r.net));
                if let Some(r) = rules.iter().find(still) {
                    return Err(format!("step {i}: early revoke of still-published {r}"));
                }
            }
            // Not published access: allowed before anything is added.
            Action::RevokeUnmanaged { .. } | Action::RevokeOutbound { .. } => {}
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
            Action::RevokeUnmanaged { group, .. } => Some((group.clone(), "revoke unmanaged")),
            Action::RevokeOutbound { group, .. } => Some((group.clone(), "revoke outbound")),
            _ => None,
        };
        if let Some(key) = key {
            let n = calls.entry(key.clone()).or_default();
            *n += 1;
            if *n > 1 {
                return Err(format!("step {i}: a second {} call for {}", key.1, key.0));
            }
        }
    }
    Ok(())
}

/// Checks the end of a run: exactly the desired rules, each once, on every target, within the
/// quotas, as the plan's layout says; no group made by an older sgsync left unadopted.
fn check_final(world: &World, desired: &Desired, plan: &Plan) -> Result<(), String> {
    let quotas = world.quotas;
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
    // A group an untagged (or skipped) target carries is kept, empty, when the layout no longer
    // needs it.
    let skipped: BTreeSet<&TargetId> = plan.skipped_targets.iter().map(|s| &s.target).collect();
    let carriers: Vec<&Vec<String>> = (world.untagged.values())
        .chain(
            world
                .targets
                .iter()
                .filter(|(t, _)| skipped.contains(t))
                .map(|(_, ids)| ids),
        )
        .collect();
    let kept: BTreeSet<&str> = (world.groups.iter())
        .filter(|(name, g)| {
            !plan.layout.contains_key(*name)
                && g.rules.is_empty()
                && carriers.iter().any(|ids| ids.contains(&g.id))
        })
        .map(|(name, _)| name.as_str())
        .collect();
    for (name, g) in world
        .groups
        .iter()
        .filter(|(n, _)| !kept.contains(n.as_str()))
    {
        if g.rules.is_empty() {
            return Err(format!("group {name} is left empty"));
        }
        if g.used().exceeds(quotas.rules_per_group) {
            return Err(format!("group {name} ends over the rules quota"));
        }
        if g.legacy || g.adopt {
            return Err(format!("group {name} was not adopted"));
        }
        if g.outbound > 0 {
            return Err(format!("group {name} ends with outbound entries"));
        }
        if plan.layout.get(name) != Some(&g.rules) {
            return Err(format!("plan layout disagrees with the world for {name}"));
        }
    }
    if plan.layout.len() + kept.len() != world.groups.len() {
        return Err("plan layout names groups the world does not have".into());
    }
    let all: BTreeSet<&str> = (world.groups.iter())
        .filter(|(name, _)| !kept.contains(name.as_str()))
        .map(|(_, g)| g.id.as_str())
        .collect();
    for (t, ids) in world.targets.iter().filter(|(t, _)| !skipped.contains(t)) {
        let attached: BTreeSet<&str> = ids.iter().map(String::as_str).collect();
        if !all.is_subset(&attached) {
            return Err(format!("{t} does not have every managed group"));
        }
    }
    Ok(())
}

/// Runs `plan` (made from `observed`) through the real [`apply`] against a simulated world, checking
/// every invariant of docs/design.md after every call and at the end. Returns the world after the run,
/// or the first violation.
pub fn check_run(observed: &Observed, desired: &Desired, plan: &Plan) -> Result<World, String> {
    check_run_meddled(observed, desired, plan, Vec::new())
}

/// [`check_run`], with others changing the world while the run goes on: each meddle happens right
/// before the call of that index (counting every call `apply` makes, reads included).
pub fn check_run_meddled(
    observed: &Observed,
    desired: &Desired,
    plan: &Plan,
    meddling: Vec<(usize, Meddle)>,
) -> Result<World, String> {
    check_order(desired, plan)?;
    let meddled = !meddling.is_empty();
    let world = World::from_observed(observed);
    let published = published_addresses(&desired.rules);
    let superseded: BTreeSet<Rule> = (observed.groups.iter())
        .flat_map(|g| &g.rules)
        .filter(|r| !desired.rules.contains(r))
        .filter(|r| published.get(&r.ports).is_some_and(|a| a.overlaps(&r.net)))
        .copied()
        .collect();
    let mut referee = Refereed {
        superseded: published_addresses(&superseded),
        before_access: world.access(),
        foreign: world
            .targets
            .iter()
            .map(|(t, ids)| (t.clone(), world.foreign_of(ids)))
            .collect(),
        untagged_before: world.untagged.clone(),
        swaps: (plan.actions.iter())
            .filter_map(|a| match a {
                Action::SetTargetGroups {
                    target, replace, ..
                } => Some((target.clone(), replace.clone())),
                _ => None,
            })
            .collect(),
        world,
        desired,
        observed,
        meddling,
        calls: 0,
    };
    let applied = apply(&mut referee, observed, plan)
        .now_or_never()
        .expect("the simulated world never waits")
        .map_err(|e| e.to_string())?;
    let world = referee.world;
    if let Some(f) = applied.failed.first() {
        // The simulated world refuses a target write only when a plan asks for too much.
        return Err(format!("a target write failed: {}", f.reason));
    }
    let mut expected = Changes::of_plan(plan);
    expected.targets_updated -= applied.vanished.len();
    if applied.changes != expected {
        return Err(format!(
            "apply counted {:?}, the plan says {expected:?}",
            applied.changes
        ));
    }
    let ids: BTreeMap<String, String> = world
        .groups
        .iter()
        .map(|(n, g)| (n.clone(), g.id.clone()))
        .collect();
    if applied.ids != ids {
        return Err(format!(
            "apply's ids {:?} are not the world's {ids:?}",
            applied.ids
        ));
    }
    check_final(&world, desired, plan)?;
    // Someone else's changes (a slot taken on a target) may call for another plan; sgsync's own may
    // not, but for a target it left out for lack of room (there may be room once the run's
    // superseded rules are gone).
    // Nor may a repack that an aggregate's split kept from the fewest groups this time (the
    // superseded rule held its slot until the end): the next run gets there.
    let fewest = observed.quotas.groups_for(PerFamily::of(&desired.rules));
    let repack_pending = desired.repack && plan.layout.len() > fewest;
    if !meddled && plan.skipped_targets.is_empty() && !repack_pending {
        let again = plan_again(desired, &world)?;
        if !again.is_empty() {
            return Err(format!("planning again is not empty: {:?}", again.actions));
        }
    }
    Ok(world)
}

fn plan_again(desired: &Desired, world: &World) -> Result<Plan, String> {
    plan(desired, &world.observe()).map_err(|e| format!("planning again fails: {e}"))
}
