"""The agent work loop, first increment (issue 5): feed, join, work-on,
abandon, details, my-work/status through POST /api/v1/act, as an agent
sees them, against a Gitea emulator of the tests' own.

The Gitea of these tests (work_seed): acme/widgets with issues #1 "Widgets
misalign in grid layout" (open), #2 "Document the grid API" (open), #3
"Remove the legacy grid" (closed), #4 "Grid crashes on empty input" (open)
and pull request #5 "Fix the grid gap"; acme/old, archived.
"""

import copy
import json
import re
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from conftest import assert_error, assert_ok
from emulator import DEFAULT_SEED, Emulator
from mirror_helpers import admin_sync, wait_startup_sync

W = "acme/widgets"
TITLES = {1: "Widgets misalign in grid layout", 2: "Document the grid API",
          3: "Remove the legacy grid", 4: "Grid crashes on empty input"}
BODY1 = "The gap is off by one at every breakpoint."
OPEN = [1, 2, 4]
CLOSED = 3
PR = 5
PR_TITLE = "Fix the grid gap"
# Every section of the feed, in order; notices and ratings are told, not
# numbered (they have no item).
SECTIONS = ["notices", "claimed", "checks_failed", "reviewed", "to_review", "open_issues",
            "projects", "ratings"]
TOLD = {"notices": "notices", "ratings": "ratings"}
CAP = 10


def work_seed():
    s = copy.deepcopy(DEFAULT_SEED)
    w = s["repos"][0]
    assert w["owner"] + "/" + w["name"] == W
    w["issues"] += [
        {"title": TITLES[3], "poster": "alice", "body": "Done long ago.", "state": "closed"},
        {"title": TITLES[4], "poster": "alice", "body": "Zero widgets segfault."},
    ]
    w["branches"] = {"fix-grid": {"files": {"src/grid.c": "int gap = 5;\n"},
                                  "author": "agent-coder"}}
    w["pulls"] = [{"title": PR_TITLE, "body": "Off by one.", "poster": "agent-coder",
                   "head": "fix-grid"}]
    s["repos"].append({"owner": "acme", "name": "old", "archived": True,
                       "files": {"README.md": "# Old\n"}})
    return s


# -- helpers ---------------------------------------------------------------------

def act(d, key, command, **kw):
    return d.post("/api/v1/act", json={"command": command},
                  headers=d.agent_headers(key), **kw)


def ok(d, key, command, status=200):
    return assert_ok(act(d, key, command), status)


def check_feed(body):
    """The feed's shape: continuous numbering, sections in order, counts
    that match, a numbered text; returns data."""
    data = body["data"]
    items, sections = data.get("items"), data.get("sections")
    assert isinstance(items, list) and isinstance(sections, dict), data
    assert set(sections) == set(SECTIONS), sections
    assert [it.get("n") for it in items] == list(range(1, len(items) + 1)), items
    order = [SECTIONS.index(it["section"]) for it in items]
    assert order == sorted(order), f"sections out of order: {[it['section'] for it in items]}"
    for s in SECTIONS:
        c = sections[s]
        assert isinstance(c, dict) and isinstance(c.get("shown"), int) \
            and isinstance(c.get("more"), int), sections
        listed = data[TOLD[s]] if s in TOLD else [it for it in items if it["section"] == s]
        assert c["shown"] == len(listed), (s, sections, data)
        assert 0 <= c["shown"] <= CAP and c["more"] >= 0, sections
        assert c["more"] == 0 or c["shown"] == CAP, (s, sections)
    for it in items:
        assert isinstance(it.get("title"), str), it
        if it["section"] == "projects":
            assert it["kind"] == "project", it
            assert re.fullmatch(r"[\w.-]+/[\w.-]+", it["ref"]), it
            assert isinstance(it.get("open_issues"), int), it
        else:
            assert it["kind"] == ("pull" if it["section"] in ("checks_failed", "reviewed",
                                                              "to_review")
                                  else "issue"), it
            assert re.fullmatch(r"[\w.-]+/[\w.-]+#\d+", it["ref"]), it
    refs = [it["ref"] for it in items]
    assert len(set(refs)) == len(refs), f"an item listed twice: {refs}"
    # The text is a numbered list: a line starting with each number that
    # names the item.
    lines = body["text"].splitlines()
    for it in items:
        rx = re.compile(rf"^\s*[\[(#]?{it['n']}(?!\d)")
        assert any(rx.match(l) and (it["ref"] in l or it["title"] in l) for l in lines), \
            f"item {it['n']} ({it['ref']}) is not a numbered line of the text:\n{body['text']}"
    return data


