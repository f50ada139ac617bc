//! Runs a [`Plan`] through the AWS adapters, one call per action, in the plan's order.
//!
//! The plan names groups; new groups get their ids here as they are created. Every action is
//! idempotent against the state a crashed or concurrent run may have left ("already exists", "already
//! gone" are treated as done after a re-read), so a run that stops anywhere converges on the next.

use std::collections::BTreeMap;

use serde::Serialize;
use thiserror::Error;
use tracing::info;

use crate::aws::observe::Observation;
use crate::aws::{AwsError, Clients, ec2, elbv2};
use crate::config::Config;
use crate::plan::{Action, Plan, TargetId};

/// What a run changed, counted in the units a reviewer thinks in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Changes {
    /// Groups created.
    pub groups_created: usize,
    /// Rules authorized.
    pub rules_authorized: usize,
    /// Rules revoked.
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
                Action::RevokeUnmanaged { entries, .. } => c.rules_revoked += entries,
                Action::SetTargetGroups { .. } => c.targets_updated += 1,
                Action::DeleteGroup { .. } => c.groups_deleted += 1,
                Action::RecordSynctoken { .. } => {}
            }
        }
        c
    }
}

/// An action that failed. The actions before it were applied; the plan's order guarantees that the
/// state in between loses no access, and the next run converges from it.
#[derive(Debug, Error)]
#[error(
    "step {step} of {total} ({what}) failed; the {done} steps before it were applied and the next run continues from there: {source}"
)]
pub struct ApplyError {
    /// 1-based index of the failed action.
    pub step: usize,
    /// Number of actions in the plan.
    pub total: usize,
    /// Steps completed.
    pub done: usize,
    /// The failed action, described.
    pub what: String,
    /// What changed before the failure.
    pub changes: Changes,
    /// The AWS error.
    #[source]
    pub source: AwsError,
}

/// Describes an action in a few words, for logs and errors.
pub fn describe(action: &Action) -> String {
    match action {
        Action::CreateGroup { group, .. } => format!("create group {group}"),
        Action::Authorize { group, rules } => format!("authorize {} rules in {group}", rules.len()),
        Action::Revoke { group, rules, .. } => format!("revoke {} rules from {group}", rules.len()),
        Action::SetTargetGroups {
            target,
            attach,
            detach,
            ..
        } => format!(
            "set groups of {target} (+{} −{})",
            attach.len(),
            detach.len()
        ),
        Action::RevokeUnmanaged { group, entries } => {
            format!("revoke {entries} entries not managed by sgsync from {group}")
        }
        Action::DeleteGroup { group } => format!("delete group {group}"),
        Action::RecordSynctoken { groups, synctoken } => {
            format!("record synctoken {synctoken} on {} groups", groups.len())
        }
    }
}

fn id_of(ids: &BTreeMap<String, String>, name: &str) -> Result<String, AwsError> {
    ids.get(name).cloned().ok_or_else(|| AwsError {
        operation: "sgsync:apply",
        code: None,
        message: format!("no id known for group {name}; this is a bug, please report it"),
    })
}

/// Runs `plan` and returns what changed and the ids of the groups (by name) after the run.
pub async fn apply(
    clients: &Clients,
    config: &Config,
    observation: &Observation,
    plan: &Plan,
) -> Result<(Changes, BTreeMap<String, String>), ApplyError> {
    let mut ids: BTreeMap<String, String> = observation
        .observed
        .groups
        .iter()
        .map(|g| (g.name.clone(), g.id.clone()))
        .collect();
    let mut changes = Changes::default();
    let service = config.service_label();
    let rule_description = format!("{service} (sgsync)");
    let group_description = format!(
        "{service} ranges on tcp/{}, kept in sync by sgsync; do not edit",
        config
            .ports
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    );
    let total = plan.actions.len();
    for (i, action) in plan.actions.iter().enumerate() {
        info!(step = i + 1, total, action = %describe(action), "applying");
        let fail = |source: AwsError, changes: Changes| ApplyError {
            step: i + 1,
            total,
            done: i,
            what: describe(action),
            changes,
            source,
        };
        let step: Result<(), AwsError> = async {
            match action {
                Action::CreateGroup { group, synctoken } => {
                    let id = ec2::create_group(
                        &clients.ec2,
                        &observation.vpc_id,
                        group,
                        &group_description,
                        &config.prefix_name,
                        *synctoken,
                    )
                    .await?;
                    ids.insert(group.clone(), id);
                    changes.groups_created += 1;
                }
                Action::Authorize { group, rules } => {
                    changes.rules_authorized += ec2::authorize(
                        &clients.ec2,
                        &id_of(&ids, group)?,
                        rules,
                        &rule_description,
                    )
                    .await?;
                }
                Action::Revoke { group, rules, .. } => {
                    changes.rules_revoked +=
                        ec2::revoke(&clients.ec2, &id_of(&ids, group)?, rules).await?;
                }
                Action::SetTargetGroups {
                    target,
                    foreign,
                    managed,
                    ..
                } => {
                    let mut all = foreign.clone();
                    for name in managed {
                        all.push(id_of(&ids, name)?);
                    }
                    match target {
                        TargetId::Interface(eni) => {
                            ec2::set_interface_groups(&clients.ec2, eni, &all).await?
                        }
                        TargetId::LoadBalancer(arn) => {
                            elbv2::set_groups(&clients.elbv2, arn, &all).await?
                        }
                    }
                    changes.targets_updated += 1;
                }
                Action::RevokeUnmanaged { group, .. } => {
                    changes.rules_revoked +=
                        ec2::revoke_unmanaged(&clients.ec2, &id_of(&ids, group)?).await?;
                }
                Action::DeleteGroup { group } => {
                    ec2::delete_group(&clients.ec2, &id_of(&ids, group)?).await?;
                    ids.remove(group);
                    changes.groups_deleted += 1;
                }
                Action::RecordSynctoken { groups, synctoken } => {
                    let group_ids = groups
                        .iter()
                        .map(|g| id_of(&ids, g))
                        .collect::<Result<Vec<_>, _>>()?;
                    ec2::record_synctoken(&clients.ec2, &group_ids, *synctoken).await?;
                }
            }
            Ok(())
        }
        .await;
        step.map_err(|e| fail(e, changes))?;
    }
    Ok((changes, ids))
}
