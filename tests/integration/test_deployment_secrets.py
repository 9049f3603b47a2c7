"""Deployment secrets (docs/deployment.md, "Secrets"): set, list without
values, reveal with a reason (audited), BYOK and its confirmation; the
digests; sealed values tampered with in the database, or opened under
another master key, refused clearly; the master key rotated (whole, or
interrupted halfway: nothing changes); key files readable by group or
others refused; and no value anywhere but in a reveal: not the log, not
another answer, not /metrics, not a pg_dump of the database.

The Gitea of these tests has three repositories (P1, P2, P3); every test
has a daemon and a database of its own.
"""

import base64
import copy
import hashlib
import json
import os
import re
import secrets
import subprocess
import uuid

import pytest

from conftest import PG_BIN, REPO, assert_error, assert_ok, synstackd_bin, wait_for
from emulator import DEFAULT_SEED, Emulator
from mirror_helpers import wait_startup_sync

P1, P2, P3 = "acme/widgets", "acme/gadgets", "acme/gizmos"
PROJECTS = (P1, P2, P3)
PLATFORMS_FILE = REPO / "conf" / "platforms.yaml"
SECRET_FIELDS = {"name", "digest", "byok", "confirmed", "confirmed_by", "confirmed_at",
                 "set_by", "updated_at", "required"}
# Words of an answer that shows internals rather than saying what is wrong.
INTERNALS = ("sodium", "xchacha", "poly1305", "pgres", "libpq", "segfault", "assert",
             "errno", ".c:", "null pointer")
SEALED_HEADER = 1 + 8 + 24      # version, key id, nonce (bytes)


# -- the world ------------------------------------------------------------------------

def deploy_seed():
    s = copy.deepcopy(DEFAULT_SEED)
    for full in PROJECTS[1:]:
        owner, name = full.split("/")
        s["repos"].append({"owner": owner, "name": name, "description": f"The {name}",
                           "files": {"README.md": f"# {name}\n"}})
    return s


@pytest.fixture(scope="module")
def emu():
    e = Emulator(seed=deploy_seed())
    yield e
    e.stop()


def deploy_conf(emu, extra=None):
    c = {"gitea.url": emu.url, "sync.interval": "1h"}
    if PLATFORMS_FILE.exists():
        c["deploy.platforms_file"] = str(PLATFORMS_FILE)
    c.update(extra or {})
    return c


def start(daemon, emu, key=None, db=None):
    """A daemon (on db, or a fresh database) whose projects are synced."""
    extra = {"secrets.master_key_file": key} if key else None
    d = daemon(conf=deploy_conf(emu, extra), db=db)
    if db is None:
        wait_startup_sync(d)
        names = d.psql("SELECT owner || '/' || name FROM projects ORDER BY 1")
        assert set(PROJECTS) <= {r[0] for r in names}, names
    return d


