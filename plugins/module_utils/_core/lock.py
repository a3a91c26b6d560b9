# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run lock for long jobs. Private to sciops.datasync: not a public API.

The lock is an ``fcntl.flock`` on a file that also records the holder's pid for
messages. The kernel drops a flock when its holder dies, so a killed run (even
SIGKILL) never leaves a stale lock; the pid written inside is only informative.
The file is never unlinked: removing it would let two processes lock two inodes.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time


class LockBusy(Exception):
    """The lock is held by another process and we were told not to wait (or gave up)."""

    def __init__(self, path, holder_pid, timed_out=False):
        self.path = path
        self.holder_pid = holder_pid
        self.timed_out = timed_out
        who = "pid %s" % holder_pid if holder_pid else "another process"
        what = "timed out waiting for" if timed_out else "busy:"
        super(LockBusy, self).__init__("lock %s %s held by %s" % (what, path, who))


def read_holder(path):
    """Return the pid recorded in the lock file, or None when unknown."""
    try:
        with open(path, "r") as handle:
            text = handle.read(32).strip()
    except (IOError, OSError):
        return None
    return int(text) if text.isdigit() else None


class RunLock(object):
    """An exclusive run lock; use as a context manager or acquire()/release().

    ``wait=False`` raises LockBusy at once when held elsewhere (gosync --nowait);
    ``wait=True`` polls until free, calling ``on_wait(holder_pid)`` every
    ``notice_interval`` seconds and raising LockBusy(timed_out=True) after ``timeout``.
    """

    def __init__(self, path, wait=True, timeout=None, on_wait=None, notice_interval=2.0, poll_interval=0.05):
        self.path = path
        self.wait = wait
        self.timeout = timeout
        self.on_wait = on_wait
        self.notice_interval = notice_interval
        self.poll_interval = poll_interval
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
        directory = os.path.dirname(self.path)
        if directory:
            os.makedirs(directory, 0o755, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        started = time.monotonic()
        next_notice = started
        try:
            while not self._try_lock(fd):
                holder = read_holder(self.path)
                now = time.monotonic()
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

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc_info):
        self.release()
