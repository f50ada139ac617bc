"""Turns the outputs of scripts/bench.sh into BENCHMARKS.md (markdown on stdout)."""
import datetime
import json
import os
import platform
import re
import subprocess
import sys

out = sys.argv[1]


def load(name):
    with open(os.path.join(out, name)) as f:
        return json.load(f)


def unit_ms(text):
    value, unit = text.split()
    factor = {"ns": 1e-6, "µs": 1e-3, "us": 1e-3, "ms": 1.0, "s": 1000.0}[unit]
    return float(value) * factor


# divan's table: "├─ name   fastest │ slowest │ median │ mean │ samples │ iters"
offline = {}
for line in open(os.path.join(out, "offline.txt"), encoding="utf-8"):
    m = re.match(r"^[├╰]─ (\w+)\s+(.+)$", line.strip())
    if not m:
        continue
    cols = [c.strip() for c in m.group(2).split("│")]
    if len(cols) < 4:
        continue
    offline[m.group(1)] = {"fastest": unit_ms(cols[0]), "slowest": unit_ms(cols[1]), "median": unit_ms(cols[2]), "mean": unit_ms(cols[3])}

py = load("python.json")
version = load("version.json")
ranges = load("ranges.json")
py_process = load("python-process.json")
api = load("api.json")

cpu = "unknown"
try:
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
except OSError:
    pass
rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()


def ms(x):
    return f"{x:.3f}" if x < 1 else f"{x:.2f}"


p = print
p("# Benchmarks")
p()
p(f"Measured {datetime.date.fromtimestamp(os.path.getmtime(os.path.join(out, 'offline.txt'))).isoformat()} on {cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}; {rustc}; Python {py['python']}.")
p("Rerun with `make bench`; this file is rewritten by `bench/report.py` from the raw results in `bench/results/`.")
p()
runs = [json.loads(line) for line in open(os.path.join(out, "make-bench-runs.jsonl")) if line.strip()]
p("`make bench` itself (one release build of the AWS SDK serves the bootstrap and every benchmark; peak memory is")
p("the largest sum of the resident sets of cargo and all its rustc processes, sampled every 200 ms):")
p()
p("| run | date | whole `make bench` | `cargo lambda build --release` | `cargo bench --no-run` (same target dir) |")
p("|---|---|---|---|---|")
for label, clean in [("from a clean clone", True), ("again, no source change", False)]:
    r = next((r for r in reversed(runs) if r["clean"] == clean), None)
    if r is None:
        p(f"| {label} | not measured | | | |")
        continue
    b = r["builds"]
    p(f"| {label} | {r['date']} | {r['total_s'] / 60:.1f} min | {b['lambda']['wall_s'] / 60:.1f} min, peak {b['lambda']['peak_tree_rss_mb'] / 1024:.1f} GB "
      f"| {b['bench']['wall_s'] / 60:.1f} min, peak {b['bench']['peak_tree_rss_mb'] / 1024:.1f} GB |")
p()
p("## Offline pipeline on the real document (2.6 MB, CLOUDFRONT, IPv4, port 80)")
p()
p("divan, 200 samples each; milliseconds. Floors: MD5 of the bytes, and serde_json walking the whole document into `IgnoredAny`.")
p()
p("| step | median | fastest | slowest | vs floor |")
p("|---|---|---|---|---|")
floor = max(offline["floor_md5"]["median"], offline["floor_parse_ignored"]["median"])
names = [
    ("floor_md5", "MD5 (floor)"),
    ("floor_parse_ignored", "serde_json → IgnoredAny (floor)"),
    ("select_cloudfront", "parse + filter + check + aggregate"),
    ("aggregate", "aggregate 211 prefixes"),
    ("plan_from_empty", "plan from empty (180 rules)"),
    ("plan_incremental", "plan a one-prefix change"),
    ("pipeline", "whole pipeline: MD5 ∥ select, rules, plan"),
]
for key, label in names:
    if key not in offline:
        continue
    r = offline[key]
    ratio = f"{r['median'] / floor:.2f}× max(floors)" if key == "pipeline" else ""
    p(f"| {label} | {ms(r['median'])} | {ms(r['fastest'])} | {ms(r['slowest'])} | {ratio} |")
p()
sources = [
    ("source_google", "google", "cloud.json 2026-01-26, all"),
    ("source_github", "github", "meta, actions"),
    ("source_cloudflare", "cloudflare", "ips"),
    ("source_fastly", "fastly", "public-ip-list"),
    ("source_oracle", "oracle", "public_ip_ranges.json, all"),
    ("source_azure", "azure", "Service Tags excerpt, AzureFrontDoor.Backend"),
    ("source_text", "text", "Cloudflare's ips-v4"),
]
if any(k in offline for k, _, _ in sources):
    p("### Other providers' documents (`SOURCE`): parse + select + check + aggregate, real documents (tests/fixtures/sources)")
    p()
    p("| `SOURCE` | document | median | fastest | slowest | vs ip-ranges.json |")
    p("|---|---|---|---|---|---|")
    aws = offline.get("select_cloudfront", {}).get("median")
    for key, name, doc in sources:
        if key not in offline:
            continue
        r = offline[key]
        vs = f"{r['median'] / aws:.2f}×" if aws else ""
        p(f"| {name} | {doc} | {ms(r['median'])} | {ms(r['fastest'])} | {ms(r['slowest'])} | {vs} |")
    p()
