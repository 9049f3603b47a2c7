"""Gitea emulator conformance: repository contents and raw files.

GET /repos/{o}/{r}/contents[/{filepath}] and /raw/{filepath}, as Gitea
1.26.3 answers them (routers/api/v1/repo/file.go,
services/repository/files/content.go, common.ServeBlob): listings and
files as ContentsResponse in Go field order, `ref` as a branch, tag or
full commit id, raw bytes with the headers Gitea serves them with, and
the 404 bodies of each way to miss.  Every 2xx JSON answer is also checked
against swagger.v1.json (nested paths through a stand-in path).
"""

import base64
import copy
import hashlib
import os

import pytest

from emulator import DEFAULT_SEED, Emulator
from emulator_helpers import Git, SHA1_RE, get_branch, validate_as

REPO = "acme/contents"
DOCKERFILE = "FROM alpine:3.20\nRUN apk add --no-cache curl\nCMD [\"sh\"]\n"
README = "# contents\n\nFiles for the contents API.\n"
BRANCH = "feature/docs"
BRANCH_README = "# contents, on a branch\n"
MAIN_C = "int main(void) { return 0; }\n"

# api.ContentsResponse's keys in Go field order (modules/structs/repo_file.go);
# last_commit_message, lfs_oid and lfs_size are omitempty and left out here.
CONTENTS_KEYS = ["name", "path", "sha", "last_commit_sha", "last_committer_date",
                 "last_author_date", "type", "size", "encoding", "content", "target", "url",
                 "html_url", "git_url", "download_url", "submodule_git_url", "_links"]

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
BINARY = b"\x00\x01\x02\x03 not text \xff\xfe"
SUBMODULE_SHA = "0123456789abcdef0123456789abcdef01234567"     # a commit nobody has


def _seed():
    seed = copy.deepcopy(DEFAULT_SEED)
    seed["repos"] += [
        {"owner": "acme", "name": "contents",
         "files": {"Dockerfile": DOCKERFILE, "README.md": README, "src/main.c": MAIN_C,
                   "docs/guide/intro.md": "# Intro\n"},
         "branches": {BRANCH: {"files": {"README.md": BRANCH_README, "NEW.md": "new\n"}}},
         "collaborators": {"agent-coder": "write"}},
        {"owner": "acme", "name": "vault", "private": True,
         "files": {"README.md": "# vault\n"}, "collaborators": {"agent-coder": "read"}},
    ]
    return seed


@pytest.fixture(scope="module")
def emu():
    e = Emulator(seed=_seed())
    e.tok = {u: e.user_token(u) for u in ("agent-coder", "outsider")}
    yield e
    e.stop()


@pytest.fixture(scope="module")
def pushed(emu, tmp_path_factory):
    """What only a git client makes: an annotated tag v1.0 on main, and a
    branch "kinds" with a symlink, an executable, a submodule, a PNG and a
    binary file.  Returns {tag commit, kinds head}."""
    git = Git(tmp_path_factory.mktemp("git-home"))
    work = git.clone(emu.clone_url(REPO, "agent-coder", emu.tok["agent-coder"]),
                     tmp_path_factory.mktemp("clone") / "contents")
    git.run("tag", "-a", "v1.0", "-m", "Release 1.0", cwd=work)
    git.run("push", "-q", "origin", "v1.0", cwd=work)
    git.run("checkout", "-q", "-b", "kinds", cwd=work)
    os.symlink("README.md", os.path.join(work, "link"))
    with open(os.path.join(work, "tool.sh"), "w") as f:
        f.write("#!/bin/sh\necho tool\n")
    os.chmod(os.path.join(work, "tool.sh"), 0o755)
    for name, data in (("logo.png", PNG), ("blob.bin", BINARY)):
        with open(os.path.join(work, name), "wb") as f:
            f.write(data)
    with open(os.path.join(work, ".gitmodules"), "w") as f:
        f.write('[submodule "lib"]\n\tpath = vendor/lib\n\turl = https://example.com/lib.git\n')
    git.run("add", "link", "tool.sh", "logo.png", "blob.bin", ".gitmodules", cwd=work)
    git.run("update-index", "--add", "--cacheinfo", f"160000,{SUBMODULE_SHA},vendor/lib",
            cwd=work)
    git.run("commit", "-q", "-m", "Every kind of entry", cwd=work)
    git.run("push", "-q", "origin", "kinds", cwd=work)
    return {"tag": git.out("rev-parse", "v1.0^{commit}", cwd=work),
            "kinds": git.out("rev-parse", "HEAD", cwd=work)}


