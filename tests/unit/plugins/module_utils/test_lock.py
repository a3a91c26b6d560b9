import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from as_user import OTHER_UID, as_other_user, folder_of_other_user

from ansible_collections.sciops.datasync.plugins.module_utils._core.lock import LockBusy, RunLock, busy_result, module_lock, read_holder, waited_result
from ansible_collections.sciops.datasync.plugins.module_utils._core.state import UnsafePathError

COLLECTIONS = [p for p in sys.path if p.endswith(".collections")][0]


def spawn(code, *args):
    env = dict(os.environ, PYTHONPATH=COLLECTIONS)
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)] + [str(a) for a in args],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )


HOLD = """
    import sys, time
    from ansible_collections.sciops.datasync.plugins.module_utils._core.lock import RunLock
    lock = RunLock(sys.argv[1]).acquire()
    print("locked", flush=True)
    time.sleep(60)
"""

RACE = """
    import os, sys, time
    from ansible_collections.sciops.datasync.plugins.module_utils._core.lock import RunLock
    lock_path, log_path = sys.argv[1], sys.argv[2]
    with RunLock(lock_path, wait=True, timeout=60):
        with open(log_path, "a") as log:
            log.write("enter %d\\n" % os.getpid()); log.flush()
        time.sleep(0.02)
        with open(log_path, "a") as log:
            log.write("leave %d\\n" % os.getpid()); log.flush()
"""


def test_twenty_racing_processes_never_overlap(tmp_path):
    lock_path, log_path = tmp_path / "run.lock", tmp_path / "log"
    procs = [spawn(RACE, lock_path, log_path) for unused in range(20)]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    lines = log_path.read_text().splitlines()
    assert len(lines) == 40
    for enter, leave in zip(lines[0::2], lines[1::2]):
        assert enter.startswith("enter ") and leave.startswith("leave ")
        assert enter.split()[1] == leave.split()[1]
    assert len({line.split()[1] for line in lines}) == 20


def test_sigkilled_holder_leaves_no_stale_lock(tmp_path):
    lock_path = tmp_path / "run.lock"
    holder = spawn(HOLD, lock_path)
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(LockBusy) as busy:
        RunLock(str(lock_path), wait=False).acquire()
    assert busy.value.holder_pid == holder.pid
    assert str(holder.pid) in str(busy.value)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    with RunLock(str(lock_path), wait=False) as lock:
        assert lock.held
        assert read_holder(str(lock_path)) == os.getpid()


def test_wait_reports_holder_and_times_out(tmp_path):
    lock_path = tmp_path / "run.lock"
    holder = spawn(HOLD, lock_path)
    try:
        assert holder.stdout.readline().strip() == "locked"
        seen = []
        started = time.monotonic()
        with pytest.raises(LockBusy) as busy:
            RunLock(str(lock_path), wait=True, timeout=0.5, on_wait=seen.append, notice_interval=0.1).acquire()
        assert busy.value.timed_out
        assert time.monotonic() - started >= 0.5
        assert seen and set(seen) == {holder.pid}
    finally:
        holder.kill()
        holder.wait()


def test_waiter_gets_lock_when_holder_exits(tmp_path):
    lock_path = tmp_path / "run.lock"
    holder = spawn(HOLD, lock_path)
    assert holder.stdout.readline().strip() == "locked"
    killer = subprocess.Popen([sys.executable, "-c", "import os,sys,time,signal; time.sleep(0.3); os.kill(int(sys.argv[1]), signal.SIGTERM)", str(holder.pid)])
    with RunLock(str(lock_path), wait=True, timeout=30) as lock:
        assert lock.waited >= 0.2
    killer.wait()
    holder.wait()


def test_release_clears_pid_and_lock_file_stays(tmp_path):
    lock_path = tmp_path / "sub" / "run.lock"
    lock = RunLock(str(lock_path)).acquire()
    assert read_holder(str(lock_path)) == os.getpid()
    lock.release()
    lock.release()
    assert lock_path.exists()
    assert read_holder(str(lock_path)) is None


class _Exit(Exception):
    def __init__(self, failed, kwargs):
        super().__init__(kwargs.get("msg"))
        self.failed, self.kwargs = failed, kwargs


class _Module:
    def __init__(self, check_mode=False):
        self.check_mode = check_mode

    def exit_json(self, **kwargs):
        raise _Exit(False, kwargs)

    def fail_json(self, **kwargs):
        raise _Exit(True, kwargs)


def test_module_lock_busy_is_the_one_skip_result(tmp_path):
    lock_path = str(tmp_path / "run.lock")
    with RunLock(lock_path, wait=False):
        with pytest.raises(_Exit) as caught:
            with module_lock(_Module(), lock_path, wait=False, result={"errors": []}):
                raise AssertionError("the body must not run")
    assert not caught.value.failed
    assert caught.value.kwargs == dict(busy_result(lock_path, os.getpid(), caught.value.kwargs["msg"]), errors=[], lock_waited=0.0)
    assert caught.value.kwargs["skipped"] is True and caught.value.kwargs["changed"] is False
    assert caught.value.kwargs["msg"].startswith("not run: lock busy: %s held by pid %d" % (lock_path, os.getpid()))


def test_module_lock_timeout_fails_with_the_same_keys(tmp_path):
    lock_path = str(tmp_path / "run.lock")
    with RunLock(lock_path, wait=False):
        with pytest.raises(_Exit) as caught:
            with module_lock(_Module(), lock_path, wait=True, timeout=0.1):
                raise AssertionError("the body must not run")
    assert caught.value.failed and caught.value.kwargs["holder_pid"] == os.getpid() and caught.value.kwargs["lock_file"] == lock_path
    assert "timed out" in caught.value.kwargs["msg"]
    assert 0.1 <= caught.value.kwargs["lock_waited"] < 5, "the seconds waited before giving up"


