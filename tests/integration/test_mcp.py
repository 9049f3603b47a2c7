"""MCP (issue 6; SPEC.md section 10): POST /mcp over Streamable HTTP and
synstack-mcp over stdio, driven by the official TypeScript SDK client
(tests/mcp/client.mjs, run from build-mcp, where scripts/run-tests
installs the SDK with `npm ci`) and by raw
HTTP and raw stdio for what a well-behaved client never sends.

The SDK runs the whole work loop over both transports against a real
daemon, PostgreSQL and the Gitea emulator, git used only to push with the
credentials the `status` tool gives.  A tool's refusal is a result with
isError and the command form's error, field for field.

The Gitea of these tests is test_work.py's (work_seed): acme/widgets with
issues #1, #2, #4 open, #3 closed and the PR #5 by agent-coder.
"""

import json
import os
import shutil
import subprocess
import time

import pytest

from conftest import REPO, assert_error, free_port, synstackd_bin
from mirror_helpers import admin_sync
from test_review import branches, gitea_pulls, pull_row, push_branch
from test_work import TITLES, W, act, start_world
# A read-only world of this module's own (test_work's seed): agents
# register and join there, nobody claims.
from test_work import ro, ro_emu  # noqa: F401

MCP_DIR = REPO / "tests" / "mcp"
# The SDK lives in build-mcp (scripts/lib.sh): the client runs from there,
# so that Node.js finds it beside the script.
SDK_DIR = REPO / "build-mcp"
CLIENT = SDK_DIR / "client.mjs"
LATEST, OLDER = "2025-11-25", "2025-06-18"
TOOLS = {"feed", "join", "work_on", "details", "submit", "status", "review",
         "pr_details", "abandon", "merge"}
TOOLS_MAX_BYTES = 4000
TRANSPORTS = ["http", "stdio"]
JSON = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


def mcp_bin():
    """synstack-mcp, built beside synstackd: <builddir>/mcp/synstack-mcp."""
    p = synstackd_bin().resolve().parents[1] / "mcp" / "synstack-mcp"
    if not p.exists():
        pytest.fail(f"synstack-mcp not found at {p} (build it, or set SYNSTACK_BIN)")
    return p


SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error:")


def check_stderr(err, key=None):
    """synstack-mcp's standard error: no sanitizer report, never the key."""
    if isinstance(err, bytes):
        err = err.decode("utf-8", "replace")
    for marker in SANITIZER_MARKERS:
        assert marker not in err, f"sanitizer report from synstack-mcp:\n{err[-4000:]}"
    if key:
        assert key not in err, "synstack-mcp logged the agent's key"


def sanitizer_env():
    """What the ASan build needs to run as the rest of the suite does."""
    return {k: os.environ[k] for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS")
            if k in os.environ}


# -- the SDK client --------------------------------------------------------------

def sdk(d, key, transport, calls=(), check_connect=True, **extra):
    """One run of client.mjs: connect (initialize), make the calls, close.
    Returns its document (see client.mjs)."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH: the MCP tests need Node.js (20 or later)")
    if not (SDK_DIR / "node_modules" / "@modelcontextprotocol" / "sdk").is_dir():
        pytest.fail(f"the MCP SDK is not installed in {SDK_DIR}: copy package.json"
                    f" and package-lock.json there from {MCP_DIR} and run `npm ci`"
                    " (scripts/run-tests does)")
    shutil.copyfile(MCP_DIR / "client.mjs", CLIENT)
    plan = {"transport": transport, "url": d.base, "key": key, "bin": str(mcp_bin()),
            "calls": list(calls)}
    if sanitizer_env():
        plan["env"] = sanitizer_env()
    plan.update(extra)
    r = subprocess.run([node, str(CLIENT)], input=json.dumps(plan), capture_output=True,
                       text=True, timeout=60, cwd=str(SDK_DIR))
    assert r.returncode == 0, f"client.mjs exited {r.returncode}: {r.stderr[-3000:]}"
    out = json.loads(r.stdout)
    if check_connect:
        assert "connect_error" not in out, out
        assert "close_error" not in out, out
        assert len(out["results"]) == len(plan["calls"]), out
    if transport == "stdio":
        check_stderr(out.get("stderr", ""), key)
    return out


def results(d, key, transport, *calls):
    """The calls' results, each {"ok": bool, "result"|"error"}."""
    return sdk(d, key, transport, calls)["results"]


def tool(name, **args):
    return {"tool": name, "args": args}


def text_of(result):
    content = result.get("content")
    assert isinstance(content, list) and len(content) == 1, result
    assert content[0].get("type") == "text" and isinstance(content[0].get("text"), str), result
    return content[0]["text"]


def tool_ok(res):
    """A tool's answer: its structuredContent (the command's data)."""
    assert res["ok"] is True, res
    r = res["result"]
    assert r.get("isError") is False, r
    assert text_of(r), r
    sc = r.get("structuredContent")
    assert isinstance(sc, dict), r
    return sc


def tool_err(res, code=None):
    """A tool's refusal: isError with {code, message, hint} (and the text
    for the model names the code and says the message)."""
    assert res["ok"] is True, f"a tool's refusal must be a result, not a JSON-RPC error: {res}"
    r = res["result"]
    assert r.get("isError") is True, r
    sc = r.get("structuredContent")
    assert isinstance(sc, dict) and {"code", "message", "hint"} <= set(sc), r
    assert all(isinstance(sc[k], str) for k in ("code", "message", "hint")), sc
    assert sc["message"], sc
    if code is not None:
        assert sc["code"] == code, f"expected {code}, got {sc}"
    text = text_of(r)
    assert sc["code"] in text and sc["message"] in text, (text, sc)
    if sc["hint"]:
        assert sc["hint"] in text, (text, sc)
    return sc


