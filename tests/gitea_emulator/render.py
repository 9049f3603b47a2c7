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

import base64
import datetime
import hashlib
import re
import urllib.parse

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


# -- repository contents and raw files ----------------------------------------------

def path_escape(segment):
    """Go's url.PathEscape: everything but letters, digits, -_.~ and
    $&+:=@ percent-encoded (upper-case hex), bytes of undecodable names
    included."""
    return urllib.parse.quote(segment.encode("utf-8", "surrogateescape"), safe="$&+:=@")


def path_escape_segments(path):
    """util.PathEscapeSegments: each '/'-separated segment PathEscape'd."""
    return "/".join(path_escape(seg) for seg in path.split("/"))


def query_escape(value):
    """Go's url.QueryEscape: space as '+', every reserved byte encoded."""
    return urllib.parse.quote_plus(value.encode("utf-8", "surrogateescape"), safe="")


# ContentType of a tree entry's mode (files_service.GetObjectTypeFromTreeEntry).
CONTENT_TYPES = {"100644": "file", "100755": "file", "040000": "dir",
                 "120000": "symlink", "160000": "submodule"}


def contents(state, repo, entry, path, ref, ref_type, last_commit, content=None,
             target=None, submodule_url=None, lfs=None):
    """api.ContentsResponse of one tree entry, as the "contents" API
    builds it (services/repository/files/content.go
    getFileContentsByEntryInternal, IncludeCommitMetadata on).

    entry: a git.GitStore tree entry; path: its cleaned path; ref: the ref
    as given (or the default branch), ref_type "branch", "tag" or "commit"
    (RefWebLinkPath); last_commit: git.GitStore.last_commit(); content:
    the base64 text of a file when it is included (a file's content and
    encoding are null in listings and above 10 MiB); target: a symlink's
    target; submodule_url: from .gitmodules; lfs: (oid, size) when the
    blob is an LFS pointer."""
    kind = CONTENT_TYPES.get(entry["mode"], "")
    api_url, html = repo_api_url(state, repo), repo_html_url(state, repo)
    escaped = path_escape_segments(path)
    web = f"{ref_type}/{path_escape_segments(ref)}"
    self_url = f"{api_url}/contents/{escaped}?ref={query_escape(ref)}"
    html_url = git_url = download_url = None
    if kind in ("file", "symlink"):
        download_url = f"{html}/raw/{web}/{escaped}"
    if kind != "submodule":
        html_url = f"{html}/src/{web}/{escaped}"
        # Gitea writes git/blobs/ for directories too.
        git_url = f"{api_url}/git/blobs/{path_escape(entry['sha'])}"
    out = {
        "name": entry["name"],
        "path": path,
        "sha": entry["sha"],
        "last_commit_sha": last_commit["id"],
        "last_committer_date": last_commit["committer_date"],
        "last_author_date": last_commit["author_date"],
        # last_commit_message: omitempty, left out (IncludeCommitMessage off).
        "type": kind,
        "size": entry["size"] or 0,         # 0 for trees and submodules
        "encoding": "base64" if content is not None else None,
        "content": content,
        "target": target,
        "url": self_url,
        "html_url": html_url,
        "git_url": git_url,
        "download_url": download_url,
        "submodule_git_url": submodule_url,
        "_links": {"self": self_url, "git": git_url, "html": html_url},
    }
    if lfs is not None:                     # omitempty
        out["lfs_oid"], out["lfs_size"] = lfs
    return out


# Blobs above setting.API.DefaultMaxBlobSize come without content.
MAX_BLOB_SIZE = 10485760
LFS_META_MAX_SIZE = 1024                    # lfs.MetaFileMaxSize
_LFS_IDENT = b"version https://git-lfs.github.com/spec/v1"


def _trim_prefix(data, prefix):
    return data[len(prefix):] if data.startswith(prefix) else data


