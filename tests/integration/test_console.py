"""synstack-console(1), driven for real: the console runs in a tmux pane
of a fixed size against a real synstackd, PostgreSQL and the Gitea
emulator; the tests send keys and poll `tmux capture-pane` until the
expected text is on the screen (never a fixed sleep), then check the
outcome through the daemon's API.

One daemon and one emulator for the module; each test takes projects of
its own from a pool of seeded repositories and registers its own agents.
Every console runs with HOME and XDG_CONFIG_HOME in the test's tmp_path,
so nothing of the machine's own profiles is read.  The pane runs a small
script: `stty -a` before, the console (its pid in a file, its standard
error in another), its exit status, `stty -a` after, so the terminal's
state after the console ends can be compared with before.

The console is the one beside the daemon under test: SYNSTACK_BIN's
.../daemon/synstackd gives .../tui/synstack-console, so the ASan build
runs its own console.  Text screenshots go to test-results/console-*.txt.
"""

import copy
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from conftest import REPO, assert_ok, free_port, synstackd_bin, unique_name
from emulator import DEFAULT_SEED, Emulator
from mirror_helpers import wait_startup_sync

WAIT = float(os.environ.get("SYNSTACK_CONSOLE_WAIT", "15"))
SHOTS = REPO / "test-results"
# The pool of projects: realistic names, since a screenshot of them goes
# to the README.
POOL = ["billing", "blog", "checkout", "dashboard", "docs-site", "gateway",
        "inventory", "mailer", "notifier", "payments", "reports", "search",
        "scheduler", "storefront", "uploads", "webhooks"]
DOCKERFILE = 'FROM alpine:3.20\nCMD ["true"]\n'
README_DEPLOY = "# App\n\nA small app.\n\nTo deploy, build the image and push it.\n"
# SGR parameters that set a colour: 30-38, 40-48, 90-97, 100-107 (39 and
# 49 are the terminal's default colours).
COLOUR_SGR = re.compile(r"^(3[0-8]|4[0-8]|9[0-7]|10[0-7])$")

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


def console_bin():
    """The console built beside the daemon under test."""
    return synstackd_bin().parent.parent / "tui" / "synstack-console"


# -- the world ------------------------------------------------------------------------

def seed():
    s = copy.deepcopy(DEFAULT_SEED)
    for name in POOL:
        s["repos"].append({"owner": "acme", "name": name,
                           "files": {"README.md": f"# {name}\n"}})
    return s


@pytest.fixture(scope="module")
def emu():
    e = Emulator(seed=seed())
    yield e
    e.stop()


@pytest.fixture(scope="module")
def d(daemon_module, emu):
    if not console_bin().exists():
        pytest.fail(f"synstack-console not found at {console_bin()} (build it)")
    x = daemon_module(conf={"gitea.url": emu.url, "sync.interval": "1h"})
    wait_startup_sync(x)
    names = {r[0] for r in x.psql("SELECT owner || '/' || name FROM projects"
                                  " WHERE deleted_at IS NULL")}
    missing = {f"acme/{n}" for n in POOL} - names
    assert not missing, f"the pool is not mirrored: {missing}"
    return x


_pool = iter(POOL)


def fresh():
    """A project of the pool no other test has touched."""
    n = next(_pool, None)
    assert n is not None, "the pool of seeded repositories is used up: make POOL longer"
    return f"acme/{n}"


# -- the daemon's side ----------------------------------------------------------------

def dpath(p):
    return f"/api/v1/projects/{p}/deployment"


def deployment(d, p):
    return assert_ok(d.get(dpath(p)))


def make_ready(emu, p):
    """What readiness asks for: a Dockerfile, a README saying how to
    deploy, a successful commit status on the head."""
    sha = emu.commit(p, "main", {"Dockerfile": DOCKERFILE, "README.md": README_DEPLOY},
                     message="Make it deployable\n")
    r = emu.post(f"/repos/{p}/statuses/{sha}",
                 json={"state": "success", "context": "ci/build",
                       "description": "ci/build success",
                       "target_url": "https://ci.example.invalid/x"})
    assert r.status_code == 201, r.text


def move(d, p, to):
    data = assert_ok(d.admin_post(dpath(p), json={"status": to}))
    assert data["status"] == to, data


def agent_status(d, name):
    rows = [a for a in assert_ok(d.admin_get("/api/v1/admin/agents"))["agents"]
            if a["name"] == name]
    assert len(rows) == 1, rows
    return rows[0]["status"]


def audit(d, p):
    data = assert_ok(d.admin_get("/api/v1/admin/audit", params={"project": p, "limit": 100}))
    return data["entries"]


# -- profiles -------------------------------------------------------------------------

