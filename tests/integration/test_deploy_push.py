"""Deploying on push (docs/deployment.md, "Deployments" and "Routes"): a
push to the deploy branch of a sponsored or live project queues a
deployment, run by its platform's trigger (a `command` with the project's
secrets in its environment, a deploy `hook` whose URL is a secret, or
`manual`, waiting for an admin); its log excerpt masks every secret; a
commit is deployed once however often its push is delivered; a newer push
supersedes a queued one; the reconciliation deploys a head that moved
without a delivery; Gitea shows each status as the commit's
synstack/deploy status; an admin deploys the head now, or marks a commit
deployed; an agent's `details` tells the deployment.

Real PostgreSQL, real git in a Gitea emulator of the module's own whose
seed adds a pool of repositories (acme/dp-00 to acme/dp-NN, README.md
only) to the default seed, and one daemon for the module with webhooks on
(a system hook to /hooks/gitea).  Each test takes fresh repositories from
the pool, platforms of its own (added through the admin API, `command`
ones running scripts the test writes), and makes a project sponsored the
way an admin does: readiness, a sponsor, the transition.  Two tests start
a daemon of their own against the same emulator (no hook to it): one with
a short deploy.timeout, and one that only learns of pushes through the
reconciliation.
"""

import base64
import copy
import datetime
import itertools
import json
import os
import re
import secrets
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import assert_error, assert_ok, free_port, wait_for
from emulator import ADMIN_TOKEN, DEFAULT_SEED, Emulator
from mirror_helpers import (admin_sync, post_hook, register_system_hook, wait_startup_sync,
                            write_secret)
from test_loop import Agent
from test_review import push_branch
from test_work import act

POOL = 16
CONTEXT = "synstack/deploy"
FINAL = ("success", "failure", "error", "canceled", "inactive")
DOCKERFILE = 'FROM alpine:3.20\nCMD ["true"]\n'
README_DEPLOY = "# App\n\nA small app.\n\nTo deploy, build the image and push it.\n"
W = "acme/widgets"              # the default seed's repository (agents push to it)


# -- the world ------------------------------------------------------------------------

def pool_seed():
    s = copy.deepcopy(DEFAULT_SEED)
    for i in range(POOL):
        s["repos"].append({"owner": "acme", "name": f"dp-{i:02d}",
                           "files": {"README.md": f"# dp-{i:02d}\n"}})
    return s


@pytest.fixture(scope="module")
def emu():
    e = Emulator(seed=pool_seed())
    yield e
    e.stop()


class World:
    pass


@pytest.fixture(scope="module")
def w(daemon_module, emu, tmp_path_factory):
    """The module's daemon, webhooks on: w.d, w.emu, w.hook, w.secret."""
    x = World()
    x.emu = emu
    path, x.secret = write_secret(tmp_path_factory.mktemp("deploy-hook"))
    x.d = daemon_module(conf={"gitea.url": emu.url, "sync.interval": "1h",
                              "gitea.webhook_secret_file": path})
    wait_startup_sync(x.d)
    n = x.d.psql("SELECT count(*) FROM projects WHERE owner = 'acme' AND name LIKE 'dp-%'")
    assert n == [[str(POOL)]], f"the pool is not mirrored: {n}"
    x.hook = register_system_hook(emu, x.d.base + "/hooks/gitea", x.secret)
    return x


_taken = itertools.count()


def fresh():
    """A repository of the pool no other test has touched."""
    i = next(_taken)
    assert i < POOL, "the pool of seeded repositories is used up: raise POOL"
    return f"acme/dp-{i:02d}"


def own_daemon(daemon, emu, **conf):
    """A daemon of the test's own on the module's emulator, with no hook to
    it (it hears of pushes through the reconciliation only)."""
    c = {"gitea.url": emu.url, "sync.interval": "1h"}
    c.update(conf)
    d = daemon(conf=c)
    wait_startup_sync(d)
    return d


# -- a deploy hook's receiver -------------------------------------------------------------

