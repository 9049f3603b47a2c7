"""The deployment and sponsorship registry (docs/deployment.md): the
deployment statuses and their transitions, the sponsors that drive
suspension, readiness read from Gitea, sponsors and their tokens, the
platform catalog, the admin's project list, and bad input on every route
of the block.  (Secrets and the authorisation matrix are
test_deployment_secrets.py's.)

Real PostgreSQL, one daemon for the module, and a Gitea emulator of the
module's own whose seed holds a pool of repositories, acme/dep-00 to
acme/dep-NN (README.md only, branch main), plus acme/dep-trunk (default
branch trunk).  Each test takes fresh repositories from the pool, and
makes files, branches and commit statuses in the emulator's real git.
"""

import copy
import datetime
import itertools
import json
import re
import uuid

import pytest

from conftest import assert_error, assert_ok, unique_name, wait_for
from emulator import DEFAULT_SEED, Emulator
from mirror_helpers import wait_startup_sync

POOL = 64
TRUNK = "acme/dep-trunk"
STATUSES = ("none", "ready", "sponsored", "live", "suspended")
# docs/deployment.md, "Deployment status": from -> the allowed next ones.
TABLE = {
    "none": {"ready"},
    "ready": {"none", "sponsored"},
    "sponsored": {"live", "ready", "suspended"},
    "live": {"sponsored", "suspended"},
    "suspended": {"sponsored", "live", "ready", "none"},
}
SEEDED = {"railway", "fly", "render", "docker", "k8s"}
PLATFORM_KEYS = {"name", "display_name", "secrets", "trigger", "hook_secret", "command",
                 "config_files", "docs_url", "retired", "projects"}
DEPLOYMENT_KEYS = {"project", "status", "platform", "branch", "url", "deployed_at",
                   "readiness", "sponsors", "allowed"}
SPONSOR_KEYS = {"id", "name", "github_username", "covers_hosting", "covers_domain",
                "monthly_budget", "tier", "recurrence", "public", "status", "started_at",
                "ended_at"}

DOCKERFILE = 'FROM alpine:3.20\nCMD ["true"]\n'
README_DEPLOY = "# App\n\nA small app.\n\nTo deploy, build the image and push it.\n"
README_PLAIN = "# App\n\nA small app that does one thing.\n"
FLY_TOML = 'app = "dep"\nprimary_region = "ams"\n'
RENDER_YAML = "services:\n  - type: web\n    name: dep\n"
JSON = {"Content-Type": "application/json"}


# -- the world ----------------------------------------------------------------------

def deploy_seed():
    s = copy.deepcopy(DEFAULT_SEED)
    for i in range(POOL):
        s["repos"].append({"owner": "acme", "name": f"dep-{i:02d}",
                           "files": {"README.md": f"# dep-{i:02d}\n"}})
    s["repos"].append({"owner": "acme", "name": "dep-trunk", "default_branch": "trunk",
                       "files": {"README.md": "# dep-trunk\n"}})
    return s


@pytest.fixture(scope="module")
def emu():
    e = Emulator(seed=deploy_seed())
    yield e
    e.stop()


@pytest.fixture(scope="module")
def d(daemon_module, emu):
    x = daemon_module(conf={"gitea.url": emu.url, "sync.interval": "1h"})
    wait_startup_sync(x)
    n = x.psql("SELECT count(*) FROM projects WHERE owner = 'acme' AND name LIKE 'dep-%'"
               " AND deleted_at IS NULL")
    assert n == [[str(POOL + 1)]], f"the pool is not mirrored: {n}"
    return x


_taken = itertools.count()


def fresh():
    """A repository of the pool no other test has touched."""
    i = next(_taken)
    assert i < POOL, "the pool of seeded repositories is used up: raise POOL"
    return f"acme/dep-{i:02d}"


# -- Gitea's side -------------------------------------------------------------------

def commit(emu, p, files=None, delete=(), branch="main", message="Change files\n"):
    """A commit in the emulator's real git, as if pushed: its sha."""
    return emu.commit(p, branch, files or {}, delete=list(delete), message=message)


def head_of(emu, p, branch="main"):
    r = emu.get(f"/repos/{p}/branches/{branch}")
    assert r.status_code == 200, r.text
    return r.json()["commit"]["id"]


def post_status(emu, p, sha, state, context="ci/build"):
    r = emu.post(f"/repos/{p}/statuses/{sha}",
                 json={"state": state, "context": context,
                       "description": f"{context} {state}",
                       "target_url": f"https://ci.example.invalid/{sha[:7]}"})
    assert r.status_code == 201, r.text


def make_ready(emu, p, branch="main", files=None):
    """Everything readiness asks for on branch: a Dockerfile, a README that
    says how to deploy, a successful status on the head.  The head."""
    sha = commit(emu, p, files or {"Dockerfile": DOCKERFILE, "README.md": README_DEPLOY},
                 branch=branch)
    post_status(emu, p, sha, "success")
    return sha


# -- our side -----------------------------------------------------------------------

def dpath(p):
    return f"/api/v1/projects/{p}/deployment"


def spath(p, sid=None):
    return f"/api/v1/projects/{p}/sponsors" + ("" if sid is None else f"/{sid}")


def admin(d, method, path, body=None, raw=None, headers=None):
    h = d.admin_headers() if headers is None else dict(headers)
    if raw is not None:
        h.update(JSON)
        return d.request(method, path, data=raw, headers=h)
    if body is None:
        return d.request(method, path, headers=h)
    return d.request(method, path, json=body, headers=h)


def created(r):
    """An answer to a POST that makes something: 200 or 201, ok."""
    assert r.status_code in (200, 201), f"{r.status_code}: {r.text[:500]}"
    return assert_ok(r, r.status_code)


def deleted(r):
    assert r.status_code in (200, 204), f"{r.status_code}: {r.text[:500]}"
    if r.status_code == 200:
        assert_ok(r)


def deployment(d, p):
    """The public answer: no credentials at all."""
    data = assert_ok(d.get(dpath(p)))
    assert DEPLOYMENT_KEYS <= set(data), data
    return data


def set_deploy(d, p, **body):
    data = assert_ok(admin(d, "POST", dpath(p), body))
    for k, v in body.items():
        if k == "platform":
            assert pname(data["platform"]) == v, data
        else:
            assert data[k] == v, (k, data)
    return data


def transition(d, p, to):
    return admin(d, "POST", dpath(p), {"status": to})


def move(d, p, to):
    data = assert_ok(transition(d, p, to))
    assert data["status"] == to, data
    assert deployment(d, p)["status"] == to
    return data


def readiness(d, p):
    """POST .../readiness: the readiness it found."""
    data = assert_ok(admin(d, "POST", dpath(p) + "/readiness"))
    rd = data["readiness"] if "readiness" in data else data
    assert isinstance(rd, dict) and {"ready", "missing", "head", "checked_at"} <= set(rd), data
    assert isinstance(rd["ready"], bool) and isinstance(rd["missing"], list), rd
    assert all(isinstance(m, str) and m for m in rd["missing"]), rd
    assert rd["ready"] == (rd["missing"] == []), rd
    return rd


def kinds(missing):
    """Which requirement each `missing` sentence names."""
    out = set()
    for m in missing:
        low = m.lower()
        if "dockerfile" in low:
            out.add("files")
        elif "readme" in low:
            out.add("readme")
        elif re.search(r"status|\bci\b|check", low):
            out.add("status")
        else:
            out.add("?" + m)
    return out


def add_sponsor(d, p, name=None, **fields):
    body = {"name": name or unique_name("sp")}
    body.update(fields)
    data = created(admin(d, "POST", spath(p), body))
    assert data["name"] == body["name"], data
    return data


def patch_sponsor(d, p, sid, **fields):
    return admin(d, "PATCH", spath(p, sid), fields)


def sponsors(d, p, headers=None):
    data = assert_ok(admin(d, "GET", spath(p), headers=headers))
    assert isinstance(data.get("sponsors"), list), data
    return data["sponsors"]


def sponsor_row(d, p, sid):
    rows = [s for s in sponsors(d, p) if s["id"] == sid]
    assert len(rows) == 1, (sid, sponsors(d, p))
    return rows[0]


def status_of(dep):
    """A sponsor answer's `deployment`: the status, or an object with it."""
    return dep["status"] if isinstance(dep, dict) else dep