def blob_sha(data):
    data = data.encode() if isinstance(data, str) else data
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def head(emu, branch):
    r = get_branch(emu, REPO, branch)
    assert r.status_code == 200, r.text
    return r.json()["commit"]["id"]


def ok(r):
    assert r.status_code == 200, f"expected 200, got {r.status_code}: {r.text[:400]}"
    return r.json()


def contents(emu, path, **kw):
    """GET contents/<path>, validated here: the automatic check cannot
    route a filepath holding '/', and swagger gives contents/{filepath}
    the object answer only, while a directory's is the array
    (ContentsListResponse) that the root listing declares."""
    body = ok(emu.get(f"/repos/{REPO}/contents/{path}", validate=False, **kw))
    stand_in = "contents" if isinstance(body, list) else "contents/stand-in"
    return validate_as("GET", f"/repos/{REPO}/{stand_in}", 200, body)


def raw(emu, path, **kw):
    return emu.get(f"/repos/{REPO}/raw/{path}", validate=False, **kw)


def not_found(r, message, errors):
    """Gitea 1.26.3's APIErrorNotFound body: a string argument is the
    message ("not found" without one), errors null when none was given."""
    assert r.status_code == 404, f"expected 404, got {r.status_code}: {r.text[:300]}"
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert list(body) == ["errors", "message", "url"], body
    assert body["message"] == message, body
    assert body["errors"] == errors, body
    assert body["url"].endswith("/api/swagger")
    return body


# -- listings -------------------------------------------------------------------------

def test_root_listing(emu):
    main = head(emu, "main")
    listing = ok(emu.get(f"/repos/{REPO}/contents"))
    # Git's tree order: bytewise, so upper case first.
    assert [e["name"] for e in listing] == ["Dockerfile", "README.md", "docs", "src"]
    by_name = {e["name"]: e for e in listing}
    for e in listing:
        assert list(e) == CONTENTS_KEYS, e
        assert e["path"] == e["name"]
        # A listing never carries content.
        assert e["content"] is None and e["encoding"] is None
        assert e["target"] is None and e["submodule_git_url"] is None
        assert e["last_commit_sha"] == main
        assert e["last_committer_date"].endswith("Z") and e["last_author_date"]
        assert e["url"] == f"{emu.root_url}api/v1/repos/{REPO}/contents/{e['name']}?ref=main"
        assert e["html_url"] == f"{emu.root_url}{REPO}/src/branch/main/{e['name']}"
        assert e["git_url"] == f"{emu.root_url}api/v1/repos/{REPO}/git/blobs/{e['sha']}"
        assert e["_links"] == {"self": e["url"], "git": e["git_url"], "html": e["html_url"]}
    docker = by_name["Dockerfile"]
    assert docker["type"] == "file"
    assert docker["sha"] == blob_sha(DOCKERFILE)
    assert docker["size"] == len(DOCKERFILE)
    assert docker["download_url"] == f"{emu.root_url}{REPO}/raw/branch/main/Dockerfile"
    assert by_name["README.md"]["type"] == "file"
    assert by_name["README.md"]["sha"] == blob_sha(README)
    for d in ("docs", "src"):
        assert by_name[d]["type"] == "dir"
        assert by_name[d]["size"] == 0 and by_name[d]["download_url"] is None
        assert SHA1_RE.match(by_name[d]["sha"])


def test_root_listing_with_a_trailing_slash(emu):
    listing = ok(emu.get(f"/repos/{REPO}/contents/", validate=False))
    assert [e["name"] for e in listing] == ["Dockerfile", "README.md", "docs", "src"]


