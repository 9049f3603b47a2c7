"""Gitea emulator conformance: the 13 surprises of README section 4, one
test (or a few) each, as a Gitea client sees them."""

import copy
import json
import time
from types import SimpleNamespace

import pytest

from emulator import DEFAULT_SEED, PASSWORD, Emulator
from emulator_helpers import (
    UUID4_RE, Receiver, add_hook, assert_hook_headers, event_type, header,
    hold_and_flush, new_since, records, settle)

MANY = 55


@pytest.fixture(scope="module")
def env():
    seed = copy.deepcopy(DEFAULT_SEED)
    seed["repos"].append({"owner": "acme", "name": "many", "files": {"README.md": "many\n"},
                          "issues": [{"title": f"Issue {i}", "poster": "alice"}
                                     for i in range(MANY)]})
    emu = Emulator(seed=seed)
    rx = Receiver()
    sys_hook = add_hook(emu, "admin", rx.url, ["issues", "pull_request", "repository"],
                        system=True)
    tok = {u: emu.user_token(u) for u in ("alice", "agent-coder", "agent-reviewer", "outsider")}
    made = [rx]

    def receiver(**kw):
        made.append(Receiver(**kw))
        return made[-1]
    yield SimpleNamespace(emu=emu, rx=rx, tok=tok, sys_hook=sys_hook, receiver=receiver,
                          ids={u["login"]: u["id"] for u in emu.state()["users"]})
    for r in made:
        r.close()
    emu.stop()


def act(env, fn, *more):
    start = len(env.rx.received)
    out = fn()
    settle(env.emu, env.rx, *more)
    return out, new_since(env.rx, start)


def new_pr(env, branch, title="A PR", login="agent-coder"):
    env.emu.commit("acme/widgets", branch, {f"{branch}.txt": "x\n"}, author=login)
    r = env.emu.post("/repos/acme/widgets/pulls", token=env.tok[login],
                     json={"head": branch, "base": "main", "title": title})
    assert r.status_code == 201, r.text
    settle(env.emu, env.rx)
    return r.json()


def new_issue(env, title, login="alice"):
    r = env.emu.post("/repos/acme/widgets/issues", token=env.tok[login], json={"title": title})
    assert r.status_code == 201, r.text
    return r.json()


# 1 ---------------------------------------------------------------------------------

def test_trap01_hook_without_active_true_is_inactive(env):
    rx = env.receiver()
    body = {"type": "gitea", "events": ["issues"],
            "config": {"url": rx.url, "content_type": "json", "secret": "s"}}
    r = env.emu.post("/repos/acme/widgets/hooks", json=body)
    assert r.status_code == 201 and r.json()["active"] is False, r.text
    act(env, lambda: new_issue(env, "Trap 1: nobody hears this"), rx)
    assert rx.received == []
    env.emu.patch(f"/repos/acme/widgets/hooks/{r.json()['id']}", json={"active": True})
    act(env, lambda: new_issue(env, "Trap 1: now it is heard"), rx)
    assert [json.loads(b)["issue"]["title"] for _, b in rx.received] == \
        ["Trap 1: now it is heard"]


# 2 ---------------------------------------------------------------------------------

def test_trap02_admin_hook_without_is_system_webhook_is_a_template(env):
    rx = env.receiver()
    body = {"type": "gitea", "active": True, "events": ["issues", "repository"],
            "config": {"url": rx.url, "content_type": "json", "secret": "tmpl"}}
    r = env.emu.post("/admin/hooks", json=body)
    assert r.status_code == 201, r.text
    hook_id = r.json()["id"]
    assert hook_id not in [h["id"] for h in env.emu.get("/admin/hooks").json()]
    assert hook_id not in [h["id"] for h in env.emu.get("/admin/hooks",
                                                        params={"type": "system"}).json()]
    assert hook_id in [h["id"] for h in env.emu.get("/admin/hooks",
                                                    params={"type": "default"}).json()]
    # It never fires for an existing repository.
    act(env, lambda: new_issue(env, "Trap 2: existing repo"), rx)
    assert rx.received == []
    # A repository created later gets a copy, before its "created" event.
    act(env, lambda: env.emu.post("/orgs/acme/repos", json={"name": "trap2-later"}), rx)
    assert [event_type(h) for h, _ in rx.received] == ["repository"]
    h, raw = rx.received[0]
    assert_hook_headers(h, raw, "repository_created.json", secret="tmpl", target="repository")
    act(env, lambda: env.emu.post("/repos/acme/trap2-later/issues", json={"title": "later"}), rx)
    assert [event_type(h) for h, _ in rx.received] == ["repository", "issues"]
    act(env, lambda: new_issue(env, "Trap 2: existing repo again"), rx)
    assert len(rx.received) == 2
    env.emu.delete(f"/admin/hooks/{hook_id}")


