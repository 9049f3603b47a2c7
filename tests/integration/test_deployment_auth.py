"""Who may do what with deployments and sponsorships (docs/deployment.md,
"Who may do what"): every route of the "Deployment and sponsorship" block
of daemon/routes.c (read from the file, so a new route cannot be left
out), and GET /api/v1/admin/audit?project=, called by anyone, an agent, a
sponsor of another project, a sponsor of the project and an admin.  And
sponsor tokens that stop working: revoked, of an ended sponsor, unknown.
"""

import re
import secrets
import uuid

import pytest

from conftest import REPO, assert_error, assert_ok
from test_deployment_secrets import (P1, P2, created, deploy_conf, new_platform, new_sponsor,
                                     pg_dump, proj, sponsor_headers, sponsor_token)
from test_deployment_secrets import emu  # noqa: F401  (the fixture)
from mirror_helpers import wait_startup_sync

ROUTES_C = REPO / "daemon" / "routes.c"
OWNER, NAME = P1.split("/")
AUDIT = ("GET", "/api/v1/admin/audit?project={owner}/{repo}", "AUTH_ADMIN")
CALLERS = ("anonymous", "agent", "other_sponsor", "sponsor", "admin")

# What the table is known to have (docs/deployment.md, "Routes"): the
# parser must find at least these, or it is reading the file wrong.
KNOWN = {
    ("GET", "/api/v1/projects/{owner}/{repo}/deployment"),
    ("POST", "/api/v1/projects/{owner}/{repo}/deployment"),
    ("POST", "/api/v1/projects/{owner}/{repo}/deployment/readiness"),
    ("GET", "/api/v1/projects/{owner}/{repo}/deployment/secrets"),
    ("POST", "/api/v1/projects/{owner}/{repo}/deployment/secrets"),
    ("PUT", "/api/v1/projects/{owner}/{repo}/deployment/secrets/{name}"),
    ("DELETE", "/api/v1/projects/{owner}/{repo}/deployment/secrets/{name}"),
    ("POST", "/api/v1/projects/{owner}/{repo}/deployment/secrets/{name}/confirm"),
    ("POST", "/api/v1/projects/{owner}/{repo}/deployment/secrets/{name}/reveal"),
    ("GET", "/api/v1/projects/{owner}/{repo}/sponsors"),
    ("POST", "/api/v1/projects/{owner}/{repo}/sponsors"),
    ("PUT", "/api/v1/projects/{owner}/{repo}/sponsors/{id}"),
    ("PATCH", "/api/v1/projects/{owner}/{repo}/sponsors/{id}"),
    ("GET", "/api/v1/projects/{owner}/{repo}/sponsors/{id}/tokens"),
    ("POST", "/api/v1/projects/{owner}/{repo}/sponsors/{id}/tokens"),
    ("DELETE", "/api/v1/projects/{owner}/{repo}/sponsors/{id}/tokens/{token}"),
    ("GET", "/api/v1/admin/projects"),
    ("GET", "/api/v1/admin/platforms"),
    ("POST", "/api/v1/admin/platforms"),
    ("GET", "/api/v1/admin/platforms/{name}"),
    ("PATCH", "/api/v1/admin/platforms/{name}"),
    ("DELETE", "/api/v1/admin/platforms/{name}"),
}


def parse_entries(text):
    out = []
    for chunk in re.split(r"(?=\.method\s*=)", text)[1:]:
        m = re.match(r'\.method\s*=\s*"(\w+)"', chunk)
        p = re.search(r'\.pattern\s*=\s*"([^"]+)"', chunk)
        a = re.search(r"\.auth\s*=\s*(AUTH_\w+)", chunk)
        assert m and p and a, f"cannot read this entry of routes.c: {chunk[:200]}"
        out.append((m.group(1), p.group(1), a.group(1)))
    return out


def deployment_routes():
    """[(method, pattern, auth)] of the "Deployment and sponsorship" block:
    from its comment to the next comment of the table."""
    text = ROUTES_C.read_text()
    start = text.index("Deployment and sponsorship")
    start = text.index("*/", start) + 2
    end = text.index("/*", start)
    block = parse_entries(text[start:end])
    # Every route of the table about deployments is in the block.
    for method, pattern, auth in parse_entries(text):
        if re.search(r"/(deployment|sponsors)(/|$)|^/api/v1/admin/(platforms|projects$)",
                     pattern):
            assert (method, pattern, auth) in block, \
                f"{method} {pattern} is outside the block this test reads"
    return block


ROUTES = deployment_routes()


