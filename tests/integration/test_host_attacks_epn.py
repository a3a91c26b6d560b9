"""Issue 14 items 2, 3, 4 and 11 on the booted host beamline1, against the deployed EPN job
(docs/security.md). The job `mxsync-repatriate` is started the way its timer starts it
(`systemctl start datasync-mxsync-repatriate.service`: as the service account), with the
mxsync role redeployed to write below a project area a member can write, its copies throttled
(`--bwlimit=4000`: 24 MB take 6 s) so a swap can land inside one; the actors:

- a project member: the login account `mxmember` on beamline1, owner of the project folders
  `ny79` and `ab12`, planting links over SSH in their own session, before a run and while the
  run copies 13001a's 24 MB master.h5 (item 3), and an operator's check-mode run (3.1);
- the service account `datasync`, planting a link at its job's state path and opening its state
  folder to everyone (item 2);
- a hostile synchrotron: the lab's sshd source tree, where 20123a (project cd34) is a link to the
  source host's /etc, later to ab12's EPN 13001a, and 13001a carries setuid/setgid files, a FIFO,
  a device node and a link out (items 11, 4).

Every attack is refused with a message naming what was refused, the rest go on, and the host's
files outside the intended folders (the project area, the job's own state, locks and temp
folders) are the same before and after, checksums of the victims included.
"""

import os
import shutil
import time
import uuid

import pytest

from tests.integration import epn_lab
from tests.integration import host_attack_lab as hal
from tests.integration.test_epn_repatriate import source_dir
from tests.lab.portal import source_tree

HOST = "beamline1"
UNIT = "datasync-mxsync-repatriate.service"
LOG = "/var/log/datasync-jobs/mxsync-repatriate.log"
AREA = "/srv/mx-attack"
STATE_DIR = "/var/lib/datasync-jobs/mxsync-attack"
STATE = STATE_DIR + "/epn_repatriate.json"
LOCKS = "/var/lib/datasync-jobs/locks/mxsync-attack"
# Folders the service account can write: what a redirected job would overwrite or --chmod.
CONFIG = "/etc/datasync/mxsync"          # its ssh key, portal credentials, known_hosts
REAL_STATE = "/var/lib/datasync-jobs/mxsync"  # the deployed job's own state
START_AT = "Check the mxsync settings"


def start_job(lab):
    """The job as its timer starts it; (systemctl's rc, what the job appended to its log)."""
    offset = hal.log_size(lab, HOST, LOG)
    proc = hal.root(lab, HOST, "systemctl", "start", UNIT, check=False)
    return proc.returncode, hal.log_since(lab, HOST, LOG, offset)


def start_job_swapping(lab, member):
    """The job started by systemd (no wait); once 1 MB of 13001a's master.h5 arrived, the member moves
    ab12/13001a away and plants data/ as a link to CONFIG. (rc, job log, master.h5's size right after the swap)."""
    offset = hal.log_size(lab, HOST, LOG)
    hal.root(lab, HOST, "systemctl", "start", "--no-block", UNIT)
    big = "%s/ab12/13001a/data/frames/run 1/master.h5" % AREA
    hal.root_sh(lab, HOST, "i=0; until [ \"$(stat -c %%s '%s' 2>/dev/null || echo 0)\" -gt 1048576 ]; do i=$((i+1)); "
                "[ $i -lt 1200 ] || exit 1; sleep 0.05; done" % big)
    member.run("mv {a}/ab12/13001a {a}/ab12/13001a.moved; mkdir {a}/ab12/13001a; ln -s {c} {a}/ab12/13001a/data".format(a=AREA, c=CONFIG))
    size = int(hal.root(lab, HOST, "stat", "-c", "%s", big.replace("/13001a/", "/13001a.moved/")).stdout)
    deadline = time.time() + 180
    while hal.root(lab, HOST, "systemctl", "is-active", UNIT, check=False).stdout.strip() in ("active", "activating"):
        assert time.time() < deadline, "the job still runs"
        time.sleep(0.5)
    status = hal.root(lab, HOST, "systemctl", "show", "-p", "ExecMainStatus", "--value", UNIT).stdout.strip()
    return int(status or 0), hal.log_since(lab, HOST, LOG, offset), size


