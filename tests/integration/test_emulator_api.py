"""Gitea emulator conformance: the REST API subset (README section 3).

Every 2xx JSON answer is also validated against swagger.v1.json by
emulator.Emulator (strict about unknown keys).  One emulator serves the
module; tests create what they need (branches, PRs, users) under their own
names, so they do not depend on each other's order.
"""

import copy
import datetime
import re

import pytest
import requests

from emulator import ADMIN_TOKEN, DEFAULT_SEED, PASSWORD, Emulator
from emulator_helpers import DEAD_URL, SHA1_RE, get_branch, hook_body

PAGING_ISSUES = 60


def _seed():
    seed = copy.deepcopy(DEFAULT_SEED)
    seed["repos"] += [
        {"owner": "acme", "name": "paging", "files": {"README.md": "# paging\n"},
         "issues": [{"title": f"Paging issue {i}", "poster": "alice"}
                    for i in range(PAGING_ISSUES)]},
        {"owner": "acme", "name": "merges", "files": {"README.md": "# merges\n",
                                                       "src/a.txt": "a\n"},
         "collaborators": {"agent-coder": "write", "agent-reviewer": "write"}},
        {"owner": "acme", "name": "scratch", "files": {"README.md": "# scratch\n"}},
    ]
    return seed


@pytest.fixture(scope="module")
def emu():
    e = Emulator(seed=_seed())
    e.tok = {u: e.user_token(u) for u in ("alice", "agent-coder", "agent-reviewer", "outsider")}
    yield e
    e.stop()


def json_of(r, status):
    assert r.status_code == status, f"expected {status}, got {r.status_code}: {r.text[:400]}"
    return r.json() if r.content else None


def new_pr(emu, repo, branch, title, login="agent-coder", files=None, base="main"):
    emu.commit(repo, branch, files or {f"{branch}.txt": title + "\n"}, author=login)
    return json_of(emu.post(f"/repos/{repo}/pulls", token=emu.tok[login],
                            json={"head": branch, "base": base, "title": title}), 201)


def branch_sha(emu, repo, branch):
    return json_of(get_branch(emu, repo, branch), 200)["commit"]["id"]


def assert_error(r, status, message=None):
    """Gitea's error body: {"message","url"}, 404s add "errors"."""
    assert r.status_code == status, f"expected {status}, got {r.status_code}: {r.text[:300]}"
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    want = {"message", "url"} | ({"errors"} if status == 404 else set())
    assert set(body) == want, body
    assert isinstance(body["message"], str)
    assert body["url"].endswith("/api/swagger")
    if status == 404:
        assert isinstance(body["errors"], list)
    if message is not None:
        assert message in body["message"], body
    return body


# -- basics ----------------------------------------------------------------------

def test_version(emu):
    r = emu.get("/version", token=None)
    assert json_of(r, 200) == {"version": "1.26.3"}


def test_repo_search_wraps_results(emu):
    body = json_of(emu.get("/repos/search"), 200)
    assert list(body) == ["ok", "data"] and body["ok"] is True
    names = [r["full_name"] for r in body["data"]]
    assert {"acme/widgets", "acme/paging", "acme/merges"} <= set(names)
    r = emu.get("/repos/search", params={"q": "widgets"})
    assert [x["full_name"] for x in json_of(r, 200)["data"]] == ["acme/widgets"]
    r = emu.get("/repos/search", params={"limit": 1})
    assert len(json_of(r, 200)["data"]) == 1
    assert int(r.headers["X-Total-Count"]) == len(names)
    assert 'rel="next"' in r.headers["Link"]


def test_repo_by_name_and_by_id(emu):
    repo = json_of(emu.get("/repos/acme/widgets"), 200)
    assert repo["full_name"] == "acme/widgets" and repo["owner"]["login"] == "acme"
    assert repo["default_branch"] == "main" and repo["permissions"]["admin"] is True
    by_id = json_of(emu.get(f"/repositories/{repo['id']}"), 200)
    assert by_id["full_name"] == "acme/widgets" and by_id["id"] == repo["id"]
    mine = json_of(emu.get("/repos/acme/widgets", token=emu.tok["agent-coder"]), 200)
    assert mine["permissions"] == {"admin": False, "push": True, "pull": True}
    assert_error(emu.get(f"/repositories/{repo['id']}", token=None), 401)
    assert_error(emu.get("/repos/acme/no-such-repo"), 404)


def test_orgs(emu):
    orgs = json_of(emu.get("/orgs"), 200)
    assert "acme" in [o["name"] for o in orgs]
    org = json_of(emu.get("/orgs/acme"), 200)
    assert org["name"] == org["username"] == "acme" and org["full_name"] == "ACME Corp"
    assert_error(emu.get("/orgs/no-such-org"), 404)


# -- issues -------------------------------------------------------------------------