class Receiver:
    """A deploy hook on loopback: records method, path and headers of each
    request and answers `status`, with a body that names the URL it was
    called at (the daemon must mask it in the excerpt)."""

    def __init__(self, status=200):
        self.status = status
        self.hits = []
        self.lock = threading.Lock()
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                with outer.lock:
                    outer.hits.append({"method": self.command, "path": self.path,
                                       "headers": dict(self.headers.items()), "body": body})
                text = f"deploy started for {outer.base}{self.path}\n".encode()
                self.send_response(outer.status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            do_POST = do_GET = do_PUT = do_PATCH = do_DELETE = do_HEAD = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def requests(self):
        with self.lock:
            return list(self.hits)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = []

    def make(**kw):
        r = Receiver(**kw)
        made.append(r)
        return r
    yield make
    for r in made:
        r.close()


# -- our side ---------------------------------------------------------------------------

def proj(p, *rest):
    return "/".join((f"/api/v1/projects/{p}",) + tuple(str(x) for x in rest))


def created(r):
    assert r.status_code in (200, 201), f"{r.status_code}: {r.text[:500]}"
    return assert_ok(r, r.status_code)


def add_platform(d, trigger, **kw):
    name = "t-" + uuid.uuid4().hex[:10]
    body = {"name": name, "display_name": f"Test {name}", "secrets": [], "trigger": trigger,
            "config_files": [], "docs_url": f"https://docs.example.invalid/{name}"}
    body.update(kw)
    data = created(d.admin_post("/api/v1/admin/platforms", json=body))
    assert data["trigger"] == trigger, data
    return name


def script(tmp_path, body, name=None):
    """An executable shell script under tmp_path: its path."""
    path = tmp_path / (name or f"deploy-{uuid.uuid4().hex[:6]}.sh")
    path.write_text("#!/bin/sh\n" + body)
    os.chmod(path, 0o755)
    return str(path)


def command_platform(d, tmp_path, body, args=(), secret_names=()):
    return add_platform(d, "command", command=[script(tmp_path, body), *args],
                        secrets=list(secret_names))


def put_secret(d, p, name, value):
    d.add_secret(value)                 # the daemon must never log it
    created(d.request("PUT", proj(p, "deployment/secrets", name), json={"value": value},
                      headers=d.admin_headers()))


def move(d, p, to):
    data = assert_ok(d.admin_post(proj(p, "deployment"), json={"status": to}))
    assert data["status"] == to, data
    return data


def settle(w):
    """Every delivery the emulator sent has been applied by the daemon."""
    w.emu.deliveries()                  # waits until nothing is pending
    w.d.drained()


def make_ready(d, emu, p):
    """What readiness asks for, on main: the head."""
    sha = emu.commit(p, "main", {"Dockerfile": DOCKERFILE, "README.md": README_DEPLOY})
    r = emu.post(f"/repos/{p}/statuses/{sha}",
                 json={"state": "success", "context": "ci/build", "description": "green",
                       "target_url": f"https://ci.example.invalid/{sha[:7]}"})
    assert r.status_code == 201, r.text
    return sha


def sponsored(d, emu, p, platform, w=None, secrets_=None):
    """p sponsored on platform, the way an admin gets it there: readiness
    from Gitea, a sponsor covering hosting, the transitions.  Its secrets
    set.  The setup push is applied before the project is sponsored (it
    deploys nothing).  The head."""
    head = make_ready(d, emu, p)
    if w is not None:
        settle(w)
    assert_ok(d.admin_post(proj(p, "deployment"), json={"platform": platform}))
    for k, v in (secrets_ or {}).items():
        put_secret(d, p, k, v)
    move(d, p, "ready")
    created(d.admin_post(proj(p, "sponsors"), json={"name": f"Sponsor {uuid.uuid4().hex[:6]}"}))
    move(d, p, "sponsored")
    assert deployments(d, p) == [], "the setup deployed something"
    return head


def deployments(d, p):
    data = assert_ok(d.admin_get(proj(p, "deployments") + "?limit=100"))
    assert isinstance(data.get("deployments"), list), data
    return data["deployments"]


def deployment(d, p, dep_id):
    """One deployment, with its log excerpt."""
    data = assert_ok(d.admin_get(proj(p, "deployments", dep_id)))
    assert data["id"] == dep_id, data
    return data


def of_commit(d, p, sha):
    return [x for x in deployments(d, p) if x["commit"] == sha]


def wait_status(d, p, sha, statuses=FINAL, timeout=30):
    """The (only) deployment of sha, once its status is one of statuses."""
    def f():
        rows = of_commit(d, p, sha)
        assert len(rows) <= 1, f"{sha[:12]} was deployed more than once: {rows}"
        return rows[0] if rows and rows[0]["status"] in statuses else None
    return wait_for(f, timeout=timeout, interval=0.2,
                    what=f"the deployment of {sha[:12]} in {p} to be {'/'.join(statuses)}")


def push(emu, p, tag=None):
    """A commit pushed to main, as Gitea fires it: the sha."""
    tag = tag or uuid.uuid4().hex[:8]
    return emu.commit(p, "main", {f"src/{tag}.txt": f"change {tag}\n"}, message=f"Change {tag}\n")


def public(d, p):
    return assert_ok(d.get(proj(p, "deployment")))


def ts(s):
    assert isinstance(s, str) and s, s
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))


