"""Silent webhooks (issue 17, item 5).  Gitea's default [webhook]
ALLOWED_HOST_LIST (external) refuses deliveries to a loopback or private
address; the mirror then lags a sync interval behind, quietly.  synstackd
notices from the reconciliation: a successful run that changed items while
no delivery was received since the run before is "blind"; two blind runs
in a row and /healthz says webhooks are "silent" (pointing at
ALLOWED_HOST_LIST and the hook's URL, status degraded), /metrics shows
synstack_webhooks_silent 1.  A delivery received (or a run with nothing to
change) clears it.  A daemon without a webhook secret says "unknown"."""

import uuid

import pytest

from conftest import wait_for
from emulator import Emulator
from mirror_helpers import (admin_sync, metrics, register_system_hook, wait_startup_sync,
                            write_secret)

W = "acme/widgets"
PUBLIC = "http://synstack.example:8470"


@pytest.fixture(scope="module")
def hook_secret(tmp_path_factory):
    return write_secret(tmp_path_factory.mktemp("silent-hooks"))


def healthz(d):
    r = d.get("/healthz")
    assert r.status_code == 200, r.text
    return r.json()


def deliveries(d):
    return int(d.psql("SELECT count(*) FROM webhook_deliveries")[0][0])


def change(emu):
    """A change in Gitea (a new issue); its delivery, if any, is Gitea's."""
    r = emu.post(f"/repos/{W}/issues", json={"title": f"Silent {uuid.uuid4().hex[:8]}",
                                             "body": "from the test"})
    assert r.status_code == 201, r.text


def delivered_change(emu, d):
    """A change whose delivery the daemon has received."""
    before = deliveries(d)
    change(emu)
    wait_for(lambda: deliveries(d) > before, timeout=20, what="the change's delivery")


def watch(d):
    return healthz(d)["webhooks"]


def test_webhooks_silent_and_back(daemon, hook_secret):
    emu = Emulator()
    try:
        d = daemon(conf={"gitea.url": emu.url, "sync.interval": "1h",
                         "http.public_url": PUBLIC + "/",
                         "gitea.webhook_secret_file": hook_secret[0]})
        wait_startup_sync(d)
        hook = register_system_hook(emu, d.base + "/hooks/gitea", hook_secret[1])

        # Delivering: every run has a delivery since the one before.
        for _ in range(2):
            delivered_change(emu, d)
            assert admin_sync(d)["ran"]
        h = healthz(d)
        assert h["webhooks"] == {"status": "ok"}, h
        assert h["status"] == "ok", h
        assert metrics(d)["synstack_webhooks_silent"] == 0

        # Switched off: the reconciliation alone finds the changes.
        r = emu.patch(f"/admin/hooks/{hook}", json={"active": False})
        assert r.status_code == 200 and r.json()["active"] is False, r.text
        n = deliveries(d)
        change(emu)
        assert admin_sync(d)["ran"]
        assert watch(d)["status"] == "ok"             # one blind run is not enough

        def blind_run():
            change(emu)
            assert admin_sync(d)["ran"]
            w = watch(d)
            return w if w["status"] == "silent" else None
        w = wait_for(blind_run, timeout=30, what="webhooks to look silent")
        assert deliveries(d) == n                     # nothing was delivered meanwhile
        assert "ALLOWED_HOST_LIST" in w["hint"], w
        assert "loopback,private" in w["hint"], w
        assert PUBLIC + "/hooks/gitea" in w["hint"], w
        assert w["hook_url"] == PUBLIC + "/hooks/gitea", w
        h = healthz(d)
        assert h["status"] == "degraded" and h["ok"] is True, h
        assert h["gitea"]["ok"] is True and h["database"]["ok"] is True, h
        assert metrics(d)["synstack_webhooks_silent"] == 1
        # Said once, when it turned silent; not on every run.
        change(emu)
        assert admin_sync(d)["ran"]
        assert watch(d)["status"] == "silent"
        assert d.log().count("webhooks look blocked") == 1, d.log()[-3000:]

        # Switched back on: the first delivery clears it.
        r = emu.patch(f"/admin/hooks/{hook}", json={"active": True})
        assert r.status_code == 200 and r.json()["active"] is True, r.text
        delivered_change(emu, d)
        assert wait_for(lambda: watch(d)["status"] == "ok", what="webhooks ok again")
        h = healthz(d)
        assert h["webhooks"] == {"status": "ok"} and h["status"] == "ok", h
        assert metrics(d)["synstack_webhooks_silent"] == 0
        assert "webhooks: no longer silent" in d.log()
        # And a run after it stays clear.
        assert admin_sync(d)["ran"]
        assert watch(d)["status"] == "ok"
    finally:
        emu.stop()


def test_gitea_default_allowed_hosts_looks_silent(daemon, hook_secret):
    """What admins meet: Gitea with its default ALLOWED_HOST_LIST
    (external) refuses to deliver to the daemon on 127.0.0.1."""
    emu = Emulator(allowed_hosts="external")
    try:
        d = daemon(conf={"gitea.url": emu.url, "sync.interval": "1h",
                         "gitea.webhook_secret_file": hook_secret[0]})
        wait_startup_sync(d)
        register_system_hook(emu, d.base + "/hooks/gitea", hook_secret[1])

        def blind_run():
            change(emu)
            assert admin_sync(d)["ran"]
            w = watch(d)
            return w if w["status"] == "silent" else None
        w = wait_for(blind_run, timeout=30, what="webhooks to look silent")
        assert deliveries(d) == 0
        refused = wait_for(lambda: [x for x in emu.deliveries()
                                    if "ALLOWED_HOST_LIST" in (x.get("error") or "")],
                           what="Gitea's refusals")
        assert refused, emu.deliveries()
        assert "ALLOWED_HOST_LIST" in w["hint"], w
        # The default http.public_url names the hook's URL.
        assert "http://127.0.0.1:8470/hooks/gitea" in w["hint"], w
        assert metrics(d)["synstack_webhooks_silent"] == 1
        # A run with nothing to change clears it too (nothing is lagging).
        wait_for(lambda: admin_sync(d)["ran"] and watch(d)["status"] == "ok",
                 timeout=30, what="a quiet run to clear it")
        assert metrics(d)["synstack_webhooks_silent"] == 0
    finally:
        emu.stop()


def test_no_secret_is_unknown(daemon):
    """Webhooks unused (no gitea.webhook_secret_file): never "silent",
    however many changes the reconciliation finds alone."""
    emu = Emulator()
    try:
        d = daemon(conf={"gitea.url": emu.url, "sync.interval": "1h"})
        wait_startup_sync(d)
        for _ in range(3):
            change(emu)
            assert admin_sync(d)["ran"]
        h = healthz(d)
        assert h["webhooks"] == {"status": "unknown"}, h
        assert h["status"] == "ok", h
        assert metrics(d)["synstack_webhooks_silent"] == 0
        assert "webhooks look blocked" not in d.log()
    finally:
        emu.stop()
