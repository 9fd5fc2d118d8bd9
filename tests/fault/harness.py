#!/usr/bin/env python3
"""Fault harness for the IT-ticket path: no loss, no duplicates, no PHI (issue: desk outbox).

    python3 tests/fault/harness.py [--messages 2000] [--postgres postgres://postgres@127.0.0.1:5432/test]

Runs the real `chartdesk serve` (CHARTDESK_BIN, default: the debug binary, built if missing)
on PostgreSQL (a fresh database) and a dedicated Redis started here (append-only file,
fsync always, so a restart keeps sessions and the stream). The desk's connection to Redis
goes through a proxy in this script that can swallow replies (the desk committed, chartdesk
never hears it: an ambiguous failure). A clinician launches once; N IT messages carrying
planted PHI (the patient in context's name, MRN, phone, street, and an SSN) are sent by 8
concurrent clients, each retrying with the same client message id until it gets a 2xx.
While they are sent:
  * at 20 %: chartdesk is killed with SIGKILL and restarted on the same port and data;
  * at 40 %: Redis is killed and restarted 3 s later;
  * at 60 %: for 5 s the proxy swallows 30 % of the replies from Redis to the relay;
  * at 70 %: for 6 s the HTTP desk commits every create and then answers 500 to 20 % of them
    and answers only after chartdesk's 2 s timeout to another 10 %;
  * at 80 %: every PostgreSQL connection of chartdesk is terminated, twice.
Two sinks are configured: an HTTP desk speaking the ServiceNow Table API (a fake in this script
that, like the real one, does not dedupe: two POSTs make two incidents) and the Redis Stream.
Then it waits for the outbox to drain and counts: sent, accepted (2xx), messages stored,
tickets in the outbox, stream entries, desk incidents, lost (accepted message without exactly
one stream entry and one incident), duplicates (a ticket key with more than one entry or
incident), and planted PHI found in any stream entry, incident or line chartdesk logged.
Exit status 1 unless lost = duplicates = leaks = 0.
"""
import argparse
import asyncio
import base64
import http.server
import http.cookiejar
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLANTED = ["Rosalind", "Quillfeather", "RB0000101", "555-0170", "100 Larch Lane", "123-45-6789"]
TEXTS = [
    "the wristband printer in 4W prints blank labels for Rosalind Quillfeather RB0000101 (msg {n})",
    "badge tap sign in fails on the WOW in room 12, pt Quillfeather's family called from 555-0170 (msg {n})",
    "label printer jammed again, registration shows SSN 123-45-6789 on the facesheet (msg {n})",
    "scanner will not pair with the workstation, letter went to 100 Larch Lane (msg {n})",
]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def psql(url, sql):
    return subprocess.run(["psql", url, "-tAc", sql], capture_output=True, text=True, check=True).stdout.strip()


class Redis:
    def __init__(self, port, workdir):
        self.port, self.dir, self.proc = port, workdir, None

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
             "--appendfsync", "always", "--dir", self.dir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            if self.cli("PING") == "PONG":
                return
            time.sleep(0.05)
        raise SystemExit("FAIL: the harness's Redis did not start")

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def cli(self, *args):
        r = subprocess.run(["redis-cli", "-p", str(self.port), "--no-raw", *args], capture_output=True, text=True)
        return r.stdout.strip().strip('"')


class Proxy:
    """TCP proxy chartdesk's desk sink → Redis; can swallow replies (and drop the connection)."""

    def __init__(self, upstream_port):
        self.upstream, self.port, self.swallow = upstream_port, free_port(), 0.0
        self.swallowed = 0
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(asyncio.start_server(self._conn, "127.0.0.1", self.port))
        self.loop.run_forever()

    async def _conn(self, cr, cw):
        try:
            ur, uw = await asyncio.open_connection("127.0.0.1", self.upstream)
        except OSError:
            cw.close()
            return

        async def pipe(r, w, replies):
            try:
                while True:
                    data = await r.read(65536)
                    if not data:
                        break
                    if replies and random.random() < self.swallow:
                        self.swallowed += 1
                        break  # the command ran in Redis; its reply never arrives
                    w.write(data)
                    await w.drain()
            except (ConnectionError, OSError):
                pass
            for x in (cw, uw):
                x.close()

        await asyncio.gather(pipe(cr, uw, False), pipe(ur, cw, True))