def test_directory_listing(emu):
    listing = contents(emu, "docs")
    assert [(e["name"], e["path"], e["type"]) for e in listing] == [("guide", "docs/guide", "dir")]
    listing = contents(emu, "docs/guide")
    assert [(e["name"], e["path"], e["type"]) for e in listing] == \
        [("intro.md", "docs/guide/intro.md", "file")]
    assert listing[0]["url"].endswith("/contents/docs/guide/intro.md?ref=main")
    assert listing[0]["content"] is None


# -- files ----------------------------------------------------------------------------

def test_file_content_round_trips(emu):
    main = head(emu, "main")
    f = ok(emu.get(f"/repos/{REPO}/contents/Dockerfile"))
    assert list(f) == CONTENTS_KEYS
    assert (f["name"], f["path"], f["type"], f["encoding"]) == \
        ("Dockerfile", "Dockerfile", "file", "base64")
    assert base64.b64decode(f["content"]).decode() == DOCKERFILE
    assert f["size"] == len(DOCKERFILE)
    assert f["sha"] == blob_sha(DOCKERFILE)
    assert f["last_commit_sha"] == main
    assert f["url"] == f"{emu.root_url}api/v1/repos/{REPO}/contents/Dockerfile?ref=main"
    assert f["download_url"] == f"{emu.root_url}{REPO}/raw/branch/main/Dockerfile"
    f = contents(emu, "src/main.c")
    assert (f["name"], f["path"]) == ("main.c", "src/main.c")
    assert base64.b64decode(f["content"]).decode() == MAIN_C


def test_file_on_another_branch_via_ref(emu):
    tip = head(emu, BRANCH)
    f = ok(emu.get(f"/repos/{REPO}/contents/README.md", params={"ref": BRANCH}))
    assert base64.b64decode(f["content"]).decode() == BRANCH_README
    assert f["sha"] == blob_sha(BRANCH_README)
    assert f["last_commit_sha"] == tip
    assert f["url"].endswith("/contents/README.md?ref=feature%2Fdocs")
    assert f["html_url"] == f"{emu.root_url}{REPO}/src/branch/feature/docs/README.md"
    assert f["download_url"] == f"{emu.root_url}{REPO}/raw/branch/feature/docs/README.md"
    # The default branch is unchanged, and lacks the branch's new file.
    f = ok(emu.get(f"/repos/{REPO}/contents/README.md"))
    assert base64.b64decode(f["content"]).decode() == README
    assert ok(emu.get(f"/repos/{REPO}/contents/NEW.md", params={"ref": BRANCH}))["size"] == 4
    not_found(emu.get(f"/repos/{REPO}/contents/NEW.md"), "GetContentsOrList",
              ["object does not exist [id: , rel_path: NEW.md]"])
    names = [e["name"] for e in ok(emu.get(f"/repos/{REPO}/contents", params={"ref": BRANCH}))]
    assert "NEW.md" in names


def test_ref_as_a_commit_id(emu):
    tip = head(emu, BRANCH)
    f = ok(emu.get(f"/repos/{REPO}/contents/README.md", params={"ref": tip}))
    assert base64.b64decode(f["content"]).decode() == BRANCH_README
    assert f["url"].endswith(f"/contents/README.md?ref={tip}")
    assert f["html_url"] == f"{emu.root_url}{REPO}/src/commit/{tip}/README.md"
    # Only a full-length id is a commit here (IsStringLikelyCommitID).
    not_found(emu.get(f"/repos/{REPO}/contents/README.md", params={"ref": tip[:10]}),
              "not found", [f"object does not exist [id: {tip[:10]}, rel_path: ]"])


def test_ref_as_a_tag(emu, pushed):
    f = ok(emu.get(f"/repos/{REPO}/contents/README.md", params={"ref": "v1.0"}))
    assert base64.b64decode(f["content"]).decode() == README
    assert f["last_commit_sha"] == pushed["tag"]
    assert f["html_url"] == f"{emu.root_url}{REPO}/src/tag/v1.0/README.md"
    assert f["download_url"] == f"{emu.root_url}{REPO}/raw/tag/v1.0/README.md"
    r = raw(emu, "README.md", params={"ref": "v1.0"})
    assert r.status_code == 200 and r.content == README.encode()


