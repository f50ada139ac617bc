//! A prefix list's state: EC2 applies every change asynchronously (`*-in-progress`, then
//! `*-complete` or `*-failed` with a message) and refuses the next change meanwhile (`IncorrectState`),
//! so each change is waited for before the next.

use std::time::Duration;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{ManagedPrefixList, PrefixListState};

use crate::aws::sdk_error;
use crate::error::AwsError;

/// One list's description by id (state, version, size).
pub(super) async fn describe(ec2: &Client, id: &str) -> Result<ManagedPrefixList, AwsError> {
    const OP: &str = "ec2:DescribeManagedPrefixLists";
    let out = ec2
        .describe_managed_prefix_lists()
        .prefix_list_ids(id)
        .send()
        .await
        .map_err(|e| sdk_error(OP, e))?;
    out.prefix_lists()
        .first()
        .cloned()
        .ok_or_else(|| AwsError::malformed(OP, "prefix list"))
}

/// A list once its last change has finished.
pub(super) struct Settled {
    pub(super) version: u64,
    /// `StateMessage` when that change failed (`create-failed`, `modify-failed`): AWS keeps the list
    /// as it was before the change.
    pub(super) failed: Option<String>,
}

impl Settled {
    /// A list already read in a settled state.
    pub(super) fn of(list: &ManagedPrefixList) -> Settled {
        let failed = match list.state() {
            Some(
                state @ (PrefixListState::CreateFailed
                | PrefixListState::ModifyFailed
                | PrefixListState::RestoreFailed
                | PrefixListState::DeleteFailed),
            ) => Some(format!(
                "{}: {}",
                state.as_str(),
                list.state_message().unwrap_or("no message")
            )),
            _ => None,
        };
        Settled {
            version: list.version().unwrap_or(0).max(0) as u64,
            failed,
        }
    }
}

/// Waits until a list has finished its last change: EC2 applies changes asynchronously (a modify
/// answers `modify-in-progress` with the old version) and refuses the next one meanwhile
/// (`IncorrectState`).
pub(super) async fn settled(ec2: &Client, id: &str) -> Result<Settled, AwsError> {
    let mut wait = Duration::from_millis(200);
    for _ in 0..25 {
        let list = describe(ec2, id).await?;
        let in_progress = matches!(
            list.state(),
            Some(
                PrefixListState::CreateInProgress
                    | PrefixListState::ModifyInProgress
                    | PrefixListState::RestoreInProgress
                    | PrefixListState::DeleteInProgress
            )
        );
        if !in_progress {
            return Ok(Settled::of(&list));
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(3));
    }
    Err(AwsError::other(
        "ec2:DescribeManagedPrefixLists",
        format!("prefix list {id} is still changing after a minute; the next run continues"),
    ))
}

/// Waits for the change this run just asked for; its asynchronous failure is this call's error.
pub(super) async fn finished(
    ec2: &Client,
    id: &str,
    operation: &'static str,
) -> Result<u64, AwsError> {
    let s = settled(ec2, id).await?;
    match s.failed {
        None => Ok(s.version),
        Some(why) => Err(AwsError::other(
            operation,
            format!(
                "EC2 could not apply the change to prefix list {id} ({why}); the list is as it was before"
            ),
        )),
    }
}
