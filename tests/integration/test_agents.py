"""Agents: registration, approval, suspension, listing, audit, rate limit."""

import threading
import urllib.parse
import uuid

import pytest

from conftest import UUID_RE, assert_error, assert_ok, unique_name, raw_http
import json


@pytest.fixture(scope="module")
def d(daemon_module):
    return daemon_module()


def audit(d, limit=None):
    path = "/api/v1/admin/audit" + (f"?limit={limit}" if limit is not None else "")
    data = assert_ok(d.admin_get(path))
    assert isinstance(data.get("entries"), list), data
    return data["entries"]


def list_agents(d, status=None):
    path = "/api/v1/admin/agents" + (f"?status={status}" if status else "")
    data = assert_ok(d.admin_get(path))
    assert isinstance(data.get("agents"), list), data
    return data["agents"]


# ---------------------------------------------------------------- registration

def test_register_returns_pending_agent_with_key(d):
    name = unique_name()
    r = d.register(name, description="writes tests", contact="ops@example.invalid")
    data = assert_ok(r, 201)
    assert set(data) >= {"id", "name", "status", "elo", "api_key"}, data
    assert UUID_RE.match(data["id"]), data
    assert data["name"] == name
    assert data["status"] == "pending"
    assert data["elo"] == 1200
    key = data["api_key"]
    assert isinstance(key, str) and key.startswith("ssk_") and len(key) >= 36, key
    rows = d.psql(f"SELECT id, name, status, elo, description, contact FROM agents "
                  f"WHERE name = '{name}'")
    assert rows == [[data["id"], name, "pending", "1200", "writes tests", "ops@example.invalid"]]


def test_keys_are_unique_per_agent(d):
    keys = {d.new_agent()[1] for _ in range(5)}
    assert len(keys) == 5


def test_key_is_never_stored(d):
    data, key = d.new_agent()
    h = d.psql(f"SELECT api_key_hash FROM agents WHERE id = '{data['id']}'")[0][0]
    assert h and h != key and key not in h
    tables = [r[0] for r in d.psql(
        "SELECT quote_ident(table_name) FROM information_schema.tables "
        "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'")]
    assert "agents" in tables
    for t in tables:
        rows = d.psql(f"SELECT t::text FROM {t} t")
        for row in rows:
            assert key not in "|".join(row), f"the API key is stored in table {t}: {row}"
            assert key[4:] not in "|".join(row), f"the API key body is stored in {t}"


@pytest.mark.parametrize("name", [
    "ab", "a" * 39, "0bot", "a-b_c", "9-9", "x" + "_" * 38,
])
def test_valid_names(d, name):
    # the module's database is fresh: these exact names are only used here
    r = d.register(name)
    data = assert_ok(r, 201)
    assert data["name"] == name


@pytest.mark.parametrize("name", [
    "", "a", "Bob", "-bob", "_bob", "bob smith", "bob/x", "a" * 40, "bób", "bob\n",
    "bob.dev", "BOB", " bob", "bob\u0000x", "../etc", "ab\u200b",
])
def test_invalid_names(d, name):
    err = assert_error(d.register(name), 400, "invalid_field")
    assert "name" in err["message"], err
    assert d.psql("SELECT count(*) FROM agents WHERE name = " +
                  "'" + name.replace("'", "''").replace("\u0000", "") + "'") == [["0"]]


@pytest.mark.parametrize("value", [123, None, True, ["ab"], {"n": "ab"}, 1.5])
def test_name_of_wrong_type(d, value):
    r = d.post("/api/v1/agents", json={"name": value, "description": "x"})
    assert_error(r, 400, "invalid_field")


def test_name_missing(d):
    assert_error(d.post("/api/v1/agents", json={"description": "no name"}), 400,
                 "invalid_field")


def test_unknown_field(d):
    name = unique_name()
    r = d.post("/api/v1/agents", json={"name": name, "colour": "blue"})
    err = assert_error(r, 400, "invalid_field")
    assert "colour" in err["message"], err
    assert d.psql(f"SELECT count(*) FROM agents WHERE name = '{name}'") == [["0"]]


@pytest.mark.parametrize("field,length", [("description", 1001), ("contact", 201)])
def test_overlong_fields(d, field, length):
    r = d.register(unique_name(), **{field: "x" * length})
    err = assert_error(r, 400, "invalid_field")
    assert field in err["message"]


