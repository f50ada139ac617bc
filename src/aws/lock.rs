//! One applying run per deployment at a time: a lease in Parameter Store,
//! `/sgsync/<DEPLOYMENT_ID>/lock` (`holder expiry`), taken only once a run has planned a change (a
//! run with nothing to do writes nothing) and released at its end. Two runs that overlap (the CLI
//! beside the function, a retry beside a newer notification) would otherwise each act on what it
//! read before the other wrote: an older document's revoke could take away a range the newer one
//! publishes again. The second run waits, reads again under the lease, and then applies on top of
//! the first (or skips, when its document turned out to be older).
//!
//! Parameter Store has no compare-and-swap; as for the records (`record.rs`), a writer checks that
//! its write became the very next version of the parameter, and the one whose did holds the lease.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_ssm::Client;
use aws_sdk_ssm::types::ParameterType;
use tracing::{info, warn};

use super::record::record_name;
use super::sdk_error;
use crate::error::AwsError;

/// How long a lease holds without its holder: longer than a function invocation can last (15 min).
const LEASE: Duration = Duration::from_secs(16 * 60);

/// Another run held the lease for as long as this one waited.
#[derive(Debug)]
pub(crate) struct Busy {
    /// The parameter.
    pub(crate) lease: String,
    /// Its value (`holder expiry`), escaped.
    pub(crate) held_by: String,
    /// How long it still holds, at most.
    pub(crate) left_seconds: u64,
}

/// The lease of a deployment, held.
pub(crate) struct Lock<'a> {
    ssm: &'a Client,
    name: String,
    holder: String,
    /// When the lease this run took runs out (seconds since 1970).
    expiry: u64,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl<'a> Lock<'a> {
    /// Takes `deployment`'s lease, waiting up to `wait` for another run to release it (or for its
    /// lease to run out: a run that died holding it).
    pub(crate) async fn acquire(
        ssm: &'a Client,
        deployment: &str,
        wait: Duration,
    ) -> Result<Result<Lock<'a>, Busy>, AwsError> {
        const OP: &str = "ssm:PutParameter";
        let name = record_name(deployment, "lock");
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let mut lock = Lock {
            ssm,
            name,
            holder: format!("{}-{nanos}", std::process::id()),
            expiry: 0,
        };
        let until = std::time::Instant::now() + wait;
        let mut pause = Duration::from_millis(200);
        loop {
            lock.expiry = now() + LEASE.as_secs();
            let value = format!("{} {}", lock.holder, lock.expiry);
            let current = ssm.get_parameter().name(&lock.name).send().await;
            let (version, expired, held_by) = match current
                .map_err(|e| sdk_error("ssm:GetParameter", e))
            {
                Ok(out) => {
                    let p = out.parameter();
                    let text = p.and_then(|p| p.value()).unwrap_or_default().to_string();
                    let expiry: u64 = text
                        .rsplit(' ')
                        .next()
                        .and_then(|t| t.parse().ok())
                        .unwrap_or(0);
                    // A lease never runs longer than LEASE: one that claims to (a clock far
                    // ahead, or a value written by hand) would stop the deployment for good.
                    let forged = expiry > now() + LEASE.as_secs() + 60;
                    if forged {
                        warn!(lock = %lock.name, value = %text.escape_debug(), "the lease claims to run longer than a lease can; it is taken over");
                    }
                    (p.map_or(0, |p| p.version()), expiry < now() || forged, text)
                }
                Err(e) if e.is("ParameterNotFound") => (0, true, String::new()),
                Err(e) => return Err(e),
            };
            if expired {
                // The writer of the very next version holds the lease: every run that read
                // `version` writes, and only one write can be `version + 1`.
                let put = ssm
                    .put_parameter()
                    .name(&lock.name)
                    .value(&value)
                    .r#type(ParameterType::String)
                    .overwrite(version > 0)
                    .send()
                    .await
                    .map_err(|e| sdk_error(OP, e));
                let won = match put {
                    Ok(out) if out.version() == version + 1 => true,
                    // Another write came first (or this run's own, sent again by the SDK after a
                    // lost answer): whoever wrote `version + 1` holds it.
                    Ok(_) => lock.wrote(version + 1).await?,
                    Err(e) if e.is("ParameterAlreadyExists") => lock.wrote(1).await?,
                    // The write may have landed with its answer lost.
                    Err(e) => {
                        if lock.wrote(version + 1).await.unwrap_or(false) {
                            true
                        } else {
                            return Err(e);
                        }
                    }
                };
                if won {
                    info!(lock = %lock.name, "took the deployment's lease");
                    return Ok(Ok(lock));
                }
                // Lost: the parameter may now say this run's name (its write came after the
                // winner's); the winner gives the lease back all the same (`release`).
            }
            if std::time::Instant::now() >= until {
                let left = held_by
                    .rsplit(' ')
                    .next()
                    .and_then(|t| t.parse::<u64>().ok())
                    .map(|expiry| expiry.saturating_sub(now()));
                return Ok(Err(Busy {
                    lease: lock.name,
                    held_by: crate::error::echo(&held_by.escape_debug().to_string()),
                    left_seconds: left.unwrap_or(0).min(LEASE.as_secs()),
                }));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(5));
        }
    }

    /// Whether this run wrote version `version` of the lease.
    async fn wrote(&self, version: i64) -> Result<bool, AwsError> {
        let at = self
            .ssm
            .get_parameter()
            .name(format!("{}:{version}", self.name))
            .send()
            .await
            .map_err(|e| sdk_error("ssm:GetParameter", e));
        match at {
            Ok(out) => Ok(out
                .parameter()
                .and_then(|p| p.value())
                .is_some_and(|v| v.starts_with(&format!("{} ", self.holder)))),
            Err(e) if e.is("ParameterNotFound") || e.is("ParameterVersionNotFound") => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Gives the lease back. While it has not run out, the lease is this run's whatever the
    /// parameter says: a later version can only be a loser's write (it lost to this one, which took
    /// the very next version), never another holder's, who must wait for it to run out. After it
    /// ran out, only a parameter still naming this run is deleted. A throttled or lost call is tried
    /// again (a lease left behind stops the deployment's next runs until it runs out), a few times.
    pub(crate) async fn release(self) {
        let mine = format!("{} ", self.holder);
        let mut pause = Duration::from_millis(200);
        let mut last = None;
        for _ in 0..6 {
            let current = self.ssm.get_parameter().name(&self.name).send().await;
            match current.map_err(|e| sdk_error("ssm:GetParameter", e)) {
                Ok(out) => {
                    let value = out.parameter().and_then(|p| p.value()).unwrap_or_default();
                    if now() >= self.expiry && !value.starts_with(&mine) {
                        warn!(lock = %self.name, "the lease was no longer this run's (it ran out?)");
                        return;
                    }
                    match self.ssm.delete_parameter().name(&self.name).send().await {
                        Ok(_) => return,
                        Err(e) => last = Some(sdk_error("ssm:DeleteParameter", e)),
                    }
                }
                Err(e) if e.is("ParameterNotFound") => return,
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
        if let Some(e) = last {
            warn!(lock = %self.name, error = %e, "could not give the lease back; it runs out by itself");
        }
    }
}
