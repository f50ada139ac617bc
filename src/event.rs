//! Lambda events → [`Event`]: what triggered the run.
//!
//! Five events matter: the `AmazonIpSpaceChanged` SNS notification (a new document exists: its URL,
//! MD5 and synctoken), the daily EventBridge schedule (repair drift against the current document),
//! two EventBridge events that announce a new target (an instance reaching `running`; the tag
//! `sgsync:target` added or changed on a resource), and the CloudTrail record of a call that set a
//! target's security groups (an IaC tool putting back its own list: drift to repair within
//! seconds); `attach` handles the last three without a document.
//! Anything else is refused with what was received and what is accepted, so a mis-wired trigger shows
//! up in the function's errors instead of silently doing nothing.

use aws_lambda_events::event::cloudwatch_events::ec2::InstanceStateChange;
use aws_lambda_events::event::cloudwatch_events::tag::TagChangeOnResource;
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sns::SnsEvent;
use serde::Deserialize;
use serde_json::Value;
use thiserror::Error;

/// What a notification says about the new document: enough to download it from the pinned URL and
/// prove (MD5) that what was downloaded is what was announced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    /// Where to download it; `None` when the message's `url` is empty (the blog's test event): the
    /// configured `IP_RANGES_URL` is used.
    pub url: Option<String>,
    /// Its MD5, lower-case hex.
    pub md5: String,
    pub synctoken: u64,
}

/// The tag by which an interface or load balancer opts in as a target.
pub const TAG_TARGET: &str = "sgsync:target";

/// An EC2 instance changed state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceEvent {
    pub instance_id: String,
    /// `pending`, `running`, `stopping`, …
    pub state: String,
    /// When EventBridge says it happened, in milliseconds since 1970 (for the attach latency).
    pub time_ms: Option<i64>,
    /// The Region it happened in (a replayed event may come from another one).
    pub region: Option<String>,
}

/// The target tag changed on a resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagEvent {
    /// The resource's ARN.
    pub resource: String,
    /// The tag's value now; `None` when it was removed.
    pub value: Option<String>,
    pub time_ms: Option<i64>,
    /// The Region it happened in.
    pub region: Option<String>,
}

/// A call that set a resource's security groups, as CloudTrail records it ("AWS API Call via
/// CloudTrail"): `ModifyNetworkInterfaceAttribute` or `ModifyInstanceAttribute` with a group set,
/// `elasticloadbalancing:SetSecurityGroups`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupsSetEvent {
    /// The API call.
    pub call: String,
    /// The ARN of the resource whose groups it set; `None` when the call set another attribute (an
    /// instance's type).
    pub resource: Option<String>,
    /// AWS's error code, when the call failed (then it changed nothing).
    pub failed: Option<String>,
    /// Who made it (`userIdentity.arn`), for the log.
    pub caller: Option<String>,
    pub time_ms: Option<i64>,
    /// The Region it happened in.
    pub region: Option<String>,
}

/// Why the function was invoked: a notification carries an MD5 to check, a schedule does not, so the
/// pipeline must know which one it is serving; the launch and tag events need no document at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Amazon published a new document.
    Notification(Notification),
    /// The schedule: reconcile with the current document (no MD5 to check).
    Schedule,
    /// `EC2 Instance State-change Notification`.
    Instance(InstanceEvent),
    /// `Tag Change on Resource` of the tag `sgsync:target`.
    Tag(TagEvent),
    /// `AWS API Call via CloudTrail` of a call that set a target's groups.
    GroupsSet(GroupsSetEvent),
}

impl Event {
    /// When the event happened (ms since 1970), for the events whose handling is timed.
    pub fn time_ms(&self) -> Option<i64> {
        match self {
            Event::Instance(e) => e.time_ms,
            Event::Tag(e) => e.time_ms,
            Event::GroupsSet(e) => e.time_ms,
            Event::Notification(_) | Event::Schedule => None,
        }
    }
}

