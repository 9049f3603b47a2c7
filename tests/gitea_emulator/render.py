"""Gitea 1.26.3 API objects as dicts, keys in Go struct field order.

One function per object of modules/structs; key order is the Go field
order, which webhooks/*.json shows (README section 1).  Values follow the
converters in services/convert.  What the emulator does not model (forks,
mirrors, milestones, teams, time tracking...) renders as Gitea renders its
absence.

Users are shown at three levels, by who looks (convert/user.go:49-86):
  reduced  no viewer: placeholder email, is_admin/active false, language "",
           last_login Go-zero (webhook senders, assignees, comment users...);
  signed   a signed-in viewer: the real email (unless kept private), the
           rest still reduced (a repository's owner, a poster seen by others);
  full     the user themself or a site admin: everything.

Facts only git knows (branch counts, branch heads) come from optional
callables, or else from state.git (a git.GitStore), or are left empty.
"""

import hashlib

from .gitjson import GO_ZERO_TIME, time

VERSION = "1.26.3"


def _t(dt):
    return time(dt) if dt is not None else None


# -- URLs ----------------------------------------------------------------------

def repo_html_url(state, repo):
    return state.root_url + state.full_name(repo)


def repo_api_url(state, repo):
    return state.root_url + "api/v1/repos/" + state.full_name(repo)


def issue_html_url(state, issue):
    # A PR's web page is /pulls/N, an issue's /issues/N (issue.go HTMLURL).
    kind = "pulls" if issue.is_pull else "issues"
    return f"{repo_html_url(state, state.repos[issue.repo_id])}/{kind}/{issue.index}"


def issue_api_url(state, issue):
    # Always /issues/N, PRs included (README section 1).
    return f"{repo_api_url(state, state.repos[issue.repo_id])}/issues/{issue.index}"


def avatar_hash(u):
    """The stored avatar hash, or what Gitea's random avatar stores: the md5
    of the lower-cased email, or of the name when there is none
    (DISABLE_GRAVATAR, the default, gives /avatars/<hash>)."""
    if u.avatar:
        return u.avatar
    seed = (u.email or u.login).strip().lower()
    return hashlib.md5(seed.encode("utf-8")).hexdigest()


def placeholder_email(state, u):
    # models/user/user.go:218-220: "<id>+<lower name>@<NO_REPLY_ADDRESS>",
    # NO_REPLY_ADDRESS defaulting to "noreply." + DOMAIN.
    return f"{u.id}+{u.login.lower()}@noreply.{state.domain}"


# -- permissions and git facts -----------------------------------------------

def permissions_for(level):
    """The API's {admin, push, pull} for a State.access() level."""
    return {"admin": level in ("admin", "owner"),
            "push": level in ("write", "admin", "owner"),
            "pull": level != "none"}


OWNER_PERMISSIONS = {"admin": True, "push": True, "pull": True}


def _branch_count(state, repo, branch_count):
    """None when unknown (no callable and no state.git)."""
    if branch_count is not None:
        return branch_count(repo)
    git = getattr(state, "git", None)
    if git is not None:
        return len(git.branches(repo.git_dir))
    return None


def _branch_sha(state, repo, name, branch_sha):
    if branch_sha is not None:
        return branch_sha(repo, name) or ""
    git = getattr(state, "git", None)
    if git is not None:
        return git.branch_sha(repo.git_dir, name) or ""
    return ""


# -- users and organisations --------------------------------------------------

def user(state, u, full=False, signed=False):
    """api.User.  full: the user's own or an admin's view; signed: another
    signed-in user's view; neither: the reduced no-viewer view."""
    signed = signed or full
    email = placeholder_email(state, u)
    if signed and (not u.keep_email_private or full):
        email = u.email
    return {
        "id": u.id,
        "login": u.login,
        "login_name": "",
        "source_id": 0,
        "full_name": u.full_name,
        "email": email,
        "avatar_url": f"{state.root_url}avatars/{avatar_hash(u)}",
        "html_url": state.root_url + u.login,
        "language": u.language if full else "",
        "is_admin": u.is_admin if full else False,
        "last_login": time(u.last_login) if full else GO_ZERO_TIME,
        "created": time(u.created),
        "restricted": u.restricted,
        "active": u.active if full else False,
        "prohibit_login": u.prohibit_login if full else False,
        "location": u.location,
        "website": u.website,
        "description": u.description,
        "visibility": u.visibility,
        "followers_count": u.followers_count,
        "following_count": u.following_count,
        "starred_repos_count": u.starred_repos_count,
        # Not in the swagger: a custom MarshalJSON appends it (user.go:63-70).
        "username": u.login,
    }


