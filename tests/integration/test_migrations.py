"""Schema migrations: schema/NNNN-name.sql applied once, under an advisory lock."""

import shutil
import uuid

import requests

from conftest import SCHEMA_DIR, schema_files, wait_for


def migrations(d):
    return d.psql("SELECT version, name, checksum, applied_at FROM schema_migrations "
                  "ORDER BY version")


def file_versions():
    files = schema_files()
    assert files, f"no schema files in {SCHEMA_DIR}"
    return [int(f.name[:4]) for f in files]


def test_fresh_database_gets_every_migration(daemon):
    d = daemon()
    rows = migrations(d)
    files = schema_files()
    assert [int(r[0]) for r in rows] == file_versions()
    for r, f in zip(rows, files):
        assert r[1] and r[1] in f.name, (r, f.name)
        assert r[2], f"empty checksum for {f.name}"
        assert r[3], f"no applied_at for {f.name}"
    tables = {r[0] for r in d.psql(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")}
    assert {"agents", "audit_log", "schema_migrations"} <= tables
    h = d.get("/healthz")
    assert h.status_code == 200 and h.json()["database"]["ok"] is True, h.text


def test_restart_applies_nothing(daemon):
    d1 = daemon()
    before = migrations(d1)
    assert len(before) == len(schema_files())
    assert d1.terminate() == 0
    d2 = daemon(db=d1.db)
    assert d2.get("/healthz").json()["database"]["ok"] is True
    assert migrations(d2) == before, "migrations were re-applied on restart"


def test_two_daemons_at_once_on_an_empty_database(daemon, pg):
    db = "synstack_race_" + uuid.uuid4().hex[:10]
    pg.createdb(db)
    a = daemon(db=db, wait=False)
    b = daemon(db=db, wait=False)
    a.wait_ready()
    b.wait_ready()
    for d in (a, b):
        r = wait_for(lambda: (lambda x: x if x.status_code == 200 else None)(d.get("/healthz")),
                     timeout=10, what=f"/healthz 200 on port {d.port}")
        assert r.json()["database"]["ok"] is True
    rows = pg.psql(db, "SELECT version, count(*) FROM schema_migrations GROUP BY version "
                       "ORDER BY version")
    assert [(int(v), int(n)) for v, n in rows] == [(v, 1) for v in file_versions()]
    # both serve from the same schema
    ra = a.register()
    rb = b.register()
    assert ra.status_code == 201 and rb.status_code == 201, (ra.text, rb.text)


def test_new_migration_file_is_applied_on_next_start(daemon, tmp_path):
    sdir = tmp_path / "schema"
    shutil.copytree(SCHEMA_DIR, sdir)
    nxt = max(file_versions()) + 1
    d1 = daemon(conf={"database.schema_dir": str(sdir)})
    before = migrations(d1)
    assert d1.terminate() == 0
    (sdir / f"{nxt:04d}-itest-extra.sql").write_text(
        "CREATE TABLE itest_extra (x integer NOT NULL);\n"
        "INSERT INTO itest_extra VALUES (42);\n")
    d2 = daemon(db=d1.db, conf={"database.schema_dir": str(sdir)})
    after = migrations(d2)
    assert after[:len(before)] == before
    assert [int(r[0]) for r in after[len(before):]] == [nxt]
    assert d2.psql("SELECT x FROM itest_extra") == [["42"]]


def test_broken_migration_stops_startup_and_leaves_nothing(daemon, tmp_path):
    sdir = tmp_path / "schema"
    shutil.copytree(SCHEMA_DIR, sdir)
    nxt = max(file_versions()) + 1
    bad = f"{nxt:04d}-itest-broken.sql"
    (sdir / bad).write_text("CREATE TABLE itest_half (x integer);\n"
                            "THIS IS NOT SQL;\n")
    d = daemon(conf={"database.schema_dir": str(sdir)}, wait=False)
    try:
        d.proc.wait(15)
    except Exception:
        pass
    healthy = False
    if d.proc.poll() is None:
        try:
            healthy = d.get("/healthz", timeout=3).status_code == 200
        except requests.RequestException:
            pass
    d.expected_exit = True
    assert d.proc.poll() is not None and d.proc.returncode != 0, \
        f"daemon still running (healthz 200: {healthy}) after a broken migration"
    assert bad in d.log(), f"the log does not name {bad}:\n{d.log()}"
    if d.psql("SELECT to_regclass('public.schema_migrations') IS NOT NULL") == [["t"]]:
        versions = [int(r[0]) for r in d.psql("SELECT version FROM schema_migrations")]
        assert nxt not in versions
    assert d.psql("SELECT to_regclass('public.itest_half') IS NULL") == [["t"]], \
        "half of the broken migration was left behind"
