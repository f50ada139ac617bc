#!/usr/bin/env bash
# Runs every benchmark and rewrites BENCHMARKS.md: offline costs (divan), the Python reference,
# process start and `sgsync ranges` (wall, peak RSS), and API economy against moto.
# Not part of CI (it builds in release and takes several minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-moto.sh
# The raw results are kept beside the report, so `python3 bench/report.py bench/results` rebuilds it.
OUT=bench/results
mkdir -p "$OUT"
LATEST=tests/fixtures/ip-ranges/latest.json

if [ ! -x .venv/bin/cargo-lambda ]; then
  .venv/bin/pip install --quiet --disable-pip-version-check cargo-lambda
fi
echo "building the Lambda bootstrap (cargo lambda build --release, host target)..." >&2
PATH="$PWD/.venv/bin:$PATH" cargo lambda build --release --compiler cargo --quiet
BIN=target/lambda/sgsync/bootstrap
echo "building the benchmarks (release)..." >&2
cargo bench --no-run --quiet

echo "offline micro-benchmarks..." >&2
cargo bench --quiet --bench offline -- --sample-count 200 | tee "$OUT/offline.txt" >&2

echo "python reference..." >&2
.venv/bin/python bench/python_reference.py "$LATEST" 20 > "$OUT/python.json"

echo "processes..." >&2
python3 bench/process.py 20 "$BIN" --version > "$OUT/version.json"
python3 bench/process.py 20 "$BIN" ranges --ip-ranges "$LATEST" > "$OUT/ranges.json"
python3 bench/process.py 20 .venv/bin/python -c "import json,hashlib;b=open('$LATEST','rb').read();hashlib.md5(b);d=json.loads(b);[p for p in d['prefixes'] if p['service']=='CLOUDFRONT']" > "$OUT/python-process.json"

echo "Lambda cold init (the bootstrap)..." >&2
python3 bench/lambda_init.py "$BIN" 20 > "$OUT/lambda.json"

echo "API economy against moto..." >&2
cargo bench --quiet --bench api_economy > "$OUT/api.json"

python3 bench/report.py "$OUT" > BENCHMARKS.md
echo "BENCHMARKS.md written" >&2