pipe = offline.get("pipeline", {}).get("median")
p("### Against the Python reference (what the blog's function does offline: hashlib.md5, json.loads, filter)")
p()
p("| | Python median | sgsync median | ratio |")
p("|---|---|---|---|")
p(f"| MD5 | {ms(py['md5']['median_ms'])} | {ms(offline['floor_md5']['median'])} | {py['md5']['median_ms'] / offline['floor_md5']['median']:.2f}× |")
p(f"| parse | {ms(py['json_loads']['median_ms'])} | {ms(offline['select_cloudfront']['median'])} (parse + select + aggregate) | {py['json_loads']['median_ms'] / offline['select_cloudfront']['median']:.2f}× |")
if pipe:
    p(f"| whole offline pipeline | {ms(py['pipeline']['median_ms'])} | {ms(pipe)} | **{py['pipeline']['median_ms'] / pipe:.2f}×** |")
if py.get("boto3_import_and_client_ms"):
    p(f"| import boto3 + EC2 client (every Python cold start) | {ms(py['boto3_import_and_client_ms'])} | — | |")
p()
p("## Processes (20 runs each, wall time and peak RSS, release build)")
p()
p("| command | wall median (min–max) ms | peak RSS median MB |")
p("|---|---|---|")
for label, r in [("`sgsync --version`", version), ("`sgsync ranges --ip-ranges latest.json`", ranges), ("python3: md5 + json.loads + filter", py_process)]:
    w, m = r["wall_ms"], r["peak_rss_mb"]
    p(f"| {label} | {ms(w['median'])} ({ms(w['min'])}–{ms(w['max'])}) | {m['median']:.1f} |")
p()
lam = load("lambda.json")
p("## Lambda bootstrap (`cargo lambda build --release --compiler cargo`, x86_64)")
p()
p(f"Size: {lam['binary_bytes'] / 1e6:.1f} MB (`target/lambda/sgsync/bootstrap`; release profile: thin LTO, 1 codegen unit, stripped, panic=unwind).")
p(f"Cold init, exec to the first `GET /invocation/next` on a local Runtime API ({lam['runs']} runs): median {ms(lam['init_ms']['median'])} ms")
p(f"(min {ms(lam['init_ms']['min'])}, max {ms(lam['init_ms']['max'])}); this includes building the AWS clients.")
p()
p("## API economy against moto (calls recorded by the test proxy)")
p()
p("Minimum writes: per group, one authorize if it gains rules and one revoke if it loses any (a deleted group's")
p("rules are revoked by name first, so every removed rule appears in a request); one create or delete per group;")
p("one call per target whose groups change; one tag write when the recorded synctoken changes. No-op: 0.")
p()
p("| scenario | reads | writes | minimum writes | wall ms |")
p("|---|---|---|---|---|")
for s in api["scenarios"]:
    p(f"| {s['scenario']} | {s['reads']} | {s['writes']} | {s['minimum_writes']} | {ms(s['wall_ms'])} |")
r = api["replay"]
p(f"| real replay, {r['versions']} versions (totals) | {r['reads']} | {r['writes']} | {r['minimum_writes']} | median {ms(r['wall_ms_median'])}, max {ms(r['wall_ms_max'])} |")
p()
p(f"Replay steps whose writes equal the minimum: {r['steps_at_minimum']} of {r['versions']}.")
p()
if api.get("kinds"):
    p("Prefix lists and WAF IP sets (`KINDS=prefix-lists,waf-ip-sets`). Minimum writes: per new list one create")
    p("and one modification per further 100 entries; per changed list one modification per 100 entries added or")
    p("removed; one tag call for the lists' synctoken; per new or changed WAF set one call, one tag call per set.")
    p()
    p("| scenario | reads | writes | minimum writes | wall ms |")
    p("|---|---|---|---|---|")
    for s in api["kinds"]:
        p(f"| {s['scenario']} | {s['reads']} | {s['writes']} | {s['minimum_writes']} | {ms(s['wall_ms'])} |")
    p()
