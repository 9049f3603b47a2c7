"""The emulator's operations: every change to the state, and the webhooks
Gitea would send for it.  API handlers, seeding and git pushes all come
through here, so an event is fired in exactly one place.  Callers hold
state.lock.
"""

import hashlib
import re

from . import model, payloads, render
from .git import (ZERO_SHA, GitStore, MergeConflict, NotFastForward, NothingToMerge,
                  StaleBase)
from .hooks import Dispatcher
from .httpapi import ApiError

# Keywords that close an issue when the PR merges (modules/references).
CLOSING = re.compile(r"(?i)\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\s+#(\d+)\b")


class App:
    def __init__(self, state: model.State, data_dir, allowed_hosts="external"):
        self.state = state
        self.git = GitStore(data_dir)
        state.git = self.git        # branch counts and heads for rendering
        self.hooks = Dispatcher(state, allowed_hosts)

    # -- users -----------------------------------------------------------------

    def add_user(self, login, email="", password="", is_org=False, is_admin=False,
                 full_name="", must_change_password=False, **extra):
        st = self.state
        u = model.User(id=st.next_id("user"), login=login,
                       email=email or ("" if is_org else f"{login}@{st.domain}"),
                       is_org=is_org, is_admin=is_admin, full_name=full_name,
                       active=not is_org, must_change_password=must_change_password,
                       password_sha256=hashlib.sha256(password.encode()).hexdigest()
                       if password else "", **extra)
        st.users[u.id] = u
        return u

    # -- repositories ------------------------------------------------------

    def branch_count(self, repo):
        return len(self.git.branches(repo.git_dir))

    def create_repo(self, owner, name, sender, description="", private=False,
                    default_branch="main", files=None, fire=True, **extra):
        st = self.state
        repo = model.Repo(id=st.next_id("repo"), owner_id=owner.id, name=name,
                          description=description, private=private,
                          default_branch=default_branch, **extra)
        repo.git_dir = self.git.create_repo(owner.login, name, default_branch=default_branch,
                                            files=files, author=self.signature(sender))
        st.repos[repo.id] = repo
        # Default (template) hooks are copied into every new repository
        # before its "created" event (services/repository/create.go).
        for h in list(st.hooks.values()):
            if h.kind == "default":
                copy = model.Hook(**{**h.__dict__, "id": st.next_id("hook"),
                                     "kind": "repository", "owner_id": repo.id})
                st.hooks[copy.id] = copy
        if fire:
            self.hooks.fire(repo, "repository",
                            payloads.repository(st, "created", repo, sender), indent=1)
        return repo

    def delete_repo(self, repo, sender):
        st = self.state
        self.hooks.fire(repo, "repository", payloads.repository(st, "deleted", repo, sender),
                        indent=1)
        for i in [i for i in st.issues.values() if i.repo_id == repo.id]:
            del st.issues[i.id]
        for h in [h for h in st.hooks.values() if h.kind == "repository" and h.owner_id == repo.id]:
            del st.hooks[h.id]
        del st.repos[repo.id]
        self.git.delete_repo(repo.git_dir)

    def signature(self, user):
        return (user.full_name or user.login, user.email or f"{user.login}@{self.state.domain}")

    def branch_json(self, repo, name, viewer):
        sha = self.git.branch_sha(repo.git_dir, name)
        level = self.state.access(viewer, repo)
        return render.branch(self.state, repo, name, self.git.commit(repo.git_dir, sha),
                             user_can_push=self.state.can_write(level),
                             user_can_merge=self.state.can_write(level))

    # -- issues ------------------------------------------------------------

    def _new_issue(self, repo, poster, title, body, labels=()):
        st = self.state
        issue = model.Issue(id=st.next_id("issue"), repo_id=repo.id, index=repo.next_index,
                            poster_id=poster.id, title=title, body=body)
        repo.next_index += 1
        for ref in labels:
            for lab in st.labels.values():
                if lab.repo_id == repo.id and (lab.id == ref or lab.name == ref):
                    issue.label_ids.append(lab.id)
        st.issues[issue.id] = issue
        return issue

    def _assignable(self, repo, logins):
        out = []
        for login in logins:
            u = self.state.user_by_login(login)
            if u is None or u.is_org:
                raise ApiError(422, f"user does not exist [name: {login}]")
            if self.state.access(u, repo) == "none":
                # Gitea fails here with a 500 (repo_permission.go:570-580).
                raise ApiError(500, "")
            if u.id not in out:
                out.append(u.id)
        return out

    def create_issue(self, repo, poster, title, body, labels=(), assignees=()):
        st = self.state
        ids = self._assignable(repo, assignees)
        issue = self._new_issue(repo, poster, title, body, labels)
        issue.assignee_ids = ids
        self.hooks.fire(repo, "issues", payloads.issues(st, "opened", issue, poster))
        return issue

    def edit_issue(self, issue, sender, title=None, body=None):
        st = self.state
        changes = {}
        if title is not None and title != issue.title:
            changes["title"] = {"from": issue.title}
            issue.title = title
        if body is not None and body != issue.body:
            changes["body"] = {"from": issue.body}
            issue.body = body
            issue.content_version += 1
        if not changes:
            return
        issue.updated_at = model.now()
        repo = st.repos[issue.repo_id]
        if issue.is_pull:
            self.hooks.fire(repo, "pull_request",
                            payloads.pull_request(st, "edited", issue, sender, changes=changes))
        else:
            self.hooks.fire(repo, "issues",
                            payloads.issues(st, "edited", issue, sender, changes=changes))

    def set_assignees(self, issue, sender, logins):
        """Replace the set; one event per user added or removed."""
        st = self.state
        repo = st.repos[issue.repo_id]
        wanted = self._assignable(repo, logins)
        added = [u for u in wanted if u not in issue.assignee_ids]
        removed = [u for u in issue.assignee_ids if u not in wanted]
        event = "pull_request_assign" if issue.is_pull else "issue_assign"
        for uid in removed:
            issue.assignee_ids.remove(uid)
            issue.updated_at = model.now()
            self._fire_issue(repo, event, "unassigned", issue, sender)
        for uid in added:
            issue.assignee_ids.append(uid)
            issue.updated_at = model.now()
            self._fire_issue(repo, event, "assigned", issue, sender)

    def _fire_issue(self, repo, event_type, action, issue, sender, commit_id=""):
        st = self.state
        if issue.is_pull:
            obj = payloads.pull_request(st, action, issue, sender, commit_id=commit_id)
        else:
            obj = payloads.issues(st, action, issue, sender, commit_id=commit_id)
        self.hooks.fire(repo, event_type, obj)

    def set_issue_state(self, issue, sender, state, commit_id=""):
        st = self.state
        issue.state = state
        issue.updated_at = model.now()
        issue.closed_at = issue.updated_at if state == "closed" else None
        repo = st.repos[issue.repo_id]
        action = "closed" if state == "closed" else "reopened"
        self._fire_issue(repo, "pull_request" if issue.is_pull else "issues",
                         action, issue, sender, commit_id)
        if issue.is_pull and state == "open":
            self.check_mergeable(issue, force=True)

    def create_comment(self, issue, poster, body):
        st = self.state
        c = model.Comment(id=st.next_id("comment"), issue_id=issue.id,
                          poster_id=poster.id, body=body)
        st.comments[c.id] = c
        issue.comments += 1
        issue.updated_at = c.created_at
        repo = st.repos[issue.repo_id]
        # A plain comment on a PR is a pull_request_comment event that
        # issue_comment subscriptions do not cover (README section 2).
        self.hooks.fire(repo, "pull_request_comment" if issue.is_pull else "issue_comment",
                        payloads.issue_comment(st, "created", issue, c, poster))
        return c

    # -- pull requests -----------------------------------------------------

    def create_pull(self, repo, poster, title, body, head, base, assignees=(), fire=True):
        st = self.state
        ids = self._assignable(repo, assignees)
        issue = self._new_issue(repo, poster, title, body)
        issue.assignee_ids = ids
        issue.pull = model.PullRequest(id=st.next_id("pull"), head_branch=head,
                                       base_branch=base,
                                       allow_maintainer_edit=repo.default_allow_maintainer_edit)
        self._refresh_pull(repo, issue)
        if fire:
            self.hooks.fire(repo, "pull_request",
                            payloads.pull_request(st, "opened", issue, poster))
        return issue

    def _refresh_pull(self, repo, issue):
        """Head, merge base, stats and mergeability, computed by git."""
        pr = issue.pull
        head = self.git.branch_sha(repo.git_dir, pr.head_branch)
        base = self.git.branch_sha(repo.git_dir, pr.base_branch)
        if head is None or base is None:
            pr.status = "conflict" if head is None else pr.status
            return
        pr.head_sha = head
        pr.merge_base = self.git.merge_base(repo.git_dir, base, head) or ""
        pr.additions, pr.deletions, pr.changed_files = \
            self.git.diff_stats(repo.git_dir, base, head)
        pr.status = "mergeable" if self.git.test_merge(repo.git_dir, base, head) else "conflict"

    def check_mergeable(self, issue, force=False):
        """Gitea re-checks a PR when it is read; a push leaves it
        "checking" until then (services/pull/check.go)."""
        if issue.pull.merged or issue.state != "open":
            return
        if force or issue.pull.status == "checking":
            self._refresh_pull(self.state.repos[issue.repo_id], issue)

    def create_review(self, issue, reviewer, state, body, commit_id):
        st = self.state
        repo = st.repos[issue.repo_id]
        r = model.Review(id=st.next_id("review"), issue_id=issue.id, reviewer_id=reviewer.id,
                         state=state, body=body, commit_id=commit_id,
                         official=st.can_write(st.access(reviewer, repo)) and
                         state in ("APPROVED", "REQUEST_CHANGES"))
        st.reviews[r.id] = r
        issue.updated_at = r.submitted_at
        kind = {"APPROVED": "approved", "REQUEST_CHANGES": "rejected",
                "COMMENT": "comment"}.get(state)
        if kind is not None:        # a pending review sends nothing
            self.hooks.fire(repo, f"pull_request_review_{kind}",
                            payloads.review(st, kind, issue, r, reviewer))
        return r

    def merge_pull(self, issue, doer, style, message, delete_branch=False):
        st = self.state
        repo = st.repos[issue.repo_id]
        pr = issue.pull
        before = self.git.branch_sha(repo.git_dir, pr.base_branch)
        if not message:
            message = self.default_merge_message(repo, issue, style)
        try:
            after = self.git.merge(repo.git_dir, style, pr.base_branch, pr.head_sha, message,
                                   author=self.signature(st.users[issue.poster_id])
                                   if style == "squash" else self.signature(doer),
                                   committer=self.signature(doer))
        except MergeConflict:
            pr.status = "conflict"
            raise ApiError(409, "Merge Conflict")
        except StaleBase:
            raise ApiError(409, "head out of date")
        except NothingToMerge:
            raise ApiError(405, "Please try again later")
        except NotFastForward:
            # Gitea's handler has no case for it: a 500 with no message.
            raise ApiError(500, "")
        # merge_commit_sha is the new base head whatever the style.
        self._mark_merged(issue, doer, after)
        self._fire_push(repo, "refs/heads/" + pr.base_branch, before, after, doer)
        if delete_branch:
            self.git.delete_branch(repo.git_dir, pr.head_branch)
            pr.head_branch_deleted = True

    def default_merge_message(self, repo, issue, style):
        if style == "squash":
            return f"{issue.title} (#{issue.index})\n\n{issue.body}".rstrip() + "\n"
        return (f"Merge pull request '{issue.title}' (#{issue.index}) from "
                f"{issue.pull.head_branch} into {issue.pull.base_branch}\n\n"
                f"Reviewed-on: {self.state.root_url}{self.state.full_name(repo)}/pulls/{issue.index}\n")

    def mark_merged(self, issue, doer, sha):
        self._mark_merged(issue, doer, sha)

    def _mark_merged(self, issue, doer, sha):
        st = self.state
        repo = st.repos[issue.repo_id]
        pr = issue.pull
        pr.merged = True
        pr.merged_at = model.now()
        pr.merged_by_id = doer.id
        pr.merge_commit_sha = sha
        issue.state = "closed"
        issue.closed_at = issue.updated_at = pr.merged_at
        # One "closed" event with merged true: there is no "merged" action.
        self.hooks.fire(repo, "pull_request", payloads.pull_request(st, "closed", issue, doer))
        # Each "Closes #N" closes its issue, with the merge commit as commit_id.
        for n in CLOSING.findall(issue.title + "\n" + issue.body):
            target = st.issue_by_index(repo.id, int(n))
            if target is not None and not target.is_pull and target.state == "open":
                self.set_issue_state(target, doer, "closed", commit_id=sha)

    # -- pushes ------------------------------------------------------------

    def on_push(self, repo, before_refs, after_refs, pusher):
        """After git-receive-pack: push events and PR synchronisation."""
        for ref in sorted(set(before_refs) | set(after_refs)):
            old = before_refs.get(ref, ZERO_SHA)
            new = after_refs.get(ref, ZERO_SHA)
            if old != new and ref.startswith("refs/heads/"):
                self._fire_push(repo, ref, old, new, pusher)

    def _fire_push(self, repo, ref, before, after, pusher):
        st = self.state
        branch = ref[len("refs/heads/"):]
        if after != ZERO_SHA:
            commits, total = self.git.push_commits(repo.git_dir, before, after, limit=5)
            self.hooks.fire(repo, "push", payloads.push(st, repo, ref, before, after,
                                                       commits, total, pusher), ref=ref)
        repo.updated_at = model.now()
        for issue in [i for i in st.issues.values() if i.repo_id == repo.id and i.is_pull
                      and i.state == "open" and not i.pull.merged]:
            pr = issue.pull
            if pr.head_branch == branch and after != ZERO_SHA and after != pr.head_sha:
                pr.head_sha = after
                # The checking state is set before the synchronized event
                # is built, so it says mergeable false (services/pull/pull.go).
                pr.status = "checking"
                issue.updated_at = model.now()
                self.hooks.fire(repo, "pull_request_sync",
                                payloads.pull_request(st, "synchronized", issue, pusher))
                self._refresh_pull(repo, issue)
            elif pr.head_branch == branch and after == ZERO_SHA:
                pr.head_branch_deleted = True
            elif pr.base_branch == branch:
                self._refresh_pull(repo, issue)
