//! The plain data of the security-group kind: what one read of a VPC finds (groups, targets, quotas),
//! what the planner is asked to reach, the actions it returns and what running them changed. No AWS
//! type appears here, so the planner can be driven by property tests over thousands of random
//! histories without any network, and `report` can render all of it without knowing AWS.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

use super::replace::ForeignGroup;
use crate::addresses::Published;
use crate::ownership::Unrecorded;
use crate::rule::{PerFamily, Rule};

/// The quotas that bound a layout. Defaults are AWS's defaults; both are adjustable per account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Quotas {
    /// Inbound rules per security group **per IP family** (a group holds this many IPv4 rules and,
    /// separately, this many IPv6 rules), Service Quotas `L-0EA8095F`.
    pub rules_per_group: usize,
    /// Security groups per network interface (and per load balancer), Service Quotas `L-2AFB9258`.
    pub groups_per_target: usize,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            rules_per_group: 60,
            groups_per_target: 5,
        }
    }
}

impl Quotas {
    /// AWS's product rule: rules per group × groups per interface may not exceed 1,000.
    pub const PRODUCT_LIMIT: usize = 1000;

    /// How many groups `rules` need at these quotas: the larger family decides.
    pub fn groups_for(&self, rules: PerFamily) -> usize {
        rules.max().div_ceil(self.rules_per_group.max(1))
    }
}

/// Quotas given in the settings (`RULES_PER_GROUP`, `GROUPS_PER_TARGET`): they win over Service Quotas.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QuotaOverrides {
    /// Rules per group, when set.
    pub rules_per_group: Option<usize>,
    /// Groups per target, when set.
    pub groups_per_target: Option<usize>,
}

impl QuotaOverrides {
    /// `quotas` with the overrides applied.
    pub fn over(self, quotas: Quotas) -> Quotas {
        Quotas {
            rules_per_group: self.rules_per_group.unwrap_or(quotas.rules_per_group),
            groups_per_target: self.groups_per_target.unwrap_or(quotas.groups_per_target),
        }
    }
}

/// Something security groups are attached to. Interfaces and load balancers are changed through
/// different APIs, so the kind travels with the id.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum TargetId {
    /// An elastic network interface (`eni-…`), changed with `ModifyNetworkInterfaceAttribute`.
    Interface(String),
    /// An ALB or NLB (its ARN), changed with `elasticloadbalancingv2:SetSecurityGroups`.
    LoadBalancer(String),
}

impl fmt::Display for TargetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetId::Interface(id) => write!(f, "interface {id}"),
            TargetId::LoadBalancer(arn) => {
                // The ARN's tail (`app/name/hash`) is what people recognise.
                let short = arn
                    .split_once("loadbalancer/")
                    .map_or(arn.as_str(), |(_, t)| t);
                write!(f, "load balancer {short}")
            }
        }
    }
}

/// A security group sgsync owns, as observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedGroup {
    /// The group id (`sg-…`).
    pub id: String,
    /// The group name; unique within a VPC, so the plan refers to groups by name (new groups have no
    /// id until they are created).
    pub name: String,
    /// Its TCP/CIDR inbound rules.
    pub rules: BTreeSet<Rule>,
    /// Inbound entries sgsync does not model (all traffic, other protocols, group or prefix-list
    /// sources). A run revokes them before it authorizes anything: they are not published access.
    pub unmanaged_entries: usize,
    /// The slots those entries take in each family's quota: a CIDR entry in its own family, a group
    /// or prefix-list source in both (conservatively: AWS counts a group reference in both).
    pub unmanaged_slots: PerFamily,
    /// Its outbound entries. A managed group allows no outbound traffic: attached to an interface whose
    /// own groups restrict outbound traffic, any outbound entry (AWS's default "all traffic to
    /// 0.0.0.0/0" included) would widen it. They are revoked before the group reaches any target.
    pub outbound: usize,
    /// The synctoken recorded on the group by the last run that completed (a tag).
    pub synctoken: Option<u64>,
    /// Found carrying this deployment's tags but not in its record, and adopted (`--adopt`: an
    /// sgsync that kept no record made it): the run records it first.
    pub adopt: bool,
    /// Made by an sgsync that did not record deployments (no `sgsync:deployment` tag): adopted, it is
    /// tagged as this deployment's too.
    pub legacy: bool,
}

