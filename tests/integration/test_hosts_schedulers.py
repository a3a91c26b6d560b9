"""The schedulers start the jobs on the booted hosts, with nobody starting them by hand: beamline1's
repatriation timer (compressed for the test to every 15 s, with no random delay, through the role
variables, then put back) and mirror1's every-minute cron entry (the lab inventory's pool schedule). Each run
shows in the host's journal and the job log, and the files it brought are on the host."""

import json
import os
import uuid

import pytest

from tests.integration.site_lab import host_now, playbook_on_lab, ssh, wait_for
from tests.lab.hosts.job_log import job_runs

TIMER = "datasync-mxsync-repatriate.timer"
SERVICE = "datasync-mxsync-repatriate.service"
STATE = "/var/lib/datasync-jobs/mxsync/epn_repatriate.json"
# An EPN the lab maps to project cd34 (inventories/lab); the timer's run must bring it back.
EPN, PROJECT = "20123a", "cd34"
DESTINATION = "/var/lib/datasync-jobs/scratch/%s/%s/data" % (PROJECT, EPN)
# The lab-only compressed schedule: every 15 s, started on time (no random delay, 1 s accuracy).
COMPRESSED = {"mxsync_repatriate_on_calendar": "*-*-* *:*:00/15", "datasync_timer_randomized_delay": 0,
              "datasync_timer_accuracy": "1s"}

FORGET_EPN = r"""
import json, os, sys
path, epn = sys.argv[1], sys.argv[2]
with open(path) as handle:
    state = json.load(handle)
state["data"]["synced"].pop(epn, None)
with open(path + ".test", "w") as handle:
    json.dump(state, handle)
os.chmod(path + ".test", os.stat(path).st_mode & 0o777)
os.replace(path + ".test", path)
"""


def _root(lab, host, *command):
    result = ssh(lab, host, *command)
    assert result.returncode == 0, (command, result.stdout, result.stderr)
    return result.stdout


def _synced(lab):
    return json.loads(_root(lab, "beamline1", "cat", STATE))["data"]["synced"]


def _deploy_beamline(ansible_playbook, *extra):
    result = playbook_on_lab(ansible_playbook, "playbooks/beamline.yml", "--limit", "beamline1", *extra)
    assert result.rc == 0 and "failed=0" in result.stdout, result


@pytest.fixture
def minutely_timer(lab, lab_site, ansible_playbook):
    """beamline1's repatriation timer every 15 s (role variables); the inventory's schedule again
    afterwards, whatever the test did."""
    _deploy_beamline(ansible_playbook, "-e", json.dumps(COMPRESSED))
    try:
        yield
    finally:
        _deploy_beamline(ansible_playbook)
        calendar_line = _root(lab, "beamline1", "systemctl", "show", "-p", "TimersCalendar", TIMER)
        assert "00/1:00:00" in calendar_line, calendar_line
        accuracy = _root(lab, "beamline1", "systemctl", "show", "-P", "AccuracyUSec", "-P", "RandomizedDelayUSec", TIMER)
        assert sorted(accuracy.split()) == ["1min", "30s"], accuracy


def test_beamline_timer_fires_on_its_own_and_the_epn_arrives(lab, lab_site, minutely_timer):
    timer = _root(lab, "beamline1", "systemctl", "show", "-p", "TimersCalendar", "-p", "ActiveState", "-p",
                  "UnitFileState", TIMER)
    assert "ActiveState=active" in timer and "UnitFileState=enabled" in timer, timer
    assert "*-*-* *:*:00/15" in timer, timer
    # The timer is stopped and no run is under way while the EPN is forgotten (state entry and files)
    # as the job's account would find a new one: a run that read the state before would write it back.
    _root(lab, "beamline1", "systemctl", "stop", TIMER)
    wait_for("no run of %s under way" % SERVICE,
             lambda: ssh(lab, "beamline1", "systemctl", "is-active", SERVICE).stdout.strip() in ("inactive", "failed"), timeout=120)
    _root(lab, "beamline1", "runuser", "-u", "datasync", "--", "python3", "-c", FORGET_EPN, STATE, EPN)
    _root(lab, "beamline1", "rm", "-rf", "--one-file-system", os.path.dirname(DESTINATION))
    assert EPN not in _synced(lab)
    since = host_now(lab, "beamline1")
    _root(lab, "beamline1", "systemctl", "start", TIMER)

    def fired_and_done():
        log = _root(lab, "beamline1", "cat", "/var/log/datasync-jobs/mxsync-repatriate.log")
        runs = job_runs(log, "mxsync-repatriate", since)
        return runs if runs and EPN in _synced(lab) else None

    # Within 15 s, plus the run itself.
    runs = wait_for("the compressed timer starting %s and the run repatriating EPN %s" % (SERVICE, EPN),
                    fired_and_done, timeout=90, interval=3)
    assert runs[0].rc == 0, runs
    # systemd started it from the timer (its last trigger is after the test's start), and the
    # journal shows the service's run.
    trigger = _root(lab, "beamline1", "sh", "-c", 'date -d "$(systemctl show -P LastTriggerUSec "$1")" +%s', "trigger",
                    TIMER)
    assert int(trigger) >= since, (trigger, since)
    journal = _root(lab, "beamline1", "journalctl", "--no-pager", "-o", "cat", "-u", SERVICE, "--since",
                    "@%d" % since)
    assert "datasync job mxsync-repatriate" in journal, journal
    files = _root(lab, "beamline1", "find", DESTINATION, "-type", "f").splitlines()
    assert len(files) == _synced(lab)[EPN]["files"] and files, files
    owners = _root(lab, "beamline1", "stat", "-c", "%U", DESTINATION).split()
    assert owners == ["datasync"], owners


def test_mirror_cron_entry_fires_on_its_own_and_a_new_file_arrives(lab, lab_site):
    cron = _root(lab, "mirror1", "cat", "/etc/cron.d/datasync-pools-pv")
    assert "* * * * * datasync /usr/local/bin/datasync-job pools-pv" in cron, cron
    name = "cron-test-%s.dat" % uuid.uuid4().hex[:8]
    # The lab rsync daemon's module pv serves this folder (.lab/rsyncd/rsyncd.conf).
    source = lab.path("pools", "pv", name)
    payload = ("placed at the rsync daemon by %s\n" % name).encode()
    since = host_now(lab, "mirror1")
    with open(source, "wb") as handle:
        handle.write(payload)
    try:

        def arrived():
            present = ssh(lab, "mirror1", "cat", "/srv/pacs/pools/pv/" + name)
            return present.returncode == 0 and present.stdout.encode() == payload

        wait_for("mirror1's cron job pools-pv bringing %s" % name, arrived, timeout=150, interval=5)
        journal = _root(lab, "mirror1", "journalctl", "--no-pager", "-o", "cat", "-u", "cron", "--since",
                        "@%d" % since)
        assert "(datasync) CMD (/usr/local/bin/datasync-job pools-pv)" in journal, journal

        def ended_runs():
            log = _root(lab, "mirror1", "cat", "/var/log/datasync-jobs/pools-pv.log")
            return job_runs(log, "pools-pv", since)

        runs = wait_for("a run of pools-pv since the file was placed ending in its log", ended_runs, timeout=60)
        assert runs[0].rc == 0, runs
        owner = _root(lab, "mirror1", "stat", "-c", "%U:%G %a", "/srv/pacs/pools/pv/" + name).strip()
        assert owner.startswith("datasync:datasync "), owner
    finally:
        os.unlink(source)
        ssh(lab, "mirror1", "rm", "-f", "/srv/pacs/pools/pv/" + name)
