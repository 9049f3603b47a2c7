"""Seeding from a small YAML or JSON document, and commits without a client.

    users:  [{login, email?, password?, admin?, full_name?, must_change_password?,
              tokens?: [{name, token, scopes}]}]
    orgs:   [{login, full_name?, description?, website?, owners: [login], members?: [login]}]
    repos:  [{owner, name, description?, private?, default_branch?, archived?,
              files?: {path: text}, branches?: {name: {from?, files, message?, author?}},
              collaborators?: {login: read|write|admin}, labels?: [{name, color?}],
              issues?: [{title, body?, poster, labels?, assignees?, state?,
                         comments?: [{poster, body}]}],
              pulls?:  [{title, body?, poster, head, base?}]}]
    hooks:  [{kind: system|default|repository|organization, owner?: org | owner/repo,
              url, secret?, events?, active?, content_type?, branch_filter?}]

Everything goes through App, so the webhooks Gitea would send for the same
changes are sent (to whatever hooks exist at that moment).
"""

from . import model

SEED_AUTHOR = ("Seed", "seed@example.invalid")


def _user(app, login):
    u = app.state.user_by_login(login)
    if u is None:
        raise KeyError(f"unknown user {login!r}")
    return u


def apply(app, doc):
    st = app.state
    admin = None
    for u in doc.get("users", []):
        user = st.user_by_login(u["login"]) or app.add_user(
            u["login"], email=u.get("email", ""), password=u.get("password", ""),
            is_admin=bool(u.get("admin", False)), full_name=u.get("full_name", ""),
            must_change_password=bool(u.get("must_change_password", False)))
        if user.is_admin and admin is None:
            admin = user
        for t in u.get("tokens", []):
            secret = t["token"]
            if len(secret) != 40 or any(c not in "0123456789abcdef" for c in secret):
                raise ValueError(f"token of {user.login} must be 40 lower-case hex digits")
            tok = model.Token(id=st.next_id("token"), user_id=user.id, name=t["name"],
                              sha1=secret, scopes=list(t.get("scopes", ["all"])))
            st.tokens[tok.id] = tok
    for o in doc.get("orgs", []):
        org = st.user_by_login(o["login"]) or app.add_user(
            o["login"], is_org=True, full_name=o.get("full_name", ""),
            description=o.get("description", ""), website=o.get("website", ""))
        for login in o.get("owners", []):
            org.members[_user(app, login).id] = "owner"
        for login in o.get("members", []):
            org.members.setdefault(_user(app, login).id, "member")
    for r in doc.get("repos", []):
        seed_repo(app, r, admin)
    for h in doc.get("hooks", []):
        seed_hook(app, h)


def seed_repo(app, r, admin):
    st = app.state
    owner = _user(app, r["owner"])
    sender = admin or owner
    repo = st.repo_by_name(owner.login, r["name"])
    if repo is None:
        repo = app.create_repo(owner, r["name"], sender, description=r.get("description", ""),
                               private=bool(r.get("private", False)),
                               default_branch=r.get("default_branch", "main"),
                               files=r.get("files") or {"README.md": f"# {r['name']}\n"})
    for name, b in (r.get("branches") or {}).items():
        author = app.signature(_user(app, b["author"])) if b.get("author") else SEED_AUTHOR
        app.git.commit_files(repo.git_dir, name, b.get("files", {}),
                             b.get("message", f"Work on {name}\n"), author,
                             parent=b.get("from", repo.default_branch))
    for login, perm in (r.get("collaborators") or {}).items():
        repo.collaborators[_user(app, login).id] = perm
    for lab in r.get("labels", []):
        label = model.Label(id=st.next_id("label"), repo_id=repo.id, name=lab["name"],
                            color=lab.get("color", "ee0701"),
                            description=lab.get("description", ""))
        st.labels[label.id] = label
    for i in r.get("issues", []):
        poster = _user(app, i["poster"])
        issue = app.create_issue(repo, poster, i["title"], i.get("body", ""),
                                 labels=i.get("labels", []), assignees=i.get("assignees", []))
        for c in i.get("comments", []):
            app.create_comment(issue, _user(app, c["poster"]), c["body"])
        if i.get("state") == "closed":
            app.set_issue_state(issue, poster, "closed")
    for p in r.get("pulls", []):
        app.create_pull(repo, _user(app, p["poster"]), p["title"], p.get("body", ""),
                        p["head"], p.get("base", repo.default_branch))
    if r.get("archived"):
        repo.archived = True
        repo.archived_at = model.now()
    return repo


def seed_hook(app, h):
    st = app.state
    kind, owner_id = h.get("kind", "system"), 0
    if kind == "repository":
        owner_name, _, name = h["owner"].partition("/")
        repo = st.repo_by_name(owner_name, name)
        if repo is None:
            raise KeyError(f"unknown repository {h['owner']!r}")
        owner_id = repo.id
    elif kind == "organization":
        owner_id = _user(app, h["owner"]).id
    hook = model.Hook(id=st.next_id("hook"), kind=kind, owner_id=owner_id,
                      active=bool(h.get("active", True)),
                      events=list(h.get("events", ["push"])),
                      branch_filter=h.get("branch_filter", "*"), url=h["url"],
                      content_type=h.get("content_type", "json"), secret=h.get("secret", ""))
    st.hooks[hook.id] = hook
    return hook


def commit(app, arg):
    """POST /_emulator/commit {repo: "o/r", branch, files, delete?, message?,
    author: login, from?}: a commit as if pushed by author."""
    st = app.state
    owner, _, name = arg["repo"].partition("/")
    repo = st.repo_by_name(owner, name)
    if repo is None:
        raise KeyError(f"unknown repository {arg['repo']!r}")
    pusher = _user(app, arg["author"])
    before = app.git.refs(repo.git_dir)
    sha = app.git.commit_files(repo.git_dir, arg["branch"], arg.get("files", {}),
                               arg.get("message", "Change files\n"), app.signature(pusher),
                               parent=arg.get("from"), delete=tuple(arg.get("delete", ())))
    app.on_push(repo, before, app.git.refs(repo.git_dir), pusher)
    return sha
