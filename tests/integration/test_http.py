"""HTTP surface: routing errors, /healthz, /metrics, the request log."""

import json
import re
import uuid

import pytest

from conftest import assert_error, assert_ok, raw_http, unique_name, wait_for


@pytest.fixture(scope="module")
def d(daemon_module):
    # Gitea unreachable (nothing listens on port 9): the degraded state.
    return daemon_module(conf={"gitea.url": "http://127.0.0.1:9"})


# ---------------------------------------------------------------- routing

@pytest.mark.parametrize("path", ["/definitely/not/here", "/api/v1/nope", "/api/v2/agents",
                                  "/api/v1/admin/nothing", "/api/v1/agents/extra/parts",
                                  "/healthz/x", "/api/v1/admin/agents/bob/explode"])
def test_unknown_path_is_404(d, path):
    assert_error(d.get(path), 404, "not_found")
    assert_error(d.post(path, json={}), 404, "not_found")


@pytest.mark.parametrize("method,path,allowed", [
    ("DELETE", "/api/v1/agents", "POST"),
    ("PUT", "/api/v1/agents", "POST"),
    ("POST", "/healthz", "GET"),
    ("DELETE", "/metrics", "GET"),
    ("PUT", "/api/v1/me", "GET"),
    ("GET", "/api/v1/act", "POST"),
    ("GET", "/api/v1/admin/agents/bob/approve", "POST"),
    ("DELETE", "/api/v1/admin/agents/bob/suspend", "POST"),
    ("POST", "/api/v1/admin/agents", "GET"),
    ("PATCH", "/api/v1/admin/audit", "GET"),
])
def test_wrong_method_is_405(d, method, path, allowed):
    r = d.request(method, path, headers=d.admin_headers())
    assert_error(r, 405, "method_not_allowed")
    allow = [m.strip() for m in r.headers.get("Allow", "").split(",")]
    assert allowed in allow, f"Allow: {r.headers.get('Allow')!r}"
    assert method not in allow


def test_405_needs_no_auth(d):
    """Routing comes first: a known path with a wrong method is 405 even
    without credentials."""
    assert_error(d.request("DELETE", "/api/v1/admin/agents"), 405, "method_not_allowed")


def test_head_healthz(d):
    r = d.request("HEAD", "/healthz")
    assert r.status_code in (200, 405), r.status_code
    if r.status_code == 405:
        assert "GET" in r.headers.get("Allow", "")


@pytest.mark.parametrize("method,path", [
    ("GET", "/%ff"), ("GET", "/x%c3%28y"), ("GET", "/api/v1/%ed%a0%80"),
    ("POST", "/api/v1/admin/agents/%ff%fe/approve"),
    ("POST", "/api/v1/admin/agents/ab%c0%af/suspend"),
])
def test_error_body_is_valid_utf8_for_bad_bytes_in_path(d, method, path):
    """Invalid UTF-8 in a request path must not be echoed raw into the JSON
    answer: the body stays valid UTF-8 JSON."""
    st, hdrs, body = raw_http(d.port, f"{method} {path} HTTP/1.1\r\nHost: x\r\n"
                              f"Authorization: Bearer {d.token}\r\n"
                              "Connection: close\r\n\r\n".encode())
    assert st in (400, 404), (st, body)
    try:
        text, problem = body.decode("utf-8"), None
    except UnicodeDecodeError as e:
        text, problem = None, str(e)
    assert problem is None, f"{method} {path}: the answer is not UTF-8 ({problem}): {body!r}"
    j = json.loads(text)
    assert j["ok"] is False and set(j["error"]) == {"code", "message", "hint"}


def test_query_string_does_not_change_route(d):
    r = d.get("/healthz?x=1&y=%00")
    assert r.status_code == 200


# ---------------------------------------------------------------- healthz

def test_healthz_shape(d):
    r = d.get("/healthz")
    assert r.status_code == 200, r.text
    assert r.headers.get("Content-Type", "").startswith("application/json")
    body = r.json()
    assert body["ok"] is True
    assert body["status"] == "degraded", body       # Gitea at 127.0.0.1:9 is unreachable
    db = body["database"]
    assert db["ok"] is True
    assert isinstance(db["latency_ms"], (int, float)) and not isinstance(db["latency_ms"], bool)
    assert 0 <= db["latency_ms"] < 5000
    g = body["gitea"]
    assert g["ok"] is False
    assert isinstance(g["error"], str) and g["error"], g


def test_healthz_ok_with_gitea_up(daemon):
    x = daemon()                    # the session's Gitea emulator
    body = x.get("/healthz").json()
    assert body["status"] == "ok", body
    assert body["gitea"] == {"ok": True, "url": x.conf["gitea.url"], "version": "1.26.3",
                             "admin_token": "ok"}
    assert "synstack_gitea_up 1" in x.get("/metrics").text


def test_healthz_is_fast_with_gitea_down(d):
    import time
    t0 = time.monotonic()
    for _ in range(5):
        assert d.get("/healthz").status_code == 200
    assert time.monotonic() - t0 < 5


def test_healthz_gitea_blackhole_timeout(daemon):
    """Gitea that accepts and never answers: healthz answers within the timeout."""
    import socket
    import time
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(16)
    try:
        x = daemon(conf={"gitea.url": f"http://127.0.0.1:{lst.getsockname()[1]}",
                         "gitea.timeout": "1s"})
        t0 = time.monotonic()
        r = x.get("/healthz", timeout=10)
        took = time.monotonic() - t0
        assert r.status_code == 200 and r.json()["status"] == "degraded", r.text
        assert r.json()["gitea"]["ok"] is False
        assert took < 3.5, f"/healthz took {took:.1f}s with gitea.timeout 1s"
        # other requests are not held up by the slow Gitea
        t0 = time.monotonic()
        assert_ok(x.register(), 201)
        assert time.monotonic() - t0 < 2
    finally:
        lst.close()


