"""make install (issue 17, item 1): a DESTDIR install of the build tree
SYNSTACK_BIN belongs to holds exactly the files a package ships, where the
configured directories say, with their modes (and root's, run as root):
the programs, the schema, the man pages, the commented samples and the
systemd unit naming the installed paths, and no secret.  The installed
daemon starts from its staged sample as an admin would edit it, and the
installed man pages format without a warning from man-db/groff or mandoc."""

import os
import re
import shutil
import stat
import subprocess

import pytest

from conftest import REPO, SCHEMA_DIR, assert_ok, set_key, synstackd_bin, wait_for
from mirror_helpers import write_secret

# The directories make install uses, read from the build's Makefile.
DIRS = ("prefix", "sysconfdir", "sbindir", "bindir", "mandir", "pkgdatadir",
        "systemdsystemunitdir")

MAN_PAGES = ("synstackd.8", "synstack-console.1", "synstack-mcp.1",
             "synstack.yaml.5")
SAMPLES = ("synstack.yaml", "profiles.yaml", "platforms.yaml")

# What must never be installed: the unit's credentials are the admin's to
# create, and anything named like a key or a token is a secret.
SECRET_NAME = re.compile(r"(key|token|secret|passw|credential)", re.I)


def build_dir():
    """The build tree SYNSTACK_BIN was built in (build or build-asan)."""
    build = synstackd_bin().resolve().parents[1]
    if not (build / "Makefile").exists():
        pytest.fail(f"no build tree at {build} to install from")
    return build


def make_dirs(build):
    """DIRS as make expands them in that build (no hard-coded prefix)."""
    rule = "print-dirs:\n\t@printf '%s=%s\\n'" + "".join(
        f" {v} '$({v})'" for v in DIRS) + "\n"
    r = subprocess.run(["make", "-s", "--no-print-directory", "-f", "Makefile",
                        "-f", "-", "print-dirs"], cwd=build, input=rule,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    dirs = dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)
    assert set(dirs) == set(DIRS), r.stdout
    for k, v in dirs.items():
        assert v.startswith("/") and "$" not in v, (k, v)
    return dirs


