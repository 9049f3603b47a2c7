"""The whole work loop (issue 5): from an agent's feed to a merged PR
through our API alone, git used only to push; auto-merge, the merge rule
and its answers, per-project rules through the admin API, claim expiry,
and the ratings every outcome brings (SPEC.md sections 5, 6 and 7).

Real PostgreSQL and the Gitea emulator with real git, in worlds of each
test's own (test_work.py's seed: acme/widgets with issues #1, #2, #4 open,
#3 closed, and pull request #5 "Fix the grid gap" by the Gitea user
agent-coder, who is no agent here).  Where a test says "webhooks on", the
emulator has a system hook pointing at the daemon, as in test_webhooks.py;
otherwise the daemon learns of Gitea's changes through POST
/api/v1/admin/sync (or its own actions).
"""

import datetime
import json
import re
import subprocess
import time
import uuid

import pytest

from conftest import assert_error, assert_ok, wait_for
from mirror_helpers import (admin_sync, post_hook, q_json, register_system_hook,
                            write_secret)
from test_review import (branches, gitea_creds, gitea_pulls, number_of, pr_reviews,
                         pull_row, push_branch, review)
from test_work import (PR, W, act, feed, gitea_assignees, holder, index_of, ok, q1, refs,
                       start_world, wait_assignees)

OWNER, NAME = W.split("/")
POLICY = f"/api/v1/admin/projects/{W}/policy"
DEFAULTS = {"max_claims": 1, "claim_ttl_seconds": 48 * 3600, "required_approvals": 1,
            "dismiss_stale_approvals": True, "review_rate": 30, "auto_merge": True,
            "merge_style": "merge", "required_checks": "reported"}
# synstack.yaml's elo.* defaults.
K, DIFFICULTY, K_CAUGHT, K_APPROVAL, K_CLOSED, DECAY = 32, 1200, 16, 8, 8, 50


# -- worlds ------------------------------------------------------------------------

def hooked_world(gitea_factory, daemon, tmp_path, conf=None):
    """A world with webhooks on: the daemon verifies signatures with a
    secret file, the emulator has a system hook to /hooks/gitea.
    Returns (emu, d, hook id, secret)."""
    path, secret = write_secret(tmp_path, name=f"hook-{uuid.uuid4().hex[:6]}.secret")
    c = {"gitea.webhook_secret_file": path}
    c.update(conf or {})
    emu, d = start_world(gitea_factory, daemon, conf=c)
    hook = register_system_hook(emu, d.base + "/hooks/gitea", secret)
    return emu, d, hook, secret


def world(gitea_factory, daemon, conf=None):
    """Webhooks off: (emu, d)."""
    return start_world(gitea_factory, daemon, conf=conf)


# -- agents ------------------------------------------------------------------------

class Agent:
    """An approved agent: its row, key, and Gitea login and token."""

    def __init__(self, d, join=True):
        self.data, self.key = d.new_agent(status="active")
        self.id, self.name = self.data["id"], self.data["name"]
        if join:
            assert_ok(act(d, self.key, f"join {W}"))
        self.login, self.token = gitea_creds(d, self.key)


def work_and_submit(d, emu, tmp_path, who, issue, files=None):
    """who claims issue, pushes a branch of new commits, submits it:
    (PR number, branch, head sha)."""
    branch = ok(d, who.key, f"work-on {W}#{issue}")["branch"]
    sha = push_branch(emu, tmp_path, who.login, who.token, branch,
                      files or {f"src/issue{issue}.c": f"int issue_{issue} = 1;\n"})
    got = ok(d, who.key, f"submit {branch}")
    assert got["issue"] == f"{W}#{issue}", got
    return number_of(got["pull"]), branch, sha


def push_more(emu, tmp_path, who, branch, files, repo=W):
    """Another commit on the agent's pushed branch: the new sha."""
    return push_branch(emu, tmp_path, who.login, who.token, branch, files, repo=repo,
                       again=True)


def new_issue(emu, d, title, synced=True):
    """An issue filed in Gitea by alice; mirrored here (through the
    reconciliation when synced, else left to the webhook): its number."""
    r = emu.post(f"/repos/{W}/issues", json={"title": title, "body": "filed by a test"},
                 sudo="alice")
    assert r.status_code == 201, r.text
    n = r.json()["number"]
    if synced:
        admin_sync(d)
    wait_for(lambda: q1(d, "SELECT count(*) FROM issues i JOIN projects p ON"
                           f" p.id = i.project_id WHERE p.owner = '{OWNER}' AND"
                           f" p.name = '{NAME}' AND i.number = {n}") == "1",
             what=f"issue #{n} here")
    return n


# -- Gitea's side ---------------------------------------------------------------------

def gitea_pull(emu, number):
    return next(p for p in gitea_pulls(emu) if p["number"] == number)


def gitea_issue(emu, number):
    return next(i for i in emu.state()["issues"] if i["repo"] == W and i["number"] == number)


def main_parents(emu, tmp_path):
    """The parents of main's newest commit, from a fresh clone."""
    work = tmp_path / f"check-{uuid.uuid4().hex[:8]}"
    subprocess.run(["git", "clone", "-q", emu.clone_url(W), str(work)], check=True,
                   capture_output=True, timeout=30)
    return subprocess.run(["git", "-C", str(work), "log", "-1", "--format=%P", "main"],
                          check=True, capture_output=True, text=True).stdout.split()


def is_ancestor(emu, tmp_path, sha, ref="main"):
    work = tmp_path / f"anc-{uuid.uuid4().hex[:8]}"
    subprocess.run(["git", "clone", "-q", emu.clone_url(W), str(work)], check=True,
                   capture_output=True, timeout=30)
    r = subprocess.run(["git", "-C", str(work), "merge-base", "--is-ancestor", sha, ref],
                       capture_output=True)
    return r.returncode == 0


# -- ratings ----------------------------------------------------------------------------

def elo_delta(k, me, opp, score=1, prior=0):
    """K * (score - expected), shrunk by pair_decay per earlier reward."""
    expected = 1 / (1 + 10 ** ((opp - me) / 400))
    return round(k * (score - expected) * (DECAY / 100) ** prior)


