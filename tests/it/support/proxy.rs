//! A fault-injecting HTTP proxy between the SDK and moto, for tests.
//!
//! It records every AWS call in order (service, action, parameters, the answer's status), and can:
//! answer a chosen fraction of calls with `RequestLimitExceeded`/`Throttling` (HTTP 503) or an internal
//! error (HTTP 500); drop a connection without answering; add latency; stop every write after the k-th
//! (what a crash leaves behind: nothing after it reaches AWS; the deployment's lease is not counted); and enforce what moto does not: at most
//! `groups_per_target` groups per interface (`SecurityGroupsPerInterfaceLimitExceeded`) and no deleting
//! a group still attached to an interface or load balancer (`DependencyViolation`). For the other kinds
//! it plays EC2's asynchronous prefix-list changes (`*-in-progress` for a while after each change, and
//! `IncorrectState` for a change meanwhile) and WAF's lost optimistic locks. (What moto lacks as state —
//! prefix-list sizes and versions, associations, RAM associations, WAF's validation — is added in
//! `scripts/moto_server.py`, which the demo uses too.)

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// One call as the proxy saw it.
#[derive(Clone, Debug)]
pub struct ProxyCall {
    /// `ec2`, `elasticloadbalancing`, `servicequotas`, …
    pub service: String,
    /// `AuthorizeSecurityGroupIngress`, …
    pub action: String,
    /// Decoded form parameters (query protocol) or the raw JSON body under `"body"`.
    pub params: BTreeMap<String, String>,
    /// The status the caller got.
    pub status: u16,
    /// Whether the proxy answered itself (an injected fault or an enforced limit).
    pub injected: bool,
    /// The account the call's credentials belong to, when they come from an `AssumeRole` the proxy saw.
    pub account: Option<String>,
}

impl ProxyCall {
    /// Whether the call changes state.
    pub fn is_write(&self) -> bool {
        !["Describe", "Get", "List"]
            .iter()
            .any(|p| self.action.starts_with(p))
    }

    /// Whether the call is about the deployment's lease (`/sgsync/<id>/lock`), which a run that has
    /// something to apply takes and gives back: bookkeeping, beside the writes that change access.
    pub fn is_lease(&self) -> bool {
        self.service == "ssm"
            && self
                .params
                .get("body")
                .is_some_and(|b| b.contains("/lock\"") || b.contains("/lock:"))
    }

