"""The libFuzzer targets of fuzz/ (issue 11), as regression tests: every
committed corpus replays cleanly, and each target then runs for a short
while from it.  They run against a real database (the session's
PostgreSQL, a database of their own) so that inputs reach the SQL behind
the commands, the MCP tools and the webhook appliers.

Needs the fuzzing build: SYNSTACK_FUZZ_BUILD names it (scripts/run-tests
makes build-fuzz with clang and ./configure --enable-fuzzing).  Without it
these are skipped.  SYNSTACK_FUZZ_SECONDS sets the short run (default 15).
A crash, a leak, a 500 or a hang leaves its input in
test-results/fuzz/<target>/ to replay: fuzz/fuzz_<target> <file>."""

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from conftest import REPO, SCHEMA_DIR

TARGETS = ["http", "mcp", "command", "json", "webhook", "conf"]
BUILD = os.environ.get("SYNSTACK_FUZZ_BUILD")
SECONDS = int(os.environ.get("SYNSTACK_FUZZ_SECONDS", "15"))
CORPUS = REPO / "fuzz" / "corpus"
RESULTS = REPO / "test-results" / "fuzz"

pytestmark = pytest.mark.skipif(not BUILD, reason="no fuzzing build (SYNSTACK_FUZZ_BUILD)")


@pytest.fixture
def fuzz_db(pg):
    """A database of the run's own: a fuzzer may suspend its own agent
    (the admin token is no secret to it)."""
    db = "synstack_fuzz_" + uuid.uuid4().hex[:12]
    pg.createdb(db)
    return f"host={pg.host} port={pg.port} user=postgres dbname={db}"


def fuzzer(target):
    b = Path(BUILD)
    if not b.is_absolute():
        b = REPO / b
    exe = b / "fuzz" / f"fuzz_{target}"
    if not exe.exists():
        pytest.fail(f"{exe} is not built (./configure --enable-fuzzing, with clang)")
    return exe


def run(target, args, db, timeout):
    out = RESULTS / target
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, SYNSTACK_FUZZ_DB=db, SYNSTACK_FUZZ_SCHEMA=str(SCHEMA_DIR),
               ASAN_OPTIONS="abort_on_error=1:detect_leaks=1",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    r = subprocess.run([str(fuzzer(target)), f"-artifact_prefix={out}/", "-timeout=20",
                        "-rss_limit_mb=2048", *args],
                       env=env, capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stderr


@pytest.mark.parametrize("target", TARGETS)
def test_the_corpus_replays_cleanly(target, fuzz_db):
    rc, log = run(target, ["-runs=0", str(CORPUS / target)], fuzz_db, timeout=300)
    assert rc == 0, log[-4000:]
    assert "DONE" in log, log[-2000:]


@pytest.mark.parametrize("target", TARGETS)
def test_a_short_run_finds_nothing(target, fuzz_db, tmp_path):
    # New inputs go to a scratch folder: the committed corpus stays as is.
    scratch = tmp_path / "new"
    scratch.mkdir()
    rc, log = run(target, [f"-max_total_time={SECONDS}", "-print_final_stats=1",
                           str(scratch), str(CORPUS / target)],
                  fuzz_db, timeout=SECONDS + 300)
    assert rc == 0, log[-4000:]
    assert "Done" in log, log[-2000:]
    shutil.rmtree(scratch, ignore_errors=True)
