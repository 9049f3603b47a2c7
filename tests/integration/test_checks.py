"""Agents merge only what CI passed (issue 13): the checks of a PR's head
(Gitea's commit statuses) in the merge rule, `required_checks`, read from
Gitea when a merge is decided; auto-merge waits for pending checks and
merges when they turn green; `merge` and the admin merge refuse red ones;
the feed and `pr` show them; Gitea's status webhook.

Real PostgreSQL, the Gitea emulator with real git (test_work.py's seed),
webhooks on.  A test "CI" posts statuses on heads through Gitea's API.
"""

import os
import threading
import time

from conftest import assert_error, assert_ok, wait_for
from test_loop import Agent, hooked_world, policy_put, push_more, work_and_submit
from test_mcp import call, post_mcp, rpc_answer
from test_review import gitea_pulls, review
from test_work import PR, W, act, feed, ok, refs

URL = "https://ci.example.invalid/run"


def post_status(emu, sha, state, context="ci/build", url=None):
    """What CI does: a status on a commit, through Gitea's API."""
    r = emu.post(f"/repos/{W}/statuses/{sha}",
                 json={"state": state, "context": context, "description": f"{context} {state}",
                       "target_url": url if url is not None else f"{URL}/{context}/{sha[:7]}"})
    assert r.status_code == 201, r.text
    return r.json()


def merged_in_gitea(emu, number):
    return next(p for p in gitea_pulls(emu) if p["number"] == number)["merged"]


def checks_here(d, sha):
    """commit_checks rows of a head: {context: state}."""
    return {c: s for c, s in d.psql(f"SELECT context, state FROM commit_checks"
                                     f" WHERE sha = '{sha}'")}


def submitted(gitea_factory, daemon, tmp_path, conf=None, issue=1):
    """A world with webhooks, an author A who submitted a PR for issue, a
    reviewer B: (emu, d, a, b, number, branch, head)."""
    emu, d, _, _ = hooked_world(gitea_factory, daemon, tmp_path, conf=conf)
    a, b = Agent(d), Agent(d)
    number, branch, head = work_and_submit(d, emu, tmp_path, a, issue)
    return emu, d, a, b, number, branch, head


def merge(d, who, number):
    return act(d, who.key, f"merge {W}#{number}")


def test_pending_checks_hold_the_auto_merge_until_they_pass(gitea_factory, daemon, tmp_path):
    emu, d, a, b, number, _, head = submitted(gitea_factory, daemon, tmp_path)
    post_status(emu, head, "pending")
    got = review(d, b.key, f"review approve {W}#{number}")
    assert got["review_status"] == "approved" and got["merged"] is False, got
    # The background pass tries it again: the checks still pend.
    time.sleep(2.5)
    assert merged_in_gitea(emu, number) is False
    data = ok(d, a.key, f"pr {W}#{number}")
    assert data["checks_verdict"] == "pending", data
    assert [(c["context"], c["state"], c["required"]) for c in data["checks"]] == \
        [("ci/build", "pending", True)], data["checks"]
    assert "Checks pending: ci/build" in act(d, a.key, f"pr {W}#{number}").json()["text"]
    # Green: Gitea's status webhook makes it due, and it merges.
    post_status(emu, head, "success")
    wait_for(lambda: merged_in_gitea(emu, number), timeout=15,
             what="the auto-merge once the checks passed")
    assert checks_here(d, head) == {"ci/build": "success"}
    # The status deliveries came, and were applied.
    kinds = [x["event_type"] for x in emu.deliveries() if x["event_type"] == "status"]
    assert kinds == ["status", "status"], kinds


