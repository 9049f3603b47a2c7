"""Webhook delivery, the way Gitea 1.26.3 delivers.

One body per event, stored once and sent as the same bytes to every
matching hook (README section 2); each hook signs it with its own secret.
Deliveries run concurrently on a small pool, with a 5 s timeout and no
retry.  Default (template) hooks never fire; inactive hooks never fire;
targets outside `[webhook] ALLOWED_HOST_LIST` are refused.

Fault switches for tests: `off` drops every delivery (recorded as
suppressed), `hold` queues them until `flush` (in order, reversed or
shuffled), `duplicate` sends each twice with the same delivery id, and
`replay` sends a recorded delivery again with a new delivery id, as the
web UI's "Replay" button does.
"""

import fnmatch
import ipaddress
import random
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

from . import gitjson, payloads

DELIVER_TIMEOUT = 5
MAX_RECORDS = 2000


class Delivery:
    def __init__(self, hook, event_type, body, headers, url):
        self.id = None
        self.hook_id = hook.id
        self.event_type = event_type
        self.body = body
        self.headers = headers
        self.url = url
        self.content_type = hook.content_type
        self.status = None          # HTTP status, or None
        self.error = ""
        self.outcome = "pending"    # pending, delivered, failed, refused, suppressed, held
        self.at = time.time()

    def record(self):
        return {"id": self.id, "hook_id": self.hook_id,
                "event": self.headers.get("X-Gitea-Event"),
                "event_type": self.event_type, "url": self.url,
                "outcome": self.outcome, "status": self.status,
                "error": self.error, "at": self.at,
                "body": self.body.decode("utf-8"), "headers": self.headers}


