"""The Gitea API subset SynStack uses, one function per route, in one table.

Each handler runs with the state lock held (the server takes it), returns
(status, object) and raises httpapi.ApiError for Gitea's error answers.
Git work (merges, mergeability) happens inside too: it is quick on test
repositories and keeps every change atomic, as one Gitea transaction.
"""

import datetime
import hashlib
import re
import secrets

from . import model, payloads, render
from .git import GitError, NoSuchObject, clean_path, join_path
from .httpapi import (ApiError, not_found, paginate, require_admin,
                      require_signed_in)

ROUTES = []


def route(method, pattern, category):
    """Register a handler; {name} matches one path segment, {name...}
    the rest of the path (branch names may hold '/')."""
    rx = re.sub(r"\{(\w+)\.\.\.\}", r"(?P<\1>.+)", pattern)
    rx = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", rx)

    def wrap(fn):
        ROUTES.append((method, re.compile("^/api/v1" + rx + "$"), category, fn))
        return fn
    return wrap


def parse_time(s, name):
    try:
        dt = datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(422, f"invalid {name}: {s}")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=model.UTC)
    return dt


def parse_unix(s, name):
    """`since` and `before`: Gitea keeps their whole seconds (t.Unix() in
    GetQueryBeforeSince) and compares updated_unix with those, inclusively."""
    return parse_time(s, name).replace(microsecond=0)


def perms(level):
    return {"admin": level in ("admin", "owner"),
            "push": level in ("write", "admin", "owner"),
            "pull": level != "none"}


# -- context lookups ---------------------------------------------------------

def load_repo(app, req, write=False, admin=False):
    st = app.state
    repo = st.repo_by_name(req.params["owner"], req.params["repo"])
    if repo is None:
        raise not_found()
    level = st.access(req.doer, repo)
    if level == "none":
        raise not_found()
    if admin and not st.can_admin(level):
        raise ApiError(403, "user should be an owner or a collaborator with admin write of a repository")
    if write and not st.can_write(level):
        raise ApiError(403, "user should have a permission to write to a repo")
    return repo, level


def load_issue(app, req, repo):
    try:
        index = int(req.params["index"])
    except ValueError:
        raise not_found()
    issue = app.state.issue_by_index(repo.id, index)
    if issue is None:
        raise not_found()
    return issue


def load_pull(app, req, repo):
    issue = load_issue(app, req, repo)
    if not issue.is_pull:
        raise not_found()
    return issue


def repo_json(app, repo, viewer):
    return render.repository(app.state, repo, perms(app.state.access(viewer, repo)),
                             branch_count=app.branch_count)


# -- misc ------------------------------------------------------------------

@route("GET", "/version", None)
def version(app, req):
    return 200, {"version": "1.26.3"}


@route("GET", "/user", "user")
def current_user(app, req):
    require_signed_in(req)
    return 200, render.user(app.state, req.doer, full=True)


@route("GET", "/users/{username}", "user")
def get_user(app, req):
    u = app.state.user_by_login(req.params["username"])
    if u is None:
        raise not_found(f"user redirect does not exist [name: {req.params['username']}]")
    return 200, render.user_seen_by(app.state, u, req.doer)


# -- repositories ---------------------------------------------------------

def visible_repos(app, viewer):
    st = app.state
    return [r for r in sorted(st.repos.values(), key=lambda r: r.id)
            if st.access(viewer, r) != "none"]


@route("GET", "/repos/search", "repository")
def repo_search(app, req):
    repos = visible_repos(app, req.doer)
    q = (req.arg("q") or "").lower()
    if q:
        repos = [r for r in repos if q in r.name.lower()]
    uid = req.int_arg("uid", 0)
    if uid:
        repos = [r for r in repos if r.owner_id == uid]
    if req.arg("archived") in ("true", "false"):
        repos = [r for r in repos if r.archived == (req.arg("archived") == "true")]
    if req.arg("private") in ("true", "false") and req.arg("private") == "false":
        repos = [r for r in repos if not r.private]
    page = paginate(req, repos)
    return 200, {"ok": True, "data": [repo_json(app, r, req.doer) for r in page]}


@route("GET", "/repositories/{id}", "repository")
def repo_by_id(app, req):
    require_signed_in(req)
    try:
        repo = app.state.repos.get(int(req.params["id"]))
    except ValueError:
        repo = None
    if repo is None or app.state.access(req.doer, repo) == "none":
        raise not_found()
    return 200, repo_json(app, repo, req.doer)


@route("GET", "/repos/{owner}/{repo}", "repository")
def repo_get(app, req):
    repo, _ = load_repo(app, req)
    return 200, repo_json(app, repo, req.doer)


@route("PATCH", "/repos/{owner}/{repo}", "repository")
def repo_edit(app, req):
    repo, _ = load_repo(app, req, admin=True)
    body = req.json()
    for key in ("description", "website", "private", "default_branch",
                "allow_merge_commits", "allow_rebase", "allow_rebase_explicit",
                "allow_squash_merge", "allow_fast_forward_only_merge",
                "allow_manual_merge", "default_merge_style",
                "default_delete_branch_after_merge"):
        if key in body and body[key] is not None:
            setattr(repo, key, body[key])
    if "archived" in body and body["archived"] is not None:
        repo.archived = bool(body["archived"])
        repo.archived_at = model.now() if repo.archived else model.UNIX_ZERO
    repo.updated_at = model.now()
    return 200, repo_json(app, repo, req.doer)


@route("DELETE", "/repos/{owner}/{repo}", "repository")
def repo_delete(app, req):
    repo, _ = load_repo(app, req, admin=True)
    app.delete_repo(repo, req.doer)
    return 204, None


