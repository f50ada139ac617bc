//! Thin adapters between the core's plain data and AWS: the only modules that know an SDK type.
//!
//! Each kind's reads and writes (the API traits its folder defines), on the official SDK:
//!
//! - `groups`: [`AwsGroups`], security groups (EC2, and ELBv2 for load balancers' groups); reads of a
//!   VPC (`observe`: groups, targets, quotas; the targets of an event), EC2 calls (`ec2::read`,
//!   `ec2::write`, the rule ↔ `IpPermission` conversion `ec2::permissions`), `elbv2`, `quotas`;
//! - `prefix_lists`: [`AwsLists`], customer-managed prefix lists, and `share`, their RAM share;
//! - `ip_sets`: [`AwsSets`], WAF IP sets.
//!
//! Adapters take narrow arguments (a VPC id, the ownership, the overrides, the descriptions), never the
//! whole configuration. Every client is built from one [`Session`], so the standard `AWS_ENDPOINT_URL`
//! (moto in tests and the demo), credentials chain and retry settings apply to all of them alike.

mod ec2;
mod elbv2;
mod groups;
mod ip_sets;
mod lock;
mod observe;
mod prefix_lists;
mod quotas;
mod record;
mod share;

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata};

pub(crate) use groups::AwsGroups;
pub(crate) use ip_sets::AwsSets;
pub(crate) use lock::Busy;
use lock::Lock;
pub(crate) use observe::{EventTarget, observe_event_targets};
pub(crate) use prefix_lists::AwsLists;

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
    waf: aws_sdk_wafv2::Client,
    ram: aws_sdk_ram::Client,
    ssm: aws_sdk_ssm::Client,
    sns: aws_sdk_sns::Client,
}

impl Clients {
    /// Builds the clients for `region` from the standard SDK configuration chain.
    pub async fn connect(region: &str) -> Clients {
        Clients::of(&Session::load(region).await.0)
    }

    fn of(config: &SdkConfig) -> Clients {
        Clients {
            ec2: aws_sdk_ec2::Client::new(config),
            elbv2: aws_sdk_elasticloadbalancingv2::Client::new(config),
            quotas: aws_sdk_servicequotas::Client::new(config),
            waf: aws_sdk_wafv2::Client::new(config),
            ram: aws_sdk_ram::Client::new(config),
            ssm: aws_sdk_ssm::Client::new(config),
            sns: aws_sdk_sns::Client::new(config),
        }
    }

    /// The clients of `region` in the account of `role_arn`, with credentials of that role assumed
    /// with `base`'s (one `AssumeRole`, checked here: an entry whose role cannot be assumed fails at
    /// once, saying so).
    pub(crate) async fn assume(
        base: &Session,
        region: &str,
        role_arn: &str,
        session: &str,
        external_id: Option<&str>,
    ) -> Result<Clients, AwsError> {
        // STS in the caller's own Region (`base`'s): the entry's Region may be one the caller's
        // account has not enabled, and a regional STS endpoint there would refuse it.
        let mut builder = AssumeRoleProvider::builder(role_arn).session_name(session);
        if let Some(id) = external_id {
            builder = builder.external_id(id);
        }
        let provider = builder.configure(&base.0).build().await;
        let credentials = provider.provide_credentials().await.map_err(|e| {
            AwsError::other(
                "sts:AssumeRole",
                format!(
                    "cannot assume {role_arn}: {}; the role must exist and trust this account \
                     (deploy/spoke-role.yaml), and this identity needs sts:AssumeRole on it",
                    DisplayErrorContext(&e)
                ),
            )
        })?;
        let config = base
            .0
            .to_builder()
            .region(Region::new(region.to_string()))
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .build();
        Ok(Clients::of(&config))
    }
}

/// The SDK configuration every client is built from: the standard chain (credentials, endpoint), and
/// the retry and timeout policy. Retries: the SDK's standard mode (exponential backoff with jitter on
/// throttling, 5xx and transient network errors), 6 attempts, backoff capped at 5 s; a call times out
/// after 20 s. The worst case per call stays well inside the Lambda timeout. A fleet's assumed roles
/// start from it, and share its HTTP connection pool.
#[derive(Clone, Debug)]
pub struct Session(SdkConfig);

impl Session {
    /// The configuration of `region` from the standard chain.
    pub async fn load(region: &str) -> Session {
        let config = base_config(region).await;
        let _ = ENDPOINT.set((
            region.to_string(),
            config.endpoint_url().map(str::to_string),
        ));
        Session(config)
    }
}

async fn base_config(region: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
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
        .await
}

/// Reads a small S3 object (a fleet file) as text; at most `max_bytes`.
pub(crate) async fn read_s3(
    base: &Session,
    bucket: &str,
    key: &str,
    max_bytes: usize,
) -> Result<String, AwsError> {
    const OP: &str = "s3:GetObject";
    // An endpoint override (an emulator, a VPC endpoint by IP) cannot take bucket host names.
    let config = aws_sdk_s3::config::Builder::from(&base.0)
        .force_path_style(base.0.endpoint_url().is_some())
        .build();
    let out = aws_sdk_s3::Client::from_conf(config)
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| sdk_error(OP, e))?;
    if out.content_length().unwrap_or(0) > max_bytes as i64 {
        return Err(AwsError::other(
            OP,
            format!("s3://{bucket}/{key} is larger than {max_bytes} bytes; is it the fleet file?"),
        ));
    }
    let bytes = out
        .body
        .collect()
        .await
        .map_err(|e| AwsError::other(OP, format!("reading s3://{bucket}/{key}: {e}")))?
        .into_bytes();
    String::from_utf8(bytes.to_vec())
        .map_err(|_| AwsError::other(OP, format!("s3://{bucket}/{key} is not UTF-8 text")))
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
            .unwrap_or_else(|| unanswered(operation, &DisplayErrorContext(&err).to_string())),
    }
}

