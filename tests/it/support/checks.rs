//! Checks over a run's calls as the proxy recorded them: make before break, what a revoke named,
//! which calls wrote.

use std::collections::BTreeSet;

use super::proxy::ProxyCall;

/// Checks one run's calls, as recorded by the proxy: no revoke of a range `desired` still publishes,
/// and no target update, delete or late revoke before the last create/authorize; early revokes (before
/// an authorize) may only drop ranges `desired` no longer publishes. `desired` holds `cidr tcp/port`.
pub fn assert_make_before_break(calls: &[ProxyCall], desired: &BTreeSet<String>) {
    let ok: Vec<&ProxyCall> = calls.iter().filter(|c| c.succeeded()).collect();
    let last_make = ok.iter().rposition(|c| {
        matches!(
            c.action.as_str(),
            "CreateSecurityGroup" | "AuthorizeSecurityGroupIngress"
        )
    });
    for (i, c) in ok.iter().enumerate() {
        match c.action.as_str() {
            "RevokeSecurityGroupIngress" => {
                for rule in revoked_rules(c) {
                    assert!(
                        !desired.contains(&rule),
                        "call {i}: revoked the still-published {rule}: {calls:#?}"
                    );
                }
            }
            "ModifyNetworkInterfaceAttribute" | "SetSecurityGroups" | "DeleteSecurityGroup" => {
                assert!(
                    last_make.is_none_or(|m| m < i),
                    "call {i}: {} before the last create/authorize",
                    c.action
                );
            }
            _ => {}
        }
    }
}

/// The `cidr protocol/ports` rules a revoke call names (`all` when it names no ports).
pub fn revoked_rules(call: &ProxyCall) -> Vec<String> {
    let mut rules = Vec::new();
    for n in 1.. {
        let key = format!("IpPermissions.{n}.");
        if !call.params.keys().any(|k| k.starts_with(&key)) {
            break;
        }
        let protocol = &call.params[&format!("{key}IpProtocol")];
        let from = call.params.get(&format!("{key}FromPort"));
        let to = call.params.get(&format!("{key}ToPort"));
        let ports = match (from, to) {
            (Some(from), Some(to)) if from == to => from.clone(),
            (Some(from), Some(to)) => format!("{from}-{to}"),
            _ => "all".into(),
        };
        for (k, v) in &call.params {
            let is_cidr =
                k.starts_with(&key) && (k.ends_with(".CidrIp") || k.ends_with(".CidrIpv6"));
            if is_cidr {
                rules.push(format!("{v} {protocol}/{ports}"));
            }
        }
    }
    rules
}

/// Calls of `service` that write, by action name.
/// The writes of a run, in order, but the lease's (two per run that applies something).
pub fn writes(calls: &[ProxyCall]) -> Vec<String> {
    calls
        .iter()
        .filter(|c| c.is_write() && !c.is_lease())
        .map(|c| c.action.clone())
        .collect()
}

/// Calls that read EC2, ELBv2 or the record (Service Quotas excluded).
pub fn ec2_elb_reads(calls: &[ProxyCall]) -> Vec<String> {
    calls
        .iter()
        .filter(|c| !c.is_write() && c.service != "servicequotas")
        .map(|c| c.action.clone())
        .collect()
}
