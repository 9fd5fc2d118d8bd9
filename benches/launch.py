#!/usr/bin/env python3
"""Launch-to-first-screen benchmark against the embedded sandbox (README § Performance).

    python3 benches/launch.py [--launches 250] [--vendor generic]

Starts the release binary with JSON logs, warms discovery up with a few launches, then runs
N sequential EHR launches with a cookie-keeping client that follows every redirect:
  /sandbox/ehr-launch → /launch → sandbox authorize → /callback (token exchange, id_token
  verification) → /app/{launch_id} (chart context: concurrent FHIR reads) → first screen.
Wall time per launch is measured by the client. The server's own per-request log lines
("request completed", latency_ms, route pattern) split it:
  * sandbox time = every /sandbox route (browser-facing launch and authorize, and the
    token and FHIR requests chartdesk makes to the sandbox);
  * app time     = chartdesk's routes (/launch, /callback, /app/{id}) minus the sandbox
    requests nested inside them (token, OIDC discovery/JWKS, FHIR reads).
Prints median and p99 of wall, app and sandbox time.
"""
import argparse
import http.cookiejar
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
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


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(p / 100.0 * len(s) + 0.5)) - 1))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--launches", type=int, default=250)
    ap.add_argument("--vendor", default="generic")
    a = ap.parse_args()
    binary = build()
    data = tempfile.mkdtemp(prefix="chartdesk-launch-bench-")
    env = dict(os.environ, CHARTDESK__TELEMETRY__FORMAT="json", CHARTDESK__TELEMETRY__FILTER="chartdesk=info,warn")
    proc = subprocess.Popen([binary, "serve", "--bind", "127.0.0.1:0", "--data-dir", data],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    lines, base = [], None
    for line in proc.stdout:
        if line.startswith("chartdesk is listening on "):
            base = line.split()[-1]
            break
    reader = threading.Thread(target=lambda: [lines.append(l) for l in proc.stdout], daemon=True)
    reader.start()

    def one_launch():
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        url = "%s/sandbox/ehr-launch?vendor=%s&practitioner=pr-jpike&patient=pat-01" % (base, a.vendor)
        t0 = time.perf_counter()
        with opener.open(url) as r:
            body = r.read().decode()
            final = r.geturl()
        wall = (time.perf_counter() - t0) * 1000
        if "/app/" not in final or "Jordan Pike" not in body:
            raise SystemExit("launch did not reach the first screen: %s" % final)
        return wall

    def marker():
        urllib.request.urlopen(base + "/healthz").read()

    for _ in range(5):
        one_launch()
    time.sleep(0.3)
    walls = []
    for _ in range(a.launches):
        marker()
        walls.append(one_launch())
    marker()
    time.sleep(0.5)
    proc.terminate()
    proc.wait()
    reader.join(timeout=2)

    # Group the server's completion lines by launch, between the /healthz markers.
    events = []
    for l in lines:
        try:
            e = json.loads(l)
        except ValueError:
            continue
        if e.get("fields", {}).get("message") != "request completed":
            continue
        span = e.get("span", {})
        events.append((span.get("http.route", ""), float(e["fields"]["latency_ms"])))
    groups, current = [], None
    for route, ms in events:
        if route == "/healthz":
            if current is not None:
                groups.append(current)
            current = []
        elif current is not None:
            current.append((route, ms))
    groups = groups[-a.launches:]
    app_ms, sandbox_ms = [], []
    auth_paths = ("/auth/", "/oauth2/", "/smart-v1/", "/oauth/")
    for g in groups:
        browser_sandbox, backend, app_routes, seen_authorize = 0.0, 0.0, 0.0, False
        for route, ms in g:
            if not route.startswith("/sandbox"):
                app_routes += ms  # /launch, /callback, /app/{launch_id}
            elif route == "/sandbox/ehr-launch":
                browser_sandbox += ms
            elif any(p in route for p in auth_paths) and not seen_authorize:
                browser_sandbox += ms  # the browser's authorize request comes first
                seen_authorize = True
            else:
                backend += ms  # token, OIDC discovery/JWKS and FHIR reads made by chartdesk
        app_ms.append(app_routes - backend)
        sandbox_ms.append(browser_sandbox + backend)
    print("\n%d sequential launches (vendor mode %s), release build, discovery warm; %s\n" % (a.launches, a.vendor, time.strftime("%Y-%m-%d")))
    print("| measure | median (ms) | p99 (ms) |\n|---|---|---|")
    for label, vals in (("launch → first screen, wall (client)", walls), ("chartdesk's own time", app_ms), ("sandbox EHR time", sandbox_ms)):
        print("| %s | %.2f | %.2f |" % (label, statistics.median(vals), pct(vals, 99)))
    print("\n(%d launches grouped from the server log; app time = chartdesk's routes minus the sandbox requests it made)" % len(groups))


if __name__ == "__main__":
    main()
