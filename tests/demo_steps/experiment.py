"""Demo step: the beamline experiment playbook (PVs -> DM experiment, dirs over ssh, share, email, DAQ)."""

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
    lines = []
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
        changed = any(r.get("changed") for item in dirs for r in item.get("results", []))
        if paths:
            where = paths[-1].replace(demo.lab.root + "/", ".lab/")
            lines.append("%s over ssh: %s %s" % (host, where, "created" if changed else "already there"))
    share = _results(document, "The Globus folder exists")
    if share and not share[0].get("skipped"):
        lines.append("Globus folder %s: %d rules added, %d in place" % (
            share[0].get("path"), len(share[0].get("added_rules", [])), len(share[0].get("rules", []))))
    email = (_results(document, "Email the users") or [{}])[0]
    lines.append("emails sent this run: %d (%s)" % (len(email.get("emailed", [])), ", ".join(email.get("emailed", [])) or "everyone already emailed"))
    daq = (_results(document, "Start uploading") or [{}])[0]
    if daq and not daq.get("skipped"):
        running = daq.get("daqs", [])
        lines.append("DAQ: %s (%s)" % ("started" if daq.get("changed") else "already running",
                                       ", ".join(d.get("dataDirectory", "") for d in running)))
    return lines
