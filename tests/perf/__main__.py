"""`make bench`: run every tests/perf/bench_*.py side by side with its baseline; print ratios.

Each benchmark module defines run(scale) -> list of dicts with name, ours (seconds),
baseline (seconds), baseline_name and an optional note/goal. Ratio = ours / baseline.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import platform
import subprocess
import sys
import time

from tests.lab.supervisor import Lab


def benchmarks():
    from tests import perf

    names = sorted(info.name for info in pkgutil.iter_modules(perf.__path__) if info.name.startswith("bench_"))
    return [importlib.import_module("tests.perf." + name) for name in names]


def machine_facts():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem_kb = 0
    try:
        with open("/proc/meminfo") as handle:
            mem_kb = int(next(line.split()[1] for line in handle if line.startswith("MemTotal")))
    except (OSError, StopIteration):
        pass
    rsync = subprocess.run(["rsync", "--version"], capture_output=True, text=True, check=False).stdout.split("\n")[0]
    return "%s; %d cores; %.0f GiB; Python %s; %s; %s" % (
        platform.platform(), os.cpu_count() or 0, mem_kb / 1048576, platform.python_version(), cpu, rsync)


def main(argv):
    scale = "small" if "--small" in argv else "full"
    lab = Lab()
    lab.up(hosts=False)
    os.environ.update(lab.ca_environment())
    rows = []
    for bench in benchmarks():
        started = time.monotonic()
        try:
            results = bench.run(scale)
        except Exception as exc:  # a broken benchmark is reported, the others still run
            rows.append((bench.__name__.rsplit(".", 1)[-1], "ERROR: %s" % exc, "", "", "", ""))
            continue
        for result in results:
            ratio = result["ours"] / result["baseline"] if result["baseline"] else float("nan")
            rows.append((result["name"], "%.3f s" % result["ours"], "%.3f s" % result["baseline"],
                         result.get("baseline_name", "baseline"), "%.3f" % ratio, result.get("note", "")))
        print("%s done in %.0f s" % (bench.__name__, time.monotonic() - started), file=sys.stderr)
    print("\nmachine: %s\nscale: %s\n" % (machine_facts(), scale))
    header = ("benchmark", "ours", "baseline", "baseline is", "ratio", "goal / note")
    widths = [max(len(str(row[i])) for row in rows + [header]) for i in range(len(header))]
    for row in [header] + rows:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
