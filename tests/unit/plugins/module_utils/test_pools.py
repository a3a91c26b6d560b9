import datetime
import os
import subprocess
import sys

import pytest

from as_user import OTHER_UID, as_other_user, folder_of_other_user, link_in_shared_folder

from ansible_collections.sciops.datasync.plugins.module_utils._pools import mirror as pools


class Clock:
    def __init__(self, moment):
        self.moment = moment

    def __call__(self):
        return self.moment


FRIDAY = datetime.datetime(2007, 8, 24, 16, 39)


def read(path):
    with open(path) as handle:
        return handle.read()


def test_log_format_with_fixed_clock(tmp_path):
    clock = Clock(FRIDAY)
    log = pools.PoolLog(str(tmp_path), "pv", "/pacs/PacsProductPools/pools", clock=clock)
    log.open_day()
    log.start_run()
    log.write(["./", "simple.pacs_calibration_products/"])
    clock.moment = FRIDAY.replace(minute=46)
    log.error(23, "partial transfer due to error")
    assert read(str(tmp_path / "pv" / "logs" / "Friday")) == (
        "===================================================\n"
        "TransferPools log file for Friday, 20070824T1639\n"
        "Products located in: /pacs/PacsProductPools/pools\n"
        "===================================================\n"
        "***** 20070824T1639: starting rsync *****\n"
        "./\n"
        "simple.pacs_calibration_products/\n"
        "20070824T1646: PACS product pool transfer rsync error 23.\n"
        "rsync error 23: partial transfer due to error\n"
    )
    assert read(str(tmp_path / "pv" / "logs" / "logDay")) == "Friday\n"


def test_log_rotates_by_weekday_and_after_a_week(tmp_path):
    clock = Clock(FRIDAY)
    log = pools.PoolLog(str(tmp_path), "pv", "/pools", clock=clock)
    log.open_day()
    log.start_run()
    # Later the same day: appended, no new header.
    clock.moment = FRIDAY.replace(hour=17)
    log = pools.PoolLog(str(tmp_path), "pv", "/pools", clock=clock)
    log.open_day()
    log.start_run()
    friday = str(tmp_path / "pv" / "logs" / "Friday")
    assert read(friday).count("TransferPools log file") == 1
    assert read(friday).count("starting rsync") == 2
    # Saturday: a new file, logDay switches.
    clock.moment = FRIDAY + datetime.timedelta(days=1)
    log = pools.PoolLog(str(tmp_path), "pv", "/pools", clock=clock)
    log.open_day()
    log.start_run()
    assert read(str(tmp_path / "pv" / "logs" / "logDay")) == "Saturday\n"
    assert "Saturday, 20070825T1639" in read(str(tmp_path / "pv" / "logs" / "Saturday"))
    # Next Friday: last week's Friday log is overwritten.
    clock.moment = FRIDAY + datetime.timedelta(days=7)
    log = pools.PoolLog(str(tmp_path), "pv", "/pools", clock=clock)
    log.open_day()
    log.start_run()
    text = read(friday)
    assert text.count("starting rsync") == 1 and "20070831T1639" in text and "20070824" not in text
    # Same weekday a week later without any run in between (logDay still says Friday).
    os.utime(friday, (0, 0))
    clock.moment = FRIDAY + datetime.timedelta(days=14)
    log = pools.PoolLog(str(tmp_path), "pv", "/pools", clock=clock)
    log.open_day()
    assert "20070907" in read(friday) and "20070831" not in read(friday)


def test_skip_and_takeover_lines(tmp_path):
    log = pools.PoolLog(str(tmp_path), "pv", "/pools", clock=Clock(FRIDAY))
    log.skipped(4242)
    log.took_over(4343, "process 4343 is gone", ["sub/.big.fits.Ab12Cd"])
    text = read(log.path)
    assert "***** 20070824T1639: skipped: writeLock held by running pid 4242 *****" in text
    assert "20070824T1639: stale writeLock of pid 4343 taken over (process 4343 is gone)." in text
    assert "removed temp file left by the killed run: sub/.big.fits.Ab12Cd" in text


def dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_write_lock_acquire_release(tmp_path):
    path = str(tmp_path / "pv" / "writeLock")
    lock = pools.WriteLock(path)
    assert lock.acquire() == ("acquired", None, None)
    assert read(path) == "%d\n" % os.getpid()
    lock.release()
    assert not os.path.exists(path)


def test_write_lock_busy_while_holder_runs(tmp_path):
    path = str(tmp_path / "writeLock")
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        with open(path, "w") as handle:
            handle.write("%d\n" % holder.pid)
        state, pid, reason = pools.WriteLock(path).acquire()
        assert (state, pid) == ("busy", holder.pid)
        assert read(path) == "%d\n" % holder.pid
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize("content", ["dead", "garbage\n", ""])
def test_stale_write_lock_is_taken_over(tmp_path, content):
    path = str(tmp_path / "writeLock")
    old = dead_pid()
    with open(path, "w") as handle:
        handle.write("%d\n" % old if content == "dead" else content)
    lock = pools.WriteLock(path)
    state, pid, reason = lock.acquire()
    assert state == "took_over"
    if content == "dead":
        assert pid == old and "gone" in reason
    assert read(path) == "%d\n" % os.getpid()
    lock.release()


def test_reused_pid_is_stale(tmp_path):
    path = str(tmp_path / "writeLock")
    younger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        with open(path, "w") as handle:
            handle.write("%d\n" % younger.pid)
        os.utime(path, (1000, 1000))  # the lock is far older than the process holding that pid now
        state, pid, reason = pools.WriteLock(path).acquire()
        assert state == "took_over" and "started after" in reason
    finally:
        younger.kill()
        younger.wait()


