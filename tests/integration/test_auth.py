"""Authentication: agent keys on /me and /act, admin tokens on /admin."""

import os
import secrets

import pytest

from conftest import assert_error, assert_ok, new_token


@pytest.fixture(scope="module")
def d(daemon_module):
    return daemon_module()


def assert_unauthorized(r):
    err = assert_error(r, 401, "unauthorized")
    www = r.headers.get("WWW-Authenticate", "")
    assert www.lower().startswith("bearer"), f"WWW-Authenticate {www!r}"
    return err


# ---------------------------------------------------------------- /me

def test_me_active(d):
    a, key = d.new_agent(status="active")
    data = assert_ok(d.get("/api/v1/me", headers=d.agent_headers(key)))
    assert data["id"] == a["id"] and data["name"] == a["name"]
    assert data["status"] == "active" and data["elo"] == 1200
    assert not any("key" in k for k in data), data


def test_me_pending(d):
    _, key = d.new_agent()
    err = assert_error(d.get("/api/v1/me", headers=d.agent_headers(key)), 403,
                       "waiting_for_approval")
    assert "waiting for approval" in err["message"].lower()


def test_me_suspended(d):
    _, key = d.new_agent(status="suspended")
    assert_error(d.get("/api/v1/me", headers=d.agent_headers(key)), 403, "agent_suspended")


@pytest.mark.parametrize("header", [
    None, "", "Bearer", "Bearer ", "Bearer xyz", "Basic dXNlcjpwYXNz", "Token abc",
    "Bearer ssk_", "Bearer ssk_" + "A" * 43, "Bearer ssk_" + "A" * 500,
    "Bearer " + "x" * 4000, "Bearer ssk_AAAA\u00e9", "Bearer\tssk_abc",
])
def test_me_bad_credentials(d, header):
    hdrs = {} if header is None else {"Authorization": header.encode("utf-8")}
    assert_unauthorized(d.get("/api/v1/me", headers=hdrs))


def test_me_key_of_other_form_rejected(d):
    """A key with its last character changed is somebody else's, or nobody's."""
    _, key = d.new_agent(status="active")
    other = key[:-1] + ("A" if key[-1] != "A" else "B")
    assert_unauthorized(d.get("/api/v1/me", headers=d.agent_headers(other)))
    assert_unauthorized(d.get("/api/v1/me", headers=d.agent_headers(key + "x")))
    assert_unauthorized(d.get("/api/v1/me", headers=d.agent_headers(key[:-1])))


def test_admin_token_is_not_an_agent_key(d):
    assert_unauthorized(d.get("/api/v1/me", headers=d.admin_headers()))


# ---------------------------------------------------------------- /act

def test_act_help(d):
    _, key = d.new_agent(status="active")
    r = d.post("/api/v1/act", json={"command": "help"}, headers=d.agent_headers(key))
    assert_ok(r)
    text = r.json()["text"]
    assert "help" in text and len(text.splitlines()) >= 2, text


def test_act_unknown_command(d):
    _, key = d.new_agent(status="active")
    r = d.post("/api/v1/act", json={"command": "frobnicate"}, headers=d.agent_headers(key))
    err = assert_error(r, 400, "unknown_command")
    assert "frobnicate" in err["message"], err


def test_act_pending(d):
    _, key = d.new_agent()
    r = d.post("/api/v1/act", json={"command": "help"}, headers=d.agent_headers(key))
    err = assert_error(r, 403, "waiting_for_approval")
    assert "waiting for approval" in err["message"].lower()


def test_act_suspended(d):
    _, key = d.new_agent(status="suspended")
    r = d.post("/api/v1/act", json={"command": "help"}, headers=d.agent_headers(key))
    assert_error(r, 403, "agent_suspended")


def test_act_without_key(d):
    assert_unauthorized(d.post("/api/v1/act", json={"command": "help"}))
    assert_unauthorized(d.post("/api/v1/act", json={"command": "help"},
                               headers={"Authorization": "Bearer ssk_nope"}))


