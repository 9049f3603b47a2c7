#!/usr/bin/python3
"""Writes the seed corpora of the fuzz targets (fuzz/corpus/<target>/),
from what the tests use: the HTTP requests and MCP messages they send,
the commands agents type, Gitea's real webhook bodies
(tests/gitea_emulator/reference/webhooks) and the sample configuration.
Run it again when those change; the corpora are committed."""

import hashlib
import json
import os
import pathlib

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent
CORPUS = HERE / "corpus"
KEY = "ssk_ZnV6emluZy1hZ2VudC1rZXktZm9yLXN5bnN0YWNrISE"
ADMIN = "fuzz-admin-token-for-synstack"


def write(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(data).hexdigest()).write_bytes(data)


def http(method, path, body=b"", headers=()):
    h = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1:8470", "Connection: close"]
    h += list(headers)
    if body:
        h += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(h) + "\r\n\r\n").encode() + body


AGENT = [f"Authorization: Bearer {KEY}"]
ADMIN_H = [f"Authorization: Bearer {ADMIN}"]

COMMANDS = ["feed", "help", "help work-on", "join acme/widgets", "join 1", "work-on 3",
            "work-on acme/widgets#1", "details acme/widgets", "details acme/widgets#5",
            "details 2", "my-work", "status", "submit issue-1-fix", 'submit issue-1 "A title"',
            "pr acme/widgets#5", 'review approve acme/widgets#5 "Looks right"',
            'review acme/widgets#5 request-changes "Name the constant"', "merge acme/widgets#5",
            "abandon", "claim 42corp/app#7", 'review comment 5 "a \\"quoted\\" word"',
            "   feed   ", "", "work-on", "work-on 1 2"]


def seeds_http():
    yield http("GET", "/healthz")
    yield http("GET", "/metrics")
    yield http("GET", "/api/v1/openapi.json")
    yield http("POST", "/api/v1/agents", json.dumps(
        {"name": "ada", "description": "fixes docs", "contact": "x@example.org"}).encode())
    yield http("GET", "/api/v1/me", headers=AGENT)
    yield http("GET", "/api/v1/feed", headers=AGENT)
    yield http("GET", "/api/v1/leaderboard?limit=5", headers=AGENT)
    yield http("GET", "/api/v1/help?command=work-on", headers=AGENT)
    yield http("POST", "/api/v1/act", json.dumps({"command": "feed"}).encode(), AGENT)
    yield http("GET", "/api/v1/projects/acme/widgets", headers=AGENT)
    yield http("POST", "/api/v1/projects/acme/widgets/issues/1/claim", headers=AGENT)
    yield http("DELETE", "/api/v1/claims", headers=AGENT)
    yield http("POST", "/api/v1/pulls", json.dumps({"branch": "issue-1-x"}).encode(), AGENT)
    yield http("POST", "/api/v1/projects/acme/widgets/pulls/5/reviews",
               json.dumps({"verdict": "approve", "comment": "ok"}).encode(), AGENT)
    yield http("GET", "/api/v1/admin/agents?status=pending", headers=ADMIN_H)
    yield http("POST", "/api/v1/admin/agents/fuzzer/suspend", headers=ADMIN_H)
    yield http("GET", "/api/v1/admin/audit?limit=3", headers=ADMIN_H)
    yield http("PUT", "/api/v1/admin/projects/acme/widgets/policy",
               json.dumps({"required_approvals": 2, "auto_merge": None}).encode(), ADMIN_H)
    yield http("GET", "/healthz?" + "&".join(f"a{i}=b" for i in range(70)))
    yield b"GET /healthz HTTP/1.1\r\n\r\n"
    yield b"GET /healthz HTTP/1.0\r\n\r\n"
    yield (b"POST /api/v1/agents HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
           b"Content-Type: application/json\r\n\r\n5\r\n{\"na\r\n0\r\n\r\n")
    yield (b"POST /api/v1/agents HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n"
           b"Expect: 100-continue\r\n\r\n")
    yield http("POST", "/mcp", json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"})
               .encode(), AGENT + ["Accept: application/json, text/event-stream"])


def seeds_mcp():
    yield {"jsonrpc": "2.0", "id": 1, "method": "initialize",
           "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                      "clientInfo": {"name": "fuzz", "version": "1"}}}
    yield {"jsonrpc": "2.0", "method": "notifications/initialized"}
    yield {"jsonrpc": "2.0", "id": "a", "method": "tools/list"}
    yield {"jsonrpc": "2.0", "id": 2, "method": "ping"}
    for name, args in (("feed", {}), ("join", {"project": "acme/widgets"}),
                       ("work_on", {"issue": "acme/widgets#1"}), ("details", {"item": "1"}),
                       ("submit", {"branch": "issue-1-x", "title": "T"}), ("status", {}),
                       ("review", {"pr": "acme/widgets#5", "verdict": "approve"}),
                       ("pr_details", {"pr": "acme/widgets#5"}), ("abandon", {}),
                       ("merge", {"pr": "acme/widgets#5"}), ("details", {"item": 3})):
        yield {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
               "params": {"name": name, "arguments": args}}
    yield [{"jsonrpc": "2.0", "id": 1, "method": "ping"}]
    yield {"jsonrpc": "2.0", "id": 4, "result": {}}


def seeds_webhook():
    ref = REPO / "tests" / "gitea_emulator" / "reference" / "webhooks"
    index = json.loads((ref / "index.json").read_text())
    for d in index["deliveries"]:
        body = (ref / d["file"]).read_bytes()
        event = d["headers"].get("X-Gitea-Event-Type") or d["headers"]["X-Gitea-Event"]
        yield b"\x01" + event.encode() + b"\n" + body
    yield b"\x00issues\n{}"
    yield b"\x01repository\n{\"action\":\"deleted\",\"repository\":{\"id\":1}}"


def seeds_json():
    yield b'{"command": "feed"}'
    yield b'{"branch": "issue-1", "title": "T"}'
    yield b'{"verdict": "approve", "comment": "\\u00e9t\\u00e9"}'
    yield b'[1, 2.5, -3e10, true, false, null, "x"]'
    yield b'{"a": {"b": {"c": [1, {"d": "e"}]}}}'
    yield b'{"labels": [{"name": "bug"}, {"name": "ui"}]}'
    yield b'"\\ud83d\\ude00"'
    yield b"{'single': 1}"


def seeds_conf():
    yield (REPO / "conf" / "synstack.yaml").read_bytes()
    yield b"http:\n  listen: [\"127.0.0.1:1\", \"unix:/tmp/x\"]\n  max_body: 64KiB\n"
    yield b"database:\n  pool_size: [1, 2\n"
    yield b"http: &a\n  max_connections: 4\n"
    yield b"work:\n  claim_ttl: 48h\n  merge_style: squash\nelo:\n  pair_decay: 50\n"
    yield b"admin:\n  token_hashes: [\"sha256:" + b"0" * 64 + b"\"]\n"


def main():
    for s in seeds_http():
        write("http", s)
    for m in seeds_mcp():
        write("mcp", json.dumps(m))
    for c in COMMANDS:
        write("command", c)
    for s in seeds_webhook():
        write("webhook", s)
    for s in seeds_json():
        write("json", s)
    for s in seeds_conf():
        write("conf", s)


if __name__ == "__main__":
    main()
