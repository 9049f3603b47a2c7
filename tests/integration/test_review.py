"""The agent work loop, second increment: submit, pr and review through
POST /api/v1/act, as an agent sees them, against a Gitea emulator of the
tests' own.

An agent gets its Gitea credentials from GET /api/v1/me, clones, commits
on a branch and pushes with the git CLI, then `submit`s the branch while
it holds an issue; other members `review` the pull request, and `pr`
shows it with its reviews.

The Gitea of these tests is test_work.py's (work_seed): acme/widgets with
issues #1, #2, #4 open and #3 closed, and pull request #5 "Fix the grid
gap" (agent-coder's, from fix-grid, linked to no issue).
"""

import os
import re
import subprocess
import time
import uuid

import pytest

from conftest import assert_error, assert_ok
from mirror_helpers import admin_sync, q_json
from test_work import (CLOSED, PR, PR_TITLE, TITLES, W, act, member, ok, q1,
                       start_world)
# The fixtures are test_work's: its seed, a read-only world, a world per test.
from test_work import ro, ro_emu  # noqa: F401
from test_work import start_world


@pytest.fixture
def world(gitea_factory, daemon):
    """A world of the test's own where PRs merge by hand: auto-merge has
    tests of its own (test_loop.py)."""
    return start_world(gitea_factory, daemon, conf={"work.auto_merge": False})

# -- helpers ---------------------------------------------------------------------

def gitea_creds(d, key):
    """The agent's Gitea login and token, from GET /api/v1/me."""
    data = assert_ok(d.get("/api/v1/me", headers=d.agent_headers(key)))
    g = data.get("gitea")
    assert isinstance(g, dict) and g.get("login") and g.get("token"), data
    d.add_secret(g["token"])        # the daemon must never log it
    return g["login"], g["token"]


def git(cwd, env, *args):
    r = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, f"git {' '.join(args)}: {r.stdout}{r.stderr}"
    return r.stdout.strip()


def push_branch(emu, tmp_path, login, token, branch, files=None, repo=W, date=None,
                again=False):
    """Clone as the agent, commit files on a new branch (none: no commit),
    push it; returns the branch's sha.  date: the commit's, as git takes
    it ("2026-11-20T10:00:00Z"), else now.  again: the branch exists; the
    commit goes on top of it."""
    home = tmp_path / f"home-{uuid.uuid4().hex[:8]}"
    home.mkdir()
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0", HOME=str(home),
               GIT_CONFIG_NOSYSTEM="1",
               GIT_AUTHOR_NAME=login, GIT_AUTHOR_EMAIL=f"{login}@example.invalid",
               GIT_COMMITTER_NAME=login, GIT_COMMITTER_EMAIL=f"{login}@example.invalid")
    if date is not None:
        env.update(GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date)
    work = str(home / "clone")
    if again:
        git(str(home), env, "clone", "-q", "-b", branch,
            emu.clone_url(repo, login, token), work)
    else:
        git(str(home), env, "clone", "-q", emu.clone_url(repo, login, token), work)
        git(work, env, "checkout", "-q", "-b", branch)
    if files:
        for path, text in files.items():
            p = os.path.join(work, path)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "w") as f:
                f.write(text)
        git(work, env, "add", "-A")
        git(work, env, "commit", "-q", "-m", f"work on {branch}")
    git(work, env, "push", "-q", "origin", f"{branch}:refs/heads/{branch}")
    sha = git(work, env, "rev-parse", "HEAD")
    assert branches(emu, repo).get(branch) == sha, (branch, branches(emu, repo))
    return sha


def gitea_repo(emu, repo=W):
    return next(r for r in emu.state()["repos"] if r["full_name"] == repo)


def branches(emu, repo=W):
    return gitea_repo(emu, repo)["branches"]


def gitea_pulls(emu, repo=W, head=None):
    return [p for p in emu.state()["pulls"]
            if p["repo"] == repo and (head is None or p["head"] == head)]


def gitea_reviews(emu, logins, repo=W, pr=None):
    """Gitea's reviews by these logins, oldest first: [(login, state, body)]."""
    return [(v["reviewer"], v["state"], v["body"]) for v in emu.state()["reviews"]
            if v["repo"] == repo and v["reviewer"] in logins
            and (pr is None or v["pr"] == pr)]


def issue_id(d, number, repo=W):
    owner, name = repo.split("/")
    v = q1(d, "SELECT i.id FROM issues i JOIN projects p ON p.id = i.project_id"
              f" WHERE p.owner = '{owner}' AND p.name = '{name}' AND i.number = {number}")
    assert v, f"no issue {repo}#{number} here"
    return v


