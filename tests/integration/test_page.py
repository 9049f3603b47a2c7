"""The public project page and its badges (/p/{owner}/{repo}): what a
visitor sees, read from the DOM headless Chromium rendered (screenshots of
each page, desktop and phone, under test-results/), hostile text rendered
inert, the SVG and shields.io endpoint badges with their ETags, and what
the page must never show (private sponsors, secret values).

Real PostgreSQL, one daemon for the module, and a Gitea emulator of the
module's own whose seed gives each test its repositories, descriptions
included (the page shows Gitea's description, mirrored at start-up).
"""

import base64
import copy
import hashlib
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import jsonschema
import pytest

from conftest import REPO, assert_error, assert_ok, unique_name, wait_for
from emulator import DEFAULT_SEED, Emulator
from mirror_helpers import wait_startup_sync

RESULTS = REPO / "test-results"
SVG_NS = "{http://www.w3.org/2000/svg}"

SCRIPT = "<script>alert(1)</script>"
BREAKOUT = '"><img src=x onerror=alert(1)>'
HOSTILE = f"{SCRIPT} {BREAKOUT} & 'quoted'"

# The colours of docs: shields.io's palette, by name and value.
COLOURS = {"live": ("brightgreen", "#4c1"), "sponsored": ("blue", "#007ec6"),
           "ready": ("yellowgreen", "#a4a61d"), "suspended": ("red", "#e05d44"),
           "none": ("lightgrey", "#9f9f9f")}

# shields.io's endpoint badge (https://shields.io/badges/endpoint-badge).
SHIELDS_ENDPOINT = {
    "type": "object",
    "required": ["schemaVersion", "label", "message"],
    "additionalProperties": False,
    "properties": {
        "schemaVersion": {"const": 1},
        "label": {"type": "string"},
        "message": {"type": "string", "minLength": 1},
        "color": {"type": "string", "minLength": 1},
        "labelColor": {"type": "string"},
        "isError": {"type": "boolean"},
        "namedLogo": {"type": "string"},
        "logoSvg": {"type": "string"},
        "logoColor": {"type": "string"},
        "logoWidth": {"type": "integer"},
        "style": {"enum": ["flat", "flat-square", "plastic", "for-the-badge",
                           "social"]},
        "cacheSeconds": {"type": "integer", "minimum": 300},
    },
}

DOCKERFILE = 'FROM alpine:3.20\nCMD ["true"]\n'
README_DEPLOY = "# App\n\nA small app.\n\nTo deploy, build the image and push it.\n"

REPOS = {
    "page-live": "A tidy little app & its friends",
    "page-ready": "Ready, waiting for a sponsor",
    "page-bare": "Nothing chosen yet",
    "page-hostile": HOSTILE,
    "page-badge": "Its badge changes colour",
    "page-json": "Its endpoint badge",
}


# -- the world ----------------------------------------------------------------------

def page_seed():
    s = copy.deepcopy(DEFAULT_SEED)
    for name, desc in REPOS.items():
        s["repos"].append({"owner": "acme", "name": name, "description": desc,
                           "files": {"README.md": f"# {name}\n"}})
    s["repos"].append({"owner": "acme", "name": "page-archived", "archived": True,
                       "description": "closed for good",
                       "files": {"README.md": "# archived\n"}})
    return s


@pytest.fixture(scope="module")
def emu():
    e = Emulator(seed=page_seed())
    yield e
    e.stop()


@pytest.fixture(scope="module")
def d(daemon_module, emu):
    x = daemon_module(conf={"gitea.url": emu.url, "sync.interval": "1h",
                            "deploy.sponsor_contact": "sponsors@example.org"})
    wait_startup_sync(x)
    rows = x.psql("SELECT name, description FROM projects WHERE owner = 'acme'"
                  " AND name LIKE 'page-%' AND deleted_at IS NULL ORDER BY name")
    got = {name: desc for name, desc in rows}
    for name, desc in REPOS.items():
        assert got.get(name) == desc, f"{name} is not mirrored with its description: {got}"
    return x