def user_seen_by(state, u, viewer):
    """api.User as ToUser(ctx, u, viewer) builds it."""
    if viewer is None:
        return user(state, u)
    return user(state, u, full=viewer.is_admin or viewer.id == u.id, signed=True)


def _reduced(state, uid):
    return user(state, state.users[uid]) if uid else None


def organization(state, org):
    return {
        "id": org.id,
        "name": org.login,
        "full_name": org.full_name,
        "email": org.email,
        "avatar_url": f"{state.root_url}avatars/{avatar_hash(org)}",
        "description": org.description,
        "website": org.website,
        "location": org.location,
        "visibility": org.visibility,
        "repo_admin_change_team_access": org.repo_admin_change_team_access,
        "username": org.login,          # deprecated duplicate, last in the struct
    }


# -- repositories ---------------------------------------------------------------

def _open_counts(state, repo):
    issues = pulls = 0
    for i in state.issues.values():
        if i.repo_id == repo.id and i.state == "open":
            if i.is_pull:
                pulls += 1
            else:
                issues += 1
    return issues, pulls


def repository(state, r, permissions=None, branch_count=None):
    """api.Repository.  permissions: {admin, push, pull} of whoever the
    caller decides (README section 2: it varies by event); default
    anonymous.  branch_count: callable(repo) -> int."""
    owner = state.users[r.owner_id]
    if permissions is None:
        permissions = permissions_for(state.access(None, r))
    count = _branch_count(state, r, branch_count)
    open_issues, open_pulls = _open_counts(state, r)
    html = repo_html_url(state, r)
    api_url = repo_api_url(state, r)
    full_name = state.full_name(r)
    return {
        "id": r.id,
        # ToUserWithAccessMode: signed when the viewer has any access,
        # never "authed" (so an org shows its real, usually empty, email).
        "owner": user(state, owner, signed=bool(permissions.get("pull"))),
        "name": r.name,
        "full_name": full_name,
        "description": r.description,
        "empty": count == 0,
        "private": r.private,
        "fork": False,
        "template": False,
        "mirror": False,
        "size": r.size,
        "language": r.language,
        "languages_url": api_url + "/languages",
        "html_url": html,
        "url": api_url,
        "link": "",
        # SSH on port 22 gives the scp form (README section 5).
        "ssh_url": f"git@{state.domain}:{full_name}.git",
        "clone_url": html + ".git",
        "original_url": "",
        "website": r.website,
        "stars_count": r.stars_count,
        "forks_count": 0,
        "watchers_count": r.watchers_count,
        "branch_count": count or 0,
        "open_issues_count": open_issues,
        "open_pr_counter": open_pulls,
        "release_counter": 0,
        "default_branch": r.default_branch,
        "archived": r.archived,
        "created_at": time(r.created_at),
        "updated_at": time(r.updated_at),
        "archived_at": time(r.archived_at),
        "permissions": {"admin": bool(permissions.get("admin")),
                        "push": bool(permissions.get("push")),
                        "pull": bool(permissions.get("pull"))},
        "has_code": True,
        "has_issues": True,
        "internal_tracker": {
            "enable_time_tracker": True,
            "allow_only_contributors_to_track_time": True,
            "enable_issue_dependencies": True,
        },
        "has_wiki": True,
        "has_pull_requests": True,
        "has_projects": True,
        "projects_mode": "all",
        "has_releases": True,
        "has_packages": True,
        "has_actions": True,
        "ignore_whitespace_conflicts": False,
        "allow_merge_commits": r.allow_merge_commits,
        "allow_rebase": r.allow_rebase,
        "allow_rebase_explicit": r.allow_rebase_explicit,
        "allow_squash_merge": r.allow_squash_merge,
        "allow_fast_forward_only_merge": r.allow_fast_forward_only_merge,
        "allow_rebase_update": r.allow_rebase_update,
        "allow_manual_merge": r.allow_manual_merge,
        "autodetect_manual_merge": False,
        "default_delete_branch_after_merge": r.default_delete_branch_after_merge,
        "default_merge_style": r.default_merge_style,
        "default_allow_maintainer_edit": r.default_allow_maintainer_edit,
        "avatar_url": "",
        # convert/repository.go: internal = public repo of a private owner.
        "internal": not r.private and owner.visibility == "private",
        "mirror_interval": "",
        "object_format_name": "sha1",
        "mirror_updated": GO_ZERO_TIME,
        "topics": list(r.topics),
        "licenses": list(r.licenses),
    }