def test_every_kind_of_entry(emu, pushed):
    listing = ok(emu.get(f"/repos/{REPO}/contents", params={"ref": "kinds"}))
    kinds = {e["name"]: e["type"] for e in listing}
    assert kinds["link"] == "symlink" and kinds["tool.sh"] == "file"
    assert kinds["vendor"] == "dir" and kinds["logo.png"] == "file"
    link = ok(emu.get(f"/repos/{REPO}/contents/link", params={"ref": "kinds"}))
    assert (link["type"], link["target"], link["content"], link["encoding"]) == \
        ("symlink", "README.md", None, None)
    assert link["download_url"].endswith("/raw/branch/kinds/link")
    tool = ok(emu.get(f"/repos/{REPO}/contents/tool.sh", params={"ref": "kinds"}))
    assert base64.b64decode(tool["content"]) == b"#!/bin/sh\necho tool\n"
    sub = contents(emu, "vendor/lib", params={"ref": "kinds"})
    assert (sub["type"], sub["sha"], sub["size"]) == ("submodule", SUBMODULE_SHA, 0)
    assert sub["submodule_git_url"] == "https://example.com/lib.git"
    assert sub["html_url"] is None and sub["git_url"] is None and sub["download_url"] is None
    assert sub["_links"] == {"self": sub["url"], "git": None, "html": None}
    png = ok(emu.get(f"/repos/{REPO}/contents/logo.png", params={"ref": "kinds"}))
    assert base64.b64decode(png["content"]) == PNG
    assert png["last_commit_sha"] == pushed["kinds"]


def test_lfs_pointer_metadata(emu):
    oid = hashlib.sha256(b"big file").hexdigest()
    pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize 8\n"
    emu.commit(REPO, "lfs", {"big.bin": pointer}, message="An LFS pointer\n")
    f = ok(emu.get(f"/repos/{REPO}/contents/big.bin", params={"ref": "lfs"}))
    assert list(f) == CONTENTS_KEYS + ["lfs_oid", "lfs_size"]
    assert (f["lfs_oid"], f["lfs_size"]) == (oid, 8)
    assert base64.b64decode(f["content"]).decode() == pointer


# -- raw files ------------------------------------------------------------------------

def test_raw_returns_the_bytes(emu):
    r = raw(emu, "Dockerfile")
    assert r.status_code == 200, r.text
    assert r.content == DOCKERFILE.encode()
    assert r.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert r.headers["Content-Length"] == str(len(DOCKERFILE))
    assert r.headers["Content-Disposition"] == "inline; filename=Dockerfile"
    assert r.headers["X-Gitea-Object-Type"] == "file"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Etag"] == f'"{blob_sha(DOCKERFILE)}"'
    assert r.headers["Cache-Control"] == "public, max-age=21600, no-transform"
    assert r.headers["Last-Modified"].endswith(" GMT")
    r = raw(emu, "src/main.c")
    assert r.status_code == 200 and r.content == MAIN_C.encode()
    assert r.headers["Content-Disposition"] == "inline; filename=main.c"


def test_raw_on_another_branch(emu):
    # ?ref=, or the legacy "{ref}/{filepath}" form (a branch may hold '/').
    for path, params in (("README.md", {"ref": BRANCH}), (f"{BRANCH}/README.md", None),
                         (f"{head(emu, BRANCH)}/README.md", None)):
        r = raw(emu, path, params=params)
        assert r.status_code == 200, (path, r.text)
        assert r.content == BRANCH_README.encode(), path


def test_raw_types_and_caching(emu, pushed):
    r = raw(emu, "logo.png", params={"ref": "kinds"})
    assert (r.status_code, r.content) == (200, PNG)
    assert r.headers["Content-Type"] == "image/png"
    r = raw(emu, "blob.bin", params={"ref": "kinds"})
    assert (r.status_code, r.content) == (200, BINARY)
    assert r.headers["Content-Type"] == "application/octet-stream"
    r = raw(emu, "link", params={"ref": "kinds"})
    assert r.content == b"README.md" and r.headers["X-Gitea-Object-Type"] == "symlink"
    r = raw(emu, "README.md")
    again = raw(emu, "README.md", headers={"If-None-Match": r.headers["Etag"]})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["Etag"] == r.headers["Etag"]