def test_suspension_takes_effect_at_once(d):
    a, key = d.new_agent(status="active")
    h = d.agent_headers(key)
    assert_ok(d.post("/api/v1/act", json={"command": "help"}, headers=h))
    assert_ok(d.admin_post(f"/api/v1/admin/agents/{a['id']}/suspend"))
    assert_error(d.post("/api/v1/act", json={"command": "help"}, headers=h), 403,
                 "agent_suspended")


# ---------------------------------------------------------------- admin

@pytest.mark.parametrize("header", [
    None, "Bearer", "Bearer wrong", "Basic YWRtaW46YWRtaW4=", "Bearer " + "0" * 64,
])
def test_admin_bad_token(d, header):
    hdrs = {} if header is None else {"Authorization": header}
    assert_unauthorized(d.get("/api/v1/admin/agents", headers=hdrs))


def test_admin_token_hash_is_not_a_token(d):
    """The configured hash itself must not open the door."""
    h = d.conf["admin.token_hashes"][0]
    assert_unauthorized(d.get("/api/v1/admin/agents", headers={"Authorization": "Bearer " + h}))
    assert_unauthorized(d.get("/api/v1/admin/agents",
                              headers={"Authorization": "Bearer " + h.split(":", 1)[1]}))


def test_admin_token_variants_rejected(d):
    t = d.token
    for bad in (t[:-1], t + "x", t.upper() if t.upper() != t else t.lower(), " " + t + "x"):
        assert_unauthorized(d.get("/api/v1/admin/agents",
                                  headers={"Authorization": "Bearer " + bad}))


def test_agent_key_is_not_admin(d):
    # A known agent is told the route is not for it (403); a key nobody
    # has is unknown (401).
    _, key = d.new_agent(status="active")
    for path in ("/api/v1/admin/agents", "/api/v1/admin/audit"):
        err = assert_error(d.get(path, headers=d.agent_headers(key)), 403, "forbidden")
        assert "admin token" in err["message"], err
    assert_unauthorized(d.get("/api/v1/admin/agents",
                              headers=d.agent_headers("ssk_" + "A" * 43)))


def test_admin_good_token(d):
    assert_ok(d.admin_get("/api/v1/admin/agents"))


def test_several_token_hashes(daemon):
    t1, t2 = new_token(), new_token()
    x = daemon(admin_tokens=[t1, t2])
    for t in (t1, t2):
        assert_ok(x.get("/api/v1/admin/agents", headers=x.admin_headers(t)))
    assert_unauthorized(x.get("/api/v1/admin/agents", headers=x.admin_headers(new_token())))


def test_token_file(daemon, tmp_path):
    t1, t2 = new_token(), new_token()
    f = tmp_path / "admin.tokens"
    f.write_text(f"{t1}\n{t2}\n")
    os.chmod(f, 0o600)
    x = daemon(admin_tokens=[], conf={"admin.token_hashes": None,
                                      "admin.token_file": str(f)})
    x.add_secret(t1)
    x.add_secret(t2)
    for t in (t1, t2):
        assert_ok(x.get("/api/v1/admin/agents", headers=x.admin_headers(t)))
    assert_unauthorized(x.get("/api/v1/admin/agents", headers=x.admin_headers(new_token())))
    assert_unauthorized(x.get("/api/v1/admin/agents", headers=x.admin_headers(t1 + t2)))


def test_no_admin_configured_means_no_admin(daemon):
    x = daemon(admin_tokens=[], conf={"admin.token_hashes": None})
    assert_unauthorized(x.get("/api/v1/admin/agents", headers={"Authorization": "Bearer "}))
    assert_unauthorized(x.get("/api/v1/admin/agents",
                              headers={"Authorization": "Bearer " + secrets.token_hex(16)}))
