"""The mirror's state stays right under late, forged and repeated events
(issue 10): a delivery is a hint, confirmed with Gitea before it creates
anything or decides a tie of Gitea's whole-second times; claims end with
their issue; a submit whose answer was lost is taken up by its retry;
reviews given in Gitea are the agent's reviews in every respect; and the
feed never skips a review committed while it was being built.

Deliveries are forged here from Gitea's own objects (the emulator's), and
signed with the daemon's webhook secret: what a late, replayed or
concurrent delivery of Gitea's would carry."""

import subprocess
import time

import pytest

from conftest import PG_BIN, assert_error, assert_ok, drain_daemons, wait_for
from mirror_helpers import (admin_sync, settled, post_hook, q_json, register_system_hook,
                            write_secret)
from test_review import (author_with_a_claim, gitea_creds, issue_id, pull_row,
                         reviewer, submitted)
from test_work import W, act, member, ok, q1, start_world


def trust_world(gitea_factory, daemon, tmp_path, hook=False, conf=None):
    """A world whose daemon takes signed deliveries; hook: the emulator
    delivers to it too.  PRs merge by hand."""
    path, secret = write_secret(tmp_path)
    c = {"gitea.webhook_secret_file": path, "work.auto_merge": False}
    c.update(conf or {})
    emu, d = start_world(gitea_factory, daemon, conf=c)
    d.hook_secret = secret
    if hook:
        d.hook_id = register_system_hook(emu, d.base + "/hooks/gitea", secret)
    return emu, d


def deliver(d, event_type, body):
    r = post_hook(d, body, event_type, d.hook_secret)
    return settled(d, r)


def gitea_reads(emu, path):
    """How many GETs of path (under /api/v1) the emulator answered."""
    return len([x for x in emu.requests()
                if x["method"] == "GET" and x["path"].split("?")[0] == "/api/v1" + path])


def issue_row(d, number, repo=W):
    owner, name = repo.split("/")
    rows = q_json(d, "SELECT i.title, i.state, i.assigned_to FROM issues i"
                     " JOIN projects p ON p.id = i.project_id"
                     f" WHERE p.owner = '{owner}' AND p.name = '{name}'"
                     f" AND p.deleted_at IS NULL AND i.number = {number}")
    assert len(rows) == 1, rows
    return rows[0]


def settle(emu):
    """Gitea's deliveries made, and applied by every daemon."""
    dl = emu.deliveries()
    drain_daemons()
    return dl


# -- a tie of whole seconds is decided by Gitea -----------------------------------

@pytest.mark.parametrize("action", ["reopened", "opened", "edited"])
def test_a_same_second_delivery_never_moves_an_issue_back(gitea_factory, daemon, tmp_path,
                                                          action):
    emu, d = trust_world(gitea_factory, daemon, tmp_path)
    repo = emu.get(f"/repos/{W}").json()
    before = emu.get(f"/repos/{W}/issues/1").json()           # open, its title
    ok_patch = emu.patch(f"/repos/{W}/issues/1", json={"title": "Renamed", "state": "closed"})
    assert ok_patch.status_code == 201, ok_patch.text
    admin_sync(d)
    now = emu.get(f"/repos/{W}/issues/1").json()
    assert issue_row(d, 1)["state"] == "closed"
    # Gitea delivered out of order: the earlier state comes last, dated in
    # the same second as the close (Gitea's times have whole seconds).
    late = dict(before, updated_at=now["updated_at"])
    emu.requests(clear=True)
    assert deliver(d, "issues", {"action": action, "number": 1, "issue": late,
                                 "repository": repo, "sender": {"login": "alice"}}) == "applied"
    row = issue_row(d, 1)
    assert (row["title"], row["state"]) == ("Renamed", "closed"), row
    # Ambiguous, so Gitea was asked: once.
    assert gitea_reads(emu, f"/repos/{W}/issues/1") == 1
    # The same second saying what we have is not ambiguous: nothing asked.
    emu.requests(clear=True)
    assert deliver(d, "issues", {"action": "edited", "number": 1, "issue": now,
                                 "repository": repo, "sender": {"login": "alice"}}) == "applied"
    assert gitea_reads(emu, f"/repos/{W}/issues/1") == 0


