"""synstackd under systemd (issue 17, the unit): sd_notify on the
NOTIFY_SOCKET systemd gives a Type=notify service (READY=1 only once it
listens, RELOADING=1 then READY=1 around a SIGHUP reload, STOPPING=1 on
SIGTERM); `credential:NAME` values read from $CREDENTIALS_DIRECTORY
(LoadCredential=); and the generated unit passes `systemd-analyze verify`
and rates 2.0 or lower in `systemd-analyze security --offline=true`."""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests

from conftest import REPO, synstackd_bin


# ---------------------------------------------------------------- sd_notify

class NotifySocket:
    """An AF_UNIX datagram socket standing in for systemd's."""

    def __init__(self):
        # sun_path is 108 bytes: a short directory, not pytest's tmp_path.
        self.dir = tempfile.mkdtemp(prefix="ssn", dir="/tmp")
        self.path = os.path.join(self.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)

    def recv(self, timeout=15):
        """The next message as a dict of its assignments."""
        self.sock.settimeout(timeout)
        data = self.sock.recv(4096).decode()
        return dict(line.split("=", 1) for line in data.split("\n") if "=" in line)

    def until(self, key, timeout=15):
        """Messages up to and including the first that sets key."""
        seen = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"no {key}= within {timeout}s; got {seen}")
            try:
                m = self.recv(left)
            except socket.timeout:
                pytest.fail(f"no {key}= within {timeout}s; got {seen}")
            seen.append(m)
            if key in m:
                return seen

    def close(self):
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def notify_socket(monkeypatch):
    ns = NotifySocket()
    # Popen passes os.environ on: the daemon started next sees it.
    monkeypatch.setenv("NOTIFY_SOCKET", ns.path)
    yield ns
    ns.close()


def healthz_answers(d):
    try:
        requests.get(d.base + "/healthz", timeout=2)
        return True
    except requests.RequestException:
        return False


def test_notify_ready_reload_stopping(daemon, notify_socket):
    d = daemon(start=False)
    d.start()
    msgs = notify_socket.until("READY")
    # Nothing before READY says it is ready or stopping; READY carries a
    # STATUS; and when READY arrives the daemon already listens.
    assert all("READY" not in m and "STOPPING" not in m for m in msgs[:-1]), msgs
    ready = msgs[-1]
    assert ready["READY"] == "1"
    assert ready.get("STATUS"), ready
    assert healthz_answers(d), "READY=1 before /healthz answers"
    assert d.alive()

    # A reload: RELOADING=1 with MONOTONIC_USEC (Type=notify-reload), then
    # READY=1 once the new configuration is in force.
    before = time.monotonic_ns() // 1000
    d.write_config({"log.level": "debug"})
    d.signal(signal.SIGHUP)
    msgs = notify_socket.until("RELOADING")
    reloading = msgs[-1]
    assert reloading["RELOADING"] == "1"
    usec = int(reloading["MONOTONIC_USEC"])
    assert before <= usec <= time.monotonic_ns() // 1000
    msgs = notify_socket.until("READY")
    assert msgs[-1]["READY"] == "1"
    assert "configuration reloaded" in d.log()

    # A bad file is refused, and the daemon is READY again on the old one.
    d.write_config(text="http:\n  max_body: lots\n")
    d.signal(signal.SIGHUP)
    assert "RELOADING" in notify_socket.until("RELOADING")[-1]
    assert notify_socket.until("READY")[-1]["READY"] == "1"
    assert d.alive() and healthz_answers(d)

    # SIGTERM: STOPPING=1 before the drain, then a clean exit.
    d.signal(signal.SIGTERM)
    msgs = notify_socket.until("STOPPING")
    assert msgs[-1]["STOPPING"] == "1"
    assert d.terminate() == 0


def test_no_notify_socket_is_quiet(daemon, monkeypatch):
    """Without NOTIFY_SOCKET the daemon starts, reloads and stops as ever."""
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    d = daemon()
    d.signal(signal.SIGHUP)
    time.sleep(0.3)
    assert d.alive() and healthz_answers(d)
    assert d.terminate() == 0


# ---------------------------------------------------------------- credentials

def put_credential(dirpath, name, source, mode=0o400):
    path = os.path.join(dirpath, name)
    shutil.copyfile(source, path)
    os.chmod(path, mode)
    return path


@pytest.fixture
def creds(daemon, tmp_path, monkeypatch):
    """A daemon (not started) whose Gitea token and master key are
    credential: values, and the credentials directory holding them."""
    cdir = tmp_path / "credentials"
    cdir.mkdir(mode=0o700)
    world = daemon.world
    put_credential(cdir, "gitea-token", world.token_file)
    put_credential(cdir, "master-key", world.master_key_file)
    d = daemon(conf={"gitea.admin_token_file": "credential:gitea-token",
                     "secrets.master_key_file": "credential:master-key"},
               start=False)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(cdir))
    return d, cdir


def check(d, env):
    return subprocess.run([str(synstackd_bin()), "-n", "-c", d.config_path],
                          capture_output=True, text=True, timeout=30, env=env)


def test_credentials_are_read(creds):
    d, cdir = creds
    r = check(d, dict(os.environ))
    assert r.returncode == 0, r.stderr
    assert "configuration OK" in r.stderr
    d.start()
    d.wait_ready()
    # The token came from the credential: the daemon reaches Gitea with it.
    r = requests.get(d.base + "/healthz", timeout=5)
    assert r.status_code == 200, r.text


