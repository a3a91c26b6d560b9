"""Demo step: pool mirroring on mirror1. Cron starts each pool's job (the lab schedules them every
minute); the demo waits for each run after the deploy and reads the mirrored files on mirror1."""

import re

ORDER = 50
TITLE = "pool mirroring"
HOST = "mirror1"
JOBS_DIR = "/etc/datasync/jobs"


def _tree(demo, path):
    sizes = [int(n) for n in demo.on(HOST, "find", path, "-type", "f", "-printf", "%s\\n").split()]
    return len(sizes), sum(sizes)


def run(demo):
    jobs = sorted(name[:-4] for name in demo.on(HOST, "ls", JOBS_DIR).split() if name.startswith("pools-") and name.endswith(".yml"))
    lines = []
    for job in jobs:
        run_, cron = demo.cron_job(HOST, job)
        text = demo.on(HOST, "cat", "%s/%s.yml" % (JOBS_DIR, job))
        module = re.search(r"^\s+module: (\S+)$", text, re.M).group(1)
        dest = re.search(r"^\s+dest: (\S+)$", text, re.M).group(1)
        files, size = _tree(demo, dest)
        lines.append("%s (cron, as datasync): %s rc=%d, %d changed: rsync://%s -> %s: %d files, %.1f MB%s" % (
            job, run_.start[11:], run_.rc, run_.changed, module, dest, files, size / 1048576.0,
            "; journal: " + cron[0].split(" ", 1)[1] if cron else ""))
    return lines
