#!/usr/bin/env python3
"""Lints the IAM policies of the deploy templates offline with parliament (duo-labs, from PyPI).

Each template's role policies (every `AWS::IAM::Role`'s `Policies`, whose items may be `Fn::If`, and
every `AWS::IAM::ManagedPolicy`) are rendered with sample parameter values (with and without a VpcId,
every kind of Kinds, both WAF scopes; for a template with a `ReadOnly` parameter, the spoke role,
each of these with ReadOnly true and false), CloudFormation's intrinsic functions resolved, and handed
to parliament. Trust policies (AssumeRolePolicyDocument) are not linted: parliament checks identity
policies. parliament's bundled IAM data lags AWS's in three places; exactly these findings are
accepted, each for a stated reason, and any other finding fails:

- RESOURCE_MISMATCH on a statement that grants only the optional resource types of a multi-resource
  action (the VPC of ec2:CreateSecurityGroup; the groups, instance and subnet of
  ec2:ModifyNetworkInterfaceAttribute): the split is deliberate, so that each resource gets its own
  conditions (EC2 evaluates a condition against every resource of a statement).
- servicequotas:GetServiceQuota on quota ARNs: parliament's data predates that resource type.

Usage: lint-iam.py TEMPLATE...   (exit 1 on any other finding)
"""
import json
import os
import re
import subprocess
import sys

import yaml

ACCEPTED = {
    ("RESOURCE_MISMATCH", "ec2:CreateSecurityGroup"),
    ("RESOURCE_MISMATCH", "ec2:ModifyNetworkInterfaceAttribute"),
    ("RESOURCE_MISMATCH", "servicequotas:GetServiceQuota"),
}

PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::Region": "eu-west-1",
    "AWS::AccountId": "123456789012",
    "AWS::StackName": "sgsync",
}


class Renderer:
    def __init__(self, template, params):
        self.template = template
        self.params = {k: str(v.get("Default", "")) for k, v in template.get("Parameters", {}).items()}
        self.params.update(params)

    def ref(self, name):
        if name in PSEUDO:
            return PSEUDO[name]
        if name == "AWS::NoValue":
            return None
        if name in self.params:
            return self.params[name]
        return f"arn:aws:lambda:eu-west-1:123456789012:function:{name}"

    def condition(self, name):
        return self.value(self.template["Conditions"][name])

    def value(self, v):
        if isinstance(v, list):
            return [x for x in (self.value(i) for i in v) if x is not None]
        if not isinstance(v, dict):
            return v
        if len(v) == 1:
            (k, arg), = v.items()
            if k == "Ref":
                return self.ref(arg)
            if k == "Fn::Sub":
                text, names = (arg, {}) if isinstance(arg, str) else (arg[0], self.value(arg[1]))
                return re.sub(
                    r"\$\{([^}]+)\}",
                    lambda m: str(names.get(m.group(1), self.ref(m.group(1)))),
                    text,
                )
            if k == "Fn::If":
                return self.value(arg[1] if self.condition(arg[0]) else arg[2])
            if k == "Fn::Equals":
                a, b = (self.value(x) for x in arg)
                return a == b
            if k == "Fn::Not":
                return not self.value(arg[0])
            if k == "Fn::And":
                return all(self.value(x) for x in arg)
            if k == "Fn::Or":
                return any(self.value(x) for x in arg)
            if k == "Condition":
                return self.condition(arg)
            if k == "Fn::GetAtt":
                return f"arn:aws:sqs:eu-west-1:123456789012:{arg[0]}"
            if k == "Fn::Join":
                return arg[0].join(str(x) for x in self.value(arg[1]))
            if k == "Fn::Split":
                return str(self.value(arg[1])).split(arg[0])
        # A key whose value is AWS::NoValue is removed, as CloudFormation does.
        rendered = {k: self.value(x) for k, x in v.items()}
        return {k: x for k, x in rendered.items() if x is not None}


def policies(template, params):
    r = Renderer(template, params)
    for name, resource in template["Resources"].items():
        if resource["Type"] == "AWS::IAM::Role":
            for policy in r.value(resource["Properties"].get("Policies", [])):
                yield f"{name}/{policy['PolicyName']}", r.value(policy["PolicyDocument"])
        if resource["Type"] == "AWS::IAM::ManagedPolicy":
            yield name, r.value(resource["Properties"]["PolicyDocument"])


def findings(document):
    parliament = os.path.join(os.path.dirname(sys.executable), "parliament")
    out = subprocess.run(
        [parliament, "--json"], input=json.dumps(document), capture_output=True, text=True,
    )
    found = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    if out.returncode not in (0, 1) or (out.returncode == 1 and not found):
        sys.exit(f"parliament failed: {out.stderr}")
    return found


def accepted(finding):
    detail = finding.get("detail") or []
    if not isinstance(detail, list) or not detail:
        return False
    return all((finding["issue"], d.get("action")) in ACCEPTED for d in detail if isinstance(d, dict))


def main():
    failed = False
    for path in sys.argv[1:]:
        with open(path) as f:
            template = yaml.safe_load(f)
        every_kind = {
            "Kinds": "security-groups,prefix-lists,waf-ip-sets",
            "ShareWith": "111122223333",
        }
        combinations = [
            {"VpcId": ""},
            {"VpcId": "vpc-0123456789abcdef0", "DeploymentId": "prod", **every_kind},
            {**every_kind, "WafScope": "CLOUDFRONT"},
        ]
        declared = template.get("Parameters", {})
        if "FleetBucket" in declared:
            combinations.append({**every_kind, "FleetBucket": "sgsync-fleet", "FleetKey": "fleet.toml"})
        if "HubAccountId" in declared:
            combinations = [{"HubAccountId": "444455556666", **p} for p in combinations]
        if "ReadOnly" in declared:
            combinations = [{**p, "ReadOnly": r} for p in combinations for r in ("false", "true")]
        for params in combinations:
            for name, document in policies(template, params):
                for finding in findings(document):
                    if accepted(finding):
                        continue
                    failed = True
                    print(f"{path} {name} ({params}): {finding['severity']} {finding['issue']}: "
                          f"{finding.get('title')}: {finding.get('detail')}")
    if failed:
        sys.exit(1)
    print(f"parliament: the IAM policies of {', '.join(sys.argv[1:])} are clean")


main()