def commit(emu, p, files, branch="main"):
    return emu.commit(p, branch, files, message="Change files\n")


def make_ready(emu, p):
    """What readiness asks for: a Dockerfile, a README that says how to
    deploy, a successful status on the head.  The head."""
    sha = commit(emu, p, {"Dockerfile": DOCKERFILE, "README.md": README_DEPLOY})
    r = emu.post(f"/repos/{p}/statuses/{sha}",
                 json={"state": "success", "context": "ci/build",
                       "description": "ci/build success"})
    assert r.status_code == 201, r.text
    return sha


# -- our side -----------------------------------------------------------------------

def api(d, method, path, body=None):
    h = d.admin_headers()
    if body is None:
        return d.request(method, path, headers=h)
    return d.request(method, path, json=body, headers=h)


def deploy_set(d, p, **body):
    return assert_ok(api(d, "POST", f"/api/v1/projects/{p}/deployment", body))


def move(d, p, to):
    data = deploy_set(d, p, status=to)
    assert data["status"] == to, data


def add_sponsor(d, p, name, **fields):
    body = {"name": name}
    body.update(fields)
    r = api(d, "POST", f"/api/v1/projects/{p}/sponsors", body)
    assert r.status_code in (200, 201), r.text
    return assert_ok(r, r.status_code)


def html_url(d, p):
    """The repository's page in Gitea, as the mirror stored it."""
    owner, name = p.split("/")
    rows = d.psql(f"SELECT html_url FROM projects WHERE owner = '{owner}'"
                  f" AND name = '{name}' AND deleted_at IS NULL")
    assert len(rows) == 1 and rows[0][0].startswith("http"), rows
    return rows[0][0]


def set_contact(d, value, shows):
    """deploy.sponsor_contact, reloaded by SIGHUP: the page shows it."""
    d.write_config({"deploy.sponsor_contact": value})
    d.signal(signal.SIGHUP)
    wait_for(lambda: shows in d.get("/p/acme/page-live").text, timeout=10,
             what=f"the page to show the sponsor contact {value!r}")


# -- Chromium and the DOM it rendered -------------------------------------------------

def chromium(*args, timeout=60):
    exe = shutil.which("chromium")
    if exe is None:
        pytest.fail("chromium is not installed (Debian: apt-get install chromium;"
                    " scripts/lib.sh's DEPS has it)")
    with tempfile.TemporaryDirectory(prefix="synstack-chromium-") as profile:
        r = subprocess.run(
            [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--no-first-run", "--no-default-browser-check", "--disable-extensions",
             "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={profile}", *args],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"chromium {args} failed ({r.returncode}): {r.stderr[-2000:]}"
    return r


def screenshots(d, path, name):
    """The page at desktop and phone widths, kept under test-results/."""
    RESULTS.mkdir(exist_ok=True)
    for kind, size in (("desktop", (1280, 900)), ("phone", (390, 844))):
        png = RESULTS / f"page-{name}-{kind}.png"
        if png.exists():
            png.unlink()
        chromium(f"--screenshot={png}", f"--window-size={size[0]},{size[1]}",
                 d.base + path)
        data = png.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{png} is not a PNG"
        w, h = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        assert (w, h) == size, f"{png} is {w}x{h}, not {size}"


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
        "source", "track", "wbr"}


class Node:
    def __init__(self, tag, attrs, parent=None):
        self.tag, self.attrs, self.parent = tag, dict(attrs), parent
        self.children = []          # Nodes and strings

    def text(self):
        out = []
        for c in self.children:
            out.append(c if isinstance(c, str) else c.text())
        return "".join(out)

    def words(self):
        return re.sub(r"\s+", " ", self.text()).strip()

    def iter(self):
        yield self
        for c in self.children:
            if isinstance(c, Node):
                yield from c.iter()

    def find_all(self, tag=None, **attrs):
        return [n for n in self.iter() if (tag is None or n.tag == tag)
                and all(n.attrs.get(k) == v for k, v in attrs.items())]

    def find(self, tag=None, **attrs):
        found = self.find_all(tag, **attrs)
        return found[0] if found else None

    def by_id(self, ident):
        n = self.find(id=ident)
        assert n is not None, f"no element #{ident}"
        return n


