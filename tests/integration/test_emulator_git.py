"""Gitea emulator conformance: real git over smart HTTP.

Clones and pushes with the git CLI (token as the Basic password, or
user:password), anonymous access, write permission on push, PR
mergeability computed by git, and what each merge style writes to the
base branch, checked by fetching and inspecting with git.  Last, the
acceptance scenario: clone, push a branch, open a PR, review it as
another user, merge it, and find the merge on the base branch.
"""

import copy
import os

import pytest

from emulator import DEFAULT_SEED, PASSWORD, Emulator
from emulator_helpers import Git, get_branch, raw_git_http


def _seed():
    seed = copy.deepcopy(DEFAULT_SEED)
    seed["repos"] += [
        {"owner": "acme", "name": "secret", "private": True,
         "files": {"README.md": "# secret\n"}, "collaborators": {"agent-coder": "write"}},
        {"owner": "acme", "name": "styles", "files": {"README.md": "# styles\n",
                                                       "shared.txt": "one\ntwo\nthree\n"},
         "collaborators": {"agent-coder": "write", "agent-reviewer": "write"}},
    ]
    return seed


@pytest.fixture(scope="module")
def emu():
    e = Emulator(seed=_seed())
    e.tok = {u: e.user_token(u) for u in ("alice", "agent-coder", "agent-reviewer", "outsider")}
    yield e
    e.stop()


@pytest.fixture(scope="module")
def git(tmp_path_factory):
    return Git(tmp_path_factory.mktemp("git-home"))


@pytest.fixture
def coder_clone(emu, git, tmp_path):
    """A clone of acme/styles as agent-coder (token as the Basic password)."""
    return git.clone(emu.clone_url("acme/styles", "agent-coder", emu.tok["agent-coder"]),
                     tmp_path / "styles")


def read(work, path):
    with open(os.path.join(work, path)) as f:
        return f.read()


# -- access ------------------------------------------------------------------------

def test_clone_with_token_as_basic_password(emu, git, tmp_path):
    work = git.clone(emu.clone_url("acme/widgets", "agent-coder", emu.tok["agent-coder"]),
                     tmp_path / "w")
    assert read(work, "README.md") == "# Widgets\n"
    assert read(work, "src/grid.c") == "int gap = 4;\n"
    main = get_branch(emu, "acme/widgets", "main").json()["commit"]["id"]
    assert git.out("rev-parse", "HEAD", cwd=work) == main


def test_clone_with_user_and_password(emu, git, tmp_path):
    work = git.clone(emu.clone_url("acme/widgets", "agent-reviewer", PASSWORD), tmp_path / "w")
    assert read(work, "README.md") == "# Widgets\n"


def test_anonymous_clone_of_a_public_repo(emu, git, tmp_path):
    work = git.clone(emu.clone_url("acme/widgets"), tmp_path / "w")
    assert read(work, "README.md") == "# Widgets\n"


def test_private_repo_needs_credentials(emu, git, tmp_path):
    r = raw_git_http(emu, "/acme/secret.git/info/refs?service=git-upload-pack")
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Basic")
    p = git.run("clone", "-q", emu.clone_url("acme/secret"), str(tmp_path / "anon"), check=False)
    assert p.returncode != 0
    work = git.clone(emu.clone_url("acme/secret", "agent-coder", emu.tok["agent-coder"]),
                     tmp_path / "coder")
    assert read(work, "README.md") == "# secret\n"


def test_wrong_password_is_401(emu):
    r = raw_git_http(emu, "/acme/widgets.git/info/refs?service=git-upload-pack",
                     auth=("agent-coder", "not-the-password"))
    assert r.status_code == 401


def test_anonymous_push_is_401(emu, git, tmp_path):
    r = raw_git_http(emu, "/acme/widgets.git/info/refs?service=git-receive-pack")
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Basic")
    work = git.clone(emu.clone_url("acme/widgets"), tmp_path / "w")
    git.run("checkout", "-q", "-b", "anon/push", cwd=work)
    git.commit_file(work, "anon.txt", "anon\n", "Anonymous change")
    p = git.run("push", "origin", "anon/push", cwd=work, check=False)
    assert p.returncode != 0
    assert get_branch(emu, "acme/widgets", "anon/push").status_code == 404


def test_push_without_write_access_is_403(emu, git, tmp_path):
    r = raw_git_http(emu, "/acme/widgets.git/info/refs?service=git-receive-pack",
                     auth=("outsider", PASSWORD))
    assert r.status_code == 403
    work = git.clone(emu.clone_url("acme/widgets", "outsider", emu.tok["outsider"]),
                     tmp_path / "w")                       # reading is fine
    git.run("checkout", "-q", "-b", "outsider/push", cwd=work)
    git.commit_file(work, "outsider.txt", "x\n", "Outsider change")
    p = git.run("push", "origin", "outsider/push", cwd=work, check=False)
    assert p.returncode != 0 and "403" in p.stderr, p.stderr
    assert get_branch(emu, "acme/widgets", "outsider/push").status_code == 404