/// An event sgsync does not handle. Nothing is changed; the message says what came and what is
/// accepted, so a mis-wired trigger is fixed from the function's error alone.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum EventError {
    /// Not JSON at all.
    #[error(
        "the event is not JSON ({0}); expected an SNS notification from AmazonIpSpaceChanged, an EventBridge scheduled event, an EC2 instance state change, a tag change or a CloudTrail call that set security groups"
    )]
    NotJson(String),
    /// JSON of another kind.
    #[error(
        "unsupported event ({0}); expected an SNS notification from AmazonIpSpaceChanged, an EventBridge scheduled event, an EC2 instance state change, a tag change or a CloudTrail call that set security groups"
    )]
    Unsupported(String),
    /// An SNS event whose shape or message is wrong.
    #[error(
        "invalid SNS notification: {0}; sgsync expects the messages of the AmazonIpSpaceChanged topic \
         (arn:aws:sns:us-east-1:806199016981:AmazonIpSpaceChanged): check the function's subscription"
    )]
    BadSns(String),
}

#[derive(Deserialize)]
struct Message {
    synctoken: String,
    md5: String,
    #[serde(default)]
    url: String,
}

fn bad(reason: impl Into<String>) -> EventError {
    EventError::BadSns(reason.into())
}

fn notification(event: &Value) -> Result<Notification, EventError> {
    let sns: SnsEvent = serde_json::from_value(event.clone()).map_err(|e| bad(format!("{e}")))?;
    let record = match sns.records.as_slice() {
        [one] => one,
        [] => return Err(bad("it has no records")),
        many => {
            return Err(bad(format!(
                "it has {} records; SNS delivers one per invocation",
                many.len()
            )));
        }
    };
    let text = &record.sns.message;
    let message: Message = serde_json::from_str(text).map_err(|e| {
        bad(format!(
            "the message is not the AmazonIpSpaceChanged JSON ({e}); expected {{\"create-time\", \"synctoken\", \"md5\", \"url\"}}"
        ))
    })?;
    let md5 = message.md5.trim().to_ascii_lowercase();
    if md5.len() != 32 || !md5.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad(format!(
            "md5 '{}' is not 32 hexadecimal digits",
            crate::error::echo(&message.md5)
        )));
    }
    let synctoken = message.synctoken.trim().parse().map_err(|_| {
        let synctoken = crate::error::echo(&message.synctoken);
        bad(format!("synctoken '{synctoken}' is not a number"))
    })?;
    let url = message.url.trim();
    Ok(Notification {
        url: (!url.is_empty()).then(|| url.to_string()),
        md5,
        synctoken,
    })
}