def same_as_command(sc, d, key, command):
    """The tool's error is exactly the command form's for the same action."""
    r = act(d, key, command)
    err = assert_error(r, r.status_code, sc["code"])
    assert r.status_code >= 400, r.text
    assert {k: sc[k] for k in ("code", "message", "hint")} == err, \
        f"MCP said {sc}, the command {command!r} said {err}"
    return err


def feed_n(feed, ref, section=None):
    n = [it["n"] for it in feed["items"]
         if it["ref"] == ref and (section is None or it["section"] == section)]
    assert len(n) == 1, (ref, section, feed["items"])
    return n[0]


def refs(feed, section):
    return [it["ref"] for it in feed["items"] if it["section"] == section]


# -- raw HTTP ------------------------------------------------------------------------

def post_mcp(d, key, body=None, raw=None, headers=None, version=None, auth=True):
    """POST /mcp with a message (or raw bytes); returns the response."""
    h = dict(JSON)
    if auth and key is not None:
        h["Authorization"] = "Bearer " + key
    if version is not None:
        h["MCP-Protocol-Version"] = version
    h.update(headers or {})
    h = {k: v for k, v in h.items() if v is not None}
    data = raw if raw is not None else json.dumps(body)
    return d.post("/mcp", data=data, headers=h)


def rpc_answer(r, status=200):
    """A JSON-RPC answer: (the message, its result or None, its error or None)."""
    assert r.status_code == status, f"expected HTTP {status}, got {r.status_code}: {r.text[:500]}"
    assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers
    m = r.json()
    assert isinstance(m, dict) and m.get("jsonrpc") == "2.0", m
    assert "id" in m, m
    assert ("result" in m) != ("error" in m), m
    return m, m.get("result"), m.get("error")


def rpc_error(r, code, status=200, id=Ellipsis):
    m, _, err = rpc_answer(r, status)
    assert err is not None, m
    assert err.get("code") == code, f"expected {code}, got {m}"
    assert isinstance(err.get("message"), str) and err["message"], m
    if id is not Ellipsis:
        assert m["id"] == id, m
    return err


def request(method, params=None, id=1):
    m = {"jsonrpc": "2.0", "id": id, "method": method}
    if params is not None:
        m["params"] = params
    return m


def call(name, arguments=None, id=1):
    p = {"name": name}
    if arguments is not None:
        p["arguments"] = arguments
    return request("tools/call", p, id)


# ====================================================================================
# initialize and tools/list, through the SDK
# ====================================================================================

@pytest.mark.parametrize("transport", TRANSPORTS)
def test_initialize_and_list_tools(ro, transport):
    _, key = ro.new_agent(status="active")
    out = sdk(ro, key, transport, [{"list": True}, {"ping": True}])
    init = out["initialize"]
    assert init is not None, out
    # The SDK asks for the latest revision; it is answered.
    assert init["protocolVersion"] == LATEST, init
    assert out["negotiated"] == LATEST, out
    assert out["server"] == init["serverInfo"], out
    assert out["server"]["name"] == "synstack", out
    assert isinstance(out["server"].get("version"), str) and out["server"]["version"], out
    assert isinstance(init["capabilities"].get("tools"), dict), init
    instr = out["instructions"]
    assert isinstance(instr, str) and instr.strip(), out
    for word in ("feed", "join", "work_on", "submit", "review", "status"):
        assert word in instr, f"the instructions do not mention {word}: {instr}"
    tools = out["results"][0]
    assert tools["ok"], tools
    listed = tools["result"]["tools"]
    assert sorted(t["name"] for t in listed) == sorted(TOOLS), listed
    for t in listed:
        assert isinstance(t.get("description"), str) and len(t["description"]) > 10, t
        s = t.get("inputSchema")
        assert isinstance(s, dict) and s.get("type") == "object", t
        assert isinstance(s.get("properties", {}), dict), t
        for name in s.get("required", []):
            assert name in s["properties"], t
    by = {t["name"]: t["inputSchema"] for t in listed}
    assert by["join"]["required"] == ["project"], by["join"]
    assert by["work_on"]["required"] == ["issue"], by["work_on"]
    assert set(by["review"]["required"]) == {"pr", "verdict"}, by["review"]
    assert set(by["review"]["properties"]["verdict"]["enum"]) == \
        {"approve", "request-changes", "comment"}, by["review"]
    assert by["submit"]["required"] == ["branch"], by["submit"]
    assert not by["feed"].get("required") and not by["status"].get("required"), by
    assert out["results"][1] == {"ok": True, "result": {}}, out["results"][1]


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("who", ["wrong", "pending"])
def test_sdk_refused(ro, transport, who):
    """A refused key stops the SDK at initialize, with synstackd's reason."""
    if who == "wrong":
        key, code = "ssk_" + "A" * 43, "unauthorized"
    else:
        _, key = ro.new_agent()
        code = "waiting_for_approval"
    out = sdk(ro, key, transport, [{"ping": True}], check_connect=False)
    err = out.get("connect_error")
    assert err, out
    assert out["results"] == [], out
    if transport == "stdio":
        assert err.get("code") == -32000 and err["data"]["code"] == code, err
    else:
        # The SDK's StreamableHTTPError: the HTTP status, our body.
        assert err.get("code") == (401 if who == "wrong" else 403), err
        assert f'"code":"{code}"' in err["message"], err


def test_tools_list_stays_small(ro):
    _, key = ro.new_agent(status="active")
    _, result, _ = rpc_answer(post_mcp(ro, key, request("tools/list")))
    size = len(json.dumps(result["tools"]))
    print(f"tools/list: {size} bytes of tools ({len(result['tools'])} tools)")
    assert size < TOOLS_MAX_BYTES, f"tools/list is {size} bytes; keep it under {TOOLS_MAX_BYTES}"


# ====================================================================================
# the work loop, through the SDK, over both transports
# ====================================================================================

def gitea_pull(emu, number):
    return next(p for p in gitea_pulls(emu) if p["number"] == number)