def elo_events(d, agent=None):
    where = f" WHERE e.agent_id = '{agent}'" if agent else ""
    return q_json(d, "SELECT e.agent_id::text AS agent, a.name, e.reason, e.source,"
                     " e.delta, e.rating_after, e.counterpart_id::text AS counterpart"
                     " FROM elo_events e JOIN agents a ON a.id = e.agent_id"
                     f"{where} ORDER BY e.created_at, e.id")


def rating(d, agent_id):
    return int(q1(d, f"SELECT elo FROM agents WHERE id = '{agent_id}'"))


def source(d, number):
    return f"pull:{pull_row(d, number)['id']}"


def event(d, agent_id, reason, number):
    rows = [e for e in elo_events(d, agent_id)
            if e["reason"] == reason and e["source"] == source(d, number)]
    assert len(rows) == 1, (agent_id, reason, number, elo_events(d))
    return rows[0]


def assert_rating_is_the_sum(d, agent_id):
    total = sum(e["delta"] for e in elo_events(d, agent_id))
    assert rating(d, agent_id) == 1200 + total, (rating(d, agent_id), elo_events(d, agent_id))


# -- the admin API ------------------------------------------------------------------------

def policy_put(d, body, raw=None, path=POLICY, headers=None):
    h = dict(d.admin_headers() if headers is None else headers)
    if raw is not None:
        h["Content-Type"] = "application/json"
        return d.request("PUT", path, data=raw, headers=h)
    return d.request("PUT", path, json=body, headers=h)


def set_policy(d, **rules):
    data = assert_ok(policy_put(d, rules))
    for k, v in rules.items():
        assert data["policy"][k] == (DEFAULTS[k] if v is None else v), data
    return data


def audit(d):
    return assert_ok(d.admin_get("/api/v1/admin/audit?limit=1000"))["entries"]


def wait_merged_here(d, number, timeout=15):
    wait_for(lambda: pull_row(d, number)["review_status"] == "merged", timeout=timeout,
             what=f"PR #{number} merged here")


# ====================================================================================
# 1 and 2: the loop end to end, with webhooks on
# ====================================================================================

def the_loop(emu, d, tmp_path):
    """The seed plan's work loop with two agents and the default rules:
    returns (a, b, number, heads)."""
    a, b = Agent(d, join=False), Agent(d, join=False)
    # Both join from their feeds.
    for who in (a, b):
        f = feed(d, who.key)
        assert refs(f, "projects") == [W], f["items"]
        got = ok(d, who.key, f"join {index_of(f, W)}")
        assert got["member"] is True, got
    # A sees the open issues and claims one by its number in the feed.
    fa = feed(d, a.key)
    assert refs(fa, "open_issues") == [f"{W}#1", f"{W}#2", f"{W}#4"], fa["items"]
    got = ok(d, a.key, f"work-on {index_of(fa, f'{W}#1')}")
    assert got["issue"]["ref"] == f"{W}#1", got
    branch = got["branch"]
    assert got["clone_url"].endswith(f"/{W}.git"), got
    wait_assignees(emu, 1, [a.login])
    assert refs(feed(d, a.key), "claimed") == [f"{W}#1"]
    # Clone, commit, push with A's own Gitea token; submit.
    head1 = push_branch(emu, tmp_path, a.login, a.token, branch,
                        {"src/gap.c": "int gap(void) { return 4; }\n"})
    got = ok(d, a.key, f"submit {branch}")
    number = number_of(got["pull"])
    pull = f"{W}#{number}"
    assert got["issue"] == f"{W}#1", got
    assert gitea_pull(emu, number)["poster"] == a.login
    # B's feed: the PR waits for its review (after the seed's older #5).
    fb = feed(d, b.key)
    assert refs(fb, "to_review") == [f"{W}#{PR}", pull], fb["items"]
    # B asks for changes, by its feed number.
    got = review(d, b.key, f"review request-changes {index_of(fb, pull)} Take the gap"
                           " from the theme, not a constant")
    assert got == {"pull": pull, "verdict": "request_changes",
                   "review_status": "changes_requested", "merged": False}, got
    assert pull not in refs(feed(d, b.key), "to_review")
    # The author cannot merge it: B's request blocks, and it has no approval.
    err = assert_error(act(d, a.key, f"merge {pull}"), 422, "not_approved")
    assert pull in err["message"], err
    assert f"changes requested by {b.name}" in err["message"], err
    assert f"0 of 1 approval on the current head {head1[:12]}" in err["message"], err
    assert err["hint"], err
    # A's feed shows the new review once.
    fa = feed(d, a.key)
    assert refs(fa, "reviewed") == [pull], fa["items"]
    item = next(it for it in fa["items"] if it["ref"] == pull)
    assert b.name in item["note"] and "request-changes" in item["note"], item
    assert "changes_requested" in item["note"], item
    assert refs(feed(d, a.key), "reviewed") == [], "a review already seen is new again"
    # A pushes again; the webhook brings the new head; B's feed lists it again.
    head2 = push_more(emu, tmp_path, a, branch,
                      {"src/gap.c": "int gap(const struct theme *t) { return t->gap; }\n"})
    wait_for(lambda: pull_row(d, number)["head_sha"] == head2, timeout=10,
             what="the new head through the pull_request_sync webhook")
    fb = feed(d, b.key)
    assert pull in refs(fb, "to_review"), fb["items"]
    # B approves: the rule holds, the daemon merges at once.
    got = review(d, b.key, f"review approve {index_of(fb, pull)} Good now, thanks")
    assert got == {"pull": pull, "verdict": "approve", "review_status": "merged",
                   "merged": True}, got
    return a, b, number, (head1, head2)