/// Classifies a Lambda event: the Lambda handler's first step, shared with the CLI's `--event`, so
/// both accept and refuse exactly the same events.
pub fn parse_event(event: &Value) -> Result<Event, EventError> {
    let Some(object) = event.as_object() else {
        return Err(EventError::Unsupported(
            format!("not an object but {event}")
                .chars()
                .take(80)
                .collect(),
        ));
    };
    if object.contains_key("Records") {
        let from_sns = event["Records"]
            .as_array()
            .is_some_and(|r| r.iter().all(|r| r["EventSource"] == "aws:sns"));
        if from_sns {
            return notification(event).map(Event::Notification);
        }
        let sources: std::collections::BTreeSet<&str> = event["Records"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                r["eventSource"]
                    .as_str()
                    .or(r["EventSource"].as_str())
                    .unwrap_or("an unknown source")
            })
            .collect();
        let sources: Vec<&str> = sources.into_iter().take(5).collect();
        return Err(EventError::Unsupported(format!(
            "Records from {}",
            if sources.is_empty() {
                "nowhere (Records is not an array)".to_string()
            } else {
                sources.join(", ")
            }
        )));
    }
    let source = object.get("source").and_then(Value::as_str);
    let detail_type = object.get("detail-type").and_then(Value::as_str);
    // Each is parsed in full so that a malformed event is refused, not half-read.
    match (source, detail_type) {
        (Some("aws.events"), Some("Scheduled Event")) => {
            serde_json::from_value::<EventBridgeEvent<Value>>(event.clone())
                .map_err(|e| EventError::Unsupported(format!("scheduled event: {e}")))?;
            return Ok(Event::Schedule);
        }
        (Some("aws.ec2"), Some("EC2 Instance State-change Notification")) => {
            let e: EventBridgeEvent<InstanceStateChange> = serde_json::from_value(event.clone())
                .map_err(|e| EventError::Unsupported(format!("EC2 instance state change: {e}")))?;
            let instance_id = e.detail.instance_id;
            if !instance_id.starts_with("i-") {
                return Err(EventError::Unsupported(format!(
                    "EC2 instance state change without an instance id ('{}')",
                    crate::error::echo(&instance_id)
                )));
            }
            return Ok(Event::Instance(InstanceEvent {
                instance_id,
                state: e.detail.state,
                time_ms: e.time.map(|t| t.timestamp_millis()),
                region: e.region,
            }));
        }
        (Some("aws.ec2" | "aws.elasticloadbalancing"), Some("AWS API Call via CloudTrail")) => {
            return groups_set(event).map(Event::GroupsSet);
        }
        (Some("aws.tag"), Some("Tag Change on Resource")) => {
            let e: EventBridgeEvent<TagChangeOnResource> = serde_json::from_value(event.clone())
                .map_err(|e| EventError::Unsupported(format!("tag change: {e}")))?;
            let resource = match e.resources.as_deref().unwrap_or_default() {
                [one] => one.clone(),
                other => {
                    return Err(EventError::Unsupported(format!(
                        "tag change naming {} resources; EventBridge names one",
                        other.len()
                    )));
                }
            };
            if !e.detail.changed_tag_keys.iter().any(|k| k == TAG_TARGET) {
                return Err(EventError::Unsupported(format!(
                    "tag change of other keys ({}); the function's rule should match {TAG_TARGET} only",
                    e.detail.changed_tag_keys.join(", ")
                )));
            }
            return Ok(Event::Tag(TagEvent {
                resource,
                value: e.detail.tags.get(TAG_TARGET).cloned(),
                time_ms: e.time.map(|t| t.timestamp_millis()),
                region: e.region,
            }));
        }
        _ => {}
    }
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys.truncate(8);
    Err(EventError::Unsupported(if keys.is_empty() {
        "top-level keys: none: an empty object".into()
    } else {
        format!("top-level keys: {}", keys.join(", "))
    }))
}

/// The CloudTrail record of a call that may have set a target's groups.
fn groups_set(event: &Value) -> Result<GroupsSetEvent, EventError> {
    let e: EventBridgeEvent<Value> = serde_json::from_value(event.clone())
        .map_err(|e| EventError::Unsupported(format!("CloudTrail API call: {e}")))?;
    let detail = &e.detail;
    let text = |v: &Value| v.as_str().map(str::to_string);
    let call = text(&detail["eventName"]).unwrap_or_default();
    let region = e.region.clone().or_else(|| text(&detail["awsRegion"]));
    let account = e
        .account
        .clone()
        .or_else(|| text(&detail["recipientAccountId"]))
        .unwrap_or_default();
    let request = &detail["requestParameters"];
    let in_region = region.as_deref().unwrap_or_default();
    // An id as EC2 names it, never a value that could pass for something else in an ARN.
    let id = |key: &str, prefix: &str| {
        text(&request[key]).filter(|id| {
            id.starts_with(prefix)
                && id[prefix.len()..]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric())
        })
    };
    let sets_groups = !request["groupSet"].is_null();
    let resource = match call.as_str() {
        "ModifyNetworkInterfaceAttribute" => id("networkInterfaceId", "eni-")
            .filter(|_| sets_groups)
            .map(|id| format!("arn:aws:ec2:{in_region}:{account}:network-interface/{id}")),
        "ModifyInstanceAttribute" => id("instanceId", "i-")
            .filter(|_| sets_groups)
            .map(|id| format!("arn:aws:ec2:{in_region}:{account}:instance/{id}")),
        "SetSecurityGroups" => text(&request["loadBalancerArn"]).filter(|arn| {
            // An ALB or NLB ARN of this record's account, in printable ASCII: nothing else reaches a
            // target lookup or a log line.
            arn.len() <= 512
                && arn.bytes().all(|b| b.is_ascii_graphic())
                && arn.split(':').nth(4) == Some(account.as_str())
                && arn.split(':').nth(2) == Some("elasticloadbalancing")
        }),
        other => {
            return Err(EventError::Unsupported(format!(
                "CloudTrail call {}; the function's rule should match ModifyNetworkInterfaceAttribute, \
                 ModifyInstanceAttribute and SetSecurityGroups only",
                crate::error::echo(other)
            )));
        }
    };
    Ok(GroupsSetEvent {
        call,
        resource,
        failed: text(&detail["errorCode"]),
        caller: text(&detail["userIdentity"]["arn"]),
        time_ms: e.time.map(|t| t.timestamp_millis()),
        region,
    })
}

