"""What the blog's Python function does offline, with the standard library: MD5 of the document,
json.loads, keep one service's prefixes. Plus, if boto3 is importable, the cost of importing it and
building an EC2 client (what every cold start of the Python function pays). Prints JSON."""
import hashlib
import json
import statistics
import sys
import time

path = sys.argv[1]
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 20
body = open(path, "rb").read()


def best(fn):
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return {"median_ms": statistics.median(samples), "min_ms": min(samples), "max_ms": max(samples)}


def md5():
    return hashlib.md5(body).hexdigest()


def parse():
    return json.loads(body)


def pipeline():
    hashlib.md5(body).hexdigest()
    doc = json.loads(body)
    return [p["ip_prefix"] for p in doc["prefixes"] if p["service"] == "CLOUDFRONT"]


out = {"python": sys.version.split()[0], "md5": best(md5), "json_loads": best(parse), "pipeline": best(pipeline)}
try:
    t = time.perf_counter()
    import boto3  # noqa: E402

    boto3.client("ec2", region_name="us-east-1")
    out["boto3_import_and_client_ms"] = (time.perf_counter() - t) * 1000
except ImportError:
    out["boto3_import_and_client_ms"] = None
print(json.dumps(out))
