#!/usr/bin/env python3
"""Measures `ember serve` on this machine (issue 18's figures), with nothing but the standard library and wrk.

For each model (the default digits CNN and a digits MLP, trained here once into --runs):
  1. latency: one request at a time over one keep-alive connection (http.client), --warmup requests, then
     --requests timed ones; p50/p90/p99/max, repeated --repeat times (the machine is shared: state the spread);
  2. load: wrk for --seconds at --connections connections, one example per request (JSON, KServe v2 infer),
     after 5 s of warm-up at the same connection count; requests/s, latency percentiles, non-2xx count, and the
     server's RSS before and after;
  3. in-process batched inference in the same conditions (same binary, same threads, same batch size as the
     server's --max-batch): `ember serve RUN --measure-inference S`, examples/s.

Usage (release build first: swift build -c release --product ember):
  python3 scripts/serve_bench.py [--ember .build/release/ember] [--runs /tmp/ember-serve-bench] [--skip-load]
"""
import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

# The first example of the bundled digits data set (sklearn's load_digits()[0], a "0"), raw values 0..16.
DIGIT = [0, 0, 5, 13, 9, 1, 0, 0, 0, 0, 13, 15, 10, 15, 5, 0, 0, 3, 15, 2, 0, 11, 8, 0, 0, 4, 12, 0, 0, 8, 8, 0,
         0, 5, 8, 0, 0, 9, 8, 0, 0, 4, 11, 0, 1, 12, 7, 0, 0, 2, 14, 5, 10, 12, 0, 0, 0, 0, 6, 13, 10, 0, 0, 0]

MLP_CONFIG = """data: {dataset: digits, scale: 0.0625, split: {test: 0.2, validation: 0.1}}
model: {preset: mlp, options: {hidden: [32]}}
training: {optimizer: {name: adam, lr: 0.01}, batch_size: 64, epochs: 5, seed: 5}
"""


def train(ember, runs):
    os.makedirs(runs, exist_ok=True)
    cnn, mlp = os.path.join(runs, "digits-cnn"), os.path.join(runs, "digits-mlp")
    if not os.path.exists(os.path.join(cnn, "model.json")):
        subprocess.run([ember, "train", "--run-dir", cnn, "--quiet", "--overwrite"], check=True)
    if not os.path.exists(os.path.join(mlp, "model.json")):
        cfg = os.path.join(runs, "mlp.yaml")
        with open(cfg, "w") as f:
            f.write(MLP_CONFIG)
        subprocess.run([ember, "train", cfg, "--run-dir", mlp, "--name", "digits-mlp", "--quiet", "--overwrite"], check=True)
    return {"digits-cnn": cnn, "digits-mlp": mlp}


class Server:
    def __init__(self, ember, run, extra):
        self.out = tempfile.NamedTemporaryFile("w+", suffix=".out", delete=False)
        self.err = open(os.devnull, "w")
        self.proc = subprocess.Popen([ember, "serve", run, "--port", "0", "--log-level", "warning"] + extra,
                                     stdout=self.out, stderr=self.err)
        deadline = time.time() + 60
        self.port = None
        while time.time() < deadline and self.port is None:
            with open(self.out.name) as f:
                m = re.search(r"http://127\.0\.0\.1:(\d+)", f.read())
            if m:
                self.port = int(m.group(1))
            elif self.proc.poll() is not None:
                sys.exit(f"ember serve exited with {self.proc.returncode}")
            else:
                time.sleep(0.05)
        if self.port is None:
            sys.exit("ember serve did not start")

    def rss_mb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            kb = int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
        return kb / 1024

    def stop(self):
        self.proc.terminate()
        self.proc.wait(30)
        os.unlink(self.out.name)


def latency(port, model, body, warmup, n):
    """Infer requests one at a time; with body None, GET /v2/health/live (the floor: HTTP and scheduling only)."""
    conn = http.client.HTTPConnection("127.0.0.1", port)
    headers = {"Content-Type": "application/json"}
    path = f"/v2/models/{model}/infer" if body is not None else "/v2/health/live"
    times = []
    for i in range(warmup + n):
        t0 = time.perf_counter_ns()
        conn.request("POST" if body is not None else "GET", path, body, headers)
        r = conn.getresponse()
        data = r.read()
        t1 = time.perf_counter_ns()
        if r.status != 200:
            sys.exit(f"HTTP {r.status}: {data[:200]!r}")
        if i >= warmup:
            times.append((t1 - t0) / 1e6)
    conn.close()
    times.sort()
    q = lambda p: times[min(len(times) - 1, int(p * len(times)))]
    return {"p50": q(0.50), "p90": q(0.90), "p99": q(0.99), "max": times[-1], "n": n}


