"""Fixtures for the synstackd integration tests.

pg          session: a private PostgreSQL 15 cluster on a unix socket.
daemon      function: factory, daemon(**opts) starts a synstackd on a fresh
            database and returns a Daemon; every one is stopped at teardown.
daemon_module  the same factory, module scoped, for daemons a module shares.

Every daemon is checked at teardown: it must not have died on its own, its
log must not contain a secret (admin tokens, API keys it issued) nor a
sanitizer report, and no response it gave through the helpers was a 500.
"""

import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
SCHEMA_DIR = REPO / "schema"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
DEFAULT_BIN = REPO / "build" / "daemon" / "synstackd"
TEST_TIMEOUT = int(os.environ.get("SYNSTACK_TEST_TIMEOUT", "90"))

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def synstackd_bin():
    b = os.environ.get("SYNSTACK_BIN")
    if b:
        p = Path(b)
        if not p.is_absolute():
            p = REPO / p
        return p
    return DEFAULT_BIN


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sha256_hex(s):
    return hashlib.sha256(s.encode()).hexdigest()


def new_token():
    return "adm-" + secrets.token_urlsafe(32)


def schema_files():
    return sorted(p for p in SCHEMA_DIR.glob("*.sql")
                  if re.match(r"^\d{4}-.+\.sql$", p.name))


# ---------------------------------------------------------------- timeouts

@pytest.fixture(autouse=True)
def _per_test_timeout():
    """No pytest-timeout on Debian's pytest: a SIGALRM guard instead."""
    def on_alarm(signum, frame):
        raise TimeoutError(f"test exceeded {TEST_TIMEOUT}s")
    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(TEST_TIMEOUT)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


# ---------------------------------------------------------------- PostgreSQL

class Postgres:
    def __init__(self):
        self.root = os.geteuid() == 0
        self.dir = tempfile.mkdtemp(prefix="synstack-pg-", dir="/tmp")
        os.chmod(self.dir, 0o755)
        if self.root:
            shutil.chown(self.dir, "postgres", "postgres")
        self.host = self.dir
        self.data = os.path.join(self.dir, "data")
        self.logfile = os.path.join(self.dir, "postgres.log")
        self.port = self._free_port()

    @staticmethod
    def _free_port():
        # Only the socket file name uses it, but keep clear of anything in use.
        return free_port()

    def _as_pg(self, argv, **kw):
        if self.root:
            argv = ["runuser", "-u", "postgres", "--"] + argv
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.STDOUT)
        kw.setdefault("text", True)
        kw.setdefault("timeout", 120)
        r = subprocess.run(argv, **kw)
        if r.returncode != 0:
            raise RuntimeError(f"{argv} failed ({r.returncode}): {r.stdout}")
        return r.stdout

    def init(self):
        self._as_pg([str(PG_BIN / "initdb"), "-D", self.data, "-A", "trust",
                     "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync"])
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("\n# synstack integration tests\n"
                    "listen_addresses = ''\n"
                    f"unix_socket_directories = '{self.dir}'\n"
                    f"port = {self.port}\n"
                    "fsync = off\n"
                    "synchronous_commit = off\n"
                    "full_page_writes = off\n"
                    "max_connections = 300\n"
                    "log_min_messages = warning\n")

    def pg_ctl(self, *args):
        return self._as_pg([str(PG_BIN / "pg_ctl"), "-D", self.data, "-l",
                            self.logfile, "-w", "-t", "60", *args])

    def start(self):
        self.pg_ctl("start")

    def stop(self):
        self.pg_ctl("stop", "-m", "fast")

    def restart(self):
        self.pg_ctl("restart", "-m", "fast")

    def dsn(self, dbname):
        return f"postgresql:///{dbname}?host={self.host}&port={self.port}&user=postgres"

    def psql(self, db, sql):
        """Rows of a query, each a list of strings ('' for NULL)."""
        r = subprocess.run(
            [str(PG_BIN / "psql"), "-XAt", "-F", "|", "-v", "ON_ERROR_STOP=1",
             "-h", self.host, "-p", str(self.port), "-U", "postgres",
             "-d", db, "-c", sql],
            capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"psql {sql!r} on {db}: {r.stderr}")
        out = r.stdout.rstrip("\n")
        return [line.split("|") for line in out.split("\n")] if out else []

    def createdb(self, name):
        self.psql("postgres", f'CREATE DATABASE "{name}"')

    def destroy(self):
        try:
            self.stop()
        except Exception:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def pg():
    p = Postgres()
    try:
        p.init()
        p.start()
    except Exception:
        log = ""
        if os.path.exists(p.logfile):
            log = open(p.logfile).read()
        p.destroy()
        raise RuntimeError("could not start PostgreSQL: " + log)
    yield p
    p.destroy()