def test_the_block_is_read_whole():
    found = {(m, p) for m, p, _ in ROUTES}
    assert KNOWN <= found, f"not found in the block: {KNOWN - found}"
    assert all(a in ("AUTH_NONE", "AUTH_SPONSOR", "AUTH_ADMIN") for _, _, a in ROUTES), ROUTES
    assert len(found) == len(ROUTES), "a route is in the block twice"


# -- the world ------------------------------------------------------------------------

class World:
    pass


@pytest.fixture(scope="module")
def w(daemon_module, emu):  # noqa: F811
    x = World()
    x.d = d = daemon_module(conf=deploy_conf(emu))
    wait_startup_sync(d)
    _, x.agent_key = d.new_agent(status="active")
    x.sponsor = new_sponsor(d, P1, name="This project's sponsor")
    x.sponsor_token = sponsor_token(d, P1, x.sponsor["id"])
    x.other = new_sponsor(d, P2, name="Another project's sponsor")
    x.other_token = sponsor_token(d, P2, x.other["id"])
    x.headers = {
        "anonymous": {},
        "agent": d.agent_headers(x.agent_key),
        "other_sponsor": sponsor_headers(x.other_token),
        "sponsor": sponsor_headers(x.sponsor_token),
        "admin": d.admin_headers(),
    }
    # Both tokens work, each for its own project.
    assert_ok(d.get(proj(P1, "deployment/secrets"), headers=x.headers["sponsor"]))
    assert_ok(d.get(proj(P2, "deployment/secrets"), headers=x.headers["other_sponsor"]))
    return x


def fresh(d):
    """New objects for the path's parameters, made by the admin: a secret
    with a value, a BYOK one, a second sponsor with a token, a platform."""
    n = uuid.uuid4().hex[:10]
    value, byok = f"MX_{n.upper()}", f"MXB_{n.upper()}"
    v = "mx-value-" + secrets.token_hex(8)
    d.add_secret(v)
    created(d.request("PUT", proj(P1, "deployment/secrets", value), json={"value": v},
                      headers=d.admin_headers()))
    created(d.request("PUT", proj(P1, "deployment/secrets", byok), json={"byok": True},
                      headers=d.admin_headers()))
    s = new_sponsor(d, P1, name=f"mx sponsor {n}")
    tok = created(d.admin_post(proj(P1, "sponsors", s["id"], "tokens"), json={}))
    d.add_secret(tok["token"])
    plat = new_platform(d, ["MX_TOKEN"])
    return {"n": n, "secret": value, "byok": byok, "sponsor": s["id"], "token": tok["id"],
            "platform": plat}


def concrete(pattern, f):
    if "/admin/platforms/" in pattern:
        name = f["platform"]
    elif pattern.endswith("/confirm"):
        name = f["byok"]
    else:
        name = f["secret"]
    return (pattern.replace("{owner}", OWNER).replace("{repo}", NAME)
            .replace("{name}", name).replace("{id}", str(f["sponsor"]))
            .replace("{token}", str(f["token"])))


def body_for(method, pattern, f):
    """A valid body for the route, or None; {} for a route not known here."""
    if method in ("GET", "DELETE"):
        return None
    n = f["n"]
    if pattern.endswith("/deployment"):
        return {"url": f"https://{n}.example.invalid/"}
    if pattern.endswith("/deployment/secrets"):
        return {"name": f"MXN_{n.upper()}", "value": "mx-" + n}
    if pattern.endswith("/deployment/secrets/{name}"):
        return {"value": "mx-new-" + n}
    if pattern.endswith("/reveal"):
        return {"reason": "authorisation matrix"}
    if pattern.endswith("/sponsors"):
        return {"name": f"mx added {n}"}
    if pattern.endswith("/sponsors/{id}"):
        return {"name": f"mx replaced {n}"} if method == "PUT" else {"tier": "gold"}
    if pattern == "/api/v1/admin/platforms":
        return {"name": "mxp-" + n, "display_name": "MX " + n, "secrets": ["MX_TOKEN"],
                "trigger": "manual", "config_files": [],
                "docs_url": "https://example.invalid/mx"}
    if pattern.startswith("/api/v1/admin/platforms/"):
        return {"display_name": "MX changed " + n}
    return {}


def state(d):
    """What the admin sees of the project and the catalog."""
    out = {}
    for path in (proj(P1, "deployment"), proj(P1, "deployment/secrets"), proj(P1, "sponsors"),
                 "/api/v1/admin/platforms"):
        r = d.get(path, headers=d.admin_headers())
        out[path] = (r.status_code, r.json())
    return out