def create_repo_for(app, req, owner):
    body = req.json()
    name = body.get("name") or ""
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,100}", name):
        raise ApiError(422, "[Name]: Required" if not name else f"invalid repo name: {name}")
    if app.state.repo_by_name(owner.login, name) is not None:
        raise ApiError(409, "The repository with the same name already exists.")
    files = {"README.md": f"# {name}\n\n{body.get('description', '')}\n"} \
        if body.get("auto_init") else None
    repo = app.create_repo(owner, name, req.doer,
                           description=body.get("description", ""),
                           private=bool(body.get("private", False)),
                           default_branch=body.get("default_branch") or "main",
                           files=files)
    return 201, repo_json(app, repo, req.doer)


@route("POST", "/user/repos", "repository")
def repo_create_user(app, req):
    require_signed_in(req)
    return create_repo_for(app, req, req.doer)


@route("POST", "/orgs/{org}/repos", "organization")
def repo_create_org(app, req):
    require_signed_in(req)
    org = app.state.user_by_login(req.params["org"])
    if org is None or not org.is_org:
        raise not_found()
    if not (req.doer.is_admin or org.members.get(req.doer.id) == "owner"):
        raise ApiError(403, "Given user is not owner of organization.")
    return create_repo_for(app, req, org)


@route("POST", "/admin/users/{username}/repos", "admin")
def repo_create_admin(app, req):
    require_admin(req)
    owner = app.state.user_by_login(req.params["username"])
    if owner is None:
        raise not_found()
    return create_repo_for(app, req, owner)


@route("GET", "/user/repos", "repository")
def repos_mine(app, req):
    require_signed_in(req)
    st = app.state
    mine = [r for r in visible_repos(app, req.doer)
            if r.owner_id == req.doer.id or req.doer.id in r.collaborators or
            st.users[r.owner_id].members.get(req.doer.id)]
    return 200, [repo_json(app, r, req.doer) for r in paginate(req, mine)]


@route("GET", "/orgs/{org}/repos", "organization")
def repos_of_org(app, req):
    org = app.state.user_by_login(req.params["org"])
    if org is None or not org.is_org:
        raise not_found()
    repos = [r for r in visible_repos(app, req.doer) if r.owner_id == org.id]
    return 200, [repo_json(app, r, req.doer) for r in paginate(req, repos)]


@route("GET", "/users/{username}/repos", "repository")
def repos_of_user(app, req):
    u = app.state.user_by_login(req.params["username"])
    if u is None:
        raise not_found()
    repos = [r for r in visible_repos(app, req.doer) if r.owner_id == u.id]
    return 200, [repo_json(app, r, req.doer) for r in paginate(req, repos)]


# -- organisations -------------------------------------------------------

@route("GET", "/orgs", "organization")
def orgs_list(app, req):
    orgs = [u for u in sorted(app.state.users.values(), key=lambda u: u.id)
            if u.is_org and (u.visibility == "public" or req.doer is not None)]
    return 200, [render.organization(app.state, o) for o in paginate(req, orgs)]


@route("GET", "/orgs/{org}", "organization")
def org_get(app, req):
    org = app.state.user_by_login(req.params["org"])
    if org is None or not org.is_org:
        raise not_found()
    return 200, render.organization(app.state, org)


@route("POST", "/orgs", "organization")
def org_create(app, req):
    require_signed_in(req)
    body = req.json()
    name = body.get("username") or ""
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", name):
        raise ApiError(422, "[UserName]: Required")
    if app.state.user_by_login(name) is not None:
        raise ApiError(422, f"user already exists [name: {name}]")
    org = app.add_user(name, is_org=True, full_name=body.get("full_name", ""),
                       description=body.get("description", ""),
                       website=body.get("website", ""),
                       visibility=body.get("visibility", "public"))
    org.members[req.doer.id] = "owner"
    return 201, render.organization(app.state, org)


# -- admin: users and tokens ----------------------------------------------

@route("POST", "/admin/users", "admin")
def admin_create_user(app, req):
    require_admin(req)
    body = req.json()
    name, email = body.get("username") or "", body.get("email") or ""
    if not name or not email:
        raise ApiError(422, "[" + ("Username" if not name else "Email") + "]: Required")
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", name):
        raise ApiError(422, f"name is invalid [{name}]: must be valid alpha or numeric or dash(-_) or dot characters")
    password = body.get("password") or ""
    if password and len(password) < 8:
        raise ApiError(400, "PasswordTooShort")
    if app.state.user_by_login(name) is not None:
        raise ApiError(422, f"user already exists [name: {name}]")
    if any(u.email.lower() == email.lower() for u in app.state.users.values()):
        raise ApiError(422, f"e-mail already in use [email: {email}]")
    must_change = body.get("must_change_password")
    user = app.add_user(name, email=email, password=password,
                        full_name=body.get("full_name", ""),
                        must_change_password=True if must_change is None else bool(must_change),
                        visibility=body.get("visibility") or "public")
    return 201, render.user(app.state, user, full=True)


@route("DELETE", "/admin/users/{username}", "admin")
def admin_delete_user(app, req):
    require_admin(req)
    st = app.state
    user = st.user_by_login(req.params["username"])
    if user is None or user.is_org:
        raise not_found()
    if any(r.owner_id == user.id for r in st.repos.values()):
        raise ApiError(422, f"user still has ownership of repositories [uid: {user.id}]")
    for t in [t for t in st.tokens.values() if t.user_id == user.id]:
        del st.tokens[t.id]
    for r in st.repos.values():
        r.collaborators.pop(user.id, None)
    for o in st.users.values():
        o.members.pop(user.id, None)
    del st.users[user.id]
    return 204, None