def test_collaborator_push(emu, git, tmp_path):
    work = git.clone(emu.clone_url("acme/widgets", "agent-coder", emu.tok["agent-coder"]),
                     tmp_path / "w")
    git.run("checkout", "-q", "-b", "agent/pushed", cwd=work)
    sha = git.commit_file(work, "src/new.c", "int x;\n", "Add new.c")
    git.run("push", "-q", "origin", "agent/pushed", cwd=work)
    b = get_branch(emu, "acme/widgets", "agent/pushed")
    assert b.status_code == 200 and b.json()["commit"]["id"] == sha
    assert b.json()["commit"]["message"] == "Add new.c\n"
    # A fresh clone sees it.
    again = git.clone(emu.clone_url("acme/widgets"), tmp_path / "again")
    git.run("checkout", "-q", "agent/pushed", cwd=again)
    assert read(again, "src/new.c") == "int x;\n"


# -- mergeability ---------------------------------------------------------------------

def test_mergeability_is_computed_by_git(emu, git, coder_clone):
    work, tok = coder_clone, emu.tok["agent-coder"]
    git.run("checkout", "-q", "-b", "git/conflict", cwd=work)
    git.commit_file(work, "shared.txt", "one\nTWO (branch)\nthree\n", "Branch edit")
    git.run("push", "-q", "origin", "git/conflict", cwd=work)
    git.run("checkout", "-q", "-b", "git/clean", "origin/main", cwd=work)
    git.commit_file(work, "clean.txt", "clean\n", "Clean edit")
    git.run("push", "-q", "origin", "git/clean", cwd=work)
    git.run("checkout", "-q", "main", cwd=work)
    git.commit_file(work, "shared.txt", "one\nTWO (main)\nthree\n", "Main edit")
    git.run("push", "-q", "origin", "main", cwd=work)

    def open_pr(head):
        r = emu.post("/repos/acme/styles/pulls", token=tok,
                     json={"head": head, "base": "main", "title": head})
        assert r.status_code == 201, r.text
        return r.json()["number"]
    conflict, clean = open_pr("git/conflict"), open_pr("git/clean")
    assert emu.get(f"/repos/acme/styles/pulls/{clean}").json()["mergeable"] is True
    assert emu.get(f"/repos/acme/styles/pulls/{conflict}").json()["mergeable"] is False
    r = emu.post(f"/repos/acme/styles/pulls/{conflict}/merge", json={"Do": "merge"})
    assert r.status_code == 405, r.text
    # Resolve the conflict on the branch: the PR becomes mergeable.
    git.run("checkout", "-q", "git/conflict", cwd=work)
    git.run("merge", "-q", "main", cwd=work, check=False)
    with open(os.path.join(work, "shared.txt"), "w") as f:
        f.write("one\nTWO (both)\nthree\n")
    git.run("add", "shared.txt", cwd=work)
    git.run("commit", "-q", "--no-edit", cwd=work)
    git.run("push", "-q", "origin", "git/conflict", cwd=work)
    assert emu.get(f"/repos/acme/styles/pulls/{conflict}").json()["mergeable"] is True
    for n in (conflict, clean):
        assert emu.post(f"/repos/acme/styles/pulls/{n}/merge",
                        json={"Do": "merge"}).status_code == 200


# -- what each merge style writes ---------------------------------------------------------

@pytest.mark.parametrize("style", ["merge", "squash", "rebase", "rebase-merge",
                                   "fast-forward-only"])
