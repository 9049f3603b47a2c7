"""`synstackd install-hook` (issue 4): registers Gitea's system webhook to
<http.public_url>/hooks/gitea, active and a real system hook (not a
template), updates it on the next run instead of adding a second one, and
refuses to run without a webhook secret.  Deliveries then arrive signed
and are applied."""

import re
import signal
import subprocess

from conftest import synstackd_bin, wait_for
from mirror_helpers import HOOK_EVENTS, q_json, sign, wait_startup_sync, write_secret


def install(d):
    return subprocess.run([str(synstackd_bin()), "-c", d.config_path, "install-hook"],
                          capture_output=True, text=True, timeout=60)


def system_hooks(emu):
    r = emu.get("/admin/hooks", params={"type": "system"})
    assert r.status_code == 200, r.text
    return r.json()


def hooked_daemon(daemon, emu, tmp_path, public_url=None, secret=True):
    conf = {"gitea.url": emu.url, "sync.interval": "1h"}
    if secret:
        conf["gitea.webhook_secret_file"] = write_secret(tmp_path)[0]
    d = daemon(conf=conf, start=False)
    d.write_config(conf={"http.public_url": public_url or d.base})
    return d


def secret_of(d):
    with open(d.conf["gitea.webhook_secret_file"]) as f:
        return f.readline().strip()


def test_creates_then_updates_one_active_system_hook(daemon, gitea_factory, tmp_path):
    emu = gitea_factory()
    d = hooked_daemon(daemon, emu, tmp_path)
    d.start().wait_ready()
    wait_startup_sync(d)
    url = d.base + "/hooks/gitea"

    r = install(d)
    assert r.returncode == 0, r.stderr
    m = re.match(r"created Gitea system webhook #(\d+) -> (\S+)\n", r.stdout)
    assert m and m.group(2) == url, r.stdout
    hook_id = int(m.group(1))
    assert secret_of(d) not in r.stdout + r.stderr
    hooks = system_hooks(emu)
    assert [h["id"] for h in hooks] == [hook_id], hooks
    h = hooks[0]
    assert h["active"] is True and h["type"] == "gitea" and h["config"]["url"] == url, h
    assert h["config"]["content_type"] == "json" and set(HOOK_EVENTS) <= set(h["events"]), h
    # A system hook, not a template for repositories made later.
    assert emu.get("/admin/hooks", params={"type": "default"}).json() == []
    assert [x["kind"] for x in emu.state()["hooks"]] == ["system"]

    # Someone switched it off and narrowed it: the second run puts it back.
    assert emu.patch(f"/admin/hooks/{hook_id}", json={"active": False,
                                                      "events": ["push"]}).status_code == 200
    emu.requests(clear=True)
    r = install(d)
    assert r.returncode == 0, r.stderr
    # As Gitea's EditHookOption says: no "type" (only CreateHookOption has
    # one), the rest as on creation.
    edits = [x for x in emu.requests() if x["method"] == "PATCH"]
    assert [x["path"] for x in edits] == [f"/api/v1/admin/hooks/{hook_id}"], edits
    assert set(edits[0]["body"]) == {"active", "events", "branch_filter", "config"}, edits
    assert r.stdout.startswith(f"updated Gitea system webhook #{hook_id} -> {url}\n"), r.stdout
    hooks = system_hooks(emu)
    assert [x["id"] for x in hooks] == [hook_id], hooks
    assert hooks[0]["active"] is True and set(HOOK_EVENTS) <= set(hooks[0]["events"]), hooks

    # Deliveries arrive signed with the secret and are applied.
    n = emu.post("/repos/acme/widgets/issues", json={"title": "Hooked"}).json()["number"]
    dl = [x for x in emu.deliveries() if x["hook_id"] == hook_id]
    assert len(dl) == 1 and dl[0]["status"] == 200, dl
    assert dl[0]["headers"]["X-Gitea-Signature"] == sign(secret_of(d), dl[0]["body"].encode())
    d.drained()
    assert q_json(d, f"SELECT outcome FROM webhook_deliveries WHERE delivery_id = '{dl[0]['id']}'") \
        == [{"outcome": "applied"}]
    assert d.psql(f"SELECT title FROM issues WHERE number = {n}") == [["Hooked"]]

    # A new secret: install-hook gives it to Gitea, SIGHUP to the daemon.
    write_secret(tmp_path)
    r = install(d)
    assert r.returncode == 0 and r.stdout.startswith("updated"), r.stdout + r.stderr
    d.signal(signal.SIGHUP)
    wait_for(lambda: "configuration reloaded" in d.log(), timeout=10, what="the reload")
    emu.post("/repos/acme/widgets/issues", json={"title": "Hooked again"})
    last = [x for x in emu.deliveries() if x["hook_id"] == hook_id][-1]
    assert last["status"] == 200, last
    d.drained()
    assert d.psql("SELECT count(*) FROM issues WHERE title = 'Hooked again'") == [["1"]]
    assert len(system_hooks(emu)) == 1


def test_without_a_secret_file_it_refuses(daemon, gitea_factory, tmp_path):
    emu = gitea_factory()
    d = hooked_daemon(daemon, emu, tmp_path, secret=False)
    r = install(d)
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert "gitea.webhook_secret_file" in r.stderr and r.stdout == "", r.stderr
    assert emu.get("/admin/hooks", params={"type": "all"}).json() == []


def test_public_url_with_a_slash_and_gitea_failing(daemon, gitea_factory, tmp_path):
    emu = gitea_factory()
    d = hooked_daemon(daemon, emu, tmp_path, public_url="http://synstack.example.invalid:8470/")
    emu.faults("500", seconds=30)
    r = install(d)
    assert r.returncode == 1 and "synstackd: install-hook:" in r.stderr, (r.stdout, r.stderr)
    emu.faults("none")
    r = install(d)
    assert r.returncode == 0, r.stderr
    hooks = system_hooks(emu)
    assert [h["config"]["url"] for h in hooks] == \
        ["http://synstack.example.invalid:8470/hooks/gitea"], hooks
