"""Webhook bodies and headers as Gitea 1.26.3 sends them.

Bodies are dicts in the Go payload structs' field order
(modules/structs/hook.go); gitjson.hook_body turns them into the bytes.
Each function takes the sender (the doer) and renders the event's users as
Gitea's notifier does: sender, assignees, merged_by, requested_reviewer
and comment users reduced, the poster as seen by the sender.

repository.permissions varies by event in Gitea (README section 2); the
defaults below follow services/webhook/notifier.go and can be overridden
with permissions=.  branch_count / branch_sha are optional callables for
what only git knows (see render.py).
"""

from . import gitjson, render

ZERO_SHA = "0" * 40

# -- events and subscriptions -----------------------------------------------

# HookEventType -> (X-Gitea-Event, subscription names that select it).
# The grouped name is HookEventType.Event() (modules/webhook/type.go); the
# names are the API's "events" (routers/api/v1/utils/hook.go:155-197,
# models/webhook/webhook.go:171-184): "issues" and "pull_request" cover
# their whole families, "*_only" only the plain event, and the three
# review types are selected only as "pull_request_review".
EVENTS = {
    "create": ("create", ("create",)),
    "delete": ("delete", ("delete",)),
    "fork": ("fork", ("fork",)),
    "push": ("push", ("push",)),
    "issues": ("issues", ("issues_only", "issues")),
    "issue_assign": ("issues", ("issue_assign", "issues")),
    "issue_label": ("issues", ("issue_label", "issues")),
    "issue_milestone": ("issues", ("issue_milestone", "issues")),
    "issue_comment": ("issue_comment", ("issue_comment", "issues")),
    "pull_request": ("pull_request", ("pull_request_only", "pull_request")),
    "pull_request_assign": ("pull_request", ("pull_request_assign", "pull_request")),
    "pull_request_label": ("pull_request", ("pull_request_label", "pull_request")),
    "pull_request_milestone": ("pull_request", ("pull_request_milestone", "pull_request")),
    # A plain PR comment: issue_comment subscriptions do not cover it.
    "pull_request_comment": ("issue_comment", ("pull_request_comment", "pull_request")),
    "pull_request_review_approved": ("pull_request_approved",
                                     ("pull_request_review", "pull_request")),
    "pull_request_review_rejected": ("pull_request_rejected",
                                     ("pull_request_review", "pull_request")),
    "pull_request_review_comment": ("pull_request_comment",
                                    ("pull_request_review", "pull_request")),
    "pull_request_sync": ("pull_request", ("pull_request_sync", "pull_request")),
    "pull_request_review_request": ("pull_request",
                                    ("pull_request_review_request", "pull_request")),
    "wiki": ("wiki", ("wiki",)),
    "repository": ("repository", ("repository",)),
    "release": ("release", ("release",)),
    "package": ("package", ("package",)),
    "status": ("status", ("status",)),
    "workflow_job": ("workflow_job", ("workflow_job",)),
}

# The keys of a hook's HookEvents map: the event types, except that the
# three review types share the one key "pull_request_review".
_HOOK_EVENT_KEYS = [
    "create", "delete", "fork", "push",
    "issues", "issue_assign", "issue_label", "issue_milestone", "issue_comment",
    "pull_request", "pull_request_assign", "pull_request_label",
    "pull_request_milestone", "pull_request_comment", "pull_request_review",
    "pull_request_sync", "pull_request_review_request",
    "wiki", "repository", "release", "package", "status", "workflow_job",
]
_KEY_NAMES = {key: EVENTS[key][1] for key in _HOOK_EVENT_KEYS if key in EVENTS}
_KEY_NAMES["pull_request_review"] = ("pull_request_review", "pull_request")


def event_name(event_type):
    """X-Gitea-Event for an X-Gitea-Event-Type."""
    return EVENTS[event_type][0]


def subscriptions(event_type):
    """The hook "events" names any one of which selects this event type."""
    return EVENTS[event_type][1]


def enabled_events(names):
    """What the API shows as a hook's events: every HookEvents key the
    subscription names switch on (an empty list means ["push"],
    utils/hook.go).  Names match case-insensitively, as Gitea matches."""
    given = {n.lower() for n in names} or {"push"}
    return [key for key in _HOOK_EVENT_KEYS
            if any(n in given for n in _KEY_NAMES[key])]


# -- headers -------------------------------------------------------------------

