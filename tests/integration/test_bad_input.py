"""Bad input: oversized, malformed, deep, invalid UTF-8, wrong media type,
random garbage.  Never a 500, and the daemon keeps serving."""

import json
import random
import re
import socket

import pytest

from conftest import assert_error, assert_ok, unique_name, raw_http

MAX_BODY = 4096
MAX_DEPTH = 10
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def d(daemon_module):
    return daemon_module(conf={"http.max_body": "4KiB", "http.max_json_depth": MAX_DEPTH})


@pytest.fixture(scope="module")
def active_key(d):
    return d.new_agent(status="active")[1]


def post_raw(d, body, path="/api/v1/agents", headers=None):
    h = dict(JSON)
    h.update(headers or {})
    return d.post(path, data=body, headers=h)


def assert_healthy(d):
    assert d.alive(), f"daemon died: {d.proc.returncode}\n{d.log()[-3000:]}"
    r = d.get("/healthz")
    assert r.status_code == 200, r.text
    assert r.json()["database"]["ok"] is True


# ---------------------------------------------------------------- size

def padded(n):
    """A valid registration body of exactly n bytes."""
    body = json.dumps({"name": unique_name()})
    assert len(body) <= n
    return (body + " " * (n - len(body))).encode()


def test_body_exactly_max_is_accepted(d):
    assert_ok(post_raw(d, padded(MAX_BODY)), 201)


def test_body_one_over_max_is_413(d):
    assert_error(post_raw(d, padded(MAX_BODY + 1)), 413, "body_too_large")
    assert_healthy(d)