def pname(platform):
    if platform is None or isinstance(platform, str):
        return platform
    return platform["name"]


def audit(d, p=None):
    q = "limit=1000" + (f"&project={p}" if p else "")
    data = assert_ok(d.admin_get("/api/v1/admin/audit?" + q))
    assert isinstance(data.get("entries"), list), data
    return data["entries"]


def status_changes(d, p):
    """The project's deployment.status entries, oldest first: (from, to, actor_kind)."""
    out = [(e["detail"].get("from"), e["detail"].get("to"), e["actor_kind"])
           for e in audit(d, p) if e["action"] == "deployment.status"]
    return out[::-1]


def actions(d, p=None):
    return [e["action"] for e in audit(d, p)]


def ts(s):
    assert isinstance(s, str) and s, s
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))


def near_now(s, slack=120):
    t = ts(s)
    now = datetime.datetime.now(datetime.timezone.utc)
    assert abs((now - t).total_seconds()) < slack, (s, now)
    return t


def word_in(w, text):
    return re.search(rf"(?<![a-z_]){re.escape(w)}(?![a-z_])", text) is not None


def to_ready(d, emu, p, **deploy):
    make_ready(emu, p)
    if deploy:
        set_deploy(d, p, **deploy)
    move(d, p, "ready")


def to_sponsored(d, emu, p, sponsor=None, **deploy):
    to_ready(d, emu, p, **deploy)
    s = add_sponsor(d, p, **(sponsor or {}))
    move(d, p, "sponsored")
    return s


def to_live(d, emu, p, platform="fly", sponsor=None):
    s = to_sponsored(d, emu, p, sponsor=sponsor, platform=platform)
    data = move(d, p, "live")
    near_now(data["deployed_at"])
    return s


def unknown_sponsor_id(known):
    """An id of the same form as known that names no sponsor."""
    if isinstance(known, int):
        return 987654321
    return str(uuid.uuid4())


# ====================================================================================
# The deployment and its statuses
# ====================================================================================

def test_a_project_starts_with_no_deployment(d):
    p = fresh()
    dep = deployment(d, p)
    assert dep["project"] == p and dep["status"] == "none", dep
    assert dep["platform"] is None and dep["readiness"] is None, dep
    assert dep["branch"] == "main", "the deploy branch is the default branch unless set"
    assert dep["url"] in (None, "") and dep["deployed_at"] is None, dep
    assert dep["sponsors"] == [], dep
    assert set(dep["allowed"]) == TABLE["none"], dep


def test_setting_platform_branch_and_url(d, emu):
    p = fresh()
    commit(emu, p, {"Dockerfile": DOCKERFILE}, branch="release")
    data = set_deploy(d, p, platform="fly", branch="release", url="https://dep.example.com/")
    dep = deployment(d, p)
    assert dep["platform"]["name"] == "fly", dep
    assert {"name", "display_name", "docs_url", "secrets"} <= set(dep["platform"]), dep
    assert dep["platform"]["docs_url"].startswith(("http://", "https://")), dep
    assert dep["branch"] == "release" and dep["url"] == "https://dep.example.com/", dep
    assert dep["status"] == "none" == data["status"], dep
    # One field at a time leaves the others.
    set_deploy(d, p, url="https://other.example.com/app")
    dep = deployment(d, p)
    assert (pname(dep["platform"]), dep["branch"], dep["url"]) == \
        ("fly", "release", "https://other.example.com/app"), dep
    assert "deployment.set" in actions(d, p)


def test_every_transition_of_the_table_allowed_and_refused(d, emu):
    """One project walks every edge of the table; in each status it meets,
    every other target is refused with invalid_transition, whose message
    names where it is and where it may go; only the allowed ones are
    audited, with from, to and the admin."""
    walk = ["ready", "none", "ready", "sponsored", "ready", "sponsored", "suspended",
            "sponsored", "live", "sponsored", "live", "suspended", "live", "suspended",
            "ready", "sponsored", "suspended", "none"]
    edges = set(zip(["none"] + walk, walk))
    assert edges == {(a, b) for a in TABLE for b in TABLE[a]}, "the walk misses an edge"
    p = fresh()
    make_ready(emu, p)
    set_deploy(d, p, platform="fly")
    add_sponsor(d, p, name="Walk Sponsor")
    cur, done, seen, last_live, same = "none", [], set(), None, []
    for to in walk:
        if cur not in seen:
            seen.add(cur)
            dep = deployment(d, p)
            assert set(dep["allowed"]) == TABLE[cur], (cur, dep["allowed"])
            # The current status is no row of the table either (checked
            # at the end, so the walk goes on).
            r = transition(d, p, cur)
            same.append((cur, r.status_code, r.json().get("error", {}).get("code")))
            assert deployment(d, p)["status"] == cur
            for bad in sorted(set(STATUSES) - TABLE[cur] - {cur}):
                err = assert_error(transition(d, p, bad), 422, "invalid_transition")
                msg = err["message"]
                assert word_in(cur, msg), f"{cur} -> {bad}: the message does not name " \
                    f"the current status: {msg!r}"
                for nxt in TABLE[cur]:
                    assert word_in(nxt, msg), \
                        f"{cur} -> {bad}: the message does not name {nxt}: {msg!r}"
                assert deployment(d, p)["status"] == cur, (cur, bad)
        data = move(d, p, to)
        done.append((cur, to))
        if to == "live":
            t = near_now(data["deployed_at"])
            assert last_live is None or t > last_live, "going live again sets deployed_at"
            last_live = t
            assert deployment(d, p)["deployed_at"] == data["deployed_at"]
        cur = to
    assert status_changes(d, p) == [(a, b, "admin") for a, b in done]
    assert sorted(same) == [(st, 422, "invalid_transition") for st in sorted(STATUSES)], \
        f"asking for the current status is not refused: {same}"


def test_unknown_status_is_invalid_field_not_a_transition(d):
    p = fresh()
    for bad in ("deployed", "LIVE", "", "ready ", 5, True, ["ready"], {"to": "ready"}):
        assert_error(transition(d, p, bad), 400, "invalid_field")
    assert deployment(d, p)["status"] == "none"
    assert status_changes(d, p) == []


def test_to_ready_needs_readiness_and_says_what_is_missing(d, emu):
    p = fresh()
    err = assert_error(transition(d, p, "ready"), 422, "not_ready")
    msg = err["message"]
    assert "Dockerfile" in msg and "readme" in msg.lower() and "status" in msg.lower(), err
    commit(emu, p, {"Dockerfile": DOCKERFILE, "README.md": README_DEPLOY})
    err = assert_error(transition(d, p, "ready"), 422, "not_ready")
    assert "status" in err["message"].lower(), err
    assert "Dockerfile" not in err["message"] and "readme" not in err["message"].lower(), err
    assert deployment(d, p)["status"] == "none"
    post_status(emu, p, head_of(emu, p), "success")
    move(d, p, "ready")
    assert status_changes(d, p) == [("none", "ready", "admin")]


def test_moving_to_ready_reads_gitea_at_that_moment(d, emu):
    """A cached readiness that passed does not count once Gitea changed."""
    p = fresh()
    make_ready(emu, p)
    assert readiness(d, p)["ready"] is True
    commit(emu, p, delete=["Dockerfile"])
    err = assert_error(transition(d, p, "ready"), 422, "not_ready")
    assert "Dockerfile" in err["message"], err
    assert deployment(d, p)["status"] == "none"


def test_to_sponsored_needs_an_active_sponsor_covering_hosting(d, emu):
    p = fresh()
    to_ready(d, emu, p)
    assert_error(transition(d, p, "sponsored"), 422, "needs_sponsor")
    # Paying for the domain only does not count.
    add_sponsor(d, p, covers_hosting=False, covers_domain=True)
    assert_error(transition(d, p, "sponsored"), 422, "needs_sponsor")
    # Nor a paused or an ended one.
    paused = add_sponsor(d, p)
    assert assert_ok(patch_sponsor(d, p, paused["id"], status="paused"))["status"] == "paused"
    ended = add_sponsor(d, p)
    assert assert_ok(patch_sponsor(d, p, ended["id"], status="ended"))["status"] == "ended"
    assert_error(transition(d, p, "sponsored"), 422, "needs_sponsor")
    assert deployment(d, p)["status"] == "ready"
    assert_ok(patch_sponsor(d, p, paused["id"], status="active"))
    move(d, p, "sponsored")
    assert status_changes(d, p) == [("none", "ready", "admin"),
                                    ("ready", "sponsored", "admin")]