def file_content(data):
    """(content, lfs) of GetBlobBySHA: base64 of the blob (None above
    MAX_BLOB_SIZE), and (oid, size) when a blob of 1 to 1023 bytes is an
    LFS pointer (lfs.ReadPointerFromBuffer)."""
    if len(data) > MAX_BLOB_SIZE:
        return None, None
    lfs = None
    if 0 < len(data) < LFS_META_MAX_SIZE and data.startswith(_LFS_IDENT):
        lines = data.split(b"\n")
        if len(lines) >= 3:
            oid, size = _trim_prefix(lines[1], b"oid sha256:"), _trim_prefix(lines[2], b"size ")
            if re.fullmatch(rb"[0-9a-f]{64}", oid) and re.fullmatch(rb"[+-]?[0-9]+", size) \
                    and int(size) >= 0:
                lfs = (oid.decode(), int(size))
    return base64.b64encode(data).decode("ascii"), lfs


# Go's net/http DetectContentType (sniff.go), which Gitea's typesniffer
# extends: signatures tried in order on the first 512 bytes.
_WS = b"\t\n\x0c\r "
_HTML_SIGS = (b"<!DOCTYPE HTML", b"<HTML", b"<HEAD", b"<SCRIPT", b"<IFRAME", b"<H1",
              b"<DIV", b"<FONT", b"<TABLE", b"<A", b"<STYLE", b"<TITLE", b"<B",
              b"<BODY", b"<BR", b"<P", b"<!--")
_SIGNATURES = (    # (mask or None for a plain prefix, pattern, type, skip leading space)
    (b"\xff\xff\xff\xff\xff", b"<?xml", "text/xml; charset=utf-8", True),
    (None, b"%PDF-", "application/pdf", False),
    (None, b"%!PS-Adobe-", "application/postscript", False),
    (b"\xff\xff\x00\x00", b"\xfe\xff\x00\x00", "text/plain; charset=utf-16be", False),
    (b"\xff\xff\x00\x00", b"\xff\xfe\x00\x00", "text/plain; charset=utf-16le", False),
    (b"\xff\xff\xff\x00", b"\xef\xbb\xbf\x00", "text/plain; charset=utf-8", False),
    (None, b"\x00\x00\x01\x00", "image/x-icon", False),
    (None, b"\x00\x00\x02\x00", "image/x-icon", False),
    (None, b"BM", "image/bmp", False),
    (None, b"GIF87a", "image/gif", False),
    (None, b"GIF89a", "image/gif", False),
    (b"\xff\xff\xff\xff\x00\x00\x00\x00\xff\xff\xff\xff\xff\xff",
     b"RIFF\x00\x00\x00\x00WEBPVP", "image/webp", False),
    (None, b"\x89PNG\x0d\x0a\x1a\x0a", "image/png", False),
    (None, b"\xff\xd8\xff", "image/jpeg", False),
    (b"\xff\xff\xff\xff\x00\x00\x00\x00\xff\xff\xff\xff",
     b"FORM\x00\x00\x00\x00AIFF", "audio/aiff", False),
    (None, b"ID3", "audio/mpeg", False),
    (None, b"OggS\x00", "application/ogg", False),
    (None, b"MThd\x00\x00\x00\x06", "audio/midi", False),
    (b"\xff\xff\xff\xff\x00\x00\x00\x00\xff\xff\xff\xff",
     b"RIFF\x00\x00\x00\x00AVI ", "video/avi", False),
    (b"\xff\xff\xff\xff\x00\x00\x00\x00\xff\xff\xff\xff",
     b"RIFF\x00\x00\x00\x00WAVE", "audio/wave", False),
    "mp4",
    (None, b"\x1a\x45\xdf\xa3", "video/webm", False),
    (b"\x00" * 34 + b"\xff\xff", b"\x00" * 34 + b"LP", "application/vnd.ms-fontobject", False),
    (None, b"\x00\x01\x00\x00", "font/ttf", False),
    (None, b"OTTO", "font/otf", False),
    (None, b"ttcf", "font/collection", False),
    (None, b"wOFF", "font/woff", False),
    (None, b"wOF2", "font/woff2", False),
    (None, b"\x1f\x8b\x08", "application/x-gzip", False),
    (None, b"PK\x03\x04", "application/zip", False),
    (None, b"Rar!\x1a\x07\x00", "application/x-rar-compressed", False),
    (None, b"Rar!\x1a\x07\x01\x00", "application/x-rar-compressed", False),
    (None, b"\x00asm", "application/wasm", False),
)
_BINARY_BYTES = frozenset(list(range(0x00, 0x09)) + [0x0b] + list(range(0x0e, 0x1b)) +
                          list(range(0x1c, 0x20)))


