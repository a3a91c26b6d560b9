"""Demo step: EPN repatriation on beamline1. systemd starts mxsync-repatriate and mxsync-alert as their
timers would; the repatriated EPNs and their files are read on beamline1 (the job's state file and
the destination folders), the alert from its state file and the lab SMTP sink."""

import json
import time

ORDER = 40
TITLE = "EPN repatriation"
HOST = "beamline1"
STATE_DIR = "/var/lib/datasync-jobs/mxsync"


def _line(job, run, journal):
    finished = [line.split(" ", 1)[1] for line in journal if "Finished" in line]
    return "%s (systemctl start): %s rc=%d, %d changed; journal: %s" % (job, run.start[11:], run.rc, run.changed, finished[-1] if finished else "-")


def _tree(demo, path):
    sizes = [int(n) for n in demo.on(HOST, "find", path, "-type", "f", "-printf", "%s\\n").split()]
    return len(sizes), sum(sizes)


def run(demo):
    since = time.time()
    repatriate, journal = demo.timer_job(HOST, "mxsync-repatriate")
    lines = [_line("mxsync-repatriate", repatriate, journal)]
    synced = json.loads(demo.on(HOST, "cat", STATE_DIR + "/epn_repatriate.json"))["data"]["synced"]
    for epn, entry in sorted(synced.items()):
        files, size = _tree(demo, entry["destination"])
        lines.append("  EPN %s -> %s: %d files, %.1f MB" % (epn, entry["destination"], files, size / 1048576.0))
    alert, journal = demo.timer_job(HOST, "mxsync-alert")
    lines.append(_line("mxsync-alert", alert, journal))
    alerted = json.loads(demo.on(HOST, "cat", STATE_DIR + "/epn_alert.json"))["data"]
    mails = [mail for mail in demo.mail_since(since) if "mx-helpdesk" in mail[0]]
    lines.append("  unmapped EPNs alerted so far: %s; mail this run: %s" % (
        ", ".join(sorted(alerted.get("alerted", {}))) or "none", "; ".join("'%s' to %s" % (s, t) for t, s in mails) or "none (nothing new)"))
    return lines