def test_to_live_needs_a_platform_and_sets_deployed_at(d, emu):
    p = fresh()
    to_sponsored(d, emu, p)
    err = assert_error(transition(d, p, "live"), 422, "needs_platform")
    assert err["hint"], err
    dep = deployment(d, p)
    assert dep["status"] == "sponsored" and dep["deployed_at"] is None, dep
    set_deploy(d, p, platform="render")
    data = move(d, p, "live")
    near_now(data["deployed_at"])
    assert deployment(d, p)["deployed_at"] == data["deployed_at"]


def test_from_suspended_the_needs_hold_too(d, emu):
    p = fresh()
    s = to_sponsored(d, emu, p)
    move(d, p, "suspended")
    assert_error(transition(d, p, "live"), 422, "needs_platform")
    set_deploy(d, p, platform="fly")
    assert assert_ok(patch_sponsor(d, p, s["id"], status="ended"))["status"] == "ended"
    assert deployment(d, p)["status"] == "suspended"
    assert_error(transition(d, p, "sponsored"), 422, "needs_sponsor")
    assert_error(transition(d, p, "live"), 422, "needs_sponsor")
    assert deployment(d, p)["status"] == "suspended"
    # Back to ready needs nothing.
    move(d, p, "ready")


# ====================================================================================
# Sponsors drive suspension
# ====================================================================================

def test_the_last_hosting_sponsor_ending_suspends_a_live_project(d, emu):
    p = fresh()
    s = to_live(d, emu, p)
    data = assert_ok(patch_sponsor(d, p, s["id"], status="ended"))
    assert data["status"] == "ended" and data["ended_at"], data
    assert status_of(data["deployment"]) == "suspended", data
    assert deployment(d, p)["status"] == "suspended"
    assert status_changes(d, p)[-1] == ("live", "suspended", "system")
    # An ended sponsor does not come back, nor does the project.
    assert_error(patch_sponsor(d, p, s["id"], status="active"), 422, "invalid_transition")
    assert deployment(d, p)["status"] == "suspended"


def test_a_paused_sponsor_suspends_and_its_return_brings_the_project_back(d, emu):
    p = fresh()
    s = to_live(d, emu, p)
    data = assert_ok(patch_sponsor(d, p, s["id"], status="paused"))
    assert status_of(data["deployment"]) == "suspended", data
    assert deployment(d, p)["status"] == "suspended"
    data = assert_ok(patch_sponsor(d, p, s["id"], status="active"))
    assert status_of(data["deployment"]) == "live", data
    assert deployment(d, p)["status"] == "live"
    assert status_changes(d, p)[-2:] == [("live", "suspended", "system"),
                                         ("suspended", "live", "system")]


def test_a_sponsored_project_goes_back_to_sponsored(d, emu):
    p = fresh()
    s = to_sponsored(d, emu, p)
    assert_ok(patch_sponsor(d, p, s["id"], status="paused"))
    assert deployment(d, p)["status"] == "suspended"
    assert_ok(patch_sponsor(d, p, s["id"], status="active"))
    assert deployment(d, p)["status"] == "sponsored"
    assert status_changes(d, p)[-2:] == [("sponsored", "suspended", "system"),
                                         ("suspended", "sponsored", "system")]


def test_only_the_last_hosting_sponsor_suspends(d, emu):
    p = fresh()
    a = to_live(d, emu, p)
    b = add_sponsor(d, p)
    data = assert_ok(patch_sponsor(d, p, a["id"], status="paused"))
    assert status_of(data["deployment"]) == "live", data
    assert deployment(d, p)["status"] == "live"
    assert_ok(patch_sponsor(d, p, b["id"], status="ended"))
    assert deployment(d, p)["status"] == "suspended"
    assert_ok(patch_sponsor(d, p, a["id"], status="active"))
    assert deployment(d, p)["status"] == "live"


def test_a_sponsor_not_covering_hosting_does_not_count(d, emu):
    p = fresh()
    h = to_live(d, emu, p)
    add_sponsor(d, p, covers_hosting=False, covers_domain=True)
    assert_ok(patch_sponsor(d, p, h["id"], status="ended"))
    assert deployment(d, p)["status"] == "suspended"
    assert status_changes(d, p)[-1] == ("live", "suspended", "system")


def test_a_manual_suspension_is_not_undone_by_a_sponsor_returning(d, emu):
    p = fresh()
    s = to_live(d, emu, p)
    move(d, p, "suspended")
    assert_ok(patch_sponsor(d, p, s["id"], status="paused"))
    assert deployment(d, p)["status"] == "suspended"
    data = assert_ok(patch_sponsor(d, p, s["id"], status="active"))
    assert status_of(data["deployment"]) == "suspended", data
    assert deployment(d, p)["status"] == "suspended"
    assert status_changes(d, p)[-1] == ("live", "suspended", "admin")
    # The admin may take it live again.
    move(d, p, "live")


def test_sponsors_of_a_project_not_yet_sponsored_change_nothing(d, emu):
    p = fresh()
    to_ready(d, emu, p)
    s = add_sponsor(d, p)
    assert_ok(patch_sponsor(d, p, s["id"], status="paused"))
    assert_ok(patch_sponsor(d, p, s["id"], status="ended"))
    assert deployment(d, p)["status"] == "ready"
    assert status_changes(d, p) == [("none", "ready", "admin")]


# ====================================================================================
# Readiness
# ====================================================================================

def test_readiness_names_each_missing_requirement(d, emu):
    p = fresh()
    rd = readiness(d, p)
    assert rd["ready"] is False and kinds(rd["missing"]) == {"files", "status", "readme"}, rd
    assert rd["head"] == head_of(emu, p), rd
    first = near_now(rd["checked_at"])
    # The answer is kept: the public GET shows it.
    pub = deployment(d, p)["readiness"]
    assert pub is not None and pub["ready"] is False and pub["head"] == rd["head"], pub
    assert pub["checked_at"] == rd["checked_at"] and pub["missing"] == rd["missing"], pub

    h1 = commit(emu, p, {"Dockerfile": DOCKERFILE})
    rd = readiness(d, p)
    assert kinds(rd["missing"]) == {"status", "readme"} and rd["head"] == h1, rd
    # A README without a word on deploying is not enough.
    h2 = commit(emu, p, {"README.md": README_PLAIN})
    assert kinds(readiness(d, p)["missing"]) == {"status", "readme"}
    h3 = commit(emu, p, {"README.md": README_DEPLOY})
    rd = readiness(d, p)
    assert kinds(rd["missing"]) == {"status"} and rd["head"] == h3, rd
    # Only a successful combined status counts; statuses on older commits
    # do not.
    post_status(emu, p, h2, "success")
    assert kinds(readiness(d, p)["missing"]) == {"status"}
    post_status(emu, p, h3, "pending")
    assert kinds(readiness(d, p)["missing"]) == {"status"}
    post_status(emu, p, h3, "failure")
    assert kinds(readiness(d, p)["missing"]) == {"status"}
    post_status(emu, p, h3, "success")
    post_status(emu, p, h3, "failure", context="lint")
    assert kinds(readiness(d, p)["missing"]) == {"status"}
    post_status(emu, p, h3, "success", context="lint")
    rd = readiness(d, p)
    assert rd["ready"] is True and rd["missing"] == [] and rd["head"] == h3, rd
    assert ts(rd["checked_at"]) >= first
    pub = deployment(d, p)["readiness"]
    assert (pub["ready"], pub["missing"], pub["head"], pub["checked_at"]) == \
        (True, [], h3, rd["checked_at"]), pub

    # Gitea changes: the stored answer stays until the next check.
    h4 = commit(emu, p, delete=["Dockerfile", "README.md"])
    pub = deployment(d, p)["readiness"]
    assert pub["ready"] is True and pub["head"] == h3, pub
    rd = readiness(d, p)
    assert rd["head"] == h4 and kinds(rd["missing"]) == {"files", "status", "readme"}, rd
    assert deployment(d, p)["readiness"]["head"] == h4