def test_the_work_loop_end_to_end(gitea_factory, daemon, tmp_path):
    emu, d, hook, _ = hooked_world(gitea_factory, daemon, tmp_path)
    a, b, number, (head1, head2) = the_loop(emu, d, tmp_path)
    pull = f"{W}#{number}"

    # Gitea: the PR merged with its head as a parent; the issue closed.
    gp = gitea_pull(emu, number)
    assert gp["merged"] is True and gp["state"] == "closed", gp
    assert gp["merge_commit_sha"] == branches(emu)["main"], gp
    parents = main_parents(emu, tmp_path)
    assert head2 in parents and len(parents) == 2, parents
    assert gitea_issue(emu, 1)["state"] == "closed"
    # Here: merged, the issue closed, A's claim over.
    data = ok(d, a.key, f"pr {pull}")
    assert data["review_status"] == "merged" and data["state"] == "closed", data
    assert d.psql("SELECT state FROM issues WHERE number = 1") == [["closed"]]
    st = ok(d, a.key, "my-work")
    assert st["claims"] == [] and st["pulls"] == [], st
    fa = feed(d, a.key)
    assert refs(fa, "claimed") == [] and f"{W}#1" not in refs(fa, "open_issues"), fa["items"]
    assert pull not in refs(feed(d, b.key), "to_review")
    assert_error(act(d, a.key, f"merge {pull}"), 422, "pr_closed")

    # Ratings: A won against the issue; B caught something and approved.
    # Every change of one PR is computed from the ratings before it (Elo).
    ea = event(d, a.id, "pr_merged", number)
    assert ea["delta"] == elo_delta(K, 1200, DIFFICULTY) == 16, ea
    ec = event(d, b.id, "caught_issues", number)
    assert ec["delta"] == elo_delta(K_CAUGHT, 1200, 1200) == 8, ec
    assert ec["counterpart"] == a.id, ec
    ev = event(d, b.id, "approval_merged", number)
    assert ev["delta"] == elo_delta(K_APPROVAL, 1200, 1200) == 4, ev
    assert {e["reason"] for e in elo_events(d, a.id)} == {"pr_merged"}
    assert {e["reason"] for e in elo_events(d, b.id)} == {"caught_issues", "approval_merged"}
    for who in (a, b):
        assert_rating_is_the_sum(d, who.id)
    ra, rb = rating(d, a.id), rating(d, b.id)
    assert ra == 1216 and rb == 1200 + ec["delta"] + ev["delta"], (ra, rb)

    # Both feeds show the changes, and my-work too.
    fa = feed(d, a.key)
    assert fa["ratings"] == [{"delta": 16, "reason": "pr_merged", "pull": pull,
                              "rating": ra}], fa["ratings"]
    text = act(d, a.key, "feed").json()["text"]
    assert "+16" in text and "pr_merged" in text and pull in text, text
    fb = feed(d, b.key)
    got = sorted((r["reason"], r["delta"], r["pull"]) for r in fb["ratings"])
    assert got == sorted([("caught_issues", ec["delta"], pull),
                          ("approval_merged", ev["delta"], pull)]), fb["ratings"]
    assert max(r["rating"] for r in fb["ratings"]) == rb, fb["ratings"]
    st = ok(d, a.key, "my-work")
    assert st["agent"]["elo"] == ra, st
    assert [(r["delta"], r["reason"], r["pull"], r["rating"]) for r in st["ratings"]] == \
        [(16, "pr_merged", pull, ra)], st
    r = act(d, b.key, "my-work")
    st = assert_ok(r)
    assert st["agent"]["elo"] == rb, st
    assert sorted(x["reason"] for x in st["ratings"]) == ["approval_merged", "caught_issues"]
    assert "caught_issues" in r.json()["text"], r.json()["text"]

    # The leaderboard lists them in order.
    r = d.get("/api/v1/leaderboard", headers=d.agent_headers(b.key))
    board = assert_ok(r)["agents"]
    assert [(x["name"], x["elo"], x["rank"]) for x in board] == \
        [(a.name, ra, 1), (b.name, rb, 2)], board
    assert board[0]["merged_prs"] == 1 and board[1]["reviews"] == 2, board
    text = r.json()["text"]
    assert text.index(a.name) < text.index(b.name), text
    board = assert_ok(d.get("/api/v1/leaderboard?limit=1",
                            headers=d.agent_headers(a.key)))["agents"]
    assert [x["name"] for x in board] == [a.name], board
    for bad in ("0", "101", "x", "-1"):
        assert_error(d.get(f"/api/v1/leaderboard?limit={bad}",
                           headers=d.agent_headers(a.key)), 400, "invalid_field")
    assert d.get("/api/v1/leaderboard").status_code == 401


def pr_deliveries(emu, hook, number, branch_heads=()):
    """Every delivery to our hook about the PR #number or its issue #1."""
    out = []
    for x in emu.deliveries():
        if x["hook_id"] != hook or x["outcome"] != "delivered":
            continue
        body = json.loads(x["body"])
        pr = body.get("pull_request") or {}
        issue = body.get("issue") or {}
        if pr.get("number") == number or issue.get("number") in (1, number) or \
                body.get("after") in branch_heads:
            out.append(x)
    return out


def test_replayed_webhooks_and_syncs_change_no_rating(gitea_factory, daemon, tmp_path):
    emu, d, hook, secret = hooked_world(gitea_factory, daemon, tmp_path)
    a, b, number, heads = the_loop(emu, d, tmp_path)
    wait_merged_here(d, number)
    mine = pr_deliveries(emu, hook, number, heads)
    kinds = {x["event_type"] for x in mine}
    assert {"pull_request", "pull_request_sync", "pull_request_review_approved",
            "pull_request_review_rejected"} <= kinds, kinds
    assert any(json.loads(x["body"]).get("action") == "closed"
               and json.loads(x["body"])["pull_request"]["merged"] for x in mine
               if x["event_type"] == "pull_request"), "no merge webhook was delivered"
    before_events = elo_events(d)
    before = (rating(d, a.id), rating(d, b.id))
    assert len(before_events) == 3, before_events

    # Gitea's "Replay" of each (new delivery ids, same bytes), in order
    # and then in reverse.
    replays = [emu.control("webhooks/replay", {"delivery": x["id"]})["delivery"]
               for x in mine + mine[::-1]]
    recs = {x["id"]: x for x in emu.deliveries()}
    assert all(recs[i]["outcome"] == "delivered" for i in replays), \
        [(recs[i]["event_type"], recs[i]["status"]) for i in replays
         if recs[i]["outcome"] != "delivered"]
    # The stored bodies posted again with their own headers (same ids).
    for x in mine:
        r = d.post("/hooks/gitea", data=x["body"].encode(),
                   headers={k: v for k, v in x["headers"].items()
                            if k.lower() != "content-length"})
        assert r.status_code < 300, (x["event_type"], r.status_code, r.text)
    # And under fresh ids, signed anew.
    for x in mine:
        r = post_hook(d, x["body"].encode(), event_type=x["event_type"], secret=secret,
                      event=x["headers"].get("X-Gitea-Event"))
        assert r.status_code < 300, (x["event_type"], r.status_code, r.text)
    admin_sync(d)
    admin_sync(d)
    time.sleep(1.5)      # a background pass or two

    assert elo_events(d) == before_events
    assert (rating(d, a.id), rating(d, b.id)) == before
    # Nothing else came back either.
    row = pull_row(d, number)
    assert row["review_status"] == "merged" and row["state"] == "closed", row
    assert row["head_sha"] == heads[1], ("a replay moved a merged PR's head", row, heads)
    assert d.psql("SELECT state FROM issues WHERE number = 1") == [["closed"]]
    assert ok(d, a.key, "my-work")["claims"] == []
    assert [x["name"] for x in assert_ok(d.get("/api/v1/leaderboard",
            headers=d.agent_headers(a.key)))["agents"]] == [a.name, b.name]


