"""The end of `make demo`: what an operator's monitoring sees of the runs the summary showed.

The lab's Prometheus (tests/lab/services/prometheus.py) is asked over its HTTP API for the last
success of every job; `promtool check metrics` reads every metrics file the jobs left in root's
textfile folder on each host; each host's audit logs must hold one line per change of the runs the
summary shows (no line for a run that changed nothing, at least one for a run that changed something)
and no secret of the lab's in any line.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.parse
import urllib.request

from tests.demo_steps import DemoError

TEXTFILE_DIR = "/var/lib/datasync/metrics"
AUDIT_LOGS = ("/var/log/datasync/audit.log", "/var/log/datasync-jobs/audit.log")
PROMTOOL = "promtool"


def _query(lab, query):
    url = "%s/query?%s" % (lab.endpoints()["prometheus"]["api"], urllib.parse.urlencode({"query": query}))
    with urllib.request.urlopen(url, timeout=10) as answer:  # nosec: the lab's own Prometheus on 127.0.0.1
        return json.load(answer)["data"]["result"]


def _stamp(seconds):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def last_successes(demo, timeout=45):
    """{(host, job): last success (epoch s)} as Prometheus reports it, once it has scraped every run
    the summary shows (it scrapes every 10 s)."""
    deadline = time.monotonic() + timeout
    while True:
        scraped = {(r["metric"].get("instance"), r["metric"].get("datasync_job")): float(r["value"][1])
                   for r in _query(demo.lab, "datasync_job_last_run_timestamp_seconds")}
        late = sorted("%s %s" % (host, run.job) for host, run in demo.runs if scraped.get((host, run.job), 0) < run.started)
        if not late:
            break
        if time.monotonic() > deadline:
            raise DemoError("Prometheus has not scraped the last run of: %s" % ", ".join(late))
        time.sleep(3)
    return {(r["metric"].get("instance"), r["metric"].get("datasync_job")): float(r["value"][1])
            for r in _query(demo.lab, "datasync_job_last_success_timestamp_seconds")}


def check_metrics(demo, hosts):
    """`promtool check metrics` on each metrics file in root's textfile folder of hosts; the count."""
    checked, failed = 0, []
    for host in hosts:
        names = demo.on(host, "find", TEXTFILE_DIR, "-maxdepth", "1", "-name", "*.prom", "-printf", "%f\\n").split()
        for name in sorted(names):
            text = demo.on(host, "cat", os.path.join(TEXTFILE_DIR, name))
            proc = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, check=False)
            checked += 1
            if proc.returncode != 0:
                failed.append("%s:%s/%s: %s" % (host, TEXTFILE_DIR, name, (proc.stdout + proc.stderr).strip()[-500:]))
    if failed:
        raise DemoError("promtool check metrics failed:\n%s" % "\n".join(failed))
    return checked


def secrets(lab):
    """The lab's secrets (what the jobs authenticate with): none may reach an audit line."""
    found = set()
    services = lab.endpoints()
    for service in services.values():
        for key, value in (service.items() if isinstance(service, dict) else ()):
            if key.endswith(("secret_file", "password_file")) and os.path.isfile(str(value)):
                with open(value, encoding="utf-8") as handle:
                    found.add(handle.read().strip())
    found.update(value for key, value in lab.environment().items() if key.endswith("SECRET") and value)
    return sorted(secret for secret in found if len(secret) >= 8)


def audit(demo):
    """The audit lines of each run the summary shows, checked against its changed count:
    [(host, run, [line, ...])] in the summary's order, and how many secrets were looked for."""
    hosts = sorted({pair[0] for pair in demo.runs})
    lines = {}
    canaries = secrets(demo.lab)
    leaked = []
    for host in hosts:
        text = demo.on(host, "sh", "-c", 'for f in "$@"; do [ -f "$f" ] && cat "$f"; done; true', "sh", *AUDIT_LOGS)
        leaked += ["%s: line %d" % (host, number) for number, line in enumerate(text.splitlines(), 1)
                   if any(secret in line for secret in canaries)]
        lines[host] = [json.loads(line) for line in text.splitlines() if line.strip()]
    if leaked:
        raise DemoError("a secret of the lab's is in an audit log:\n%s" % "\n".join(leaked))
    found, problems = [], []
    mail = demo.mail_since(demo.started)
    for host, run in demo.runs:
        window = [e for e in lines[host] if e["job"] == run.job and run.start <= e["time"][:19] + "Z" <= run.end]
        # A mail is no change of the hosts' state: the summary's mail section shows it, from the SMTP sink.
        state = [e for e in window if e["action"] != "email_sent"]
        if (run.changed and not window) or (state and not run.changed):
            problems.append("%s %s at %s: %d changed, audit lines %s" % (
                host, run.job, run.start, run.changed, ", ".join("%s %s" % (e["action"], e["object"]) for e in window) or "none"))
        problems += ["%s %s at %s: audit line for a mail the SMTP sink did not receive: %s" % (host, run.job, run.start, e["after"])
                     for e in window if e["action"] == "email_sent" and run.started >= demo.started
                     and (e.get("after") or {}).get("subject") not in [message[1] for message in mail]]
        found.append((host, run, window))
    if problems:
        raise DemoError("the audit logs do not match the runs:\n%s" % "\n".join(problems))
    return found, len(canaries)


def report(demo):
    """The summary's last section: [(title, lines)]."""
    found, canaries = audit(demo)
    changes = [(host, run, entry) for host, run, window in found for entry in window]
    audit_lines = ["%d audit line(s) for the runs above, one per change, no secret (%d checked) in any%s" % (
        len(changes), canaries, ":" if changes else "")]
    audit_lines += ["  %s %s: %s %s" % (host, run.job, entry["action"], entry["object"]) for host, run, entry in changes]
    checked = check_metrics(demo, sorted({pair[0] for pair in demo.runs}))
    successes = last_successes(demo)
    prometheus = ["promtool check metrics: %d metrics files on the hosts pass; last success as Prometheus reports it:" % checked]
    prometheus += ["  %-10s %-24s %s" % (host, job, _stamp(value) if value else "never")
                   for (host, job), value in sorted(successes.items())]
    return [("audit log", audit_lines), ("prometheus", prometheus)]
