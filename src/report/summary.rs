//! One run as JSON — printed by `plan`/`apply --output json`, returned by the Lambda — and its
//! one-line headline for the log. The security-group fields sit at the top level (where they were
//! before other kinds existed); each other kind has its own section, present when `TARGETS` names it.

use serde::Serialize;

use crate::outcome::{Outcome, Share, Status};
use crate::rule::Family;
use crate::security_groups::{Action, Changes, Quotas, TargetId};
use crate::{ip_sets, prefix_lists};

/// One managed group after the run (or, for `plan`, after the plan would run).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GroupSummary {
    /// Its id; `None` for a group `plan` would create.
    pub id: Option<String>,
    pub name: String,
    pub rules: usize,
}

/// The security-group kind in a run's summary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GroupsSummary {
    /// Managed groups after the run.
    pub groups: Vec<GroupSummary>,
    /// What changed (for `plan`: what would change).
    pub changes: Changes,
    pub vpc_id: String,
    /// The quotas planned with.
    pub quotas: Quotas,
    /// The targets: interfaces and load balancers tagged `sgsync:target` = `PREFIX_NAME`.
    pub targets: Vec<TargetId>,
    /// Interfaces and load balancers that carry a managed group without the tag: never modified;
    /// tag them to make them targets.
    pub untagged_targets: Vec<TargetId>,
    /// The plan's actions, in order (empty when nothing changes).
    pub actions: Vec<Action>,
}

/// One managed prefix list after the run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ListSummary {
    /// `pl-…`; `None` for a list `plan` would create.
    pub id: Option<String>,
    pub name: String,
    pub family: Family,
    /// Its size: also its weight in each security-group rule that references it.
    pub max_entries: usize,
    pub entries: usize,
}

/// The prefix-list kind in a run's summary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ListsSummary {
    pub lists: Vec<ListSummary>,
    pub changes: prefix_lists::Changes,
    /// Lists left empty that something still references: kept until nothing does.
    pub kept: Vec<String>,
    /// The RAM share, when `SHARE_WITH` names principals.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share: Option<Share>,
    pub actions: Vec<prefix_lists::Action>,
}

/// One managed WAF IP set after the run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SetSummary {
    /// Its id; `None` for a set `plan` would create.
    pub id: Option<String>,
    /// What a web ACL rule names; `None` for a set `plan` would create.
    pub arn: Option<String>,
    pub name: String,
    pub family: Family,
    pub addresses: usize,
}

/// The WAF kind in a run's summary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SetsSummary {
    pub scope: ip_sets::Scope,
    pub sets: Vec<SetSummary>,
    pub changes: ip_sets::Changes,
    pub actions: Vec<ip_sets::Action>,
}

/// The summary of one run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// How the run ended.
    pub status: Status,
    /// The document's synctoken.
    pub synctoken: String,
    /// The selected service(s).
    pub service: String,
    /// Desired security-group rules (CIDRs × port ranges).
    pub rules: usize,
    /// The security groups (when `TARGETS` names them), as top-level fields.
    #[serde(flatten)]
    pub security_groups: Option<GroupsSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix_lists: Option<ListsSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waf_ip_sets: Option<SetsSummary>,
    /// Things the user should know.
    pub warnings: Vec<String>,
}