def near_now(s, slack=120):
    t = ts(s)
    assert abs((datetime.datetime.now(datetime.timezone.utc) - t).total_seconds()) < slack, s
    return t


# -- Gitea's side -----------------------------------------------------------------------

def gitea_deploy_statuses(emu, p, sha):
    """The commit's synstack/deploy statuses as Gitea's API lists them,
    oldest first."""
    r = emu.get(f"/repos/{p}/statuses/{sha}", params={"limit": 50})
    assert r.status_code == 200, r.text
    return [s for s in reversed(r.json()) if s["context"] == CONTEXT]


def combined_deploy_state(emu, p, sha):
    r = emu.get(f"/repos/{p}/commits/{sha}/status")
    assert r.status_code == 200, r.text
    got = [s for s in r.json()["statuses"] or [] if s["context"] == CONTEXT]
    return got[0]["status"] if got else None


def wait_gitea_final(emu, p, sha, want, timeout=15):
    """Gitea's synstack/deploy statuses of sha once the newest is want
    (the outbox posts them, drained every second)."""
    def f():
        got = gitea_deploy_statuses(emu, p, sha)
        return got if got and got[-1]["status"] == want else None
    return wait_for(f, timeout=timeout, interval=0.2,
                    what=f"Gitea's {CONTEXT} status of {sha[:12]} to be {want}")


def assert_gitea_shows(emu, p, sha, final):
    """pending first, then final; the project page as the target URL."""
    got = wait_gitea_final(emu, p, sha, final)
    states = [s["status"] for s in got]
    assert states[0] == "pending", f"Gitea never showed the deployment pending: {states}"
    assert all(s == "pending" for s in states[:-1]), states
    for s in got:
        assert s["target_url"].endswith(f"/p/{p}"), s
        assert re.match(r"^https?://", s["target_url"]), s
    assert combined_deploy_state(emu, p, sha) == final
    return got


# ====================================================================================
# command: the secrets in the environment, masked in the excerpt
# ====================================================================================

SECRET_SCRIPT = """\
out={out}
printf '%s\\n' "$@" > "$out/argv.txt"
env > "$out/env.txt"
pwd > "$out/pwd.txt"
readlink /proc/self/fd/0 > "$out/stdin.txt"
git rev-parse HEAD > "$out/head.txt"
git config --list > "$out/gitconfig.txt"
ls -A > "$out/ls.txt"
echo "argv: $*"
echo "commit=$SYNSTACK_COMMIT"
echo "project=$SYNSTACK_PROJECT branch=$SYNSTACK_BRANCH"
echo "token=$APP_TOKEN"
printf '%s\\n' "$PEM_KEY" | sed 's/^/line: /'
echo "b64=$(printf '%s' "$APP_TOKEN" | base64 -w0)"
echo "b64url=$(printf '%s' "$APP_TOKEN" | base64 -w0 | tr '+/' '-_' | tr -d '=')"
echo "pem64=$(printf '%s' "$PEM_KEY" | base64 -w0)"
echo "all done"
"""


def app_token():
    """A secret whose base64 has padding and both of + and / (so the
    URL-safe form differs from the standard one, and so does the unpadded)."""
    # A 3-byte group ending in "?" encodes to a final "/", one ending in
    # ">" to "+"; 19 bytes leave "==".
    t = "tk?" + "pq>" + secrets.token_hex(6) + "z"
    b = base64.b64encode(t.encode()).decode()
    assert {"+", "/"} <= set(b) and b.endswith("=="), (t, b)
    return t


def b64_forms(v):
    raw = v.encode()
    out = set()
    for enc in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
        s = enc.decode()
        out |= {s, s.rstrip("=")}
    return out


