"""Issue 15 item 5 on the booted hosts: transfer1 deployed with `collection_sync_scheduler: globus_timer`
(playbooks/transfer.yml, inventories/lab, one extra variable as a site would set it). Globus Timers then
holds one timer per sync (the real `globus timer list`), the host has no start job (no systemd unit, no
cron entry) but keeps its status job, a second deploy changes nothing, the timer fires on its own (first
run as soon as it is made: the shared emulator's clock is not moved) and the status job's log reports
that run's task; going back to cron (with collection_sync_timer_state: absent) deletes the timer and puts
the start job back, which is also the inventory's own deployment the test leaves behind."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from tests.integration.site_lab import host_now, hosts_up, playbook_on_lab, ssh, wait_for
from tests.lab.hosts.job_log import job_runs
from tests.lab.hosts.wheelhouse import link_into_lab

HOST = "transfer1"
TIMER = "datasync projects"  # collection_sync_timer_prefix + the lab inventory's one sync
START, STATUS = "datasync-collection-sync-start", "datasync-collection-sync-status"
TIMERS = {"collection_sync_scheduler": "globus_timer"}
BACK_TO_CRON = {"collection_sync_scheduler": "cron", "collection_sync_timer_state": "absent"}


def _globus(lab_env, home, *args):
    """The real globus-cli as the lab's app (GLOBUS_CLI_CLIENT_ID/SECRET from the lab), JSON output."""
    globus = os.path.join(os.path.dirname(sys.executable), "globus")
    proc = subprocess.run([globus] + list(args) + ["-F", "json"], env=dict(lab_env, HOME=str(home)),
                          capture_output=True, text=True, check=False, timeout=60)
    assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    return json.loads(proc.stdout)


def _timers(lab_env, home):
    listed = _globus(lab_env, home, "timer", "list")  # globus-cli prints the response's "jobs" list
    return [job for job in listed if job["name"] == TIMER]


def _deploy(ansible_playbook, extra):
    result = playbook_on_lab(ansible_playbook, "playbooks/transfer.yml", "--limit", HOST, "-e", json.dumps(extra))
    assert result.rc == 0 and "failed=0" in result.stdout, result
    return result


def _changed_tasks(result):
    """The tasks the run reports changed on the host, and the recap's changed count."""
    changed, task = [], None
    for line in result.stdout.splitlines():
        if line.startswith("TASK ["):
            task = line[6:line.rindex("]")]
        elif line.startswith("changed: [%s]" % HOST) and task not in changed:
            changed.append(task)
    return changed, int(re.search(r"^%s\s*:.*\bchanged=(\d+)" % HOST, result.stdout, re.M).group(1))


def _manifest(lab):
    return ssh(lab, HOST, "cat", "/opt/datasync/venv/collections/ansible_collections/sciops/datasync/MANIFEST.json").stdout


def _units(lab):
    """Per job: (is-enabled, is-active) of its systemd timer and whether its cron entry exists."""
    out = {}
    for unit in (START, STATUS):
        enabled = ssh(lab, HOST, "systemctl", "is-enabled", unit + ".timer").stdout.strip() or "not-found"
        active = ssh(lab, HOST, "systemctl", "is-active", unit + ".timer").stdout.strip()
        cron = ssh(lab, HOST, "test", "-e", "/etc/cron.d/" + unit).returncode == 0
        out[unit] = (enabled, active, cron)
    return out


@pytest.fixture
def timer_scheduled(lab, lab_env, ansible_playbook, tmp_path):
    """transfer1 scheduled with Globus Timers; afterwards (whatever the test did) back to cron, timers deleted."""
    if not hosts_up(lab):
        pytest.skip("the lab's booted hosts are not up (needs root: make lab-up)")
    link_into_lab(lab.root, ("3.11",))
    for job in _timers(lab_env, tmp_path):  # a timer a killed earlier run left would not be "made now"
        _globus(lab_env, tmp_path, "timer", "delete", job["job_id"])
    deployed = {"back": False}
    try:
        deployed["result"] = _deploy(ansible_playbook, TIMERS)
        yield deployed
    finally:
        if not deployed["back"]:
            _deploy(ansible_playbook, BACK_TO_CRON)