def feed(d, key):
    r = act(d, key, "feed")
    assert_ok(r)
    return check_feed(r.json())


def refs(data, section):
    return [it["ref"] for it in data["items"] if it["section"] == section]


def index_of(data, ref):
    n = [it["n"] for it in data["items"] if it["ref"] == ref]
    assert len(n) == 1, (ref, data["items"])
    return n[0]


def q1(d, sql):
    rows = d.psql(sql)
    return rows[0][0] if rows else None


def holder(d, number, repo=W):
    """issues.assigned_to of an issue ('' when unclaimed)."""
    owner, name = repo.split("/")
    v = q1(d, "SELECT coalesce(i.assigned_to::text, '-') FROM issues i"
                 " JOIN projects p ON p.id = i.project_id"
                 f" WHERE p.owner = '{owner}' AND p.name = '{name}'"
                 f" AND p.deleted_at IS NULL AND i.number = {number}")
    assert v is not None, f"no issue {repo}#{number} in the database"
    return "" if v == "-" else v


def claims_of(d, agent_id):
    return int(q1(d, f"SELECT count(*) FROM issues WHERE assigned_to = '{agent_id}'"))


def member_role(d, agent_id, repo=W):
    owner, name = repo.split("/")
    return q1(d, "SELECT m.role FROM project_members m JOIN projects p ON p.id = m.project_id"
                 f" WHERE p.owner = '{owner}' AND p.name = '{name}'"
                 f" AND m.agent_id = '{agent_id}'")


def collaborators(emu, repo=W):
    return next(r for r in emu.state()["repos"] if r["full_name"] == repo)["collaborators"]


def gitea_assignees(emu, number, repo=W):
    return sorted(next(i for i in emu.state()["issues"]
                       if i["repo"] == repo and i["number"] == number)["assignees"])


def wait_assignees(emu, number, want, timeout=10, repo=W):
    """Gitea's assignees of the issue become want (the outbox is deferred)."""
    want = sorted(want)
    deadline = time.monotonic() + timeout
    while True:
        got = gitea_assignees(emu, number, repo)
        if got == want:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"Gitea's assignees of {repo}#{number} are {got}, "
                                 f"not {want}, {timeout}s after the change")
        time.sleep(0.1)


def start_world(gitea_factory, daemon, seed=None, conf=None):
    emu = gitea_factory(seed=seed or work_seed())
    c = {"gitea.url": emu.url, "sync.interval": "1h"}
    c.update(conf or {})
    d = daemon(conf=c)
    wait_startup_sync(d)
    assert q1(d, "SELECT count(*) FROM issues i JOIN projects p ON p.id = i.project_id"
                 " WHERE p.owner = 'acme' AND p.name = 'widgets'") == "4"
    return emu, d


def member(d, status="active"):
    """An approved agent that joined acme/widgets: (data, key)."""
    data, key = d.new_agent(status=status)
    assert_ok(act(d, key, f"join {W}"))
    return data, key


# -- fixtures --------------------------------------------------------------------

@pytest.fixture(scope="module")
def ro_emu():
    """An emulator of this module's own for tests that claim nothing (they
    register agents, some join: nothing another test's agent can see)."""
    emu = Emulator(seed=work_seed())
    yield emu
    emu.stop()


@pytest.fixture(scope="module")
def ro(daemon_module, ro_emu):
    d = daemon_module(conf={"gitea.url": ro_emu.url, "sync.interval": "1h"})
    wait_startup_sync(d)
    return d


@pytest.fixture
def world(gitea_factory, daemon):
    """A Gitea emulator and a daemon of the test's own: (emu, d)."""
    return start_world(gitea_factory, daemon)


# -- commands and approval -----------------------------------------------------------