def pull_row(d, number, repo=W):
    owner, name = repo.split("/")
    rows = q_json(d, "SELECT r.id, r.issue_id, r.head_sha, r.source_branch, r.state,"
                     " r.review_status FROM pull_requests r"
                     " JOIN projects p ON p.id = r.project_id"
                     f" WHERE p.owner = '{owner}' AND p.name = '{name}'"
                     f" AND r.gitea_pr_number = {number}")
    assert len(rows) == 1, f"{len(rows)} rows for the PR {repo}#{number}"
    return rows[0]


def review_rows(d, pull_id, agent_id):
    return q_json(d, "SELECT action, body FROM reviews"
                     f" WHERE pull_request_id = '{pull_id}' AND reviewer_id = '{agent_id}'")


def review_events(d, pull_id, agent_id):
    rows = q_json(d, "SELECT action, body FROM review_events"
                     f" WHERE pull_request_id = '{pull_id}' AND reviewer_id = '{agent_id}'"
                     " ORDER BY created_at, id")
    return [(r["action"], r["body"]) for r in rows]


def number_of(ref, repo=W):
    m = re.fullmatch(re.escape(repo) + r"#(\d+)", ref or "")
    assert m, f"{ref!r} is not a reference to a PR of {repo}"
    return int(m.group(1))


def author_with_a_claim(d, emu, tmp_path, issue=1, files=None):
    """A member holding issue, with a pushed branch of new commits:
    (data, key, login, branch)."""
    a, key = member(d)
    login, token = gitea_creds(d, key)
    branch = ok(d, key, f"work-on {W}#{issue}")["branch"]
    push_branch(emu, tmp_path, login, token, branch,
                files or {f"src/fix{issue}.c": f"int fixed_{issue} = 1;\n"})
    return a, key, login, branch


def submitted(d, emu, tmp_path, issue=1):
    """A member's PR for issue: (data, key, login, branch, number)."""
    a, key, login, branch = author_with_a_claim(d, emu, tmp_path, issue)
    got = ok(d, key, f"submit {branch}")
    return a, key, login, branch, number_of(got["pull"])


def reviewer(d):
    """A member and its Gitea login: (data, key, login)."""
    b, key = member(d)
    login, _ = gitea_creds(d, key)
    return b, key, login


def review(d, key, command):
    return ok(d, key, command)


def pr_reviews(d, key, number):
    """`pr`'s reviews by reviewer: {login: review}."""
    data = ok(d, key, f"pr {W}#{number}")
    revs = data["reviews"]
    assert isinstance(revs, list), data
    by = {}
    for v in revs:
        assert {"reviewer", "action", "body", "current"} <= set(v), v
        assert v["reviewer"] not in by, f"two current reviews by {v['reviewer']}: {revs}"
        by[v["reviewer"]] = v
    return data, by


# -- help --------------------------------------------------------------------------

def test_help_lists_submit_pr_and_review(ro):
    _, key = ro.new_agent(status="active")
    verbs = {c["usage"].split()[0] for c in ok(ro, key, "help")["commands"]}
    missing = {"submit", "pr", "review"} - verbs
    assert not missing, f"help does not list {sorted(missing)}: {sorted(verbs)}"


# -- submit ------------------------------------------------------------------------

def test_submit_opens_the_pr_as_the_agent_linked_to_its_claim(world, tmp_path):
    emu, d = world
    a, key, login, branch = author_with_a_claim(d, emu, tmp_path, issue=1)
    before = {p["number"] for p in gitea_pulls(emu)}
    got = ok(d, key, f"submit {branch}")
    number = number_of(got["pull"])
    assert number not in before, (got, before)
    assert got["issue"] == f"{W}#1", got
    assert got["title"] == TITLES[1], got
    assert isinstance(got["url"], str) and got["url"].endswith(f"/{W}/pulls/{number}"), got
    # In Gitea: the agent's PR from the branch into the default branch.
    pulls = gitea_pulls(emu, head=branch)
    assert len(pulls) == 1, pulls
    p = pulls[0]
    assert p["number"] == number and p["state"] == "open", p
    assert p["poster"] == login, f"the PR was opened by {p['poster']}, not the agent ({login})"
    assert p["base"] == gitea_repo(emu)["default_branch"], p
    assert p["title"] == TITLES[1], p
    assert re.search(r"\bCloses #1\b", p["body"]), p["body"]
    # Here: the PR, linked to the issue.
    row = pull_row(d, number)
    assert row["issue_id"] == issue_id(d, 1), row
    assert row["source_branch"] == branch and row["state"] == "open", row
    # And pr shows it.
    data = ok(d, key, f"pr {W}#{number}")
    assert data["title"] == TITLES[1] and data["state"] == "open", data
    assert data["source_branch"] == branch, data
    assert data["target_branch"] == p["base"], data
    assert data["author"] == login, data
    assert data["issue"] == f"{W}#1", data
    assert data["review_status"] == "pending" and data["reviews"] == [], data
    # Again (a retry): the same PR, still one, still linked (issue 10).
    again = ok(d, key, f"submit {branch}")
    assert again["pull"] == got["pull"] and again["url"] == got["url"], again
    assert again["issue"] == f"{W}#1", again
    assert len(gitea_pulls(emu, head=branch)) == 1
    assert int(q1(d, f"SELECT count(*) FROM pull_requests WHERE source_branch = '{branch}'")) == 1
    # One's own PR is not one's to review.
    for cmd in (f"review approve {W}#{number}", f"review {W}#{number} comment looks fine"):
        assert_error(act(d, key, cmd), 422, "own_pr")
    assert gitea_reviews(emu, {login}) == []
    assert q1(d, f"SELECT count(*) FROM review_events WHERE reviewer_id = '{a['id']}'") == "0"


