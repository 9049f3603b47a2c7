#!/usr/bin/python3
"""bench.py: the benchmark's helpers, called by bench/run (Debian's python3,
standard library only).

    bench.py check-keys  --db DB
    bench.py statement-log on|off --db DB
    bench.py load KIND   --db DB --url HOST:PORT --log DAEMON_LOG --clients N
                         [--instance LABEL]
    bench.py pgbench KIND --db DB --url HOST:PORT --clients N [--capture N]
    bench.py review-setup --url HOST:PORT --clients N --owner O --repo R
                         --number N --gitea URL
    bench.py sync        --db DB --url HOST:PORT --repos N
    bench.py rss         --pid PID --label LABEL
    bench.py table       [--main-label LABEL]

KIND is feed, claim (a claim and its abandon, one unit), review,
webhook-one (deliveries all for one repository) or webhook-spread (over
every project).  Each step appends one JSON record to
$BENCH_WORK/results.jsonl; `table` prints them as one markdown table.

Environment (bench/run sets it): BENCH_WORK (a private folder), BENCH_PGHOST,
BENCH_PGPORT, BENCH_PGBIN, BENCH_PGLOG (the cluster's csvlog), BENCH_LOAD
(the load driver), BENCH_SECS and BENCH_WARM (seconds measured and warmed
up per phase), BENCH_RATE (webhook deliveries per second), BENCH_ADMIN (an
admin token), BENCH_SECRET_FILE (the webhook secret's file).
"""

import argparse
import base64
import collections
import csv
import hashlib
import hmac
import http.client
import json
import math
import os
import re
import subprocess
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
WEBHOOK_TEMPLATE = os.path.join(REPO, "tests", "gitea_emulator", "reference",
                                "webhooks", "issues_opened.json")

csv.field_size_limit(1 << 30)


def env(name, default=None):
    v = os.environ.get(name, default)
    if v is None:
        sys.exit(f"bench.py: {name} is not set (run bench/run)")
    return v


def work(*parts):
    return os.path.join(env("BENCH_WORK"), *parts)


def record(rec):
    rec["at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    with open(work("results.jsonl"), "a") as f:
        f.write(json.dumps(rec, sort_keys=True) + "\n")


def say(msg):
    print(f"    {msg}", flush=True)


# -- PostgreSQL through psql ------------------------------------------------

def psql(db, sql, app="bench"):
    """Rows of a query (lists of strings); psql -XAt, fields split on \\x1f."""
    r = subprocess.run(
        [os.path.join(env("BENCH_PGBIN"), "psql"), "-XAtq", "-v", "ON_ERROR_STOP=1",
         "-F", "\x1f", "-h", env("BENCH_PGHOST"), "-p", env("BENCH_PGPORT"),
         "-U", "postgres", "-d", db, "-c", sql],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "PGAPPNAME": app})
    if r.returncode != 0:
        raise RuntimeError(f"psql on {db}: {r.stderr.strip()}\n{sql[:300]}")
    out = r.stdout.rstrip("\n")
    return [line.split("\x1f") for line in out.split("\n")] if out else []


def quiesce(db):
    """Gitea writes the claims queued are let go of: Gitea is unreachable
    for the large instance, and the background job would retry them (100 a
    second, with backoff) through the next phase and into its captures."""
    psql(db, "UPDATE gitea_outbox SET done_at = now(), last_error ="
         " 'synstack-bench: dropped between phases' WHERE done_at IS NULL")
    # Deliveries are acknowledged once stored and applied by the daemon's
    # workers after: a phase's backlog is applied before the next begins.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and psql(
            db, "SELECT count(*) FROM webhook_deliveries WHERE processed_at IS NULL"
            " AND attempts = 0") != [["0"]]:
        time.sleep(0.2)


# -- agents, keys and targets (bench/gen.sql's rules) ----------------------

def driver_key(d):
    raw = hashlib.sha256(f"synstack-bench-driver-{d}".encode()).digest()
    return "ssk_" + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def instance_shape(db):
    rows = psql(db, "SELECT (SELECT count(*) FROM projects),"
                " (SELECT min(owner) FROM projects),"
                " (SELECT count(*) FROM agents WHERE name LIKE 'drv-%')")
    return {"projects": int(rows[0][0]), "owner": rows[0][1], "drivers": int(rows[0][2])}


def claim_target(shape, d):
    """Driver d claims #(1 + d div P) of its home project (d mod P) + 1."""
    p = shape["projects"]
    return shape["owner"], f"proj-{d % p + 1:04d}", 1 + d // p


# -- HTTP requests -----------------------------------------------------------