def repository_meta(state, r):
    return {"id": r.id, "name": r.name, "owner": state.users[r.owner_id].login,
            "full_name": state.full_name(r)}


def search_results(repos):
    """/repos/search wraps its list (README section 3)."""
    return {"ok": True, "data": list(repos)}


# -- issues, labels, comments ------------------------------------------------------

def label(state, lab):
    repo = state.repos[lab.repo_id]
    return {
        "id": lab.id,
        "name": lab.name,
        "exclusive": lab.exclusive,
        "is_archived": lab.is_archived,
        "color": lab.color,
        "description": lab.description,
        "url": f"{repo_api_url(state, repo)}/labels/{lab.id}",
    }


def _labels(state, issue):
    # Gitea loads an issue's labels ordered by name (issue_label.go).
    labs = [state.labels[i] for i in issue.label_ids if i in state.labels]
    return [label(state, lab) for lab in sorted(labs, key=lambda lab: lab.name)]


def _poster(state, issue, viewer, viewer_full):
    u = state.users[issue.poster_id]
    if viewer is not None:
        return user_seen_by(state, u, viewer)
    return user(state, u, full=viewer_full)


def _assignees(state, issue):
    return [user(state, state.users[a]) for a in issue.assignee_ids]


def issue(state, i, viewer_full=False, viewer=None):
    """api.Issue (PRs too).  The poster is shown as ToUser(poster, viewer):
    pass viewer (a model.User, the doer); without one, viewer_full picks
    the full or the reduced view."""
    repo = state.repos[i.repo_id]
    assignees = _assignees(state, i)
    pull_meta = None
    if i.is_pull:
        pull_meta = {
            "merged": i.pull.merged,
            "merged_at": _t(i.pull.merged_at) if i.pull.merged else None,
            "draft": i.pull.draft,
            "html_url": issue_html_url(state, i),
        }
    return {
        "id": i.id,
        "url": issue_api_url(state, i),
        "html_url": issue_html_url(state, i),
        "number": i.index,
        "user": _poster(state, i, viewer, viewer_full),
        "original_author": "",
        "original_author_id": 0,
        "title": i.title,
        "body": i.body,
        "ref": i.ref,
        "assets": [],
        "labels": _labels(state, i),
        "milestone": None,
        "assignee": assignees[0] if assignees else None,
        # nil (null) on an issue without assignees (convert/issue.go:101-106)
        "assignees": assignees or None,
        "state": i.state,
        "is_locked": i.is_locked,
        "comments": i.comments,
        "created_at": time(i.created_at),
        "updated_at": time(i.updated_at),
        "closed_at": _t(i.closed_at),
        "due_date": None,
        "time_estimate": 0,
        "pull_request": pull_meta,
        "repository": repository_meta(state, repo),
        "pin_order": 0,
        "content_version": i.content_version,
    }


def comment(state, c):
    """api.Comment; its user is always the reduced view.  issue_url and
    pull_request_url are HTML URLs and only one is set (comment.go:483-520)."""
    parent = state.issues[c.issue_id]
    page = issue_html_url(state, parent)
    return {
        "id": c.id,
        "html_url": f"{page}#issuecomment-{c.id}",
        "pull_request_url": page if parent.is_pull else "",
        "issue_url": "" if parent.is_pull else page,
        "user": _reduced(state, c.poster_id),
        "original_author": "",
        "original_author_id": 0,
        "body": c.body,
        "assets": [],
        "created_at": time(c.created_at),
        "updated_at": time(c.updated_at),
    }


# -- pull requests and reviews -------------------------------------------------

def mergeable(pr):
    # models/issues/pull.go Mergeable: not while checking, conflicting or
    # errored, and never for a work-in-progress PR.
    return pr.status not in ("checking", "conflict", "error") and not pr.draft


def review_comments(state, issue):
    """pull.go GetReviewCommentsCount: comments of type "review", i.e. one
    per submitted review."""
    return sum(1 for r in state.reviews.values()
               if r.issue_id == issue.id and r.state not in ("PENDING", "REQUEST_REVIEW"))


def _branch_info(state, repo, name, ref, sha, repo_json):
    # PRBranchInfo: "label" is the bare branch name (README section 2).
    return {"label": name, "ref": ref, "sha": sha, "repo_id": repo.id, "repo": repo_json}