@pytest.mark.parametrize("how", ["unquoted", "quoted"])
def test_submit_with_a_title(world, tmp_path, how):
    emu, d = world
    _, key, login, branch = author_with_a_claim(d, emu, tmp_path, issue=2)
    title = "Document the grid API, with examples"
    line = f"submit {branch} {title}" if how == "unquoted" else f'submit {branch} "{title}"'
    got = ok(d, key, line)
    assert got["title"] == title, got
    assert got["issue"] == f"{W}#2", got
    p = gitea_pulls(emu, head=branch)
    assert [x["title"] for x in p] == [title], p
    assert re.search(r"\bCloses #2\b", p[0]["body"]), p[0]["body"]
    assert p[0]["poster"] == login, p


def test_submit_refusals(world, tmp_path):
    emu, d = world
    a, key = member(d)
    login, token = gitea_creds(d, key)
    before = gitea_pulls(emu)
    # Nothing claimed: nothing to submit, even with a branch pushed.
    push_branch(emu, tmp_path, login, token, "early-work", {"src/early.c": "int e;\n"})
    assert_error(act(d, key, "submit early-work"), 422, "nothing_claimed")
    assert_ok(act(d, key, f"work-on {W}#4"))
    # A branch that is not in Gitea.
    err = assert_error(act(d, key, "submit never-pushed"), 404, "not_found")
    assert "never-pushed" in err["message"], err
    assert "push" in err["hint"].lower(), err
    # A branch with no new commits.
    push_branch(emu, tmp_path, login, token, "no-changes")
    assert_error(act(d, key, "submit no-changes"), 422, "gitea_refused")
    # Names that are no branch's.
    for bad in ("a..b", "-x"):
        assert_error(act(d, key, f"submit {bad}"), 400, "bad_request")
    assert gitea_pulls(emu) == before, "a refused submit opened a PR"
    assert q1(d, f"SELECT count(*) FROM pull_requests WHERE author_id = '{a['id']}'") == "0"
    # The claimed issue's branch goes through.
    got = ok(d, key, "submit early-work")
    assert got["issue"] == f"{W}#4" and got["title"] == TITLES[4], got


def test_submit_of_a_non_member_without_a_claim(ro):
    _, key = ro.new_agent(status="active")
    assert_error(act(ro, key, "submit fix-grid"), 422, "nothing_claimed")


# -- pr ----------------------------------------------------------------------------

def test_pr_shows_a_pull_request(ro):
    _, key = member(ro)
    data = ok(ro, key, f"pr {W}#{PR}")
    for k in ("title", "state", "review_status", "source_branch", "target_branch",
              "author", "mergeable", "issue", "reviews"):
        assert k in data, f"pr has no {k}: {data}"
    assert data["title"] == PR_TITLE and data["state"] == "open", data
    assert data["source_branch"] == "fix-grid" and data["target_branch"] == "main", data
    assert data["author"] == "agent-coder", data
    assert data["mergeable"] in (True, False, None), data
    assert not data["issue"], data
    assert data["review_status"] == "pending" and data["reviews"] == [], data


def test_pr_of_an_issue_is_a_bad_request(ro):
    _, key = member(ro)
    for number in (1, CLOSED):
        assert_error(act(ro, key, f"pr {W}#{number}"), 400, "bad_request")
    # By the feed's number of an issue too.
    f = ok(ro, key, "feed")
    n = next(it["n"] for it in f["items"] if it["ref"] == f"{W}#1")
    assert_error(act(ro, key, f"pr {n}"), 400, "bad_request")


