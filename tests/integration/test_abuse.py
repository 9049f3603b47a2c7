"""Hostile clients and faults (issue 11): every request gets an answer;
clients that trickle requests in cannot starve the others; thousands of
malformed requests to every route get no 5xx; PostgreSQL stopped and
started mid-load costs errors only while it is down; Gitea stalling past
gitea.timeout slows only the requests that need it; /healthz sees a Gitea
outage as soon as a call fails.  (SIGKILL in a webhook burst is
test_webhooks.py's test_sigkill_in_a_burst_loses_nothing.)"""

import json
import random
import resource
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest
import requests

from conftest import assert_error, assert_ok, parse_response, wait_for
from mirror_helpers import metrics, wait_startup_sync
from test_work import W, act, start_world


def raw_request(port, data, source=None, timeout=10):
    """Sends bytes, reads the answer's head: (status or None, seconds)."""
    t0 = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                 source_address=(source, 0) if source else None)
    try:
        s.sendall(data)
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    finally:
        s.close()
    status, _, _ = parse_response(buf)
    return status, time.monotonic() - t0


# -- every request gets an answer -------------------------------------------------

def test_too_many_query_parameters_or_headers_and_no_host_are_answered(daemon):
    d = daemon()
    for n, want in ((64, 200), (65, 414), (1000, 414), (20000, 414)):
        q = "&".join(f"a{i}=b" for i in range(n))
        status, took = raw_request(d.port, f"GET /healthz?{q} HTTP/1.1\r\nHost: x\r\n\r\n"
                                   .encode())
        assert (status, took < 2) == (want, True), (n, status, took)
    for n, want in ((90, 200), (101, 431), (1000, 431), (20000, 431)):
        h = "".join(f"X-H{i}: v\r\n" for i in range(n))
        status, took = raw_request(d.port, f"GET /healthz HTTP/1.1\r\nHost: x\r\n{h}\r\n"
                                   .encode())
        assert (status, took < 2) == (want, True), (n, status, took)
    # HTTP/1.1 needs a Host; HTTP/1.0 does not.
    assert raw_request(d.port, b"GET /healthz HTTP/1.1\r\n\r\n")[0] == 400
    assert raw_request(d.port, b"GET /healthz HTTP/1.0\r\n\r\n")[0] == 200
    assert d.alive()


def test_an_oversized_body_is_answered_413_to_a_client_still_writing(daemon):
    """Python's urllib writes the whole body before it reads: it must read
    the 413, not a broken pipe."""
    d = daemon()
    body = json.dumps({"name": "x" * (3 * 1024 * 1024)}).encode()     # 1 MiB cap
    req = urllib.request.Request(d.base + "/api/v1/agents", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(req, timeout=20)
    assert exc.value.code == 413
    assert json.loads(exc.value.read())["error"]["code"] == "body_too_large"
    # Told first (Expect: 100-continue), the client sends nothing.
    status, _ = raw_request(d.port, b"POST /api/v1/agents HTTP/1.1\r\nHost: x\r\n"
                            b"Content-Type: application/json\r\nContent-Length: 9999999\r\n"
                            b"Expect: 100-continue\r\n\r\n")
    assert status == 413
    assert d.get("/healthz").status_code == 200


def test_healthz_sees_a_gitea_outage_within_a_second_of_a_failed_call(gitea_factory, daemon):
    emu = gitea_factory()
    d = daemon(conf={"gitea.url": emu.url, "sync.interval": "1h"})
    # The reconciliation every daemon runs at start holds the lock a
    # requested one needs: it is over first.
    wait_startup_sync(d)
    assert d.get("/healthz").json()["gitea"]["ok"] is True
    emu.faults("500", seconds=5)
    assert_error(d.admin_post("/api/v1/admin/sync"), 502, "gitea_unavailable")
    t0 = time.monotonic()
    h = wait_for(lambda: (lambda j: j if j["status"] == "degraded" else None)(
        d.get("/healthz").json()), timeout=1, interval=0.05,
        what="/healthz to say Gitea is down")
    assert h["gitea"]["ok"] is False and h["gitea"]["error"], h
    assert time.monotonic() - t0 < 1
    # Back: seen within a couple of seconds (probed every second while down).
    wait_for(lambda: d.get("/healthz").json()["status"] == "ok", timeout=10,
             what="/healthz to see Gitea back")


# -- slow clients --------------------------------------------------------------------

def raise_open_files():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < min(hard, 8192):
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))


