"""Issue 14 items 3, 4, 11 and 12, tried by the actors who would try them (docs/security.md).

- A project member with a login on the data host: the real local user ``dsmember``, who owns
  a project folder below the destination root and plants links there with ``runuser``.
- A hostile upstream: the lab's sshd source tree (the synchrotron) and the lab rsync daemon's
  ``scratch`` module, seeded as root with setuid files, FIFOs, device nodes, links leaving the
  tree, EPN folders that are links, and file names carrying newlines and escape sequences.

Every attack must be refused with a message naming what was refused, the rest of the run goes
on, and nothing outside the intended folders changes (compared before and after).
"""

import email
import glob
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
import time
import uuid

import pytest

from tests.integration import epn_lab
from tests.integration.conftest import start_background
from tests.integration.test_epn_repatriate import kill_run, source_dir, synced
from tests.lab.portal import source_tree
from tests.integration.test_pools_mirror import mirror_task, play, run_mirror, snapshot, wait_during, write_playbook

MEMBER = "dsmember"
FORGED = "20070824T1739: PACS product pool transfer rsync error 5."
ANSI = "\x1b[2J\x1b[31mred alert\x1b[0m.txt"


# ---------------------------------------------------------------- actors and places

@pytest.fixture(scope="module")
def member():
    """The project member: a real unprivileged local account."""
    try:
        pwd.getpwnam(MEMBER)
    except KeyError:
        subprocess.run(["useradd", "--no-create-home", "--shell", "/bin/sh", MEMBER], check=True)
    return pwd.getpwnam(MEMBER)


def as_member(*argv):
    """Run argv as the project member; returns the completed process (never as root)."""
    proc = subprocess.run(["runuser", "-u", MEMBER, "--"] + list(argv), capture_output=True, text=True, check=False)
    assert proc.returncode == 0, (argv, proc.stderr)
    return proc


@pytest.fixture
def shared():
    """A folder the member can reach (pytest's tmp_path is 0700 root): the data host's file system."""
    top = tempfile.mkdtemp(prefix="datasync-attack-", dir="/tmp")
    os.chmod(top, 0o755)
    yield top
    shutil.rmtree(top, ignore_errors=True)


def victim(shared, name="victim"):
    """A root-owned folder a root job must never write into (with a file whose mode --chmod would change)."""
    path = os.path.join(shared, name)
    os.makedirs(path, mode=0o755)
    with open(os.path.join(path, "keep.txt"), "w") as handle:
        handle.write("root's file\n")
    os.chmod(os.path.join(path, "keep.txt"), 0o640)
    return path


def full_snapshot(path):
    """snapshot() of a folder plus the folder's own mode and owner (a --chmod on it would show)."""
    info = os.lstat(path)
    return (stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid, snapshot(path))


def project_folder(root, project, member):
    """<root>/<project>, owned by the member (group-writable, setgid), as a project folder is."""
    path = os.path.join(root, project)
    os.makedirs(path)
    os.chown(path, member.pw_uid, member.pw_gid)
    os.chmod(path, 0o2775)
    return path


def epn_args(lab, tmp_path, root, **extra):
    args = epn_lab.repatriate_args(lab, tmp_path, **extra)
    args["destination_root"] = root
    return args


def failed_by_epn(result):
    return {f["epn"]: f["msg"] for f in result.get("failed_epns", [])}


# ---------------------------------------------------------------- item 3: EPN destinations