# -- review refusals -------------------------------------------------------------------

def test_review_needs_membership(ro, ro_emu):
    b, key = ro.new_agent(status="active")
    login, _ = gitea_creds(ro, key)
    for cmd in (f"review approve {W}#{PR}", f"review {W}#{PR} comment nice"):
        err = assert_error(act(ro, key, cmd), 422, "not_a_member")
        assert f"join {W}" in err["hint"], err
    assert gitea_reviews(ro_emu, {login}) == []
    assert q1(ro, f"SELECT count(*) FROM review_events WHERE reviewer_id = '{b['id']}'") == "0"


@pytest.mark.parametrize("command", [
    f"review request-changes {W}#{PR}",
    f"review {W}#{PR} request-changes",
    f"review lgtm {W}#{PR}",
    f"review {W}#{PR} lgtm",
    f"review reject {W}#{PR} no",
])
def test_review_bad_requests(ro, ro_emu, command):
    b, key = member(ro)
    login, _ = gitea_creds(ro, key)
    assert_error(act(ro, key, command), 400, "bad_request")
    assert gitea_reviews(ro_emu, {login}) == []
    assert q1(ro, f"SELECT count(*) FROM review_events WHERE reviewer_id = '{b['id']}'") == "0"


def test_review_of_a_closed_pr(world):
    emu, d = world
    b, key, login = reviewer(d)
    # The reconciliation skips a PR whose Gitea updated_at (whole seconds)
    # equals the one it last synced at: close it in a later second than the
    # start-up sync's, or the close may go unseen (a mirror matter, not
    # this test's).
    time.sleep(1.05 - time.time() % 1)
    assert emu.patch(f"/repos/{W}/pulls/{PR}", json={"state": "closed"}).status_code == 201
    admin_sync(d)
    assert pull_row(d, PR)["state"] == "closed"
    assert ok(d, key, f"pr {W}#{PR}")["state"] == "closed"
    for cmd in (f"review approve {W}#{PR}", f"review {W}#{PR} comment late"):
        assert_error(act(d, key, cmd), 422, "pr_closed")
    assert gitea_reviews(emu, {login}) == []


# -- reviews ------------------------------------------------------------------------

def test_reviews_in_gitea_and_here_and_the_review_status(world, tmp_path):
    emu, d = world
    a, akey, alogin, branch, number = submitted(d, emu, tmp_path)
    pull = f"{W}#{number}"
    b, bkey, blogin = reviewer(d)
    c, ckey, clogin = reviewer(d)
    pid = pull_row(d, number)["id"]

    got = review(d, bkey, f"review {pull} request-changes The gap is still off by one")
    assert got == {"pull": pull, "verdict": "request_changes",
                   "review_status": "changes_requested",
                   "merged": False}, got
    assert gitea_reviews(emu, {blogin}, pr=number) == \
        [(blogin, "REQUEST_CHANGES", "The gap is still off by one")]

    # c approves: b's request still blocks.
    got = review(d, ckey, f"review approve {pull} Looks right to me")
    assert got["verdict"] == "approve" and got["review_status"] == "changes_requested", got
    assert gitea_reviews(emu, {clogin}, pr=number) == [(clogin, "APPROVED", "Looks right to me")]
    assert pull_row(d, number)["review_status"] == "changes_requested"

    # b changes its mind: its approval replaces its request.
    got = review(d, bkey, f"review approve {pull}")
    assert got == {"pull": pull, "verdict": "approve", "review_status": "approved",
                   "merged": False}, got
    assert [s for _, s, _ in gitea_reviews(emu, {blogin}, pr=number)] == \
        ["REQUEST_CHANGES", "APPROVED"]
    assert pull_row(d, number)["review_status"] == "approved"
    assert [r["action"] for r in review_rows(d, pid, b["id"])] == ["approve"]
    assert review_events(d, pid, b["id"]) == [
        ("request_changes", "The gap is still off by one"), ("approve", "")]

    # pr shows one current review per reviewer.
    data, by = pr_reviews(d, akey, number)
    assert data["review_status"] == "approved", data
    assert set(by) == {blogin, clogin}, data["reviews"]
    assert by[blogin]["action"] == "approve" and by[blogin]["current"] is True, by
    assert by[clogin]["action"] == "approve" and by[clogin]["current"] is True, by
    assert by[clogin]["body"] == "Looks right to me", by

    # A comment is c's review now; b's approval still carries the PR.
    got = review(d, ckey, f"review {pull} comment Consider a constant for the gap")
    assert got == {"pull": pull, "verdict": "comment", "review_status": "approved",
                   "merged": False}, got
    assert gitea_reviews(emu, {clogin}, pr=number)[-1] == \
        (clogin, "COMMENT", "Consider a constant for the gap")
    assert [(r["action"], r["body"]) for r in review_rows(d, pid, c["id"])] == \
        [("comment", "Consider a constant for the gap")]
    assert review_events(d, pid, c["id"]) == [
        ("approve", "Looks right to me"), ("comment", "Consider a constant for the gap")]
    _, by = pr_reviews(d, bkey, number)
    assert by[clogin]["action"] == "comment", by

    # c requests changes: the PR is blocked again.
    got = review(d, ckey, f"review request-changes {pull} Please add a test")
    assert got["verdict"] == "request_changes" and \
        got["review_status"] == "changes_requested", got
    assert ok(d, akey, f"pr {pull}")["review_status"] == "changes_requested"
    # Every Gitea review here was the reviewer's own.
    assert gitea_reviews(emu, {alogin}) == []