# ====================================================================================
# 3 and 4: decaying rewards, closed PRs
# ====================================================================================

def test_an_approval_trading_pair_gains_less_each_time(gitea_factory, daemon, tmp_path):
    emu, d = world(gitea_factory, daemon)
    extra = new_issue(emu, d, "Grid needs a dark theme")
    a, b, c = Agent(d), Agent(d), Agent(d)
    rewards = []
    for author, rev, issue in ((a, b, 1), (b, a, 2), (a, b, 4)):
        number, _, _ = work_and_submit(d, emu, tmp_path, author, issue)
        rev_before = rating(d, rev.id)
        got = review(d, rev.key, f"review approve {W}#{number} LGTM")
        assert got["merged"] is True and got["review_status"] == "merged", got
        won = event(d, author.id, "pr_merged", number)
        author_before = won["rating_after"] - won["delta"]
        e = event(d, rev.id, "approval_merged", number)
        assert e["counterpart"] == author.id, e
        prior = len(rewards)
        assert e["delta"] == elo_delta(K_APPROVAL, rev_before, author_before, prior=prior), \
            (e, rev_before, author_before, prior)
        rewards.append(e["delta"])
    assert rewards[0] > rewards[1] > rewards[2] >= 0, \
        f"the pair's approval rewards do not shrink: {rewards}"
    # A fresh reviewer of the same author gets the full reward.
    number, _, _ = work_and_submit(d, emu, tmp_path, a, extra)
    c_before = rating(d, c.id)
    got = review(d, c.key, f"review approve {W}#{number}")
    assert got["merged"] is True, got
    won = event(d, a.id, "pr_merged", number)
    e = event(d, c.id, "approval_merged", number)
    assert e["delta"] == elo_delta(K_APPROVAL, c_before,
                                   won["rating_after"] - won["delta"]) > rewards[2], \
        (e, rewards)
    assert e["delta"] >= rewards[0] - 1, (e, rewards)
    for who in (a, b, c):
        assert_rating_is_the_sum(d, who.id)
    # B's feed shows its shrinking rewards.
    got = [r["delta"] for r in feed(d, b.key)["ratings"] if r["reason"] == "approval_merged"]
    assert sorted(got) == sorted([rewards[0], rewards[2]]), got


def test_a_pr_closed_unmerged_after_a_review_costs_its_author(gitea_factory, daemon,
                                                              tmp_path):
    emu, d, hook, _ = hooked_world(gitea_factory, daemon, tmp_path)
    a, b, c = Agent(d), Agent(d), Agent(d)
    reviewed, _, _ = work_and_submit(d, emu, tmp_path, a, 1)
    unreviewed, _, _ = work_and_submit(d, emu, tmp_path, c, 2)
    review(d, b.key, f"review request-changes {W}#{reviewed} This breaks the grid")
    # An admin closes both in Gitea; the webhooks bring it.
    time.sleep(1.05 - time.time() % 1)
    for number in (reviewed, unreviewed):
        r = emu.patch(f"/repos/{W}/pulls/{number}", json={"state": "closed"})
        assert r.status_code == 201, r.text
    for number in (reviewed, unreviewed):
        wait_for(lambda: pull_row(d, number)["state"] == "closed", timeout=10,
                 what=f"#{number} closed here")
    e = event(d, a.id, "pr_closed", reviewed)
    assert e["delta"] == elo_delta(K_CLOSED, 1200, DIFFICULTY, score=0) < 0, e
    assert rating(d, a.id) == 1200 + e["delta"]
    assert elo_events(d, c.id) == [] and rating(d, c.id) == 1200
    assert elo_events(d, b.id) == [] and rating(d, b.id) == 1200
    data = ok(d, a.key, f"pr {W}#{reviewed}")
    assert data["state"] == "closed" and data["review_status"] == "closed", data
    # Seen in the author's feed and my-work.
    fa = feed(d, a.key)
    assert [(r["reason"], r["delta"], r["pull"]) for r in fa["ratings"]] == \
        [("pr_closed", e["delta"], f"{W}#{reviewed}")], fa["ratings"]
    st = ok(d, a.key, "my-work")
    assert st["agent"]["elo"] == 1200 + e["delta"], st
    assert [x["reason"] for x in st["ratings"]] == ["pr_closed"], st
    assert feed(d, c.key)["ratings"] == []
    # The reconciliation counts nothing twice.
    before = elo_events(d)
    admin_sync(d)
    assert elo_events(d) == before


def test_a_pr_closed_unmerged_is_seen_by_the_reconciliation(gitea_factory, daemon, tmp_path):
    emu, d = world(gitea_factory, daemon, conf={"work.auto_merge": False})
    a, b = Agent(d), Agent(d)
    number, _, _ = work_and_submit(d, emu, tmp_path, a, 1)
    review(d, b.key, f"review approve {W}#{number}")
    time.sleep(1.05 - time.time() % 1)
    assert emu.patch(f"/repos/{W}/pulls/{number}", json={"state": "closed"}).status_code == 201
    admin_sync(d)
    assert pull_row(d, number)["state"] == "closed"
    e = event(d, a.id, "pr_closed", number)
    assert e["delta"] < 0, e
    assert elo_events(d, b.id) == [], "an approval of a PR that did not merge was rewarded"
    admin_sync(d)
    assert len(elo_events(d)) == 1


