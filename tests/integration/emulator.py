"""Running the Gitea emulator from tests, checking its answers against
Gitea's swagger document, and receiving its webhooks.

Every JSON answer of 2xx that goes through Emulator.api() is validated
against the response schema swagger.v1.json gives for that operation, so
each test that uses the API also checks the emulator's conformance.
"""

import base64
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
# Gitea 1.26.3's swagger document and real webhook bodies, kept in the
# repository (tests/gitea_emulator/reference/README.md says where from).
GITEA_REF = os.path.join(REPO_ROOT, "tests", "gitea_emulator", "reference")
SWAGGER = os.path.join(GITEA_REF, "swagger.v1.json")
FIXTURES = os.path.join(GITEA_REF, "webhooks")

ADMIN_TOKEN = "5e1f0c8a2d4b6e8f0a1c3e5f7b9d1f3a5c7e9b0d"
PASSWORD = "correct-horse-battery"

# A small world: an admin service account, an org owner, two agents.
DEFAULT_SEED = {
    "users": [
        {"login": "sidecar", "admin": True, "password": PASSWORD, "full_name": "SynStack",
         "tokens": [{"name": "synstack", "token": ADMIN_TOKEN, "scopes": ["all"]}]},
        {"login": "alice", "password": PASSWORD, "full_name": "Alice"},
        {"login": "agent-coder", "password": PASSWORD, "full_name": "Coder Agent"},
        {"login": "agent-reviewer", "password": PASSWORD, "full_name": "Reviewer Agent"},
        {"login": "outsider", "password": PASSWORD},
    ],
    "orgs": [{"login": "acme", "full_name": "ACME Corp", "owners": ["alice"]}],
    "repos": [{
        "owner": "acme", "name": "widgets", "description": "Widget library",
        "files": {"README.md": "# Widgets\n", "src/grid.c": "int gap = 4;\n"},
        "collaborators": {"agent-coder": "write", "agent-reviewer": "write"},
        "labels": [{"name": "bug"}, {"name": "good first issue", "color": "7057ff"}],
        "issues": [
            {"title": "Widgets misalign in grid layout", "poster": "alice",
             "body": "The gap is off by one at every breakpoint.", "labels": ["bug"]},
            {"title": "Document the grid API", "poster": "alice", "body": "Write docs."},
        ],
    }],
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- swagger validation ------------------------------------------------------

def _strict(schema):
    """Swagger 2.0 cannot say "nullable", yet Gitea sends null for unset
    pointers and nil slices: accept null for every property.  And refuse
    keys a definition does not list, so an invented field fails."""
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items() if not k.startswith("x-")}
        if isinstance(schema.get("properties"), dict):
            out["properties"] = {k: {"anyOf": [_strict(v), {"type": "null"}]}
                                 for k, v in schema["properties"].items()}
            out.setdefault("additionalProperties", False)
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


class Swagger:
    """Finds the operation of a request and validates an answer against
    its response schema (swagger 2.0 schemas are JSON Schema draft 4)."""

    def __init__(self, path=SWAGGER):
        import jsonschema
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
        # User's custom MarshalJSON appends "username" (user.go:63-70).
        raw["definitions"]["User"]["properties"]["username"] = {"type": "string"}
        self.doc = {**raw, "definitions": _strict(raw["definitions"])}
        self.jsonschema = jsonschema
        self.resolver = jsonschema.RefResolver("", self.doc)
        self.ops = []
        for tmpl, item in self.doc["paths"].items():
            rx = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(tmpl)) + "$"
            # Literal segments first, so /repos/search beats /repos/{owner}.
            self.ops.append((tmpl.count("{"), re.compile(rx), tmpl, item))
        self.ops.sort(key=lambda o: o[0])

    def schema_for(self, method, path, status):
        for _, rx, tmpl, item in self.ops:
            if rx.match(path) and method.lower() in item:
                op = item[method.lower()]
                resp = op.get("responses", {}).get(str(status))
                if resp is None:
                    raise AssertionError(f"{method} {tmpl} has no {status} response in swagger")
                if "$ref" in resp:
                    resp = self.doc["responses"][resp["$ref"].rsplit("/", 1)[1]]
                return tmpl, resp.get("schema")
        raise AssertionError(f"{method} {path} is not in swagger.v1.json")

    def validate(self, method, path, status, body):
        tmpl, schema = self.schema_for(method, path, status)
        if schema is None:
            return tmpl
        self.jsonschema.Draft4Validator(schema, resolver=self.resolver).validate(body)
        return tmpl


_SWAGGER = None


def swagger():
    global _SWAGGER
    if _SWAGGER is None:
        _SWAGGER = Swagger()
    return _SWAGGER


# -- the emulator --------------------------------------------------------------