def test_a_command_gets_the_secrets_in_its_environment_and_the_excerpt_masks_them(
        w, tmp_path):
    d, emu = w.d, w.emu
    p = W
    out = tmp_path / "out"
    out.mkdir()
    token = app_token()
    marks = [secrets.token_hex(10) for _ in range(3)]
    pem = (f"-----BEGIN TEST KEY-----\nMII{marks[0]}\n{marks[1]}==\n"
           f"  indented {marks[2]}\n-----END TEST KEY-----")
    pem_lines = pem.split("\n")
    plat = command_platform(d, tmp_path, SECRET_SCRIPT.format(out=out),
                            args=("--target", "prod"), secret_names=("APP_TOKEN", "PEM_KEY"))
    sponsored(d, emu, p, plat, w=w, secrets_={"APP_TOKEN": token, "PEM_KEY": pem})

    # An agent pushes to the deploy branch with git.
    a = Agent(d)
    sha = push_branch(emu, tmp_path, a.login, a.token, "main",
                      {"src/feature.c": "int feature = 1;\n"}, repo=p, again=True)
    dep = wait_status(d, p, sha)
    assert dep["status"] == "success", dep
    assert dep["trigger"] == "push" and dep["branch"] == "main", dep
    assert dep["platform"] == plat and dep["method"] == "command", dep
    got = deployment(d, p, dep["id"])
    ex = got["log_excerpt"]
    assert isinstance(ex, str) and "all done" in ex, got

    # What the command saw: the pushed commit, the project, the branch;
    # the secrets under their names, in the environment only.
    assert f"commit={sha}\n" in ex, ex
    assert f"project={p} branch=main" in ex, ex
    argv = (out / "argv.txt").read_text().splitlines()
    assert argv == ["--target", "prod"], f"the argv is not the platform's: {argv}"
    argv_line = next(l for l in ex.splitlines() if l.startswith("argv:"))
    assert argv_line == "argv: --target prod", f"a secret in the arguments? {argv_line!r}"
    for v in [token, pem, *pem_lines, *marks]:
        assert v not in (out / "argv.txt").read_text(), "a secret value is an argument"
    env = (out / "env.txt").read_text()
    assert f"APP_TOKEN={token}\n" in env, "the secret is not in the command's environment"
    assert f"PEM_KEY={pem_lines[0]}" in env, env
    assert f"SYNSTACK_COMMIT={sha}\n" in env and f"SYNSTACK_PROJECT={p}\n" in env, env
    assert "SYNSTACK_BRANCH=main\n" in env and f"SYNSTACK_DEPLOYMENT={dep['id']}\n" in env, env
    assert re.search(r"^SYNSTACK_CLONE_URL=\S+/acme/widgets(\.git)?$", env, re.M), env
    assert "PATH=/usr/local/bin:/usr/bin:/bin\n" in env, env
    # It runs in a checkout of the commit: src in a fresh directory, HOME.
    home = re.search(r"^HOME=(.*)$", env, re.M).group(1)
    assert (out / "pwd.txt").read_text().strip() == home + "/src", \
        "the command does not run in src of its fresh directory (HOME)"
    assert (out / "head.txt").read_text().strip() == sha, "the checkout is not the commit"
    assert {"Dockerfile", "README.md", "src"} <= set((out / "ls.txt").read_text().split())
    assert not os.path.exists(home), "the command's fresh directory was left behind"
    # The daemon's Gitea token was git's only: not in the command's
    # environment, not in the checkout's configuration.
    for where in ("env.txt", "gitconfig.txt"):
        assert ADMIN_TOKEN not in (out / where).read_text(), f"the Gitea token is in {where}"
    assert "GIT_CONFIG" not in env, env
    assert (out / "stdin.txt").read_text().strip() == "/dev/null", "stdin is not /dev/null"
    # Nothing of the daemon's own environment is passed on.
    for name in os.environ:
        if name not in ("PATH", "HOME", "LANG", "PWD", "OLDPWD", "SHLVL", "_"):
            assert not re.search(rf"^{re.escape(name)}=", env, re.M), \
                f"the daemon's {name} is in the command's environment"
    assert d.token not in env

    # The excerpt: every secret masked, the value, each line, the base64.
    for v in [token, pem, *pem_lines, *marks, *b64_forms(token), *b64_forms(pem)]:
        assert v not in ex, f"the excerpt shows a secret (or its base64): {v!r}\n{ex}"
    assert "token=" + "*" * len(token) + "\n" in ex, ex
    for line in pem_lines:
        assert "line: " + "*" * len(line) + "\n" in ex, f"{line!r} not masked:\n{ex}"
    std = base64.b64encode(token.encode()).decode()
    url = base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")
    assert "b64=" + "*" * len(std) + "\n" in ex, ex
    assert "b64url=" + "*" * len(url) + "\n" in ex, ex
    assert re.search(r"^pem64=\*+$", ex, re.M), ex
    # Nor in the list, nor the daemon's log.
    listing = json.dumps(deployments(d, p))
    log = d.log()
    for v in [token, pem, *pem_lines[1:4], *marks, ADMIN_TOKEN]:
        assert v not in listing, "a secret in the list of deployments"
        assert v not in log, "a secret in the daemon's log"
    assert ADMIN_TOKEN not in ex

    # Gitea shows it: pending, then success, linking the project page.
    assert_gitea_shows(emu, p, sha, "success")
    # A successful deploy sets deployed_at.
    near_now(public(d, p)["deployed_at"])


