//! A fleet run and a fleet's status: JSON with each VPC's own summary (the same fields as a single
//! run's), and text with one line per VPC and a total.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::{StatusReport, Summary};
use crate::fleet::{Entry, EntryOutcome, FleetOutcome};
use crate::outcome::{Inventory, Outcome, Status};
use crate::rule::Family;

/// How a fleet run ended: `failed` when any VPC failed, else the most eventful of the VPCs' ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FleetStatus {
    Applied,
    Planned,
    Unchanged,
    Skipped,
    Failed,
}

/// One VPC of a fleet run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EntrySummary {
    pub account: String,
    pub region: String,
    /// The VPC asked for (the summary's own `vpc_id` says which one a default-VPC entry got).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
    /// `failed`, for an entry without a summary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<&'static str>,
    /// Why the entry failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration_ms: u64,
    /// The entry's run, as `plan`/`apply --output json` prints a single one.
    #[serde(flatten)]
    pub summary: Option<Summary>,
}

/// A fleet run: printed by `plan`/`apply --fleet … --output json`, returned by the hub function.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FleetSummary {
    pub status: FleetStatus,
    /// The document's synctoken.
    pub synctoken: String,
    /// How many VPCs failed.
    pub failed: usize,
    pub vpcs: Vec<EntrySummary>,
}

fn base(entry: &Entry, duration_ms: u64) -> EntrySummary {
    EntrySummary {
        account: entry.account.clone(),
        region: entry.region.clone(),
        vpc_id: entry.vpc_id.clone(),
        status: None,
        error: None,
        duration_ms,
        summary: None,
    }
}

impl From<&FleetOutcome> for FleetSummary {
    fn from(f: &FleetOutcome) -> FleetSummary {
        let vpcs: Vec<EntrySummary> = f
            .entries
            .iter()
            .map(|e| {
                let mut s = base(&e.entry, e.duration.as_millis() as u64);
                match &e.result {
                    Ok(outcome) => {
                        let summary = Summary::from(outcome);
                        if summary.security_groups.is_some() {
                            s.vpc_id = None; // the summary's own field
                        }
                        s.summary = Some(summary);
                    }
                    Err(why) => {
                        s.status = Some("failed");
                        s.error = Some(why.clone());
                    }
                }
                s
            })
            .collect();
        let statuses: Vec<Status> = f
            .entries
            .iter()
            .filter_map(|e| e.result.as_ref().ok().map(|o| o.status))
            .collect();
        let status = if f.failed() > 0 {
            FleetStatus::Failed
        } else if statuses.contains(&Status::Applied) {
            FleetStatus::Applied
        } else if statuses.contains(&Status::Planned) {
            FleetStatus::Planned
        } else if statuses.contains(&Status::Unchanged) {
            FleetStatus::Unchanged
        } else {
            FleetStatus::Skipped
        };
        FleetSummary {
            status,
            synctoken: f.synctoken.to_string(),
            failed: f.failed(),
            vpcs,
        }
    }
}

/// `3 h`, `2 d`: how long ago a synctoken was published.
fn age(synctoken: u64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let secs = now.saturating_sub(synctoken);
    match secs {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h", s / 3600),
        s => format!("{} d", s / 86_400),
    }
}

fn label(entry: &Entry) -> String {
    format!(
        "{:<12}  {:<14}  {:<21}",
        entry.account,
        entry.region,
        entry.vpc_id.as_deref().unwrap_or("(default VPC)")
    )
}

/// One VPC's run in a line: how it ended, what it holds, its tightest headroom, the applied synctoken.
fn line(o: &Outcome) -> String {
    let status = match o.status {
        Status::Applied => "applied",
        Status::Unchanged => "unchanged",
        Status::Planned => "planned",
        Status::Skipped => "skipped",
    };
    let mut parts = Vec::new();
    if o.groups.is_some() {
        let groups = o.groups_after();
        parts.push(format!("{} rules in {} groups", o.rules, groups.len()));
        let headroom = o.headroom();
        // Each family's least headroom over the targets (the fullest target of one family need not
        // be the other's).
        let least = |f: Family| headroom.iter().map(|(_, h)| h.rules.get(f)).min();
        match (least(Family::V4), least(Family::V6)) {
            (Some(v4), Some(v6)) => parts.push(format!(
                "least headroom IPv4 {v4} / IPv6 {v6} rules over {} targets",
                headroom.len()
            )),
            _ => parts.push("no targets".into()),
        }
    }
    if let Some(l) = &o.lists {
        let n = if l.plan.layout.is_empty() {
            l.observed.lists.len()
        } else {
            l.plan.layout.len()
        };
        parts.push(format!("{n} prefix lists"));
    }
    if let Some(s) = &o.sets {
        parts.push(format!(
            "{} WAF IP sets",
            s.ids.len().max(s.plan.layout.len())
        ));
    }
    if let Some(t) = o.applied_synctoken() {
        parts.push(format!("synctoken {t} ({} old)", age(t)));
    }
    format!("{status:<9}  {}", parts.join(", "))
}