def call(w, caller, method, pattern):
    f = fresh(w.d)
    path = concrete(pattern, f)
    body = body_for(method, pattern, f)
    kw = {"json": body} if body is not None else {}
    before = state(w.d) if caller not in ("sponsor", "admin") else None
    r = w.d.request(method, path, headers=dict(w.headers[caller]), **kw)
    if before is not None and r.status_code in (401, 403):
        assert state(w.d) == before, f"{method} {path} as {caller} was refused but changed things"
    return path, r


def expected(auth, caller):
    """None: 2xx; an int: that error status."""
    if auth == "AUTH_NONE":
        return None
    if caller == "anonymous":
        return 401
    if caller in ("agent", "other_sponsor"):
        return 403
    if caller == "sponsor":
        return 403 if auth == "AUTH_ADMIN" else None
    return None


@pytest.mark.parametrize("method,pattern,auth", ROUTES + [AUDIT],
                         ids=[f"{m} {p}" for m, p, _ in ROUTES + [AUDIT]])
def test_who_may_call_it(w, method, pattern, auth):
    problems = []
    for caller in CALLERS:
        path, r = call(w, caller, method, pattern)
        want = expected(auth, caller)
        got = r.status_code
        try:
            if want == 401:
                assert_error(r, 401, "unauthorized")
                www = r.headers.get("WWW-Authenticate", "")
                assert www.lower().startswith("bearer"), f"WWW-Authenticate {www!r}"
            elif want == 403:
                assert_error(r, 403, "forbidden")
            elif (method, pattern) in KNOWN or (method, pattern, auth) == AUDIT:
                # A valid body: it is done.
                assert 200 <= got < 300, f"expected 2xx, got {got}"
            else:
                # A route this test has no body for: anything but a refusal.
                assert got not in (401, 403) and got < 500, f"got {got}"
        except AssertionError as exc:
            problems.append(f"{caller}: {method} {path} -> {got} {r.text[:300]} ({exc})")
    assert not problems, f"{auth}:\n" + "\n".join(problems)


# -- tokens that stop working ------------------------------------------------------------

def assert_unauthorized(r):
    assert_error(r, 401, "unauthorized")
    assert r.headers.get("WWW-Authenticate", "").lower().startswith("bearer"), r.headers


def test_a_revoked_sponsor_token_is_unauthorized(w):
    d = w.d
    s = new_sponsor(d, P1)
    issued = created(d.admin_post(proj(P1, "sponsors", s["id"], "tokens"), json={}))
    d.add_secret(issued["token"])
    assert issued["token"].startswith("sst_") and issued["sponsor_id"] == s["id"], issued
    h = sponsor_headers(issued["token"])
    assert_ok(d.get(proj(P1, "deployment/secrets"), headers=h))
    listing = d.admin_get(proj(P1, "sponsors", s["id"], "tokens"))
    assert_ok(listing)
    assert issued["token"] not in listing.text and str(issued["id"]) in listing.text
    r = d.request("DELETE", proj(P1, "sponsors", s["id"], "tokens", issued["id"]),
                  headers=d.admin_headers())
    assert 200 <= r.status_code < 300, r.text
    assert_unauthorized(d.get(proj(P1, "deployment/secrets"), headers=h))
    assert_unauthorized(d.post(proj(P1, "sponsors"), json={"name": "x"}, headers=h))
    # The sponsor's other tokens are not touched.
    assert_ok(d.get(proj(P1, "deployment/secrets"), headers=w.headers["sponsor"]))


def test_a_token_of_an_ended_sponsor_is_unauthorized(w):
    d = w.d
    s = new_sponsor(d, P1)
    h = sponsor_headers(sponsor_token(d, P1, s["id"]))
    assert_ok(d.get(proj(P1, "sponsors"), headers=h))
    assert_ok(d.request("PATCH", proj(P1, "sponsors", s["id"]), json={"status": "ended"},
                        headers=d.admin_headers()))
    assert_unauthorized(d.get(proj(P1, "sponsors"), headers=h))
    assert_unauthorized(d.get(proj(P1, "deployment/secrets"), headers=h))


def test_unknown_and_altered_sponsor_tokens_are_unauthorized(w):
    d = w.d
    good = w.sponsor_token
    for bad in ("sst_" + secrets.token_urlsafe(32), "sst_",
                good[:-1] + ("A" if good[-1] != "A" else "B"), good + "x", good[:-1],
                good.replace("sst_", "ssk_", 1)):
        assert_unauthorized(d.get(proj(P1, "deployment/secrets"), headers=sponsor_headers(bad)))
    assert_ok(d.get(proj(P1, "deployment/secrets"), headers=sponsor_headers(good)))


def test_sponsor_tokens_are_not_stored(w):
    """Stored as their SHA-256: the database has no token."""
    dump = pg_dump(w.d)
    for t in (w.sponsor_token, w.other_token):
        assert t not in dump and t[4:] not in dump