class Home:
    """A home folder of the test's own: HOME, XDG_CONFIG_HOME, the
    profiles file and the token files."""

    def __init__(self, tmp_path):
        self.root = tmp_path
        self.home = tmp_path / "home"
        self.xdg = tmp_path / "xdg"
        (self.xdg / "synstack").mkdir(parents=True, exist_ok=True)
        self.home.mkdir(exist_ok=True)
        self.profiles = self.xdg / "synstack" / "profiles.yaml"

    def token_file(self, name, token, mode=0o600):
        path = self.home / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token + "\n")
        os.chmod(path, mode)
        return path

    def write(self, text):
        self.profiles.write_text(text)
        return self.profiles


def profile_yaml(profiles, default=None, read_only=None):
    """profiles: name -> dict of url/socket, token_file, read_only."""
    out = []
    if default:
        out.append(f"default: {default}")
    if read_only is not None:
        out.append(f"read_only: {'true' if read_only else 'false'}")
    out.append("profiles:")
    for name, p in profiles.items():
        out.append(f"  {name}:")
        for k, v in p.items():
            if isinstance(v, bool):
                v = "true" if v else "false"
            out.append(f"    {k}: {v}")
    return "\n".join(out) + "\n"


def standard_home(tmp_path, d, read_only=False):
    """Profile "main" (the default): d's URL, its admin token in ~/admin.token."""
    h = Home(tmp_path)
    h.token_file("admin.token", d.token)
    prof = {"url": d.base, "token_file": "~/admin.token"}
    if read_only:
        prof["read_only"] = True
    h.write(profile_yaml({"main": prof}, default="main"))
    return h


# -- the console in tmux --------------------------------------------------------------

class Console:
    """One console in a tmux server of its own (-L), in a pane of a fixed
    size.  The pane's script records the terminal before and after, the
    console's pid, its standard error and its exit status."""

    def __init__(self, home, args=(), env=None, size=(80, 24), name="c"):
        self.home = home
        self.dir = home.root / f"run-{name}-{uuid.uuid4().hex[:6]}"
        self.dir.mkdir()
        self.sock = f"ssc-{uuid.uuid4().hex[:12]}"
        e = {"HOME": str(home.home), "XDG_CONFIG_HOME": str(home.xdg),
             "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
        # A sanitizer report of an ASan console goes to a file we look at
        # (its standard error is /dev/null while curses runs).
        asan = os.environ.get("ASAN_OPTIONS", "abort_on_error=1:detect_leaks=0")
        e["ASAN_OPTIONS"] = f"{asan}:log_path={self.dir}/asan"
        e["UBSAN_OPTIONS"] = f"print_stacktrace=1:halt_on_error=1:log_path={self.dir}/ubsan"
        e.update(env or {})
        exports = "\n".join(f"export {k}={shlex.quote(v)}" for k, v in e.items())
        unset = "" if "NO_COLOR" in e else "unset NO_COLOR\n"
        argv = " ".join(shlex.quote(a) for a in [str(console_bin()), *args])
        d = shlex.quote(str(self.dir))
        script = f"""{exports}
{unset}cd {d}
# C-c reaches the console only (the whole pane's group gets it).
trap '' INT
stty -a > {d}/before.stty
echo BEFORE-CONSOLE
sh -c 'echo $$ > {d}/pid; exec "$@"' console {argv} 2> {d}/stderr
rc=$?
echo "EXIT=$rc"
stty -a > {d}/after.stty
echo $rc > {d}/rc
exec sleep 120
"""
        (self.dir / "run.sh").write_text(script)
        w, h = size
        self.tmux("new-session", "-d", "-x", str(w), "-y", str(h), "-s", "s",
                  f"sh {d}/run.sh")
        self.socket_path = self.flag("socket_path")

    # -- tmux
    def tmux(self, *args, check=True):
        env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
        env.update(LANG="C.UTF-8", LC_ALL="C.UTF-8")
        r = subprocess.run(["tmux", "-L", self.sock, "-f", "/dev/null", *args],
                           capture_output=True, text=True, timeout=10, env=env)
        if check and r.returncode != 0:
            raise AssertionError(f"tmux {args}: {r.stderr}")
        return r.stdout

    def kill(self):
        self.tmux("kill-server", check=False)
        if self.socket_path:
            Path(self.socket_path).unlink(missing_ok=True)

    def screen(self, escapes=False):
        return self.tmux("capture-pane", "-p", "-t", "s", *(["-e"] if escapes else []))

    def flag(self, name):
        return self.tmux("display-message", "-p", "-t", "s", "#{" + name + "}").strip()

    def keys(self, *keys):
        """tmux key names: Enter, Escape, Tab, C-c, Up..."""
        self.tmux("send-keys", "-t", "s", *keys)

    def type(self, text):
        self.tmux("send-keys", "-t", "s", "-l", text)

    def resize(self, w, h):
        self.tmux("resize-window", "-t", "s", "-x", str(w), "-y", str(h))

    # -- waiting
    def wait(self, what, timeout=WAIT, gone=False):
        """Polls the pane until what (a string, or a predicate of the
        screen) is there (or, with gone, no longer there), on a settled
        screen: two captures in a row the same (a redraw reaches tmux in
        pieces, and a capture may fall between two)."""
        deadline = time.monotonic() + timeout
        prev = None
        while True:
            s = self.screen()
            try:
                ok = what(s) if callable(what) else (what in s)
            except (AssertionError, IndexError):
                ok = False
            if ok != gone and s == prev:
                return s
            prev = s if ok != gone else None
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {what!r}"
                    f"{' to go' if gone else ''}; the screen:\n{s}\n"
                    f"stderr: {self.stderr()!r}")
            time.sleep(0.03)

    def ready(self):
        """The frame is up: the header says who and where."""
        return self.wait(lambda s: s.startswith(" SynStack  profile:") and "db ok" in s)

    # A capture is the pane's lines, each ended by a newline.
    @staticmethod
    def status_line(s):
        return s.split("\n")[s.count("\n") - 2]

    @staticmethod
    def bar(s):
        return s.split("\n")[s.count("\n") - 1]

    # -- the end
    def rc(self, timeout=WAIT):
        """The console's exit status, once the script recorded it."""
        f = self.dir / "rc"
        deadline = time.monotonic() + timeout
        while not f.exists() or not f.read_text().strip():
            if time.monotonic() > deadline:
                raise AssertionError(f"the console did not end within {timeout}s;"
                                     f" the screen:\n{self.screen()}")
            time.sleep(0.03)
        return int(f.read_text())

    def pid(self):
        f = self.dir / "pid"
        deadline = time.monotonic() + WAIT
        while not f.exists() or not f.read_text().strip():
            assert time.monotonic() < deadline, "the console's pid never came"
            time.sleep(0.03)
        return int(f.read_text())

    def stderr(self):
        try:
            return (self.dir / "stderr").read_text()
        except FileNotFoundError:
            return ""

    def stty(self, which):
        return (self.dir / f"{which}.stty").read_text()

    def sanitizer_reports(self):
        return [p.read_text() for p in sorted(self.dir.glob("asan*")) +
                sorted(self.dir.glob("ubsan*"))]

    def shot(self, name, text=None):
        SHOTS.mkdir(exist_ok=True)
        (SHOTS / f"console-{name}.txt").write_text(text if text is not None else self.screen())


