"""Configuration checking: `synstackd -n -c FILE` and start-up with a bad file.

Errors are `FILE:LINE:COL: message` on stderr (lines and columns from 1) and
exit status 1; a valid file prints "configuration OK" and exits 0.
"""

import os
import re
import subprocess
import time

import pytest

from conftest import REPO, render_config, DEFAULT_CONF, sha256_hex, new_token, \
    synstackd_bin, free_port


def check(path, timeout=10):
    binary = synstackd_bin()
    if not binary.exists():
        pytest.fail(f"synstackd binary not found at {binary}")
    r = subprocess.run([str(binary), "-n", "-c", str(path)], capture_output=True,
                       text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return r.returncode, r.stderr


def base_conf(pg, **over):
    c = dict(DEFAULT_CONF)
    c["http.listen"] = [f"127.0.0.1:{free_port()}"]
    c["database.url"] = pg.dsn("postgres")
    c["admin.token_hashes"] = ["sha256:" + sha256_hex(new_token())]
    c.update(over)
    return c


@pytest.fixture
def write(tmp_path):
    def _write(text, name="synstack.yaml"):
        p = tmp_path / name
        p.write_text(text)
        return str(p)
    return _write


def assert_position(rc, err, path, line, col, *words):
    assert rc == 1, f"exit status {rc}, stderr:\n{err}"
    prefix = f"{path}:{line}:{col}:"
    hits = [l for l in err.splitlines() if prefix in l]
    assert hits, f"no line with {prefix!r} in stderr:\n{err}"
    for w in words:
        assert any(w.lower() in h.lower() for h in hits), \
            f"{w!r} not in the error line(s) {hits}"
    assert "configuration OK" not in err


# ---------------------------------------------------------------- valid files

def test_sample_config_is_valid():
    sample = REPO / "conf" / "synstack.yaml"
    assert sample.exists(), f"{sample} is missing"
    rc, err = check(sample)
    assert rc == 0, f"exit {rc}: {err}"
    assert "configuration OK" in err


def test_generated_config_is_valid(pg, write):
    path = write(render_config(base_conf(pg)))
    rc, err = check(path)
    assert rc == 0, f"exit {rc}: {err}"
    assert "configuration OK" in err


def test_units_and_token_file_accepted(pg, write, tmp_path):
    tok = tmp_path / "admin.tokens"
    tok.write_text(new_token() + "\n")
    os.chmod(tok, 0o600)
    conf = base_conf(pg, **{"http.max_body": "64KiB", "http.drain_timeout": "250ms",
                            "gitea.timeout": "2s", "admin.token_hashes": None,
                            "admin.token_file": str(tok), "log.level": "debug",
                            "log.requests": False})
    rc, err = check(write(render_config(conf)))
    assert rc == 0, f"exit {rc}: {err}"
    assert "configuration OK" in err


# ---------------------------------------------------------------- errors with positions

def test_unknown_key(write):
    path = write("http:\n"
                 "  listen: [\"127.0.0.1:1\"]\n"
                 "  colour: blue\n")
    rc, err = check(path)
    assert_position(rc, err, path, 3, 3, "colour")


def test_unknown_section(write):
    path = write("log:\n"
                 "  level: info\n"
                 "frobs:\n"
                 "  x: 1\n")
    rc, err = check(path)
    assert_position(rc, err, path, 3, 1, "frobs")


def test_duplicate_key(write):
    path = write("log:\n"
                 "  level: info\n"
                 "  requests: true\n"
                 "  level: debug\n")
    rc, err = check(path)
    assert_position(rc, err, path, 4, 3, "level")


def test_duplicate_section(write):
    path = write("log:\n"
                 "  level: info\n"
                 "limits:\n"
                 "  register_per_hour: 5\n"
                 "log:\n"
                 "  requests: false\n")
    rc, err = check(path)
    assert_position(rc, err, path, 5, 1, "log")


@pytest.mark.parametrize("text,line,col", [
    ("limits:\n  register_per_hour: lots\n", 2, 22),
    ("log:\n  requests: perhaps\n", 2, 13),
    ("http:\n  max_body: huge\n", 2, 13),
    ("http:\n  drain_timeout: soon\n", 2, 18),
    ("log:\n  level: loud\n", 2, 10),
    ("admin:\n  token_hashes: {a: b}\n", 2, 17),
    ("http: 8080\n", 1, 7),
    ("limits:\n  register_per_hour: [1, 2]\n", 2, 22),
], ids=["int", "bool", "size", "duration", "loglevel", "list", "section", "int-list"])
def test_wrong_type_points_at_value(write, text, line, col):
    path = write(text)
    rc, err = check(path)
    assert_position(rc, err, path, line, col)


def test_too_deep_nesting(write):
    """The nesting limit is 8 collections with the root mapping counted as
    the first (lib/synstack.h CONF_MAX_DEPTH): http is the 2nd, listen's
    sequence the 3rd, so the 6th '[' below it (line 8) is the 9th, too deep.
    The file nests 200 deep; the error must point at the first level over."""
    lines = ["http:", "  listen: ["]
    lines += ["    [" for _ in range(200)]
    lines += ["    \"127.0.0.1:1\""]
    lines += ["    ]" for _ in range(201)]
    path = write("\n".join(lines) + "\n")
    rc, err = check(path)
    assert rc == 1, f"exit {rc}: {err}"
    m = re.search(re.escape(path) + r":(\d+):(\d+): (.*)", err)
    assert m, f"no FILE:LINE:COL error:\n{err}"
    assert re.search(r"deep|depth|nest", m.group(3), re.I), \
        f"the error is not about nesting: {m.group(0)}"
    assert (int(m.group(1)), int(m.group(2))) == (8, 5), m.group(0)


def test_very_deep_nesting_does_not_crash(write):
    """100 000 levels on one line: a clean error, not a stack overflow."""
    path = write("http:\n  listen: " + "[" * 100000 + "]" * 100000 + "\n")
    rc, err = check(path, timeout=20)
    assert rc == 1, f"exit {rc}: {err[-2000:]}"
    assert re.search(re.escape(path) + r":2:\d+: ", err), err[-2000:]


def test_yaml_syntax_error(write):
    path = write("http:\n  listen: [\"127.0.0.1:1\"\nlog:\n  level: info\n")
    rc, err = check(path)
    assert rc == 1, f"exit {rc}: {err}"
    assert re.search(re.escape(path) + r":\d+:\d+: ", err), err


def test_missing_file(tmp_path):
    path = str(tmp_path / "nope.yaml")
    rc, err = check(path)
    assert rc == 1, f"exit {rc}: {err}"
    assert path in err


# ---------------------------------------------------------------- token file

@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_insecure_token_file_refused(pg, write, tmp_path, mode):
    tok = tmp_path / "admin.tokens"
    tok.write_text(new_token() + "\n")
    os.chmod(tok, mode)
    path = write(render_config(base_conf(pg, **{"admin.token_hashes": None,
                                                "admin.token_file": str(tok)})))
    rc, err = check(path)
    assert rc == 1, f"mode {oct(mode)} accepted: exit {rc}: {err}"
    assert str(tok) in err, f"the error does not name the token file:\n{err}"
    assert "configuration OK" not in err


def test_insecure_token_file_position(write, tmp_path):
    tok = tmp_path / "admin.tokens"
    tok.write_text(new_token() + "\n")
    os.chmod(tok, 0o644)
    path = write("admin:\n"
                 f"  token_file: \"{tok}\"\n")
    rc, err = check(path)
    assert_position(rc, err, path, 2, 15)


def test_missing_token_file(pg, write, tmp_path):
    tok = str(tmp_path / "absent.tokens")
    path = write(render_config(base_conf(pg, **{"admin.token_hashes": None,
                                                "admin.token_file": tok})))
    rc, err = check(path)
    assert rc == 1, f"exit {rc}: {err}"
    assert tok in err


def test_malformed_token_hash(pg, write):
    path = write(render_config(base_conf(pg, **{"admin.token_hashes": ["sha256:nothex"]})))
    rc, err = check(path)
    assert rc == 1, f"exit {rc}: {err}"
    assert re.search(re.escape(path) + r":\d+:\d+: ", err), err


# ---------------------------------------------------------------- the daemon itself

def test_daemon_refuses_to_start_on_bad_config(write):
    port = free_port()
    path = write(f"http:\n  listen: [\"127.0.0.1:{port}\"]\n  colour: blue\n")
    t0 = time.monotonic()
    r = subprocess.run([str(synstackd_bin()), "-c", path], capture_output=True,
                       text=True, timeout=15, stdin=subprocess.DEVNULL)
    assert r.returncode != 0
    assert time.monotonic() - t0 < 10
    assert f"{path}:3:3:" in r.stderr, r.stderr