/// A target as observed: every group attached to it, managed or not, in the order the API gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedTarget {
    /// Which interface or load balancer.
    pub id: TargetId,
    /// Every attached group id. Ids that are not managed groups are foreign and are kept as they are.
    pub groups: Vec<String>,
}

/// One read of a VPC: everything the planner needs to know, and what the user should hear about it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observed {
    /// The VPC whose groups are managed.
    pub vpc_id: String,
    /// The managed groups (owned by this sgsync deployment).
    pub groups: Vec<ObservedGroup>,
    /// The targets: interfaces and load balancers tagged `sgsync:target` = `PREFIX_NAME`. Every
    /// managed group is attached to every one of them.
    pub targets: Vec<ObservedTarget>,
    /// Interfaces and load balancers that carry a managed group but not the target tag. They are
    /// never modified, so no rule may leave a group attached to one of them (it would lose access).
    pub untagged: Vec<ObservedTarget>,
    /// Groups that carry this deployment's tags but are not in its record: reported, never changed
    /// (but a reclaimable one, deleted so that its name is free).
    pub unrecorded: Vec<Unrecorded>,
    /// Ids the record holds of groups that no longer exist (deleted by hand, or by a run that stopped
    /// before it updated the record): taken out of the record.
    pub missing: Vec<String>,
    /// Names of this deployment's pattern held by groups it does not own (untagged groups, other
    /// deployments', unrecorded ones): new groups skip them, so two deployments under one prefix
    /// coexist with interleaved numbers.
    pub taken_names: BTreeSet<String>,
    /// The quotas to plan with (read from Service Quotas, overridden, or AWS's defaults).
    pub quotas: Quotas,
    /// Group id → the [`digest`] of the rules the last full apply left in it (the record
    /// `/sgsync/<DEPLOYMENT_ID>/security-group-rules`); read by the event path only, which attaches
    /// a group only while it holds exactly those.
    pub rule_digests: BTreeMap<String, String>,
    /// The groups sgsync does not manage on the tagged targets that carry a group `REPLACES` names
    /// (id → what a swap would take off): read only when REPLACES is set.
    pub foreign: BTreeMap<String, ForeignGroup>,
    /// Things the user should know (unmanageable interfaces, unmodelled entries, a quota fallback …).
    pub warnings: Vec<String>,
}

/// A short digest of a set of rules: the first 16 hex digits of the SHA-256 of their text, one per
/// line, in order. What the last apply left in a group, recorded so that the event path (which reads
/// no document) can tell that nobody added a rule since: a rule added by hand on another port or from
/// an unpublished CIDR looks like a managed one.
pub fn digest<'a>(rules: impl IntoIterator<Item = &'a Rule>) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for r in rules {
        hash.update(r.to_string().as_bytes());
        hash.update(b"\n");
    }
    hash.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// How much room every target leaves for managed groups: the bound of every plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capacity {
    /// The target with the most foreign groups, and how many it has.
    pub fullest: Option<(TargetId, usize)>,
    /// Managed groups every target can take: groups per target − foreign groups on the fullest.
    pub max_groups: usize,
    /// Rules of each family that fit: rules per group × `max_groups`.
    pub max_rules: usize,
}

impl Observed {
    /// The synctokens recorded on the managed groups.
    pub fn synctokens(&self) -> impl Iterator<Item = u64> + '_ {
        self.groups.iter().filter_map(|g| g.synctoken)
    }

    /// The id of a managed group, by name.
    pub fn group_id(&self, name: &str) -> Option<&str> {
        self.groups
            .iter()
            .find(|g| g.name == name)
            .map(|g| g.id.as_str())
    }

    /// The name of a managed group, by id; `None` for a foreign group.
    pub fn group_name(&self, id: &str) -> Option<&str> {
        self.groups
            .iter()
            .find(|g| g.id == id)
            .map(|g| g.name.as_str())
    }

    /// Whether a group id belongs to a managed group.
    pub fn is_managed(&self, group_id: &str) -> bool {
        self.groups.iter().any(|g| g.id == group_id)
    }

    /// The foreign group ids of a target, in their order.
    pub fn foreign_of<'a>(
        &'a self,
        target: &'a ObservedTarget,
    ) -> impl Iterator<Item = &'a String> + 'a {
        target.groups.iter().filter(|id| !self.is_managed(id))
    }

    /// The room the targets leave, at the observed quotas.
    pub fn capacity(&self) -> Capacity {
        let quotas = self.quotas;
        let fullest = self
            .targets
            .iter()
            .map(|t| (t, self.foreign_of(t).count()))
            .max_by_key(|(_, n)| *n)
            .map(|(t, n)| (t.id.clone(), n));
        let foreign = fullest.as_ref().map_or(0, |(_, n)| *n);
        let max_groups = quotas.groups_per_target.saturating_sub(foreign);
        Capacity {
            fullest,
            max_groups,
            max_rules: quotas.rules_per_group * max_groups,
        }
    }
}