def test_issue_create_get_edit(emu):
    r = emu.post("/repos/acme/widgets/issues", token=emu.tok["alice"],
                 json={"title": "API: new issue", "body": "text"})
    issue = json_of(r, 201)
    n = issue["number"]
    assert issue["user"]["login"] == "alice" and issue["state"] == "open"
    assert issue["assignees"] is None and issue["pull_request"] is None
    got = json_of(emu.get(f"/repos/acme/widgets/issues/{n}"), 200)
    assert (got["id"], got["title"], got["body"]) == (issue["id"], "API: new issue", "text")
    path = f"/repos/acme/widgets/issues/{n}"
    edited = json_of(emu.patch(path, token=emu.tok["alice"], json={"title": "API: renamed"}), 201)
    assert edited["title"] == "API: renamed"
    edited = json_of(emu.patch(path, token=emu.tok["alice"],
                               json={"assignees": ["agent-coder", "agent-reviewer"]}), 201)
    assert [a["login"] for a in edited["assignees"]] == ["agent-coder", "agent-reviewer"]
    assert edited["assignee"]["login"] == "agent-coder"
    edited = json_of(emu.patch(path, token=emu.tok["alice"],
                               json={"assignees": ["agent-reviewer"]}), 201)   # replaces the set
    assert [a["login"] for a in edited["assignees"]] == ["agent-reviewer"]
    closed = json_of(emu.patch(path, token=emu.tok["alice"], json={"state": "closed"}), 201)
    assert closed["state"] == "closed" and closed["closed_at"]
    reopened = json_of(emu.patch(path, token=emu.tok["alice"], json={"state": "open"}), 201)
    assert reopened["state"] == "open" and reopened["closed_at"] is None
    assert_error(emu.post("/repos/acme/widgets/issues", json={"body": "no title"}), 422)
    assert_error(emu.get("/repos/acme/widgets/issues/9999"), 404)


