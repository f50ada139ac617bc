//! Thin adapters between the planner's plain data and AWS: the only modules that talk to AWS.
//!
//! - [`ec2`]: observe the VPC, managed groups, their rules and the interfaces they are attached to;
//!   create, authorize, revoke, modify interfaces, delete, tag.
//! - [`elbv2`]: load balancers carrying managed groups; `SetSecurityGroups`.
//! - [`quotas`]: the two VPC quotas from Service Quotas, with overrides and a logged fallback.
//!
//! Every client is built from one SDK config, so the standard `AWS_ENDPOINT_URL` (moto in tests and the
//! demo), credentials chain and retry settings apply to all of them alike.

pub mod ec2;
pub mod elbv2;
pub mod observe;
pub mod quotas;

use std::fmt;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata};

/// Tag carrying ownership: its value is the `PREFIX_NAME` of the deployment that owns the group.
pub const TAG_PREFIX: &str = "sgsync:prefix";
/// Tag carrying the synctoken of the document the group's rules come from.
pub const TAG_SYNCTOKEN: &str = "sgsync:synctoken";

/// The AWS clients of one run.
#[derive(Clone, Debug)]
pub struct Clients {
    /// EC2: groups, rules, interfaces.
    pub ec2: aws_sdk_ec2::Client,
    /// ELBv2: load balancers' groups.
    pub elbv2: aws_sdk_elasticloadbalancingv2::Client,
    /// Service Quotas: the VPC quotas.
    pub quotas: aws_sdk_servicequotas::Client,
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

/// An AWS call that failed: which call, AWS's error code, and its message.
#[derive(Debug, Clone)]
pub struct AwsError {
    /// The API operation, e.g. `ec2:AuthorizeSecurityGroupIngress`.
    pub operation: &'static str,
    /// AWS's error code, e.g. `UnauthorizedOperation`, when the service answered.
    pub code: Option<String>,
    /// The full message, with the SDK's context.
    pub message: String,
}

impl AwsError {
    /// Wraps an SDK error with the operation it came from.
    pub fn new<E>(operation: &'static str, err: E) -> AwsError
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

    /// A failure that is not an SDK error (an answer missing a field the API promises).
    pub fn malformed(operation: &'static str, what: &str) -> AwsError {
        AwsError {
            operation,
            code: None,
            message: format!("the response has no {what}"),
        }
    }

    /// Whether AWS answered with this error code.
    pub fn is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }

    fn hint(&self) -> &'static str {
        match self.code.as_deref() {
            Some("UnauthorizedOperation" | "AccessDenied" | "AccessDeniedException") => {
                " (the role lacks this permission: see deploy/template.yaml for the policy sgsync needs)"
            }
            Some("AuthFailure" | "InvalidClientTokenId" | "UnrecognizedClientException") => {
                " (the AWS credentials are missing or invalid)"
            }
            Some("RequestLimitExceeded" | "Throttling" | "ThrottlingException") => {
                " (AWS throttled the calls after all retries; the next run will finish the job)"
            }
            _ => "",
        }
    }
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code {
            Some(code) => write!(
                f,
                "{} failed: {code}: {}{}",
                self.operation,
                self.message,
                self.hint()
            ),
            None => write!(f, "{} failed: {}", self.operation, self.message),
        }
    }
}

impl std::error::Error for AwsError {}