class DomBuilder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.cur = self.root

    def handle_starttag(self, tag, attrs):
        n = Node(tag, attrs, self.cur)
        self.cur.children.append(n)
        if tag not in VOID:
            self.cur = n

    def handle_startendtag(self, tag, attrs):
        self.cur.children.append(Node(tag, attrs, self.cur))

    def handle_endtag(self, tag):
        n = self.cur
        while n is not None and n.tag != tag:
            n = n.parent
        if n is not None and n.parent is not None:
            self.cur = n.parent

    def handle_data(self, data):
        self.cur.children.append(data)


def parse_html(text):
    b = DomBuilder()
    b.feed(text)
    b.close()
    return b.root


def rendered(d, path):
    """The DOM Chromium built from the page, as a tree."""
    return parse_html(chromium("--dump-dom", d.base + path).stdout)


def assert_inert(dom):
    """Nothing that runs: no script, no handler attribute, no javascript:
    link, no element the page does not make (img, iframe, object...)."""
    for n in dom.iter():
        assert n.tag not in ("script", "img", "iframe", "object", "embed", "form",
                             "base", "link"), f"a <{n.tag}> in the page: {n.attrs}"
        for k, v in n.attrs.items():
            assert not k.startswith("on"), f"<{n.tag} {k}={v!r}> in the page"
            if k in ("href", "src", "action", "xlink:href") and v is not None:
                assert re.match(r"(?i)^(https?:|mailto:|#|url\()", v), \
                    f"<{n.tag} {k}={v!r}>"


# -- the page -----------------------------------------------------------------------