def test_help_lists_the_work_commands(ro):
    _, key = ro.new_agent(status="active")
    data = ok(ro, key, "help")
    verbs = {c["usage"].split()[0] for c in data["commands"]}
    missing = {"feed", "join", "work-on", "abandon", "details", "my-work"} - verbs
    assert not missing, f"help does not list {sorted(missing)}: {sorted(verbs)}"
    for verb in ("feed", "join", "work-on", "abandon", "details", "my-work", "status"):
        one = ok(ro, key, f"help {verb}")
        assert one["usage"] and one["help"], (verb, one)


@pytest.mark.parametrize("command", [
    "feed", f"join {W}", "join 1", f"work-on {W}#1", "work-on 1", "abandon",
    f"details {W}#1", f"details {W}", "my-work", "status", "help",
])
def test_pending_agents_wait_for_approval(ro, command):
    data, key = ro.new_agent()
    err = assert_error(act(ro, key, command), 403, "waiting_for_approval")
    assert err["hint"], err
    assert member_role(ro, data["id"]) is None
    assert claims_of(ro, data["id"]) == 0


def test_unknown_command(ro):
    _, key = ro.new_agent(status="active")
    err = assert_error(act(ro, key, f"frobnicate {W}#1"), 400, "unknown_command")
    assert "frobnicate" in err["message"], err


# -- feed ---------------------------------------------------------------------------

def test_feed_of_a_newcomer_lists_projects_not_their_issues(ro):
    _, key = ro.new_agent(status="active")
    data = feed(ro, key)
    assert refs(data, "claimed") == [] and refs(data, "open_issues") == [], data
    # acme/old is archived: not a project one can join.
    assert refs(data, "projects") == [W], data
    w = data["items"][0]
    assert w["n"] == 1 and w["kind"] == "project" and w["open_issues"] == len(OPEN), w
    want = {s: {"shown": 0, "more": 0} for s in SECTIONS}
    want["projects"] = {"shown": 1, "more": 0}
    assert data["sections"] == want, data["sections"]


def test_feed_after_join_lists_open_issues_oldest_first(ro):
    _, key = ro.new_agent(status="active")
    assert_ok(act(ro, key, f"join {W}"))
    data = feed(ro, key)
    assert refs(data, "open_issues") == [f"{W}#{n}" for n in OPEN], data["items"]
    assert refs(data, "projects") == [] and refs(data, "claimed") == [], data["items"]
    for it in data["items"]:
        if it["section"] == "open_issues":
            assert it["title"] == TITLES[int(it["ref"].split("#")[1])], it
    # The seed's PR (by a Gitea user) waits for a review from members.
    assert refs(data, "to_review") == [f"{W}#{PR}"], data["items"]
    # Neither the closed issue nor the pull request is an open issue.
    assert f"{W}#{CLOSED}" not in refs(data, "open_issues")
    assert f"{W}#{PR}" not in refs(data, "open_issues")


def test_feed_indexes_are_per_agent_and_renumbered(world):
    emu, d = world
    a, akey = d.new_agent(status="active")
    b, bkey = d.new_agent(status="active")
    fa = feed(d, akey)
    n = index_of(fa, W)
    assert_ok(act(d, akey, f"join {n}"))
    assert member_role(d, a["id"]) is not None
    # A new feed renumbers: the PR waiting for a review, then the issues.
    fa = feed(d, akey)
    assert [(it["n"], it["ref"]) for it in fa["items"]] == \
        [(1, f"{W}#{PR}")] + [(i + 2, f"{W}#{num}") for i, num in enumerate(OPEN)], \
        fa["items"]
    got = ok(d, akey, "work-on 3")
    assert got["issue"]["ref"] == f"{W}#{OPEN[1]}", got
    assert holder(d, OPEN[1]) == a["id"]
    # b's numbers are b's own: its 1 is the project, not a's issue.
    fb = feed(d, bkey)
    assert fb["items"][0]["ref"] == W, fb["items"]
    joined = ok(d, bkey, "join 1")
    assert joined["project"] == W, joined
    assert member_role(d, b["id"]) is not None
    # a's latest feed: the claim first, the PR, then the other open issues.
    fa = feed(d, akey)
    assert [it["ref"] for it in fa["items"]] == \
        [f"{W}#{OPEN[1]}", f"{W}#{PR}", f"{W}#{OPEN[0]}", f"{W}#{OPEN[2]}"], fa["items"]
    assert [it["section"] for it in fa["items"]] == \
        ["claimed", "to_review", "open_issues", "open_issues"]
    det = act(d, akey, "details 1")
    assert_ok(det)
    assert TITLES[OPEN[1]] in det.json()["text"], det.json()
    # 5 was a number of an older feed of a's, not of its latest.
    err = assert_error(act(d, akey, "details 5"), 404, "not_found")
    assert "feed" in err["hint"], err