@route("PATCH", "/admin/users/{username}", "admin")
def admin_edit_user(app, req):
    """EditUserOption (routers/api/v1/admin/user.go EditUser): login_name is
    bound Required; the fields sent are changed, the others kept."""
    require_admin(req)
    user = app.state.user_by_login(req.params["username"])
    if user is None or user.is_org:
        raise not_found()
    body = req.json()
    if not isinstance(body, dict) or not body.get("login_name"):
        raise ApiError(422, "[LoginName]: Required")
    for key in ("prohibit_login", "active", "restricted", "must_change_password"):
        if body.get(key) is not None:
            setattr(user, key, bool(body[key]))
    for key in ("full_name", "location", "website", "description"):
        if body.get(key) is not None:
            setattr(user, key, str(body[key]))
    if body.get("admin") is not None:
        user.is_admin = bool(body["admin"])
    if body.get("password"):
        if len(body["password"]) < 8:
            raise ApiError(400, "PasswordTooShort")
        user.password_sha256 = hashlib.sha256(body["password"].encode()).hexdigest()
    return 200, render.user(app.state, user, full=True)


def token_owner(app, req):
    """Tokens are listed and minted only under Basic auth (api.go
    reqBasicOrRevProxyAuth), by their user or a site admin."""
    if req.auth_kind != "basic":
        raise ApiError(401, "auth required")
    user = app.state.user_by_login(req.params["username"])
    if user is None:
        raise not_found()
    if req.doer.id != user.id and not req.doer.is_admin:
        raise ApiError(403, "user should be the same as the token owner or an admin")
    return user


@route("GET", "/users/{username}/tokens", "user")
def tokens_list(app, req):
    # Never shows a secret again.
    user = token_owner(app, req)
    mine = [t for t in sorted(app.state.tokens.values(), key=lambda t: t.id)
            if t.user_id == user.id]
    return 200, [render.access_token(t) for t in paginate(req, mine)]


@route("POST", "/users/{username}/tokens", "user")
def token_create(app, req):
    user = token_owner(app, req)
    body = req.json()
    name = body.get("name") or ""
    if not name:
        raise ApiError(422, "[Name]: Required")
    if any(t.user_id == user.id and t.name == name for t in app.state.tokens.values()):
        raise ApiError(400, "access token name has been used already")
    scopes = body.get("scopes") or []
    if not scopes:
        raise ApiError(400, "access token must have a scope")
    tok = model.Token(id=app.state.next_id("token"), user_id=user.id, name=name,
                      sha1=secrets.token_hex(20), scopes=list(scopes))
    app.state.tokens[tok.id] = tok
    return 201, render.access_token(tok, include_secret=True)


@route("DELETE", "/users/{username}/tokens/{token}", "user")
def token_delete(app, req):
    """By name or id (user/app.go DeleteAccessToken), under Basic auth."""
    user = token_owner(app, req)
    key = req.params["token"]
    mine = [t for t in app.state.tokens.values() if t.user_id == user.id and
            (t.name == key or str(t.id) == key)]
    if not mine:
        raise not_found()
    if len(mine) > 1:
        raise ApiError(422, "multiple matches for token name, use token id")
    del app.state.tokens[mine[0].id]
    return 204, None


# -- issues ----------------------------------------------------------------

def issue_matches(req, issue, st):
    state = req.arg("state", "open")
    if state in ("open", "closed") and issue.state != state:
        return False
    kind = req.arg("type")
    if kind == "issues" and issue.is_pull or kind == "pulls" and not issue.is_pull:
        return False
    if req.arg("since") and issue.updated_at < parse_unix(req.arg("since"), "since"):
        return False
    if req.arg("before") and issue.updated_at > parse_unix(req.arg("before"), "before"):
        return False
    if req.arg("labels"):
        names = {st.labels[i].name for i in issue.label_ids if i in st.labels}
        if not set(req.arg("labels").split(",")) <= names:
            return False
    q = (req.arg("q") or "").lower()
    if q and q not in issue.title.lower() and q not in issue.body.lower():
        return False
    if req.arg("created_by"):
        poster = st.users.get(issue.poster_id)
        if poster is None or poster.login != req.arg("created_by"):
            return False
    return True


@route("GET", "/repos/{owner}/{repo}/issues", "issue")
def issues_list(app, req):
    repo, _ = load_repo(app, req)
    st = app.state
    found = [i for i in st.issues.values() if i.repo_id == repo.id and issue_matches(req, i, st)]
    # Newest created first (models/issues/issue_search.go).
    found.sort(key=lambda i: (i.created_at, i.id), reverse=True)
    return 200, [render.issue(st, i, viewer=req.doer) for i in paginate(req, found)]


@route("GET", "/repos/{owner}/{repo}/issues/{index}", "issue")
def issue_get(app, req):
    repo, _ = load_repo(app, req)
    return 200, render.issue(app.state, load_issue(app, req, repo), viewer=req.doer)


@route("POST", "/repos/{owner}/{repo}/issues", "issue")
def issue_create(app, req):
    require_signed_in(req)
    repo, level = load_repo(app, req)
    body = req.json()
    title = (body.get("title") or "").strip()
    if not title:
        raise ApiError(422, "[Title]: Required")
    issue = app.create_issue(repo, req.doer, title, body.get("body") or "",
                             labels=body.get("labels") or [],
                             assignees=(body.get("assignees") or []) if app.state.can_write(level) else [])
    return 201, render.issue(app.state, issue, viewer=req.doer)


def edit_text_and_assignees(app, req, issue, body, can_write):
    """What PATCH on an issue and on a PR share: title and body, and the
    assignees, which without write access are silently ignored (trap 11)."""
    if body.get("title") is not None or body.get("body") is not None:
        app.edit_issue(issue, req.doer, title=body.get("title"), body=body.get("body"))
    if can_write and ("assignees" in body or "assignee" in body):
        wanted = list(body.get("assignees") or [])
        if body.get("assignee"):
            wanted.insert(0, body["assignee"])
        app.set_assignees(issue, req.doer, wanted)