# 3 ---------------------------------------------------------------------------------

def test_trap03_default_allowed_host_list_refuses_loopback(tmp_path):
    rx = Receiver()
    seed = copy.deepcopy(DEFAULT_SEED)
    seed["hooks"] = [{"kind": "system", "url": rx.url, "events": ["issues"], "secret": "s"}]
    emu = Emulator(seed=seed, allowed_hosts="external")     # Gitea's default
    try:
        r = emu.post("/repos/acme/widgets/issues", json={"title": "Trap 3"})
        assert r.status_code == 201
        settle(emu, rx)
        time.sleep(0.3)
        assert rx.received == [], "a loopback target was called with ALLOWED_HOST_LIST=external"
        recs = [d for d in records(emu) if d["event_type"] == "issues"]
        assert [d["outcome"] for d in recs] == ["refused"], recs
        assert recs[0]["status"] in (None, 0)
    finally:
        rx.close()
        emu.stop()


# 4 and 5 ---------------------------------------------------------------------------

def test_trap04_merge_arrives_as_closed_with_merged_true(env):
    pr = new_pr(env, "trap/merged", "Trap 4: merge")
    r, got = act(env, lambda: env.emu.post(f"/repos/acme/widgets/pulls/{pr['number']}/merge",
                                           json={"Do": "squash"}))
    assert r.status_code == 200, r.text
    prs = [json.loads(b) for h, b in got if event_type(h) == "pull_request"]
    assert [(p["action"], p["pull_request"]["merged"]) for p in prs] == [("closed", True)]
    assert all(json.loads(b).get("action") != "merged" for _, b in got)


def test_trap04_and_05_reviews_share_action_reviewed(env):
    """The three review kinds: action "reviewed" each, told apart by the
    headers and review.type; X-Gitea-Event is pull_request_approved,
    _rejected or _comment, never pull_request_review, the name a hook
    subscribes with."""
    rx = env.receiver()
    add_hook(env.emu, "repo:acme/widgets", rx.url, ["pull_request_review"])
    pr = new_pr(env, "trap/reviews", "Trap 5: reviews")
    for event in ("APPROVED", "REQUEST_CHANGES", "COMMENT"):
        act(env, lambda: env.emu.post(f"/repos/acme/widgets/pulls/{pr['number']}/reviews",
                                      token=env.tok["agent-reviewer"],
                                      json={"event": event, "body": f"{event} text"}), rx)
    seen = [(header(h, "X-Gitea-Event"), event_type(h), json.loads(b)["action"],
             json.loads(b)["review"]["type"]) for h, b in rx.received]
    assert seen == [
        ("pull_request_approved", "pull_request_review_approved", "reviewed",
         "pull_request_review_approved"),
        ("pull_request_rejected", "pull_request_review_rejected", "reviewed",
         "pull_request_review_rejected"),
        ("pull_request_comment", "pull_request_review_comment", "reviewed",
         "pull_request_review_comment"),
    ]
    assert all(header(h, "X-GitHub-Event") != "pull_request_review" for h, _ in rx.received)


# 6 ---------------------------------------------------------------------------------