def test_member_links_in_epn_destination_are_refused_and_the_rest_go_on(lab, ansible_playbook, tmp_path, shared, member):
    root = os.path.join(shared, "scratch")
    os.makedirs(root)
    ny79 = project_folder(root, "ny79", member)
    project_folder(root, "ab12", member)
    target, target2 = victim(shared), victim(shared, "victim2")
    before = (full_snapshot(target), full_snapshot(target2))
    # The member plants a link at the EPN level and one at the data level.
    as_member("ln", "-s", target, os.path.join(ny79, "12282a"))
    as_member("mkdir", os.path.join(ny79, "12282b"))
    as_member("ln", "-s", target2, os.path.join(ny79, "12282b", "data"))

    args = epn_args(lab, tmp_path, root, only=["12282a", "12282b", "13001a"])
    checked = epn_lab.run(ansible_playbook, tmp_path, "epn_repatriate", args, check_mode=True, expect_failure=True)
    assert sorted(failed_by_epn(checked)) == ["12282a", "12282b"] and checked["would_transfer"] == ["13001a"]

    result = epn_lab.run(ansible_playbook, tmp_path, "epn_repatriate", args, expect_failure=True)
    failed = failed_by_epn(result)
    assert "%s/12282a is a symbolic link (-> %s); refused" % (ny79, target) in failed["12282a"], failed
    assert "%s/12282b/data is a symbolic link (-> %s); refused" % (ny79, target2) in failed["12282b"], failed
    assert result["transferred"] == ["13001a"]  # the rest went on
    assert sorted(synced(args["state_file"])) == ["13001a"]
    assert (full_snapshot(target), full_snapshot(target2)) == before
    assert os.path.islink(os.path.join(ny79, "12282a")) and os.path.islink(os.path.join(ny79, "12282b", "data"))


def test_destination_swapped_mid_transfer_keeps_writing_into_the_checked_folder(lab, ansible_playbook, lab_env, tmp_path, shared, member, run_temp):
    """The member renames the EPN folder away during the copy and plants a link where data/ was:
    rsync runs inside the folder it checked (its descriptor), so nothing reaches the link's target."""
    root = os.path.join(shared, "scratch")
    os.makedirs(root)
    ab12 = project_folder(root, "ab12", member)
    target = victim(shared)
    before = full_snapshot(target)
    # 24 MB of master.h5 at 2000 KB/s: the swap (after its first MB) lands well inside the copy.
    args = epn_args(lab, tmp_path, root, only=["13001a"], rsync_extra_options=["--bwlimit=2000"])
    big = os.path.join(ab12, "13001a", "data", "frames", "run 1", "master.h5")
    full_size = os.path.getsize(os.path.join(source_dir(lab, "MX1", "13001a"), "frames", "run 1", "master.h5"))
    proc = start_background(lab_env, epn_lab.playbook(tmp_path, "sciops.datasync.epn_repatriate", args), run_temp)
    try:
        wait_during(proc, lambda: os.path.exists(big) and os.path.getsize(big) > 1024 * 1024, "the first MB of master.h5", timeout=60)
        as_member("mv", os.path.join(ab12, "13001a"), os.path.join(ab12, "13001a.moved"))
        as_member("mkdir", os.path.join(ab12, "13001a"))
        as_member("ln", "-s", target, os.path.join(ab12, "13001a", "data"))
        # The swap happened mid-copy: what arrives from here on is written after it.
        assert os.path.getsize(os.path.join(ab12, "13001a.moved", "data", "frames", "run 1", "master.h5")) < full_size
        assert proc.wait(timeout=120) == 0
    finally:
        if proc.poll() is None:
            kill_run(proc.pid)
            proc.wait()
    assert full_snapshot(target) == before
    moved = os.path.join(ab12, "13001a.moved", "data")
    expected = {rel: os.path.getsize(full) for rel, full in source_tree.expected_files(source_dir(lab, "MX1", "13001a")).items()}
    arrived = {os.path.relpath(os.path.join(top, name), moved): os.path.getsize(os.path.join(top, name))
               for top, _dirs, files in os.walk(moved) for name in files}
    assert arrived == expected


# ---------------------------------------------------------------- items 11 and 4: hostile synchrotron source