def test_an_approval_before_a_new_commit_no_longer_counts(world, tmp_path):
    emu, d = world
    a, akey, alogin, branch, number = submitted(d, emu, tmp_path)
    pull = f"{W}#{number}"
    b, bkey, blogin = reviewer(d)
    old_head = pull_row(d, number)["head_sha"]
    assert old_head == branches(emu)[branch], (old_head, branches(emu))
    got = review(d, bkey, f"review approve {pull} Ship it")
    assert got["review_status"] == "approved", got
    # The author pushes again; the daemon hears of it at the next reconciliation.
    new_head = emu.commit(W, branch, {"src/fix1.c": "int fixed_1 = 2;\n"}, author=alogin)
    assert new_head != old_head
    admin_sync(d)
    assert pull_row(d, number)["head_sha"] == new_head
    data, by = pr_reviews(d, akey, number)
    assert by[blogin]["action"] == "approve" and by[blogin]["current"] is False, \
        f"an approval of the old head is still current: {data}"
    # A new approval, of the new head.
    got = review(d, bkey, f"review {pull} approve Still good")
    assert got == {"pull": pull, "verdict": "approve", "review_status": "approved",
                   "merged": False}, got
    data, by = pr_reviews(d, akey, number)
    assert by[blogin]["current"] is True and by[blogin]["body"] == "Still good", data
    assert data["review_status"] == "approved", data
    assert pull_row(d, number)["review_status"] == "approved"
    gv = [v for v in emu.state()["reviews"] if v["reviewer"] == blogin and v["pr"] == number]
    assert [(v["state"], v["commit_id"]) for v in gv] == \
        [("APPROVED", old_head), ("APPROVED", new_head)], gv


def test_required_approvals(gitea_factory, daemon, tmp_path):
    emu, d = start_world(gitea_factory, daemon, conf={"work.required_approvals": 2,
                                                               "work.auto_merge": False})
    _, akey, _, _, number = submitted(d, emu, tmp_path)
    pull = f"{W}#{number}"
    _, bkey, _ = reviewer(d)
    _, ckey, _ = reviewer(d)
    assert review(d, bkey, f"review approve {pull}")["review_status"] == "pending"
    assert ok(d, akey, f"pr {pull}")["review_status"] == "pending"
    assert review(d, ckey, f"review approve {pull}")["review_status"] == "approved"
    assert ok(d, akey, f"pr {pull}")["review_status"] == "approved"


def test_review_rate_limit(gitea_factory, daemon, tmp_path):
    emu, d = start_world(gitea_factory, daemon, conf={"work.review_rate": 2,
                                                               "work.auto_merge": False})
    _, _, _, _, number = submitted(d, emu, tmp_path)
    pull = f"{W}#{number}"
    b, bkey, blogin = reviewer(d)
    _, ckey, _ = reviewer(d)
    review(d, bkey, f"review comment {pull} first look")
    review(d, bkey, f"review comment {W}#{PR} second look")
    r = act(d, bkey, f"review approve {pull}")
    err = assert_error(r, 429, "rate_limited")
    assert err["hint"], err
    ra = r.headers.get("Retry-After")
    assert ra is not None and ra.isdigit() and 0 < int(ra) <= 3600, dict(r.headers)
    assert len(gitea_reviews(emu, {blogin})) == 2
    assert q1(d, f"SELECT count(*) FROM review_events WHERE reviewer_id = '{b['id']}'") == "2"
    # Another agent's reviews are its own to count.
    assert review(d, ckey, f"review approve {pull}")["review_status"] == "approved"
