"""A Gitea admin token that Gitea refuses, or that is not a site
administrator's, is the first thing an admin installing synstackd gets
wrong.  Gitea still answers /version then, so /healthz said "ok" while
the mirror failed; now it says which, and so does /metrics, until a
restart with the right token (gitea.admin_token_file is read at start)."""

import secrets

from emulator import ADMIN_TOKEN, PASSWORD
from mirror_helpers import metrics, wait_startup_sync, write_secret


def token_file(tmp_path, token):
    return write_secret(tmp_path, token, name="gitea-token")[0]


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


def test_a_token_of_a_user_who_is_not_an_admin(daemon, gitea_world):
    """A user's token that works with Gitea but not for its site admin
    API: the mirror and the provisioning would fail."""
    token = gitea_world.emulator.user_token("alice")
    d = daemon(conf={"gitea.admin_token": token,
                     "gitea.admin_token_file": None})
    d.add_secret(token)
    g = gitea_health(d)["gitea"]
    assert g["admin_token"] == "refused", g
    assert "HTTP 403" in g["admin_token_error"], g
    assert "site admin" in g["admin_token_error"], g


def test_the_scopes_the_guide_names_are_enough(daemon, gitea_world):
    """docs/admin-guide.md, 2.1: write:admin, write:repository and
    write:issue (read:user only for gitea.owners naming users)."""
    token = gitea_world.emulator.user_token(
        "sidecar", scopes=("write:admin", "write:repository", "write:issue"))
    d = daemon(conf={"gitea.admin_token": token,
                     "gitea.admin_token_file": None})
    d.add_secret(token)
    h = gitea_health(d)
    assert h["status"] == "ok" and h["gitea"]["admin_token"] == "ok", h


def test_a_token_revoked_while_running_shows_at_the_next_call(daemon,
                                                              gitea_world):
    """Taken at start, then deleted in Gitea: the first call Gitea
    answers 401 says so, without waiting for a probe."""
    emu = gitea_world.emulator
    name = f"revoked-{secrets.token_hex(4)}"
    r = emu.post("/users/sidecar/tokens", basic=("sidecar", PASSWORD),
                 json={"name": name, "scopes": ["all"]})
    assert r.status_code == 201, r.text
    token = r.json()["sha1"]
    d = daemon(conf={"gitea.admin_token": token,
                     "gitea.admin_token_file": None,
                     "sync.interval": "1h"})
    d.add_secret(token)
    assert gitea_health(d)["gitea"]["admin_token"] == "ok"
    wait_startup_sync(d)
    r = emu.delete(f"/users/sidecar/tokens/{name}", basic=("sidecar", PASSWORD))
    assert r.status_code == 204, r.text
    r = d.admin_post("/api/v1/admin/sync")
    assert r.status_code == 502, r.text
    g = gitea_health(d)["gitea"]
    assert g["admin_token"] == "refused" and "HTTP 401" in g["admin_token_error"], g
    assert d.log().count("Gitea refuses gitea.admin_token") == 1


def test_an_admin_demoted_while_running_shows_at_the_next_admin_call(
        daemon, gitea_world):
    """The token's user loses its site admin rights in Gitea: the next
    call to Gitea's admin API (here, an approval making the agent's
    Gitea user) is refused with 403, and /healthz says so."""
    emu = gitea_world.emulator
    login = f"ops-{secrets.token_hex(4)}"
    r = emu.post("/admin/users", json={
        "username": login, "email": f"{login}@example.invalid",
        "password": PASSWORD, "must_change_password": False})
    assert r.status_code == 201, r.text
    r = emu.patch(f"/admin/users/{login}", json={"login_name": login,
                                                  "admin": True})
    assert r.status_code == 200, r.text
    token = emu.user_token(login)
    d = daemon(conf={"gitea.admin_token": token,
                     "gitea.admin_token_file": None,
                     "sync.interval": "1h"})
    d.add_secret(token)
    assert gitea_health(d)["gitea"]["admin_token"] == "ok"
    r = emu.patch(f"/admin/users/{login}", json={"login_name": login,
                                                  "admin": False})
    assert r.status_code == 200, r.text
    agent, _ = d.new_agent()
    r = d.admin_post(f"/api/v1/admin/agents/{agent['id']}/approve")
    assert r.status_code == 502, r.text
    g = gitea_health(d)["gitea"]
    assert g["admin_token"] == "refused" and "HTTP 403" in g["admin_token_error"], g