/// The first session's region and endpoint override: what a failure to reach AWS names.
static ENDPOINT: std::sync::OnceLock<(String, Option<String>)> = std::sync::OnceLock::new();

/// Where `operation` (`ssm:GetParameter`) was sent: the override, or the service's endpoint in
/// the region.
fn endpoint_of(operation: &str) -> String {
    let service = operation.split(':').next().unwrap_or(operation);
    match ENDPOINT.get() {
        Some((_, Some(url))) => format!("{url} (AWS_ENDPOINT_URL)"),
        Some((region, None)) => {
            format!("https://{service}.{region}.amazonaws.com (REGION {region})")
        }
        None => format!("the {service} endpoint"),
    }
}

/// A call AWS never answered, in one line that names where it went and what to check (the SDK's
/// own text, a nested debug dump, is logged at debug level: DEBUG=true).
fn unanswered(operation: &str, context: &str) -> String {
    tracing::debug!(operation, detail = context, "AWS did not answer");
    let endpoint = endpoint_of(operation);
    if context.contains("credentials") || context.contains("ProviderChain") {
        let source = match std::env::var("AWS_PROFILE") {
            Ok(p) if !p.is_empty() => format!("the profile '{p}' (AWS_PROFILE) has none"),
            _ => "none in the environment, ~/.aws, or an attached role".to_string(),
        };
        format!(
            "no AWS credentials ({source}): set AWS_PROFILE to a profile with credentials (or \
             AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or run where a role is attached"
        )
    } else if context.contains("dns error") || context.contains("lookup address") {
        format!(
            "cannot resolve {endpoint}: check AWS_ENDPOINT_URL, REGION and the DNS of this network"
        )
    } else if context.contains("Connection refused") {
        format!(
            "nothing answers at {endpoint} (connection refused): check AWS_ENDPOINT_URL and REGION"
        )
    } else if context.contains("timed out")
        || context.contains("TimedOut")
        || context.contains("timeout")
    {
        format!(
            "{endpoint} did not answer in time: check the network (a proxy, a VPC without a route or an \
             endpoint for this service)"
        )
    } else if [
        "connection closed",
        "connection reset",
        "IncompleteMessage",
        "Broken pipe",
        "Parse(Version)",
    ]
    .iter()
    .any(|cut| context.contains(cut))
    {
        format!(
            "the connection to {endpoint} was cut before an answer, after the SDK's retries: check the \
             network (a proxy in between?), then run again"
        )
    } else if context.contains("response error") || context.contains("malformed") {
        format!(
            "{endpoint} answered with something that is not AWS's API: check AWS_ENDPOINT_URL (and any \
             proxy in between)"
        )
    } else if context.contains("dispatch failure") || context.contains("connect") {
        format!(
            "AWS could not be reached at {endpoint}: check the network, REGION and AWS_ENDPOINT_URL"
        )
    } else {
        // The SDK's account without its debug part (` (Variant(Struct { … }))`).
        let first = context.split(" (").next().unwrap_or(context);
        first.chars().take(300).collect()
    }
}

/// The id of the region's default VPC (what a deployment without VPC_ID manages).
pub(crate) async fn default_vpc(clients: &Clients) -> Result<String, AwsError> {
    ec2::read::default_vpc(&clients.ec2).await
}

/// The records of the kinds `KINDS` does not name that still hold something: (record, how many).
/// What they hold is no longer synced, and stays attached or referenced, going stale: the scheduled
/// run says so (an error), so that a changed `KINDS` never freezes allow-lists silently.
pub(crate) async fn orphaned_records(
    clients: &Clients,
    deployment: &str,
    kinds: &crate::config::Kinds,
) -> Result<Vec<(String, usize)>, AwsError> {
    let unselected = [
        (kinds.security_groups, observe::GROUPS_RECORD),
        (kinds.prefix_lists, prefix_lists::LISTS_RECORD),
        (kinds.waf_ip_sets, ip_sets::SETS_RECORD),
    ];
    let mut out = Vec::new();
    for (_, what) in unselected.iter().filter(|(selected, _)| !selected) {
        let r = record::Record::new(&clients.ssm, deployment, what);
        let held = r.read().await?.set.len();
        if held > 0 {
            out.push((r.name, held));
        }
    }
    Ok(out)
}

impl Clients {
    /// Publishes one message to an SNS topic.
    pub(crate) async fn publish(
        &self,
        topic: &str,
        subject: &str,
        message: &str,
    ) -> Result<(), AwsError> {
        self.sns
            .publish()
            .topic_arn(topic)
            .subject(subject)
            .message(message)
            .send()
            .await
            .map_err(|e| sdk_error("sns:Publish", e))?;
        Ok(())
    }

    /// Takes `deployment`'s lease (`lock.rs`), waiting up to `wait` for another run to finish.
    pub(crate) async fn lock(
        &self,
        deployment: &str,
        wait: std::time::Duration,
    ) -> Result<Result<Lock<'_>, Busy>, AwsError> {
        Lock::acquire(&self.ssm, deployment, wait).await
    }
}
