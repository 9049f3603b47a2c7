"""The Gitea outbox: deferred Gitea writes retried with backoff until Gitea
takes them, shared by several daemons without doing anything twice."""

import json
import time

import pytest

from conftest import wait_for
from emulator import DEFAULT_SEED


@pytest.fixture
def world(gitea_factory, daemon):
    """An emulator of its own (these tests change Gitea and break it), and
    a daemon against it."""
    emu = gitea_factory(seed=DEFAULT_SEED)
    d = daemon(conf={"gitea.url": emu.url, "sync.interval": "1h"})
    return emu, d


def enqueue(d, method, path, body=None, kind="test"):
    """Queue a write as a core function would, in SQL (the outbox has no
    HTTP route of its own: actions queue their deferred writes)."""
    b = "NULL" if body is None else "'" + json.dumps(body).replace("'", "''") + "'::jsonb"
    rows = d.psql(f"INSERT INTO gitea_outbox (kind, method, path, body) VALUES"
                  f" ('{kind}', '{method}', '{path}', {b}) RETURNING id")
    return rows[0][0]


def row(d, id):
    r = d.psql(f"SELECT done_at IS NOT NULL, attempts, coalesce(last_error, '')"
               f" FROM gitea_outbox WHERE id = '{id}'")[0]
    return r[0] == "t", int(r[1]), r[2]


def collaborators(emu):
    repo = next(r for r in emu.state()["repos"] if r["full_name"] == "acme/widgets")
    return repo["collaborators"]


def test_a_queued_write_reaches_gitea(world):
    emu, d = world
    id = enqueue(d, "PUT", "/repos/acme/widgets/collaborators/outsider",
                 {"permission": "read"})
    wait_for(lambda: row(d, id)[0], timeout=10, what="the outbox item done")
    assert row(d, id) == (True, 1, "")
    assert collaborators(emu).get("outsider") == "read"
    text = d.get("/metrics").text
    assert "synstack_outbox_depth 0" in text


def test_retried_with_backoff_while_gitea_is_down(world):
    emu, d = world
    emu.faults("refuse", seconds=3)
    time.sleep(0.5)
    id = enqueue(d, "PUT", "/repos/acme/widgets/collaborators/outsider")
    wait_for(lambda: row(d, id)[1] >= 1, timeout=10, what="a failed attempt")
    done, attempts, error = row(d, id)
    assert not done and error, (done, attempts, error)
    assert "synstack_outbox_depth 1" in d.get("/metrics").text
    # Once Gitea is back, the next attempt (after its backoff) succeeds.
    wait_for(lambda: row(d, id)[0], timeout=20, what="the outbox item done")
    assert collaborators(emu).get("outsider") == "write"


def test_a_write_gitea_refuses_for_good_is_given_up(world):
    emu, d = world
    id = enqueue(d, "PUT", "/repos/acme/widgets/collaborators/nobody-at-all")
    wait_for(lambda: row(d, id)[0], timeout=10, what="the outbox item settled")
    done, attempts, error = row(d, id)
    assert done and attempts == 1 and "422" in error, (done, attempts, error)
    assert "gave up" in d.log()


def test_two_daemons_share_the_queue_without_doing_anything_twice(gitea_factory, daemon):
    emu = gitea_factory(seed=DEFAULT_SEED)
    a = daemon(conf={"gitea.url": emu.url, "sync.interval": "1h"}, start=False)
    n = 40
    # Queue before either daemon runs, then let both drain at once.
    a.start().wait_ready()
    a.signal(19)                                    # SIGSTOP: hold it back
    for i in range(n):
        enqueue(a, "POST", "/repos/acme/widgets/issues/1/comments",
                {"body": f"outbox comment {i}"})
    b = daemon(db=a.db, conf={"gitea.url": emu.url, "sync.interval": "1h"})
    a.signal(18)                                    # SIGCONT: both drain
    wait_for(lambda: b.psql("SELECT count(*) FROM gitea_outbox WHERE done_at IS NULL")
             == [["0"]], timeout=30, what="the queue drained")
    bodies = [c["body"] for c in emu.state()["comments"] if c["body"].startswith("outbox ")]
    assert sorted(bodies) == sorted(f"outbox comment {i}" for i in range(n))
    assert b.psql("SELECT sum(attempts) FROM gitea_outbox") == [[str(n)]]
