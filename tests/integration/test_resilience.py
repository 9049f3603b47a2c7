"""PostgreSQL going away and coming back, SIGHUP reloads, SIGTERM drain."""

import json
import os
import re
import signal
import socket
import time

import requests

from conftest import assert_error, assert_ok, new_token, sha256_hex, unique_name, \
    wait_for, parse_response


def healthz(d):
    try:
        return d.get("/healthz", timeout=5)
    except requests.RequestException:
        return None


def metric(d, name):
    txt = d.get("/metrics").text
    m = re.search(r"^" + re.escape(name) + r"(?:\{\})? (\S+)$", txt, re.M)
    return float(m.group(1)) if m else None


# ---------------------------------------------------------------- PostgreSQL

def test_postgres_down_and_back(daemon, pg):
    d = daemon()
    assert_ok(d.register(), 201)
    problems = []
    pg.stop()
    try:
        r = wait_for(lambda: (lambda x: x if x is not None and x.status_code == 503 else None)(
            healthz(d)), timeout=15, what="/healthz 503 while PostgreSQL is down")
        body = r.json()
        assert body.get("status") == "unavailable", body
        assert body["database"]["ok"] is False, body
        assert d.alive()
        # a request that needs the database says so, it does not hang or 500
        t0 = time.monotonic()
        reg = d.register()
        if reg.status_code != 503 or reg.json().get("error", {}).get("code") != "database_unavailable":
            problems.append(f"register while down: {reg.status_code} {reg.text[:300]}")
        if time.monotonic() - t0 > 10:
            problems.append(f"register while down took {time.monotonic() - t0:.1f}s")
        up = metric(d, "synstack_db_up")
        if up != 0:
            problems.append(f"synstack_db_up while down: {up}")
    finally:
        pg.start()
    wait_for(lambda: (lambda x: x is not None and x.status_code == 200 and
                      x.json()["database"]["ok"] is True)(healthz(d)),
             timeout=10, what="/healthz 200 after PostgreSQL came back")
    # registration works again on the first try, no stale pooled connection
    for _ in range(5):
        assert_ok(d.register(), 201)
    a, key = d.new_agent(status="active")
    assert_ok(d.get("/api/v1/me", headers=d.agent_headers(key)))
    assert metric(d, "synstack_db_up") == 1
    assert d.alive()
    assert not problems, problems


def test_postgres_restart_is_invisible_after_a_moment(daemon, pg):
    d = daemon()
    keys = [d.new_agent(status="active")[1] for _ in range(3)]
    pg.restart()
    wait_for(lambda: (lambda x: x is not None and x.status_code == 200)(healthz(d)),
             timeout=10, what="/healthz 200 after a PostgreSQL restart")
    # every pooled connection was dropped by the restart: each request must
    # still succeed (reconnect and retry), not fail once per dead connection
    for i in range(12):
        r = d.get("/api/v1/me", headers=d.agent_headers(keys[i % 3]))
        assert r.status_code == 200, (i, r.status_code, r.text)
    assert_ok(d.register(), 201)


class PgProxy:
    """TCP in front of the test cluster's unix socket.  cut() kills every
    connection it carries the way a firewall or NAT that forgot them does:
    nothing tells either end, and the next bytes the daemon writes are
    answered with a reset.  Connections made after cut() are carried."""

    def __init__(self, pg):
        import threading
        self.target = os.path.join(pg.host, f".s.PGSQL.{pg.port}")
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.generation = 0
        self.carried = 0
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def dsn(self, db):
        return f"host=127.0.0.1 port={self.port} dbname={db} user=postgres"

    def _accept(self):
        import threading
        while True:
            try:
                client, _ = self.lsock.accept()
            except OSError:
                return
            server = socket.socket(socket.AF_UNIX)
            server.connect(self.target)
            with self.lock:
                self.carried += 1
                gen = self.generation
            threading.Thread(target=self._pump, args=(client, server, gen, True),
                             daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, gen, False),
                             daemon=True).start()

    def _pump(self, src, dst, gen, from_client):
        import struct
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if from_client and data and gen != self.generation:
                # Forgotten: reset the daemon's end, drop the server's.
                src.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                               struct.pack("ii", 1, 0))
                data = b""
            if not data:
                for s in (src, dst):
                    try:
                        s.close()
                    except OSError:
                        pass
                return
            try:
                dst.sendall(data)
            except OSError:
                return

    def cut(self):
        with self.lock:
            self.generation += 1

    def close(self):
        self.lsock.close()


