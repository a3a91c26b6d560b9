"""Issue 14 items 3, 4 and 12 on the booted host mirror1, against deployed pool jobs
(docs/security.md). The transfer_pools role is redeployed with two more pools of the lab rsync
daemon's `scratch` module (scheduled twelve hours away, so cron leaves them alone), each job
started as its cron.d line starts it (the service account runs `datasync-job <job>`); the actors:

- a hostile pool server: the daemon's tree holds setuid/setgid files, a FIFO, a device node,
  links leaving the tree and names carrying a newline that forges a log line and terminal
  escapes (items 4, 12);
- a project member: the login account `poolmember` on mirror1, owner of the folder a pool's
  destination sits in, who swaps the destination for a link to another pool's mirror (item 3).

The host's files outside the intended folders (the two destinations and the pools' weekday
logs) are the same before and after.
"""

import datetime
import os
import re
import shutil
import uuid

import pytest
import yaml

from tests.integration import host_attack_lab as hal
from tests.integration.test_attacks_transfers import FORGED, assert_escaped, hostile_names, hostile_pool

HOST = "mirror1"
AREA = "/srv/pool-attack"
VICTIM = "/srv/pacs/pools/pv"  # another pool's mirror, writable by the service account
BOOKKEEPING = "/var/lib/datasync-jobs/icc-rsync"
START_AT = "Check the pool mirroring settings"
LAB_POOLS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                         "inventories", "lab", "group_vars", "mirror", "pools.yml")


def run_as_cron(lab, job):
    """The job as its cron.d line runs it (user datasync, /bin/sh -c); (rc, what it appended to its log)."""
    log = "/var/log/datasync-jobs/%s.log" % job
    offset = hal.log_size(lab, HOST, log)
    proc = hal.as_account(lab, HOST, "datasync", "/usr/local/bin/datasync-job %s" % job, check=False)
    return proc.returncode, hal.log_since(lab, HOST, log, offset)


def listing(lab, path):
    """{relative name: (type, mode, link target)} below ``path`` (names may hold newlines: NUL-separated)."""
    out = hal.root_sh(lab, HOST, "find %s -mindepth 1 -printf '%%P\\0%%y\\0%%m\\0%%l\\0'" % path).stdout
    fields = out.split("\0")[:-1]
    return {fields[i]: tuple(fields[i + 1:i + 4]) for i in range(0, len(fields), 4)}


@pytest.fixture(scope="module")
def pool_attack(lab, lab_site, ansible_playbook, tmp_path_factory):
    daemon_root = lab.path("pools")
    hostile, hostile_top = hostile_pool({"root": daemon_root})
    names = hostile_names(hostile_top)
    plain = "plain-%s" % uuid.uuid4().hex[:8]
    plain_top = os.path.join(daemon_root, "scratch", plain)
    os.makedirs(plain_top)
    with open(os.path.join(plain_top, "plain.txt"), "w") as handle:
        handle.write("plain\n")
    with open(LAB_POOLS) as handle:
        lab_pools = yaml.safe_load(handle)["transfer_pools_modules"]
    far = str((datetime.datetime.now(datetime.timezone.utc).hour + 12) % 24)
    added = [{"module": "scratch", "path": hostile, "dest": "%s/%s" % (AREA, hostile), "minute": "0", "hour": far},
             {"module": "scratch", "path": plain, "dest": "%s/area/pool" % AREA, "minute": "0", "hour": far}]
    jobs = {"hostile": "pools-scratch-%s" % hostile, "member": "pools-scratch-%s" % plain}
    member = hal.Member(lab, HOST, "poolmember", tmp_path_factory.mktemp("poolmember"))
    hal.root_sh(lab, HOST, "rm -rf %s" % AREA)
    try:
        member.create()
        hal.root_sh(lab, HOST, "install -d -m 0755 %s && install -d -o poolmember -g datasync -m 2775 %s/area" % (AREA, AREA))
        hal.deploy(ansible_playbook, "playbooks/mirror.yml", HOST, START_AT, {"transfer_pools_modules": lab_pools + added})
        # The every-minute pools keep writing their logs and writeLock: those are not compared.
        prune = (AREA, BOOKKEEPING + "/*/logs", BOOKKEEPING + "/*/writeLock*", BOOKKEEPING + "/*/.writeLock*")
        before = hal.snapshot(lab, HOST, prune, checksum=(VICTIM,))
        runs = {"hostile": run_as_cron(lab, jobs["hostile"])}
        runs["arrived"] = listing(lab, "%s/%s" % (AREA, hostile))
        runs["member"] = member.run("mv {a}/area/pool {a}/area/pool.moved; ln -s {v} {a}/area/pool".format(a=AREA, v=VICTIM)).stdout
        runs["redirected"] = run_as_cron(lab, jobs["member"])
        logs = BOOKKEEPING + "/scratch/logs"
        runs["weekday log"] = hal.root_sh(lab, HOST, "cat %s/\"$(cat %s/logDay)\"" % (logs, logs)).stdout
        after = hal.snapshot(lab, HOST, prune, checksum=(VICTIM,))
        yield {"before": before, "after": after, "runs": runs, "names": names}
    finally:
        for pool in added:
            pool["state"] = "absent"
        hal.deploy(ansible_playbook, "playbooks/mirror.yml", HOST, START_AT, {"transfer_pools_modules": lab_pools + added})
        hal.root_sh(lab, HOST, "rm -rf %s %s/scratch /var/log/datasync-jobs/%s.log /var/log/datasync-jobs/%s.log"
                    % (AREA, BOOKKEEPING, jobs["hostile"], jobs["member"]), check=False)
        member.remove()
        shutil.rmtree(hostile_top, ignore_errors=True)
        shutil.rmtree(plain_top, ignore_errors=True)