impl From<&Outcome> for Summary {
    fn from(o: &Outcome) -> Summary {
        let skipped = o.status == Status::Skipped;
        Summary {
            status: o.status,
            synctoken: o.synctoken.to_string(),
            service: o.service.clone(),
            rules: o.rules,
            security_groups: o.groups.as_ref().map(|g| GroupsSummary {
                groups: o
                    .groups_after()
                    .into_iter()
                    .map(|g| GroupSummary {
                        id: g.id,
                        name: g.name,
                        rules: g.rules,
                    })
                    .collect(),
                changes: g.changes,
                vpc_id: g.observed.vpc_id.clone(),
                quotas: g.observed.quotas,
                targets: g.observed.targets.iter().map(|t| t.id.clone()).collect(),
                untagged_targets: g.observed.untagged.iter().map(|t| t.id.clone()).collect(),
                actions: g.plan.actions.clone(),
            }),
            prefix_lists: o.lists.as_ref().map(|l| ListsSummary {
                lists: if skipped || l.plan.layout.is_empty() {
                    l.observed
                        .lists
                        .iter()
                        .map(|x| ListSummary {
                            id: Some(x.id.clone()),
                            name: x.name.clone(),
                            family: x.family,
                            max_entries: x.max_entries,
                            entries: x.entries.len(),
                        })
                        .collect()
                } else {
                    l.plan
                        .layout
                        .iter()
                        .map(|(name, after)| ListSummary {
                            id: match &l.ids {
                                Some(ids) => ids.get(name).cloned(),
                                None => l
                                    .observed
                                    .lists
                                    .iter()
                                    .find(|x| &x.name == name)
                                    .map(|x| x.id.clone()),
                            },
                            name: name.clone(),
                            family: after.family,
                            max_entries: after.max_entries,
                            entries: after.entries.len(),
                        })
                        .collect()
                },
                changes: l.changes,
                kept: l.kept.clone(),
                share: l.share.clone(),
                actions: l.plan.actions.clone(),
            }),
            waf_ip_sets: o.sets.as_ref().map(|s| SetsSummary {
                scope: s.scope,
                sets: if skipped || s.plan.layout.is_empty() {
                    s.observed
                        .sets
                        .iter()
                        .map(|x| SetSummary {
                            id: Some(x.id.clone()),
                            arn: s.arns.get(&x.id).cloned(),
                            name: x.name.clone(),
                            family: x.family,
                            addresses: x.addresses.len(),
                        })
                        .collect()
                } else {
                    s.plan
                        .layout
                        .iter()
                        .map(|(name, (family, addresses))| {
                            let id = s.ids.get(name).cloned();
                            SetSummary {
                                arn: id.as_ref().and_then(|id| s.arns.get(id).cloned()),
                                id,
                                name: name.clone(),
                                family: *family,
                                addresses: addresses.len(),
                            }
                        })
                        .collect()
                },
                changes: s.changes,
                actions: s.plan.actions.clone(),
            }),
            warnings: o.all_warnings(),
        }
    }
}

impl Summary {
    /// One line for logs: how the run ended, then each kind's changes.
    pub fn headline(&self) -> String {
        let verb = match self.status {
            Status::Applied => "applied",
            Status::Unchanged => "unchanged",
            Status::Planned => "planned",
            Status::Skipped => "skipped",
        };
        let mut parts = Vec::new();
        match &self.security_groups {
            Some(g) => {
                let c = &g.changes;
                parts.push(format!(
                    "{verb}: {} rules of {} (document {}) in {} groups; {} groups created, {} rules authorized, {} rules revoked, {} targets updated, {} groups deleted",
                    self.rules,
                    self.service,
                    self.synctoken,
                    g.groups.len(),
                    c.groups_created,
                    c.rules_authorized,
                    c.rules_revoked,
                    c.targets_updated,
                    c.groups_deleted
                ));
            }
            None => parts.push(format!(
                "{verb}: {} (document {})",
                self.service, self.synctoken
            )),
        }
        if let Some(l) = &self.prefix_lists {
            let c = &l.changes;
            parts.push(format!(
                "prefix lists: {} entries in {} lists; {} lists created, {} resized, {} entries added, {} removed, {} lists deleted",
                l.lists.iter().map(|x| x.entries).sum::<usize>(),
                l.lists.len(),
                c.lists_created,
                c.lists_resized,
                c.entries_added,
                c.entries_removed,
                c.lists_deleted
            ));
        }
        if let Some(s) = &self.waf_ip_sets {
            let c = &s.changes;
            parts.push(format!(
                "WAF IP sets: {} addresses in {} sets; {} sets created, {} updated, {} addresses added, {} removed",
                s.sets.iter().map(|x| x.addresses).sum::<usize>(),
                s.sets.len(),
                c.sets_created,
                c.sets_updated,
                c.addresses_added,
                c.addresses_removed
            ));
        }
        parts.join("; ")
    }
}