def test_claimed_issue_is_the_holders_alone(world):
    emu, d = world
    a, akey = member(d)
    b, bkey = member(d)
    c, ckey = d.new_agent(status="active")
    assert_ok(act(d, akey, f"work-on {W}#1"))
    fa = feed(d, akey)
    assert refs(fa, "claimed") == [f"{W}#1"], fa["items"]
    assert refs(fa, "open_issues") == [f"{W}#2", f"{W}#4"], fa["items"]
    assert fa["sections"]["claimed"] == {"shown": 1, "more": 0}, fa["sections"]
    fb = feed(d, bkey)
    assert refs(fb, "claimed") == [], fb["items"]
    assert refs(fb, "open_issues") == [f"{W}#2", f"{W}#4"], fb["items"]
    fc = feed(d, ckey)
    assert refs(fc, "claimed") == [] and refs(fc, "open_issues") == [], fc["items"]
    assert refs(fc, "projects") == [W], fc["items"]


def big_seed():
    """acme/widgets, acme/big with 13 open and 2 closed issues, 11 small
    projects and an archived one."""
    s = work_seed()
    s["repos"].append({
        "owner": "acme", "name": "big", "files": {"README.md": "# Big\n"},
        "issues": [{"title": f"Big issue {i:02d}", "poster": "alice", "body": f"number {i}",
                    "state": "closed" if i in (3, 7) else "open"} for i in range(1, 16)]})
    for i in range(11):
        s["repos"].append({"owner": "acme", "name": f"p{i:02d}",
                           "files": {"README.md": f"# p{i:02d}\n"}})
    return s


def test_feed_sections_are_capped_at_ten(gitea_factory, daemon):
    emu, d = start_world(gitea_factory, daemon, seed=big_seed())
    big_open = [i for i in range(1, 16) if i not in (3, 7)]     # 13
    # A newcomer: 13 projects (the archived one is not among them).
    _, nkey = d.new_agent(status="active")
    fn = feed(d, nkey)
    assert fn["sections"]["projects"] == {"shown": CAP, "more": 13 - CAP}, fn["sections"]
    assert fn["sections"]["open_issues"] == {"shown": 0, "more": 0}, fn["sections"]
    assert "acme/old" not in refs(fn, "projects")
    counts = {it["ref"]: it["open_issues"] for it in fn["items"]}
    for ref, want in ((W, len(OPEN)), ("acme/big", 13), ("acme/p00", 0)):
        if ref in counts:
            assert counts[ref] == want, (ref, counts)
    # A member of acme/big holding one of its later issues.
    a, akey = d.new_agent(status="active")
    assert_ok(act(d, akey, "join acme/big"))
    fa = feed(d, akey)
    assert refs(fa, "open_issues") == [f"acme/big#{i}" for i in big_open[:CAP]], fa["items"]
    assert fa["sections"]["open_issues"] == {"shown": CAP, "more": 3}, fa["sections"]
    assert fa["sections"]["projects"] == {"shown": CAP, "more": 12 - CAP}, fa["sections"]
    assert "acme/big" not in refs(fa, "projects")
    held = big_open[-1]
    assert_ok(act(d, akey, f"work-on acme/big#{held}"))
    fa = feed(d, akey)
    assert refs(fa, "claimed") == [f"acme/big#{held}"], fa["items"]
    assert refs(fa, "open_issues") == [f"acme/big#{i}" for i in big_open[:CAP]], fa["items"]
    assert fa["sections"]["open_issues"] == {"shown": CAP, "more": 2}, fa["sections"]
    assert len(fa["items"]) == 1 + CAP + CAP, fa["items"]
    # The last number works, one past it does not.
    last = len(fa["items"])
    assert_ok(act(d, akey, f"details {last}"))
    err = assert_error(act(d, akey, f"details {last + 1}"), 404, "not_found")
    assert "feed" in err["hint"], err


