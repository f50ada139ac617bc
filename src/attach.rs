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

use tracing::{info, warn};

use crate::aws::{self, Clients, EventTarget};
use crate::config::Config;
use crate::event::{GroupsSetEvent, InstanceEvent, TAG_TARGET, TagEvent};
use crate::kind::{KindError, Mode};
use crate::kinds;
use crate::notify;
use crate::outcome::{Outcome, Refusal, RunError, Status};
use crate::security_groups::{self, Action, Changes, Desired, Observed, Part, Plan};

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
        Some(v) if !crate::ownership::opts_in(v, prefix) => {
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
        source: config.source.to_string(),
        synctoken: 0,
        create_date: String::new(),
        download: Default::default(),
        rules: 0,
        warnings: vec![why],
        errors: Vec::new(),
        kinds: Vec::new(),
    }
}

/// Refuses an event of another Region: its resources cannot be this deployment's (a replayed file, or
/// a rule forwarding events across Regions).
fn in_region(config: &Config, region: Option<&str>) -> Result<(), Refusal> {
    match region {
        Some(r) if r != config.region => Err(Refusal::OtherRegion {
            event: r.to_string(),
            deployment: config.region.clone(),
        }),
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

/// Handles a call that set a target's groups (CloudTrail): a tagged target that lost managed groups
/// gets them back, as a new target would; an untagged one is left alone (`attach` finds no target).
/// A call made by sgsync itself finds nothing to do (its rule in the template also filters them out).
pub(crate) async fn on_groups_set(
    config: &Config,
    clients: &Clients,
    event: &GroupsSetEvent,
    mode: Mode,
) -> Result<Outcome, RunError> {
    in_region(config, event.region.as_deref())?;
    let by = event.caller.as_deref().unwrap_or("an unknown caller");
    if let Some(code) = &event.failed {
        return Ok(nothing(
            config,
            format!("{} by {by} failed ({code}): it changed nothing", event.call),
        ));
    }
    let Some(resource) = &event.resource else {
        return Ok(nothing(
            config,
            format!("{} by {by} set no security groups", event.call),
        ));
    };
    let Some(target) = EventTarget::from_arn(resource) else {
        return Ok(nothing(
            config,
            format!("{resource} is not an interface, an instance or an ALB/NLB: nothing to attach"),
        ));
    };
    info!(%target, call = %event.call, caller = by, "a target's groups were set: checking that it keeps the managed groups");
    attach(config, clients, target, mode).await
}

/// Why there is nothing to attach to the event's targets, if so: none of them opted in, or the VPC
/// has no managed group yet.
fn nothing_to_attach(observed: &Observed, target: &EventTarget, prefix: &str) -> Option<String> {
    if observed.targets.is_empty() {
        return Some(format!(
            "{target}: no interface or load balancer there carries {TAG_TARGET}={prefix}; nothing to attach"
        ));
    }
    if observed.groups.is_empty() {
        return Some(format!(
            "no managed group exists yet in {}: the next full run creates them and attaches them to {target}",
            observed.vpc_id
        ));
    }
    None
}

/// Keeps the groups that hold exactly what the last full apply left in them (its record of each
/// group's rules): a rule added since, say on another port or from an unpublished CIDR, looks like a
/// managed one, and attaching the group would carry it to the new target. A group that differs (or
/// that no full apply recorded yet) is left out: not attached, kept where it is (planned as a group
/// this run does not manage), and named in an error; the next full run revokes what it should not
/// hold and attaches it.
fn unchanged_groups_only(mut observed: Observed, target: &EventTarget) -> (Observed, Vec<String>) {
    let mut refused = Vec::new();
    observed.groups.retain(|g| {
        let recorded = observed.rule_digests.get(&g.id);
        if recorded == Some(&security_groups::digest(&g.rules)) {
            return true;
        }
        let why = match recorded {
            Some(_) => "holds rules the last full apply did not leave there (added by hand?)",
            None => "has no record of what the last full apply left in it",
        };
        refused.push(format!(
            "group {} ({}) {why}: not attached to {target}; `sgsync apply` (or the next scheduled run) \
             revokes what it should not hold and attaches it",
            g.name, g.id
        ));
        false
    });
    for e in &refused {
        warn!("{e}");
    }
    (observed, refused)
}

/// The plan that gives the event's targets the managed groups as they are: the desired rules are
/// exactly what the groups hold now, so the plan moves no published range. Only attachments (and the
/// cleaning of entries added by hand) may remain; a plan that needs more is refused.
fn attachments(
    observed: &Observed,
    stem: &str,
    target: &EventTarget,
) -> Result<(Plan, Desired), RunError> {
    let desired = Desired {
        rules: observed
            .groups
            .iter()
            .flat_map(|g| g.rules.iter().copied())
            .collect(),
        synctoken: observed.synctokens().max().unwrap_or(0),
        group_stem: stem.to_string(),
        repack: false,
        published: None,
    };
    let mut plan = security_groups::plan(&desired, observed).map_err(KindError::plan)?;
    // Tags are the full run's business (a group behind the others is caught up there).
    plan.actions
        .retain(|a| !matches!(a, Action::RecordSynctoken { .. }));
    let beyond: Vec<String> = plan
        .actions
        .iter()
        .filter(|a| {
            !matches!(
                a,
                Action::SetTargetGroups { .. }
                    | Action::RevokeUnmanaged { .. }
                    | Action::RevokeOutbound { .. }
            )
        })
        .map(ToString::to_string)
        .collect();
    if !beyond.is_empty() {
        return Err(Refusal::NeedsFullRun {
            target: target.to_string(),
            actions: beyond.join("; "),
        }
        .into());
    }
    Ok((plan, desired))
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
            "KINDS has no security-groups: prefix lists and WAF IP sets have nothing to attach"
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
    if let Some(why) = nothing_to_attach(&observed, &target, &owner.prefix) {
        return Ok(nothing(config, why));
    }
    let (observed, refused) = unchanged_groups_only(observed, &target);
    let (plan, desired) = attachments(&observed, &owner.stem, &target)?;
    let mut part = Part {
        plan,
        errors: refused,
        ..Part::observed(observed)
    };
    let status = if part.plan.is_empty() {
        info!(%target, "already carries every managed group");
        Status::Unchanged
    } else if mode == Mode::Plan {
        part.changes = Changes::of_plan(&part.plan);
        Status::Planned
    } else {
        let mut api = kinds::groups_api(config, clients);
        security_groups::apply_part(&mut api, &mut part)
            .await
            .map_err(KindError::from)?;
        info!(%target, targets_updated = part.changes.targets_updated, "attached the managed groups");
        Status::Applied
    };
    let mut outcome = Outcome {
        status,
        service: config.service_label(),
        source: config.source.to_string(),
        synctoken: desired.synctoken,
        create_date: String::new(),
        download: Default::default(),
        rules: desired.rules.len(),
        warnings: Vec::new(),
        errors: Vec::new(),
        kinds: vec![Box::new(part)],
    };
    notify::changed(config, clients, &mut outcome).await;
    Ok(outcome)
}
