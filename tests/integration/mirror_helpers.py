"""Helpers of the Gitea mirror tests (test_mirror.py, test_webhooks.py,
test_install_hook.py): webhook secrets and signatures, waiting for the
reconciliation, reading /metrics, and the two sides of the mirror in one
comparable form (our tables, the emulator's /_emulator/state).
"""

import hashlib
import hmac
import json
import os
import re
import secrets
import time
import uuid

from conftest import assert_ok, wait_for

HOOK_EVENTS = ["repository", "push", "issues", "issue_comment", "pull_request",
               "pull_request_review", "status"]


# -- the webhook secret and signatures ----------------------------------------

def write_secret(dirpath, secret=None, name="webhook.secret"):
    """A gitea.webhook_secret_file (mode 600); returns (path, secret)."""
    secret = secret or "whs-" + secrets.token_hex(16)
    path = os.path.join(str(dirpath), name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret + "\n")
    return path, secret


def sign(secret, body):
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post_hook(d, body, event_type="issues", secret=None, delivery=None,
              signature=None, event=None, headers=None, **kw):
    """POST /hooks/gitea as Gitea would: raw bytes, signed with secret
    unless signature is given (None: unsigned when secret is None too)."""
    if isinstance(body, (dict, list)):
        body = json.dumps(body, indent=2).encode()
    h = {"Content-Type": "application/json",
         "X-Gitea-Delivery": str(uuid.uuid4()) if delivery is None else delivery,
         "X-Gitea-Event": event or event_type,
         "X-Gitea-Event-Type": event_type}
    if signature is not None:
        h["X-Gitea-Signature"] = signature
    elif secret is not None:
        h["X-Gitea-Signature"] = sign(secret, body)
    h.update(headers or {})
    for k in [k for k, v in h.items() if v is None]:
        del h[k]
    return d.post("/hooks/gitea", data=body, headers=h, **kw)


def settled(d, r, timeout=30):
    """The outcome of a delivery POSTed to d: for one acknowledged as
    queued, what the worker made of it once it did."""
    data = assert_ok(r)
    if data["outcome"] != "queued":
        return data["outcome"]
    sql = (f"SELECT outcome FROM webhook_deliveries WHERE id = '{data['id']}'"
           " AND (processed_at IS NOT NULL OR attempts > 0)")
    return wait_for(lambda: (d.psql(sql) or [[None]])[0][0], timeout=timeout,
                    what=f"delivery {data['id']} to be applied")


def register_system_hook(emu, url, secret, events=None):
    """A system webhook through Gitea's admin API (is_system_webhook)."""
    r = emu.post("/admin/hooks", json={
        "type": "gitea", "active": True, "events": events or HOOK_EVENTS,
        "branch_filter": "*",
        "config": {"url": url, "content_type": "json", "secret": secret,
                   "is_system_webhook": "true"}})
    assert r.status_code == 201, r.text
    return r.json()["id"]


# -- reconciliation --------------------------------------------------------------

def sync_runs(d):
    return q_json(d, "SELECT id, outcome, projects, items, gitea_calls, error,"
                     " extract(epoch FROM started_at)::float8 AS started,"
                     " extract(epoch FROM finished_at)::float8 AS finished"
                     " FROM sync_runs ORDER BY started_at")


def wait_startup_sync(d, timeout=30):
    """The reconciliation every daemon runs when it starts, finished."""
    return wait_for(lambda: [r for r in sync_runs(d) if r["outcome"] != "running"],
                    timeout=timeout, interval=0.1, what="the start-up reconciliation")


def admin_sync(d, timeout=30):
    """POST /api/v1/admin/sync until it ran (another run may hold the lock)."""
    deadline = time.monotonic() + timeout
    while True:
        data = assert_ok(d.admin_post("/api/v1/admin/sync", timeout=timeout))
        if data["ran"] or time.monotonic() > deadline:
            return data
        time.sleep(0.1)


# -- /metrics ---------------------------------------------------------------------

_METRIC = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$")


def metrics(d):
    r = d.get("/metrics")
    assert r.status_code == 200, r.text
    out = {}
    for line in r.text.splitlines():
        m = _METRIC.match(line)
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


# -- the two sides, comparable ----------------------------------------------------

def q_json(d, sql):
    """The rows of sql as a list of dicts (jsonb keeps each on one line)."""
    rows = d.psql(f"SELECT coalesce(jsonb_agg(t), '[]'::jsonb) FROM ({sql}) t")
    return json.loads("|".join(rows[0]))