# ====================================================================================
# 5, 6, 7, 9: project rules, admin merge, stale approvals
# ====================================================================================

def test_policy_defaults_overrides_and_their_effect(gitea_factory, daemon, tmp_path):
    emu, d = world(gitea_factory, daemon)
    got = assert_ok(d.admin_get(POLICY))
    assert got == {"project": W, "policy": DEFAULTS, "overrides": {}}, got
    r = policy_put(d, {"required_approvals": 2, "auto_merge": False, "merge_style": "squash"})
    got = assert_ok(r)
    want = dict(DEFAULTS, required_approvals=2, auto_merge=False, merge_style="squash")
    assert got == {"project": W, "policy": want,
                   "overrides": {"required_approvals": 2, "auto_merge": False,
                                 "merge_style": "squash"}}, got
    assert "required_approvals=2 (project)" in r.json()["text"], r.json()["text"]
    assert assert_ok(d.admin_get(POLICY)) == got

    a, b, c = Agent(d), Agent(d), Agent(d)
    number, branch, head = work_and_submit(d, emu, tmp_path, a, 1)
    pull = f"{W}#{number}"
    got = review(d, b.key, f"review approve {pull} One")
    assert got["review_status"] == "pending" and got["merged"] is False, got
    err = assert_error(act(d, a.key, f"merge {pull}"), 422, "not_approved")
    assert f"1 of 2 approvals on the current head {head[:12]}" in err["message"], err
    got = review(d, c.key, f"review approve {pull} Two")
    assert got["review_status"] == "approved" and got["merged"] is False, got
    time.sleep(2.5)     # background passes: auto_merge is off here
    assert gitea_pull(emu, number)["merged"] is False
    assert ok(d, a.key, f"pr {pull}")["review_status"] == "approved"
    got = ok(d, a.key, f"merge {pull}")
    assert got == {"pull": pull, "merged": True, "head": head, "style": "squash"}, got
    gp = gitea_pull(emu, number)
    assert gp["merged"] is True, gp
    # Squashed: one parent, the PR's commit not in main's history.
    assert len(main_parents(emu, tmp_path)) == 1
    assert not is_ancestor(emu, tmp_path, head)

    # null: back to synstack.yaml's default; the other overrides stay.
    got = set_policy(d, required_approvals=None)
    assert got["overrides"] == {"auto_merge": False, "merge_style": "squash"}, got
    got = set_policy(d, auto_merge=None, merge_style=None)
    assert got["policy"] == DEFAULTS and got["overrides"] == {}, got

    actions = [e for e in audit(d) if e["action"] == "project.policy"]
    assert len(actions) == 3, actions
    assert all(e["actor_kind"] == "admin" for e in actions), actions
    assert any(e["detail"] == {"required_approvals": 2, "auto_merge": False,
                               "merge_style": "squash"} for e in actions), actions


BAD_POLICIES = [
    {"nope": 1},
    {"required_approvals": 2, "nope": 1},
    {"required_approvals": "2"},
    {"required_approvals": 2.5},
    {"required_approvals": True},
    {"required_approvals": 0},
    {"required_approvals": 21},
    {"max_claims": 0},
    {"max_claims": 101},
    {"claim_ttl_seconds": 59},
    {"claim_ttl_seconds": 31536001},
    {"review_rate": 0},
    {"auto_merge": "false"},
    {"auto_merge": 1},
    {"dismiss_stale_approvals": None, "auto_merge": "yes"},
    {"merge_style": "octopus"},
    {"merge_style": "fast-forward-only"},
    {"merge_style": 1},
    {"required_approvals": 2, "merge_style": "octopus"},
    {},
]


def test_policy_bad_bodies(gitea_factory, daemon):
    """Unknown rules, wrong types, values out of range, nothing named, no
    object: 400 invalid_field, and nothing changes (all or nothing)."""
    emu, d = world(gitea_factory, daemon)
    set_policy(d, review_rate=7)
    before = assert_ok(d.admin_get(POLICY))
    for body in BAD_POLICIES:
        err = assert_error(policy_put(d, body), 400, "invalid_field")
        assert err["hint"], (body, err)
        assert assert_ok(d.admin_get(POLICY)) == before, f"{body} changed the rules"
    for raw in (b"[]", b'"x"', b'[{"max_claims": 2}]'):
        err = assert_error(policy_put(d, None, raw=raw), 400, "invalid_field")
        assert "object" in err["message"], (raw, err)
    assert_error(policy_put(d, None, raw=b'{"max_claims": 2'), 400, "malformed_json")
    assert assert_ok(d.admin_get(POLICY)) == before
    assert len([e for e in audit(d) if e["action"] == "project.policy"]) == 1


def test_policy_scalar_bodies_are_no_object(gitea_factory, daemon):
    """5, null and true are complete JSON documents, just not objects:
    invalid_field ("must be a JSON object"), not malformed_json "ends
    before it is complete"."""
    emu, d = world(gitea_factory, daemon)
    wrong = {}
    for raw in (b"5", b"null", b"true"):
        r = policy_put(d, None, raw=raw)
        assert r.status_code == 400, r.text
        err = r.json()["error"]
        if err["code"] != "invalid_field":
            wrong[raw.decode()] = err
    assert not wrong, wrong


def test_policy_of_unknown_projects_and_without_admin(gitea_factory, daemon):
    emu, d = world(gitea_factory, daemon)
    for path in ("/api/v1/admin/projects/acme/nothing/policy",
                 "/api/v1/admin/projects/nobody/widgets/policy"):
        err = assert_error(d.admin_get(path), 404, "not_found")
        assert "nothing" in err["message"] or "nobody" in err["message"], err
        assert_error(policy_put(d, {"max_claims": 2}, path=path), 404, "not_found")
    agent = Agent(d)
    for r in (d.get(POLICY, headers=d.agent_headers(agent.key)),
              policy_put(d, {"max_claims": 2}, headers=d.agent_headers(agent.key)),
              d.get(POLICY), policy_put(d, {"max_claims": 2}, headers={})):
        assert r.status_code in (401, 403), (r.status_code, r.text)
        assert_error(r, r.status_code, ("unauthorized", "forbidden"))
    assert assert_ok(d.admin_get(POLICY))["overrides"] == {}
    assert [e for e in audit(d) if e["action"] == "project.policy"] == []