class Req:
    def __init__(self, method, path, headers=None, body=b"", host="127.0.0.1"):
        self.method, self.path, self.body = method, path, body
        self.headers = dict(headers or {})
        self.host = host

    def raw(self):
        lines = [f"{self.method} {self.path} HTTP/1.1", f"Host: {self.host}"]
        hdrs = dict(self.headers)
        if self.body or self.method in ("POST", "PUT", "PATCH"):
            hdrs["Content-Length"] = str(len(self.body))
        lines += [f"{k}: {v}" for k, v in hdrs.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body

    def send(self, url, timeout=30):
        host, port = url.rsplit(":", 1)
        c = http.client.HTTPConnection(host, int(port), timeout=timeout)
        try:
            c.request(self.method, self.path, body=self.body or None,
                      headers=self.headers)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()


def agent_req(method, path, key, url, body=None):
    h = {"Authorization": f"Bearer {key}", "Accept": "application/json"}
    data = b""
    if body is not None:
        h["Content-Type"] = "application/json"
        data = json.dumps(body).encode()
    return Req(method, path, h, data, host=url)


def write_reqfile(path, lists):
    with open(path, "wb") as f:
        f.write(b"SYNLOAD 1\n")
        for lst in lists:
            f.write(b"L\n")
            for r in lst:
                raw = r.raw()
                f.write(b"R %d\n" % len(raw) + raw + b"\n")


def feed_lists(db, url, clients):
    return [[agent_req("GET", "/api/v1/feed", driver_key(c), url)]
            for c in range(clients)]


def claim_lists(db, url, clients):
    shape = instance_shape(db)
    if clients > shape["drivers"]:
        sys.exit(f"bench.py: {clients} clients but {shape['drivers']} driver agents")
    out = []
    for c in range(clients):
        owner, repo, n = claim_target(shape, c)
        key = driver_key(c)
        out.append([agent_req("POST", f"/api/v1/projects/{owner}/{repo}/issues/{n}/claim",
                              key, url),
                    agent_req("DELETE", "/api/v1/claims", key, url)])
    return out


def review_lists(db, url, clients):
    with open(work("review.json")) as f:
        rv = json.load(f)
    if clients > len(rv["keys"]):
        sys.exit(f"bench.py: {clients} clients but {len(rv['keys'])} review agents")
    path = f"/api/v1/projects/{rv['owner']}/{rv['repo']}/pulls/{rv['number']}/reviews"
    return [[agent_req("POST", path, rv["keys"][c], url,
                       {"verdict": "comment", "comment": f"bench review by client {c}"})]
            for c in range(clients)]


def webhook_deliveries(db, url, spread, count, base_year, first=0):
    """count signed issue deliveries ("edited"), each distinct: all on the
    issues of proj-0001, or delivery k on project k mod P.  Each says the
    issue changed at a later second than any delivery before it on the same
    issue, so every one is a hint the daemon applies without asking Gitea."""
    with open(env("BENCH_SECRET_FILE")) as f:
        secret = f.readline().rstrip("\n").encode()
    with open(WEBHOOK_TEMPLATE, encoding="utf-8") as f:
        tmpl = json.load(f)
    projects = {r[0]: r for r in psql(db, "SELECT gitea_repo_id, owner, name,"
                                      " description, default_branch, html_url,"
                                      " clone_url FROM projects ORDER BY gitea_repo_id")}
    ids = sorted(int(k) for k in projects)
    where = "" if spread else f"WHERE p.gitea_repo_id = {ids[0]}"
    issues = collections.defaultdict(list)
    for r in psql(db, "SELECT p.gitea_repo_id, i.gitea_issue_id, i.number, i.title,"
                  " i.body, i.state, to_char(i.created_at AT TIME ZONE 'UTC',"
                  " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM issues i JOIN projects p"
                  f" ON p.id = i.project_id {where} ORDER BY 1, 3"):
        issues[int(r[0])].append(r[1:])
    repos = [k for k in ids if issues.get(k)]
    out = []
    base = time.mktime(time.strptime(f"{base_year}-01-01", "%Y-%m-%d")) - time.timezone
    for k in range(first, first + count):
        rid = repos[k % len(repos)] if spread else repos[0]
        lst = issues[rid]
        j = (k // len(repos)) if spread else k
        gid, number, title, ibody, state, created = lst[j % len(lst)]
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ",
                             time.gmtime(base + 1 + j // len(lst)))
        _, owner, name, desc, branch, html, clone = projects[str(rid)]
        d = json.loads(json.dumps(tmpl))
        d["action"] = "edited"
        d["number"] = int(number)
        i = d["issue"]
        i.update({"id": int(gid), "number": int(number),
                  "url": f"http://gitea.invalid/api/v1/repos/{owner}/{name}/issues/{number}",
                  "html_url": f"{html}/issues/{number}",
                  "title": f"{title} (edit {k})", "body": ibody, "labels": [],
                  "state": state, "created_at": created, "updated_at": when,
                  "closed_at": when if state == "closed" else None,
                  "repository": {"id": rid, "name": name, "owner": owner,
                                 "full_name": f"{owner}/{name}"}})
        i["user"]["login"] = i["user"]["username"] = "maintainer"
        r = d["repository"]
        r.update({"id": rid, "name": name, "full_name": f"{owner}/{name}",
                  "description": desc, "default_branch": branch, "archived": False,
                  "html_url": html, "clone_url": clone,
                  "url": f"http://gitea.invalid/api/v1/repos/{owner}/{name}"})
        r["owner"]["login"] = r["owner"]["username"] = owner
        body = json.dumps(d, indent=2, ensure_ascii=False).encode()
        sig = hmac.new(secret, body, hashlib.sha256).hexdigest()
        sha1 = hmac.new(secret, body, hashlib.sha1).hexdigest()
        did = str(uuid.UUID(bytes=hashlib.md5(f"bench-delivery-{base_year}-{k}".encode()).digest()))
        h = {"Content-Type": "application/json", "User-Agent": "Go-http-client/1.1",
             "Accept-Encoding": "gzip"}
        for pre in ("X-Gitea", "X-Gogs", "X-GitHub"):
            h[f"{pre}-Delivery"] = did
            h[f"{pre}-Event"] = "issues"
            h[f"{pre}-Event-Type"] = "issues"
        h["X-Gitea-Signature"] = h["X-Gogs-Signature"] = sig
        h["X-Hub-Signature"] = "sha1=" + sha1
        h["X-Hub-Signature-256"] = "sha256=" + sig
        h["X-Gitea-Hook-Installation-Target-Type"] = "system"
        h["X-GitHub-Hook-Installation-Target-Type"] = "system"
        out.append(Req("POST", "/hooks/gitea", h, body, host=url))
    return out


# -- the daemon's request log ------------------------------------------------

LOG_RE = re.compile(r'\bmsg=request method=(\S+) path=(\S+) status=(\d+) ms=(\d+)'
                    r' bytes=(\d+) db=(\d+)')


def route_of(method, path):
    if path == "/api/v1/feed":
        return "feed"
    if path.endswith("/claim"):
        return "claim"
    if method == "DELETE" and path == "/api/v1/claims":
        return "abandon"
    if path.endswith("/reviews"):
        return "review"
    if path == "/hooks/gitea":
        return "webhook"
    return "other"


def reqlog_stats(path, start):
    """Round trips per route (mean of db=) in the log past byte offset start,
    and the statuses the daemon logged."""
    trips = collections.defaultdict(list)
    statuses = collections.Counter()
    with open(path, "rb") as f:
        f.seek(start)
        for line in f.read().decode("utf-8", "replace").splitlines():
            m = LOG_RE.search(line)
            if not m:
                continue
            route = route_of(m.group(1), m.group(2))
            trips[route].append(int(m.group(6)))
            statuses[f"{route}:{m.group(3)}"] += 1
    return ({k: sum(v) / len(v) for k, v in trips.items()},
            {k: max(v) for k, v in trips.items()}, dict(statuses))


# -- load phases -------------------------------------------------------------

def parse_kv(line):
    return dict(x.split("=", 1) for x in line.split())


def run_load(reqfile, url, clients, secs, warm, group=1, rate=0.0):
    argv = [env("BENCH_LOAD"), "-u", url, "-f", reqfile, "-c", str(clients),
            "-d", str(secs), "-w", str(warm), "-g", str(group)]
    if rate:
        argv += ["-r", str(rate)]
    r = subprocess.run(argv, capture_output=True, text=True,
                       timeout=secs + warm + 120)
    if r.returncode != 0:
        raise RuntimeError(f"load failed: {r.stderr.strip()}")
    return parse_kv(r.stdout.strip().splitlines()[-1])


def cmd_load(a):
    secs, warm = float(env("BENCH_SECS")), float(env("BENCH_WARM"))
    kind, group, rate = a.kind, 1, 0.0
    if kind == "feed":
        lists = feed_lists(a.db, a.url, a.clients)
    elif kind == "claim":
        lists, group = claim_lists(a.db, a.url, a.clients), 2
    elif kind == "review":
        lists = review_lists(a.db, a.url, a.clients)
    elif kind in ("webhook-one", "webhook-spread"):
        rate = float(env("BENCH_RATE"))
        n = int(math.ceil(rate * (secs + warm))) + 10
        lists = [webhook_deliveries(a.db, a.url, kind == "webhook-spread", n,
                                    2030 if kind == "webhook-one" else 2032)]
    else:
        sys.exit(f"bench.py: unknown kind {kind}")
    reqfile = work(f"reqs-{kind}-{a.clients}.bin")
    write_reqfile(reqfile, lists)
    quiesce(a.db)
    start = os.path.getsize(a.log)
    res = run_load(reqfile, a.url, a.clients, secs, warm, group, rate)
    time.sleep(0.1)             # the last request lines
    trips, trips_max, logged = reqlog_stats(a.log, start)
    os.unlink(reqfile)
    rec = {"type": "load", "kind": kind, "clients": a.clients,
           "instance": a.instance, "rate": float(res["rate"]),
           "units": int(res["units"]), "seconds": float(res["seconds"]),
           "p50_ms": float(res["p50_ms"]), "p90_ms": float(res["p90_ms"]),
           "p99_ms": float(res["p99_ms"]), "max_ms": float(res["max_ms"]),
           "errors": int(res["errors"]), "statuses": res["statuses"],
           "round_trips": trips, "round_trips_max": trips_max, "logged": logged,
           "offered_rate": rate or None}
    record(rec)
    say(f"{kind} x{a.clients}{' (' + a.instance + ')' if a.instance else ''}:"
        f" {rec['rate']:.1f}/s p50 {rec['p50_ms']:.2f} ms p99 {rec['p99_ms']:.2f} ms,"
        f" errors {rec['errors']} ({res['statuses']}), round trips {fmt_trips(trips)}")


def fmt_trips(t):
    return " ".join(f"{k}={v:.2f}" for k, v in sorted(t.items())) or "-"


# -- capturing the SQL of one request ------------------------------------------

EXEC_RE = re.compile(r"^execute [^:]*: (.*)$", re.S)
SIMPLE_RE = re.compile(r"^statement: (.*)$", re.S)
PARAM_RE = re.compile(r"\$(\d+) = (NULL|'(?:[^']|'')*')", re.S)


def parse_params(detail):
    out = {}
    if not detail.startswith("parameters: "):
        return out
    for m in PARAM_RE.finditer(detail):
        v = m.group(2)
        out[int(m.group(1))] = None if v == "NULL" else v[1:-1].replace("''", "'")
    return out


class StatementLog:
    """Statements the daemon sent between two markers, from the cluster's
    csvlog while log_statement is 'all'."""

    def __init__(self, db, daemon_log=None):
        self.db = db
        self.path = env("BENCH_PGLOG")
        self.daemon_log = daemon_log

    def __enter__(self):
        psql(self.db, "ALTER SYSTEM SET log_statement = 'all'")
        psql(self.db, "SELECT pg_reload_conf()")
        time.sleep(0.2)         # every backend reloads before its next command
        return self

    def __exit__(self, *exc):
        psql(self.db, "ALTER SYSTEM RESET log_statement")
        psql(self.db, "SELECT pg_reload_conf()")

    def mark(self):
        m = f"synstack-bench-mark-{uuid.uuid4()}"
        psql(self.db, f"SELECT '{m}'", app="bench-mark")
        return m

    def between(self, m0, m1):
        for _ in range(250):
            with open(self.path, newline="", encoding="utf-8", errors="replace") as f:
                rows = list(csv.reader(f))
            idx = {m: i for i, r in enumerate(rows) if len(r) > 13
                   for m in (m0, m1) if m in r[13]}
            if m0 in idx and m1 in idx:
                break
            time.sleep(0.02)
        else:
            raise RuntimeError("the markers never reached the statement log")
        out = []
        for r in rows[idx[m0] + 1:idx[m1]]:
            if len(r) < 26 or r[22] != "synstackd":
                continue
            m = EXEC_RE.match(r[13]) or SIMPLE_RE.match(r[13])
            if not m:
                continue
            out.append({"sql": m.group(1), "params": parse_params(r[14]),
                        "query_id": r[25], "pid": r[3]})
        return out

    def trips(self, start):
        """db= of the first request line the daemon logged past byte
        offset start (it logs a request once it answered it)."""
        for _ in range(100):
            with open(self.daemon_log, "rb") as f:
                f.seek(start)
                m = LOG_RE.search(f.read().decode("utf-8", "replace"))
            if m:
                return int(m.group(6))
            time.sleep(0.02)
        raise RuntimeError("the daemon logged no request line")

    def capture(self, url, reqs):
        """[(status, [statements])] of the requests, sent in turn.  With the
        daemon's log, a request's statements are the first db= of the window
        (a webhook's worker applies the delivery right after the answer:
        its statements are not the request's)."""
        out = []
        m0 = self.mark()
        for r in reqs:
            start = os.path.getsize(self.daemon_log) if self.daemon_log else 0
            st, _ = r.send(url)
            m1 = self.mark()
            stmts = self.between(m0, m1)
            if self.daemon_log:
                stmts = stmts[:self.trips(start)]
            out.append((st, stmts))
            m0 = m1
        quiesce(self.db)
        return out


def cmd_statement_log(a):
    """The statement log on while a daemon starts (so its session set-up is
    in the log for pgbench to copy), off once it answers."""
    if a.state == "on":
        psql(a.db, "ALTER SYSTEM SET log_statement = 'all'")
    else:
        psql(a.db, "ALTER SYSTEM RESET log_statement")
    psql(a.db, "SELECT pg_reload_conf()")


SETCONFIG_RE = re.compile(r"set_config\(\s*'([A-Za-z_.]+)'\s*,\s*(\$\d+|'(?:[^']|'')*')"
                          r"\s*,\s*false\s*\)", re.I)


def session_options():
    """PGOPTIONS giving pgbench's sessions the settings the daemon gives
    each of its connections (its latest set_config(..., false) statement in
    the log: statement_timeout, TimeZone, jit...); application_name aside."""
    last = None
    with open(env("BENCH_PGLOG"), newline="", encoding="utf-8", errors="replace") as f:
        for r in csv.reader(f):
            if len(r) > 22 and not r[22].startswith("bench") and "set_config(" in r[13]:
                m = EXEC_RE.match(r[13]) or SIMPLE_RE.match(r[13])
                if m:
                    last = (m.group(1), parse_params(r[14]))
    if last is None:
        return None
    opts = []
    for name, v in SETCONFIG_RE.findall(last[0]):
        if v.startswith("$"):
            v = last[1].get(int(v[1:]))
        else:
            v = v[1:-1].replace("''", "'")
        if v is None or name.lower() == "application_name":
            continue
        v = v.replace("\\", "\\\\").replace(" ", "\\ ")
        opts.append(f"-c {name}={v}")
    return " ".join(opts)


def texts(stmts):
    return [s["sql"] for s in stmts]


def capture_lists(kind, db, url, clients):
    """The units whose SQL is captured: one per client (the requests it
    sends), and `more`, units of client 0 to send again: for webhooks, fresh
    deliveries each time (a delivery sent twice is a duplicate, answered by
    another path)."""
    if kind == "feed":
        lists = feed_lists(db, url, clients)
    elif kind == "claim":
        lists = claim_lists(db, url, clients)
    elif kind == "review":
        lists = review_lists(db, url, clients)
    elif kind == "webhook":
        fresh = iter(webhook_deliveries(db, url, False, 64, 2031))
        return [[next(fresh)]], lambda: [next(fresh)]
    else:
        raise SystemExit(f"bench.py: no capture for {kind}")
    return lists, lambda: lists[0]


def capture_kind(kind, db, url, clients, daemon_log=None):
    """Per client: the statements of one unit (a list per request), checked
    against client 0's, which is taken when two captures in a row agree (a
    background job's statement in the window makes a capture differ).
    Returns them, the requests of client 0's template, and `more`."""
    lists, more = capture_lists(kind, db, url, clients)
    caps = []
    quiesce(db)
    with StatementLog(db, daemon_log) as log:
        # Warm: every pooled connection prepares what it runs once.
        for _ in range(3):
            for r in more():
                r.send(url)
        template, prev = None, None
        for _ in range(8):
            unit = more()
            cap = log.capture(url, unit)
            bad = [st for st, _ in cap if not 200 <= st < 300]
            if bad:
                raise RuntimeError(f"{kind}: the daemon answered {bad} while captured")
            seq = [texts(s) for _, s in cap]
            if seq == prev:
                template = (cap, unit)
                break
            prev = seq
        if template is None:
            raise RuntimeError(f"{kind}: no two captures of one request agreed")
        caps.append([s for _, s in template[0]])
        for c in range(1, clients):
            for _ in range(6):
                cap = log.capture(url, lists[c])
                if [texts(s) for _, s in cap] == prev:
                    caps.append([s for _, s in cap])
                    break
            else:
                got = [texts(s) for _, s in cap]
                raise RuntimeError(f"{kind}: client {c}'s statements differ from"
                                   f" client 0's: {got} != {prev}")
    return caps, template[1], more


def stat_statements_check(db, url, more, template, k=20, others=False):
    """pg_stat_statements' calls per unit over k units of client 0, next to
    what the statement log showed for one (per query id).  others: the
    daemon runs statements of its own because of the unit (a delivery's
    worker applies it after the answer); they are counted apart."""
    psql(db, "SELECT pg_stat_statements_reset()")
    for _ in range(k):
        for r in more():
            r.send(url)
    rows = psql(db, "SELECT queryid, query, calls FROM pg_stat_statements s"
                " JOIN pg_database d ON d.oid = s.dbid AND d.datname ="
                " current_database() JOIN pg_roles u ON u.oid = s.userid")
    seen = collections.Counter()
    for qid, q, calls in rows:
        n = round(int(calls) / k)
        if n and "pg_stat_statements" not in q:
            seen[qid] += n
    # Utility statements (BEGIN, COMMIT) have no query id in the log, and
    # PostgreSQL 15's pg_stat_statements does not count them when they come
    # as prepared statements: they are left out on both sides.
    want = collections.Counter()
    for stmts in template:
        for s in stmts:
            if s["query_id"] not in ("0", ""):
                want[s["query_id"]] += 1
    texts_of = {qid: q for qid, q, _ in rows}
    diff = {texts_of.get(q, q)[:80]: (want.get(q, 0), seen.get(q, 0))
            for q in set(want) | set(seen) if want.get(q, 0) != seen.get(q, 0)
            and not (others and want.get(q, 0) == 0)}
    if others:
        seen = collections.Counter({q: n for q, n in seen.items() if q in want})
    return sum(want.values()), sum(seen.values()), diff


# -- pgbench ---------------------------------------------------------------------

def pg_literal_for_pgbench(lit):
    """A string literal whose text has ':' before a name (pgbench would take
    it for a variable) as the same constant in Unicode-escape form."""
    inner = lit[1:-1]
    if not re.search(r":[A-Za-z_\x80-\uffff]", inner):
        return lit
    inner = inner.replace("\\", "\\\\").replace(":", "\\003A")
    return "U&'" + inner + "'"


def pgbench_sql(sql, params, prefix, variables, rename=None, end=";"):
    """The statement for a pgbench script: $n becomes :<prefix>_n (its value
    in variables), or NULL when it was NULL, or :name when its value is one
    rename maps to name; literals with ':' are escaped."""
    rename = rename or {}
    out, i, n = [], 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch == "'":
            if i > 0 and sql[i - 1] in "eE" and (i < 2 or not sql[i - 2].isalnum()):
                raise RuntimeError(f"E'' literal in {sql[:80]!r}")
            j = i + 1
            while j < n:
                if sql[j] == "'" and j + 1 < n and sql[j + 1] == "'":
                    j += 2
                elif sql[j] == "'":
                    break
                else:
                    j += 1
            out.append(pg_literal_for_pgbench(sql[i:j + 1]))
            i = j + 1
        elif ch == '"':
            j = sql.index('"', i + 1)
            out.append(sql[i:j + 1])
            i = j + 1
        elif ch == "$" and i + 1 < n and sql[i + 1].isdigit():
            j = i + 1
            while j < n and sql[j].isdigit():
                j += 1
            k = int(sql[i + 1:j])
            if k not in params:
                raise RuntimeError(f"${k} without a value in {sql[:80]!r}")
            if params[k] is None:
                out.append("NULL")
            elif params[k] in rename:
                out.append(":" + rename[params[k]])
            else:
                name = f"{prefix}_{k}"
                variables[name] = params[k]
                out.append(":" + name)
            i = j
        elif ch == "$":
            m = re.match(r"\$([A-Za-z_][A-Za-z_0-9]*)?\$", sql[i:])
            if not m:
                out.append(ch)
                i += 1
                continue
            tag = m.group(0)
            j = sql.index(tag, i + len(tag)) + len(tag)
            if re.search(r":[A-Za-z_]", sql[i:j]):
                raise RuntimeError(f"':name' inside a dollar-quoted string: {sql[:80]!r}")
            out.append(sql[i:j])
            i = j
        elif ch == ":" and i + 1 < n and sql[i + 1] == ":":
            out.append("::")
            i += 2
        elif ch == ":" and i + 1 < n and (sql[i + 1].isalpha() or sql[i + 1] == "_"):
            raise RuntimeError(f"':name' outside a literal in {sql[:80]!r}")
        else:
            out.append(ch)
            i += 1
    text = "".join(out).strip().rstrip(";")
    return text.replace("\n", " ") + end


def pgbench_script(unit, rename=None, gset=None, head=""):
    """(script text, variables) of one unit: every request's statements;
    statement k (from 1) in gset ends in `\\gset <gset[k]>` instead of ';'."""
    lines, variables, k = [], {}, 0
    for stmts in unit:
        for s in stmts:
            k += 1
            end = f" \\gset {gset[k]}" if gset and k in gset else ";"
            lines.append(pgbench_sql(s["sql"], s["params"], f"s{k}", variables,
                                     rename, end))
    return head + "\n".join(lines) + "\n", variables


def webhook_rename(db, unit, stmts):
    """A captured delivery's own values, to vary in pgbench: its delivery id
    and content key (unique per delivery: one random number each
    transaction), the issue's updated_at (later each time, and later than
    the deliveries of the phases, so the issue row is written as a newer
    hint writes it), and the id of the row the
    delivery's INSERT ... RETURNING made (that statement's \\gset gives it)."""
    r = unit[0]
    body = json.loads(r.body)
    did = r.headers["X-Gitea-Delivery"]
    etype = r.headers["X-Gitea-Event-Type"]
    key = hashlib.sha256(etype.encode() + b"\n" + r.body).hexdigest()
    when = body["issue"]["updated_at"]
    # The log shows a parameter of a known type as PostgreSQL prints it
    # (timestamptz in the daemon's UTC session), not as it was sent.
    rename = {did: "did", key: "did", when: "bench_ts",
              when.replace("T", " ").replace("Z", "+00"): "bench_ts"}
    rows = psql(db, f"SELECT id FROM webhook_deliveries WHERE delivery_id = '{did}'")
    gset = {}
    if rows:
        rename[rows[0][0]] = "wd_id"
        for k, st in enumerate(stmts[0], 1):
            if did in st["params"].values() and re.search(r"RETURNING\s+id\s*;?\s*$",
                                                          st["sql"], re.I):
                gset[k] = "wd_"
    head = ("\\set did random(1, 9000000000000000000)\n"
            "SELECT (clock_timestamp() + interval '100 years')::text AS bench_ts"
            " \\gset\n")
    return rename, gset, head


def load_captures(a):
    """The captured SQL of a.kind (kept in the work folder: captured once per
    kind and database, for every client count)."""
    kind = "webhook" if a.kind.startswith("webhook") else a.kind
    cache = work(f"capture-{kind}-{a.db}.json")
    if os.path.exists(cache):
        with open(cache) as f:
            caps = json.load(f)
        if len(caps["units"]) >= a.clients or kind == "webhook":
            return caps
    units, template, more = capture_kind(kind, a.db, a.url, 1 if kind == "webhook"
                                         else max(a.clients, a.capture),
                                         a.log)
    want, seen, diff = stat_statements_check(a.db, a.url, more,
                                             [[dict(s) for s in st] for st in units[0]],
                                             others=kind == "webhook")
    caps = {"units": units, "pgss": {"log": want, "pg_stat_statements": seen,
                                     "differ": diff}}
    if kind == "webhook":
        rename, gset, head = webhook_rename(a.db, template, units[0])
        caps["webhook"] = {"rename": rename, "gset": gset, "head": head}
    for unit in units:
        for stmts in unit:
            for s in stmts:
                s["params"] = {str(k): v for k, v in s["params"].items()}
    with open(cache, "w") as f:
        json.dump(caps, f)
    say(f"captured {kind}: {[len(s) for s in units[0]]} statements per request"
        f" (pg_stat_statements: {seen} per unit with a query id"
        f"{', differs: ' + json.dumps(diff) if diff else ''})")
    return caps


def cmd_pgbench(a):
    """pgbench on the captured SQL: a process per client (each with its own
    agent's values, -c 1), or for webhooks one process of a.clients
    connections at BENCH_RATE transactions a second (-R)."""
    secs, warm = float(env("BENCH_SECS")), float(env("BENCH_WARM"))
    caps = load_captures(a)
    opts = session_options()
    if opts is None:
        raise RuntimeError("the daemon's session set-up is not in the statement log")
    penv = {**os.environ, "PGOPTIONS": opts}
    quiesce(a.db)
    procs, logs = [], []
    tdir = work(f"pgbench-{a.kind}-{a.clients}")
    os.makedirs(tdir, exist_ok=True)
    webhook = a.kind.startswith("webhook")
    for c in range(1 if webhook else a.clients):
        unit = [[dict(s, params={int(k): v for k, v in s["params"].items()})
                 for s in stmts] for stmts in caps["units"][c]]
        if webhook:
            w = caps["webhook"]
            script, variables = pgbench_script(unit, w["rename"],
                                               {int(k): v for k, v in w["gset"].items()},
                                               w["head"])
            conn = ["-c", str(a.clients), "-j", "2", "-R", env("BENCH_RATE")]
        else:
            script, variables = pgbench_script(unit)
            conn = ["-c", "1", "-j", "1"]
        sf = os.path.join(tdir, f"client{c}.sql")
        with open(sf, "w") as f:
            f.write(script)
        argv = [os.path.join(env("BENCH_PGBIN"), "pgbench"), "-n", "-M", "prepared",
                "-h", env("BENCH_PGHOST"), "-p", env("BENCH_PGPORT"), "-U", "postgres",
                *conn, "-T", str(int(math.ceil(warm + secs + 0.3))),
                "-f", sf, "-l", "--log-prefix", os.path.join(tdir, f"log{c}")]
        for k, v in variables.items():
            argv += ["-D", f"{k}={v}"]
        argv.append(a.db)
        logs.append(os.path.join(tdir, f"log{c}"))
        procs.append(subprocess.Popen(argv, stdout=subprocess.PIPE, env=penv,
                                      stderr=subprocess.PIPE, text=True))
    t0 = time.time()
    failed = []
    for p in procs:
        out, err = p.communicate(timeout=warm + secs + 120)
        if p.returncode != 0 or "aborted" in out + err:
            failed.append((err or out).strip()[-500:])
    w0, w1 = t0 + warm + 0.1, t0 + warm + 0.1 + secs
    lat, aborted = [], 0
    for lp in logs:
        for fn in os.listdir(tdir):
            if not fn.startswith(os.path.basename(lp) + "."):
                continue
            with open(os.path.join(tdir, fn)) as f:
                for line in f:
                    x = line.split()
                    if len(x) < 6:
                        continue
                    end = int(x[4]) + int(x[5]) / 1e6
                    if x[2] == "failed" or x[2] == "skipped":
                        aborted += 1
                    elif w0 <= end <= w1:
                        lat.append(int(x[2]))
    lat.sort()

    def pct(q):
        return lat[max(0, math.ceil(q * len(lat)) - 1)] / 1000.0 if lat else 0.0

    rec = {"type": "pgbench", "kind": a.kind, "clients": a.clients,
           "tps": len(lat) / secs, "p50_ms": pct(0.5), "p99_ms": pct(0.99),
           "errors": aborted + len(failed), "failed": failed[:3],
           "statements": [len(s) for s in caps["units"][0]], "pgss": caps["pgss"],
           "pgoptions": opts, "rate": float(env("BENCH_RATE")) if webhook else None}
    record(rec)
    say(f"pgbench {a.kind} x{a.clients}: {rec['tps']:.1f}/s p50 {rec['p50_ms']:.2f} ms"
        f" p99 {rec['p99_ms']:.2f} ms{' FAILED: ' + failed[0] if failed else ''}")


# -- set-up of the review world; the reconciliation; RSS -------------------------

def admin_req(method, path, url, body=None):
    h = {"Authorization": "Bearer " + env("BENCH_ADMIN"), "Accept": "application/json"}
    data = b""
    if body is not None:
        h["Content-Type"] = "application/json"
        data = json.dumps(body).encode()
    return Req(method, path, h, data, host=url)


def expect(what, status, body, ok=(200, 201)):
    if status not in ok:
        raise RuntimeError(f"{what}: {status} {body[:300]!r}")
    return json.loads(body)


def cmd_review_setup(a):
    """Review agents registered, approved (their Gitea users made in the
    emulator) and members of the review project; their keys kept in
    review.json for the review phases."""
    keys = []
    for c in range(a.clients):
        name = f"rev-{c:04d}"
        st, body = Req("POST", "/api/v1/agents", {"Content-Type": "application/json"},
                       json.dumps({"name": name, "description": "bench reviewer"}).encode(),
                       host=a.url).send(a.url)
        key = expect(f"register {name}", st, body)["data"]["api_key"]
        st, body = admin_req("POST", f"/api/v1/admin/agents/{name}/approve", a.url).send(a.url)
        expect(f"approve {name}", st, body)
        st, body = agent_req("POST", f"/api/v1/projects/{a.owner}/{a.repo}/join", key,
                             a.url).send(a.url)
        expect(f"join {name}", st, body)
        keys.append(key)
    rv = {"owner": a.owner, "repo": a.repo, "number": a.number, "keys": keys}
    with open(work("review.json"), "w") as f:
        json.dump(rv, f)
    # One review first: is the PR there and reviewable?  Then one more, to
    # count the Gitea calls a review makes (the emulator records them).
    st, body = review_lists(None, a.url, 1)[0][0].send(a.url)
    expect("a first review", st, body)
    gurl = a.gitea.split("//", 1)[-1]
    Req("POST", "/_emulator/requests", {"Content-Type": "application/json"},
        b'{"clear": true}', host=gurl).send(gurl)
    st, body = review_lists(None, a.url, 1)[0][0].send(a.url)
    expect("a review", st, body)
    st, body = Req("GET", "/_emulator/requests", host=gurl).send(gurl)
    calls = [f"{c['method']} {c['path'].split('?')[0]}" for c in json.loads(body)
             if not c["path"].startswith("/api/v1/version")]
    record({"type": "gitea-calls", "kind": "review", "calls": calls})
    say(f"{a.clients} review agents on {a.owner}/{a.repo}#{a.number}; a review makes"
        f" {len(calls)} Gitea calls: {', '.join(calls)}")


def cmd_sync(a):
    """The reconciliation the daemon ran at start (full), then one asked for
    now (quiet), as the daemon answered them."""
    for _ in range(600):
        rows = psql(a.db, "SELECT outcome, projects, items, gitea_calls, error"
                    " FROM sync_runs ORDER BY started_at LIMIT 1")
        if rows and rows[0][0] != "running":
            break
        time.sleep(0.5)
    else:
        raise RuntimeError("the first reconciliation did not finish")
    full = rows[0]
    if full[0] != "ok":
        raise RuntimeError(f"the first reconciliation failed: {full[4]}")
    t = time.time()
    st, body = admin_req("POST", "/api/v1/admin/sync", a.url).send(a.url, timeout=600)
    quiet = expect("POST /api/v1/admin/sync", st, body)["data"]
    rec = {"type": "sync", "repos": a.repos,
           "full": {"projects": int(full[1]), "items": int(full[2]),
                    "gitea_calls": int(full[3])},
           "quiet": {"projects": quiet["projects"], "items": quiet["items"],
                     "gitea_calls": quiet["gitea_calls"], "seconds": time.time() - t}}
    record(rec)
    say(f"reconciliation of {a.repos} repositories: full {rec['full']}, quiet {rec['quiet']}")


def cmd_rss(a):
    kb = None
    with open(f"/proc/{a.pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                kb = int(line.split()[1])
    record({"type": "rss", "label": a.label, "vmhwm_kb": kb})
    say(f"peak RSS of synstackd ({a.label}): {kb / 1024:.1f} MB")


def cmd_check_keys(a):
    want = hashlib.sha256(driver_key(0).encode()).hexdigest()
    rows = psql(a.db, "SELECT api_key_hash FROM agents WHERE name = 'drv-0000'")
    if not rows or rows[0][0] != want:
        sys.exit("bench.py: drv-0000's stored key hash is not the one of its key")


# -- the table ---------------------------------------------------------------

KIND_NAMES = {"feed": "feed", "claim": "claim + abandon", "review": "review",
              "webhook-one": "webhook, one repository",
              "webhook-spread": "webhook, spread"}


def fnum(v, fmt="{:.1f}"):
    return "—" if v is None else fmt.format(v)


def cmd_table(a):
    recs = []
    if os.path.exists(work("results.jsonl")):
        with open(work("results.jsonl")) as f:
            recs = [json.loads(line) for line in f if line.strip()]
    loads = {(r["kind"], r["clients"], r.get("instance")): r for r in recs
             if r["type"] == "load"}
    pgb = {(r["kind"], r["clients"]): r for r in recs if r["type"] == "pgbench"}
    out = ["| request | clients | req/s | p50 ms | p99 ms | pgbench tx/s | ratio to pgbench |"
           " pgbench p50 ms | pgbench p99 ms | round trips/request | errors |",
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |"]
    problems = []
    for kind in KIND_NAMES:
        for clients in sorted({k[1] for k in loads if k[0] == kind and k[2] is None}):
            r = loads[(kind, clients, None)]
            p = pgb.get((kind, clients))
            if p and p["tps"] > 0 and kind.startswith("webhook"):
                pg = (f"{p['tps']:.0f} of {p['rate']:.0f} | n/a (fixed rate) |"
                      f" {p['p50_ms']:.2f} | {p['p99_ms']:.2f}")
            elif p and p["tps"] > 0:
                pg = (f"{p['tps']:.0f} | {r['rate'] / p['tps']:.2f} | {p['p50_ms']:.2f} |"
                      f" {p['p99_ms']:.2f}")
            elif kind.startswith("webhook"):
                pg = "— | n/a (fixed rate) | — | —"
            else:
                pg = "— | — | — | —"
            if p and p["errors"]:
                problems.append(f"pgbench {kind} x{clients}: {p['errors']} failed: {p['failed']}")
            t = r["round_trips"]
            if kind == "claim":
                trips = (f"{t.get('claim', 0) + t.get('abandon', 0):.1f}"
                         f" ({t.get('claim', 0):.1f} + {t.get('abandon', 0):.1f})")
            else:
                route = "webhook" if kind.startswith("webhook") else kind
                trips = f"{t.get(route, 0):.1f}"
            rate = f"{r['rate']:.0f}"
            if r.get("offered_rate"):
                rate += f" of {r['offered_rate']:.0f}"
            out.append(f"| {KIND_NAMES[kind]} | {clients} | {rate} | {r['p50_ms']:.2f} |"
                       f" {r['p99_ms']:.2f} | {pg} | {trips} | {r['errors']} |")
            if r["errors"]:
                problems.append(f"{kind} x{clients}: {r['errors']} errors ({r['statuses']})")
    out.append("")
    rss = [r for r in recs if r["type"] == "rss"]
    for r in rss:
        out.append(f"- peak RSS of synstackd ({r['label']}): "
                   f"{r['vmhwm_kb'] / 1024:.1f} MB (VmHWM)")
    flat = {k[2]: v for k, v in loads.items() if k[0] == "feed" and k[1] == 1 and k[2]}
    main1 = loads.get(("feed", 1, None))
    if flat or main1:
        parts = []
        def size(label):
            return int(label[:-1]) * 1000 if label.endswith("k") else int(label)
        for label in sorted(flat, key=size):
            parts.append(f"{label} issues {flat[label]['p50_ms']:.2f} ms")
        if main1 and a.main_label:
            parts.append(f"{a.main_label} issues {main1['p50_ms']:.2f} ms")
        out.append("- feed p50, 1 client, by instance size: " + ", ".join(parts))
    for r in [r for r in recs if r["type"] == "sync"]:
        q, fu, n = r["quiet"], r["full"], r["repos"]
        out.append(f"- quiet reconciliation of {q['projects']} repositories: {q['gitea_calls']}"
                   f" Gitea calls (1 + 2 x repositories = {1 + 2 * n}), {q['items']} changed"
                   f" items, {q['seconds']:.1f} s; the full one before it:"
                   f" {fu['gitea_calls']} calls, {fu['items']} items")
    for r in [r for r in recs if r["type"] == "gitea-calls"]:
        out.append(f"- a {r['kind']} makes {len(r['calls'])} Gitea calls:"
                   f" {', '.join(r['calls'])}")
    for r in [r for r in recs if r["type"] == "pgbench" and r["pgss"]["differ"]]:
        problems.append(f"{r['kind']}: pg_stat_statements and the statement log disagree:"
                        f" {r['pgss']['differ']}")
    out.append("- machine: " + machine())
    if problems:
        out.append("")
        out += ["- problem: " + p for p in dict.fromkeys(problems)]
    print("\n".join(out))


def machine():
    """nproc, the CPU model, RAM, kernel, PostgreSQL, the commit measured."""
    model, mem = "?", "?"
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f
                          if line.startswith("model name")), "?")
        with open("/proc/meminfo") as f:
            kb = next(int(line.split()[1]) for line in f if line.startswith("MemTotal"))
            mem = f"{kb / 1048576:.1f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    u = os.uname()
    pg = subprocess.run([os.path.join(env("BENCH_PGBIN"), "postgres"), "--version"],
                        capture_output=True, text=True).stdout.strip()
    rev = subprocess.run(["git", "-C", REPO, "describe", "--always", "--dirty"],
                         capture_output=True, text=True).stdout.strip() or "?"
    return (f"{os.cpu_count()} CPUs ({model}), {mem}, {u.sysname} {u.release},"
            f" {pg}; synstack {rev}")


def main():
    p = argparse.ArgumentParser(prog="bench.py")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("check-keys")
    s.add_argument("--db", required=True)
    s = sub.add_parser("statement-log")
    s.add_argument("state", choices=("on", "off"))
    s.add_argument("--db", required=True)
    s = sub.add_parser("load")
    s.add_argument("kind")
    s.add_argument("--db", required=True)
    s.add_argument("--url", required=True)
    s.add_argument("--log", required=True)
    s.add_argument("--clients", type=int, default=1)
    s.add_argument("--instance")
    s = sub.add_parser("pgbench")
    s.add_argument("kind")
    s.add_argument("--db", required=True)
    s.add_argument("--url", required=True)
    s.add_argument("--log", help="the daemon's log: a request's statements"
                   " are the first db= of its capture window")
    s.add_argument("--clients", type=int, default=1)
    s.add_argument("--capture", type=int, default=1,
                   help="clients to capture the SQL of at the first run")
    s = sub.add_parser("review-setup")
    s.add_argument("--url", required=True)
    s.add_argument("--clients", type=int, default=16)
    s.add_argument("--owner", required=True)
    s.add_argument("--repo", required=True)
    s.add_argument("--number", type=int, required=True)
    s.add_argument("--gitea", required=True, help="the emulator's URL")
    s = sub.add_parser("sync")
    s.add_argument("--db", required=True)
    s.add_argument("--url", required=True)
    s.add_argument("--repos", type=int, required=True)
    s = sub.add_parser("rss")
    s.add_argument("--pid", required=True)
    s.add_argument("--label", required=True)
    s = sub.add_parser("table")
    s.add_argument("--main-label")
    a = p.parse_args()
    {"check-keys": cmd_check_keys, "statement-log": cmd_statement_log, "load": cmd_load, "pgbench": cmd_pgbench,
     "review-setup": cmd_review_setup, "sync": cmd_sync, "rss": cmd_rss,
     "table": cmd_table}[a.cmd](a)


if __name__ == "__main__":
    main()
