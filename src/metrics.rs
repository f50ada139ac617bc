//! The function's CloudWatch metrics, as Embedded Metric Format log lines: CloudWatch Logs turns each
//! line into metric data, so emitting them costs no API call and no permission beyond the logs the
//! function writes anyway. Namespace `sgsync`, dimension `Deployment` (plus `Target` for the headroom
//! of each target; a hub's fleet entries add `Account` and `Region`, beside one `Deployment` line for
//! the whole fleet). The deploy template's alarms read `RunSucceeded` and `RunFailed`.
//!
//! Format: <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>
//! (at most 100 metrics per directive and 30 dimensions per set; these lines stay far below).

use serde_json::{Value, json};

use crate::kind::Gauge;
use crate::outcome::{Outcome, Status};

/// CloudWatch namespace of every metric.
pub(crate) const NAMESPACE: &str = "sgsync";

/// One EMF line: `values` (name → number) as metrics in `unit`s, with the given dimensions.
fn line(timestamp_ms: u64, dimensions: &[(&str, &str)], values: &[(&str, &str, f64)]) -> Value {
    let mut doc = json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [dimensions.iter().map(|(k, _)| *k).collect::<Vec<_>>()],
                "Metrics": values
                    .iter()
                    .map(|(name, unit, _)| json!({"Name": name, "Unit": unit}))
                    .collect::<Vec<_>>(),
            }],
        },
    });
    let map = doc.as_object_mut().expect("an object");
    for (k, v) in dimensions {
        map.insert((*k).to_string(), json!(v));
    }
    for (name, _, value) in values {
        map.insert((*name).to_string(), json!(value));
    }
    doc
}

/// The metrics of a run that ended with an outcome: one line for the run (with each kind's own
/// values, such as the groups applied), and one per dimension a kind adds (each target's headroom:
/// rules of each family and groups it can still take under the quotas).
///
/// `scope` are the dimensions of the run: `Deployment`, and for a fleet entry `Account` and `Region`.
pub(crate) fn of_outcome(scope: &[(&str, &str)], outcome: &Outcome, now_ms: u64) -> Vec<Value> {
    let made: usize = outcome.kinds.iter().map(|k| k.changes_made()).sum();
    let age = outcome
        .applied_synctoken()
        .map(|t| (now_ms / 1000).saturating_sub(t) as f64);
    let errors = outcome.all_errors().len();
    let succeeded = errors == 0
        && matches!(
            outcome.status,
            Status::Applied | Status::Unchanged | Status::Planned
        );
    let mut values = vec![
        ("RunSucceeded", "Count", f64::from(u8::from(succeeded))),
        ("RunFailed", "Count", f64::from(u8::from(errors > 0))),
        ("Errors", "Count", errors as f64),
        (
            "RunSkipped",
            "Count",
            f64::from(u8::from(outcome.status == Status::Skipped)),
        ),
        ("RulesApplied", "Count", outcome.rules as f64),
        ("ChangesMade", "Count", made as f64),
    ];
    if let Some(age) = age {
        values.push(("AppliedSynctokenAgeSeconds", "Seconds", age));
    }
    let gauges: Vec<Gauge> = outcome.kinds.iter().flat_map(|k| k.gauges()).collect();
    for g in gauges.iter().filter(|g| g.dimension.is_none()) {
        values.extend(g.values.iter().copied());
    }
    let mut lines = vec![line(now_ms, scope, &values)];
    for g in &gauges {
        let Some((key, value)) = &g.dimension else {
            continue;
        };
        let mut dims = scope.to_vec();
        dims.push((key, value));
        lines.push(line(now_ms, &dims, &g.values));
    }
    lines
}

/// The fleet line of a hub run in which every VPC succeeded (each VPC has its own lines).
pub(crate) fn of_fleet(scope: &[(&str, &str)], vpcs: usize, now_ms: u64) -> Vec<Value> {
    vec![line(
        now_ms,
        scope,
        &[
            ("RunSucceeded", "Count", 1.0),
            ("RunFailed", "Count", 0.0),
            ("FleetVpcs", "Count", vpcs as f64),
        ],
    )]
}

/// A launch or tag event's run: whether it succeeded, and how long the new target waited for its
/// groups (from the event's time to the attachment) when it was attached. Never `RunSucceeded`: that
/// is the notification and daily runs' signal.
pub(crate) fn of_attach(
    scope: &[(&str, &str)],
    succeeded: bool,
    latency_seconds: Option<f64>,
    now_ms: u64,
) -> Vec<Value> {
    let mut values = vec![
        ("AttachSucceeded", "Count", f64::from(u8::from(succeeded))),
        ("AttachFailed", "Count", f64::from(u8::from(!succeeded))),
    ];
    if let Some(latency) = latency_seconds {
        values.push(("EventToAttachSeconds", "Seconds", latency));
    }
    vec![line(now_ms, scope, &values)]
}

/// The metrics of a run that failed.
pub(crate) fn of_failure(scope: &[(&str, &str)], now_ms: u64) -> Vec<Value> {
    vec![line(
        now_ms,
        scope,
        &[("RunSucceeded", "Count", 0.0), ("RunFailed", "Count", 1.0)],
    )]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_is_one_line_cloudwatch_can_read() {
        let lines = of_failure(&[("Deployment", "prod")], 1_700_000_000_000);
        assert_eq!(lines.len(), 1);
        let l = &lines[0];
        assert_eq!(l["_aws"]["Timestamp"], 1_700_000_000_000u64);
        let directive = &l["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "sgsync");
        assert_eq!(directive["Dimensions"], json!([["Deployment"]]));
        assert_eq!(
            directive["Metrics"][1],
            json!({"Name": "RunFailed", "Unit": "Count"})
        );
        assert_eq!(l["Deployment"], "prod");
        assert_eq!(l["RunFailed"], 1.0);
    }
}
