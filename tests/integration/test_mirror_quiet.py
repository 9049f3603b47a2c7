"""A quiet reconciliation (issue 12, item 3): 1 + 2 x repositories Gitea
calls and nothing listed again, even where many items share a
repository's newest second; and a change made in a second the run has
already read is still picked up by the next run.

Gitea's `since` is inclusive and has whole seconds, so a cursor at the
newest updated_at seen lists that second again on every run.  The daemon
keeps its cursor a second behind the Date of the answer Gitea sent just
before the listing: a second is left behind only once it is complete by
Gitea's own clock.  The emulator runs on this machine's clock, so the
tests wait on time.time() for Gitea's seconds to pass."""

import calendar
import copy
import time
import urllib.parse

import pytest

from emulator import DEFAULT_SEED
from mirror_helpers import admin_sync, assert_mirrors, q_json, sync_runs, wait_startup_sync

W = "acme/widgets"


def seed(repos):
    """DEFAULT_SEED (acme/widgets: two issues) and repos - 1 more
    repositories, each with four issues and a PR."""
    s = copy.deepcopy(DEFAULT_SEED)
    for k in range(repos - 1):
        s["repos"].append({
            "owner": "acme", "name": f"tool{k}", "files": {"README.md": f"# tool{k}\n"},
            "branches": {"feat": {"files": {"feat.txt": f"feature of tool{k}\n"},
                                  "author": "alice"}},
            "issues": [{"title": f"Tool {k} issue {i}", "poster": "alice"} for i in range(4)],
            "pulls": [{"title": f"Tool {k} feature", "poster": "alice", "head": "feat"}]})
    return s


def world(daemon, gitea_factory, repos):
    emu = gitea_factory(seed=seed(repos))
    d = daemon(conf={"gitea.url": emu.url, "sync.interval": "1h"})
    runs = wait_startup_sync(d)
    assert runs[0]["outcome"] == "ok" and runs[0]["projects"] == repos, runs
    return emu, d


def second_of(stamp):
    """Unix second of one of Gitea's times ("...Z", whole seconds)."""
    return calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ"))


def at_a_second_start():
    """Wait for a fresh second, so that a few quick changes share it."""
    time.sleep(1 - time.time() % 1 + 0.01)


def complete(second):
    """Wait until Gitea's clock shows second + 2: the daemon's cursor,
    a second behind the Date, is then past it."""
    time.sleep(max(0.0, second + 2 + 0.05 - time.time()))


def newest(emu):
    """Per repository: its newest updated_at second and how many of its
    items (issues and PRs) share it."""
    items = emu.state()
    out = {}
    for i in items["issues"] + items["pulls"]:
        s = second_of(i["updated_at"])
        top, n = out.get(i["repo"], (0, 0))
        out[i["repo"]] = (s, 1) if s > top else (top, n + (s == top))
    return out


def calls(emu):
    """The API requests of a run as the emulator logged them; GET
    /version is the daemon's health probe (every 10 s), not the run's."""
    return [(x["method"], x["path"]) for x in emu.requests()
            if x["path"].split("?")[0] != "/api/v1/version"]


def assert_quiet_run(d, emu, repos, after):
    """One run: nothing changed, and 1 + 2 x repositories calls: the
    repository listing, then per repository its collaborators and its
    issues since a cursor past every item's second."""
    emu.requests(clear=True)
    data = admin_sync(d)
    got = calls(emu)
    want = 1 + 2 * repos
    assert data["ran"] is True and data["projects"] == repos, data
    assert data["items"] == 0, (data, got)
    assert len(got) == want, got
    # + 1: a health probe may fall inside the run's count.
    assert want <= data["gitea_calls"] <= want + 1, data
    paths = [urllib.parse.urlsplit(p) for _, p in got]
    assert all(m == "GET" for m, _ in got), got
    assert [p.path for p in paths].count("/api/v1/repos/search") == 1, got
    assert len([p for p in paths if p.path.endswith("/collaborators")]) == repos, got
    listings = [p for p in paths if p.path.endswith("/issues")]
    assert len(listings) == repos, got
    for p in listings:
        repo = "/".join(p.path.split("/")[4:6])
        since = urllib.parse.parse_qs(p.query)["since"][0]
        assert second_of(since) > after[repo][0], (repo, since, after[repo])
    run = sync_runs(d)[-1]
    assert run["outcome"] == "ok" and run["items"] == 0, run
    return data