def test_module_lock_holds_and_releases(tmp_path):
    lock_path = str(tmp_path / "sub" / "run.lock")
    with module_lock(_Module(), lock_path) as lock:
        assert lock.held and read_holder(lock_path) == os.getpid()
    assert not lock.held and read_holder(lock_path) is None


def test_module_lock_check_mode_creates_nothing(tmp_path):
    lock_path = str(tmp_path / "never" / "run.lock")
    with module_lock(_Module(check_mode=True), lock_path) as lock:
        assert not lock.held and lock.waited == 0.0
    assert not (tmp_path / "never").exists()


def test_busy_result_for_an_item_has_no_run_keys():
    assert busy_result("/l", 7) == {"skipped": True, "holder_pid": 7, "lock_file": "/l"}


# ---------------------------------------------------------------- issue 14 item 2: the lock follows nothing

def test_a_symlink_at_the_lock_path_is_refused_and_its_target_not_truncated(tmp_path):
    target = tmp_path / "target"
    target.write_text("precious\n")
    link = tmp_path / "run.lock"
    link.symlink_to(target)
    with pytest.raises(UnsafePathError, match="lock file .*run.lock is a symlink"):
        RunLock(str(link)).acquire()
    assert target.read_text() == "precious\n"
    assert read_holder(str(link)) is None  # the holder's pid is never read through a link


def test_a_lock_in_a_folder_others_can_write_is_refused_naming_it(tmp_path):
    folder = tmp_path / "open"
    folder.mkdir()
    folder.chmod(0o777)
    with pytest.raises(UnsafePathError, match="lock folder %s is writable by group or others" % folder):
        RunLock(str(folder / "run.lock")).acquire()
    assert list(folder.iterdir()) == []


def test_a_lock_file_with_another_link_is_refused(tmp_path):
    target = tmp_path / "target"
    target.write_text("precious\n")
    os.link(str(target), str(tmp_path / "run.lock"))
    with pytest.raises(UnsafePathError, match="has 2 hard links"):
        RunLock(str(tmp_path / "run.lock")).acquire()
    assert target.read_text() == "precious\n"


def test_module_lock_reports_a_refused_lock_path(tmp_path):
    link = tmp_path / "run.lock"
    link.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(_Exit) as caught:
        with module_lock(_Module(), str(link)):
            raise AssertionError("the body must not run")
    assert caught.value.failed and "refused the lock" in caught.value.kwargs["msg"] and caught.value.kwargs["lock_file"] == str(link)
    assert not (tmp_path / "elsewhere").exists()


# ---------------------------------------------------------------- planted by another user (as that user)

@pytest.mark.skipif(os.geteuid() != 0, reason="plants as another user")
def test_a_lock_reached_through_another_users_link_is_refused(tmp_path):
    """nobody plants a link in a sticky shared folder (as /tmp) leading to a trusted folder: it can
    re-point it at any time, so the lock folder behind it is refused and nothing is written there."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    trusted = tmp_path / "trusted"
    trusted.mkdir(mode=0o755)
    os.chmod(tmp_path, 0o755)
    assert as_other_user(str(shared), lambda: os.symlink(str(trusted), "locks")) == 0
    with pytest.raises(UnsafePathError, match="lock folder %s is a link owned by uid %d" % (shared / "locks", OTHER_UID)):
        RunLock(str(shared / "locks" / "run.lock")).acquire()
    assert list(trusted.iterdir()) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="plants as another user")
def test_a_lock_file_or_folder_of_another_user_is_refused(tmp_path):
    theirs = folder_of_other_user(str(tmp_path / "theirs"))
    with pytest.raises(UnsafePathError, match="lock folder %s is owned by uid %d" % (theirs, OTHER_UID)):
        RunLock(os.path.join(theirs, "run.lock")).acquire()
    assert os.listdir(theirs) == []
    # A lock file nobody created (0644) in root's own folder: refused, never written.
    ours = tmp_path / "ours"
    ours.mkdir()
    ours.chmod(0o1777)  # open while nobody plants the file, then root's alone
    assert as_other_user(str(ours), lambda: open("run.lock", "w").write("1\n")) == 0
    ours.chmod(0o755)
    with pytest.raises(UnsafePathError, match="lock file %s is owned by uid %d" % (ours / "run.lock", OTHER_UID)):
        RunLock(str(ours / "run.lock")).acquire()
    assert (ours / "run.lock").read_text() == "1\n"


def test_module_lock_reports_the_seconds_waited_for_a_held_lock(tmp_path):
    """Issue 16 item 1: the one lock contract carries lock_waited (the metrics' datasync_lock_wait_seconds)."""
    lock_path = str(tmp_path / "run.lock")
    holder = spawn(HOLD, lock_path)
    try:
        assert holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        killer = threading.Timer(0.5, holder.kill)
        killer.start()
        with module_lock(_Module(), lock_path, wait=True, timeout=30) as lock:
            assert lock.result() == waited_result(lock.waited) and 0.4 <= lock.result()["lock_waited"] <= time.monotonic() - started
        killer.join()
    finally:
        holder.kill()
        holder.wait()
    with module_lock(_Module(), lock_path) as lock:
        assert lock.result()["lock_waited"] < 0.1
