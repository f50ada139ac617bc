//! What exists now: the answer of `sgsync status`, for every kind `TARGETS` names.

use std::fmt;

use serde::Serialize;

use crate::ip_sets::Scope;
use crate::outcome::Inventory;
use crate::rule::{Family, PerFamily};
use crate::security_groups::{Quotas, TargetId};

/// One managed group in `sgsync status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GroupStatus {
    pub id: String,
    pub name: String,
    /// Rules sgsync manages in it, per family.
    pub rules: PerFamily,
    /// Entries sgsync does not manage (they use slots too).
    pub unmanaged_entries: usize,
    /// Slots used per family: its rules and the entries sgsync does not manage.
    pub used: PerFamily,
    /// Free rule slots, per family.
    pub free: PerFamily,
    /// The synctoken its rules come from.
    pub synctoken: Option<u64>,
}

/// One target in `sgsync status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TargetStatus {
    /// The interface or load balancer.
    pub target: TargetId,
    /// Managed groups attached, by name.
    pub managed: Vec<String>,
    /// Foreign group ids attached.
    pub foreign: Vec<String>,
    /// Group slots still free on it.
    pub free_group_slots: usize,
}

/// One managed prefix list in `sgsync status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ListStatus {
    pub id: String,
    pub name: String,
    pub family: Family,
    /// Its size: its weight in each security-group rule that references it.
    pub max_entries: usize,
    pub entries: usize,
    pub synctoken: Option<u64>,
    /// What references it (security groups, route tables …, in this or a sharing account).
    pub referenced_by: Vec<String>,
}

/// One managed WAF IP set in `sgsync status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SetStatus {
    pub id: String,
    /// What a web ACL rule names.
    pub arn: Option<String>,
    pub name: String,
    pub family: Family,
    pub addresses: usize,
    pub synctoken: Option<u64>,
}

/// The security groups in `sgsync status`: against the quota, the targets, the free capacity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GroupsStatus {
    pub vpc_id: String,
    pub quotas: Quotas,
    /// Managed groups.
    pub groups: Vec<GroupStatus>,
    /// Targets carrying them.
    pub targets: Vec<TargetStatus>,
    /// Rules the managed groups hold, per family.
    pub rules: PerFamily,
    /// Most rules of each family that fit on every target: rules per group × (groups per target −
    /// most foreign).
    pub max_rules: usize,
}

/// The WAF IP sets in `sgsync status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SetsStatus {
    pub scope: Scope,
    pub sets: Vec<SetStatus>,
}

/// What `sgsync status` shows: every kind `TARGETS` names, as it is now. The security-group fields
/// sit at the top level.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StatusReport {
    /// The ownership prefix.
    pub prefix: String,
    /// The newest synctoken recorded on any managed resource.
    pub applied_synctoken: Option<u64>,
    #[serde(flatten)]
    pub security_groups: Option<GroupsStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix_lists: Option<Vec<ListStatus>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waf_ip_sets: Option<SetsStatus>,
    /// Things to know.
    pub warnings: Vec<String>,
}

