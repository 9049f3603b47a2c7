"""The REST form of the agent commands (issue 5) and the OpenAPI document
of /api/v1 that the daemon serves.

Every REST route calls the core function its command calls: the tests do
an action both ways and compare the answers (the whole answer where the
action can be repeated, the data's shape and values otherwise), and the
errors likewise.  The document is checked against itself, against the
route table in daemon/routes.c (both ways) and against the daemon; every
REST answer these tests get must have a status the document lists for
its operation and the Answer or Error shape it describes.

The Gitea of these tests is test_work.py's (work_seed): acme/widgets with
issues #1, #2, #4 open and #3 closed, and pull request #5.
"""

import json
import re

import jsonschema
import pytest

from conftest import REPO, assert_error, assert_ok
from test_review import (author_with_a_claim, branches, gitea_pulls, number_of,
                         pull_row, reviewer)
from test_work import (CLOSED, PR, TITLES, W, act, check_feed, holder, member, ok,
                       start_world, wait_assignees)
# The fixtures are test_work's: its seed, a read-only world, a world per test.
from test_work import ro, ro_emu, world  # noqa: F401

DOC_PATH = REPO / "docs" / "openapi.json"
ROUTES_C = REPO / "daemon" / "routes.c"
DOC = json.loads(DOC_PATH.read_text())
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
OWNER, NAME = W.split("/")
NO_NAME = "acme/nothing"


# -- the document and the route table ---------------------------------------------

def doc_operations(doc=DOC):
    """{(METHOD, path template): operation}"""
    return {(m.upper(), path): op for path, item in doc["paths"].items()
            for m, op in item.items() if m in METHODS}


def route_table():
    """[(method, pattern, auth)] of daemon/routes.c's table."""
    text = ROUTES_C.read_text()
    out = []
    for chunk in re.split(r"(?=\.method\s*=)", text)[1:]:
        m = re.match(r'\.method\s*=\s*"(\w+)"', chunk)
        p = re.search(r'\.pattern\s*=\s*"([^"]+)"', chunk)
        a = re.search(r"\.auth\s*=\s*(AUTH_\w+)", chunk)
        assert m and p and a, f"cannot read this entry of routes.c: {chunk[:200]}"
        out.append((m.group(1), p.group(1), a.group(1)))
    assert len(out) >= 10, out
    return out


def template_regex(template):
    return re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$")


OPS = doc_operations()
OP_RX = [(method, template_regex(path), op) for (method, path), op in OPS.items()]
SCHEMAS = DOC["components"]["schemas"]


def documented(method, path):
    """The document's operation for a request (path without its query)."""
    for m, rx, op in OP_RX:
        if m == method and rx.match(path):
            return op
    return None


def check_documented(method, path, r):
    """The answer's status is one the document lists for the operation,
    and its body has the shape it gives."""
    op = documented(method, path.split("?")[0])
    assert op is not None, f"{method} {path} is not in docs/openapi.json"
    assert str(r.status_code) in op["responses"], \
        f"{method} {path} answered {r.status_code}, which docs/openapi.json does not list" \
        f" for {op['operationId']} ({sorted(op['responses'])}): {r.text[:300]}"
    if op["operationId"] == "openapi":
        return
    name = "Answer" if r.status_code < 400 else "Error"
    jsonschema.Draft4Validator(SCHEMAS[name]).validate(r.json())
    if r.status_code == 429:
        assert r.headers.get("Retry-After", "").isdigit(), r.headers


def rest(d, method, path, key=None, **kw):
    """A REST request as the agent with key (None: no credentials)."""
    headers = kw.pop("headers", {})
    if key is not None:
        headers.update(d.agent_headers(key))
    r = d.request(method, path, headers=headers, **kw)
    check_documented(method, path, r)
    return r


def rest_ok(d, method, path, key, **kw):
    r = rest(d, method, path, key, **kw)
    assert_ok(r)
    return r.json()


def same_error(r_rest, r_act, status, code):
    """The REST answer and the command's are the same error."""
    err = assert_error(r_rest, status, code)
    assert_error(r_act, status, code)
    assert r_rest.json() == r_act.json(), (r_rest.json(), r_act.json())
    return err


def count(d, sql):
    return int(d.psql(sql)[0][0])


def proj(*rest_of_path):
    return "/".join((f"/api/v1/projects/{OWNER}/{NAME}",) + tuple(str(x) for x in rest_of_path))


# -- the OpenAPI document ------------------------------------------------------------