@pytest.fixture
def consoles():
    made = []

    def start(home, *args, **kw):
        c = Console(home, *args, **kw)
        made.append(c)
        return c
    yield start
    for c in made:
        c.kill()


def stty_flags(text):
    """The words of `stty -a` (speed, rows, settings)."""
    return set(text.split())


def assert_terminal_restored(c, rc):
    """After the console: its status, the terminal as before, cursor
    shown, no alternate screen or keypad mode, the shell's output where
    a shell puts it, and nothing on standard error."""
    assert c.rc() == rc, f"exit status {c.rc()}, expected {rc}; stderr: {c.stderr()!r}"
    before, after = c.stty("before"), c.stty("after")
    assert after == before, f"the terminal changed:\nbefore: {before}\nafter: {after}"
    words = stty_flags(after)
    assert {"icanon", "echo", "isig", "icrnl", "opost"} <= words, after
    s = c.wait(f"EXIT={rc}")
    ls = [l for l in s.split("\n") if l.strip()]
    assert ls[:2] == ["BEFORE-CONSOLE", f"EXIT={rc}"], \
        f"the shell's output is not where it should be:\n{s}"
    assert c.flag("alternate_on") == "0", "the pane is left in the alternate screen"
    assert c.flag("cursor_flag") == "1", "the cursor is left hidden"
    assert c.flag("keypad_cursor_flag") == "0", "the keypad is left in application mode"
    assert c.sanitizer_reports() == [], c.sanitizer_reports()


def filter_to(c, text):
    """/text Enter: the table shows the rows matching text, the first
    selected."""
    c.type("/")
    c.wait(lambda s: c.status_line(s).startswith(" /"))
    c.type(text)
    c.keys("Enter")
    return c.wait(lambda s: f"/{text}" in s.split("\n")[2] and "filter:" in c.status_line(s))


def jump(c, screen, title):
    c.type(":")
    c.wait(lambda s: c.status_line(s).startswith(" :"))
    c.type(screen)
    c.keys("Enter")
    return c.wait(lambda s: f"[{title}]" in s.split("\n")[1] and
                  not c.status_line(s).startswith(" :"))


