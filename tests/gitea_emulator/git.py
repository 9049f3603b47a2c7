"""The emulator's git repositories: bare repos on disk, driven by the git CLI.

Everything goes through real git (argument lists, a timeout, and an
environment cut off from the user's and the system's config), so pushes,
merges and payload commit lists behave as they do behind a real Gitea.
Writes to one repository are serialised by a per-repository lock; branch
moves are still compare-and-swap, because `git http-backend` pushes do not
take that lock.
"""

import datetime
import os
import re
import shutil
import subprocess
import tempfile
import threading

ZERO_SHA = "0" * 40
TIMEOUT = 60                 # seconds, for one git command
HTTP_TIMEOUT = 300           # a clone or push of a big repository takes longer
MERGE_STYLES = ("merge", "rebase", "rebase-merge", "squash", "fast-forward-only")

# Identity for throwaway commits that only steer `git merge-tree` (see
# _pick_tree); they are never referenced by a branch.
_SCRATCH_IDENT = ("emulator", "emulator@localhost")
_IDENT_RE = re.compile(rb"^(.*) <(.*)> (\d+) ([+-]\d{4})$")
_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


class GitError(Exception):
    """A git command failed, or the request makes no sense for this repo."""


class MergeConflict(GitError):
    pass


class NotFastForward(GitError):
    pass


class StaleBase(GitError):
    """The branch moved (e.g. a concurrent push) between reading and updating it."""


class NothingToMerge(GitError):
    """The head is already contained in the base branch."""


class NoSuchObject(GitError):
    """Gitea's git.ErrNotExist, with its message: a path missing from a
    tree (id empty) or an object that is not what the walk needs."""

    def __init__(self, oid, rel_path):
        super().__init__(f"object does not exist [id: {oid}, rel_path: {rel_path}]")
        self.oid, self.rel_path = oid, rel_path


def clean_path(p):
    """Go's path.Clean: no empty or "." elements, ".." resolved lexically
    ("/.." stays "/", a relative path keeps its leading ".."), "." for
    nothing."""
    rooted = p.startswith("/")
    out = []
    for part in p.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if out and out[-1] != "..":
                out.pop()
            elif not rooted:
                out.append("..")
            continue
        out.append(part)
    text = "/".join(out)
    if rooted:
        return "/" + text
    return text or "."


def join_path(*elems):
    """Go's path.Join: the non-empty elements joined and cleaned; "" if
    there are none."""
    elems = [e for e in elems if e]
    return clean_path("/".join(elems)) if elems else ""


def _parse_gitmodules(text):
    """{path: url} as Gitea's configParseSubModules reads .gitmodules
    (modules/git/config_submodule.go): [submodule ...] sections, their
    path and url keys, nothing else of git-config's syntax."""
    modules, cur = {}, None
    for line in text.split("\n"):
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            if cur is not None:
                modules[cur["path"]] = cur["url"]
            cur = {"path": "", "url": ""} if line.startswith("[submodule") else None
            continue
        key, sep, value = line.partition("=")
        if cur is None or not sep:
            continue
        if key.strip() in ("path", "url"):
            cur[key.strip()] = value.strip()
    if cur is not None:
        modules[cur["path"]] = cur["url"]
    return modules


def _env(extra=None):
    # A fresh environment rather than os.environ: GIT_DIR, GIT_INDEX_FILE or
    # an author identity leaking in from the caller would change results.
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_ATTR_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        "LC_ALL": "C",
    }
    env.update(extra or {})
    return env


def _git(args, git_dir=None, input=None, env=None, check=True, timeout=TIMEOUT):
    # --git-dir rather than -C: no repository discovery, no safe.directory check.
    cmd = ["git"] + (["--git-dir", git_dir] if git_dir else []) + list(args)
    p = subprocess.run(cmd, input=input, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=_env(env), timeout=timeout)
    if check and p.returncode != 0:
        raise GitError(f"git {' '.join(args)}: exit {p.returncode}: "
                       f"{p.stderr.decode(errors='replace').strip()}")
    return p


def _out(args, git_dir=None, **kw):
    return _git(args, git_dir, **kw).stdout.decode().strip()