class Emulator:
    def __init__(self, seed=None, allowed_hosts="loopback,private", validate=True):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.root_url = self.url + "/"
        self.data = tempfile.mkdtemp(prefix="gitea-emulator-test-")
        self.validate = validate
        self.validated = set()
        seed_path = os.path.join(self.data, "seed.json")
        with open(seed_path, "w") as f:
            json.dump(DEFAULT_SEED if seed is None else seed, f)
        self.log_path = os.path.join(self.data, "emulator.log")
        env = dict(os.environ, PYTHONPATH=os.path.join(REPO_ROOT, "tests"))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gitea_emulator", "--listen", f"127.0.0.1:{self.port}",
             "--data", os.path.join(self.data, "repos"), "--seed", seed_path,
             "--allowed-hosts", allowed_hosts],
            env=env, stdout=subprocess.DEVNULL, stderr=open(self.log_path, "w"))
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("emulator exited:\n" + self.log())
            try:
                requests.get(self.url + "/api/v1/version", timeout=1)
                return
            except requests.RequestException:
                time.sleep(0.05)
        raise RuntimeError("emulator did not start:\n" + self.log())

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        # A Python traceback in the log is an emulator bug.
        assert "Traceback" not in self.log(), self.log()

    # -- API calls ---------------------------------------------------------

    def api(self, method, path, token=ADMIN_TOKEN, basic=None, sudo=None, json=None,
            params=None, headers=None, validate=None):
        h = dict(headers or {})
        if basic is not None:
            h["Authorization"] = "Basic " + base64.b64encode(
                f"{basic[0]}:{basic[1]}".encode()).decode()
        elif token is not None:
            h["Authorization"] = f"token {token}"
        if sudo:
            h["Sudo"] = sudo
        r = requests.request(method, self.url + "/api/v1" + path, json=json, params=params,
                             headers=h, timeout=30)
        if (self.validate if validate is None else validate) and 200 <= r.status_code < 300 \
                and r.content:
            tmpl = swagger().validate(method, "/" + path.lstrip("/").split("?")[0],
                                      r.status_code, r.json())
            self.validated.add((method, tmpl))
        return r

    def get(self, path, **kw):
        return self.api("GET", path, **kw)

    def post(self, path, json=None, **kw):
        return self.api("POST", path, json=json, **kw)

    def patch(self, path, json=None, **kw):
        return self.api("PATCH", path, json=json, **kw)

    def put(self, path, json=None, **kw):
        return self.api("PUT", path, json=json, **kw)

    def delete(self, path, **kw):
        return self.api("DELETE", path, **kw)

    def user_token(self, login, password=PASSWORD, scopes=("all",)):
        """Mint a token the way SynStack does: Basic auth, secret in sha1."""
        r = self.post(f"/users/{login}/tokens", json={"name": f"t-{time.time_ns()}",
                                                       "scopes": list(scopes)},
                      basic=(login, password))
        assert r.status_code == 201, r.text
        return r.json()["sha1"]

    # -- controls ------------------------------------------------------------

    def control(self, path, body=None):
        r = (requests.post if body is not None else requests.get)(
            self.url + "/_emulator/" + path, json=body, timeout=30)
        assert r.status_code == 200, r.text
        return r.json()

    def state(self):
        return self.control("state")

    def deliveries(self):
        return self.control("deliveries")

    def requests(self, clear=False):
        """The API requests the emulator received (method, path, sudo,
        body), oldest first; clear=True forgets them (and returns [])."""
        if clear:
            self.control("requests", {"clear": True})
            return []
        return self.control("requests")

    def webhooks(self, **kw):
        return self.control("webhooks", kw)

    def faults(self, mode, seconds=5, **kw):
        return self.control("faults", dict(mode=mode, seconds=seconds, **kw))

    def commit(self, repo, branch, files, author="agent-coder", **kw):
        return self.control("commit", dict(repo=repo, branch=branch, files=files,
                                           author=author, **kw))["sha"]

    def clone_url(self, repo, user=None, secret=None):
        if user is None:
            return f"{self.url}/{repo}.git"
        return f"http://{user}:{secret}@127.0.0.1:{self.port}/{repo}.git"


# -- a webhook receiver -----------------------------------------------------

class HookReceiver:
    """Collects deliveries: (headers dict, raw body bytes), answering
    `status` (or sleeping `delay` seconds first)."""

    def __init__(self, status=200, delay=0.0):
        self.status, self.delay = status, delay
        self.received = []
        self.cv = threading.Condition()
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if outer.delay:
                    time.sleep(outer.delay)
                with outer.cv:
                    outer.received.append((dict(self.headers.items()), body))
                    outer.cv.notify_all()
                self.send_response(outer.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, n, timeout=10):
        with self.cv:
            self.cv.wait_for(lambda: len(self.received) >= n, timeout)
            return list(self.received)

    def events(self, timeout=1.0):
        """Everything received once deliveries have settled."""
        time.sleep(timeout)
        with self.cv:
            return list(self.received)

    def close(self):
        self.server.shutdown()
        self.server.server_close()
