//! Telling people what changed (`CHANGE_TOPIC_ARN`): one SNS message after a run that changed
//! anything — a full run or an event's attachment — and none after a run that changed nothing. The
//! topic's subscriber here is an SQS queue, as an operator's would be.

use serde_json::Value;

use crate::support::proxy::query_call;
use crate::support::*;

/// One SQS query call to moto (query protocol); the answer's body.
fn sqs(aws: &Aws, query: &str) -> String {
    let upstream = aws
        .moto
        .endpoint()
        .trim_start_matches("http://")
        .to_string();
    query_call(&upstream, "sqs", "2012-11-05", query)
}

fn between<'a>(text: &'a str, open: &str, close: &str) -> Vec<&'a str> {
    text.split(open)
        .skip(1)
        .filter_map(|rest| rest.split(close).next())
        .collect()
}

fn unescape(xml: &str) -> String {
    xml.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The SNS envelopes the queue received since the last call (and deletes them).
fn received(aws: &Aws, queue_url: &str) -> Vec<Value> {
    let url: String = form_urlencoded::byte_serialize(queue_url.as_bytes()).collect();
    let answer = sqs(
        aws,
        &format!("Action=ReceiveMessage&QueueUrl={url}&MaxNumberOfMessages=10&WaitTimeSeconds=1"),
    );
    let mut out = Vec::new();
    for (body, handle) in between(&answer, "<Body>", "</Body>")
        .into_iter()
        .zip(between(&answer, "<ReceiptHandle>", "</ReceiptHandle>"))
    {
        out.push(serde_json::from_str(&unescape(body)).expect("an SNS envelope"));
        let handle: String = form_urlencoded::byte_serialize(unescape(handle).as_bytes()).collect();
        sqs(
            aws,
            &format!("Action=DeleteMessage&QueueUrl={url}&ReceiptHandle={handle}"),
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_that_changed_anything_is_told_once_and_a_run_that_did_not_is_not() {
    let aws = Aws::start().await;
    let topic = aws
        .sns
        .create_topic()
        .name("sgsync-changes")
        .send()
        .await
        .unwrap()
        .topic_arn()
        .unwrap()
        .to_string();
    let created = sqs(&aws, "Action=CreateQueue&QueueName=changes");
    let queue_url = between(&created, "<QueueUrl>", "</QueueUrl>")[0].to_string();
    aws.sns
        .subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint("arn:aws:sqs:us-east-1:123456789012:changes")
        .send()
        .await
        .unwrap();
    let eni = aws.create_interface(&[]).await;
    aws.tag_target(&eni, "AUTOUPDATE").await;
    let sgsync = aws.sgsync().env("CHANGE_TOPIC_ARN", &topic);

    // The first run creates and attaches: one message, the summary as its body.
    let out = aws.apply_doc(&sgsync, &latest()).0.ok();
    let messages = received(&aws, &queue_url);
    assert_eq!(messages.len(), 1, "{messages:?}");
    let subject = messages[0]["Subject"].as_str().unwrap();
    assert_eq!(
        subject,
        "sgsync default: CLOUDFRONT allow-lists changed in us-east-1 default VPC"
    );
    let body: Value = serde_json::from_str(messages[0]["Message"].as_str().unwrap()).unwrap();
    assert_eq!(body["status"], "applied");
    assert_eq!(body["changes"]["groups_created"], 3);
    assert_eq!(body, out.json(), "the body is the run's summary");

    // Nothing to change, and a plan: no message.
    aws.apply_doc(&sgsync, &latest()).0.ok();
    let dir = tempfile::tempdir().unwrap();
    let doc = doc_file(
        &dir,
        "next.json",
        edited_document(&latest(), LATEST_SYNCTOKEN + 60, &["13.32.0.0/15"], &[]),
    );
    sgsync.run(&["plan", "--ip-ranges", &doc]).ok();
    assert!(received(&aws, &queue_url).is_empty());

    // A change: one more message, saying what was revoked.
    sgsync.run(&["apply", "--ip-ranges", &doc]).ok();
    let messages = received(&aws, &queue_url);
    assert_eq!(messages.len(), 1, "{messages:?}");
    let body: Value = serde_json::from_str(messages[0]["Message"].as_str().unwrap()).unwrap();
    assert_eq!(body["changes"]["rules_revoked"], 1, "{body}");

    // A topic that does not exist: the change is made, and the run fails saying why.
    let lost = aws.sgsync().env(
        "CHANGE_TOPIC_ARN",
        "arn:aws:sns:us-east-1:123456789012:nowhere",
    );
    let grown = doc_file(
        &dir,
        "grown.json",
        edited_document(&latest(), LATEST_SYNCTOKEN + 120, &[], &["151.101.0.0/24"]),
    );
    let out = lost.run(&["apply", "--ip-ranges", &grown, "--output", "json"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.json()["status"], "applied");
    assert!(
        out.stderr
            .contains("change notification to arn:aws:sns:us-east-1:123456789012:nowhere failed"),
        "{out:?}"
    );

    // A bad ARN is refused before anything is read.
    let out = aws
        .sgsync()
        .env("CHANGE_TOPIC_ARN", "sgsync-changes")
        .run(&["apply", "--ip-ranges", &grown]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("expected an SNS topic ARN"), "{out:?}");
}
