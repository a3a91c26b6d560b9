"""Helpers for the beamline experiment integration tests (the lab IOC, DM emulator, mail sink)."""

from __future__ import annotations

import email
import glob
import json
import os
import random
import string
import urllib.request

from tests.integration.conftest import module_results
from tests.lab.ioc.client import put_pvs

PLAYBOOK = "playbooks/experiment.yml"
# The test-only controller inventory (fast module-level checks); inventories/lab is the booted hosts.
INVENTORY = "tests/integration/inventory"


def unique_last_name(base):
    return base + "".join(random.choice(string.ascii_lowercase) for _index in range(6))


def unique_proposal():
    return str(random.randint(5000000, 5999999))


def set_user_pvs(lab, prefix, **values):
    """Fill the TomoScan user PVs under ``prefix`` (defaults for anything not given)."""
    pvs = {
        "ExperimentYearMonth": "2026-11", "UserLastName": unique_last_name("Hopper"),
        "UserEmail": "grace.hopper@example.org", "UserBadge": "300004",
        "ProposalNumber": unique_proposal(), "ProposalTitle": "Lab test proposal",
    }
    pvs.update(values)
    put_pvs(lab.environment(), prefix, pvs)
    pvs["name"] = "%s-%s-%s" % (pvs["ExperimentYearMonth"], pvs["UserLastName"], pvs["ProposalNumber"])
    return pvs


def run_experiment(ansible_playbook, prefix, tags, *extra, check=True, env=None):
    full_env = {"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"}
    full_env.update(env or {})
    result = ansible_playbook("-i", INVENTORY, PLAYBOOK, "--tags", tags, "-e", "experiment_pv_prefix=%s" % prefix,
                              *extra, env=full_env, check=check)
    result.json = module_results(result.stdout) if "{" in result.stdout else {}
    return result


def task_results(result, task_name, host="beamline1"):
    """Results of every task whose name starts with ``task_name`` for ``host``."""
    found = []
    for play in result.json.get("plays", []):
        for task in play.get("tasks", []):
            if task["task"]["name"].startswith(task_name) and host in task["hosts"]:
                found.append(task["hosts"][host])
    return found


def changed_hosts(result):
    return {host: stats["changed"] for host, stats in result.json.get("stats", {}).items() if stats["changed"]}


def dm_state(lab):
    with urllib.request.urlopen(lab.endpoints()["aps_dm"]["admin_url"] + "/state", timeout=10) as response:
        return json.loads(response.read())


def dm_admin(lab, route, document=None):
    data = json.dumps(document or {}).encode()
    request = urllib.request.Request(lab.endpoints()["aps_dm"]["admin_url"] + route, data=data, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def messages_about(lab, experiment_name):
    """(envelope recipient, subject, body) of every stored message that mentions the experiment."""
    found = []
    for path in sorted(glob.glob(os.path.join(lab.endpoints()["smtp"]["maildir"], "*.eml"))):
        with open(path, "rb") as handle:
            message = email.message_from_bytes(handle.read())
        body = message.get_payload(decode=True).decode("utf-8", "replace") if not message.is_multipart() else ""
        if experiment_name in body:
            found.append((message["X-Lab-Envelope-To"], message["Subject"], body))
    return found


def globus_collection(lab, name="beamline"):
    endpoints = lab.endpoints()["globus"]
    url = endpoints["admin_url"].rstrip("/") + "/collections/" + endpoints["collections"][name]
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())