def test_trap06_admin_created_users_must_change_their_password(env):
    r = env.emu.post("/admin/users", json={"username": "trap6", "email": "trap6@example.com",
                                           "password": PASSWORD})
    assert r.status_code == 201, r.text
    assert [u["must_change_password"] for u in env.emu.state()["users"]
            if u["login"] == "trap6"] == [True]
    tok = env.emu.post("/users/trap6/tokens", basic=("sidecar", PASSWORD),
                       json={"name": "t", "scopes": ["all"]}).json()["sha1"]
    for kw in ({"basic": ("trap6", PASSWORD)}, {"token": tok}):
        for method, path in (("GET", "/user"), ("GET", "/repos/acme/widgets"),
                             ("GET", "/repos/acme/widgets/issues"),
                             ("POST", "/repos/acme/widgets/issues")):
            r = env.emu.api(method, path, json={"title": "x"} if method == "POST" else None,
                            **kw)
            assert r.status_code == 403, (method, path, r.status_code, r.text)
            assert "change your password" in r.json()["message"]
    r = env.emu.post("/admin/users", json={"username": "trap6b", "email": "trap6b@example.com",
                                           "password": PASSWORD, "must_change_password": False})
    assert r.status_code == 201
    assert env.emu.get("/user", basic=("trap6b", PASSWORD)).status_code == 200


# 7 ---------------------------------------------------------------------------------

def test_trap07_only_basic_auth_mints_tokens_and_the_secret_is_in_sha1(env):
    r = env.emu.post("/users/agent-coder/tokens", token=env.tok["agent-coder"],
                     json={"name": "trap7-token", "scopes": ["all"]})
    assert r.status_code == 401 and r.json()["message"] == "auth required", r.text
    r = env.emu.post("/users/agent-coder/tokens", basic=("agent-coder", PASSWORD),
                     json={"name": "trap7-basic", "scopes": ["all"]})
    assert r.status_code == 201, r.text
    body = r.json()
    assert len(body["sha1"]) == 40 and "token" not in body
    assert env.emu.get("/user", token=body["sha1"]).json()["login"] == "agent-coder"


# 8, 9, 10 --------------------------------------------------------------------------

def test_trap08_repo_search_wraps_its_results(env):
    body = env.emu.get("/repos/search").json()
    assert isinstance(body, dict) and list(body) == ["ok", "data"] and body["ok"] is True
    assert isinstance(body["data"], list) and body["data"][0]["full_name"]


def test_trap09_issues_list_returns_prs_unless_type_issues(env):
    pr = new_pr(env, "trap/issues-list", "Trap 9: a PR")
    listed = env.emu.get("/repos/acme/widgets/issues").json()
    mine = [i for i in listed if i["number"] == pr["number"]]
    assert len(mine) == 1 and mine[0]["pull_request"]["html_url"].endswith(
        f"/pulls/{pr['number']}")
    only_issues = env.emu.get("/repos/acme/widgets/issues", params={"type": "issues"}).json()
    assert pr["number"] not in [i["number"] for i in only_issues]
    assert all(i["pull_request"] is None for i in only_issues)


def test_trap10_limit_above_50_is_silently_capped(env):
    r = env.emu.get("/repos/acme/many/issues", params={"limit": 100})
    assert r.status_code == 200 and len(r.json()) == 50
    assert r.headers["X-Total-Count"] == str(MANY)
    assert 'rel="next"' in r.headers["Link"]


# 11 --------------------------------------------------------------------------------

def test_trap11_patch_issue_returns_201_and_ignores_assignees_without_write(env):
    issue = new_issue(env, "Trap 11: outsider's issue", login="outsider")
    path = f"/repos/acme/widgets/issues/{issue['number']}"
    r = env.emu.patch(path, token=env.tok["outsider"],
                      json={"title": "Trap 11: renamed", "assignees": ["agent-coder"]})
    assert r.status_code == 201, r.text
    assert r.json()["title"] == "Trap 11: renamed" and r.json()["assignees"] is None
    assert env.emu.get(path).json()["assignees"] is None
    r = env.emu.patch(path, token=env.tok["alice"], json={"assignees": ["agent-coder"]})
    assert r.status_code == 201
    assert [a["login"] for a in r.json()["assignees"]] == ["agent-coder"]


