"""Suspension is real (issue 11): a suspended agent has no access
anywhere, Gitea included.  Its token is revoked and its Gitea login
prohibited (API and git alike), its claims are released here and in
Gitea, its reviews however given stop counting, and the audit log shows
each step; approved again, it logs in to Gitea with a fresh token and its
feed tells it why its claim went."""

import requests

from conftest import assert_error, assert_ok, wait_for
from test_mirror_trust import issue_row, settle, trust_world
from test_review import gitea_creds, submitted
from test_work import W, act, member, ok, wait_assignees


def gitea_user_status(emu, token):
    """What Gitea answers the token: GET /api/v1/user's status."""
    return requests.get(emu.url + "/api/v1/user", timeout=10,
                        headers={"Authorization": f"token {token}"}).status_code


def git_status(emu, login, token):
    """What Gitea's git smart HTTP answers the agent's credentials."""
    return requests.get(f"{emu.url}/{W}.git/info/refs?service=git-upload-pack",
                        auth=(login, token), timeout=10).status_code


def tokens_of(emu, login):
    return [t["name"] for t in emu.state()["tokens"] if t["user"] == login]


def audit(d, limit=50):
    return assert_ok(d.admin_get(f"/api/v1/admin/audit?limit={limit}"))["entries"]


def test_a_suspended_agent_has_no_access_anywhere_until_approved_again(
        gitea_factory, daemon, tmp_path):
    emu, d = trust_world(gitea_factory, daemon, tmp_path, hook=True)
    a, akey, alogin, branch, n = submitted(d, emu, tmp_path, issue=1)
    x, xkey = member(d)
    xlogin, xtoken = gitea_creds(d, xkey)
    ok(d, xkey, f"work-on {W}#2")
    wait_assignees(emu, 2, [xlogin])
    # X approves A's PR directly in Gitea: it counts while X is active.
    assert emu.post(f"/repos/{W}/pulls/{n}/reviews", sudo=xlogin,
                    json={"event": "APPROVED", "body": "yes"}).status_code == 200
    settle(emu)
    assert ok(d, akey, f"pr {W}#{n}")["review_status"] == "approved"
    assert gitea_user_status(emu, xtoken) == 200 and git_status(emu, xlogin, xtoken) == 200

    got = assert_ok(d.admin_post(f"/api/v1/admin/agents/{x['id']}/suspend"))
    assert got["status"] == "suspended" and got["gitea"] == "blocked", got
    assert got["released"] == 1, got
    # Here: denied.
    assert_error(act(d, xkey, "feed"), 403, "agent_suspended")
    # In Gitea: the token is gone, the login prohibited (API and git).
    assert tokens_of(emu, xlogin) == []
    assert gitea_user_status(emu, xtoken) == 401
    assert git_status(emu, xlogin, xtoken) in (401, 403)
    assert next(u for u in emu.state()["users"] if u["login"] == xlogin)["prohibit_login"]
    # A review in Gitea is refused there; the one X gave no longer counts.
    assert emu.post(f"/repos/{W}/pulls/{n}/reviews", sudo=xlogin,
                    json={"event": "APPROVED", "body": "again"}).status_code == 403
    pr = ok(d, akey, f"pr {W}#{n}")
    assert pr["review_status"] == "pending", pr
    assert_error(act(d, akey, f"merge {W}#{n}"), 422, "not_approved")
    # Its claim is released, here and in Gitea: another agent may take it.
    assert issue_row(d, 2)["assigned_to"] is None
    wait_assignees(emu, 2, [])
    y, ykey = member(d)
    ok(d, ykey, f"work-on {W}#2")
    assert "suspended" not in str(ok(d, ykey, "feed")).lower()
    # Each step is in the audit log.
    steps = {e["action"]: e for e in audit(d) if e["target_id"] == x["id"]}
    assert steps["agent.suspend"]["detail"]["released"] == [f"{W}#2"], steps
    assert steps["agent.gitea_block"]["detail"] == {"token_revoked": True,
                                                    "login_prohibited": True}, steps

    # Approved again: in Gitea with a fresh token; the old one stays dead.
    got = assert_ok(d.admin_post(f"/api/v1/admin/agents/{x['id']}/approve"))
    assert got["status"] == "active" and got["gitea"] == "open", got
    login2, token2 = gitea_creds(d, xkey)
    assert login2 == xlogin and token2 != xtoken
    assert gitea_user_status(emu, token2) == 200 and git_status(emu, xlogin, token2) == 200
    assert gitea_user_status(emu, xtoken) == 401
    assert tokens_of(emu, xlogin) == ["synstack"]
    # Its feed tells it (and it alone) why its claim went.
    notices = ok(d, xkey, "feed")["notices"]
    assert len(notices) == 1 and f"{W}#2" in notices[0] and "suspended" in notices[0], notices


def test_a_suspension_while_gitea_is_away_blocks_the_user_when_it_is_back(
        gitea_factory, daemon, tmp_path):
    emu, d = trust_world(gitea_factory, daemon, tmp_path)
    x, xkey = member(d)
    xlogin, xtoken = gitea_creds(d, xkey)
    emu.faults("500", seconds=4)
    got = assert_ok(d.admin_post(f"/api/v1/admin/agents/{x['id']}/suspend"))
    # Denied here at once; Gitea is told as soon as it answers.
    assert got["status"] == "suspended" and got["gitea"] == "blocking", got
    assert_error(act(d, xkey, "feed"), 403, "agent_suspended")
    wait_for(lambda: gitea_user_status(emu, xtoken) == 401, timeout=25,
             what="the background jobs to block the agent's Gitea user")
    assert d.psql(f"SELECT gitea_state FROM agents WHERE id = '{x['id']}'") == [["blocked"]]
    assert any(e["action"] == "agent.gitea_block" and e["actor"] == "suspension"
               for e in audit(d))
