"""The reconciliation with Gitea (issue 4): our tables converge on the
emulator's state, full then incremental; a quiet run costs Gitea calls in
proportion to repositories, not to issues; Gitea down or failing breaks
nothing; two daemons on one database never reconcile at once, and a run
cut short by SIGKILL is not left "running"."""

import copy
import random
import signal
import subprocess
import threading
import time

import pytest
import requests

from conftest import PG_BIN, assert_error, assert_ok, drain_daemons, wait_for
from emulator import DEFAULT_SEED, Emulator
from mirror_helpers import (admin_sync, settled, assert_mirrors, metrics, ours, post_hook, q_json,
                            sync_runs, wait_startup_sync, write_secret)

ORGS, REPOS_PER_ORG, ISSUES_PER_REPO, PULLS_PER_REPO = 3, 10, 10, 2
REPO_PAGE = 50          # the daemon's page size (Gitea's MAX_RESPONSE_ITEMS)
RNG_SEED = 4242


def big_seed():
    """DEFAULT_SEED plus ORGS organisations of REPOS_PER_ORG repositories,
    each with ISSUES_PER_REPO issues (some closed, some labelled) and
    PULLS_PER_REPO pull requests from branches of their own."""
    s = copy.deepcopy(DEFAULT_SEED)
    for o in range(ORGS):
        org = f"org{o}"
        s["orgs"].append({"login": org, "full_name": f"Org {o}", "owners": ["alice"]})
        for r in range(REPOS_PER_ORG):
            s["repos"].append({
                "owner": org, "name": f"repo{r}", "files": {"README.md": f"# {org}/repo{r}\n"},
                "labels": [{"name": "bug"}, {"name": "feature"}],
                "issues": [{"title": f"Issue {i} of {org}/repo{r}", "poster": "alice",
                            "body": "seeded",
                            "labels": ["bug"] if i % 3 == 0 else ["feature", "bug"] if i % 5 == 0 else [],
                            "state": "closed" if i % 4 == 1 else "open"}
                           for i in range(ISSUES_PER_REPO)],
                "branches": {f"feat{p}": {"files": {f"feat{p}.txt": f"feature {p}\n"},
                                          "author": "alice"} for p in range(PULLS_PER_REPO)},
                "pulls": [{"title": f"Feature {p}", "poster": "alice", "head": f"feat{p}"}
                          for p in range(PULLS_PER_REPO)],
            })
    return s


@pytest.fixture(scope="module")
def big():
    emu = Emulator(seed=big_seed())
    yield emu
    emu.stop()


@pytest.fixture(scope="module")
def md(daemon_module, big):
    d = daemon_module(conf={"gitea.url": big.url, "sync.interval": "1h"})
    wait_startup_sync(d)
    return d


@pytest.fixture(scope="module")
def agents(md):
    """Two approved agents (Gitea users of the big emulator): logins."""
    return [md.new_agent(status="active")[0]["name"] for _ in range(2)]




def test_full_sync_mirrors_every_repo_issue_and_pull(md, big):
    runs = sync_runs(md)
    assert len(runs) == 1 and runs[0]["outcome"] == "ok", runs
    st = big.state()
    n_repos, n_items = len(st["repos"]), len(st["issues"]) + len(st["pulls"])
    assert n_repos == ORGS * REPOS_PER_ORG + 1 and len(st["pulls"]) == ORGS * REPOS_PER_ORG * PULLS_PER_REPO
    assert runs[0]["projects"] == n_repos and runs[0]["items"] == n_items, runs
    assert_mirrors(md, st)
    # A full run reads every PR's details and reviews: 2 calls per PR on
    # top of the listing and the collaborators of each repository.
    full = runs[0]["gitea_calls"]
    assert full >= 1 + 2 * n_repos + 2 * len(st["pulls"]), runs
    m = metrics(md)
    assert m["synstack_sync_gitea_calls"] == full, m
    assert 0 <= m["synstack_sync_lag_seconds"] < 60, m
    print(f"\nfull reconciliation: {n_repos} repos, {len(st['issues'])} issues,"
          f" {len(st['pulls'])} PRs -> {full} Gitea calls")