/// Classifies an event given as bytes (the CLI's `--event FILE`), so that an operator can replay a
/// notification from a file exactly as the Lambda would see it.
pub fn parse_event_bytes(bytes: &[u8]) -> Result<Event, EventError> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| EventError::NotJson(e.to_string()))?;
    parse_event(&value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(crate::testkit::fixtures().join("events").join(name)).unwrap()
    }

    fn sns_with_message(message: &str) -> Value {
        let mut event: Value = serde_json::from_slice(&fixture("sns-latest.json")).unwrap();
        event["Records"][0]["Sns"]["Message"] = Value::String(message.into());
        event
    }

    #[test]
    fn launch_and_tag_events_parse_from_the_aws_samples() {
        let running = parse_event_bytes(&fixture("ec2-instance-running.json")).unwrap();
        assert_eq!(
            running,
            Event::Instance(InstanceEvent {
                instance_id: "i-1234567890abcdef0".into(),
                state: "running".into(),
                time_ms: Some(1_636_666_194_000),
                region: Some("us-east-1".into()),
            })
        );
        let Event::Instance(stopped) =
            parse_event_bytes(&fixture("ec2-instance-stopped.json")).unwrap()
        else {
            panic!()
        };
        assert_eq!(stopped.state, "stopped");
        let tagged = parse_event_bytes(&fixture("tag-change-network-interface.json")).unwrap();
        assert_eq!(
            tagged,
            Event::Tag(TagEvent {
                resource:
                    "arn:aws:ec2:us-east-1:123456789012:network-interface/eni-0000000aaaaaaaaaa"
                        .into(),
                value: Some("cloudfront".into()),
                time_ms: Some(1_537_303_298_000),
                region: Some("us-east-1".into()),
            })
        );
        let Event::Tag(removed) = parse_event_bytes(&fixture("tag-change-removed.json")).unwrap()
        else {
            panic!()
        };
        assert_eq!(removed.value, None);
        // The AWS sample changes other keys: the rule should never deliver it; refused, saying so.
        let e = parse_event_bytes(&fixture("tag-change-ec2-instance.json")).unwrap_err();
        assert!(
            e.to_string()
                .contains("tag change of other keys (a-new-key"),
            "{e}"
        );
        let mut broken: Value =
            serde_json::from_slice(&fixture("ec2-instance-running.json")).unwrap();
        broken["detail"]["instance-id"] = Value::String("vol-1".into());
        assert!(
            parse_event(&broken)
                .unwrap_err()
                .to_string()
                .contains("without an instance id")
        );
    }

    #[test]
    fn calls_that_set_a_targets_groups_parse_from_cloudtrail_records() {
        let parsed = |name: &str| match parse_event_bytes(&fixture(name)).unwrap() {
            Event::GroupsSet(e) => e,
            other => panic!("{name}: {other:?}"),
        };
        let eni = parsed("cloudtrail-modify-network-interface-attribute.json");
        assert_eq!(eni.call, "ModifyNetworkInterfaceAttribute");
        assert_eq!(
            eni.resource.as_deref(),
            Some("arn:aws:ec2:us-east-1:123456789012:network-interface/eni-0000000aaaaaaaaaa")
        );
        assert_eq!(eni.failed, None);
        assert_eq!(
            eni.caller.as_deref(),
            Some("arn:aws:sts::123456789012:assumed-role/terraform-deployer/terraform")
        );
        assert_eq!(eni.region.as_deref(), Some("us-east-1"));
        assert!(eni.time_ms.is_some());
        let instance = parsed("cloudtrail-modify-instance-attribute.json");
        assert_eq!(
            instance.resource.as_deref(),
            Some("arn:aws:ec2:us-east-1:123456789012:instance/i-0000000aaaaaaaaaa")
        );
        let lb = parsed("cloudtrail-set-security-groups.json");
        assert_eq!(
            lb.resource.as_deref(),
            Some(
                "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/origin/50dc6c495c0c9188"
            )
        );

        // An instance attribute other than its groups, a failed call, an id that is not one.
        let edited = |name: &str, edit: &dyn Fn(&mut Value)| {
            let mut v: Value = serde_json::from_slice(&fixture(name)).unwrap();
            edit(&mut v);
            match parse_event(&v).unwrap() {
                Event::GroupsSet(e) => e,
                other => panic!("{other:?}"),
            }
        };
        let type_change = edited("cloudtrail-modify-instance-attribute.json", &|v| {
            v["detail"]["requestParameters"] = serde_json::json!({"instanceId": "i-0000000aaaaaaaaaa", "instanceType": {"value": "m7g.large"}});
        });
        assert_eq!(type_change.resource, None);
        let failed = edited("cloudtrail-set-security-groups.json", &|v| {
            v["detail"]["errorCode"] = "AccessDenied".into();
        });
        assert_eq!(failed.failed.as_deref(), Some("AccessDenied"));
        let forged = edited("cloudtrail-modify-network-interface-attribute.json", &|v| {
            v["detail"]["requestParameters"]["networkInterfaceId"] = "eni-1/../instance/i-2".into();
        });
        assert_eq!(forged.resource, None);
        for arn in [
            "arn:aws:elasticloadbalancing:us-east-1:999999999999:loadbalancer/app/x/1",
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/x/1\n\u{1b}[2K",
            "arn:aws:ec2:us-east-1:123456789012:network-interface/eni-1",
        ] {
            let weird = edited("cloudtrail-set-security-groups.json", &|v| {
                v["detail"]["requestParameters"]["loadBalancerArn"] = arn.into();
            });
            assert_eq!(weird.resource, None, "{arn}");
        }
        // Another call: the rule should not have sent it.
        let mut other: Value = serde_json::from_slice(&fixture(
            "cloudtrail-modify-network-interface-attribute.json",
        ))
        .unwrap();
        other["detail"]["eventName"] = "CreateTags".into();
        let e = parse_event(&other).unwrap_err().to_string();
        assert!(e.contains("CloudTrail call CreateTags"), "{e}");
    }

    #[test]
    fn the_real_notification_parses() {
        let t = parse_event_bytes(&fixture("sns-latest.json")).unwrap();
        assert_eq!(
            t,
            Event::Notification(Notification {
                url: Some("https://ip-ranges.amazonaws.com/ip-ranges.json".into()),
                md5: "63431d35877fa5386ded1a7df9cfa971".into(),
                synctoken: 1787411825,
            })
        );
    }

    #[test]
    fn the_blog_test_event_parses_with_no_url() {
        let Event::Notification(n) =
            parse_event_bytes(&fixture("sns-blog-test-event.json")).unwrap()
        else {
            panic!("not a notification");
        };
        assert_eq!(n.url, None);
        assert_eq!(n.synctoken, 123456789);
        assert_eq!(n.md5, "7fd59f5c7f5cf643036cbd4443ad3e4b");
    }

    #[test]
    fn the_schedule_is_a_schedule() {
        let t = parse_event_bytes(&fixture("scheduled.json")).unwrap();
        assert_eq!(t, Event::Schedule);
    }

    #[test]
    fn other_events_are_refused_saying_what_came_and_what_is_accepted() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"{}".to_vec(), "empty object"),
            (b"not json".to_vec(), "not JSON"),
            (b"[1]".to_vec(), "not an object"),
            (br#"{"Records": [{"eventSource": "aws:s3", "s3": {}}]}"#.to_vec(), "aws:s3"),
            (br#"{"Records": []}"#.to_vec(), "no records"),
            (br#"{"source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification"}"#.to_vec(), "EC2 instance state change: missing field `detail`"),
            (br#"{"source": "aws.ec2", "detail-type": "EBS Volume Notification", "detail": {}}"#.to_vec(), "top-level keys: detail, detail-type, source"),
        ];
        for (bytes, needle) in cases {
            let e = parse_event_bytes(&bytes).unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
            assert!(
                e.contains("AmazonIpSpaceChanged") || e.contains("SNS"),
                "{e}"
            );
        }
    }

    #[test]
    fn bad_messages_are_refused_with_the_reason() {
        for (message, needle) in [
            ("hello", "not the AmazonIpSpaceChanged JSON"),
            (
                r#"{"synctoken": "1", "md5": "xyz", "url": ""}"#,
                "32 hexadecimal",
            ),
            (
                r#"{"synctoken": "soon", "md5": "63431d35877fa5386ded1a7df9cfa971", "url": ""}"#,
                "not a number",
            ),
            (
                r#"{"md5": "63431d35877fa5386ded1a7df9cfa971"}"#,
                "synctoken",
            ),
        ] {
            let e = parse_event(&sns_with_message(message))
                .unwrap_err()
                .to_string();
            assert!(e.contains(needle), "{message}: {e}");
        }
        let mut two: Value = serde_json::from_slice(&fixture("sns-latest.json")).unwrap();
        let record = two["Records"][0].clone();
        two["Records"].as_array_mut().unwrap().push(record);
        assert!(
            parse_event(&two)
                .unwrap_err()
                .to_string()
                .contains("2 records")
        );
    }

    #[test]
    fn the_message_is_normalised() {
        let t = parse_event(&sns_with_message(
            r#"{"create-time": "t", "synctoken": " 0042 ", "md5": "63431D35877FA5386DED1A7DF9CFA971", "url": "  ", "extra": 1}"#,
        ))
        .unwrap();
        assert_eq!(
            t,
            Event::Notification(Notification {
                url: None,
                md5: "63431d35877fa5386ded1a7df9cfa971".into(),
                synctoken: 42,
            })
        );
    }

    #[test]
    fn broken_sns_envelopes_are_refused_pointing_at_the_subscription() {
        let mut no_sns: Value = serde_json::from_slice(&fixture("sns-latest.json")).unwrap();
        no_sns["Records"][0].as_object_mut().unwrap().remove("Sns");
        let e = parse_event(&no_sns).unwrap_err().to_string();
        assert!(
            e.starts_with("invalid SNS notification") && e.contains("subscription"),
            "{e}"
        );
        let mixed = serde_json::json!({"Records": [
            {"EventSource": "aws:sns"}, {"eventSource": "aws:sqs"}, {"eventSource": "aws:s3"}
        ]});
        let e = parse_event(&mixed).unwrap_err().to_string();
        assert!(e.contains("Records from aws:s3, aws:sns, aws:sqs"), "{e}");
        let e = parse_event(&serde_json::json!({"Records": 3}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not an array"), "{e}");
        // A scheduled event whose time is not a timestamp is refused, not half-read.
        let mut scheduled: Value = serde_json::from_slice(&fixture("scheduled.json")).unwrap();
        scheduled["time"] = Value::String("noon".into());
        assert!(parse_event(&scheduled).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            let _ = parse_event_bytes(&bytes);
        }

        /// Mutations of the real event (a byte replaced, the tail cut) give an event or an error.
        #[test]
        fn mutated_events_never_panic(at in 0usize..2000, byte in any::<u8>(), cut in 0usize..2000) {
            let mut bytes = fixture("sns-latest.json");
            let at = at % bytes.len();
            bytes[at] = byte;
            bytes.truncate(cut.max(1).min(bytes.len()));
            let _ = parse_event_bytes(&bytes);
        }

        /// Any message text inside a well-formed SNS envelope gives an event or an error.
        #[test]
        fn arbitrary_messages_never_panic(message in ".{0,200}") {
            let _ = parse_event(&sns_with_message(&message));
        }
    }
}
