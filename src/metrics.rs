//! The function's CloudWatch metrics, as Embedded Metric Format log lines: CloudWatch Logs turns each
//! line into metric data, so emitting them costs no API call and no permission beyond the logs the
//! function writes anyway. Namespace `sgsync`, dimension `Deployment` (plus `Target` for the headroom
//! of each target; a hub's fleet entries add `Account` and `Region`, beside one `Deployment` line for
//! the whole fleet). The deploy template's alarms read `RunSucceeded` and `RunFailed`.
//!
//! Format: <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>
//! (at most 100 metrics per directive and 30 dimensions per set; these lines stay far below).

use serde_json::{Value, json};

use crate::outcome::{Outcome, Status};
use crate::rule::Family;

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

/// The metrics of a run that ended with an outcome: one line for the run, one per target with its
/// headroom (rules of each family and groups it can still take under the quotas).
///
/// `scope` are the dimensions of the run: `Deployment`, and for a fleet entry `Account` and `Region`.
pub(crate) fn of_outcome(scope: &[(&str, &str)], outcome: &Outcome, now_ms: u64) -> Vec<Value> {
    let mut made = 0;
    if let Some(g) = &outcome.groups {
        let c = &g.changes;
        made += c.groups_created
            + c.rules_authorized
            + c.rules_revoked
            + c.targets_updated
            + c.groups_deleted;
    }
    if let Some(l) = &outcome.lists {
        let c = &l.changes;
        made += c.lists_created
            + c.lists_resized
            + c.entries_added
            + c.entries_removed
            + c.lists_deleted;
    }
    if let Some(s) = &outcome.sets {
        let c = &s.changes;
        made += c.sets_created + c.addresses_added + c.addresses_removed;
    }
    let groups = outcome.groups_after();
    let age = outcome
        .applied_synctoken()
        .map(|t| (now_ms / 1000).saturating_sub(t) as f64);
    let succeeded = matches!(
        outcome.status,
        Status::Applied | Status::Unchanged | Status::Planned
    );
    let mut values = vec![
        ("RunSucceeded", "Count", f64::from(u8::from(succeeded))),
        ("RunFailed", "Count", 0.0),
        (
            "RunSkipped",
            "Count",
            f64::from(u8::from(outcome.status == Status::Skipped)),
        ),
        ("RulesApplied", "Count", outcome.rules as f64),
        ("GroupsApplied", "Count", groups.len() as f64),
        ("ChangesMade", "Count", made as f64),
    ];
    if let Some(age) = age {
        values.push(("AppliedSynctokenAgeSeconds", "Seconds", age));
    }
    let mut lines = vec![line(now_ms, scope, &values)];
    let headroom = outcome.headroom();
    for (target, h) in &headroom {
        let target = target.to_string();
        let mut dims = scope.to_vec();
        dims.push(("Target", &target));
        lines.push(line(
            now_ms,
            &dims,
            &[
                ("RuleHeadroomIPv4", "Count", h.rules.get(Family::V4) as f64),
                ("RuleHeadroomIPv6", "Count", h.rules.get(Family::V6) as f64),
                ("GroupHeadroom", "Count", h.groups as f64),
            ],
        ));
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