def selected(s):
    """The selected row of a table: the line that starts with '>'."""
    rows = [l for l in s.split("\n") if l.startswith(">")]
    assert len(rows) == 1, s
    return rows[0]


def make_current(c, p):
    """Projects screen, filter to p, Enter (current + its pager), q."""
    jump(c, "projects", "Projects")
    filter_to(c, p)
    c.keys("Enter")
    c.wait(f"Project {p}")
    c.type("q")
    return c.wait(f"current: {p}")


# =====================================================================================
# Agents
# =====================================================================================

def test_approve_a_pending_agent(d, tmp_path, consoles):
    name = unique_name("con")
    d.new_agent(name, status="pending")
    other = unique_name("con")
    d.new_agent(other, status="pending")
    c = consoles(standard_home(tmp_path, d))
    s = c.ready()
    assert " SynStack  profile: main (read-write)  " + d.base in s.split("\n")[0], s
    assert "db ok  gitea ok" in s.split("\n")[0], s
    assert "[Agents]" in s.split("\n")[1], s
    pending = int(re.search(r"\[(\d+) pending\]", s.split("\n")[1]).group(1))
    assert pending >= 2, s
    assert "A approve" in c.bar(s) and "s suspend" in c.bar(s), c.bar(s)
    # Pending first.
    rows = [l for l in s.split("\n")[4:] if name in l or other in l]
    assert len(rows) == 2 and all("pending" in r for r in rows), s
    c.shot("agents", s)

    s = filter_to(c, name)
    row = selected(s)
    assert name in row and "pending" in row, s
    assert other not in s
    c.type("A")
    s = c.wait(lambda s: "active" in selected(s) and f"[{pending - 1} pending]" in s)
    assert name in selected(s), s
    assert c.status_line(s).strip(), "the daemon's answer is not on the status line"
    assert agent_status(d, name) == "active"
    assert agent_status(d, other) == "pending", "approving one approved another"

    # Approving it again is refused on the spot, and says why.
    c.type("A")
    c.wait(f"agent '{name}' is already active")
    c.type("q")
    assert_terminal_restored(c, 0)
    assert c.stderr() == "", "the console wrote outside curses"


# =====================================================================================
# Projects and sponsors
# =====================================================================================

def test_add_a_hosting_sponsor_then_move_the_project_to_sponsored(d, emu, tmp_path,
                                                                   consoles):
    p = fresh()
    make_ready(emu, p)
    move(d, p, "ready")
    sponsor = "Sponsor " + uuid.uuid4().hex[:8]
    c = consoles(standard_home(tmp_path, d))
    c.ready()
    make_current(c, p)
    s = c.wait(lambda s: p in selected(s) and "ready" in selected(s))

    s = jump(c, "sponsors", "Sponsors")
    s = c.wait(f"Sponsors of {p}: 0")
    assert "a add" in c.bar(s), c.bar(s)
    c.type("a")
    s = c.wait(f"Add a sponsor to {p}")
    for label in ("Name", "Email", "GitHub user", "Tier", "Monthly budget", "Recurrence",
                  "Covers hosting", "Covers domain", "Public credit", "Notes"):
        assert label in s, (label, s)
    c.type(sponsor)
    c.wait(sponsor)
    c.shot("sponsor-form")
    # Enter through the fields (hosting is yes by default); Enter on the
    # last one submits.
    for _ in range(9):
        c.keys("Enter")
    c.wait("Enter submits")
    c.keys("Enter")
    s = c.wait(f"Sponsors of {p}: 1")
    row = selected(s)
    assert sponsor in row and "active" in row, s
    sps = assert_ok(d.admin_get(f"/api/v1/projects/{p}/sponsors"))["sponsors"]
    assert [(x["name"], x["status"], x["covers_hosting"]) for x in sps] == \
        [(sponsor, "active", True)], sps

    # Projects, t: only the allowed ones; sponsored.
    s = jump(c, "projects", "Projects")
    assert p in selected(s) and "ready" in selected(s), s
    c.type("t")
    s = c.wait(f"Move {p} from ready to")
    allowed = set(deployment(d, p)["allowed"])
    assert allowed == {"none", "sponsored"}, allowed
    menu = [l for l in s.split("\n") if "│" in l or "|" in l]
    for st in ("sponsored", "none"):
        assert any(st in l for l in menu), (st, s)
    for st in ("live", "suspended"):
        assert not any(re.search(rf"\b{st}\b", l) for l in menu), (st, s)
    c.shot("transition-menu", s)
    c.type("s")
    c.wait(lambda s: "> sponsored" in s)
    c.keys("Enter")
    s = c.wait(lambda s: p in selected(s) and "sponsored" in selected(s))
    assert deployment(d, p)["status"] == "sponsored"
    c.type("q")
    assert_terminal_restored(c, 0)