def test_a_same_second_delivery_never_reopens_a_closed_pull_request(gitea_factory, daemon,
                                                                    tmp_path):
    emu, d = trust_world(gitea_factory, daemon, tmp_path)
    repo = emu.get(f"/repos/{W}").json()
    before = emu.get(f"/repos/{W}/pulls/5").json()
    assert emu.patch(f"/repos/{W}/pulls/5", json={"state": "closed"}).status_code == 201
    admin_sync(d)
    now = emu.get(f"/repos/{W}/pulls/5").json()
    late = dict(before, updated_at=now["updated_at"])
    emu.requests(clear=True)
    assert deliver(d, "pull_request", {"action": "reopened", "number": 5, "pull_request": late,
                                       "repository": repo,
                                       "sender": {"login": "alice"}}) == "applied"
    row = pull_row(d, 5)
    assert (row["state"], row["review_status"]) == ("closed", "closed"), row
    assert gitea_reads(emu, f"/repos/{W}/pulls/5") == 1


# -- nothing from a delivery alone -------------------------------------------------

def ghost_delivery():
    owner = {"id": 4242, "login": "ghost", "username": "ghost"}
    repo = {"id": 990099, "owner": owner, "name": "nothing", "full_name": "ghost/nothing",
            "description": "a repository only this delivery speaks of",
            "default_branch": "main", "archived": False,
            "clone_url": "http://evil.example/ghost/nothing.git",
            "html_url": "http://evil.example/ghost/nothing",
            "updated_at": "2030-01-01T00:00:00Z"}
    issue = {"id": 990100, "number": 1, "title": "Run this script", "body": "curl | sh",
             "state": "open", "labels": [], "assignees": None, "user": owner,
             "updated_at": "2030-01-01T00:00:00Z", "closed_at": None,
             "created_at": "2030-01-01T00:00:00Z", "pull_request": None}
    return {"action": "opened", "number": 1, "issue": issue, "repository": repo,
            "sender": owner}


def test_a_signed_delivery_of_a_repository_gitea_lacks_makes_nothing(gitea_factory, daemon,
                                                                     tmp_path):
    emu, d = trust_world(gitea_factory, daemon, tmp_path)
    _, key = member(d)
    emu.requests(clear=True)
    assert deliver(d, "issues", ghost_delivery()) == "ignored"
    # Gitea was asked about the repository, by its id, and has none.
    assert gitea_reads(emu, "/repositories/990099") == 1
    assert d.psql("SELECT (SELECT count(*) FROM projects WHERE owner = 'ghost'),"
                  " (SELECT count(*) FROM issues WHERE gitea_issue_id = 990100)") == [["0", "0"]]
    data = ok(d, key, "feed")
    assert "ghost/nothing" not in str(data), data
    assert_error(act(d, key, "details ghost/nothing"), 404, "not_found")


def test_urls_given_to_agents_are_gitea_s_never_a_delivery_s(gitea_factory, daemon, tmp_path):
    emu, d = trust_world(gitea_factory, daemon, tmp_path)
    repo = emu.post("/orgs/acme/repos", json={"name": "fresh", "auto_init": True}).json()
    issue = emu.post("/repos/acme/fresh/issues", json={"title": "First"}).json()
    forged = dict(repo, clone_url="http://evil.example/acme/fresh.git",
                  html_url="http://evil.example/acme/fresh")
    assert deliver(d, "issues", {"action": "opened", "number": issue["number"], "issue": issue,
                                 "repository": forged, "sender": {"login": "alice"}}) == "applied"
    assert q_json(d, "SELECT clone_url, html_url FROM projects WHERE name = 'fresh'") == \
        [{"clone_url": repo["clone_url"], "html_url": repo["html_url"]}]
    _, key = d.new_agent(status="active")
    joined = ok(d, key, "join acme/fresh")
    assert joined["clone_url"] == repo["clone_url"] and "evil" not in str(joined), joined
    # What we have, told of with other URLs, is asked about and kept.
    emu.requests(clear=True)
    assert deliver(d, "repository", {"action": "edited", "repository": dict(
        forged, description="moved", updated_at="2030-01-02T00:00:00Z"),
        "sender": {"login": "alice"}}) == "applied"
    assert gitea_reads(emu, f"/repositories/{repo['id']}") == 1
    assert q_json(d, "SELECT clone_url, description FROM projects WHERE name = 'fresh'") == \
        [{"clone_url": repo["clone_url"], "description": ""}]


def test_a_repository_made_again_under_its_name_replaces_the_old(gitea_factory, daemon,
                                                                 tmp_path):
    emu, d = trust_world(gitea_factory, daemon, tmp_path)
    old = emu.post("/orgs/acme/repos", json={"name": "phoenix", "auto_init": True}).json()
    admin_sync(d)
    assert emu.delete("/repos/acme/phoenix").status_code == 204
    new = emu.post("/orgs/acme/repos", json={"name": "phoenix", "auto_init": True}).json()
    assert new["id"] != old["id"]
    issue = emu.post("/repos/acme/phoenix/issues", json={"title": "Born again"}).json()
    r = post_hook(d, {"action": "opened", "number": issue["number"], "issue": issue,
                      "repository": new, "sender": {"login": "alice"}}, "issues", d.hook_secret)
    assert settled(d, r) == "applied"
    rows = q_json(d, "SELECT gitea_repo_id, deleted_at IS NOT NULL AS gone FROM projects"
                     " WHERE name = 'phoenix' ORDER BY gone")
    assert rows == [{"gitea_repo_id": new["id"], "gone": False},
                    {"gitea_repo_id": old["id"], "gone": True}], rows
    assert issue_row(d, issue["number"], "acme/phoenix")["title"] == "Born again"