@route("PATCH", "/repos/{owner}/{repo}/issues/{index}", "issue")
def issue_edit(app, req):
    require_signed_in(req)
    repo, level = load_repo(app, req)
    issue = load_issue(app, req, repo)
    body = req.json()
    can_write = app.state.can_write(level)
    is_poster = req.doer.id == issue.poster_id
    if not (can_write or is_poster):
        raise ApiError(403, "user should have a permission to write to the issue")
    edit_text_and_assignees(app, req, issue, body, can_write)
    if body.get("state") in ("open", "closed") and body["state"] != issue.state:
        if issue.is_pull and issue.pull.merged:
            raise ApiError(412, "cannot reopen a merged pull request")
        app.set_issue_state(issue, req.doer, body["state"])
    return 201, render.issue(app.state, issue, viewer=req.doer)


@route("GET", "/repos/{owner}/{repo}/issues/{index}/comments", "issue")
def comments_list(app, req):
    repo, _ = load_repo(app, req)
    issue = load_issue(app, req, repo)
    found = [c for c in sorted(app.state.comments.values(), key=lambda c: c.id)
             if c.issue_id == issue.id]
    if req.arg("since"):
        since = parse_unix(req.arg("since"), "since")
        found = [c for c in found if c.updated_at >= since]
    # Comments send X-Total-Count without Link (issue_comment.go:118).
    return 200, [render.comment(app.state, c) for c in paginate(req, found, with_link=False)]


@route("POST", "/repos/{owner}/{repo}/issues/{index}/comments", "issue")
def comment_create(app, req):
    require_signed_in(req)
    repo, _ = load_repo(app, req)
    issue = load_issue(app, req, repo)
    body = req.json()
    if not (body.get("body") or "").strip():
        raise ApiError(422, "[Body]: Required")
    if issue.is_locked and not app.state.can_write(app.state.access(req.doer, repo)):
        raise ApiError(403, "user should have a permission to write to the issue")
    c = app.create_comment(issue, req.doer, body["body"])
    return 201, render.comment(app.state, c)


# -- pull requests ---------------------------------------------------------

@route("GET", "/repos/{owner}/{repo}/pulls", "repository")
def pulls_list(app, req):
    repo, _ = load_repo(app, req)
    st = app.state
    state = req.arg("state", "open")
    found = [i for i in st.issues.values() if i.repo_id == repo.id and i.is_pull and
             (state not in ("open", "closed") or i.state == state)]
    if req.arg("base_branch"):
        found = [i for i in found if i.pull.base_branch == req.arg("base_branch")]
    if req.arg("poster"):
        found = [i for i in found if st.users[i.poster_id].login == req.arg("poster")]
    found.sort(key=lambda i: (i.created_at, i.id), reverse=True)
    return 200, [render.pull_request(st, i, viewer=req.doer) for i in paginate(req, found)]


@route("GET", "/repos/{owner}/{repo}/pulls/{index}", "repository")
def pull_get(app, req):
    repo, _ = load_repo(app, req)
    issue = load_pull(app, req, repo)
    app.check_mergeable(issue)
    return 200, render.pull_request(app.state, issue, viewer=req.doer)


@route("POST", "/repos/{owner}/{repo}/pulls", "repository")
def pull_create(app, req):
    require_signed_in(req)
    repo, level = load_repo(app, req)
    st = app.state
    # The poster must be able to write to the base repository.
    if not st.can_write(level):
        raise ApiError(403, "user should have a permission to write to a repo")
    body = req.json()
    head, base, title = body.get("head") or "", body.get("base") or "", \
        (body.get("title") or "").strip()
    if not head or not base or not title:
        missing = "Head" if not head else "Base" if not base else "Title"
        raise ApiError(422, f"[{missing}]: Required")
    if ":" in head:
        head = head.split(":", 1)[1]
    if app.git.branch_sha(repo.git_dir, base) is None:
        raise not_found(f"could not find base branch [{base}]")
    if app.git.branch_sha(repo.git_dir, head) is None:
        raise not_found(f"could not find head branch [{head}]")
    for i in st.issues.values():
        if i.repo_id == repo.id and i.is_pull and i.state == "open" and \
                i.pull.head_branch == head and i.pull.base_branch == base:
            raise ApiError(409, f"pull request already exists for these targets [id: {i.pull.id}, "
                           f"issue_id: {i.id}, head_repo_id: {repo.id}, base_repo_id: {repo.id}, "
                           f"head_branch: {head}, base_branch: {base}]")
    head_sha = app.git.branch_sha(repo.git_dir, head)
    base_sha = app.git.branch_sha(repo.git_dir, base)
    if head_sha == base_sha or app.git.is_ancestor(repo.git_dir, head_sha, base_sha):
        raise ApiError(422, "there are no changes between the head and the base")
    issue = app.create_pull(repo, req.doer, title, body.get("body") or "", head, base,
                            assignees=body.get("assignees") or [])
    return 201, render.pull_request(st, issue, viewer=req.doer)


@route("PATCH", "/repos/{owner}/{repo}/pulls/{index}", "repository")
def pull_edit(app, req):
    """EditPullRequestOption: title, body, state, assignees, base.  201,
    like PATCH on an issue (trap 11)."""
    require_signed_in(req)
    repo, level = load_repo(app, req)
    issue = load_pull(app, req, repo)
    body = req.json()
    can_write = app.state.can_write(level)
    if not (can_write or req.doer.id == issue.poster_id):
        raise ApiError(403, "user should have a permission to write to the pull request")
    edit_text_and_assignees(app, req, issue, body, can_write)
    base = body.get("base")
    if base and base != issue.pull.base_branch:
        if app.git.branch_sha(repo.git_dir, base) is None:
            raise not_found(f"could not find base branch [{base}]")
        issue.pull.base_branch = base
        app.check_mergeable(issue, force=True)
    if body.get("state") in ("open", "closed") and body["state"] != issue.state:
        if issue.pull.merged:
            raise ApiError(409, "cannot change the state of a merged pull request")
        app.set_issue_state(issue, req.doer, body["state"])
    return 201, render.pull_request(app.state, issue, viewer=req.doer)


