"""Demo step: identity sync on portal1. Cron starts gosync-new and gosync-updated (as root: they write
/etc/passwd); the accounts are read back with getent, the module's own record of who it provisioned
from its state file, and every active member of the Globus root group it did not provision is shown
as refused by name."""

import json

import yaml

from tests.demo_steps import DemoError
from tests.lab.services.globus import SEED

ORDER = 20
TITLE = "identity sync"
HOST = "portal1"
STATE = "/var/lib/datasync/gosync/identity_sync.json"


def root_group_members(root_group_id):
    """The Globus usernames of the root group's active members, as the lab's Globus emulator is seeded."""
    with open(SEED, encoding="utf-8") as handle:
        seed = yaml.safe_load(handle)
    for group in seed["groups"]:
        if group["id"] == root_group_id:
            return [m["username"] for m in group["members"] if m.get("username") and m.get("status") == "active"]
    return []


def _job_line(job, schedule, run, cron):
    return "%s (cron %s as root): %s rc=%d, %d changed%s" % (
        job, schedule, run.start[11:], run.rc, run.changed, "; journal: " + cron[0].split(" ", 1)[1] if cron else "")


def run(demo):
    new, new_cron = demo.cron_job(HOST, "gosync-new", period=120)
    updated, updated_cron = demo.cron_job(HOST, "gosync-updated", period=120)
    lines = [_job_line("gosync-new", "even minutes", new, new_cron),
             _job_line("gosync-updated", "odd minutes", updated, updated_cron)]
    alice = demo.on(HOST, "getent", "passwd", "alice", check=False).strip()
    lines.append("getent passwd alice: %s" % (alice or "NOT FOUND"))
    if not alice:
        raise DemoError("alice has no account on %s after the identity sync ran" % HOST)
    users = json.loads(demo.on(HOST, "cat", STATE))["data"]["users"]
    active = sorted((u for u in users.values() if u["status"] == "active"), key=lambda u: u["uid"])
    passwd = {line.split(":")[0]: line.split(":") for line in demo.on(HOST, "getent", "passwd").splitlines()}
    lines.append("accounts: %s" % ", ".join(
        "%s(%s)%s" % (u["name"], u["uid"], "" if u["name"] in passwd and passwd[u["name"]][2] == str(u["uid"]) else " MISSING")
        for u in active))
    groups = [line.split(":") for line in demo.on(HOST, "getent", "group").splitlines()]
    lines.append("groups: %s" % "; ".join("%s(%s): %s" % (g[0], g[2], g[3] or "-") for g in groups if 7000 <= int(g[2]) < 8000))
    provisioned = {u["globus_username"] for u in users.values()}
    members = root_group_members(demo.lab.endpoints()["globus"]["root_group_id"])
    local = {name: name[:-len("@example.org")] if name.endswith("@example.org") else name for name in members}
    refused = [name for name in members if name not in provisioned and local[name] not in passwd]
    lines.append("refused by name (%d of %d active members): %s" % (len(refused), len(members), ", ".join(repr(local[n]) for n in refused)))
    for name in members:
        if name not in provisioned and local[name] in passwd:
            entry = passwd[local[name]]
            lines.append("%s not adopted: %s stays uid %s, shell %s" % (name, entry[0], entry[2], entry[-1]))
    return lines
