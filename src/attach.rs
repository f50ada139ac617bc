//! A new target, protected within seconds: the run of an EC2 launch or a tag event. It needs no
//! document — it attaches the managed groups that exist, as they are — and reads only what the target
//! needs: the target itself (its interfaces, or the load balancer), the managed groups of its VPC, the
//! quotas.
//!
//! ```text
//! event (instance running | sgsync:target tagged) → aws::observe_event_targets → Observed (the event's
//!   targets only) → security_groups::plan (desired = what the groups hold now) → only attachments
//!   (and the cleaning of entries added by hand, as a full run does first) → apply
//! ```
//!
//! The same planner and the same `apply` as a full run, so every rule holds: opt-in only, foreign
//! groups kept first, capacity checked (a target without room is refused with its name and the
//! numbers), never widen, exact ownership. A plan that would do more than attach (the groups need a
//! full run first) is refused, and the daily run does it.

use std::collections::BTreeSet;

use tracing::{info, warn};

use crate::aws::{self, Clients, EventTarget};
use crate::config::Config;
use crate::error::AwsError;
use crate::event::{InstanceEvent, TAG_TARGET, TagEvent};
use crate::outcome::{GroupsOutcome, Outcome, Status};
use crate::security_groups::{self, Action, Changes, Desired, Plan};
use crate::sync::{self, Mode, RunError};

/// What an event asks sgsync to look at, or why it asks for nothing.
fn target_of_instance(e: &InstanceEvent) -> Result<EventTarget, String> {
    if e.state == "running" {
        Ok(EventTarget::Instance(e.instance_id.clone()))
    } else {
        Err(format!(
            "instance {} is {}: only a running instance needs the managed groups",
            e.instance_id, e.state
        ))
    }
}

fn target_of_tag(e: &TagEvent, prefix: &str) -> Result<EventTarget, String> {
    match e.value.as_deref() {
        None => {
            return Err(format!(
                "{} no longer carries {TAG_TARGET}: it is no longer a target, so sgsync leaves it as it is \
                 (detach the managed groups by hand if they should go)",
                e.resource
            ));
        }
        Some(v) if v != prefix => {
            return Err(format!(
                "{} is tagged {TAG_TARGET}={v}, another deployment's prefix (this one's is {prefix})",
                e.resource
            ));
        }
        Some(_) => {}
    }
    EventTarget::from_arn(&e.resource).ok_or_else(|| {
        format!(
            "{} is not an interface, an instance or an ALB/NLB: nothing to attach",
            e.resource
        )
    })
}

/// An outcome that changed nothing, saying why.
fn nothing(config: &Config, why: String) -> Outcome {
    info!("{why}");
    Outcome {
        status: Status::Unchanged,
        service: config.service_label(),
        synctoken: 0,
        create_date: String::new(),
        rules: 0,
        warnings: vec![why],
        groups: None,
        lists: None,
        sets: None,
    }
}

/// Refuses an event of another Region: its resources cannot be this deployment's (a replayed file, or
/// a rule forwarding events across Regions).
fn in_region(config: &Config, region: Option<&str>) -> Result<(), AwsError> {
    match region {
        Some(r) if r != config.region => Err(AwsError::other(
            "sgsync:event",
            format!(
                "the event happened in {r}, this deployment is in {}: nothing was changed; \
                 replay it with REGION={r} (and that Region's settings)",
                config.region
            ),
        )),
        _ => Ok(()),
    }
}

/// Handles an instance state-change event.
pub(crate) async fn on_instance(
    config: &Config,
    clients: &Clients,
    event: &InstanceEvent,
    mode: Mode,
) -> Result<Outcome, RunError> {
    in_region(config, event.region.as_deref())?;
    match target_of_instance(event) {
        Ok(target) => attach(config, clients, target, mode).await,
        Err(why) => Ok(nothing(config, why)),
    }
}

/// Handles a tag-change event.
pub(crate) async fn on_tag(
    config: &Config,
    clients: &Clients,
    event: &TagEvent,
    mode: Mode,
) -> Result<Outcome, RunError> {
    in_region(config, event.region.as_deref())?;
    match target_of_tag(event, &config.prefix_name) {
        Ok(target) => attach(config, clients, target, mode).await,
        Err(why) => Ok(nothing(config, why)),
    }
}

/// Gives the event's targets every managed group of their VPC.
async fn attach(
    config: &Config,
    clients: &Clients,
    target: EventTarget,
    mode: Mode,
) -> Result<Outcome, RunError> {
    if !config.kinds.security_groups {
        return Ok(nothing(
            config,
            "TARGETS has no security-groups: prefix lists and WAF IP sets have nothing to attach"
                .into(),
        ));
    }
    let owner = config.ownership();
    let observed = aws::observe_event_targets(
        clients,
        config.vpc_id.as_deref(),
        &owner,
        config.quota_overrides,
        &target,
    )
    .await?;
    for w in &observed.warnings {
        warn!("{w}");
    }
    if observed.targets.is_empty() {
        return Ok(nothing(
            config,
            format!(
                "{target}: no interface or load balancer there carries {TAG_TARGET}={}; nothing to attach",
                owner.prefix
            ),
        ));
    }
    if observed.groups.is_empty() && observed.conflicts.is_empty() {
        return Ok(nothing(
            config,
            format!(
                "no managed group exists yet in {}: the next full run creates them and attaches them to {target}",
                observed.vpc_id
            ),
        ));
    }
    // Desired: exactly what the groups hold now, so the plan moves no published range.
    let rules: BTreeSet<_> = observed
        .groups
        .iter()
        .flat_map(|g| g.rules.iter().copied())
        .collect();
    let synctoken = observed.synctokens().max().unwrap_or(0);
    let desired = Desired {
        rules,
        synctoken,
        group_stem: owner.stem.clone(),
        repack: false,
    };
    let mut plan = security_groups::plan(&desired, &observed)?;
    // Tags are the full run's business (a group behind the others is caught up there).
    plan.actions
        .retain(|a| !matches!(a, Action::RecordSynctoken { .. }));
    let beyond: Vec<String> = plan
        .actions
        .iter()
        .filter(|a| {
            !matches!(
                a,
                Action::SetTargetGroups { .. } | Action::RevokeUnmanaged { .. }
            )
        })
        .map(ToString::to_string)
        .collect();
    if !beyond.is_empty() {
        return Err(RunError::Aws(AwsError::other(
            "sgsync:attach",
            format!(
                "{target} cannot just be given the managed groups: they first need a full run ({}); nothing was \
                 changed. Run `sgsync apply`, or wait for the daily run",
                beyond.join("; ")
            ),
        )));
    }
    let mut outcome = Outcome {
        status: Status::Unchanged,
        service: config.service_label(),
        synctoken,
        create_date: String::new(),
        rules: desired.rules.len(),
        warnings: Vec::new(),
        groups: Some(GroupsOutcome {
            observed,
            plan: Plan::default(),
            changes: Changes::default(),
            ids: None,
        }),
        lists: None,
        sets: None,
    };
    let g = outcome.groups.as_mut().expect("set above");
    g.plan = plan;
    if g.plan.is_empty() {
        info!(%target, "already carries every managed group");
        return Ok(outcome);
    }
    if mode == Mode::Plan {
        outcome.status = Status::Planned;
        g.changes = Changes::of_plan(&g.plan);
        return Ok(outcome);
    }
    sync::apply_groups(config, clients, &owner, g).await?;
    outcome.status = Status::Applied;
    info!(%target, targets_updated = g.changes.targets_updated, "attached the managed groups");
    Ok(outcome)
}