@route("GET", "/repos/{owner}/{repo}/pulls/{index}/merge", "repository")
def pull_is_merged(app, req):
    repo, _ = load_repo(app, req)
    issue = load_pull(app, req, repo)
    if issue.pull.merged:
        return 204, None
    raise not_found()


MERGE_STYLES = {
    "merge": "allow_merge_commits",
    "rebase": "allow_rebase",
    "rebase-merge": "allow_rebase_explicit",
    "squash": "allow_squash_merge",
    "fast-forward-only": "allow_fast_forward_only_merge",
    "manually-merged": "allow_manual_merge",
}


@route("POST", "/repos/{owner}/{repo}/pulls/{index}/merge", "repository")
def pull_merge(app, req):
    require_signed_in(req)
    repo, level = load_repo(app, req)
    issue = load_pull(app, req, repo)
    body = req.json()
    style = body.get("Do") or body.get("do") or ""
    if style not in MERGE_STYLES:
        raise ApiError(422, "[Do]: Required" if not style else f"[Do]: In({style})")
    if not app.state.can_write(level):
        raise ApiError(405, "User not allowed to merge PR")
    if issue.pull.merged:
        raise ApiError(405, "The PR is already merged")
    if issue.state == "closed":
        raise not_found()
    if not getattr(repo, MERGE_STYLES[style]):
        raise ApiError(405, f"The merge style '{style}' is not allowed on this repository")
    expected = body.get("head_commit_id") or ""
    if style == "manually-merged":
        sha = body.get("merge_commit_id") or ""
        if not sha:
            raise ApiError(422, "merge_commit_id is required")
        app.mark_merged(issue, req.doer, sha)
        return 200, None
    app.check_mergeable(issue)
    if issue.pull.status != "mergeable":
        raise ApiError(405, "Please try again later")
    if expected and expected != issue.pull.head_sha:
        raise ApiError(409, "head out of date")
    msg = (body.get("merge_title_field") or "").strip()
    if body.get("merge_message_field"):
        msg = (msg + "\n\n" + body["merge_message_field"]).strip()
    app.merge_pull(issue, req.doer, style, msg,
                   delete_branch=bool(body.get("delete_branch_after_merge",
                                               repo.default_delete_branch_after_merge)))
    return 200, None


@route("GET", "/repos/{owner}/{repo}/pulls/{index}/reviews", "repository")
def reviews_list(app, req):
    repo, _ = load_repo(app, req)
    issue = load_pull(app, req, repo)
    found = [r for r in sorted(app.state.reviews.values(), key=lambda r: r.id)
             if r.issue_id == issue.id]
    # Reviews send X-Total-Count without Link (pull_review.go:107).
    return 200, [render.pull_review(app.state, r, viewer=req.doer) for r in paginate(req, found, with_link=False)]


@route("POST", "/repos/{owner}/{repo}/pulls/{index}/reviews", "repository")
def review_create(app, req):
    require_signed_in(req)
    repo, _ = load_repo(app, req)
    issue = load_pull(app, req, repo)
    body = req.json()
    event = (body.get("event") or "").upper()
    text = body.get("body") or ""
    comments = body.get("comments") or []
    if event in ("APPROVED", "REQUEST_CHANGES"):
        if req.doer.id == issue.poster_id:
            verb = "approve" if event == "APPROVED" else "reject"
            raise ApiError(422, f"{verb} your own pull is not allowed")
        if issue.state == "closed":
            raise ApiError(422, "not allowed to approve/reject a closed pull request")
    if event == "REQUEST_CHANGES" and not text.strip():
        raise ApiError(422, "review event REQUEST_CHANGES requires a body")
    if event == "COMMENT" and not text.strip() and not comments:
        raise ApiError(422, "review event COMMENT requires a body or a comment")
    state = event if event in ("APPROVED", "REQUEST_CHANGES", "COMMENT") else "PENDING"
    r = app.create_review(issue, req.doer, state, text,
                          body.get("commit_id") or issue.pull.head_sha)
    return 200, render.pull_review(app.state, r, viewer=req.doer)


# -- collaborators -----------------------------------------------------------

@route("GET", "/repos/{owner}/{repo}/collaborators", "repository")
def collaborators_list(app, req):
    repo, _ = load_repo(app, req)
    users = [app.state.users[uid] for uid in sorted(repo.collaborators)]
    return 200, [render.user(app.state, u, full=False)
                 for u in paginate(req, users, with_link=False)]


@route("GET", "/repos/{owner}/{repo}/collaborators/{collaborator}", "repository")
def collaborator_check(app, req):
    repo, _ = load_repo(app, req)
    u = app.state.user_by_login(req.params["collaborator"])
    if u is None:
        raise ApiError(422, f"user does not exist [name: {req.params['collaborator']}]")
    if u.id in repo.collaborators:
        return 204, None
    raise not_found()


@route("PUT", "/repos/{owner}/{repo}/collaborators/{collaborator}", "repository")
def collaborator_add(app, req):
    require_signed_in(req)
    repo, _ = load_repo(app, req, admin=True)
    u = app.state.user_by_login(req.params["collaborator"])
    if u is None or u.is_org:
        raise ApiError(422, f"user does not exist [name: {req.params['collaborator']}]")
    perm = req.json().get("permission") or "write"
    # Any other string gives access mode "none" (models/perm/access_mode.go).
    repo.collaborators[u.id] = perm if perm in ("read", "write", "admin") else "none"
    return 204, None


@route("DELETE", "/repos/{owner}/{repo}/collaborators/{collaborator}", "repository")
def collaborator_remove(app, req):
    require_signed_in(req)
    repo, _ = load_repo(app, req, admin=True)
    u = app.state.user_by_login(req.params["collaborator"])
    if u is None:
        raise ApiError(422, f"user does not exist [name: {req.params['collaborator']}]")
    repo.collaborators.pop(u.id, None)
    return 204, None


# -- hooks -----------------------------------------------------------------