def test_connections_dropped_unseen_are_reopened_by_the_statement_that_finds_them(daemon, pg):
    """Every pooled connection dies unseen while idle: each first statement
    on one (a transaction's BEGIN included) finds it dead, reconnects and
    runs; no request fails for it."""
    import threading
    proxy = PgProxy(pg)
    db = "synstack_" + os.urandom(8).hex()
    pg.createdb(db)
    try:
        d = daemon(db=db, conf={"database.url": proxy.dsn(db), "database.pool_size": 4,
                                "sync.interval": "1h"})
        # Open every connection of the pool at once.
        barrier = threading.Barrier(6)
        def burst():
            barrier.wait()
            for _ in range(3):
                assert_ok(d.register(), 201)
        threads = [threading.Thread(target=burst) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        before = proxy.carried
        assert before >= 4, before
        proxy.cut()
        # Transactions first: their BEGIN is the statement that finds a
        # connection dead; all at once, so that every pooled one is used.
        bad, lock = [], threading.Lock()
        barrier = threading.Barrier(6)
        def approve():
            barrier.wait()
            r = d.admin_post("/api/v1/admin/agents/nobody-here/approve")
            with lock:
                if r.status_code != 404:
                    bad.append((r.status_code, r.text[:200]))
        threads = [threading.Thread(target=approve) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        for i in range(4):
            for r in (d.register(), d.admin_get("/api/v1/admin/agents")):
                if r.status_code >= 500:
                    bad.append((i, r.status_code, r.text[:200]))
        assert not bad, bad
        assert proxy.carried > before        # connections were opened anew
    finally:
        proxy.close()


# ---------------------------------------------------------------- SIGHUP

def test_sighup_new_admin_token(daemon):
    old, new = new_token(), new_token()
    d = daemon(admin_tokens=[old])
    d.add_secret(new)
    assert_ok(d.get("/api/v1/admin/agents", headers=d.admin_headers(old)))
    assert d.get("/api/v1/admin/agents", headers=d.admin_headers(new)).status_code == 401
    d.write_config({"admin.token_hashes": ["sha256:" + sha256_hex(new)]})
    d.signal(signal.SIGHUP)
    wait_for(lambda: d.get("/api/v1/admin/agents", headers=d.admin_headers(new)).status_code == 200,
             timeout=5, what="the new admin token to work after SIGHUP")
    assert_error(d.get("/api/v1/admin/agents", headers=d.admin_headers(old)), 401, "unauthorized")
    assert d.alive()


def test_sighup_rate_limit(daemon):
    d = daemon(conf={"limits.register_per_hour": 2})
    assert_ok(d.register(), 201)
    assert_ok(d.register(), 201)
    assert_error(d.register(), 429, "rate_limited")
    d.write_config({"limits.register_per_hour": 20})
    d.signal(signal.SIGHUP)
    wait_for(lambda: d.register().status_code == 201, timeout=5,
             what="a registration after raising the limit with SIGHUP")
    # and down again
    d.write_config({"limits.register_per_hour": 1})
    d.signal(signal.SIGHUP)
    wait_for(lambda: d.register().status_code == 429, timeout=5,
             what="429 after lowering the limit with SIGHUP")


def test_sighup_bad_config_keeps_old(daemon):
    good, other = new_token(), new_token()
    d = daemon(admin_tokens=[good])
    d.add_secret(other)
    # the new file names another token and has an unknown key after it:
    # nothing of it may apply
    fixed = open(d.config_path).read().replace("sha256:" + sha256_hex(good),
                                               "sha256:" + sha256_hex(other))
    lines = fixed.splitlines()
    li = lines.index("log:")
    bad_lines = lines[:li + 1] + ["  colour: blue"] + lines[li + 1:]
    d.write_config(text="\n".join(bad_lines) + "\n")
    d.signal(signal.SIGHUP)
    pos = f"{d.config_path}:{li + 2}:3"
    wait_for(lambda: pos in d.log(), timeout=5, what=f"an error naming {pos} in the log")
    line = next(l for l in d.log().splitlines() if pos in l)
    assert "colour" in line, line
    assert d.alive()
    assert_ok(d.get("/api/v1/admin/agents", headers=d.admin_headers(good)))
    assert d.get("/api/v1/admin/agents", headers=d.admin_headers(other)).status_code == 401
    assert healthz(d).status_code == 200
    assert_ok(d.register(), 201)
    # a good file afterwards is applied: reload still works after a failure
    d.write_config(text=fixed)
    d.signal(signal.SIGHUP)
    wait_for(lambda: d.get("/api/v1/admin/agents", headers=d.admin_headers(other)).status_code == 200,
             timeout=5, what="the fixed config to apply")


def test_sighup_syntax_error_keeps_serving(daemon):
    d = daemon()
    d.write_config(text="http: [unclosed\n")
    d.signal(signal.SIGHUP)
    wait_for(lambda: re.search(re.escape(d.config_path) + r":\d+:\d+", d.log()), timeout=5,
             what="a FILE:LINE:COL error in the log")
    assert d.alive()
    assert_ok(d.admin_get("/api/v1/admin/agents"))


def test_sighup_unreloadable_listen_keeps_address(daemon):
    from conftest import free_port
    d = daemon()
    d.write_config({"http.listen": [f"127.0.0.1:{free_port()}"]})
    d.signal(signal.SIGHUP)
    time.sleep(1)
    assert d.alive()
    assert healthz(d).status_code == 200


def test_sighup_many_times_under_load(daemon):
    d = daemon()
    for i in range(10):
        d.signal(signal.SIGHUP)
        assert healthz(d).status_code == 200
        assert_ok(d.register(), 201)
    assert d.alive()


# ---------------------------------------------------------------- SIGTERM

def test_sigterm_idle_exits_zero(daemon):
    d = daemon()
    t0 = time.monotonic()
    d.signal(signal.SIGTERM)
    d.expected_exit = True
    assert d.proc.wait(10) == 0, d.log()[-2000:]
    assert time.monotonic() - t0 < 5


def test_sigterm_with_idle_keepalive_does_not_wait_drain_timeout(daemon):
    d = daemon(conf={"http.drain_timeout": "10s"})
    s = requests.Session()
    assert s.get(d.base + "/healthz").status_code == 200   # keep-alive connection stays open
    t0 = time.monotonic()
    d.signal(signal.SIGTERM)
    d.expected_exit = True
    rc = d.proc.wait(15)
    took = time.monotonic() - t0
    s.close()
    assert rc == 0
    assert took < 5, f"an idle keep-alive connection held shutdown for {took:.1f}s"


def connect_refused(port):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=1)
    except (ConnectionRefusedError, socket.timeout, OSError):
        return True
    s.close()
    return False


def test_sigterm_drains_in_flight_request(daemon):
    d = daemon(conf={"http.drain_timeout": "10s"})
    name = unique_name()
    body = json.dumps({"name": name, "description": "in flight"}).encode()
    s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
    s.sendall(b"POST /api/v1/agents HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Connection: close\r\nContent-Length: " + str(len(body)).encode() +
              b"\r\n\r\n" + body[:10])
    time.sleep(0.3)
    d.signal(signal.SIGTERM)
    d.expected_exit = True
    time.sleep(0.5)
    assert d.alive(), "exited with a request in flight"
    refused = wait_for(lambda: connect_refused(d.port), timeout=3,
                       what="new connections to be refused after SIGTERM")
    s.sendall(body[10:])
    buf = b""
    while True:
        try:
            c = s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not c:
            break
        buf += c
    s.close()
    st, _, resp = parse_response(buf)
    try:
        d.add_secret(json.loads(resp)["data"]["api_key"])
    except (ValueError, KeyError, TypeError):
        pass
    assert st == 201, buf[:500]
    rc = d.proc.wait(5)
    assert rc == 0, d.log()[-2000:]
    assert refused
    assert d.psql(f"SELECT status FROM agents WHERE name = '{name}'") == [["pending"]]


def test_sigterm_drain_timeout_bounds_shutdown(daemon):
    d = daemon(conf={"http.drain_timeout": "1s"})
    s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
    s.sendall(b"POST /api/v1/agents HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: 100\r\n\r\n{\"na")
    time.sleep(0.3)
    t0 = time.monotonic()
    d.signal(signal.SIGTERM)
    d.expected_exit = True
    try:
        rc = d.proc.wait(8)
    finally:
        s.close()
    took = time.monotonic() - t0
    assert rc == 0, d.log()[-2000:]
    assert 0.5 < took < 4, f"shutdown took {took:.1f}s with drain_timeout 1s"


def test_sigterm_then_restart_on_same_database(daemon):
    d = daemon()
    for _ in range(3):
        assert_ok(d.register(), 201)
    d.signal(signal.SIGTERM)
    d.expected_exit = True
    assert d.proc.wait(10) == 0
    n = d.psql("SELECT count(*) FROM agents")[0][0]
    assert n == "3"
    # a fresh daemon on the same database serves the same agents
    d2 = daemon(db=d.db)
    assert len(assert_ok(d2.admin_get("/api/v1/admin/agents"))["agents"]) == 3


def test_sighup_max_body(daemon):
    d = daemon(conf={"http.max_body": "8KiB"})
    body = json.dumps({"name": unique_name(), "description": "x" * 900}).encode()
    body += b" " * (3000 - len(body))
    hdrs = {"Content-Type": "application/json"}
    assert_ok(d.post("/api/v1/agents", data=body, headers=hdrs), 201)
    d.write_config({"http.max_body": "2KiB"})
    d.signal(signal.SIGHUP)
    body2 = json.dumps({"name": unique_name()}).encode() + b" " * 2990
    wait_for(lambda: d.post("/api/v1/agents", data=body2, headers=hdrs).status_code == 413,
             timeout=5, what="413 for a 3000-byte body after lowering max_body to 2KiB")


def test_sighup_rereads_token_file(daemon, tmp_path):
    t1, t2 = new_token(), new_token()
    f = tmp_path / "admin.tokens"
    f.write_text(t1 + "\n")
    os.chmod(f, 0o600)
    d = daemon(admin_tokens=[], conf={"admin.token_hashes": None,
                                      "admin.token_file": str(f)})
    d.add_secret(t1)
    d.add_secret(t2)
    assert_ok(d.get("/api/v1/admin/agents", headers=d.admin_headers(t1)))
    assert d.get("/api/v1/admin/agents", headers=d.admin_headers(t2)).status_code == 401
    f.write_text(t1 + "\n" + t2 + "\n")
    d.signal(signal.SIGHUP)
    wait_for(lambda: d.get("/api/v1/admin/agents", headers=d.admin_headers(t2)).status_code == 200,
             timeout=5, what="a token added to token_file to work after SIGHUP")
    # the file turns insecure: the reload is refused, the old tokens stay
    os.chmod(f, 0o644)
    f.write_text(t2 + "\n")
    d.signal(signal.SIGHUP)
    wait_for(lambda: re.search(re.escape(str(f)) + r".*(readable|mode|permission)", d.log()),
             timeout=5, what="an error about the insecure token file")
    assert d.alive()
    assert_ok(d.get("/api/v1/admin/agents", headers=d.admin_headers(t1)))
    assert_ok(d.get("/api/v1/admin/agents", headers=d.admin_headers(t2)))


# ---------------------------------------------------------------- load

def test_slow_clients_do_not_block_others(daemon):
    """Half-sent requests: others are still served."""
    d = daemon()
    socks = []
    try:
        for i in range(12):
            s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
            if i % 2:
                s.sendall(b"POST /api/v1/agents HTTP/1.1\r\nHost: x\r\n"
                          b"Content-Type: application/json\r\nContent-Length: 50\r\n\r\n{\"na")
            else:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            socks.append(s)
        time.sleep(0.3)
        t0 = time.monotonic()
        for _ in range(5):
            assert healthz(d).status_code == 200
        assert_ok(d.register(), 201)
        took = time.monotonic() - t0
        assert took < 3, f"6 requests took {took:.1f}s next to slow clients"
    finally:
        for s in socks:
            s.close()


def test_concurrent_load_small_pool(daemon):
    """16 clients on a pool of 2 connections: every answer is a success."""
    import threading
    d = daemon(conf={"database.pool_size": 2})
    _, key = d.new_agent(status="active")
    results = []
    lock = threading.Lock()

    def worker(i):
        s = requests.Session()
        out = []
        for j in range(8):
            if j % 2:
                r = s.get(d.base + "/api/v1/me", headers=d.agent_headers(key), timeout=20)
            else:
                r = s.post(d.base + "/api/v1/agents", json={"name": f"load-{i}-{j}"}, timeout=20)
                try:
                    d.add_secret(r.json()["data"]["api_key"])
                except (ValueError, KeyError, TypeError):
                    pass
            out.append(r.status_code)
        s.close()
        with lock:
            results.extend(out)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 16 * 8
    bad = [x for x in results if x not in (200, 201)]
    assert not bad, f"{len(bad)} failures: {sorted(set(bad))}"
    assert d.psql("SELECT count(*) FROM agents WHERE name LIKE 'load-%'") == [[str(16 * 4)]]
    assert d.alive()