def test_the_platform_config_file_stands_for_a_dockerfile(d, emu):
    p = fresh()
    make_ready(emu, p, files={"fly.toml": FLY_TOML, "README.md": README_DEPLOY})
    # No platform: only a Dockerfile will do.
    rd = readiness(d, p)
    assert kinds(rd["missing"]) == {"files"}, rd
    # render wants render.yaml (or a Dockerfile), and says so.
    set_deploy(d, p, platform="render")
    rd = readiness(d, p)
    assert kinds(rd["missing"]) == {"files"}, rd
    text = " ".join(rd["missing"])
    assert "render.yaml" in text and "Dockerfile" in text, rd
    set_deploy(d, p, platform="fly")
    rd = readiness(d, p)
    assert rd["ready"] is True and rd["missing"] == [], rd
    move(d, p, "ready")


def test_a_deploy_branch_other_than_the_default(d, emu):
    p = fresh()
    rel = make_ready(emu, p, branch="release")
    rd = readiness(d, p)
    assert rd["ready"] is False and rd["head"] == head_of(emu, p), rd
    assert_error(transition(d, p, "ready"), 422, "not_ready")
    set_deploy(d, p, branch="release")
    assert deployment(d, p)["branch"] == "release"
    rd = readiness(d, p)
    assert rd["ready"] is True and rd["head"] == rel, rd
    move(d, p, "ready")
    # Back to main: main is what is read again.
    set_deploy(d, p, branch="main")
    rd = readiness(d, p)
    assert rd["ready"] is False and rd["head"] == head_of(emu, p), rd


def test_the_default_branch_is_the_repositorys(d, emu):
    dep = deployment(d, TRUNK)
    assert dep["branch"] == "trunk", dep
    assert readiness(d, TRUNK)["ready"] is False
    sha = make_ready(emu, TRUNK, branch="trunk")
    rd = readiness(d, TRUNK)
    assert rd["ready"] is True and rd["head"] == sha, rd


def test_a_deploy_branch_that_does_not_exist(d, emu):
    p = fresh()
    make_ready(emu, p)
    r = admin(d, "POST", dpath(p), {"branch": "no-such-branch"})
    if r.status_code != 200:
        # Refusing it at once is fine too; then nothing changed.
        assert_error(r, r.status_code)
        assert 400 <= r.status_code < 500, r.text
        assert deployment(d, p)["branch"] == "main"
        return
    assert assert_ok(r)["branch"] == "no-such-branch"
    r = admin(d, "POST", dpath(p) + "/readiness")
    if r.status_code == 200:
        data = assert_ok(r)
        rd = data["readiness"] if "readiness" in data else data
        assert rd["ready"] is False, rd
        assert any("no-such-branch" in m for m in rd["missing"]), rd
    else:
        err = assert_error(r, 422)
        assert "no-such-branch" in err["message"], err
    err = assert_error(transition(d, p, "ready"), 422, "not_ready")
    assert "no-such-branch" in err["message"], err
    assert deployment(d, p)["status"] == "none"


# ====================================================================================
# Sponsors
# ====================================================================================

def test_a_sponsor_takes_the_documented_defaults(d):
    p = fresh()
    data = add_sponsor(d, p, name="Ada Lovelace")
    assert SPONSOR_KEYS | {"email", "notes", "deployment"} <= set(data), data
    assert data["covers_hosting"] is True and data["covers_domain"] is False, data
    assert data["recurrence"] == "monthly" and data["public"] is False, data
    assert data["status"] == "active" and data["ended_at"] is None, data
    for k in ("email", "github_username", "monthly_budget", "tier", "notes"):
        assert data[k] in (None, ""), (k, data)
    assert status_of(data["deployment"]) == "none", data
    listed = sponsors(d, p)
    assert [s["id"] for s in listed] == [data["id"]], listed
    assert {k: listed[0][k] for k in SPONSOR_KEYS} == {k: data[k] for k in SPONSOR_KEYS}
    assert "sponsor.added" in actions(d, p)


def test_a_sponsor_with_every_field(d):
    p = fresh()
    body = {"name": "Grace Hopper", "email": "grace@example.com",
            "github_username": "ghopper", "covers_hosting": False, "covers_domain": True,
            "monthly_budget": "$10-20", "tier": "gold", "recurrence": "one_time",
            "public": True, "notes": "met at the conference"}
    data = add_sponsor(d, p, **body)
    for k, v in body.items():
        assert data[k] == v, (k, data)
    row = sponsor_row(d, p, data["id"])
    for k, v in body.items():
        assert row[k] == v, (k, row)
    # Two sponsors of one project, each listed once.
    other = add_sponsor(d, p, name="Margaret Hamilton")
    assert sorted(s["id"] for s in sponsors(d, p)) == sorted([data["id"], other["id"]],
                                                             key=str)


def test_sponsor_status_changes_and_ended_stays_ended(d):
    p = fresh()
    s = add_sponsor(d, p)
    data = assert_ok(patch_sponsor(d, p, s["id"], status="paused"))
    assert data["status"] == "paused" and data["ended_at"] is None, data
    data = assert_ok(patch_sponsor(d, p, s["id"], status="active"))
    assert data["status"] == "active" and data["ended_at"] is None, data
    data = assert_ok(patch_sponsor(d, p, s["id"], status="ended"))
    assert data["status"] == "ended", data
    ended_at = near_now(data["ended_at"])
    for back in ("active", "paused"):
        err = assert_error(patch_sponsor(d, p, s["id"], status=back), 422,
                           "invalid_transition")
        assert "ended" in err["message"], err
    row = sponsor_row(d, p, s["id"])
    assert row["status"] == "ended" and ts(row["ended_at"]) == ended_at, row
    # PUT cannot bring it back either.
    assert_error(admin(d, "PUT", spath(p, s["id"]), {"name": s["name"], "status": "active"}),
                 422, "invalid_transition")
    assert sponsor_row(d, p, s["id"])["status"] == "ended"
    assert actions(d, p).count("sponsor.changed") >= 3


def test_patch_changes_only_what_it_names(d):
    p = fresh()
    s = add_sponsor(d, p, email="a@example.com", tier="gold", notes="n1", public=True)
    data = assert_ok(patch_sponsor(d, p, s["id"], tier="silver", monthly_budget="$5"))
    assert (data["tier"], data["monthly_budget"], data["email"], data["notes"],
            data["public"], data["name"]) == ("silver", "$5", "a@example.com", "n1", True,
                                              s["name"]), data
    assert sponsor_row(d, p, s["id"])["tier"] == "silver"


def test_put_replaces_a_sponsors_fields(d):
    p = fresh()
    s = add_sponsor(d, p, email="old@example.com", tier="gold", notes="old notes",
                    covers_domain=True, public=True, recurrence="one_time",
                    github_username="old-gh", monthly_budget="$100")
    data = assert_ok(admin(d, "PUT", spath(p, s["id"]),
                           {"name": "New Name", "tier": "silver", "covers_hosting": False}))
    assert data["id"] == s["id"] and data["name"] == "New Name", data
    assert data["tier"] == "silver" and data["covers_hosting"] is False, data
    # What the PUT does not give goes back to its default.
    assert data["covers_domain"] is False and data["public"] is False, data
    assert data["recurrence"] == "monthly" and data["status"] == "active", data
    for k in ("email", "notes", "github_username", "monthly_budget"):
        assert data[k] in (None, ""), (k, data)
    row = sponsor_row(d, p, s["id"])
    assert row["name"] == "New Name" and row["email"] in (None, ""), row
    # A PUT needs a name, like an add.
    assert_error(admin(d, "PUT", spath(p, s["id"]), {"tier": "x"}), 400, "invalid_field")
    assert sponsor_row(d, p, s["id"])["name"] == "New Name"


def test_the_public_deployment_lists_active_public_sponsors_only(d):
    p = fresh()
    secret_bits = []

    def add(name, **kw):
        email, notes = f"{uuid.uuid4().hex[:8]}@mail.example", f"note-{uuid.uuid4().hex}"
        secret_bits.extend([email, notes])
        return add_sponsor(d, p, name=name, email=email, notes=notes, **kw)

    add("Shown Gold", public=True, tier="gold")
    add("Shown Plain", public=True)
    add("Private One", tier="gold")
    paused = add("Paused Public", public=True, tier="silver")
    assert_ok(patch_sponsor(d, p, paused["id"], status="paused"))
    ended = add("Ended Public", public=True, tier="bronze")
    assert_ok(patch_sponsor(d, p, ended["id"], status="ended"))
    r = d.get(dpath(p))
    dep = assert_ok(r)
    assert all(set(s) == {"name", "tier"} for s in dep["sponsors"]), dep["sponsors"]
    got = sorted((s["name"], s["tier"] or None) for s in dep["sponsors"])
    assert got == [("Shown Gold", "gold"), ("Shown Plain", None)], dep["sponsors"]
    for bit in secret_bits:
        assert bit not in r.text, f"the public answer shows {bit!r}"
    # Hidden again when it stops being public.
    gold = [s for s in sponsors(d, p) if s["name"] == "Shown Gold"][0]
    assert_ok(patch_sponsor(d, p, gold["id"], public=False))
    assert [s["name"] for s in deployment(d, p)["sponsors"]] == ["Shown Plain"]