def test_failed_checks_refuse_the_merge_show_in_the_feed_and_a_green_fix_merges(
        gitea_factory, daemon, tmp_path):
    emu, d, a, b, number, branch, head = submitted(gitea_factory, daemon, tmp_path,
                                                   conf={"work.auto_merge": False})
    c = Agent(d)            # a reviewer-to-be, for the reviewers' view
    other, _, _ = work_and_submit(d, emu, tmp_path, Agent(d), 2)
    post_status(emu, head, "success", context="lint")
    post_status(emu, head, "failure", context="ci/test", url=f"{URL}/42")
    review(d, b.key, f"review approve {W}#{number}")
    err = assert_error(merge(d, a, number), 422, "checks_failed")
    assert "ci/test failure" in err["message"] and f"{URL}/42" in err["message"], err
    assert "lint" not in err["message"] and "push" in err["hint"], err
    assert merged_in_gitea(emu, number) is False
    # The author's feed: the new review says the checks failed too; once
    # told, the PR is work to do, with the context and its link.
    fa = feed(d, a.key)
    item = [it for it in fa["items"] if it["ref"] == f"{W}#{number}"]
    assert [it["section"] for it in item] == ["reviewed"], fa["items"]
    assert "checks failed: ci/test failure" in item[0]["note"], item
    fa = feed(d, a.key)
    item = [it for it in fa["items"] if it["section"] == "checks_failed"]
    assert [it["ref"] for it in item] == [f"{W}#{number}"], fa["items"]
    assert "ci/test failure" in item[0]["note"] and f"{URL}/42" in item[0]["note"], item
    assert "pr <n>" in act(d, a.key, "feed").json()["next"]
    # A reviewer sees it marked, after the PRs whose checks are fine,
    # though it is older than one of them.
    fc = feed(d, c.key)
    assert refs(fc, "to_review") == [f"{W}#{PR}", f"{W}#{other}", f"{W}#{number}"], fc["items"]
    marked = [it for it in fc["items"] if it["ref"] == f"{W}#{number}"][0]
    assert "checks failed" in marked["note"], marked
    # pr: every check of the head, the failing one named.
    data = ok(d, a.key, f"pr {W}#{number}")
    assert data["checks_verdict"] == "failed", data
    assert {c["context"]: (c["state"], c["target_url"]) for c in data["checks"]} == \
        {"lint": ("success", f"{URL}/lint/{head[:7]}"), "ci/test": ("failure", f"{URL}/42")}
    # The same through MCP's pr_details.
    _, result, _ = rpc_answer(post_mcp(d, a.key, call("pr_details", {"pr": f"{W}#{number}"})))
    sc = result["structuredContent"]
    assert sc["checks_verdict"] == "failed" and \
        {c["context"]: c["state"] for c in sc["checks"]} == {"lint": "success",
                                                              "ci/test": "failure"}, sc
    assert "ci/test: failure" in result["content"][0]["text"], result
    # A fix: a new head starts over.  CI reports the old head late: it
    # does not count; the new head's green does.
    head2 = push_more(emu, tmp_path, a, branch, {"src/fix.c": "int fixed = 1;\n"})
    wait_for(lambda: d.psql(f"SELECT head_sha FROM pull_requests WHERE gitea_pr_number ="
                            f" {number}") == [[head2]], what="the new head here")
    post_status(emu, head2, "pending", context="ci/test")
    review(d, b.key, f"review approve {W}#{number}")   # the push dismissed it
    assert_error(merge(d, a, number), 422, "checks_pending")
    post_status(emu, head, "success", context="ci/test")       # late, old head
    assert_error(merge(d, a, number), 422, "checks_pending")
    post_status(emu, head2, "success", context="ci/test")
    wait_for(lambda: f"{W}#{number}" not in refs(feed(d, a.key), "checks_failed"),
             what="the feed to drop the PR once green")
    got = assert_ok(merge(d, a, number))
    assert got["merged"] is True and got["head"] == head2, got
    assert merged_in_gitea(emu, number) is True


def test_a_list_of_contexts_counts_those_only_and_waits_for_each(gitea_factory, daemon,
                                                                  tmp_path):
    emu, d, a, b, number, _, head = submitted(gitea_factory, daemon, tmp_path,
                                              conf={"work.auto_merge": False})
    data = assert_ok(policy_put(d, {"required_checks": ["ci/test", "ci/build"]}))
    assert data["policy"]["required_checks"] == ["ci/test", "ci/build"], data
    review(d, b.key, f"review approve {W}#{number}")
    post_status(emu, head, "failure", context="lint")           # not required
    post_status(emu, head, "success", context="ci/build")
    err = assert_error(merge(d, a, number), 422, "checks_pending")
    assert "ci/test (not reported yet)" in err["message"], err
    post_status(emu, head, "success", context="ci/test")
    assert_ok(merge(d, a, number))
    assert merged_in_gitea(emu, number) is True


