"""Round trips to PostgreSQL per request (issue 12): a read is one, a write
at most two, the key lookup included.  The daemon counts them itself (the
request log's db= field, synstack_db_round_trips_total): these tests count,
they never time.  Also: the key cache that saves the lookup never lets a
suspended agent in, on this daemon or another one of the same database.
"""

import re
import time

import pytest

from conftest import assert_error, assert_ok, wait_for
from test_work import W, act, member, start_world

# Two connections: a statement is prepared on each the first time it runs
# there, so a request costs one round trip more once per connection.
POOL = {"database.pool_size": 2}


def trips(d, method, path, n=1):
    """db= of the newest n request-log lines of method path."""
    rx = re.compile(rf"msg=request method={method} path={re.escape(path)} "
                    r"status=(\d+) .*? db=(\d+) ")
    found = [m for m in map(rx.search, d.log().splitlines()) if m]
    assert len(found) >= n, f"no request line for {method} {path}:\n{d.log()[-2000:]}"
    return [int(m.group(2)) for m in found[-n:]]


def last_trips(d, method, path):
    return trips(d, method, path)[0]


def warm_trips(d, method, path, call, times=4):
    """The round trips of call() (which sends method path) once warm: the
    fewest of a few calls, and the most, which may include preparing its
    statements on a connection that had not run them yet."""
    for _ in range(times):
        r = call()
        assert r.status_code < 400, r.text
    got = trips(d, method, path, times)
    return min(got), max(got)


@pytest.fixture
def loop(gitea_factory, daemon):
    emu, d = start_world(gitea_factory, daemon, conf=POOL)
    agent, key = member(d)
    return emu, d, agent, key


def test_feed_is_one_round_trip(loop):
    _, d, _, key = loop
    low, high = warm_trips(d, "GET", "/api/v1/feed",
                           lambda: d.get("/api/v1/feed", headers=d.agent_headers(key)))
    assert low == 1 and high <= 2, (low, high)
    low, high = warm_trips(d, "POST", "/api/v1/act", lambda: act(d, key, "feed"))
    assert low == 1 and high <= 2, (low, high)


def test_claim_and_abandon_are_one_round_trip_each(loop):
    _, d, _, key = loop
    claim = f"/api/v1/projects/{W}/issues/1/claim"
    h = d.agent_headers(key)

    def cycle():
        assert_ok(d.post(claim, headers=h))
        # Claimed again by its holder: the same answer, nothing written.
        assert_ok(d.post(claim, headers=h))
        return d.request("DELETE", "/api/v1/claims", headers=h)

    low, high = warm_trips(d, "DELETE", "/api/v1/claims", cycle)
    assert low == 1 and high <= 2, ("abandon", low, high)
    got = trips(d, "POST", claim, 6)      # the last three cycles
    assert min(got) == 1 and max(got) <= 2, ("claim", got)
    # Refusals cost no more.
    for _ in range(3):
        assert_error(d.request("DELETE", "/api/v1/claims", headers=h), 422,
                     "nothing_claimed")
        assert_error(d.post(f"/api/v1/projects/{W}/issues/3/claim", headers=h), 422,
                     "issue_closed")
    assert min(trips(d, "DELETE", "/api/v1/claims", 3)) == 1
    assert min(trips(d, "POST", f"/api/v1/projects/{W}/issues/3/claim", 3)) == 1
    # The command form with a feed number: the same one statement.
    data = assert_ok(act(d, key, "feed"))
    n = [it["n"] for it in data["items"] if it["ref"] == f"{W}#1"][0]
    got = []
    for _ in range(3):
        assert_ok(act(d, key, f"work-on {n}"))
        got += trips(d, "POST", "/api/v1/act")
        assert_ok(act(d, key, "abandon"))
        got += trips(d, "POST", "/api/v1/act")
    assert min(got) == 1 and max(got) <= 2, got


def test_the_round_trips_metric_counts_them(loop):
    _, d, _, key = loop
    h = d.agent_headers(key)
    for _ in range(3):
        assert_ok(d.get("/api/v1/feed", headers=h))

    def total():
        return int(re.search(r"^synstack_db_round_trips_total (\d+)$",
                             d.get("/metrics").text, re.M).group(1))

    # A scrape costs what it costs (and the health probe may ping the
    # database meanwhile); ten feeds cost ten more.
    total()
    a = total()
    b = total()
    for _ in range(10):
        assert_ok(d.get("/api/v1/feed", headers=h))
    c = total()
    assert 10 + (b - a) <= c - b <= 10 + (b - a) + 2, (a, b, c)


def test_a_known_key_is_refused_as_soon_as_its_agent_is_suspended(loop):
    _, d, agent, key = loop
    h = d.agent_headers(key)
    low, _ = warm_trips(d, "GET", "/api/v1/feed", lambda: d.get("/api/v1/feed", headers=h))
    assert low == 1             # known: the lookup is saved
    assert_ok(d.admin_post(f"/api/v1/admin/agents/{agent['id']}/suspend"))
    assert_error(d.get("/api/v1/feed", headers=h), 403, "agent_suspended")
    assert_error(act(d, key, "feed"), 403, "agent_suspended")
    assert_ok(d.admin_post(f"/api/v1/admin/agents/{agent['id']}/approve"))
    assert_ok(d.get("/api/v1/feed", headers=h))


def test_another_daemon_of_the_database_hears_of_the_suspension(gitea_factory, daemon):
    emu, d1 = start_world(gitea_factory, daemon, conf=POOL)
    d2 = daemon(conf={"gitea.url": emu.url, "sync.interval": "1h", **POOL}, db=d1.db)
    agent, key = member(d1)
    h = d2.agent_headers(key)
    low, _ = warm_trips(d2, "GET", "/api/v1/feed", lambda: d2.get("/api/v1/feed", headers=h))
    assert low == 1                                         # d2 knows the key
    assert_ok(d1.admin_post(f"/api/v1/admin/agents/{agent['id']}/suspend"))
    # PostgreSQL tells d2 at the commit; within moments it refuses, and
    # from then on.
    wait_for(lambda: d2.get("/api/v1/feed", headers=h).status_code == 403, timeout=5,
             what="the other daemon to refuse the suspended agent")
    for _ in range(5):
        assert_error(d2.get("/api/v1/feed", headers=h), 403, "agent_suspended")
        time.sleep(0.05)
