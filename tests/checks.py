"""`make test`: every check in order, each run even if an earlier one failed.

Prints one line per stage and ends with `N passed, N failed, N skipped` (pytest tests count
one each; lint, sanity and AWX readiness count one each, molecule one per scenario). A pytest stage that
collects no test, or whose report is missing because pytest died, counts as failed. Exits
non-zero on any failure.
"""

from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, ".cache", "checks")
BIN = os.path.dirname(sys.executable)


@dataclass
class Count:
    passed: int = 0
    failed: int = 0
    skipped: int = 0

    def add(self, other):
        self.passed += other.passed
        self.failed += other.failed
        self.skipped += other.skipped


def junit_count(report, returncode):
    """Counts from a junit report; a missing report, no test run or a failing exit is a failure."""
    try:
        suites = ET.parse(report).getroot()
    except (OSError, ET.ParseError):
        print("no test report at %s (pytest exited %s)" % (report, returncode), flush=True)
        return Count(failed=1)
    tests = failures = skipped = 0
    for suite in suites.iter("testsuite"):
        tests += int(suite.get("tests", 0))
        failures += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        skipped += int(suite.get("skipped", 0))
    if tests == 0:
        print("the stage collected no test", flush=True)
        return Count(failed=1)
    if returncode != 0 and failures == 0:
        failures = 1
    return Count(passed=tests - failures - skipped, failed=failures, skipped=skipped)


def pytest_stage(name, path, *extra):
    def run():
        report = os.path.join(OUT, name + ".xml")
        if os.path.exists(report):
            os.unlink(report)
        returncode = subprocess.call([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rfEs",
                                      "--junitxml=" + report, path] + list(extra), cwd=REPO)
        return junit_count(report, returncode)
    return run


def command_stage(argv, cwd=REPO):
    def run():
        return Count(passed=1) if subprocess.call(argv, cwd=cwd) == 0 else Count(failed=1)
    return run


def molecule_scenario(directory, name):
    """Run one scenario with its output in a log; returns (passed, log text)."""
    log = os.path.join(OUT, "molecule-%s.log" % name)
    with open(log, "wb") as out:
        returncode = subprocess.call([os.path.join(BIN, "molecule"), "test", "-s", name], cwd=directory,
                                     stdout=out, stderr=subprocess.STDOUT)
    with open(log, encoding="utf-8", errors="replace") as handle:
        return returncode == 0, handle.read()


def molecule_stage(workers=2):
    """Every scenario, ``workers`` at a time: each boots its own host on its own bridge and subnet."""
    directory = os.path.join(REPO, "extensions")
    root = os.path.join(directory, "molecule")

    def run():
        names = sorted(n for n in os.listdir(root) if os.path.isfile(os.path.join(root, n, "molecule.yml")))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            outcomes = list(pool.map(lambda name: molecule_scenario(directory, name), names))
        count = Count()
        for name, (passed, text) in zip(names, outcomes):
            print("----- molecule scenario %s: %s -----\n%s" % (name, "passed" if passed else "FAILED", text), flush=True)
            count.add(Count(passed=1) if passed else Count(failed=1))
        if not names:
            print("no molecule scenario found", flush=True)
            count.add(Count(failed=1))
        return count
    return run


STAGES = [
    ("ansible-lint", command_stage([os.path.join(BIN, "ansible-lint"), "--profile", "production", "--offline"])),
    ("sanity", command_stage(["bash", os.path.join(REPO, "tests", "tools", "sanity.sh")])),
    ("awx-readiness", command_stage(["bash", os.path.join(REPO, "tests", "tools", "awx_check.sh")])),
    ("unit", pytest_stage("unit", "tests/unit")),
    ("lab", pytest_stage("lab", "tests/lab_tests", "--ignore=tests/lab_tests/hosts")),
    # The services as the booted lab hosts reach them: bridge address, lab DNS name, TLS from the host's store.
    ("lab-hosts", pytest_stage("lab-hosts", "tests/lab_tests/hosts")),
    ("integration", pytest_stage("integration", "tests/integration")),
    ("molecule", molecule_stage()),
]


def main(selected):
    os.makedirs(OUT, exist_ok=True)
    names = [stage[0] for stage in STAGES]
    unknown = sorted(set(selected) - set(names))
    if unknown:
        print("unknown stage(s): %s; stages: %s" % (", ".join(unknown), ", ".join(names)))
        return 2
    total = Count()
    lines = []
    for name, stage in STAGES:
        if selected and name not in selected:
            continue
        print("\n===== %s =====" % name, flush=True)
        started = time.monotonic()
        count = stage()
        total.add(count)
        lines.append("%-13s %4d passed, %d failed, %d skipped  (%.0f s)"
                     % (name, count.passed, count.failed, count.skipped, time.monotonic() - started))
    print("\n" + "\n".join(lines))
    print("%d passed, %d failed, %d skipped" % (total.passed, total.failed, total.skipped))
    return 1 if total.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