def pages(n):
    return max(1, -(-n // REPO_PAGE))


def expected_quiet_calls(st):
    """What a quiet run must cost: the repository listing, and per
    repository the collaborators and the issues listing since the cursor,
    which lists nothing.  Nothing per issue or per PR."""
    return pages(len(st["repos"])) + 2 * len(st["repos"])


def settle(d):
    """A second read before Gitea's clock had left it behind is listed,
    and its PRs read, again by the next sync (Gitea's times have whole
    seconds): let 2 s pass and run that sync, so that the one measured
    next is truly quiet."""
    time.sleep(2.2)
    admin_sync(d)


def assert_quiet(data, st):
    want = expected_quiet_calls(st)
    # + 1: the health probe (every 10 s) counts too when it falls inside.
    assert want <= data["gitea_calls"] <= want + 1, (data, want)
    assert data["items"] == 0, data


def test_quiet_sync_costs_calls_per_repo_not_per_issue(md, big):
    before = ours(md)
    st = big.state()
    settle(md)
    data = admin_sync(md)
    assert data["ran"] is True and data["projects"] == len(st["repos"]), data
    assert_quiet(data, st)
    run = sync_runs(md)[-1]
    assert run["outcome"] == "ok" and run["gitea_calls"] == data["gitea_calls"], run
    assert ours(md) == before
    print(f"\nquiet reconciliation: {len(st['repos'])} repos, {len(st['issues'])} issues,"
          f" {len(st['pulls'])} PRs -> {data['gitea_calls']} Gitea calls,"
          f" {data['items']} items")


def random_changes(emu, agents, rng):
    """Changes made while no webhook is delivered; returns what was done."""
    st = emu.state()
    emu.webhooks(mode="off")
    done = {"deleted": None, "archived": None, "new_repo": None}
    repos = [r["full_name"] for r in st["repos"] if r["owner"].startswith("org")]
    open_issues = [i for i in st["issues"] if i["state"] == "open" and i["repo"] in repos]
    closed_issues = [i for i in st["issues"] if i["state"] == "closed" and i["repo"] in repos]
    open_pulls = [p for p in st["pulls"] if p["state"] == "open" and p["repo"] in repos]
    rng.shuffle(open_issues)
    rng.shuffle(open_pulls)

    def ok(r, status=(200, 201, 204)):
        assert r.status_code in status, (r.status_code, r.text)
        return r

    # New issues, some labelled, some assigned to an agent.
    for k in range(12):
        repo = rng.choice(repos)
        ok(emu.post(f"/repos/{repo}/issues", json={
            "title": f"New issue {k}", "body": "found later",
            "labels": ["bug"] if k % 2 else [],
            "assignees": [agents[0]] if k % 4 == 0 else []}))
    for i in open_issues[:15]:
        ok(emu.patch(f"/repos/{i['repo']}/issues/{i['number']}", json={"state": "closed"}))
    for i in closed_issues[:3]:
        ok(emu.patch(f"/repos/{i['repo']}/issues/{i['number']}", json={"state": "open"}))
    for i in open_issues[15:25]:
        ok(emu.patch(f"/repos/{i['repo']}/issues/{i['number']}",
                     json={"title": i["title"] + " (edited)"}))
    for i in open_issues[25:28]:
        ok(emu.patch(f"/repos/{i['repo']}/issues/{i['number']}", json={"assignees": [agents[1]]}))
    # New PRs from new branches.
    for k in range(6):
        repo = rng.choice(repos)
        branch = f"late{k}"
        emu.commit(repo, branch, {f"late{k}.txt": f"late {k}\n"}, author="alice")
        ok(emu.post(f"/repos/{repo}/pulls", json={"head": branch, "base": "main",
                                                   "title": f"Late feature {k}"}))
    # Merges, closes, pushes to PR branches, reviews by agents.
    for k, p in enumerate(open_pulls[:5]):
        # Some delete their branch: the PR keeps its branch's name.
        ok(emu.post(f"/repos/{p['repo']}/pulls/{p['number']}/merge",
                    json={"Do": "merge", "delete_branch_after_merge": k % 2 == 0}))
    for p in open_pulls[5:7]:
        ok(emu.patch(f"/repos/{p['repo']}/issues/{p['number']}", json={"state": "closed"}))
    # Closed and reopened between two runs: open again.
    ok(emu.patch(f"/repos/{open_pulls[13]['repo']}/issues/{open_pulls[13]['number']}",
                 json={"state": "closed"}))
    ok(emu.patch(f"/repos/{open_pulls[13]['repo']}/issues/{open_pulls[13]['number']}",
                 json={"state": "open"}))
    for p in open_pulls[7:10]:
        emu.commit(p["repo"], p["head"], {"more.txt": f"more for #{p['number']}\n"}, author="alice")
    for p, who, event, body in ((open_pulls[10], agents[0], "APPROVED", "looks right"),
                                (open_pulls[11], agents[1], "COMMENT", "a remark"),
                                (open_pulls[12], agents[0], "REQUEST_CHANGES", "not yet")):
        # Only a member's review counts: the reviewer is a collaborator.
        ok(emu.put(f"/repos/{p['repo']}/collaborators/{who}", json={"permission": "write"}))
        ok(emu.post(f"/repos/{p['repo']}/pulls/{p['number']}/reviews",
                    json={"event": event, "body": body}, sudo=who))
    # Collaborators: agents join some repositories.
    for repo in repos[:3]:
        ok(emu.put(f"/repos/{repo}/collaborators/{agents[0]}", json={"permission": "write"}))
    ok(emu.put(f"/repos/{repos[3]}/collaborators/{agents[1]}", json={"permission": "read"}))
    # A new repository with issues, a deleted one, an archived one.
    # A new repository with more issues than a page, a deleted one, an
    # archived one, and one deleted and made again under the same name.
    ok(emu.post("/orgs/org1/repos", json={"name": "newcomer", "auto_init": True}))
    for k in range(REPO_PAGE + 13):
        ok(emu.post("/repos/org1/newcomer/issues", json={"title": f"Newcomer issue {k}"}))
    done["new_repo"] = "org1/newcomer"
    victim, archived, reborn = repos[-1], repos[-2], repos[-3]
    ok(emu.delete(f"/repos/{victim}"))
    ok(emu.patch(f"/repos/{archived}", json={"archived": True}))
    ok(emu.delete(f"/repos/{reborn}"))
    owner, name = reborn.split("/")
    ok(emu.post(f"/orgs/{owner}/repos", json={"name": name, "auto_init": True}))
    ok(emu.post(f"/repos/{reborn}/issues", json={"title": "First issue of the new one"}))
    done["deleted"], done["archived"], done["reborn"] = victim, archived, reborn
    return done


def test_changes_while_webhooks_are_off_converge_in_one_sync(md, big, agents):
    rng = random.Random(RNG_SEED)
    done = random_changes(big, agents, rng)
    st = big.state()
    assert not any(d["outcome"] == "delivered" for d in big.deliveries())
    data = admin_sync(md)
    assert data["ran"] is True, data
    o = assert_mirrors(md, st, agents)
    assert o["deleted"] == sorted([done["deleted"], done["reborn"]]), o["deleted"]
    assert (done["archived"], True) in o["repos"] and (done["reborn"], False) in o["repos"]
    assert (done["new_repo"], False) in o["repos"]
    assert len([i for i in o["issues"] if i[0] == done["new_repo"]]) == REPO_PAGE + 13
    # The agents' reviews and memberships came with it.
    assert len(o["reviews"]) == 3 and len(o["members"]) >= 4, (o["reviews"], o["members"])
    print(f"\nreconciliation after random changes: {len(st['repos'])} repos ->"
          f" {data['gitea_calls']} Gitea calls, {data['items']} items")
    # And the next one is quiet again.
    settle(md)
    again = admin_sync(md)
    assert_quiet(again, st)
    assert_mirrors(md, st, agents)
    print(f"quiet reconciliation after that: {again['gitea_calls']} Gitea calls"
          f" (expected {expected_quiet_calls(st)})")
    # An agent no longer a collaborator is no longer a member.
    gone = o["members"][0]
    assert big.delete(f"/repos/{gone[0]}/collaborators/{gone[1]}").status_code == 204
    admin_sync(md)
    assert gone not in ours(md)["members"]
    assert_mirrors(md, big.state(), agents)


def test_owners_limit_the_mirror_to_their_repositories(daemon, big):
    d = daemon(conf={"gitea.url": big.url, "sync.interval": "1h",
                     "gitea.owners": ["org0", "org2"]})
    runs = wait_startup_sync(d)
    assert runs[0]["outcome"] == "ok", runs
    st = big.state()
    mine = {r["full_name"] for r in st["repos"] if r["owner"] in ("org0", "org2")}
    st["repos"] = [r for r in st["repos"] if r["full_name"] in mine]
    st["issues"] = [i for i in st["issues"] if i["repo"] in mine]
    st["pulls"] = [p for p in st["pulls"] if p["repo"] in mine]
    assert_mirrors(d, st, keys=("repos", "issues", "pulls"))
    # Quiet again: one listing per owner, two calls per repository.
    data = admin_sync(d)
    want = expected_quiet_calls(st) - pages(len(mine)) + 2
    assert data["projects"] == len(mine) and want <= data["gitea_calls"] <= want + 1, data


# -- Gitea down, or failing ----------------------------------------------------

def healthz(d):
    r = d.get("/healthz")
    return r.status_code, r.json()


def issue_delivery(repo_id, issue_id, number, title, updated, repo="ghost"):
    """A minimal issues/opened body with the fields the daemon reads."""
    owner = {"id": 3, "login": "acme"}
    return {"action": "opened", "number": number,
            "issue": {"id": issue_id, "number": number, "title": title, "body": "",
                      "state": "open", "labels": [], "assignees": None,
                      "user": {"login": "alice"}, "updated_at": updated,
                      "closed_at": None, "pull_request": None},
            "repository": {"id": repo_id, "name": repo, "owner": owner,
                           "full_name": "acme/" + repo, "default_branch": "main",
                           "archived": False, "updated_at": updated},
            "sender": {"login": "alice"}}


def test_gitea_refusing_then_failing_then_back(daemon, gitea_factory, tmp_path):
    emu = gitea_factory()
    secret_file, secret = write_secret(tmp_path)
    emu.faults("refuse", seconds=6)
    time.sleep(0.4)
    with pytest.raises(requests.ConnectionError):
        requests.get(emu.url + "/api/v1/version", timeout=1)
    started = time.monotonic()
    d = daemon(conf={"gitea.url": emu.url, "sync.interval": "1h",
                     "gitea.webhook_secret_file": secret_file})
    # The first probe ran before serving: degraded, but serving.
    status, h = healthz(d)
    assert status == 200 and h["status"] == "degraded" and h["gitea"]["ok"] is False, h
    assert metrics(d)["synstack_gitea_up"] == 0
    runs = wait_startup_sync(d)
    assert runs[0]["outcome"] == "failed" and runs[0]["error"], runs
    r = d.admin_post("/api/v1/admin/sync")
    assert_error(r, 502, "gitea_unavailable")
    assert sync_runs(d)[-1]["outcome"] == "failed"
    # A delivery of a repository we do not have is confirmed with Gitea
    # before anything is made of it: with Gitea away, it is acknowledged
    # (stored) and nothing is made of it; it waits to be tried again.
    r = post_hook(d, issue_delivery(424242, 990001, 99, "Filed while Gitea was down",
                                    "2030-01-01T00:00:00Z"), "issues", secret)
    assert settled(d, r) == "received"
    assert q_json(d, "SELECT (SELECT count(*) FROM issues WHERE gitea_issue_id = 990001) AS issues,"
                     " (SELECT count(*) FROM projects WHERE name = 'ghost') AS projects,"
                     " attempts, processed_at IS NULL AS waiting,"
                     " position('Gitea' in error) > 0 AS why"
                     " FROM webhook_deliveries") == \
        [{"issues": 0, "projects": 0, "attempts": 1, "waiting": True, "why": True}]
    assert metrics(d)["synstack_webhook_queue_depth"] == 1

    # Gitea is back: a sync succeeds and mirrors it.
    def back():
        try:
            return requests.get(emu.url + "/api/v1/version", timeout=1).status_code == 200
        except requests.ConnectionError:
            return False
    wait_for(back, timeout=10, what="the emulator back")
    data = admin_sync(d)
    assert data["ran"] is True and data["projects"] == 1, data
    o = assert_mirrors(d, emu.state(), keys=("repos", "issues", "pulls"))
    assert o["deleted"] == [], o

    # Gitea answering 500 for a while.
    failures = metrics(d)["synstack_gitea_failures_total"]
    repo = emu.get("/repos/acme/widgets").json()
    issue = emu.get("/repos/acme/widgets/issues/1").json()
    emu.faults("500", seconds=2)
    r = d.admin_post("/api/v1/admin/sync")
    assert_error(r, 502, "gitea_unavailable")
    assert metrics(d)["synstack_gitea_failures_total"] > failures
    assert sync_runs(d)[-1]["outcome"] == "failed"
    # What we have, told of as strictly newer, needs no Gitea: applied.
    issue.update(title="Edited while Gitea failed", updated_at="2030-01-01T00:00:00Z")
    r = post_hook(d, {"action": "edited", "number": 1, "issue": issue, "repository": repo,
                      "sender": {"login": "alice"}}, "issues", secret)
    assert settled(d, r) == "applied"
    assert d.psql("SELECT title FROM issues WHERE number = 1") == [["Edited while Gitea failed"]]
    time.sleep(2.1)
    assert admin_sync(d)["ran"] is True
    assert sync_runs(d)[-1]["outcome"] == "ok"
    # The health probe (every 10 s, after two at start) sees it again.
    wait_for(lambda: healthz(d)[1]["gitea"]["ok"], timeout=max(1, 15 - (time.monotonic() - started)),
             interval=0.25, what="/healthz to see Gitea again")
    assert healthz(d)[1]["status"] == "ok"
    assert metrics(d)["synstack_gitea_up"] == 1
    assert d.alive()


# -- two daemons, one database ----------------------------------------------------

def small_seed(n=6):
    s = copy.deepcopy(DEFAULT_SEED)
    for k in range(n):
        s["repos"].append({"owner": "acme", "name": f"tool{k}",
                           "issues": [{"title": f"Tool {k} issue {i}", "poster": "alice"}
                                      for i in range(3)]})
    return s


def overlapping(runs):
    done = [r for r in runs if r["finished"] is not None]
    for i, a in enumerate(done):
        for b in done[i + 1:]:
            if a["started"] < b["finished"] and b["started"] < a["finished"]:
                return (a, b)
    return None


class TableLock:
    """A session holding an exclusive lock on a table until released."""

    def __init__(self, d, table):
        pg = d.pg
        self.proc = subprocess.Popen(
            [str(PG_BIN / "psql"), "-XAtq", "-h", pg.host, "-p", str(pg.port), "-U", "postgres",
             "-d", d.db], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.proc.stdin.write(f"BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE;"
                              " SELECT 'locked';\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "locked"

    def release(self):
        self.proc.communicate("ROLLBACK;\n", timeout=30)


def test_a_run_cut_short_by_sigkill_does_not_stay_running(daemon, gitea_factory):
    """sync_runs says what happened: a run whose daemon was killed is not
    "running" for ever once a daemon is back on the database."""
    emu = gitea_factory(seed=small_seed())
    conf = {"gitea.url": emu.url, "sync.interval": "1h"}
    d = daemon(conf=conf)
    wait_startup_sync(d)
    # The run stops at its first write to projects, Gitea's answer read.
    lock = TableLock(d, "projects")

    def sync():
        try:
            requests.post(d.base + "/api/v1/admin/sync", headers=d.admin_headers(), timeout=30)
        except requests.RequestException:
            pass

    t = threading.Thread(target=sync)
    t.start()
    wait_for(lambda: [r for r in sync_runs(d) if r["outcome"] == "running"], timeout=5,
             interval=0.02, what="the run to start")
    time.sleep(0.2)
    d.expected_exit = True
    d.signal(signal.SIGKILL)
    t.join()
    lock.release()
    d2 = daemon(db=d.db, conf=conf)
    assert admin_sync(d2)["ran"] is True
    runs = sync_runs(d2)
    assert runs[-1]["outcome"] == "ok", runs
    stuck = [r for r in runs if r["outcome"] == "running"]
    assert not stuck, f"runs 'running' for ever: {stuck}"


def test_two_daemons_never_reconcile_at_once(daemon, gitea_factory):
    emu = gitea_factory(seed=small_seed())
    conf = {"gitea.url": emu.url, "sync.interval": "1h"}
    d1 = daemon(conf=conf)
    d2 = daemon(db=d1.db, conf=conf)
    wait_startup_sync(d1)
    wait_for(lambda: not [r for r in sync_runs(d1) if r["outcome"] == "running"], timeout=20,
             what="no reconciliation running")

    # A slow Gitea makes one run last: the other daemon must not start one.
    emu.faults("stall", seconds=3, stall=0.12)
    results = {}

    def go(key, d):
        results[key] = d.admin_post("/api/v1/admin/sync", timeout=30)

    a = threading.Thread(target=go, args=("a", d1))
    a.start()
    wait_for(lambda: [r for r in sync_runs(d1) if r["outcome"] == "running"], timeout=5,
             interval=0.02, what="the first run to start")
    t = time.monotonic()
    go("b", d2)
    go("c", d1)
    quick = time.monotonic() - t
    a.join()
    assert assert_ok(results["a"])["ran"] is True
    assert assert_ok(results["b"])["ran"] is False
    assert assert_ok(results["c"])["ran"] is False
    assert quick < 1.0, f"ran:false took {quick:.2f}s: it must not wait for the lock"
    time.sleep(max(0, 3.1 - (time.monotonic() - t)))

    # Both at once, several times over: never two at a time.
    peak = [0]
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            n = len([r for r in sync_runs(d1) if r["outcome"] == "running"])
            peak[0] = max(peak[0], n)
            time.sleep(0.01)

    w = threading.Thread(target=watch)
    w.start()
    barrier = threading.Barrier(6)
    answers = []

    def burst(d):
        for _ in range(3):
            barrier.wait()
            answers.append(d.admin_post("/api/v1/admin/sync", timeout=30))

    threads = [threading.Thread(target=burst, args=(d,)) for d in (d1, d2, d1, d2, d1, d2)]
    for x in threads:
        x.start()
    for x in threads:
        x.join()
    stop.set()
    w.join()
    ran = [assert_ok(r)["ran"] for r in answers]
    assert len(ran) == 18 and True in ran and False in ran, ran
    runs = sync_runs(d1)
    assert all(r["outcome"] == "ok" for r in runs[1:]), runs
    assert overlapping(runs) is None, overlapping(runs)
    assert peak[0] <= 1, peak
    assert d1.alive() and d2.alive()