@pytest.fixture
def hostile_source(lab):
    """As root on the source host: 12282b is a link to /etc, 20123a a link to another project's EPN
    (13001a), and 12282a holds a setuid and a setgid file, a FIFO, a device node and a link to /etc."""
    mx1, mx2 = os.path.dirname(source_dir(lab, "MX1", "12282a")), os.path.dirname(source_dir(lab, "MX2", "20123a"))
    epn_lab.endpoints(lab)  # the lab is up and the tree built
    swapped = []
    for folder, target in ((os.path.join(mx1, "12282b"), "/etc"), (os.path.join(mx2, "20123a"), os.path.join(mx1, "13001a"))):
        aside = os.path.join(os.path.dirname(folder), "." + os.path.basename(folder) + ".aside")
        os.rename(folder, aside)
        os.symlink(target, folder)
        swapped.append((folder, aside))
    inside = os.path.join(mx1, "12282a", "hostile")
    epn_lab.plant_dangerous_entries(inside)
    try:
        yield
    finally:
        shutil.rmtree(inside, ignore_errors=True)
        for folder, aside in swapped:
            os.unlink(folder)
            os.rename(aside, folder)


def test_hostile_source_epn_links_refused_and_dangerous_bits_never_arrive(lab, ansible_playbook, tmp_path, hostile_source):
    root = str(tmp_path / "scratch")
    args = epn_args(lab, tmp_path, root, only=["12282a", "12282b", "20123a"])
    result = epn_lab.run(ansible_playbook, tmp_path, "epn_repatriate", args, expect_failure=True)
    failed = failed_by_epn(result)
    assert "EPN 12282b refused: %s on the source is a symbolic link" % source_dir(lab, "MX1", "12282b") in failed["12282b"], failed
    assert "EPN 20123a refused: %s on the source is a symbolic link" % source_dir(lab, "MX2", "20123a") in failed["20123a"], failed
    assert "not recorded" in failed["12282b"]
    assert result["transferred"] == ["12282a"]
    assert sorted(synced(args["state_file"])) == ["12282a"]
    # Nothing of /etc nor of ab12's EPN arrived anywhere: the refused EPNs' folders were never made.
    assert not os.path.exists(os.path.join(root, "ny79", "12282b")) and not os.path.exists(os.path.join(root, "cd34"))
    assert not any("passwd" in files or "master.h5" in files and "ny79" not in top
                   for top, _dirs, files in os.walk(root) if "12282a" not in top)
    hostile = os.path.join(root, "ny79", "12282a", "data", "hostile")
    for name in ("setuid-tool", "setgid-tool"):
        mode = os.lstat(os.path.join(hostile, name)).st_mode
        assert stat.S_ISREG(mode) and not mode & (stat.S_ISUID | stat.S_ISGID), (name, oct(mode))
    assert sorted(os.listdir(hostile)) == ["setgid-tool", "setuid-tool"]  # no FIFO, no device, no link


# ---------------------------------------------------------------- item 3: pool destinations

def test_member_links_at_pool_destination_are_refused_and_the_next_pool_goes_on(ansible_playbook, tmp_path, pools_endpoint, shared,
                                                                                member):
    mirror = os.path.join(shared, "mirror")
    os.makedirs(mirror)
    area = project_folder(mirror, "area", member)
    target = victim(shared)
    before = full_snapshot(target)
    as_member("ln", "-s", target, os.path.join(area, "pv"))           # dest itself
    as_member("ln", "-s", target, os.path.join(area, "deeper"))       # a folder on the way to dest
    icc = str(tmp_path / "icc")
    tasks = []
    for dest in (os.path.join(area, "pv"), os.path.join(area, "deeper", "ops"), os.path.join(mirror, "ops")):
        task = mirror_task(pools_endpoint, module="ops", dest=dest, dest_root=mirror, bookkeeping_root=icc)
        task["ignore_errors"] = True
        tasks.append(task)
    _result, outcome = play(ansible_playbook, write_playbook(tmp_path, tasks))
    assert outcome[0]["failed"] and "%s/pv is a symbolic link (-> %s); refused" % (area, target) in outcome[0]["msg"], outcome[0]
    assert outcome[1]["failed"] and "%s/deeper is a symbolic link (-> %s); refused" % (area, target) in outcome[1]["msg"], outcome[1]
    assert not outcome[2].get("failed") and outcome[2]["changed"], outcome[2]  # the next pool went on
    assert full_snapshot(target) == before
    log = open(outcome[2]["log_file"]).read()
    assert "refused: dest %s/pv is a symbolic link" % area in log
    assert not os.path.exists(os.path.join(icc, "ops", "writeLock"))


