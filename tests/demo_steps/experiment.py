"""Demo step: the beamline experiment, run now as its playbook (playbooks/experiment.yml) against the
hosts over SSH: PVs -> DM experiment on beamline1, the experiment folders on detector1 and analysis1
(checked on those hosts), the Globus share, the users' emails and the DAQ."""

from tests.demo_steps import DemoError
from tests.lab.aps_dm.fixtures import ensure_globus_identities

ORDER = 60
TITLE = "experiment"
CONTROL = "beamline1"


def _results(document, prefix, host=CONTROL):
    found = []
    for play in document.get("plays", []):
        for task in play.get("tasks", []):
            if task["task"]["name"].startswith(prefix) and host in task["hosts"]:
                found.append(task["hosts"][host])
    return found


def run(demo):
    ensure_globus_identities(demo.lab)  # the lab's stand-in for users' emails resolving in Globus Auth
    document = demo.playbook("playbooks/experiment.yml")
    lines = ["playbooks/experiment.yml (run now, over SSH): %s" % ", ".join(
        "%s %d changed" % (host, stats.get("changed", 0)) for host, stats in sorted(document.get("stats", {}).items()))]
    init = (_results(document, "The DM experiment exists") or [{}])[0]
    experiment = init.get("experiment") or {}
    users = init.get("users") or []
    lines.append("DM experiment %s (%s): %s, %d users (%s)" % (
        experiment.get("name", "?"), experiment.get("stationName", "?"),
        "created" if any(a.get("action") == "create_experiment" for a in init.get("plan", [])) else "already there",
        len(users), ", ".join(u["badge"] for u in users)))
    for host in ("detector1", "analysis1"):
        dirs = _results(document, "The month and experiment directories exist", host)
        paths = [r.get("path") for item in dirs for r in item.get("results", [])]
        if not paths:
            raise DemoError("experiment.yml made no experiment folder on %s" % host)
        listing = demo.on(host, "stat", "-c", "%U:%G %a %n", paths[-1], check=False).strip()
        if not listing:
            raise DemoError("%s has no %s after experiment.yml" % (host, paths[-1]))
        changed = any(r.get("changed") for item in dirs for r in item.get("results", []))
        lines.append("%s: %s (%s)" % (host, listing, "created" if changed else "already there"))
    share = _results(document, "The Globus folder exists")
    if share and not share[0].get("skipped"):
        lines.append("Globus folder %s: %d rules added, %d in place" % (
            share[0].get("path"), len(share[0].get("added_rules", [])), len(share[0].get("rules", []))))
    email = (_results(document, "Email the users") or [{}])[0]
    lines.append("emails sent this run: %d (%s)" % (len(email.get("emailed", [])), ", ".join(email.get("emailed", [])) or "everyone already emailed"))
    daq = (_results(document, "Start uploading") or [{}])[0]
    if daq and not daq.get("skipped"):
        lines.append("DAQ: %s (%s)" % ("started" if daq.get("changed") else "already running",
                                       ", ".join(d.get("dataDirectory", "") for d in daq.get("daqs", []))))
    return lines