def issue_token(d, p, sid):
    data = created(admin(d, "POST", spath(p, sid) + "/tokens"))
    assert {"id", "sponsor_id", "token", "created_at"} <= set(data), data
    assert data["sponsor_id"] == sid and data["token"].startswith("sst_"), data
    d.add_secret(data["token"])
    return data


def test_a_sponsor_token_sees_no_email_or_notes(d):
    p = fresh()
    me = add_sponsor(d, p, name="Token Holder", email="holder@mail.example",
                     notes="holder-notes-7731")
    add_sponsor(d, p, name="Other Sponsor", email="other@mail.example",
                notes="other-notes-9182")
    tok = issue_token(d, p, me["id"])
    h = {"Authorization": "Bearer " + tok["token"]}
    r = admin(d, "GET", spath(p), headers=h)
    listed = assert_ok(r)["sponsors"]
    assert sorted(s["name"] for s in listed) == ["Other Sponsor", "Token Holder"], listed
    for bit in ("holder@mail.example", "other@mail.example", "holder-notes-7731",
                "other-notes-9182"):
        assert bit not in r.text, f"a sponsor token sees {bit!r}"
    assert all(s.get("email") is None and s.get("notes") is None for s in listed), listed
    # What a sponsor adds is answered without them too.
    r = admin(d, "POST", spath(p), {"name": "Added By Sponsor", "email": "new@mail.example",
                                    "notes": "new-notes-5521"}, headers=h)
    created(r)
    assert "new@mail.example" not in r.text and "new-notes-5521" not in r.text, r.text
    # The admin sees them all.
    text = admin(d, "GET", spath(p)).text
    for bit in ("holder@mail.example", "other-notes-9182", "new@mail.example"):
        assert bit in text, bit


def test_sponsor_tokens_are_listed_without_values_and_revoked(d):
    p = fresh()
    s = add_sponsor(d, p)
    t1, t2 = issue_token(d, p, s["id"]), issue_token(d, p, s["id"])
    assert t1["token"] != t2["token"] and t1["id"] != t2["id"]
    near_now(t1["created_at"])
    r = admin(d, "GET", spath(p, s["id"]) + "/tokens")
    toks = assert_ok(r)["tokens"]
    assert sorted(str(t["id"]) for t in toks) == sorted([str(t1["id"]), str(t2["id"])]), toks
    for t in toks:
        assert {"id", "created_at", "revoked_at", "last_used_at"} <= set(t), t
        assert "token" not in t and "token_hash" not in t, t
        assert t["revoked_at"] is None and t["last_used_at"] is None, t
    assert t1["token"] not in r.text and t2["token"] not in r.text
    # Using one is seen.
    assert_ok(admin(d, "GET", spath(p), headers={"Authorization": "Bearer " + t1["token"]}))

    def used():
        t = [x for x in assert_ok(admin(d, "GET", spath(p, s["id"]) + "/tokens"))["tokens"]
             if x["id"] == t1["id"]][0]
        return t["last_used_at"]
    near_now(wait_for(used, what="last_used_at of the used token"))
    data = assert_ok(admin(d, "DELETE", spath(p, s["id"]) + f"/tokens/{t1['id']}"))
    assert data["id"] == t1["id"], data
    near_now(data["revoked_at"])
    toks = {t["id"]: t for t in
            assert_ok(admin(d, "GET", spath(p, s["id"]) + "/tokens"))["tokens"]}
    assert toks[t1["id"]]["revoked_at"] == data["revoked_at"], toks
    assert toks[t2["id"]]["revoked_at"] is None, toks
    entries = audit(d, p)
    acts = [e["action"] for e in entries]
    assert acts.count("sponsor_token.issued") == 2 and acts.count("sponsor_token.revoked") == 1
    blob = json.dumps(entries)
    assert t1["token"] not in blob and t2["token"] not in blob
    # Stored as its hash only: no table holds the value.
    tables = [r[0] for r in d.psql(
        "SELECT quote_ident(table_name) FROM information_schema.tables"
        " WHERE table_schema = 'public' AND table_type = 'BASE TABLE'")]
    for t in tables:
        text = "\n".join("|".join(row) for row in d.psql(f"SELECT x::text FROM {t} x"))
        for tok in (t1["token"], t2["token"]):
            assert tok not in text and tok[4:] not in text, f"a sponsor token is in {t}"


# ====================================================================================
# Platforms
# ====================================================================================

def platforms(d):
    data = assert_ok(d.admin_get("/api/v1/admin/platforms"))
    assert isinstance(data.get("platforms"), list), data
    return {x["name"]: x for x in data["platforms"]}


def platform(d, name):
    return assert_ok(d.admin_get(f"/api/v1/admin/platforms/{name}"))


def uses(pl, p):
    """Whether a platform's `projects` counts or lists p (a count: >= 1)."""
    v = pl["projects"]
    if isinstance(v, int) and not isinstance(v, bool):
        return v >= 1
    return p in [x if isinstance(x, str) else x.get("project") for x in v]


def new_platform_body(name=None, **kw):
    name = name or "t-" + uuid.uuid4().hex[:10]
    b = {"name": name, "display_name": f"Test {name}",
         "secrets": ["DEPLOY_HOOK_URL", "API_TOKEN"], "trigger": "hook",
         "hook_secret": "DEPLOY_HOOK_URL", "config_files": ["t.toml"],
         "docs_url": f"https://docs.example.com/{name}"}
    b.update(kw)
    return b


def add_platform(d, **kw):
    body = {k: v for k, v in new_platform_body(**kw).items() if v is not None}
    data = created(admin(d, "POST", "/api/v1/admin/platforms", body))
    for k, v in body.items():
        assert data[k] == v, (k, data)
    return data


def test_the_seeded_platforms(d):
    got = platforms(d)
    assert SEEDED <= set(got), sorted(got)
    for name in SEEDED:
        pl = got[name]
        assert PLATFORM_KEYS <= set(pl), pl
        assert pl["retired"] is False and pl["display_name"], pl
        assert pl["trigger"] in ("hook", "command", "manual"), pl
        assert pl["docs_url"].startswith(("http://", "https://")), pl
        assert isinstance(pl["secrets"], list) and isinstance(pl["config_files"], list), pl
        if pl["trigger"] == "hook":
            assert pl["hook_secret"] in pl["secrets"], pl
        if pl["trigger"] == "command":
            assert isinstance(pl["command"], list) and pl["command"], pl
        assert platform(d, name) == pl
    assert "fly.toml" in got["fly"]["config_files"], got["fly"]
    assert "render.yaml" in got["render"]["config_files"], got["render"]


def test_add_change_and_delete_a_platform(d):
    pl = add_platform(d, name="t-" + "x" * 30)       # 32 characters: the longest
    name = pl["name"]
    assert pl["retired"] is False and not pl["projects"], pl
    assert platforms(d)[name]["display_name"] == pl["display_name"]
    data = assert_ok(admin(d, "PATCH", f"/api/v1/admin/platforms/{name}",
                           {"display_name": "Renamed", "config_files": ["a.toml", "b.yaml"]}))
    assert data["display_name"] == "Renamed" and data["config_files"] == ["a.toml", "b.yaml"]
    assert data["secrets"] == pl["secrets"] and data["hook_secret"] == pl["hook_secret"]
    got = platform(d, name)
    assert got["display_name"] == "Renamed" and got["docs_url"] == pl["docs_url"], got
    # A command platform, and a manual one.
    cmd = add_platform(d, trigger="command", hook_secret=None,
                       command=["./deploy.sh", "--prod"], secrets=["TOKEN"])
    assert cmd["command"] == ["./deploy.sh", "--prod"], cmd
    add_platform(d, trigger="manual", hook_secret=None, secrets=[], config_files=[])
    deleted(admin(d, "DELETE", f"/api/v1/admin/platforms/{name}"))
    assert_error(d.admin_get(f"/api/v1/admin/platforms/{name}"), 404, "not_found")
    assert name not in platforms(d)
    acts = [e["action"] for e in audit(d) if name in json.dumps(e)]
    assert {"platform.added", "platform.changed", "platform.deleted"} <= set(acts), acts