class Dispatcher:
    def __init__(self, state, allowed_hosts="external", workers=4):
        self.state = state
        self.allowed = [h.strip() for h in allowed_hosts.split(",") if h.strip()]
        self.mode = "deliver"
        self.lock = threading.Lock()
        self.held = []
        self.records = []
        self.pool = ThreadPoolExecutor(max_workers=workers,
                                       thread_name_prefix="webhook")

    # -- which hooks -------------------------------------------------------

    def hooks_for(self, repo):
        """Active repository, organisation and system hooks of a repo."""
        owner = self.state.users[repo.owner_id]
        out = []
        for h in self.state.hooks.values():
            if not h.active:
                continue
            if (h.kind == "repository" and h.owner_id == repo.id) or \
               (h.kind == "organization" and h.owner_id == owner.id) or \
               (h.kind == "user" and h.owner_id == owner.id) or \
               h.kind == "system":
                out.append(h)
        return out

    @staticmethod
    def subscribed(hook, event_type, ref=None):
        if not any(name in hook.events for name in payloads.subscriptions(event_type)):
            return False
        # The branch filter applies to push, create and delete only.
        if ref is not None and hook.branch_filter not in ("", "*"):
            branch = ref[len("refs/heads/"):] if ref.startswith("refs/heads/") else ref
            return any(fnmatch.fnmatchcase(branch, pat.strip())
                       for pat in hook.branch_filter.strip("{}").split(","))
        return True

    def host_allowed(self, url):
        """Gitea's ALLOWED_HOST_LIST: external, loopback, private, *, a
        host name or a CIDR."""
        host = urllib.parse.urlsplit(url).hostname or ""
        if "*" in self.allowed or host in self.allowed:
            return True
        try:
            addrs = {ipaddress.ip_address(a[4][0])
                     for a in socket.getaddrinfo(host, None)}
        except (socket.gaierror, ValueError):
            return False
        for ip in addrs:
            ok = False
            for rule in self.allowed:
                if rule == "loopback":
                    ok |= ip.is_loopback
                elif rule == "private":
                    ok |= ip.is_private and not ip.is_loopback
                elif rule == "external":
                    ok |= ip.is_global
                elif "/" in rule:
                    try:
                        ok |= ip in ipaddress.ip_network(rule, strict=False)
                    except ValueError:
                        pass
            if not ok:
                return False
        return bool(addrs)

    # -- firing -------------------------------------------------------------

    def fire(self, repo, event_type, obj, ref=None, indent=2):
        """Queue the deliveries of one event of one repository.  Called
        with the state lock held; sending happens on the pool."""
        hooks = [h for h in self.hooks_for(repo) if self.subscribed(h, event_type, ref)]
        if not hooks:
            return
        body = gitjson.hook_body(obj, indent=indent)
        for h in hooks:
            self._queue(Delivery(h, event_type, body, {}, h.url), h)

    def _sign(self, d, hook):
        d.id = str(uuid.uuid4())
        d.headers = payloads.headers(d.event_type, d.id, d.body, hook.secret,
                                     "system" if hook.kind == "system" else hook.kind,
                                     content_type=hook.content_type,
                                     authorization=hook.authorization_header)

    def _queue(self, d, hook):
        self._sign(d, hook)
        with self.lock:
            mode = self.mode
            self._remember(d)
            if mode == "off":
                d.outcome = "suppressed"
                return
            if mode == "hold":
                d.outcome = "held"
                self.held.append(d)
                return
        self.pool.submit(self._send, d)
        if mode == "duplicate":
            twin = Delivery.__new__(Delivery)
            twin.__dict__.update(d.__dict__)
            with self.lock:
                self._remember(twin)
            self.pool.submit(self._send, twin)

    def _remember(self, d):
        self.records.append(d)
        if len(self.records) > MAX_RECORDS:
            del self.records[:len(self.records) - MAX_RECORDS]

    def _send(self, d):
        if not self.host_allowed(d.url):
            host = urllib.parse.urlsplit(d.url).hostname
            d.outcome = "refused"
            d.error = ("webhook can only call allowed HTTP servers (check your "
                       f"webhook.ALLOWED_HOST_LIST setting), deny '{host}'")
            return
        body = d.body
        headers = dict(d.headers)
        if d.content_type == "form":
            # The signature stays over the JSON (deliver.go:51-61).
            body = ("payload=" + urllib.parse.quote_plus(d.body.decode())).encode()
        headers["User-Agent"] = "Go-http-client/1.1"
        req = urllib.request.Request(d.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=DELIVER_TIMEOUT) as resp:
                resp.read(1 << 20)
                d.status = resp.status
                d.outcome = "delivered" if 200 <= resp.status < 300 else "failed"
        except urllib.error.HTTPError as exc:
            d.status = exc.code
            d.outcome = "failed"
        except (OSError, ValueError) as exc:
            d.error = str(exc)
            d.outcome = "failed"

    # -- test controls ------------------------------------------------------

    def set_mode(self, mode):
        if mode not in ("deliver", "off", "hold", "duplicate"):
            raise ValueError(mode)
        with self.lock:
            self.mode = mode

    def flush(self, order="fifo"):
        with self.lock:
            held, self.held = self.held, []
        if order == "lifo":
            held.reverse()
        elif order == "shuffle":
            random.shuffle(held)
        for d in held:
            d.outcome = "pending"
            self.pool.submit(self._send, d)
        return len(held)

    def replay(self, delivery_id):
        """Send a recorded delivery again under a new delivery id."""
        with self.lock:
            old = next((d for d in self.records if d.id == delivery_id), None)
        if old is None:
            return None
        hook = self.state.hooks.get(old.hook_id)
        if hook is None:
            return None
        d = Delivery(hook, old.event_type, old.body, {}, hook.url)
        self._sign(d, hook)
        with self.lock:
            self._remember(d)
        self.pool.submit(self._send, d)
        return d.id

    def list(self):
        with self.lock:
            return [d.record() for d in self.records]

    def wait_idle(self, timeout=10):
        """Until nothing is pending (tests use it to settle)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if not any(d.outcome == "pending" for d in self.records):
                    return True
            time.sleep(0.02)
        return False