/// What `plan`/`apply --fleet` print: a line per VPC, then the total.
impl fmt::Display for FleetOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.entries {
            match &e.result {
                Ok(o) => writeln!(f, "{}  {}", label(&e.entry), line(o))?,
                Err(why) => writeln!(f, "{}  FAILED     {why}", label(&e.entry))?,
            }
        }
        let count = |s: Status| {
            self.entries
                .iter()
                .filter(|e| e.result.as_ref().is_ok_and(|o| o.status == s))
                .count()
        };
        let changes = self
            .entries
            .iter()
            .filter_map(|e| e.result.as_ref().ok())
            .filter_map(|o| o.groups.as_ref().map(|g| g.changes))
            .fold((0, 0, 0, 0), |acc, c| {
                (
                    acc.0 + c.groups_created,
                    acc.1 + c.rules_authorized,
                    acc.2 + c.rules_revoked,
                    acc.3 + c.targets_updated,
                )
            });
        writeln!(
            f,
            "Fleet: {} VPCs: {} applied, {} planned, {} unchanged, {} skipped, {} failed; {} groups created, {} rules authorized, {} revoked, {} targets updated.",
            self.entries.len(),
            count(Status::Applied),
            count(Status::Planned),
            count(Status::Unchanged),
            count(Status::Skipped),
            self.failed(),
            changes.0,
            changes.1,
            changes.2,
            changes.3
        )
    }
}

/// One VPC of `status --fleet`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EntryStatus {
    pub account: String,
    pub region: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(flatten)]
    pub status: Option<StatusReport>,
}

/// What `status --fleet` shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FleetStatusReport {
    pub failed: usize,
    pub vpcs: Vec<EntryStatus>,
}

impl From<&[EntryOutcome<Inventory>]> for FleetStatusReport {
    fn from(entries: &[EntryOutcome<Inventory>]) -> FleetStatusReport {
        let vpcs: Vec<EntryStatus> = entries
            .iter()
            .map(|e| {
                let status = e.result.as_ref().ok().map(StatusReport::from);
                EntryStatus {
                    account: e.entry.account.clone(),
                    region: e.entry.region.clone(),
                    vpc_id: match &status {
                        Some(s) if s.security_groups.is_some() => None,
                        _ => e.entry.vpc_id.clone(),
                    },
                    error: e.result.as_ref().err().cloned(),
                    status,
                }
            })
            .collect();
        FleetStatusReport {
            failed: vpcs.iter().filter(|v| v.error.is_some()).count(),
            vpcs,
        }
    }
}

impl fmt::Display for FleetStatusReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for v in &self.vpcs {
            let vpc = v
                .status
                .as_ref()
                .and_then(|s| s.security_groups.as_ref().map(|g| g.vpc_id.clone()))
                .or_else(|| v.vpc_id.clone())
                .unwrap_or_else(|| "(default VPC)".into());
            let head = format!("{:<12}  {:<14}  {:<21}", v.account, v.region, vpc);
            let Some(s) = &v.status else {
                writeln!(f, "{head}  FAILED  {}", v.error.as_deref().unwrap_or(""))?;
                continue;
            };
            let mut parts = Vec::new();
            if let Some(g) = &s.security_groups {
                parts.push(format!(
                    "{} groups, IPv4 {} / IPv6 {} rules, {} targets",
                    g.groups.len(),
                    g.rules.v4,
                    g.rules.v6,
                    g.targets.len()
                ));
            }
            if let Some(l) = &s.prefix_lists {
                parts.push(format!("{} prefix lists", l.len()));
            }
            if let Some(w) = &s.waf_ip_sets {
                parts.push(format!("{} WAF IP sets", w.sets.len()));
            }
            parts.push(match s.applied_synctoken {
                Some(t) => format!("synctoken {t} ({} old)", age(t)),
                None => "nothing applied yet".into(),
            });
            if !s.warnings.is_empty() {
                parts.push(format!("{} warnings", s.warnings.len()));
            }
            writeln!(f, "{head}  {}", parts.join(", "))?;
        }
        writeln!(
            f,
            "Fleet: {} VPCs, {} failed to read.",
            self.vpcs.len(),
            self.failed
        )
    }
}
