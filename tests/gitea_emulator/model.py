"""The emulator's state: Gitea's objects, in memory, behind one lock.

Every field a Gitea API object or webhook body shows is either stored here
or derived from what is stored here (render.py).  Times are aware UTC
datetimes; the emulator runs as a UTC server, so they render with "Z".
"""

import datetime
import hashlib
import threading
from dataclasses import dataclass, field
from typing import Dict, List, Optional

UTC = datetime.timezone.utc
GO_ZERO = None          # marker: render as "0001-01-01T00:00:00Z"
UNIX_ZERO = datetime.datetime(1970, 1, 1, tzinfo=UTC)


def now():
    return datetime.datetime.now(UTC).replace(microsecond=0)


@dataclass
class User:
    """A user or an organisation (Gitea keeps both in one table)."""
    id: int
    login: str
    full_name: str = ""
    email: str = ""
    is_org: bool = False
    is_admin: bool = False
    active: bool = True
    restricted: bool = False
    prohibit_login: bool = False
    must_change_password: bool = False
    password_sha256: str = ""          # of the clear password; "" = none
    visibility: str = "public"         # public, limited, private
    location: str = ""
    website: str = ""
    description: str = ""
    language: str = ""
    created: datetime.datetime = field(default_factory=now)
    last_login: datetime.datetime = UNIX_ZERO
    # Rendering facts (render.py).  avatar is the hash Gitea stores in
    # user.avatar and shows as /avatars/<hash>; "" = derive it as Gitea's
    # random avatar does (md5 of the email, or of the name without one).
    avatar: str = ""
    keep_email_private: bool = False
    followers_count: int = 0
    following_count: int = 0
    starred_repos_count: int = 0
    repo_admin_change_team_access: bool = False     # organisations only
    # organisations: members and whether they own it
    members: Dict[int, str] = field(default_factory=dict)   # user id -> "owner"|"member"

    def check_password(self, password):
        return bool(self.password_sha256) and \
            hashlib.sha256(password.encode()).hexdigest() == self.password_sha256


@dataclass
class Token:
    id: int
    user_id: int
    name: str
    sha1: str                           # the secret, as Gitea returns it once
    scopes: List[str]
    created: datetime.datetime = field(default_factory=now)
    # Gitea's updated_unix, shown as last_used_at; None = never used since
    # creation, rendered as the creation time.
    last_used: Optional[datetime.datetime] = None


@dataclass
class Label:
    id: int
    repo_id: int
    name: str
    color: str = "ee0701"
    description: str = ""
    exclusive: bool = False
    is_archived: bool = False


@dataclass
class Repo:
    id: int
    owner_id: int
    name: str
    description: str = ""
    private: bool = False
    default_branch: str = "main"
    website: str = ""
    language: str = ""
    size: int = 0
    stars_count: int = 0
    watchers_count: int = 0
    topics: List[str] = field(default_factory=list)
    licenses: List[str] = field(default_factory=list)
    archived: bool = False
    archived_at: datetime.datetime = UNIX_ZERO
    created_at: datetime.datetime = field(default_factory=now)
    updated_at: datetime.datetime = field(default_factory=now)
    # merge settings (Gitea's defaults)
    allow_merge_commits: bool = True
    allow_rebase: bool = True
    allow_rebase_explicit: bool = True
    allow_squash_merge: bool = True
    allow_fast_forward_only_merge: bool = True
    allow_rebase_update: bool = True
    allow_manual_merge: bool = False
    default_merge_style: str = "merge"
    default_delete_branch_after_merge: bool = False
    default_allow_maintainer_edit: bool = False
    collaborators: Dict[int, str] = field(default_factory=dict)  # user id -> read|write|admin
    next_index: int = 1                 # issues and PRs share one series
    git_dir: str = ""                   # the bare repository


@dataclass
class PullRequest:
    """The PR half of an Issue whose is_pull is true."""
    id: int
    head_branch: str
    base_branch: str
    head_sha: str = ""
    merge_base: str = ""
    merged: bool = False
    merged_at: Optional[datetime.datetime] = None
    merged_by_id: Optional[int] = None
    merge_commit_sha: Optional[str] = None
    allow_maintainer_edit: bool = False
    draft: bool = False
    # "checking", "mergeable" or "conflict": computed by git on push/creation
    status: str = "checking"
    additions: int = 0
    deletions: int = 0
    changed_files: int = 0
    head_branch_deleted: bool = False


@dataclass
class Issue:
    id: int
    repo_id: int
    index: int
    poster_id: int
    title: str
    body: str = ""
    state: str = "open"                 # open, closed
    label_ids: List[int] = field(default_factory=list)
    assignee_ids: List[int] = field(default_factory=list)
    is_locked: bool = False
    ref: str = ""
    created_at: datetime.datetime = field(default_factory=now)
    updated_at: datetime.datetime = field(default_factory=now)
    closed_at: Optional[datetime.datetime] = None
    comments: int = 0
    content_version: int = 0
    pull: Optional[PullRequest] = None

    @property
    def is_pull(self):
        return self.pull is not None