def test_a_command_that_exits_3_fails_and_gitea_shows_the_failure(w, tmp_path):
    d, emu = w.d, w.emu
    p = fresh()
    plat = command_platform(d, tmp_path, 'echo "building $SYNSTACK_COMMIT"\n'
                                         'echo "it broke" >&2\nexit 3\n')
    sponsored(d, emu, p, plat, w=w)
    sha = push(emu, p)
    dep = wait_status(d, p, sha)
    assert dep["status"] == "failure", dep
    assert "exited with status 3" in dep["reason"], dep
    ex = deployment(d, p, dep["id"])["log_excerpt"]
    assert f"building {sha}" in ex and "it broke" in ex, ex
    assert_gitea_shows(emu, p, sha, "failure")
    # A failure is no deploy: deployed_at stays unset.
    assert public(d, p)["deployed_at"] is None


def test_a_command_past_the_timeout_is_stopped_and_an_error(daemon, emu, tmp_path):
    d = own_daemon(daemon, emu, **{"deploy.timeout": "2s"})
    p = fresh()
    plat = command_platform(d, tmp_path, 'echo "started"\nsleep 30\necho "not stopped"\n')
    sponsored(d, emu, p, plat)
    data = assert_ok(d.admin_post(proj(p, "deployment/deploy")))
    sha = data["commit"]
    dep = wait_status(d, p, sha, timeout=20)
    assert dep["status"] == "error", dep
    assert "timed out" in dep["reason"], dep
    took = (ts(dep["finished_at"]) - ts(dep["started_at"])).total_seconds()
    assert took < 6, f"a 2 s timeout took {took} s to stop the command"
    ex = deployment(d, p, dep["id"])["log_excerpt"]
    assert "started" in ex and "not stopped" not in ex, ex
    assert_gitea_shows(emu, p, sha, "error")


# ====================================================================================
# hook: a POST to a URL that is a secret
# ====================================================================================

def test_a_deploy_hook_gets_one_post_and_its_url_is_never_shown(w, receiver):
    d, emu = w.d, w.emu
    p = fresh()
    rcv = receiver()
    token = "HOOKTOKEN" + secrets.token_hex(12)
    url = f"{rcv.base}/deploy/{token}"
    d.add_secret(token)
    plat = add_platform(d, "hook", secrets=["DEPLOY_HOOK_URL"], hook_secret="DEPLOY_HOOK_URL")
    sponsored(d, emu, p, plat, w=w, secrets_={"DEPLOY_HOOK_URL": url})
    assert rcv.requests() == [], "the setup called the deploy hook"
    sha = push(emu, p)
    dep = wait_status(d, p, sha)
    assert dep["status"] == "success", dep
    assert dep["method"] == "hook" and dep["trigger"] == "push", dep
    hits = rcv.requests()
    assert len(hits) == 1, f"the hook was called {len(hits)} times: {hits}"
    assert hits[0]["method"] == "POST" and hits[0]["path"] == f"/deploy/{token}", hits[0]
    # The excerpt keeps the answer, the URL in it masked.
    ex = deployment(d, p, dep["id"])["log_excerpt"]
    assert "deploy started for " + "*" * len(url) in ex, ex
    for v in (url, token, *b64_forms(url)):
        assert v not in ex, f"the excerpt shows the hook URL: {ex}"
    assert token not in json.dumps(deployments(d, p)) and token not in (dep["reason"] or "")
    assert_gitea_shows(emu, p, sha, "success")
    # Delivered once, even after the reconciliation looks.
    admin_sync(d)
    settle(w)
    assert len(rcv.requests()) == 1 and len(deployments(d, p)) == 1
    log = d.log()
    assert url not in log and token not in log, "the daemon logged the deploy hook's URL"


