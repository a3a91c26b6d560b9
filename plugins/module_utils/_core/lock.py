# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run lock for long jobs. Private to sciops.datasync: not a public API.

The lock is an ``fcntl.flock`` on a file that also records the holder's pid for
messages. The kernel drops a flock when its holder dies, so a killed run (even
SIGKILL) never leaves a stale lock; the pid written inside is only informative.
The file is never unlinked: removing it would let two processes lock two inodes.

The lock file is opened with ``O_NOFOLLOW`` and checked on its descriptor before anything
is written (``_core.state.open_private``: a regular file with one link, owned by the running
user, not writable by group or others), in a folder that only the running user or root can
write (``_core.state.ensure_trusted_folder``, parents included); a planted link or file, or
a folder others can write, is refused with ``UnsafePathError`` naming it.

Every module that locks reports it the same way (documented once in the ``sciops.datasync.lock``
doc fragment): ``lock_waited``, the seconds it waited for the lock (``waited_result``), and for
a busy lock ``busy_result``: ``skipped``, ``holder_pid``, ``lock_file``, ``msg``. ``module_lock``
is the context helper a module runs its body under.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time

from ansible_collections.sciops.datasync.plugins.module_utils._core.state import UnsafePathError, ensure_trusted_folder, open_private


class LockBusy(Exception):
    """The lock is held by another process and we were told not to wait (or gave up)."""

    def __init__(self, path, holder_pid, timed_out=False):
        self.path = path
        self.holder_pid = holder_pid
        self.timed_out = timed_out
        who = "pid %s" % holder_pid if holder_pid else "another process"
        what = "timed out waiting for" if timed_out else "busy:"
        super().__init__("lock %s %s held by %s" % (what, path, who))

    def result(self):
        """The module result keys for this busy lock (``busy_result``)."""
        return busy_result(self.path, self.holder_pid, "not run: %s (lock_wait is false)" % self)


def waited_result(seconds):
    """The ``lock_waited`` key every module that takes (or tries) a lock returns: seconds spent waiting, 3 decimals."""
    return {"lock_waited": round(max(seconds, 0.0), 3)}


def busy_result(lock_file, holder_pid, msg=None):
    """The one result of a run skipped because ``lock_file`` is held by ``holder_pid``.

    Without ``msg`` (an item of a run, which says why in its own words): only the
    ``skipped``, ``holder_pid`` and ``lock_file`` keys.
    """
    result = {"skipped": True, "holder_pid": holder_pid, "lock_file": lock_file}
    if msg is not None:
        result.update(changed=False, msg=msg)
    return result


def read_holder(path, fd=None):
    """Return the pid recorded in the lock file (read from ``fd`` when given, never through a link), or None."""
    try:
        if fd is not None:
            raw = os.pread(fd, 32, 0)
        else:
            own = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
            try:
                raw = os.pread(own, 32, 0)
            finally:
                os.close(own)
    except (IOError, OSError):
        return None
    text = raw.decode("ascii", "replace").strip()
    return int(text) if text.isdigit() else None


class RunLock:
    """An exclusive run lock; use as a context manager or acquire()/release().

    ``wait=False`` raises LockBusy at once when held elsewhere (gosync --nowait);
    ``wait=True`` polls until free, calling ``on_wait(holder_pid)`` every
    ``notice_interval`` seconds and raising LockBusy(timed_out=True) after ``timeout``.
    """

    def __init__(self, path, wait=True, timeout=None, on_wait=None, notice_interval=2.0, poll_interval=0.05):
        self.path, self.wait, self.timeout = path, wait, timeout
        self.on_wait, self.notice_interval, self.poll_interval = on_wait, notice_interval, poll_interval
        self._fd = None
        self.waited = 0.0

    def _try_lock(self, fd):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except (IOError, OSError) as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                return False
            raise

    def acquire(self):
        ensure_trusted_folder(os.path.dirname(os.path.abspath(self.path)), "lock folder")
        fd = open_private(self.path, os.O_RDWR | os.O_CREAT, 0o644, "lock file")
        started = time.monotonic()
        next_notice = started
        try:
            while not self._try_lock(fd):
                holder = read_holder(self.path, fd)
                now = time.monotonic()
                self.waited = now - started
                if not self.wait:
                    raise LockBusy(self.path, holder)
                if self.timeout is not None and now - started >= self.timeout:
                    raise LockBusy(self.path, holder, timed_out=True)
                if self.on_wait is not None and now >= next_notice:
                    self.on_wait(holder)
                    next_notice = now + self.notice_interval
                time.sleep(self.poll_interval)
        except BaseException:
            os.close(fd)
            raise
        self.waited = time.monotonic() - started
        os.ftruncate(fd, 0)
        os.write(fd, ("%d\n" % os.getpid()).encode("ascii"))
        os.fsync(fd)
        self._fd = fd
        return self

    def release(self):
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    @property
    def held(self):
        return self._fd is not None

    def result(self):
        """``waited_result`` of this lock (0 until it was tried)."""
        return waited_result(self.waited)

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc_info):
        self.release()


@contextlib.contextmanager
def module_lock(module, path, wait=True, timeout=None, result=None):
    """Run the body under the run lock ``path``; yields the RunLock (``lock.result()``: its ``lock_waited``).

    A busy lock exits the module: with ``wait`` false, ``module.exit_json`` with ``result``
    plus ``busy_result`` (skipped, holder_pid, lock_file, msg) and ``lock_waited``; after
    ``timeout`` seconds of waiting, ``module.fail_json`` with the same keys. In check mode, when the lock's folder
    does not exist yet (nothing ever ran here), nothing is created and the lock is not taken.
    """
    lock = RunLock(path, wait=wait, timeout=timeout)
    if module.check_mode and not os.path.isdir(os.path.dirname(path) or "."):
        yield lock
        return
    try:
        lock.acquire()
    except UnsafePathError as exc:
        module.fail_json(msg="refused the lock %s: %s" % (path, exc), **dict(result or {}, lock_file=path))
    except (IOError, OSError) as exc:
        module.fail_json(msg="cannot take the lock %s: %s" % (path, exc.strerror or exc), **dict(result or {}, lock_file=path))
    except LockBusy as exc:
        busy = dict(result or {}, **exc.result())
        busy.update(lock.result())
        if exc.timed_out:
            busy.update(msg=str(exc), skipped=False)
            module.fail_json(**busy)
        module.exit_json(**busy)
    try:
        yield lock
    finally:
        lock.release()
