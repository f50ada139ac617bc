//! Telling people what changed: after a run that changed anything, one SNS message to
//! `CHANGE_TOPIC_ARN` — its subject what and where, its body the run's summary JSON. A run that
//! changed nothing (or only planned) sends nothing. A failed publish is an error of the run, after
//! the changes it describes were made: it never undoes or stops them.

use tracing::{info, warn};

use crate::aws::Clients;
use crate::config::Config;
use crate::outcome::{Outcome, Status};
use crate::report::Summary;

/// SNS's limit for a subject; it must also be ASCII without control characters.
const SUBJECT_MAX: usize = 100;

/// The subject of a change message: the deployment, the service and where.
fn subject(config: &Config) -> String {
    let place = config.vpc_id.as_deref().unwrap_or("default VPC");
    let text = format!(
        "sgsync {}: {} allow-lists changed in {} {place}",
        config.deployment_id,
        config.service_label(),
        config.region
    );
    text.chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .take(SUBJECT_MAX)
        .collect()
}

/// Publishes `outcome` when it changed something and a topic is configured; a failure is added to
/// the outcome's errors.
pub(crate) async fn changed(config: &Config, clients: &Clients, outcome: &mut Outcome) {
    let Some(topic) = config.change_topic.as_deref() else {
        return;
    };
    if outcome.status != Status::Applied {
        return;
    }
    let body = match serde_json::to_string_pretty(&Summary::from(&*outcome)) {
        Ok(body) => body,
        Err(e) => {
            outcome.errors.push(format!("change notification: {e}"));
            return;
        }
    };
    match clients.publish(topic, &subject(config), &body).await {
        Ok(()) => info!(topic, "told the change topic"),
        Err(e) => {
            warn!(topic, error = %e, "could not tell the change topic");
            outcome.errors.push(format!(
                "change notification to {topic} failed: {e}; the changes were made. Check that the topic \
                 exists and that the role may publish to it (template parameter ChangeTopicArn)"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ConfigArgs, Environment};

    #[test]
    fn the_subject_says_what_and_where_within_snss_limit() {
        let mut args = ConfigArgs::default();
        args.set("VPC_ID", "vpc-0123456789abcdef0").unwrap();
        args.set("DEPLOYMENT_ID", &"d".repeat(120)).unwrap();
        let config = Config::from_args(&args, &Environment::default()).unwrap();
        let s = subject(&config);
        assert!(s.len() <= SUBJECT_MAX && s.is_ascii(), "{s}");
        let short = Config::from_args(&ConfigArgs::default(), &Environment::default()).unwrap();
        assert_eq!(
            subject(&short),
            "sgsync default: CLOUDFRONT allow-lists changed in us-east-1 default VPC"
        );
    }
}
