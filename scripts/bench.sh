#!/usr/bin/env bash
# Runs every benchmark and rewrites BENCHMARKS.md: offline costs (divan), the Python reference,
# process start and `sgsync ranges` (wall, peak RSS), Lambda cold init, and API economy against moto.
# Not part of CI.
#
# One release build of the AWS SDK serves everything. `cargo lambda build --release` builds the
# deployable bootstrap with `--target <host>` and `-C target-cpu=<its choice>`; the benchmarks are
# then built into the same target directory with the same flags, and the release profile sets
# `panic = "unwind"` (bench harnesses need unwinding), so cargo reuses every dependency instead of
# compiling the SDK a second (and third) time. Build times and peak memory go into BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
START=$(date +%s)
HOST=$(rustc -vV | sed -n 's/^host: //p')
# A run that starts without release artifacts is a "clean" one (what a fresh clone pays).
if [ -d "target/$HOST/release/deps" ]; then CLEAN=false; else CLEAN=true; fi
scripts/setup-moto.sh
# The raw results are kept beside the report, so `python3 bench/report.py bench/results` rebuilds it.
OUT=bench/results
mkdir -p "$OUT"
LATEST=tests/fixtures/ip-ranges/latest.json

if [ ! -x .venv/bin/cargo-lambda ]; then
  .venv/bin/pip install --quiet --disable-pip-version-check cargo-lambda
fi
# The CPU cargo-lambda optimises for (cargo-lambda-build/src/target_arch.rs): reusing it keeps the
# benchmark build's rustflags, and so its dependency fingerprints, identical to the bootstrap's.
case "$HOST" in
  x86_64-*) CPU=haswell ;;
  aarch64-*) CPU=neoverse-n1 ;;
  *) echo "unsupported host $HOST" >&2; exit 1 ;;
esac
FLAGS="build.rustflags=[\"-C\", \"target-cpu=$CPU\"]"

echo "building the Lambda bootstrap (cargo lambda build --release, $HOST)..." >&2
PATH="$PWD/.venv/bin:$PATH" python3 bench/measure_build.py "$OUT/build-lambda.json" \
  cargo lambda build --release --compiler cargo --quiet
BIN=target/lambda/sgsync/bootstrap
echo "building the benchmarks (same profile, target and flags)..." >&2
# Only the benchmark targets: `cargo bench` alone would also build the library's and the binary's unit
# tests in release, two more LTO links of the whole SDK for nothing.
python3 bench/measure_build.py "$OUT/build-bench.json" \
  cargo bench --no-run --quiet --target "$HOST" --config "$FLAGS" --bench offline --bench api_economy
bench() { cargo bench --quiet --target "$HOST" --config "$FLAGS" "$@"; }

echo "offline micro-benchmarks..." >&2
bench --bench offline -- --sample-count 200 | tee "$OUT/offline.txt" >&2

echo "python reference..." >&2
.venv/bin/python bench/python_reference.py "$LATEST" 20 > "$OUT/python.json"

echo "processes..." >&2
python3 bench/process.py 20 "$BIN" --version > "$OUT/version.json"
python3 bench/process.py 20 "$BIN" ranges --ip-ranges "$LATEST" > "$OUT/ranges.json"
python3 bench/process.py 20 .venv/bin/python -c "import json,hashlib;b=open('$LATEST','rb').read();hashlib.md5(b);d=json.loads(b);[p for p in d['prefixes'] if p['service']=='CLOUDFRONT']" > "$OUT/python-process.json"

echo "Lambda cold init (the bootstrap)..." >&2
python3 bench/lambda_init.py "$BIN" 20 > "$OUT/lambda.json"

echo "API economy against moto..." >&2
bench --bench api_economy > "$OUT/api.json"

# Every run of make bench is kept (one JSON line each), so the report shows a clean and a repeated run.
python3 - "$OUT" "$START" "$CLEAN" <<'PY'
import json, sys, time, datetime
out, start, clean = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "true"
builds = {k: json.load(open(f"{out}/build-{k}.json")) for k in ("lambda", "bench")}
run = {"date": datetime.date.today().isoformat(), "clean": clean, "total_s": time.time() - start,
       "builds": {k: {"wall_s": b["wall_s"], "peak_tree_rss_mb": b["peak_tree_rss_mb"]} for k, b in builds.items()}}
open(f"{out}/make-bench-runs.jsonl", "a").write(json.dumps(run) + "\n")
PY
python3 bench/report.py "$OUT" > BENCHMARKS.md
echo "BENCHMARKS.md written" >&2
