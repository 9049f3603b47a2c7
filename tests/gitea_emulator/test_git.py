"""Tests for git.py against real git, in temporary directories."""

import datetime
import http.server
import os
import subprocess
import threading

import pytest

from gitea_emulator import git
from gitea_emulator.git import (
    ZERO_SHA, GitStore, MergeConflict, NotFastForward, NothingToMerge, StaleBase)

ALICE = ("Alice", "alice@example.com")
BOB = ("Bob", "bob@example.com")
MERGER = ("Merger", "merger@example.com")


def tz(hours, minutes=0):
    return datetime.timezone(datetime.timedelta(hours=hours, minutes=minutes))


def client(*args, cwd=None):
    """Run git as a client would, isolated from the user's config."""
    env = {"PATH": os.environ["PATH"], "HOME": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_CONFIG_GLOBAL": os.devnull, "GIT_TERMINAL_PROMPT": "0",
           "GIT_AUTHOR_NAME": "Carol", "GIT_AUTHOR_EMAIL": "carol@example.com",
           "GIT_COMMITTER_NAME": "Carol", "GIT_COMMITTER_EMAIL": "carol@example.com"}
    p = subprocess.run(["git"] + list(args), cwd=cwd, env=env, capture_output=True,
                       input="", text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


@pytest.fixture
def store(tmp_path):
    return GitStore(str(tmp_path / "repos"))


@pytest.fixture
def repo(store):
    """acme/widgets with two files on main."""
    return store.create_repo("acme", "widgets", files={
        "README.md": "hello\n", "src/app.py": "a = 1\nb = 2\nc = 3\n"}, author=ALICE)


def parents(store, git_dir, sha):
    return store.commit(git_dir, sha)["parents"]


# -- repositories, branches, commits ------------------------------------------

def test_create_repo_with_files_and_clone(store, repo, tmp_path):
    assert repo == os.path.join(store.root, "acme", "widgets.git")
    [(name, sha)] = store.branches(repo)
    assert name == "main" and store.branch_sha(repo, "main") == sha
    c = store.commit(repo, sha)
    assert c["message"] == "Initial commit\n"
    assert c["parents"] == [] and c["author"]["name"] == "Alice"
    assert sorted(c["added"]) == ["README.md", "src/app.py"]
    assert c["removed"] == [] and c["modified"] == []
    assert store.file_at(repo, "main", "README.md") == b"hello\n"
    assert store.file_at(repo, "main", "Dockerfile") is None
    assert store.file_at(repo, "main", "src") is None        # a directory

    client("clone", "-q", repo, str(tmp_path / "wc"))
    assert (tmp_path / "wc" / "src" / "app.py").read_text() == "a = 1\nb = 2\nc = 3\n"


def test_create_repo_lowercases_and_refuses_duplicates(store):
    empty = store.create_repo("Acme", "Gadgets", default_branch="trunk")
    assert empty.endswith(os.path.join("acme", "gadgets.git"))
    assert store.branches(empty) == [] and store.refs(empty) == {}
    assert store.commit_files(empty, "trunk", {"a": "1"}, "first", ALICE)
    with pytest.raises(FileExistsError):
        store.create_repo("acme", "gadgets")
    with pytest.raises(ValueError):
        store.create_repo("acme", "../evil")
    store.delete_repo(empty)
    assert not os.path.exists(empty)


def test_commit_files_changes_and_branches(store, repo):
    main = store.branch_sha(repo, "main")
    sha = store.commit_files(repo, "feature", {"src/app.py": "a = 1\n", "new.txt": b"\x00bin"},
                             "Change things\n\nBody.  \n\n\n", BOB, parent="main",
                             delete=["README.md"])
    c = store.commit(repo, sha)
    assert c["parents"] == [main]
    assert c["message"] == "Change things\n\nBody.\n"      # git's whitespace cleanup
    assert (c["added"], c["removed"], c["modified"]) == (["new.txt"], ["README.md"], ["src/app.py"])
    assert store.file_at(repo, "feature", "new.txt") == b"\x00bin"
    assert store.branch_sha(repo, "main") == main           # untouched

    assert [b for b, _ in store.branches(repo)] == ["feature", "main"]
    store.create_branch(repo, "copy", "feature")
    assert store.branch_sha(repo, "copy") == sha
    with pytest.raises(FileExistsError):
        store.create_branch(repo, "copy", main)
    assert store.delete_branch(repo, "copy") is True
    assert store.delete_branch(repo, "copy") is False
    assert store.branch_sha(repo, "copy") is None
    assert store.refs(repo) == {"refs/heads/main": main, "refs/heads/feature": sha}


def test_commit_dates_keep_the_committers_offset(store, repo):
    when = datetime.datetime(2026, 7, 20, 10, 5, 42, tzinfo=tz(2))
    c = store.commit(repo, store.commit_files(repo, "main", {"x": "1"}, "m", ALICE, when=when))
    assert c["author"]["date"] == c["committer"]["date"] == "2026-07-20T10:05:42+02:00"

    utc = datetime.datetime(2026, 7, 20, 9, 10, 31, tzinfo=datetime.timezone.utc)
    c = store.commit(repo, store.commit_files(repo, "main", {"x": "2"}, "m", ALICE, when=utc))
    assert c["committer"]["date"] == "2026-07-20T09:10:31Z"

    india = datetime.datetime(2026, 7, 20, 9, 10, 31, tzinfo=tz(-5, -30))
    c = store.commit(repo, store.commit_files(repo, "main", {"x": "3"}, "m", ALICE,
                                              committer=BOB, when=india))
    assert c["committer"] == {"name": "Bob", "email": "bob@example.com",
                              "date": "2026-07-20T09:10:31-05:30"}


def test_concurrent_commit_files_all_land(store, repo):
    # The per-repo lock serialises writers; without it CAS would fail some.
    threads = [threading.Thread(target=store.commit_files,
                                args=(repo, "main", {f"f{i}": str(i)}, f"c{i}", ALICE))
               for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(8):
        assert store.file_at(repo, "main", f"f{i}") == str(i).encode()


# -- pushes ---------------------------------------------------------------------

def test_push_over_filesystem_and_push_commits(store, repo, tmp_path):
    wc = str(tmp_path / "wc")
    client("clone", "-q", repo, wc)
    client("checkout", "-q", "-b", "topic", cwd=wc)
    for i in range(7):
        with open(os.path.join(wc, f"n{i}.txt"), "w") as f:
            f.write(f"{i}\n")
        client("add", ".", cwd=wc)
        client("commit", "-q", "-m", f"commit {i}", cwd=wc)
    before = store.refs(repo)
    client("push", "-q", "origin", "topic", cwd=wc)
    after = store.refs(repo)
    assert set(after) - set(before) == {"refs/heads/topic"}
    tip = after["refs/heads/topic"]
    assert tip == client("rev-parse", "HEAD", cwd=wc)

    # An update of an existing branch: every new commit counts, newest first.
    commits, total = store.push_commits(repo, before["refs/heads/main"], tip)
    assert total == 7
    assert [c["message"] for c in commits] == [f"commit {i}\n" for i in (6, 5, 4, 3, 2)]
    assert commits[0]["id"] == tip and commits[0]["added"] == ["n6.txt"]
    assert commits[0]["author"]["name"] == "Carol"

    # A new branch: only its last 10 commits are considered (8 exist here).
    commits, total = store.push_commits(repo, ZERO_SHA, tip, limit=3)
    assert total == 8 and len(commits) == 3
    for i in range(7, 12):
        store.commit_files(repo, "topic", {"n.txt": str(i)}, f"more {i}", ALICE)
    assert store.push_commits(repo, ZERO_SHA, store.branch_sha(repo, "topic"))[1] == 10
    # A deletion has no commits.
    assert store.push_commits(repo, tip, ZERO_SHA) == ([], 0)


def test_push_commits_modified_and_removed(store, repo):
    main = store.branch_sha(repo, "main")
    sha = store.commit_files(repo, "main", {"README.md": "changed\n"}, "edit", ALICE,
                             delete=["src/app.py"])
    [c], total = store.push_commits(repo, main, sha)
    assert total == 1
    assert (c["added"], c["removed"], c["modified"]) == ([], ["src/app.py"], ["README.md"])


# -- merge checks ---------------------------------------------------------------

@pytest.fixture
def branches(store, repo):
    """main moved on; 'clean' touches another file; 'clash' edits the same line."""
    base = store.branch_sha(repo, "main")
    store.commit_files(repo, "clean", {"docs.md": "docs\n"}, "Add docs", BOB, parent=base)
    store.commit_files(repo, "clean", {"more.md": "more\n"}, "Add more", BOB)
    store.commit_files(repo, "clash", {"src/app.py": "a = 1\nb = 'theirs'\nc = 3\n"},
                       "Theirs", BOB, parent=base)
    store.commit_files(repo, "main", {"src/app.py": "a = 1\nb = 'ours'\nc = 3\n"},
                       "Ours", ALICE)
    return base


def test_merge_base_ancestry_and_stats(store, repo, branches):
    base = branches
    assert store.merge_base(repo, "main", "clean") == base
    assert store.is_ancestor(repo, base, "clean")
    assert not store.is_ancestor(repo, "main", "clean")
    assert store.diff_stats(repo, "main", "clean") == (2, 0, 2)   # main's own change is not counted
    assert store.diff_stats(repo, "main", "clash") == (1, 1, 1)
    assert store.diff_stats(repo, "main", "main") == (0, 0, 0)
    empty_tree = client("--git-dir", repo, "mktree")      # from empty stdin
    lonely = client("--git-dir", repo, "commit-tree", "-m", "root", empty_tree)
    assert store.merge_base(repo, "main", lonely) is None


def test_test_merge(store, repo, branches):
    assert store.test_merge(repo, "main", "clean") is True
    assert store.test_merge(repo, "main", "clash") is False


# -- merge styles -----------------------------------------------------------------

def test_merge_style_merge(store, repo, branches):
    old, head = store.branch_sha(repo, "main"), store.branch_sha(repo, "clean")
    new = store.merge(repo, "merge", "main", head, "Merge pull request 'x' (#1)", MERGER)
    c = store.commit(repo, new)
    assert store.branch_sha(repo, "main") == new
    assert c["parents"] == [old, head]
    assert c["message"] == "Merge pull request 'x' (#1)\n"
    assert c["author"]["name"] == c["committer"]["name"] == "Merger"
    assert c["added"] == ["docs.md", "more.md"]          # against the first parent
    assert store.file_at(repo, "main", "src/app.py") == b"a = 1\nb = 'ours'\nc = 3\n"


def test_merge_style_merge_is_no_ff(store, repo):
    old = store.branch_sha(repo, "main")
    head = store.commit_files(repo, "ahead", {"n": "n"}, "ahead", BOB)
    new = store.merge(repo, "merge", "main", head, "Merge", MERGER)
    assert new != head and parents(store, repo, new) == [old, head]


def test_merge_style_squash(store, repo, branches):
    old = store.branch_sha(repo, "main")
    new = store.merge(repo, "squash", "main", "clean", "Squashed (#1)\n\nbody", BOB,
                      committer=MERGER)
    c = store.commit(repo, new)
    assert c["parents"] == [old]
    assert c["author"]["name"] == "Bob" and c["committer"]["name"] == "Merger"
    assert c["message"] == "Squashed (#1)\n\nbody\n"
    merged = client("--git-dir", repo, "merge-tree", "--write-tree", old, "clean")
    assert client("--git-dir", repo, "rev-parse", new + "^{tree}") == merged


def test_merge_style_rebase(store, repo, branches):
    old = store.branch_sha(repo, "main")
    when = datetime.datetime(2026, 8, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)
    originals = [store.commit(repo, s) for s in
                 client("--git-dir", repo, "rev-list", "--reverse", "main..clean").split()]
    new = store.merge(repo, "rebase", "main", "clean", "ignored", MERGER, when=when)
    second = store.commit(repo, new)
    first = store.commit(repo, second["parents"][0])
    assert first["parents"] == [old]                     # linear, on top of main
    for orig, replayed in zip(originals, [first, second]):
        assert replayed["id"] != orig["id"]
        assert replayed["message"] == orig["message"]
        assert replayed["author"] == orig["author"]      # name, email and date kept
        assert replayed["committer"] == {"name": "Merger", "email": "merger@example.com",
                                         "date": "2026-08-01T12:00:00Z"}
    assert store.file_at(repo, "main", "more.md") == b"more\n"
    assert store.file_at(repo, "main", "src/app.py") == b"a = 1\nb = 'ours'\nc = 3\n"


def test_merge_style_rebase_when_already_on_top_fast_forwards(store, repo):
    head = store.commit_files(repo, "ahead", {"n": "n"}, "ahead", BOB)
    assert store.merge(repo, "rebase", "main", head, "m", MERGER) == head


def test_merge_style_rebase_merge(store, repo, branches):
    old = store.branch_sha(repo, "main")
    new = store.merge(repo, "rebase-merge", "main", "clean", "Merge (#1)", MERGER)
    c = store.commit(repo, new)
    assert c["parents"][0] == old and c["message"] == "Merge (#1)\n"
    rebased = store.commit(repo, c["parents"][1])
    assert rebased["message"] == "Add more\n" and rebased["author"]["name"] == "Bob"
    assert store.is_ancestor(repo, old, rebased["id"])
    assert not store.is_ancestor(repo, "clean", new)     # rewritten, not the originals


def test_rebase_drops_changes_already_on_base(store, repo):
    base = store.branch_sha(repo, "main")
    store.commit_files(repo, "topic", {"g": "g"}, "Add g", BOB, parent=base)
    store.commit_files(repo, "topic", {"h": "h"}, "Add h", BOB)
    store.commit_files(repo, "main", {"g": "g"}, "Add g (cherry-picked)", ALICE)
    new = store.merge(repo, "rebase", "main", "topic", "m", MERGER)
    c = store.commit(repo, new)
    assert c["message"] == "Add h\n" and c["parents"] == [store.commit(repo, "main~1")["id"]]
    assert store.commit(repo, "main~1")["message"] == "Add g (cherry-picked)\n"

    store.commit_files(repo, "again", {"h": "h"}, "Add h once more", BOB, parent=base)
    with pytest.raises(NothingToMerge):
        store.merge(repo, "rebase-merge", "main", "again", "m", MERGER)


def test_merge_style_fast_forward_only(store, repo, branches):
    with pytest.raises(NotFastForward):
        store.merge(repo, "fast-forward-only", "main", "clean", "m", MERGER)
    head = store.commit_files(repo, "ahead", {"n": "n"}, "ahead", BOB, parent="main")
    assert store.merge(repo, "fast-forward-only", "main", head, "m", MERGER) == head
    assert store.branch_sha(repo, "main") == head


def test_merge_conflicts_and_nothing_to_merge(store, repo, branches):
    old = store.branch_sha(repo, "main")
    for style in ("merge", "squash", "rebase", "rebase-merge"):
        with pytest.raises(MergeConflict):
            store.merge(repo, style, "main", "clash", "m", MERGER)
    assert store.branch_sha(repo, "main") == old
    with pytest.raises(NothingToMerge):
        store.merge(repo, "merge", "main", branches, "m", MERGER)


def test_merge_detects_a_concurrent_push(store, repo, branches, monkeypatch):
    elsewhere = store.commit_files(repo, "other", {"o": "o"}, "other", BOB, parent="main")
    real = store.branch_sha

    def read_then_get_overtaken(git_dir, name):
        sha = real(git_dir, name)
        # A push through http-backend lands right after merge() read the base.
        client("--git-dir", git_dir, "update-ref", "refs/heads/main", elsewhere)
        return sha

    monkeypatch.setattr(store, "branch_sha", read_then_get_overtaken)
    with pytest.raises(StaleBase):
        store.merge(repo, "merge", "main", "clean", "m", MERGER)
    assert real(repo, "main") == elsewhere


# -- smart HTTP --------------------------------------------------------------------

@pytest.fixture
def http_url(store):
    """A tiny server mapping every request to http_backend; pushes as 'carol'."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            path, _, query = self.path.partition("?")
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                body = b""
                while True:   # git sends big pushes chunked
                    size = int(self.rfile.readline().split(b";")[0], 16)
                    body += self.rfile.read(size + 2)[:size]
                    if size == 0:
                        break
            else:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            push = "git-receive-pack" in self.path
            status, headers, out = git.http_backend(
                store.root, path, self.command, query, self.headers.get("Content-Type"),
                self.headers.get("Content-Encoding"), body,
                "carol" if push else None,
                self.headers.get("Git-Protocol"))
            self.send_response(status)
            for key, value in headers:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        do_POST = do_GET

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_http_clone_and_push(store, repo, http_url, tmp_path):
    wc = str(tmp_path / "wc")
    client("clone", "-q", f"{http_url}/acme/widgets.git", wc)
    assert open(os.path.join(wc, "README.md")).read() == "hello\n"
    client("checkout", "-q", "-b", "agent/issue-1", cwd=wc)
    with open(os.path.join(wc, "big.bin"), "wb") as f:
        f.write(os.urandom(2 * 1024 * 1024))      # past http.postBuffer: a chunked push
    client("add", ".", cwd=wc)
    client("commit", "-q", "-m", "Add a big file", cwd=wc)
    before = store.refs(repo)
    client("push", "-q", "origin", "agent/issue-1", cwd=wc)
    after = store.refs(repo)
    assert after["refs/heads/agent/issue-1"] == client("rev-parse", "HEAD", cwd=wc)
    assert after["refs/heads/main"] == before["refs/heads/main"]
    commits, total = store.push_commits(repo, ZERO_SHA, after["refs/heads/agent/issue-1"])
    assert total == 2 and commits[0]["added"] == ["big.bin"]

    # Fetching it back (protocol v2 over the Git-Protocol header) works too.
    client("fetch", "-q", "origin", cwd=wc)


def test_http_push_needs_remote_user(store, repo):
    status, headers, _ = git.http_backend(
        store.root, "/acme/widgets.git/info/refs", "GET", "service=git-receive-pack",
        None, None, b"", None, None)
    assert status == 403
    status, headers, body = git.http_backend(
        store.root, "/acme/widgets.git/info/refs", "GET", "service=git-receive-pack",
        None, None, b"", "carol", None)
    assert status == 200
    assert ("Content-Type", "application/x-git-receive-pack-advertisement") in headers
    assert body.startswith(b"001f# service=git-receive-pack\n")
    # The repository may also be named by its directory, with only the service path.
    status, _, body = git.http_backend(repo, "/info/refs", "GET", "service=git-upload-pack",
                                       None, None, b"", None, None)
    assert status == 200 and store.branch_sha(repo, "main").encode() in body
    assert git.http_backend(store.root, "/../acme/widgets.git/info/refs", "GET",
                            "service=git-upload-pack", None, None, b"", None, None)[0] == 404