def test_a_refused_transition_shows_the_daemons_code_and_reason(d, tmp_path, consoles):
    p = fresh()     # nothing deployable in it: readiness fails
    c = consoles(standard_home(tmp_path, d))
    c.ready()
    jump(c, "projects", "Projects")
    s = filter_to(c, p)
    assert p in selected(s) and "none" in selected(s), s
    c.type("t")
    s = c.wait(f"Move {p} from none to")
    c.keys("Enter")                 # the one choice: ready
    s = c.wait(lambda s: c.status_line(s).startswith(" 422 not_ready: "))
    r = d.admin_post(dpath(p), json={"status": "ready"})
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    want = f" 422 not_ready: {err['message']}"
    line = c.status_line(s).rstrip()
    # The status line is the daemon's words, cut to the screen.
    assert want.startswith(line.rstrip("~")) and len(line) > 40, (line, want)
    c.shot("refused-transition", s)
    assert deployment(d, p)["status"] == "none"
    c.type("q")
    assert_terminal_restored(c, 0)


# =====================================================================================
# Secrets
# =====================================================================================

def test_set_a_secret_unseen_then_reveal_it_with_a_reason(d, tmp_path, consoles):
    p = fresh()
    name = "API_TOKEN"
    value = "sv-" + uuid.uuid4().hex
    d.add_secret(value)
    pieces = {value, value[:10], value[-10:], value[3:19]}
    reason = "checking the rotation " + uuid.uuid4().hex[:6]
    c = consoles(standard_home(tmp_path, d))

    def unseen(step):
        s = c.screen()
        for x in pieces:
            assert x not in s, f"{step}: the value is on the screen:\n{s}"
        return s

    c.ready()
    s = jump(c, "secrets", "Secrets")
    assert "Secrets: no current project" in s, s
    # P: the current project, from the menu of every project.
    names = [x["project"] for x in
             assert_ok(d.admin_get("/api/v1/admin/projects?limit=200"))["projects"]]
    c.type("P")
    c.wait("Current project")
    c.type("g" + "j" * names.index(p))
    c.wait(f"> {p}")
    c.keys("Enter")
    s = c.wait(f"Secrets of {p}: 0 set, 0 missing")
    assert f"current project: {p}" in c.status_line(s), s

    c.type("a")
    c.wait(f"Set a secret of {p}")
    c.type(name)
    c.wait(name)
    c.keys("Enter")
    c.wait("not shown: one * for each character")
    for i, ch in enumerate(value):
        c.type(ch)
        c.wait("*" * (i + 1))
        unseen(f"typing character {i + 1}")
    c.shot("secret-form")
    c.keys("Enter")
    s = c.wait(lambda s: f"Secrets of {p}: 1 set" in s and name in selected(s))
    unseen("after it was set")
    listing = assert_ok(d.admin_get(f"/api/v1/projects/{p}/deployment/secrets"))
    assert [x["name"] for x in listing["secrets"]] == [name], listing
    assert "v reveal" in c.bar(s), c.bar(s)
    c.shot("secrets", s)

    # Reveal: the project's name typed back, a reason, then a masked box.
    c.type("v")
    c.wait(f"Reveal {name} of {p}?  Type the project name to confirm:")
    c.type(p)
    # (What is typed shows at the prompt's end; how much of it shows is
    # test_the_reveal_prompt_shows_what_is_typed's.)
    c.wait(lambda s: c.status_line(s).rstrip().endswith(p[-5:]))
    unseen("the confirmation")
    c.keys("Enter")
    c.wait("Reason (kept in the audit log):")
    c.type(reason)
    c.wait(lambda s: c.status_line(s).rstrip().endswith(reason))
    c.keys("Enter")
    s = c.wait("masked: press a key to show it; hidden again in")
    assert "************" in s, s
    assert re.search(r"hidden again in \d+ s", s), s
    unseen("the masked box")
    c.shot("reveal-masked", s)
    # Audited already, with the reason.
    mine = [e for e in audit(d, p) if e["action"] == "secret.revealed"]
    assert len(mine) == 1 and reason in json.dumps(mine[0]), mine
    assert name in json.dumps(mine[0]) and value not in json.dumps(audit(d, p)), mine

    c.type(" ")
    s = c.wait(value)
    assert "hidden again in" in s and "any key hides it now" in s, s
    c.type(" ")
    s = c.wait(value, gone=True)
    unseen("after the box closed")
    s = c.wait(f"{name} hidden again; the reveal is in the audit log")
    unseen("the status line")
    c.type("q")
    assert_terminal_restored(c, 0)


