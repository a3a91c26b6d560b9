"""Demo step: EPN repatriation on beamline1 (dry run, the scheduled job as the timer runs it) and the alert."""

import json
import os

ORDER = 40
TITLE = "EPN repatriation"
HOST = "beamline1"


def _result(document, task_name):
    for play in document.get("plays", []):
        for task in play.get("tasks", []):
            if task["task"]["name"].startswith(task_name):
                return task["hosts"].get(HOST) or {}
    return {}


def _tree(path):
    files = size = 0
    for top, _dirs, names in os.walk(path):
        for name in names:
            files += 1
            size += os.path.getsize(os.path.join(top, name))
    return files, size


def run(demo):
    lines = []
    dry = _result(demo.playbook("playbooks/epn.yml", "--check", "--limit", HOST), "Repatriate")
    would = dry.get("would_transfer") or []
    files = sum(entry.get("files", 0) for entry in dry.get("epns", []))
    lines.append("%s dry run (epn.yml --check): %s" % (
        HOST, "would transfer %s (%d files)" % (", ".join(would), files) if would else "nothing to transfer"))

    root = demo.host_root(HOST)
    state_file = os.path.join(root, "var", "lib", "datasync", "mxsync", "epn_repatriate.json")
    before = set()
    if os.path.exists(state_file):
        with open(state_file) as handle:
            before = set(json.load(handle)["data"]["synced"])
    demo.job(HOST, "mxsync-repatriate")
    with open(state_file) as handle:
        synced = json.load(handle)["data"]["synced"]
    new = sorted(set(synced) - before)
    lines.append("%s job mxsync-repatriate (timer): %s" % (HOST, "repatriated %d EPNs" % len(new) if new else "nothing new"))
    for epn in new:
        destination = synced[epn]["destination"]
        count, size = _tree(destination)
        lines.append("  %s -> %s: %d files, %.1f MB (.info kept, other dot files left behind)" % (
            epn, os.path.relpath(destination, demo.lab.root), count, size / 1048576.0))

    alert = _result(demo.playbook("playbooks/epn.yml", "-e", "epn_action=alert", "--limit", HOST), "Email")
    if alert.get("sent"):
        people = sorted({e["principal_scientist"].get("name", "") for e in alert.get("epns", [])})
        lines.append("%s alert: '%s' to %s about %s (PIs: %s)" % (
            HOST, alert.get("subject"), ", ".join(alert.get("to", [])), ", ".join(alert["alerted"]), ", ".join(people)))
    else:
        lines.append("%s alert: nothing new to report (%d unknown EPNs already alerted)" % (
            HOST, sum(1 for s in alert.get("skipped_epns", []) if "already alerted" in s.get("reason", ""))))
    return lines