    /// Whether the call reached moto and succeeded there (even if its answer was then lost).
    pub fn succeeded(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Values of numbered parameters whose name ends with `suffix` (e.g. `.CidrIp`), in order.
    pub fn values_ending(&self, suffix: &str) -> Vec<String> {
        self.params
            .iter()
            .filter(|(k, _)| k.ends_with(suffix))
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// What to inject.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Fraction of calls answered with HTTP 503 throttling.
    pub throttle: f64,
    /// Fraction of calls answered with HTTP 500.
    pub server_error: f64,
    /// Fraction of calls whose connection is dropped without an answer (the call never reaches moto).
    pub drop: f64,
    /// Fraction of calls that reach moto but whose answer is lost (the connection drops after it).
    pub lost_response: f64,
    /// Latency added to every call.
    pub latency: Duration,
    /// After this many successful writes, every further write fails at once, without retry: the
    /// state a crash (a killed process) leaves behind, since nothing after it reaches AWS.
    pub writes_before_crash: Option<usize>,
    /// Groups allowed per interface; `None` enforces nothing.
    pub groups_per_target: Option<usize>,
    /// Enforce `DependencyViolation` on deleting an attached group.
    pub dependency_violation: bool,
    /// Answer every call of this service (`servicequotas`, …) with `AccessDeniedException`, as
    /// when the role lacks the permission.
    pub deny_service: Option<&'static str>,
    /// EC2's eventual consistency: the next this many calls that name a group just created get
    /// `InvalidGroup.NotFound`.
    pub not_found_after_create: usize,
    /// Someone else's change: right before the first call of this action reaches moto, this EC2 query
    /// (form-encoded, e.g. `Action=ModifyNetworkInterfaceAttribute&…`) is sent to moto.
    pub before_first: Option<(&'static str, String)>,
    /// An NLB's PrivateLink inbound-rules enforcement as AWS reports it (moto does not store it): added
    /// to every network load balancer in `DescribeLoadBalancers` answers.
    pub nlb_enforcement: Option<&'static str>,
    /// EC2 applies prefix-list changes asynchronously: after each create or modify, the next this many
    /// `DescribeManagedPrefixLists` answers show the list `*-in-progress` at its old version, and a
    /// modification meanwhile is refused with `IncorrectState`.
    pub prefix_list_in_progress: usize,
    /// The next this many `UpdateIPSet` calls lose the race to another writer
    /// (`WAFOptimisticLockException`).
    pub waf_lock_conflicts: usize,
    /// `AssumeRole` of a role ARN containing this is refused (`AccessDenied`), as when the role does
    /// not exist or does not trust the caller.
    pub deny_assume_role: Option<String>,
    /// Calls with the credentials of this account (from an `AssumeRole`) are throttled at this rate,
    /// and no other account's.
    pub throttle_account: Option<(String, f64)>,
}

struct State {
    faults: Faults,
    calls: Vec<ProxyCall>,
    writes: usize,
    /// Picks the faults; seeded, so a failing run repeats.
    rng: fastrand::Rng,
    /// Groups created through the proxy that are still "not known yet", and for how many calls.
    unknown_yet: BTreeMap<String, usize>,
    /// Prefix lists still "changing": describes left, the version and state word to show meanwhile.
    changing: BTreeMap<String, (usize, String, &'static str)>,
    /// Access key id → account, learnt from `AssumeRole` answers.
    accounts: BTreeMap<String, String>,
    /// RAM share ARN → its tags: moto's RAM keeps no tags (AWS returns them with every share), so the
    /// proxy keeps those a `CreateResourceShare` sent, and adds them to `GetResourceShares` answers.
    share_tags: BTreeMap<String, serde_json::Value>,
}

/// The proxy; stops when dropped.
pub struct FaultProxy {
    port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    server: Arc<tiny_http::Server>,
}

impl FaultProxy {
    /// Starts a proxy in front of `upstream` (`http://127.0.0.1:PORT`), injecting nothing yet.
    pub fn start(upstream: &str) -> FaultProxy {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind the proxy"));
        let port = server.server_addr().to_ip().expect("an IP address").port();
        let upstream = upstream.trim_start_matches("http://").to_string();
        let state = Arc::new(Mutex::new(State {
            faults: Faults {
                dependency_violation: true,
                ..Faults::default()
            },
            calls: Vec::new(),
            writes: 0,
            rng: fastrand::Rng::with_seed(0x5eed_1234_abcd_0001),
            unknown_yet: BTreeMap::new(),
            changing: BTreeMap::new(),
            accounts: BTreeMap::new(),
            share_tags: BTreeMap::new(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        // Enough workers that added latency delays calls without serialising a fleet's concurrent ones.
        for _ in 0..64 {
            let (server, state, stop, upstream) = (
                server.clone(),
                state.clone(),
                stop.clone(),
                upstream.clone(),
            );
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match server.recv_timeout(Duration::from_millis(100)) {
                        Ok(Some(request)) => handle(request, &upstream, &state),
                        Ok(None) => {}
                        Err(_) => break,
                    }
                }
            });
        }
        FaultProxy {
            port,
            state,
            stop,
            server,
        }
    }

    /// The endpoint to give the SDK.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Replaces the faults (and resets the write counter and the random sequence to `seed`).
    pub fn set_faults(&self, faults: Faults, seed: u64) {
        let mut s = self.state.lock().unwrap();
        s.faults = faults;
        s.writes = 0;
        s.rng = fastrand::Rng::with_seed(seed);
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<ProxyCall> {
        self.state.lock().unwrap().calls.clone()
    }

    /// Forgets the recorded calls.
    pub fn clear(&self) {
        self.state.lock().unwrap().calls.clear();
    }

    /// Gives a RAM share made straight in moto the tags AWS would keep for it.
    pub fn share_tags(&self, arn: &str, tags: &[(&str, &str)]) {
        let tags: Vec<serde_json::Value> = (tags.iter())
            .map(|(k, v)| serde_json::json!({"key": k, "value": v}))
            .collect();
        (self.state.lock().unwrap().share_tags).insert(arn.to_string(), tags.into());
    }
}

/// RAM share tags, which moto does not keep: remembered from `CreateResourceShare`, added to the
/// shares of `GetResourceShares` answers.
fn share_tags(call: &ProxyCall, body: Vec<u8>, state: &mut State) -> Vec<u8> {
    let Ok(mut answer) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return body;
    };
    match call.action.as_str() {
        "CreateResourceShare" => {
            let request: serde_json::Value =
                serde_json::from_str(call.params.get("body").map_or("{}", String::as_str))
                    .unwrap_or_default();
            if let Some(arn) = answer["resourceShare"]["resourceShareArn"].as_str() {
                (state.share_tags).insert(arn.to_string(), request["tags"].clone());
            }
            body
        }
        "GetResourceShares" => {
            if let Some(shares) = answer["resourceShares"].as_array_mut() {
                for share in shares {
                    let arn = share["resourceShareArn"].as_str().unwrap_or_default();
                    if let Some(tags) = state.share_tags.get(arn) {
                        share["tags"] = tags.clone();
                    }
                }
            }
            serde_json::to_vec(&answer).unwrap_or(body)
        }
        _ => body,
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.server.unblock();
    }
}

/// RAM's operations, by the name its paths spell in lower case.
const RAM_OPERATIONS: [&str; 6] = [
    "CreateResourceShare",
    "GetResourceShares",
    "GetResourceShareAssociations",
    "AssociateResourceShare",
    "DisassociateResourceShare",
    "DeleteResourceShare",
];

/// The access key id of a signed request.
fn access_key_of(headers: &[tiny_http::Header]) -> Option<String> {
    let auth = header(headers, "Authorization")?;
    let credential = auth.split("Credential=").nth(1)?;
    Some(credential.split('/').next()?.to_string())
}

fn service_of(headers: &[tiny_http::Header]) -> String {
    let auth = headers
        .iter()
        .find(|h| h.field.equiv("Authorization"))
        .map(|h| h.value.as_str().to_string())
        .unwrap_or_default();
    // Credential=test/20261124/us-east-1/ec2/aws4_request
    auth.split("Credential=")
        .nth(1)
        .and_then(|c| c.split('/').nth(3))
        .unwrap_or("unknown")
        .to_string()
}

fn header(headers: &[tiny_http::Header], name: &'static str) -> Option<String> {
    headers
        .iter()
        .find(|h| h.field.equiv(name))
        .map(|h| h.value.as_str().to_string())
}

/// An HTTP answer: status, headers, body.
pub type Answer = (u16, Vec<(String, String)>, Vec<u8>);

/// Sends a request to moto (through ureq, a maintained HTTP client) and returns (status, headers,
/// body); `None` when moto could not be reached. The caller's headers go through unchanged (moto
/// reads the account from the signature's access key), but for the ones about the connection.
pub fn forward(
    upstream: &str,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Option<Answer> {
    static AGENT: std::sync::OnceLock<ureq::Agent> = std::sync::OnceLock::new();
    let agent = AGENT.get_or_init(|| {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into()
    });
    let mut request = ureq::http::Request::builder()
        .method(method)
        .uri(format!("http://{upstream}{path}"));
    for (k, v) in headers {
        let lower = k.to_ascii_lowercase();
        if !["host", "connection", "content-length", "transfer-encoding"].contains(&lower.as_str())
        {
            request = request.header(k, v);
        }
    }
    let response = agent.run(request.body(body.to_vec()).ok()?).ok()?;
    let status = response.status().as_u16();
    let out_headers = response
        .headers()
        .iter()
        .filter(|(k, _)| k.as_str() != "transfer-encoding")
        .filter_map(|(k, v)| Some((k.to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let body = response
        .into_body()
        .with_config()
        .limit(u64::MAX)
        .read_to_vec()
        .ok()?;
    Some((status, out_headers, body))
}

fn ec2_error(status: u16, code: &str, message: &str) -> (u16, String) {
    (
        status,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>proxy</RequestID></Response>"
        ),
    )
}

fn query_error(status: u16, code: &str, message: &str) -> (u16, String) {
    (
        status,
        format!(
            "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>proxy</RequestId></ErrorResponse>"
        ),
    )
}

fn json_error(status: u16, code: &str, message: &str) -> (u16, String) {
    (
        status,
        format!("{{\"__type\": \"{code}\", \"message\": \"{message}\"}}"),
    )
}

fn error_for(service: &str, status: u16, code: &str, message: &str) -> (u16, String) {
    match service {
        "ec2" => ec2_error(status, code, message),
        "servicequotas" | "wafv2" | "ram" | "ssm" => json_error(status, code, message),
        _ => query_error(status, code, message),
    }
}

/// EC2's asynchronous prefix-list changes: a list just created or modified shows `*-in-progress` at
/// its old version in the next describes (see [`Faults::prefix_list_in_progress`]).
fn prefix_list_async(call: &ProxyCall, body: Vec<u8>, s: &mut State) -> Vec<u8> {
    let n = s.faults.prefix_list_in_progress;
    let text = String::from_utf8_lossy(&body).to_string();
    match call.action.as_str() {
        "CreateManagedPrefixList" | "ModifyManagedPrefixList" if n > 0 => {
            let (Some(id), Some(version)) = (
                between(&text, "<prefixListId>", "</prefixListId>"),
                between(&text, "<version>", "</version>"),
            ) else {
                return body;
            };
            let create = call.action.starts_with("Create");
            let entries_changed = call
                .params
                .keys()
                .any(|k| k.starts_with("AddEntry") || k.starts_with("RemoveEntry"));
            let old = match version.parse::<u64>() {
                Ok(v) if !create && entries_changed => (v - 1).to_string(),
                _ => version,
            };
            let word = if create {
                "create-in-progress"
            } else {
                "modify-in-progress"
            };
            s.changing.insert(id, (n, old, word));
            body
        }
        "DescribeManagedPrefixLists" if !s.changing.is_empty() => {
            let mut out = String::new();
            let mut rest = text.as_str();
            // Each list is one `<item>` holding its `<prefixListId>` before its `<state>` and `<version>`.
            while let Some(start) = rest.find("<item><prefixListId>") {
                let end = rest[start..]
                    .find("</ownerId></item>")
                    .map_or(rest.len(), |e| start + e);
                let (before, item, after) = (&rest[..start], &rest[start..end], &rest[end..]);
                out.push_str(before);
                let id = between(item, "<prefixListId>", "</prefixListId>").unwrap_or_default();
                match s.changing.get_mut(&id) {
                    Some((left, old, word)) if *left > 0 => {
                        *left -= 1;
                        let state = between(item, "<state>", "</state>").unwrap_or_default();
                        let version = between(item, "<version>", "</version>").unwrap_or_default();
                        out.push_str(
                            &item
                                .replace(
                                    &format!("<state>{state}</state>"),
                                    &format!("<state>{word}</state>"),
                                )
                                .replace(
                                    &format!("<version>{version}</version>"),
                                    &format!("<version>{old}</version>"),
                                ),
                        );
                    }
                    _ => out.push_str(item),
                }
                rest = after;
            }
            out.push_str(rest);
            s.changing.retain(|_, (left, _, _)| *left > 0);
            out.into_bytes()
        }
        _ => body,
    }
}

/// The text between the first `start` and the next `end`.
fn between(text: &str, start: &str, end: &str) -> Option<String> {
    let from = text.find(start)? + start.len();
    let to = text[from..].find(end)? + from;
    Some(text[from..to].to_string())
}

/// Sends an EC2 query (form-encoded, default account) straight to moto.
pub fn ec2_query(upstream: &str, query: &str) -> String {
    query_call(upstream, "ec2", "2016-11-15", query)
}

/// One query-protocol call of `service` (API `version`) to moto, straight (moto reads the service
/// from the signature's scope and checks no signature); the answer's body, empty when unreachable.
pub fn query_call(upstream: &str, service: &str, version: &str, query: &str) -> String {
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0"
    );
    forward(
        upstream,
        "POST",
        "/",
        &[
            (
                "Content-Type".into(),
                "application/x-www-form-urlencoded".into(),
            ),
            ("Authorization".into(), auth),
        ],
        format!("{query}&Version={version}").as_bytes(),
    )
    .map(|(_, _, b)| String::from_utf8_lossy(&b).to_string())
    .unwrap_or_default()
}

/// Asks moto (directly) whether a group is attached to an interface or a load balancer.
fn attached(upstream: &str, group_id: &str) -> bool {
    let auth = |service: &str| {
        format!(
            "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0"
        )
    };
    let form = |body: &str, service: &str| {
        forward(
            upstream,
            "POST",
            "/",
            &[
                (
                    "Content-Type".into(),
                    "application/x-www-form-urlencoded".into(),
                ),
                ("Authorization".into(), auth(service)),
            ],
            body.as_bytes(),
        )
        .map(|(_, _, b)| String::from_utf8_lossy(&b).to_string())
        .unwrap_or_default()
    };
    let enis = form(
        &format!(
            "Action=DescribeNetworkInterfaces&Version=2016-11-15&Filter.1.Name=group-id&Filter.1.Value.1={group_id}"
        ),
        "ec2",
    );
    if enis.contains("<networkInterfaceId>") {
        return true;
    }
    let lbs = form(
        "Action=DescribeLoadBalancers&Version=2015-12-01",
        "elasticloadbalancing",
    );
    lbs.contains(&format!("<member>{group_id}</member>"))
}

/// Breaks the exchange: the client gets bytes that are not HTTP and the connection is closed, which
/// is what a reset connection looks like to it (tiny_http keeps idle sockets open, so a plain drop
/// would only look like a hang until the client's timeout).
fn break_connection(request: tiny_http::Request) {
    let mut writer = request.into_writer();
    let _ = writer.write_all(b"XTTP/9.9 000 broken\r\nConnection: close\r\n\r\n");
    let _ = writer.flush();
}

fn handle(mut request: tiny_http::Request, upstream: &str, state: &Arc<Mutex<State>>) {
    let mut body = Vec::new();
    let _ = request.as_reader().read_to_end(&mut body);
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .map(|h| (h.field.as_str().to_string(), h.value.as_str().to_string()))
        .collect();
    let service = service_of(request.headers());
    let path = request.url().to_string();
    let method = request.method().to_string();
    let is_moto_api = path.starts_with("/moto-api");
    let (action, params) = match header(request.headers(), "X-Amz-Target") {
        Some(target) => {
            let action = target.rsplit('.').next().unwrap_or_default().to_string();
            let mut p = BTreeMap::new();
            p.insert(
                "body".to_string(),
                String::from_utf8_lossy(&body).to_string(),
            );
            (action, p)
        }
        None if service == "ram" => {
            // rest-json: the operation is the path (`/getresourceshares`).
            let op = path
                .trim_start_matches('/')
                .split('?')
                .next()
                .unwrap_or_default();
            let action = RAM_OPERATIONS
                .iter()
                .find(|name| name.eq_ignore_ascii_case(op))
                .map_or(op.to_string(), |name| name.to_string());
            let mut p = BTreeMap::new();
            p.insert(
                "body".to_string(),
                String::from_utf8_lossy(&body).to_string(),
            );
            (action, p)
        }
        None => {
            let p: BTreeMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
            (p.get("Action").cloned().unwrap_or_default(), p)
        }
    };
    let access_key = access_key_of(request.headers());
    let account = access_key
        .as_ref()
        .and_then(|k| state.lock().unwrap().accounts.get(k).cloned());
    let mut call = ProxyCall {
        service: service.clone(),
        action,
        params,
        status: 0,
        injected: false,
        account,
    };

    // Decide the fault, if any, under the lock; do the IO outside it.
    let decision: Option<Option<(u16, String)>> = if is_moto_api {
        None
    } else {
        let mut s = state.lock().unwrap();
        let latency = s.faults.latency;
        let faults = s.faults.clone();
        let roll = s.rng.f64();
        let crashed = call.is_write()
            && !call.is_lease()
            && faults.writes_before_crash.is_some_and(|k| s.writes >= k);
        let meddle = match &s.faults.before_first {
            Some((action, _)) if *action == call.action => s.faults.before_first.take(),
            _ => None,
        };
        let changing = call.action == "ModifyManagedPrefixList"
            && call
                .params
                .get("PrefixListId")
                .is_some_and(|id| s.changing.contains_key(id));
        let denied_role = call.action == "AssumeRole"
            && s.faults.deny_assume_role.as_ref().is_some_and(|needle| {
                call.params
                    .get("RoleArn")
                    .is_some_and(|arn| arn.contains(needle.as_str()))
            });
        let account_throttled = match (&s.faults.throttle_account, &call.account) {
            (Some((account, rate)), Some(mine)) if account == mine => roll < *rate,
            _ => false,
        };
        let lock_lost = call.action == "UpdateIPSet" && s.faults.waf_lock_conflicts > 0;
        if lock_lost {
            s.faults.waf_lock_conflicts -= 1;
        }
        let not_yet = call.params.values().find_map(|v| {
            let left = s.unknown_yet.get_mut(v).filter(|n| **n > 0)?;
            *left -= 1;
            Some(v.clone())
        });
        drop(s);
        if let Some((_, query)) = meddle {
            ec2_query(upstream, &query);
        }
        thread::sleep(latency);
        if denied_role {
            Some(Some(query_error(
                403,
                "AccessDenied",
                "injected: User is not authorized to perform: sts:AssumeRole on this resource",
            )))
        } else if account_throttled {
            let code = if service == "ec2" {
                "RequestLimitExceeded"
            } else {
                "Throttling"
            };
            Some(Some(error_for(
                &service,
                503,
                code,
                "injected throttling of one account",
            )))
        } else if changing {
            Some(Some(ec2_error(
                400,
                "IncorrectState",
                "injected: The request cannot be completed while the prefix list is in the current state (modify-in-progress)",
            )))
        } else if lock_lost {
            Some(Some(json_error(
                400,
                "WAFOptimisticLockException",
                "injected: AWS WAF couldn't save your changes because someone changed the resource after you started to edit it. Reapply your changes.",
            )))
        } else if let Some(group) = not_yet {
            Some(Some(ec2_error(
                400,
                "InvalidGroup.NotFound",
                &format!("injected: the security group '{group}' does not exist (yet)"),
            )))
        } else if faults.deny_service == Some(service.as_str()) {
            Some(Some(error_for(
                &service,
                400,
                "AccessDeniedException",
                "injected: not authorized to perform this action",
            )))
        } else if crashed {
            Some(Some(error_for(
                &service,
                400,
                "InjectedCrash",
                "injected: the run crashed before this write",
            )))
        } else if roll < faults.throttle {
            let code = if service == "ec2" {
                "RequestLimitExceeded"
            } else {
                "Throttling"
            };
            Some(Some(error_for(&service, 503, code, "injected throttling")))
        } else if roll < faults.throttle + faults.server_error {
            Some(Some(error_for(
                &service,
                500,
                "InternalError",
                "injected server error",
            )))
        } else if roll < faults.throttle + faults.server_error + faults.drop {
            Some(None)
        } else if roll < faults.throttle + faults.server_error + faults.drop + faults.lost_response
        {
            Some(Some((0, String::new())))
        } else if call.action == "ModifyNetworkInterfaceAttribute"
            && faults.groups_per_target.is_some_and(|max| {
                call.params
                    .keys()
                    .filter(|k| k.starts_with("SecurityGroupId."))
                    .count()
                    > max
            })
        {
            Some(Some(ec2_error(
                400,
                "SecurityGroupsPerInterfaceLimitExceeded",
                "injected: too many security groups on the interface",
            )))
        } else if call.action == "DeleteSecurityGroup"
            && faults.dependency_violation
            && call
                .params
                .get("GroupId")
                .is_some_and(|g| attached(upstream, g))
        {
            Some(Some(ec2_error(
                400,
                "DependencyViolation",
                "injected: resource has a dependent object",
            )))
        } else {
            None
        }
    };

    match decision {
        Some(None) => {
            // Drop the connection: write nothing and close.
            call.status = 0;
            call.injected = true;
            state.lock().unwrap().calls.push(call);
            break_connection(request);
        }
        Some(Some((0, _))) => {
            // Forward, then lose the answer.
            let answer = forward(upstream, &method, &path, &headers, &body);
            call.status = answer.as_ref().map_or(0, |a| a.0);
            call.injected = true;
            let mut s = state.lock().unwrap();
            if call.is_write() && !call.is_lease() && call.status < 300 && call.status > 0 {
                s.writes += 1;
            }
            s.calls.push(call);
            drop(s);
            break_connection(request);
        }
        Some(Some((status, body))) => {
            call.status = status;
            call.injected = true;
            state.lock().unwrap().calls.push(call);
            let ctype = if ["servicequotas", "wafv2", "ram"].contains(&service.as_str()) {
                "application/x-amz-json-1.1"
            } else {
                "text/xml"
            };
            let response = tiny_http::Response::from_string(body)
                .with_status_code(status)
                .with_header(tiny_http::Header::from_bytes("Content-Type", ctype).unwrap());
            let _ = request.respond(response);
        }
        None => {
            let answer = forward(upstream, &method, &path, &headers, &body);
            let Some((status, out_headers, out_body)) = answer else {
                break_connection(request);
                return;
            };
            let mut out_body = out_body;
            if !is_moto_api {
                let (created, enforcement) = {
                    let s = state.lock().unwrap();
                    (s.faults.not_found_after_create, s.faults.nlb_enforcement)
                };
                if call.action == "CreateSecurityGroup" && status == 200 && created > 0 {
                    let text = String::from_utf8_lossy(&out_body);
                    if let Some(id) = between(&text, "<groupId>", "</groupId>") {
                        state.lock().unwrap().unknown_yet.insert(id, created);
                    }
                }
                if status == 200 {
                    out_body = prefix_list_async(&call, out_body, &mut state.lock().unwrap());
                    out_body = share_tags(&call, out_body, &mut state.lock().unwrap());
                }
                if call.action == "AssumeRole" && status == 200 {
                    let text = String::from_utf8_lossy(&out_body);
                    let account = call
                        .params
                        .get("RoleArn")
                        .and_then(|arn| arn.split(':').nth(4))
                        .map(str::to_string);
                    if let (Some(key), Some(account)) =
                        (between(&text, "<AccessKeyId>", "</AccessKeyId>"), account)
                    {
                        state.lock().unwrap().accounts.insert(key, account);
                    }
                }
                if call.action == "DescribeLoadBalancers"
                    && let Some(value) = enforcement
                {
                    let text = String::from_utf8_lossy(&out_body).replace(
                        "<Type>network</Type>",
                        &format!("<Type>network</Type><EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic>{value}</EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic>"),
                    );
                    out_body = text.into_bytes();
                }
                call.status = status;
                let mut s = state.lock().unwrap();
                if call.is_write() && !call.is_lease() && status < 300 {
                    s.writes += 1;
                }
                s.calls.push(call);
            }
            let mut response = tiny_http::Response::from_data(out_body).with_status_code(status);
            for (k, v) in out_headers {
                if k.eq_ignore_ascii_case("content-length") || k.eq_ignore_ascii_case("connection")
                {
                    continue;
                }
                if let Ok(h) = tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()) {
                    response = response.with_header(h);
                }
            }
            let _ = request.respond(response);
        }
    }
}