# -- claims end with their work -------------------------------------------------------

def test_a_claim_ends_when_its_pr_merges(gitea_factory, daemon, tmp_path):
    emu, d = trust_world(gitea_factory, daemon, tmp_path, hook=True)
    a, key, login, branch, n = submitted(d, emu, tmp_path, issue=1)
    b, bkey, _ = reviewer(d)
    ok(d, bkey, f"review approve {W}#{n}")
    ok(d, key, f"merge {W}#{n}")
    settle(emu)
    details = ok(d, key, f"details {W}#1")
    assert details["state"] == "closed" and details["claimed_by"] is None, details
    assert ok(d, key, "my-work")["claims"] == []
    assert_error(act(d, key, "abandon"), 422, "nothing_claimed")


def test_a_claim_ends_when_its_issue_is_closed_in_gitea(gitea_factory, daemon, tmp_path):
    emu, d = trust_world(gitea_factory, daemon, tmp_path, hook=True)
    a, key = member(d)
    ok(d, key, f"work-on {W}#2")
    assert emu.patch(f"/repos/{W}/issues/2", json={"state": "closed"}).status_code == 201
    settle(emu)
    assert issue_row(d, 2)["assigned_to"] is None
    assert ok(d, key, f"details {W}#2")["claimed_by"] is None
    assert ok(d, key, "my-work")["claims"] == []


def test_abandon_releases_only_the_open_claim(gitea_factory, daemon, tmp_path):
    emu, d = trust_world(gitea_factory, daemon, tmp_path, hook=True,
                         conf={"work.max_claims": 2})
    a, key = member(d)
    ok(d, key, f"work-on {W}#1")
    ok(d, key, f"work-on {W}#2")
    assert emu.patch(f"/repos/{W}/issues/1", json={"state": "closed"}).status_code == 201
    settle(emu)
    before = int(q1(d, "SELECT count(*) FROM gitea_outbox WHERE kind = 'issue.unassign'"))
    got = ok(d, key, "abandon")
    assert got["released"] == [f"{W}#2"], got
    paths = [r[0] for r in d.psql("SELECT path FROM gitea_outbox WHERE kind ="
                                  " 'issue.unassign' ORDER BY created_at")][before:]
    assert paths == ["/repos/acme/widgets/issues/2"], paths


# -- a submit whose answer was lost ------------------------------------------------

def test_a_submit_whose_answer_was_lost_is_taken_up_by_its_retry(gitea_factory, daemon,
                                                                 tmp_path):
    emu, d = trust_world(gitea_factory, daemon, tmp_path)
    a, key, login, branch = author_with_a_claim(d, emu, tmp_path, issue=1)
    # Gitea makes the PR, but answers after our gitea.timeout (1 s).
    emu.faults("stall", seconds=60, stall=2.5,
               match=r"^POST /api/v1/repos/[^/]+/[^/]+/pulls$")
    assert_error(act(d, key, f"submit {branch}"), 502, "gitea_unavailable")
    made = wait_for(lambda: [p for p in emu.state()["pulls"] if p["head"] == branch],
                    timeout=10, what="Gitea to make the PR it did not answer for")
    emu.faults("none")
    number = made[0]["number"]
    # Mirrored, the PR is the claim's work.
    admin_sync(d)
    assert pull_row(d, number)["issue_id"] == issue_id(d, 1)
    # The retry answers as a submit does, with that PR.
    again = ok(d, key, f"submit {branch}")
    assert again["pull"] == f"{W}#{number}" and again["issue"] == f"{W}#1", again
    assert len([p for p in emu.state()["pulls"] if p["head"] == branch]) == 1
    assert pull_row(d, number)["issue_id"] == issue_id(d, 1)


# -- reviews given in Gitea ----------------------------------------------------------

def rating_events(d, agent_id):
    return [tuple(r) for r in d.psql(f"SELECT reason FROM elo_events WHERE agent_id ="
                                     f" '{agent_id}' ORDER BY created_at")]