def _git_date(when):
    """A datetime as git's internal date, keeping its UTC offset."""
    when = when or datetime.datetime.now(datetime.timezone.utc)
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    minutes = int(when.utcoffset().total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, minutes = divmod(abs(minutes), 60)
    return f"@{int(when.timestamp())} {sign}{hours:02d}{minutes:02d}"


def _ident_env(role, who, date):
    name, email = who
    return {f"GIT_{role}_NAME": name, f"GIT_{role}_EMAIL": email,
            f"GIT_{role}_DATE": date}


def _rfc3339(seconds, tz):
    """Render like Go's time.RFC3339 in the commit's own offset ("Z" for zero)."""
    offset = datetime.timedelta(hours=int(tz[1:3]), minutes=int(tz[3:5]))
    if tz.startswith("-"):
        offset = -offset
    text = datetime.datetime.fromtimestamp(
        seconds, datetime.timezone(offset)).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _parse_ident(raw):
    """b"Name <email> 1784534742 +0200" -> (name, email, seconds, "+0200")."""
    m = _IDENT_RE.match(raw)
    if not m:
        raise GitError(f"bad identity line: {raw!r}")
    name, email, seconds, tz = (g.decode(errors="replace") for g in m.groups())
    return name, email, int(seconds), tz


def _person(ident):
    name, email, seconds, tz = ident
    return {"name": name, "email": email, "date": _rfc3339(seconds, tz)}


def http_backend(git_dir_root, path_info, method, query_string, content_type,
                 content_encoding, body, remote_user, git_protocol):
    """Serve one smart-HTTP request with `git http-backend` as a CGI.

    git_dir_root + path_info name the repository and the service, either as
    (store root, "/owner/name.git/info/refs") or as (a repository's git_dir,
    "/info/refs"); the caller maps URLs, which Gitea matches case-insensitively,
    to the lower-cased directories.  Returns (status, [(header, value)], body).
    Pushes (receive-pack) are only allowed when remote_user is set;
    authentication and permissions are the caller's job."""
    if ".." in path_info.split("/"):
        return 404, [("Content-Type", "text/plain")], b"Not Found\n"
    body = body or b""
    env = {
        "GIT_PROJECT_ROOT": os.path.abspath(git_dir_root),
        "GIT_HTTP_EXPORT_ALL": "1",
        "PATH_INFO": path_info,
        "REQUEST_METHOD": method,
        "QUERY_STRING": query_string or "",
        "CONTENT_TYPE": content_type or "",
        "CONTENT_LENGTH": str(len(body)),
    }
    if content_encoding:
        env["HTTP_CONTENT_ENCODING"] = content_encoding   # http-backend gunzips itself
    if remote_user:
        env["REMOTE_USER"] = remote_user                  # enables receive-pack
    if git_protocol:
        env["GIT_PROTOCOL"] = git_protocol                # protocol v2 negotiation
    p = subprocess.run(["git", "http-backend"], input=body, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=_env(env), timeout=HTTP_TIMEOUT)
    head, sep, rest = p.stdout.partition(b"\r\n\r\n")
    if not sep:
        head, sep, rest = p.stdout.partition(b"\n\n")
    if not sep:
        return 500, [("Content-Type", "text/plain")], p.stderr or b"git http-backend failed\n"
    status, headers = 200, []
    for line in head.decode("latin-1").splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() == "status":
            status = int(value.split()[0])
        elif key.strip():
            headers.append((key.strip(), value.strip()))
    return status, headers, rest


class GitStore:
    """Bare repositories under root_dir/<owner>/<name>.git, as Gitea lays them out."""

    def __init__(self, root_dir):
        self.root = os.path.abspath(root_dir)
        os.makedirs(self.root, exist_ok=True)
        self._locks = {}
        self._locks_guard = threading.Lock()

    # Also reachable as a plain module function; it needs no store state.
    http_backend = staticmethod(http_backend)

    def lock(self, git_dir):
        """The write lock of one repository (the HTTP server may hold it
        around a receive-pack so its before/after ref snapshots are exact)."""
        key = os.path.abspath(git_dir)
        with self._locks_guard:
            return self._locks.setdefault(key, threading.Lock())

    # -- repositories -----------------------------------------------------

    def create_repo(self, owner, name, default_branch="main", files=None,
                    author=("Name", "email"), message="Initial commit", when=None):
        for part in (owner, name):
            if not _NAME_RE.match(part) or part in (".", ".."):
                raise ValueError(f"invalid owner or repository name: {part!r}")
        # Gitea stores owner and repository names lower-cased on disk.
        git_dir = os.path.join(self.root, owner.lower(), name.lower() + ".git")
        with self.lock(git_dir):
            if os.path.exists(git_dir):
                raise FileExistsError(git_dir)
            os.makedirs(os.path.dirname(git_dir), exist_ok=True)
            _git(["init", "--quiet", "--bare", "-b", default_branch, git_dir])
        if files:
            self.commit_files(git_dir, default_branch, files, message, author, when=when)
        return git_dir

    def delete_repo(self, git_dir):
        with self.lock(git_dir):
            shutil.rmtree(git_dir)

    # -- refs ---------------------------------------------------------------

    def refs(self, git_dir):
        out = _out(["for-each-ref", "--format=%(objectname) %(refname)"], git_dir)
        return {ref: sha for sha, ref in (line.split(" ", 1) for line in out.splitlines())}

    def branches(self, git_dir):
        prefix = "refs/heads/"
        return sorted((ref[len(prefix):], sha) for ref, sha in self.refs(git_dir).items()
                      if ref.startswith(prefix))

    def branch_sha(self, git_dir, name):
        # show-ref --verify matches the exact ref only (rev-parse would DWIM).
        p = _git(["show-ref", "--verify", "-s", "refs/heads/" + name], git_dir, check=False)
        return p.stdout.decode().strip() if p.returncode == 0 else None

    def tag_sha(self, git_dir, name):
        """The object refs/tags/<name> names (an annotated tag's own id), or None."""
        p = _git(["show-ref", "--verify", "-s", "refs/tags/" + name], git_dir, check=False)
        return p.stdout.decode().strip() if p.returncode == 0 else None

    def peel_commit(self, git_dir, rev):
        """The commit rev names (tags peeled), or None when it names none."""
        p = _git(["rev-parse", "--verify", "-q", "--end-of-options", rev + "^{commit}"],
                 git_dir, check=False)
        return p.stdout.decode().strip() if p.returncode == 0 else None

    def create_branch(self, git_dir, name, sha):
        with self.lock(git_dir):
            if self.branch_sha(git_dir, name) is not None:
                raise FileExistsError(name)
            self._update_ref(git_dir, "refs/heads/" + name,
                             self._resolve(git_dir, sha), ZERO_SHA)

    def delete_branch(self, git_dir, name):
        """Returns False when there was no such branch."""
        with self.lock(git_dir):
            if self.branch_sha(git_dir, name) is None:
                return False
            _git(["update-ref", "-d", "refs/heads/" + name], git_dir)
            return True

    def _update_ref(self, git_dir, ref, new, old):
        """Move ref from old to new, failing if someone else moved it first."""
        p = _git(["update-ref", ref, new, old or ZERO_SHA], git_dir, check=False)
        if p.returncode != 0:
            current = _git(["show-ref", "--verify", "-s", ref], git_dir,
                           check=False).stdout.decode().strip() or ZERO_SHA
            if current != (old or ZERO_SHA):
                raise StaleBase(f"{ref} is at {current}, expected {old}")
            raise GitError(p.stderr.decode(errors="replace").strip())

    def _resolve(self, git_dir, rev):
        p = _git(["rev-parse", "--verify", "-q", "--end-of-options", rev + "^{commit}"],
                 git_dir, check=False)
        if p.returncode != 0:
            raise GitError(f"unknown commit: {rev}")
        return p.stdout.decode().strip()

    def _head(self, git_dir):
        # HEAD names the default branch, which is unborn (None) until its first commit.
        p = _git(["rev-parse", "--verify", "-q", "HEAD^{commit}"], git_dir, check=False)
        return p.stdout.decode().strip() if p.returncode == 0 else None

    def _tree(self, git_dir, rev):
        return _out(["rev-parse", "--verify", "--end-of-options", rev + "^{tree}"], git_dir)

    # -- writing commits without a worktree ---------------------------------

    def _commit_tree(self, git_dir, tree, parents, message, env):
        """message: bytes stored verbatim; env: the GIT_AUTHOR_*/GIT_COMMITTER_* identity."""
        args = ["commit-tree", tree]
        for parent in parents:
            args += ["-p", parent]
        return _out(args, git_dir, input=message, env=env)

    @staticmethod
    def _clean_message(message):
        # What `git commit -m` (and so Gitea) stores: git's whitespace cleanup,
        # which also guarantees the trailing newline.
        return _git(["stripspace"], input=message.encode()).stdout

    @staticmethod
    def _idents(author, committer, when):
        date = _git_date(when)
        return {**_ident_env("AUTHOR", author, date),
                **_ident_env("COMMITTER", committer or author, date)}

    def commit_files(self, git_dir, branch, files, message, author, parent=None,
                     delete=(), committer=None, when=None):
        """Commit on branch, adding/replacing files and removing delete.

        The commit's parent is parent if given, else the branch's head, else
        (a new branch) the default branch's head; a root commit in an empty repo."""
        with self.lock(git_dir):
            old = self.branch_sha(git_dir, branch)
            base = self._resolve(git_dir, parent) if parent else old or self._head(git_dir)
            with tempfile.TemporaryDirectory() as tmp:
                # A private index file builds the tree with no worktree at all.
                index_env = {"GIT_INDEX_FILE": os.path.join(tmp, "index")}
                if base:
                    _git(["read-tree", base], git_dir, env=index_env)
                entries = []
                for path, content in (files or {}).items():
                    data = content.encode() if isinstance(content, str) else content
                    blob = _out(["hash-object", "-w", "--stdin"], git_dir, input=data)
                    entries.append(f"100644 {blob}\t{path}\0")
                for path in delete:
                    entries.append(f"0 {ZERO_SHA}\t{path}\0")   # mode 0 removes
                _git(["update-index", "-z", "--index-info"], git_dir,
                     input="".join(entries).encode(), env=index_env)
                tree = _out(["write-tree"], git_dir, env=index_env)
            new = self._commit_tree(git_dir, tree, [base] if base else [],
                                    self._clean_message(message),
                                    self._idents(author, committer, when))
            self._update_ref(git_dir, "refs/heads/" + branch, new, old)
            return new

    # -- reading commits ----------------------------------------------------

    def _raw_commit(self, git_dir, sha):
        raw = _git(["cat-file", "commit", sha], git_dir).stdout
        header, _, message = raw.partition(b"\n\n")
        info = {"tree": None, "parents": [], "author": None, "committer": None,
                "message": message}
        for line in header.split(b"\n"):
            key, _, value = line.partition(b" ")
            if key == b"tree":
                info["tree"] = value.decode()
            elif key == b"parent":
                info["parents"].append(value.decode())
            elif key in (b"author", b"committer"):
                info[key.decode()] = _parse_ident(value)
        return info

    def commit(self, git_dir, sha):
        sha = self._resolve(git_dir, sha)
        info = self._raw_commit(git_dir, sha)
        # Gitea's GetCommitFileStatus, verbatim: diff against the first parent,
        # renames split into add+remove, only A/D/M reported.
        out = _git(["log", "--name-status", "-m", "--pretty=format:", "--first-parent",
                    "--no-renames", "-z", "-1", sha], git_dir).stdout
        fields = out.lstrip(b"\n\0").split(b"\0")
        changes = {"A": [], "D": [], "M": []}
        for status, path in zip(fields[0::2], fields[1::2]):
            if status[:1].decode() in changes:
                changes[status[:1].decode()].append(path.decode(errors="replace"))
        return {
            "id": sha,
            "message": info["message"].decode(errors="replace"),
            "author": _person(info["author"]),
            "committer": _person(info["committer"]),
            "parents": info["parents"],
            "added": changes["A"],
            "removed": changes["D"],
            "modified": changes["M"],
        }

    def push_commits(self, git_dir, before, after, limit=5):
        """(newest-first commits of a push, capped at limit; their total count)."""
        if not after or after == ZERO_SHA:
            return [], 0            # a branch deletion carries no commits
        if not before or before == ZERO_SHA:
            # Gitea looks at only the last 10 commits of a new branch.
            args = ["rev-list", "--max-count=10", "--end-of-options", after]
        else:
            args = ["rev-list", "--end-of-options", after, "^" + before]
        shas = _out(args, git_dir).split()
        return [self.commit(git_dir, s) for s in shas[:limit]], len(shas)

    def merge_base(self, git_dir, a, b):
        p = _git(["merge-base", "--end-of-options", a, b], git_dir, check=False)
        if p.returncode == 1:
            return None
        if p.returncode != 0:
            raise GitError(p.stderr.decode(errors="replace").strip())
        return p.stdout.decode().strip()

    def is_ancestor(self, git_dir, a, b):
        p = _git(["merge-base", "--is-ancestor", "--end-of-options", a, b],
                 git_dir, check=False)
        if p.returncode not in (0, 1):
            raise GitError(p.stderr.decode(errors="replace").strip())
        return p.returncode == 0

    def diff_stats(self, git_dir, base, head):
        """(additions, deletions, changed_files) of merge-base(base, head)..head."""
        # e.g. " 3 files changed, 10 insertions(+), 2 deletions(-)"; parts
        # with a zero count are left out, and nothing at all for no change.
        out = _out(["diff", "--shortstat", f"{base}...{head}", "--"], git_dir)

        def count(pattern):
            m = re.search(pattern, out)
            return int(m.group(1)) if m else 0
        return (count(r"(\d+) insertions?\(\+\)"), count(r"(\d+) deletions?\(-\)"),
                count(r"(\d+) files? changed"))

    # -- reading trees (the contents and raw file API) -----------------------

    def tree_entries(self, git_dir, tree):
        """The entries of a tree object in git's order (what Gitea's
        Tree.ListEntries gives): dicts of mode, type, sha, size (None for
        trees and submodules) and name."""
        out = _git(["ls-tree", "-z", "-l", tree], git_dir).stdout
        entries = []
        for record in out.split(b"\0"):
            if not record:
                continue
            meta, _, name = record.partition(b"\t")
            mode, kind, sha, size = meta.decode().split()
            entries.append({"mode": mode, "type": kind, "sha": sha,
                            "size": None if size == "-" else int(size),
                            # Names are bytes to git; undecodable ones survive
                            # the round trip back to git arguments.
                            "name": name.decode("utf-8", "surrogateescape")})
        return entries

    def _subtree(self, git_dir, sha):
        """Gitea's repo.getTree: a tree, or a commit's or tag's tree;
        anything else (a blob, a submodule's missing commit) does not exist."""
        p = _git(["cat-file", "-t", sha], git_dir, check=False)
        kind = p.stdout.decode().strip() if p.returncode == 0 else ""
        if kind == "tree":
            return sha
        if kind in ("commit", "tag"):
            p = _git(["rev-parse", "--verify", "-q", sha + "^{tree}"], git_dir, check=False)
            if p.returncode == 0:
                return p.stdout.decode().strip()
        raise NoSuchObject(sha, "")

    def tree_entry(self, git_dir, commit, path):
        """The entry at path in commit's tree, walked as Gitea's
        Tree.GetTreeEntryByPath walks it (modules/git/tree_blob_nogogit.go):
        "" is the root tree itself; otherwise the path is cleaned and each
        directory looked up in turn.  Raises NoSuchObject with Gitea's
        id/rel_path: a missing directory names itself, a missing last
        element the whole cleaned path, a non-tree on the way its id."""
        root = self._tree(git_dir, commit)
        if not path:
            return {"mode": "040000", "type": "tree", "sha": root, "size": None, "name": ""}
        path = clean_path(path)
        parts = path.split("/")
        tree = root
        for name in parts[:-1]:
            if not name:
                continue                    # a leading "/": the tree itself
            entry = next((e for e in self.tree_entries(git_dir, tree) if e["name"] == name), None)
            if entry is None:
                raise NoSuchObject("", name)
            tree = self._subtree(git_dir, entry["sha"])
        entry = next((e for e in self.tree_entries(git_dir, tree) if e["name"] == parts[-1]), None)
        if entry is None:
            raise NoSuchObject("", path)
        return entry

    def blob(self, git_dir, sha):
        return _git(["cat-file", "blob", sha], git_dir).stdout

    def last_commit(self, git_dir, commit, path):
        """The last commit at or before commit that touched path, as Gitea
        finds it (`git log -1 --pretty=format:%H <commit> -- <path>`,
        repo_commit.go getCommitByPathWithID): id, author and committer
        dates as Go writes them, committer time in Unix seconds."""
        spec = "\\" + path if path.startswith(":") else path   # Gitea escapes a leading ':'
        sha = _out(["log", "-1", "--pretty=format:%H", commit, "--", spec], git_dir)
        if not sha:
            raise GitError(f"no commit touches {path!r} in {commit}")
        info = self._raw_commit(git_dir, sha)
        return {"id": sha, "author_date": _person(info["author"])["date"],
                "committer_date": _person(info["committer"])["date"],
                "committer_unix": info["committer"][2]}

    def submodule_url(self, git_dir, commit, path):
        """The url .gitmodules gives the submodule at path, or None (no
        .gitmodules, no such entry, or no url), as Commit.GetSubModule."""
        try:
            entry = self.tree_entry(git_dir, commit, ".gitmodules")
        except NoSuchObject:
            return None
        text = self.blob(git_dir, entry["sha"]).decode("utf-8", "replace")
        return _parse_gitmodules(text).get(path) or None

    def file_at(self, git_dir, ref, path):
        p = _git(["cat-file", "blob", f"{ref}:{path}"], git_dir, check=False)
        return p.stdout if p.returncode == 0 else None

    # -- merging ------------------------------------------------------------

    def _merge_tree(self, git_dir, ours, theirs):
        p = _git(["merge-tree", "--write-tree", ours, theirs], git_dir, check=False)
        if p.returncode == 1:
            raise MergeConflict(f"{theirs} does not merge cleanly into {ours}")
        if p.returncode != 0:
            raise GitError(p.stderr.decode(errors="replace").strip())
        return p.stdout.decode().split("\n", 1)[0]

    def test_merge(self, git_dir, base_ref, head_ref):
        try:
            self._merge_tree(git_dir, base_ref, head_ref)
        except MergeConflict:
            return False
        return True

    def _pick_tree(self, git_dir, parent_tree, onto, picked_tree):
        """The tree of cherry-picking (parent_tree -> picked_tree) onto commit onto.

        git 2.39's merge-tree has no --merge-base, so build a tiny history whose
        only merge base has parent_tree and let merge-tree do the 3-way merge."""
        env = self._idents(_SCRATCH_IDENT, None,
                           datetime.datetime.fromtimestamp(0, datetime.timezone.utc))
        base = self._commit_tree(git_dir, parent_tree, [], b"", env)
        ours = self._commit_tree(git_dir, self._tree(git_dir, onto), [base], b"", env)
        theirs = self._commit_tree(git_dir, picked_tree, [base], b"", env)
        return self._merge_tree(git_dir, ours, theirs)

    def _rebase(self, git_dir, onto, head, committer, when):
        """Replay head's commits onto onto like `git rebase`: same commit
        selection, authors and messages kept, committer replaced."""
        shas = _out(["rev-list", "--reverse", "--topo-order", "--right-only",
                     "--cherry-pick", "--no-merges", f"{onto}...{head}"], git_dir).split()
        tip = onto
        for sha in shas:
            info = self._raw_commit(git_dir, sha)
            parent = info["parents"][0] if info["parents"] else None
            if parent == tip:
                tip = sha       # already sits on the tip: git fast-forwards it
                continue
            parent_tree = (self._tree(git_dir, parent) if parent
                           else _out(["mktree"], git_dir, input=b""))
            tree = self._pick_tree(git_dir, parent_tree, tip, info["tree"])
            if tree == self._tree(git_dir, tip) and info["tree"] != parent_tree:
                continue        # its change is already there: git drops it
            name, email, seconds, tz = info["author"]
            env = {**_ident_env("AUTHOR", (name, email), f"@{seconds} {tz}"),
                   **_ident_env("COMMITTER", committer, _git_date(when))}
            tip = self._commit_tree(git_dir, tree, [tip], info["message"], env)
        return tip

    def merge(self, git_dir, style, base_branch, head_sha, message, author,
              committer=None, when=None):
        """Merge head_sha into base_branch the way Gitea's merge styles do;
        returns the new head of base_branch."""
        if style not in MERGE_STYLES:
            raise ValueError(f"unknown merge style: {style}")
        committer = committer or author
        with self.lock(git_dir):
            old = self.branch_sha(git_dir, base_branch)
            if old is None:
                raise GitError(f"no branch {base_branch}")
            head = self._resolve(git_dir, head_sha)
            if self.merge_base(git_dir, old, head) is None:
                raise GitError("refusing to merge unrelated histories")
            if self.is_ancestor(git_dir, head, old):
                raise NothingToMerge(f"{head} is already in {base_branch}")
            idents = self._idents(author, committer, when)
            if style == "fast-forward-only":
                if not self.is_ancestor(git_dir, old, head):
                    raise NotFastForward(f"{base_branch} is not an ancestor of {head}")
                new = head
            elif style in ("rebase", "rebase-merge"):
                new = self._rebase(git_dir, old, head, committer, when)
                if new == old:
                    raise NothingToMerge(f"every change of {head} is already in {base_branch}")
                if style == "rebase-merge":
                    new = self._commit_tree(git_dir, self._tree(git_dir, new), [old, new],
                                            self._clean_message(message), idents)
            else:
                tree = self._merge_tree(git_dir, old, head)
                # "merge" always records both parents (Gitea merges with --no-ff).
                parents = [old, head] if style == "merge" else [old]
                new = self._commit_tree(git_dir, tree, parents,
                                        self._clean_message(message), idents)
            self._update_ref(git_dir, "refs/heads/" + base_branch, new, old)
            return new
