# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pre-flight checks on the host itself: secret files and destination folders. Private to sciops.datasync.

Secret files are judged by the one secret reader (``_core.secrets``) as the job will read
them: run the check as the job's account. A destination is a folder the job's account can
write into, on a file system with at least ``min_free`` bytes available to it.
"""

from __future__ import annotations

import os
import pwd
import stat

from ansible_collections.sciops.datasync.plugins.module_utils._core.secrets import secret_file_problem
from ansible_collections.sciops.datasync.plugins.module_utils._preflight.rows import failed, ok

SECRET = "credential file"
DESTINATION = "destination folder"


def running_user():
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return "uid %d" % os.geteuid()


def check_secret_file(path, what):
    """A row for one secret file: present, a regular file, 0600 or 0400, owned by the running user or root."""
    label = "%s %s" % (what, path) if what else path
    problem = secret_file_problem(path, what or "secret file")
    if problem:
        return failed(SECRET, label, problem,
                      "install %s as a regular file (not a symlink) owned by %s with mode 0600 or 0400, "
                      "readable by the job's account" % (path, running_user()))
    info = os.stat(path, follow_symlinks=False)
    return ok(SECRET, label, "readable by %s, mode %04o, owner uid %d" % (running_user(), stat.S_IMODE(info.st_mode), info.st_uid))


def human(size):
    """Bytes as '12.3 GiB'."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return ("%d %s" % (value, unit)) if unit == "B" else ("%.1f %s" % (value, unit))
        value /= 1024
    return "%d B" % size  # pragma: no cover - the loop always returns


def nearest_existing(path):
    """``path`` or its nearest existing parent."""
    current = os.path.abspath(path)
    while not os.path.lexists(current) and current != os.path.dirname(current):
        current = os.path.dirname(current)
    return current


def check_destination(path, min_free):
    """A row for one destination folder: a directory the running user can write, with ``min_free`` bytes free.

    A folder that does not exist yet passes when the job could make it: its nearest existing
    parent is a folder the running user can write (the experiment makes its top folder itself).
    """
    folder = nearest_existing(path)
    missing = folder != os.path.abspath(path)
    try:
        info = os.stat(folder)
    except OSError as exc:
        return failed(DESTINATION, path, "%s cannot be used: %s" % (folder, exc.strerror),
                      "create %s for the job's account %s" % (path, running_user()))
    if not stat.S_ISDIR(info.st_mode):
        return failed(DESTINATION, path, "%s is not a directory" % folder, "replace %s with a directory" % folder)
    if not os.access(folder, os.W_OK | os.X_OK):
        what = "%s does not exist and its parent %s" % (path, folder) if missing else folder
        return failed(DESTINATION, path, "%s is not writable by %s (owner uid %d, mode %04o)" % (
            what, running_user(), info.st_uid, stat.S_IMODE(info.st_mode)),
            "create %s for %s, or give it write access to %s" % (path, running_user(), folder))
    fs = os.statvfs(folder)
    free = fs.f_bavail * fs.f_frsize
    if free < min_free:
        return failed(DESTINATION, path, "only %s free on the file system of %s, below the threshold %s" % (
            human(free), path, human(min_free)),
            "free space on the file system of %s or lower the threshold (min_free)" % path)
    where = "does not exist yet, %s can make it in %s" % (running_user(), folder) if missing else "writable by %s" % running_user()
    return ok(DESTINATION, path, "%s, %s free (threshold %s)" % (where, human(free), human(min_free)))
