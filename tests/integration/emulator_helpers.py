"""Shared helpers of the Gitea emulator conformance tests (test_emulator_*.py).

The reference is tests/gitea_emulator/reference: README.md, webhooks/*.json (byte-exact
bodies) and webhooks/index.json (headers, event names).  Helpers here:

- fixtures: the byte-exact bodies and their index.json entries;
- shape_diff(): same keys, same key order, same JSON types at every level
  as a fixture body, null only where the state allows it;
- assert_go_indent(): the bytes are json.MarshalIndent's (2 spaces, or 1
  for repository events) with no trailing newline;
- assert_hook_headers(): every index.json header, event names, a UUID
  delivery id, HMAC-SHA256/SHA1 over the raw received bytes;
- hooks: registering repo, org and system hooks;
- a Receiver that records a request when it arrives (before any delay),
  for timeout, retry and ordering tests, and hold_and_flush() to see the
  order a flush sends held deliveries in;
- git: an isolated git CLI for clones and pushes over smart HTTP.
"""

import hashlib
import hmac
import json
import os
import re
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

from emulator import FIXTURES

UUID4_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
SHA1_RE = re.compile(r"^[0-9a-f]{40}$")
HOOK_SECRET = "sidecar-test-secret"
DEAD_URL = "http://127.0.0.1:9/hook"      # discard port: nothing listens


# -- fixtures -----------------------------------------------------------------

def fixture_bytes(name):
    with open(os.path.join(FIXTURES, name), "rb") as f:
        return f.read()


def fixture(name):
    return json.loads(fixture_bytes(name))


def index_entry(name):
    with open(os.path.join(FIXTURES, "index.json"), encoding="utf-8") as f:
        index = json.load(f)
    for d in index["deliveries"]:
        if d["file"] == name:
            return d
    raise KeyError(name)


FIXTURE_FILES = sorted(f for f in os.listdir(FIXTURES)
                       if f.endswith(".json") and f != "index.json")


# -- shape comparison -----------------------------------------------------------