@pytest.fixture(scope="module")
def pools_endpoint(lab):
    endpoint = lab.endpoints()["rsyncd"]
    endpoint["root"] = lab.path("pools")
    return endpoint


# ---------------------------------------------------------------- items 4 and 12: hostile pool server

def hostile_pool(pools_endpoint):
    """As root on the pool server: a scratch tree with dangerous bits and hostile names."""
    name = "hostile-%s" % uuid.uuid4().hex[:8]
    top = os.path.join(pools_endpoint["root"], "scratch", name)
    os.makedirs(os.path.join(top, "sub"))
    with open(os.path.join(top, "plain.txt"), "w") as handle:
        handle.write("plain\n")
    epn_lab.plant_dangerous_entries(top)
    os.symlink("../../../../../../etc/passwd", os.path.join(top, "sub", "climbing-link"))
    os.symlink("plain.txt", os.path.join(top, "inside-link"))
    return name, top


def hostile_names(top):
    """Files whose names forge a log line and clear an operator's terminal."""
    names = ["x\n" + FORGED, ANSI, "bidi\u202etxt.exe", "del\x7fand csi\u009b2J"]
    for fname in names:
        with open(os.path.join(top, fname), "w") as handle:
            handle.write("hostile name\n")
    return names


def assert_escaped(text, where):
    assert "\x1b" not in text and "\u009b" not in text and "\u202e" not in text and "\x7f" not in text, where
    assert not any(line.strip() == FORGED for line in text.splitlines()), where
    assert "x\\#012" + FORGED in text, where
    assert "\\#033[2J\\#033[31mred alert\\#033[0m.txt" in text, where