@pytest.fixture(scope="module")
def hostile_source(lab):
    """As root on the source host: 20123a is a link to /etc; 13001a holds dangerous bits."""
    folder = source_dir(lab, "MX2", "20123a")
    aside = os.path.join(os.path.dirname(folder), ".20123a.aside-%s" % uuid.uuid4().hex[:6])
    inside = os.path.join(source_dir(lab, "MX1", "13001a"), "hostile")
    os.rename(folder, aside)
    try:
        os.symlink("/etc", folder)
        epn_lab.plant_dangerous_entries(inside)
        yield folder
    finally:
        shutil.rmtree(inside, ignore_errors=True)
        if os.path.islink(folder):
            os.unlink(folder)
        os.rename(aside, folder)


@pytest.fixture(scope="module")
def epn_attack(lab, lab_site, ansible_playbook, hostile_source, tmp_path_factory):
    """The whole attack, once: setup, four job runs, the host's files before and after."""
    member = hal.Member(lab, HOST, "mxmember", tmp_path_factory.mktemp("mxmember"))
    hal.root_sh(lab, HOST, "rm -rf %s %s %s; systemctl reset-failed %s || true" % (AREA, STATE_DIR, LOCKS, UNIT))
    try:
        member.create()
        # The site's project area: the service account makes the projects it is sent, a member owns theirs.
        hal.root_sh(lab, HOST, "install -d -o datasync -g datasync -m 0755 {a} && install -d -o mxmember -g datasync -m 2775 {a}/ny79 "
                    "{a}/ab12".format(a=AREA))
        hal.as_account(lab, HOST, "datasync", "mkdir -m 0750 %s" % STATE_DIR)
        hal.deploy(ansible_playbook, "playbooks/beamline.yml", HOST, START_AT,
                   {"mxsync_destination_root": AREA, "mxsync_repatriate_state_file": STATE, "mxsync_lock_dir": LOCKS,
                    "mxsync_rsync_extra_options": ["--bwlimit=4000"]})
        prune = (AREA, STATE_DIR, LOCKS)
        before = hal.snapshot(lab, HOST, prune, checksum=(CONFIG, REAL_STATE))
        runs = {}
        # Item 2: the service account links its job's state path to its own ssh known_hosts...
        hal.as_account(lab, HOST, "datasync", "ln -s %s/known_hosts %s" % (CONFIG, STATE))
        runs["state link"] = start_job(lab)
        runs["area after state link"] = hal.root_sh(lab, HOST, "find %s -mindepth 1" % AREA).stdout
        hal.as_account(lab, HOST, "datasync", "rm %s" % STATE)
        # Item 3: the member plants links at the EPN level and at data/ in their project folder.
        runs["member"] = member.run("ln -s %s %s/ny79/12282a; mkdir %s/ny79/12282b; ln -s %s %s/ny79/12282b/data"
                                    % (CONFIG, AREA, AREA, REAL_STATE, AREA)).stdout
        runs["main"] = start_job_swapping(lab, member)
        runs["state"] = hal.root(lab, HOST, "cat", STATE).stdout
        runs["moved"] = hal.root_sh(lab, HOST, "cd %s/ab12/13001a.moved/data && find . -type f -printf '%%P\\t%%s\\n'" % AREA).stdout
        # Item 3.1: an operator's check-mode run, as root (datasync-job switches to the service account).
        offset = hal.log_size(lab, HOST, LOG)
        checked = hal.root(lab, HOST, "/usr/local/bin/datasync-job", "mxsync-repatriate", "--check", check=False)
        runs["check"] = checked.returncode, hal.log_since(lab, HOST, LOG, offset)
        runs["state after check"] = hal.root(lab, HOST, "cat", STATE).stdout
        # Item 2 again, once a state file exists: the service account opens the state folder to everyone.
        hal.as_account(lab, HOST, "datasync", "chmod 0777 %s" % STATE_DIR)
        runs["open folder"] = start_job(lab)
        hal.as_account(lab, HOST, "datasync", "chmod 0750 %s" % STATE_DIR)
        # Item 2 at a per-EPN lock: the service account, owner of the lock folder, replaces 12282b's lock by a link to its known_hosts.
        hal.as_account(lab, HOST, "datasync", "ln -sf %s/known_hosts %s/epn-12282b.lock" % (CONFIG, LOCKS))
        # Item 11.2 in the same run: the synchrotron now serves cd34's 20123a as a link to ab12's 13001a.
        os.unlink(hostile_source)
        os.symlink(source_dir(lab, "MX1", "13001a"), hostile_source)
        runs["lock link"] = start_job(lab)
        hal.as_account(lab, HOST, "datasync", "rm %s/epn-12282b.lock" % LOCKS)
        runs["state after lock link"] = hal.root(lab, HOST, "cat", STATE).stdout
        runs["arrived"] = hal.root_sh(lab, HOST, "find %s -mindepth 1 -printf '%%P %%y %%m %%u\\n'" % AREA).stdout
        after = hal.snapshot(lab, HOST, prune, checksum=(CONFIG, REAL_STATE))
        yield {"before": before, "after": after, "runs": runs}
    finally:
        hal.deploy(ansible_playbook, "playbooks/beamline.yml", HOST, START_AT)
        hal.root_sh(lab, HOST, "rm -rf %s %s %s; systemctl reset-failed %s || true" % (AREA, STATE_DIR, LOCKS, UNIT), check=False)
        member.remove()


