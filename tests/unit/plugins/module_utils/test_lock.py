import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from ansible_collections.sciops.datasync.plugins.module_utils._core.lock import LockBusy, RunLock, busy_result, module_lock, read_holder

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
    assert caught.value.kwargs == dict(busy_result(lock_path, os.getpid(), caught.value.kwargs["msg"]), errors=[])
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
