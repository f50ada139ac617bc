//! Thin adapters between the core's plain data and AWS: the only modules that know an SDK type.
//!
//! - [`observe()`]: one read of a VPC (groups, targets, quotas) → `security_groups::Observed`.
//! - [`AwsGroups`]: the security-group kind's [`GroupApi`](crate::security_groups::GroupApi) on EC2
//!   and ELBv2, the calls `apply` makes.
//! - `ec2`: reads (`ec2::read`), writes (`ec2::write`) and the rule ↔ `IpPermission` conversion
//!   (`ec2::permissions`); `elbv2`: load balancers' groups; `quotas`: Service Quotas.
//!
//! Adapters take narrow arguments (a VPC id, the ownership, the overrides), never the whole
//! configuration. Every client is built from one SDK config, so the standard `AWS_ENDPOINT_URL` (moto
//! in tests and the demo), credentials chain and retry settings apply to all of them alike.

mod ec2;
mod elbv2;
mod groups;
mod observe;
mod quotas;

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata};

pub(crate) use groups::AwsGroups;
pub(crate) use observe::{names_taken, observe};

use crate::error::AwsError;

/// Tag carrying ownership: its value is the `PREFIX_NAME` of the deployment that owns the group.
const TAG_PREFIX: &str = "sgsync:prefix";
/// Tag carrying the synctoken of the document the group's rules come from.
const TAG_SYNCTOKEN: &str = "sgsync:synctoken";
/// Tag carrying the deployment that owns the group (`DEPLOYMENT_ID`).
const TAG_DEPLOYMENT: &str = "sgsync:deployment";
/// Tag by which an interface or load balancer opts in as a target: its value is `PREFIX_NAME`.
const TAG_TARGET: &str = "sgsync:target";

/// The AWS clients of one run, for one account and region.
#[derive(Clone, Debug)]
pub struct Clients {
    ec2: aws_sdk_ec2::Client,
    elbv2: aws_sdk_elasticloadbalancingv2::Client,
    quotas: aws_sdk_servicequotas::Client,
}

impl Clients {
    /// Builds the clients for `region` from the standard SDK configuration chain.
    ///
    /// Retries: the SDK's standard mode (exponential backoff with jitter on throttling, 5xx and
    /// transient network errors), 6 attempts, backoff capped at 5 s; a call times out after 20 s.
    /// The worst case per call stays well inside the Lambda timeout.
    pub async fn connect(region: &str) -> Clients {
        let config = aws_config::defaults(BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_string()))
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(6)
                    .with_initial_backoff(Duration::from_millis(200))
                    .with_max_backoff(Duration::from_secs(5)),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(Duration::from_secs(20))
                    .build(),
            )
            .load()
            .await;
        Clients {
            ec2: aws_sdk_ec2::Client::new(&config),
            elbv2: aws_sdk_elasticloadbalancingv2::Client::new(&config),
            quotas: aws_sdk_servicequotas::Client::new(&config),
        }
    }
}

/// Wraps an SDK error with the operation it came from: AWS's code and message, or the SDK's own
/// account of what failed (a timeout, a connection error) when AWS did not answer.
fn sdk_error<E>(operation: &'static str, err: E) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    AwsError {
        operation,
        code: err.code().map(str::to_string),
        message: err
            .message()
            .map(str::to_string)
            .unwrap_or_else(|| DisplayErrorContext(&err).to_string()),
    }
}