def test_service_account_link_at_the_state_path_and_an_open_state_folder_are_refused(epn_attack):
    """Item 2 on the host: the job refuses its state path as a link, and its state folder once others
    can write it, naming them, before any transfer."""
    rc, log = epn_attack["runs"]["state link"]
    assert rc != 0 and "state file %s is a symlink; refused" % STATE in log, log[-3000:]
    assert sorted(epn_attack["runs"]["area after state link"].split()) == [AREA + "/ab12", AREA + "/ny79"]  # the member's folders only
    rc, log = epn_attack["runs"]["open folder"]
    refused = "cannot read the EPN state: state folder %s is writable by group or others (mode 0777, not sticky); refused" % STATE_DIR
    assert rc != 0 and refused in log, log[-3000:]


def test_a_link_at_an_epn_lock_path_fails_that_epn_by_name_and_the_rest_go_on(epn_attack):
    """Item 2 at the per-EPN lock: that EPN fails naming its lock, the next EPNs are still tried."""
    rc, log = epn_attack["runs"]["lock link"]
    lock = LOCKS + "/epn-12282b.lock"
    assert rc != 0 and "EPN 12282b: refused the lock %s: lock file %s is a symlink; refused" % (lock, lock) in log, log[-3000:]
    assert "Traceback" not in log and "%s/ny79/12282a is a symbolic link" % AREA in log, log[-3000:]


def test_member_links_in_the_project_tree_are_refused_by_name_and_the_rest_go_on(epn_attack):
    """Item 3 on the host: the EPN job, started by systemd as the service account, refuses both links."""
    rc, log, _size = epn_attack["runs"]["main"]
    assert rc != 0, log[-3000:]
    assert "%s/ny79/12282a is a symbolic link (-> %s); refused" % (AREA, CONFIG) in log, log[-3000:]
    assert "%s/ny79/12282b/data is a symbolic link (-> %s); refused" % (AREA, REAL_STATE) in log, log[-3000:]
    arrived = epn_attack["runs"]["arrived"]
    assert "ab12/13001a.moved/data/frames/run 1/master.h5 f" in arrived, arrived  # the rest went on
    assert '"13001a"' in epn_attack["runs"]["state"] and '"12282a"' not in epn_attack["runs"]["state"]
    assert "ny79/12282a l 777 mxmember" in arrived and "ny79/12282b/data l 777 mxmember" in arrived