# ---------------------------------------------------------------- synstackd

DEFAULT_CONF = {
    "http.listen": None,            # filled per daemon
    "http.max_body": "1MiB",
    "http.max_json_depth": 32,
    "http.drain_timeout": "10s",
    "database.url": None,           # filled per daemon
    "database.schema_dir": str(SCHEMA_DIR),
    "deploy.platforms_file": str(REPO / "conf" / "platforms.yaml"),
    "gitea.url": None,              # the session's Gitea emulator
    "gitea.admin_token_file": None,  # its service account's token
    "gitea.timeout": "1s",
    "secrets.master_key_file": None,  # filled per session
    "admin.token_hashes": None,     # filled per daemon
    "limits.register_per_hour": 1000,
    "log.level": "info",
    "log.requests": True,
}

_SAFE = re.compile(r"^[A-Za-z0-9_.-]+$")


def yaml_scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(yaml_scalar(x) for x in v) + "]"
    v = str(v)
    return v if _SAFE.match(v) else json.dumps(v)


def render_config(conf):
    """Dotted keys -> block YAML, sections in first-seen order."""
    sections = {}
    for k, v in conf.items():
        if v is None:
            continue
        sec, key = k.split(".", 1)
        sections.setdefault(sec, []).append((key, v))
    out = []
    for sec, items in sections.items():
        out.append(f"{sec}:")
        for key, v in items:
            out.append(f"  {key}: {yaml_scalar(v)}")
    return "\n".join(out) + "\n"


def set_key(text, section, key, value):
    """The sample with section.key set as an admin edits it: its one
    uncommented line, in place."""
    lines = text.split("\n")
    start = lines.index(f"{section}:")
    for i in range(start + 1, len(lines)):
        if re.match(r"^[^\s#]", lines[i]):
            break
        if lines[i].startswith(f"  {key}:"):
            lines[i] = f"  {key}: {yaml_scalar(value)}"
            return "\n".join(lines)
    raise AssertionError(f"the sample has no {section}.{key} line")