def test_the_reveal_prompt_shows_what_is_typed(d, tmp_path, consoles):
    """The confirmation is there so that a reveal does not happen on the
    wrong project: at 80 columns the admin must see the whole name typed
    so far (a short secret name, a short project name)."""
    p = fresh()
    value = "sv-" + uuid.uuid4().hex
    d.add_secret(value)
    r = d.put(f"/api/v1/projects/{p}/deployment/secrets/DB_URL", json={"value": value},
              headers=d.admin_headers())
    assert r.status_code in (200, 201), r.text
    c = consoles(standard_home(tmp_path, d))
    c.ready()
    make_current(c, p)
    jump(c, "secrets", "Secrets")
    c.wait(lambda s: "DB_URL" in selected(s))
    c.type("v")
    c.wait(f"Reveal DB_URL of {p}?  Type the project name to confirm:")
    c.type(p)
    s = c.wait(lambda s: c.status_line(s).rstrip().endswith(p[-5:]))
    c.shot("reveal-prompt", s)
    line = c.status_line(s).rstrip()
    # The question may sit on the line above when it leaves too little
    # room: what is typed is then the whole status line.
    typed = line.split("Type the project name to confirm:", 1)[-1].strip()
    assert typed == p, f"the project name typed is not shown whole: {line!r}"
    assert f"Reveal DB_URL of {p}?  Type the project name to confirm:" in s, s
    c.keys("Escape")
    c.wait("reveal canceled")
    assert value not in c.screen()
    assert not [e for e in audit(d, p) if e["action"] == "secret.revealed"]
    c.type("q")
    assert_terminal_restored(c, 0)


# =====================================================================================
# Read-only profiles
# =====================================================================================

# The keys of keys.c that change things, by screen: absent when read-only.
CHANGING = {
    "Agents": {"A": "approve", "s": "suspend"},
    "Projects": {"t": "transition", "e": "set", "R": "readiness"},
    "Sponsors": {"a": "add", "e": "edit", "p": "pause", "x": "end"},
    "Platforms": {"a": "add", "e": "edit", "x": "retire", "d": "delete"},
    "Secrets": {"a": "add", "e": "set", "b": "byok", "c": "confirm", "d": "delete",
                "v": "reveal"},
    "Deployments": {"m": "mark deployed", "D": "deploy"},
    "Audit": {},
}
SCREENS = list(CHANGING)


def help_pages(c):
    """The ? pager: every line of it (paging to its end), its first
    screen and its last."""
    c.type("?")
    first = s = c.wait("Keys of ")
    seen = []
    while True:
        seen += s.split("\n")[3:s.count("\n") - 1]
        m = re.search(r"lines \d+-(\d+) of (\d+)", s)
        if m is None or m.group(1) == m.group(2):
            break
        c.type(" ")
        s = c.wait(lambda t, was=m.group(0): was not in t)
    c.type("q")
    c.wait("Keys of ", gone=True)
    return seen, first, s


def test_a_read_only_profile_offers_no_change(d, tmp_path, consoles):
    name = unique_name("con")
    d.new_agent(name, status="pending")
    h = Home(tmp_path)
    h.token_file("admin.token", d.token)
    # The file says read-only; "ro" keeps it, "rw" says otherwise, and
    # a profile's own setting wins.
    h.write(profile_yaml({"ro": {"url": d.base, "token_file": "~/admin.token"},
                          "rw": {"url": d.base, "token_file": "~/admin.token",
                                 "read_only": False}},
                         default="ro", read_only=True))
    c = consoles(h)
    s = c.ready()
    assert " SynStack  profile: ro (read-only)  " in s.split("\n")[0], s
    for i, screen in enumerate(SCREENS):
        if i > 0:
            c.keys("Tab")
            s = c.wait(f"[{screen}]")
        bar = c.bar(s)
        assert "? help" in bar and "q quit" in bar, bar
        for key, label in CHANGING[screen].items():
            assert f"{key} {label}" not in bar, (screen, bar)
    c.keys("Tab")
    c.wait("[Agents]")

    for screen in ("Agents", "Sponsors", "Platforms", "Secrets"):
        if screen != "Agents":
            jump(c, screen.lower(), screen)
        lines, first, last = help_pages(c)
        text = "\n".join(lines)
        assert f" Keys of {screen} (read-only)" in first, first
        assert "This profile is read-only: the keys that change things are not offered." \
            in text, text
        assert "filter the rows" in text, text
        keys_listed = {l.split()[0] for l in lines if l.startswith("  ") and l.strip()}
        for key, label in CHANGING[screen].items():
            assert key not in keys_listed, (screen, key, text)
        if screen == "Agents":
            c.shot("help-read-only", last)

    # A on a pending agent: nothing changes, and the console says why.
    jump(c, "agents", "Agents")
    s = filter_to(c, name)
    assert name in selected(s) and "pending" in selected(s), s
    c.type("A")
    s = c.wait("profile ro is read-only: nothing here changes things")
    assert "pending" in selected(s), s
    c.type("r")
    s = c.wait(lambda s: "reloaded" in c.status_line(s))
    assert "pending" in selected(s), s
    assert agent_status(d, name) == "pending"
    c.type("q")
    assert_terminal_restored(c, 0)

    # The same file, the profile that says read_only: false.
    c = consoles(h, ["-p", "rw"])
    s = c.ready()
    assert " SynStack  profile: rw (read-write)  " in s.split("\n")[0], s
    assert "A approve" in c.bar(s), c.bar(s)
    c.type("q")
    assert_terminal_restored(c, 0)


