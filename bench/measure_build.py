"""Runs one build command and records its wall time and peak memory as JSON (argv[1] is the output file).

Peak memory is the largest sum of the resident sets of the command and all its descendants, sampled
every 200 ms: what the machine must hold when cargo runs several rustc processes at once (wait4's
ru_maxrss would report only the largest single process)."""
import json
import os
import subprocess
import sys
import time


def tree_rss_kb(root):
    """Sum of VmRSS over `root` and its descendants (from /proc/*/stat parent links)."""
    parents = {}
    rss = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            with open(f"/proc/{entry}/status") as f:
                status = f.read()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: the parent pid follows the last ')'.
        parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                rss[int(entry)] = int(line.split()[1])
    total, stack = 0, [root]
    children = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


out, cmd = sys.argv[1], sys.argv[2:]
start = time.perf_counter()
proc = subprocess.Popen(cmd)
peak = 0
while proc.poll() is None:
    peak = max(peak, tree_rss_kb(proc.pid))
    time.sleep(0.2)
wall = time.perf_counter() - start
with open(out, "w") as f:
    json.dump({"command": " ".join(cmd), "wall_s": wall, "peak_tree_rss_mb": peak / 1024,
               "status": proc.returncode}, f)
print(f"{' '.join(cmd)}: {wall:.0f} s, peak {peak / 1024 / 1024:.1f} GB", file=sys.stderr)
sys.exit(proc.returncode)
