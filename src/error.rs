//! The failure of one AWS call, as plain data; a failed step of a plan; and how any error is told:
//! whole, on one line ([`chain`]), quoting what it was given by its start and length ([`echo`]).
//!
//! [`AwsError`] is shared by the adapters that make the calls (`aws`), the core that runs plans through them
//! (`security_groups::apply`) and the simulated world that stands in for AWS in tests, so none of them
//! needs the others' types; the conversion from SDK errors lives in `aws`.

use std::collections::BTreeMap;
use std::fmt;

/// An AWS call that failed: which call, AWS's error code, and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    /// The API operation, e.g. `ec2:AuthorizeSecurityGroupIngress`.
    pub operation: &'static str,
    /// AWS's error code, e.g. `UnauthorizedOperation`, when the service answered.
    pub code: Option<String>,
    /// The full message, with the SDK's context.
    pub message: String,
}

impl AwsError {
    /// An error AWS answered with.
    pub fn coded(operation: &'static str, code: &str, message: impl Into<String>) -> AwsError {
        AwsError {
            operation,
            code: Some(code.to_string()),
            message: message.into(),
        }
    }

    /// A failure that is not AWS's answer (an answer missing a field the API promises, or a state
    /// sgsync cannot work from); the message says which.
    pub fn other(operation: &'static str, message: impl Into<String>) -> AwsError {
        AwsError {
            operation,
            code: None,
            message: message.into(),
        }
    }

    /// An answer missing a field the API promises.
    pub fn malformed(operation: &'static str, what: &str) -> AwsError {
        AwsError::other(operation, format!("the response has no {what}"))
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

/// A plan's action that failed, in any kind's `apply`. The actions before it were applied; each plan's
/// order guarantees that the state in between loses no access and widens nothing, and the next run
/// converges from it. `C` is the kind's change counts, so the summary can still say what changed.
#[derive(Debug, thiserror::Error)]
#[error(
    "{kind}step {step} of {total} ({what}) failed; the {} steps before it were applied and the next run continues from there: {source}",
    .step - 1
)]
pub struct StepError<C> {
    /// Which kind's plan, as a prefix of the message ("" for security groups, the first kind).
    pub kind: &'static str,
    /// 1-based index of the failed action.
    pub step: usize,
    /// Number of actions in the plan.
    pub total: usize,
    /// The failed action, in words.
    pub what: String,
    /// What changed before the failure.
    pub changes: C,
    /// The AWS error.
    #[source]
    pub source: AwsError,
}

/// The id of the `kind` (group, prefix list, WAF IP set) named `name` in a run's name → id map: every
/// name a plan uses was observed or created before, so only a planner bug makes one missing.
pub(crate) fn known_id(
    ids: &BTreeMap<String, String>,
    kind: &str,
    name: &str,
) -> Result<String, AwsError> {
    ids.get(name).cloned().ok_or_else(|| {
        AwsError::other(
            "sgsync:apply",
            format!("no id known for {kind} {name}; this is a bug, please report it"),
        )
    })
}

/// An error and its causes on one line, so that a log line (and an invocation's error) keeps it whole.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// A value as an error message quotes it: whole when short, else its start and its length, so a
/// hostile or broken input (a 200 KB "md5") cannot flood a log line or an invocation's error.
pub(crate) fn echo(value: &str) -> String {
    const KEEP: usize = 64;
    match value.char_indices().nth(KEEP) {
        None => value.to_string(),
        Some((cut, _)) => format!("{}… ({} bytes)", &value[..cut], value.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_quoted_by_their_start_and_length() {
        assert_eq!(
            echo("63431d35877fa5386ded1a7df9cfa971"),
            "63431d35877fa5386ded1a7df9cfa971"
        );
        let long = "a".repeat(200_000);
        let quoted = echo(&long);
        assert!(
            quoted.ends_with("… (200000 bytes)") && quoted.len() < 100,
            "{quoted}"
        );
        // Multi-byte characters are cut on a boundary.
        assert!(echo(&"é".repeat(100)).starts_with(&"é".repeat(64)));
    }

    #[test]
    fn the_text_names_the_call_the_code_and_what_to_do() {
        let denied = AwsError::coded("ec2:CreateSecurityGroup", "UnauthorizedOperation", "no");
        assert_eq!(
            denied.to_string(),
            "ec2:CreateSecurityGroup failed: UnauthorizedOperation: no (the role lacks this permission: \
             see deploy/template.yaml for the policy sgsync needs)"
        );
        assert!(denied.is("UnauthorizedOperation"));
        let odd = AwsError::malformed("ec2:DescribeVpcs", "VPC id");
        assert_eq!(
            odd.to_string(),
            "ec2:DescribeVpcs failed: the response has no VPC id"
        );
    }

    #[test]
    fn a_failed_step_says_which_what_was_done_before_and_that_the_next_run_continues() {
        let e = StepError {
            kind: "prefix lists: ",
            step: 3,
            total: 5,
            what: "modify AUTOUPDATE-cloudfront-ipv4-1".into(),
            changes: (),
            source: AwsError::coded("ec2:ModifyManagedPrefixList", "IncorrectState", "busy"),
        };
        assert_eq!(
            e.to_string(),
            "prefix lists: step 3 of 5 (modify AUTOUPDATE-cloudfront-ipv4-1) failed; the 2 steps before \
             it were applied and the next run continues from there: ec2:ModifyManagedPrefixList failed: \
             IncorrectState: busy"
        );
        let ids = BTreeMap::from([("a".to_string(), "sg-1".to_string())]);
        assert_eq!(known_id(&ids, "group", "a").unwrap(), "sg-1");
        let missing = known_id(&ids, "group", "b").unwrap_err().to_string();
        assert!(
            missing.contains("no id known for group b; this is a bug"),
            "{missing}"
        );
    }
}