# =====================================================================================
# Refusals before curses
# =====================================================================================

def assert_refused(c):
    """Before the screen: one line on standard error, status 1, and the
    terminal as it was (nothing drawn, nothing left behind)."""
    rc = c.rc()
    err = c.stderr()
    assert rc == 1, f"exit status {rc}; stderr {err!r}"
    assert c.stty("after") == c.stty("before")
    s = c.wait("EXIT=1")
    ls = [l for l in s.split("\n") if l.strip()]
    assert ls == ["BEFORE-CONSOLE", "EXIT=1"], f"the console wrote to the terminal:\n{s}"
    assert c.flag("alternate_on") == "0" and c.flag("cursor_flag") == "1"
    assert c.sanitizer_reports() == [], c.sanitizer_reports()
    assert err.endswith("\n") and err.count("\n") == 1, f"not one line: {err!r}"
    assert err.startswith("synstack-console: "), err
    return err.strip()


@pytest.mark.parametrize("case", ["wrong-profile", "token-readable-by-others",
                                  "unreachable-daemon", "refused-token"])
def test_refusals_before_the_screen(d, tmp_path, consoles, case):
    h = Home(tmp_path)
    token = h.token_file("admin.token", d.token)
    prof = {"url": d.base, "token_file": "~/admin.token"}
    args = []
    if case == "wrong-profile":
        args = ["-p", "nosuch"]
    elif case == "token-readable-by-others":
        os.chmod(token, 0o644)
    elif case == "unreachable-daemon":
        prof["url"] = f"http://127.0.0.1:{free_port()}"     # nobody listens
    else:
        wrong = "adm-" + uuid.uuid4().hex
        token = h.token_file("wrong.token", wrong)
        prof["token_file"] = "~/wrong.token"
    h.write(profile_yaml({"main": prof}, default="main"))
    c = consoles(h, args, name=case)
    err = assert_refused(c)
    assert d.token not in err, "the message shows the admin token"
    if case == "wrong-profile":
        assert "no profile 'nosuch'" in err and "the file has main" in err, err
        assert str(h.profiles) in err, f"the message does not name the file: {err}"
    elif case == "token-readable-by-others":
        # Where in the profiles file, which file, what to do.
        assert re.search(re.escape(str(h.profiles)) + r":\d+:\d+: ", err), err
        assert "token_file of profile 'main'" in err and str(token) in err, err
        assert "accessible by group or others" in err and f"chmod 600 {token}" in err, err
    elif case == "unreachable-daemon":
        head = "synstack-console: cannot reach synstackd (profile main): "
        assert err.startswith(head) and prof["url"] in err, err
    else:
        assert f"refused the admin token of profile main ({token})" in err, err
        assert re.search(r": 40[13] \w+: ", err), err
        assert wrong not in err, "the message shows the token"
    SHOTS.mkdir(exist_ok=True)
    (SHOTS / f"console-refusal-{case}.txt").write_text(err + "\n")


# =====================================================================================
# Every way out restores the terminal
# =====================================================================================

@pytest.mark.parametrize("how,rc", [("q", 0), ("SIGINT", 130), ("SIGTERM", 143)])
def test_every_exit_restores_the_terminal(d, tmp_path, consoles, how, rc):
    c = consoles(standard_home(tmp_path, d), name=how)
    c.ready()
    assert c.flag("alternate_on") == "1"
    assert c.flag("cursor_flag") == "0", "the cursor shows over the table"
    # Somewhere deeper than the top: a prompt, with the cursor on.
    c.type("/")
    c.wait(lambda s: c.status_line(s).startswith(" /"))
    if how == "q":
        c.keys("Escape")
        c.wait(lambda s: not c.status_line(s).startswith(" /"))
        c.type("q")
    elif how == "SIGINT":
        c.keys("C-c")
    else:
        os.kill(c.pid(), signal.SIGTERM)
    assert_terminal_restored(c, rc)
    assert c.stderr() == "", "the console wrote outside curses"


