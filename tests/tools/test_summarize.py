"""tests/summarize.py, the last line of scripts/run-tests: a suite that
fails to load, runs no test or never ran fails the run by name."""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SUMMARIZE = os.path.join(os.path.dirname(HERE), "summarize.py")

GOOD = ('<testsuites><testsuite name="pytest" tests="2">'
        '<testcase classname="t" name="a"/><testcase classname="t" name="b">'
        '<skipped/></testcase></testsuite></testsuites>')
# What pytest 7 writes when a test file cannot be imported: the run stops
# at collection and this is the only "test".
BROKEN = ('<testsuites><testsuite name="pytest" errors="1" tests="1">'
          '<testcase classname="" name="test_bad"><error message="collection'
          ' failure">ImportError</error></testcase></testsuite></testsuites>')
EMPTY = '<testsuites><testsuite name="pytest" tests="0"></testsuite></testsuites>'
CHECK = ('<testsuites xmlns="http://check.sourceforge.net/ns"><suite>'
         '<test result="success"><id>a</id></test>'
         '<test result="failure"><id>b</id></test></suite></testsuites>')


def run(tmp_path, **files):
    paths = []
    for name, text in files.items():
        p = tmp_path / (name + ".xml")
        if text is not None:
            p.write_text(text)
        paths.append(str(p))
    r = subprocess.run([sys.executable, SUMMARIZE, *paths], capture_output=True, text=True)
    return r.returncode, r.stdout.splitlines()


def test_all_good(tmp_path):
    rc, out = run(tmp_path, good=GOOD)
    assert rc == 0 and out[-1] == "1 passed, 0 failed, 1 skipped", out


def test_a_suite_that_failed_to_load_is_named_and_fails(tmp_path):
    rc, out = run(tmp_path, good=GOOD, integration=BROKEN)
    assert rc == 1, out
    assert any(line.startswith("error: integration.xml: 1 test file(s) failed to load"
                               " (test_bad)") for line in out), out
    assert out[-1] == "1 passed, 1 failed, 1 skipped", out


def test_a_suite_without_tests_or_results_fails(tmp_path):
    rc, out = run(tmp_path, good=GOOD, empty=EMPTY, gone=None)
    assert rc == 1, out
    assert "error: empty.xml: the suite ran no test" in out, out
    assert "error: gone.xml: missing: the suite did not run" in out, out
    assert out[-1] == "1 passed, 2 failed, 1 skipped", out


def test_check_results_count(tmp_path):
    rc, out = run(tmp_path, unit=CHECK)
    assert rc == 1 and out[-1] == "1 passed, 1 failed", out