# -- references ---------------------------------------------------------------------

def test_details_of_an_issue_a_project_and_a_pull_request(ro):
    _, key = ro.new_agent(status="active")      # not a member: details need none
    r = act(ro, key, f"details {W}#1")
    data = assert_ok(r)
    assert BODY1 in r.json()["text"] and TITLES[1] in r.json()["text"], r.json()
    assert BODY1 in json.dumps(data), data
    r = act(ro, key, f"details {W}")
    data = assert_ok(r)
    assert W in r.json()["text"], r.json()
    assert "Widget library" in r.json()["text"] + json.dumps(data), r.json()
    r = act(ro, key, f"details {W}#{PR}")
    assert_ok(r)
    assert PR_TITLE in r.json()["text"], r.json()
    r = act(ro, key, f"details {W}#{CLOSED}")
    assert_ok(r)
    assert TITLES[CLOSED] in r.json()["text"], r.json()
    # By the number of the latest feed.
    f = feed(ro, key)
    r = act(ro, key, f"details {index_of(f, W)}")
    assert_ok(r)
    assert W in r.json()["text"], r.json()


@pytest.mark.parametrize("command,named", [
    (f"details {W}#99", f"{W}#99"),
    ("details acme/nothing", "acme/nothing"),
    ("details nobody/widgets#1", "nobody/widgets"),
    ("join acme/nothing", "acme/nothing"),
    (f"work-on {W}#99", f"{W}#99"),
    ("work-on nobody/widgets#1", "nobody/widgets"),
    # An owner may start with a digit: a name, not a feed number.
    ("details 42corp/app#3", "42corp/app"),
    ("join 7up/fizz", "7up/fizz"),
])
def test_unknown_references_are_not_found(ro, command, named):
    _, key = member(ro)
    err = assert_error(act(ro, key, command), 404, "not_found")
    assert named in err["message"], err


@pytest.mark.parametrize("command", ["details 1", "join 1", "work-on 1"])
def test_an_index_without_a_feed_is_not_found(ro, command):
    _, key = ro.new_agent(status="active")
    err = assert_error(act(ro, key, command), 404, "not_found")
    assert "feed" in err["hint"], err


@pytest.mark.parametrize("verb", ["details", "join", "work-on"])
def test_an_index_past_the_feed_is_not_found(ro, verb):
    data, key = ro.new_agent(status="active")
    assert len(feed(ro, key)["items"]) == 1
    err = assert_error(act(ro, key, f"{verb} 97"), 404, "not_found")
    assert "97" in err["message"], err
    assert "feed" in err["hint"], err
    assert member_role(ro, data["id"]) is None


# -- work-on refusals ------------------------------------------------------------------

def test_work_on_needs_membership(ro):
    data, key = ro.new_agent(status="active")
    err = assert_error(act(ro, key, f"work-on {W}#1"), 422, "not_a_member")
    assert f"join {W}" in err["hint"], err
    f = feed(ro, key)
    err = assert_error(act(ro, key, f"work-on {W}#2"), 422, "not_a_member")
    assert f"join {W}" in err["hint"], err
    assert holder(ro, 1) == "" and holder(ro, 2) == "" and claims_of(ro, data["id"]) == 0
    assert refs(f, "projects") == [W]


def test_work_on_a_closed_issue(ro):
    data, key = member(ro)
    assert_error(act(ro, key, f"work-on {W}#{CLOSED}"), 422, "issue_closed")
    assert claims_of(ro, data["id"]) == 0


def test_work_on_a_pull_request_is_a_bad_request(ro):
    data, key = member(ro)
    assert_error(act(ro, key, f"work-on {W}#{PR}"), 400, "bad_request")
    assert claims_of(ro, data["id"]) == 0


def test_status_of_an_idle_agent(ro):
    data, key = ro.new_agent(status="active")
    for verb in ("my-work", "status"):
        got = ok(ro, key, verb)
        assert got["agent"]["name"] == data["name"], got
        assert got["agent"]["elo"] == 1200, got
        assert got["claims"] == [], got


# -- join ------------------------------------------------------------------------------

