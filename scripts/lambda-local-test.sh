#!/usr/bin/env bash
# The function under cargo-lambda's local Lambda emulator: `cargo lambda watch` serves the Runtime API
# and runs the sgsync binary as the function; `cargo lambda invoke` sends it a real SNS event (its URL
# pointing at a local copy of ip-ranges.json); the function applies it to moto. Checks the answer and
# the groups in moto. Prints "1 passed, 0 failed" or fails.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
scripts/setup-moto.sh
if [ ! -x .venv/bin/cargo-lambda ]; then
  .venv/bin/pip install --quiet --disable-pip-version-check cargo-lambda
fi
export PATH="$ROOT/.venv/bin:$PATH"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sgsync-lambda.XXXXXX")
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
MOTO_PORT=$(free_port); HTTP_PORT=$(free_port); INVOKE_PORT=$(free_port)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  pkill -P $$ 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

(cd "$WORK" && exec "$ROOT/.venv/bin/python" "$ROOT/scripts/moto_server.py" -H 127.0.0.1 -p "$MOTO_PORT" >"$WORK/moto.log" 2>&1) & PIDS+=($!)
mkdir -p "$WORK/www" && cp tests/fixtures/ip-ranges/latest.json "$WORK/www/ip-ranges.json"
python3 -m http.server "$HTTP_PORT" --bind 127.0.0.1 --directory "$WORK/www" >"$WORK/http.log" 2>&1 & PIDS+=($!)
URL="http://127.0.0.1:$HTTP_PORT/ip-ranges.json"
python3 - "$URL" > "$WORK/event.json" <<'EOF'
import json, sys
event = json.load(open("tests/fixtures/events/sns-latest.json"))
msg = json.loads(event["Records"][0]["Sns"]["Message"])
msg["url"] = sys.argv[1]
event["Records"][0]["Sns"]["Message"] = json.dumps(msg)
print(json.dumps(event))
EOF

export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT" AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true IP_RANGES_URL="$URL"
unset AWS_PROFILE VPC_ID PORTS PREFIX_NAME SERVICE IP_VERSIONS SERVICE_REGIONS RULES_PER_GROUP GROUPS_PER_TARGET

cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$INVOKE_PORT" --ignore-changes \
  --env-var "AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL" --env-var "IP_RANGES_URL=$URL" \
  --env-var AWS_ACCESS_KEY_ID=test --env-var AWS_SECRET_ACCESS_KEY=test --env-var AWS_EC2_METADATA_DISABLED=true \
  >"$WORK/watch.log" 2>&1 & PIDS+=($!)
# The emulator is ready when its port accepts connections (a plain GET would hang).
for _ in $(seq 1 600); do
  if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $INVOKE_PORT), 1)" 2>/dev/null; then break; fi
  sleep 0.5
done

if ! cargo lambda invoke sgsync --invoke-address 127.0.0.1 --invoke-port "$INVOKE_PORT" \
    --data-file "$WORK/event.json" --output-format json > "$WORK/answer.json" 2>"$WORK/invoke.err"; then
  echo "invoke failed:"; cat "$WORK/invoke.err"; tail -n 40 "$WORK/watch.log"
  echo "0 passed, 1 failed"; exit 1
fi

"$ROOT/.venv/bin/python" - "$WORK/answer.json" <<'EOF'
import boto3, json, sys
answer = json.load(open(sys.argv[1]))
assert answer["status"] == "applied", answer
assert answer["rules"] == 180, answer
groups = boto3.client("ec2").describe_security_groups(Filters=[{"Name": "tag:sgsync:prefix", "Values": ["AUTOUPDATE"]}])["SecurityGroups"]
rules = sum(len(r["IpRanges"]) for g in groups for r in g["IpPermissions"])
assert len(groups) == 3 and rules == 180, (len(groups), rules)
print(f"lambda (cargo lambda watch + invoke): {answer['status']}, {len(groups)} groups, {rules} rules in moto")
EOF
echo "1 passed, 0 failed"