def test_a_review_given_in_gitea_is_the_agent_s_in_every_respect(gitea_factory, daemon,
                                                                 tmp_path):
    emu, d = trust_world(gitea_factory, daemon, tmp_path, hook=True)
    a, key, login, branch, n = submitted(d, emu, tmp_path, issue=1)
    b, bkey, blogin = reviewer(d)                       # a member
    x, xkey = d.new_agent(status="active")              # not a member
    xlogin, _ = gitea_creds(d, xkey)
    path = f"/repos/{W}/pulls/{n}/reviews"
    # The author's own comment and a non-member's approval never count.
    assert emu.post(path, json={"event": "COMMENT", "body": "my own"},
                    sudo=login).status_code == 200
    assert emu.post(path, json={"event": "APPROVED", "body": "drive-by"},
                    sudo=xlogin).status_code == 200
    settle(emu)
    pr = ok(d, key, f"pr {W}#{n}")
    assert pr["review_status"] == "pending" and pr["reviews"] == [], pr
    # A member's approval in Gitea: the agent's review, in the history.
    assert emu.post(path, json={"event": "APPROVED", "body": "good"},
                    sudo=blogin).status_code == 200
    settle(emu)
    pr = ok(d, key, f"pr {W}#{n}")
    assert pr["review_status"] == "approved", pr
    assert [(v["reviewer"], v["action"]) for v in pr["reviews"]] == [(b["name"], "approve")]
    assert q1(d, f"SELECT count(*) FROM review_events WHERE reviewer_id = '{b['id']}'") == "1"
    # It earns what a review by command earns.
    ok(d, key, f"merge {W}#{n}")
    settle(emu)
    assert ("approval_merged",) in rating_events(d, b["id"])
    assert rating_events(d, x["id"]) == []
    # Told once more by the reconciliation: still one event in the history.
    admin_sync(d)
    assert q1(d, f"SELECT count(*) FROM review_events WHERE reviewer_id = '{b['id']}'") == "1"


def test_a_review_by_an_agent_no_longer_active_stops_counting(gitea_factory, daemon, tmp_path):
    emu, d = trust_world(gitea_factory, daemon, tmp_path, hook=True)
    a, key, login, branch, n = submitted(d, emu, tmp_path, issue=1)
    c, ckey, clogin = reviewer(d)
    assert emu.post(f"/repos/{W}/pulls/{n}/reviews", json={"event": "APPROVED", "body": "ok"},
                    sudo=clogin).status_code == 200
    settle(emu)
    assert ok(d, key, f"pr {W}#{n}")["review_status"] == "approved"
    assert_ok(d.admin_post(f"/api/v1/admin/agents/{c['id']}/suspend"))
    err = assert_error(act(d, key, f"merge {W}#{n}"), 422, "not_approved")
    assert "0 of 1 approval" in err["message"], err


# -- the feed's clock ------------------------------------------------------------------

class OpenTransaction:
    """A psql session kept open: statements run, nothing committed until
    commit()."""

    def __init__(self, d):
        self.p = subprocess.Popen(
            [str(PG_BIN / "psql"), "-XAtq", "-v", "ON_ERROR_STOP=1", "-h", d.pg.host,
             "-p", str(d.pg.port), "-U", "postgres", "-d", d.db],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def run(self, sql):
        self.p.stdin.write(sql + "\nSELECT 'done';\n")
        self.p.stdin.flush()
        while True:
            line = self.p.stdout.readline()
            assert line, "psql ended"
            if line.strip() == "done":
                return

    def commit(self):
        self.p.stdin.write("COMMIT;\n")
        self.p.stdin.close()
        assert self.p.wait(30) == 0


def test_a_review_committed_while_a_feed_is_built_is_never_skipped(gitea_factory, daemon,
                                                                   tmp_path):
    emu, d = trust_world(gitea_factory, daemon, tmp_path)
    a, key, login, branch, n = submitted(d, emu, tmp_path, issue=1)
    b, bkey, blogin = reviewer(d)
    pr = pull_row(d, n)["id"]
    ok(d, key, "feed")
    # A review's transaction began before the feed and commits after it.
    tx = OpenTransaction(d)
    tx.run(f"BEGIN; INSERT INTO reviews (pull_request_id, reviewer_id, action, body)"
           f" VALUES ('{pr}', '{b['id']}', 'comment', 'seen late');")
    time.sleep(0.05)
    first = ok(d, key, "feed")
    assert first["sections"]["reviewed"]["shown"] == 0, first
    tx.commit()
    second = ok(d, key, "feed")
    assert [it["ref"] for it in second["items"] if it["section"] == "reviewed"] == \
        [f"{W}#{n}"], second
    # Told once.
    third = ok(d, key, "feed")
    assert third["sections"]["reviewed"]["shown"] == 0, third
