//! A fleet run and a fleet's status: JSON with each VPC's own summary (the same fields as a single
//! run's), and text with one line per VPC and a total.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::{StatusReport, Summary};
use crate::outcome::{EntryLabel, EntryOutcome, FleetOutcome, Inventory, Outcome, Status};

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

fn base(entry: &EntryLabel, duration_ms: u64) -> EntrySummary {
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
                        if summary.kinds.contains_key("vpc_id") {
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

fn label(entry: &EntryLabel) -> String {
    format!(
        "{:<12}  {:<14}  {:<21}",
        entry.account,
        entry.region,
        entry.vpc_id.as_deref().unwrap_or("(default VPC)")
    )
}

/// One VPC's run in a line: how it ended, what each kind holds, the applied synctoken.
fn line(o: &Outcome) -> String {
    let mut parts: Vec<String> = o.kinds.iter().map(|k| k.line()).collect();
    if let Some(t) = o.applied_synctoken() {
        parts.push(format!("synctoken {t} ({} old)", age(t)));
    }
    format!("{:<9}  {}", o.status.word(), parts.join(", "))
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
        // Every kind's changes, summed over the VPCs, in the order the kinds first appear.
        let mut changes: Vec<(&str, usize)> = Vec::new();
        for o in self.entries.iter().filter_map(|e| e.result.as_ref().ok()) {
            for k in &o.kinds {
                match changes.iter_mut().find(|(noun, _)| *noun == k.noun()) {
                    Some((_, n)) => *n += k.changes_made(),
                    None => changes.push((k.noun(), k.changes_made())),
                }
            }
        }
        let changes: Vec<String> = changes
            .iter()
            .map(|(noun, n)| format!("{n} change(s) to {noun}"))
            .collect();
        writeln!(
            f,
            "Fleet: {} VPCs: {} applied, {} planned, {} unchanged, {} skipped, {} failed; {}.",
            self.entries.len(),
            count(Status::Applied),
            count(Status::Planned),
            count(Status::Unchanged),
            count(Status::Skipped),
            self.failed(),
            changes.join(", ")
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
                        Some(s) if s.kinds.contains_key("vpc_id") => None,
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
                .and_then(|s| s.kinds.get("vpc_id").and_then(|v| v.as_str()))
                .map(str::to_string)
                .or_else(|| v.vpc_id.clone())
                .unwrap_or_else(|| "(default VPC)".into());
            let head = format!("{:<12}  {:<14}  {:<21}", v.account, v.region, vpc);
            let Some(s) = &v.status else {
                writeln!(f, "{head}  FAILED  {}", v.error.as_deref().unwrap_or(""))?;
                continue;
            };
            let mut parts: Vec<String> = s.lines().map(str::to_string).collect();
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
