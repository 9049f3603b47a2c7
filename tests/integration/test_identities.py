"""Approving an agent gives it a Gitea user and token (SPEC.md section 4):
made in Gitea, sealed at rest, shown to the agent alone, and never half
made."""

import os
import subprocess
import tempfile

import requests

from conftest import assert_error, assert_ok, synstackd_bin, unique_name
from emulator import ADMIN_TOKEN


def gitea_get(d, path, token=ADMIN_TOKEN):
    return requests.get(d.conf["gitea.url"] + "/api/v1" + path,
                        headers={"Authorization": f"token {token}"}, timeout=10)


def gitea_users(world):
    return {u["login"]: u for u in world.emulator.state()["users"]}


def approve(d, name):
    return d.admin_post(f"/api/v1/admin/agents/{name}/approve")


def test_approval_creates_the_gitea_user_and_token(daemon, gitea_world):
    d = daemon()
    a, key = d.new_agent()
    assert a["name"] not in gitea_users(gitea_world)
    assert_ok(approve(d, a["name"]))
    user = gitea_users(gitea_world)[a["name"]]
    # Gitea refuses every API call of a user who must change its password.
    assert user["must_change_password"] is False and not user["is_admin"]
    me = assert_ok(d.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"}))
    g = me["gitea"]
    assert g["login"] == a["name"] and g["url"] == d.conf["gitea.url"]
    d.add_secret(g["token"])
    # The token is a real Gitea token of that user, with the scopes an
    # agent needs to push.
    r = gitea_get(d, "/user", token=g["token"])
    assert r.status_code == 200 and r.json()["login"] == a["name"], r.text
    tokens = [t for t in gitea_world.emulator.state()["tokens"] if t["user"] == a["name"]]
    assert len(tokens) == 1 and "write:repository" in tokens[0]["scopes"], tokens
    # The audit row names the Gitea user.
    rows = d.psql(f"SELECT detail->>'gitea_user' FROM audit_log WHERE target_id = '{a['id']}'"
                  " AND action = 'agent.approve'")
    assert rows == [[a["name"]]], rows


def test_credentials_are_sealed_at_rest(daemon):
    d = daemon()
    a, key = d.new_agent(status="active")
    token = d.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"}).json()["data"]["gitea"]["token"]
    d.add_secret(token)
    row = d.psql(f"SELECT agents::text, gitea_token_sealed, gitea_password_sealed FROM agents"
                 f" WHERE id = '{a['id']}'")[0]
    assert token not in row[0]
    assert row[1] and row[2] and row[1] != row[2]
    assert all(c in "0123456789abcdef" for c in row[1])


def test_only_the_agent_sees_its_credentials(daemon):
    d = daemon()
    a, key_a = d.new_agent(status="active")
    b, key_b = d.new_agent(status="active")
    ga = d.get("/api/v1/me", headers={"Authorization": f"Bearer {key_a}"}).json()["data"]["gitea"]
    gb = d.get("/api/v1/me", headers={"Authorization": f"Bearer {key_b}"}).json()["data"]["gitea"]
    d.add_secret(ga["token"])
    d.add_secret(gb["token"])
    assert ga["login"] == a["name"] and gb["login"] == b["name"]
    assert ga["token"] != gb["token"]
    # Admin listings never carry them.
    listing = d.admin_get("/api/v1/admin/agents").text
    assert ga["token"] not in listing and "sealed" not in listing
    audit = d.admin_get("/api/v1/admin/audit").text
    assert ga["token"] not in audit


def test_reapproval_keeps_the_same_identity(daemon, gitea_world):
    d = daemon()
    a, key = d.new_agent(status="active")
    before = d.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"}).json()["data"]["gitea"]
    d.add_secret(before["token"])
    assert_ok(d.admin_post(f"/api/v1/admin/agents/{a['name']}/suspend"))
    assert_ok(approve(d, a["name"]))
    after = d.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"}).json()["data"]["gitea"]
    d.add_secret(after["token"])
    # The same Gitea user; the token the suspension revoked is replaced
    # (SPEC: a suspended agent has no access anywhere, Gitea included).
    assert after["login"] == before["login"] and after["url"] == before["url"]
    assert after["token"] != before["token"]
    assert sum(1 for t in gitea_world.emulator.state()["tokens"] if t["user"] == a["name"]) == 1


def test_gitea_name_taken_leaves_the_agent_pending(daemon, gitea_world):
    d = daemon()
    # "alice" is a human of the seeded Gitea.
    alice_before = gitea_users(gitea_world)["alice"]
    r = d.register("alice")
    assert r.status_code == 201, r.text
    assert_error(approve(d, "alice"), 409, "name_taken")
    rows = d.psql("SELECT status, gitea_username FROM agents WHERE name = 'alice'")
    assert rows == [["pending", ""]], rows
    assert gitea_users(gitea_world)["alice"] == alice_before
    assert not d.psql("SELECT 1 FROM audit_log WHERE action = 'agent.approve'")


def test_gitea_down_leaves_nothing(daemon, gitea_world):
    d = daemon(conf={"gitea.url": "http://127.0.0.1:9"})
    a, _ = d.new_agent()
    assert_error(approve(d, a["name"]), 502, "gitea_unavailable")
    assert d.psql(f"SELECT status FROM agents WHERE id = '{a['id']}'") == [["pending"]]
    assert not d.psql("SELECT 1 FROM audit_log WHERE action = 'agent.approve'")


def test_no_master_key_refuses_before_touching_gitea(daemon, gitea_world):
    d = daemon(conf={"secrets.master_key_file": ""})
    a, _ = d.new_agent()
    assert_error(approve(d, a["name"]), 503, "not_configured")
    assert a["name"] not in gitea_users(gitea_world)
    assert d.psql(f"SELECT status FROM agents WHERE id = '{a['id']}'") == [["pending"]]


def test_insecure_master_key_is_a_config_error(daemon, tmp_path):
    key = tmp_path / "master.key"
    key.write_text("00" * 32)
    key.chmod(0o644)
    d = daemon(conf={"secrets.master_key_file": str(key)}, start=False)
    r = subprocess.run([str(synstackd_bin()), "-n", "-c", d.config_path],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "group or others" in r.stderr, r.stderr


def test_approved_agent_clones_and_pushes(daemon, gitea_world):
    d = daemon()
    a, key = d.new_agent(status="active")
    g = d.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"}).json()["data"]["gitea"]
    d.add_secret(g["token"])
    emu = gitea_world.emulator
    # Membership comes with the work loop (join); here the Gitea admin adds it.
    assert emu.put(f"/repos/acme/widgets/collaborators/{a['name']}",
                   json={"permission": "write"}).status_code == 204
    work = tempfile.mkdtemp()
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0", GIT_AUTHOR_NAME=a["name"],
               GIT_AUTHOR_EMAIL="a@example.invalid", GIT_COMMITTER_NAME=a["name"],
               GIT_COMMITTER_EMAIL="a@example.invalid")
    url = emu.clone_url("acme/widgets", g["login"], g["token"])

    def git(*args, cwd=None):
        return subprocess.run(["git", *args], cwd=cwd, env=env, check=True,
                              capture_output=True, text=True)

    git("clone", "-q", url, work + "/w")
    branch = f"agent/{unique_name()}"
    git("checkout", "-q", "-b", branch, cwd=work + "/w")
    with open(work + "/w/NOTES.md", "w") as f:
        f.write("pushed by an approved agent\n")
    git("add", "NOTES.md", cwd=work + "/w")
    git("commit", "-qm", "Add notes", cwd=work + "/w")
    git("push", "-q", "origin", branch, cwd=work + "/w")
    state = emu.state()
    repo = next(r for r in state["repos"] if r["full_name"] == "acme/widgets")
    assert branch in repo["branches"]
