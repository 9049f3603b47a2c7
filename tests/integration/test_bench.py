"""The benchmark cannot rot: bench/run in its smoke mode (a tiny instance,
phases of about a second) runs every phase against the daemon under test
and prints its table with every row and no error.  Speeds are not checked:
they are the benchmark's to report, not this test's."""

import os
import re
import subprocess
import time

from conftest import REPO, synstackd_bin

KINDS = ["feed", "claim + abandon", "review", "webhook, one repository",
         "webhook, spread"]


def test_bench_smoke(tmp_path):
    env = dict(os.environ, SYNSTACK_BENCH_SMOKE="1", SYNSTACK_BIN=str(synstackd_bin()),
               SYNSTACK_BENCH_RESULTS=str(tmp_path / "results.jsonl"))
    env.pop("SYNSTACK_BENCH_KEEP", None)
    t = time.monotonic()
    r = subprocess.run([str(REPO / "bench" / "run")], env=env, capture_output=True,
                       text=True, timeout=85)
    took = time.monotonic() - t
    out = r.stdout + r.stderr
    assert r.returncode == 0, f"bench/run failed ({r.returncode}):\n{out[-6000:]}"

    rows = {}
    for line in r.stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 11 and cells[0] in KINDS:
            rows[(cells[0], cells[1])] = cells
    for kind in ("feed", "claim + abandon", "review"):
        for clients in ("1", "4", "16"):
            assert (kind, clients) in rows, f"no row for {kind} x{clients}:\n{out[-4000:]}"
    for kind in ("webhook, one repository", "webhook, spread"):
        assert (kind, "16") in rows, f"no row for {kind}:\n{out[-4000:]}"
    for key, cells in rows.items():
        req_s, p50, p99, pg_tps, ratio, pg50, pg99, trips, errors = cells[2:]
        assert float(req_s.split()[0]) > 0, (key, cells)
        assert errors == "0", (key, cells)
        assert float(p99) >= float(p50) > 0, (key, cells)
        assert re.match(r"^\d+(\.\d+)?( \(\d+\.\d \+ \d+\.\d\))?$", trips), (key, cells)
        if not key[0].startswith("webhook"):
            # pgbench ran the same SQL at the same client count.
            assert float(pg_tps) > 0 and re.match(r"^\d+\.\d\d$", ratio), (key, cells)
            assert float(pg99) >= float(pg50) > 0, (key, cells)
    assert re.search(r"^- peak RSS of synstackd \(.*\): \d+\.\d MB", r.stdout, re.M), out[-3000:]
    assert re.search(r"^- feed p50, 1 client, by instance size: .*ms, .*ms$", r.stdout,
                     re.M), out[-3000:]
    assert re.search(r"^- quiet reconciliation of \d+ repositories: \d+ Gitea calls"
                     r" \(1 \+ 2 x repositories = \d+\), \d+ changed items", r.stdout,
                     re.M), out[-3000:]
    assert "problem:" not in r.stdout, out[-4000:]
    assert (tmp_path / "results.jsonl").exists()
    print(f"bench smoke run: {took:.1f} s")