# ---------------------------------------------------------------- metrics

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[^"}]|"(?:[^"\\]|\\.)*")*\})? '
                    r'(-?[0-9.eE+-]+|NaN|\+Inf|-Inf)( -?\d+)?$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def scrape(d):
    r = d.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers.get("Content-Type", "").startswith("text/plain"), r.headers
    samples = []
    for line in r.text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"not Prometheus text: {line!r}"
        labels = dict(LABEL.findall(m.group(2) or ""))
        samples.append((m.group(1), labels, float(m.group(3))))
    return r.text, samples


def requests_total(samples, **want):
    return sum(v for n, l, v in samples if n == "synstack_http_requests_total"
               and all(l.get(k) == x for k, x in want.items()))


def test_metrics_basics(d):
    text, samples = scrape(d)
    assert re.search(r"^# TYPE synstack_http_requests_total counter$", text, re.M), text[:2000]
    up = {n: v for n, l, v in samples if n in ("synstack_db_up", "synstack_gitea_up")}
    assert up == {"synstack_db_up": 1.0, "synstack_gitea_up": 0.0}, up


def test_metrics_count_requests(d):
    _, before = scrape(d)
    for _ in range(3):
        assert d.get("/healthz").status_code == 200
    for _ in range(2):
        d.get("/no/such/" + uuid.uuid4().hex)
    for _ in range(4):
        d.get("/api/v1/me")
    assert_ok(d.register(), 201)
    _, after = scrape(d)
    for n, l, v in after:
        if n == "synstack_http_requests_total":
            assert set(l) >= {"route", "method", "status"}, l

    def delta(pred):
        def tot(s):
            return sum(v for n, l, v in s if n == "synstack_http_requests_total" and pred(l))
        return tot(after) - tot(before)

    assert delta(lambda l: "healthz" in l["route"] and l["method"] == "GET"
                 and l["status"] == "200") == 3
    # unmatched paths may share one route label (and no method), but count
    assert delta(lambda l: l["status"] == "404") == 2
    assert delta(lambda l: "me" in l["route"] and l["method"] == "GET"
                 and l["status"] == "401") == 4
    assert delta(lambda l: "agents" in l["route"] and l["method"] == "POST"
                 and l["status"] == "201") == 1


def test_metrics_route_label_is_bounded(d):
    """Unknown paths and ids must not become label values (unbounded series)."""
    marks = [uuid.uuid4().hex for _ in range(5)]
    for m in marks:
        d.get("/x/" + m)
        d.admin_post(f"/api/v1/admin/agents/n{m[:20]}/approve")
    text, _ = scrape(d)
    for m in marks:
        assert m[:20] not in text, f"a request path became a label value: {m}"


# ---------------------------------------------------------------- request log

def logfmt(line):
    return dict(re.findall(r'([A-Za-z_][A-Za-z0-9_.-]*)=("(?:[^"\\]|\\.)*"|\S*)', line))


def request_lines(d):
    return [logfmt(l) for l in d.log().splitlines() if "msg=request" in l]


def test_request_log_line(d):
    name = unique_name()
    assert_ok(d.register(name), 201)
    assert_error(d.get("/api/v1/me"), 401)

    def find():
        rl = request_lines(d)
        a = [x for x in rl if x.get("method") == "POST" and x.get("path") == "/api/v1/agents"
             and x.get("status") == "201"]
        b = [x for x in rl if x.get("method") == "GET" and x.get("path") == "/api/v1/me"
             and x.get("status") == "401"]
        return a and b
    wait_for(find, timeout=3, what="request log lines")


def test_request_log_path_is_escaped(d):
    """A path with a newline must stay on one log line."""
    before = len([l for l in d.log().splitlines() if "msg=request" in l])
    st, _, _ = raw_http(d.port, b"GET /inject%0Amsg=request%20method=GET%20path=/forged"
                        b"%20status=200 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert st == 404
    wait_for(lambda: len([l for l in d.log().splitlines() if "msg=request" in l]) > before,
             timeout=3, what="the request's log line")
    lines = d.log().splitlines()
    forged = [l for l in lines if "path=/forged" in l and "inject" not in l]
    assert not forged, f"a forged log line: {forged}"
    new = [l for l in lines if "msg=request" in l][before:]
    assert len(new) == 1, new
    assert "status=404" in new[0]


def test_request_log_has_no_query_secrets(daemon):
    """Credentials travel in headers; the log holds none of them (the
    fixture also checks every admin token and key at teardown)."""
    d = daemon()                    # approval needs a reachable Gitea
    _, key = d.new_agent(status="active")
    assert_ok(d.get("/api/v1/me", headers=d.agent_headers(key)))
    assert key not in d.log()
    assert d.token not in d.log()


def test_no_request_lines_when_disabled(daemon):
    x = daemon(conf={"log.requests": False})
    assert_ok(x.register(), 201)
    x.get("/nope")
    assert not [l for l in x.log().splitlines() if "msg=request" in l], x.log()[-2000:]


def test_log_is_logfmt(d):
    for line in d.log().splitlines():
        if not line.strip():
            continue
        kv = logfmt(line)
        assert kv, f"not logfmt: {line!r}"
        assert "msg" in kv or "level" in kv, f"no msg/level: {line!r}"