def test_a_retired_platform_cannot_be_chosen(d):
    pl = add_platform(d)
    p = fresh()
    data = assert_ok(admin(d, "PATCH", f"/api/v1/admin/platforms/{pl['name']}",
                           {"retired": True}))
    assert data["retired"] is True, data
    assert platforms(d)[pl["name"]]["retired"] is True
    err = assert_error(admin(d, "POST", dpath(p), {"platform": pl["name"]}), 422,
                       "unknown_platform")
    assert pl["name"] in err["message"], err
    assert deployment(d, p)["platform"] is None
    assert_ok(admin(d, "PATCH", f"/api/v1/admin/platforms/{pl['name']}", {"retired": False}))
    set_deploy(d, p, platform=pl["name"])


def test_a_platform_in_use_cannot_be_deleted(d):
    pl = add_platform(d)
    name = pl["name"]
    p = fresh()
    set_deploy(d, p, platform=name)
    assert uses(platform(d, name), p), platform(d, name)
    assert_error(admin(d, "DELETE", f"/api/v1/admin/platforms/{name}"), 409,
                 "platform_in_use")
    assert name in platforms(d)
    assert pname(deployment(d, p)["platform"]) == name
    set_deploy(d, p, platform="docker")
    assert not uses(platform(d, name), p), platform(d, name)
    deleted(admin(d, "DELETE", f"/api/v1/admin/platforms/{name}"))
    assert name not in platforms(d)


BAD_PLATFORMS = [
    ("hook without hook_secret", {"hook_secret": None}),
    ("hook_secret not among secrets", {"hook_secret": "ELSEWHERE"}),
    ("upper-case name", {"name": "Upper"}),
    ("name starting with a digit", {"name": "1plat"}),
    ("name starting with -", {"name": "-plat"}),
    ("underscore in the name", {"name": "bad_name"}),
    ("space in the name", {"name": "bad name"}),
    ("empty name", {"name": ""}),
    ("33-character name", {"name": "t" + "x" * 32}),
    ("name not a string", {"name": 5}),
    ("no name", {"name": None}),
    ("command with no args", {"trigger": "command", "hook_secret": None, "command": []}),
    ("command missing", {"trigger": "command", "hook_secret": None}),
    ("command of 33 args", {"trigger": "command", "hook_secret": None,
                            "command": ["x"] * 33}),
    ("command a string", {"trigger": "command", "hook_secret": None,
                          "command": "./deploy.sh"}),
    ("command of numbers", {"trigger": "command", "hook_secret": None, "command": [5]}),
    ("unknown trigger", {"trigger": "push"}),
    ("empty display_name", {"display_name": ""}),
    ("101-character display_name", {"display_name": "d" * 101}),
    ("display_name not a string", {"display_name": ["x"]}),
    ("33 secrets", {"secrets": [f"S_{i}" for i in range(33)], "hook_secret": "S_0"}),
    ("secret name with a dash", {"secrets": ["DEPLOY_HOOK_URL", "BAD-NAME"]}),
    ("secrets not a list", {"secrets": "DEPLOY_HOOK_URL"}),
    ("17 config files", {"config_files": [f"f{i}.toml" for i in range(17)]}),
    ("config file not a string", {"config_files": [5]}),
    ("ftp docs_url", {"docs_url": "ftp://docs.example.com/"}),
    ("docs_url not a URL", {"docs_url": "see the wiki"}),
    ("javascript docs_url", {"docs_url": "javascript:alert(1)"}),
    ("retired not a boolean", {"retired": "yes"}),
    ("unknown field", {"colour": "blue"}),
]


@pytest.mark.parametrize("why,change", BAD_PLATFORMS, ids=[b[0] for b in BAD_PLATFORMS])
def test_bad_platforms_are_invalid_field(d, why, change):
    body = new_platform_body()
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}
    before = set(platforms(d))
    assert_error(admin(d, "POST", "/api/v1/admin/platforms", body), 400, "invalid_field")
    assert set(platforms(d)) == before


def test_platform_names_are_unique(d):
    assert_error(admin(d, "POST", "/api/v1/admin/platforms", new_platform_body(name="fly")),
                 409, "name_taken")
    pl = add_platform(d)
    assert_error(admin(d, "POST", "/api/v1/admin/platforms",
                       new_platform_body(name=pl["name"], display_name="Again")),
                 409, "name_taken")
    assert platform(d, pl["name"])["display_name"] == pl["display_name"]
    assert platform(d, "fly")["display_name"] != "Test fly"


@pytest.mark.parametrize("change", [
    {"hook_secret": "NOT_A_SECRET"}, {"trigger": "command"}, {"display_name": ""},
    {"display_name": "d" * 101}, {"docs_url": "gopher://x"}, {"retired": 1},
    {"secrets": ["API_TOKEN"]},           # would drop the hook's secret
    {"colour": "blue"}, {"display_name": "Fine", "trigger": "bogus"},
])
def test_bad_platform_changes_change_nothing(d, change):
    pl = add_platform(d)
    r = admin(d, "PATCH", f"/api/v1/admin/platforms/{pl['name']}", change)
    assert_error(r, 400, "invalid_field")
    got = platform(d, pl["name"])
    assert {k: got[k] for k in PLATFORM_KEYS} == {k: pl[k] for k in PLATFORM_KEYS}, got


def test_unknown_platforms_are_404(d):
    for method, body in (("GET", None), ("PATCH", {"display_name": "x"}), ("DELETE", None)):
        assert_error(admin(d, method, "/api/v1/admin/platforms/no-such-platform", body),
                     404, "not_found")
    for bad in ("x" * 300, "UPPER", "%00", "a%2Fb"):
        r = admin(d, "GET", f"/api/v1/admin/platforms/{bad}")
        assert r.status_code in (400, 404), (bad, r.status_code, r.text)
        assert_error(r, r.status_code)


def test_a_restart_keeps_an_admins_edit_of_a_seeded_platform(daemon):
    x = daemon()
    fly = assert_ok(x.admin_get("/api/v1/admin/platforms/fly"))
    edit = {"display_name": "Fly (our account)", "docs_url": "https://wiki.example.com/fly",
            "config_files": ["fly.toml", "fly.production.toml"]}
    assert_ok(x.request("PATCH", "/api/v1/admin/platforms/fly", json=edit,
                        headers=x.admin_headers()))
    assert_ok(x.request("PATCH", "/api/v1/admin/platforms/railway", json={"retired": True},
                        headers=x.admin_headers()))
    assert x.terminate() == 0
    y = daemon(db=x.db, admin_tokens=x.admin_tokens)
    got = assert_ok(y.admin_get("/api/v1/admin/platforms/fly"))
    for k, v in edit.items():
        assert got[k] == v, (k, got)
    assert got["secrets"] == fly["secrets"] and got["trigger"] == fly["trigger"], got
    assert assert_ok(y.admin_get("/api/v1/admin/platforms/railway"))["retired"] is True
    names = [pl["name"] for pl in assert_ok(y.admin_get("/api/v1/admin/platforms"))["platforms"]]
    assert sorted(names) == sorted(SEEDED), "a restart added or doubled a platform"


# ====================================================================================
# The admin's project list
# ====================================================================================

def list_page(d, **q):
    qs = "&".join(f"{k}={v}" for k, v in q.items())
    data = assert_ok(d.admin_get("/api/v1/admin/projects" + ("?" + qs if qs else "")))
    assert isinstance(data.get("projects"), list), data
    return data


def list_all(d, limit=7, **q):
    """Every page: the projects in order."""
    out, after, pages = [], None, 0
    while True:
        qq = dict(q, limit=limit)
        if after is not None:
            qq["after"] = after
        data = list_page(d, **qq)
        assert len(data["projects"]) <= limit, data
        out.extend(data["projects"])
        pages += 1
        assert pages < 100, "pagination does not end"
        after = data.get("next_after")
        if after is None or not data["projects"]:
            return out