if api.get("fleet"):
    f = api["fleet"]
    p(f"A fleet (`--fleet`, hub mode): {f['vpcs']} VPCs (20 accounts × 10 regions, each its default VPC), concurrency")
    p(f"{f['concurrency']}, {f['latency_ms']} ms added by the proxy to every AWS call (real endpoints are tens of milliseconds away;")
    p("moto alone answers in about one). One `sgsync apply` process, one document download and verification for all.")
    p()
    p("| run | AWS calls | wall s | peak RSS MB |")
    p("|---|---|---|---|")
    p(f"| one VPC alone, first sync | | {f['single_vpc_first_sync_ms'] / 1000:.2f} | |")
    for label, key in [("fleet, first sync", "first_sync"), ("fleet, no-op", "no_op")]:
        run = f[key]
        rss = f"{run['peak_rss_kb'] / 1024:.1f}" if run.get("peak_rss_kb") else "not measured (no /usr/bin/time)"
        p(f"| {label} | {run['calls']} | {run['wall_ms'] / 1000:.2f} | {rss} |")
    p()
    p(f"Per VPC: {f['first_sync']['calls'] / f['vpcs']:.1f} calls on the first sync, {f['no_op']['calls'] / f['vpcs']:.1f} on a no-op (AssumeRole, the reads, the writes).")
    p("What this means for the size of one hub's fleet: docs/organizations.md, \"Fleet size arithmetic\".")
    p()
p("Reads per run: DescribeVpcs (only without VPC_ID), DescribeSecurityGroups, DescribeNetworkInterfaces, DescribeLoadBalancers,")
p("and two GetServiceQuota calls (skipped when RULES_PER_GROUP and GROUPS_PER_TARGET are set).")
p()
p("## Targets")
p()
p("| target | measured | met |")
p("|---|---|---|")
py_pipe = py["pipeline"]["median_ms"]
md5_floor = offline["floor_md5"]["median"]
rows = []
if pipe:
    rows.append(("offline pipeline ≤ 10 ms", f"{ms(pipe)} ms", pipe <= 10))
    rows.append(("offline pipeline ≥ 5× faster than Python", f"{py_pipe / pipe:.2f}×", py_pipe / pipe >= 5))
w, m = ranges["wall_ms"]["median"], ranges["peak_rss_mb"]["median"]
rows.append(("`sgsync ranges` wall ≤ 30 ms", f"{ms(w)} ms", w <= 30))
rows.append(("`sgsync ranges` peak RSS ≤ 25 MB", f"{m:.1f} MB", m <= 25))
rows.append(("no-op run: 0 writes", str(next(s["writes"] for s in api["scenarios"] if s["scenario"].startswith("no-op"))),
             next(s["writes"] for s in api["scenarios"] if s["scenario"].startswith("no-op")) == 0))
rows.append(("writes = derived minimum in every replay step", f"{r['steps_at_minimum']} of {r['versions']}", r["steps_at_minimum"] == r["versions"]))
for label, value, ok in rows:
    p(f"| {label} | {value} | {'yes' if ok else '**no**'} |")
p()
bound = py_pipe / md5_floor
p("### Why the 5× ratio to Python is out of reach")
p()
p(f"Every run must hash the whole document: MD5 is one sequential chain over all {os.path.getsize('tests/fixtures/ip-ranges/latest.json') / 1e6:.1f} MB")
p(f"(Merkle–Damgård, it cannot be split across cores), and it takes {ms(md5_floor)} ms here (md-5 crate; Python's hashlib,")
p(f"OpenSSL's assembly, takes {ms(py['md5']['median_ms'])} ms: the same physics). sgsync already runs everything else")
p("(parse, filter, aggregate) on the other core while the hash runs, so its pipeline cannot beat the MD5 floor. The best")
p(f"possible ratio is therefore Python's pipeline over the MD5 floor: {ms(py_pipe)} / {ms(md5_floor)} = **{bound:.2f}×**, and even")
p(f"with OpenSSL's MD5 speed it would be {ms(py_pipe)} / {ms(py['md5']['median_ms'])} = {py_pipe / py['md5']['median_ms']:.2f}×.")
p("A 5× ratio would need a pipeline faster than one MD5 pass over the bytes, which no implementation can have without")
p("skipping the integrity check. (The md-5 crate is ~20 % slower than OpenSSL's assembly; RustCrypto's assembly MD5")
p("is no longer maintained, and linking OpenSSL for one hash is not worth a C dependency in the Lambda.)")
p()
p("### Profile notes")
p()
p("On 2026-11-28, `valgrind --tool=callgrind` on the `select_cloudfront` benchmark showed ~13 % of instructions in malloc/free:")
p("serde borrows a `Cow<str>` only when it is a field's whole type, so the `Option<Cow<str>>` fields of every entry")
p("were allocated (three per entry, ~50,000 per document). A borrowing `Text` field type (`src/ranges.rs`) took")
p("parse + select from 5.66 ms to 4.08 ms and the whole pipeline from 5.94 ms to ~4.3 ms, next to the MD5 floor.")
p("What remains above the bare JSON scan (`IgnoredAny`) is building the entries and parsing every prefix of every")
p("service, which the document checks need (a bad prefix of another service is reported as a warning).")
