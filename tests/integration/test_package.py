"""The Debian package, as a Gitea administrator meets it: debian/ builds a
.deb with `dpkg-buildpackage -us -uc -b`, lintian finds no error or
warning, `apt install ./synstack_*.deb` puts the files in Debian's places,
creates the synstack user and the root-only secret files, enables the
unit without starting it, the admin's edited sample passes `synstackd -n`
and runs the daemon, and an upgrade keeps the edits.

This installs the package on the machine running the tests (CI's is
fresh) and purges it at the end, so it needs root; run-tests runs it once,
not per build."""

import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import time

import pytest
import requests

from conftest import REPO, free_port, new_token, set_key, unique_name

# It purges the package and replaces /etc/synstack, master key included:
# only where asked to (run-tests does) and never over an installation.
pytestmark = [
    pytest.mark.skipif(os.environ.get("SYNSTACK_TEST_PACKAGE") != "1",
                       reason="installs and purges the package on this machine:"
                       " set SYNSTACK_TEST_PACKAGE=1 (run-tests does)"),
    pytest.mark.skipif(os.geteuid() != 0,
                       reason="installs a package: needs root (CI runs as root)"),
]

ETC = "/etc/synstack"
CONF = ETC + "/synstack.yaml"
SECRETS = ("master-key", "gitea-token", "webhook-secret", "admin-tokens")
UNIT = "/lib/systemd/system/synstackd.service"
WANTS = "/etc/systemd/system/multi-user.target.wants/synstackd.service"


