"""`merge`: the author merges once the rule holds; Gitea is told the head
that was checked; the PR and its issue close here and in Gitea."""

import subprocess

from conftest import assert_error
from mirror_helpers import admin_sync
from test_review import W, branches, pull_row, review, reviewer, submitted
from test_review import world  # noqa: F401  (a fixture: merges by hand)
from test_work import act, ok


def merged_in_gitea(emu, number):
    return next(p for p in emu.state()["pulls"] if p["number"] == number)


def test_the_author_merges_an_approved_pr(world, tmp_path):
    emu, d = world
    a, akey, alogin, branch, number = submitted(d, emu, tmp_path)
    pull = f"{W}#{number}"
    b, bkey, blogin = reviewer(d)
    # Not yet: no approval.
    assert_error(act(d, akey, f"merge {pull}"), 422, "not_approved")
    review(d, bkey, f"review approve {pull} Good")
    # Only the author merges.
    assert_error(act(d, bkey, f"merge {pull}"), 403, "forbidden")
    head = pull_row(d, number)["head_sha"]
    got = ok(d, akey, f"merge {pull}")
    assert got == {"pull": pull, "merged": True, "head": head, "style": "merge"}, got
    gp = merged_in_gitea(emu, number)
    assert gp["merged"] is True and gp["merge_commit_sha"] == branches(emu)["main"], gp
    # The merge commit is a real one on main, with the PR's head as a parent.
    work = tmp_path / "check"
    subprocess.run(["git", "clone", "-q", emu.clone_url(W), str(work)], check=True,
                   capture_output=True)
    parents = subprocess.run(["git", "-C", str(work), "log", "-1", "--format=%P", "main"],
                             check=True, capture_output=True, text=True).stdout.split()
    assert head in parents and len(parents) == 2, parents
    # Here: merged, its issue closed, the claim over.
    row = pull_row(d, number)
    assert row["review_status"] == "merged" and row["state"] == "closed", row
    assert d.psql("SELECT state FROM issues WHERE number = 1") == [["closed"]]
    status = ok(d, akey, "my-work")
    assert status["claims"] == [] and status["pulls"] == [], status
    assert_error(act(d, akey, f"merge {pull}"), 422, "pr_closed")
    # Gitea closed the issue too ("Closes #1").
    assert next(i for i in emu.state()["issues"] if i["number"] == 1)["state"] == "closed"


def test_a_request_for_changes_blocks_the_merge(world, tmp_path):
    emu, d = world
    a, akey, alogin, branch, number = submitted(d, emu, tmp_path)
    pull = f"{W}#{number}"
    _, bkey, _ = reviewer(d)
    _, ckey, _ = reviewer(d)
    review(d, bkey, f"review approve {pull} Fine")
    review(d, ckey, f'review request-changes {pull} "Use a constant"')
    err = assert_error(act(d, akey, f"merge {pull}"), 422, "not_approved")
    assert "changes requested" in err["message"] and err["hint"], err
    assert merged_in_gitea(emu, number)["merged"] is False


def test_an_approval_of_an_older_head_does_not_let_it_merge(world, tmp_path):
    emu, d = world
    a, akey, alogin, branch, number = submitted(d, emu, tmp_path)
    pull = f"{W}#{number}"
    _, bkey, _ = reviewer(d)
    review(d, bkey, f"review approve {pull} Fine")
    emu.commit(W, branch, {"src/fix1.c": "int fixed_1 = 3;\n"}, author=alogin)
    admin_sync(d)
    assert_error(act(d, akey, f"merge {pull}"), 422, "not_approved")
    assert merged_in_gitea(emu, number)["merged"] is False
    review(d, bkey, f"review approve {pull} Still fine")
    ok(d, akey, f"merge {pull}")
    assert merged_in_gitea(emu, number)["merged"] is True


def test_a_push_gitea_sees_but_we_did_not_is_not_merged(world, tmp_path):
    """A push after the approval whose webhook never came: merge reads the
    PR from Gitea first, so the approval is stale and unreviewed code does
    not slip in (and Gitea would refuse the checked head anyway)."""
    emu, d = world
    a, akey, alogin, branch, number = submitted(d, emu, tmp_path)
    pull = f"{W}#{number}"
    _, bkey, blogin = reviewer(d)
    review(d, bkey, f"review approve {pull} Fine")
    emu.commit(W, branch, {"src/sneaky.c": "int x;\n"}, author=alogin)
    err = assert_error(act(d, akey, f"merge {pull}"), 422, "not_approved")
    new_head = next(p for p in emu.state()["pulls"] if p["number"] == number)["head_sha"]
    assert new_head[:12] in err["message"] and "older head" in err["message"], err
    assert merged_in_gitea(emu, number)["merged"] is False
    row = pull_row(d, number)
    assert row["head_sha"] == new_head and row["review_status"] == "pending", row