class Trickle:
    """Connections that send a request one byte a second, from several
    loopback addresses, opened again whenever the daemon closes one."""

    def __init__(self, port, addresses, per_address):
        self.port = port
        self.slots = [f"127.0.0.{2 + a}" for a in range(addresses)
                      for _ in range(per_address)]
        self.socks = [None] * len(self.slots)
        self.reopened = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def open(self, i):
        s = socket.socket()
        s.settimeout(2)
        try:
            s.bind((self.slots[i], 0))
            s.connect(("127.0.0.1", self.port))
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            self.socks[i] = s
        except OSError:
            s.close()
            self.socks[i] = None

    def run(self):
        while not self.stop.is_set():
            t0 = time.monotonic()
            for i, s in enumerate(self.socks):
                if s is None:
                    self.open(i)
                    continue
                try:
                    s.sendall(b"X")
                except OSError:
                    s.close()
                    self.reopened += 1
                    self.open(i)
            self.stop.wait(max(0.0, 1.0 - (time.monotonic() - t0)))
        for s in self.socks:
            if s is not None:
                s.close()

    def start(self):
        for i in range(len(self.socks)):
            self.open(i)
        self.thread.start()

    def open_now(self):
        return sum(1 for s in self.socks if s is not None)

    def finish(self):
        self.stop.set()
        self.thread.join(30)


def test_600_trickling_connections_do_not_starve_the_api(daemon):
    raise_open_files()
    d = daemon(conf={"http.request_timeout": "4s"})
    _, key = d.new_agent(status="active")
    trickle = Trickle(d.port, addresses=12, per_address=50)
    trickle.start()
    try:
        assert trickle.open_now() == 600
        # Accepting them is not what is measured (a thread each: slow
        # under ASan on a busy machine; and each is cut at its deadline and
        # opened again, so a few are always between two); serving the API
        # while it holds them is.
        wait_for(lambda: metrics(d)["synstack_http_connections"] >= 540, timeout=30,
                 what="the daemon to hold the trickling connections")
        slow, served = [], 0
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            for path, headers in (("/healthz", {}),
                                  ("/api/v1/feed", {"Authorization": "Bearer " + key})):
                t0 = time.monotonic()
                try:
                    r = requests.get(d.base + path, headers=headers, timeout=5)
                    took, status = time.monotonic() - t0, r.status_code
                except requests.RequestException as exc:
                    took, status = time.monotonic() - t0, repr(exc)
                served += 1
                if status != 200 or took >= 1:
                    slow.append((path, status, round(took, 3)))
            time.sleep(0.1)
        assert served > 50 and not slow, f"{len(slow)} of {served}: {slow[:5]}"
        # Trickling requests were cut at their deadline, and came back.
        assert metrics(d)["synstack_http_connections_cut_total"] >= 600
        assert trickle.reopened >= 600
    finally:
        trickle.finish()
    assert d.alive()


# -- malformed requests to every route --------------------------------------------------

JUNK_SEGMENTS = ["", "..", "%00", "%2e%2e", "a" * 300, "\u00e9t\u00e9", "-1", "0",
                 "99999999999", "acme", "widgets", "1", "%ff%fe", "a/b", "{owner}", "*"]
JUNK_BODIES = [b"", b"{", b"[]", b"null", b"1e999", b'"x"', b"{\"a\":" * 200,
               b"\xff\xfe\x00", b'{"command": 5}', b'{"name": null}',
               b'{"branch": "' + b"b" * 5000 + b'"}', b'{"verdict": "approve", "x": 1}',
               b'{"value": "\\ud800"}', b'{"a": 1, "a": 2}']
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "BREW"]