impl From<&Inventory> for StatusReport {
    fn from(inv: &Inventory) -> StatusReport {
        let groups = inv.groups.as_ref().map(|o| {
            let q = o.quotas;
            GroupsStatus {
                vpc_id: o.vpc_id.clone(),
                quotas: q,
                groups: o
                    .groups
                    .iter()
                    .map(|g| GroupStatus {
                        id: g.id.clone(),
                        name: g.name.clone(),
                        rules: PerFamily::of(&g.rules),
                        unmanaged_entries: g.unmanaged_entries,
                        used: g.used(),
                        free: g.used().free_under(q.rules_per_group),
                        synctoken: g.synctoken,
                    })
                    .collect(),
                targets: o
                    .targets
                    .iter()
                    .map(|t| TargetStatus {
                        target: t.id.clone(),
                        managed: t
                            .groups
                            .iter()
                            .filter_map(|id| o.group_name(id).map(str::to_string))
                            .collect(),
                        foreign: o.foreign_of(t).cloned().collect(),
                        free_group_slots: q.groups_per_target.saturating_sub(t.groups.len()),
                    })
                    .collect(),
                rules: PerFamily::of(o.groups.iter().flat_map(|g| &g.rules)),
                max_rules: o.capacity().max_rules,
            }
        });
        let lists = inv.lists.as_ref().map(|o| {
            o.lists
                .iter()
                .map(|l| ListStatus {
                    id: l.id.clone(),
                    name: l.name.clone(),
                    family: l.family,
                    max_entries: l.max_entries,
                    entries: l.entries.len(),
                    synctoken: l.synctoken,
                    referenced_by: inv.references.get(&l.id).cloned().unwrap_or_default(),
                })
                .collect()
        });
        let sets = inv.sets.as_ref().map(|(scope, o, arns)| SetsStatus {
            scope: *scope,
            sets: o
                .sets
                .iter()
                .map(|s| SetStatus {
                    id: s.id.clone(),
                    arn: arns.get(&s.id).cloned(),
                    name: s.name.clone(),
                    family: s.family,
                    addresses: s.addresses.len(),
                    synctoken: s.synctoken,
                })
                .collect(),
        });
        let warnings = inv
            .groups
            .iter()
            .flat_map(|o| &o.warnings)
            .chain(inv.lists.iter().flat_map(|o| &o.warnings))
            .chain(inv.sets.iter().flat_map(|(_, o, _)| &o.warnings))
            .cloned()
            .collect();
        StatusReport {
            prefix: inv.prefix.clone(),
            applied_synctoken: inv.applied_synctoken(),
            security_groups: groups,
            prefix_lists: lists,
            waf_ip_sets: sets,
            warnings,
        }
    }
}

impl fmt::Display for StatusReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let synctoken = self
            .applied_synctoken
            .map_or("none".to_string(), |t| t.to_string());
        if let Some(s) = &self.security_groups {
            writeln!(
                f,
                "VPC {}: {} managed groups with prefix {} (synctoken {synctoken})",
                s.vpc_id,
                s.groups.len(),
                self.prefix,
            )?;
            for g in &s.groups {
                let unmanaged = if g.unmanaged_entries > 0 {
                    format!(" ({} not managed by sgsync)", g.unmanaged_entries)
                } else {
                    String::new()
                };
                let rpg = s.quotas.rules_per_group;
                writeln!(
                    f,
                    "  {} {}: IPv4 {}/{rpg}, IPv6 {}/{rpg} rules{unmanaged}",
                    g.id, g.name, g.used.v4, g.used.v6,
                )?;
            }
            if s.targets.is_empty() {
                writeln!(
                    f,
                    "No targets: tag your origin's interfaces or load balancer sgsync:target={} to attach the managed groups.",
                    self.prefix
                )?;
            }
            for t in &s.targets {
                writeln!(
                    f,
                    "  {}: {} managed + {} foreign groups, {} of {} slots free",
                    t.target,
                    t.managed.len(),
                    t.foreign.len(),
                    t.free_group_slots,
                    s.quotas.groups_per_target
                )?;
            }
            writeln!(
                f,
                "Capacity: IPv4 {} of {max}, IPv6 {} of {max} rules used ({} rules per group and family × {} groups per target)",
                s.rules.v4,
                s.rules.v6,
                s.quotas.rules_per_group,
                s.quotas.groups_per_target,
                max = s.max_rules,
            )?;
        }
        if let Some(lists) = &self.prefix_lists {
            writeln!(
                f,
                "Prefix lists: {} managed with prefix {} (synctoken {synctoken})",
                lists.len(),
                self.prefix
            )?;
            for l in lists {
                let refs = if l.referenced_by.is_empty() {
                    "not referenced".to_string()
                } else {
                    format!("referenced by {}", l.referenced_by.join(", "))
                };
                writeln!(
                    f,
                    "  {} {} ({}): {} of {} entries, {refs}",
                    l.id, l.name, l.family, l.entries, l.max_entries
                )?;
            }
        }
        if let Some(s) = &self.waf_ip_sets {
            writeln!(
                f,
                "WAF IP sets ({}): {} managed with prefix {} (synctoken {synctoken})",
                s.scope,
                s.sets.len(),
                self.prefix
            )?;
            for set in &s.sets {
                writeln!(
                    f,
                    "  {} ({}): {} addresses, {}",
                    set.name,
                    set.family,
                    set.addresses,
                    set.arn.as_deref().unwrap_or(&set.id)
                )?;
            }
        }
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        Ok(())
    }
}
