#!/usr/bin/env bash
# The main job, end to end, against a local AWS (moto) and a local copy of the real ip-ranges.json:
#   0. the origin's network interface opts in with the tag sgsync:target=AUTOUPDATE;
#   1. an SNS notification arrives: `sgsync plan`, then `sgsync apply` creates the managed groups and
#      attaches them to the interface, next to its own group;
#   2. `sgsync status` shows the groups and the target;
#   3. Amazon publishes a changed document: `sgsync plan` shows the diff, `sgsync apply` makes it;
#   4. `sgsync status` shows the result;
#   5. the same ranges kept in customer-managed prefix lists (shared through RAM) and WAF IP sets; other
#      teams' groups reference the lists;
#   6. GitHub's webhook ranges for a webhook receiver, a deployment of its own (SOURCE=github).
#      Everything started here is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

section() { printf '\n\033[1m== %s ==\033[0m\n' "$*"; }

section "0. set-up: build sgsync, install moto, start moto and a document server on 127.0.0.1"
scripts/setup-moto.sh
cargo build --quiet --bin sgsync   # the first build compiles the AWS SDK: several minutes
SGSYNC="$ROOT/target/debug/sgsync"

DEMO=$(mktemp -d "${TMPDIR:-/tmp}/sgsync-demo.XXXXXX")
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
MOTO_PORT=$(free_port)
HTTP_PORT=$(free_port)
(cd "$DEMO" && exec "$ROOT/.venv/bin/python" "$ROOT/scripts/moto_server.py" -H 127.0.0.1 -p "$MOTO_PORT" >"$DEMO/moto.log" 2>&1) &
MOTO_PID=$!
mkdir -p "$DEMO/www"
python3 "$ROOT/scripts/docserver.py" "$HTTP_PORT" "$DEMO/www" >"$DEMO/http.log" 2>&1 &
HTTP_PID=$!
cleanup() {
  kill "$MOTO_PID" "$HTTP_PID" 2>/dev/null || true
  wait "$MOTO_PID" "$HTTP_PID" 2>/dev/null || true
  rm -rf "$DEMO"
}
trap cleanup EXIT

export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
export IP_RANGES_URL="http://127.0.0.1:$HTTP_PORT/ip-ranges.json"
# Copies of the downloads stay in the demo's directory, not in ~/.cache.
export DOWNLOAD_CACHE="$DEMO/cache"
unset AWS_PROFILE VPC_ID PORTS PREFIX_NAME SERVICE IP_VERSIONS SERVICE_REGIONS RULES_PER_GROUP GROUPS_PER_TARGET
for _ in $(seq 1 100); do
  if curl -fs "$AWS_ENDPOINT_URL/moto-api/" >/dev/null 2>&1 && curl -fs "http://127.0.0.1:$HTTP_PORT/" >/dev/null 2>&1; then break; fi
  sleep 0.1
done
echo "moto on $AWS_ENDPOINT_URL, documents on http://127.0.0.1:$HTTP_PORT/"

# The demo's own helper: AWS set-up and edits done with boto3 from moto's venv.
py() { "$ROOT/.venv/bin/python" - "$@"; }

section "0. the origin: a network interface in the default VPC with the team's own security group, tagged sgsync:target=AUTOUPDATE"
ENI=$(py <<'EOF'
import boto3
ec2 = boto3.client("ec2")
vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
subnet = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"][0]["SubnetId"]
sg = ec2.create_security_group(GroupName="web-admin", Description="the team's own group", VpcId=vpc)["GroupId"]
ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "192.0.2.0/24"}]}])
eni = ec2.create_network_interface(SubnetId=subnet, Groups=[sg], Description="origin")["NetworkInterface"]["NetworkInterfaceId"]
ec2.create_tags(Resources=[eni], Tags=[{"Key": "sgsync:target", "Value": "AUTOUPDATE"}])
print(eni)
EOF
)
echo "interface $ENI carries the foreign group web-admin and opts in with the tag sgsync:target=AUTOUPDATE"

# Publishes a document and writes the SNS event announcing it.
publish() { # publish SOURCE_FILE EVENT_FILE
  cp "$1" "$DEMO/www/ip-ranges.json"
  py "$DEMO/www/ip-ranges.json" "$IP_RANGES_URL" > "$2" <<'EOF'
import hashlib, json, sys
path, url = sys.argv[1], sys.argv[2]
body = open(path, "rb").read()
doc = json.loads(body)
event = json.load(open("tests/fixtures/events/sns-latest.json"))
event["Records"][0]["Sns"]["Message"] = json.dumps({"create-time": doc["createDate"], "synctoken": doc["syncToken"], "md5": hashlib.md5(body).hexdigest(), "url": url})
print(json.dumps(event, indent=2))
EOF
}

section "1. Amazon publishes ip-ranges.json (the real 2.6 MB document); the SNS notification arrives"
publish tests/fixtures/ip-ranges/latest.json "$DEMO/event-1.json"
"$SGSYNC" ranges --ip-ranges tests/fixtures/ip-ranges/latest.json | sed -n '1,4p;/^warning/p'
echo; echo "\$ sgsync plan --event event-1.json   (first lines)"
"$SGSYNC" plan --event "$DEMO/event-1.json" 2>/dev/null | head -n 8
echo "  ..."
echo; echo "\$ sgsync apply --event event-1.json"
"$SGSYNC" apply --event "$DEMO/event-1.json" 2>/dev/null | tail -n 1

section "2. the managed groups are on the origin, after its own group"
"$SGSYNC" status