def test_dangerous_bits_from_a_hostile_pool_server_never_arrive(pool_attack):
    """Item 4 on the host: no setuid/setgid bit, no FIFO, no device, no link leaving the tree."""
    rc, log = pool_attack["runs"]["hostile"]
    assert rc == 0, log[-3000:]
    arrived = pool_attack["runs"]["arrived"]
    for name in ("setuid-tool", "setgid-tool"):
        kind, mode, _target = arrived[name]
        assert kind == "f" and int(mode, 8) & 0o6000 == 0, (name, arrived[name])
    assert not {"pipe", "disk", "etc-link", "sub/climbing-link"} & set(arrived), sorted(arrived)
    assert arrived["inside-link"] == ("l", "777", "plain.txt")  # links inside the tree still arrive
    assert set(pool_attack["names"]) <= set(arrived)  # the files arrive under their real names


def test_hostile_names_are_escaped_in_the_weekday_log_and_the_job_log(pool_attack):
    """Item 12 on the host: the weekday log lists the names as rsync escapes them; the job's own
    log (what cron's run printed) carries no raw control byte and no forged line."""
    assert_escaped(pool_attack["runs"]["weekday log"], "weekday log on mirror1")
    for key in ("hostile", "redirected"):
        _rc, log = pool_attack["runs"][key]
        assert "\x1b" not in log and "\u009b" not in log and "\u202e" not in log, key
        assert not any(line.strip() == FORGED for line in log.splitlines()), key


def test_member_swapping_a_pool_destination_for_a_link_is_refused_by_name(pool_attack):
    """Item 3 on the host: the member's link to another pool's mirror is refused, nothing written there."""
    rc, log = pool_attack["runs"]["redirected"]
    assert rc != 0 and "%s/area/pool is a symbolic link (-> %s); refused" % (AREA, VICTIM) in log, log[-3000:]
    assert "refused: dest %s/area/pool is a symbolic link" % AREA in pool_attack["runs"]["weekday log"]


def test_nothing_outside_the_intended_folders_changed_on_mirror1(pool_attack):
    assert pool_attack["before"] == pool_attack["after"], hal.differences(pool_attack["before"], pool_attack["after"])[:40]
    assert any(line.startswith(VICTIM + "/") for line in pool_attack["before"])


def test_the_pool_run_leaves_its_progress_in_the_job_log(pool_attack):
    """Issue 16 item 6 on the host: the run cron started wrote its progress into its job log (the
    datasync-job wrapper names the log, DATASYNC_JOB_LOG), ending with the files of the pool, bytes and rate."""
    rc, log = pool_attack["runs"]["hostile"]
    assert rc == 0, log[-3000:]
    lines = [line for line in log.splitlines() if " progress pool scratch/" in line]
    assert lines and re.search(r"Z progress pool scratch/\S+: \d+ of \d+ files, \d[\d.]* \S*B, \S+ \S*B/s, \d+ s: finished$", lines[-1]), lines
