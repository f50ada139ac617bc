//! The deploy template's guarantees, checked so that a later edit cannot widen them silently:
//! least-privilege IAM enforced by AWS (conditions on the ownership and target tags and the VPC),
//! reserved concurrency (1 by default), the SNS subscription, the daily schedule, the dead-letter queue, the alarms,
//! and a parameter for every configuration variable.

use serde_yaml_ng::Value;

fn read(name: &str) -> Value {
    let path = format!("{}/deploy/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    serde_yaml_ng::from_str(&text)
        .unwrap_or_else(|e| panic!("{path} is YAML without short-form tags: {e}"))
}

fn template() -> Value {
    read("template.yaml")
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
fn each_kind_gets_its_permissions_only_when_kinds_names_it() {
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
            "HasChangeTopic",
            "AttachCarriers",
            "ManagesLists",
            "SharesLists",
            "ManagesSets",
            "HasFleet"
        ]
    );
    // The carriers' wider permission exists only with Attach=carriers (and groups managed).
    let carriers = &t["Conditions"]["AttachCarriers"]["Fn::And"];
    assert_eq!(carriers[0]["Fn::Equals"][0]["Ref"], "Attach");
    assert_eq!(carriers[0]["Fn::Equals"][1], "carriers");
    assert_eq!(carriers[1]["Condition"], "ManagesGroups");
    assert_eq!(t["Parameters"]["Attach"]["Default"], "tagged");
    // The common policy: logs, dead letters, quotas, the deployment's record (its path only);
    // nothing that changes a network.
    for s in list(&policies[0]["PolicyDocument"]["Statement"]) {
        for a in actions(&s) {
            assert!(
                a.starts_with("logs:")
                    || a.starts_with("sqs:")
                    || a.starts_with("servicequotas:")
                    || a.starts_with("ssm:"),
                "{a}"
            );
            if a.starts_with("ssm:") {
                let resource = format!("{:?}", s["Resource"]);
                assert!(
                    resource.contains(":parameter/sgsync/${Deployment}/*"),
                    "{resource}"
                );
            }
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
        "ec2:RevokeSecurityGroupEgress",
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
        if resources.contains("network-interface/") && s["Sid"] == "AttachToCarrierInterfaces" {
            // Attach=carriers (its own conditional policy): any interface, but in the VPC.
            assert!(has(s, "ec2:Vpc"), "{s:?}");
        } else if resources.contains("network-interface/") {
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
        assert!(
            has(s, "aws:ResourceTag/sgsync:target") || s["Sid"] == "AttachToCarrierLoadBalancers",
            "{s:?}"
        );
    }
    // The two carriers' statements are in the policy only Attach=carriers adds.
    let carriers_policy = list(&t["Resources"]["Role"]["Properties"]["Policies"])
        .into_iter()
        .find(|p| p["Fn::If"][1]["PolicyName"] == "sgsync-carriers")
        .expect("the carriers' policy");
    assert_eq!(carriers_policy["Fn::If"][0], "AttachCarriers");
    let sids: Vec<String> = list(&carriers_policy["Fn::If"][1]["PolicyDocument"]["Statement"])
        .iter()
        .map(|s| s["Sid"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        sids,
        ["AttachToCarrierInterfaces", "AttachToCarrierLoadBalancers"]
    );
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
    // RAM: a share tagged as this deployment's, of this account's prefix lists, to the principals the
    // parameters name, inside the organization unless AllowExternalShare says otherwise.
    for action in ["ram:CreateResourceShare", "ram:AssociateResourceShare"] {
        let found = with(action);
        assert!(!found.is_empty(), "{action} missing");
        for s in found {
            let tagged = (has(s, "aws:RequestTag/sgsync:prefix")
                && has(s, "aws:RequestTag/sgsync:deployment"))
                || (has(s, "ram:ResourceTag/sgsync:prefix")
                    && has(s, "ram:ResourceTag/sgsync:deployment"));
            assert!(tagged, "{action} without ownership conditions: {s:?}");
            assert!(
                has(s, "ram:RequestedResourceType") && has(s, "ram:ResourceArn"),
                "{s:?}"
            );
            assert!(
                (has(s, "ram:RequestedAllowsExternalPrincipals")
                    || has(s, "ram:AllowsExternalPrincipals"))
                    && has(s, "ram:Principal"),
                "{action} without the principals pinned: {s:?}"
            );
        }
    }
    // A hub reads its one fleet file and assumes the spoke roles by their one name.
    for s in with("s3:GetObject") {
        assert!(
            format!("{:?}", s["Resource"]).contains("${FleetBucket}/${FleetKey}"),
            "{s:?}"
        );
    }
    for s in with("sts:AssumeRole") {
        assert!(
            format!("{:?}", s["Resource"]).contains(":role/${SpokeRoleName}"),
            "{s:?}"
        );
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
        "ec2:RevokeSecurityGroupEgress",
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
        "ram:DeleteResourceShare",
        "wafv2:ListIPSets",
        "wafv2:ListTagsForResource",
        "wafv2:CreateIPSet",
        "wafv2:TagResource",
        "wafv2:GetIPSet",
        "wafv2:UpdateIPSet",
        "wafv2:DeleteIPSet",
        "s3:GetObject",
        "sts:AssumeRole",
        "ssm:GetParameter",
        "ssm:GetParameterHistory",
        "ssm:PutParameter",
        "ssm:DeleteParameter",
        "ssm:AddTagsToResource",
        "sns:Publish",
    ];
    // Publishing: the one topic CHANGE_TOPIC_ARN names, and only when it is set.
    for s in statements
        .iter()
        .filter(|s| actions(s).iter().any(|a| a == "sns:Publish"))
    {
        assert_eq!(s["Resource"]["Ref"], "ChangeTopicArn", "{s:?}");
    }
    let topic_policy = list(&t["Resources"]["Role"]["Properties"]["Policies"])
        .into_iter()
        .find(|p| p["Fn::If"][1]["PolicyName"] == "sgsync-change-topic")
        .expect("the change topic's policy");
    assert_eq!(topic_policy["Fn::If"][0], "HasChangeTopic");
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
    // 26 hours for Amazon's ranges (the daily repair succeeds every 24); a few of its schedule's
    // periods for another source.
    let periods = &quiet["EvaluationPeriods"]["Fn::If"];
    assert_eq!(periods[0], "FromAws");
    let hours = quiet["Period"].as_u64().unwrap() * periods[1].as_u64().unwrap() / 3600;
    assert_eq!(hours, 26);
    for (schedule, hours) in [("hourly", 3), ("6-hourly", 14), ("daily", 26)] {
        assert_eq!(t["Mappings"]["Schedules"][schedule]["AlarmHours"], hours);
    }
    assert_eq!(periods[2]["Fn::FindInMap"][2], "AlarmHours");
    assert_eq!(quiet["TreatMissingData"], "breaching");
    assert!(!t["Parameters"]["AlarmTopicArn"].is_null());
    // Capacity: the least headroom over the targets, below the parameters' thresholds. The metrics
    // exist (security_groups::report emits them).
    let metrics = std::fs::read_to_string(format!(
        "{}/src/security_groups/report.rs",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    for (name, metric, threshold) in [
        (
            "RuleHeadroomIPv4Alarm",
            "LeastRuleHeadroomIPv4",
            "RuleHeadroomThreshold",
        ),
        (
            "RuleHeadroomIPv6Alarm",
            "LeastRuleHeadroomIPv6",
            "RuleHeadroomThreshold",
        ),
        (
            "GroupHeadroomAlarm",
            "LeastGroupHeadroom",
            "GroupHeadroomThreshold",
        ),
    ] {
        let a = alarm(name);
        assert_eq!(a["MetricName"], metric);
        assert_eq!(a["Statistic"], "Minimum");
        assert_eq!(a["ComparisonOperator"], "LessThanThreshold");
        assert_eq!(a["Threshold"]["Ref"], threshold);
        assert_eq!(a["Dimensions"][0]["Name"], "Deployment");
        assert!(
            metrics.contains(&format!("\"{metric}\"")),
            "{metric} is not emitted"
        );
    }
    let dashboard = format!("{:?}", r["Dashboard"]["Properties"]["DashboardBody"]);
    for metric in [
        "RunSucceeded",
        "ChangesMade",
        "LeastGroupHeadroom",
        "AppliedSynctokenAgeSeconds",
        "EventToAttachSeconds",
    ] {
        assert!(dashboard.contains(metric), "the dashboard lacks {metric}");
    }
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
    // One invocation at a time by default; 0 reserves none (accounts without 10 unreserved
    // executions cannot reserve any).
    let reserved = &f["ReservedConcurrentExecutions"]["Fn::If"];
    assert_eq!(reserved[0], "ReservesConcurrency");
    assert_eq!(reserved[1]["Ref"], "ReservedConcurrency");
    assert_eq!(reserved[2]["Ref"], "AWS::NoValue");
    assert_eq!(t["Parameters"]["ReservedConcurrency"]["Default"], 1);
    assert_eq!(t["Parameters"]["ReservedConcurrency"]["MinValue"], 0);
    assert_eq!(
        t["Conditions"]["ReservesConcurrency"]["Fn::Not"][0]["Fn::Equals"][0]["Ref"],
        "ReservedConcurrency"
    );
    assert_eq!(f["Timeout"]["Fn::If"][0], "HasFleet");
    assert!(f["Timeout"]["Fn::If"][2].as_u64().unwrap() >= 120);
    assert_eq!(
        f["Timeout"]["Fn::If"][1], 900,
        "a hub gets Lambda's maximum"
    );
    assert_eq!(t["Parameters"]["Architecture"]["Default"], "arm64");
    let events = f["Events"].as_mapping().unwrap();
    // Amazon's topic, for a deployment of Amazon's ranges only (SOURCE=aws); any other source runs
    // on its schedule, and the no-success alarm's window follows it.
    let sns = &t["Resources"]["IpSpaceChangedSubscription"];
    assert_eq!(sns["Type"], "AWS::SNS::Subscription");
    assert_eq!(sns["Condition"], "FromAws");
    assert_eq!(
        sns["Properties"]["TopicArn"],
        "arn:aws:sns:us-east-1:806199016981:AmazonIpSpaceChanged"
    );
    assert_eq!(sns["Properties"]["Region"], "us-east-1");
    assert_eq!(
        t["Resources"]["IpSpaceChangedPermission"]["Condition"],
        "FromAws"
    );
    let schedule = &t["Resources"]["SourceScheduleRule"];
    assert_eq!(schedule["Condition"], "FromOtherSource");
    assert_eq!(
        t["Mappings"]["Schedules"]["hourly"]["Expression"],
        "rate(1 hour)"
    );
    assert_eq!(t["Parameters"]["SourceSchedule"]["Default"], "hourly");
    assert_eq!(
        t["Resources"]["NoSuccessAlarm"]["Condition"],
        "WatchesSuccess"
    );
    assert_eq!(
        t["Resources"]["Function"]["Properties"]["Environment"]["Variables"]["SOURCE"]["Ref"],
        "Source"
    );
    assert!(
        events.values().any(|e| e["Type"] == "Schedule"),
        "a daily schedule"
    );
    assert_eq!(f["DeadLetterQueue"]["Type"], "SQS");
    // The launch and tag events, filtered by EventBridge, each with its permission to invoke.
    let resources = t["Resources"].as_mapping().unwrap();
    for (source, filter_key, filter_value) in [
        ("aws.ec2", "state", "running"),
        ("aws.tag", "changed-tag-keys", "sgsync:target"),
    ] {
        let (name, rule) = resources
            .iter()
            .find(|(_, r)| {
                r["Type"] == "AWS::Events::Rule"
                    && r["Properties"]["EventPattern"]["source"][0] == source
            })
            .unwrap_or_else(|| panic!("no rule for {source}"));
        let pattern = &rule["Properties"]["EventPattern"];
        assert_eq!(
            pattern["detail"][filter_key][0], filter_value,
            "{pattern:?}"
        );
        assert_eq!(rule["Properties"]["State"]["Fn::If"][0], "ManagesGroups");
        let permitted = resources.values().any(|p| {
            p["Type"] == "AWS::Lambda::Permission"
                && p["Properties"]["Principal"] == "events.amazonaws.com"
                && p["Properties"]["SourceArn"]["Fn::GetAtt"][0] == *name
        });
        assert!(permitted, "no permission for {name:?}");
    }
    assert_eq!(t["Resources"]["LogGroup"]["Type"], "AWS::Logs::LogGroup");
    assert!(!t["Resources"]["LogGroup"]["Properties"]["RetentionInDays"].is_null());
    let vars = f["Environment"]["Variables"].as_mapping().unwrap();
    // Every setting sgsync reads, except REGION: Lambda sets AWS_REGION, which sgsync falls back to.
    for v in sgsync::config::VARIABLES.iter().filter(|v| **v != "REGION") {
        let value = &vars[*v];
        // A parameter, a parameter with a fallback (`Fn::If: [Has…, Ref: P, …]`), or parameters
        // joined (`Fn::If: [Has…, Fn::Sub: "s3://${B}/${K}", ""]`).
        let params: Vec<String> = match (value["Ref"].as_str(), &value["Fn::If"][1]) {
            (Some(p), _) => vec![p.to_string()],
            (None, branch) if branch["Ref"].is_string() => {
                vec![branch["Ref"].as_str().unwrap().into()]
            }
            (None, branch) => branch["Fn::Sub"]
                .as_str()
                .unwrap_or_else(|| panic!("{v} is not a parameter"))
                .split("${")
                .skip(1)
                .map(|p| p.split('}').next().unwrap().to_string())
                .collect(),
        };
        assert!(!params.is_empty(), "{v} names no parameter");
        for param in params {
            assert!(
                !t["Parameters"][param.as_str()].is_null(),
                "{v}: no parameter {param}"
            );
        }
    }
}

#[test]
fn the_stackset_template_is_the_same_deployment_without_a_transform() {
    let t = template();
    let s = read("stackset.yaml");
    // Service-managed StackSets refuse macros: no Transform, no SAM resource.
    assert!(s.get("Transform").is_none());
    for (name, resource) in s["Resources"].as_mapping().unwrap() {
        let kind = resource["Type"].as_str().unwrap();
        assert!(!kind.starts_with("AWS::Serverless"), "{name:?} is {kind}");
    }
    // The same least privilege, the same settings.
    assert_eq!(
        s["Resources"]["Role"]["Properties"]["Policies"],
        t["Resources"]["Role"]["Properties"]["Policies"],
        "deploy/stackset.yaml's role policies differ from deploy/template.yaml's"
    );
    let f = &s["Resources"]["Function"]["Properties"];
    assert_eq!(
        f["Environment"]["Variables"],
        t["Resources"]["Function"]["Properties"]["Environment"]["Variables"]
    );
    for (name, _) in t["Parameters"].as_mapping().unwrap() {
        assert!(
            !s["Parameters"][name].is_null(),
            "stackset.yaml lacks parameter {name:?}"
        );
    }
    assert_eq!(f["Runtime"], "provided.al2023");
    assert_eq!(
        f["ReservedConcurrentExecutions"]["Fn::If"][0],
        "ReservesConcurrency"
    );
    assert!(!f["Code"]["S3Bucket"].is_null() && !f["Code"]["S3Key"].is_null());
    let kinds: Vec<&str> = s["Resources"]
        .as_mapping()
        .unwrap()
        .values()
        .map(|r| r["Type"].as_str().unwrap())
        .collect();
    for kind in [
        "AWS::SNS::Subscription",
        "AWS::Events::Rule",
        "AWS::SQS::Queue",
        "AWS::Logs::LogGroup",
    ] {
        assert!(kinds.contains(&kind), "stackset.yaml has no {kind}");
    }
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == "AWS::CloudWatch::Alarm")
            .count(),
        6
    );
    assert!(kinds.contains(&"AWS::CloudWatch::Dashboard"));
    let subscription = s["Resources"]
        .as_mapping()
        .unwrap()
        .values()
        .find(|r| r["Type"] == "AWS::SNS::Subscription")
        .unwrap();
    assert_eq!(
        subscription["Properties"]["TopicArn"],
        "arn:aws:sns:us-east-1:806199016981:AmazonIpSpaceChanged"
    );
}

/// The template's value with the spoke's two differences undone: the deployment is the hub's
/// `DeploymentId` (no stack-name fallback), and ARNs name every Region.
fn as_spoke(v: &Value) -> Value {
    match v {
        Value::Mapping(m) => {
            if m.get("Fn::If").and_then(|b| b[0].as_str()) == Some("HasDeploymentId") {
                return serde_yaml_ng::from_str("{ Ref: DeploymentId }").unwrap();
            }
            Value::Mapping(m.iter().map(|(k, v)| (k.clone(), as_spoke(v))).collect())
        }
        Value::Sequence(items) => Value::Sequence(items.iter().map(as_spoke).collect()),
        Value::String(text) => Value::String(text.replace("${AWS::Region}", "*")),
        other => other.clone(),
    }
}

#[test]
fn spoke_roles_trust_only_the_hub_and_hold_the_templates_permissions_or_only_reads() {
    let t = template();
    let spoke = read("spoke-role.yaml");
    let role = &spoke["Resources"]["Role"]["Properties"];
    let trust = &role["AssumeRolePolicyDocument"]["Statement"][0];
    assert_eq!(trust["Action"], "sts:AssumeRole");
    assert!(
        format!("{:?}", trust["Principal"]).contains("${HubAccountId}"),
        "{trust:?}"
    );
    // Always narrowed to the one hub role: no parameter value trusts the whole hub account.
    assert!(
        format!("{:?}", trust["Condition"]["ArnEquals"]["aws:PrincipalArn"])
            .contains(":role/${HubRoleName}"),
        "{trust:?}"
    );
    let hub_role = &spoke["Parameters"]["HubRoleName"];
    assert!(hub_role.get("Default").is_none(), "{hub_role:?}");
    // The pattern requires at least one character (an optional group `(…)?` would accept "").
    let pattern = hub_role["AllowedPattern"].as_str().unwrap();
    assert!(
        pattern.ends_with("]{1,512}$") && !pattern.contains(")?"),
        "HubRoleName may be empty: {pattern}"
    );
    let named = |policies: &Value, name: &str| -> Option<Value> {
        list(policies).into_iter().find_map(|p| {
            let policy = p.get("Fn::If").map_or(p.clone(), |b| b[1].clone());
            (policy["PolicyName"] == name).then_some(policy)
        })
    };
    let ours = &t["Resources"]["Role"]["Properties"]["Policies"];
    for kind in [
        "sgsync-security-groups",
        "sgsync-prefix-lists",
        "sgsync-share",
        "sgsync-waf-ip-sets",
    ] {
        let write = named(&role["Policies"], kind).unwrap_or_else(|| panic!("spoke lacks {kind}"));
        let expected = as_spoke(&named(ours, kind).unwrap());
        assert_eq!(
            write["PolicyDocument"]["Statement"], expected["PolicyDocument"]["Statement"],
            "the spoke's {kind} differs from deploy/template.yaml's"
        );
        let read_only = named(&role["Policies"], &format!("{kind}-read"))
            .unwrap_or_else(|| panic!("no {kind}-read"));
        for s in list(&read_only["PolicyDocument"]["Statement"]) {
            for a in actions(&s) {
                assert!(!is_mutating(&a), "{kind}-read allows {a}");
            }
        }
    }
    // Each write policy exists only with ReadOnly=false, each read policy only with ReadOnly=true.
    for p in list(&role["Policies"]).iter().skip(1) {
        let branches = &p["Fn::If"];
        let condition = branches[0].as_str().unwrap();
        let name = branches[1]["PolicyName"].as_str().unwrap();
        assert_eq!(
            condition.starts_with("Reads"),
            name.ends_with("-read"),
            "{name} under {condition}"
        );
    }
    for s in list(&named(&role["Policies"], "sgsync").unwrap()["PolicyDocument"]["Statement"]) {
        for a in actions(&s) {
            assert!(
                a.starts_with("servicequotas:"),
                "the spoke's common policy allows {a}"
            );
        }
    }
}

/// Trust finding 8: the role could tag any IP set named `PrefixName-*` (and RAM's `TagResource` any
/// share) with this deployment's tags, without a resource-tag condition: adoption by tag. Now it tags
/// only what already carries them; creations authorize their own tags.
#[test]
fn the_role_could_tag_someone_elses_ip_set_or_share() {
    let has = |s: &Value, key: &str| condition_keys(s).iter().any(|k| k == key);
    let t = template();
    let statements = statements(&t);
    let with = |action: &str| -> Vec<&Value> {
        statements
            .iter()
            .filter(|s| actions(s).iter().any(|a| a == action))
            .collect()
    };
    // RAM's TagResource has no resource-tag key, so the role may not tag shares at all (a share's
    // tags come with CreateResourceShare, which authorizes them): tagging someone else's share would
    // adopt it. WAF's TagResource only on sets that carry this deployment's tags already (CreateIPSet
    // authorizes the tags it creates a set with).
    assert!(
        with("ram:TagResource").is_empty(),
        "the role may tag RAM shares"
    );
    for s in with("wafv2:TagResource") {
        assert!(
            has(s, "aws:ResourceTag/sgsync:prefix") && has(s, "aws:ResourceTag/sgsync:deployment"),
            "wafv2:TagResource on sets this deployment does not own: {s:?}"
        );
    }
}

/// Tags and the record are claims only while nobody else may write them: the service control policy
/// denies the ownership tags (not `sgsync:target`, which operators write) and the `/sgsync/*`
/// parameters to every principal without the role tag the templates give their roles, and denies
/// that tag to all but the deployers.
#[test]
fn the_scp_leaves_ownership_tags_and_records_to_the_sgsync_roles() {
    let path = format!(
        "{}/deploy/protect-tags-scp.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let scp: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let statements = scp["Statement"].as_array().unwrap();
    assert!(statements.iter().all(|s| s["Effect"] == "Deny"));
    let by_sid = |sid: &str| {
        statements
            .iter()
            .find(|s| s["Sid"] == sid)
            .unwrap_or_else(|| panic!("no statement {sid}"))
    };
    let tags = by_sid("OnlySgsyncWritesItsOwnershipTags");
    let keys = &tags["Condition"]["ForAnyValue:StringEquals"]["aws:TagKeys"];
    for key in ["sgsync:prefix", "sgsync:deployment", "sgsync:synctoken"] {
        assert!(keys.as_array().unwrap().iter().any(|k| k == key), "{key}");
    }
    assert!(!keys.to_string().contains("sgsync:target"));
    for action in [
        "ec2:CreateTags",
        "wafv2:CreateIPSet",
        "wafv2:TagResource",
        "ram:CreateResourceShare",
        "ram:TagResource",
    ] {
        assert!(tags["Action"].to_string().contains(action), "{action}");
    }
    let records = by_sid("OnlySgsyncWritesItsRecords");
    assert_eq!(records["Resource"], "arn:*:ssm:*:*:parameter/sgsync/*");
    assert!(records["Action"].to_string().contains("ssm:PutParameter"));
    for s in [tags, records] {
        assert_eq!(
            s["Condition"]["StringNotEquals"]["aws:PrincipalTag/sgsync-role"],
            "true"
        );
    }
    // Opting a target in (or out) is an operator's act: someone who may write tags may not make an
    // unrelated interface a target, nor freeze one by taking its tag away.
    let targets = by_sid("OnlyOperatorsOptTargetsIn");
    assert_eq!(
        targets["Condition"]["ForAnyValue:StringEquals"]["aws:TagKeys"],
        serde_json::json!(["sgsync:target"])
    );
    for action in [
        "ec2:CreateTags",
        "ec2:DeleteTags",
        "elasticloadbalancing:AddTags",
    ] {
        assert!(targets["Action"].to_string().contains(action), "{action}");
    }
    // Deployers may clean a deleted deployment's records up.
    assert!(
        records["Condition"]["ArnNotLike"]["aws:PrincipalArn"]
            .to_string()
            .contains("REPLACE-WITH-YOUR-DEPLOYER-ROLE")
    );
    let role_tag = by_sid("OnlyDeployersMakeSgsyncRoles");
    assert!(role_tag["Action"].to_string().contains("iam:TagRole"));

    // Every role the templates make carries the tag.
    for name in ["template.yaml", "stackset.yaml", "spoke-role.yaml"] {
        let t = read(name);
        for (_, resource) in t["Resources"].as_mapping().unwrap() {
            if resource["Type"] == "AWS::IAM::Role" {
                let tags = list(&resource["Properties"]["Tags"]);
                assert!(
                    tags.iter()
                        .any(|t| t["Key"] == "sgsync-role" && t["Value"] == "true"),
                    "a role of {name} lacks the tag sgsync-role=true"
                );
            }
        }
    }
}

/// Drift repaired in seconds: the CloudTrail records of the three calls that set a target's groups
/// reach the function, except the function's own (no loop), in both templates.
#[test]
fn calls_that_set_a_targets_groups_reach_the_function_except_its_own() {
    for name in ["template.yaml", "stackset.yaml"] {
        let t = read(name);
        let rule = &t["Resources"]["GroupsSetRule"]["Properties"];
        let pattern = &rule["EventPattern"];
        assert_eq!(
            pattern["detail-type"][0], "AWS API Call via CloudTrail",
            "{name}"
        );
        let calls: Vec<String> = list(&pattern["detail"]["eventName"])
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            calls,
            [
                "ModifyNetworkInterfaceAttribute",
                "ModifyInstanceAttribute",
                "SetSecurityGroups"
            ],
            "{name}"
        );
        let own = &pattern["detail"]["userIdentity"]["arn"][0]["anything-but"]["prefix"]["Fn::Sub"];
        assert!(
            own.as_str().unwrap().ends_with(":assumed-role/${Role}/"),
            "{name}: the function's own calls are not filtered out: {own:?}"
        );
        assert_eq!(
            pattern["detail"]["errorCode"][0]["exists"],
            serde_yaml_ng::Value::Bool(false),
            "{name}: failed calls invoke the function"
        );
        assert_eq!(rule["Targets"][0]["Arn"]["Fn::GetAtt"][0], "Function");
        assert_eq!(
            t["Resources"]["GroupsSetPermission"]["Properties"]["SourceArn"]["Fn::GetAtt"][0],
            "GroupsSetRule"
        );
    }
}