def gitea_issue(emu, number):
    return next(i for i in emu.state()["issues"] if i["repo"] == W and i["number"] == number)


@pytest.mark.parametrize("merge", ["auto", "by_hand"])
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_the_work_loop(gitea_factory, daemon, tmp_path, transport, merge):
    conf = {"work.auto_merge": False} if merge == "by_hand" else None
    emu, d = start_world(gitea_factory, daemon, conf=conf)
    a, akey = d.new_agent(status="active")
    b, bkey = d.new_agent(status="active")

    # A: its feed offers the project; it joins by feed number, and claims
    # issue #1 by its number in the new feed.
    feed = tool_ok(results(d, akey, transport, tool("feed"))[0])
    assert refs(feed, "projects") == [W], feed["items"]
    got = results(d, akey, transport,
                  tool("join", project=str(feed_n(feed, W, "projects"))), tool("feed"))
    joined = tool_ok(got[0])
    assert joined.get("member") is True, joined
    feed = tool_ok(got[1])
    assert refs(feed, "open_issues") == [f"{W}#1", f"{W}#2", f"{W}#4"], feed["items"]
    got = results(d, akey, transport,
                  tool("work_on", issue=str(feed_n(feed, f"{W}#1", "open_issues"))),
                  tool("status"))
    claim = tool_ok(got[0])
    assert claim["issue"]["ref"] == f"{W}#1", claim
    branch = claim["branch"]
    assert isinstance(branch, str) and branch, claim
    assert claim["clone_url"].endswith(f"/{W}.git"), claim
    status = tool_ok(got[1])
    g = status.get("gitea")
    assert isinstance(g, dict) and g.get("login") and g.get("token"), status
    d.add_secret(g["token"])            # the daemon must never log it
    assert isinstance(g.get("url"), str) and g["url"], g
    assert [(c["ref"], c["title"]) for c in status["claims"]] == [(f"{W}#1", TITLES[1])], \
        status
    login, token = g["login"], g["token"]

    # A pushes with git, using those credentials, and submits.
    head1 = push_branch(emu, tmp_path, login, token, branch,
                        {"src/gap.c": "int gap(void) { return 4; }\n"})
    got = results(d, akey, transport, tool("submit", branch=branch),
                  tool("submit", branch=branch))
    sub = tool_ok(got[0])
    pull = sub["pull"]
    number = int(pull.rsplit("#", 1)[1])
    assert pull == f"{W}#{number}" and sub["issue"] == f"{W}#1", sub
    assert sub["title"] == TITLES[1], sub
    gp = gitea_pull(emu, number)
    assert gp["poster"] == login and gp["head"] == branch and gp["state"] == "open", gp
    # A second submit of the branch (a retry): the same PR.
    again = tool_ok(got[1])
    assert again["pull"] == pull and again["issue"] == f"{W}#1", again
    # A may not review its own PR.
    sc = tool_err(results(d, akey, transport,
                          tool("review", pr=pull, verdict="approve"))[0], "own_pr")
    same_as_command(sc, d, akey, f"review approve {pull}")

    # B joins by reference; the issue is A's; the PR waits for B's review.
    got = results(d, bkey, transport, tool("join", project=W),
                  tool("work_on", issue=f"{W}#1"), tool("feed"))
    assert tool_ok(got[0]).get("member") is True, got[0]
    sc = tool_err(got[1], "issue_taken")
    same_as_command(sc, d, bkey, f"work-on {W}#1")
    feed = tool_ok(got[2])
    assert pull in refs(feed, "to_review"), feed["items"]
    n = feed_n(feed, pull, "to_review")
    # request-changes needs a comment, as in the command form.
    got = results(d, bkey, transport, tool("review", pr=str(n), verdict="request-changes"),
                  tool("review", pr=str(n), verdict="request-changes",
                       comment="Take the gap from the theme, not a constant"))
    sc = tool_err(got[0])
    same_as_command(sc, d, bkey, f"review request-changes {n}")
    rev = tool_ok(got[1])
    assert rev == {"pull": pull, "verdict": "request_changes",
                   "review_status": "changes_requested", "merged": False}, rev

    # A cannot merge it; it sees the review; pushes again.
    got = results(d, akey, transport, tool("merge", pr=pull), tool("pr_details", pr=pull))
    sc = tool_err(got[0], "not_approved")
    same_as_command(sc, d, akey, f"merge {pull}")
    pr = tool_ok(got[1])
    assert pr["review_status"] == "changes_requested", pr
    assert [(v["action"], v["current"]) for v in pr["reviews"]] == \
        [("request_changes", True)], pr["reviews"]
    head2 = push_branch(emu, tmp_path, login, token, branch,
                        {"src/gap.c": "int gap(const struct theme *t) { return t->gap; }\n"},
                        again=True)
    assert head2 != head1
    admin_sync(d)
    assert pull_row(d, number)["head_sha"] == head2

    # B approves.
    got = results(d, bkey, transport,
                  tool("review", pr=pull, verdict="approve", comment="Good now, thanks"))
    rev = tool_ok(got[0])
    if merge == "auto":
        assert rev == {"pull": pull, "verdict": "approve", "review_status": "merged",
                       "merged": True}, rev
    else:
        assert rev["pull"] == pull and rev["verdict"] == "approve", rev
        assert rev["merged"] is False and rev["review_status"] == "approved", rev
        assert gitea_pull(emu, number)["merged"] is False
        # B is not the author: the command form's forbidden.
        sc = tool_err(results(d, bkey, transport, tool("merge", pr=pull))[0], "forbidden")
        same_as_command(sc, d, bkey, f"merge {pull}")
        got = tool_ok(results(d, akey, transport, tool("merge", pr=pull))[0])
        assert got == {"pull": pull, "merged": True, "head": head2, "style": "merge"}, got

    # Gitea: merged, the issue closed; A's work is done.
    gp = gitea_pull(emu, number)
    assert gp["merged"] is True and gp["state"] == "closed", gp
    assert gp["merge_commit_sha"] == branches(emu)["main"], gp
    assert gitea_issue(emu, 1)["state"] == "closed"
    got = results(d, akey, transport, tool("status"), tool("merge", pr=pull))
    st = tool_ok(got[0])
    assert st["claims"] == [] and st["pulls"] == [], st
    sc = tool_err(got[1], "pr_closed")
    same_as_command(sc, d, akey, f"merge {pull}")