section "3. Amazon publishes a change: two CloudFront prefixes withdrawn, three new ones (a fourth group is needed)"
py tests/fixtures/ip-ranges/latest.json "$DEMO/changed.json" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
doc["syncToken"] = str(int(doc["syncToken"]) + 3600)
doc["createDate"] = "2026-08-22-16-17-05"
gone = {"13.32.0.0/15", "52.84.0.0/15"}
doc["prefixes"] = [p for p in doc["prefixes"] if not (p["service"] == "CLOUDFRONT" and p["ip_prefix"] in gone)]
for new in ["15.230.8.0/24", "15.230.11.0/24", "44.192.17.128/25"]:
    doc["prefixes"].append({"ip_prefix": new, "region": "GLOBAL", "service": "CLOUDFRONT", "network_border_group": "GLOBAL"})
json.dump(doc, open(sys.argv[2], "w"), indent=2)
EOF
publish "$DEMO/changed.json" "$DEMO/event-2.json"
echo "\$ sgsync plan --event event-2.json"
"$SGSYNC" plan --event "$DEMO/event-2.json" 2>/dev/null
echo; echo "\$ sgsync apply --event event-2.json"
"$SGSYNC" apply --event "$DEMO/event-2.json" 2>/dev/null | tail -n 1
echo; echo "\$ sgsync apply --event event-2.json   (again: nothing to do)"
"$SGSYNC" apply --event "$DEMO/event-2.json" 2>/dev/null | tail -n 1

section "4. the result"
"$SGSYNC" status
py "$ENI" <<'EOF'
import boto3, sys
ec2 = boto3.client("ec2")
groups = ec2.describe_network_interfaces(NetworkInterfaceIds=[sys.argv[1]])["NetworkInterfaces"][0]["Groups"]
print("interface groups, in order:", ", ".join(g["GroupName"] for g in groups))
EOF
section "5. the same ranges as prefix lists (shared with another account) and WAF IP sets: KINDS=prefix-lists,waf-ip-sets"
export KINDS=prefix-lists,waf-ip-sets SHARE_WITH=111122223333
echo "\$ KINDS=prefix-lists,waf-ip-sets SHARE_WITH=111122223333 sgsync apply --event event-2.json"
"$SGSYNC" apply --event "$DEMO/event-2.json" 2>/dev/null | tail -n 1
py <<'EOF'
import boto3
ec2 = boto3.client("ec2")
vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
lists = ec2.describe_managed_prefix_lists(Filters=[{"Name": "tag:sgsync:prefix", "Values": ["AUTOUPDATE"]}])["PrefixLists"]
# A list weighs its size (60) in a referencing rule: at the default quota of 60, one group per list.
for n, pl in enumerate(sorted(lists, key=lambda l: l["PrefixListName"]), 1):
    sg = ec2.create_security_group(GroupName=f"api-origin-{n}", Description="references a managed list", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "PrefixListIds": [{"PrefixListId": pl["PrefixListId"]}]}])
    print(f"security group api-origin-{n} ({sg}) references {pl['PrefixListName']}")
EOF
"$SGSYNC" status
unset KINDS SHARE_WITH

section "6. a second act: GitHub's webhook ranges (SOURCE=github SERVICE=hooks) for a webhook receiver, a deployment of its own"
WEBHOOKS=$(py <<'EOF'
import boto3
ec2 = boto3.client("ec2")
vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
subnet = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"][0]["SubnetId"]
eni = ec2.create_network_interface(SubnetId=subnet, Description="webhook receiver")["NetworkInterface"]["NetworkInterfaceId"]
ec2.create_tags(Resources=[eni], Tags=[{"Key": "sgsync:target", "Value": "GITHUB"}])
print(eni)
EOF
)
echo "interface $WEBHOOKS receives GitHub's webhooks and opts in with the tag sgsync:target=GITHUB"
# GitHub's meta document, a real capture (tests/fixtures/sources), served by the local server.
cp "$ROOT/tests/fixtures/sources/github/meta-2025-10-30.json" "$DEMO/www/meta"
export SOURCE=github SERVICE=hooks PORTS=443 PREFIX_NAME=GITHUB DEPLOYMENT_ID=github-hooks IP_RANGES_URL="http://127.0.0.1:$HTTP_PORT/meta"
echo "\$ SOURCE=github SERVICE=hooks PORTS=443 PREFIX_NAME=GITHUB DEPLOYMENT_ID=github-hooks sgsync apply"
"$SGSYNC" apply 2>/dev/null | tail -n 1
echo "\$ sgsync apply   (a second later: GitHub's document has no version; the same ranges write nothing)"
sleep 1
"$SGSYNC" apply 2>/dev/null | tail -n 1
echo "the document server's log: the second run asked whether the document changed (If-None-Match), and got no body"
grep '"GET /meta' "$DEMO/http.log" | sed 's/^.*"GET/  GET/'
py "$WEBHOOKS" <<'EOF'
import boto3, sys
ec2 = boto3.client("ec2")
groups = ec2.describe_network_interfaces(NetworkInterfaceIds=[sys.argv[1]])["NetworkInterfaces"][0]["Groups"]
for g in groups:
    rules = ec2.describe_security_groups(GroupIds=[g["GroupId"]])["SecurityGroups"][0]["IpPermissions"]
    cidrs = [r["CidrIp"] for p in rules for r in p.get("IpRanges", [])]
    print(f"webhook receiver carries {g['GroupName']}" + (f": tcp/443 from {', '.join(sorted(cidrs))}" if cidrs else " (the VPC's default group)"))
EOF
unset SOURCE SERVICE PORTS PREFIX_NAME DEPLOYMENT_ID
echo; echo "demo finished: moto and the document server are stopped."
