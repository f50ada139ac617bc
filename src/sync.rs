//! One run, end to end, shared by the CLI and the Lambda (so an event file given to
//! `sgsync apply --event` is processed exactly as the function would process it):
//!
//! ```text
//! run = load (once) → sync_vpc: guards on the document
//!                              → observe every kind TARGETS names (groups, lists, sets)
//!                              → freshness over everything they record; removal and growth guards per kind
//!                              → plan every kind (a kind that cannot be planned stops the run: nothing written)
//!                              → apply (or not): prefix lists, security groups, WAF IP sets, RAM share
//!                              → Outcome
//! ```
//!
//! [`sync_vpc`] takes an already loaded document, so one download can serve many VPCs. Every kind is
//! planned before any is written, so a refusal (a conflict, a list that would not fit a referencing
//! group) changes nothing anywhere.

use std::collections::{BTreeMap, BTreeSet};

use ipnet::IpNet;
use thiserror::Error;
use tracing::{error, info, warn};

use crate::attach;
use crate::aws::{self, AwsGroups, Clients};
use crate::config::Config;
use crate::error::AwsError;
use crate::event::Event;
use crate::guard::{self, Freshness, GuardError};
use crate::load::{Input, LoadError, Loaded, load};
use crate::outcome::{GroupsOutcome, Inventory, ListsOutcome, Outcome, SetsOutcome, Share, Status};
use crate::ownership::Ownership;
use crate::report::Summary;
use crate::rule::{Family, Rule, desired_rules};
use crate::security_groups::{
    self, Action, ApplyError, Changes, Desired, Observed, Plan, PlanError,
};
use crate::{ip_sets, prefix_lists};

/// Whether the run may write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Read and plan; write nothing.
    Plan,
    /// Read, plan and apply.
    Apply,
}