# ====================================================================================
# business errors: a result with isError, the command form's error
# ====================================================================================

REFUSALS = [
    # (tool, arguments, the same action as a command, the code)
    ("join", {"project": "nobody/nothing"}, "join nobody/nothing", "not_found"),
    ("join", {"project": "99"}, "join 99", "not_found"),
    ("work_on", {"issue": f"{W}#2"}, f"work-on {W}#2", "not_a_member"),
    ("work_on", {"issue": f"{W}#999"}, f"work-on {W}#999", "not_found"),
    ("details", {"item": "nobody/nothing#1"}, "details nobody/nothing#1", "not_found"),
    ("submit", {"branch": "some-branch"}, "submit some-branch", "nothing_claimed"),
    ("submit", {"branch": "no spaces"}, 'submit "no spaces"', "bad_request"),
    ("abandon", {}, "abandon", "nothing_claimed"),
    ("pr_details", {"pr": f"{W}#999"}, f"pr {W}#999", "not_found"),
    ("merge", {"pr": f"{W}#5"}, f"merge {W}#5", "forbidden"),
    ("review", {"pr": f"{W}#5", "verdict": "approve"}, f"review approve {W}#5",
     "not_a_member"),
]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_refusals_are_the_command_forms(ro, transport):
    _, key = ro.new_agent(status="active")
    calls = [tool(name, **args) for name, args, _, _ in REFUSALS]
    got = results(ro, key, transport, *calls)
    for (name, args, command, code), res in zip(REFUSALS, got):
        same_as_command(tool_err(res, code), ro, key, command)


# ====================================================================================
# protocol errors, over raw HTTP
# ====================================================================================

@pytest.fixture(scope="module")
def agent(ro):
    """An approved agent of the read-only world: its key."""
    _, key = ro.new_agent(status="active")
    return key


@pytest.mark.parametrize("raw", [
    b"{", b"{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"ping\"", b"not json", b"",
    b"{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"ping\"} trailing",
    b"\xff\xfe{}",
])
def test_malformed_json_is_a_parse_error(ro, agent, raw):
    err = rpc_error(post_mcp(ro, agent, raw=raw), -32700, status=400, id=None)
    assert err["message"], err


@pytest.mark.parametrize("body", [
    {"id": 1, "method": "ping"},                                    # no jsonrpc
    {"jsonrpc": "1.0", "id": 1, "method": "ping"},
    {"jsonrpc": 2.0, "id": 1, "method": "ping"},
    {"jsonrpc": "2.0", "id": {"a": 1}, "method": "ping"},           # id an object
    {"jsonrpc": "2.0", "id": [1], "method": "ping"},
    {"jsonrpc": "2.0", "id": True, "method": "ping"},
    {"jsonrpc": "2.0", "id": None, "method": "ping"},               # MCP: never null
    {"jsonrpc": "2.0", "id": 1, "method": "ping", "params": [1, 2]},  # params an array
    {"jsonrpc": "2.0", "id": 1, "method": "ping", "params": "x"},
    {"jsonrpc": "2.0", "id": 1, "method": 7},
    {"jsonrpc": "2.0", "id": 1},                                    # no method, no result
    [{"jsonrpc": "2.0", "id": 1, "method": "ping"}],                # a batch
    [],
    "ping", 42, 1.5, True, {},
])
def test_invalid_requests(ro, agent, body):
    rpc_error(post_mcp(ro, agent, body), -32600, status=400)


def test_null_is_an_invalid_request(ro, agent):
    """`null` is JSON: not a parse error (-32700, "Invalid JSON was
    received") but a message that is not a request (-32600), like `42`."""
    rpc_error(post_mcp(ro, agent, raw=b"null"), -32600, status=400, id=None)


@pytest.mark.parametrize("method", ["tools/lis", "resources/list", "prompts/list",
                                    "completion/complete", "", "INITIALIZE"])
def test_unknown_methods(ro, agent, method):
    err = rpc_error(post_mcp(ro, agent, request(method, {}, id="m-1")), -32601, id="m-1")
    assert err["message"], err


@pytest.mark.parametrize("version", [None, OLDER, LATEST])
def test_unknown_tool(ro, agent, version):
    for name in ("frobnicate", "work-on", "Feed", ""):
        err = rpc_error(post_mcp(ro, agent, call(name, {}, id=7), version=version),
                        -32602, id=7)
        assert err["message"], err
    rpc_error(post_mcp(ro, agent, request("tools/call", {}, id=8), version=version),
              -32602, id=8)
    rpc_error(post_mcp(ro, agent, request("tools/call", {"name": 3}, id=9),
                       version=version), -32602, id=9)


BAD_ARGUMENTS = [
    ("join", {}),                                           # missing required
    ("work_on", {"issue": None}),
    ("review", {"pr": f"{W}#5"}),                           # no verdict
    ("join", {"project": True}),                            # wrong types
    ("join", {"project": ["acme/widgets"]}),
    ("details", {"item": {"ref": f"{W}#1"}}),
    ("review", {"pr": f"{W}#5", "verdict": 1}),
    ("submit", {"branch": "b", "title": 3.5}),
    ("feed", {"verbose": True}),                            # unknown keys
    ("join", {"project": W, "role": "admin"}),
    ("review", {"pr": f"{W}#5", "verdict": "lgtm"}),        # bad verdict
    ("review", {"pr": f"{W}#5", "verdict": "APPROVE"}),
    ("join", {"project": "x" * 5000}),                      # too long
    ("join", "acme/widgets"),                               # arguments not an object
    ("join", ["acme/widgets"]),
]