def run(argv, timeout=600, check=True, **kw):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                       **kw)
    if check:
        assert r.returncode == 0, (f"{' '.join(map(str, argv))}: exit "
                                   f"{r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


def apt(*args):
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    return run(["apt-get", "-y", "-q", *args], env=env)


def installed_version():
    r = run(["dpkg-query", "-W", "-f=${Status} ${Version}", "synstack"],
            check=False)
    if r.returncode != 0 or not r.stdout.startswith("install ok installed"):
        return None
    return r.stdout.split()[-1]


def purge():
    if run(["dpkg-query", "-W", "synstack"], check=False).returncode == 0:
        apt("purge", "synstack")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The .deb built from a copy of the source tree (the files git
    tracks or would track), so the developers' build directories are not
    in it.  nocheck: run-tests has already run the unit tests on these
    sources, twice."""
    top = tmp_path_factory.mktemp("deb")
    src = top / "synstack"
    files = run(["git", "-C", str(REPO), "ls-files", "-z", "--cached",
                 "--others", "--exclude-standard"]).stdout.split("\0")
    for f in filter(None, files):
        if (REPO / f).is_file():
            (src / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / f, src / f)
    env = dict(os.environ,
               DEB_BUILD_OPTIONS=f"nocheck parallel={os.cpu_count() or 1}")
    run(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=src, env=env,
        timeout=1200)
    debs = sorted(top.glob("synstack_*.deb"))
    assert len(debs) == 1, debs
    return debs[0]


@pytest.fixture(scope="module")
def installed(built):
    """The package installed as the README says, on a machine where it
    was not; purged afterwards."""
    if installed_version() is not None or os.path.exists(ETC):
        pytest.skip("synstack is installed here (or /etc/synstack is left):"
                    " this test would replace it; apt purge synstack first")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run(["apt", "install", "-y", "-q", f"./{built.name}"], cwd=built.parent,
        env=env)
    yield built
    purge()


def contents(deb):
    out = run(["dpkg-deb", "-c", str(deb)]).stdout
    return {line.split()[-1].lstrip(".") for line in out.splitlines()
            if not line.startswith("d")}


def test_lintian_finds_no_error_or_warning(built):
    changes = next(built.parent.glob("synstack_*.changes"))
    r = run(["lintian", "--fail-on", "error,warning", str(changes)],
            check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    tags = [line for line in r.stdout.splitlines()
            if re.match(r"^[EW]: ", line)]
    assert tags == [], r.stdout


def test_files_in_debians_places(built):
    have = contents(built)
    schema = {"/usr/share/synstack/schema/" + p.name
              for p in (REPO / "schema").glob("*.sql")}
    want = {
        "/usr/sbin/synstackd", "/usr/bin/synstack-console",
        "/usr/bin/synstack-mcp",
        "/etc/synstack/synstack.yaml", "/etc/synstack/platforms.yaml",
        "/etc/synstack/profiles.yaml",
        UNIT, "/usr/lib/sysusers.d/synstack.conf",
        "/usr/share/man/man8/synstackd.8.gz",
        "/usr/share/man/man5/synstack.yaml.5.gz",
        "/usr/share/man/man1/synstack-console.1.gz",
        "/usr/share/man/man1/synstack-mcp.1.gz",
        "/usr/share/synstack/samples/synstack.yaml",
        "/usr/share/synstack/samples/platforms.yaml",
        "/usr/share/synstack/samples/profiles.yaml",
        "/usr/share/doc/synstack/copyright",
        "/usr/share/doc/synstack/changelog.gz",
        "/usr/share/lintian/overrides/synstack",
    } | schema
    assert have == want, (sorted(have - want), sorted(want - have))
    # No secret ships in the package: postinst makes them on the machine.
    assert not any(os.path.basename(p) in SECRETS for p in have)
    ctl = run(["dpkg-deb", "-I", str(built), "conffiles"]).stdout.split()
    assert sorted(ctl) == ["/etc/synstack/platforms.yaml",
                           "/etc/synstack/profiles.yaml", CONF]


def test_maintainer_scripts_never_start_and_restart_on_upgrade(built,
                                                              tmp_path):
    """What no machine without systemd as PID 1 can show: the scripts
    start nothing on install, stop nothing before an upgrade (preinst),
    try-restart after it (a running daemon applies its migrations, a
    stopped one stays stopped), and stop the daemon on removal."""
    ctl = tmp_path / "ctl"
    run(["dpkg-deb", "-e", str(built), str(ctl)])
    postinst = (ctl / "postinst").read_text()
    assert not re.search(r"deb-systemd-invoke (start|restart)\b", postinst)
    assert re.search(r'if \[ -n "\$2" \]; then\s+deb-systemd-invoke '
                     r"try-restart 'synstackd.service'", postinst), postinst
    preinst = ctl / "preinst"
    assert not preinst.exists() or "stop" not in preinst.read_text()
    prerm = (ctl / "prerm").read_text()
    assert re.search(r'"\$1" = remove .*\n\s+deb-systemd-invoke stop '
                     r"synstackd.service", prerm), prerm


def test_installed_as_a_service_not_started(installed):
    user = pwd.getpwnam("synstack")
    assert user.pw_uid < 1000 and user.pw_shell.endswith("nologin"), user
    for name in SECRETS:
        st = os.stat(f"{ETC}/{name}")
        assert stat.S_IMODE(st.st_mode) == 0o600, name
        assert (st.st_uid, st.st_gid) == (0, 0), name
    key = open(f"{ETC}/master-key").read()
    assert re.fullmatch(r"[0-9a-f]{64}", key), "master-key is not 32 bytes in hex"
    # Until the admin writes the Gitea token the unit's condition fails.
    assert os.path.getsize(f"{ETC}/gitea-token") == 0
    assert os.path.realpath(WANTS) == os.path.realpath(UNIT), \
        "the unit is not enabled"
    assert run(["pgrep", "-u", "synstack"], check=False).returncode == 1, \
        "something runs as synstack right after install"
    if os.path.isdir("/run/systemd/system"):
        r = run(["systemctl", "is-active", "synstackd"], check=False)
        assert r.stdout.strip() in ("inactive", "unknown"), r.stdout
    # The installed unit is the one systemd would run, and as tight.
    r = run(["systemd-analyze", "verify", UNIT], check=False)
    assert r.returncode == 0 and r.stdout + r.stderr == "", r.stdout + r.stderr
    r = run(["systemd-analyze", "security", "--offline=true", UNIT])
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", r.stdout)
    assert m and float(m.group(1)) <= 2.0, r.stdout[-2000:]


def write_secret(name, text):
    with open(f"{ETC}/{name}", "w") as f:
        f.write(text)


def configure(pg, gitea_world, port):
    """The admin's edits, as docs/admin-guide.md tells them."""
    from emulator import ADMIN_TOKEN
    db = unique_name("pkg")
    pg.createdb(db)
    admin = new_token()
    write_secret("gitea-token", ADMIN_TOKEN + "\n")
    write_secret("admin-tokens", "# console\n" + admin + "\n")
    write_secret("webhook-secret", new_token() + "\n")
    text = open(CONF).read()
    for section, key, value in (
            ("http", "listen", [f"127.0.0.1:{port}"]),
            ("http", "public_url", f"http://127.0.0.1:{port}"),
            ("database", "url", pg.dsn(db)),
            ("gitea", "url", gitea_world.url),
            ("gitea", "admin_token_file", "credential:gitea-token"),
            ("gitea", "webhook_secret_file", "credential:webhook-secret"),
            ("secrets", "master_key_file", "credential:master-key"),
            ("admin", "token_file", "credential:admin-tokens")):
        text = set_key(text, section, key, value)
    with open(CONF, "w") as f:
        f.write(text)
    return admin, text


def check_config():
    env = dict(os.environ, CREDENTIALS_DIRECTORY=ETC)
    return run(["/usr/sbin/synstackd", "-n", "-c", CONF], env=env,
               check=False)


def test_edited_sample_checks_and_runs(installed, pg, gitea_world, tmp_path):
    port = free_port()
    admin, _ = configure(pg, gitea_world, port)
    r = check_config()
    assert r.returncode == 0, r.stdout + r.stderr
    assert "configuration OK" in r.stdout + r.stderr

    # A key file others can read is refused, by name, with the fix.
    os.chmod(f"{ETC}/master-key", 0o644)
    try:
        r = check_config()
        assert r.returncode != 0
        assert "master-key" in r.stderr and "chmod 600" in r.stderr, r.stderr
    finally:
        os.chmod(f"{ETC}/master-key", 0o600)

    # The packaged daemon migrates from /usr/share/synstack/schema (its
    # compiled-in place: the config names none) and serves.
    env = dict(os.environ, CREDENTIALS_DIRECTORY=ETC)
    log = open(tmp_path / "synstackd.log", "w+")
    proc = subprocess.Popen(["/usr/sbin/synstackd", "-c", CONF], env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, open(log.name).read()
            try:
                h = requests.get(base + "/healthz", timeout=2)
                break
            except requests.RequestException:
                assert time.monotonic() < deadline, "no /healthz in 30 s"
                time.sleep(0.1)
        assert h.status_code == 200, h.text
        r = requests.get(base + "/api/v1/admin/agents", timeout=5,
                         headers={"Authorization": f"Bearer {admin}"})
        assert r.status_code == 200, r.text
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()
    assert proc.returncode == 0, open(log.name).read()


def test_upgrade_keeps_the_admins_edits(installed, pg, gitea_world,
                                        tmp_path):
    _, edited = configure(pg, gitea_world, free_port())
    key = open(f"{ETC}/master-key").read()
    # A later version of the same package: dpkg's conffile rules are what
    # is under test, so only the version changes.
    tree = tmp_path / "tree"
    run(["dpkg-deb", "-R", str(installed), str(tree)])
    control = tree / "DEBIAN" / "control"
    text = control.read_text()
    old = re.search(r"^Version: (\S+)$", text, re.M).group(1)
    control.write_text(text.replace(f"Version: {old}", f"Version: {old}+1"))
    newer = tmp_path / f"synstack_{old}+1_amd64.deb"
    run(["dpkg-deb", "-b", str(tree), str(newer)])
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run(["apt", "install", "-y", "-q", f"./{newer.name}"], cwd=tmp_path,
        env=env)
    assert installed_version() == f"{old}+1"
    assert open(CONF).read() == edited, "the upgrade lost the admin's edits"
    assert open(f"{ETC}/master-key").read() == key, "the upgrade made a new key"
    assert os.path.getsize(f"{ETC}/gitea-token") > 0
    assert check_config().returncode == 0


def test_purge_removes_config_and_secrets(installed):
    purge()
    assert installed_version() is None
    assert not os.path.exists(ETC), os.listdir(ETC)
    assert not os.path.exists(WANTS)
    # Debian keeps system users: files they own may outlive the package.
    pwd.getpwnam("synstack")