def test_hostile_pool_server_dangerous_bits_never_arrive_and_names_are_escaped(ansible_playbook, tmp_path, pools_endpoint, lab):
    name, top = hostile_pool(pools_endpoint)
    try:
        names = hostile_names(top)
        dest = str(tmp_path / "mirror" / name)
        icc = str(tmp_path / "icc")
        first = run_mirror(ansible_playbook, tmp_path, pools_endpoint, module="scratch", path=name, dest=dest, bookkeeping_root=icc)
        assert not first.get("failed"), first
        for fname in ("setuid-tool", "setgid-tool"):
            mode = os.lstat(os.path.join(dest, fname)).st_mode
            assert stat.S_ISREG(mode) and not mode & (stat.S_ISUID | stat.S_ISGID), (fname, oct(mode))
        arrived = set(os.listdir(dest))
        assert not {"pipe", "disk", "etc-link"} & arrived, arrived
        assert not os.path.lexists(os.path.join(dest, "sub", "climbing-link"))
        assert os.readlink(os.path.join(dest, "inside-link")) == "plain.txt"  # links inside the tree still arrive
        assert set(names) <= arrived  # the files arrive under their real names...
        log = open(first["log_file"], encoding="utf-8", errors="surrogateescape").read()
        assert_escaped(log, "weekday log")  # ...and are listed escaped
        assert "x\\#012" + FORGED in first["transferred"]
        assert_escaped("\n".join(first["transferred"]), "result")
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_failure_email_and_job_output_quote_hostile_names_escaped(ansible_playbook, tmp_path, pools_endpoint, lab):
    """A run that transfers the hostile names, then fails (rsync 25, --max-delete=0 with something to delete):
    the weekday log, the failure email quoting its tail, and ansible-playbook's own output are escaped."""
    name, top = hostile_pool(pools_endpoint)
    try:
        dest = str(tmp_path / "mirror" / name)
        icc = str(tmp_path / "icc")
        assert not run_mirror(ansible_playbook, tmp_path, pools_endpoint, module="scratch", path=name, dest=dest,
                              bookkeeping_root=icc).get("failed")
        with open(os.path.join(dest, "local-only.txt"), "w") as handle:
            handle.write("not upstream\n")
        hostile_names(top)
        smtp = lab.endpoints()["smtp"]
        marker = "[attack-%s]" % uuid.uuid4().hex[:8]
        before = set(glob.glob(os.path.join(smtp["maildir"], "*.eml")))
        task = mirror_task(pools_endpoint, module="scratch", path=name, dest=dest, bookkeeping_root=icc, delete=True, max_delete=0,
                           mail={"to": ["pool-admins@example.org"], "host": smtp["host"], "port": smtp["port"],
                                 "subject_prefix": marker})
        task["ignore_errors"] = True
        path = write_playbook(tmp_path, [task], "failing")
        # ansible-playbook's default output, as the job log shows it
        shown = ansible_playbook(path, check=False)
        assert "\x1b" not in shown.stdout + shown.stderr and "\u009b" not in shown.stdout
        assert not any(line.strip() == FORGED for line in (shown.stdout + shown.stderr).splitlines())
        deadline, message = time.time() + 10, None
        while message is None and time.time() < deadline:
            for eml in sorted(set(glob.glob(os.path.join(smtp["maildir"], "*.eml"))) - before):
                candidate = email.message_from_bytes(open(eml, "rb").read())
                if marker in (candidate["Subject"] or ""):
                    message = candidate
            time.sleep(0.1)
        assert message is not None
        body = message.get_payload(decode=True).decode("utf-8")
        assert "exit code:  25" in body
        assert_escaped(body, "failure email")
        logs = os.path.join(icc, "scratch", "logs")
        log = open(os.path.join(logs, open(os.path.join(logs, "logDay")).read().strip()), encoding="utf-8", errors="surrogateescape").read()
        assert_escaped(log, "weekday log")
        assert "PACS product pool transfer rsync error 25." in log
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_pool_member_cannot_redirect_a_running_mirror(ansible_playbook, tmp_path, pools_endpoint, lab_env, shared, member, run_temp):
    """The dest folder renamed away mid-transfer and a link planted in its place: rsync keeps
    writing into the folder it checked, never into the link's target."""
    mirror = os.path.join(shared, "mirror")
    os.makedirs(mirror)
    area = project_folder(mirror, "area", member)
    target = victim(shared)
    before = full_snapshot(target)
    name = "slow-%s" % uuid.uuid4().hex[:8]
    top = os.path.join(pools_endpoint["root"], "scratch", name)
    os.makedirs(top)
    with open(os.path.join(top, "big.dat"), "wb") as handle:
        handle.write(os.urandom(6 * 1024 * 1024))
    with open(os.path.join(top, "zz-after.txt"), "w") as handle:
        handle.write("arrives after the swap\n")
    dest = os.path.join(area, "pool")
    # 6 MB at 500 KB/s: the swap (as soon as the temp file shows) lands well inside the copy.
    slow = write_playbook(tmp_path, [mirror_task(pools_endpoint, module="scratch", path=name, dest=dest, dest_root=mirror,
                                                 bwlimit="500")], "slow")
    background = start_background(lab_env, slow, run_temp)
    try:
        wait_during(background, lambda: glob.glob(os.path.join(dest, ".big.dat.*")), "the temp file of big.dat", timeout=60)
        as_member("mv", dest, dest + ".moved")
        as_member("ln", "-s", target, dest)
        # The swap happened mid-copy: big.dat and zz-after.txt are still to be written.
        assert glob.glob(os.path.join(dest + ".moved", ".big.dat.*"))
        assert background.wait(timeout=120) == 0
    finally:
        if background.poll() is None:
            kill_run(background.pid)
            background.wait()
        shutil.rmtree(top, ignore_errors=True)
    assert full_snapshot(target) == before
    assert sorted(os.listdir(dest + ".moved")) == ["big.dat", "zz-after.txt"]
