#!/usr/bin/python3
"""Sum the Check and pytest XML results into one line: N passed, N failed."""
import sys
import xml.etree.ElementTree as ET

CHECK_NS = "{http://check.sourceforge.net/ns}"


def count(path):
    passed = failed = skipped = 0
    root = ET.parse(path).getroot()
    if root.tag == CHECK_NS + "testsuites":
        for test in root.iter(CHECK_NS + "test"):
            if test.get("result") == "success":
                passed += 1
            else:
                failed += 1
        return passed, failed, skipped
    for case in root.iter("testcase"):
        kinds = {child.tag for child in case}
        if "failure" in kinds or "error" in kinds:
            failed += 1
        elif "skipped" in kinds:
            skipped += 1
        else:
            passed += 1
    return passed, failed, skipped


def main(paths):
    total = [0, 0, 0]
    for path in paths:
        try:
            p, f, s = count(path)
        except (OSError, ET.ParseError) as exc:
            print(f"{path}: unreadable results ({exc})", file=sys.stderr)
            total[1] += 1
            continue
        print(f"  {path.rsplit('/', 1)[-1]}: {p} passed, {f} failed, {s} skipped")
        total = [total[0] + p, total[1] + f, total[2] + s]
    if not paths or total[0] == 0:
        total[1] += 1
        print("no test results found", file=sys.stderr)
    line = f"{total[0]} passed, {total[1]} failed"
    if total[2]:
        line += f", {total[2]} skipped"
    print(line)
    return 1 if total[1] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