def test_policy_max_claims_per_project(gitea_factory, daemon):
    emu, d = world(gitea_factory, daemon)
    a = Agent(d)
    set_policy(d, max_claims=2)
    ok(d, a.key, f"work-on {W}#1")
    ok(d, a.key, f"work-on {W}#2")
    assert_error(act(d, a.key, f"work-on {W}#4"), 409, "claim_limit")
    assert sorted(c["ref"] for c in ok(d, a.key, "my-work")["claims"]) == [f"{W}#1", f"{W}#2"]
    wait_assignees(emu, 2, [a.login])
    # Back to the default of 1: the held claims stay, no third.
    set_policy(d, max_claims=None)
    assert_error(act(d, a.key, f"work-on {W}#4"), 409, "claim_limit")
    assert holder(d, 1) == a.id and holder(d, 2) == a.id and holder(d, 4) == ""


def test_people_s_prs_are_not_auto_merged(gitea_factory, daemon):
    """#5 is the Gitea user agent-coder's, not an agent's."""
    emu, d = world(gitea_factory, daemon)
    b = Agent(d)
    got = review(d, b.key, f"review approve {W}#{PR} Fine by me")
    assert got["review_status"] == "approved" and got["merged"] is False, got
    time.sleep(2.5)
    assert gitea_pull(emu, PR)["merged"] is False
    assert pull_row(d, PR)["review_status"] == "approved"


def test_admin_merge(gitea_factory, daemon, tmp_path):
    emu, d = world(gitea_factory, daemon)
    set_policy(d, auto_merge=False)
    a, b, c = Agent(d), Agent(d), Agent(d)
    approved, _, head = work_and_submit(d, emu, tmp_path, a, 1)
    unapproved, _, head2 = work_and_submit(d, emu, tmp_path, c, 2)
    assert review(d, b.key, f"review approve {W}#{approved}")["merged"] is False
    path = f"/api/v1/admin/projects/{W}/pulls/{{}}/merge"
    # Only admins.
    for h in (d.agent_headers(a.key), {}):
        r = d.post(path.format(approved), headers=h)
        assert r.status_code in (401, 403), (r.status_code, r.text)
    assert gitea_pull(emu, approved)["merged"] is False
    # Not approved: refused with what it needs.
    err = assert_error(d.admin_post(path.format(unapproved)), 422, "not_approved")
    assert f"0 of 1 approval on the current head {head2[:12]}" in err["message"], err
    assert gitea_pull(emu, unapproved)["merged"] is False
    # Unknown ones.
    assert_error(d.admin_post(path.format(999)), 404, "not_found")
    assert_error(d.admin_post("/api/v1/admin/projects/acme/nothing/pulls/1/merge"),
                 404, "not_found")
    # Approved: merged through Gitea at the checked head.
    got = assert_ok(d.admin_post(path.format(approved)))
    assert got == {"pull": f"{W}#{approved}", "merged": True, "head": head,
                   "style": "merge"}, got
    gp = gitea_pull(emu, approved)
    assert gp["merged"] is True and head in main_parents(emu, tmp_path), gp
    assert gitea_issue(emu, 1)["state"] == "closed"
    assert ok(d, a.key, f"pr {W}#{approved}")["review_status"] == "merged"
    assert ok(d, a.key, "my-work")["claims"] == []
    assert event(d, a.id, "pr_merged", approved)["delta"] == 16
    assert event(d, b.id, "approval_merged", approved)["delta"] > 0
    merges = [e for e in audit(d) if e["action"] == "pull.merge"]
    assert len(merges) == 1 and merges[0]["actor_kind"] == "admin", merges
    # Merged already: a conflict of states, not a 500.
    assert_error(d.admin_post(path.format(approved)), 422, "pr_closed")


def test_stale_approvals_count_when_the_project_says_so(gitea_factory, daemon, tmp_path):
    emu, d = world(gitea_factory, daemon)
    set_policy(d, dismiss_stale_approvals=False, auto_merge=False)
    a, b = Agent(d), Agent(d)
    number, branch, head = work_and_submit(d, emu, tmp_path, a, 1)
    pull = f"{W}#{number}"
    review(d, b.key, f"review approve {pull} Fine")
    new_head = push_more(emu, tmp_path, a, branch, {"src/more.c": "int more;\n"})
    admin_sync(d)
    assert pull_row(d, number)["head_sha"] == new_head
    data = ok(d, a.key, f"pr {pull}")
    assert data["review_status"] == "approved" and data["needs"] == "", data
    got = ok(d, a.key, f"merge {pull}")
    assert got["merged"] is True and got["head"] == new_head, got
    assert new_head in main_parents(emu, tmp_path)


def test_a_stale_approval_does_not_let_it_merge(gitea_factory, daemon, tmp_path):
    emu, d, hook, _ = hooked_world(gitea_factory, daemon, tmp_path)
    set_policy(d, auto_merge=False)
    a, b = Agent(d), Agent(d)
    number, branch, head = work_and_submit(d, emu, tmp_path, a, 1)
    pull = f"{W}#{number}"
    assert review(d, b.key, f"review approve {pull} Fine")["review_status"] == "approved"
    new_head = push_more(emu, tmp_path, a, branch, {"src/sneaky.c": "int sneaky;\n"})
    wait_for(lambda: pull_row(d, number)["head_sha"] == new_head, timeout=10,
             what="the new head")
    err = assert_error(act(d, a.key, f"merge {pull}"), 422, "not_approved")
    want = (f"0 of 1 approval on the current head {new_head[:12]} (the approval of"
            f" {b.name} is on an older head: a push dismissed it)")
    assert want in err["message"], err
    assert err["hint"] and pull in err["hint"], err
    data, by = pr_reviews(d, a.key, number)
    assert data["review_status"] == "pending", data
    assert want in data["needs"], data
    assert by[b.login]["current"] is False, by
    r = act(d, a.key, f"pr {pull}")
    assert "older head" in r.json()["text"], r.json()["text"]
    assert gitea_pull(emu, number)["merged"] is False
    # The new head approved: with auto_merge off, the author merges.
    assert review(d, b.key, f"review approve {pull} Still fine")["review_status"] == "approved"
    assert ok(d, a.key, f"pr {pull}")["needs"] == ""
    assert ok(d, a.key, f"merge {pull}")["head"] == new_head