def test_role_schedules_the_syncs_with_globus_timers(lab, lab_env, ansible_playbook, timer_scheduled, tmp_path):
    first = timer_scheduled["result"]
    assert re.search(r"changed: \[%s\] => \(item=projects\)" % HOST, first.stdout), first.stdout[-3000:]
    made = _timers(lab_env, tmp_path)
    assert len(made) == 1, made
    job_id = made[0]["job_id"]
    shown = _globus(lab_env, tmp_path, "timer", "show", job_id)
    body = shown["callback_body"]["body"]
    collections = lab.endpoints()["globus"]["collections"]
    assert shown["interval"] == 86400 and body["label"] == "Syncing data for projects", shown
    assert (body["source_endpoint_id"], body["destination_endpoint_id"]) == (collections["source"], collections["destination"])
    assert [(i["source_path"], i["destination_path"]) for i in body["transfer_items"]] == [("/projects/", "/backup/projects/")]

    # The Globus service starts the syncs: no start job on the host; the status job stays.
    units = _units(lab)
    assert units[START] == ("not-found", "inactive", False), units
    assert units[STATUS] == ("enabled", "active", False), units

    installed = _manifest(lab)
    again = _deploy(ansible_playbook, TIMERS)
    changed, count = _changed_tasks(again)
    if _manifest(lab) != installed:
        # The checkout (the collection's source) changed between the two deploys (a shared working
        # tree): reinstalling it is expected; nothing else may change.
        install = ["sciops.datasync.runtime : Copy the collection tarball to the host", "sciops.datasync.runtime : Install the collection tarball"]
        count -= len([task for task in changed if task in install])
        changed = [task for task in changed if task not in install]
    assert changed == [] and count == 0, (changed, count)
    assert [job["job_id"] for job in _timers(lab_env, tmp_path)] == [job_id]

    # The timer's first run is due when it is made; its task copies on its own.
    fired = wait_for("the timer's first run", lambda: _globus(lab_env, tmp_path, "timer", "show", job_id)["results"]["data"], 30, 1)
    task_id = fired[0]["data"]["action_id"]

    def task_ended():
        task = _globus(lab_env, tmp_path, "task", "show", task_id)
        return task if task["status"] != "ACTIVE" else None

    ended = wait_for("the timer's task to end", task_ended, 60, 1)
    assert ended["status"] == "SUCCEEDED" and ended["label"] == "Syncing data for projects", ended

    since = host_now(lab, HOST)
    status = ssh(lab, HOST, "systemctl", "start", STATUS + ".service", timeout=300)
    log = ssh(lab, HOST, "cat", "/var/log/datasync-jobs/collection-sync-status.log").stdout
    runs = job_runs(log, "collection-sync-status", since)
    assert status.returncode == 0 and len(runs) == 1 and runs[0].rc == 0, (status.stderr, log[-4000:])
    report = runs[0].output
    assert "projects: loaded, 1 runs" in report, report
    assert task_id in report and "SUCCEEDED" in report, report
    # It only reports (check mode): the same timer, run once.
    assert [(j["job_id"], j["n_runs"]) for j in _timers(lab_env, tmp_path)] == [(job_id, 1)]

    timer_scheduled["back"] = True
    back = _deploy(ansible_playbook, BACK_TO_CRON)
    assert re.search(r"changed: \[%s\] => \(item=projects\)" % HOST, back.stdout), back.stdout[-3000:]
    assert _timers(lab_env, tmp_path) == []
    units = _units(lab)
    assert units[START] == ("enabled", "active", False) and units[STATUS] == ("enabled", "active", False), units