def pull_request(state, i, viewer=None, viewer_full=False, permissions=None,
                 branch_count=None, branch_sha=None):
    """api.PullRequest.  viewer: the doer; the poster is shown as seen by
    them and base.repo/head.repo carry their permissions unless
    permissions says otherwise.  branch_sha: callable(repo, name) -> sha."""
    pr = i.pull
    repo = state.repos[i.repo_id]
    if permissions is None:
        permissions = permissions_for(state.access(viewer, repo))
    repo_json = repository(state, repo, permissions, branch_count=branch_count)
    page = issue_html_url(state, i)
    # After the head branch is deleted, head.ref is the PR's own ref
    # (convert/pull.go:114-117).
    head_ref = f"refs/pull/{i.index}/head" if pr.head_branch_deleted else pr.head_branch
    base_sha = _branch_sha(state, repo, pr.base_branch, branch_sha)
    return {
        "id": pr.id,
        "url": page,                    # the HTML URL (convert/pull.go:76)
        "number": i.index,
        "user": _poster(state, i, viewer, viewer_full),
        "title": i.title,
        "body": i.body,
        "labels": _labels(state, i),
        "milestone": None,
        "assignee": _reduced(state, i.assignee_ids[0]) if i.assignee_ids else None,
        "assignees": _assignees(state, i),      # [] here, not null (convert/pull.go:84)
        "requested_reviewers": [],
        "requested_reviewers_teams": [],
        "state": i.state,
        "draft": pr.draft,
        "is_locked": i.is_locked,
        "comments": i.comments,
        # omitempty, yet present as 0: jsonv2 keeps zero ints (README section 1)
        "review_comments": review_comments(state, i),
        "additions": pr.additions,
        "deletions": pr.deletions,
        "changed_files": pr.changed_files,
        "html_url": page,
        "diff_url": page + ".diff",
        "patch_url": page + ".patch",
        "mergeable": mergeable(pr),
        "merged": pr.merged,
        "merged_at": _t(pr.merged_at) if pr.merged else None,
        "merge_commit_sha": pr.merge_commit_sha if pr.merged else None,
        "merged_by": _reduced(state, pr.merged_by_id) if pr.merged else None,
        "allow_maintainer_edit": pr.allow_maintainer_edit,
        "base": _branch_info(state, repo, pr.base_branch, pr.base_branch, base_sha, repo_json),
        "head": _branch_info(state, repo, pr.head_branch, head_ref, pr.head_sha, repo_json),
        "merge_base": pr.merge_base,
        "due_date": None,
        "created_at": time(i.created_at),
        "updated_at": time(i.updated_at),
        "closed_at": _t(i.closed_at),
        "pin_order": 0,
        "content_version": i.content_version,
    }


def pull_review(state, r, viewer=None):
    """api.PullReview.  html_url points at the review's comment when its id
    is known (Review.HTMLURL)."""
    parent = state.issues[r.issue_id]
    page = issue_html_url(state, parent)
    reviewer = state.users[r.reviewer_id]
    return {
        "id": r.id,
        "user": user_seen_by(state, reviewer, viewer),
        "team": None,
        "state": r.state,
        "body": r.body,
        "commit_id": r.commit_id,
        "stale": r.stale,
        "official": r.official,
        "dismissed": r.dismissed,
        "comments_count": r.code_comments,
        "submitted_at": time(r.submitted_at),
        "updated_at": time(r.updated_at),
        "html_url": f"{page}#issuecomment-{r.comment_id}" if r.comment_id else page,
        "pull_request_url": page,
    }


# -- hooks ----------------------------------------------------------------------------

def hook(state, h):
    """api.Hook.  config holds only url and content_type: the secret is
    never echoed.  events lists the enabled event types, expanded from the
    subscription names (webhook.go EventsArray; Gitea walks a map, so its
    order varies: here it is the fixed type.go order)."""
    from . import payloads     # late: payloads imports this module
    return {
        "id": h.id,
        "name": h.name,
        "type": h.type,
        "branch_filter": h.branch_filter,
        "config": {"url": h.url, "content_type": h.content_type},
        "events": payloads.enabled_events(h.events),
        "authorization_header": h.authorization_header,
        "active": h.active,
        "updated_at": time(h.updated_at),
        "created_at": time(h.created_at),
    }


# -- commits, branches, statuses -------------------------------------------------