@pytest.mark.parametrize("name,args", BAD_ARGUMENTS)
def test_bad_arguments(ro, agent, name, args):
    # 2025-06-18 (and no header: that revision, as the transport says) ->
    # -32602; 2025-11-25 (SEP-1303) -> a tool error the model can act on.
    for version in (None, OLDER):
        err = rpc_error(post_mcp(ro, agent, call(name, args, id=11), version=version),
                        -32602, id=11)
        assert err["message"], err
    m, result, _ = rpc_answer(post_mcp(ro, agent, call(name, args, id=12), version=LATEST))
    assert m["id"] == 12 and result is not None, m
    sc = tool_err({"ok": True, "result": result}, "invalid_field")
    assert sc["message"], sc


def test_tools_call_params(ro, agent):
    # No params at all, or no name: -32602.
    rpc_error(post_mcp(ro, agent, request("tools/call", id=1)), -32602, id=1)
    rpc_error(post_mcp(ro, agent, request("tools/call", {"arguments": {}}, id=2)), -32602, id=2)
    # Arguments left out or null: none.
    m, result, _ = rpc_answer(post_mcp(ro, agent, call("feed", id=3)))
    tool_ok({"ok": True, "result": result})
    m, result, _ = rpc_answer(post_mcp(ro, agent, request(
        "tools/call", {"name": "feed", "arguments": None}, id=4)))
    tool_ok({"ok": True, "result": result})


def test_initialize_needs_a_string_version(ro, agent):
    rpc_error(post_mcp(ro, agent, request("initialize", {"protocolVersion": 20251125}, id=1)),
              -32602, id=1)


def test_names_with_a_nul_are_not_names(ro, agent):
    """A JSON string may hold an escaped NUL: "feed\\u0000x" is no tool
    and "ping\\u0000" no method (compared whole, not as C strings)."""
    raw = b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "feed\\u0000x"}}'
    rpc_error(post_mcp(ro, agent, raw=raw), -32602, id=1)
    raw = b'{"jsonrpc": "2.0", "id": 2, "method": "ping\\u0000x"}'
    rpc_error(post_mcp(ro, agent, raw=raw), -32601, id=2)


@pytest.mark.parametrize("value", [3, 3.5, True, ["3"], {"n": 3}])
def test_arguments_of_another_json_type_are_schema_errors(ro, agent, value):
    """The schema says string: 3 is not "3" (issue 11); the model reads
    why under 2025-11-25, the client gets -32602 under 2025-06-18."""
    m, result, _ = rpc_answer(post_mcp(ro, agent, call("details", {"item": value}),
                                       version=LATEST))
    sc = tool_err({"ok": True, "result": result}, "invalid_field")
    assert "must be a string" in sc["message"], sc
    rpc_error(post_mcp(ro, agent, call("details", {"item": value}), version=OLDER), -32602)


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1:1",
                                  "localhost:1", "127.0.0.1.evil.example:{port}", ""])
def test_a_foreign_host_is_refused(ro, agent, host):
    """Against DNS rebinding the transport checks Host as well as Origin."""
    r = post_mcp(ro, agent, request("ping"), headers={"Host": host.format(port=ro.port)})
    assert_error(r, 403, "forbidden")


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST:{port}",
                                  "127.0.0.1:8470"])
def test_the_listen_address_and_public_host_are_accepted(ro, agent, host):
    # ro listens on 127.0.0.1:<port>; its http.public_url is 127.0.0.1:8470.
    r = post_mcp(ro, agent, request("ping", id=5), headers={"Host": host.format(port=ro.port)})
    _, result, _ = rpc_answer(r)
    assert result == {}


@pytest.mark.parametrize("accept", ["text/event-stream", "text/html",
                                    "application/jsonx", "text/*"])
def test_a_post_that_does_not_accept_json_is_406(ro, agent, accept):
    r = post_mcp(ro, agent, request("ping"), headers={"Accept": accept})
    assert_error(r, 406, "not_acceptable")