class Desk:
    """A ServiceNow-like incident desk (Table API shapes). Creates are never deduplicated; the
    search by correlation_id is what lets a retry find an earlier create. Can fail after commit."""

    def __init__(self):
        self.port, self.lock = free_port(), threading.Lock()
        self.incidents = []  # (number, correlation_id, raw body)
        self.fail_500, self.hang = 0.0, 0.0
        self.answered_500, self.hung, self.searches, self.bad_auth = 0, 0, 0, 0
        desk = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def reply(self, status, obj):
                data = json.dumps(obj).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # chartdesk gave up waiting (the timeout fault): the incident stays committed

            def authorized(self):
                want = "Basic " + base64.b64encode(b"harness:harness-pw").decode()
                if self.headers.get("Authorization") != want:
                    desk.bad_auth += 1
                    self.reply(401, {"error": {"message": "User Not Authenticated"}})
                    return False
                return True

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if not self.path.startswith("/api/now/table/incident"):
                    return self.reply(404, {})
                if not self.authorized():
                    return
                doc = json.loads(body)
                with desk.lock:
                    number = "INC%07d" % (len(desk.incidents) + 1)
                    desk.incidents.append((number, doc["correlation_id"], body.decode()))
                    roll = random.random()
                    fail = roll < desk.fail_500
                    hang = not fail and roll < desk.fail_500 + desk.hang
                if fail:
                    desk.answered_500 += 1
                    return self.reply(500, {"error": {"message": "internal error"}})
                if hang:
                    desk.hung += 1
                    time.sleep(3)
                self.reply(201, {"result": {"sys_id": "%032x" % len(desk.incidents), "number": number}})

            def do_GET(self):
                if not self.path.startswith("/api/now/table/incident"):
                    return self.reply(404, {})
                if not self.authorized():
                    return
                q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
                key = q.get("sysparm_query", "").split("^")[0].removeprefix("correlation_id=")
                with desk.lock:
                    desk.searches += 1
                    hits = [{"sys_id": "x", "number": n} for (n, k, _b) in desk.incidents if k == key]
                self.reply(200, {"result": hits[:int(q.get("sysparm_limit", "100"))]})

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