def test_a_lost_daemon_is_said_and_quitting_still_restores(daemon, emu, tmp_path, consoles):
    x = daemon(conf={"gitea.url": emu.url, "sync.interval": "1h"})
    c = consoles(standard_home(tmp_path, x))
    c.ready()
    jump(c, "projects", "Projects")
    x.terminate()
    c.type("r")
    s = c.wait(lambda s: c.status_line(s).startswith(" cannot reach the daemon (r retries): "))
    assert "daemon unreachable" in s.split("\n")[0], s
    c.shot("lost-daemon", s)
    c.keys("Tab")
    s = c.wait("[Sponsors]")
    c.type("q")
    assert_terminal_restored(c, 0)
    assert c.stderr() == ""


# =====================================================================================
# Resize and colours
# =====================================================================================

def test_resize_redraws_at_the_new_size_and_back(d, emu, tmp_path, consoles):
    p = fresh()
    url = f"https://{p.split('/')[1]}.apps.example.com/status/health-check"
    assert_ok(d.admin_post(dpath(p), json={"platform": "fly", "url": url}))
    # Some life on the screen (for the README's picture): a live one.
    q = fresh()
    make_ready(emu, q)
    move(d, q, "ready")
    assert_ok(d.admin_post(f"/api/v1/projects/{q}/sponsors",
                           json={"name": "Acme Foundation", "covers_hosting": True}))
    move(d, q, "sponsored")
    assert_ok(d.admin_post(dpath(q), json={"platform": "render",
                                           "url": f"https://{q.split('/')[1]}.onrender.com"}))
    move(d, q, "live")

    c = consoles(standard_home(tmp_path, d))
    c.ready()
    jump(c, "projects", "Projects")
    s = c.wait(lambda s: p in s)
    c.shot("projects", s)
    row = [l for l in s.split("\n") if p in l][0]
    assert url not in s and "~" in row, f"the URL fits at 80 columns?\n{s}"
    assert max(len(l) for l in s.split("\n")) <= 80
    before = s

    c.resize(132, 40)
    s = c.wait(lambda s: url in s and s.count("\n") == 40)
    ls = s.split("\n")
    assert ls[0].startswith(" SynStack  profile: main (read-write)") and d.base in ls[0], s
    assert ls[0].rstrip().endswith("db ok  gitea ok"), ls[0]
    # The pending count sits at the new right edge.
    assert re.search(r"\[\d+ pending\]$", ls[1].rstrip()) and len(ls[1].rstrip()) == 132, ls[1]
    # The key bar takes the room it now has.
    bar80, bar132 = c.bar(before), c.bar(s)
    assert "/ filter" not in bar80 and "/ filter" in bar132, (bar80, bar132)
    assert "[Projects]" in ls[1]
    c.shot("projects-132x40", s)

    c.resize(80, 24)
    s = c.wait(lambda s: url not in s and s.count("\n") == 24 and p in s)
    assert max(len(l) for l in s.split("\n")) <= 80, s
    assert s == before, f"the 80x24 screen is not as it was:\n{before}\n---\n{s}"

    # Smaller than the console needs: it says so, and comes back.
    c.resize(60, 20)
    c.wait("synstack-console needs 80x24; this terminal is 60x20")
    c.resize(80, 24)
    s = c.wait(lambda s: s == before)
    c.type("q")
    assert_terminal_restored(c, 0)


def sgr_colours(screen):
    """The colour parameters of every SGR sequence in a capture -e."""
    found = []
    for params in re.findall(r"\x1b\[([0-9;:]*)m", screen):
        for x in re.split(r"[;:]", params):
            if COLOUR_SGR.match(x):
                found.append(x)
    return found


@pytest.mark.parametrize("no_color", [True, False])
def test_no_color(d, tmp_path, consoles, no_color):
    d.new_agent(unique_name("con"), status="pending")   # a coloured row
    env = {"NO_COLOR": "1"} if no_color else {}
    c = consoles(standard_home(tmp_path, d), env=env, name=str(no_color))
    c.ready()
    s = c.screen(escapes=True)
    if no_color:
        assert sgr_colours(s) == [], f"colours with NO_COLOR set: {sgr_colours(s)}"
        # Still legible: the selection and the key bar in reverse video.
        assert "\x1b[7m" in s or re.search(r"\x1b\[[0-9;]*\b7\b[0-9;]*m", s), repr(s)
        c.shot("no-color", c.screen())
    else:
        assert sgr_colours(s), "no colours without NO_COLOR (so the check above proves nothing)"
    c.type("q")
    assert_terminal_restored(c, 0)