def test_join_makes_a_gitea_collaborator_and_a_member(world):
    emu, d = world
    a, key = d.new_agent(status="active")
    assert a["name"] not in collaborators(emu)
    got = ok(d, key, f"join {W}")
    assert got["project"] == W and got["member"] is True, got
    assert isinstance(got["clone_url"], str) and got["clone_url"].endswith(f"/{W}.git"), got
    assert collaborators(emu).get(a["name"]) == "write", collaborators(emu)
    assert member_role(d, a["id"]) is not None
    # Again: no error, still one membership.
    again = ok(d, key, f"join {W}")
    assert again["project"] == W and again["member"] is True, again
    assert q1(d, f"SELECT count(*) FROM project_members WHERE agent_id = '{a['id']}'") == "1"
    assert collaborators(emu).get(a["name"]) == "write"


def test_join_an_archived_project(world):
    emu, d = world
    a, key = d.new_agent(status="active")
    n = index_of(feed(d, key), W)
    assert emu.patch(f"/repos/{W}", json={"archived": True}).status_code == 200
    admin_sync(d)
    assert q1(d, "SELECT archived FROM projects WHERE owner = 'acme' AND name = 'widgets'") == "t"
    assert_error(act(d, key, f"join {W}"), 422, "project_closed")
    assert_error(act(d, key, f"join {n}"), 422, "project_closed")     # the older feed's number
    assert member_role(d, a["id"]) is None
    assert a["name"] not in collaborators(emu)
    assert W not in refs(feed(d, key), "projects")


def test_join_a_deleted_project(world):
    emu, d = world
    a, key = d.new_agent(status="active")
    n = index_of(feed(d, key), W)
    assert emu.delete(f"/repos/{W}").status_code == 204
    admin_sync(d)
    assert q1(d, "SELECT deleted_at IS NOT NULL FROM projects"
                 " WHERE owner = 'acme' AND name = 'widgets'") == "t"
    assert_error(act(d, key, f"join {W}"), 422, "project_closed")
    assert_error(act(d, key, f"join {n}"), 422, "project_closed")
    assert q1(d, f"SELECT count(*) FROM project_members WHERE agent_id = '{a['id']}'") == "0"
    assert W not in refs(feed(d, key), "projects")


def test_join_while_gitea_is_down(world):
    emu, d = world
    a, key = d.new_agent(status="active")
    emu.faults("refuse", seconds=3)
    time.sleep(0.3)
    t0 = time.monotonic()
    err = assert_error(act(d, key, f"join {W}"), 502, "gitea_unavailable")
    assert err["hint"], err
    assert member_role(d, a["id"]) is None
    # Not a member as far as the agent can tell either.
    assert_error(act(d, key, f"work-on {W}#1"), 422, "not_a_member")
    time.sleep(max(0.0, 3.5 - (time.monotonic() - t0)))
    assert member_role(d, a["id"]) is None
    assert W in refs(feed(d, key), "projects")
    # Gitea back: joining works.
    deadline = time.monotonic() + 15
    while True:
        r = act(d, key, f"join {W}")
        if r.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    got = assert_ok(r)
    assert got["member"] is True, got
    assert member_role(d, a["id"]) is not None
    assert collaborators(emu).get(a["name"]) == "write"


# -- work-on -----------------------------------------------------------------------------

def test_work_on_claims_the_issue_and_assigns_it_in_gitea(world):
    emu, d = world
    a, key = member(d)
    got = ok(d, key, f"work-on {W}#1")
    assert got["issue"]["ref"] == f"{W}#1", got
    branch = got["branch"]
    assert holder(d, 1) == a["id"]
    wait_assignees(emu, 1, [a["name"]])
    # Again: the same answer, still one assignee.
    again = ok(d, key, f"work-on {W}#1")
    assert again["issue"]["ref"] == f"{W}#1" and again["branch"] == branch, again
    assert holder(d, 1) == a["id"] and claims_of(d, a["id"]) == 1
    time.sleep(1)
    assert gitea_assignees(emu, 1) == [a["name"]]
    # my-work and status say so.
    for verb in ("my-work", "status"):
        st = ok(d, key, verb)
        assert st["agent"]["name"] == a["name"] and st["agent"]["elo"] == 1200, st
        assert [(c["ref"], c["title"]) for c in st["claims"]] == [(f"{W}#1", TITLES[1])], st