def ours(d):
    """Live projects, their issues and pull requests, and agents' reviews."""
    projects = q_json(d, "SELECT owner || '/' || name AS repo, archived,"
                         " deleted_at IS NOT NULL AS deleted, gitea_repo_id"
                         " FROM projects")
    issues = q_json(d, "SELECT p.owner || '/' || p.name AS repo, i.number, i.title,"
                       " i.state, i.labels, i.assignees FROM issues i"
                       " JOIN projects p ON p.id = i.project_id WHERE p.deleted_at IS NULL")
    pulls = q_json(d, "SELECT p.owner || '/' || p.name AS repo, r.gitea_pr_number AS number,"
                      " r.title, r.source_branch, r.state, r.review_status,"
                      " r.merged_at IS NOT NULL AS merged, r.head_sha, r.assignees"
                      " FROM pull_requests r JOIN projects p ON p.id = r.project_id"
                      " WHERE p.deleted_at IS NULL")
    reviews = q_json(d, "SELECT p.owner || '/' || p.name AS repo,"
                        " r.gitea_pr_number AS number, a.gitea_username AS reviewer,"
                        " v.action, v.body, v.commit_sha FROM reviews v"
                        " JOIN pull_requests r ON r.id = v.pull_request_id"
                        " JOIN projects p ON p.id = r.project_id"
                        " JOIN agents a ON a.id = v.reviewer_id WHERE p.deleted_at IS NULL")
    members = q_json(d, "SELECT p.owner || '/' || p.name AS repo, a.gitea_username AS login"
                        " FROM project_members m JOIN projects p ON p.id = m.project_id"
                        " JOIN agents a ON a.id = m.agent_id WHERE p.deleted_at IS NULL")
    return {
        "repos": sorted((p["repo"], p["archived"]) for p in projects if not p["deleted"]),
        "deleted": sorted(p["repo"] for p in projects if p["deleted"]),
        "issues": sorted((i["repo"], i["number"], i["title"], i["state"],
                          tuple(sorted(i["labels"])), tuple(sorted(i["assignees"])))
                         for i in issues),
        "pulls": sorted((p["repo"], p["number"], p["title"], p["source_branch"],
                         p["state"], p["merged"], p["head_sha"]) for p in pulls),
        "review_status": {(p["repo"], p["number"]): p["review_status"] for p in pulls},
        "reviews": sorted((v["repo"], v["number"], v["reviewer"], v["action"], v["body"],
                           v["commit_sha"]) for v in reviews),
        "members": sorted((m["repo"], m["login"]) for m in members),
    }


REVIEW_ACTION = {"APPROVED": "approve", "REQUEST_CHANGES": "request_changes",
                 "COMMENT": "comment"}


def theirs(st, agents=()):
    """The same from the emulator's state; reviews and members of agents
    (their Gitea logins) only.  A review counts, as SynStack's rules say,
    when its agent is a collaborator of the repository and not the PR's
    poster."""
    agents = set(agents)
    collaborators = {r["full_name"]: set(r["collaborators"]) for r in st["repos"]}
    posters = {(p["repo"], p["number"]): p["poster"] for p in st["pulls"]}
    latest = {}
    for v in st["reviews"]:          # sorted by id: the last one wins
        if v["reviewer"] in agents and v["state"] in REVIEW_ACTION and \
                v["reviewer"] in collaborators.get(v["repo"], ()) and \
                posters.get((v["repo"], v["pr"])) != v["reviewer"]:
            latest[(v["repo"], v["pr"], v["reviewer"])] = v
    return {
        "repos": sorted((r["full_name"], r["archived"]) for r in st["repos"]),
        "issues": sorted((i["repo"], i["number"], i["title"], i["state"],
                          tuple(sorted(i["labels"])), tuple(sorted(i["assignees"])))
                         for i in st["issues"]),
        "pulls": sorted((p["repo"], p["number"], p["title"], p["head"], p["state"],
                         p["merged"], p["head_sha"]) for p in st["pulls"]),
        "reviews": sorted((k[0], k[1], k[2], REVIEW_ACTION[v["state"]], v["body"],
                           v["commit_id"]) for k, v in latest.items()),
        "members": sorted((r["full_name"], login) for r in st["repos"]
                          for login in r["collaborators"] if login in agents),
    }


def diff(a, b, limit=8):
    """What differs between two sorted lists, briefly, for assertion messages."""
    sa, sb = set(a), set(b)
    return {"only ours": sorted(sa - sb)[:limit], "only Gitea's": sorted(sb - sa)[:limit]}


def assert_mirrors(d, st, agents=(), keys=("repos", "issues", "pulls", "reviews", "members")):
    """Our tables say what the emulator's state says."""
    o, t = ours(d), theirs(st, agents)
    for k in keys:
        assert o[k] == t[k], f"{k} differ: {diff(o[k], t[k])}"
    return o