def commit_username(state, email):
    """user_model.GetUserByEmail: a user's primary email (any case), or the
    "<name>@<NO_REPLY_ADDRESS>" form; "" when nobody matches."""
    email = (email or "").strip().lower()
    if not email:
        return ""
    noreply = "@noreply." + state.domain
    for u in state.users.values():
        if u.email and u.email.lower() == email:
            return u.login
    if email.endswith(noreply):
        u = state.user_by_login(email[:-len(noreply)])
        if u is not None:
            return u.login
    return ""


def _commit_time(value):
    # git.py gives RFC 3339 strings already in the committer's offset.
    return value if isinstance(value, str) else time(value)


def _person(p, username_for):
    return {"name": p["name"], "email": p["email"], "username": username_for(p["email"])}


UNSIGNED = {
    "verified": False,
    "reason": "gpg.error.not_signed_commit",
    "signature": "",
    "signer": None,
    "payload": "",
}


def payload_commit(commit, repo_url, username_for=None, verification=None, files=True):
    """api.PayloadCommit from a git.GitStore.commit() dict: id, message,
    author/committer {name, email, date}, added/removed/modified.

    Push payloads: verification null, file lists always arrays.  The
    branch API (files=False, verification=UNSIGNED) leaves the file lists
    nil, i.e. null.  The timestamp is the author's (CommitToPushCommit)."""
    username_for = username_for or (lambda email: "")
    return {
        "id": commit["id"],
        "message": commit["message"],
        "url": f"{repo_url}/commit/{commit['id']}",
        "author": _person(commit["author"], username_for),
        "committer": _person(commit["committer"], username_for),
        "verification": verification,
        "timestamp": _commit_time(commit["author"]["date"]),
        "added": list(commit.get("added") or []) if files else None,
        "removed": list(commit.get("removed") or []) if files else None,
        "modified": list(commit.get("modified") or []) if files else None,
    }


def branch(state, repo, name, commit, user_can_push=False, user_can_merge=False):
    """api.Branch of an unprotected branch (convert.ToBranch)."""
    return {
        "name": name,
        "commit": payload_commit(commit, repo_html_url(state, repo),
                                 lambda e: commit_username(state, e),
                                 verification=dict(UNSIGNED), files=False),
        "protected": False,
        "required_approvals": 0,
        "enable_status_check": False,
        "status_check_contexts": [],
        "user_can_push": user_can_push,
        "user_can_merge": user_can_merge,
        "effective_branch_protection_name": "",
    }


def status_index(state, s):
    """The API id of a status is its index among its commit's statuses
    (CommitStatus.Index, 1-based), not the table id."""
    return sum(1 for o in state.statuses.values()
               if o.repo_id == s.repo_id and o.sha == s.sha and o.id <= s.id)


def commit_status(state, s):
    repo = state.repos[s.repo_id]
    return {
        "id": status_index(state, s),
        "status": s.state,              # "status", not "state" (structs/status.go:17)
        "target_url": s.target_url,
        "description": s.description,
        "url": f"{repo_api_url(state, repo)}/statuses/{s.sha}",
        "context": s.context,
        "creator": _reduced(state, s.creator_id),
        "created_at": time(s.created_at),
        # convert.ToCommitStatus fills updated_at from the creation time too.
        "updated_at": time(s.created_at),
    }


def combined_state(states):
    """GitHub's rule, which Gitea follows: failure if any context errored or
    failed, pending if none reported or one is pending, then warning, else
    success."""
    states = list(states)
    if not states:
        return "pending"
    for worst, shown in (("error", "failure"), ("failure", "failure"),
                         ("pending", "pending"), ("warning", "warning")):
        if worst in states:
            return shown
    return "success"


def combined_status(state, repo, sha, statuses, repo_json):
    """api.CombinedStatus over the latest status of each context.  With no
    statuses: state pending and statuses null (convert/status.go:46-63)."""
    api_url = repo_api_url(state, repo)
    return {
        "state": combined_state(s.state for s in statuses),
        "sha": sha,
        "total_count": len(statuses),
        "statuses": [commit_status(state, s) for s in statuses] or None,
        "repository": repo_json,
        "commit_url": f"{api_url}/commits/{sha}",
        "url": f"{api_url}/commits/{sha}/status",
    }


# -- tokens, version ------------------------------------------------------------------

def access_token(token, include_secret=False):
    """api.AccessToken; the secret (sha1) only in the creation answer."""
    return {
        "id": token.id,
        "name": token.name,
        "sha1": token.sha1 if include_secret else "",
        "token_last_eight": token.sha1[-8:],
        "scopes": list(token.scopes),
        "created_at": time(token.created),
        "last_used_at": time(token.last_used or token.created),
    }


def version():
    return {"version": VERSION}
