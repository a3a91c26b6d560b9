"""Demo step: identity sync on the portal (gosync): a project group made with globus_groups.yml,
the scheduled new-users job, then a manual
updated run with playbooks/gosync.yml; shows the users and groups written under the lab root."""

import os

ORDER = 20
TITLE = "identity sync (gosync)"


def _result(document, name):
    for play in document.get("plays", []):
        for task in play.get("tasks", []):
            if task["task"]["name"] == name:
                return task["hosts"].get("portal1", {})
    return {}


def _entries(path):
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as handle:
        return [line.rstrip("\n").split(":") for line in handle if line.strip()]


def run(demo):
    admin = demo.playbook("playbooks/globus_groups.yml")
    projects = _result(admin, "Project groups with description, policies, roles and approvals").get("results", [])
    lines = ["Globus group administration (playbooks/globus_groups.yml): %s" % ", ".join(
        "%s %s" % (p["gosync_groups_project"]["name"], "created" if p.get("created") else ("changed" if p.get("changed") else "unchanged"))
        for p in projects)]
    rc, changed = demo.job("portal1", "gosync-new")
    lines += ["portal1 scheduled job gosync-new (cron */2: new users, then groups): %d change(s)" % changed]
    document = demo.playbook("playbooks/gosync.yml", "-e", "mode=updated")
    users, groups = _result(document, "Sync users"), _result(document, "Sync groups")
    lines.append("manual run (playbooks/gosync.yml -e mode=updated): %d updated, %d locked, %d group(s) changed" % (
        len(users.get("updated", [])), len(users.get("locked", [])),
        len(groups.get("created", [])) + len(groups.get("updated", [])) + len(groups.get("renamed", []))))
    root = demo.host_root("portal1")
    accounts = [e for e in _entries(os.path.join(root, "etc", "passwd")) if int(e[2]) >= 1000]
    lines.append("users in %s/etc/passwd: %s" % (root, ", ".join("%s(%s)" % (e[0], e[2]) for e in accounts)))
    local_groups = [e for e in _entries(os.path.join(root, "etc", "group")) if 5000 <= int(e[2]) < 10000]
    lines.append("project groups: %s" % "; ".join("%s(%s): %s" % (e[0], e[2], e[3] or "-") for e in local_groups))
    refused = [e.get("globus_username") or e.get("globus_group") for e in users.get("errors", [])]
    lines.append("refused by name: %d Globus usernames (%s ...); root@ not adopted" % (
        len(refused), ", ".join(repr(r) for r in refused[:3])))
    return lines