def send_big(port, head, body, chunk=65536, timeout=10):
    """Send head then as much of body as the server takes; read its answer."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    buf = b""
    try:
        s.sendall(head)
        try:
            for i in range(0, len(body), chunk):
                s.sendall(body[i:i + chunk])
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            pass
        while True:
            try:
                c = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not c:
                break
            buf += c
    finally:
        s.close()
    return buf


def test_huge_body_is_413(d):
    body = b"{" + b" " * (5 * 1024 * 1024) + b"}"
    buf = send_big(d.port, b"POST /api/v1/agents HTTP/1.1\r\nHost: x\r\n"
                   b"Content-Type: application/json\r\nConnection: close\r\n"
                   b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n", body)
    assert buf.startswith(b"HTTP/1.1 413"), buf[:300]
    assert b'"body_too_large"' in buf, buf[:500]
    assert_healthy(d)


def test_huge_content_length_without_body(d):
    """Announcing 10 GB must be answered at once, not awaited."""
    st, _, body = d.raw(b"POST /api/v1/agents HTTP/1.1\r\nHost: x\r\n"
                        b"Content-Type: application/json\r\nConnection: close\r\n"
                        b"Content-Length: 10000000000\r\n\r\n{", timeout=10)
    assert st == 413, (st, body[:300])
    assert json.loads(body)["error"]["code"] == "body_too_large"
    assert_healthy(d)


def test_chunked_body_over_max_is_413(d):
    def gen():
        yield b'{"name":"' + b"a" * 1000
        for _ in range(10):
            yield b"a" * 1000
        yield b'"}'
    r = d.post("/api/v1/agents", data=gen(), headers=JSON)
    assert_error(r, 413, "body_too_large")
    assert_healthy(d)


def test_chunked_body_under_max_is_accepted(d):
    name = unique_name()

    def gen():
        yield b'{"name":'
        yield json.dumps(name).encode()
        yield b"}"
    data = assert_ok(d.post("/api/v1/agents", data=gen(), headers=JSON), 201)
    assert data["name"] == name


# ---------------------------------------------------------------- media type

@pytest.mark.parametrize("ctype", [None, "text/plain", "application/x-www-form-urlencoded",
                                   "application/jsonx", "multipart/form-data; boundary=x",
                                   "json", ""])
def test_wrong_content_type(d, ctype):
    name = unique_name()
    hdrs = {} if ctype is None else {"Content-Type": ctype}
    r = d.post("/api/v1/agents", data=json.dumps({"name": name}).encode(), headers=hdrs)
    assert_error(r, 415, "unsupported_media_type")
    assert d.psql(f"SELECT count(*) FROM agents WHERE name = '{name}'") == [["0"]]


def test_json_with_charset_is_accepted(d):
    r = d.post("/api/v1/agents", data=json.dumps({"name": unique_name()}).encode(),
               headers={"Content-Type": "application/json; charset=utf-8"})
    assert_ok(r, 201)


def test_act_wrong_content_type(d, active_key):
    r = d.post("/api/v1/act", data=b'{"command":"help"}',
               headers={"Content-Type": "text/plain", **d.agent_headers(active_key)})
    assert_error(r, 415, "unsupported_media_type")


# ---------------------------------------------------------------- malformed JSON

MALFORMED = [
    b"", b" ", b"{", b"}", b'{"name":', b'{"name":"abc"', b'{"name":"abc",}', b"{'name':'abc'}",
    b'{"name":"abc"} x', b'{"name":"abc"}{}', b'{"name":"abc"}]', b"nul", b"tru",
    b'{"name" "abc"}', b'{name:"abc"}', b'{"name":"abc\\q"}', b'{"name":"\\u12"}',
    b'{"name":01}', b'{"name":-}', b'{"name":"abc"}\x00', b'\x00{"name":"abc"}',
    b'{"name":"a\x00b"}', b"\xef\xbb\xbf" + b'{"name":"abc"}x', b"/* c */ {}",
    b'{"name":"abc"} // c', b"[", b"[1,]", b'{"a":[1,2}', b'"unterminated',
]


@pytest.mark.parametrize("body", MALFORMED, ids=[repr(b)[:40] for b in MALFORMED])
def test_malformed_json(d, body):
    assert_error(post_raw(d, body), 400, "malformed_json")


INVALID_UTF8 = [
    b'{"name":"ab\xff"}', b'{"name":"ab","description":"\xc3"}',
    b'{"name":"ab","description":"\xc0\xaf"}', b'{"name":"ab","description":"\xed\xa0\x80"}',
    b'{"name":"ab","description":"\xf4\x90\x80\x80"}', b'{"name":"ab","description":"\x80"}',
    b'{"name":"ab","de\xffscription":"x"}', b'{"name":"ab","description":"\xe2\x82"}',
]


@pytest.mark.parametrize("body", INVALID_UTF8, ids=[repr(b)[:50] for b in INVALID_UTF8])
def test_invalid_utf8(d, body):
    assert_error(post_raw(d, body), 400, "malformed_json")


def test_nan_is_not_json(d):
    """NaN and Infinity are not JSON (RFC 8259)."""
    for lit in (b"NaN", b"Infinity", b"-Infinity"):
        body = b'{"name":"' + unique_name().encode() + b'","description":' + lit + b"}"
        assert_error(post_raw(d, body), 400, "malformed_json")


@pytest.mark.parametrize("body", [b"[]", b'"str"', b"42", b"null", b"true", b'["name"]',
                                  b'[{"name":"abc"}]'])
def test_non_object_top_level(d, body):
    assert_error(post_raw(d, body), 400, ("malformed_json", "invalid_field"))


@pytest.mark.parametrize("body", [
    {"name": 5}, {"name": {"a": 1}}, {"name": "abc", "description": 7},
    {"name": "abc", "contact": ["x"]}, {"name": "abc", "description": False},
    {"name": "abc-nul", "description": "a\u0000b"},
    {"name": "abc-ctl", "description": "bell \u0007"},
    {"name": "abc-esc", "contact": "\u001b[31mred"},
])
def test_wrong_shape_is_invalid_field(d, body):
    assert_error(d.post("/api/v1/agents", json=body), 400, "invalid_field")
    assert d.psql("SELECT count(*) FROM agents WHERE name LIKE 'abc%'") == [["0"]]


def test_unicode_text_is_kept(d):
    desc = "caf\u00e9 \u2603 \U0001F600 \u4e2d\u6587 \"quoted\" \\ back\nline"
    data = assert_ok(d.register(unique_name(), description=desc, contact="\u00e9@x"), 201)
    rows = [a for a in assert_ok(d.admin_get("/api/v1/admin/agents"))["agents"]
            if a["id"] == data["id"]]
    assert rows and rows[0]["description"] == desc and rows[0]["contact"] == "\u00e9@x"


# ---------------------------------------------------------------- depth

def nested(depth):
    """A registration body whose total nesting (the top object included) is depth."""
    inner = "[" * (depth - 1) + "]" * (depth - 1)
    return ('{"name":"' + unique_name() + '","description":' + inner + "}").encode()


def test_depth_at_limit_is_parsed(d):
    # parsed, then refused for its shape: description is not a string
    assert_error(post_raw(d, nested(MAX_DEPTH)), 400, "invalid_field")


def test_depth_over_limit(d):
    assert_error(post_raw(d, nested(MAX_DEPTH + 1)), 400, "malformed_json")


def test_very_deep_json(d):
    # stays under max_body: 2000 levels
    assert_error(post_raw(d, b"[" * 2000 + b"]" * 2000), 400, "malformed_json")
    assert_error(post_raw(d, b'{"a":' * 600 + b"1" + b"}" * 600), 400, "malformed_json")
    assert_healthy(d)


def test_default_depth_limit_is_32(daemon):
    x = daemon(conf={"http.max_json_depth": None})
    assert_error(x.post("/api/v1/agents", data=nested(32), headers=JSON), 400, "invalid_field")
    assert_error(x.post("/api/v1/agents", data=nested(33), headers=JSON), 400, "malformed_json")


# ---------------------------------------------------------------- act bodies

@pytest.mark.parametrize("body,code", [
    (b"{", "malformed_json"), (b"[]", ("malformed_json", "invalid_field")),
    (b'{"command":5}', "invalid_field"), (b'{"command":"help","x":1}', "invalid_field"),
    (b"{}", ("invalid_field", "unknown_command", "bad_request")), (b'{"command":""}', ("invalid_field", "unknown_command", "bad_request")),
])
def test_act_bad_bodies(d, active_key, body, code):
    r = d.post("/api/v1/act", data=body, headers={**JSON, **d.agent_headers(active_key)})
    assert_error(r, 400, code)


# ---------------------------------------------------------------- garbage

def mutate(rng, b):
    b = bytearray(b)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(4)
        pos = rng.randrange(len(b) + 1)
        if op == 0 and b:
            del b[min(pos, len(b) - 1)]
        elif op == 1:
            b.insert(pos, rng.randrange(256))
        elif op == 2 and b:
            b[min(pos, len(b) - 1)] = rng.choice(b'{}[]",:\\0123456789aeflnrstu \x00\xff\xc3')
        else:
            b[pos:pos] = rng.choice([b'"', b"{", b"[", b"\\u", b"\\", b"null", b",", b":",
                                     b'"\\ud800"', b"1e999999", b"-0", b"\xf0\x9f"])
    return bytes(b)


def random_json(rng, depth=0):
    k = rng.randrange(7 if depth < 6 else 4)
    if k == 0:
        return rng.choice([None, True, False])
    if k == 1:
        return rng.choice([0, -1, 2 ** 63, 1.5e308, -1e-300, 12345678901234567890])
    if k in (2, 3):
        n = rng.randrange(0, 50)
        return "".join(chr(rng.choice([rng.randrange(32, 127), rng.randrange(0, 32),
                                       rng.randrange(0x80, 0x800), rng.randrange(0x800, 0xD800),
                                       rng.randrange(0x10000, 0x110000)])) for _ in range(n))
    if k in (4, 5):
        return {rng.choice(["name", "description", "contact", "command", "x", ""]):
                random_json(rng, depth + 1) for _ in range(rng.randrange(0, 5))}
    return [random_json(rng, depth + 1) for _ in range(rng.randrange(0, 5))]


def garbage_bodies(seed, n):
    rng = random.Random(seed)
    valid = [json.dumps({"name": "fz-" + str(i), "description": "d", "contact": "c"}).encode()
             for i in range(n)]
    out = []
    for i in range(n):
        kind = i % 4
        if kind == 0:
            out.append(bytes(rng.randrange(256) for _ in range(rng.randrange(0, 300))))
        elif kind == 1:
            out.append(mutate(rng, valid[i]))
        elif kind == 2:
            out.append(json.dumps(random_json(rng), ensure_ascii=rng.random() < 0.5)
                       .encode("utf-8", "surrogatepass"))
        else:
            v = {"name": "fz-" + str(i)}
            v[rng.choice(["name", "description", "contact"])] = random_json(rng)
            out.append(json.dumps(v).encode())
    return out


def check_any_answer(r, allowed):
    assert r.status_code in allowed, (r.status_code, r.request.body[:200] if r.request.body else b"",
                                      r.text[:300])
    if r.status_code >= 400:
        assert_error(r, r.status_code)
    else:
        assert_ok(r, r.status_code)


def test_random_garbage_registrations(d):
    for body in garbage_bodies(20240611, 320):
        r = post_raw(d, body)
        check_any_answer(r, (201, 400, 409, 413))
    assert_healthy(d)


def test_random_garbage_commands(d, active_key):
    rng = random.Random(7)
    h = {**JSON, **d.agent_headers(active_key)}
    base = b'{"command":"help"}'
    for i in range(120):
        if i % 3 == 0:
            body = mutate(rng, base)
        elif i % 3 == 1:
            body = json.dumps({"command": random_json(rng)}).encode("utf-8", "surrogatepass")
        else:
            words = ["help", "feed", "join", "work-on", "details", "submit", "my-work",
                     "status", "review", "pr", "abandon", "merge", "x" * 300, "\u00e9", "3",
                     "acme/web#12", "-1", "'", '"', "\\", "%s%n", "\t"]
            body = json.dumps({"command": " ".join(rng.choice(words)
                                                   for _ in range(rng.randrange(1, 5)))}).encode()
        r = d.post("/api/v1/act", data=body, headers=h)
        assert r.status_code != 500 and r.status_code < 600, (body, r.status_code, r.text[:300])
        if r.status_code >= 400:
            assert_error(r, r.status_code)
        else:
            assert_ok(r, r.status_code)
    assert_healthy(d)


def test_random_admin_refs(d):
    rng = random.Random(99)
    import urllib.parse
    for _ in range(60):
        ref = "".join(chr(rng.randrange(1, 0x3000)) for _ in range(rng.randrange(1, 60)))
        path = "/api/v1/admin/agents/" + urllib.parse.quote(ref, safe="") + "/" + \
            rng.choice(["approve", "suspend"])
        r = d.admin_post(path)
        assert r.status_code in (400, 404), (ref, r.status_code, r.text[:300])
        assert_error(r, r.status_code)
    assert_healthy(d)


MCP_TOOLS = ["feed", "join", "work_on", "details", "submit", "status", "review",
             "pr_details", "abandon", "merge", "nope", ""]
MCP_ARGS = ["project", "issue", "item", "branch", "title", "pr", "verdict", "comment", "x"]


def random_mcp_message(rng, i):
    """JSON-RPC messages from well formed to broken, aimed at every tool."""
    kind = i % 4
    if kind == 0:
        return mutate(rng, b'{"jsonrpc":"2.0","id":1,"method":"tools/call",'
                           b'"params":{"name":"feed","arguments":{}}}')
    if kind == 1:
        return json.dumps(random_json(rng)).encode("utf-8", "surrogatepass")
    m = {"jsonrpc": rng.choice(["2.0", "2.0", "1.0", None]),
         "id": rng.choice([1, "a", None, 2 ** 70, [], {}, 1.5, "x" * 300]),
         "method": rng.choice(["tools/call", "tools/call", "tools/list", "initialize",
                               "ping", "notifications/initialized", "x", 5])}
    if kind == 2:
        m["params"] = {"name": rng.choice(MCP_TOOLS),
                       "arguments": {rng.choice(MCP_ARGS): random_json(rng)
                                     for _ in range(rng.randrange(0, 4))}}
    else:
        m["params"] = random_json(rng)
    if rng.random() < 0.2:
        del m[rng.choice(list(m))]
    return json.dumps(m).encode("utf-8", "surrogatepass")


def test_random_garbage_mcp(d, active_key):
    """Anything at /mcp gets a JSON-RPC answer or 202, never a 500."""
    rng = random.Random(1306)
    for i in range(240):
        body = random_mcp_message(rng, i)
        h = {**JSON, **d.agent_headers(active_key)}
        if i % 5 == 0:
            h["MCP-Protocol-Version"] = "2025-11-25"
        r = d.post("/mcp", data=body, headers=h)
        assert r.status_code in (200, 202, 400, 413), (body[:200], r.status_code, r.text[:300])
        if r.status_code == 202:
            assert r.text == "", r.text
            continue
        m = r.json()
        if r.status_code == 413:
            assert_error(r, 413)
            continue
        assert m.get("jsonrpc") == "2.0" and ("result" in m) != ("error" in m), (body[:200], m)
        if "error" in m:
            assert m["error"]["code"] in (-32700, -32600, -32601, -32602), m
    assert_healthy(d)


def test_random_rest_paths(d, active_key):
    """Any bytes in the REST routes' path parameters: a 4xx, never a 500."""
    import urllib.parse
    rng = random.Random(2025)
    h = d.agent_headers(active_key)
    shapes = [("GET", "/api/v1/projects/{}/{}"), ("POST", "/api/v1/projects/{}/{}/join"),
              ("GET", "/api/v1/projects/{}/{}/issues/{}"),
              ("POST", "/api/v1/projects/{}/{}/issues/{}/claim"),
              ("GET", "/api/v1/projects/{}/{}/pulls/{}"),
              ("POST", "/api/v1/projects/{}/{}/pulls/{}/merge")]
    for i in range(120):
        method, shape = shapes[i % len(shapes)]
        parts = ["".join(chr(rng.choice([rng.randrange(1, 0x80), rng.randrange(0x80, 0x3000)]))
                         for _ in range(rng.randrange(1, 130)))
                 for _ in range(shape.count("{}"))]
        if rng.random() < 0.3:
            parts[-1] = rng.choice(["0", "-1", "99999999999", "1e3", "007", "12x", "٣"])
        path = shape.format(*(urllib.parse.quote(p, safe="") for p in parts))
        r = d.request(method, path, headers=h)
        assert 400 <= r.status_code < 500, (method, path[:200], r.status_code, r.text[:300])
        assert_error(r, r.status_code)
    assert_healthy(d)