def test_the_daemon_serves_the_document_as_it_is_in_docs(ro):
    r = ro.get("/api/v1/openapi.json")     # no credentials needed
    assert r.status_code == 200, r.text[:300]
    assert r.headers["Content-Type"].startswith("application/json"), r.headers
    assert r.content == DOC_PATH.read_bytes(), "the served document differs from docs/openapi.json"
    assert r.json() == DOC
    # With credentials too, and not cached stale.
    _, key = ro.new_agent(status="active")
    r = rest(ro, "GET", "/api/v1/openapi.json", key)
    assert r.status_code == 200 and r.json() == DOC


def resolve(doc, ref):
    assert ref.startswith("#/"), f"only local references: {ref}"
    node = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"{ref} does not resolve"
        node = node[part]
    return node


def walk(node, fn, where="#"):
    fn(node, where)
    if isinstance(node, dict):
        for k, v in node.items():
            walk(v, fn, f"{where}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            walk(v, fn, f"{where}/{i}")


def deref(doc, node):
    while isinstance(node, dict) and "$ref" in node:
        node = resolve(doc, node["$ref"])
    return node


def json_schema(s):
    """An OpenAPI 3.0 schema object as Draft 4 JSON Schema (no nullable)."""
    if isinstance(s, dict):
        out = {k: json_schema(v) for k, v in s.items() if k != "nullable"}
        if s.get("nullable") and "type" in s:
            out["type"] = [s["type"], "null"]
            if "enum" in s:
                out["enum"] = s["enum"] + [None]
        return out
    if isinstance(s, list):
        return [json_schema(x) for x in s]
    return s


def test_the_document_is_a_valid_openapi_3_document():
    """Debian 12 has no OpenAPI validator: the rules of OpenAPI 3.0.3 that
    matter here, checked by hand."""
    doc = DOC
    assert re.fullmatch(r"3\.0\.\d+", doc["openapi"]), doc["openapi"]
    assert set(doc) <= {"openapi", "info", "servers", "paths", "components", "security",
                        "tags", "externalDocs"}, sorted(doc)
    assert doc["info"]["title"] and doc["info"]["version"], doc["info"]
    # Every reference resolves.
    refs = []
    walk(doc, lambda n, w: refs.append((w, n["$ref"])) if isinstance(n, dict) and "$ref" in n
         else None)
    assert refs
    for where, ref in refs:
        assert resolve(doc, ref) is not None, where
    schemes = doc["components"]["securitySchemes"]
    assert set(schemes) == {"agentKey", "adminToken", "sponsorToken"}, schemes
    for s in schemes.values():
        assert s["type"] == "http" and s["scheme"] == "bearer", s
    tags = {t["name"] for t in doc.get("tags", [])}
    ids = set()
    for path, item in doc["paths"].items():
        assert path.startswith("/api/v1/"), path
        names = re.findall(r"\{([^}/]+)\}", path)
        assert len(names) == len(set(names)), path
        assert set(item) <= set(METHODS) | {"parameters", "summary", "description"}, item.keys()
        for method, op in item.items():
            if method not in METHODS:
                continue
            where = f"{method.upper()} {path}"
            assert op.get("operationId") and op["operationId"] not in ids, where
            ids.add(op["operationId"])
            assert op.get("summary"), where
            assert set(op.get("tags", [])) <= tags, where
            # Path parameters: exactly those of the template, required.
            params = [deref(doc, p) for p in op.get("parameters", []) + item.get("parameters", [])]
            for p in params:
                assert p["in"] in ("path", "query", "header", "cookie") and p["name"], (where, p)
                assert "schema" in p or "content" in p, (where, p)
                jsonschema.Draft4Validator.check_schema(json_schema(p["schema"]))
            in_path = [p["name"] for p in params if p["in"] == "path"]
            assert sorted(in_path) == sorted(names), (where, in_path, names)
            assert all(p["required"] is True for p in params if p["in"] == "path"), where
            assert len({(p["in"], p["name"]) for p in params}) == len(params), where
            for req in op.get("security", doc.get("security", [])):
                assert set(req) <= set(schemes), (where, req)
            if "requestBody" in op:
                body = deref(doc, op["requestBody"])
                assert method in ("post", "put", "patch"), where
                s = body["content"]["application/json"]["schema"]
                jsonschema.Draft4Validator.check_schema(json_schema(deref(doc, s)))
            responses = op["responses"]
            assert responses, where
            for status, resp in responses.items():
                assert re.fullmatch(r"[1-5]\d\d|[1-5]XX|default", status), (where, status)
                resp = deref(doc, resp)
                assert resp.get("description"), (where, status)
                for media in resp.get("content", {}).values():
                    s = deref(doc, media["schema"])
                    jsonschema.Draft4Validator.check_schema(json_schema(s))
    for name, s in doc["components"]["schemas"].items():
        jsonschema.Draft4Validator.check_schema(json_schema(s))


def test_the_document_describes_the_answers_as_the_daemon_writes_them():
    """Answer and Error: the shapes of json_ok() and err_to_json()."""
    a = jsonschema.Draft4Validator(SCHEMAS["Answer"])
    a.validate({"ok": True, "text": "t", "data": {}})
    a.validate({"ok": True, "text": "t", "data": {"x": 1}, "next": ["feed"]})
    for bad in ({"ok": False, "text": "t", "data": {}}, {"ok": True, "data": {}},
                {"ok": True, "text": "t", "data": {}, "extra": 1}):
        assert not a.is_valid(bad), bad
    e = jsonschema.Draft4Validator(SCHEMAS["Error"])
    e.validate({"ok": False, "error": {"code": "not_found", "message": "m", "hint": ""}})
    for bad in ({"ok": False, "error": {"code": "x", "message": "m"}},
                {"ok": True, "error": {"code": "x", "message": "m", "hint": "h"}}):
        assert not e.is_valid(bad), bad
    # Every error status the spec names, with Retry-After on 429.
    statuses = {s for op in OPS.values() for s in op["responses"]}
    assert {"400", "401", "403", "404", "409", "422", "429", "502", "503"} <= statuses
    rl = resolve(DOC, "#/components/responses/RateLimited")
    assert "Retry-After" in rl["headers"], rl


def test_the_document_and_the_route_table_agree():
    table = [(m, p, a) for m, p, a in route_table() if p.startswith("/api/v1/")]
    routed = {(m, p) for m, p, _ in table}
    assert len(routed) == len(table), "a route is in routes.c twice"
    missing = sorted(routed - set(OPS))
    extra = sorted(set(OPS) - routed)
    assert not missing, f"routes of daemon/routes.c not in docs/openapi.json: {missing}"
    assert not extra, f"operations of docs/openapi.json that no route serves: {extra}"
    want = {"AUTH_NONE": [], "AUTH_AGENT": [{"agentKey": []}],
            "AUTH_ADMIN": [{"adminToken": []}],
            "AUTH_SPONSOR": [{"adminToken": []}, {"sponsorToken": []}]}
    for m, p, auth in table:
        op = OPS[(m, p)]
        assert op.get("security", DOC.get("security", [])) == want[auth], \
            f"{m} {p} is {auth} in routes.c, but its security is {op.get('security')}"
        if auth != "AUTH_NONE":
            assert "401" in op["responses"], (m, p)


def dummy_path(template):
    values = {"owner": OWNER, "repo": NAME, "number": "1", "ref": "nobody"}
    return re.sub(r"\{([^}/]+)\}", lambda m: values.get(m.group(1), "x"), template)


def test_every_documented_operation_is_routed(ro):
    """A real request for each: never the daemon's own "no route" 404 nor
    a 405, and a status the document lists."""
    for (method, template), op in sorted(OPS.items()):
        path = dummy_path(template)
        r = ro.request(method, path)
        if r.status_code == 404:
            assert not r.json()["error"]["message"].startswith("no route"), (method, path)
        assert r.status_code != 405, (method, path, r.text)
        check_documented(method, path, r)


def agent_operations():
    return sorted((m, p) for (m, p), op in OPS.items() if op.get("security") == [{"agentKey": []}])


def test_agent_routes_want_an_active_agents_key(ro):
    _, pending = ro.new_agent()
    _, suspended = ro.new_agent(status="suspended")
    ops = agent_operations()
    assert len(ops) >= 15, ops
    for method, template in ops:
        path = dummy_path(template)
        r = rest(ro, method, path)
        assert_error(r, 401, "unauthorized")
        assert r.headers.get("WWW-Authenticate", "").startswith("Bearer"), r.headers
        assert_error(rest(ro, method, path, "ssk_" + "x" * 43), 401, "unauthorized")
        assert_error(rest(ro, method, path, pending), 403, "waiting_for_approval")
        assert_error(rest(ro, method, path, suspended), 403, "agent_suspended")


# -- read-only routes: the same answers as the commands ------------------------------

def test_reading_routes_answer_as_the_commands(ro):
    a, key = member(ro)
    pairs = [
        ("/api/v1/my-work", "my-work"),
        ("/api/v1/help", "help"),
        ("/api/v1/help?command=work-on", "help work-on"),
        ("/api/v1/help?command=claim", "help claim"),
        (proj(), f"details {W}"),
        (proj("issues", 1), f"details {W}#1"),
        (proj("issues", CLOSED), f"details {W}#{CLOSED}"),
        (proj("issues", PR), f"details {W}#{PR}"),      # one series of numbers
        (proj("pulls", PR), f"pr {W}#{PR}"),
        (proj("issues", "0001"), f"details {W}#1"),
    ]
    for path, command in pairs:
        got = rest_ok(ro, "GET", path, key)
        assert got == act(ro, key, command).json(), (path, command)
    # The project's name as Gitea spells it, whatever the path's case.
    got = rest_ok(ro, "GET", f"/api/v1/projects/{OWNER.upper()}/{NAME}", key)
    assert got == act(ro, key, f"details {W}").json()
    assert got["data"]["ref"] == W, got


def test_the_feed_answers_as_the_command_and_numbers_alike(ro):
    a, key = member(ro)
    by_act = act(ro, key, "feed").json()
    by_rest = rest_ok(ro, "GET", "/api/v1/feed", key)
    assert by_rest == by_act
    data = check_feed(by_rest)
    assert [it["ref"] for it in data["items"] if it["section"] == "open_issues"] == \
        [f"{W}#{n}" for n in (1, 2, 4)], data
    # The REST feed's numbers are the ones the next command reads.
    n = next(it["n"] for it in data["items"] if it["ref"] == f"{W}#2")
    assert ok(ro, key, f"details {n}")["ref"] == f"{W}#2"


def test_help_of_an_unknown_command(ro):
    _, key = ro.new_agent(status="active")
    same_error(rest(ro, "GET", "/api/v1/help?command=frobnicate", key),
               act(ro, key, "help frobnicate"), 400, "unknown_command")
    for bad in ("", "x" * 33, "w%C3%A9rk", "a%0Ab"):
        assert_error(rest(ro, "GET", f"/api/v1/help?command={bad}", key), 400,
                     ("invalid_field", "unknown_command"))


def test_leaderboard(ro):
    a, key = ro.new_agent(status="active")
    data = rest_ok(ro, "GET", "/api/v1/leaderboard", key)["data"]
    agents = data["agents"]
    assert isinstance(agents, list) and 1 <= len(agents) <= 20, data
    for row in agents:
        assert {"rank", "name", "elo"} <= set(row), row
    elos = [row["elo"] for row in agents]
    assert elos == sorted(elos, reverse=True), agents
    more = [ro.new_agent(status="active") for _ in range(2)]
    assert len(rest_ok(ro, "GET", "/api/v1/leaderboard?limit=1", key)["data"]["agents"]) == 1
    assert len(rest_ok(ro, "GET", "/api/v1/leaderboard?limit=100", key)["data"]["agents"]) \
        >= 1 + len(more)
    for bad in ("0", "101", "-1", "x", "", "1.5", "020x", "1e2", "99999999999999999999"):
        err = assert_error(rest(ro, "GET", f"/api/v1/leaderboard?limit={bad}", key),
                           400, "invalid_field")
        assert "limit" in err["message"], err


# -- bad requests ------------------------------------------------------------------

@pytest.mark.parametrize("method,suffix", [
    ("GET", ""), ("POST", "/claim"),
])
@pytest.mark.parametrize("number", ["12x", "0", "-1", "1.0", "0x10", "1e3", "100000001",
                                    "0000000001", "%20", "%C3%A9"])
def test_bad_issue_numbers_are_bad_requests(ro, method, suffix, number):
    _, key = member(ro)
    err = assert_error(rest(ro, method, proj("issues", number) + suffix, key),
                       400, "bad_request")
    assert "number" in err["message"], err
    if number.isascii() and "%" not in number:
        assert f"'{number}'" in err["message"], err
    assert holder(ro, 1) == ""


@pytest.mark.parametrize("path,named", [
    ("/api/v1/projects/ac%20me/widgets", "owner 'ac me'"),
    ("/api/v1/projects/acme/wid!gets/join", "repository 'wid!gets'"),
    ("/api/v1/projects/" + "a" * 101 + "/widgets/issues/1", "owner"),
    ("/api/v1/projects/acme/" + "w" * 101 + "/pulls/5", "repository"),
    ("/api/v1/projects/%C3%A9/widgets/pulls/5/merge", "owner '(not printable)'"),
    ("/api/v1/projects/acme/wid%0Agets/pulls/5/reviews", "repository '(not printable)'"),
    ("/api/v1/projects/ac%23me/widgets/issues/1/claim", "owner 'ac#me'"),
    ("/api/v1/projects/acme/widgets/pulls/5x/merge", "number '5x'"),
    ("/api/v1/projects/acme/widgets/pulls/0/reviews", "number '0'"),
])
def test_bad_path_parameters_are_named(ro, path, named):
    _, key = member(ro)
    method = "GET" if path.endswith(("widgets", "/1", "/5")) else "POST"
    kw = {"json": {"verdict": "comment", "comment": "x"}} if path.endswith("reviews") else {}
    err = assert_error(rest(ro, method, path, key, **kw), 400, "bad_request")
    assert named in err["message"], err


def test_bad_bodies_of_submit_and_review(ro):
    a, key = member(ro)
    reviews = proj("pulls", PR, "reviews")
    for path, bodies in (
        ("/api/v1/pulls", [
            ({"branch": "fix", "base": "main"}, "base"),
            ({"branch": 7}, "branch"),
            ({"branch": None}, "branch"),
            ({}, "branch"),
            ({"branch": "b" * 256}, "branch"),
            ({"branch": "fix", "title": "t" * 256}, "title"),
            ({"branch": "fix", "title": ["t"]}, "title"),
            ({"branch": "fix\u0001"}, "branch"),
            ([{"branch": "fix"}], "object"),
        ]),
        (reviews, [
            ({"verdict": "lgtm"}, "verdict"),
            ({"verdict": "request_changes", "comment": "x"}, "verdict"),
            ({}, "verdict"),
            ({"verdict": "comment", "comment": 3}, "comment"),
            ({"verdict": "comment", "comment": "c" * 4097}, "comment"),
            ({"verdict": "approve", "score": 5}, "score"),
        ]),
    ):
        for body, named in bodies:
            err = assert_error(rest(ro, "POST", path, key, json=body), 400, "invalid_field")
            assert named in err["message"], (body, err)
        h = {"Content-Type": "application/json"}
        for raw, code in ((b"{", "malformed_json"), (b"{'branch': 'x'}", "malformed_json"),
                          (b"", "malformed_json"), (b'{"branch":"x"} x', "malformed_json")):
            assert_error(rest(ro, "POST", path, key, data=raw, headers=dict(h)), 400, code)
        assert_error(rest(ro, "POST", path, key, data=b'{"branch":"x"}',
                          headers={"Content-Type": "text/plain"}), 415,
                     "unsupported_media_type")
    assert count(ro, "SELECT count(*) FROM review_events"
                     f" WHERE reviewer_id = '{a['id']}'") == 0
    # Good bodies reach the core, which says what the command says.
    same_error(rest(ro, "POST", "/api/v1/pulls", key, json={"branch": "fix-grid"}),
               act(ro, key, "submit fix-grid"), 422, "nothing_claimed")
    same_error(rest(ro, "POST", "/api/v1/pulls", key, json={"branch": "a..b"}),
               act(ro, key, "submit a..b"), 400, "bad_request")
    same_error(rest(ro, "POST", reviews, key, json={"verdict": "request-changes"}),
               act(ro, key, f"review request-changes {W}#{PR}"), 400, "bad_request")


def test_errors_are_the_commands_errors(ro):
    _, outsider = ro.new_agent(status="active")
    _, key = member(ro)
    for who, method, path, command, status, code in (
        (outsider, "POST", proj("issues", 1, "claim"), f"work-on {W}#1", 422, "not_a_member"),
        (key, "GET", f"/api/v1/projects/{NO_NAME}", f"details {NO_NAME}", 404, "not_found"),
        (key, "POST", f"/api/v1/projects/{NO_NAME}/join", f"join {NO_NAME}", 404, "not_found"),
        (key, "GET", proj("issues", 99), f"details {W}#99", 404, "not_found"),
        (key, "POST", proj("issues", 99, "claim"), f"work-on {W}#99", 404, "not_found"),
        (key, "POST", proj("issues", CLOSED, "claim"), f"work-on {W}#{CLOSED}", 422,
         "issue_closed"),
        (key, "POST", proj("issues", PR, "claim"), f"work-on {W}#{PR}", 400, "bad_request"),
        (key, "GET", proj("pulls", 1), f"pr {W}#1", 400, "bad_request"),
        (key, "GET", proj("pulls", 99), f"pr {W}#99", 404, "not_found"),
        (key, "POST", proj("pulls", 1, "merge"), f"merge {W}#1", 400, "bad_request"),
        (key, "POST", proj("pulls", PR, "merge"), f"merge {W}#{PR}", 403, "forbidden"),
        (key, "DELETE", "/api/v1/claims", "abandon", 422, "nothing_claimed"),
        (outsider, "POST", proj("pulls", PR, "reviews"), f"review comment {W}#{PR} hi", 422,
         "not_a_member"),
    ):
        kw = {"json": {"verdict": "comment", "comment": "hi"}} if path.endswith("reviews") else {}
        same_error(rest(ro, method, path, who, **kw), act(ro, who, command), status, code)
    assert holder(ro, 1) == ""


# -- the work loop, by REST and by command --------------------------------------------

def test_join_claim_and_abandon_answer_as_the_commands(world):
    emu, d = world
    a, akey = d.new_agent(status="active")
    b, bkey = d.new_agent(status="active")
    # join: a by REST, b by command; again each the other way.
    ja = rest_ok(d, "POST", proj("join"), akey)
    jb = act(d, bkey, f"join {W}").json()
    assert ja["data"] == jb["data"] and ja["data"]["member"] is True, (ja, jb)
    assert ja["data"]["project"] == W, ja
    assert act(d, akey, f"join {W}").json()["data"] == ja["data"]
    assert rest_ok(d, "POST", proj("join"), bkey)["data"] == jb["data"]
    # work-on: a by REST; the command again gives the same whole answer.
    ca = rest_ok(d, "POST", proj("issues", 1, "claim"), akey)
    assert ca["data"]["issue"]["ref"] == f"{W}#1", ca
    assert ca["data"]["issue"]["title"] == TITLES[1], ca
    assert act(d, akey, f"work-on {W}#1").json() == ca
    assert rest_ok(d, "POST", proj("issues", 1, "claim"), akey) == ca
    assert holder(d, 1) == a["id"]
    cb = act(d, bkey, f"work-on {W}#2").json()
    assert set(cb["data"]) == set(ca["data"]) and cb["data"]["issue"]["ref"] == f"{W}#2", cb
    wait_assignees(emu, 1, [a["name"]])
    # Taken, and over the limit: the same errors both ways.
    err = same_error(rest(d, "POST", proj("issues", 1, "claim"), bkey),
                     act(d, bkey, f"work-on {W}#1"), 409, "issue_taken")
    assert a["name"] in err["message"], err
    same_error(rest(d, "POST", proj("issues", 4, "claim"), akey),
               act(d, akey, f"work-on {W}#4"), 409, "claim_limit")
    # my-work and the feed show the claim alike.
    assert rest_ok(d, "GET", "/api/v1/my-work", akey) == act(d, akey, "my-work").json()
    assert rest_ok(d, "GET", "/api/v1/feed", akey) == act(d, akey, "feed").json()
    # abandon: a by REST, b by command.
    ra = rest_ok(d, "DELETE", "/api/v1/claims", akey)
    assert ra["data"] == {"released": [f"{W}#1"]}, ra
    rb = act(d, bkey, "abandon").json()
    assert rb["data"] == {"released": [f"{W}#2"]}, rb
    assert holder(d, 1) == "" and holder(d, 2) == ""
    wait_assignees(emu, 1, [])
    same_error(rest(d, "DELETE", "/api/v1/claims", akey), act(d, akey, "abandon"), 422,
               "nothing_claimed")


def normalized(answer, *pairs):
    """The answer as JSON text with each (old, new) replaced."""
    text = json.dumps(answer, sort_keys=True)
    for old, new in pairs:
        text = text.replace(old, new)
    return json.loads(text)


def test_submit_review_and_merge_answer_as_the_commands(gitea_factory, daemon, tmp_path):
    # No auto-merge: the authors merge by hand, one by REST, one by command.
    emu, d = start_world(gitea_factory, daemon, conf={"work.auto_merge": False})
    a1, k1, login1, branch1 = author_with_a_claim(d, emu, tmp_path, issue=1)
    a2, k2, login2, branch2 = author_with_a_claim(d, emu, tmp_path, issue=2)
    # submit: the first author by REST, the second by command.
    s1 = rest_ok(d, "POST", "/api/v1/pulls", k1, json={"branch": branch1})
    s2 = act(d, k2, f"submit {branch2}").json()
    assert s2["ok"] is True, s2
    n1, n2 = number_of(s1["data"]["pull"]), number_of(s2["data"]["pull"])
    pull1, pull2 = f"{W}#{n1}", f"{W}#{n2}"
    assert s1["data"]["issue"] == f"{W}#1" and s1["data"]["title"] == TITLES[1], s1
    assert s1["data"]["url"].endswith(f"/{W}/pulls/{n1}"), s1
    assert normalized(s1, (pull1, "PR"), (f"/pulls/{n1}", "/pulls/N"), (f"{W}#1", "ISSUE"),
                      (TITLES[1], "TITLE"), (branch1, "BRANCH")) == \
        normalized(s2, (pull2, "PR"), (f"/pulls/{n2}", "/pulls/N"), (f"{W}#2", "ISSUE"),
                   (TITLES[2], "TITLE"), (branch2, "BRANCH"))
    [p1] = gitea_pulls(emu, head=branch1)
    assert p1["number"] == n1 and p1["poster"] == login1 and p1["title"] == TITLES[1], p1
    # Again (a retry): the same PR, both ways.
    r1 = rest_ok(d, "POST", "/api/v1/pulls", k1, json={"branch": branch1})
    assert r1 == act(d, k1, f"submit {branch1}").json(), r1
    assert r1["data"]["pull"] == pull1 and len(gitea_pulls(emu, head=branch1)) == 1, r1
    # A title by REST.
    a3, k3, login3, branch3 = author_with_a_claim(d, emu, tmp_path, issue=4)
    s3 = rest_ok(d, "POST", "/api/v1/pulls", k3,
                 json={"branch": branch3, "title": "Guard the empty input"})
    assert s3["data"]["title"] == "Guard the empty input", s3
    assert [p["title"] for p in gitea_pulls(emu, head=branch3)] == ["Guard the empty input"]

    # pr: the same answer both ways.
    b, bkey, blogin = reviewer(d)
    for n in (n1, n2):
        assert rest_ok(d, "GET", proj("pulls", n), bkey) == act(d, bkey, f"pr {W}#{n}").json()
    # review: one's own PR is refused alike; b approves #1 by REST, #2 by command.
    same_error(rest(d, "POST", proj("pulls", n1, "reviews"), k1, json={"verdict": "approve"}),
               act(d, k1, f"review approve {pull1}"), 422, "own_pr")
    r1 = rest_ok(d, "POST", proj("pulls", n1, "reviews"), bkey,
                 json={"verdict": "approve", "comment": "Looks right"})
    r2 = act(d, bkey, f'review approve {pull2} "Looks right"').json()
    assert r1["data"]["pull"] == pull1 and r1["data"]["verdict"] == "approve", r1
    assert normalized(r1, (pull1, "PR")) == normalized(r2, (pull2, "PR"))
    assert rest_ok(d, "GET", proj("pulls", n1), bkey) == act(d, bkey, f"pr {pull1}").json()
    reviews = rest_ok(d, "GET", proj("pulls", n1), k1)["data"]["reviews"]
    assert [(v["reviewer"], v["action"], v["body"]) for v in reviews] == \
        [(b["name"], "approve", "Looks right")], reviews
    # A comment (on another PR: it would replace b's approval of #1).
    n3 = number_of(s3["data"]["pull"])
    c = rest_ok(d, "POST", proj("pulls", n3, "reviews"), bkey,
                json={"verdict": "comment", "comment": "One more thing: fine."})
    assert c["data"]["verdict"] == "comment" and c["data"]["pull"] == f"{W}#{n3}", c
    # merge: only the author; the first by REST, the second by command.
    same_error(rest(d, "POST", proj("pulls", n1, "merge"), bkey),
               act(d, bkey, f"merge {pull1}"), 403, "forbidden")
    head1, head2 = pull_row(d, n1)["head_sha"], pull_row(d, n2)["head_sha"]
    m1 = rest_ok(d, "POST", proj("pulls", n1, "merge"), k1)
    assert m1["data"]["pull"] == pull1 and m1["data"]["merged"] is True, m1
    assert m1["data"]["head"] == head1, m1
    m2 = act(d, k2, f"merge {pull2}").json()
    assert normalized(m1, (pull1, "PR"), (head1, "HEAD"), (head1[:12], "HEAD12")) == \
        normalized(m2, (pull2, "PR"), (head2, "HEAD"), (head2[:12], "HEAD12"))
    gp = next(p for p in emu.state()["pulls"] if p["number"] == n1)
    assert gp["merged"] is True, gp
    assert pull_row(d, n1)["review_status"] == "merged"
    assert branches(emu)["main"] in (gp["merge_commit_sha"],
                                     next(p for p in emu.state()["pulls"]
                                          if p["number"] == n2)["merge_commit_sha"])
    # Merged: closed both ways; my-work alike.
    same_error(rest(d, "POST", proj("pulls", n1, "merge"), k1),
               act(d, k1, f"merge {pull1}"), 422, "pr_closed")
    same_error(rest(d, "POST", proj("pulls", n1, "reviews"), bkey,
                    json={"verdict": "comment", "comment": "late"}),
               act(d, bkey, f"review comment {pull1} late"), 422, "pr_closed")
    assert rest_ok(d, "GET", "/api/v1/my-work", k1) == act(d, k1, "my-work").json()


# -- the admin routes, as documented ---------------------------------------------------

def admin(d, method, path, **kw):
    headers = dict(kw.pop("headers", {}), **d.admin_headers())
    r = d.request(method, path, headers=headers, **kw)
    check_documented(method, path, r)
    return r


def test_admin_routes_answer_as_documented(world):
    """The rules' names, types and ranges are the document's; every answer
    has a documented status."""
    emu, d = world
    path = f"/api/v1/admin/projects/{W}/policy"
    body = OPS[("PUT", "/api/v1/admin/projects/{owner}/{repo}/policy")]["requestBody"]
    rules = body["content"]["application/json"]["schema"]["properties"]
    shown = assert_ok(admin(d, "GET", path))
    assert shown["project"] == W and set(shown["policy"]) == set(rules), shown
    for name, rule in rules.items():
        assert rule["nullable"] is True, name
        if rule.get("type") == "integer":
            for v in (rule["minimum"], rule["maximum"]):
                got = assert_ok(admin(d, "PUT", path, json={name: v}))
                assert got["policy"][name] == v and got["overrides"][name] == v, (name, got)
            for v in (rule["minimum"] - 1, rule["maximum"] + 1, "1", 1.5, True):
                assert_error(admin(d, "PUT", path, json={name: v}), 400, "invalid_field")
        elif rule.get("type") == "boolean":
            for v in (False, True):
                assert assert_ok(admin(d, "PUT", path, json={name: v}))["policy"][name] is v
            for v in (0, "true"):
                assert_error(admin(d, "PUT", path, json={name: v}), 400, "invalid_field")
        elif "oneOf" in rule:           # required_checks: a word or a list
            words, names = rule["oneOf"]
            for v in words["enum"] + [["ci/" + "x" * (names["items"]["maxLength"] - 3)],
                                      ["c%d" % i for i in range(names["maxItems"])]]:
                assert assert_ok(admin(d, "PUT", path, json={name: v}))["policy"][name] == v
            for v in ("octopus", 1, [], ["x" * (names["items"]["maxLength"] + 1)],
                      ["c%d" % i for i in range(names["maxItems"] + 1)], [""], [1]):
                assert_error(admin(d, "PUT", path, json={name: v}), 400, "invalid_field")
        else:
            for v in rule["enum"]:
                assert assert_ok(admin(d, "PUT", path, json={name: v}))["policy"][name] == v
            for v in ("octopus", 1):
                assert_error(admin(d, "PUT", path, json={name: v}), 400, "invalid_field")
    back = assert_ok(admin(d, "PUT", path, json={name: None for name in rules}))
    assert back["policy"] == shown["policy"], (back, shown)
    assert_error(admin(d, "PUT", path, json={"bogus": 1}), 400, "invalid_field")
    assert_error(admin(d, "PUT", path, data=b"{", headers={"Content-Type": "application/json"}),
                 400, "malformed_json")
    assert_error(admin(d, "GET", f"/api/v1/admin/projects/{NO_NAME}/policy"), 404, "not_found")
    assert_error(admin(d, "GET", "/api/v1/admin/projects/ac%20me/widgets/policy"), 400)
    # An admin merge of a PR nobody approved; of an issue; of nothing.
    for n in (PR, 1, 99, "5x"):
        r = admin(d, "POST", f"/api/v1/admin/projects/{W}/pulls/{n}/merge")
        assert 400 <= r.status_code < 500, r.text
    assert_ok(admin(d, "GET", "/api/v1/admin/agents?status=active"))
    assert_error(admin(d, "GET", "/api/v1/admin/agents?status=sleeping"), 400, "invalid_field")
    assert_ok(admin(d, "GET", "/api/v1/admin/audit?limit=5"))
    assert_error(admin(d, "GET", "/api/v1/admin/audit?limit=0"), 400, "invalid_field")
    assert_ok(admin(d, "POST", "/api/v1/admin/sync"))
    assert_error(admin(d, "POST", "/api/v1/admin/agents/nobody/approve"), 404, "not_found")
    data, _ = d.new_agent(status="active")
    assert_error(admin(d, "POST", f"/api/v1/admin/agents/{data['name']}/approve"), 422,
                 "invalid_transition")
    assert_ok(admin(d, "POST", f"/api/v1/admin/agents/{data['name']}/suspend"))