def test_raw_of_a_private_repo_is_cached_privately(emu):
    r = emu.get("/repos/acme/vault/raw/README.md", validate=False)
    assert r.status_code == 200 and r.content == b"# vault\n"
    assert r.headers["Cache-Control"] == "private, max-age=21600, no-transform"


# -- misses -----------------------------------------------------------------------------

def test_unknown_file_is_404(emu):
    not_found(emu.get(f"/repos/{REPO}/contents/nope.txt"), "GetContentsOrList",
              ["object does not exist [id: , rel_path: nope.txt]"])
    # A missing directory on the way names itself; a file used as one, its id.
    not_found(emu.get(f"/repos/{REPO}/contents/nope/deeper.txt", validate=False),
              "GetContentsOrList", ["object does not exist [id: , rel_path: nope]"])
    not_found(emu.get(f"/repos/{REPO}/contents/README.md/x", validate=False),
              "GetContentsOrList",
              [f"object does not exist [id: {blob_sha(README)}, rel_path: ]"])
    not_found(raw(emu, "nope.txt"), "not found", None)
    not_found(raw(emu, "src/nope.c"), "not found", None)
    # A directory has no raw bytes.
    not_found(raw(emu, "src"), "getBlobForEntry", None)


def test_unknown_ref_is_404(emu):
    not_found(emu.get(f"/repos/{REPO}/contents", params={"ref": "no-such"}), "not found",
              ["object does not exist [id: no-such, rel_path: ]"])
    missing = "f" * 40
    not_found(emu.get(f"/repos/{REPO}/contents/README.md", params={"ref": missing}),
              "not found", [f"object does not exist [id: {missing}, rel_path: ]"])
    # Gitea 1.26.3 takes only short branch and tag names.
    not_found(emu.get(f"/repos/{REPO}/contents/README.md", params={"ref": "refs/heads/main"}),
              "not found", ["object does not exist [id: refs/heads/main, rel_path: ]"])
    # raw: a commit id that is not there.
    not_found(raw(emu, f"{missing}/README.md"), "unable to find a git ref", None)


def test_raw_with_an_unknown_ref_reads_the_default_branch(emu):
    """getRefNameLegacy falls back to the default branch when `ref` names
    nothing (Gitea's own FIXME): 200 with main's file, not 404."""
    r = raw(emu, "README.md", params={"ref": "no-such"})
    assert r.status_code == 200 and r.content == README.encode()


def test_unknown_repo_is_404(emu):
    for path in ("contents", "contents/README.md", "raw/README.md"):
        r = emu.get(f"/repos/acme/no-such/{path}", validate=False)
        assert r.status_code == 404, (path, r.text)
        assert set(r.json()) == {"errors", "message", "url"}


def test_private_repo_needs_read_access(emu):
    for path in ("contents", "contents/README.md", "raw/README.md"):
        url = f"/repos/acme/vault/{path}"
        for token in (None, emu.tok["outsider"]):
            r = emu.get(url, token=token, validate=False)
            assert r.status_code == 404, (path, token, r.text)
        assert emu.get(url, token=emu.tok["agent-coder"], validate=False).status_code == 200
    f = ok(emu.get("/repos/acme/vault/contents/README.md", token=emu.tok["agent-coder"]))
    assert base64.b64decode(f["content"]) == b"# vault\n"


def test_a_git_path_is_refused_with_500(emu):
    """CleanGitTreePath refuses a ".git" element with ErrFilenameInvalid,
    which is no git.ErrNotExist: Gitea answers 500, the message shown to
    site admins only."""
    r = emu.get(f"/repos/{REPO}/contents/.git/config", validate=False)
    assert r.status_code == 500, r.text
    assert r.json()["message"] == "path contains a malformed path component [path: .git/config]"
    r = emu.get(f"/repos/{REPO}/contents/.git/config", token=emu.tok["agent-coder"],
                validate=False)
    assert r.status_code == 500 and r.json()["message"] == ""
