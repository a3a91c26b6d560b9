"""Issue 14 items 3, 4 and 12 on the booted host mirror1, against deployed pool jobs
(docs/security.md). The transfer_pools role is redeployed with two more pools of the lab rsync
daemon's `scratch` module (scheduled twelve hours away, so cron leaves them alone), each job
started as its cron.d line starts it (the service account runs `datasync-job <job>`); the actors:

- a hostile pool server: the daemon's tree holds setuid/setgid files, a FIFO, a device node,
  links leaving the tree and names carrying a newline that forges a log line and terminal
  escapes (items 4, 12);
- a project member: the login account `poolmember` on mirror1, owner of the folder a pool's
  destination sits in, who swaps the destination for a link to another pool's mirror, before a
  run and while a throttled run copies (item 3).

The hostile pool mirrors deletions with the role's deletion guard at 0 (`max_delete`): once the
server drops a file, the run fails and cron's run mails the weekday log's tail (item 12). The
host's files outside the intended folders (the three destinations and the pools' weekday logs)
are the same before and after.
"""

import datetime
import email
import glob
import os
import re
import shlex
import shutil
import subprocess
import time
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


def start_as_cron(lab, job):
    """run_as_cron in the background: (the ssh process, the job log, its offset)."""
    log = "/var/log/datasync-jobs/%s.log" % job
    offset = hal.log_size(lab, HOST, log)
    command = ["sudo", "-n", "runuser", "-u", "datasync", "--", "/bin/sh", "-c", "/usr/local/bin/datasync-job %s" % job]
    proc = subprocess.Popen(["ssh", "-F", lab.path("hosts", "ssh_config"), HOST, shlex.join(command)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return proc, log, offset


def swap_during_copy(lab, member, job, dest):
    """The member watches ``dest`` for big.dat's temp file, then moves ``dest`` away and plants a link
    to VICTIM in its place; (rc, job log, what the moved folder held right after the swap)."""
    proc, log, offset = start_as_cron(lab, job)
    try:
        watched = member.run("i=0; until ls -a {d} | grep -q '^[.]big[.]dat[.]'; do i=$((i+1)); [ $i -lt 600 ]; sleep 0.05; done; "
                             "mv {d} {d}.moved; ln -s {v} {d}; ls -a {d}.moved".format(d=dest, v=VICTIM)).stdout
        rc = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return rc, hal.log_since(lab, HOST, log, offset), watched


def failure_email(lab, before, hostile):
    """The failure email the lab's SMTP sink received for the pool ``hostile`` (waits up to 20 s)."""
    maildir = lab.endpoints()["smtp"]["maildir"]
    deadline = time.time() + 20
    while time.time() < deadline:
        for eml in sorted(set(glob.glob(os.path.join(maildir, "*.eml"))) - before):
            with open(eml, "rb") as handle:
                message = email.message_from_bytes(handle.read())
            if hostile in (message["Subject"] or ""):
                return message
        time.sleep(0.2)
    return None


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
    with open(os.path.join(hostile_top, "dropped.txt"), "w") as handle:
        handle.write("the server drops this file after the first run\n")
    # 3 MB at 500 KB/s (6 s): the member's swap (as soon as the temp file shows) lands well inside the copy.
    slow = "slow-%s" % uuid.uuid4().hex[:8]
    slow_top = os.path.join(daemon_root, "scratch", slow)
    os.makedirs(slow_top)
    with open(os.path.join(slow_top, "big.dat"), "wb") as handle:
        handle.write(os.urandom(3 * 1024 * 1024))
    with open(os.path.join(slow_top, "zz-after.txt"), "w") as handle:
        handle.write("arrives after the swap\n")
    far = str((datetime.datetime.now(datetime.timezone.utc).hour + 12) % 24)
    added = [{"module": "scratch", "path": hostile, "dest": "%s/%s" % (AREA, hostile), "minute": "0", "hour": far,
              "delete": True, "max_delete": 0},
             {"module": "scratch", "path": plain, "dest": "%s/area/pool" % AREA, "minute": "0", "hour": far},
             {"module": "scratch", "path": slow, "dest": "%s/area/slow" % AREA, "minute": "0", "hour": far, "bwlimit": "500"}]
    jobs = {"hostile": "pools-scratch-%s" % hostile, "member": "pools-scratch-%s" % plain, "slow": "pools-scratch-%s" % slow}
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
        # The server drops a file and serves the hostile names anew: the guard (max_delete 0) fails the run.
        os.unlink(os.path.join(hostile_top, "dropped.txt"))
        hostile_names(hostile_top)
        mails = set(glob.glob(os.path.join(lab.endpoints()["smtp"]["maildir"], "*.eml")))
        runs["failing"] = run_as_cron(lab, jobs["hostile"])
        runs["email"] = failure_email(lab, mails, hostile)
        runs["kept"] = listing(lab, "%s/%s" % (AREA, hostile))
        runs["member"] = member.run("mv {a}/area/pool {a}/area/pool.moved; ln -s {v} {a}/area/pool".format(a=AREA, v=VICTIM)).stdout
        runs["redirected"] = run_as_cron(lab, jobs["member"])
        runs["swapped"] = swap_during_copy(lab, member, jobs["slow"], "%s/area/slow" % AREA)
        runs["moved"] = listing(lab, "%s/area/slow.moved" % AREA)
        runs["slow link"] = listing(lab, "%s/area" % AREA).get("slow")
        logs = BOOKKEEPING + "/scratch/logs"
        runs["weekday log"] = hal.root_sh(lab, HOST, "cat %s/\"$(cat %s/logDay)\"" % (logs, logs)).stdout
        after = hal.snapshot(lab, HOST, prune, checksum=(VICTIM,))
        yield {"before": before, "after": after, "runs": runs, "names": names}
    finally:
        for pool in added:
            pool["state"] = "absent"
        hal.deploy(ansible_playbook, "playbooks/mirror.yml", HOST, START_AT, {"transfer_pools_modules": lab_pools + added})
        job_logs = " ".join("/var/log/datasync-jobs/%s.log" % job for job in jobs.values())
        hal.root_sh(lab, HOST, "rm -rf %s %s/scratch %s" % (AREA, BOOKKEEPING, job_logs), check=False)
        member.remove()
        for top in (hostile_top, plain_top, slow_top):
            shutil.rmtree(top, ignore_errors=True)


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
    for key in ("hostile", "failing", "redirected"):
        _rc, log = pool_attack["runs"][key]
        assert "\x1b" not in log and "\u009b" not in log and "\u202e" not in log, key
        assert not any(line.strip() == FORGED for line in log.splitlines()), key


def test_member_swapping_a_pool_destination_for_a_link_is_refused_by_name(pool_attack):
    """Item 3 on the host: the member's link to another pool's mirror is refused, nothing written there."""
    rc, log = pool_attack["runs"]["redirected"]
    assert rc != 0 and "%s/area/pool is a symbolic link (-> %s); refused" % (AREA, VICTIM) in log, log[-3000:]
    assert "refused: dest %s/area/pool is a symbolic link" % AREA in pool_attack["runs"]["weekday log"]


def test_the_failure_email_of_a_guarded_run_quotes_the_hostile_names_escaped(pool_attack):
    """Item 12 on the host: the deletion guard (the role's max_delete 0) fails cron's run once the server
    dropped a file; the email the lab's SMTP sink received quotes the names as rsync escapes them."""
    rc, log = pool_attack["runs"]["failing"]
    assert rc != 0, log[-3000:]
    assert "dropped.txt" in pool_attack["runs"]["kept"]  # the guard deleted nothing
    message = pool_attack["runs"]["email"]
    assert message is not None, "no failure email for the hostile pool"
    body = message.get_payload(decode=True).decode("utf-8")
    assert "exit code:  25" in body, body
    assert_escaped(body, "failure email from mirror1")
    subject = re.sub(r"\r?\n[ \t]", " ", message["Subject"])  # unfolded (RFC 5322 folds long headers)
    assert "rsync error 25" in subject and "\x1b" not in subject and "\n" not in subject, subject


def test_member_swapping_a_pool_destination_while_the_copy_runs_never_redirects_it(pool_attack):
    """Item 3 on the host (3.4): the member moves the destination away once big.dat's temp file shows
    and plants a link to another pool's mirror; cron's run keeps writing into the folder it checked."""
    rc, log, watched = pool_attack["runs"]["swapped"]
    assert rc == 0, log[-3000:]
    assert re.search(r"^\.big\.dat\.", watched, re.M), watched  # the swap landed inside the copy
    assert pool_attack["runs"]["slow link"] == ("l", "777", VICTIM)
    moved = pool_attack["runs"]["moved"]
    assert sorted(moved) == ["big.dat", "zz-after.txt"] and moved["big.dat"][0] == "f", moved


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