def _is_mp4(data):
    if len(data) < 12:
        return False
    box = int.from_bytes(data[:4], "big")
    if len(data) < box or box % 4 != 0 or data[4:8] != b"ftyp":
        return False
    return any(data[st:st + 3] == b"mp4" for st in range(8, box, 4) if st != 12)


def go_detect_content_type(data):
    """net/http.DetectContentType."""
    data = data[:512]
    first = 0
    while first < len(data) and data[first] in _WS:
        first += 1
    rest = data[first:]
    for sig in _HTML_SIGS:
        if len(rest) >= len(sig) + 1 and rest[len(sig)] in b" >" and \
                bytes(b & 0xDF if 0x41 <= s <= 0x5A else b
                      for b, s in zip(rest, sig)) == sig:
            return "text/html; charset=utf-8"
    for sig in _SIGNATURES:
        if sig == "mp4":
            if _is_mp4(data):
                return "video/mp4"
            continue
        mask, pat, ctype, skip_ws = sig
        d = rest if skip_ws else data
        if mask is None:
            if d.startswith(pat):
                return ctype
        elif len(d) >= len(pat) and all(d[i] & mask[i] == pat[i] for i in range(len(pat))):
            return ctype
    if not any(b in _BINARY_BYTES for b in rest):
        return "text/plain; charset=utf-8"
    return "application/octet-stream"


_SVG_COMMENT = re.compile(rb"<!--.*?-->", re.S)
_SVG_TAG = re.compile(rb"\A[\t\n\f\r ]*(?:(<!DOCTYPE[\t\n\f\r ]+svg([\t\n\f\r :]+.*?>|>))"
                      rb"[\t\n\f\r ]*)*<svg\b", re.S | re.I)
_SVG_TAG_IN_XML = re.compile(rb"\A<\?xml\b.*?\?>[\t\n\f\r ]*(?:(<!DOCTYPE[\t\n\f\r ]+svg"
                             rb"([\t\n\f\r :]+.*?>|>))[\t\n\f\r ]*)*<svg\b", re.S | re.I)


def sniff_type(data):
    """modules/typesniffer DetectContentType: Go's, plus SVG, a second look
    at "ID3"-prefixed text, AVIF and Ogg; "text/plain" for nothing."""
    if not data:
        return "text/plain"
    ct = go_detect_content_type(data)
    data = data[:1024]
    if ct == "application/vnd.ms-fontobject":
        # Gitea 1.26.3 checks for a real EOT header; other data is sniffed
        # again with the "LP" hidden.  EOT files are not modelled further.
        ct = go_detect_content_type(data[:34] + b"l" + data[35:])
    if "text/plain" in ct or "text/html" in ct or "text/xml" in ct:
        body = _SVG_COMMENT.sub(b"", data).strip()
        if ("text/xml" not in ct and _SVG_TAG.match(body)) or \
                ("text/xml" in ct and _SVG_TAG_IN_XML.match(body)):
            ct = "image/svg+xml"
    if ct.startswith("audio/") and data.startswith(b"ID3"):
        again = go_detect_content_type(data[3:])
        if again.startswith("text/"):
            ct = again
    if len(data) >= 12 and data[4:8] == b"ftyp":
        box = int.from_bytes(data[:4], "big")
        if 12 <= box <= len(data) and b"avif" in \
                [data[8:12]] + [data[i:i + 4] for i in range(16, box - 3, 4)]:
            ct = "image/avif"
    if ct == "application/ogg":
        head = data[:256]
        ct = "video/ogg" if b"theora" in head or b"dirac" in head else "audio/ogg"
    return ct