impl ObservedGroup {
    /// The slots of each family the group uses now: its rules and its unmanaged entries.
    pub fn used(&self) -> PerFamily {
        PerFamily::of(&self.rules).plus(self.unmanaged_slots)
    }
}

/// What the planner is asked to reach.
#[derive(Clone, Debug)]
pub struct Desired {
    /// Exactly the rules the managed groups must hold, together.
    pub rules: BTreeSet<Rule>,
    /// The document's synctoken, recorded on the groups once they hold `rules`.
    pub synctoken: u64,
    /// Name stem for new groups: they are called `{stem}-{n}` with the smallest free `n`, so a group
    /// re-created after a crash gets a recognisable, predictable name.
    pub group_stem: String,
    /// Pack into as few groups as the quotas allow, moving rules if needed (`--repack`); otherwise
    /// rules only move when they must.
    pub repack: bool,
    /// With `REPLACES`: every address the document publishes for the selected services in every
    /// region and family. A swap may take none of them away that `rules` do not allow; `None`
    /// allows no swap.
    pub published: Option<Published>,
}

/// One step of a plan. The apply step makes exactly one API call per action. Groups are named by
/// name, not id: a group the plan creates has no id until it exists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Record groups this deployment adopts (`--adopt`: made by an sgsync that kept no record), and
    /// tag those without `sgsync:deployment` as this deployment's: first, so that every later call
    /// is on a group the deployment owns.
    Adopt {
        groups: Vec<String>,
        /// Those of `groups` that lack the deployment tag.
        untagged: Vec<String>,
    },
    /// Delete a group that carries this deployment's tags but is not in its record, empty and
    /// attached nowhere (a run stopped between creating and recording it): its name is free again.
    Reclaim { group: String, id: String },
    /// Create a managed group, tagged with ownership and the synctoken at creation.
    CreateGroup {
        /// The new group's name.
        group: String,
        /// The synctoken recorded in its tags.
        synctoken: u64,
    },
    /// Authorize rules in one group (one call, IPv4 and IPv6 together).
    Authorize {
        group: String,
        /// The rules to add.
        rules: Vec<Rule>,
    },
    /// Set the groups of one target to `foreign` followed by `managed`: attach and detach in one
    /// atomic call, so a target never holds more groups than the quota, even mid-run.
    SetTargetGroups {
        target: TargetId,
        /// Foreign group ids, kept in their order.
        foreign: Vec<String>,
        /// Managed group names the target ends up with.
        managed: Vec<String>,
        /// Managed group names this call adds.
        attach: Vec<String>,
        /// Managed group names this call removes.
        detach: Vec<String>,
        /// Foreign group ids this call swaps out (`REPLACES`): the managed groups then allow every
        /// published rule they allowed, and the groups that stay every outbound entry.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        replace: Vec<String>,
    },
    /// Revoke rules from one group (one call), named by CIDR and port so the request is its own audit.
    Revoke {
        group: String,
        /// The rules to remove.
        rules: Vec<Rule>,
        /// True when this revoke runs before the authorizations to free slots; it then only ever
        /// holds ranges the new document no longer publishes.
        early: bool,
    },
    /// Revoke every outbound entry of a kept managed group (AWS's default one, left by a run that
    /// stopped right after creating the group, or one added by hand): before any target update, so a
    /// managed group never reaches a target with one.
    RevokeOutbound {
        group: String,
        /// How many entries were observed (the apply step re-reads the group and revokes what is there).
        entries: usize,
    },
    /// Revoke every entry of a kept managed group that is not a TCP/CIDR rule (all traffic, other
    /// protocols, group or prefix-list sources): a managed group allows the published ranges and
    /// nothing else, so anything added by hand is drift. Late, like every other removal.
    RevokeUnmanaged {
        group: String,
        /// How many entries were observed (the apply step re-reads the group and revokes what is there).
        entries: usize,
    },
    /// Delete a managed group that is empty and attached nowhere.
    DeleteGroup { group: String },
    /// Record the applied synctoken on groups that hold the desired rules already.
    RecordSynctoken { groups: Vec<String>, synctoken: u64 },
    /// Take ids of groups that no longer exist out of the deployment's record.
    Forget { ids: Vec<String> },
}

