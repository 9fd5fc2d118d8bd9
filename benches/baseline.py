#!/usr/bin/env python3
"""Baseline figures for chartdesk on this machine (README § Performance).

    python3 benches/baseline.py [--runs 5] [--duration 10] [--connections 32]

Builds the release binary (unless CHARTDESK_BIN names one), then for each run:
  * starts `chartdesk serve` on a fresh data dir and measures process start -> /readyz 200
    (first start: includes generating its signing keys) and again on the same data dir (warm);
  * reads idle RSS from /proc after start-up;
  * loads GET /healthz with wrk on loopback (server pinned to CPU 0 with one worker, wrk to
    CPU 1 with one thread, so the two do not fight over a core) and parses req/s, p50, p99;
  * reads RSS again after the load.
Prints medians over the runs (and min/max) as a Markdown table. Later pipeline benchmarks
report their throughput as a ratio to the /healthz figure measured in the same run.
Needs: wrk (Debian package `wrk`), taskset (util-linux).
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def build():
    binary = os.environ.get("CHARTDESK_BIN")
    if binary:
        return binary
    subprocess.run(["cargo", "build", "--release", "--bin", "chartdesk"], cwd=ROOT, check=True)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    return os.path.join(target, "release", "chartdesk")


def start(binary, data_dir, cpu="0"):
    env = dict(os.environ, CHARTDESK__SERVER__WORKERS="1", CHARTDESK__TELEMETRY__FILTER="warn")
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        ["taskset", "-c", cpu, binary, "serve", "--bind", "127.0.0.1:0", "--data-dir", data_dir],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    base = None
    for line in proc.stdout:
        if line.startswith("chartdesk is listening on "):
            base = line.split()[-1]
            break
    if base is None:
        raise SystemExit("chartdesk did not start")
    while True:
        try:
            with urllib.request.urlopen(base + "/readyz", timeout=1) as r:
                if r.status == 200:
                    break
        except Exception:
            pass
        time.sleep(0.002)
    ready_ms = (time.perf_counter() - t0) * 1000
    return proc, base, ready_ms


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def to_ms(v, unit):
    return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url, duration, connections):
    out = subprocess.run(
        ["taskset", "-c", "1", "wrk", "-t1", "-c%d" % connections, "-d%ds" % duration, "--latency", url],
        capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = dict((p, to_ms(v, u)) for p, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50_ms": lat["50"], "p99_ms": lat["99"], "non_2xx": int(errors.group(1)) if errors else 0}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--json", help="also write the raw results here")
    a = ap.parse_args()
    for tool in ("wrk", "taskset"):
        if not shutil.which(tool):
            raise SystemExit("%s is required (apt-get install wrk util-linux)" % tool)
    binary = build()
    runs = []
    for i in range(a.runs):
        data = tempfile.mkdtemp(prefix="chartdesk-bench-")
        proc, base, cold = start(binary, data)
        proc.terminate(); proc.wait()
        proc, base, warm = start(binary, data)
        time.sleep(0.5)
        idle = rss_kib(proc.pid)
        load = wrk(base + "/healthz", a.duration, a.connections)
        after = rss_kib(proc.pid)
        proc.terminate(); proc.wait()
        shutil.rmtree(data, ignore_errors=True)
        run = dict(load, cold_start_ms=cold, warm_start_ms=warm, idle_rss_mib=idle / 1024, rss_after_load_mib=after / 1024)
        runs.append(run)
        print("run %d: %s" % (i + 1, json.dumps({k: round(v, 2) for k, v in run.items()})), file=sys.stderr)

    def row(key, label, fmt="%.1f"):
        vals = [r[key] for r in runs]
        return "| %s | %s | %s – %s |" % (label, fmt % statistics.median(vals), fmt % min(vals), fmt % max(vals))

    print("\n%d runs; wrk -t1 -c%d -d%ds on loopback; server: 1 worker on CPU 0, wrk on CPU 1; release build\n"
          % (a.runs, a.connections, a.duration))
    print("| measure | median | range |\n|---|---|---|")
    print(row("rps", "`/healthz` requests/s", "%.0f"))
    print(row("p50_ms", "`/healthz` latency p50 (ms)", "%.3f"))
    print(row("p99_ms", "`/healthz` latency p99 (ms)", "%.3f"))
    print(row("cold_start_ms", "start → ready, first start with key generation (ms)", "%.0f"))
    print(row("warm_start_ms", "start → ready, existing data dir (ms)", "%.0f"))
    print(row("idle_rss_mib", "idle RSS after start (MiB)"))
    print(row("rss_after_load_mib", "RSS after the load (MiB)"))
    if any(r["non_2xx"] for r in runs):
        print("\nWARNING: non-2xx responses under load: %s" % [r["non_2xx"] for r in runs])
    if a.json:
        with open(a.json, "w") as f:
            json.dump(runs, f, indent=1)


if __name__ == "__main__":
    main()