class Staged:
    """A DESTDIR install: root is DESTDIR, the others are real paths."""

    def __init__(self, root, dirs):
        self.root = root
        self.dirs = dirs

    def path(self, real):
        """Where the file installed at real is staged."""
        return self.root / str(real).lstrip("/")

    def real(self, key, *parts):
        return os.path.join(self.dirs[key], *parts)

    def expected(self):
        """Every installed file: real path -> (mode, source to match or None)."""
        exp = {
            self.real("sbindir", "synstackd"): (0o755, None),
            self.real("bindir", "synstack-console"): (0o755, None),
            self.real("bindir", "synstack-mcp"): (0o755, None),
            self.real("systemdsystemunitdir", "synstackd.service"): (0o644, None),
        }
        for p in sorted(SCHEMA_DIR.glob("*.sql")):
            exp[self.real("pkgdatadir", "schema", p.name)] = (0o644, p)
        for page in MAN_PAGES:
            sec = page.rsplit(".", 1)[1]
            exp[self.real("mandir", "man" + sec, page)] = (0o644, REPO / "docs" / page)
        for name in SAMPLES:
            exp[self.real("sysconfdir", "synstack", name)] = (0o644, REPO / "conf" / name)
            # The pristine copy make install compares with next time.
            exp[self.real("pkgdatadir", "samples", name)] = (0o644, REPO / "conf" / name)
        return exp

    def walk(self):
        """(real paths of the non-directories, real paths of the directories)."""
        files, dirs = set(), set()
        for top, dnames, fnames in os.walk(self.root):
            rel = "/" + os.path.relpath(top, self.root)
            for n in dnames:
                p = os.path.normpath(os.path.join(rel, n))
                # os.walk lists a symlink to a directory as a directory.
                (files if os.path.islink(os.path.join(top, n)) else dirs).add(p)
            for n in fnames:
                files.add(os.path.normpath(os.path.join(rel, n)))
        return files, dirs


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    build = build_dir()
    dirs = make_dirs(build)
    root = tmp_path_factory.mktemp("destdir")
    r = subprocess.run(["make", "-s", "install", f"DESTDIR={root}"], cwd=build,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    return Staged(root, dirs)


# ---------------------------------------------------------------- the files

def test_installs_exactly_the_expected_files(staged):
    """A file make install drops or adds shows here: the list is on purpose."""
    files, dirs = staged.walk()
    expected = set(staged.expected())
    missing = sorted(expected - files)
    extra = sorted(files - expected)
    assert not missing and not extra, f"missing {missing}, not expected {extra}"
    # No directory left empty or holding only unexpected things.
    parents = {os.path.dirname(p) for p in expected}
    needed = set()
    for p in parents:
        while p != "/":
            needed.add(p)
            p = os.path.dirname(p)
    assert dirs == needed, f"unexpected directories {sorted(dirs - needed)}"


def test_modes_and_owner(staged):
    """Regular files, 0755 programs and 0644 data, root's when root installs."""
    root = os.geteuid() == 0
    for real, (mode, _) in staged.expected().items():
        st = os.lstat(staged.path(real))
        assert stat.S_ISREG(st.st_mode), f"{real} is not a regular file"
        assert stat.S_IMODE(st.st_mode) == mode, \
            f"{real} has mode {stat.S_IMODE(st.st_mode):04o}, not {mode:04o}"
        if root:
            assert st.st_uid == 0, f"{real} is owned by uid {st.st_uid}"


def test_data_matches_the_source(staged):
    """The schema, the man pages and the samples are the source's, byte
    for byte; the schema directory holds every schema/*.sql and no other."""
    for real, (_, source) in staged.expected().items():
        if source is not None:
            assert staged.path(real).read_bytes() == source.read_bytes(), \
                f"{real} differs from {source.relative_to(REPO)}"
    schema = staged.path(staged.real("pkgdatadir", "schema"))
    assert sorted(p.name for p in schema.iterdir()) == \
        sorted(p.name for p in SCHEMA_DIR.glob("*.sql"))


def test_programs_run(staged):
    """The installed programs are executables that answer, not leftovers."""
    for real in (staged.real("sbindir", "synstackd"),
                 staged.real("bindir", "synstack-console"),
                 staged.real("bindir", "synstack-mcp")):
        assert staged.path(real).read_bytes()[:4] == b"\x7fELF", real
    d = staged.path(staged.real("sbindir", "synstackd"))
    r = subprocess.run([str(d), "-V"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "synstackd" in r.stdout + r.stderr


def unit_settings(text):
    out = {}
    for line in text.splitlines():
        if line and not line.startswith(("#", "[")) and "=" in line:
            k, v = line.split("=", 1)
            out.setdefault(k, []).append(v)
    return out


def test_unit_names_installed_paths(staged):
    """The unit runs the installed daemon on the installed configuration."""
    unit = staged.path(staged.real("systemdsystemunitdir", "synstackd.service"))
    text = unit.read_text()
    left = re.findall(r"@[a-z_]+@", text)
    assert not left, f"placeholders left: {left}"
    s = unit_settings(text)
    daemon = staged.real("sbindir", "synstackd")
    conf = staged.real("sysconfdir", "synstack", "synstack.yaml")
    for key in ("ExecStartPre", "ExecStart"):
        assert len(s.get(key, [])) == 1, (key, s.get(key))
        argv = s[key][0].split()
        assert argv[0] == daemon and argv[-2:] == ["-c", conf], (key, argv)
    # ... which are the files this install put there.
    for real in (daemon, conf):
        assert staged.path(real).is_file(), real


def test_no_secret_installed(staged):
    """The credentials the unit loads are the admin's to create: none is
    installed, nor anything named like a key or a token."""
    unit = staged.path(staged.real("systemdsystemunitdir", "synstackd.service"))
    creds = [v.split(":", 1)[1] for v in
             unit_settings(unit.read_text()).get("LoadCredential", [])]
    assert creds, "the unit loads no credential"
    for real in creds:
        assert os.path.dirname(real) == staged.real("sysconfdir", "synstack"), real
        assert not os.path.lexists(staged.path(real)), f"{real} is installed"
    files, _ = staged.walk()
    named = sorted(p for p in files if SECRET_NAME.search(os.path.basename(p)))
    assert not named, f"installed files named like secrets: {named}"


def test_reinstall_keeps_an_edited_sample(tmp_path):
    """An admin edits synstack.yaml in place: installing again (an
    upgrade from source) keeps the edit and puts the new sample beside
    it; make uninstall removes everything but the edited file."""
    build = build_dir()
    dirs = make_dirs(build)
    staged = Staged(tmp_path / "root", dirs)

    def make(target):
        r = subprocess.run(["make", "-s", target, f"DESTDIR={staged.root}"],
                           cwd=build, capture_output=True, text=True,
                           timeout=600)
        assert r.returncode == 0, r.stdout + r.stderr
        return r.stdout

    make("install")
    conf = staged.path(staged.real("sysconfdir", "synstack", "synstack.yaml"))
    edited = conf.read_text() + "# the admin's edit\n"
    conf.write_text(edited)
    out = make("install")
    assert conf.read_text() == edited, "make install overwrote the edited config"
    assert f"keeping the edited {conf}" in out, out
    sample = conf.with_name("synstack.yaml.sample")
    assert sample.read_bytes() == (REPO / "conf" / "synstack.yaml").read_bytes()
    make("uninstall")
    files, _ = staged.walk()
    assert files == {staged.real("sysconfdir", "synstack", "synstack.yaml")}, \
        sorted(files)


def test_reinstall_updates_a_sample_left_unedited(tmp_path):
    """A sample an earlier version installed and nobody edited is not
    an admin's file: installing a newer version replaces it."""
    build = build_dir()
    staged = Staged(tmp_path / "root", make_dirs(build))

    def make(target):
        r = subprocess.run(["make", "-s", target, f"DESTDIR={staged.root}"],
                           cwd=build, capture_output=True, text=True,
                           timeout=600)
        assert r.returncode == 0, r.stdout + r.stderr
        return r.stdout

    make("install")
    conf = staged.path(staged.real("sysconfdir", "synstack", "synstack.yaml"))
    kept = staged.path(staged.real("pkgdatadir", "samples", "synstack.yaml"))
    # As an older version left them: its sample, and its pristine copy.
    older = "# synstack.yaml of an older version\nlog:\n  level: info\n"
    conf.write_text(older)
    kept.write_text(older)
    out = make("install")
    assert "keeping" not in out, out
    assert conf.read_bytes() == (REPO / "conf" / "synstack.yaml").read_bytes()
    assert not conf.with_name("synstack.yaml.sample").exists()


# ---------------------------------------------------------------- the daemon

def test_installed_daemon_starts_from_the_sample(staged, daemon, pg, monkeypatch,
                                                  tmp_path):
    """The staged synstackd, on the staged sample edited for this host,
    checks it, migrates a fresh database from the staged schema, serves
    and stops cleanly on SIGTERM."""
    sbin = staged.path(staged.real("sbindir", "synstackd"))
    conf = staged.path(staged.real("sysconfdir", "synstack"))
    schema = staged.path(staged.real("pkgdatadir", "schema"))
    # The factory runs SYNSTACK_BIN: here the installed daemon.
    monkeypatch.setenv("SYNSTACK_BIN", str(sbin))
    d = daemon(start=False)
    tokens, _ = write_secret(tmp_path, f"# the admins\n{d.token}",
                             name="admin-tokens")
    world = daemon.world
    text = (conf / "synstack.yaml").read_text()
    for (section, key), value in {
            ("http", "listen"): [f"127.0.0.1:{d.port}"],
            ("http", "public_url"): d.base,
            ("database", "url"): pg.dsn(d.db),
            ("database", "schema_dir"): str(schema),
            ("gitea", "url"): world.url,
            ("gitea", "admin_token_file"): world.token_file,
            ("secrets", "master_key_file"): world.master_key_file,
            ("deploy", "platforms_file"): str(conf / "platforms.yaml"),
            ("admin", "token_file"): str(tokens)}.items():
        text = set_key(text, section, key, value)
    d.write_config(text=text)

    r = subprocess.run([str(sbin), "-n", "-c", d.config_path],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "configuration OK" in r.stderr

    d.start()
    assert d.proc.args[0] == str(sbin)
    d.wait_ready()
    wait_for(lambda: d.get("/healthz").status_code == 200, timeout=15,
             what="/healthz to answer 200")
    # Every staged migration ran, and the admin API answers on them.
    numbers = sorted(int(p.name[:4]) for p in schema.glob("*.sql"))
    assert d.psql("SELECT version FROM schema_migrations ORDER BY version") == \
        [[str(n)] for n in numbers]
    assert_ok(d.admin_get("/api/v1/admin/agents"))
    # The staged platforms sample seeded the catalog.
    seeded = re.findall(r"(?m)^  - name: (\S+)$", (conf / "platforms.yaml").read_text())
    assert seeded
    listed = {p["name"] for p in assert_ok(d.admin_get("/api/v1/admin/platforms"))["platforms"]}
    assert set(seeded) <= listed, (seeded, listed)

    assert d.terminate() == 0, d.log()


# ---------------------------------------------------------------- man pages

def tool(name, package):
    exe = shutil.which(name)
    if exe is None:
        pytest.skip(f"{name} is not installed (Debian: {package})")
    return exe


@pytest.mark.parametrize("page", MAN_PAGES)
def test_man_page_formats_cleanly(staged, page):
    """man shows the installed page with no groff warning, and mandoc's
    lint finds no warning or worse (style notes are not counted)."""
    man = tool("man", "man-db")
    mandoc = tool("mandoc", "mandoc")
    sec = page.rsplit(".", 1)[1]
    path = staged.path(staged.real("mandir", "man" + sec, page))
    env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8", MANROFFSEQ="",
               MAN_KEEP_STDERR="1")
    env.pop("MANPAGER", None)
    env.pop("PAGER", None)
    r = subprocess.run([man, "--warnings", "-E", "UTF-8", "-l", str(path)],
                       capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    name = page.rsplit(".", 1)[0]
    assert re.search(rf"^{re.escape(name.upper())}\({sec}\)", r.stdout, re.M), \
        r.stdout[:500]
    assert re.search(r"^NAME\n\s+" + re.escape(name) + r" ", r.stdout, re.M), \
        r.stdout[:500]
    r = subprocess.run([mandoc, "-T", "lint", "-W", "warning", str(path)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout + r.stderr == "", r.stdout + r.stderr
