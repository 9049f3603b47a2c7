"""GET /_emulator/state: everything, plainly, for tests to compare with.

Not a Gitea format: ids, names and states only, sorted by id, with each
repository's branches read from git.
"""

from . import gitjson


def _t(dt):
    return gitjson.time(dt) if dt is not None else None


def state(app):
    st = app.state
    users = [{"id": u.id, "login": u.login, "email": u.email, "is_org": u.is_org,
              "is_admin": u.is_admin, "must_change_password": u.must_change_password,
              "prohibit_login": u.prohibit_login, "active": u.active,
              "members": {st.users[m].login: role for m, role in u.members.items()}}
             for u in sorted(st.users.values(), key=lambda u: u.id)]
    repos = []
    for r in sorted(st.repos.values(), key=lambda r: r.id):
        repos.append({
            "id": r.id, "owner": st.users[r.owner_id].login, "name": r.name,
            "full_name": st.full_name(r), "private": r.private, "archived": r.archived,
            "default_branch": r.default_branch, "description": r.description,
            "updated_at": _t(r.updated_at),
            "branches": dict(app.git.branches(r.git_dir)),
            "collaborators": {st.users[u].login: p for u, p in r.collaborators.items()},
        })
    issues, pulls = [], []
    for i in sorted(st.issues.values(), key=lambda i: i.id):
        row = {"id": i.id, "repo": st.full_name(st.repos[i.repo_id]), "number": i.index,
               "title": i.title, "body": i.body, "state": i.state,
               "poster": st.users[i.poster_id].login,
               "assignees": [st.users[a].login for a in i.assignee_ids],
               "labels": [st.labels[lab].name for lab in i.label_ids if lab in st.labels],
               "comments": i.comments, "updated_at": _t(i.updated_at),
               "closed_at": _t(i.closed_at)}
        if i.is_pull:
            p = i.pull
            row.update({"pr_id": p.id, "head": p.head_branch, "base": p.base_branch,
                        "head_sha": p.head_sha, "mergeable": p.status == "mergeable",
                        "merged": p.merged, "merge_commit_sha": p.merge_commit_sha,
                        "merged_by": st.users[p.merged_by_id].login if p.merged_by_id else None})
            pulls.append(row)
        else:
            issues.append(row)
    reviews = [{"id": r.id, "pr": st.issues[r.issue_id].index,
                "repo": st.full_name(st.repos[st.issues[r.issue_id].repo_id]),
                "reviewer": st.users[r.reviewer_id].login, "state": r.state,
                "body": r.body, "commit_id": r.commit_id}
               for r in sorted(st.reviews.values(), key=lambda r: r.id)]
    comments = [{"id": c.id, "issue_id": c.issue_id, "poster": st.users[c.poster_id].login,
                 "body": c.body} for c in sorted(st.comments.values(), key=lambda c: c.id)]
    hooks = [{"id": h.id, "kind": h.kind, "owner_id": h.owner_id, "active": h.active,
              "events": h.events, "url": h.url, "content_type": h.content_type,
              "branch_filter": h.branch_filter}
             for h in sorted(st.hooks.values(), key=lambda h: h.id)]
    tokens = [{"id": t.id, "user": st.users[t.user_id].login, "name": t.name,
               "scopes": t.scopes} for t in sorted(st.tokens.values(), key=lambda t: t.id)]
    return {"root_url": st.root_url, "users": users, "repos": repos, "issues": issues,
            "pulls": pulls, "reviews": reviews, "comments": comments, "hooks": hooks,
            "tokens": tokens}