def _utf8_prefix_valid(buf):
    """charset.DetectEncoding's first test: valid UTF-8 once an incomplete
    last character is cut off."""
    end, cut = len(buf) - 1, buf
    for _ in range(4):
        if end < 0:
            break
        c = buf[end]
        if c >> 5 == 0b110 or c >> 4 == 0b1110 or c >> 3 == 0b11110:
            cut = buf[:end]
            break
        if c >> 6 != 0b10:
            break
        end -= 1
    try:
        cut.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def raw_content_type(data):
    """The Content-Type Gitea 1.26.3 serves a blob with
    (httplib.serveSetHeadersByUserContent, MIME type mapping off): images,
    PDF, audio and video as sniffed; any text as text/plain with the
    charset DetectEncoding finds in the first 1024 bytes; the rest
    application/octet-stream."""
    buf = data[:1024]
    sniffed = sniff_type(buf)
    base = sniffed.split(";", 1)[0]
    if any(k in sniffed for k in ("image/", "application/pdf", "video/", "audio/")):
        return base
    if "text/" not in sniffed:
        return "application/octet-stream"
    if _utf8_prefix_valid(buf):
        return "text/plain; charset=utf-8"
    # Gitea asks chardet here; the emulator only tells the UTF-16 byte order
    # marks apart and calls other 8-bit text ISO-8859-1.
    if buf.startswith(b"\xff\xfe"):
        return "text/plain; charset=utf-16le"
    if buf.startswith(b"\xfe\xff"):
        return "text/plain; charset=utf-16be"
    return "text/plain; charset=iso-8859-1"


_TSPECIALS = set('()<>@,;:\\"/[]?=')


def _mime_value(value):
    """mime.FormatMediaType's rendering of one parameter value."""
    if any((c < " " or c > "~") and c != "\t" for c in value):
        raw = value.encode("utf-8", "surrogateescape")
        return "*=utf-8''" + "".join(
            f"%{b:02X}" if b <= 0x20 or b >= 0x7f or chr(b) in "*'%" or chr(b) in _TSPECIALS
            else chr(b) for b in raw)
    if value and all(" " < c < "\x7f" and c not in _TSPECIALS for c in value):
        return "=" + value
    return '="' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def content_disposition(kind, filename):
    """httplib.encodeContentDisposition: the name with characters outside
    ' '..'~' (tab kept) replaced by '_', and the real name again as an
    RFC 2231 filename* when there were any."""
    safe = "".join(c if " " <= c <= "~" or c == "\t" else "_" for c in filename)
    out = f"{kind}; filename{_mime_value(safe)}"
    if safe != filename:
        out += f"; filename{_mime_value(filename)}"
    return out


def go_base(path):
    """Go's path.Base."""
    if path == "":
        return "."
    return path.rstrip("/").rsplit("/", 1)[-1] or "/"


def http_date(unix):
    """Go's http.TimeFormat, in UTC."""
    return datetime.datetime.fromtimestamp(unix, datetime.timezone.utc) \
        .strftime("%a, %d %b %Y %H:%M:%S GMT")


STATIC_CACHE_TIME = 6 * 3600                # [server] STATIC_CACHE_TIME


def raw_file_headers(path, data, public):
    """(Content-Type, other headers) of common.ServeBlob after the ETag
    check: content type and security headers, the inline disposition with
    the file's base name, and a cache of STATIC_CACHE_TIME, public for a
    public repository of a public owner (RUN_MODE=prod)."""
    ctype = raw_content_type(data)
    csp = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
    if ctype.startswith("application/pdf"):
        csp = "default-src 'none'; style-src 'unsafe-inline'"
    if ctype.startswith(("video/", "audio/")):
        csp = ""
    headers = [("X-Content-Type-Options", "nosniff")]
    if csp:
        headers.append(("Content-Security-Policy", csp))
    headers += [
        ("Content-Disposition", content_disposition("inline", go_base(path))),
        ("Access-Control-Expose-Headers", "Content-Disposition"),
        ("Cache-Control", f"{'public' if public else 'private'}, "
                          f"max-age={STATIC_CACHE_TIME}, no-transform"),
    ]
    return ctype, headers


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