def test_quiet_runs_list_nothing_again_where_items_share_the_newest_second(daemon,
                                                                          gitea_factory):
    repos = 5
    emu, d = world(daemon, gitea_factory, repos)
    # Several items of every repository changed within one second.
    st = emu.state()
    for attempt in range(5):
        at_a_second_start()
        for i in st["issues"] + st["pulls"]:
            r = emu.patch(f"/repos/{i['repo']}/issues/{i['number']}",
                          json={"title": f"{i['title']} ({attempt})"})
            assert r.status_code == 201, r.text
        after = newest(emu)
        if all(n >= 2 for _, n in after.values()):
            break
    else:
        pytest.fail(f"no burst of changes within one second: {after}")
    assert len(after) == repos, after
    complete(max(s for s, _ in after.values()))
    # The run that reads them; then quiet runs.
    first = admin_sync(d)
    assert first["items"] >= sum(n for _, n in after.values()), first
    assert_mirrors(d, emu.state(), keys=("repos", "issues", "pulls"))
    for _ in range(2):
        assert_quiet_run(d, emu, repos, after)
    assert_mirrors(d, emu.state(), keys=("repos", "issues", "pulls"))


def titles(d):
    rows = q_json(d, "SELECT 'issue' AS kind, i.title FROM issues i JOIN projects p"
                     " ON p.id = i.project_id WHERE p.name = 'tool0' AND i.number = 1"
                     " UNION ALL SELECT 'pull', r.title FROM pull_requests r"
                     " JOIN projects p ON p.id = r.project_id WHERE p.name = 'tool0'")
    return {r["kind"]: r["title"] for r in rows}


def test_a_change_in_a_second_already_read_is_picked_up_by_the_next_run(daemon,
                                                                        gitea_factory):
    repos = 2
    emu, d = world(daemon, gitea_factory, repos)
    pr = [p for p in emu.state()["pulls"] if p["repo"] == "acme/tool0"][0]["number"]

    def change(label):
        a = emu.patch("/repos/acme/tool0/issues/1", json={"title": f"issue {label}"})
        b = emu.patch(f"/repos/acme/tool0/pulls/{pr}", json={"title": f"pull {label}"})
        assert a.status_code == 201 and b.status_code == 201, (a.text, b.text)
        return {a.json()["updated_at"], b.json()["updated_at"]}

    # An issue and a PR change, a run reads them, and they change again,
    # all within one second of Gitea's: the second change carries the
    # same updated_at as the first.
    for attempt in range(10):
        at_a_second_start()
        read = change(f"read {attempt}")
        admin_sync(d)
        assert titles(d) == {"issue": f"issue read {attempt}",
                             "pull": f"pull read {attempt}"}
        later = change(f"later {attempt}")
        if later == read and len(read) == 1:
            break
    else:
        pytest.fail("no run and change within one second of Gitea's")
    # Not lost: the next run lists that second again, and reads the PR
    # again (its second was not complete when the run read it).
    admin_sync(d)
    assert titles(d) == {"issue": f"issue later {attempt}", "pull": f"pull later {attempt}"}
    assert_mirrors(d, emu.state(), keys=("repos", "issues", "pulls"))
    # Once that second is complete and read, the runs are quiet again.
    second = second_of(read.pop())
    complete(second)
    admin_sync(d)
    assert_quiet_run(d, emu, repos, newest(emu))
    assert titles(d) == {"issue": f"issue later {attempt}", "pull": f"pull later {attempt}"}
