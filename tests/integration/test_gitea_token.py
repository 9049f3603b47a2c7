"""A Gitea admin token that Gitea refuses, or that is not a site
administrator's, is the first thing an admin installing synstackd gets
wrong.  Gitea still answers /version then, so /healthz said "ok" while
the mirror failed; now it says which, and so does /metrics, until a
restart with the right token (gitea.admin_token_file is read at start)."""

import os
import secrets

from conftest import assert_ok
from emulator import ADMIN_TOKEN
from mirror_helpers import metrics


def token_file(tmp_path, token):
    path = tmp_path / "gitea-token"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return str(path)


def gitea_health(d):
    r = d.get("/healthz")
    assert r.status_code == 200, r.text
    return r.json()


def test_a_good_token_is_ok(daemon):
    d = daemon()
    h = gitea_health(d)
    assert h["status"] == "ok" and h["gitea"]["admin_token"] == "ok", h
    assert metrics(d)["synstack_gitea_token_refused"] == 0


def test_a_refused_token_shows_until_a_restart_with_the_right_one(daemon,
                                                                tmp_path):
    wrong = secrets.token_hex(20)
    path = token_file(tmp_path, wrong)
    d = daemon(conf={"gitea.admin_token_file": path})
    d.add_secret(wrong)
    h = gitea_health(d)
    assert h["status"] == "degraded", h
    g = h["gitea"]
    assert g["ok"] is True and g["admin_token"] == "refused", g
    assert "HTTP 401" in g["admin_token_error"], g
    assert "site admin" in g["admin_token_error"], g
    assert metrics(d)["synstack_gitea_token_refused"] == 1
    assert "Gitea refuses gitea.admin_token" in d.log()

    token_file(tmp_path, ADMIN_TOKEN)
    assert d.terminate() == 0, d.log()
    d.start()
    d.wait_ready()
    h = gitea_health(d)
    assert h["status"] == "ok" and h["gitea"]["admin_token"] == "ok", h
    assert "admin_token_error" not in h["gitea"], h
    assert metrics(d)["synstack_gitea_token_refused"] == 0


def test_a_token_of_a_user_who_is_not_an_admin(daemon):
    """An agent's own Gitea token works with Gitea, but cannot run the
    mirror or provision users: /healthz names the user."""
    good = daemon()
    agent, key = good.new_agent(status="active")
    me = assert_ok(good.get("/api/v1/me", headers=good.agent_headers(key)))
    token = me["gitea"]["token"]
    login = me["gitea"]["login"]
    d = daemon(conf={"gitea.admin_token": token,
                     "gitea.admin_token_file": None})
    d.add_secret(token)
    good.add_secret(token)
    g = gitea_health(d)["gitea"]
    assert g["admin_token"] == "refused", g
    assert f"belongs to {login}, who is not a Gitea site administrator" in \
        g["admin_token_error"], g