impl Action {
    /// Whether the action only adds access (create, authorize, an attach-only target update): the
    /// "make" half of make-before-break.
    pub fn is_make(&self) -> bool {
        match self {
            Action::CreateGroup { .. } | Action::Authorize { .. } => true,
            Action::SetTargetGroups {
                detach, replace, ..
            } => detach.is_empty() && replace.is_empty(),
            _ => false,
        }
    }

    /// Whether the action may remove access (revoke, a target update that detaches, delete).
    pub fn is_break(&self) -> bool {
        match self {
            Action::Revoke { .. }
            | Action::RevokeUnmanaged { .. }
            | Action::RevokeOutbound { .. }
            | Action::DeleteGroup { .. } => true,
            // An empty group attached nowhere: it takes nothing from anyone.
            Action::Reclaim { .. } => false,
            Action::Adopt { .. } => false,
            Action::SetTargetGroups {
                detach, replace, ..
            } => !detach.is_empty() || !replace.is_empty(),
            _ => false,
        }
    }
}

/// The planner's answer: the actions, in the order they must run, and the layout they produce.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// Ordered actions; empty when the world already matches.
    pub actions: Vec<Action>,
    /// Group name → rules, after the plan has run.
    pub layout: BTreeMap<String, BTreeSet<Rule>>,
    /// Targets without room for the managed groups, left out of the plan (they keep the managed groups
    /// they carry, and every published rule those hold); each an error of the run.
    pub skipped_targets: Vec<SkippedTarget>,
    /// Groups `REPLACES` names that the plan swaps out of every target carrying them and that
    /// nothing else carries: sgsync never deletes them, it says they are attached nowhere.
    pub released: Vec<String>,
    /// Rules of swapped-out groups whose addresses the document no longer publishes: dropped on
    /// purpose, said in the plan.
    pub dropped: Vec<String>,
}

/// A target left out of a plan because it has no room for the managed groups.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SkippedTarget {
    pub target: TargetId,
    /// Why, with the numbers and what to do.
    pub reason: String,
}

impl Plan {
    /// True when running the plan would change nothing at all.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// Whether any action changes what the groups allow or where they are attached, i.e. the plan is
    /// more than bookkeeping (recording the synctoken).
    pub fn changes_access(&self) -> bool {
        self.actions
            .iter()
            .any(|a| !matches!(a, Action::RecordSynctoken { .. }))
    }
}

/// What a run changed (or, for a plan, would change), counted in the units a reviewer thinks in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Changes {
    /// Groups created.
    pub groups_created: usize,
    /// Rules authorized.
    pub rules_authorized: usize,
    /// Rules revoked (entries not managed by sgsync included).
    pub rules_revoked: usize,
    /// Interfaces and load balancers whose groups were set.
    pub targets_updated: usize,
    /// Groups deleted.
    pub groups_deleted: usize,
}

impl Changes {
    /// What a plan would change if every action did its full work.
    pub fn of_plan(plan: &Plan) -> Changes {
        let mut c = Changes::default();
        for action in &plan.actions {
            match action {
                Action::CreateGroup { .. } => c.groups_created += 1,
                Action::Authorize { rules, .. } => c.rules_authorized += rules.len(),
                Action::Revoke { rules, .. } => c.rules_revoked += rules.len(),
                Action::RevokeUnmanaged { entries, .. }
                | Action::RevokeOutbound { entries, .. } => c.rules_revoked += entries,
                Action::SetTargetGroups { .. } => c.targets_updated += 1,
                Action::DeleteGroup { .. } => c.groups_deleted += 1,
                Action::RecordSynctoken { .. }
                | Action::Adopt { .. }
                | Action::Reclaim { .. }
                | Action::Forget { .. } => {}
            }
        }
        c
    }
}
