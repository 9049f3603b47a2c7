"""The emulator's HTTP server: the API, git smart HTTP, and /_emulator/
controls for tests (state dump, seeding, faults, webhook switches).

The controls are a test tool's back door and need no authentication; the
emulator listens on loopback only unless told otherwise.
"""

import collections
import contextlib
import json
import re
import socket
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import api, dump, gitjson, seed
from .httpapi import ApiError, Request, authenticate, check_scope, error_body

MAX_BODY = 32 << 20


def plain(obj):
    """The controls' own answers: plain JSON, not Gitea's format."""
    return (json.dumps(obj) + "\n").encode()


class Faults:
    """500 answers, stalls past timeouts, or refused connections, for a
    while.  Controls under /_emulator/ are never affected."""

    def __init__(self):
        self.mode = None
        self.until = 0.0
        self.stall = 0.0
        self.match = None       # only requests "METHOD /path" it matches

    def active(self, method, path):
        if self.mode and time.time() < self.until:
            if self.match is None or self.match.search(f"{method} {path}"):
                return self.mode
            return None
        self.mode = None
        return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Gitea-emulator"
    sys_version = ""

    def log_message(self, fmt, *args):     # quiet unless asked
        if self.server.verbose:
            super().log_message(fmt, *args)

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            raise ApiError(413, "request body too large")
        if n:
            return self.rfile.read(n)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        return b""

    def _send(self, status, body=b"", headers=(), content_type="application/json;charset=utf-8"):
        try:
            self.send_response(status)
            if body or status not in (204, 304):
                self.send_header("Content-Type", content_type)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (a stall fault outlived its timeout).
            self.close_connection = True

    def _handle(self):
        app = self.server.app
        try:
            body = self._body()
        except (ApiError, ValueError):
            self._send(413, b'{"message":"request body too large"}\n')
            self.close_connection = True
            return
        if self.path.startswith("/_emulator/"):
            return self._control(body)
        fault = self.server.faults.active(self.command, self.path.split("?", 1)[0])
        if fault == "500":
            return self._send(500, gitjson.api({"message": "", "url":
                                                app.state.root_url + "api/swagger"}))
        if fault == "stall":
            time.sleep(self.server.faults.stall)
        path = self.path.split("?", 1)[0]
        if path.startswith("/api/"):
            return self._api(body)
        if ".git/" in path or path.endswith("/info/refs") or \
                path.endswith("/git-upload-pack") or path.endswith("/git-receive-pack"):
            return self._git(body)
        self._send(404, b"Not found.\n", content_type="text/plain;charset=utf-8")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

    # -- the API -------------------------------------------------------------

    def _api(self, body):
        app = self.server.app
        self.server.record(self.command, self.path, self.headers, body)
        req = Request(app.state, self.command, self.path, self.headers, body)
        status, obj = 404, None
        try:
            with app.state.lock:
                fn, category = self._route(req)
                authenticate(req)
                check_scope(req, category)
                status, obj = fn(app, req)
        except ApiError as err:
            status, obj = err.status, error_body(req, err)
        except Exception:                               # a bug: say so loudly
            traceback.print_exc()
            status, obj = 500, {"message": "", "url": req.swagger_url()}
        if isinstance(obj, api.Raw):        # a raw file: its bytes, its own type
            return self._send(status, obj.body, req.out_headers,
                              obj.content_type or "application/octet-stream")
        payload = b"" if obj is None else gitjson.api(obj)
        self._send(status, payload, req.out_headers)

    def _route(self, req):
        allowed = False
        for method, rx, category, fn in api.ROUTES:
            m = rx.match(req.path)
            if m is None:
                continue
            allowed = True
            if method == req.method:
                req.params = m.groupdict()
                return fn, category
        if allowed:
            raise ApiError(405, "Method Not Allowed")
        raise ApiError(404, "Not found", errors=[])

    # -- git smart HTTP ------------------------------------------------------

    def _git(self, body):
        app = self.server.app
        path, _, query = self.path.partition("?")
        parts = path.lstrip("/").split("/", 2)
        if len(parts) < 3:
            return self._send(404, b"Not found.\n", content_type="text/plain")
        owner, name, rest = parts[0], parts[1], "/" + parts[2]
        if name.endswith(".git"):
            name = name[:-4]
        push = rest == "/git-receive-pack" or "service=git-receive-pack" in query
        req = Request(app.state, self.command, self.path, self.headers, body)
        challenge = [("WWW-Authenticate", 'Basic realm="Gitea"')]
        with app.state.lock:
            repo = app.state.repo_by_name(owner, name)
            try:
                authenticate(req)
            except ApiError as err:
                if err.status == 403:       # githttp.go: a prohibited account
                    return self._send(403, b"Your account is disabled.\n",
                                      content_type="text/plain")
                return self._send(401, b"Unauthorized\n", challenge, "text/plain")
            if repo is None:
                return self._send(404, b"Repository not found\n", content_type="text/plain")
            level = app.state.access(req.doer, repo)
            if push and req.doer is None or level == "none" and req.doer is None:
                return self._send(401, b"Unauthorized\n", challenge, "text/plain")
            if level == "none":
                return self._send(404, b"Repository not found\n", content_type="text/plain")
            if push and (not app.state.can_write(level) or repo.archived):
                return self._send(403, b"User permission denied\n", content_type="text/plain")
            git_dir, login = repo.git_dir, req.doer.login if req.doer else None
        receive = push and rest == "/git-receive-pack"
        # The repository's lock makes the before/after ref snapshots exact.
        with app.git.lock(git_dir) if receive else contextlib.nullcontext():
            before = app.git.refs(git_dir) if receive else None
            status, headers, out = app.git.http_backend(
                git_dir, rest, self.command, query, self.headers.get("Content-Type"),
                self.headers.get("Content-Encoding"), body, login,
                self.headers.get("Git-Protocol"))
            after = app.git.refs(git_dir) if receive else None
        if receive:
            with app.state.lock:
                repo = app.state.repo_by_name(owner, name)
                if repo is not None:
                    app.on_push(repo, before, after, req.doer)
        ctype = next((v for k, v in headers if k.lower() == "content-type"), "text/plain")
        self._send(status, out, [(k, v) for k, v in headers
                                 if k.lower() not in ("content-type", "content-length")], ctype)

    # -- test controls -------------------------------------------------------

    def _control(self, body):
        srv, app = self.server, self.server.app
        path = self.path.split("?", 1)[0]
        try:
            arg = json.loads(body) if body else {}
        except ValueError:
            return self._send(400, b'{"message":"bad JSON"}\n')
        out = {"ok": True}
        if path == "/_emulator/state" and self.command == "GET":
            with app.state.lock:
                out = dump.state(app)
        elif path == "/_emulator/seed" and self.command == "POST":
            with app.state.lock:
                try:
                    seed.apply(app, arg)
                except (KeyError, ValueError, TypeError) as exc:
                    return self._send(400, plain({"message": f"bad seed: {exc}"}))
        elif path == "/_emulator/faults" and self.command == "POST":
            mode, seconds = arg.get("mode"), float(arg.get("seconds", 10))
            if mode == "refuse":
                self._send(200, plain(out))
                threading.Thread(target=srv.refuse, args=(seconds,), daemon=True).start()
                return
            srv.faults.mode = None if mode in (None, "none") else mode
            srv.faults.until = time.time() + seconds
            srv.faults.stall = float(arg.get("stall", 30))
            srv.faults.match = re.compile(arg["match"]) if arg.get("match") else None
        elif path == "/_emulator/webhooks" and self.command == "POST":
            if "mode" in arg:
                app.hooks.set_mode(arg["mode"])
            if arg.get("flush"):
                out["flushed"] = app.hooks.flush(arg.get("order", "fifo"))
        elif path == "/_emulator/webhooks/replay" and self.command == "POST":
            out["delivery"] = app.hooks.replay(arg.get("delivery", ""))
            if out["delivery"] is None:
                return self._send(404, b'{"message":"no such delivery"}\n')
        elif path == "/_emulator/deliveries" and self.command == "GET":
            app.hooks.wait_idle()
            out = app.hooks.list()
        elif path == "/_emulator/requests" and self.command == "GET":
            out = srv.recorded()
        elif path == "/_emulator/requests" and self.command == "POST":
            if arg.get("clear"):
                srv.recorded(clear=True)
        elif path == "/_emulator/commit" and self.command == "POST":
            with app.state.lock:
                try:
                    out["sha"] = seed.commit(app, arg)
                except (KeyError, ValueError) as exc:
                    return self._send(400, plain({"message": f"bad commit: {exc}"}))
        else:
            return self._send(404, b'{"message":"no such control"}\n')
        self._send(200, plain(out))


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address, app, verbose=False):
        super().__init__(address, Handler)
        self.app = app
        self.verbose = verbose
        self.faults = Faults()
        self.refusing = threading.Event()
        self.requests = collections.deque(maxlen=5000)
        self.requests_lock = threading.Lock()

    def handle_error(self, request, client_address):
        """A client gone mid-request (killed, or timed out) is no bug of
        ours; anything else is, and is printed as a traceback."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionResetError, BrokenPipeError, TimeoutError)):
            return
        super().handle_error(request, client_address)

    def record(self, method, path, headers, body):
        """What an API client sent (method, path with query, Sudo, JSON
        body); never the credentials."""
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = body.decode("utf-8", "replace")
        with self.requests_lock:
            self.requests.append({"method": method, "path": path,
                                  "sudo": headers.get("Sudo"), "body": parsed})

    def recorded(self, clear=False):
        with self.requests_lock:
            out = list(self.requests)
            if clear:
                self.requests.clear()
        return out

    def refuse(self, seconds):
        """Close the listening socket for a while: connections are refused
        (ECONNREFUSED), as when Gitea is down, then listen again."""
        time.sleep(0.2)                         # let the answer go out
        self.refusing.set()
        self.shutdown()
        self.socket.close()
        time.sleep(seconds)
        self.socket = socket.socket(self.address_family, self.socket_type)
        self.server_bind()
        self.server_activate()
        self.refusing.clear()

    def run(self):
        """serve_forever, resumed after each refusal."""
        while True:
            self.serve_forever()
            if not self.refusing.is_set():
                return
            while self.refusing.is_set():
                time.sleep(0.05)
