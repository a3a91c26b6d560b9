"""`make test`: every check in order, each run even if an earlier one failed.

Prints one line per stage and ends with `N passed, N failed` (pytest tests count one
each; lint, sanity and molecule count one each). Exits non-zero on any failure.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, ".cache", "checks")
BIN = os.path.dirname(sys.executable)


def pytest_stage(name, path, *extra):
    def run():
        report = os.path.join(OUT, name + ".xml")
        rc = subprocess.call([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rfE",
                              "--junitxml=" + report, path] + list(extra), cwd=REPO)
        try:
            suites = ET.parse(report).getroot()
        except (OSError, ET.ParseError):
            return 0, 1
        tests = failures = skipped = 0
        for suite in suites.iter("testsuite"):
            tests += int(suite.get("tests", 0))
            failures += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
            skipped += int(suite.get("skipped", 0))
        if rc not in (0, 5) and failures == 0:
            failures = 1
        return tests - failures - skipped, failures
    return run


def command_stage(argv, cwd=REPO):
    def run():
        rc = subprocess.call(argv, cwd=cwd)
        return (1, 0) if rc == 0 else (0, 1)
    return run


STAGES = [
    ("ansible-lint", command_stage([os.path.join(BIN, "ansible-lint"), "--profile", "production", "--offline"])),
    ("sanity", command_stage(["bash", os.path.join(REPO, "tests", "tools", "sanity.sh")])),
    ("awx-readiness", command_stage(["bash", os.path.join(REPO, "tests", "tools", "awx_check.sh")])),
    ("unit", pytest_stage("unit", "tests/unit")),
    ("integration", pytest_stage("integration", "tests/integration")),
    ("molecule", command_stage([os.path.join(BIN, "molecule"), "test", "--all"], cwd=os.path.join(REPO, "extensions"))),
]


def main(selected):
    os.makedirs(OUT, exist_ok=True)
    passed = failed = 0
    lines = []
    for name, stage in STAGES:
        if selected and name not in selected:
            continue
        print("\n===== %s =====" % name, flush=True)
        started = time.monotonic()
        ok, bad = stage()
        passed += ok
        failed += bad
        lines.append("%-13s %4d passed, %d failed  (%.0f s)" % (name, ok, bad, time.monotonic() - started))
    print("\n" + "\n".join(lines))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