def test_auto_merge_waits_for_gitea_to_find_it_mergeable(gitea_factory, daemon, tmp_path):
    """An approved PR Gitea cannot merge (a conflict) is not merged; once
    the author resolves it (an approval that stays: the project keeps
    stale approvals), the background pass merges it without anyone
    asking."""
    emu, d = world(gitea_factory, daemon)
    set_policy(d, dismiss_stale_approvals=False)
    a, b = Agent(d), Agent(d)
    number, branch, head = work_and_submit(d, emu, tmp_path, a, 1,
                                           files={"src/grid.c": "int gap = 6;\n"})
    emu.commit(W, "main", {"src/grid.c": "int gap = 7;\n"}, author="alice")
    got = review(d, b.key, f"review approve {W}#{number}")
    assert got["merged"] is False and got["review_status"] == "approved", got
    time.sleep(4)
    assert gitea_pull(emu, number)["merged"] is False
    # Tried once, not again each second while nothing changes.
    tries = d.log().count(f"auto-merge: {W}#{number} not mergeable yet")
    assert 1 <= tries <= 2, f"{tries} auto-merge attempts in 4 s of an unchanged PR"
    # The author takes main's line: no conflict any more.
    new_head = push_more(emu, tmp_path, a, branch, {"src/grid.c": "int gap = 7;\n",
                                                    "src/theme.c": "int theme;\n"})
    admin_sync(d)
    wait_merged_here(d, number, timeout=10)
    gp = gitea_pull(emu, number)
    assert gp["merged"] is True and new_head in main_parents(emu, tmp_path), gp
    assert event(d, a.id, "pr_merged", number)["delta"] == 16


def test_auto_merge_turned_on_merges_what_waits(gitea_factory, daemon, tmp_path):
    """An approved PR of a project that merged by hand is merged by the
    background pass once an admin turns auto_merge on."""
    emu, d = world(gitea_factory, daemon)
    set_policy(d, auto_merge=False)
    a, b = Agent(d), Agent(d)
    number, _, head = work_and_submit(d, emu, tmp_path, a, 1)
    assert review(d, b.key, f"review approve {W}#{number}")["merged"] is False
    time.sleep(1.5)
    assert gitea_pull(emu, number)["merged"] is False
    set_policy(d, auto_merge=True)
    wait_merged_here(d, number, timeout=10)
    assert gitea_pull(emu, number)["merged"] is True
    assert head in main_parents(emu, tmp_path)
    assert ok(d, a.key, "my-work")["claims"] == []
    merges = [e for e in audit(d) if e["action"] == "pull.merge"]
    assert len(merges) == 1 and merges[0]["actor_kind"] == "system", merges


def test_raised_required_approvals_hold_for_an_approved_pr(gitea_factory, daemon, tmp_path):
    """A PR approved under required_approvals 1 in a project merging by
    hand; an admin then asks for 2 approvals and turns auto_merge on.  One
    approval no longer satisfies the rule: nothing may merge it."""
    emu, d = world(gitea_factory, daemon)
    set_policy(d, auto_merge=False)
    a, b = Agent(d), Agent(d)
    number, _, head = work_and_submit(d, emu, tmp_path, a, 1)
    pull = f"{W}#{number}"
    assert review(d, b.key, f"review approve {pull}")["review_status"] == "approved"
    set_policy(d, required_approvals=2, auto_merge=True)
    time.sleep(3)       # background passes
    assert gitea_pull(emu, number)["merged"] is False, \
        "auto-merge merged a PR with 1 of the 2 approvals its project requires"
    data = ok(d, a.key, f"pr {pull}")
    assert data["review_status"] == "pending", data
    assert f"1 of 2 approvals on the current head {head[:12]}" in data["needs"], data


def test_policy_review_rate(gitea_factory, daemon):
    emu, d = world(gitea_factory, daemon)
    set_policy(d, review_rate=1)
    b = Agent(d)
    review(d, b.key, f"review comment {W}#{PR} first look")
    r = act(d, b.key, f"review comment {W}#{PR} second look")
    assert_error(r, 429, "rate_limited")
    assert r.headers.get("Retry-After", "").isdigit(), dict(r.headers)


def test_a_review_learned_late_is_new_in_the_feed(gitea_factory, daemon, tmp_path):
    """A review the daemon learns of after the author's last feed (here:
    given in Gitea, brought by the reconciliation, as after a lost
    webhook) is new to the author: its next feed lists it under
    "reviewed"."""
    emu, d = world(gitea_factory, daemon)
    a, b = Agent(d), Agent(d)
    number, _, head = work_and_submit(d, emu, tmp_path, a, 1)
    pull = f"{W}#{number}"
    r = emu.post(f"/repos/{W}/pulls/{number}/reviews",
                 json={"event": "REQUEST_CHANGES", "body": "Name the constant",
                       "commit_id": head}, token=b.token)
    assert r.status_code == 200, r.text
    time.sleep(1.1)
    assert refs(feed(d, a.key), "reviewed") == []      # not known here yet
    admin_sync(d)
    _, by = pr_reviews(d, a.key, number)
    assert by[b.login]["action"] == "request_changes", by
    assert refs(feed(d, a.key), "reviewed") == [pull], \
        "a review learned after the author's last feed is never shown as new"


# ====================================================================================
# 8: claim expiry
# ====================================================================================

def age_claim(d, number, days):
    d.psql(f"UPDATE issues SET assigned_at = now() - interval '{days} days'"
           f" WHERE number = {number} AND assigned_to IS NOT NULL")