def test_issue_list_filters(emu):
    pr = new_pr(emu, "acme/widgets", "api/list-pr", "API: a PR in the issue list")
    mk = lambda title: json_of(emu.post("/repos/acme/widgets/issues", token=emu.tok["alice"],
                                        json={"title": title}), 201)
    closed = mk("API: closed one")
    json_of(emu.patch(f"/repos/acme/widgets/issues/{closed['number']}", json={"state": "closed"}),
            201)
    fresh = mk("API: fresh one")

    def numbers(**params):
        return [i["number"] for i in json_of(emu.get("/repos/acme/widgets/issues",
                                                     params=params), 200)]
    default = numbers()
    assert pr["number"] in default and fresh["number"] in default     # PRs included
    assert closed["number"] not in default                            # open by default
    assert default == sorted(default, reverse=True)                   # newest first
    assert pr["number"] not in numbers(type="issues")
    assert numbers(type="pulls") == [pr["number"]]
    assert closed["number"] in numbers(state="closed")
    assert fresh["number"] not in numbers(state="closed")
    assert {closed["number"], fresh["number"], pr["number"]} <= set(numbers(state="all"))
    assert numbers(labels="bug") == [1]
    since = fresh["updated_at"]
    assert fresh["number"] in numbers(since=since)                    # inclusive
    later = (datetime.datetime.fromisoformat(since.replace("Z", "+00:00")) +
             datetime.timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
    assert fresh["number"] not in numbers(since=later)
    # Gitea keeps the whole seconds of `since` (t.Unix()): a fraction of
    # the item's own second still includes it.
    assert fresh["number"] in numbers(since=since.replace("Z", ".7Z"))
    assert numbers(since="2999-01-01T00:00:00Z") == []
    assert fresh["number"] in numbers(before=since)                   # inclusive too
    assert fresh["number"] not in numbers(before="2000-01-01T00:00:00Z")
    page1, page2 = numbers(limit=2, page=1), numbers(limit=2, page=2)
    assert len(page1) == len(page2) == 2 and page1 == default[:2] and page2 == default[2:4]


def test_issue_comments(emu):
    path = "/repos/acme/widgets/issues/2/comments"
    before = len(json_of(emu.get(path), 200))
    c = json_of(emu.post(path, token=emu.tok["agent-coder"], json={"body": "First."}), 201)
    assert c["body"] == "First." and c["user"]["login"] == "agent-coder"
    assert c["issue_url"].endswith("/acme/widgets/issues/2") and c["pull_request_url"] == ""
    json_of(emu.post(path, token=emu.tok["agent-reviewer"], json={"body": "Second."}), 201)
    listed = json_of(emu.get(path), 200)
    assert [x["body"] for x in listed[before:]] == ["First.", "Second."]
    assert_error(emu.post(path, json={"body": ""}), 422)
    assert json_of(emu.get("/repos/acme/widgets/issues/2"), 200)["comments"] == before + 2


# -- pull requests -----------------------------------------------------------------

def test_pull_create_get_list(emu):
    pr = new_pr(emu, "acme/widgets", "api/feature", "API: feature")
    n = pr["number"]
    assert pr["user"]["login"] == "agent-coder" and pr["state"] == "open"
    assert pr["head"]["ref"] == "api/feature" and pr["base"]["ref"] == "main"
    assert pr["merged"] is False and pr["merge_commit_sha"] is None
    got = json_of(emu.get(f"/repos/acme/widgets/pulls/{n}"), 200)
    assert got["mergeable"] is True
    assert got["head"]["sha"] == branch_sha(emu, "acme/widgets", "api/feature")
    assert n in [p["number"] for p in json_of(emu.get("/repos/acme/widgets/pulls"), 200)]
    assert n not in [p["number"] for p in json_of(
        emu.get("/repos/acme/widgets/pulls", params={"state": "closed"}), 200)]
    # The same head and base again: 409.
    assert_error(emu.post("/repos/acme/widgets/pulls", token=emu.tok["agent-coder"],
                          json={"head": "api/feature", "base": "main", "title": "again"}), 409)
    # head may name the owner: "owner:branch".
    emu.commit("acme/widgets", "api/owner-head", {"o.txt": "o\n"}, author="agent-coder")
    r = emu.post("/repos/acme/widgets/pulls", token=emu.tok["agent-coder"],
                 json={"head": "acme:api/owner-head", "base": "main", "title": "owner:branch"})
    assert json_of(r, 201)["head"]["ref"] == "api/owner-head"
    # No changes between head and base (the head is already in the base): 422.
    done = emu.commit("acme/scratch", "api/already-in", {"in.txt": "in\n"}, author="alice")
    emu.commit("acme/scratch", "main", {"after.txt": "after\n"}, author="alice",
               **{"from": done})
    r = emu.post("/repos/acme/scratch/pulls", token=emu.tok["alice"],
                 json={"head": "api/already-in", "base": "main", "title": "nothing"})
    assert_error(r, 422)
    # An outsider may not open a PR on the base repository.
    r = emu.post("/repos/acme/widgets/pulls", token=emu.tok["outsider"],
                 json={"head": "api/feature", "base": "main", "title": "outsider"})
    assert r.status_code in (403, 404), r.text
    assert_error(emu.get("/repos/acme/widgets/pulls/9999"), 404)


MERGE_STYLES = ["merge", "rebase", "rebase-merge", "squash", "fast-forward-only"]


@pytest.mark.parametrize("style", MERGE_STYLES)
def test_merge_style(emu, style):
    repo = "acme/merges"
    pr = new_pr(emu, repo, f"style/{style}", f"Merge with {style}")
    n, head = pr["number"], pr["head"]["sha"]
    if style != "fast-forward-only":
        # The base moves on, so every style but fast-forward has to write.
        emu.commit(repo, "main", {f"base-{style}.txt": "base\n"}, author="alice")
    old_base = branch_sha(emu, repo, "main")
    assert json_of(emu.get(f"/repos/{repo}/pulls/{n}"), 200)["mergeable"] is True
    assert_error(emu.get(f"/repos/{repo}/pulls/{n}/merge"), 404)          # not merged yet
    r = emu.post(f"/repos/{repo}/pulls/{n}/merge", token=emu.tok["alice"],
                 json={"Do": style, "head_commit_id": head})
    assert r.status_code == 200 and r.content == b"", (r.status_code, r.text)
    assert emu.get(f"/repos/{repo}/pulls/{n}/merge").status_code == 204
    got = json_of(emu.get(f"/repos/{repo}/pulls/{n}"), 200)
    new_base = branch_sha(emu, repo, "main")
    assert got["merged"] is True and got["state"] == "closed" and got["merged_at"]
    assert got["merged_by"]["login"] == "alice"
    assert got["merge_commit_sha"] == new_base != old_base
    if style == "fast-forward-only":
        assert new_base == head
    else:
        assert new_base != head
    issue = json_of(emu.get(f"/repos/{repo}/issues/{n}"), 200)
    assert issue["state"] == "closed" and issue["pull_request"]["merged"] is True
    # Merging again: 405.
    r = emu.post(f"/repos/{repo}/pulls/{n}/merge", json={"Do": style})
    assert r.status_code == 405, r.text


def test_merge_manually_merged(emu):
    repo = "acme/merges"
    pr = new_pr(emu, repo, "style/manual", "Merged by hand")
    n = pr["number"]
    # The style is off by default (allow_manual_merge false): 405.
    r = emu.post(f"/repos/{repo}/pulls/{n}/merge",
                 json={"Do": "manually-merged", "merge_commit_id": pr["head"]["sha"]})
    assert r.status_code == 405, r.text
    assert json_of(emu.patch(f"/repos/{repo}", json={"allow_manual_merge": True}),
                   200)["allow_manual_merge"] is True
    # Someone merges by hand: main gets a commit on top of the PR head.
    merged = emu.commit(repo, "main", {"manual.txt": "by hand\n"}, author="alice",
                        **{"from": pr["head"]["sha"]})
    r = emu.post(f"/repos/{repo}/pulls/{n}/merge",
                 json={"Do": "manually-merged", "merge_commit_id": merged})
    assert r.status_code == 200, r.text
    got = json_of(emu.get(f"/repos/{repo}/pulls/{n}"), 200)
    assert got["merged"] is True and got["state"] == "closed"
    assert got["merge_commit_sha"] == merged


def test_merge_style_not_allowed_is_405(emu):
    repo = "acme/merges"
    pr = new_pr(emu, repo, "style/off", "Squash is off")
    json_of(emu.patch(f"/repos/{repo}", json={"allow_squash_merge": False}), 200)
    try:
        r = emu.post(f"/repos/{repo}/pulls/{pr['number']}/merge", json={"Do": "squash"})
        assert r.status_code == 405, r.text
        assert json_of(emu.get(f"/repos/{repo}/pulls/{pr['number']}"), 200)["merged"] is False
    finally:
        emu.patch(f"/repos/{repo}", json={"allow_squash_merge": True})
    r = emu.post(f"/repos/{repo}/pulls/{pr['number']}/merge", json={"Do": "bogus"})
    assert r.status_code == 422, r.text


def test_merge_with_stale_head_commit_id_is_409(emu):
    repo = "acme/merges"
    pr = new_pr(emu, repo, "stale/head", "Stale head")
    old_head = pr["head"]["sha"]
    new_head = emu.commit(repo, "stale/head", {"more.txt": "more\n"}, author="agent-coder")
    r = emu.post(f"/repos/{repo}/pulls/{pr['number']}/merge",
                 json={"Do": "merge", "head_commit_id": old_head})
    assert_error(r, 409, "head out of date")
    assert json_of(emu.get(f"/repos/{repo}/pulls/{pr['number']}"), 200)["merged"] is False
    r = emu.post(f"/repos/{repo}/pulls/{pr['number']}/merge",
                 json={"Do": "merge", "head_commit_id": new_head})
    assert r.status_code == 200, r.text


def test_conflicting_pr_is_not_mergeable_and_merge_is_405(emu):
    repo = "acme/merges"
    base = branch_sha(emu, repo, "main")
    emu.commit(repo, "conflict/api", {"src/a.txt": "theirs\n"}, author="agent-coder",
               **{"from": base})
    emu.commit(repo, "main", {"src/a.txt": "ours\n"}, author="alice")
    pr = json_of(emu.post(f"/repos/{repo}/pulls", token=emu.tok["agent-coder"],
                          json={"head": "conflict/api", "base": "main", "title": "Conflict"}), 201)
    got = json_of(emu.get(f"/repos/{repo}/pulls/{pr['number']}"), 200)
    assert got["mergeable"] is False
    r = emu.post(f"/repos/{repo}/pulls/{pr['number']}/merge", json={"Do": "merge"})
    assert r.status_code == 405, r.text
    got = json_of(emu.get(f"/repos/{repo}/pulls/{pr['number']}"), 200)
    assert got["merged"] is False and got["state"] == "open"


def test_merge_needs_write_access(emu):
    pr = new_pr(emu, "acme/widgets", "api/no-write", "API: outsider merge")
    r = emu.post(f"/repos/acme/widgets/pulls/{pr['number']}/merge", token=emu.tok["outsider"],
                 json={"Do": "merge"})
    assert r.status_code == 405, r.text


# -- reviews -----------------------------------------------------------------------

def test_reviews(emu):
    pr = new_pr(emu, "acme/widgets", "api/reviewed", "API: review me")
    path = f"/repos/acme/widgets/pulls/{pr['number']}/reviews"
    rev = emu.tok["agent-reviewer"]
    a = json_of(emu.post(path, token=rev, json={"event": "APPROVED", "body": "LGTM"}), 200)
    assert a["state"] == "APPROVED" and a["user"]["login"] == "agent-reviewer"
    assert a["commit_id"] == pr["head"]["sha"]
    rc = json_of(emu.post(path, token=rev, json={"event": "REQUEST_CHANGES", "body": "Fix it"}),
                 200)
    assert rc["state"] == "REQUEST_CHANGES" and rc["body"] == "Fix it"
    c = json_of(emu.post(path, token=rev, json={"event": "COMMENT", "body": "A note"}), 200)
    assert c["state"] == "COMMENT"
    # Refusals: the poster approving or rejecting their own PR; REQUEST_CHANGES
    # without a body; COMMENT with neither body nor comments.
    own = emu.tok["agent-coder"]
    assert_error(emu.post(path, token=own, json={"event": "APPROVED", "body": "mine"}), 422)
    assert_error(emu.post(path, token=own, json={"event": "REQUEST_CHANGES", "body": "x"}), 422)
    assert_error(emu.post(path, token=rev, json={"event": "REQUEST_CHANGES"}), 422)
    assert_error(emu.post(path, token=rev, json={"event": "COMMENT", "body": ""}), 422)
    listed = json_of(emu.get(path), 200)
    assert [(x["id"], x["state"]) for x in listed] == \
        [(a["id"], "APPROVED"), (rc["id"], "REQUEST_CHANGES"), (c["id"], "COMMENT")]


def test_review_on_closed_pr_is_422(emu):
    pr = new_pr(emu, "acme/widgets", "api/closed-review", "API: closed, then reviewed")
    json_of(emu.patch(f"/repos/acme/widgets/issues/{pr['number']}", json={"state": "closed"}), 201)
    r = emu.post(f"/repos/acme/widgets/pulls/{pr['number']}/reviews",
                 token=emu.tok["agent-reviewer"], json={"event": "APPROVED", "body": "late"})
    assert_error(r, 422)


# -- collaborators --------------------------------------------------------------------

def test_collaborators(emu):
    json_of(emu.post("/admin/users", json={"username": "collab-a", "email": "collab-a@example.com",
                                           "password": PASSWORD, "must_change_password": False}),
            201)
    r = emu.put("/repos/acme/scratch/collaborators/collab-a")          # no body
    assert r.status_code == 204 and r.content == b"", r.text
    assert emu.get("/repos/acme/scratch/collaborators/collab-a").status_code == 204
    seen = json_of(emu.get("/repos/acme/scratch", basic=("collab-a", PASSWORD)), 200)
    assert seen["permissions"] == {"admin": False, "push": True, "pull": True}   # write
    r = emu.put("/repos/acme/scratch/collaborators/outsider", json={"permission": "read"})
    assert r.status_code == 204
    seen = json_of(emu.get("/repos/acme/scratch", token=emu.tok["outsider"]), 200)
    assert seen["permissions"]["push"] is False
    assert_error(emu.put("/repos/acme/scratch/collaborators/no-such-user"), 422)
    logins = [u["login"] for u in json_of(emu.get("/repos/acme/scratch/collaborators"), 200)]
    assert sorted(logins) == ["collab-a", "outsider"]
    # Only a repository admin may add collaborators.
    r = emu.put("/repos/acme/widgets/collaborators/collab-a", token=emu.tok["agent-coder"])
    assert r.status_code == 403, r.text


# -- users and tokens ----------------------------------------------------------------

def test_admin_created_user_must_change_password_by_default(emu):
    u = json_of(emu.post("/admin/users", json={"username": "newbie", "email": "newbie@example.com",
                                               "password": PASSWORD}), 201)
    assert u["login"] == "newbie" and u["email"] == "newbie@example.com"
    r = emu.get("/user", basic=("newbie", PASSWORD))
    assert_error(r, 403, "You must change your password")
    # A token minted for them by an admin (Basic auth) is refused too.
    tok = json_of(emu.post("/users/newbie/tokens", basic=("sidecar", PASSWORD),
                           json={"name": "by-admin", "scopes": ["all"]}), 201)["sha1"]
    assert_error(emu.get("/repos/acme/widgets", token=tok), 403, "You must change your password")
    assert_error(emu.get("/repos/acme/widgets/issues", token=tok), 403)
    assert_error(emu.post("/admin/users", json={"username": "newbie", "email": "x@example.com",
                                                "password": PASSWORD}), 422)


def test_admin_created_user_without_must_change_password(emu):
    json_of(emu.post("/admin/users", json={"username": "agent-new",
                                           "email": "agent-new@example.com", "password": PASSWORD,
                                           "must_change_password": False}), 201)
    me = json_of(emu.get("/user", basic=("agent-new", PASSWORD)), 200)
    assert me["login"] == "agent-new"
    tok = emu.user_token("agent-new")
    assert json_of(emu.get("/user", token=tok), 200)["login"] == "agent-new"
    # Only site admins create users.
    r = emu.post("/admin/users", token=tok, json={"username": "x2", "email": "x2@example.com",
                                                  "password": PASSWORD})
    assert r.status_code == 403, r.text


def test_tokens_are_minted_only_under_basic_auth(emu):
    path = "/users/agent-coder/tokens"
    r = emu.post(path, token=emu.tok["agent-coder"], json={"name": "via-token", "scopes": ["all"]})
    assert_error(r, 401, "auth required")
    r = emu.post(path, basic=("agent-coder", PASSWORD),
                 json={"name": "via-basic", "scopes": ["read:repository", "write:issue"]})
    t = json_of(r, 201)
    assert SHA1_RE.match(t["sha1"]) and t["token_last_eight"] == t["sha1"][-8:]
    assert t["name"] == "via-basic" and t["scopes"] == ["read:repository", "write:issue"]
    assert emu.get("/repos/acme/widgets", token=t["sha1"]).status_code == 200
    # An admin's Basic auth on the agent's path works too.
    t2 = json_of(emu.post(path, basic=("sidecar", PASSWORD),
                          json={"name": "via-admin", "scopes": ["all"]}), 201)
    assert json_of(emu.get("/user", token=t2["sha1"]), 200)["login"] == "agent-coder"
    # Someone else's Basic auth does not.
    r = emu.post(path, basic=("agent-reviewer", PASSWORD), json={"name": "x", "scopes": ["all"]})
    assert r.status_code == 403, r.text
    assert_error(emu.post(path, basic=("agent-coder", "wrong password"),
                          json={"name": "bad", "scopes": ["all"]}), 401)
    assert_error(emu.post(path, basic=("agent-coder", PASSWORD),
                          json={"name": "no-scopes", "scopes": []}), 400)
    assert_error(emu.post(path, basic=("agent-coder", PASSWORD),
                          json={"name": "via-basic", "scopes": ["all"]}), 400)


def test_token_secret_is_never_listed(emu):
    t = json_of(emu.post("/users/agent-reviewer/tokens", basic=("agent-reviewer", PASSWORD),
                         json={"name": "listed-once", "scopes": ["all"]}), 201)
    r = emu.get("/users/agent-reviewer/tokens", basic=("agent-reviewer", PASSWORD))
    listed = json_of(r, 200)
    mine = [x for x in listed if x["name"] == "listed-once"]
    assert len(mine) == 1 and mine[0]["id"] == t["id"]
    assert mine[0].get("sha1", "") == "" and mine[0]["token_last_eight"] == t["sha1"][-8:]
    assert t["sha1"] not in r.text


# -- scopes and sudo ----------------------------------------------------------------

def test_token_scopes(emu):
    def tok(*scopes):
        return emu.user_token("agent-coder", scopes=scopes)
    emu.commit("acme/widgets", "api/scopes", {"scopes.txt": "x\n"}, author="agent-coder")
    pr_body = {"head": "api/scopes", "base": "main", "title": "API: scopes"}

    read_repo = tok("read:repository")
    assert emu.get("/repos/acme/widgets", token=read_repo).status_code == 200
    assert emu.get("/repos/acme/widgets/pulls", token=read_repo).status_code == 200
    assert_error(emu.post("/repos/acme/widgets/pulls", token=read_repo, json=pr_body), 403)
    assert_error(emu.get("/repos/acme/widgets/issues", token=read_repo), 403)

    read_issue = tok("read:issue")
    assert emu.get("/repos/acme/widgets/issues", token=read_issue).status_code == 200
    assert_error(emu.post("/repos/acme/widgets/issues", token=read_issue,
                          json={"title": "no"}), 403)
    assert_error(emu.get("/repos/acme/widgets/pulls", token=read_issue), 403)

    write_issue = tok("write:issue")                       # write implies read
    assert emu.get("/repos/acme/widgets/issues", token=write_issue).status_code == 200
    assert emu.post("/repos/acme/widgets/issues", token=write_issue,
                    json={"title": "API: scoped"}).status_code == 201

    write_repo = tok("write:repository")
    assert emu.get("/repos/acme/widgets", token=write_repo).status_code == 200
    assert emu.post("/repos/acme/widgets/pulls", token=write_repo,
                    json=pr_body).status_code == 201

    everything = tok("all")
    assert emu.get("/repos/acme/widgets/issues", token=everything).status_code == 200
    assert emu.get("/user", token=everything).status_code == 200


def test_sudo(emu):
    emu.commit("acme/widgets", "api/sudo", {"sudo.txt": "x\n"}, author="agent-coder")
    pr = json_of(emu.post("/repos/acme/widgets/pulls", sudo="agent-coder",
                          json={"head": "api/sudo", "base": "main", "title": "API: sudo"}), 201)
    assert pr["user"]["login"] == "agent-coder"
    assert json_of(emu.get("/user", sudo="agent-reviewer"), 200)["login"] == "agent-reviewer"
    # The admin token's scopes still apply.
    narrow = json_of(emu.post("/users/sidecar/tokens", basic=("sidecar", PASSWORD),
                              json={"name": "sudo-narrow", "scopes": ["read:repository"]}),
                     201)["sha1"]
    emu.commit("acme/widgets", "api/sudo-narrow", {"n.txt": "x\n"}, author="agent-coder")
    r = emu.post("/repos/acme/widgets/pulls", token=narrow, sudo="agent-coder",
                 json={"head": "api/sudo-narrow", "base": "main", "title": "narrow"})
    assert_error(r, 403)
    r = emu.get("/user", token=emu.tok["agent-coder"], params={"sudo": "alice"})
    assert_error(r, 403)
    assert_error(emu.get("/user", token=emu.tok["agent-coder"], sudo="alice"), 403)


# -- hooks ------------------------------------------------------------------------------

def test_repo_and_org_hooks(emu):
    body = hook_body(DEAD_URL, ["issues"], active=None)              # no "active"
    h = json_of(emu.post("/repos/acme/scratch/hooks", json=body), 201)
    assert h["active"] is False and h["type"] == "gitea"
    assert h["config"] == {"url": DEAD_URL, "content_type": "json"}  # no secret echoed
    nothing = hook_body(DEAD_URL, [], active=True)
    del nothing["events"]
    h2 = json_of(emu.post("/repos/acme/scratch/hooks", json=nothing), 201)
    assert h2["events"] == ["push"] and h2["active"] is True
    listed = json_of(emu.get("/repos/acme/scratch/hooks"), 200)
    assert [x["id"] for x in listed] == [h["id"], h2["id"]]
    got = json_of(emu.get(f"/repos/acme/scratch/hooks/{h['id']}"), 200)
    assert got["id"] == h["id"] and got["active"] is False
    org = json_of(emu.post("/orgs/acme/hooks", json=hook_body(DEAD_URL, ["repository"],
                                                             active=None)), 201)
    assert org["active"] is False
    assert org["id"] in [x["id"] for x in json_of(emu.get("/orgs/acme/hooks"), 200)]
    bad = hook_body(DEAD_URL, ["push"])
    bad["config"]["content_type"] = "xml"
    assert_error(emu.post("/repos/acme/scratch/hooks", json=bad), 422)
    assert_error(emu.post("/repos/acme/scratch/hooks", json=hook_body(DEAD_URL, ["push"]),
                          token=emu.tok["agent-coder"]), 403)
    assert_error(emu.post("/orgs/acme/hooks", json=hook_body(DEAD_URL, ["push"]),
                          token=emu.tok["agent-coder"]), 403)
    no_url = hook_body("", ["push"])
    assert_error(emu.post("/repos/acme/scratch/hooks", json=no_url), 422)
    no_type = hook_body(DEAD_URL, ["push"])
    del no_type["type"]
    assert_error(emu.post("/repos/acme/scratch/hooks", json=no_type), 422)


def test_admin_hooks_default_versus_system(emu):
    template = json_of(emu.post("/admin/hooks", json=hook_body(DEAD_URL + "/default",
                                                               ["repository"])), 201)
    system = json_of(emu.post("/admin/hooks", json=hook_body(DEAD_URL + "/system", ["push"],
                                                             system=True, active=False)), 201)

    def ids(**params):
        return [h["id"] for h in json_of(emu.get("/admin/hooks", params=params), 200)]
    assert template["id"] not in ids() and system["id"] in ids()         # default: system
    assert template["id"] not in ids(type="system")
    assert template["id"] in ids(type="default") and system["id"] not in ids(type="default")
    assert {template["id"], system["id"]} <= set(ids(type="all"))
    # Copied into repositories created later, not into existing ones.
    existing = [h["config"]["url"] for h in json_of(emu.get("/repos/acme/widgets/hooks"), 200)]
    assert DEAD_URL + "/default" not in existing
    json_of(emu.post("/orgs/acme/repos", json={"name": "after-template"}), 201)
    copies = json_of(emu.get("/repos/acme/after-template/hooks"), 200)
    assert [h["config"]["url"] for h in copies] == [DEAD_URL + "/default"]
    assert copies[0]["id"] != template["id"]
    emu.delete(f"/admin/hooks/{template['id']}")


# -- branches and statuses ---------------------------------------------------------------

def test_branches(emu):
    sha = emu.commit("acme/scratch", "feature/nested-name", {"f.txt": "f\n"}, author="alice")
    names = [b["name"] for b in json_of(emu.get("/repos/acme/scratch/branches"), 200)]
    assert {"main", "feature/nested-name"} <= set(names)
    b = json_of(get_branch(emu, "acme/scratch", "feature/nested-name"), 200)
    assert b["name"] == "feature/nested-name" and b["commit"]["id"] == sha
    assert b["protected"] is False and b["user_can_push"] is True
    main = json_of(emu.get("/repos/acme/scratch/branches/main"), 200)
    assert main["commit"]["message"] and main["commit"]["id"] != sha
    r = emu.get("/repos/acme/scratch/branches", params={"limit": 1})
    assert len(json_of(r, 200)) == 1 and int(r.headers["X-Total-Count"]) == len(names)
    assert 'rel="next"' in r.headers["Link"]
    assert_error(get_branch(emu, "acme/scratch", "no/such/branch"), 404)


def test_commit_status(emu):
    sha = branch_sha(emu, "acme/scratch", "main")
    combined = json_of(emu.get("/repos/acme/scratch/commits/main/status"), 200)
    assert combined["state"] == "pending" and combined["statuses"] is None
    assert combined["total_count"] == 0 and combined["sha"] == sha
    s = json_of(emu.post(f"/repos/acme/scratch/statuses/{sha}",
                         json={"state": "success", "context": "ci/test",
                               "target_url": "https://ci.example/1", "description": "ok"}), 201)
    assert s["status"] == "success" and s["context"] == "ci/test"        # "status", not "state"
    assert "state" not in s
    combined = json_of(emu.get("/repos/acme/scratch/commits/main/status"), 200)
    assert combined["state"] == "success" and combined["total_count"] == 1
    assert [x["status"] for x in combined["statuses"]] == ["success"]
    json_of(emu.post(f"/repos/acme/scratch/statuses/{sha}",
                     json={"state": "failure", "context": "ci/lint"}), 201)
    combined = json_of(emu.get(f"/repos/acme/scratch/commits/{sha}/status"), 200)
    assert combined["state"] == "failure" and combined["total_count"] == 2
    listed = json_of(emu.get(f"/repos/acme/scratch/statuses/{sha}"), 200)
    assert sorted(x["context"] for x in listed) == ["ci/lint", "ci/test"]
    assert_error(emu.post(f"/repos/acme/scratch/statuses/{sha}", json={"status": "success"}), 422)


# -- pagination -------------------------------------------------------------------------

def _link(emu, path, **query):
    q = "&".join(f"{k}={query[k]}" for k in sorted(query))
    return f"<{emu.root_url}api/v1{path}?{q}>"


def test_pagination_link_header(emu):
    path = "/repos/acme/paging/issues"
    r = emu.get(path, params={"state": "all", "type": "issues", "limit": 20, "page": 2})
    assert len(json_of(r, 200)) == 20 and r.headers["X-Total-Count"] == str(PAGING_ISSUES)
    L = lambda page, rel: _link(emu, path, limit=20, page=page, state="all",
                                type="issues") + f'; rel="{rel}"'
    assert r.headers["Link"] == ",".join([L(3, "next"), L(3, "last"), L(1, "first"),
                                          L(1, "prev")])
    r = emu.get(path, params={"type": "issues", "state": "all", "limit": 20})     # page 1
    assert r.headers["Link"] == ",".join([L(2, "next"), L(3, "last")])
    r = emu.get(path, params={"type": "issues", "state": "all", "limit": 20, "page": 3})
    assert r.headers["Link"] == ",".join([L(1, "first"), L(2, "prev")])
    # Spaces are escaped like Go's url.Values.Encode.
    r = emu.get(path, params={"q": "Paging issue", "limit": 50})
    assert r.headers["Link"] == _link(emu, path, limit=50, page=2, q="Paging+issue") + \
        '; rel="next",' + _link(emu, path, limit=50, page=2, q="Paging+issue") + '; rel="last"'


def test_pagination_default_and_cap(emu):
    path = "/repos/acme/paging/issues"
    r = emu.get(path)
    assert len(json_of(r, 200)) == 30                                  # default limit
    assert r.headers["X-Total-Count"] == str(PAGING_ISSUES)
    assert r.headers["Link"] == _link(emu, path, page=2) + '; rel="next",' + \
        _link(emu, path, page=2) + '; rel="last"'
    r = emu.get(path, params={"limit": 100})
    assert len(json_of(r, 200)) == 50                                  # capped
    assert r.headers["Link"] == _link(emu, path, limit=100, page=2) + '; rel="next",' + \
        _link(emu, path, limit=100, page=2) + '; rel="last"'
    second = json_of(emu.get(path, params={"limit": 100, "page": 2}), 200)
    assert len(second) == PAGING_ISSUES - 50
    r = emu.get(path, params={"limit": 0, "page": 0})
    assert len(json_of(r, 200)) == 30
    first = [i["number"] for i in json_of(emu.get(path, params={"page": 1}), 200)]
    assert [i["number"] for i in r.json()] == first                    # page 0 is page 1
    r = emu.get(path, params={"page": 9})
    assert json_of(r, 200) == [] and r.headers["X-Total-Count"] == str(PAGING_ISSUES)


def test_link_is_built_from_root_url_not_host(emu):
    other = emu.url.replace("127.0.0.1", "localhost")
    r = requests.get(other + "/api/v1/repos/acme/paging/issues", params={"limit": 10},
                     headers={"Authorization": f"token {ADMIN_TOKEN}"}, timeout=10)
    assert r.status_code == 200
    links = re.findall(r"<([^>]+)>", r.headers["Link"])
    assert links and all(u.startswith(emu.root_url + "api/v1/") for u in links), links


def test_lists_that_send_only_x_total_count(emu):
    pr = new_pr(emu, "acme/widgets", "api/count-only", "API: count only")
    n = pr["number"]
    rev = emu.tok["agent-reviewer"]
    for text in ("one", "two"):
        json_of(emu.post(f"/repos/acme/widgets/pulls/{n}/reviews", token=rev,
                         json={"event": "COMMENT", "body": text}), 200)
        json_of(emu.post(f"/repos/acme/widgets/issues/{n}/comments", token=rev,
                         json={"body": text}), 201)
    for _ in range(2):
        json_of(emu.post("/repos/acme/widgets/hooks", json=hook_body(DEAD_URL, ["push"],
                                                                     active=False)), 201)
    for path in (f"/repos/acme/widgets/pulls/{n}/reviews", "/repos/acme/widgets/hooks",
                 "/repos/acme/widgets/collaborators", f"/repos/acme/widgets/issues/{n}/comments"):
        r = emu.get(path, params={"limit": 1})
        assert len(json_of(r, 200)) == 1, path
        assert int(r.headers["X-Total-Count"]) >= 2, path
        assert "Link" not in r.headers, (path, r.headers.get("Link"))
    # A paginated list sends both.
    r = emu.get("/repos/acme/widgets/pulls", params={"limit": 1, "state": "all"})
    assert "Link" in r.headers and int(r.headers["X-Total-Count"]) >= 2


# -- errors ---------------------------------------------------------------------------

def test_error_bodies(emu):
    body = assert_error(emu.get("/repos/acme/does-not-exist"), 404)
    assert body["url"] == emu.root_url + "api/swagger"
    assert_error(emu.get("/repos/acme/widgets/issues/424242"), 404)
    assert_error(emu.get("/user", token="0" * 40), 401)
    scoped = emu.user_token("agent-coder", scopes=("read:repository",))
    body = assert_error(emu.post("/repos/acme/widgets/issues", token=scoped,
                                 json={"title": "x"}), 403)
    assert body["url"] == emu.root_url + "api/swagger"
    assert_error(emu.post("/repos/acme/widgets/issues", json={}), 422)


# -- more of section 3 ------------------------------------------------------------------

def test_authentication_forms(emu):
    """token and Bearer headers, ?token= and ?access_token=, and a token
    as the Basic password all authenticate (README section 3)."""
    tok = emu.tok["agent-coder"]
    for kw in ({"headers": {"Authorization": f"Bearer {tok}"}, "token": None},
               {"params": {"token": tok}, "token": None},
               {"params": {"access_token": tok}, "token": None},
               {"basic": ("agent-coder", tok)},
               {"basic": ("agent-coder", PASSWORD)}):
        assert json_of(emu.get("/user", **kw), 200)["login"] == "agent-coder", kw
    assert_error(emu.get("/user", token=None), 401)
    assert_error(emu.get("/user", headers={"Authorization": "Bearer nope"}, token=None), 401)


def test_private_repos_are_visible_to_admins_only(emu):
    json_of(emu.post("/orgs/acme/repos", json={"name": "hidden", "private": True}), 201)
    names = [r["full_name"] for r in json_of(emu.get("/repos/search"), 200)["data"]]
    assert "acme/hidden" in names
    theirs = json_of(emu.get("/repos/search", token=emu.tok["outsider"]), 200)["data"]
    assert "acme/hidden" not in [r["full_name"] for r in theirs]
    # An assignee without access to the repository: Gitea fails with 500.
    issue = json_of(emu.post("/repos/acme/hidden/issues", json={"title": "secret"}), 201)
    r = emu.patch(f"/repos/acme/hidden/issues/{issue['number']}",
                  json={"assignees": ["outsider"]})
    assert r.status_code == 500, r.text
    repo_id = json_of(emu.get("/repos/acme/hidden"), 200)["id"]
    assert_error(emu.get(f"/repositories/{repo_id}", token=emu.tok["outsider"]), 404)
    assert_error(emu.get("/repos/acme/hidden", token=emu.tok["outsider"]), 404)


def test_merge_accepts_lowercase_do_and_deletes_the_branch(emu):
    repo = "acme/merges"
    pr = new_pr(emu, repo, "style/delete-after", "Delete the branch after merging")
    r = emu.post(f"/repos/{repo}/pulls/{pr['number']}/merge",
                 json={"do": "squash", "delete_branch_after_merge": True})
    assert r.status_code == 200, r.text
    assert_error(get_branch(emu, repo, "style/delete-after"), 404)
    got = json_of(emu.get(f"/repos/{repo}/pulls/{pr['number']}"), 200)
    assert got["merged"] is True
    # After the branch is gone, head.ref is the PR's own ref (README section 2).
    assert got["head"]["ref"] == f"refs/pull/{pr['number']}/head"


def test_merge_of_a_closed_pr_is_404(emu):
    pr = new_pr(emu, "acme/merges", "style/closed", "Closed, not merged")
    json_of(emu.patch(f"/repos/acme/merges/issues/{pr['number']}", json={"state": "closed"}), 201)
    assert_error(emu.post(f"/repos/acme/merges/pulls/{pr['number']}/merge",
                          json={"Do": "merge"}), 404)


def test_review_with_another_event_is_pending(emu):
    pr = new_pr(emu, "acme/widgets", "api/pending-review", "API: pending review")
    r = emu.post(f"/repos/acme/widgets/pulls/{pr['number']}/reviews",
                 token=emu.tok["agent-reviewer"], json={"body": "draft"})
    assert json_of(r, 200)["state"] == "PENDING"


def test_admin_create_user_validation(emu):
    assert_error(emu.post("/admin/users", json={"username": "shorty", "email": "s@example.com",
                                                "password": "short"}), 400)
    r = emu.post("/admin/users", json={"username": "no-mail"})
    assert r.status_code == 422, r.text
    r = emu.post("/admin/users", token=emu.tok["alice"],
                 json={"username": "by-alice", "email": "b@example.com", "password": PASSWORD})
    assert r.status_code == 403, r.text


def test_collaborator_permission_admin(emu):
    r = emu.put("/repos/acme/scratch/collaborators/agent-reviewer", json={"permission": "admin"})
    assert r.status_code == 204, r.text
    seen = json_of(emu.get("/repos/acme/scratch", token=emu.tok["agent-reviewer"]), 200)
    assert seen["permissions"] == {"admin": True, "push": True, "pull": True}