def wrk(port, model, body, seconds, connections, threads):
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write('wrk.method = "POST"\nwrk.body = \'%s\'\nwrk.headers["Content-Type"] = "application/json"\n' % body)
        script = f.name
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script,
                          f"http://127.0.0.1:{port}/v2/models/{model}/infer"], capture_output=True, text=True,
                         timeout=seconds + 60).stdout
    os.unlink(script)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    pct = dict(re.findall(r"^\s+(50|90|99)%\s+(\S+)", out, re.M))
    return {"rps": rps, "non2xx": int(non2xx.group(1)) if non2xx else 0, "socket_errors": errors.group(1) if errors else "",
            "p50": pct.get("50"), "p90": pct.get("90"), "p99": pct.get("99")}


def in_process(ember, run, seconds, batch):
    out = subprocess.run([ember, "serve", run, "--measure-inference", str(seconds), "--max-batch", str(batch)],
                         capture_output=True, text=True, check=True).stdout
    return float(re.search(r"([\d.]+) examples/s", out).group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ember", default=".build/release/ember")
    ap.add_argument("--runs", default=os.path.join(tempfile.gettempdir(), "ember-serve-bench"))
    ap.add_argument("--models", default="digits-mlp,digits-cnn")
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=60, help="wrk duration")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--wrk-threads", type=int, default=2)
    ap.add_argument("--measure-seconds", type=float, default=10)
    ap.add_argument("--max-batch", type=int, default=64)
    ap.add_argument("--skip-load", action="store_true", help="latency only")
    ap.add_argument("--skip-latency", action="store_true", help="load only")
    ap.add_argument("--serve-args", default="", help="extra `ember serve` options, space-separated")
    a = ap.parse_args()
    runs = train(a.ember, a.runs)
    body = json.dumps({"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": DIGIT}]}, separators=(",", ":"))
    extra = ["--max-batch", str(a.max_batch)] + a.serve_args.split()
    for model in a.models.split(","):
        run = runs[model]
        if not a.skip_latency:
            s = Server(a.ember, run, extra)
            try:
                for r in range(a.repeat):
                    l = latency(s.port, model, body, a.warmup, a.requests)
                    h = latency(s.port, model, None, a.warmup, a.requests)
                    print(f"{model} latency, 1 request at a time, round {r + 1}: p50 {l['p50']:.3f} ms, p90 {l['p90']:.3f} ms, "
                          f"p99 {l['p99']:.3f} ms, max {l['max']:.2f} ms over {l['n']} requests "
                          f"(floor, GET /v2/health/live: p50 {h['p50']:.3f} ms, p99 {h['p99']:.3f} ms); "
                          f"load average {os.getloadavg()[0]:.1f}", flush=True)
            finally:
                s.stop()
        if not a.skip_load:
            s = Server(a.ember, run, extra)
            try:
                # Warm-up at the full connection count: the first seconds at 64 connections grow RSS by ~20 MB
                # (connection buffers, the allocator's cache for batches of up to 64); growth is measured after it.
                wrk(s.port, model, body, 5, a.connections, a.wrk_threads)
                before = s.rss_mb()
                w = wrk(s.port, model, body, a.seconds, a.connections, a.wrk_threads)
                after = s.rss_mb()
            finally:
                s.stop()
            inproc = in_process(a.ember, run, a.measure_seconds, a.max_batch)
            print(f"{model} load, wrk {a.seconds} s x {a.connections} connections: {w['rps']:.0f} req/s, p50 {w['p50']}, "
                  f"p90 {w['p90']}, p99 {w['p99']}, non-2xx {w['non2xx']}{', socket errors ' + w['socket_errors'] if w['socket_errors'] else ''}, "
                  f"RSS {before:.1f} -> {after:.1f} MB; in-process batched inference (batch {a.max_batch}): {inproc:.0f} ex/s; "
                  f"served/in-process {w['rps'] / inproc:.2f}", flush=True)


if __name__ == "__main__":
    main()