def test_a_post_without_accept_is_406(ro, agent):
    body = json.dumps(request("ping")).encode()
    status, headers, out = ro.raw(
        b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:" + str(ro.port).encode() +
        b"\r\nConnection: close\r\n"
        b"Content-Type: application/json\r\nAuthorization: Bearer " + agent.encode() +
        b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    assert status == 406 and json.loads(out)["error"]["code"] == "not_acceptable", (status, out)


@pytest.mark.parametrize("accept", ["application/json", "application/json; q=0.9",
                                    "text/event-stream, application/json", "*/*",
                                    "application/*", "APPLICATION/JSON"])
def test_a_post_that_accepts_json_is_answered(ro, agent, accept):
    _, result, _ = rpc_answer(post_mcp(ro, agent, request("ping", id=6),
                                       headers={"Accept": accept}))
    assert result == {}


@pytest.mark.parametrize("version", ["2024-11-05", "2025-03-26", "2099-01-01", "latest", ""])
def test_unsupported_protocol_version_header(ro, agent, version):
    r = post_mcp(ro, agent, request("ping"), headers={"MCP-Protocol-Version": version})
    assert r.status_code == 400, (r.status_code, r.text)
    if r.headers.get("Content-Type", "").startswith("application/json"):
        m = r.json()
        if "jsonrpc" in m:
            assert m["error"]["code"] == -32600, m


@pytest.mark.parametrize("version", [OLDER, LATEST])
def test_supported_protocol_version_headers(ro, agent, version):
    _, result, _ = rpc_answer(post_mcp(ro, agent, request("ping", id="p"), version=version))
    assert result == {}


@pytest.mark.parametrize("asked,answered", [
    (LATEST, LATEST), (OLDER, OLDER), ("2024-11-05", LATEST), ("2099-12-31", LATEST),
    ("garbage", LATEST),
])
def test_initialize_negotiates(ro, agent, asked, answered):
    body = request("initialize", {"protocolVersion": asked, "capabilities": {},
                                  "clientInfo": {"name": "raw", "version": "0"}}, id=0)
    m, result, _ = rpc_answer(post_mcp(ro, agent, body))
    assert m["id"] == 0, m
    assert result["protocolVersion"] == answered, result
    assert result["serverInfo"]["name"] == "synstack", result
    assert isinstance(result["instructions"], str) and result["instructions"].strip()
    assert "tools" in result["capabilities"], result
    # No session: stateless.
    r = post_mcp(ro, agent, body)
    assert "Mcp-Session-Id" not in r.headers, r.headers


@pytest.mark.parametrize("body", [
    {"jsonrpc": "2.0", "method": "notifications/initialized"},
    {"jsonrpc": "2.0", "method": "notifications/cancelled",
     "params": {"requestId": 1, "reason": "bored"}},
    {"jsonrpc": "2.0", "method": "notifications/whatever"},
    {"jsonrpc": "2.0", "method": "tools/call"},              # a notification too
    {"jsonrpc": "2.0", "id": 5, "result": {}},               # responses
    {"jsonrpc": "2.0", "id": "x", "error": {"code": -1, "message": "no"}},
])
def test_notifications_and_responses_are_accepted(ro, agent, body):
    r = post_mcp(ro, agent, body)
    assert r.status_code == 202, (r.status_code, r.text)
    assert r.content == b"", r.content


@pytest.mark.parametrize("method", ["GET", "DELETE", "PUT"])
def test_other_methods(ro, agent, method):
    r = ro.request(method, "/mcp", headers={"Authorization": "Bearer " + agent,
                                            "Accept": "text/event-stream"})
    assert r.status_code == 405, (r.status_code, r.text)
    assert "POST" in r.headers.get("Allow", ""), r.headers


def assert_unauthorized(r):
    assert_error(r, 401, "unauthorized")
    www = r.headers.get("WWW-Authenticate", "")
    assert www.lower().startswith("bearer"), f"WWW-Authenticate {www!r}"


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ssk_nope",
                                    "Basic dXNlcjpwYXNz", "wrong-key"])
def test_missing_or_wrong_key(ro, agent, header):
    h = {"Authorization": "Bearer " + agent[:-1] + ("A" if agent[-1] != "A" else "B")} \
        if header == "wrong-key" else ({} if header is None else {"Authorization": header})
    assert_unauthorized(post_mcp(ro, None, request("ping"), headers=h, auth=False))
    assert_unauthorized(post_mcp(ro, None, request("initialize", {"protocolVersion": LATEST}),
                                 headers=h, auth=False))


def test_admin_token_is_not_an_agent_key(ro):
    assert_unauthorized(post_mcp(ro, ro.token, request("ping")))


def test_pending_and_suspended_agents(ro):
    _, pending = ro.new_agent()
    assert_error(post_mcp(ro, pending, request("tools/list")), 403, "waiting_for_approval")
    assert_error(post_mcp(ro, pending, call("feed")), 403, "waiting_for_approval")
    _, suspended = ro.new_agent(status="suspended")
    assert_error(post_mcp(ro, suspended, call("feed")), 403, "agent_suspended")


@pytest.mark.parametrize("ctype", [None, "text/plain", "application/x-www-form-urlencoded",
                                   "multipart/form-data; boundary=x", "text/json",
                                   # /api/v1/act refuses these too
                                   "application/jsonx", "application/json-seq"])
def test_wrong_content_type(ro, agent, ctype):
    r = post_mcp(ro, agent, request("ping"), headers={"Content-Type": ctype})
    assert_error(r, 415)


def test_content_type_with_charset(ro, agent):
    r = post_mcp(ro, agent, request("ping", id=3),
                 headers={"Content-Type": "application/json; charset=utf-8"})
    _, result, _ = rpc_answer(r)
    assert result == {}


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://127.0.0.1:1",
                                    "http://127.0.0.1:8470.evil.example",
                                    "https://127.0.0.1:8470", "http://127.0.0.1",
                                    # prefixes of http.public_url
                                    "http:", "http:/"])
def test_a_foreign_origin_is_refused(ro, agent, origin):
    # ro's http.public_url is the default, http://127.0.0.1:8470.
    r = post_mcp(ro, agent, call("feed"), headers={"Origin": origin})
    assert_error(r, 403, "forbidden")


def test_the_public_origin_is_accepted(ro, agent):
    r = post_mcp(ro, agent, request("ping", id=4), headers={"Origin": "http://127.0.0.1:8470"})
    _, result, _ = rpc_answer(r)
    assert result == {}


def test_ids_are_echoed(ro, agent):
    for id in (0, -1, 2**53, "", "abc", "ü-ñ", "x" * 200):
        m, result, _ = rpc_answer(post_mcp(ro, agent, request("ping", id=id)))
        assert m["id"] == id and result == {}, m


# ====================================================================================
# stdio: synstack-mcp
# ====================================================================================

def run_stdio(url, key, stdin, timeout=60, args=()):
    """synstack-mcp with SYNSTACK_URL and SYNSTACK_KEY, all of stdin at
    once, then EOF: (exit status, stdout, stderr, seconds to exit)."""
    env = dict(os.environ, SYNSTACK_URL=url, **sanitizer_env())
    env.pop("SYNSTACK_KEY_FILE", None)
    if key is None:
        env.pop("SYNSTACK_KEY", None)
    else:
        env["SYNSTACK_KEY"] = key
    t0 = time.monotonic()
    p = subprocess.run([str(mcp_bin()), *args], input=stdin, capture_output=True,
                       env=env, timeout=timeout)
    check_stderr(p.stderr, key)
    return p.returncode, p.stdout, p.stderr, time.monotonic() - t0


