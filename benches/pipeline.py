#!/usr/bin/env python3
"""Message pipeline benchmark with PostgreSQL and Redis (README § Performance).

    python3 benches/pipeline.py [--runs 3] [--duration 10] [--connections 16]
        [--postgres postgres://postgres@127.0.0.1:5432/test] [--redis redis://127.0.0.1:6379]

Per run: a fresh PostgreSQL database and Redis key prefix; the release server with one worker
pinned to CPU 0 (sandbox EHR on, as in every local run); one clinician launch (cookie jar);
then, with wrk on CPU 1:
  1. GET /healthz at full load (the reference figure of the same run);
  2. POST /api/messages at full load: every request is a new message (unique client id) that is
     screened (detection), redacted, checked against the policy, audited (hash chain append),
     stored sealed and, for IT messages, written to the outbox in the same transaction; half
     the messages are IT problems that carry PHI, half clinical questions;
  3. the same at half the measured message rate (wrk's per-connection delay), for p99;
  4. message-to-ticket latency: for every IT ticket, delivered time (the relay's XADD to the
     Redis Stream) minus the message's creation time, from the outbox table.
Prints medians over the runs. Needs wrk, taskset, psql.
"""
import argparse
import http.cookiejar
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
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

LUA = r"""
local n = 0
local texts = {
  "the wristband printer in 4W prints blank labels for Rosalind Quillfeather MRN RB0000101, call 555-0170",
  "is it ok to give the 0900 metoprolol with a heart rate of 52",
  "my badge tap sign in keeps failing on the workstation in room 12 since this morning",
  "pt in 14 looks grey and sweaty, what should I do",
}
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Cookie"] = "%COOKIE%"
wrk.headers["X-Chartdesk-Launch"] = "%LAUNCH%"
request = function()
  n = n + 1
  local body = string.format('{"client_message_id":"%s-%d-%d","text":"%s"}', "%RUN%", math.random(1, 1e9), n, texts[(n % #texts) + 1])
  return wrk.format(nil, "/api/messages", nil, body)
end
%DELAY%
"""


def build():
    binary = os.environ.get("CHARTDESK_BIN")
    if binary:
        return binary
    subprocess.run(["cargo", "build", "--release", "--bin", "chartdesk"], cwd=ROOT, check=True)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    return os.path.join(target, "release", "chartdesk")


def to_ms(v, unit):
    return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url, duration, connections, script=None):
    cmd = ["taskset", "-c", "1", "wrk", "-t1", "-c%d" % connections, "-d%ds" % duration, "--latency"]
    if script:
        cmd += ["-s", script]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = dict((p, to_ms(v, u)) for p, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50_ms": lat["50"], "p99_ms": lat["99"], "non_2xx": int(errors.group(1)) if errors else 0}


def psql(url, sql):
    return subprocess.run(["psql", url, "-tAc", sql], capture_output=True, text=True, check=True).stdout.strip()


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(p / 100.0 * len(s) + 0.5)) - 1))]