def test_trap11_patch_pull_request_returns_201(env):
    pr = new_pr(env, "trap/patch-pr", "Trap 11: PR title")
    r = env.emu.patch(f"/repos/acme/widgets/pulls/{pr['number']}", token=env.tok["agent-coder"],
                      json={"title": "Trap 11: PR renamed"})
    assert r.status_code == 201, r.text
    assert r.json()["title"] == "Trap 11: PR renamed" and r.json()["number"] == pr["number"]
    # The same index through the issues route is a PATCH that answers 201 too.
    r = env.emu.patch(f"/repos/acme/widgets/issues/{pr['number']}", token=env.tok["agent-coder"],
                      json={"body": "edited as an issue"})
    assert r.status_code == 201 and r.json()["pull_request"] is not None


# 12 --------------------------------------------------------------------------------

def test_trap12_no_retry(env):
    failing = env.receiver(status=500)
    hook = add_hook(env.emu, "repo:acme/widgets", failing.url, ["issues"])
    act(env, lambda: new_issue(env, "Trap 12: receiver fails"), failing)
    time.sleep(0.7)
    assert failing.count() == 1
    env.emu.patch(f"/repos/acme/widgets/hooks/{hook['id']}", json={"active": False})


def test_trap12_replay_has_a_new_delivery_uuid(env):
    _, got = act(env, lambda: new_issue(env, "Trap 12: replayed"))
    (h, raw), = got
    out, again = act(env, lambda: env.emu.control("webhooks/replay",
                                                  {"delivery": header(h, "X-Gitea-Delivery")}))
    (h2, raw2), = again
    assert raw2 == raw
    new_id = header(h2, "X-Gitea-Delivery")
    assert UUID4_RE.match(new_id) and new_id != header(h, "X-Gitea-Delivery")
    assert new_id == out["delivery"]


def test_trap12_deliveries_can_arrive_out_of_order(env):
    name = "trap12-order"
    assert env.emu.post("/user/repos", json={"name": name}).status_code == 201
    for h in env.emu.get(f"/repos/sidecar/{name}/hooks").json():    # template copies
        env.emu.delete(f"/repos/sidecar/{name}/hooks/{h['id']}")
    slow = env.receiver(delay=0.5)
    add_hook(env.emu, f"repo:sidecar/{name}", slow.url, ["issues"])
    env.emu.patch(f"/admin/hooks/{env.sys_hook['id']}", json={"active": False})
    try:
        for _ in range(3):
            numbers, batches = hold_and_flush(env.emu, f"sidecar/{name}", slow, 8, "shuffle")
            assert len(batches) > 1, "every delivery arrived at once: order not observable"
            if any(min(a) < max(b) for i, b in enumerate(batches) for a in batches[i + 1:]):
                return
        pytest.fail(f"3 shuffled flushes all arrived oldest first: {batches}")
    finally:
        env.emu.patch(f"/admin/hooks/{env.sys_hook['id']}", json={"active": True})


# 13 --------------------------------------------------------------------------------

def test_trap13_webhook_emails_are_placeholders(env):
    issue = new_issue(env, "Trap 13: emails")
    _, got = act(env, lambda: env.emu.patch(f"/repos/acme/widgets/issues/{issue['number']}",
                                            token=env.tok["alice"],
                                            json={"assignees": ["agent-coder"]}))
    (h, raw), = [(h, b) for h, b in got if event_type(h) == "issue_assign"]
    body = json.loads(raw)
    sender, assignee = body["sender"], body["issue"]["assignees"][0]
    assert sender["email"] == f"{env.ids['alice']}+alice@noreply.127.0.0.1"
    assert assignee["email"] == f"{env.ids['agent-coder']}+agent-coder@noreply.127.0.0.1"
    # The real addresses differ: join on id or login, never on email.
    real = env.emu.get("/users/agent-coder").json()
    assert real["email"] != assignee["email"] and real["email"] == "agent-coder@127.0.0.1"
    assert (real["id"], real["login"]) == (assignee["id"], assignee["login"])