def test_duplicate_name(d):
    name = unique_name()
    assert_ok(d.register(name), 201)
    err = assert_error(d.register(name), 409, "name_taken")
    assert name in err["message"], err
    assert d.psql(f"SELECT count(*) FROM agents WHERE name = '{name}'") == [["1"]]


def test_concurrent_duplicate_registration(d):
    name = unique_name()
    results = []
    lock = threading.Lock()

    def go():
        # raw socket: one connection per thread, no shared session
        body = json.dumps({"name": name}).encode()
        st, _, resp = raw_http(d.port, b"POST /api/v1/agents HTTP/1.1\r\n"
                               b"Host: x\r\nContent-Type: application/json\r\n"
                               b"Connection: close\r\nContent-Length: " +
                               str(len(body)).encode() + b"\r\n\r\n" + body)
        try:
            key = json.loads(resp).get("data", {}).get("api_key")
            d.add_secret(key)
        except ValueError:
            pass
        with lock:
            results.append(st)

    threads = [threading.Thread(target=go) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert sorted(results) == [201] + [409] * 7, results
    assert d.psql(f"SELECT count(*) FROM agents WHERE name = '{name}'") == [["1"]]


# ---------------------------------------------------------------- transitions

def test_approve_by_name_and_by_id(d):
    a, key = d.new_agent()
    data = assert_ok(d.admin_post(f"/api/v1/admin/agents/{a['name']}/approve"))
    assert data["status"] == "active" and data["id"] == a["id"] and data["name"] == a["name"]
    assert "api_key" not in data
    me = assert_ok(d.get("/api/v1/me", headers=d.agent_headers(key)))
    assert me["status"] == "active"
    b, _ = d.new_agent()
    data = assert_ok(d.admin_post(f"/api/v1/admin/agents/{b['id']}/approve"))
    assert data["status"] == "active" and data["name"] == b["name"]
    assert d.psql(f"SELECT status FROM agents WHERE id = '{b['id']}'") == [["active"]]


def test_concurrent_approvals(d):
    a, _ = d.new_agent()
    results = []

    def go():
        st, _, _ = raw_http(d.port, f"POST /api/v1/admin/agents/{a['id']}/approve HTTP/1.1\r\n"
                            f"Host: x\r\nAuthorization: Bearer {d.token}\r\n"
                            "Connection: close\r\nContent-Length: 0\r\n\r\n".encode())
        results.append(st)

    threads = [threading.Thread(target=go) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert sorted(results) == [200] + [422] * 5, results
    rows = d.psql(f"SELECT count(*) FROM audit_log WHERE action = 'agent.approve' "
                  f"AND target_id IN ('{a['id']}', '{a['name']}')")
    assert rows == [["1"]], "one approval, one audit entry"


def test_approve_active_is_invalid_transition(d):
    a, _ = d.new_agent(status="active")
    assert_error(d.admin_post(f"/api/v1/admin/agents/{a['name']}/approve"), 422,
                 "invalid_transition")
    assert d.psql(f"SELECT status FROM agents WHERE id = '{a['id']}'") == [["active"]]


def test_suspend_and_reinstate(d):
    a, key = d.new_agent(status="active")
    data = assert_ok(d.admin_post(f"/api/v1/admin/agents/{a['id']}/suspend"))
    assert data["status"] == "suspended"
    assert_error(d.get("/api/v1/me", headers=d.agent_headers(key)), 403, "agent_suspended")
    assert_error(d.admin_post(f"/api/v1/admin/agents/{a['name']}/suspend"), 422,
                 "invalid_transition")
    data = assert_ok(d.admin_post(f"/api/v1/admin/agents/{a['name']}/approve"))
    assert data["status"] == "active"
    me = assert_ok(d.get("/api/v1/me", headers=d.agent_headers(key)))
    assert me["status"] == "active"


def test_suspend_pending(d):
    a, key = d.new_agent()
    data = assert_ok(d.admin_post(f"/api/v1/admin/agents/{a['name']}/suspend"))
    assert data["status"] == "suspended"
    assert_error(d.get("/api/v1/me", headers=d.agent_headers(key)), 403, "agent_suspended")


@pytest.mark.parametrize("action", ["approve", "suspend"])
@pytest.mark.parametrize("ref", ["nobody-here", "00000000-0000-4000-8000-000000000000",
                                 "5f8c1c8e-3b1a-4d6e-9c2b-7a1e0f9d4c3b"])
def test_unknown_agent(d, action, ref):
    assert_error(d.admin_post(f"/api/v1/admin/agents/{ref}/{action}"), 404, "not_found")


@pytest.mark.parametrize("ref", [
    "not-a-uuid-at-all-but-long-enough-x", "12345678-1234-1234-1234-12345678901Z",
    "12345678-1234-1234-1234-1234567890123", "%27%3B--", "a%00b", "%ff%fe", "x" * 300,
    "%E2%80%AE", "-", "0", "NULL", "%20", "Robert%27);DROP%20TABLE%20agents;--",
    "12345678123412341234123456789012", "{00000000-0000-0000-0000-000000000000}",
])
def test_malformed_refs_never_500(d, ref):
    for action in ("approve", "suspend"):
        r = d.admin_post(f"/api/v1/admin/agents/{ref}/{action}")
        assert r.status_code in (400, 404), (ref, r.status_code, r.text)
        assert_error(r, r.status_code)
    assert d.psql("SELECT to_regclass('public.agents') IS NOT NULL") == [["t"]]


def test_id_wins_over_a_name_that_looks_like_it(d):
    """An agent named after another agent's id cannot hijack admin actions on it."""
    victim, _ = d.new_agent()
    r = d.register(victim["id"])
    if r.status_code == 400:
        assert_error(r, 400, "invalid_field")
        return
    impostor = assert_ok(r, 201)
    data = assert_ok(d.admin_post(f"/api/v1/admin/agents/{victim['id']}/suspend"))
    assert data["id"] == victim["id"] and data["name"] == victim["name"]
    assert d.psql(f"SELECT status FROM agents WHERE id = '{impostor['id']}'") == [["pending"]]


def test_uuid_shaped_name_is_refused_or_addressable(d):
    """A name that looks like a uuid (but is nobody's id) is either refused at
    registration or can be approved by that name: never an agent that exists
    and that the admin API calls unknown."""
    name = str(uuid.uuid4())
    r = d.register(name)
    if r.status_code == 400:
        assert_error(r, 400, "invalid_field")
        return
    assert_ok(r, 201)
    data = assert_ok(d.admin_post(f"/api/v1/admin/agents/{name}/approve"))
    assert data["name"] == name and data["status"] == "active"


def test_transitions_need_admin(d):
    a, key = d.new_agent()
    for hdrs in ({}, {"Authorization": "Bearer wrong"}):
        assert_error(d.post(f"/api/v1/admin/agents/{a['id']}/approve", headers=hdrs),
                     401, "unauthorized")
    # A known agent, even a pending one, is told the route is not its own.
    assert_error(d.post(f"/api/v1/admin/agents/{a['id']}/approve",
                        headers=d.agent_headers(key)), 403, "forbidden")
    assert d.psql(f"SELECT status FROM agents WHERE id = '{a['id']}'") == [["pending"]]


# ---------------------------------------------------------------- listing

def test_list_agents_and_filter(d):
    p, _ = d.new_agent(status="pending")
    a, _ = d.new_agent(status="active")
    s, _ = d.new_agent(status="suspended")
    everyone = list_agents(d)
    by_id = {x["id"]: x for x in everyone}
    for agent, status in ((p, "pending"), (a, "active"), (s, "suspended")):
        row = by_id.get(agent["id"])
        assert row is not None, f"{agent['name']} missing from the list"
        assert set(row) >= {"id", "name", "description", "contact", "status", "elo",
                            "created_at"}, row
        assert row["status"] == status and row["name"] == agent["name"]
        assert row["elo"] == 1200
        assert row["description"] == "an integration-test agent"
        assert row["contact"] == "tests@example.invalid"
        assert not any("key" in k for k in row), f"key material in the list: {row}"
    total = int(d.psql("SELECT count(*) FROM agents")[0][0])
    assert len(everyone) == total
    for status, agent in (("pending", p), ("active", a), ("suspended", s)):
        rows = list_agents(d, status)
        assert rows, status
        assert all(x["status"] == status for x in rows), rows
        assert agent["id"] in {x["id"] for x in rows}
        n = int(d.psql(f"SELECT count(*) FROM agents WHERE status = '{status}'")[0][0])
        assert len(rows) == n


def test_list_bad_status_filter(d):
    r = d.admin_get("/api/v1/admin/agents?status=bogus")
    assert_error(r, 400, ("invalid_field", "bad_request"))
    r = d.admin_get("/api/v1/admin/agents?status=" + urllib.parse.quote("pending' OR '1'='1"))
    assert_error(r, 400, ("invalid_field", "bad_request"))


def test_list_needs_admin(d):
    _, key = d.new_agent(status="active")
    assert_error(d.get("/api/v1/admin/agents"), 401, "unauthorized")
    assert_error(d.get("/api/v1/admin/agents", headers=d.agent_headers(key)), 403,
                 "forbidden")


# ---------------------------------------------------------------- audit

def test_audit_trail_of_an_agent(d):
    a, _ = d.new_agent()
    assert_ok(d.admin_post(f"/api/v1/admin/agents/{a['id']}/approve"))
    assert_ok(d.admin_post(f"/api/v1/admin/agents/{a['id']}/suspend"))
    entries = audit(d, limit=100)
    for e in entries:
        assert set(e) >= {"at", "actor_kind", "actor", "action", "target_kind", "target_id",
                          "detail"}, e
    mine = [e for e in entries if e["target_id"] in (a["id"], a["name"])]
    # The suspension, then its Gitea step (the agent's user blocked).
    assert [e["action"] for e in mine] == ["agent.gitea_block", "agent.suspend",
                                           "agent.approve", "agent.register"], mine
    assert [e["actor_kind"] for e in mine] == ["admin", "admin", "admin", "agent"], mine
    assert mine[3]["actor"], mine[3]
    assert all(e["target_kind"] == "agent" for e in mine), mine
    blob = json.dumps(entries)
    assert d.token not in blob and d.token not in str(d.psql("SELECT a::text FROM audit_log a"))
    ats = [e["at"] for e in entries]
    assert ats == sorted(ats, reverse=True), "audit entries are not newest first"


def test_audit_limit(d):
    for _ in range(3):
        d.new_agent()
    e2 = audit(d, limit=2)
    assert len(e2) == 2
    e5 = audit(d, limit=5)
    assert len(e5) == 5
    assert e5[:2] == e2
    assert e2[0]["action"] == "agent.register"


def test_audit_rows_match_database(d):
    a, _ = d.new_agent(status="active")
    rows = d.psql(f"SELECT action, actor_kind FROM audit_log WHERE target_id IN "
                  f"('{a['id']}', '{a['name']}') ORDER BY at")
    assert rows == [["agent.register", "agent"], ["agent.approve", "admin"]]


@pytest.mark.parametrize("limit", ["abc", "-1", "1e9", "99999999999999999999", "", "%00"])
def test_audit_bad_limit_never_500(d, limit):
    r = d.admin_get("/api/v1/admin/audit?limit=" + limit)
    if r.status_code == 200:
        assert_ok(r)
    else:
        assert_error(r, 400)


def test_audit_needs_admin(d):
    assert_error(d.get("/api/v1/admin/audit"), 401, "unauthorized")


def test_failed_registration_writes_nothing(d):
    before = d.psql("SELECT count(*) FROM audit_log")[0][0]
    assert_error(d.register("Not Valid"), 400, "invalid_field")
    assert d.psql("SELECT count(*) FROM audit_log")[0][0] == before


# ---------------------------------------------------------------- rate limit

def _raw_register(port, name, source=None, extra=b""):
    body = json.dumps({"name": name}).encode()
    return raw_http(port, b"POST /api/v1/agents HTTP/1.1\r\nHost: x\r\n"
                    b"Content-Type: application/json\r\nConnection: close\r\n" + extra +
                    b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body,
                    source=source)


def test_rate_limit_per_address(daemon):
    rl = daemon(conf={"limits.register_per_hour": 3})
    for _ in range(3):
        assert_ok(rl.register(), 201)
    name = unique_name()
    r = rl.register(name)
    assert_error(r, 429, "rate_limited")
    ra = r.headers.get("Retry-After")
    assert ra is not None and ra.isdigit(), f"Retry-After {ra!r}"
    assert 0 < int(ra) <= 3600
    assert rl.psql(f"SELECT count(*) FROM agents WHERE name = '{name}'") == [["0"]]
    # a forwarded-for header from the same peer does not buy a new window
    st, hdrs, body = _raw_register(rl.port, unique_name(),
                                   extra=b"X-Forwarded-For: 203.0.113.7\r\n"
                                         b"X-Real-IP: 203.0.113.7\r\n")
    assert st == 429, (st, body)
    # another client address has its own window
    st, hdrs, body = _raw_register(rl.port, unique_name(), source="127.0.0.2")
    try:
        rl.add_secret(json.loads(body)["data"]["api_key"])
    except (ValueError, KeyError, TypeError):
        pass
    assert st == 201, (st, body)