def test_a_hook_answering_500_fails_and_an_unreachable_one_is_an_error(w, receiver):
    d, emu = w.d, w.emu
    p = fresh()
    rcv = receiver(status=500)
    token = "HOOKTOKEN" + secrets.token_hex(12)
    url = f"{rcv.base}/deploy/{token}"
    d.add_secret(token)
    plat = add_platform(d, "hook", secrets=["DEPLOY_HOOK_URL"], hook_secret="DEPLOY_HOOK_URL")
    sponsored(d, emu, p, plat, w=w, secrets_={"DEPLOY_HOOK_URL": url})
    sha = push(emu, p)
    dep = wait_status(d, p, sha)
    assert dep["status"] == "failure", dep
    assert re.search(r"\b500\b", dep["reason"]), dep
    assert token not in dep["reason"], dep
    assert [h["method"] for h in rcv.requests()] == ["POST"], rcv.requests()
    assert_gitea_shows(emu, p, sha, "failure")

    # Nothing listens there: no answer at all.
    token2 = "HOOKTOKEN" + secrets.token_hex(12)
    port = free_port()
    url2 = f"http://127.0.0.1:{port}/deploy/{token2}"
    d.add_secret(token2)
    put_secret(d, p, "DEPLOY_HOOK_URL", url2)
    sha2 = push(emu, p)
    dep2 = wait_status(d, p, sha2)
    assert dep2["status"] == "error", dep2
    assert token2 not in dep2["reason"] and str(port) not in dep2["reason"], dep2
    assert_gitea_shows(emu, p, sha2, "error")
    log = d.log()
    for v in (url, token, url2, token2):
        assert v not in log, "the daemon logged a deploy hook's URL"


# ====================================================================================
# once per commit; missed pushes; superseded ones
# ====================================================================================

def test_a_push_delivered_again_deploys_once(w, tmp_path):
    d, emu = w.d, w.emu
    p = fresh()
    runs = tmp_path / "runs.txt"
    plat = command_platform(d, tmp_path, f'echo "$SYNSTACK_COMMIT" >> {runs}\n')
    sponsored(d, emu, p, plat, w=w)
    sha = push(emu, p)
    assert wait_status(d, p, sha)["status"] == "success"
    mine = [x for x in emu.deliveries()
            if x["hook_id"] == w.hook and x["event_type"] == "push"
            and json.loads(x["body"]).get("after") == sha]
    assert len(mine) == 1 and mine[0]["outcome"] == "delivered", mine
    x = mine[0]
    # Gitea's "Replay" (a new delivery id, the same body), twice.
    replays = [emu.control("webhooks/replay", {"delivery": x["id"]})["delivery"]
               for _ in range(2)]
    recs = {r["id"]: r for r in emu.deliveries()}
    assert [recs[i]["outcome"] for i in replays] == ["delivered"] * 2, \
        [(recs[i]["outcome"], recs[i]["status"]) for i in replays]
    # The stored delivery posted again as it was (same id) ...
    r = d.post("/hooks/gitea", data=x["body"].encode(),
               headers={k: v for k, v in x["headers"].items() if k.lower() != "content-length"})
    assert r.status_code < 300, (r.status_code, r.text)
    # ... and under a fresh id, signed anew.
    r = post_hook(d, x["body"].encode(), event_type="push", secret=w.secret)
    assert r.status_code < 300, (r.status_code, r.text)
    settle(w)
    admin_sync(d)
    settle(w)
    rows = deployments(d, p)
    assert [(x["commit"], x["trigger"], x["status"]) for x in rows] == \
        [(sha, "push", "success")], rows
    assert runs.read_text().split() == [sha], "the command ran more than once"


def test_a_push_missed_by_webhooks_is_deployed_by_the_reconciliation(daemon, emu, tmp_path):
    d = own_daemon(daemon, emu)         # no hook: it hears of no push
    p = fresh()
    runs = tmp_path / "runs.txt"
    plat = command_platform(d, tmp_path, f'echo "$SYNSTACK_COMMIT" >> {runs}\n')
    head = sponsored(d, emu, p, plat)
    # A head never seen before is noted, not deployed.
    admin_sync(d)
    assert deployments(d, p) == [], "the reconciliation deployed a head it had never seen"
    sha = push(emu, p)
    assert deployments(d, p) == []
    admin_sync(d)
    dep = wait_status(d, p, sha)
    assert dep["status"] == "success" and dep["trigger"] == "reconciliation", dep
    assert [x["commit"] for x in deployments(d, p)] == [sha], "the old head was deployed"
    assert runs.read_text().split() == [sha]
    # It does not come back.
    admin_sync(d)
    assert len(deployments(d, p)) == 1, deployments(d, p)
    assert head != sha
    assert_gitea_shows(emu, p, sha, "success")


BLOCKING_SCRIPT = """\
echo "start $SYNSTACK_COMMIT" >> {order}
while [ ! -e {release} ]; do sleep 0.1; done
echo "end $SYNSTACK_COMMIT" >> {order}
echo "deployed $SYNSTACK_COMMIT"
"""