def test_merge_style_in_git(emu, git, coder_clone, style):
    work, tok = coder_clone, emu.tok["agent-coder"]
    branch = f"git/style-{style}"
    git.run("checkout", "-q", "-b", branch, "origin/main", cwd=work)
    c1 = git.commit_file(work, f"{style}/one.txt", "1\n", f"{style}: first")
    c2 = git.commit_file(work, f"{style}/two.txt", "2\n", f"{style}: second")
    git.run("push", "-q", "origin", branch, cwd=work)
    if style != "fast-forward-only":
        git.run("checkout", "-q", "main", cwd=work)
        git.run("pull", "-q", "--ff-only", "origin", "main", cwd=work)
        git.commit_file(work, f"base-{style}.txt", "base\n", f"Base moves before {style}")
        git.run("push", "-q", "origin", "main", cwd=work)
    git.run("fetch", "-q", "origin", cwd=work)
    old_main = git.out("rev-parse", "origin/main", cwd=work)
    r = emu.post("/repos/acme/styles/pulls", token=tok,
                 json={"head": branch, "base": "main", "title": f"Style {style}",
                       "body": "Merging by style."})
    n = r.json()["number"]
    r = emu.post(f"/repos/acme/styles/pulls/{n}/merge", token=emu.tok["alice"],
                 json={"Do": style, "head_commit_id": c2})
    assert r.status_code == 200, r.text
    git.run("fetch", "-q", "origin", cwd=work)
    new_main = git.out("rev-parse", "origin/main", cwd=work)
    assert emu.get(f"/repos/acme/styles/pulls/{n}").json()["merge_commit_sha"] == new_main
    parents = git.parents(work, new_main)
    files = git.out("ls-tree", "-r", "--name-only", new_main, cwd=work).split("\n")
    assert {f"{style}/one.txt", f"{style}/two.txt"} <= set(files)
    subjects = lambda rev, n: git.out("log", "--format=%s", f"-{n}", rev, cwd=work).split("\n")
    if style == "merge":
        assert parents == [old_main, c2]                          # a real merge commit
    elif style == "squash":
        assert parents == [old_main]                              # one commit, one parent
        assert git.run("merge-base", "--is-ancestor", c2, new_main, cwd=work,
                       check=False).returncode == 1
        assert git.out("diff", "--name-only", old_main, new_main, cwd=work).split("\n") == \
            [f"{style}/one.txt", f"{style}/two.txt"]
    elif style == "rebase":
        assert len(parents) == 1 and new_main != c2               # rewritten, linear
        assert subjects(new_main, 2) == [f"{style}: second", f"{style}: first"]
        assert git.out("rev-parse", f"{new_main}~2", cwd=work) == old_main
        assert git.out("log", "--format=%an <%ae>", "-1", new_main, cwd=work) == \
            "Coder Agent <agent-coder@127.0.0.1>"                 # authors kept
    elif style == "rebase-merge":
        assert len(parents) == 2 and parents[0] == old_main and parents[1] != c2
        assert subjects(parents[1], 2) == [f"{style}: second", f"{style}: first"]
        assert git.out("rev-parse", f"{parents[1]}~2", cwd=work) == old_main
    else:
        assert new_main == c2 and git.parents(work, c2) == [c1]   # fast-forward


# -- the acceptance scenario ----------------------------------------------------------

def test_acceptance_scenario(git, tmp_path):
    """Clone, push a branch, open a PR, review it as another user, merge
    it: the merge is on the base branch and the PR says so."""
    emu = Emulator()
    try:
        coder = emu.user_token("agent-coder")
        reviewer = emu.user_token("agent-reviewer")
        work = git.clone(emu.clone_url("acme/widgets", "agent-coder", coder), tmp_path / "w")
        git.run("checkout", "-q", "-b", "agent/issue-1", cwd=work)
        head = git.commit_file(work, "src/grid.c", "int gap = 5;\n", "Fix the grid gap\n\nFixes #1")
        git.run("push", "-q", "origin", "agent/issue-1", cwd=work)

        r = emu.post("/repos/acme/widgets/pulls", token=coder,
                     json={"head": "agent/issue-1", "base": "main",
                           "title": "Fix the grid gap", "body": "Closes #1"})
        assert r.status_code == 201, r.text
        pr = r.json()
        assert pr["user"]["login"] == "agent-coder" and pr["head"]["sha"] == head

        r = emu.post(f"/repos/acme/widgets/pulls/{pr['number']}/reviews", token=reviewer,
                     json={"event": "APPROVED", "body": "LGTM"})
        assert r.status_code == 200 and r.json()["state"] == "APPROVED", r.text
        assert emu.get(f"/repos/acme/widgets/pulls/{pr['number']}").json()["mergeable"] is True

        r = emu.post(f"/repos/acme/widgets/pulls/{pr['number']}/merge", token=coder,
                     json={"Do": "merge", "head_commit_id": head})
        assert r.status_code == 200, r.text

        git.run("fetch", "-q", "origin", cwd=work)
        base_head = git.out("rev-parse", "origin/main", cwd=work)
        log = git.out("log", "--format=%H %P", "-1", "origin/main", cwd=work).split()
        assert log[0] == base_head and log[2] == head                 # merged, 2 parents
        assert git.run("merge-base", "--is-ancestor", head, "origin/main", cwd=work,
                       check=False).returncode == 0
        git.run("checkout", "-q", "origin/main", cwd=work)
        assert read(work, "src/grid.c") == "int gap = 5;\n"

        got = emu.get(f"/repos/acme/widgets/pulls/{pr['number']}").json()
        assert got["merged"] is True and got["state"] == "closed"
        assert got["merge_commit_sha"] == base_head
        assert got["merged_by"]["login"] == "agent-coder"
        main = get_branch(emu, "acme/widgets", "main").json()
        assert main["commit"]["id"] == base_head
        reviews = emu.get(f"/repos/acme/widgets/pulls/{pr['number']}/reviews").json()
        assert [(x["user"]["login"], x["state"]) for x in reviews] == \
            [("agent-reviewer", "APPROVED")]
        assert emu.get("/repos/acme/widgets/issues/1").json()["state"] == "closed"
    finally:
        emu.stop()
