"""Cold init of the function binary as Lambda starts it: the time from exec to its first
GET /2018-06-01/runtime/invocation/next on a local Runtime API (the runtime is initialised, the AWS
clients are built, it is ready for an event). Prints JSON with the median of N runs."""
import http.server
import json
import os
import statistics
import subprocess
import sys
import threading
import time

binary, runs = sys.argv[1], int(sys.argv[2])
ready = threading.Event()


class Api(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.endswith("/invocation/next"):
            ready.set()
            time.sleep(0.5)  # never hand out an event; the process is killed
        self.send_response(500)
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Api)
threading.Thread(target=server.serve_forever, daemon=True).start()
env = dict(os.environ, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_address[1]}", AWS_LAMBDA_FUNCTION_NAME="sgsync",
           AWS_LAMBDA_FUNCTION_MEMORY_SIZE="128", AWS_LAMBDA_FUNCTION_VERSION="$LATEST", AWS_REGION="us-east-1",
           AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_EC2_METADATA_DISABLED="true")
samples = []
for _ in range(runs):
    ready.clear()
    t = time.perf_counter()
    p = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not ready.wait(10):
        p.kill()
        sys.exit("the function never asked for an event")
    samples.append((time.perf_counter() - t) * 1000)
    p.kill()
    p.wait()
print(json.dumps({"runs": runs, "init_ms": {"median": statistics.median(samples), "min": min(samples), "max": max(samples)},
                  "binary_bytes": os.path.getsize(binary)}))