def test_work_on_answers_what_to_work_on(world):
    """The answer: the issue (ref, title, body, url), where to clone, and
    a branch name with the issue's number."""
    emu, d = world
    _, key = member(d)
    got = ok(d, key, f"work-on {W}#1")
    issue = got["issue"]
    assert issue["ref"] == f"{W}#1" and issue["title"] == TITLES[1], got
    assert issue["body"] == BODY1, got
    assert got["clone_url"].endswith(f"/{W}.git"), got
    branch = got["branch"]
    assert re.search(r"(?<!\d)1(?!\d)", branch), got
    subprocess.run(["git", "check-ref-format", "--branch", branch], check=True,
                   capture_output=True)
    assert isinstance(issue.get("url"), str), f"no issue url in {got}"
    assert issue["url"].endswith(f"/{W}/issues/1"), got


def test_work_on_by_feed_index(world):
    emu, d = world
    a, key = member(d)
    f = feed(d, key)
    n = index_of(f, f"{W}#4")
    got = ok(d, key, f"work-on {n}")
    assert got["issue"]["ref"] == f"{W}#4" and got["issue"]["title"] == TITLES[4], got
    assert re.search(r"(?<!\d)4(?!\d)", got["branch"]), got
    assert holder(d, 4) == a["id"]
    wait_assignees(emu, 4, [a["name"]])


def test_an_issue_taken_names_its_holder(world):
    emu, d = world
    a, akey = member(d)
    b, bkey = member(d)
    assert_ok(act(d, akey, f"work-on {W}#1"))
    err = assert_error(act(d, bkey, f"work-on {W}#1"), 409, "issue_taken")
    assert a["name"] in err["message"], err
    # By b's feed number: #1 is not in it, #2 is.
    fb = feed(d, bkey)
    assert f"{W}#1" not in refs(fb, "open_issues")
    assert holder(d, 1) == a["id"] and claims_of(d, b["id"]) == 0
    wait_assignees(emu, 1, [a["name"]])


def test_claim_limit(world):
    emu, d = world
    a, key = member(d)
    assert_ok(act(d, key, f"work-on {W}#1"))
    assert_error(act(d, key, f"work-on {W}#2"), 409, "claim_limit")
    assert holder(d, 2) == "" and claims_of(d, a["id"]) == 1
    assert_ok(act(d, key, "abandon"))
    got = ok(d, key, f"work-on {W}#2")
    assert got["issue"]["ref"] == f"{W}#2", got
    assert holder(d, 1) == "" and holder(d, 2) == a["id"]


def test_claim_limit_follows_work_max_claims(gitea_factory, daemon):
    emu, d = start_world(gitea_factory, daemon, conf={"work.max_claims": 2})
    a, key = member(d)
    assert_ok(act(d, key, f"work-on {W}#1"))
    assert_ok(act(d, key, f"work-on {W}#2"))
    assert_error(act(d, key, f"work-on {W}#4"), 409, "claim_limit")
    assert holder(d, 4) == "" and claims_of(d, a["id"]) == 2
    st = ok(d, key, "status")
    assert sorted(c["ref"] for c in st["claims"]) == [f"{W}#1", f"{W}#2"], st
    f = feed(d, key)
    assert sorted(refs(f, "claimed")) == [f"{W}#1", f"{W}#2"], f["items"]
    wait_assignees(emu, 1, [a["name"]])
    wait_assignees(emu, 2, [a["name"]])
    got = ok(d, key, "abandon")
    assert sorted(got["released"]) == [f"{W}#1", f"{W}#2"], got
    assert claims_of(d, a["id"]) == 0
    wait_assignees(emu, 1, [])
    wait_assignees(emu, 2, [])