def test_credentials_directory_unset(creds):
    d, cdir = creds
    env = {k: v for k, v in os.environ.items() if k != "CREDENTIALS_DIRECTORY"}
    for argv in (["-n"], []):
        r = subprocess.run([str(synstackd_bin()), *argv, "-c", d.config_path],
                           capture_output=True, text=True, timeout=30, env=env)
        assert r.returncode == 1, r.stderr
        assert ("'gitea.admin_token_file': credential:gitea-token needs "
                "CREDENTIALS_DIRECTORY, which is not set") in r.stderr
        assert "LoadCredential=gitea-token:" in r.stderr


def test_credential_missing(creds):
    d, cdir = creds
    os.unlink(cdir / "master-key")
    r = check(d, dict(os.environ))
    assert r.returncode == 1
    assert (f"'secrets.master_key_file': credential:master-key: "
            f"{cdir}/master-key: No such file or directory") in r.stderr


def test_credential_readable_by_others(creds):
    d, cdir = creds
    token = cdir / "gitea-token"
    os.chmod(token, 0o444)
    r = check(d, dict(os.environ))
    assert r.returncode == 1
    assert str(token) in r.stderr
    assert "accessible by group or others" in r.stderr
    assert f"chmod 600 {token}" in r.stderr
    # The master key is checked as well, by its real path.
    os.chmod(token, 0o400)
    os.chmod(cdir / "master-key", 0o440)
    r = check(d, dict(os.environ))
    assert r.returncode == 1
    assert f"{cdir}/master-key" in r.stderr
    assert "accessible by group or others" in r.stderr


# ---------------------------------------------------------------- the unit

def analyze():
    exe = shutil.which("systemd-analyze")
    if exe is None:
        pytest.skip("systemd-analyze is not installed (Debian: systemd)")
    return exe


@pytest.fixture(scope="module")
def unit(tmp_path_factory):
    """conf/synstackd.service as make generates it in the build tree."""
    build = synstackd_bin().resolve().parents[1]
    if not (build / "Makefile").exists():
        pytest.fail(f"no build tree at {build} to generate the unit in")
    r = subprocess.run(["make", "-s", "conf/synstackd.service"], cwd=build,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    path = build / "conf" / "synstackd.service"
    text = path.read_text()
    assert "@" + "sbindir@" not in text and "@" + "sysconfdir@" not in text
    return path


def settings(text):
    out = {}
    for line in text.splitlines():
        if line and not line.startswith(("#", "[")) and "=" in line:
            k, v = line.split("=", 1)
            out.setdefault(k, []).append(v)
    return out


def test_unit_settings(unit):
    s = settings(unit.read_text())
    assert s["Type"] == ["notify"]
    assert s["NotifyAccess"] == ["main"]
    assert s["User"] == ["synstack"] and s["Group"] == ["synstack"]
    assert s["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert {v.split(":", 1)[0] for v in s["LoadCredential"]} == {
        "master-key", "gitea-token", "webhook-secret", "admin-tokens"}
    assert s["RuntimeDirectory"] == ["synstack"]
    assert s["UMask"] == ["0077"]
    assert s["RestrictAddressFamilies"] == ["AF_INET AF_INET6 AF_UNIX"]
    assert s["ExecStart"][0].split()[0].endswith("/sbin/synstackd")
    # Nothing starts before the admin has written the Gitea token (the
    # Debian package creates the file empty and enables the unit).
    assert s["ConditionFileNotEmpty"] == [
        s["LoadCredential"][1].split(":", 1)[1]]
    assert s["LoadCredential"][1].startswith("gitea-token:")
    # The sample's credential: values are the unit's names.
    sample = (REPO / "conf" / "synstack.yaml").read_text()
    for name in ("gitea-token", "webhook-secret", "master-key", "admin-tokens"):
        assert f"credential:{name}" in sample


def test_unit_verify(unit, tmp_path):
    exe = analyze()
    # verify wants the binaries and the Documentation= pages to exist: a
    # copy runs the built daemon, and MANPATH holds the source's pages.
    text = re.sub(r"^(ExecStart(?:Pre)?=)\S+/synstackd",
                  lambda m: m.group(1) + str(synstackd_bin().resolve()),
                  unit.read_text(), flags=re.M)
    copy = tmp_path / "synstackd.service"
    copy.write_text(text)
    man = tmp_path / "man"
    for sec, page in (("8", "synstackd.8"), ("5", "synstack.yaml.5")):
        (man / f"man{sec}").mkdir(parents=True, exist_ok=True)
        os.symlink(REPO / "docs" / page, man / f"man{sec}" / page)
    env = dict(os.environ, MANPATH=str(man))
    r = subprocess.run([exe, "verify", str(copy)], capture_output=True,
                       text=True, timeout=120, env=env)
    assert r.returncode == 0 and r.stdout + r.stderr == "", r.stdout + r.stderr


def test_unit_security(unit):
    exe = analyze()
    r = subprocess.run([exe, "security", "--offline=true", str(unit)],
                       capture_output=True, text=True, timeout=120)
    out = r.stdout + r.stderr
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", out)
    assert m, out
    assert float(m.group(1)) <= 2.0, out