HOOK_TYPES = ("dingtalk", "discord", "gitea", "gogs", "msteams", "slack",
              "telegram", "feishu", "wechatwork", "packagist", "matrix")


def hook_from_body(app, req, kind, owner_id):
    body = req.json()
    config = body.get("config") or {}
    if body.get("type") not in HOOK_TYPES:
        raise ApiError(422, "Invalid hook type")
    if not config.get("url") or config.get("content_type") not in ("json", "form"):
        raise ApiError(422, "Missing config option: url" if not config.get("url")
                       else "Invalid content type")
    if kind == "default" and config.get("is_system_webhook") == "true":
        kind = "system"
    h = model.Hook(id=app.state.next_id("hook"), kind=kind, owner_id=owner_id,
                   type=body["type"], active=bool(body.get("active", False)),
                   events=list(body.get("events") or ["push"]),
                   branch_filter=body.get("branch_filter") or "*",
                   url=config["url"], content_type=config["content_type"],
                   secret=config.get("secret", ""),
                   authorization_header=body.get("authorization_header") or "")
    app.state.hooks[h.id] = h
    return h


def hook_edit(app, req, h):
    body = req.json()
    config = body.get("config") or {}
    if "url" in config:
        h.url = config["url"]
    if "content_type" in config:
        h.content_type = config["content_type"]
    if "secret" in config:
        h.secret = config["secret"]
    if body.get("events") is not None:
        h.events = list(body["events"])
    if body.get("active") is not None:
        h.active = bool(body["active"])
    if body.get("branch_filter") is not None:
        h.branch_filter = body["branch_filter"]
    if body.get("authorization_header") is not None:
        h.authorization_header = body["authorization_header"]
    h.updated_at = model.now()
    return 200, render.hook(app.state, h)


def owned_hook(app, req, kind, owner_id):
    try:
        h = app.state.hooks.get(int(req.params["id"]))
    except ValueError:
        h = None
    if h is None or h.owner_id != owner_id or \
            (kind == "admin" and h.kind not in ("system", "default")) or \
            (kind != "admin" and h.kind != kind):
        raise not_found()
    return h


@route("GET", "/repos/{owner}/{repo}/hooks", "repository")
def repo_hooks(app, req):
    repo, _ = load_repo(app, req, admin=True)
    hooks = [h for h in app.state.hooks.values() if h.kind == "repository" and h.owner_id == repo.id]
    return 200, [render.hook(app.state, h) for h in paginate(req, hooks, with_link=False)]


@route("POST", "/repos/{owner}/{repo}/hooks", "repository")
def repo_hook_create(app, req):
    repo, _ = load_repo(app, req, admin=True)
    return 201, render.hook(app.state, hook_from_body(app, req, "repository", repo.id))


@route("GET", "/repos/{owner}/{repo}/hooks/{id}", "repository")
def repo_hook_get(app, req):
    repo, _ = load_repo(app, req, admin=True)
    return 200, render.hook(app.state, owned_hook(app, req, "repository", repo.id))


@route("PATCH", "/repos/{owner}/{repo}/hooks/{id}", "repository")
def repo_hook_edit(app, req):
    repo, _ = load_repo(app, req, admin=True)
    return hook_edit(app, req, owned_hook(app, req, "repository", repo.id))


@route("DELETE", "/repos/{owner}/{repo}/hooks/{id}", "repository")
def repo_hook_delete(app, req):
    repo, _ = load_repo(app, req, admin=True)
    del app.state.hooks[owned_hook(app, req, "repository", repo.id).id]
    return 204, None


def load_org_owned(app, req):
    require_signed_in(req)
    org = app.state.user_by_login(req.params["org"])
    if org is None or not org.is_org:
        raise not_found()
    if not (req.doer.is_admin or org.members.get(req.doer.id) == "owner"):
        raise ApiError(403, "Must be an organization owner")
    return org


@route("GET", "/orgs/{org}/hooks", "organization")
def org_hooks(app, req):
    org = load_org_owned(app, req)
    hooks = [h for h in app.state.hooks.values() if h.kind == "organization" and h.owner_id == org.id]
    return 200, [render.hook(app.state, h) for h in paginate(req, hooks)]


@route("POST", "/orgs/{org}/hooks", "organization")
def org_hook_create(app, req):
    org = load_org_owned(app, req)
    return 201, render.hook(app.state, hook_from_body(app, req, "organization", org.id))


@route("PATCH", "/orgs/{org}/hooks/{id}", "organization")
def org_hook_edit(app, req):
    org = load_org_owned(app, req)
    return hook_edit(app, req, owned_hook(app, req, "organization", org.id))


@route("DELETE", "/orgs/{org}/hooks/{id}", "organization")
def org_hook_delete(app, req):
    org = load_org_owned(app, req)
    del app.state.hooks[owned_hook(app, req, "organization", org.id).id]
    return 204, None


@route("GET", "/admin/hooks", "admin")
def admin_hooks(app, req):
    require_admin(req)
    want = req.arg("type", "system")
    hooks = [h for h in app.state.hooks.values() if h.kind in ("system", "default") and
             (want == "all" or h.kind == want)]
    return 200, [render.hook(app.state, h) for h in paginate(req, hooks)]


@route("POST", "/admin/hooks", "admin")
def admin_hook_create(app, req):
    require_admin(req)
    # Without config.is_system_webhook "true" this is a template ("default")
    # hook that never fires for existing repositories (trap 2).
    return 201, render.hook(app.state, hook_from_body(app, req, "default", 0))


@route("GET", "/admin/hooks/{id}", "admin")
def admin_hook_get(app, req):
    require_admin(req)
    return 200, render.hook(app.state, owned_hook(app, req, "admin", 0))


@route("PATCH", "/admin/hooks/{id}", "admin")
def admin_hook_edit(app, req):
    require_admin(req)
    return hook_edit(app, req, owned_hook(app, req, "admin", 0))