/// Why a run failed. In every case but the `…Apply` ones nothing was changed.
#[derive(Debug, Error)]
pub enum RunError {
    /// The document could not be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// Reading AWS failed.
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// A sanity check refused the document.
    #[error(transparent)]
    Guard(#[from] GuardError),
    /// The security groups cannot be planned (capacity, a conflict).
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// A security-group action failed midway.
    #[error(transparent)]
    Apply(#[from] ApplyError),
    /// The prefix lists cannot be planned.
    #[error(transparent)]
    ListPlan(#[from] prefix_lists::PlanError),
    /// A prefix-list action failed midway.
    #[error(transparent)]
    ListApply(#[from] prefix_lists::ApplyError),
    /// The WAF IP sets cannot be planned.
    #[error(transparent)]
    SetPlan(#[from] ip_sets::PlanError),
    /// A WAF action failed midway.
    #[error(transparent)]
    SetApply(#[from] ip_sets::ApplyError),
}

/// Handles an event as the function does: a notification or the schedule syncs with the document; a
/// launch or a tag attaches the managed groups to the new target (`attach`), without a document.
pub async fn run_event(
    config: &Config,
    clients: &Clients,
    event: &Event,
    mode: Mode,
) -> Result<Outcome, RunError> {
    match (Input::for_event(event), event) {
        (Some(input), _) => run(config, clients, &input, mode).await,
        (None, Event::Instance(e)) => attach::on_instance(config, clients, e, mode).await,
        (None, Event::Tag(e)) => attach::on_tag(config, clients, e, mode).await,
        (None, _) => unreachable!("every other event names a document"),
    }
}

/// Loads the document `input` names and syncs the configured VPC with it.
pub async fn run(
    config: &Config,
    clients: &Clients,
    input: &Input,
    mode: Mode,
) -> Result<Outcome, RunError> {
    let loaded = load(config, input).await?;
    for w in &loaded.ranges.warnings {
        warn!("{w}");
    }
    sync_vpc(config, clients, &loaded, mode).await
}

/// Reads the configured VPC: its managed groups, their targets, the quotas.
pub async fn observe(config: &Config, clients: &Clients) -> Result<Observed, AwsError> {
    let observed = aws::observe(
        clients,
        config.vpc_id.as_deref(),
        &config.ownership(),
        config.quota_overrides,
    )
    .await?;
    for w in &observed.warnings {
        warn!("{w}");
    }
    Ok(observed)
}

/// Reads every kind `TARGETS` names as it is now, for `sgsync status`: the groups and their targets,
/// the lists and what references them, the sets.
pub async fn inventory(config: &Config, clients: &Clients) -> Result<Inventory, AwsError> {
    let groups = match config.kinds.security_groups {
        true => Some(observe(config, clients).await?),
        false => None,
    };
    let (lists, sets) = observe_regional(config, clients).await?;
    let mut references = BTreeMap::new();
    for list in lists.iter().flat_map(|l| &l.observed.lists) {
        references.insert(
            list.id.clone(),
            aws::list_references(clients, &list.id).await?,
        );
    }
    Ok(Inventory {
        prefix: config.prefix_name.clone(),
        groups,
        lists: lists.map(|l| l.observed),
        references,
        sets: sets.map(|s| (s.scope, s.observed, s.arns)),
    })
}

/// Reads the prefix lists and WAF IP sets this deployment owns (the kinds `TARGETS` names).
async fn observe_regional(
    config: &Config,
    clients: &Clients,
) -> Result<(Option<ListsOutcome>, Option<SetsOutcome>), AwsError> {
    let owner = config.ownership();
    let lists = match config.kinds.prefix_lists {
        true => Some(aws::observe_lists(clients, &owner).await?),
        false => None,
    };
    let sets = match config.kinds.waf_ip_sets {
        true => Some(aws::observe_sets(clients, config.waf_scope, &owner).await?),
        false => None,
    };
    let lists = lists.map(|observed| ListsOutcome {
        observed,
        plan: prefix_lists::Plan::default(),
        changes: prefix_lists::Changes::default(),
        ids: None,
        kept: Vec::new(),
        share: None,
    });
    let sets = sets.map(|(observed, arns)| SetsOutcome {
        scope: config.waf_scope,
        ids: observed
            .sets
            .iter()
            .map(|s| (s.name.clone(), s.id.clone()))
            .collect(),
        observed,
        plan: ip_sets::Plan::default(),
        changes: ip_sets::Changes::default(),
        arns,
    });
    for w in lists
        .iter()
        .flat_map(|l| &l.observed.warnings)
        .chain(sets.iter().flat_map(|s| &s.observed.warnings))
    {
        warn!("{w}");
    }
    Ok((lists, sets))
}

/// Syncs every kind `TARGETS` names with a loaded document: guards, observe, plan, and in
/// [`Mode::Apply`] apply. A document older than the one applied changes nothing and ends
/// [`Status::Skipped`] (unless forced).
pub async fn sync_vpc(
    config: &Config,
    clients: &Clients,
    loaded: &Loaded,
    mode: Mode,
) -> Result<Outcome, RunError> {
    let ranges = &loaded.ranges;
    let now = unix_now();
    guard::check_ranges(ranges, &config.guard)?;
    guard::check_synctoken(ranges.synctoken, now)?;
    let owner = config.ownership();
    let rules = desired_rules(&ranges.ipv4, &ranges.ipv6, &config.ports);
    let nets: BTreeSet<IpNet> = ranges
        .ipv4
        .iter()
        .map(|n| IpNet::V4(*n))
        .chain(ranges.ipv6.iter().map(|n| IpNet::V6(*n)))
        .collect();

    let groups = match config.kinds.security_groups {
        true => Some(observe(config, clients).await?),
        false => None,
    };
    let (lists, sets) = observe_regional(config, clients).await?;
    let mut outcome = Outcome {
        status: Status::Unchanged,
        service: config.service_label(),
        synctoken: ranges.synctoken,
        create_date: ranges.create_date.clone(),
        rules: rules.len(),
        warnings: ranges.warnings.clone(),
        groups: groups.map(|observed| GroupsOutcome {
            observed,
            plan: Plan::default(),
            changes: Changes::default(),
            ids: None,
        }),
        lists,
        sets,
    };

    // Freshness spans every kind: a document older than what any of them records is not applied.
    let recorded = outcome.recorded_synctokens();
    let (applied, future) = guard::applied_synctoken(recorded, now);
    if let Some(future) = future {
        let note = format!(
            "a managed resource records synctoken {future}, more than a day ahead of the clock; it is ignored \
             (a tag like that would make every document look stale) and this run overwrites it"
        );
        warn!("{note}");
        outcome.warnings.push(note);
    }
    if let Freshness::Stale { applied } = guard::freshness(ranges.synctoken, applied) {
        let document = ranges.synctoken;
        if config.guard.force {
            warn!(
                document,
                applied, "the document is older than the one applied: applying it anyway (--force)"
            );
        } else if loaded.live {
            // The live document is Amazon's current one: a newer recorded token means a tag is wrong,
            // and nothing will ever be applied until someone looks.
            error!(
                document,
                applied,
                "the live document at IP_RANGES_URL is older than the synctoken recorded on the managed resources: \
                 nothing changed, and no document will be applied until that is fixed; check their \
                 sgsync:synctoken tags, then run `sgsync apply --force`"
            );
            outcome.status = Status::Skipped;
            return Ok(logged(outcome));
        } else {
            warn!(
                document,
                applied, "the document is older than the one applied: skipped, nothing changed"
            );
            outcome.status = Status::Skipped;
            return Ok(logged(outcome));
        }
    }

    // The removal and growth guards, per kind, against what that kind holds now.
    if let Some(g) = &outcome.groups {
        let applied: BTreeSet<Rule> = g
            .observed
            .groups
            .iter()
            .flat_map(|g| g.rules.iter().copied())
            .collect();
        guard::check_removal("rules", &applied, &rules, &config.guard)?;
        let applied_nets: BTreeSet<IpNet> = applied.iter().map(|r| r.net).collect();
        guard::check_growth(&applied_nets, &nets, &config.guard)?;
    }
    if let Some(l) = &outcome.lists {
        let applied: BTreeSet<IpNet> = l
            .observed
            .lists
            .iter()
            .flat_map(|l| l.entries.iter().copied())
            .collect();
        guard::check_removal("prefix-list entries", &applied, &nets, &config.guard)?;
        guard::check_growth(&applied, &nets, &config.guard)?;
    }
    if let Some(s) = &outcome.sets {
        let applied: BTreeSet<IpNet> = s
            .observed
            .sets
            .iter()
            .flat_map(|s| s.addresses.iter().copied())
            .collect();
        guard::check_removal("WAF IP set addresses", &applied, &nets, &config.guard)?;
        guard::check_growth(&applied, &nets, &config.guard)?;
    }

    // Plan every kind before writing anything.
    if let Some(g) = &mut outcome.groups {
        let desired = Desired {
            rules,
            synctoken: ranges.synctoken,
            group_stem: owner.stem.clone(),
            repack: config.repack,
        };
        g.plan = plan_with_free_names(clients, &desired, &mut g.observed, &owner).await?;
    }
    if let Some(l) = &mut outcome.lists {
        let desired = prefix_lists::Desired {
            nets: nets.clone(),
            synctoken: ranges.synctoken,
            stem: owner.stem.clone(),
            cap: config.prefix_list_max_entries,
        };
        l.plan = prefix_lists::plan(&desired, &l.observed)?;
        check_resizes(config, clients, &outcome.groups, l).await?;
    }
    if let Some(s) = &mut outcome.sets {
        let families = Family::ALL
            .into_iter()
            .filter(|f| match f {
                Family::V4 => config.ip_versions.v4,
                Family::V6 => config.ip_versions.v6,
            })
            .collect();
        let desired = ip_sets::Desired {
            nets: nets.clone(),
            synctoken: ranges.synctoken,
            stem: owner.stem.clone(),
            families,
        };
        s.plan = ip_sets::plan(&desired, &s.observed)?;
    }
    let share = match &outcome.lists {
        Some(l) if !config.share_with.is_empty() => Some(share_state(config, clients, l).await?),
        _ => None,
    };
    if let (Some(l), Some(state)) = (&mut outcome.lists, &share) {
        for p in &state.extra_principals {
            l.observed.warnings.push(format!(
                "the RAM share {} also shares the lists with {p}, which SHARE_WITH does not name: sgsync never \
                 withdraws a share (that account's rules referencing the lists would stop matching); remove \
                 it in RAM if that is intended",
                state.name
            ));
        }
        // What the share lacks now, and the lists the plan creates (they get no ARN before they exist).
        let created = l
            .plan
            .actions
            .iter()
            .filter(|a| matches!(a, prefix_lists::Action::Create { .. }))
            .count();
        l.share = Some(Share {
            name: state.name.clone(),
            arn: state.arn.clone(),
            principals: config.share_with.clone(),
            lists_added: state.missing_lists.len() + created,
            principals_added: state.missing_principals.len(),
        });
    }
    let share_needed = share.as_ref().is_some_and(|s| !s.complete());

    let planned = outcome.groups.as_ref().is_some_and(|g| !g.plan.is_empty())
        || outcome.lists.as_ref().is_some_and(|l| !l.plan.is_empty())
        || outcome.sets.as_ref().is_some_and(|s| !s.plan.is_empty())
        || share_needed;
    if !planned {
        return Ok(logged(outcome));
    }
    if mode == Mode::Plan {
        outcome.status = Status::Planned;
        if let Some(g) = &mut outcome.groups {
            g.changes = Changes::of_plan(&g.plan);
        }
        if let Some(l) = &mut outcome.lists {
            l.changes = prefix_lists::Changes::of_plan(&l.plan);
        }
        if let Some(s) = &mut outcome.sets {
            s.changes = ip_sets::Changes::of_plan(&s.plan);
        }
        return Ok(logged(outcome));
    }

    // Apply. Lists first: groups elsewhere may reference them, and each kind on its own never
    // narrows below the published ranges, so the order between kinds is free otherwise.
    outcome.status = Status::Applied;
    let descriptions = config.descriptions();
    if let Some(l) = &mut outcome.lists {
        if !l.plan.is_empty() {
            let mut api = aws::lists_api(clients, &owner, &descriptions.rule, &l.observed);
            let applied = prefix_lists::apply(&mut api, &l.observed, &l.plan).await?;
            l.changes = applied.changes;
            l.ids = Some(applied.ids);
            l.kept = applied.kept;
        }
        if share.is_some() {
            // The lists may have changed: read the share again against what exists now.
            let state = share_state(config, clients, l).await?;
            let arn = aws::complete_share(clients, &owner, &state).await?;
            l.share = Some(Share {
                name: state.name.clone(),
                arn: Some(arn),
                principals: config.share_with.clone(),
                lists_added: state.missing_lists.len(),
                principals_added: state.missing_principals.len(),
            });
        }
    }
    if let Some(g) = &mut outcome.groups
        && !g.plan.is_empty()
    {
        apply_groups(config, clients, &owner, g).await?;
    }
    if let Some(s) = &mut outcome.sets
        && !s.plan.is_empty()
    {
        let mut api = aws::sets_api(
            clients,
            s.scope,
            &owner,
            &descriptions.ip_set,
            s.arns.clone(),
        );
        let applied = ip_sets::apply(&mut api, &s.observed, &s.plan).await?;
        s.changes = applied.changes;
        s.ids = applied.ids;
        s.arns = api.arns();
    }
    Ok(logged(outcome))
}

/// Runs the security-group plan of `g` (made from `g.observed`) and records what it changed; a target
/// deleted meanwhile becomes a warning.
pub(crate) async fn apply_groups(
    config: &Config,
    clients: &Clients,
    owner: &Ownership,
    g: &mut GroupsOutcome,
) -> Result<(), ApplyError> {
    let descriptions = config.descriptions();
    let mut api = AwsGroups::new(
        clients,
        &g.observed.vpc_id,
        owner,
        &descriptions.group,
        &descriptions.rule,
    );
    let applied = security_groups::apply(&mut api, &g.observed, &g.plan).await?;
    for target in &applied.vanished {
        g.observed.warnings.push(format!(
            "{target} was deleted during the run: nothing to attach to"
        ));
    }
    g.changes = applied.changes;
    g.ids = Some(applied.ids);
    Ok(())
}

/// Refuses a plan that raises a list's `MaxEntries` past what a referencing security group can
/// take (a list weighs its `MaxEntries` in each rule that references it): checked before anything is
/// written, because AWS would fail the resize only after the run had changed other things.
async fn check_resizes(
    config: &Config,
    clients: &Clients,
    groups: &Option<GroupsOutcome>,
    lists: &ListsOutcome,
) -> Result<(), AwsError> {
    let resizes: Vec<(&str, usize)> = lists
        .plan
        .actions
        .iter()
        .filter_map(|a| match a {
            prefix_lists::Action::Resize { list, to, .. } => Some((list.as_str(), *to)),
            _ => None,
        })
        .collect();
    if resizes.is_empty() {
        return Ok(());
    }
    let quotas = match groups {
        Some(g) => g.observed.quotas,
        None => aws::quotas(clients, config.quota_overrides).await,
    };
    for (name, to) in resizes {
        if let Some(list) = lists.observed.lists.iter().find(|l| l.name == name) {
            aws::check_list_resize(clients, list, to, quotas.rules_per_group).await?;
        }
    }
    Ok(())
}

/// The share against the lists as they are now (their ARNs, read by id).
async fn share_state(
    config: &Config,
    clients: &Clients,
    lists: &ListsOutcome,
) -> Result<aws::ShareState, AwsError> {
    let ids: Vec<String> = match &lists.ids {
        Some(ids) => ids.values().cloned().collect(),
        None => lists.observed.lists.iter().map(|l| l.id.clone()).collect(),
    };
    let arns = if ids.is_empty() {
        Vec::new()
    } else {
        aws::list_arns(clients, &ids).await?
    };
    aws::inspect_share(clients, &config.ownership(), &arns, &config.share_with).await
}

/// Plans, and when the plan creates groups, makes sure no group this deployment does not own holds
/// their names (an untagged group squatting `AUTOUPDATE-cloudfront-4` would fail every create): such
/// names are skipped and the plan made again. Only runs that create groups pay the extra read.
async fn plan_with_free_names(
    clients: &Clients,
    desired: &Desired,
    observed: &mut Observed,
    owner: &Ownership,
) -> Result<Plan, RunError> {
    for _ in 0..3 {
        let plan = security_groups::plan(desired, observed)?;
        let created: Vec<String> = plan
            .actions
            .iter()
            .filter_map(|a| match a {
                Action::CreateGroup { group, .. } => Some(group.clone()),
                _ => None,
            })
            .collect();
        if created.is_empty() {
            return Ok(plan);
        }
        let squatted = aws::names_taken(clients, &observed.vpc_id, &created, owner).await?;
        if squatted.is_empty() {
            return Ok(plan);
        }
        for name in &squatted {
            let note = format!(
                "a group this deployment does not own is named {name}, a name sgsync gives its groups: \
                 that name is skipped (rename or delete that group to free it)"
            );
            warn!("{note}");
            observed.warnings.push(note);
        }
        observed.taken_names.extend(squatted);
    }
    Ok(security_groups::plan(desired, observed)?)
}

/// Seconds since 1970, the unit of synctokens.
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Logs the outcome's one-line summary (CloudWatch keeps it whole).
fn logged(outcome: Outcome) -> Outcome {
    let summary = Summary::from(&outcome);
    info!(
        status = ?summary.status,
        synctoken = outcome.synctoken,
        "{}",
        summary.headline()
    );
    outcome
}