def headers(event_type, delivery_id, body, secret, target_type,
            content_type="json", authorization=""):
    """Every header Gitea sets on a delivery, in index.json's order
    (deliver.go:100-149).  The signatures are over the JSON body even for
    content_type form.  target_type: system, repository, organization or
    user.  Go's client adds User-Agent, Accept-Encoding and Content-Length."""
    event = event_name(event_type)
    sig, sha1, sha256 = gitjson.signature(secret, body)
    out = {
        "Content-Type": "application/json" if content_type == "json"
        else "application/x-www-form-urlencoded",
        "X-Gitea-Delivery": delivery_id,
        "X-Gitea-Event": event,
        "X-Gitea-Event-Type": event_type,
        "X-Gitea-Signature": sig,
        "X-Gitea-Hook-Installation-Target-Type": target_type,
        "X-Gogs-Delivery": delivery_id,
        "X-Gogs-Event": event,
        "X-Gogs-Event-Type": event_type,
        "X-Gogs-Signature": sig,
        "X-Hub-Signature": sha1,
        "X-Hub-Signature-256": sha256,
        "X-GitHub-Delivery": delivery_id,
        "X-GitHub-Event": event,
        "X-GitHub-Event-Type": event_type,
        "X-GitHub-Hook-Installation-Target-Type": target_type,
    }
    if authorization:
        out["Authorization"] = authorization     # verbatim (deliver.go:191-199)
    return out


# -- helpers -------------------------------------------------------------------------

def _perms(state, who, repo):
    return render.permissions_for(state.access(who, repo))


def _repo_json(state, repo, permissions, branch_count):
    return render.repository(state, repo, permissions, branch_count=branch_count)


def changes_payload(changes):
    """ChangesPayload: title/body/ref only when changed (omitempty), then
    the label lists, nil (null) unless given.  changes: {"title": {"from":
    old}, ...}."""
    if not changes:
        return None
    out = {k: {"from": changes[k]["from"]} for k in ("title", "body", "ref") if k in changes}
    out["added_labels"] = changes.get("added_labels")
    out["removed_labels"] = changes.get("removed_labels")
    return out


def _with_changes(body, changes, before_key):
    """Insert "changes" before before_key when set (omitempty)."""
    ch = changes_payload(changes)
    if ch is None:
        return body
    out = {}
    for k, v in body.items():
        if k == before_key:
            out["changes"] = ch
        out[k] = v
    return out


# -- issues ----------------------------------------------------------------------------

def issues(state, action, issue, sender, commit_id="", changes=None, permissions=None,
           branch_count=None):
    """IssuePayload.  repository.permissions: the poster's, but the doer's
    for (un)assignments (notifier.go)."""
    repo = state.repos[issue.repo_id]
    if permissions is None:
        who = sender if action in ("assigned", "unassigned") else state.users[issue.poster_id]
        permissions = _perms(state, who, repo)
    body = {
        "action": action,
        "number": issue.index,
        "issue": render.issue(state, issue, viewer=sender),
        "repository": _repo_json(state, repo, permissions, branch_count),
        "sender": render.user(state, sender),
        "commit_id": commit_id,
    }
    return _with_changes(body, changes, "issue")


def issue_comment(state, action, issue, comment, sender, changes=None, permissions=None,
                  branch_count=None):
    """IssueCommentPayload (issue or PR comment); the notifier sets no
    pull_request, so it is omitted.  Permissions: the commenter's."""
    repo = state.repos[issue.repo_id]
    if permissions is None:
        permissions = _perms(state, sender, repo)
    body = {
        "action": action,
        "issue": render.issue(state, issue, viewer=sender),
        "comment": render.comment(state, comment),
        "repository": _repo_json(state, repo, permissions, branch_count),
        "sender": render.user(state, sender),
        "is_pull": issue.is_pull,
    }
    return _with_changes(body, changes, "repository")


# -- pull requests ----------------------------------------------------------------

# Actions whose repository.permissions are the doer's rather than the
# poster's; "synchronized" is owner-level (notifier.go:835).
_DOER_ACTIONS = ("assigned", "unassigned", "label_updated", "label_cleared",
                 "review_requested", "review_request_removed")


def _pull_body(state, action, issue, sender, commit_id, permissions, branch_count,
               branch_sha, requested_reviewer=None, review=None, changes=None):
    repo = state.repos[issue.repo_id]
    body = {
        "action": action,
        "number": issue.index,
        "pull_request": render.pull_request(state, issue, viewer=sender,
                                            branch_count=branch_count,
                                            branch_sha=branch_sha),
        "requested_reviewer": requested_reviewer,
        "repository": _repo_json(state, repo, permissions, branch_count),
        "sender": render.user(state, sender),
        "commit_id": commit_id,
        "review": review,
    }
    return _with_changes(body, changes, "pull_request")


def pull_request(state, action, issue, sender, commit_id="", changes=None,
                 permissions=None, branch_count=None, branch_sha=None):
    """PullRequestPayload.  A merge is action "closed" with merged true; a
    head push is "synchronized", built while mergeability is still being
    checked.  Inside pull_request, base.repo and head.repo carry the
    sender's permissions; the top-level repository those of the poster,
    the doer (merge, assignment) or the owner (synchronized)."""
    repo = state.repos[issue.repo_id]
    if permissions is None:
        if action == "synchronized":
            permissions = dict(render.OWNER_PERMISSIONS)
        elif action in _DOER_ACTIONS or (action == "closed" and issue.pull.merged):
            permissions = _perms(state, sender, repo)
        else:
            permissions = _perms(state, state.users[issue.poster_id], repo)
    return _pull_body(state, action, issue, sender, commit_id, permissions, branch_count,
                      branch_sha, changes=changes)