@route("DELETE", "/admin/hooks/{id}", "admin")
def admin_hook_delete(app, req):
    require_admin(req)
    del app.state.hooks[owned_hook(app, req, "admin", 0).id]
    return 204, None


# -- branches and statuses ---------------------------------------------------

@route("GET", "/repos/{owner}/{repo}/branches", "repository")
def branches_list(app, req):
    repo, _ = load_repo(app, req)
    names = [name for name, _ in app.git.branches(repo.git_dir)]
    page = paginate(req, names)
    return 200, [app.branch_json(repo, name, req.doer) for name in page]


@route("GET", "/repos/{owner}/{repo}/branches/{branch...}", "repository")
def branch_get(app, req):
    repo, _ = load_repo(app, req)
    if app.git.branch_sha(repo.git_dir, req.params["branch"]) is None:
        raise not_found("branch does not exist")
    return 200, app.branch_json(repo, req.params["branch"], req.doer)


STATUS_STATES = ("pending", "success", "error", "failure", "warning", "skipped")


@route("POST", "/repos/{owner}/{repo}/statuses/{sha}", "repository")
def status_create(app, req):
    require_signed_in(req)
    repo, _ = load_repo(app, req, write=True)
    body = req.json()
    if body.get("state") not in STATUS_STATES:
        raise ApiError(422, "[State]: Required")
    # Gitea reads the commit first (commitstatus.CreateCommitStatus): a
    # status is only ever on a commit the repository has.
    try:
        commit = app.git.commit(repo.git_dir, req.params["sha"])
    except GitError:
        raise not_found()
    s = model.Status(id=app.state.next_id("status"), repo_id=repo.id,
                     sha=commit["id"], state=body["state"],
                     context=body.get("context") or "default",
                     target_url=body.get("target_url") or "",
                     description=body.get("description") or "",
                     creator_id=req.doer.id)
    app.state.statuses[s.id] = s
    # Gitea sends the "status" event for every status created
    # (webhookNotifier.CreateCommitStatus, HookEventStatus).
    app.hooks.fire(repo, "status", payloads.status(app.state, repo, s, commit, req.doer))
    return 201, render.commit_status(app.state, s)


def statuses_for(app, repo, sha):
    return sorted((s for s in app.state.statuses.values()
                   if s.repo_id == repo.id and s.sha == sha), key=lambda s: s.id, reverse=True)


@route("GET", "/repos/{owner}/{repo}/statuses/{sha}", "repository")
def statuses_list(app, req):
    repo, _ = load_repo(app, req)
    found = statuses_for(app, repo, req.params["sha"])
    return 200, [render.commit_status(app.state, s) for s in paginate(req, found)]


@route("GET", "/repos/{owner}/{repo}/commits/{ref...}/status", "repository")
def combined_status(app, req):
    repo, _ = load_repo(app, req)
    ref = req.params["ref"]
    sha = app.git.branch_sha(repo.git_dir, ref) or ref
    latest = {}
    for s in statuses_for(app, repo, sha):
        latest.setdefault(s.context, s)     # newest per context
    found = sorted(latest.values(), key=lambda s: s.id)
    page = paginate(req, found)
    return 200, render.combined_status(app.state, repo, sha, page,
                                       repo_json(app, repo, req.doer))


# -- contents and raw files --------------------------------------------------

class Raw:
    """An answer that is not JSON (a raw file): its bytes as they are, with
    their own Content-Type (none for an empty 304)."""

    def __init__(self, body, content_type=None):
        self.body = body
        self.content_type = content_type


def gitea_not_found(req, message="not found", errors=None):
    """ctx.APIErrorNotFound as Gitea 1.26.3 writes it (services/context/api.go):
    a string argument replaces the message "not found", error arguments
    are the errors, null when there are none."""
    return ApiError(404, message, body={"errors": errors, "message": message,
                                        "url": req.swagger_url()})


def internal_error(req, message):
    """ctx.APIErrorInternal in production: the message for site admins only."""
    return ApiError(500, message if req.doer is not None and req.doer.is_admin else "")


def resolve_ref_commit(app, req, repo):
    """utils.ResolveRefCommit behind the contents API: `ref` (trimmed; the
    default branch when empty) is a branch, else a tag, else a full-length
    lower-case commit id.  Returns (ref, ref type, commit id).  Gitea
    1.26.3 takes no "refs/heads/..." form here."""
    ref = (req.arg("ref") or "").strip() or repo.default_branch
    git, git_dir = app.git, repo.git_dir
    rev, ref_type = None, None
    if git.branch_sha(git_dir, ref) is not None:
        rev, ref_type = "refs/heads/" + ref, "branch"
    elif git.tag_sha(git_dir, ref) is not None:
        rev, ref_type = "refs/tags/" + ref, "tag"
    elif re.fullmatch(r"[0-9a-f]{40}", ref):
        rev, ref_type = ref, "commit"
    commit = git.peel_commit(git_dir, rev) if rev else None
    if commit is None:
        raise gitea_not_found(req, errors=[str(NoSuchObject(ref, ""))])
    return ref, ref_type, commit


def clean_tree_path(name):
    """files_service.CleanGitTreePath: util.PathJoinRel (cleaned as if
    rooted, then relative) with no ".git" element; "" for the root and for
    a path it refuses."""
    if not name:
        return ""
    p = clean_path("/" + name)[1:] or "."
    if any(part.lower() == ".git" for part in p.split("/")):
        return ""
    return "" if p == "." else p


