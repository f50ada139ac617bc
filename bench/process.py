"""Wall time and peak RSS of a command, over N runs: prints JSON with the median and spread.
Peak RSS comes from wait4's rusage (kilobytes on Linux)."""
import json
import os
import statistics
import subprocess
import sys
import time

runs = int(sys.argv[1])
cmd = sys.argv[2:]
walls, rss = [], []
for _ in range(runs):
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(p.pid, 0)
    walls.append((time.perf_counter() - t) * 1000)
    rss.append(usage.ru_maxrss / 1024)
    if status != 0:
        sys.exit(f"{cmd} failed with status {status}")
print(json.dumps({
    "runs": runs,
    "wall_ms": {"median": statistics.median(walls), "min": min(walls), "max": max(walls)},
    "peak_rss_mb": {"median": statistics.median(rss), "min": min(rss), "max": max(rss)},
}))
