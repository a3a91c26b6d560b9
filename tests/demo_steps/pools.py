"""Demo step: list the lab daemon's pools, then run each staggered pool-mirror job as cron would."""

import os
import re

ORDER = 50
TITLE = "pool mirroring"
HOST = "mirror1"


def _tree(path):
    files = size = 0
    for top, dirs, names in os.walk(path):
        for name in names:
            full = os.path.join(top, name)
            if not os.path.islink(full):
                files += 1
                size += os.path.getsize(full)
    return files, size


def _cron_minute(root, job):
    try:
        with open(os.path.join(root, "etc", "cron.d", "datasync-" + job)) as handle:
            for line in handle:
                if re.match(r"^[0-9*]", line):
                    return line.split()[0]
    except OSError:
        return None
    return None


def run(demo):
    lines = []
    document = demo.playbook("playbooks/pools.yml", "-e", "pools_action=list", "--limit", HOST)
    modules = []
    for play in document.get("plays", []):
        for task in play.get("tasks", []):
            result = task["hosts"].get(HOST) or {}
            if result.get("modules"):
                modules = [m["name"] for m in result["modules"] if not m["name"].startswith("bench")]
    lines.append("%s: the daemon serves %s" % (HOST, ", ".join(modules)))
    root = demo.host_root(HOST)
    jobs_dir = os.path.join(root, "etc", "datasync", "jobs")
    jobs = sorted((name[:-4] for name in os.listdir(jobs_dir) if name.startswith("pools-") and name.endswith(".yml")),
                  key=lambda job: _cron_minute(root, job) or "")
    for job in jobs:
        rc, changed = demo.job(HOST, job)
        with open(os.path.join(jobs_dir, job + ".yml")) as handle:
            text = handle.read()
        dest = re.search(r"^\s+dest: (.*)$", text, re.M).group(1).strip()
        icc = re.search(r"^\s+bookkeeping_root: (.*)$", text, re.M).group(1).strip()
        module = re.search(r"^\s+module: (.*)$", text, re.M).group(1).strip()
        files, size = _tree(dest)
        day = open(os.path.join(icc, module, "logs", "logDay")).read().strip()
        lines.append("%s %s (cron minute %s): %s -> %s: %d files, %.1f MB, %s; log %s" % (
            HOST, job, _cron_minute(root, job), module, os.path.relpath(dest, demo.lab.root), files, size / 1048576.0,
            "updated" if changed else "nothing new", os.path.relpath(os.path.join(icc, module, "logs", day), demo.lab.root)))
    return lines
