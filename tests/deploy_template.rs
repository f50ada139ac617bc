//! The deploy template's guarantees, checked so that a later edit cannot widen them silently:
//! least-privilege IAM enforced by AWS (conditions on the ownership and target tags and the VPC),
//! reserved concurrency 1, the SNS subscription, the daily schedule, the dead-letter queue, the alarms,
//! and a parameter for every configuration variable.

use serde_yaml_ng::Value;

fn template() -> Value {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/template.yaml"))
            .unwrap();
    serde_yaml_ng::from_str(&text).expect("deploy/template.yaml is YAML without short-form tags")
}

fn list(v: &Value) -> Vec<Value> {
    match v {
        Value::Sequence(items) => items.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

fn statements(t: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for (_, resource) in t["Resources"].as_mapping().unwrap() {
        if resource["Type"] == "AWS::IAM::Role" {
            for policy in list(&resource["Properties"]["Policies"]) {
                // A kind's policy is `Fn::If: [Manages…, policy, AWS::NoValue]`: check the policy.
                let policy = match policy.get("Fn::If") {
                    Some(branches) => branches[1].clone(),
                    None => policy,
                };
                out.extend(list(&policy["PolicyDocument"]["Statement"]));
            }
        }
        // Inline SAM policies would bypass the checks below: there must be none.
        assert!(
            resource["Properties"]["Policies"].is_null() || resource["Type"] == "AWS::IAM::Role"
        );
    }
    assert!(!out.is_empty(), "no IAM statements found");
    out
}

fn actions(s: &Value) -> Vec<String> {
    list(&s["Action"])
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

fn is_star(resource: &Value) -> bool {
    list(resource).iter().any(|r| r.as_str() == Some("*"))
}

fn condition_keys(s: &Value) -> Vec<String> {
    let mut keys = Vec::new();
    if let Some(ops) = s["Condition"].as_mapping() {
        for (_, kv) in ops {
            for (k, _) in kv.as_mapping().unwrap() {
                keys.push(k.as_str().unwrap().to_string());
            }
        }
    }
    keys
}

fn is_mutating(action: &str) -> bool {
    let name = action.split(':').nth(1).unwrap_or(action);
    !["Describe", "Get", "List"]
        .iter()
        .any(|p| name.starts_with(p))
}

#[test]
fn each_kind_gets_its_permissions_only_when_targets_names_it() {
    let t = template();
    let policies = list(&t["Resources"]["Role"]["Properties"]["Policies"]);
    let mut conditions = Vec::new();
    for p in &policies[1..] {
        let branches = &p["Fn::If"];
        assert_eq!(branches[2]["Ref"], "AWS::NoValue", "{p:?}");
        conditions.push(branches[0].as_str().unwrap().to_string());
    }
    assert_eq!(
        conditions,
        [
            "ManagesGroups",
            "ManagesLists",
            "SharesLists",
            "ManagesSets"
        ]
    );
    // The common policy: logs, dead letters, quotas; nothing that changes a network.
    for s in list(&policies[0]["PolicyDocument"]["Statement"]) {
        for a in actions(&s) {
            assert!(
                a.starts_with("logs:") || a.starts_with("sqs:") || a.starts_with("servicequotas:"),
                "{a}"
            );
        }
    }
}

#[test]
fn iam_is_least_privilege() {
    let t = template();
    let statements = statements(&t);
    for s in &statements {
        assert_eq!(s["Effect"], "Allow");
        for a in actions(s) {
            assert!(!a.contains('*'), "wildcard action {a}");
            // CreateResourceShare has no resource type: "*", held by request-tag conditions instead.
            if is_mutating(&a) && a != "ram:CreateResourceShare" {
                assert!(!is_star(&s["Resource"]), "{a} on Resource \"*\": {s:?}");
            }
        }
    }
    let with = |action: &str| -> Vec<&Value> {
        statements
            .iter()
            .filter(|s| actions(s).iter().any(|a| a == action))
            .collect()
    };
    // Creation only with the ownership tag (the VPC half of CreateSecurityGroup is scoped by ARN).
    let create = with("ec2:CreateSecurityGroup");
    assert!(
        create
            .iter()
            .any(|s| condition_keys(s).contains(&"aws:RequestTag/sgsync:prefix".to_string()))
    );
    for s in &create {
        let keys = condition_keys(s);
        let on_groups = list(&s["Resource"])
            .iter()
            .any(|r| format!("{r:?}").contains("security-group/"));
        if on_groups {
            assert!(
                keys.contains(&"aws:RequestTag/sgsync:prefix".to_string()),
                "{s:?}"
            );
        } else {
            assert!(format!("{:?}", s["Resource"]).contains(":vpc/"), "{s:?}");
        }
    }
    let has = |s: &Value, key: &str| condition_keys(s).iter().any(|k| k == key);
    // Creation carries this deployment's identity too.
    assert!(
        create
            .iter()
            .any(|s| has(s, "aws:RequestTag/sgsync:deployment"))
    );
    // Tags: at creation; or only the synctoken on this deployment's groups; or this deployment's name
    // on a group that has none yet (adoption: never another deployment's).
    for s in with("ec2:CreateTags") {
        let at_creation = has(s, "ec2:CreateAction")
            && has(s, "aws:RequestTag/sgsync:prefix")
            && has(s, "aws:RequestTag/sgsync:deployment");
        let owned = has(s, "aws:ResourceTag/sgsync:prefix")
            && has(s, "aws:ResourceTag/sgsync:deployment")
            && has(s, "aws:TagKeys");
        let adoption = has(s, "aws:ResourceTag/sgsync:prefix")
            && s["Condition"]["Null"]["aws:ResourceTag/sgsync:deployment"] == "true"
            && has(s, "aws:RequestTag/sgsync:deployment")
            && has(s, "aws:TagKeys");
        assert!(
            at_creation || owned || adoption,
            "CreateTags without ownership conditions: {s:?}"
        );
    }
    // Changing and deleting rules and groups: this deployment's groups, in the VPC.
    for action in [
        "ec2:AuthorizeSecurityGroupIngress",
        "ec2:RevokeSecurityGroupIngress",
        "ec2:DeleteSecurityGroup",
    ] {
        let found = with(action);
        assert!(!found.is_empty(), "{action} missing");
        for s in found {
            for key in [
                "aws:ResourceTag/sgsync:prefix",
                "aws:ResourceTag/sgsync:deployment",
                "ec2:Vpc",
            ] {
                assert!(has(s, key), "{action} without {key}: {s:?}");
            }
        }
    }
    // Interfaces: only those tagged as targets, in the VPC; the groups in the request (foreign ones
    // included) only in the VPC; instance and subnet (optional resources) only beside a target.
    let modify = with("ec2:ModifyNetworkInterfaceAttribute");
    assert!(!modify.is_empty());
    for s in modify {
        let resources = format!("{:?}", s["Resource"]);
        if resources.contains("network-interface/") {
            assert!(
                has(s, "aws:ResourceTag/sgsync:target") && has(s, "ec2:Vpc"),
                "{s:?}"
            );
        } else if resources.contains("security-group/") {
            assert!(has(s, "ec2:Vpc"), "{s:?}");
        } else {
            assert!(
                list(&s["Resource"]).iter().all(|r| {
                    let r = format!("{r:?}");
                    r.contains(":instance/") || r.contains(":subnet/")
                }),
                "{s:?}"
            );
        }
    }
    // Load balancers: only those tagged as targets.
    for s in with("elasticloadbalancing:SetSecurityGroups") {
        assert!(
            format!("{:?}", s["Resource"]).contains(":loadbalancer/"),
            "{s:?}"
        );
        assert!(has(s, "aws:ResourceTag/sgsync:target"), "{s:?}");
    }
    assert!(
        with("servicequotas:GetServiceQuota")
            .iter()
            .all(|s| !is_star(&s["Resource"]))
    );
    // Prefix lists: created only with this deployment's tags; changed, read and deleted only when
    // they carry them.
    for s in with("ec2:CreateManagedPrefixList") {
        assert!(
            has(s, "aws:RequestTag/sgsync:prefix") && has(s, "aws:RequestTag/sgsync:deployment"),
            "{s:?}"
        );
    }
    for action in [
        "ec2:ModifyManagedPrefixList",
        "ec2:DeleteManagedPrefixList",
        "ec2:GetManagedPrefixListEntries",
        "ec2:GetManagedPrefixListAssociations",
    ] {
        let found = with(action);
        assert!(!found.is_empty(), "{action} missing");
        for s in found {
            assert!(
                has(s, "aws:ResourceTag/sgsync:prefix")
                    && has(s, "aws:ResourceTag/sgsync:deployment"),
                "{s:?}"
            );
            assert!(
                format!("{:?}", s["Resource"]).contains(":prefix-list/"),
                "{s:?}"
            );
        }
    }
    // WAF: every set action limited to this prefix's names in the ARN; writes to this deployment's tags.
    for action in [
        "wafv2:CreateIPSet",
        "wafv2:UpdateIPSet",
        "wafv2:GetIPSet",
        "wafv2:TagResource",
        "wafv2:ListTagsForResource",
    ] {
        let found = with(action);
        assert!(!found.is_empty(), "{action} missing");
        for s in found {
            assert!(
                format!("{:?}", s["Resource"]).contains("/ipset/${PrefixName}-*/*"),
                "{s:?}"
            );
            if is_mutating(action) || action == "wafv2:GetIPSet" {
                let tagged = (has(s, "aws:ResourceTag/sgsync:prefix")
                    && has(s, "aws:ResourceTag/sgsync:deployment"))
                    || (has(s, "aws:RequestTag/sgsync:prefix")
                        && has(s, "aws:RequestTag/sgsync:deployment"));
                assert!(tagged, "{action} without ownership conditions: {s:?}");
            }
        }
    }
    // RAM: a share tagged as this deployment's, of this account's prefix lists.
    for action in [
        "ram:CreateResourceShare",
        "ram:AssociateResourceShare",
        "ram:TagResource",
    ] {
        let found = with(action);
        assert!(!found.is_empty(), "{action} missing");
        for s in found {
            let tagged = (has(s, "aws:RequestTag/sgsync:prefix")
                && has(s, "aws:RequestTag/sgsync:deployment"))
                || (has(s, "ram:ResourceTag/sgsync:prefix")
                    && has(s, "ram:ResourceTag/sgsync:deployment"));
            assert!(tagged, "{action} without ownership conditions: {s:?}");
            if action != "ram:TagResource" {
                assert!(
                    has(s, "ram:RequestedResourceType") && has(s, "ram:ResourceArn"),
                    "{s:?}"
                );
            }
        }
    }
    // Nothing beyond what sgsync calls.
    let allowed = [
        "ec2:DescribeVpcs",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeNetworkInterfaces",
        "elasticloadbalancing:DescribeLoadBalancers",
        "elasticloadbalancing:DescribeTags",
        "servicequotas:GetServiceQuota",
        "ec2:CreateSecurityGroup",
        "ec2:CreateTags",
        "ec2:AuthorizeSecurityGroupIngress",
        "ec2:RevokeSecurityGroupIngress",
        "ec2:DeleteSecurityGroup",
        "ec2:ModifyNetworkInterfaceAttribute",
        "elasticloadbalancing:SetSecurityGroups",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "sqs:SendMessage",
        "ec2:DescribeManagedPrefixLists",
        "ec2:CreateManagedPrefixList",
        "ec2:ModifyManagedPrefixList",
        "ec2:DeleteManagedPrefixList",
        "ec2:GetManagedPrefixListEntries",
        "ec2:GetManagedPrefixListAssociations",
        "ram:GetResourceShares",
        "ram:GetResourceShareAssociations",
        "ram:CreateResourceShare",
        "ram:AssociateResourceShare",
        "ram:TagResource",
        "wafv2:ListIPSets",
        "wafv2:ListTagsForResource",
        "wafv2:CreateIPSet",
        "wafv2:TagResource",
        "wafv2:GetIPSet",
        "wafv2:UpdateIPSet",
    ];
    for s in &statements {
        for a in actions(s) {
            assert!(allowed.contains(&a.as_str()), "unexpected action {a}");
        }
    }
}

#[test]
fn failures_raise_alarms() {
    let t = template();
    let r = &t["Resources"];
    let alarm = |name: &str| {
        assert_eq!(r[name]["Type"], "AWS::CloudWatch::Alarm", "{name}");
        &r[name]["Properties"]
    };
    let errors = alarm("ErrorsAlarm");
    assert_eq!(
        (&errors["Namespace"], &errors["MetricName"]),
        (&Value::from("AWS/Lambda"), &Value::from("Errors"))
    );
    let dlq = alarm("DeadLettersAlarm");
    assert_eq!(dlq["MetricName"], "ApproximateNumberOfMessagesVisible");
    assert_eq!(dlq["ComparisonOperator"], "GreaterThanThreshold");
    assert_eq!(dlq["Threshold"], 0);
    // No successful run for 26 hours, from the function's own metric; silence counts as failure.
    let quiet = alarm("NoSuccessAlarm");
    assert_eq!(quiet["Namespace"], "sgsync");
    assert_eq!(quiet["MetricName"], "RunSucceeded");
    let hours =
        quiet["Period"].as_u64().unwrap() * quiet["EvaluationPeriods"].as_u64().unwrap() / 3600;
    assert_eq!(hours, 26);
    assert_eq!(quiet["TreatMissingData"], "breaching");
    assert!(!t["Parameters"]["AlarmTopicArn"].is_null());
}

#[test]
fn the_function_is_wired_as_the_issue_asks() {
    let t = template();
    let f = &t["Resources"]["Function"]["Properties"];
    assert_eq!(
        t["Resources"]["Function"]["Type"],
        "AWS::Serverless::Function"
    );
    assert_eq!(
        t["Resources"]["Function"]["Metadata"]["BuildMethod"],
        "rust-cargolambda"
    );
    assert_eq!(f["Runtime"], "provided.al2023");
    assert_eq!(f["MemorySize"], 128);
    assert_eq!(f["ReservedConcurrentExecutions"], 1);
    assert!(f["Timeout"].as_u64().unwrap() >= 120);
    assert_eq!(t["Parameters"]["Architecture"]["Default"], "arm64");
    let events = f["Events"].as_mapping().unwrap();
    let sns = events
        .values()
        .find(|e| e["Type"] == "SNS")
        .expect("an SNS event");
    assert_eq!(
        sns["Properties"]["Topic"],
        "arn:aws:sns:us-east-1:806199016981:AmazonIpSpaceChanged"
    );
    assert_eq!(sns["Properties"]["Region"], "us-east-1");
    assert!(
        events.values().any(|e| e["Type"] == "Schedule"),
        "a daily schedule"
    );
    assert_eq!(f["DeadLetterQueue"]["Type"], "SQS");
    assert_eq!(t["Resources"]["LogGroup"]["Type"], "AWS::Logs::LogGroup");
    assert!(!t["Resources"]["LogGroup"]["Properties"]["RetentionInDays"].is_null());
    let vars = f["Environment"]["Variables"].as_mapping().unwrap();
    // Every setting sgsync reads, except REGION: Lambda sets AWS_REGION, which sgsync falls back to.
    for v in sgsync::config::VARIABLES.iter().filter(|v| **v != "REGION") {
        let value = &vars[*v];
        // A parameter, or a parameter with a fallback (`Fn::If: [Has…, Ref: P, …]`).
        let param = value["Ref"]
            .as_str()
            .or_else(|| value["Fn::If"][1]["Ref"].as_str())
            .unwrap_or_else(|| panic!("{v} is not a parameter"));
        assert!(
            !t["Parameters"][param].is_null(),
            "{v}: no parameter {param}"
        );
    }
}