def test_thousands_of_malformed_requests_get_no_5xx(gitea_factory, daemon):
    emu, d = start_world(gitea_factory, daemon)
    _, key = d.new_agent(status="active")
    doc = d.get("/api/v1/openapi.json").json()
    routes = [(m.upper(), path) for path, ops in doc["paths"].items() for m in ops
              if m in ("get", "post", "put", "patch", "delete")]
    routes += [("GET", "/healthz"), ("GET", "/metrics"), ("POST", "/mcp"),
               ("POST", "/hooks/gitea"), ("GET", "/"), ("GET", "/p/x/y")]
    auths = [None, "Bearer " + key, "Bearer " + d.token, "Bearer ssk_" + "A" * 43, "Basic eA==",
             "Bearer " + "x" * 600]
    ctypes = [None, "application/json", "application/json; charset=utf-8", "text/plain",
              "application/x-www-form-urlencoded", "application/json\x7f"]
    rng = random.Random(11)
    bad, counts = [], {}
    session = requests.Session()
    for i in range(5000):
        method, pattern = rng.choice(routes)
        if rng.random() < 0.2:
            method = rng.choice(METHODS)
        path = "/" + "/".join(rng.choice(JUNK_SEGMENTS) if seg.startswith("{") or
                              rng.random() < 0.1 else seg
                              for seg in pattern.split("/")[1:])
        if rng.random() < 0.2:
            path += "?" + "&".join(f"{rng.choice(['limit', 'status', 'command', 'x'])}="
                                   f"{rng.choice(['', '-1', '1e3', 'pending', '%00', 'a' * 50])}"
                                   for _ in range(rng.randint(1, 5)))
        headers = {}
        if (a := rng.choice(auths)) is not None:
            headers["Authorization"] = a
        if (c := rng.choice(ctypes)) is not None:
            headers["Content-Type"] = c
        body = rng.choice(JUNK_BODIES) if rng.random() < 0.8 else \
            json.dumps({"command": rng.choice(["feed", "work-on 1", "review x y z", "join a/b",
                                               "submit ../x", "details 0"])}).encode()
        try:
            r = session.request(method, d.base + path, headers=headers, data=body, timeout=20)
            status = r.status_code
        except requests.RequestException as exc:
            status = repr(exc)
        counts[status] = counts.get(status, 0) + 1
        if not isinstance(status, int) or status >= 500:
            bad.append((method, path[:80], headers, body[:40], status))
    assert not bad, f"{len(bad)} bad answers, e.g. {str(bad[:3])[:2000]}"
    # Most reached a handler, past routing and authentication.
    reached = sum(n for k, n in counts.items() if k not in (404, 405, 401))
    assert reached > 500, counts
    assert d.alive() and d.get("/healthz").status_code == 200


# -- PostgreSQL stopped and started under load ---------------------------------------------

def test_postgres_stopped_and_started_mid_load(daemon, pg):
    d = daemon(conf={"database.connect_timeout": "1s", "database.acquire_timeout": "1s"})
    _, key = d.new_agent(status="active")
    errors, stop = [], threading.Event()
    lock = threading.Lock()

    def load():
        s = requests.Session()
        while not stop.is_set():
            for method, path, kw in (("GET", "/api/v1/feed", {}), ("GET", "/api/v1/my-work", {}),
                                     ("POST", "/api/v1/act", {"json": {"command": "help"}})):
                try:
                    r = s.request(method, d.base + path, timeout=10,
                                  headers={"Authorization": "Bearer " + key}, **kw)
                    ok = r.status_code < 500
                    code = r.status_code
                except requests.RequestException as exc:
                    ok, code = False, repr(exc)
                if not ok:
                    with lock:
                        errors.append((time.monotonic(), code))
            time.sleep(0.02)

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        time.sleep(2)
        assert not errors, errors[:3]
        down = time.monotonic()
        pg.stop()
        time.sleep(3)
        pg.start()
        up = time.monotonic()
        wait_for(lambda: d.get("/healthz").status_code == 200, timeout=15,
                 what="the database back in /healthz")
        back = time.monotonic()
        time.sleep(10)          # load with PostgreSQL back
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert errors, "no request failed while PostgreSQL was down: the test did not bite"
    late = [e for e in errors if not down <= e[0] <= back + 1]
    assert not late, f"errors outside the outage ({up - down:.1f}s): {late[:5]}"
    assert d.alive()


# -- Gitea stalling ----------------------------------------------------------------------------

def test_gitea_stalling_holds_up_only_the_requests_that_need_it(gitea_factory, daemon):
    emu, d = start_world(gitea_factory, daemon, conf={"gitea.timeout": "1s"})
    _, key = d.new_agent(status="active")
    assert_ok(act(d, key, f"join {W}"))
    emu.faults("stall", seconds=12, stall=5)
    stop = threading.Event()
    stalled = []

    def needs_gitea():
        while not stop.is_set():
            t0 = time.monotonic()
            r = act(d, key, f"pr {W}#5", timeout=30)     # reads the PR from Gitea
            stalled.append((r.status_code, time.monotonic() - t0))

    threads = [threading.Thread(target=needs_gitea) for _ in range(8)]
    for t in threads:
        t.start()
    try:
        slow = []
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            for path in ("/healthz", "/api/v1/feed", "/api/v1/my-work"):
                t0 = time.monotonic()
                r = d.get(path, headers={"Authorization": "Bearer " + key}, timeout=10)
                took = time.monotonic() - t0
                if r.status_code != 200 or took >= 1:
                    slow.append((path, r.status_code, round(took, 2)))
            time.sleep(0.1)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert not slow, slow[:5]
    # The Gitea-bound ones did wait on Gitea, and answered (from what we have).
    assert stalled and max(t for _, t in stalled) >= 1, stalled
    assert all(s < 500 or s in (502, 503) for s, _ in stalled), stalled
    assert d.alive()