def one_run(a, binary, i):
    db = "chartdesk_bench_%s" % uuid.uuid4().hex[:10]
    admin = a.postgres
    psql(admin, "CREATE DATABASE %s" % db)
    db_url = re.sub(r"/[^/]*$", "/" + db, a.postgres)
    data = tempfile.mkdtemp(prefix="chartdesk-pipeline-")
    env = dict(os.environ, CHARTDESK__SERVER__WORKERS="1", CHARTDESK__TELEMETRY__FILTER="error",
               CHARTDESK__DATABASE__URL=db_url, CHARTDESK__REDIS__URL=a.redis,
               CHARTDESK__REDIS__KEY_PREFIX="chartdesk-bench:%s:" % db)
    proc = subprocess.Popen(["taskset", "-c", "0", binary, "serve", "--bind", "127.0.0.1:0", "--data-dir", data],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    try:
        base = None
        for line in proc.stdout:
            if line.startswith("chartdesk is listening on "):
                base = line.split()[-1]
                break
        if base is None:
            raise SystemExit("chartdesk did not start")
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        with opener.open(base + "/sandbox/ehr-launch?vendor=generic&practitioner=pr-jpike&patient=pat-01") as r:
            r.read()
            final = r.geturl()
        if "/app/" not in final:
            raise SystemExit("launch failed: %s" % final)
        launch = final.rstrip("/").rsplit("/", 1)[-1]
        cookie = "; ".join("%s=%s" % (c.name, c.value) for c in jar)
        health = wrk(base + "/healthz", a.duration, a.connections)

        def script(delay_ms):
            body = (LUA.replace("%COOKIE%", cookie).replace("%LAUNCH%", launch).replace("%RUN%", "%d-%d" % (i, delay_ms))
                    .replace("%DELAY%", "delay = function() return %d end" % delay_ms if delay_ms else ""))
            f = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
            f.write(body)
            f.close()
            return f.name

        full = wrk(base + "/api/messages", a.duration, a.connections, script(0))
        # Half load: each connection waits so that connections * 1000 / (delay + latency) ≈ rps / 2.
        target = full["rps"] / 2
        delay = max(1, int(a.connections * 1000.0 / target - full["p50_ms"]))
        half = wrk(base + "/api/messages", a.duration, a.connections, script(delay))
        time.sleep(3)  # let the relay drain the outbox
        rows = psql(db_url, "SELECT t.updated_ms - m.created_ms FROM ticket_intent t JOIN message m ON m.id = t.message_id "
                            "WHERE t.status = 'delivered'")
        pending = int(psql(db_url, "SELECT count(*) FROM ticket_intent WHERE status <> 'delivered'"))
        lat = [int(x) for x in rows.split()] if rows else [0]
        accepted = int(psql(db_url, "SELECT count(*) FROM message"))
        run = {
            "healthz_rps": health["rps"], "messages_rps": full["rps"], "ratio": full["rps"] / health["rps"],
            "messages_p99_full_ms": full["p99_ms"], "half_rps": half["rps"], "half_p50_ms": half["p50_ms"],
            "half_p99_ms": half["p99_ms"], "non_2xx": full["non_2xx"] + half["non_2xx"], "accepted": accepted,
            "tickets_delivered": len(lat), "tickets_not_delivered": pending,
            "ticket_latency_median_ms": statistics.median(lat), "ticket_latency_p99_ms": pct(lat, 99),
        }
        print("run %d: %s" % (i + 1, json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in run.items()})),
              file=sys.stderr)
        return run
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(data, ignore_errors=True)
        psql(admin, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % db)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432/test")
    ap.add_argument("--redis", default="redis://127.0.0.1:6379")
    a = ap.parse_args()
    for tool in ("wrk", "taskset", "psql"):
        if not shutil.which(tool):
            raise SystemExit("%s is required" % tool)
    binary = build()
    runs = [one_run(a, binary, i) for i in range(a.runs)]

    def row(key, label, fmt="%.1f"):
        vals = [r[key] for r in runs]
        return "| %s | %s | %s – %s |" % (label, fmt % statistics.median(vals), fmt % min(vals), fmt % max(vals))

    print("\n%d runs; wrk -t1 -c%d -d%ds; server 1 worker on CPU 0, wrk on CPU 1; PostgreSQL + Redis; release\n"
          % (a.runs, a.connections, a.duration))
    print("| measure | median | range |\n|---|---|---|")
    print(row("healthz_rps", "`/healthz` requests/s (same run)", "%.0f"))
    print(row("messages_rps", "`POST /api/messages` requests/s, full load", "%.0f"))
    print(row("ratio", "ratio messages / healthz", "%.3f"))
    print(row("messages_p99_full_ms", "p99 at full load (ms)", "%.2f"))
    print(row("half_rps", "requests/s at half load", "%.0f"))
    print(row("half_p50_ms", "p50 at half load (ms)", "%.2f"))
    print(row("half_p99_ms", "p99 at half load (ms)", "%.2f"))
    print(row("ticket_latency_median_ms", "message → ticket at the desk, median (ms)", "%.0f"))
    print(row("ticket_latency_p99_ms", "message → ticket at the desk, p99 (ms)", "%.0f"))
    print(row("tickets_not_delivered", "tickets not delivered after the run", "%d"))
    if any(r["non_2xx"] for r in runs):
        print("\nWARNING: non-2xx responses under load: %s" % [r["non_2xx"] for r in runs])


if __name__ == "__main__":
    main()