def test_a_newer_push_supersedes_a_queued_one(w, tmp_path):
    d, emu = w.d, w.emu
    p = fresh()
    order, release = tmp_path / "order.txt", tmp_path / "release"
    plat = command_platform(d, tmp_path, BLOCKING_SCRIPT.format(order=order, release=release))
    sponsored(d, emu, p, plat, w=w)
    seen = []

    def running():
        n = [x["commit"] for x in deployments(d, p) if x["status"] == "in_progress"]
        seen.append(len(n))
        return n

    try:
        first = push(emu, p, "first")
        wait_status(d, p, first, ("in_progress",))
        wait_for(lambda: order.exists() and order.read_text().split() == ["start", first],
                 what="the first deploy to start")
        middle = push(emu, p, "middle")
        wait_status(d, p, middle, ("queued",))
        last = push(emu, p, "last")
        wait_status(d, p, last, ("queued",))
        mid = wait_status(d, p, middle, ("canceled",))
        assert "superseded" in mid["reason"], mid
        assert running() == [first], "another deployment started while one runs"
        assert of_commit(d, p, last)[0]["status"] == "queued"
    finally:
        release.touch()
    done = wait_status(d, p, last, ("success",))
    rows = {x["commit"]: x for x in deployments(d, p)}
    assert rows[first]["status"] == "inactive", "the newer success did not replace the first"
    assert rows[middle]["status"] == "canceled", rows[middle]
    assert ts(done["started_at"]) >= ts(rows[first]["finished_at"]), (done, rows[first])
    assert order.read_text().split() == ["start", first, "end", first, "start", last,
                                         "end", last], order.read_text()
    assert max(seen) == 1, seen
    # Gitea: the middle one is not left pending.
    wait_gitea_final(emu, p, last, "success")
    got = wait_for(lambda: [s for s in gitea_deploy_statuses(emu, p, middle)
                            if s["status"] != "pending"], what="the middle one's end in Gitea")
    assert got[-1]["status"] in ("error", "failure"), got


# ====================================================================================
# manual: an admin deploys, then marks it deployed
# ====================================================================================

def test_a_manual_platform_waits_for_the_admin_and_mark_deployed_goes_live(w):
    d, emu = w.d, w.emu
    p = fresh()
    plat = add_platform(d, "manual")
    sponsored(d, emu, p, plat, w=w)
    sha = push(emu, p)
    dep = wait_for(lambda: (of_commit(d, p, sha) or [None])[0], what="the queued deployment")
    assert dep["status"] == "queued" and dep["method"] == "manual", dep
    # Nothing runs it: it waits for the admin (a pass or two later).
    settle(w)
    admin_sync(d)
    assert of_commit(d, p, sha)[0]["status"] == "queued"
    assert wait_for(lambda: combined_deploy_state(emu, p, sha), what="a status in Gitea") \
        == "pending"

    url1 = "https://app1.example.com/"
    data = assert_ok(d.admin_post(proj(p, "deployment/mark-deployed"), json={"url": url1}))
    assert data["commit"] == sha, data
    first = of_commit(d, p, sha)[0]
    assert first["status"] == "success" and first["url"] == url1, first
    pub = public(d, p)
    assert pub["status"] == "live" and pub["url"] == url1, pub
    t1 = near_now(pub["deployed_at"])
    assert_gitea_shows(emu, p, sha, "success")

    # Live: the next push waits too; marking it replaces the first.
    sha2 = push(emu, p)
    dep2 = wait_for(lambda: (of_commit(d, p, sha2) or [None])[0], what="the second one")
    assert dep2["status"] == "queued", dep2
    url2 = "https://app2.example.com/"
    data = assert_ok(d.admin_post(proj(p, "deployment/mark-deployed"), json={"url": url2}))
    assert data["commit"] == sha2, data
    rows = {x["commit"]: x for x in deployments(d, p)}
    assert rows[sha2]["status"] == "success" and rows[sha2]["url"] == url2, rows[sha2]
    assert rows[sha]["status"] == "inactive", rows[sha]
    pub = public(d, p)
    assert pub["status"] == "live" and pub["url"] == url2, pub
    assert near_now(pub["deployed_at"]) >= t1, pub
    assert_gitea_shows(emu, p, sha2, "success")


# ====================================================================================
# who deploys: not unsponsored projects; the admin on demand
# ====================================================================================