def stdout_messages(out):
    """Standard output: nothing but single-line JSON-RPC messages."""
    assert out == b"" or out.endswith(b"\n"), out[-200:]
    msgs = []
    for line in out.split(b"\n")[:-1]:
        assert line.strip(), f"an empty line on stdout: {out[:500]!r}"
        m = json.loads(line)
        assert isinstance(m, dict) and m.get("jsonrpc") == "2.0" and "id" in m, m
        assert ("result" in m) != ("error" in m), m
        msgs.append(m)
    return msgs


def burst(n):
    """n requests, with notifications, responses and a blank line among
    them: the lines, and {id: method} of the requests."""
    lines, want = [], {}
    init = request("initialize", {"protocolVersion": LATEST, "capabilities": {},
                                  "clientInfo": {"name": "burst", "version": "0"}}, id=0)
    lines.append(json.dumps(init))
    want[0] = "initialize"
    lines.append(json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}))
    for i in range(1, n):
        id = i if i % 2 else f"req-{i}"
        kind = i % 3
        if kind == 0:
            m = request("ping", id=id)
        elif kind == 1:
            m = request("tools/list", id=id)
        else:
            m = call("feed", {}, id=id)
        want[id] = m["method"]
        # Some with extra whitespace, some compact.
        lines.append(json.dumps(m, separators=(",", ":")) if i % 5 else json.dumps(m, indent=None))
        if i % 50 == 0:
            lines.append(json.dumps({"jsonrpc": "2.0", "method": "notifications/cancelled",
                                     "params": {"requestId": "nope"}}))
        if i % 70 == 0:
            # A response of the client's (to a request we never sent).
            lines.append(json.dumps({"jsonrpc": "2.0", "id": f"srv-{i}", "result": {}}))
        if i == n // 2:
            lines.append("")
    return lines, want


def check_answer(method, m):
    assert "error" not in m, m
    r = m["result"]
    if method == "ping":
        assert r == {}, m
    elif method == "tools/list":
        assert sorted(t["name"] for t in r["tools"]) == sorted(TOOLS), m
    elif method == "initialize":
        assert r["protocolVersion"] == LATEST, m
    else:
        assert r["isError"] is False and isinstance(r["structuredContent"].get("items"), list), m