# ---------------------------------------------------------------- raw HTTP abuse

RAW = [
    b"GARBAGE\r\n\r\n",
    b"GET / HTTP/9.9\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,   # a TLS hello
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n",
    b"POST /api/v1/agents HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
    b"POST /api/v1/agents HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    b"POST /api/v1/agents HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n"
    b"Content-Type: application/json\r\n\r\n{}{}{}{",
    b"POST /api/v1/agents HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
    b"Content-Type: application/json\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /api/v1/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \x00\x01\x02\r\n\r\n",
    b"GET /%00%ff%0d%0a HTTP/1.1\r\nHost: x\r\n\r\n",
    b"\r\n\r\n\r\n",
]


def read_one_response(s, timeout=3.0):
    """Bytes of one response, or what came before the peer closed or went
    quiet for timeout seconds (a server may keep a connection open)."""
    s.settimeout(timeout)
    buf = b""
    while True:
        head, sep, body = buf.partition(b"\r\n\r\n")
        if sep:
            m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
            if m and len(body) >= int(m.group(1)):
                return buf
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            return buf
        if not chunk:
            return buf
        buf += chunk


@pytest.mark.parametrize("req", RAW, ids=[repr(r)[:30] for r in RAW])
def test_raw_http_abuse(d, req):
    s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
    try:
        try:
            s.sendall(req)
        except (BrokenPipeError, ConnectionResetError):
            pass
        buf = read_one_response(s)
    finally:
        s.close()
    if buf.startswith(b"HTTP/1."):
        status = int(buf[9:12])
        assert status != 500 and status < 600, buf[:300]
        head, _, body = buf.partition(b"\r\n\r\n")
        if b"application/json" in head and body:
            json.loads(body.decode("utf-8"))
    assert_healthy(d)


def test_many_connections_then_still_serving(d):
    socks = []
    try:
        for _ in range(50):
            s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
            s.sendall(b"POST /api/v1/agents HTTP/1.1\r\nHost: x\r\n")
            socks.append(s)
    finally:
        for s in socks:
            s.close()
    assert_healthy(d)
    st, _, body = raw_http(d.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert st == 200, body
