#!/usr/bin/python3
"""Sum the Check and pytest XML results into one line: N passed, N failed.

Every file named must exist and hold at least one test, and no pytest
suite may have failed to load a test file: a suite that errors at
collection runs none of its tests, so a few failures there would hide a
whole suite that never ran.  Each such suite is named on a line of its
own, counts as a failure, and the exit status is non-zero.
"""
import os
import sys
import xml.etree.ElementTree as ET

CHECK_NS = "{http://check.sourceforge.net/ns}"


def count(path):
    """(passed, failed, skipped, files that failed to load)."""
    passed = failed = skipped = 0
    broken = []
    root = ET.parse(path).getroot()
    if root.tag == CHECK_NS + "testsuites":
        for test in root.iter(CHECK_NS + "test"):
            if test.get("result") == "success":
                passed += 1
            else:
                failed += 1
        return passed, failed, skipped, broken
    for case in root.iter("testcase"):
        kinds = {child.tag for child in case}
        errors = [c for c in case if c.tag == "error"]
        if any(c.get("message") == "collection failure" for c in errors):
            broken.append(case.get("name") or "?")
            failed += 1
        elif "failure" in kinds or "error" in kinds:
            failed += 1
        elif "skipped" in kinds:
            skipped += 1
        else:
            passed += 1
    return passed, failed, skipped, broken


def main(paths):
    total = [0, 0, 0]
    problems = []
    for path in paths:
        name = os.path.basename(path)
        if not os.path.exists(path):
            problems.append(f"{name}: missing: the suite did not run")
            total[1] += 1
            continue
        try:
            p, f, s, broken = count(path)
        except (OSError, ET.ParseError) as exc:
            problems.append(f"{name}: unreadable results ({exc})")
            total[1] += 1
            continue
        print(f"  {name}: {p} passed, {f} failed, {s} skipped")
        if broken:
            problems.append(f"{name}: {len(broken)} test file(s) failed to load"
                            f" ({', '.join(broken[:5])}): the suite stopped at"
                            " collection and ran none of its tests")
        if p + f + s == 0:
            problems.append(f"{name}: the suite ran no test")
            f += 1
        total = [total[0] + p, total[1] + f, total[2] + s]
    if not paths:
        problems.append("no test results named")
        total[1] += 1
    for line in problems:
        print("error: " + line)
    line = f"{total[0]} passed, {total[1]} failed"
    if total[2]:
        line += f", {total[2]} skipped"
    print(line)
    return 1 if total[1] or problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