def test_stdio_burst(ro, agent):
    n = 200
    lines, want = burst(n)
    malformed = ["{\"jsonrpc\": \"2.0\", \"id\": 9999, \"method\"", "not json at all"]
    lines[n // 3:n // 3] = malformed
    stdin = ("\n".join(lines) + "\n").encode()
    rc, out, err, secs = run_stdio(ro.base, agent, stdin)
    assert rc == 0, (rc, err[-2000:])
    msgs = stdout_messages(out)
    # One answer per request, one per malformed line, nothing for the
    # notifications and blank lines.
    assert len(msgs) == n + len(malformed), (len(msgs), n, [m for m in msgs if "error" in m])
    errors = [m for m in msgs if "error" in m]
    assert [(m["id"], m["error"]["code"]) for m in errors] == [(None, -32700)] * len(malformed), \
        errors
    answers = [m for m in msgs if "error" not in m]
    ids = [m["id"] for m in answers]
    assert sorted(map(json.dumps, ids)) == sorted(map(json.dumps, want)), \
        "the ids answered are not the ids asked"
    assert len(set(map(json.dumps, ids))) == len(ids), "an id answered twice"
    for m in answers:
        check_answer(want[m["id"]], m)
    assert agent.encode() not in err, "synstack-mcp logged the key"
    print(f"stdio burst: {len(msgs)} answers in {secs:.2f}s")


def test_stdio_blank_lines_get_no_answer(ro, agent):
    """Lines of only spaces or tabs are blank lines, as empty ones are:
    no message, nothing to answer."""
    stdin = b"\n   \n\t\n \r\n" + (json.dumps(request("ping", id=1)) + "\n").encode()
    rc, out, err, _ = run_stdio(ro.base, agent, stdin)
    assert rc == 0, err
    assert stdout_messages(out) == [{"jsonrpc": "2.0", "id": 1, "result": {}}], out


@pytest.mark.parametrize("asked,answer", [(LATEST, "tool_error"), (OLDER, "rpc_error")])
def test_stdio_uses_the_negotiated_version(ro, agent, asked, answer):
    """synstack-mcp sends the version initialize settled on with every
    later request: bad arguments are then a tool error (2025-11-25) or
    -32602 (2025-06-18)."""
    msgs = [request("initialize", {"protocolVersion": asked, "capabilities": {},
                                   "clientInfo": {"name": "t", "version": "0"}}, id=1),
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            call("join", {"nope": 1}, id=2)]
    rc, out, err, _ = run_stdio(ro.base, agent,
                                "".join(json.dumps(m) + "\n" for m in msgs).encode())
    assert rc == 0, err
    init, bad = stdout_messages(out)
    assert init["result"]["protocolVersion"] == asked, init
    if answer == "tool_error":
        tool_err({"ok": True, "result": bad["result"]}, "invalid_field")
    else:
        assert bad["error"]["code"] == -32602, bad


def test_stdio_a_message_too_large_for_the_daemon(ro, agent):
    """synstackd refuses a body over http.max_body (1 MiB here) outside
    JSON-RPC: the request still gets one answer, with its id."""
    big = call("details", {"item": "x" * (2 * 1024 * 1024)}, id="big")
    msgs = [json.dumps(big), json.dumps(request("ping", id="after"))]
    rc, out, err, _ = run_stdio(ro.base, agent, ("\n".join(msgs) + "\n").encode())
    assert rc == 0, err
    got = stdout_messages(out)
    assert [m["id"] for m in got] == ["big", "after"], got
    assert got[0]["error"]["code"] == -32000 and isinstance(got[0]["error"].get("data"), dict), \
        got[0]
    assert got[1]["result"] == {}, got


def test_stdio_answers_in_order_one_line_each(ro, agent):
    """Each answer is one line, in the order asked; CRLF line ends too."""
    msgs = [request("ping", id=1), call("status", {}, id=2), request("tools/list", id=3),
            call("details", {"item": f"{W}#1"}, id=4)]
    stdin = "\r\n".join(json.dumps(m, indent=2).replace("\n", " ") for m in msgs) + "\r\n"
    rc, out, err, _ = run_stdio(ro.base, agent, stdin.encode())
    assert rc == 0, err
    got = stdout_messages(out)
    assert [m["id"] for m in got] == [1, 2, 3, 4], got
    assert all("result" in m for m in got), got
    st = got[1]["result"]["structuredContent"]
    assert st["gitea"]["login"] and st["gitea"]["token"], st
    ro.add_secret(st["gitea"]["token"])
    # The issue's text holds newlines; its answer is still one line.
    assert "\n" in got[3]["result"]["content"][0]["text"], got[3]


def test_stdio_exits_at_eof_promptly(ro, agent):
    p = subprocess.Popen([str(mcp_bin())], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE,
                         env=dict(os.environ, SYNSTACK_URL=ro.base, SYNSTACK_KEY=agent,
                                  **sanitizer_env()))
    try:
        p.stdin.write((json.dumps(request("ping", id="a")) + "\n").encode())
        p.stdin.flush()
        line = p.stdout.readline()
        assert json.loads(line) == {"jsonrpc": "2.0", "id": "a", "result": {}}, line
        # It answered before EOF: a client may wait for each answer.
        t0 = time.monotonic()
        p.stdin.close()
        rc = p.wait(timeout=10)
        err = p.stderr.read()
        assert rc == 0, err
        check_stderr(err, agent)
        assert time.monotonic() - t0 < 5
        assert p.stdout.read() == b""
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_stdio_empty_input(ro, agent):
    rc, out, err, secs = run_stdio(ro.base, agent, b"")
    assert rc == 0 and out == b"", (rc, out, err)
    assert secs < 10


@pytest.mark.parametrize("key", ["ssk_wrong", "wrong-of-the-right-form"])
def test_stdio_wrong_key(ro, agent, key):
    if key == "wrong-of-the-right-form":
        key = agent[:-1] + ("A" if agent[-1] != "A" else "B")
    msgs = [request("initialize", {"protocolVersion": LATEST}, id=1),
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            request("ping", id="two"), call("feed", {}, id=3),
            {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {}}]
    stdin = "".join(json.dumps(m) + "\n" for m in msgs).encode()
    rc, out, err, _ = run_stdio(ro.base, key, stdin)
    assert rc == 0, err
    got = stdout_messages(out)
    assert [m["id"] for m in got] == [1, "two", 3], got
    for m in got:
        e = m.get("error")
        assert e and e["code"] == -32000, m
        assert isinstance(e.get("data"), dict) and e["data"].get("code") == "unauthorized", m
        assert e["message"], m
    assert key.encode() not in err


def test_stdio_pending_agent(ro):
    _, key = ro.new_agent()
    stdin = (json.dumps(request("tools/list", id=1)) + "\n").encode()
    rc, out, err, _ = run_stdio(ro.base, key, stdin)
    assert rc == 0, err
    (m,) = stdout_messages(out)
    assert m["id"] == 1 and m["error"]["code"] == -32000, m
    assert m["error"]["data"]["code"] == "waiting_for_approval", m


def test_stdio_daemon_unreachable():
    url = f"http://127.0.0.1:{free_port()}"
    msgs = [request("initialize", {"protocolVersion": LATEST}, id=1),
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            request("ping", id=2), call("feed", {}, id="3"), "{broken"]
    stdin = "".join((m if isinstance(m, str) else json.dumps(m)) + "\n" for m in msgs).encode()
    rc, out, err, secs = run_stdio(url, "ssk_" + "A" * 43, stdin, timeout=60)
    assert rc == 0, err
    got = stdout_messages(out)
    # Each request one error; the notification and the line it could not
    # read (no id to answer) nothing it can be blamed for either way.
    reqs = [m for m in got if m["id"] is not None]
    assert [m["id"] for m in reqs] == [1, 2, "3"], got
    for m in reqs:
        assert m["error"]["code"] == -32000 and m["error"]["message"], m
    assert secs < 30
    assert err, "nothing said on stderr about the unreachable daemon"


def test_stdio_without_a_key_is_a_usage_error(ro):
    rc, out, err, _ = run_stdio(ro.base, None, b"")
    assert rc == 2 and out == b"", (rc, out, err)
    assert err


def test_stdio_key_file(ro, agent, tmp_path):
    f = tmp_path / "key"
    f.write_text(agent + "\n")
    env = dict(os.environ, **sanitizer_env())
    for k in ("SYNSTACK_KEY", "SYNSTACK_URL", "SYNSTACK_KEY_FILE"):
        env.pop(k, None)
    p = subprocess.run([str(mcp_bin()), "-u", ro.base + "/", "-K", str(f)],
                       capture_output=True, env=env,
                       input=(json.dumps(request("ping", id=1)) + "\n").encode(), timeout=30)
    assert p.returncode == 0, p.stderr
    check_stderr(p.stderr, agent)
    assert stdout_messages(p.stdout) == [{"jsonrpc": "2.0", "id": 1, "result": {}}]


def test_next_steps_are_worded_as_tools(ro, agent):
    """The core's next steps name commands ("work-on <n>"); a model that
    sees tools reads them as tools ("work_on <n>")."""
    _, result, _ = rpc_answer(post_mcp(ro, agent, call("join", {"project": "acme/widgets"}),
                                       version=LATEST))
    text = result["content"][0]["text"]
    assert "\nNext: feed, work_on <issue>" in text, text
    assert "work-on" not in text.split("\nNext: ")[1], text