def test_member_swapping_the_epn_folder_while_the_copy_runs_never_redirects_it(epn_attack, lab):
    """Item 3.2 on the host: 1 MB into 13001a's master.h5 the member moves ab12/13001a away and plants
    data/ as a link to the job's config folder; the job keeps writing into the folder it checked."""
    _rc, log, size = epn_attack["runs"]["main"]
    source = source_dir(lab, "MX1", "13001a")
    assert 1024 * 1024 < size < os.path.getsize(os.path.join(source, "frames", "run 1", "master.h5")), size  # mid-copy
    # hostile/ (item 4's planted entries) is checked by its own test.
    expected = {rel: os.path.getsize(full) for rel, full in source_tree.expected_files(source).items() if not rel.startswith("hostile/")}
    moved = dict(line.rsplit("\t", 1) for line in epn_attack["runs"]["moved"].splitlines())
    assert {rel: int(bytes_) for rel, bytes_ in moved.items() if not rel.startswith("hostile/")} == expected, log[-3000:]
    assert "ab12/13001a/data l 777 mxmember" in epn_attack["runs"]["arrived"]


def test_check_mode_refuses_the_member_links_by_name_and_changes_nothing(epn_attack):
    """Item 3.1 on the host: `datasync-job mxsync-repatriate --check` names both links and records nothing."""
    rc, log = epn_attack["runs"]["check"]
    assert rc != 0, log[-3000:]
    assert "%s/ny79/12282a is a symbolic link (-> %s); refused" % (AREA, CONFIG) in log, log[-3000:]
    assert "%s/ny79/12282b/data is a symbolic link (-> %s); refused" % (AREA, REAL_STATE) in log, log[-3000:]
    assert epn_attack["runs"]["state after check"] == epn_attack["runs"]["state"]


def test_a_source_epn_that_is_a_link_to_the_source_hosts_etc_is_refused_and_never_recorded(epn_attack, hostile_source):
    """Item 11 on the host: the synchrotron's 20123a is a link to its /etc."""
    _rc, log, _size = epn_attack["runs"]["main"]
    assert "EPN 20123a refused: %s on the source is a symbolic link" % hostile_source in log, log[-3000:]
    assert '"20123a"' not in epn_attack["runs"]["state"]
    arrived = epn_attack["runs"]["arrived"]
    assert "cd34" not in arrived and "passwd" not in arrived and "shadow" not in arrived, arrived


def test_a_source_epn_that_is_a_link_to_another_projects_epn_is_refused_and_no_data_crosses(epn_attack, hostile_source, lab):
    """Item 11.2 on the host: cd34's 20123a served as a link to ab12's 13001a."""
    _rc, log = epn_attack["runs"]["lock link"]
    assert "EPN 20123a refused: %s on the source is a symbolic link" % hostile_source in log, log[-3000:]
    assert '"20123a"' not in epn_attack["runs"]["state after lock link"]
    assert not [line for line in epn_attack["runs"]["arrived"].splitlines() if line.startswith("cd34")]


def test_setuid_bits_devices_fifos_and_links_out_never_arrive_from_the_source(epn_attack):
    """Item 4 on the host (EPN side): the hostile files of 13001a arrive without their dangerous bits."""
    arrived = [line.split() for line in epn_attack["runs"]["arrived"].splitlines() if "/data/hostile/" in line]
    assert sorted(path.rsplit("/", 1)[1] for path, _kind, _mode, _owner in arrived) == ["setgid-tool", "setuid-tool"], arrived
    for path, kind, mode, owner in arrived:
        assert kind == "f" and int(mode, 8) & 0o6000 == 0 and owner == "datasync", (path, kind, mode, owner)


def test_nothing_outside_the_intended_folders_changed_on_beamline1(epn_attack):
    assert epn_attack["before"] == epn_attack["after"], hal.differences(epn_attack["before"], epn_attack["after"])[:40]
    assert any(line.startswith(CONFIG + "/known_hosts ") for line in epn_attack["before"])