def test_a_project_neither_sponsored_nor_live_is_not_deployed(w, tmp_path):
    d, emu = w.d, w.emu
    runs = tmp_path / "runs.txt"
    plat = command_platform(d, tmp_path, f'echo "$SYNSTACK_PROJECT $SYNSTACK_COMMIT" >> {runs}\n')
    none_p, ready_p, control = fresh(), fresh(), fresh()
    assert_ok(d.admin_post(proj(none_p, "deployment"), json={"platform": plat}))
    make_ready(d, emu, ready_p)
    settle(w)
    assert_ok(d.admin_post(proj(ready_p, "deployment"), json={"platform": plat}))
    move(d, ready_p, "ready")
    sponsored(d, emu, control, plat, w=w)
    a, b = push(emu, none_p), push(emu, ready_p)
    c = push(emu, control)
    assert wait_status(d, control, c)["status"] == "success"
    settle(w)
    assert deployments(d, none_p) == [] and deployments(d, ready_p) == []
    assert runs.read_text().splitlines() == [f"{control} {c}"], runs.read_text()
    for p, sha in ((none_p, a), (ready_p, b)):
        assert gitea_deploy_statuses(emu, p, sha) == [], "Gitea shows a deployment"
        assert public(d, p)["deployed_at"] is None


def test_the_admin_deploys_the_head_now_and_no_one_else_may(w, tmp_path):
    d, emu = w.d, w.emu
    p, other = fresh(), fresh()
    runs = tmp_path / "runs.txt"
    plat = command_platform(d, tmp_path, f'echo "$SYNSTACK_COMMIT" >> {runs}\n')
    sponsored(d, emu, p, plat, w=w)
    sha = push(emu, p)
    assert wait_status(d, p, sha)["status"] == "success"
    # The same head again: an admin may deploy a commit once more.
    data = assert_ok(d.admin_post(proj(p, "deployment/deploy")))
    assert data["commit"] == sha and data["branch"] == "main", data
    wait_for(lambda: [x for x in of_commit(d, p, sha)
                      if x["trigger"] == "admin" and x["status"] in FINAL],
             timeout=30, what="the admin's deployment")
    rows = of_commit(d, p, sha)
    assert sorted((x["trigger"], x["status"]) for x in rows) == \
        [("admin", "success"), ("push", "inactive")], rows
    assert runs.read_text().split() == [sha, sha]

    # A head the daemon never heard of (no push delivered): the admin
    # deploys what Gitea says the head is now.
    w.emu.webhooks(mode="off")
    try:
        sha2 = push(emu, p)
    finally:
        w.emu.webhooks(mode="deliver")
    data = assert_ok(d.admin_post(proj(p, "deployment/deploy")))
    assert data["commit"] == sha2, data
    dep = wait_status(d, p, sha2)
    assert dep["status"] == "success" and dep["trigger"] == "admin", dep

    # Not for a project that is neither sponsored nor live.
    assert_ok(d.admin_post(proj(other, "deployment"), json={"platform": plat}))
    assert_error(d.admin_post(proj(other, "deployment/deploy")), 422)
    assert deployments(d, other) == []
    # Sponsors and agents may not; nobody without a token either.
    s = created(d.admin_post(proj(p, "sponsors"), json={"name": "A sponsor"}))
    tok = created(d.admin_post(proj(p, "sponsors", s["id"], "tokens"), json={}))["token"]
    d.add_secret(tok)
    assert_ok(d.get(proj(p, "deployments"), headers={"Authorization": f"Bearer {tok}"}))
    _, key = d.new_agent(status="active")
    before = len(deployments(d, p))
    for h in ({"Authorization": f"Bearer {tok}"}, d.agent_headers(key)):
        assert_error(d.post(proj(p, "deployment/deploy"), headers=h), 403, "forbidden")
    assert_error(d.post(proj(p, "deployment/deploy")), 401, "unauthorized")
    settle(w)
    assert len(deployments(d, p)) == before


def test_details_tells_an_agent_the_deployment_and_the_last_one(w, tmp_path):
    d, emu = w.d, w.emu
    p = fresh()
    plat = command_platform(d, tmp_path, "echo ok\nexit 3\n")
    _, key = d.new_agent(status="active")
    r = act(d, key, f"details {p}")
    assert assert_ok(r)["deployment"]["status"] == "none"
    assert re.search(r"\bnone\b", r.json()["text"]), r.json()["text"]
    sponsored(d, emu, p, plat, w=w)
    sha = push(emu, p)
    assert wait_status(d, p, sha)["status"] == "failure"
    r = act(d, key, f"details {p}")
    data = assert_ok(r)
    text = r.json()["text"]
    assert re.search(r"\bsponsored\b", text), text
    assert sha[:12] in text and re.search(r"\bfailure\b", text), \
        f"details does not tell the last deployment: {text}"
    dep = data["deployment"]
    assert dep["status"] == "sponsored", dep
    assert dep["last"]["commit"] == sha and dep["last"]["status"] == "failure", dep