def test_the_project_list_filters(d, emu):
    spname = unique_name("filter-sponsor")
    a, b, c = fresh(), fresh(), fresh()
    to_live(d, emu, a, platform="fly", sponsor={"name": spname})
    to_ready(d, emu, b, platform="render")
    set_deploy(d, c, platform="fly", url="https://c.example.com/")

    every = {x["project"]: x for x in list_all(d)}
    for k in ("project", "status", "platform", "branch", "url", "deployed_at", "sponsors"):
        assert k in every[a], every[a]
    assert (every[a]["status"], pname(every[a]["platform"])) == ("live", "fly"), every[a]
    near_now(every[a]["deployed_at"])
    assert (every[b]["status"], pname(every[b]["platform"])) == ("ready", "render"), every[b]
    assert (every[c]["status"], every[c]["url"]) == ("none", "https://c.example.com/")

    live = list_all(d, status="live")
    assert a in [x["project"] for x in live] and all(x["status"] == "live" for x in live)
    assert b not in [x["project"] for x in live] and c not in [x["project"] for x in live]
    fly = list_all(d, platform="fly")
    assert {a, c} <= {x["project"] for x in fly} and b not in {x["project"] for x in fly}
    assert all(pname(x["platform"]) == "fly" for x in fly), fly
    assert [x["project"] for x in list_all(d, sponsor=spname)] == [a]
    both = list_all(d, status="ready", platform="render")
    assert b in [x["project"] for x in both], both
    assert all(x["status"] == "ready" and pname(x["platform"]) == "render" for x in both)
    assert list_all(d, status="live", platform="render", sponsor=spname) == []


def test_the_project_list_pages_by_name(d):
    mirrored = {f"{o}/{n}" for o, n in d.psql(
        "SELECT owner, name FROM projects WHERE deleted_at IS NULL AND NOT archived")}
    assert len(mirrored) > POOL
    small = list_all(d, limit=3)
    names = [x["project"] for x in small]
    assert names == sorted(names) and len(set(names)) == len(names), names
    assert mirrored <= set(names), sorted(mirrored - set(names))
    # Other page sizes walk the same list.
    assert [x["project"] for x in list_all(d, limit=10)] == names
    first = list_page(d, limit=2)
    assert [x["project"] for x in first["projects"]] == names[:2], first
    assert first["next_after"] == names[1], first
    # after= starts past any name, listed or not.
    page = list_page(d, limit=3, after="acme/dep-05")
    want = [n for n in names if n > "acme/dep-05"][:3]
    assert [x["project"] for x in page["projects"]] == want, page
    page = list_page(d, limit=3, after="acme/dep-05a")
    want = [n for n in names if n > "acme/dep-05a"][:3]
    assert [x["project"] for x in page["projects"]] == want, page
    last = list_page(d, limit=5, after=names[-2])
    assert [x["project"] for x in last["projects"]] == names[-1:], last
    assert last.get("next_after") is None, last


@pytest.mark.parametrize("query", [
    "limit=0", "limit=-1", "limit=abc", "limit=1.5", "limit=", "limit=99999999999999999999",
    "status=bogus", "status=LIVE", "status=",
])
def test_bad_project_list_queries(d, query):
    r = d.admin_get("/api/v1/admin/projects?" + query)
    assert_error(r, 400, "invalid_field")


# ====================================================================================
# Bad input, route by route
# ====================================================================================

def snapshot(d, p):
    dep = deployment(d, p)
    return {k: dep[k] for k in ("status", "platform", "branch", "url", "deployed_at")}


@pytest.fixture(scope="module")
def bad_p(d):
    """A project with a deployment set, for the bad-input tests: nothing they
    send may change it."""
    p = fresh()
    set_deploy(d, p, platform="render", branch="main", url="https://bad.example.com/")
    return p


BAD_DEPLOY = [
    ({"platform": 5}, 400, "invalid_field"),
    ({"platform": ["fly"]}, 400, "invalid_field"),
    ({"platform": {"name": "fly"}}, 400, "invalid_field"),
    ({"platform": "no-such-platform"}, 422, "unknown_platform"),
    ({"platform": "x" * 1000}, (400, 422), ("invalid_field", "unknown_platform")),
    ({"url": 5}, 400, "invalid_field"),
    ({"url": "not a url"}, 400, "invalid_field"),
    ({"url": "javascript:alert(1)"}, 400, "invalid_field"),
    ({"url": "ftp://files.example.com/"}, 400, "invalid_field"),
    ({"url": "https://ok.example.com/\u0000x"}, 400, "invalid_field"),
    ({"branch": 5}, 400, "invalid_field"),
    ({"branch": ""}, 400, "invalid_field"),
    ({"branch": ["main"]}, 400, "invalid_field"),
    ({"branch": "a\u0001b"}, 400, "invalid_field"),
    ({"status": 5}, 400, "invalid_field"),
    ({"status": "gone"}, 400, "invalid_field"),
    ({"nope": 1}, 400, "invalid_field"),
    # All or nothing: a good field beside a bad one is not applied.
    ({"platform": "fly", "url": "not a url"}, 400, "invalid_field"),
    ({"platform": "fly", "nope": 1}, 400, "invalid_field"),
    ({"platform": "fly", "branch": ""}, 400, "invalid_field"),
    ({"url": "https://new.example.com/", "platform": "no-such-platform"}, 422,
     "unknown_platform"),
    ({"platform": "fly", "status": "live"}, 422, "invalid_transition"),
    ({"platform": "fly", "url": "https://new.example.com/", "status": "ready"}, 422,
     "not_ready"),
]


@pytest.mark.parametrize("body,status,code", BAD_DEPLOY,
                         ids=[json.dumps(b[0])[:60] for b in BAD_DEPLOY])
def test_bad_deployment_bodies_change_nothing(d, bad_p, body, status, code):
    before = snapshot(d, bad_p)
    r = admin(d, "POST", dpath(bad_p), body)
    if isinstance(status, tuple):
        assert r.status_code in status, (r.status_code, r.text)
        status = r.status_code
    assert_error(r, status, code)
    assert snapshot(d, bad_p) == before


def test_a_refused_body_is_not_audited(d, bad_p):
    n = len(audit(d, bad_p))
    for body in ({"platform": "fly", "url": "not a url"}, {"platform": "fly", "status": "live"},
                 {"platform": "no-such-platform"}):
        r = admin(d, "POST", dpath(bad_p), body)
        assert r.status_code in (400, 422), r.text
        assert_error(r, r.status_code)
    assert len(audit(d, bad_p)) == n


MALFORMED = [b"", b"{", b'{"platform":"fly",}', b'{"platform":"fly"} x', b"{'platform':'fly'}",
             b'{"platform":"fl\xff"}', b"[]", b'"fly"', b"null", b"42"]


@pytest.mark.parametrize("raw", MALFORMED, ids=[repr(b)[:30] for b in MALFORMED])
def test_malformed_json_on_every_body_route(d, bad_p, raw):
    s = add_sponsor(d, bad_p, name="Malformed Target")
    routes = [("POST", dpath(bad_p)), ("POST", spath(bad_p)),
              ("PUT", spath(bad_p, s["id"])), ("PATCH", spath(bad_p, s["id"])),
              ("POST", "/api/v1/admin/platforms"), ("PATCH", "/api/v1/admin/platforms/docker")]
    before = (snapshot(d, bad_p), len(sponsors(d, bad_p)), platform(d, "docker"))
    for method, path in routes:
        r = admin(d, method, path, raw=raw)
        assert_error(r, 400, ("malformed_json", "invalid_field"))
    assert (snapshot(d, bad_p), len(sponsors(d, bad_p)), platform(d, "docker")) == before
    assert sponsor_row(d, bad_p, s["id"])["name"] == "Malformed Target"


def test_a_body_must_be_json(d, bad_p):
    before = snapshot(d, bad_p)
    r = d.post(dpath(bad_p), data=b'{"platform":"fly"}',
               headers={**d.admin_headers(), "Content-Type": "text/plain"})
    assert_error(r, 415, "unsupported_media_type")
    assert snapshot(d, bad_p) == before