def key_file(dirpath, name, mode=0o600, text=None):
    """A master key file: 64 hex digits unless text is given."""
    path = os.path.join(str(dirpath), name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write((secrets.token_hex(32) if text is None else text) + "\n")
    os.chmod(path, mode)
    return path


def read_key(path):
    with open(path) as f:
        return f.read().strip()


def rotate(d, new_key, timeout=60):
    return subprocess.run([str(synstackd_bin()), "-c", d.config_path, "rotate-master-key",
                           new_key], capture_output=True, text=True, timeout=timeout)


# -- the routes ---------------------------------------------------------------------

def proj(project, *rest):
    return "/".join((f"/api/v1/projects/{project}",) + tuple(str(x) for x in rest))


def created(r):
    """A creation answer: 200 or 201 and the usual shape."""
    assert r.status_code in (200, 201), f"{r.status_code}: {r.text[:500]}"
    return assert_ok(r, r.status_code)


def sponsor_headers(token):
    return {"Authorization": "Bearer " + token}


def put_secret(d, project, name, value=None, byok=False, headers=None):
    body = {"byok": True} if byok else {"value": value}
    if value is not None:
        d.add_secret(value)
    r = d.request("PUT", proj(project, "deployment/secrets", name), json=body,
                  headers=headers or d.admin_headers())
    return r


def set_secret(d, project, name, value=None, byok=False, headers=None):
    return created(put_secret(d, project, name, value, byok, headers))


def list_secrets(d, project, headers=None):
    r = d.get(proj(project, "deployment/secrets"), headers=headers or d.admin_headers())
    data = assert_ok(r)
    assert set(data) >= {"secrets", "missing"}, data
    return data


def by_name(listing):
    out = {s["name"]: s for s in listing["secrets"]}
    assert len(out) == len(listing["secrets"]), listing
    return out


def listed(d, project):
    """What a listing says of each secret but when it was last written."""
    return {n: {k: v for k, v in e.items() if k != "updated_at"}
            for n, e in by_name(list_secrets(d, project)).items()}


def reveal(d, project, name, reason="integration test: checking the value", headers=None):
    body = {"reason": reason} if reason is not None else {}
    return d.post(proj(project, "deployment/secrets", name, "reveal"), json=body,
                  headers=headers or d.admin_headers())


def revealed(d, project, name):
    data = assert_ok(reveal(d, project, name))
    assert data["name"] == name, data
    return data["value"]


def audit(d, project):
    data = assert_ok(d.admin_get("/api/v1/admin/audit", params={"project": project,
                                                                "limit": 100}))
    return data["entries"]


def new_sponsor(d, project, **fields):
    body = {"name": f"Sponsor {uuid.uuid4().hex[:8]}"}
    body.update(fields)
    return created(d.admin_post(proj(project, "sponsors"), json=body))


def sponsor_token(d, project, sponsor_id):
    data = created(d.admin_post(proj(project, "sponsors", sponsor_id, "tokens"), json={}))
    assert data["token"].startswith("sst_"), data
    d.add_secret(data["token"])
    return data["token"]


def new_platform(d, secret_names):
    name = "tp-" + uuid.uuid4().hex[:10]
    created(d.admin_post("/api/v1/admin/platforms", json={
        "name": name, "display_name": "Test platform " + name, "secrets": list(secret_names),
        "trigger": "manual", "config_files": [], "docs_url": "https://example.invalid/docs"}))
    return name


# -- values and where they must not be ------------------------------------------------

class Value:
    """A secret value with random marks in it: any mark found anywhere is
    (part of) the value leaking, whatever the escaping around it."""

    def __init__(self, kind="plain"):
        self.marks = [secrets.token_hex(12) for _ in range(3)]
        a, b, c = self.marks
        self.value = {
            "plain": f"sk_live_{a}{b}{c}",
            "multiline": (f"-----BEGIN PRIVATE KEY-----\nMII{a}\n{b}==\n"
                          f"  indented {c}\n-----END PRIVATE KEY-----\n"),
            "quotes": f"""p'a"ss\\w`o$rd {a} <&> {{"k": "{b}"}}; DROP TABLE x; -- {c} '""",
            "unicode": f"pässwörd-ключ-🔑-{a}-{b}-{c}",
            "url": f"https://hooks.example.invalid/deploy/{a}?token={b}&x={c}",
        }[kind]

    def needles(self):
        v = self.value
        raw = v.encode()
        out = {v, json.dumps(v)[1:-1], json.dumps(v, ensure_ascii=False)[1:-1], raw.hex()}
        for enc in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
            s = enc.decode()
            out |= {s, s.rstrip("=")}
        out |= set(self.marks)
        return out


def assert_no_value(text, values, where):
    for v in values:
        for n in v.needles():
            assert n not in text, f"{where} contains a secret value (or its encoding): {n!r}"


def assert_clear_refusal(r, leaks=(), about_key=False, keys=()):
    """A reveal refused as a user can understand it: an error answer with a
    code of its own (not a 500 and not "internal"), that shows no value
    and no internals."""
    assert 400 <= r.status_code < 600 and r.status_code != 500, \
        f"expected a clear refusal, got {r.status_code}: {r.text[:500]}"
    err = assert_error(r, r.status_code)
    assert err["code"] not in ("internal", "ok", ""), err
    text = r.text.lower()
    for w in INTERNALS:
        assert w not in text, f"the refusal shows internals ({w!r}): {r.text[:500]}"
    for s in leaks:
        assert s not in r.text, f"the refusal contains {s[:24]!r}...: {r.text[:500]}"
    for k in keys:      # master keys' hex: not the key, not a part of it
        for part in (k, k[:16], k[-16:], k[16:32]):
            assert part.lower() not in text, f"the refusal shows part of a master key: {r.text}"
    if about_key:
        said = (err["code"] + " " + err["message"] + " " + err["hint"]).lower()
        assert "key" in said, f"the refusal does not say it is about the master key: {err}"
    return err


# -- the database -----------------------------------------------------------------------

def project_id(d, project):
    owner, name = project.split("/")
    rows = d.psql(f"SELECT id FROM projects WHERE owner = '{owner}' AND name = '{name}'")
    assert len(rows) == 1, rows
    return rows[0][0]


def sealed(d, project, name):
    rows = d.psql("SELECT encrypted_value FROM deployment_secrets"
                  f" WHERE project_id = '{project_id(d, project)}' AND key_name = '{name}'")
    assert len(rows) == 1 and rows[0][0], rows
    return rows[0][0]


def set_sealed(d, project, name, text):
    d.psql(f"UPDATE deployment_secrets SET encrypted_value = '{text}'"
           f" WHERE project_id = '{project_id(d, project)}' AND key_name = '{name}'")
    assert sealed(d, project, name) == text


def sealed_snapshot(d):
    """Every sealed value in the database: {(table, row, column): hex}."""
    out = {}
    for pid, name, ev in d.psql("SELECT project_id, key_name, encrypted_value"
                                " FROM deployment_secrets WHERE encrypted_value IS NOT NULL"
                                " AND encrypted_value <> ''"):
        out[("deployment_secrets", pid + "/" + name, "encrypted_value")] = ev
    for aid, pw, tok in d.psql("SELECT id, gitea_password_sealed, gitea_token_sealed"
                               " FROM agents WHERE gitea_token_sealed IS NOT NULL"):
        out[("agents", aid, "gitea_password_sealed")] = pw
        out[("agents", aid, "gitea_token_sealed")] = tok
    return out


def key_ids(snapshot):
    """The key ids (bytes 1..8 of the version 2 form) of sealed values."""
    ids = set()
    for where, h in snapshot.items():
        assert re.fullmatch(r"[0-9a-fA-F]+", h) and h[:2] == "02", (where, h[:80])
        ids.add(h[2:18].lower())
    return ids


def pg_dump(d):
    argv = [str(PG_BIN / "pg_dump"), "-h", d.pg.host, "-p", str(d.pg.port), "-U", "postgres",
            "--no-sync", d.db]
    return d.pg._as_pg(argv)


# -- a world with values -----------------------------------------------------------------

KINDS = ("plain", "multiline", "quotes", "unicode", "url")


def fill(d, projects=PROJECTS):
    """Secrets in every project: {(project, name): Value}."""
    made = {}
    for i, p in enumerate(projects):
        for j, kind in enumerate(KINDS[i % 2::2] if i else KINDS):
            v = Value(kind)
            name = f"S{i}_{kind.upper()}_{j}"
            set_secret(d, p, name, v.value)
            made[(p, name)] = v
    return made


def all_reveal(d, made):
    for (p, name), v in made.items():
        assert revealed(d, p, name) == v.value, (p, name)


def gitea_token(d, key):
    me = assert_ok(d.get("/api/v1/me", headers=d.agent_headers(key)))
    d.add_secret(me["gitea"]["token"])
    return me["gitea"]["token"]


# =====================================================================================
# round trip

def test_round_trip_list_reveal_audit_byok_confirm(daemon, emu):
    d = start(daemon, emu)
    plat = new_platform(d, ["APP_KEY", "DB_URL", "HOOK_URL"])
    assert_ok(d.admin_post(proj(P1, "deployment"), json={"platform": plat}))
    sponsor = new_sponsor(d, P1)
    sh = sponsor_headers(sponsor_token(d, P1, sponsor["id"]))

    before = list_secrets(d, P1)
    assert before["secrets"] == [], before
    assert set(before["missing"]) == {"APP_KEY", "DB_URL", "HOOK_URL"}, before

    app, extra = Value("plain"), Value("multiline")
    set_secret(d, P1, "APP_KEY", app.value)                      # by the admin
    set_secret(d, P1, "EXTRA_SETTING", extra.value, headers=sh)  # by the sponsor
    r = d.get(proj(P1, "deployment/secrets"), headers=sh)
    listing = assert_ok(r)
    assert_no_value(r.text, [app, extra], "the secret listing")
    s = by_name(listing)
    assert set(s) == {"APP_KEY", "EXTRA_SETTING"}, listing
    for e in s.values():
        assert set(e) == SECRET_FIELDS, e
        assert isinstance(e["digest"], str) and e["digest"], e
        assert e["byok"] is False and e["confirmed"] is False, e
        assert isinstance(e["set_by"], str) and e["set_by"], e
        assert e["updated_at"], e
    assert s["APP_KEY"]["required"] is True and s["EXTRA_SETTING"]["required"] is False, s
    assert s["APP_KEY"]["set_by"] != s["EXTRA_SETTING"]["set_by"], \
        "set_by does not tell the admin from the sponsor"
    assert s["APP_KEY"]["digest"] != s["EXTRA_SETTING"]["digest"], s
    assert "APP_KEY" not in listing["missing"] and "DB_URL" in listing["missing"], listing

    # Reveal: the value, with the reason in the project's audit log.
    reason = "rotating the app key after an incident " + uuid.uuid4().hex[:8]
    data = assert_ok(reveal(d, P1, "APP_KEY", reason))
    assert data == {"name": "APP_KEY", "value": app.value}, data
    assert revealed(d, P1, "EXTRA_SETTING") == extra.value
    entries = [e for e in audit(d, P1) if e["action"] == "secret.revealed"]
    mine = [e for e in entries if reason in json.dumps(e)]
    assert len(mine) == 1, entries
    assert "APP_KEY" in json.dumps(mine[0]), mine
    assert_no_value(json.dumps(audit(d, P1)), [app, extra], "the audit log")
    assert not [e for e in audit(d, P2) if reason in json.dumps(e)], \
        "another project's audit log shows this reveal"

    # No reason, no value.
    for body in ({}, {"reason": ""}):
        r = d.post(proj(P1, "deployment/secrets/APP_KEY/reveal"), json=body,
                   headers=d.admin_headers())
        assert_error(r, 400)
        assert app.value not in r.text
    assert len([e for e in audit(d, P1) if e["action"] == "secret.revealed"]) == len(entries)

    # BYOK: no value to reveal; confirmed by an admin only.
    set_secret(d, P1, "HOOK_URL", byok=True, headers=sh)
    e = by_name(list_secrets(d, P1))["HOOK_URL"]
    assert set(e) == SECRET_FIELDS and "value" not in e, e
    assert e["byok"] is True and e["confirmed"] is False and e["required"] is True, e
    assert not e["confirmed_by"] and not e["confirmed_at"], e
    assert_error(reveal(d, P1, "HOOK_URL"), 422, "no_value")
    assert_error(d.post(proj(P1, "deployment/secrets/HOOK_URL/confirm"), json={}, headers=sh),
                 403, "forbidden")
    assert by_name(list_secrets(d, P1))["HOOK_URL"]["confirmed"] is False
    assert_ok(d.admin_post(proj(P1, "deployment/secrets/HOOK_URL/confirm"), json={}))
    e = by_name(list_secrets(d, P1))["HOOK_URL"]
    assert e["byok"] is True and e["confirmed"] is True, e
    assert e["confirmed_by"] and e["confirmed_at"], e


def test_digests_equal_for_equal_values_only(daemon, emu):
    d = start(daemon, emu)
    same, other = Value("plain"), Value("plain")
    set_secret(d, P1, "SHARED", same.value)
    set_secret(d, P2, "SHARED", same.value)
    set_secret(d, P2, "ALSO_SHARED", same.value)
    set_secret(d, P1, "OTHER", other.value)
    a, b = by_name(list_secrets(d, P1)), by_name(list_secrets(d, P2))
    assert a["SHARED"]["digest"] == b["SHARED"]["digest"] == b["ALSO_SHARED"]["digest"], (a, b)
    assert a["OTHER"]["digest"] != a["SHARED"]["digest"], a
    # Keyed: not a plain hash of the value anyone could compute and compare.
    dg = a["SHARED"]["digest"].lower()
    raw = same.value.encode()
    for h in (hashlib.sha256(raw).hexdigest(), hashlib.blake2b(raw).hexdigest(),
              hashlib.blake2b(raw, digest_size=32).hexdigest(), hashlib.md5(raw).hexdigest(),
              hashlib.sha1(raw).hexdigest(), hashlib.blake2s(raw).hexdigest()):
        assert dg not in h and h[:len(dg)] != dg, "the digest is an unkeyed hash of the value"
    # A changed value changes the digest.
    set_secret(d, P2, "SHARED", other.value)
    assert by_name(list_secrets(d, P2))["SHARED"]["digest"] == a["OTHER"]["digest"]


# =====================================================================================
# tampering and the wrong key

def test_sealed_value_moved_or_flipped_does_not_open(daemon, emu):
    d = start(daemon, emu)
    v1, v2, v3, v4 = (Value("plain") for _ in range(4))
    set_secret(d, P1, "TOKEN", v1.value)
    set_secret(d, P2, "TOKEN", v2.value)
    set_secret(d, P1, "OTHER_TOKEN", v3.value)
    set_secret(d, P1, "FLIPPED", v4.value)
    leaks = [v.value for v in (v1, v2, v3, v4)]

    # Another project's row, same name.
    set_sealed(d, P2, "TOKEN", sealed(d, P1, "TOKEN"))
    r = reveal(d, P2, "TOKEN")
    assert_clear_refusal(r, leaks + [sealed(d, P1, "TOKEN")[:40]])
    # Another name of the same project.
    set_sealed(d, P1, "OTHER_TOKEN", sealed(d, P1, "TOKEN"))
    assert_clear_refusal(reveal(d, P1, "OTHER_TOKEN"), leaks)
    # One bit flipped in the ciphertext.
    raw = bytearray.fromhex(sealed(d, P1, "FLIPPED"))
    assert len(raw) > SEALED_HEADER + 16, len(raw)
    raw[SEALED_HEADER + (len(raw) - SEALED_HEADER) // 2] ^= 0x04
    set_sealed(d, P1, "FLIPPED", raw.hex())
    assert_clear_refusal(reveal(d, P1, "FLIPPED"), leaks)
    # The untouched one still opens; the failed reveals gave no value.
    assert revealed(d, P1, "TOKEN") == v1.value
    assert d.alive()


def test_another_master_key_is_refused_clearly(daemon, emu, tmp_path):
    d = start(daemon, emu)
    v = Value("multiline")
    set_secret(d, P1, "DEPLOY_KEY", v.value)
    wrong_key = key_file(tmp_path, "wrong.key")
    wrong = start(daemon, emu, key=wrong_key, db=d.db)
    wrong.add_secret(v.value)
    # Listing needs no key; revealing does, and says so.
    assert "DEPLOY_KEY" in by_name(list_secrets(wrong, P1))
    assert_clear_refusal(reveal(wrong, P1, "DEPLOY_KEY"),
                         [v.value, sealed(d, P1, "DEPLOY_KEY")[:40]], about_key=True,
                         keys=[read_key(wrong_key), read_key(d.conf["secrets.master_key_file"])])
    assert revealed(d, P1, "DEPLOY_KEY") == v.value


# =====================================================================================
# rotation

def agent_with_gitea(d):
    """An approved agent: (agent key, its Gitea token)."""
    _, key = d.new_agent(status="active")
    return key, gitea_token(d, key)


def test_rotation_keeps_every_value(daemon, emu, tmp_path):
    d = start(daemon, emu)
    made = fill(d)
    key, token = agent_with_gitea(d)
    before = sealed_snapshot(d)
    assert len([k for k in before if k[0] == "agents"]) >= 2, before.keys()
    old_ids = key_ids(before)
    digests = {p: listed(d, p) for p in PROJECTS}
    new_key = key_file(tmp_path, "new.key")
    new_hex, old_hex = read_key(new_key), read_key(d.conf["secrets.master_key_file"])

    r = rotate(d, new_key)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    assert r.stdout.strip(), "no summary line"
    assert re.search(rf"\b{len(before)}\b", r.stdout.splitlines()[0]), \
        f"the summary does not count the {len(before)} sealed values: {r.stdout}"
    for s in (new_hex, old_hex, token):
        assert s not in r.stdout + r.stderr
    assert_no_value(r.stdout + r.stderr, made.values(), "the rotation's output")
    after = sealed_snapshot(d)
    assert set(after) == set(before)
    assert all(after[k] != before[k] for k in before), "some values were not re-sealed"
    new_ids = key_ids(after)
    assert len(new_ids) == 1 and not new_ids & old_ids, (old_ids, new_ids)

    # Restarted with the new key: every value, and the agent's Gitea token.
    d.terminate()
    d2 = start(daemon, emu, key=new_key, db=d.db)
    for v in made.values():
        d2.add_secret(v.value)
    d2.add_secret(token)
    all_reveal(d2, made)
    assert gitea_token(d2, key) == token
    # The listing says the same but for the digests: keyed by a key derived
    # from the master key, they are new, and equal values still have equal
    # digests, re-sealed or set now.
    for p in PROJECTS:
        now = listed(d2, p)
        assert set(now) == set(digests[p]), p
        changed = {(n, k): (digests[p][n][k], now[n][k]) for n in now for k in now[n]
                   if k != "digest" and now[n][k] != digests[p][n][k]}
        assert not changed, f"the rotation changed what {p}'s listing says: {changed}"
    (p, name), v = next(iter(made.items()))
    set_secret(d2, P3, "COPY_AFTER_ROTATION", v.value)
    assert listed(d2, P3)["COPY_AFTER_ROTATION"]["digest"] == listed(d2, p)[name]["digest"]


class Locker:
    """A psql session holding one row of deployment_secrets FOR UPDATE."""

    def __init__(self, d, row_id):
        self.d = d
        self.app = "ss-locker-" + uuid.uuid4().hex[:8]
        self.proc = subprocess.Popen(
            [str(PG_BIN / "psql"), "-XAtq", "-v", "ON_ERROR_STOP=1", "-h", d.pg.host,
             "-p", str(d.pg.port), "-U", "postgres", "-d", d.db],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True, env=dict(os.environ, PGAPPNAME=self.app))
        self.proc.stdin.write("BEGIN;\nSELECT id FROM deployment_secrets"
                              f" WHERE id = '{row_id}' FOR UPDATE;\n")
        self.proc.stdin.flush()
        wait_for(lambda: d.psql("SELECT pid FROM pg_stat_activity WHERE application_name ="
                                f" '{self.app}' AND state = 'idle in transaction'"
                                " AND backend_xid IS NOT NULL"),
                 timeout=20, what="the locker to hold its row")
        self.pid = d.psql("SELECT pid FROM pg_stat_activity"
                          f" WHERE application_name = '{self.app}'")[0][0]

    def release(self):
        if self.proc.poll() is None:
            self.proc.stdin.write("ROLLBACK;\n")
            self.proc.stdin.close()
            self.proc.wait(20)
        assert self.proc.returncode == 0, self.proc.stderr.read()


def test_rotation_interrupted_halfway_changes_nothing(daemon, emu, tmp_path):
    d = start(daemon, emu)
    made = fill(d)
    key, token = agent_with_gitea(d)
    before = sealed_snapshot(d)
    ids = [r[0] for r in d.psql("SELECT id FROM deployment_secrets ORDER BY id")]
    assert len(ids) >= 5, ids
    middle = ids[len(ids) // 2]
    new_key = key_file(tmp_path, "new.key")

    locker = Locker(d, middle)
    rot = None
    try:
        rot = subprocess.Popen([str(synstackd_bin()), "-c", d.config_path,
                                "rotate-master-key", new_key],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        waiting = wait_for(
            lambda: rot.poll() is not None and ["exited"] or d.psql(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                f" AND wait_event_type = 'Lock' AND pid <> {locker.pid}"),
            timeout=30, what="the rotation to wait for the locked row")
        assert waiting != ["exited"], ("the rotation did not wait for the locked row",
                                       rot.returncode, rot.communicate())
        backend = waiting[0][0]
        # Halfway: rows before the locked one are the rotation's already.
        free = int(d.psql("SELECT count(*) FROM (SELECT id FROM deployment_secrets"
                          " FOR UPDATE SKIP LOCKED) t")[0][0])
        assert len(ids) - free >= 2, "the rotation had re-sealed nothing before the locked row"
        rot.kill()
        rot.wait(10)
    finally:
        if rot is not None and rot.poll() is None:
            rot.kill()
            rot.wait(10)
        locker.release()
    wait_for(lambda: not d.psql(f"SELECT 1 FROM pg_stat_activity WHERE pid = {backend}"),
             timeout=20, what="the killed rotation's backend to end")

    # Nothing changed: the old key opens everything.
    assert sealed_snapshot(d) == before
    all_reveal(d, made)
    assert gitea_token(d, key) == token

    # A whole rotation now; restarted with the new key, every value opens.
    r = rotate(d, new_key)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    assert r.stdout.strip(), "no summary line"
    assert re.search(rf"\b{len(before)}\b", r.stdout.splitlines()[0]), \
        f"the summary does not count the {len(before)} sealed values: {r.stdout}"
    after = sealed_snapshot(d)
    assert set(after) == set(before) and all(after[k] != before[k] for k in before)
    d.terminate()
    d2 = start(daemon, emu, key=new_key, db=d.db)
    for v in made.values():
        d2.add_secret(v.value)
    d2.add_secret(token)
    all_reveal(d2, made)
    assert gitea_token(d2, key) == token
    # The old key no longer opens anything, and says so.
    old = start(daemon, emu, key=d.conf["secrets.master_key_file"], db=d.db)
    for v in made.values():
        old.add_secret(v.value)
    keys = [read_key(new_key), read_key(old.conf["secrets.master_key_file"])]
    for (p, name), v in made.items():
        assert_clear_refusal(reveal(old, p, name), [v.value], about_key=True, keys=keys)


# =====================================================================================
# key files

def run_daemon_expecting_refusal(d, timeout=20):
    p = subprocess.Popen([str(synstackd_bin()), "-c", d.config_path], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        pytest.fail(f"synstackd started with an insecure master key file: {err[-2000:]}")
    return p.returncode, out + err


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644], ids=["0640", "0604", "0644"])
def test_master_key_readable_by_others_is_refused_at_start(daemon, emu, tmp_path, mode):
    path = key_file(tmp_path, f"master-{mode:o}.key", mode=mode)
    secret = read_key(path)
    d = daemon(conf=deploy_conf(emu, {"secrets.master_key_file": path}), start=False)
    rc, out = run_daemon_expecting_refusal(d)
    assert rc != 0, out
    assert path in out, f"the refusal does not name {path}: {out}"
    assert secret not in out


@pytest.mark.parametrize("mode,text", [(0o640, None), (0o604, None), (0o600, "abcd"),
                                       (0o600, "zz" * 32)],
                         ids=["0640", "0604", "too-short", "not-hex"])
def test_rotation_refuses_a_bad_new_key_file(daemon, emu, tmp_path, mode, text):
    d = start(daemon, emu)
    made = fill(d, projects=(P1,))
    before = sealed_snapshot(d)
    path = key_file(tmp_path, "new.key", mode=mode, text=text)
    r = rotate(d, path)
    assert r.returncode != 0, (r.stdout, r.stderr)
    assert path in r.stdout + r.stderr, f"the refusal does not name {path}: {r.stderr}"
    assert sealed_snapshot(d) == before
    all_reveal(d, made)


# =====================================================================================
# no leak

def test_no_value_leaks_anywhere_but_reveal(daemon, emu):
    d = start(daemon, emu)
    plat = new_platform(d, ["API_TOKEN", "PRIVATE_KEY"])
    assert_ok(d.admin_post(proj(P1, "deployment"), json={"platform": plat}))
    sponsor = new_sponsor(d, P1)
    sh = sponsor_headers(sponsor_token(d, P1, sponsor["id"]))
    values = {k: Value(k) for k in KINDS}
    replaced, deleted, refused = Value("plain"), Value("quotes"), Value("plain")
    answers = []

    def keep(r, status=(200, 201, 204)):
        assert r.status_code in status, (r.status_code, r.text[:300])
        answers.append((r.request.method, r.url, r.text))
        return r

    for v in (*values.values(), replaced, deleted, refused):
        d.add_secret(v.value)
    keep(put_secret(d, P1, "API_TOKEN", replaced.value))
    keep(put_secret(d, P1, "API_TOKEN", values["plain"].value, headers=sh))
    keep(d.admin_post(proj(P1, "deployment/secrets"),
                      json={"name": "PRIVATE_KEY", "value": values["multiline"].value}))
    keep(d.post(proj(P1, "deployment/secrets"), headers=sh,
                json={"name": "QUOTED", "value": values["quotes"].value}))
    keep(put_secret(d, P1, "UNICODE", values["unicode"].value))
    keep(put_secret(d, P2, "HOOK", values["url"].value))
    keep(put_secret(d, P1, "GONE", deleted.value))
    keep(d.request("DELETE", proj(P1, "deployment/secrets/GONE"), headers=sh))
    keep(put_secret(d, P1, "EXTERNAL", byok=True, headers=sh))
    keep(d.admin_post(proj(P1, "deployment/secrets/EXTERNAL/confirm"), json={}))
    # Refused values are not echoed either.
    keep(put_secret(d, P1, "TOO_LONG", refused.value + "x" * 4096), status=(400,))
    keep(put_secret(d, P1, "HAS_NUL", refused.value + "\u0000"), status=(400,))
    keep(put_secret(d, P1, "9BAD", refused.value), status=(400,))
    for p in (P1, P2):
        keep(d.get(proj(p, "deployment/secrets"), headers=d.admin_headers()))
        keep(d.get(proj(p, "deployment")))
        keep(d.admin_get("/api/v1/admin/audit", params={"project": p}))
    keep(d.get(proj(P1, "deployment/secrets"), headers=sh))
    keep(d.admin_get("/api/v1/admin/audit"))
    # Reveals show the value (that is their point) and nothing else does.
    assert revealed(d, P1, "QUOTED") == values["quotes"].value
    assert revealed(d, P1, "PRIVATE_KEY") == values["multiline"].value
    assert revealed(d, P1, "API_TOKEN") == values["plain"].value
    assert revealed(d, P1, "UNICODE") == values["unicode"].value
    assert revealed(d, P2, "HOOK") == values["url"].value

    everything = [*values.values(), replaced, deleted, refused]
    for method, url, text in answers:
        assert_no_value(text, everything, f"the answer to {method} {url}")
    metrics_text = d.get("/metrics").text
    assert "synstack" in metrics_text
    assert_no_value(metrics_text, everything, "/metrics")
    dump = pg_dump(d)
    assert "deployment_secrets" in dump, dump[:500]
    assert_no_value(dump, everything, "pg_dump of the database")
    assert_no_value(d.log(), everything, "the daemon's log")


def test_a_project_holds_at_most_500_secrets(daemon, emu):
    """Bounded like every input: the 501st name is refused with a clear
    error; changing one of the 500 still works."""
    d = start(daemon, emu)
    pid = project_id(d, P3)
    d.psql("INSERT INTO deployment_secrets (project_id, key_name, is_byok, set_by)"
           f" SELECT '{pid}', 'K' || g, true, 'test' FROM generate_series(1, 500) g")
    err = assert_error(put_secret(d, P3, "ONE_MORE", "v-1"), 400, "invalid_field")
    assert "500" in err["message"], err
    assert d.psql(f"SELECT count(*) FROM deployment_secrets WHERE project_id = '{pid}'"
                  " AND key_name = 'ONE_MORE'") == [["0"]]
    set_secret(d, P3, "K7", "now-a-value")
    assert by_name(list_secrets(d, P3))["K7"]["byok"] is False


def test_names_that_would_change_how_the_deploy_runs_are_refused(daemon, emu):
    """A secret becomes an environment variable of the deploy command: a
    loader preload or a search path would change what runs, not what is
    deployed."""
    d = start(daemon, emu)
    for name in ("LD_PRELOAD", "PATH", "GIT_SSH_COMMAND", "SYNSTACK_COMMIT", "NODE_OPTIONS",
                 "BASH_ENV", "LC_ALL"):
        err = assert_error(put_secret(d, P1, name, "x-value"), 400, "invalid_field")
        assert "reserved" in err["message"], err
        err = assert_error(put_secret(d, P1, name, byok=True), 400, "invalid_field")
    names = {s["name"] for s in list_secrets(d, P1)["secrets"]}
    assert not names & {"LD_PRELOAD", "PATH", "GIT_SSH_COMMAND"}, names
    set_secret(d, P1, "PATH_TO_BUCKET", "s3://bucket")    # only the exact names