def test_remove_leftovers(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / ".big.fits.Ab12Cd").write_bytes(b"x")
    (tmp_path / "a" / "big.fits").write_bytes(b"x")
    (tmp_path / ".hidden").write_bytes(b"x")
    (tmp_path / "a" / ".local.backup").write_bytes(b"mine")
    os.utime(str(tmp_path / "a" / ".local.backup"), (1000, 1000))  # older than the killed run
    outside = tmp_path.parent / (tmp_path.name + "-outside.fits")
    outside.write_bytes(b"not ours")
    (tmp_path / "a" / ".link.fits.Zz99Yy").symlink_to(outside)
    fd = os.open(str(tmp_path), os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert pools.remove_leftovers(fd, since=2000) == ["a/.big.fits.Ab12Cd"]
    finally:
        os.close(fd)
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [".link.fits.Zz99Yy", ".local.backup", "big.fits"]
    assert (tmp_path / ".hidden").exists() and outside.read_bytes() == b"not ours"


@pytest.mark.parametrize("name", ["-la", "--rsh=sh", "pv/../etc", "..", "pv 1", "pv\t1", "pv\n", "p*", "pv?", "", "/pv", "pv[1]"])
def test_hostile_module_names(name):
    assert pools.module_name_problem(name)


@pytest.mark.parametrize("name", ["pv", "pv-1", "PV1342180000", "ops_2", "pv.1"])
def test_good_module_names(name):
    assert pools.module_name_problem(name) is None


@pytest.mark.parametrize("path", ["../x", "a/../../b", "a/-rf", "/etc", "a\nb", "a\tb", "obs*", " lead", "a/.."])
def test_hostile_paths(path):
    assert pools.pool_path_problem(path)


@pytest.mark.parametrize("path", ["", "obs0001", "odd names/nested dir 1", "a/b/c/"])
def test_good_paths(path):
    assert pools.pool_path_problem(path) is None


def test_summarize_counts_and_limit():
    stdout = ">f+++++++++ a\n>f+++++++++ b\n*deleting   c\nNumber of regular files transferred: 2\nTotal transferred file size: 10 bytes\n"
    changes, fields = pools.summarize(stdout, 1)
    assert fields["transferred"] == ["a"] and fields["transferred_count"] == 2
    assert fields["deleted"] == ["c"] and fields["files_deleted"] == 1
    assert fields["files_transferred"] == 2 and fields["bytes_transferred"] == 10
    assert fields["lists_truncated"] is True
    assert pools.summarize("", 10)[1]["transferred_count"] == 0


def test_password_setup(tmp_path):
    secret = tmp_path / "password"
    secret.write_text("s3cret\n")
    secret.chmod(0o644)
    assert "group or others" in pools.password_setup({"password_file": str(secret)})[2]
    secret.chmod(0o600)
    assert pools.password_setup({"password_file": str(secret)}) == (str(secret), {}, None)
    assert pools.password_setup({"password": "x"}) == (None, {"RSYNC_PASSWORD": "x"}, None)


# Issue 14: the weekday log, logDay and writeLock refuse links and foreign files, as the lock and state files do.

def test_links_at_the_weekday_log_logday_and_writelock_are_refused_and_their_targets_untouched(tmp_path):
    target = tmp_path / "victim"
    target.write_text("someone else's file\n")
    logs = tmp_path / "icc" / "pv" / "logs"
    logs.mkdir(parents=True)
    for planted in (logs / "Friday", logs / "logDay"):
        planted.symlink_to(target)
        with pytest.raises(pools.UnsafePathError, match="symlink"):
            pools.PoolLog(str(tmp_path / "icc"), "pv", "/pools", clock=Clock(FRIDAY)).open_day()
        planted.unlink()
    log = pools.PoolLog(str(tmp_path / "icc"), "pv", "/pools", clock=Clock(FRIDAY))
    log.open_day()
    os.unlink(log.path)
    os.symlink(str(target), log.path)  # swapped after the day was opened
    with pytest.raises(pools.UnsafePathError, match="symlink"):
        log.write(["x"])
    lock = tmp_path / "icc" / "pv" / "writeLock"
    lock.symlink_to(target)
    with pytest.raises(pools.UnsafePathError, match="writeLock .* symlink"):
        pools.WriteLock(str(lock)).acquire()
    os.symlink(str(target), "%s.%d.tmp" % (lock, os.getpid()))  # a planted temp name is removed, never written through
    lock.unlink()
    acquired = pools.WriteLock(str(lock))
    assert acquired.acquire()[0] == "acquired"
    acquired.release()
    assert not lock.exists() and not os.path.lexists("%s.%d.tmp" % (lock, os.getpid()))
    assert target.read_text() == "someone else's file\n" and oct(target.stat().st_mode & 0o777) == oct(0o644)


def test_writelock_and_logs_in_a_folder_others_can_write_are_refused(tmp_path):
    icc = tmp_path / "icc"
    (icc / "pv").mkdir(parents=True)
    os.chmod(str(icc), 0o777)
    with pytest.raises(pools.UnsafePathError, match="writable by group or others"):
        pools.WriteLock(str(icc / "pv" / "writeLock")).acquire()
    with pytest.raises(pools.UnsafePathError, match="writable by group or others"):
        pools.PoolLog(str(icc), "pv", "/pools", clock=Clock(FRIDAY)).open_day()
    assert not (icc / "pv" / "logs").exists() and not (icc / "pv" / "writeLock").exists()


def test_a_writelock_with_two_links_is_refused(tmp_path):
    (tmp_path / "pv").mkdir()
    other = tmp_path / "other"
    other.write_text("1\n")
    os.link(str(other), str(tmp_path / "pv" / "writeLock"))
    with pytest.raises(pools.UnsafePathError, match="2 hard links"):
        pools.WriteLock(str(tmp_path / "pv" / "writeLock")).acquire()
    assert other.read_text() == "1\n"


# Issue 14 items 2-3, planted by another user (as that user): the bookkeeping and a missing dest_root.

@pytest.mark.skipif(os.geteuid() != 0, reason="plants as another user")
def test_bookkeeping_planted_by_another_user_is_refused_and_its_targets_untouched(tmp_path):
    os.chmod(str(tmp_path), 0o755)
    victim = tmp_path / "victim"
    victim.write_text("root's file\n")
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    # The module folder behind a link nobody planted in a sticky shared folder.
    (tmp_path / "real" / "pv" / "logs").mkdir(parents=True)
    assert as_other_user(str(shared), lambda: os.symlink(str(tmp_path / "real"), "icc")) == 0
    with pytest.raises(pools.UnsafePathError, match="is a link owned by uid %d" % OTHER_UID):
        pools.PoolLog(str(shared / "icc"), "pv", "/pools", clock=Clock(FRIDAY)).open_day()
    with pytest.raises(pools.UnsafePathError, match="is a link owned by uid %d" % OTHER_UID):
        pools.WriteLock(str(shared / "icc" / "pv" / "writeLock")).acquire()
    assert os.listdir(str(tmp_path / "real" / "pv" / "logs")) == []
    # The module folder owned by nobody, who plants links at the weekday log and the writeLock.
    icc = tmp_path / "icc"
    icc.mkdir(mode=0o755)
    theirs = folder_of_other_user(str(icc / "pv"))

    def plant():
        os.mkdir("logs")
        os.symlink(str(victim), "logs/Friday")
        os.symlink(str(victim), "writeLock")

    assert as_other_user(theirs, plant) == 0
    with pytest.raises(pools.UnsafePathError, match="owned by uid %d" % OTHER_UID):
        pools.PoolLog(str(icc), "pv", "/pools", clock=Clock(FRIDAY)).open_day()
    with pytest.raises(pools.UnsafePathError, match="owned by uid %d" % OTHER_UID):
        pools.WriteLock(os.path.join(theirs, "writeLock")).acquire()
    assert victim.read_text() == "root's file\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="plants as another user")
@pytest.mark.parametrize("check_mode", [False, True])
def test_a_missing_dest_root_is_never_made_below_another_users_folder_or_link(tmp_path, check_mode):
    os.chmod(str(tmp_path), 0o755)
    theirs = folder_of_other_user(str(tmp_path / "theirs"))
    params = {"dest": os.path.join(theirs, "pools", "pv"), "dest_root": os.path.join(theirs, "pools")}
    fd, problem = pools.open_dest(params, check_mode)
    assert fd is None and problem == "dest_root %s is owned by uid %d, not by the running user (uid 0) or root; refused" % (theirs, OTHER_UID)
    assert os.listdir(theirs) == []
    target = tmp_path / "target"
    target.mkdir(mode=0o755)
    link = link_in_shared_folder(tmp_path, "data", target)
    params = {"dest": str(link / "pools" / "pv"), "dest_root": str(link / "pools")}
    fd, problem = pools.open_dest(params, check_mode)
    assert fd is None and problem.startswith("dest_root %s is a link owned by uid %d" % (link, OTHER_UID))
    assert os.listdir(str(target)) == []


def test_a_missing_dest_root_below_trusted_folders_is_made_and_opened(tmp_path):
    os.chmod(str(tmp_path), 0o755)
    params = {"dest": str(tmp_path / "srv" / "pools" / "pv"), "dest_root": str(tmp_path / "srv" / "pools")}
    fd, problem = pools.open_dest(params, False)
    try:
        assert problem is None and os.path.samestat(os.fstat(fd), os.stat(params["dest"]))
    finally:
        os.close(fd)


def test_rsync_progress_counts_the_files_and_bytes_the_real_rsync_logs(tmp_path):
    """The --log-file format is read back from the rsync on this machine: received files and their bytes."""
    from ansible_collections.sciops.datasync.plugins.module_utils._core.progress import Progress
    from ansible_collections.sciops.datasync.plugins.module_utils._pools.progress import RsyncProgress

    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    for index, size in enumerate((1000, 20000, 300000)):
        (src / ("f%d" % index)).write_bytes(b"x" * size)
    (src / "sub" / "g").write_bytes(b"y" * 5)
    os.symlink("f0", str(src / "link"))
    lines = []
    reader = RsyncProgress(Progress("pool t", lines.append, interval=0, unit="files"))
    try:
        argv = ["rsync", "--recursive", "--links", "--itemize-changes"] + list(reader.argv_words()) + ["--", "%s/" % src, "%s/" % (tmp_path / "dst")]
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        reader.poll()
    finally:
        reader.close()
    assert (reader.files, reader.bytes) == (4, 321005)
    assert " progress pool t: 4 files, 313.5 KiB, " in lines[-1]
    assert not os.path.exists(reader.folder)