def contents_entry(app, repo, ref, ref_type, commit, entry, path, with_content):
    """One ContentsResponse: the last commit of the path, a file's content
    (when with_content), a symlink's target, a submodule's url."""
    git, git_dir = app.git, repo.git_dir
    kind = render.CONTENT_TYPES.get(entry["mode"], "")
    content = target = submodule = lfs = None
    if kind == "file" and with_content and entry["size"] <= render.MAX_BLOB_SIZE:
        content, lfs = render.file_content(git.blob(git_dir, entry["sha"]))
    elif kind == "symlink":
        target = git.blob(git_dir, entry["sha"])[:1024].decode("utf-8", "surrogateescape")
    elif kind == "submodule":
        submodule = git.submodule_url(git_dir, commit, path)
    return render.contents(app.state, repo, entry, path, ref, ref_type,
                           git.last_commit(git_dir, commit, path), content=content,
                           target=target, submodule_url=submodule, lfs=lfs)


def repo_contents(app, req, tree_path):
    """GetContents (routers/api/v1/repo/file.go): a file (or symlink or
    submodule) as one ContentsResponse with its content, a directory as
    the list of its entries without content."""
    repo, _ = load_repo(app, req)
    ref, ref_type, commit = resolve_ref_commit(app, req, repo)
    path = clean_tree_path(tree_path)
    if not path and tree_path:
        # ErrFilenameInvalid is no git.ErrNotExist: Gitea answers 500.
        raise internal_error(req, f"path contains a malformed path component [path: {tree_path}]")
    git, git_dir = app.git, repo.git_dir
    try:
        entry = git.tree_entry(git_dir, commit, path)
        if entry["type"] != "tree":
            return 200, contents_entry(app, repo, ref, ref_type, commit, entry, path, True)
        return 200, [contents_entry(app, repo, ref, ref_type, commit, child,
                                    join_path(path, child["name"]), False)
                     for child in git.tree_entries(git_dir, entry["sha"])]
    except NoSuchObject as exc:
        raise gitea_not_found(req, "GetContentsOrList", [str(exc)])


@route("GET", "/repos/{owner}/{repo}/contents", "repository")
@route("GET", "/repos/{owner}/{repo}/contents/", "repository")
def contents_list(app, req):
    # GetContentsList is GetContents of the root directory.
    return repo_contents(app, req, "")


@route("GET", "/repos/{owner}/{repo}/contents/{filepath...}", "repository")
def contents_get(app, req):
    return repo_contents(app, req, req.params["filepath"])


def legacy_ref(app, repo, req_path, extra_ref):
    """services/context/repo.go getRefNameLegacy, which RepoRefForAPI uses
    for raw files: in path.Join(ref, filepath), the shortest leading part
    that is a branch, else "HEAD" (the default branch), else the shortest
    that is a tag, else a full commit id as first element; the rest is the
    file's path.  Failing all that, the default branch and the filepath as
    given, so an unknown `ref` still reads the default branch (Gitea's own
    FIXME).  Returns (ref name, ref type, tree path)."""
    refs = app.git.refs(repo.git_dir)
    parts = join_path(extra_ref, req_path).split("/")

    def from_path(prefix):
        name = ""
        for i, part in enumerate(parts):
            name = name + "/" + part
            name = name[1:] if name.startswith("/") else name
            if name and prefix + name in refs:
                return name, "/".join(parts[i + 1:])
        return None, None

    name, tree_path = from_path("refs/heads/")
    if name is not None:
        return name, "branch", tree_path
    if parts[0] == "HEAD":
        return repo.default_branch, "branch", "/".join(parts[1:])
    name, tree_path = from_path("refs/tags/")
    if name is not None:
        return name, "tag", tree_path
    if re.fullmatch(r"[0-9a-f]{40}", parts[0]):
        return parts[0], "commit", "/".join(parts[1:])
    return repo.default_branch, "branch", req_path


def not_modified(req, etag, last_modified):
    """httpcache.handleGenericETagTimeCache: If-None-Match naming the ETag
    (W/ allowed), or If-Modified-Since at or after the last change."""
    for item in (req.headers.get("If-None-Match") or "").split(","):
        item = item.strip()
        if (item[2:] if item.startswith("W/") else item) == etag and etag:
            return True
    since = req.headers.get("If-Modified-Since")
    if since:
        try:
            t = datetime.datetime.strptime(since, "%a, %d %b %Y %H:%M:%S GMT")
        except ValueError:
            return False
        return last_modified <= int(t.replace(tzinfo=model.UTC).timestamp())
    return False


@route("GET", "/repos/{owner}/{repo}/raw/{filepath...}", "repository")
def raw_file(app, req):
    """GetRawFile: a blob's bytes, served as common.ServeBlob serves them.
    Directories and submodules are 404; so is everything in an empty
    repository."""
    repo, _ = load_repo(app, req)
    git, git_dir = app.git, repo.git_dir
    if app.branch_count(repo) == 0:
        raise gitea_not_found(req, "repository is empty")
    name, ref_type, tree_path = legacy_ref(app, repo, req.params["filepath"],
                                           (req.arg("ref") or "").strip())
    prefix = {"branch": "refs/heads/", "tag": "refs/tags/", "commit": ""}[ref_type]
    commit = git.peel_commit(git_dir, prefix + name)
    if commit is None:
        raise gitea_not_found(req, "unable to find a git ref")
    try:
        entry = git.tree_entry(git_dir, commit, tree_path)
    except NoSuchObject:
        raise gitea_not_found(req)
    if entry["type"] != "blob":                     # a directory or a submodule
        raise gitea_not_found(req, "getBlobForEntry")
    last = git.last_commit(git_dir, commit, clean_path(tree_path))["committer_unix"]
    etag = f'"{entry["sha"]}"'
    req.out_headers += [("X-Gitea-Object-Type", render.CONTENT_TYPES.get(entry["mode"], "")),
                        ("Etag", etag), ("Last-Modified", render.http_date(last))]
    if not_modified(req, etag, last):
        return 304, Raw(b"")
    data = git.blob(git_dir, entry["sha"])
    owner = app.state.users[repo.owner_id]
    ctype, headers = render.raw_file_headers(tree_path, data, public=not repo.private and
                                             owner.visibility == "public")
    req.out_headers += headers
    return 200, Raw(data, ctype)