@dataclass
class Comment:
    id: int
    issue_id: int
    poster_id: int
    body: str
    created_at: datetime.datetime = field(default_factory=now)
    updated_at: datetime.datetime = field(default_factory=now)


@dataclass
class Review:
    id: int
    issue_id: int                       # the PR's issue
    reviewer_id: int
    state: str                          # APPROVED, REQUEST_CHANGES, COMMENT, PENDING
    body: str = ""
    commit_id: str = ""
    official: bool = False
    stale: bool = False
    dismissed: bool = False
    submitted_at: datetime.datetime = field(default_factory=now)
    updated_at: datetime.datetime = field(default_factory=now)
    # The review's own comment (type "review") shares the comment id
    # series; the API's html_url points at it.  0 = unknown.
    comment_id: int = 0
    code_comments: int = 0              # line comments, the API's comments_count


@dataclass
class Hook:
    id: int
    kind: str                           # repository, organization, system, default
    owner_id: int                       # repo id, org id, or 0
    type: str = "gitea"
    name: str = ""                      # optional display name (API field "name")
    active: bool = False
    events: List[str] = field(default_factory=lambda: ["push"])
    branch_filter: str = ""
    url: str = ""
    content_type: str = "json"          # json, form
    secret: str = ""
    authorization_header: str = ""
    created_at: datetime.datetime = field(default_factory=now)
    updated_at: datetime.datetime = field(default_factory=now)


@dataclass
class Status:
    id: int
    repo_id: int
    sha: str
    state: str                          # pending, success, error, failure, warning, skipped
    context: str = "default"
    target_url: str = ""
    description: str = ""
    creator_id: int = 0
    created_at: datetime.datetime = field(default_factory=now)
    updated_at: datetime.datetime = field(default_factory=now)


class State:
    """Everything, behind one re-entrant lock: handlers hold it while they
    read or change anything, and release it before git or network work
    that may be slow."""

    def __init__(self, root_url="http://127.0.0.1:3000/", domain=None):
        self.lock = threading.RLock()
        self.root_url = root_url if root_url.endswith("/") else root_url + "/"
        host = self.root_url.split("://", 1)[1].split("/", 1)[0]
        self.domain = domain or host.split(":")[0]
        self.ids: Dict[str, int] = {}
        self.users: Dict[int, User] = {}
        self.tokens: Dict[int, Token] = {}
        self.repos: Dict[int, Repo] = {}
        self.labels: Dict[int, Label] = {}
        self.issues: Dict[int, Issue] = {}
        self.comments: Dict[int, Comment] = {}
        self.reviews: Dict[int, Review] = {}
        self.hooks: Dict[int, Hook] = {}
        self.statuses: Dict[int, Status] = {}
        # What only git knows (branch counts, branch heads) for render.py:
        # an object with branches(git_dir) -> [(name, sha)] and
        # branch_sha(git_dir, name) -> sha or None, i.e. git.GitStore.
        self.git = None

    def next_id(self, kind):
        """Per-table ids, as Gitea's database gives them."""
        self.ids[kind] = self.ids.get(kind, 0) + 1
        return self.ids[kind]

    # -- lookups (callers hold the lock) --------------------------------

    def user_by_login(self, login) -> Optional[User]:
        login = login.lower()
        for u in self.users.values():
            if u.login.lower() == login:
                return u
        return None

    def repo_by_name(self, owner, name) -> Optional[Repo]:
        o = self.user_by_login(owner)
        if o is None:
            return None
        for r in self.repos.values():
            if r.owner_id == o.id and r.name.lower() == name.lower():
                return r
        return None

    def issue_by_index(self, repo_id, index) -> Optional[Issue]:
        for i in self.issues.values():
            if i.repo_id == repo_id and i.index == index:
                return i
        return None

    def pull_by_id(self, pr_id) -> Optional[Issue]:
        for i in self.issues.values():
            if i.pull is not None and i.pull.id == pr_id:
                return i
        return None

    def token_by_secret(self, secret) -> Optional[Token]:
        for t in self.tokens.values():
            if t.sha1 == secret:
                return t
        return None

    def repo_owner(self, repo) -> User:
        return self.users[repo.owner_id]

    def full_name(self, repo):
        return f"{self.users[repo.owner_id].login}/{repo.name}"

    # -- permissions (Gitea's rules, simplified to what SynStack uses) ---

    def access(self, user: Optional[User], repo: Repo) -> str:
        """none, read, write, admin or owner for this user on this repo."""
        owner = self.users[repo.owner_id]
        if user is None:
            return "read" if not repo.private and owner.visibility == "public" else "none"
        if user.is_admin or user.id == owner.id:
            return "owner"
        if owner.is_org and owner.members.get(user.id) == "owner":
            return "owner"
        collab = repo.collaborators.get(user.id)
        if collab:
            return collab
        if owner.is_org and user.id in owner.members and not repo.private:
            return "read"
        if not repo.private and owner.visibility == "public":
            return "read"
        return "none"

    @staticmethod
    def can_write(level):
        return level in ("write", "admin", "owner")

    @staticmethod
    def can_admin(level):
        return level in ("admin", "owner")