@pytest.mark.parametrize("hooks", ["webhooks on", "webhooks off"])
def test_claim_expiry(gitea_factory, daemon, tmp_path, hooks):
    if hooks == "webhooks on":
        emu, d, _, _ = hooked_world(gitea_factory, daemon, tmp_path)
    else:
        emu, d = world(gitea_factory, daemon)
    fresh_issue = new_issue(emu, d, "A fresh claim stays", synced=hooks == "webhooks off")
    idle, with_pr, with_branch, fresh, other = (Agent(d) for _ in range(5))
    ok(d, idle.key, f"work-on {W}#2")
    pr_number, _, _ = work_and_submit(d, emu, tmp_path, with_pr, 1)
    branch = ok(d, with_branch.key, f"work-on {W}#4")["branch"]
    assert re.search(r"(?<!\d)4(?!\d)", branch), branch
    push_branch(emu, tmp_path, with_branch.login, with_branch.token, branch,
                {"src/four.c": "int four;\n"})
    ok(d, fresh.key, f"work-on {W}#{fresh_issue}")
    for n, who in ((2, idle), (1, with_pr), (4, with_branch), (fresh_issue, fresh)):
        wait_assignees(emu, n, [who.login])
    if hooks == "webhooks on":
        # The push webhook marked the claim as worked on.
        wait_for(lambda: q1(d, "SELECT branch_pushed_at IS NOT NULL FROM issues"
                               " WHERE number = 4") == "t", timeout=10,
                 what="the push webhook's mark")
    # Older than the ttl: those that stay first (the pass goes oldest first).
    age_claim(d, 1, 5)
    age_claim(d, 4, 4)
    age_claim(d, 2, 3)
    wait_for(lambda: holder(d, 2) == "", timeout=20, what="the idle claim released")
    time.sleep(0.5)
    # The idle claim: released here and in Gitea.
    assert ok(d, idle.key, "my-work")["claims"] == []
    wait_assignees(emu, 2, [])
    # Told once, in the next feed.
    r = act(d, idle.key, "feed")
    f = assert_ok(r)
    assert len(f["notices"]) == 1, f["notices"]
    notice = f["notices"][0]
    assert f"{W}#2" in notice and "released" in notice, notice
    assert f["sections"]["notices"] == {"shown": 1, "more": 0}, f["sections"]
    assert notice in r.json()["text"], r.json()["text"]
    assert f"{W}#2" in refs(f, "open_issues"), f["items"]
    again = feed(d, idle.key)
    assert again["notices"] == [] and again["sections"]["notices"]["shown"] == 0, again
    entries = [e for e in audit(d) if e["action"] == "issue.claim_expired"]
    assert len(entries) == 1 and entries[0]["actor_kind"] == "system", entries
    # Free for anyone again.
    assert ok(d, other.key, f"work-on {W}#2")["issue"]["ref"] == f"{W}#2"
    # The claim with an open PR, the one with a pushed branch, the fresh one: kept.
    for n, who in ((1, with_pr), (4, with_branch), (fresh_issue, fresh)):
        assert holder(d, n) == who.id, (n, who.name)
        assert [c["ref"] for c in ok(d, who.key, "my-work")["claims"]] == [f"{W}#{n}"]
        assert gitea_assignees(emu, n) == [who.login]
        assert feed(d, who.key)["notices"] == []
    # And still after another pass.
    time.sleep(11)
    for n, who in ((1, with_pr), (4, with_branch), (fresh_issue, fresh)):
        assert holder(d, n) == who.id, (n, who.name)
    assert len([e for e in audit(d) if e["action"] == "issue.claim_expired"]) == 1


def test_claim_ttl_per_project(gitea_factory, daemon):
    emu, d = world(gitea_factory, daemon)
    a, b = Agent(d), Agent(d)
    ok(d, a.key, f"work-on {W}#1")
    age_claim(d, 1, 0.002)       # about three minutes: far from 48 hours
    time.sleep(11)
    assert holder(d, 1) == a.id, "released before the instance's 48h"
    set_policy(d, claim_ttl_seconds=60)
    wait_for(lambda: holder(d, 1) == "", timeout=15, what="the claim released after 60 s")
    notices = feed(d, a.key)["notices"]
    assert len(notices) == 1 and f"{W}#1" in notices[0], notices
    wait_assignees(emu, 1, [])
    ok(d, b.key, f"work-on {W}#1")


@pytest.mark.parametrize("hooks", ["webhooks on", "webhooks off"])
def test_a_branch_left_by_an_earlier_claimer_does_not_keep_a_new_claim(
        gitea_factory, daemon, tmp_path, hooks):
    """SPEC.md 6: a claim with no pushed branch or PR after claim_ttl is
    released.  B pushed nothing for its claim; a branch A pushed for the
    same issue before A abandoned it is not B's work."""
    if hooks == "webhooks on":
        emu, d, _, _ = hooked_world(gitea_factory, daemon, tmp_path)
    else:
        emu, d = world(gitea_factory, daemon)
    a, b = Agent(d), Agent(d)
    branch = ok(d, a.key, f"work-on {W}#2")["branch"]
    # A's work dates from before B's claim, which is aged to 3 days: A's
    # commit is made 4 days ago.
    old = (datetime.datetime.now(datetime.timezone.utc)
           - datetime.timedelta(days=4)).strftime("%Y-%m-%dT%H:%M:%SZ")
    push_branch(emu, tmp_path, a.login, a.token, branch, {"src/two.c": "int two;\n"},
                date=old)
    ok(d, a.key, "abandon")
    ok(d, b.key, f"work-on {W}#2")
    wait_assignees(emu, 2, [b.login])
    age_claim(d, 2, 3)
    try:
        wait_for(lambda: holder(d, 2) == "", timeout=15, what="B's idle claim released")
    except AssertionError:
        pytest.fail(f"B's claim on {W}#2 (B pushed nothing, 3 days old) was kept because"
                    f" of A's old branch {branch!r}")


def test_a_claim_in_a_gone_repository_holds_up_no_other_expiry(gitea_factory, daemon,
                                                                tmp_path):
    """A claim whose repository Gitea no longer has (its branches cannot
    be read) does not stop the release of other expired claims."""
    emu, d = world(gitea_factory, daemon)
    assert emu.post("/orgs/acme/repos", json={"name": "other", "auto_init": True}).ok
    assert emu.post("/repos/acme/other/issues", json={"title": "elsewhere"}).ok
    admin_sync(d)
    a, b = Agent(d), Agent(d)
    ok(d, a.key, "join acme/other")
    ok(d, a.key, "work-on acme/other#1")
    ok(d, b.key, f"work-on {W}#2")
    assert emu.delete("/repos/acme/other").ok
    # The older claim is the gone repository's: it comes first.
    d.psql("UPDATE issues SET assigned_at = now() - interval '5 days' WHERE project_id ="
           " (SELECT id FROM projects WHERE name = 'other')")
    age_claim(d, 2, 3)
    wait_for(lambda: holder(d, 2) == "", timeout=25, what="B's expired claim released")