def get_page(d, p):
    r = d.get(f"/p/{p}")
    assert r.status_code == 200, (r.status_code, r.text[:500])
    assert r.headers["Content-Type"] == "text/html; charset=utf-8", r.headers
    csp = r.headers.get("Content-Security-Policy", "")
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp, csp
    assert "script-src" not in csp and "unsafe-inline" not in csp, csp
    # The one inline style is allowed by its hash, and nothing else.
    styles = re.findall(r"<style>(.*?)</style>", r.text, re.S)
    assert len(styles) == 1, styles
    digest = base64.b64encode(hashlib.sha256(styles[0].encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in csp, (csp, digest)
    assert r.headers.get("X-Content-Type-Options") == "nosniff"
    assert "<script" not in r.text.lower()
    assert 'name="viewport"' in r.text
    # Nothing loaded, from elsewhere or here: no src, no stylesheet.
    for n in parse_html(r.text).iter():
        assert "src" not in n.attrs and n.tag != "link", (n.tag, n.attrs)
    return r


def test_a_live_project_as_a_visitor_sees_it(d, emu):
    p = "acme/page-live"
    head = make_ready(emu, p)
    deploy_set(d, p, platform="docker")
    move(d, p, "ready")
    add_sponsor(d, p, "Gold Corp", tier="gold", public=True)
    add_sponsor(d, p, "Jo Patron", tier="silver", public=True)
    hidden = "Quiet-" + unique_name("sp")
    add_sponsor(d, p, hidden, tier="platinum", public=False)
    move(d, p, "sponsored")
    deploy_set(d, p, url="https://live.example.com/app")
    move(d, p, "live")
    # The platform deploys by hand: the deployment waits for an admin.
    data = assert_ok(api(d, "POST", f"/api/v1/projects/{p}/deployment/deploy"))
    assert data["commit"] == head and data["queued"] is True, data

    r = get_page(d, p)
    assert r.headers.get("Cache-Control") == "no-cache", r.headers
    assert hidden not in r.text, "a private sponsor is named on the page"
    screenshots(d, "/p/" + p, "live")
    dom = rendered(d, "/p/" + p)
    assert_inert(dom)
    h1 = dom.find("h1")
    assert h1.words() == p, h1.words()
    repo = h1.find("a")
    assert repo is not None and repo.attrs["href"] == html_url(d, p), repo and repo.attrs
    assert dom.find("p", **{"class": "description"}).words() == REPOS["page-live"]
    # The badge, inline: its texts, and the colour of live.
    svg = dom.find("svg")
    assert svg is not None and "live" in svg.words() and "deploy" in svg.words()
    assert any(n.attrs.get("fill") == COLOURS["live"][1] for n in svg.iter())

    dep = dom.by_id("deployment")
    assert dep.find("strong", **{"class": "status"}).words() == "live"
    assert dep.find("dd", **{"class": "platform"}).words() == "Docker host"
    live = dep.find("dd", **{"class": "url"}).find("a")
    assert live.attrs["href"] == "https://live.example.com/app", live.attrs
    assert live.words() == "https://live.example.com/app"
    assert "Deployed" in dep.words() and dep.find("time") is not None

    rows = dom.by_id("deployments").find_all("tr")[1:]
    assert rows, "no deployment listed"
    first = [td.words() for td in rows[0].find_all("td")]
    assert first[:3] == [head[:7], "queued", "admin"], first
    link = rows[0].find("a")
    assert link.attrs["href"] == f"{html_url(d, p)}/commit/{head}", link.attrs

    credits = [li.words() for li in dom.by_id("sponsors").find_all("li")]
    assert credits == ["Gold Corp (gold)", "Jo Patron (silver)"], credits
    assert hidden not in dom.words()

    # Sponsored or live: nobody needs to deploy it themselves.
    assert dom.find(id="deploy-yourself") is None
    become = dom.by_id("become-a-sponsor")
    mail = become.find("a")
    assert mail.attrs["href"] == "mailto:sponsors@example.org", mail.attrs
    assert mail.words() == "sponsors@example.org"
    embed = dom.by_id("badge").words()
    assert f"/p/{p}/badge.svg" in embed, embed


def test_a_ready_project_says_how_to_deploy_it_yourself(d, emu):
    p = "acme/page-ready"
    make_ready(emu, p)
    deploy_set(d, p, platform="fly")
    move(d, p, "ready")
    value = "sv-" + secrets.token_hex(16)
    d.add_secret(value)
    r = api(d, "PUT", f"/api/v1/projects/{p}/deployment/secrets/FLY_API_TOKEN",
            {"value": value})
    assert r.status_code in (200, 201), r.text
    set_contact(d, "https://sponsor.example.org/apply?x=1&y=2",
                "https://sponsor.example.org/apply?x=1&amp;y=2")
    try:
        r = get_page(d, p)
        for path in ("", "/badge.svg", "/badge.json"):
            assert value not in d.get(f"/p/{p}{path}").text, f"a secret value in {path}"
        screenshots(d, "/p/" + p, "ready")
        dom = rendered(d, "/p/" + p)
        assert_inert(dom)
        assert value not in dom.words()
        dep = dom.by_id("deployment")
        assert dep.find("strong", **{"class": "status"}).words() == "ready"
        assert dep.find("dd", **{"class": "platform"}).words() == "Fly.io"
        assert dom.by_id("deployments").words().endswith("None yet.")
        assert dom.by_id("sponsors").words().endswith("No public sponsors yet.")

        yours = dom.by_id("deploy-yourself")
        assert "Fly.io" in yours.words()
        hrefs = [a.attrs["href"] for a in yours.find_all("a")]
        assert html_url(d, p) in hrefs, hrefs
        assert any(h.startswith("https://fly.io/docs/") for h in hrefs), hrefs
        names = [li.words() for li in yours.find("ul", **{"class": "secrets"}).find_all("li")]
        assert names == ["FLY_API_TOKEN"], names

        become = dom.by_id("become-a-sponsor").find("a")
        assert become.attrs["href"] == "https://sponsor.example.org/apply?x=1&y=2"
    finally:
        set_contact(d, "sponsors@example.org", "mailto:sponsors@example.org")


def test_without_a_platform_the_page_says_to_choose_one(d):
    p = "acme/page-bare"
    rd = assert_ok(api(d, "POST", f"/api/v1/projects/{p}/deployment/readiness"))
    assert rd["readiness"]["ready"] is False, rd
    set_contact(d, "the front desk, 3rd floor", "the front desk, 3rd floor")
    try:
        dom = rendered(d, "/p/" + p)
        assert_inert(dom)
        dep = dom.by_id("deployment")
        assert dep.find("strong", **{"class": "status"}).words() == "none"
        assert dep.find("dd", **{"class": "platform"}).words() == "none chosen yet"
        assert dep.find("dd", **{"class": "url"}) is None
        yours = dom.by_id("deploy-yourself")
        assert "choose one" in yours.words(), yours.words()
        assert yours.find("ul", **{"class": "secrets"}) is None
        missing = [li.words() for li in yours.find("ul", **{"class": "missing"}).find_all("li")]
        assert missing and any("Dockerfile" in m for m in missing), missing
        become = dom.by_id("become-a-sponsor")
        assert become.find("a") is None, "plain text became a link"
        assert "the front desk, 3rd floor" in become.words()
        screenshots(d, "/p/" + p, "bare")

        set_contact(d, "", "ask the admins of this SynStack instance")
        become = rendered(d, "/p/" + p).by_id("become-a-sponsor")
        assert become.find("a") is None
        assert "ask the admins of this SynStack instance" in become.words()
    finally:
        set_contact(d, "sponsors@example.org", "mailto:sponsors@example.org")


def test_hostile_text_is_shown_as_text(d):
    """A description from Gitea and a sponsor's name and tier that try
    to end their element or attribute are shown as typed, running
    nothing."""
    p = "acme/page-hostile"
    add_sponsor(d, p, HOSTILE, tier=BREAKOUT, public=True)
    r = get_page(d, p)
    assert SCRIPT not in r.text and BREAKOUT not in r.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
    dom = rendered(d, "/p/" + p)
    assert_inert(dom)
    assert dom.find("title").words().startswith(p)
    assert dom.find("p", **{"class": "description"}).words() == HOSTILE
    assert dom.find(**{"class": "sponsor"}).words() == HOSTILE
    assert dom.find(**{"class": "tier muted"}).words() == f"({BREAKOUT})"
    screenshots(d, "/p/" + p, "hostile")


def test_unknown_and_closed_projects_are_404_pages(d):
    for p in ("acme/no-such-page", "nobody/page-live", "acme/page-archived"):
        r = d.get(f"/p/{p}")
        assert r.status_code == 404, (p, r.status_code, r.text[:300])
        assert r.headers["Content-Type"] == "text/html; charset=utf-8", r.headers
        dom = parse_html(r.text)
        assert dom.find("h1").words() == "Not found", r.text
        assert_inert(dom)
        svg = d.get(f"/p/{p}/badge.svg")
        assert svg.status_code == 404 and svg.headers["Content-Type"] == "image/svg+xml"
        root = ET.fromstring(svg.content)
        assert "unknown" in [t.text for t in root.iter(SVG_NS + "text")]
        assert_error(d.get(f"/p/{p}/badge.json"), 404, "not_found")
    dom = rendered(d, "/p/acme/no-such-page")
    assert dom.find("h1").words() == "Not found"
    # A name that is no name: 400, as a page too.
    r = d.get("/p/acme/bad%20name")
    assert r.status_code == 400 and r.headers["Content-Type"].startswith("text/html")
    assert_inert(parse_html(r.text))


# -- the badges ---------------------------------------------------------------------

def svg_badge(d, p, etag=None, status=200):
    h = {"If-None-Match": etag} if etag else {}
    r = d.get(f"/p/{p}/badge.svg", headers=h)
    assert r.status_code == status, (r.status_code, r.text[:300])
    assert r.headers.get("Cache-Control") == "no-cache", r.headers
    tag = r.headers.get("ETag", "")
    assert re.fullmatch(r'"[0-9a-f]{16,64}"', tag), f"not a strong ETag: {tag!r}"
    return r, tag


def svg_says(r):
    """The badge's texts and its message's colour, from the XML."""
    root = ET.fromstring(r.content)
    assert root.tag == SVG_NS + "svg", root.tag
    assert int(root.get("width")) > 0 and root.get("height") == "20"
    texts = [t.text for t in root.iter(SVG_NS + "text")]
    fills = [e.get("fill") for e in root.iter(SVG_NS + "rect")]
    return texts, fills


def test_the_svg_badge_follows_the_status_with_its_etag(d, emu):
    p = "acme/page-badge"
    make_ready(emu, p)
    seen = {}
    for status, step in (("none", None), ("ready", "ready"), ("sponsored", None),
                         ("live", "live"), ("suspended", "suspended")):
        if status == "sponsored":
            add_sponsor(d, p, "Badge Sponsor")
            move(d, p, "sponsored")
        elif status == "live":
            deploy_set(d, p, platform="docker")
            move(d, p, "live")
        elif step is not None:
            move(d, p, step)
        r, tag = svg_badge(d, p)
        assert r.headers["Content-Type"] == "image/svg+xml"
        texts, fills = svg_says(r)
        assert texts.count("deploy") == 2 and texts.count(status) == 2, texts
        assert COLOURS[status][1] in fills, (status, fills)
        # Wider for a longer message.
        seen[status] = (tag, int(ET.fromstring(r.content).get("width")))
        # Unchanged: 304, empty, the same tag, whatever form the
        # client sends it in.
        for sent in (tag, "W/" + tag, f'"x", {tag}', "*"):
            again, same = svg_badge(d, p, etag=sent, status=304)
            assert again.content == b"" and same == tag, sent
        stale, _ = svg_badge(d, p, etag='"0000000000000000"')
        assert stale.content == r.content
    tags = [t for t, _ in seen.values()]
    assert len(set(tags)) == len(tags), f"a changed status kept its ETag: {seen}"
    assert seen["suspended"][1] > seen["live"][1], seen
    # The old tag of a changed badge is a full answer.
    r, tag = svg_badge(d, p, etag=seen["none"][0])
    assert tag == seen["suspended"][0] and "suspended" in svg_says(r)[0]


def test_the_json_badge_is_a_shields_endpoint(d, emu):
    p = "acme/page-json"
    validator = jsonschema.Draft7Validator(SHIELDS_ENDPOINT)
    tags = {}
    for step in (None, "ready"):
        if step == "ready":
            make_ready(emu, p)
            move(d, p, "ready")
        status = step or "none"
        r = d.get(f"/p/{p}/badge.json")
        assert r.status_code == 200, r.text
        assert r.headers["Content-Type"] == "application/json", r.headers
        body = r.json()
        validator.validate(body)
        assert body == {"schemaVersion": 1, "label": "deploy", "message": status,
                        "color": COLOURS[status][0], "cacheSeconds": 300}, body
        tag = r.headers["ETag"]
        assert re.fullmatch(r'"[0-9a-f]{16,64}"', tag), tag
        same = d.get(f"/p/{p}/badge.json", headers={"If-None-Match": tag})
        assert same.status_code == 304 and same.content == b""
        assert same.headers["ETag"] == tag
        tags[status] = tag
    assert tags["none"] != tags["ready"], tags
    r = d.get(f"/p/{p}/badge.json", headers={"If-None-Match": tags["none"]})
    assert r.status_code == 200 and r.json()["message"] == "ready"