REVIEW_TYPES = {
    "approved": "pull_request_review_approved",
    "rejected": "pull_request_review_rejected",
    "comment": "pull_request_review_comment",
}


def review(state, kind, issue, rev, sender, permissions=None, branch_count=None,
           branch_sha=None):
    """A review (kind approved, rejected or comment): action "reviewed",
    review.type the full event type, review.content the text, and
    requested_reviewer the reviewer even when nobody asked
    (notifier.go:737-777).  Permissions: the PR poster's."""
    repo = state.repos[issue.repo_id]
    if permissions is None:
        permissions = _perms(state, state.users[issue.poster_id], repo)
    reviewer = state.users[rev.reviewer_id]
    return _pull_body(state, "reviewed", issue, sender, "", permissions, branch_count,
                      branch_sha, requested_reviewer=render.user(state, reviewer),
                      review={"type": REVIEW_TYPES[kind], "content": rev.body})


# -- push and repository ----------------------------------------------------------

def compare_url(state, repo, ref, before, after, commits):
    """services/repository/push.go: a new branch compares from the parent of
    its oldest listed commit, else from the default branch; with neither,
    only ROOT_URL is left."""
    old = before
    if (not old or old == ZERO_SHA) and commits:
        parents = commits[-1].get("parents") or []
        old = next((p for p in parents if p and p != ZERO_SHA), ZERO_SHA)
    branch = ref[len("refs/heads/"):] if ref.startswith("refs/heads/") else ref
    if (not old or old == ZERO_SHA) and branch != repo.default_branch:
        old = repo.default_branch
    if not old or old == ZERO_SHA:
        return state.root_url
    return f"{state.root_url}{state.full_name(repo)}/compare/{old}...{after}"


def push(state, repo, ref, before, after, commits, total, pusher, head_commit=None,
         permissions=None, branch_count=None):
    """PushPayload.  commits: git.GitStore.commit() dicts, newest first,
    already capped at FEED_MAX_COMMIT_NUM (5); total counts all of them.
    head_commit defaults to the newest listed commit.  Permissions:
    owner-level (notifier.go:662)."""
    repo_url = render.repo_html_url(state, repo)

    def username(email):
        return render.commit_username(state, email)

    listed = [render.payload_commit(c, repo_url, username) for c in commits]
    if head_commit is not None:
        head = render.payload_commit(head_commit, repo_url, username)
    else:
        head = listed[0] if listed else None
    return {
        "ref": ref,
        "before": before,
        "after": after,
        "compare_url": compare_url(state, repo, ref, before, after, commits),
        "commits": listed,
        "total_commits": total,
        "head_commit": head,
        "repository": _repo_json(state, repo, permissions or dict(render.OWNER_PERMISSIONS),
                                 branch_count),
        "pusher": render.user(state, pusher),
        "sender": render.user(state, pusher),
    }


def repository(state, action, repo, sender, permissions=None, branch_count=None):
    """RepositoryPayload (created, deleted): owner-level permissions and the
    owner, user or organisation, reduced as "organization"
    (notifier.go:115-125).  Sent with a one-space indent."""
    return {
        "action": action,
        "repository": _repo_json(state, repo, permissions or dict(render.OWNER_PERMISSIONS),
                                 branch_count),
        "organization": render.user(state, state.users[repo.owner_id]),
        "sender": render.user(state, sender),
    }


def status(state, repo, st, commit, sender, permissions=None, branch_count=None):
    """CommitStatusPayload (services/webhook/notifier.go CreateCommitStatus):
    no action; the state under "state" here (under "status" in the API's
    CommitStatus); the commit as a PayloadCommit; id is the status's table
    id; owner-level repository permissions."""
    repo_url = render.repo_html_url(state, repo)
    return {
        "commit": render.payload_commit(commit, repo_url,
                                        lambda e: render.commit_username(state, e))
        if commit else None,
        "context": st.context,
        "created_at": render.time(st.created_at),
        "description": st.description,
        "id": st.id,
        "repository": _repo_json(state, repo, permissions or dict(render.OWNER_PERMISSIONS),
                                 branch_count),
        "sender": render.user(state, sender),
        "sha": st.sha,
        "state": st.state,
        "target_url": st.target_url,
        "updated_at": render.time(st.updated_at),
    }


# Body kinds of the fixtures -> the event type they are sent as, and the
# indent of their body (repository events use one space, hook.go:522-524).
INDENT = {"repository": 1}


def indent_for(event_type):
    return INDENT.get(event_type, 2)