BAD_SPONSORS = [
    {}, {"name": ""}, {"name": "n" * 201}, {"name": 5}, {"name": None}, {"name": ["a"]},
    {"name": "a\u0000b"},
    {"name": "A", "covers_hosting": "yes"}, {"name": "A", "covers_hosting": 1},
    {"name": "A", "covers_domain": "false"}, {"name": "A", "recurrence": "weekly"},
    {"name": "A", "recurrence": 1}, {"name": "A", "status": "gone"},
    {"name": "A", "status": True}, {"name": "A", "public": "true"},
    {"name": "A", "email": 5}, {"name": "A", "github_username": []},
    {"name": "A", "tier": {"x": 1}}, {"name": "A", "monthly_budget": 10},
    {"name": "A", "notes": 5}, {"name": "A", "nope": 1}, {"name": "A", "deployment": "live"},
]


@pytest.mark.parametrize("body", BAD_SPONSORS, ids=[json.dumps(b)[:50] for b in BAD_SPONSORS])
def test_bad_sponsors_are_not_added(d, bad_p, body):
    before = len(sponsors(d, bad_p))
    assert_error(admin(d, "POST", spath(bad_p), body), 400, "invalid_field")
    assert len(sponsors(d, bad_p)) == before


def test_the_longest_sponsor_name_is_fine(d, bad_p):
    s = add_sponsor(d, bad_p, name="n" * 200)
    assert sponsor_row(d, bad_p, s["id"])["name"] == "n" * 200


BAD_SPONSOR_CHANGES = [
    {"status": "gone"}, {"status": 3}, {"name": ""}, {"name": "n" * 201}, {"name": None},
    {"covers_hosting": "no"}, {"public": 0}, {"recurrence": "yearly"}, {"nope": 1},
    {"status": "ended", "name": ""}, {"status": "paused", "nope": 1},
    {"status": "ended", "recurrence": "never"}, {"id": "other"},
]


@pytest.mark.parametrize("body", BAD_SPONSOR_CHANGES,
                         ids=[json.dumps(b)[:50] for b in BAD_SPONSOR_CHANGES])
def test_bad_sponsor_changes_change_nothing(d, emu, body):
    p = "acme/widgets"
    s = add_sponsor(d, p, tier="gold", email="w@example.com")
    for method in ("PATCH", "PUT"):
        b = dict(body) if method == "PATCH" else {"name": s["name"], **body}
        r = admin(d, method, spath(p, s["id"]), b)
        assert_error(r, 400, "invalid_field")
    row = sponsor_row(d, p, s["id"])
    assert {k: row[k] for k in SPONSOR_KEYS} == {k: s[k] for k in SPONSOR_KEYS}, row


def test_unknown_and_foreign_sponsors_are_404(d):
    p, q = fresh(), fresh()
    mine, theirs = add_sponsor(d, p), add_sponsor(d, q)
    tok = issue_token(d, q, theirs["id"])
    nobody = unknown_sponsor_id(mine["id"])
    for sid in (nobody, theirs["id"]):
        assert_error(patch_sponsor(d, p, sid, status="paused"), 404, "not_found")
        assert_error(admin(d, "PUT", spath(p, sid), {"name": "X"}), 404, "not_found")
        assert_error(admin(d, "GET", spath(p, sid) + "/tokens"), 404, "not_found")
        assert_error(admin(d, "POST", spath(p, sid) + "/tokens"), 404, "not_found")
    # A token of one sponsor is not revoked through another, nor another project.
    assert_error(admin(d, "DELETE", spath(p, mine["id"]) + f"/tokens/{tok['id']}"), 404,
                 "not_found")
    assert_error(admin(d, "DELETE", spath(q, theirs["id"]) + "/tokens/"
                       + str(unknown_sponsor_id(tok["id"]))), 404, "not_found")
    assert sponsor_row(d, q, theirs["id"])["status"] == "active"
    toks = assert_ok(admin(d, "GET", spath(q, theirs["id"]) + "/tokens"))["tokens"]
    assert [t["revoked_at"] for t in toks] == [None], toks
    for bad in ("abc", "-1", "1e3", "%00", "x" * 300, "1;DROP"):
        for method, path, body in (("PATCH", spath(p, bad), {"status": "paused"}),
                                   ("GET", spath(p, bad) + "/tokens", None),
                                   ("DELETE", spath(p, mine["id"]) + f"/tokens/{bad}", None)):
            r = admin(d, method, path, body)
            assert r.status_code in (400, 404), (method, path, r.status_code, r.text)
            assert_error(r, r.status_code)


def test_unknown_projects_are_404_on_every_route(d):
    p = fresh()
    s = add_sponsor(d, p)
    tok = issue_token(d, p, s["id"])
    for nope in ("acme/no-such-repo", "nobody/dep-00"):
        calls = [("POST", dpath(nope), {"platform": "fly"}),
                 ("POST", dpath(nope) + "/readiness", None),
                 ("GET", spath(nope), None), ("POST", spath(nope), {"name": "A"}),
                 ("PUT", spath(nope, s["id"]), {"name": "A"}),
                 ("PATCH", spath(nope, s["id"]), {"status": "paused"}),
                 ("GET", spath(nope, s["id"]) + "/tokens", None),
                 ("POST", spath(nope, s["id"]) + "/tokens", None),
                 ("DELETE", spath(nope, s["id"]) + f"/tokens/{tok['id']}", None)]
        assert_error(d.get(dpath(nope)), 404, "not_found")
        for method, path, body in calls:
            assert_error(admin(d, method, path, body), 404, "not_found")
    row = sponsor_row(d, p, s["id"])
    assert row["status"] == "active" and row["name"] == s["name"], row
    toks = assert_ok(admin(d, "GET", spath(p, s["id"]) + "/tokens"))["tokens"]
    assert [t["revoked_at"] for t in toks] == [None], toks


@pytest.mark.parametrize("owner,repo", [
    ("acme", "r" * 300), ("o" * 300, "dep-00"), ("ac%20me", "dep-00"), ("acme", "dep%00"),
    ("acme", "a%20b"), ("acme", "dep-00%2F..%2Fwidgets"),
])
def test_bad_project_names_in_the_path(d, owner, repo):
    for method, suffix, body in (("GET", "/deployment", None),
                                 ("POST", "/deployment", {"platform": "fly"}),
                                 ("POST", "/deployment/readiness", None),
                                 ("GET", "/sponsors", None),
                                 ("POST", "/sponsors", {"name": "A"})):
        r = admin(d, method, f"/api/v1/projects/{owner}/{repo}{suffix}", body)
        assert 400 <= r.status_code < 500, (method, suffix, r.status_code, r.text)
        assert_error(r, r.status_code)


def test_a_nul_in_the_path_names_nothing(d):
    """A name or id followed by %00 and more is not that name or id: it
    must not reach, change or delete the thing its prefix names."""
    pl = add_platform(d)
    name = pl["name"]
    p = fresh()
    s = add_sponsor(d, p)
    tok = issue_token(d, p, s["id"])
    calls = [("GET", f"/api/v1/admin/platforms/{name}%00x", None),
             ("PATCH", f"/api/v1/admin/platforms/{name}%00x", {"display_name": "Changed"}),
             ("DELETE", f"/api/v1/admin/platforms/{name}%00x", None),
             ("PATCH", spath(p, s["id"]) + "%00x", {"status": "paused"}),
             ("PUT", spath(p, s["id"]) + "%00x", {"name": "Changed"}),
             ("POST", spath(p, s["id"]) + "%00x/tokens", None),
             ("DELETE", spath(p, s["id"]) + f"/tokens/{tok['id']}%00x", None)]
    answers = []
    for method, path, body in calls:
        r = admin(d, method, path, body)
        answers.append((method, path.split("/api/v1/")[1], r.status_code))
        if r.status_code >= 400:
            assert_error(r, r.status_code)
    problems = []
    r = d.admin_get(f"/api/v1/admin/platforms/{name}")
    if r.status_code != 200:
        problems.append(f"platform {name} is gone ({r.status_code})")
    elif r.json()["data"]["display_name"] != pl["display_name"]:
        problems.append(f"platform {name} was changed: {r.json()['data']}")
    row = sponsor_row(d, p, s["id"])
    if (row["status"], row["name"]) != ("active", s["name"]):
        problems.append(f"the sponsor was changed: {row}")
    toks = assert_ok(admin(d, "GET", spath(p, s["id"]) + "/tokens"))["tokens"]
    if len(toks) != 1 or toks[0]["revoked_at"] is not None:
        problems.append(f"the tokens were changed: {toks}")
    problems += [f"{m} {path} answered {st}" for m, path, st in answers if st not in (400, 404)]
    assert not problems, "\n".join(problems)
