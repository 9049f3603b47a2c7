"""Everything the build, the tests and the quickstart need is in the
repository: nothing names a folder beside it (a user's clone has none).
The Gitea reference data lives in tests/gitea_emulator/reference."""

import os
import re

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SKIP_DIRS = {".git", "node_modules", "__pycache__", "reference", "autom4te.cache"}
# A path that leaves the repository: the reference folder beside it, or a
# parent of the top.  Spelled in pieces, so this file does not name it.
SIBLING = "".join(("sh", "ar", "ed"))
OUTSIDE = re.compile(r"\.\./" + SIBLING + r"|\"" + SIBLING + r"\"|parents\[3\]|SYNSTACK_"
                     + SIBLING.upper())


def sources():
    for top in ("lib", "daemon", "mcp", "tui", "tests", "scripts", "conf", "schema", ".ci",
                "debian"):
        for root, dirs, files in os.walk(os.path.join(REPO, top)):
            dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.startswith("build")]
            for f in files:
                if f.endswith((".py", ".c", ".h", ".sh", ".sql", ".yaml", ".mjs",
                               ".postinst", ".prerm", ".postrm")) or \
                        "." not in f:
                    yield os.path.join(root, f)
    for f in ("Makefile.am", "configure.ac"):
        yield os.path.join(REPO, f)


def test_nothing_reads_outside_the_repository():
    me = os.path.abspath(__file__)
    found = []
    for path in sources():
        if os.path.abspath(path) == me:
            continue
        try:
            with open(path, encoding="utf-8") as fh:
                for n, line in enumerate(fh, 1):
                    if OUTSIDE.search(line):
                        found.append(f"{os.path.relpath(path, REPO)}:{n}: {line.strip()}")
        except (UnicodeDecodeError, FileNotFoundError):
            continue
    assert not found, "\n".join(found)


def test_the_gitea_reference_is_in_the_repository():
    ref = os.path.join(REPO, "tests", "gitea_emulator", "reference")
    assert os.path.isfile(os.path.join(ref, "swagger.v1.json"))
    assert os.path.isfile(os.path.join(ref, "webhooks", "index.json"))
    with open(os.path.join(ref, "README.md"), encoding="utf-8") as f:
        assert "Copied into this repository" in f.read(400)