class Server:
    def __init__(self, binary, port, data, env, logdir):
        self.binary, self.port, self.data, self.env, self.logdir = binary, port, data, env, logdir
        self.proc, self.starts = None, 0

    def start(self):
        self.starts += 1
        log = open(os.path.join(self.logdir, "chartdesk-%d.log" % self.starts), "w")
        self.proc = subprocess.Popen([self.binary, "serve", "--bind", "127.0.0.1:%d" % self.port, "--data-dir", self.data],
                                     stdout=log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % self.port, timeout=1) as r:
                    if r.status == 200:
                        return
            except Exception:
                time.sleep(0.05)
        raise SystemExit("FAIL: chartdesk did not start")

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--postgres", default=os.environ.get("CHARTDESK_TEST_POSTGRES_URL",
                                                         "postgres://postgres@127.0.0.1:5432/test"))
    a = ap.parse_args()
    for tool in ("psql", "redis-server", "redis-cli"):
        if not shutil.which(tool):
            raise SystemExit("FAIL: %s is required" % tool)
    binary = os.environ.get("CHARTDESK_BIN")
    if not binary:
        subprocess.run(["cargo", "build", "--bin", "chartdesk"], cwd=ROOT, check=True)
        binary = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "debug", "chartdesk")

    work = tempfile.mkdtemp(prefix="chartdesk-fault-")
    db = "chartdesk_fault_%s" % uuid.uuid4().hex[:10]
    psql(a.postgres, "CREATE DATABASE %s" % db)
    db_url = re.sub(r"/[^/]*$", "/" + db, a.postgres)
    redis = Redis(free_port(), work)
    redis.start()
    proxy = Proxy(redis.port)
    desk = Desk()
    port = free_port()
    env = dict(os.environ,
               CHARTDESK__DATABASE__URL=db_url,
               CHARTDESK__REDIS__URL="redis://127.0.0.1:%d" % redis.port,
               CHARTDESK__REDIS__KEY_PREFIX="fault:",
               CHARTDESK__DESK__REDIS_URL="redis://127.0.0.1:%d" % proxy.port,
               CHARTDESK__DESK__RELAY_INTERVAL_MS="50",
               CHARTDESK__DESK__RETRY_BASE_MS="50",
               CHARTDESK__DESK__RETRY_MAX_SECS="1",
               CHARTDESK__DESK__MAX_ATTEMPTS="100000",
               CHARTDESK__DESK__LEASE_SECS="5",
               CHARTDESK__DESK__HTTP_TIMEOUT_SECS="2",
               CHARTDESK__DESK__SERVICENOW_URL="http://127.0.0.1:%d" % desk.port,
               CHARTDESK__DESK__SERVICENOW_USER="harness",
               CHARTDESK__DESK__SERVICENOW_PASSWORD="harness-pw",
               CHARTDESK__TELEMETRY__FORMAT="json",
               CHARTDESK__TELEMETRY__FILTER="info")
    server = Server(binary, port, os.path.join(work, "data"), env, work)
    server.start()
    base = "http://127.0.0.1:%d" % port

    session = {"lock": threading.Lock(), "opener": None, "launch": None, "gen": 0}

    def relaunch(seen_gen):
        with session["lock"]:
            if session["gen"] != seen_gen:
                return
            for _ in range(600):
                try:
                    jar = http.cookiejar.CookieJar()
                    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
                    with opener.open(base + "/sandbox/ehr-launch?vendor=generic&practitioner=pr-jpike&patient=pat-01",
                                     timeout=10) as r:
                        r.read()
                        final = r.geturl()
                    if "/app/" in final:
                        session.update(opener=opener, launch=final.rstrip("/").rsplit("/", 1)[-1],
                                       gen=session["gen"] + 1)
                        return
                except Exception:
                    pass
                time.sleep(0.1)
            raise SystemExit("FAIL: could not launch")

    relaunch(0)
    accepted, attempts_total, sent = {}, [0], [0]
    state_lock = threading.Lock()

    def send(n):
        cid = "fault-%d" % n
        body = json.dumps({"client_message_id": cid, "text": TEXTS[n % len(TEXTS)].format(n=n)}).encode()
        deadline = time.time() + 180
        while time.time() < deadline:
            gen, opener, launch = session["gen"], session["opener"], session["launch"]
            req = urllib.request.Request(base + "/api/messages", data=body, method="POST", headers={
                "content-type": "application/json", "x-chartdesk-launch": launch})
            with state_lock:
                attempts_total[0] += 1
            try:
                with opener.open(req, timeout=10) as r:
                    reply = json.loads(r.read())
                    if 200 <= r.status < 300:
                        with state_lock:
                            accepted[cid] = (reply["messageId"], [t["id"] for t in reply["tickets"]])
                        return
            except urllib.error.HTTPError as e:
                if e.code == 401:
                    relaunch(gen)
                    continue
            except Exception:
                pass
            time.sleep(0.2)
        print("client gave up on %s" % cid, file=sys.stderr)

    faults = []

    def fault_at(fraction, name, fn):
        faults.append((int(a.messages * fraction), name, fn))

    def kill_server():
        server.kill()
        server.start()

    def kill_redis():
        redis.kill()
        time.sleep(3)
        redis.start()

    def swallow():
        proxy.swallow = 0.3
        time.sleep(5)
        proxy.swallow = 0.0

    def desk_faults():
        desk.fail_500, desk.hang = 0.2, 0.1
        time.sleep(6)
        desk.fail_500, desk.hang = 0.0, 0.0

    def drop_pg():
        for _ in range(2):
            psql(a.postgres, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '%s' "
                             "AND pid <> pg_backend_pid()" % db)
            time.sleep(1)

    fault_at(0.2, "SIGKILL chartdesk + restart", kill_server)
    fault_at(0.4, "Redis killed, restarted after 3 s", kill_redis)
    fault_at(0.6, "30 % of Redis replies to the relay swallowed for 5 s", swallow)
    fault_at(0.7, "HTTP desk commits, then 500 (20 %) or a timeout (10 %), for 6 s", desk_faults)
    fault_at(0.8, "PostgreSQL connections terminated (twice)", drop_pg)

    def fault_thread():
        for at, name, fn in faults:
            while sent[0] < at:
                time.sleep(0.01)
            print("fault at message %d: %s" % (sent[0], name), file=sys.stderr)
            fn()

    ft = threading.Thread(target=fault_thread)
    ft.start()
    t0 = time.time()
    queue = list(range(a.messages))
    qlock = threading.Lock()

    def worker():
        while True:
            with qlock:
                if not queue:
                    return
                n = queue.pop(0)
                sent[0] += 1
            send(n)
            time.sleep(0.01)

    workers = [threading.Thread(target=worker) for _ in range(8)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    ft.join()
    send_secs = time.time() - t0

    # Drain: every outbox ticket delivered.
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            left = int(psql(db_url, "SELECT count(*) FROM ticket_intent WHERE status <> 'delivered'"))
        except subprocess.CalledProcessError:
            left = -1
        if left == 0:
            break
        time.sleep(0.5)
    stored = int(psql(db_url, "SELECT count(*) FROM message"))
    outbox = int(psql(db_url, "SELECT count(*) FROM ticket_intent"))
    dead = int(psql(db_url, "SELECT count(*) FROM ticket_intent WHERE status = 'dead-letter'"))
    undelivered = int(psql(db_url, "SELECT count(*) FROM ticket_intent WHERE status <> 'delivered'"))

    # The stream, read in full.
    raw = subprocess.run(["redis-cli", "-p", str(redis.port), "--json", "XRANGE", "fault:desk:tickets", "-", "+"],
                         capture_output=True, text=True, check=True).stdout
    entries = json.loads(raw) if raw.strip() else []
    by_key = {}
    payloads = []
    for _id, fields in entries:
        f = dict(zip(fields[::2], fields[1::2]))
        by_key[f["key"]] = by_key.get(f["key"], 0) + 1
        payloads.append(f["ticket"])
    accepted_tickets = [t for (_m, ts) in accepted.values() for t in ts]
    lost = sum(1 for t in accepted_tickets if by_key.get(t, 0) == 0)
    duplicates = sum(c - 1 for c in by_key.values() if c > 1)
    no_ticket = sum(1 for (_m, ts) in accepted.values() if len(ts) != 1)
    stored_ids = set(psql(db_url, "SELECT id FROM message").split())
    lost_messages = sum(1 for (m, _t) in accepted.values() if m not in stored_ids)
    leaks_stream = sum(1 for p in payloads for s in PLANTED if s in p)
    with desk.lock:
        incidents = list(desk.incidents)
    desk_by_key = {}
    for (_n, k, _b) in incidents:
        desk_by_key[k] = desk_by_key.get(k, 0) + 1
    desk_lost = sum(1 for t in accepted_tickets if desk_by_key.get(t, 0) == 0)
    desk_duplicates = sum(c - 1 for c in desk_by_key.values() if c > 1)
    leaks_desk = sum(1 for (_n, _k, b) in incidents for s in PLANTED if s in b)
    logs = ""
    for name in sorted(os.listdir(work)):
        if name.startswith("chartdesk-") and name.endswith(".log"):
            logs += open(os.path.join(work, name), errors="replace").read()
    leaks_logs = sum(logs.count(s) for s in PLANTED)
    server.kill()
    redis.kill()
    psql(a.postgres, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % db)

    result = {
        "sent": a.messages, "http_attempts": attempts_total[0], "accepted_2xx": len(accepted),
        "messages_stored": stored, "tickets_in_outbox": outbox, "stream_entries": len(entries),
        "distinct_stream_keys": len(by_key), "lost_tickets": lost, "lost_messages": lost_messages,
        "accepted_without_exactly_one_ticket": no_ticket, "duplicates": duplicates, "dead_letters": dead,
        "undelivered_after_drain": undelivered, "replies_swallowed": proxy.swallowed,
        "desk_incidents": len(incidents), "desk_distinct_keys": len(desk_by_key), "desk_lost": desk_lost,
        "desk_duplicates": desk_duplicates, "desk_500_after_commit": desk.answered_500,
        "desk_timeouts_after_commit": desk.hung, "desk_searches": desk.searches, "desk_bad_auth": desk.bad_auth,
        "planted_phi_at_desk": leaks_desk,
        "server_starts": server.starts, "planted_phi_in_stream": leaks_stream, "planted_phi_in_logs": leaks_logs,
        "log_lines": logs.count("\n"), "send_seconds": round(send_secs, 1),
    }
    print(json.dumps(result, indent=1))
    ok = (len(accepted) == a.messages and lost == 0 and lost_messages == 0 and duplicates == 0 and no_ticket == 0
          and undelivered == 0 and leaks_stream == 0 and leaks_logs == 0 and len(entries) == len(accepted_tickets)
          and server.starts >= 2 and proxy.swallowed > 0
          and desk_lost == 0 and desk_duplicates == 0 and leaks_desk == 0 and len(incidents) == len(accepted_tickets)
          and desk.answered_500 > 0 and desk.hung > 0 and desk.bad_auth == 0)
    if ok:
        shutil.rmtree(work, ignore_errors=True)
        print("fault harness: PASS")
    else:
        print("fault harness: FAIL (work dir kept: %s)" % work)
        sys.exit(1)


if __name__ == "__main__":
    main()