def test_one_agent_racing_itself_holds_one_issue(world):
    emu, d = world
    a, key = member(d)
    n = 20
    barrier = threading.Barrier(n)

    def one(i):
        barrier.wait(10)
        r = requests.post(d.base + "/api/v1/act", json={"command": f"work-on {W}#{1 + i % 2}"},
                          headers=d.agent_headers(key), timeout=30)
        return i, r.status_code, r.json()

    with ThreadPoolExecutor(n) as ex:
        answers = list(ex.map(one, range(n)))
    assert all(s < 500 for _, s, _ in answers), answers
    assert claims_of(d, a["id"]) == 1
    held = 1 if holder(d, 1) == a["id"] else 2
    for i, s, body in answers:
        if 1 + i % 2 == held:
            assert s == 200 and body["data"]["issue"]["ref"] == f"{W}#{held}", (i, s, body)
        else:
            assert s == 409 and body["error"]["code"] == "claim_limit", (i, s, body)
    wait_assignees(emu, held, [a["name"]])
    assert gitea_assignees(emu, 3 - held) == []


def race(d, agents, command):
    """Every agent sends command at once: [(agent id, status, body)]."""
    barrier = threading.Barrier(len(agents))

    def one(agent):
        barrier.wait(30)
        r = requests.post(d.base + "/api/v1/act", json={"command": command},
                          headers=d.agent_headers(agent[1]), timeout=60)
        try:
            body = r.json()
        except ValueError:
            body = r.text
        return agent[0]["id"], r.status_code, body

    with ThreadPoolExecutor(len(agents)) as ex:
        return list(ex.map(one, agents))


def test_fifty_agents_race_for_one_issue(world):
    """50 members claim #1 at once, then the 49 others #2, then the 48
    others #4: each time one wins, and every other is told who holds it.
    The winners abandon and it starts again, three times over."""
    emu, d = world
    with ThreadPoolExecutor(8) as ex:
        agents = list(ex.map(lambda _: member(d), range(50)))
    names = {a["id"]: a["name"] for a, _ in agents}
    keys = {a["id"]: k for a, k in agents}
    for cycle in range(3):
        won = {}
        for number in OPEN:
            racers = [a for a in agents if a[0]["id"] not in won.values()]
            answers = race(d, racers, f"work-on {W}#{number}")
            statuses = sorted(s for _, s, _ in answers)
            assert all(s < 500 for s in statuses), [a for a in answers if a[1] >= 500][:5]
            winners = [a for a in answers if a[1] == 200]
            assert len(winners) == 1, f"#{number}: {len(winners)} answers 200: {statuses}"
            wid = won[number] = winners[0][0]
            assert winners[0][2]["data"]["issue"]["ref"] == f"{W}#{number}", winners[0]
            wrong = [(s, body) for id, s, body in answers if id != wid and not (
                s == 409 and body["error"]["code"] == "issue_taken"
                and names[wid] in body["error"]["message"])]
            assert not wrong, (f"round {cycle + 1}: #{number} won by {names[wid]};"
                               f" {len(wrong)} of the {len(answers) - 1} others were"
                               f" told otherwise: {wrong[:3]}")
            assert holder(d, number) == wid
        assert q1(d, "SELECT count(*) FROM issues WHERE assigned_to IS NOT NULL") \
            == str(len(OPEN))
        if cycle < 2:
            for number, wid in won.items():
                got = ok(d, keys[wid], "abandon")
                assert got["released"] == [f"{W}#{number}"], got
    for number in OPEN:
        wait_assignees(emu, number, [names[won[number]]])


# -- abandon ---------------------------------------------------------------------------

def test_abandon_releases_the_claim_here_and_in_gitea(world):
    emu, d = world
    a, akey = member(d)
    b, bkey = member(d)
    assert_error(act(d, akey, "abandon"), 422, "nothing_claimed")
    assert_ok(act(d, akey, f"work-on {W}#1"))
    wait_assignees(emu, 1, [a["name"]])
    got = ok(d, akey, "abandon")
    assert got["released"] == [f"{W}#1"], got
    assert holder(d, 1) == ""
    wait_assignees(emu, 1, [])
    time.sleep(1)
    assert gitea_assignees(emu, 1) == [], "the assignee came back"
    assert ok(d, akey, "status")["claims"] == []
    assert_error(act(d, akey, "abandon"), 422, "nothing_claimed")
    # Free again: back in the feed, and another agent may take it.
    assert f"{W}#1" in refs(feed(d, bkey), "open_issues")
    assert f"{W}#1" in refs(feed(d, akey), "open_issues")
    assert_ok(act(d, bkey, f"work-on {W}#1"))
    assert holder(d, 1) == b["id"]
    wait_assignees(emu, 1, [b["name"]])
