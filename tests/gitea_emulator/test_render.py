"""render.py, payloads.py and gitjson.py against Gitea's own bytes.

The README's fixture story (org acme, repo acme/widgets, issue #11, PRs
#12 and #13, ...) is replayed as a model.State; every body in
reference/webhooks is rebuilt through payloads + gitjson.hook_body and
must match byte for byte, with index.json's headers and signatures.  API
objects are checked against the swagger definitions.
"""

import datetime
import json
import pathlib

import jsonschema
import pytest

from . import gitjson, model, payloads, render

REFERENCE = pathlib.Path(__file__).resolve().parent / "reference"
FIXTURES = REFERENCE / "webhooks"
INDEX = json.loads((FIXTURES / "index.json").read_text())

BASE = "4c2b1f9e8d7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c"      # main before the merge
HEAD1 = "9f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6"     # agent/issue-11, first push
HEAD2 = "b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8"     # ... after the regression test
SPIKE = "2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d"     # agent/grid-spike
MERGE = "e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4"     # the merge commit of #12
GADGETS = "0123456789abcdef0123456789abcdef01234567"


def T(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


class FakeGit:
    """The two questions render.py asks git, answered from a dict."""

    def __init__(self):
        self.heads = {}                 # git_dir -> {branch: sha}

    def branches(self, git_dir):
        return sorted(self.heads.get(git_dir, {}).items())

    def branch_sha(self, git_dir, name):
        return self.heads.get(git_dir, {}).get(name)


def people():
    # The avatar hashes are the fixtures' own (invented, not derivable).
    return [
        model.User(id=2, login="alice", full_name="Alice Liddell", email="alice@example.com",
                   avatar="5d41402abc4b2a76b9719d911017c592", language="en-US",
                   last_login=T("2026-07-20T07:58:12Z"), created=T("2026-03-02T10:15:30Z"),
                   followers_count=1, starred_repos_count=2),
        model.User(id=3, login="sidecar", full_name="Gitea Sidecar",
                   email="sidecar@gitea.example", is_admin=True,
                   avatar="7b8b965ad4bca0e41ab51de7b31363a1", created=T("2026-06-01T12:00:00Z")),
        model.User(id=4, login="acme", full_name="ACME Corp", is_org=True, active=False,
                   avatar="c4ca4238a0b923820dcc509a6f75849b", created=T("2026-03-02T10:20:00Z"),
                   website="https://acme.example", description="ACME engineering",
                   members={2: "owner"}),
        model.User(id=5, login="agent-coder", full_name="Coder Agent",
                   email="agent-coder@agents.gitea.example",
                   avatar="e4da3b7fbbce2345d7772b0674a318d5", created=T("2026-07-01T09:00:00Z")),
        model.User(id=6, login="agent-reviewer", full_name="Reviewer Agent",
                   email="agent-reviewer@agents.gitea.example",
                   avatar="1679091c5a880faf6fb5e6087eb1b2dc", created=T("2026-07-01T09:00:05Z")),
    ]


def initial_state():
    st = model.State(root_url="http://gitea.example:3000/")
    st.git = FakeGit()
    for u in people():
        st.users[u.id] = u
    st.repos[7] = model.Repo(
        id=7, owner_id=4, name="widgets", description="Widget library", size=412,
        language="Go", stars_count=3, watchers_count=4, licenses=["MIT"],
        created_at=T("2026-03-02T10:25:41Z"), updated_at=T("2026-07-19T16:00:00Z"),
        default_allow_maintainer_edit=True, collaborators={5: "write", 6: "write"},
        git_dir="acme/widgets.git")
    st.git.heads["acme/widgets.git"] = {"main": BASE, "agent/issue-11": HEAD1,
                                        "agent/grid-spike": SPIKE}
    st.labels[3] = model.Label(id=3, repo_id=7, name="bug",
                               description="Something is not working")
    # The second open issue the counters show, and PR #13 opened the day before.
    st.issues[30] = model.Issue(id=30, repo_id=7, index=10, poster_id=2, title="Older issue",
                                created_at=T("2026-07-10T10:00:00Z"),
                                updated_at=T("2026-07-10T10:00:00Z"))
    st.issues[33] = model.Issue(
        id=33, repo_id=7, index=13, poster_id=5, title="Experimental: replace grid engine",
        body="Spike, not meant to be merged as-is.",
        created_at=T("2026-07-19T16:00:00Z"), updated_at=T("2026-07-19T16:00:00Z"),
        pull=model.PullRequest(id=10, head_branch="agent/grid-spike", base_branch="main",
                               head_sha=SPIKE, merge_base=BASE, status="mergeable",
                               additions=310, deletions=122, changed_files=9,
                               allow_maintainer_edit=True))
    return st


PUSHED_COMMIT = {
    "id": HEAD2,
    "message": "Add regression test for 3-column grid\n",
    "author": {"name": "Coder Agent", "email": "agent-coder@agents.gitea.example",
               "date": "2026-07-20T09:10:31Z"},
    "committer": {"name": "Coder Agent", "email": "agent-coder@agents.gitea.example",
                  "date": "2026-07-20T09:10:31Z"},
    "parents": [HEAD1],
    "added": ["grid/layout_test.go"],
    "removed": [],
    "modified": [],
}


def story():
    """Replay the fixtures in time order: {file: (event type, body dict)},
    and the final state."""
    st = initial_state()
    u = st.users
    alice, sidecar, coder, reviewer = u[2], u[3], u[5], u[6]
    widgets = st.repos[7]
    out = {}

    issue = model.Issue(
        id=31, repo_id=7, index=11, poster_id=2, title="Widgets misaligned in 3-column grid",
        body="When the grid has three columns the last widget overflows by 4px.\n\n"
             "Steps:\n1. Open the demo page\n2. Resize the window to 1024px",
        label_ids=[3], created_at=T("2026-07-20T08:00:00Z"),
        updated_at=T("2026-07-20T08:00:00Z"))
    st.issues[31] = issue
    out["issues_opened.json"] = ("issues", payloads.issues(st, "opened", issue, alice))

    issue.assignee_ids = [5]
    issue.updated_at = T("2026-07-20T08:02:10Z")
    out["issues_assigned.json"] = ("issue_assign",
                                   payloads.issues(st, "assigned", issue, sidecar))

    c = model.Comment(id=101, issue_id=31, poster_id=5,
                      body="I'm on it. Plan: adjust the gap calculation in grid/layout.go "
                           "and add a test.",
                      created_at=T("2026-07-20T08:05:42Z"), updated_at=T("2026-07-20T08:05:42Z"))
    st.comments[101] = c
    issue.comments = 1
    issue.updated_at = c.created_at
    out["issue_comment_created.json"] = ("issue_comment",
                                         payloads.issue_comment(st, "created", issue, c, coder))

    widgets.updated_at = T("2026-07-20T08:05:42Z")
    pr = model.Issue(
        id=32, repo_id=7, index=12, poster_id=5, title="Fix widget alignment in grid layout",
        body="Closes #11\n\nAdjusts the grid gap calculation so widgets align at every "
             "breakpoint.",
        created_at=T("2026-07-20T08:30:15Z"), updated_at=T("2026-07-20T08:30:15Z"),
        pull=model.PullRequest(id=9, head_branch="agent/issue-11", base_branch="main",
                               head_sha=HEAD1, merge_base=BASE, status="mergeable",
                               additions=14, deletions=3, changed_files=2,
                               allow_maintainer_edit=True))
    st.issues[32] = pr
    out["pull_request_opened.json"] = ("pull_request",
                                       payloads.pull_request(st, "opened", pr, coder))

    widgets.updated_at = T("2026-07-20T08:30:15Z")
    r1 = model.Review(id=1, issue_id=32, reviewer_id=6, state="COMMENT",
                      body="Looks reasonable. Nit: consider extracting the gap constant "
                           "into grid/consts.go.", commit_id=HEAD1)
    st.reviews[1] = r1
    pr.updated_at = T("2026-07-20T08:41:03Z")
    out["pull_request_review_comment.json"] = ("pull_request_review_comment",
                                               payloads.review(st, "comment", pr, r1, reviewer))

    r2 = model.Review(id=2, issue_id=32, reviewer_id=2, state="REQUEST_CHANGES",
                      body="Please add a regression test for the 3-column layout before "
                           "this goes in.", commit_id=HEAD1)
    st.reviews[2] = r2
    pr.updated_at = T("2026-07-20T08:55:27Z")
    out["pull_request_review_rejected.json"] = ("pull_request_review_rejected",
                                                payloads.review(st, "rejected", pr, r2, alice))

    widgets.updated_at = T("2026-07-20T08:55:27Z")
    st.git.heads["acme/widgets.git"]["agent/issue-11"] = HEAD2
    out["push.json"] = ("push", payloads.push(st, widgets, "refs/heads/agent/issue-11",
                                              HEAD1, HEAD2, [PUSHED_COMMIT], 1, coder))

    widgets.updated_at = T("2026-07-20T09:10:44Z")
    pr.pull.head_sha = HEAD2
    pr.pull.status = "checking"     # set before the event is built
    pr.pull.additions, pr.pull.deletions, pr.pull.changed_files = 21, 3, 3
    pr.updated_at = T("2026-07-20T09:10:44Z")
    out["pull_request_synchronized.json"] = ("pull_request_sync",
                                             payloads.pull_request(st, "synchronized", pr, coder))

    pr.pull.status = "mergeable"
    r3 = model.Review(id=3, issue_id=32, reviewer_id=2, state="APPROVED", body="LGTM, thanks!",
                      commit_id=HEAD2)
    st.reviews[3] = r3
    pr.updated_at = T("2026-07-20T09:20:05Z")
    out["pull_request_review_approved.json"] = ("pull_request_review_approved",
                                                payloads.review(st, "approved", pr, r3, alice))

    merged_at = T("2026-07-20T09:22:31Z")
    st.git.heads["acme/widgets.git"]["main"] = MERGE
    widgets.updated_at = merged_at
    pr.pull.merged, pr.pull.merged_at, pr.pull.merged_by_id = True, merged_at, 2
    pr.pull.merge_commit_sha = MERGE
    pr.state, pr.closed_at, pr.updated_at = "closed", merged_at, merged_at
    out["pull_request_closed_merged.json"] = ("pull_request",
                                              payloads.pull_request(st, "closed", pr, alice))

    issue.state, issue.closed_at, issue.updated_at = "closed", merged_at, merged_at
    out["issues_closed.json"] = ("issues", payloads.issues(st, "closed", issue, alice,
                                                           commit_id=MERGE))

    spike = st.issues[33]
    spike.state = "closed"
    spike.closed_at = spike.updated_at = T("2026-07-20T09:30:00Z")
    out["pull_request_closed.json"] = ("pull_request",
                                       payloads.pull_request(st, "closed", spike, alice))

    gadgets = model.Repo(id=8, owner_id=4, name="gadgets", description="Gadget prototypes",
                         watchers_count=1, created_at=T("2026-07-20T10:00:00Z"),
                         updated_at=T("2026-07-20T10:00:00Z"),
                         default_allow_maintainer_edit=True, git_dir="acme/gadgets.git")
    st.repos[8] = gadgets
    st.git.heads["acme/gadgets.git"] = {"main": GADGETS}
    out["repository_created.json"] = ("repository",
                                      payloads.repository(st, "created", gadgets, alice))
    return out, st


STORY, FINAL = story()
DELIVERIES = {d["file"]: d for d in INDEX["deliveries"]}


def body_bytes(name):
    event_type, obj = STORY[name]
    return gitjson.hook_body(obj, indent=payloads.indent_for(event_type))


# -- webhook bodies and headers ---------------------------------------------------

def test_story_covers_every_fixture():
    files = {p.name for p in FIXTURES.glob("*.json")} - {"index.json"}
    assert len(files) == 13
    assert set(STORY) == files == set(DELIVERIES)


@pytest.mark.parametrize("name", sorted(DELIVERIES))
def test_body_is_byte_exact(name):
    want = (FIXTURES / name).read_bytes()
    got = body_bytes(name)
    if got != want:                     # show the first differing line
        for i, (a, b) in enumerate(zip(got.splitlines(), want.splitlines())):
            assert a == b, f"line {i + 1}"
    assert got == want


@pytest.mark.parametrize("name", sorted(DELIVERIES))
def test_headers_match_index(name):
    d = DELIVERIES[name]
    want = d["headers"]
    event_type = STORY[name][0]
    got = payloads.headers(event_type, want["X-Gitea-Delivery"], body_bytes(name),
                           INDEX["test_secret"], "system")
    assert list(got.items()) == list(want.items())


@pytest.mark.parametrize("name", sorted(DELIVERIES))
def test_subscriptions_match_index(name):
    names = set(DELIVERIES[name]["hook_event_subscription"].split(" or "))
    assert set(payloads.subscriptions(STORY[name][0])) == names


def test_signature_vectors_over_fixture_bytes():
    for d in INDEX["deliveries"]:
        body = (FIXTURES / d["file"]).read_bytes()
        sig, sha1, sha256 = gitjson.signature(INDEX["test_secret"], body)
        h = d["headers"]
        assert (sig, sha1, sha256) == (h["X-Gitea-Signature"], h["X-Hub-Signature"],
                                       h["X-Hub-Signature-256"])


def test_empty_secret_sends_empty_signatures():
    assert gitjson.signature("", b"{}") == ("", "sha1=", "sha256=")


def test_authorization_header_is_last_and_verbatim():
    h = payloads.headers("push", "id", b"{}", "s", "repository", authorization="Bearer x")
    assert list(h)[-1] == "Authorization" and h["Authorization"] == "Bearer x"
    assert h["X-Gitea-Hook-Installation-Target-Type"] == "repository"


def test_plain_pr_comment_is_not_an_issue_comment_subscription():
    assert payloads.event_name("pull_request_comment") == "issue_comment"
    assert "issue_comment" not in payloads.subscriptions("pull_request_comment")


# -- encoding -------------------------------------------------------------------------

def test_api_encoding_is_compact_with_newline():
    assert gitjson.api({"a": [1, None, True], "b": {}}) == b'{"a":[1,null,true],"b":{}}\n'


def test_strings_escaped_like_go_jsonv2():
    text = "<a & b>\u2028\u2029\x00\x01\x1f\x7f\b\f\n\r\t\"\\é😀"
    got = gitjson.api(text)
    want = ('"<a & b>\u2028\u2029\\u0000\\u0001\\u001f\x7f\\b\\f\\n\\r\\t\\"\\\\é😀"\n')
    assert got == want.encode("utf-8")


def test_lone_surrogate_becomes_replacement_character():
    assert gitjson.api("a\ud800b") == '"a\ufffdb"\n'.encode("utf-8")


def test_indent_and_empty_containers():
    assert gitjson.hook_body({"a": [], "b": {}, "c": [1]}) == \
        b'{\n  "a": [],\n  "b": {},\n  "c": [\n    1\n  ]\n}'
    assert gitjson.hook_body({"a": 1}, indent=1) == b'{\n "a": 1\n}'


def test_floats_are_refused():
    with pytest.raises(TypeError):
        gitjson.api({"x": 1.5})


def test_time_format():
    assert gitjson.time(T("2026-07-20T08:00:00.999Z")) == "2026-07-20T08:00:00Z"
    plus2 = datetime.datetime(2026, 7, 20, 10, 0, tzinfo=datetime.timezone(
        datetime.timedelta(hours=2)))
    assert gitjson.time(plus2) == "2026-07-20T10:00:00+02:00"
    assert gitjson.time(model.UNIX_ZERO) == "1970-01-01T00:00:00Z"
    assert gitjson.go_zero() == "0001-01-01T00:00:00Z"


# -- API objects against the swagger ----------------------------------------------

SWAGGER = json.loads((REFERENCE / "swagger.v1.json").read_text())


def _nullable(schema):
    """Swagger 2.0 cannot say "nullable", yet Gitea sends null for unset
    pointers and nil slices: accept null for every property."""
    if isinstance(schema, dict):
        out = {k: _nullable(v) for k, v in schema.items() if not k.startswith("x-")}
        if isinstance(schema.get("properties"), dict):
            out["properties"] = {k: {"anyOf": [_nullable(v), {"type": "null"}]}
                                 for k, v in schema["properties"].items()}
        return out
    if isinstance(schema, list):
        return [_nullable(v) for v in schema]
    return schema


DOC = _nullable(SWAGGER)
RESOLVER = jsonschema.RefResolver("", DOC)


def check(obj, definition, extra=()):
    """Valid against #/definitions/<definition>, and no key the definition
    lacks (apart from extra)."""
    schema = {"$ref": f"#/definitions/{definition}"}
    jsonschema.Draft4Validator(schema, resolver=RESOLVER).validate(obj)
    props = SWAGGER["definitions"][definition]["properties"]
    assert set(obj) - set(props) - set(extra) == set()


def test_user_views():
    st = FINAL
    alice, coder = st.users[2], st.users[5]
    full = render.user(st, alice, full=True)
    check(full, "User", extra=("username",))
    assert list(full)[-1] == "username" and full["email"] == "alice@example.com"
    assert full["last_login"] == "2026-07-20T07:58:12Z" and full["active"] is True
    seen = render.user_seen_by(st, alice, coder)
    assert seen["email"] == "alice@example.com" and seen["active"] is False
    assert seen["last_login"] == "0001-01-01T00:00:00Z"
    reduced = render.user(st, alice)
    assert reduced["email"] == "2+alice@noreply.gitea.example" and reduced["language"] == ""
    alice.keep_email_private = True
    try:
        assert render.user_seen_by(st, alice, coder)["email"] == "2+alice@noreply.gitea.example"
        assert render.user_seen_by(st, alice, alice)["email"] == "alice@example.com"
    finally:
        alice.keep_email_private = False


def test_default_avatar_is_md5_of_email():
    u = model.User(id=9, login="Bob", email=" Bob@Example.com ")
    st = model.State()
    assert render.avatar_hash(u) == "4b9bb80620f03eb3719e0a061c14283d"
    assert render.user(st, u)["avatar_url"].endswith("/avatars/4b9bb80620f03eb3719e0a061c14283d")


def test_organization():
    org = render.organization(FINAL, FINAL.users[4])
    check(org, "Organization")
    assert list(org) == ["id", "name", "full_name", "email", "avatar_url", "description",
                         "website", "location", "visibility",
                         "repo_admin_change_team_access", "username"]


def test_repository():
    st = FINAL
    repo = render.repository(st, st.repos[7], render.permissions_for("write"))
    check(repo, "Repository")
    assert repo["branch_count"] == 3 and repo["empty"] is False
    assert repo["open_issues_count"] == 1 and repo["open_pr_counter"] == 0
    assert repo["permissions"] == {"admin": False, "push": True, "pull": True}
    # An explicit callable wins over state.git.
    assert render.repository(st, st.repos[7], branch_count=lambda r: 0)["empty"] is True
    assert render.search_results([repo])["data"] == [repo]


def test_issue_and_pull_meta():
    st = FINAL
    issue = render.issue(st, st.issues[31], viewer=st.users[5])
    check(issue, "Issue")
    assert issue["pull_request"] is None and issue["assignees"][0]["login"] == "agent-coder"
    plain = render.issue(st, st.issues[30])
    assert plain["assignees"] is None and plain["assignee"] is None and plain["labels"] == []
    as_issue = render.issue(st, st.issues[32], viewer_full=True)
    check(as_issue, "Issue")
    assert as_issue["url"].endswith("/api/v1/repos/acme/widgets/issues/12")
    assert as_issue["html_url"].endswith("/acme/widgets/pulls/12")
    assert as_issue["pull_request"] == {
        "merged": True, "merged_at": "2026-07-20T09:22:31Z", "draft": False,
        "html_url": "http://gitea.example:3000/acme/widgets/pulls/12"}
    assert as_issue["user"]["active"] is True


def test_pull_request():
    st = FINAL
    pr = render.pull_request(st, st.issues[32], viewer=st.users[2])
    check(pr, "PullRequest")
    check(pr["base"], "PRBranchInfo")
    assert pr["url"] == "http://gitea.example:3000/acme/widgets/pulls/12"
    assert pr["base"]["sha"] == MERGE and pr["assignees"] == []
    assert pr["merged_by"]["email"] == "2+alice@noreply.gitea.example"
    st.issues[32].pull.head_branch_deleted = True
    try:
        head = render.pull_request(st, st.issues[32])["head"]
        assert head["ref"] == "refs/pull/12/head" and head["label"] == "agent/issue-11"
    finally:
        st.issues[32].pull.head_branch_deleted = False


def test_comment_on_issue_and_on_pull():
    st = FINAL
    c = render.comment(st, st.comments[101])
    check(c, "Comment")
    on_pr = model.Comment(id=102, issue_id=32, poster_id=6, body="x",
                          created_at=T("2026-07-20T09:00:00Z"),
                          updated_at=T("2026-07-20T09:00:00Z"))
    st.comments[102] = on_pr
    try:
        c2 = render.comment(st, on_pr)
    finally:
        del st.comments[102]
    assert c2["issue_url"] == "" and c2["pull_request_url"].endswith("/acme/widgets/pulls/12")
    assert c2["html_url"].endswith("/pulls/12#issuecomment-102")


def test_label():
    check(render.label(FINAL, FINAL.labels[3]), "Label")


def test_pull_review():
    st = FINAL
    r = render.pull_review(st, st.reviews[3])
    check(r, "PullReview")
    assert r["state"] == "APPROVED" and r["team"] is None
    assert r["pull_request_url"] == "http://gitea.example:3000/acme/widgets/pulls/12"
    assert render.review_comments(st, st.issues[32]) == 3


def test_hook_hides_the_secret_and_expands_events():
    st = FINAL
    h = model.Hook(id=1, kind="system", owner_id=0, active=True, url="http://127.0.0.1:8088/hook",
                   events=["push", "issues", "pull_request", "repository"], secret="s3cret",
                   authorization_header="Bearer t", created_at=T("2026-07-20T07:00:00Z"),
                   updated_at=T("2026-07-20T07:00:00Z"))
    out = render.hook(st, h)
    check(out, "Hook")
    assert out["config"] == {"url": "http://127.0.0.1:8088/hook", "content_type": "json"}
    assert "s3cret" not in json.dumps(out)
    assert out["events"] == [
        "push", "issues", "issue_assign", "issue_label", "issue_milestone", "issue_comment",
        "pull_request", "pull_request_assign", "pull_request_label", "pull_request_milestone",
        "pull_request_comment", "pull_request_review", "pull_request_sync",
        "pull_request_review_request", "repository"]
    assert payloads.enabled_events([]) == ["push"]
    assert payloads.enabled_events(["issues_only", "pull_request_review"]) == \
        ["issues", "pull_request_review"]


def test_branch():
    st = FINAL
    b = render.branch(st, st.repos[7], "agent/issue-11", PUSHED_COMMIT,
                      user_can_push=True, user_can_merge=True)
    check(b, "Branch")
    check(b["commit"], "PayloadCommit")
    assert b["commit"]["author"]["username"] == "agent-coder"
    assert b["commit"]["verification"]["reason"] == "gpg.error.not_signed_commit"
    assert b["commit"]["added"] is None


def test_commit_username_lookup():
    st = FINAL
    assert render.commit_username(st, "AGENT-CODER@agents.gitea.example") == "agent-coder"
    assert render.commit_username(st, "alice@noreply.gitea.example") == "alice"
    assert render.commit_username(st, "stranger@example.com") == ""


def test_combined_status():
    st = FINAL
    repo = st.repos[7]
    repo_json = render.repository(st, repo, render.permissions_for("read"))
    empty = render.combined_status(st, repo, MERGE, [], repo_json)
    check(empty, "CombinedStatus")
    assert empty["state"] == "pending" and empty["statuses"] is None
    s1 = model.Status(id=11, repo_id=7, sha=MERGE, state="success", context="ci/build",
                      creator_id=3, created_at=T("2026-07-20T09:25:00Z"))
    s2 = model.Status(id=12, repo_id=7, sha=MERGE, state="error", context="ci/lint",
                      creator_id=3, created_at=T("2026-07-20T09:26:00Z"))
    st.statuses.update({11: s1, 12: s2})
    try:
        out = render.combined_status(st, repo, MERGE, [s1, s2], repo_json)
        check(out, "CombinedStatus")
        one = render.commit_status(st, s2)
        check(one, "CommitStatus")
    finally:
        del st.statuses[11], st.statuses[12]
    assert out["state"] == "failure" and out["total_count"] == 2
    assert out["commit_url"] == f"{st.root_url}api/v1/repos/acme/widgets/commits/{MERGE}"
    assert "state" not in one and one["status"] == "error" and one["id"] == 2
    assert one["updated_at"] == one["created_at"] == "2026-07-20T09:26:00Z"
    assert one["creator"]["email"] == "3+sidecar@noreply.gitea.example"
    assert render.combined_state(["success", "warning"]) == "warning"
    assert render.combined_state(["success", "pending"]) == "pending"


def test_access_token():
    tok = model.Token(id=4, user_id=5, name="agent",
                      sha1="0123456789abcdef0123456789abcdef01234567",
                      scopes=["write:repository"], created=T("2026-07-20T07:00:00Z"))
    shown = render.access_token(tok, include_secret=True)
    check(shown, "AccessToken")
    assert shown["sha1"] == tok.sha1 and shown["token_last_eight"] == "01234567"
    assert render.access_token(tok)["sha1"] == ""
    assert shown["last_used_at"] == "2026-07-20T07:00:00Z"


def test_version():
    check(render.version(), "ServerVersion")
    assert gitjson.api(render.version()) == b'{"version":"1.26.3"}\n'


# -- payload details the fixtures do not show ------------------------------------------

def test_changes_come_after_number():
    st = FINAL
    body = payloads.issues(st, "edited", st.issues[31], st.users[2],
                           changes={"title": {"from": "Old"}})
    assert list(body)[:3] == ["action", "number", "changes"]
    assert body["changes"] == {"title": {"from": "Old"}, "added_labels": None,
                               "removed_labels": None}
    plain = payloads.issues(st, "closed", st.issues[31], st.users[2])
    assert "changes" not in plain


def test_push_to_a_new_branch_compares_from_the_parent():
    st = FINAL
    body = payloads.push(st, st.repos[7], "refs/heads/agent/new", payloads.ZERO_SHA, HEAD2,
                         [PUSHED_COMMIT], 1, st.users[5])
    assert body["compare_url"].endswith(f"/compare/{HEAD1}...{HEAD2}")
    root = dict(PUSHED_COMMIT, parents=[])
    body = payloads.push(st, st.repos[7], "refs/heads/main", payloads.ZERO_SHA, HEAD2,
                         [root], 1, st.users[5])
    assert body["compare_url"] == st.root_url
    body = payloads.push(st, st.repos[7], "refs/heads/topic", payloads.ZERO_SHA, HEAD2,
                         [root], 1, st.users[5])
    assert body["compare_url"].endswith(f"/compare/main...{HEAD2}")


def test_schema_check_is_not_vacuous():
    bad = render.user(FINAL, FINAL.users[2])
    bad["id"] = "2"
    with pytest.raises(jsonschema.ValidationError):
        check(bad, "User", extra=("username",))
    nested = render.repository(FINAL, FINAL.repos[7])
    nested["owner"]["followers_count"] = "many"
    with pytest.raises(jsonschema.ValidationError):
        check(nested, "Repository")
    with pytest.raises(AssertionError):
        check(dict(render.label(FINAL, FINAL.labels[3]), extra=1), "Label")