def jtype(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return type(v).__name__


_USER_T = fixture("issues_opened.json")["sender"]
_LABEL_T = fixture("issues_opened.json")["issue"]["labels"][0]
_REVIEW_T = fixture("pull_request_review_approved.json")["review"]
# api.PullRequestMeta (structs/issue.go): merged, merged_at, draft, html_url.
_PR_META_T = {"merged": False, "merged_at": "", "draft": False, "html_url": ""}

# Paths where null and a value are both legitimate: the state decides
# (README section 1, "Nil versus empty").  The value is the shape a
# non-null value must have when the fixture shows null there.
NULLABLE = {
    ".issue.assignee": _USER_T,
    ".issue.assignees": [_USER_T],          # null on an issue without assignees
    ".issue.closed_at": "",
    ".issue.pull_request": _PR_META_T,      # set when the issue is a PR
    ".issue.pull_request.merged_at": "",
    ".pull_request.assignee": _USER_T,
    ".pull_request.closed_at": "",
    ".pull_request.merged_at": "",
    ".pull_request.merge_commit_sha": "",
    ".pull_request.merged_by": _USER_T,
    ".requested_reviewer": _USER_T,         # set on review events only
    ".review": _REVIEW_T,                   # set on review events only
}

# Element shapes for lists that are empty in the fixture.
EMPTY_LIST_ELEMENT = {
    ".pull_request.labels": _LABEL_T,
    ".pull_request.assignees": _USER_T,
    ".issue.labels": _LABEL_T,
    "topics": "",
    "licenses": "",
    "added": "",
    "removed": "",
    "modified": "",
}


def _element_template(path, want_list):
    if want_list:
        return want_list[0], True
    key = path.rsplit(".", 1)[-1].replace("[]", "")
    for cand in (path, key):
        if cand in EMPTY_LIST_ELEMENT:
            return EMPTY_LIST_ELEMENT[cand], True
    return None, False


def shape_diff(got, want, path="", out=None):
    """Differences in shape between a received body and a fixture body:
    key sets and order of every object, JSON types, and null only at
    NULLABLE paths.  Returns a list of messages (empty: same shape)."""
    if out is None:
        out = []
    if want is None or got is None:
        if want is None and got is None:
            return out
        if path not in NULLABLE:
            out.append(f"{path or '.'}: fixture has {jtype(want)}, got {jtype(got)}")
            return out
        if got is not None:
            shape_diff(got, NULLABLE[path], path, out)
        return out
    if jtype(got) != jtype(want):
        out.append(f"{path or '.'}: fixture has {jtype(want)}, got {jtype(got)}")
        return out
    if isinstance(want, dict):
        gk, wk = list(got), list(want)
        if gk != wk:
            missing = [k for k in wk if k not in got]
            extra = [k for k in gk if k not in want]
            if missing or extra:
                out.append(f"{path or '.'}: missing keys {missing}, unexpected keys {extra}")
            else:
                out.append(f"{path or '.'}: key order {gk} != fixture's {wk}")
        for k in wk:
            if k in got:
                shape_diff(got[k], want[k], f"{path}.{k}", out)
    elif isinstance(want, list):
        tmpl, known = _element_template(path, want)
        for item in got:
            if not known:
                out.append(f"{path}: fixture list is empty and its element shape unknown")
                break
            shape_diff(item, tmpl, path + "[]", out)
    return out


def assert_same_shape(raw, fixture_name):
    got = json.loads(raw)
    diffs = shape_diff(got, fixture(fixture_name)) + time_format_diffs(got)
    assert not diffs, f"body differs in shape from {fixture_name}:\n  " + "\n  ".join(diffs)
    return got


TIME_KEYS = {"created_at", "updated_at", "closed_at", "merged_at", "due_date", "archived_at",
             "mirror_updated", "last_login", "created", "timestamp", "submitted_at"}
RFC3339_SECONDS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$")


def time_format_diffs(obj, path="", out=None):
    """Timestamps: RFC 3339 with whole seconds (README section 1)."""
    if out is None:
        out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in TIME_KEYS and isinstance(v, str) and not RFC3339_SECONDS.match(v):
                out.append(f"{path}.{k}: {v!r}")
            time_format_diffs(v, f"{path}.{k}", out)
    elif isinstance(obj, list):
        for v in obj:
            time_format_diffs(v, path + "[]", out)
    return out


def go_indent(obj, indent):
    """json.MarshalIndent(obj, "", indent spaces) as Go's jsonv2 writes it."""
    return json.dumps(obj, ensure_ascii=False, indent=indent,
                      separators=(",", ": ")).encode("utf-8")


def assert_go_indent(raw, indent):
    assert not raw.endswith(b"\n"), "webhook body ends with a newline"
    lines = raw.split(b"\n")
    assert len(lines) > 2 and lines[0] == b"{", raw[:80]
    assert lines[1].startswith(b" " * indent + b'"') and \
        not lines[1].startswith(b" " * (indent + 1)), \
        f"expected a {indent}-space indent, second line is {lines[1][:40]!r}"
    assert raw == go_indent(json.loads(raw), indent), \
        f"body is not MarshalIndent with {indent}-space indent"


# -- headers and signatures ------------------------------------------------------

def signatures(secret, raw):
    sha256 = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    sha1 = hmac.new(secret.encode(), raw, hashlib.sha1).hexdigest()
    return sha256, sha1


def assert_hook_headers(headers, raw, fixture_name, secret=HOOK_SECRET, target="system"):
    """Every header index.json lists for the fixture, with the same event
    names; one UUID v4 for the three delivery ids; signatures over the raw
    bytes received; the installation target type of the hook's level."""
    entry = index_entry(fixture_name)["headers"]
    h = {k.lower(): v for k, v in headers.items()}
    missing = [k for k in entry if k.lower() not in h]
    assert not missing, f"headers missing: {missing}"
    assert h["content-type"] == "application/json"
    for name in ("X-Gitea-Event", "X-Gitea-Event-Type", "X-Gogs-Event",
                 "X-Gogs-Event-Type", "X-GitHub-Event", "X-GitHub-Event-Type"):
        assert h[name.lower()] == entry[name], (name, h[name.lower()], entry[name])
    delivery = h["x-gitea-delivery"]
    assert UUID4_RE.match(delivery), delivery
    assert h["x-gogs-delivery"] == delivery and h["x-github-delivery"] == delivery
    sha256, sha1 = signatures(secret, raw)
    assert h["x-gitea-signature"] == sha256
    assert h["x-gogs-signature"] == sha256
    assert h["x-hub-signature-256"] == "sha256=" + sha256
    assert h["x-hub-signature"] == "sha1=" + sha1
    assert h["x-gitea-hook-installation-target-type"] == target
    assert h["x-github-hook-installation-target-type"] == target
    return delivery


def event_type(headers):
    return {k.lower(): v for k, v in headers.items()}.get("x-gitea-event-type")


def header(headers, name):
    return {k.lower(): v for k, v in headers.items()}.get(name.lower())


# -- hooks -------------------------------------------------------------------------

def hook_body(url, events, secret=HOOK_SECRET, active=True, system=False, **extra):
    config = {"url": url, "content_type": "json", "secret": secret}
    if system:
        config["is_system_webhook"] = "true"
    body = {"type": "gitea", "events": list(events), "config": config, **extra}
    if active is not None:
        body["active"] = active
    return body


def add_hook(emu, where, url, events, **kw):
    """where: "admin", "org:<org>" or "repo:<owner>/<name>"."""
    if where == "admin":
        path = "/admin/hooks"
    elif where.startswith("org:"):
        path = f"/orgs/{where[4:]}/hooks"
    else:
        path = f"/repos/{where[5:]}/hooks"
    r = emu.post(path, json=hook_body(url, events, **kw))
    assert r.status_code == 201, r.text
    return r.json()


def new_since(receiver, start):
    with receiver.cv:
        return list(receiver.received[start:])


def records(emu):
    """GET /_emulator/deliveries (it waits until nothing is pending)."""
    try:
        return emu.deliveries()
    except (requests.RequestException, ValueError) as exc:
        emu.deliveries_broken = True
        raise AssertionError(f"GET /_emulator/deliveries failed: {exc!r}") from None


def settle(emu, *rxs, quiet=0.4, timeout=12):
    """Wait until every delivery is done.  GET /_emulator/deliveries waits
    until nothing is pending; should that control fail, fall back to
    waiting until the receivers have been quiet for `quiet` seconds, so
    the other checks of a test still run."""
    if not getattr(emu, "deliveries_broken", False):
        try:
            return records(emu)
        except AssertionError:
            pass
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        n = sum(len(r.received) for r in rxs)
        if n != last:
            last, since = n, time.monotonic()
        elif time.monotonic() - since >= quiet:
            break
        time.sleep(0.02)
    return None


def wait_for(pred, timeout=10, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


# -- a webhook receiver -----------------------------------------------------------

class Receiver:
    """A webhook receiver like emulator.HookReceiver (received: a list of
    (headers, raw body), wait(n)), but it records a request as soon as it
    has read it, before sleeping `delay` and answering `status`, and keeps
    arrival and completion times; and it shuts down at once."""

    def __init__(self, status=200, delay=0.0):
        self.status, self.delay = status, delay
        self.received = []          # (headers, body), in arrival order
        self.arrivals = []          # (monotonic time, headers, body)
        self.finished = []          # monotonic times the answers were sent
        self.cv = threading.Condition()
        self.lock = self.cv
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = dict(self.headers.items())
                with outer.cv:
                    outer.received.append((headers, body))
                    outer.arrivals.append((time.monotonic(), headers, body))
                    outer.cv.notify_all()
                if outer.delay:
                    time.sleep(outer.delay)
                with outer.cv:
                    outer.finished.append(time.monotonic())
                    outer.cv.notify_all()
                try:
                    self.send_response(outer.status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass                # the client gave up (timeout)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()

    def count(self):
        with self.cv:
            return len(self.received)

    def wait(self, n, timeout=10):
        with self.cv:
            self.cv.wait_for(lambda: len(self.received) >= n, timeout)
            return list(self.received)

    def wait_finished(self, n, timeout=10):
        with self.cv:
            self.cv.wait_for(lambda: len(self.finished) >= n, timeout)
            return list(self.finished)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def hold_and_flush(emu, repo, receiver, n, order):
    """Hold the deliveries of n new issues of repo, check nothing is sent,
    flush them in `order`, and return (issue numbers in creation order,
    arrival batches of issue numbers).

    receiver must be a Receiver with a delay (say 0.5 s) and the
    only active hook of repo: the emulator delivers on a small worker
    pool, so arrivals come in batches of at most pool-size deliveries and
    the batches follow the order in which the flush queued them."""
    start = receiver.count()
    emu.webhooks(mode="hold")
    try:
        numbers = []
        for i in range(n):
            r = emu.post(f"/repos/{repo}/issues", json={"title": f"held {order} {i}"})
            assert r.status_code == 201, r.text
            numbers.append(r.json()["number"])
        time.sleep(0.3)
        assert receiver.count() == start, "a held delivery was sent"
    finally:
        emu.webhooks(mode="deliver")
    flushed = emu.webhooks(flush=True, order=order)["flushed"]
    assert flushed == n, f"flushed {flushed} held deliveries, expected {n}"
    wait_for(lambda: receiver.count() >= start + n, timeout=15, what="flushed deliveries")
    with receiver.lock:
        arrivals = sorted(receiver.arrivals[start:], key=lambda a: a[0])
    batches = []
    for t, _, body in arrivals:
        number = json.loads(body)["issue"]["number"]
        if batches and t - batches[-1][0] < receiver.delay / 2:
            batches[-1][1].append(number)
        else:
            batches.append((t, [number]))
    return numbers, [sorted(b) for _, b in batches]


# -- git ---------------------------------------------------------------------------

def git_env(home):
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "",
        "SSH_ASKPASS": "",
        "LC_ALL": "C",
        "GIT_AUTHOR_NAME": "Coder Agent",
        "GIT_AUTHOR_EMAIL": "agent-coder@127.0.0.1",
        "GIT_COMMITTER_NAME": "Coder Agent",
        "GIT_COMMITTER_EMAIL": "agent-coder@127.0.0.1",
    }


class Git:
    """The git CLI, cut off from the user's configuration."""

    def __init__(self, home):
        self.home = str(home)
        os.makedirs(self.home, exist_ok=True)

    def run(self, *args, cwd=None, check=True, env=None):
        p = subprocess.run(["git", "-c", "credential.helper=", "-c", "init.defaultBranch=main",
                            *args], cwd=cwd, capture_output=True, text=True,
                           env={**git_env(self.home), **(env or {})}, timeout=60)
        if check and p.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} failed ({p.returncode}):\n"
                                 f"{p.stdout}\n{p.stderr}")
        return p

    def out(self, *args, cwd=None):
        return self.run(*args, cwd=cwd).stdout.strip()

    def clone(self, url, dest):
        self.run("clone", "-q", url, str(dest))
        return str(dest)

    def commit_file(self, work, path, text, message):
        full = os.path.join(work, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write(text)
        self.run("add", path, cwd=work)
        self.run("commit", "-q", "-m", message, cwd=work)
        return self.out("rev-parse", "HEAD", cwd=work)

    def parents(self, work, rev):
        line = self.out("rev-list", "--parents", "-n", "1", rev, cwd=work).split()
        return line[1:]


def validate_as(method, path, status, body):
    """Validate an answer against swagger for a path the automatic check
    cannot route (a branch name with '/' in it): give a stand-in path."""
    from emulator import swagger
    swagger().validate(method, path, status, body)
    return body


def get_branch(emu, repo, branch, **kw):
    """GET /repos/{o}/{r}/branches/{branch}; the branch may hold '/', which
    the automatic swagger check cannot route, so validate here."""
    r = emu.get(f"/repos/{repo}/branches/{branch}", validate=False, **kw)
    if r.status_code == 200:
        validate_as("GET", f"/repos/{repo}/branches/stand-in", 200, r.json())
    return r


def raw_git_http(emu, path, auth=None):
    """GET a smart-HTTP discovery URL without git, to see the status."""
    return requests.get(emu.url + path, auth=auth, timeout=10)
