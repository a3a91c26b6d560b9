# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Progress lines for long runs, in the job log. Private to sciops.datasync: not a public API.

A module's output reaches the job log only when the module ends, so a long run (a first
identity import, a large pool mirror, a collection sync waiting on its Globus task) writes
its own progress lines straight into the log the ``datasync-job`` wrapper appends to: the
wrapper exports the log's path as ``DATASYNC_JOB_LOG``, the module's ``progress_log`` option
(doc fragment ``sciops.datasync.progress``) falls back to it. One line every
``progress_interval`` seconds, and one when the run ends::

    2026-11-30T01:50:00Z progress pool pacs1: 1200 of 4000 files, 1.5 GiB, 12.3 MiB/s, 125 s

The log is opened as state files are (``_core.state``): without following a link, a regular
file of the running user in a trusted folder, never created here. A log that cannot be used
turns progress off with the reason in ``Progress.problem``; the run itself goes on.
"""

from __future__ import annotations

import os
import time

from ansible.module_utils.basic import env_fallback

from ansible_collections.sciops.datasync.plugins.module_utils._core.state import UnsafePathError, open_private, trusted_folder_problem

LOG_ENV = "DATASYNC_JOB_LOG"
INTERVAL_ENV = "DATASYNC_PROGRESS_INTERVAL"
DEFAULT_INTERVAL = 30.0
_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def progress_argument_spec():
    """The progress options every long-running module takes (doc fragment sciops.datasync.progress)."""
    return dict(
        progress_log=dict(type="path", fallback=(env_fallback, [LOG_ENV])),
        progress_interval=dict(type="float", default=DEFAULT_INTERVAL, fallback=(env_fallback, [INTERVAL_ENV])),
    )


def size_text(count):
    """``count`` bytes in binary units, one decimal (``1.5 GiB``; plain bytes below 1 KiB)."""
    value = float(count)
    for unit in _UNITS:
        if value < 1024 or unit == _UNITS[-1]:
            return "%d B" % count if unit == "B" else "%.1f %s" % (value, unit)
        value /= 1024
    return "%d B" % count  # not reached


class JobLog:
    """Appends lines to the job log at ``path`` (opened once, checked, never followed or created)."""

    def __init__(self, path):
        self.path = path
        self._fd = None

    def open(self):
        """Open the log; raises UnsafePathError (or OSError) when it cannot be used."""
        problem = trusted_folder_problem(os.path.dirname(os.path.abspath(self.path)), "job log folder")
        if problem:
            raise UnsafePathError(problem)
        self._fd = open_private(self.path, os.O_WRONLY | os.O_APPEND, 0o640, "job log")
        return self

    def __call__(self, line):
        os.write(self._fd, (line + "\n").encode("utf-8", "backslashreplace"))

    def close(self):
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class Progress:
    """Counts one run's items and bytes and writes a line through ``sink`` at most every ``interval`` s.

    ``sink(line)`` writes one line (None: progress is off and nothing is counted aloud);
    ``clock`` is monotonic seconds and ``wall`` epoch seconds (fakes in tests). The label
    names the run (``pool pacs1``, ``collection sync nightly``); ``unit`` its items.
    """

    def __init__(self, label, sink, interval=DEFAULT_INTERVAL, unit="items", clock=time.monotonic, wall=time.time):
        self.label, self.sink, self.unit = label, sink, unit
        self.interval = max(float(interval), 0.0)
        self.clock, self.wall = clock, wall
        self.started = self.last = clock()
        self.done = 0
        self.total = None
        self.bytes = None
        self.lines = 0
        self.problem = None

    def update(self, done=None, total=None, nbytes=None):
        """Set the counts seen so far (absolute values); writes a line when the interval has passed."""
        if done is not None:
            self.done = done
        if total is not None:
            self.total = total
        if nbytes is not None:
            self.bytes = nbytes
        self.tick()

    def advance(self, items=1, nbytes=0):
        """Count ``items`` more done and ``nbytes`` more transferred."""
        self.done += items
        if nbytes:
            self.bytes = (self.bytes or 0) + nbytes
        self.tick()

    def tick(self):
        """Write a line when ``interval`` seconds passed since the last one (or the start)."""
        now = self.clock()
        if now - self.last >= self.interval:
            self.emit(now)

    def finish(self, outcome="finished", done=None, total=None, nbytes=None):
        """The closing line (always written when progress is on), with the final counts when given."""
        for name, value in (("done", done), ("total", total), ("bytes", nbytes)):
            if value is not None:
                setattr(self, name, value)
        self.emit(self.clock(), outcome)

    def text(self, now, outcome=None):
        elapsed = max(now - self.started, 0.0)
        parts = ["%d of %d %s" % (self.done, self.total, self.unit) if self.total is not None else "%d %s" % (self.done, self.unit)]
        if self.bytes is not None:
            parts.append(size_text(self.bytes))
            parts.append("%s/s" % size_text(int(self.bytes / elapsed)) if elapsed > 0 else "- B/s")
        else:
            parts.append("%.1f %s/s" % (self.done / elapsed, self.unit) if elapsed > 0 else "- %s/s" % self.unit)
        parts.append("%d s" % elapsed)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.wall()))
        return "%s progress %s: %s%s" % (stamp, self.label, ", ".join(parts), ": %s" % outcome if outcome else "")

    def emit(self, now, outcome=None):
        self.last = now
        if self.sink is None:
            return
        try:
            self.sink(self.text(now, outcome))
            self.lines += 1
        except OSError as exc:
            self.problem = "progress lines stopped: %s" % (exc.strerror or exc)
            self.sink = None


def module_progress(params, label, unit="items", clock=time.monotonic, wall=time.time):
    """``(Progress, JobLog or None)`` for a module's ``progress_log`` / ``progress_interval`` params.

    Without a log the Progress counts silently. A log that cannot be used (a link, another
    user's file, a folder others can write) leaves ``Progress.problem`` set for a warning.
    The caller closes the JobLog.
    """
    path = params.get("progress_log")
    interval = params.get("progress_interval")
    interval = DEFAULT_INTERVAL if interval is None else interval
    log, problem = None, None
    if path:
        try:
            log = JobLog(path).open()
        except OSError as exc:
            log, problem = None, "no progress lines in %s: %s" % (path, exc.strerror or exc)
    progress = Progress(label, log, interval, unit, clock, wall)
    progress.problem = problem
    return progress, log