class Daemon:
    live = []                       # started and not terminated

    def __init__(self, factory, pg, workdir, db, conf, admin_tokens, args):
        self.factory = factory
        self.pg = pg
        self.workdir = workdir
        self.db = db
        self.admin_tokens = list(admin_tokens)
        self.token = self.admin_tokens[0] if self.admin_tokens else None
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.conf = dict(DEFAULT_CONF)
        self.conf["http.listen"] = [f"127.0.0.1:{self.port}"]
        self.conf["database.url"] = pg.dsn(db)
        self.conf["admin.token_hashes"] = ["sha256:" + sha256_hex(t) for t in self.admin_tokens]
        self.conf["gitea.url"] = factory.world.url
        self.conf["gitea.admin_token_file"] = factory.world.token_file
        self.conf["secrets.master_key_file"] = factory.world.master_key_file
        self.conf.update(conf)
        self.config_path = os.path.join(workdir, "synstack.yaml")
        self.stderr_path = os.path.join(workdir, "synstackd.stderr")
        self.args = list(args)
        self.secrets = set(self.admin_tokens)
        self.statuses = []          # (method, path, status) of helper requests
        self.expected_exit = False
        self.proc = None
        self.session = requests.Session()
        self.write_config()

    # -- config
    def write_config(self, conf=None, text=None):
        """Rewrite the config file from self.conf (updated with conf) or raw text."""
        if conf:
            self.conf.update(conf)
        if text is None:
            text = render_config(self.conf)
        tmp = self.config_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.config_path)

    def add_secret(self, s):
        if s:
            self.secrets.add(s)

    # -- process
    def start(self):
        self._errf = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(
            [str(synstackd_bin()), *self.args, "-c", self.config_path],
            stdin=subprocess.DEVNULL, stdout=self._errf, stderr=self._errf,
            cwd=self.workdir)
        Daemon.live.append(self)
        return self

    def drained(self, timeout=30):
        """Every delivery this daemon's database took in has been tried
        once (the workers apply them after the acknowledgement)."""
        wait_for(lambda: self.psql("SELECT count(*) FROM webhook_deliveries"
                                   " WHERE processed_at IS NULL AND attempts = 0")
                 == [["0"]], timeout=timeout, what="the webhook queue to drain")

    def wait_ready(self, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"synstackd exited with {self.proc.returncode} before "
                            f"answering /healthz; log:\n{self.log()}")
            try:
                requests.get(self.base + "/healthz", timeout=2)
                return self
            except requests.RequestException:
                time.sleep(0.05)
        pytest.fail(f"synstackd did not answer /healthz within {timeout}s; log:\n{self.log()}")

    def log(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def signal(self, sig):
        os.kill(self.proc.pid, sig)

    def alive(self):
        return self.proc.poll() is None

    def terminate(self, timeout=10):
        """SIGTERM, kill after timeout; returns the exit status."""
        self.expected_exit = True
        if self in Daemon.live:
            Daemon.live.remove(self)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.session.close()
        self._errf.close()
        return self.proc.returncode

    # -- HTTP
    def request(self, method, path, **kw):
        kw.setdefault("timeout", 15)
        r = self.session.request(method, self.base + path, **kw)
        self.statuses.append((method, path, r.status_code))
        try:
            body = r.json()
            if isinstance(body, dict) and isinstance(body.get("data"), dict):
                self.add_secret(body["data"].get("api_key"))
        except ValueError:
            pass
        return r

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def admin_headers(self, token=None):
        return {"Authorization": "Bearer " + (token or self.token)}

    def agent_headers(self, key):
        return {"Authorization": "Bearer " + key}

    def admin_get(self, path, **kw):
        return self.get(path, headers=self.admin_headers(), **kw)

    def admin_post(self, path, **kw):
        return self.post(path, headers=self.admin_headers(), **kw)

    def register(self, name=None, **fields):
        body = {"name": unique_name() if name is None else name,
                "description": "an integration-test agent",
                "contact": "tests@example.invalid"}
        body.update(fields)
        return self.post("/api/v1/agents", json=body)

    def new_agent(self, name=None, status="pending"):
        """Registers an agent, optionally moves it; returns (data, key)."""
        r = self.register(name)
        assert r.status_code == 201, (r.status_code, r.text)
        data = r.json()["data"]
        if status in ("active", "suspended"):
            r = self.admin_post(f"/api/v1/admin/agents/{data['id']}/approve")
            assert r.status_code == 200, (r.status_code, r.text)
        if status == "suspended":
            r = self.admin_post(f"/api/v1/admin/agents/{data['id']}/suspend")
            assert r.status_code == 200, (r.status_code, r.text)
        return data, data["api_key"]

    def raw(self, data, source=None, timeout=10):
        """Send raw bytes on a fresh connection, read until the server closes."""
        return raw_http(self.port, data, source=source, timeout=timeout)

    def psql(self, sql):
        return self.pg.psql(self.db, sql)


def raw_http(port, data, source=None, timeout=10):
    """Returns (status or None, headers dict lower-cased, body bytes)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                 source_address=(source, 0) if source else None)
    try:
        s.sendall(data)
        buf = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            buf += chunk
    finally:
        s.close()
    return parse_response(buf)


def parse_response(buf):
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    m = re.match(rb"HTTP/1\.[01] (\d{3})", lines[0]) if lines and lines[0] else None
    if not m:
        return None, {}, buf
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        headers[k.strip().lower().decode("latin-1")] = v.strip().decode("latin-1")
    if headers.get("transfer-encoding", "").lower() == "chunked":
        out, rest = b"", body
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            try:
                n = int(size_line.split(b";")[0], 16)
            except ValueError:
                break
            if n == 0:
                break
            out += rest[:n]
            rest = rest[n + 2:]
        body = out
    return int(m.group(1)), headers, body


def unique_name(prefix="ag"):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


class DaemonFactory:
    def __init__(self, pg, world, tmp_path_factory):
        self.pg = pg
        self.tmp = tmp_path_factory
        self.world = world
        self.daemons = []

    def __call__(self, conf=None, admin_tokens=None, db=None, wait=True,
                 args=(), start=True):
        binary = synstackd_bin()
        if not binary.exists():
            pytest.fail(f"synstackd binary not found at {binary} "
                        "(build it, or set SYNSTACK_BIN)")
        if db is None:
            db = "synstack_" + uuid.uuid4().hex[:16]
            self.pg.createdb(db)
        if admin_tokens is None:
            admin_tokens = [new_token()]
        workdir = str(self.tmp.mktemp("synstackd"))
        d = Daemon(self, self.pg, workdir, db, conf or {}, admin_tokens, args)
        self.daemons.append(d)
        if start:
            d.start()
            if wait:
                d.wait_ready()
        return d

    def finish(self):
        problems = []
        for d in self.daemons:
            if d.proc is None:
                continue
            died = d.proc.poll() is not None and not d.expected_exit
            rc = d.terminate()
            log = d.log()
            name = f"daemon on port {d.port} (db {d.db})"
            if died:
                problems.append(f"{name} died unexpectedly with status {rc}")
            for s in d.secrets:
                if s and s in log:
                    problems.append(f"{name}: its log contains a secret ({s[:8]}...)")
            for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
                if marker in log:
                    problems.append(f"{name}: sanitizer report in its log ({marker})")
            five = [x for x in d.statuses if x[2] == 500]
            five += [l for l in log.splitlines()
                     if "msg=request" in l and re.search(r"\bstatus=500\b", l)]
            if five:
                problems.append(f"{name}: answered 500 to {five[:5]}")
            if problems:
                problems.append(f"--- log of {name} (last 4000 chars) ---\n{log[-4000:]}")
        self.daemons = []
        if problems:
            pytest.fail("\n".join(problems), pytrace=False)


class GiteaWorld:
    """The Gitea every daemon of the session talks to (an emulator with
    emulator.DEFAULT_SEED), with the files synstackd reads its secrets
    from: the service account's token and the master key."""

    def __init__(self, tmpdir):
        from emulator import ADMIN_TOKEN, Emulator
        self.emulator = Emulator()
        self.url = self.emulator.url
        self.token_file = os.path.join(tmpdir, "gitea.token")
        self.master_key_file = os.path.join(tmpdir, "master.key")
        for path, text in ((self.token_file, ADMIN_TOKEN),
                           (self.master_key_file, secrets.token_hex(32))):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(text + "\n")


@pytest.fixture(scope="session")
def gitea_world(tmp_path_factory):
    world = GiteaWorld(str(tmp_path_factory.mktemp("gitea-world")))
    yield world
    world.emulator.stop()


@pytest.fixture
def daemon(pg, gitea_world, tmp_path_factory):
    f = DaemonFactory(pg, gitea_world, tmp_path_factory)
    yield f
    f.finish()


@pytest.fixture(scope="module")
def daemon_module(pg, gitea_world, tmp_path_factory):
    f = DaemonFactory(pg, gitea_world, tmp_path_factory)
    yield f
    f.finish()


# ---------------------------------------------------------------- assertions

def assert_error(r, status, code=None):
    """The exact error shape: {"ok":false,"error":{"code","message","hint"}}."""
    assert r.status_code == status, \
        f"expected {status} {code}, got {r.status_code}: {r.text[:500]}"
    ctype = r.headers.get("Content-Type", "")
    assert ctype.startswith("application/json"), f"Content-Type {ctype!r}: {r.text[:200]}"
    body = r.json()
    assert isinstance(body, dict) and set(body) == {"ok", "error"}, body
    assert body["ok"] is False, body
    err = body["error"]
    assert isinstance(err, dict) and set(err) == {"code", "message", "hint"}, body
    assert all(isinstance(err[k], str) for k in err), body
    assert err["message"], body
    if code is not None:
        codes = (code,) if isinstance(code, str) else tuple(code)
        assert err["code"] in codes, f"expected code {codes}, got {body}"
    return err


def assert_ok(r, status=200):
    """{"ok":true,"text":...,"data":{...}} with an optional "next" list."""
    assert r.status_code == status, f"expected {status}, got {r.status_code}: {r.text[:500]}"
    ctype = r.headers.get("Content-Type", "")
    assert ctype.startswith("application/json"), f"Content-Type {ctype!r}"
    body = r.json()
    assert isinstance(body, dict), body
    assert body.get("ok") is True, body
    assert set(body) <= {"ok", "text", "data", "next"}, body
    assert isinstance(body.get("text"), str), body
    assert isinstance(body.get("data"), dict), body
    if "next" in body:
        assert isinstance(body["next"], list) and all(isinstance(x, str) for x in body["next"]), body
    return body["data"]


def drain_daemons(timeout=30):
    """Every running daemon has applied what it acknowledged."""
    for d in list(Daemon.live):
        try:
            ready = d.alive() and d.psql("SELECT to_regclass('webhook_deliveries')"
                                         " IS NOT NULL") == [["t"]]
        except RuntimeError:        # its database is gone or never was
            ready = False
        if ready:
            d.drained(timeout)


def wait_for(pred, timeout=10, interval=0.1, what="condition"):
    """Polls pred until it returns something other than None/False.  (Not
    plain truthiness: a requests.Response with status >= 400 is falsy.)"""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last is not None and last is not False and last != [] and last != "":
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


# -- the Gitea emulator -------------------------------------------------------

from emulator import Emulator, HookReceiver  # noqa: E402


@pytest.fixture
def gitea():
    """A Gitea emulator with the default seed (emulator.DEFAULT_SEED)."""
    emu = Emulator()
    yield emu
    emu.stop()


@pytest.fixture
def gitea_factory():
    """Emulators with a seed of the test's own: gitea_factory(seed=...)."""
    made = []

    def make(**kw):
        emu = Emulator(**kw)
        made.append(emu)
        return emu
    yield make
    for emu in made:
        emu.stop()


@pytest.fixture
def hook_receiver():
    receivers = []

    def make(**kw):
        r = HookReceiver(**kw)
        receivers.append(r)
        return r
    yield make
    for r in receivers:
        r.close()