def test_none_merges_as_before_and_the_admin_merge_obeys_the_rule(gitea_factory, daemon,
                                                                   tmp_path):
    emu, d, a, b, number, _, head = submitted(gitea_factory, daemon, tmp_path,
                                              conf={"work.auto_merge": False})
    review(d, b.key, f"review approve {W}#{number}")
    post_status(emu, head, "error")
    path = f"/api/v1/admin/projects/{W}/pulls/{number}/merge"
    err = assert_error(d.admin_post(path), 422, "checks_failed")
    assert "ci/build error" in err["message"], err
    assert merged_in_gitea(emu, number) is False
    # With the rule off the red check does not matter, as before.
    assert_ok(policy_put(d, {"required_checks": "none"}))
    assert_ok(d.admin_post(path))
    assert merged_in_gitea(emu, number) is True


def test_no_check_reported_is_fine_and_skipped_passes(gitea_factory, daemon, tmp_path):
    emu, d, a, b, number, _, head = submitted(gitea_factory, daemon, tmp_path,
                                              conf={"work.auto_merge": False})
    review(d, b.key, f"review approve {W}#{number}")
    post_status(emu, head, "skipped", context="deploy")
    assert_ok(merge(d, a, number))


def test_the_rule_is_validated(gitea_factory, daemon, tmp_path):
    emu, d, _, _ = hooked_world(gitea_factory, daemon, tmp_path)
    for bad in (["none", "ci/build"], [], ["x"] * 21, [""], "sometimes", 5, ["a" * 256],
                ["ci\u0001"], [5]):
        err = assert_error(policy_put(d, {"required_checks": bad}), 400, "invalid_field")
        assert "required_checks" in err["message"], (bad, err)
    assert_ok(policy_put(d, {"required_checks": "none"}))
    data = assert_ok(policy_put(d, {"required_checks": None}))
    assert data["policy"]["required_checks"] == "reported" and data["overrides"] == {}, data


def test_checks_stored_at_once_by_a_delivery_and_a_merge_do_not_collide(gitea_factory, daemon,
                                                                          tmp_path):
    """A status delivery and a merge may store the same commit's checks at
    the same moment (a CI run found it: 500, duplicate key).  Here the other
    writer is held in the middle of its transaction: the merge waits for
    it, then answers as the rule says."""
    import subprocess
    from conftest import PG_BIN
    emu, d, a, b, number, _, head = submitted(gitea_factory, daemon, tmp_path,
                                              conf={"work.auto_merge": False})
    review(d, b.key, f"review approve {W}#{number}")
    post_status(emu, head, "pending", context="ci/test")
    pid = d.psql(f"SELECT project_id FROM pull_requests WHERE head_sha = '{head}'")[0][0]
    app = f"checks-writer-{head[:8]}"
    writer = subprocess.Popen(
        [str(PG_BIN / "psql"), "-XAtq", "-v", "ON_ERROR_STOP=1", "-h", d.pg.host,
         "-p", str(d.pg.port), "-U", "postgres", "-d", d.db],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, PGAPPNAME=app))
    try:
        writer.stdin.write("BEGIN;\nDELETE FROM commit_checks WHERE project_id = '"
                           f"{pid}' AND sha = '{head}';\nINSERT INTO commit_checks (project_id,"
                           " sha, context, state, target_url, description) VALUES ("
                           f"'{pid}', '{head}', 'ci/test', 'pending', '', '');\n")
        writer.stdin.flush()
        wait_for(lambda: d.psql("SELECT 1 FROM pg_stat_activity WHERE application_name ="
                                f" '{app}' AND state = 'idle in transaction'"),
                 what="the other writer to hold its row")
        result = {}
        t = threading.Thread(target=lambda: result.setdefault("r", merge(d, a, number)))
        t.start()
        wait_for(lambda: d.psql("SELECT 1 FROM pg_stat_activity WHERE datname ="
                                " current_database() AND wait_event_type = 'Lock'"),
                 what="the merge to wait for the other writer")
        writer.stdin.write("COMMIT;\n")
        writer.stdin.flush()
        t.join(timeout=30)
    finally:
        writer.stdin.close()
        writer.wait(timeout=10)
    err = assert_error(result["r"], 422, "checks_pending")
    assert "ci/test" in err["message"], err
    assert checks_here(d, head) == {"ci/test": "pending"}
