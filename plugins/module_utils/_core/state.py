# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Atomic, versioned JSON state files. Private to sciops.datasync: not a public API.

A state file is ``{"schema": NAME, "version": N, "data": {...}}``. It is written to
a temp file in the same folder, fsynced, renamed over the old one and the folder is
fsynced, so a run killed at any point leaves the old or the new content.

Nothing here follows a link someone else could plant (STYLE.md, privilege and paths):

- ``trusted_folder_problem``: the folder of a state or lock file, and every folder above
  it, must be owned by the running user or root and not writable by group or others
  unless sticky (as /tmp); a folder another user could write, or a link on the way that
  another user planted in a sticky folder, is refused, naming it.
- ``open_private``: opens with ``O_NOFOLLOW`` (a symlink is refused, naming the path) and
  checks the descriptor (``fstat``): a regular file with one link, owned by the running user,
  not writable by group or others.
- the atomic write's temp file is created with ``O_CREAT | O_EXCL | O_NOFOLLOW`` in the
  same folder, mode 0600 until it is complete.

All refusals raise ``UnsafePathError`` (a StateError and an OSError, so callers that
catch either report it).
"""

from __future__ import annotations

import copy
import errno
import json
import os
import secrets
import stat

from ansible_collections.sciops.datasync.plugins.module_utils._core.paths import UnsafePath, open_below

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)


class StateError(Exception):
    """A state file that cannot be used as it is."""


class UnsafePathError(StateError, OSError):
    """A state or lock path someone else could redirect or has planted; the message names it."""

    def __init__(self, message):
        StateError.__init__(self, message)
        self.strerror = message

    def __str__(self):
        return self.strerror


def _folder_problem(path, info, uid, what):
    if not stat.S_ISDIR(info.st_mode):
        return "%s %s is not a folder" % (what, path)
    if info.st_uid not in (uid, 0):
        return "%s %s is owned by uid %d, not by the running user (uid %d) or root; refused" % (what, path, info.st_uid, uid)
    if info.st_mode & 0o022 and not info.st_mode & stat.S_ISVTX:
        return "%s %s is writable by group or others (mode %04o, not sticky); refused" % (what, path, stat.S_IMODE(info.st_mode))
    return None


def trusted_folder_problem(directory, what="state folder"):
    """Why ``directory`` (and each folder above it) may not hold a state or lock file, or None.

    The path is walked from ``/`` one component at a time, as the kernel resolves it: every
    folder on the way (those a link leads through included) must be owned by the running user
    or root, and not writable by group or others unless sticky; a link found in a folder others
    can write (sticky, as /tmp) must be the running user's or root's, or its owner could
    re-point it at any time.
    """
    uid = os.geteuid()
    # Not abspath: it folds "link/.." away by name, where the kernel goes to the link target's parent.
    absolute = directory if os.path.isabs(directory) else os.path.join(os.getcwd(), directory)
    pending = [part for part in absolute.split("/") if part][::-1]
    current, links = "/", 0
    while True:
        try:
            info = os.lstat(current)
        except OSError as exc:
            return "%s %s cannot be checked: %s" % (what, current, exc.strerror or exc)
        problem = _folder_problem(current, info, uid, what if not pending else "%s parent" % what)
        if problem:
            return problem
        while pending and pending[-1] in (".", ".."):
            current = os.path.dirname(current) if pending.pop() == ".." else current
        if not pending:
            return None
        path = os.path.join(current, pending.pop())
        try:
            link = os.lstat(path)
        except OSError as exc:
            return "%s %s cannot be checked: %s" % (what, path, exc.strerror or exc)
        if not stat.S_ISLNK(link.st_mode):
            current = path
            continue
        links += 1
        if links > 40:
            return "%s %s: too many levels of symbolic links" % (what, directory)
        if info.st_mode & 0o022 and link.st_uid not in (uid, 0):
            return "%s %s is a link owned by uid %d in a folder others can write; refused" % (
                what if not pending else "%s parent" % what, path, link.st_uid)
        target = os.readlink(path)
        pending.extend(part for part in target.split("/")[::-1] if part)
        if target.startswith("/"):
            current = "/"


def deepest_existing_folder(directory):
    """``directory`` or its nearest parent that is a folder."""
    while not os.path.isdir(directory) and os.path.dirname(directory) != directory:
        directory = os.path.dirname(directory)
    return directory


def ensure_trusted_folder(directory, what="state folder"):
    """Create ``directory`` (0755) below a trusted existing folder and check it; raises UnsafePathError.

    The deepest existing folder is checked first (``trusted_folder_problem``); the missing
    folders below it are made with ``_core.paths.open_below`` (``mkdirat`` and ``openat`` with
    ``O_NOFOLLOW``), so a link or file found on the way, planted before or after the check,
    is refused naming it and nothing is created through it.
    """
    directory = os.path.abspath(directory)
    existing = deepest_existing_folder(directory)
    problem = trusted_folder_problem(existing, what)
    if problem:
        raise UnsafePathError(problem)
    if existing != directory:
        try:
            fd, _created = open_below(existing, os.path.relpath(directory, existing), create=True, mode=0o755)
        except UnsafePath as exc:
            raise UnsafePathError("%s %s" % (what, exc))
        os.close(fd)
        problem = trusted_folder_problem(directory, what)
        if problem:
            raise UnsafePathError(problem)


def file_problem(info, path, what):
    """Why the open file ``info`` (an fstat) at ``path`` is not a private file of the running user, or None."""
    if not stat.S_ISREG(info.st_mode):
        return "%s %s is not a regular file; refused" % (what, path)
    if info.st_uid != os.geteuid():
        return "%s %s is owned by uid %d, not by the running user (uid %d); refused" % (what, path, info.st_uid, os.geteuid())
    if info.st_nlink != 1:
        return "%s %s has %d hard links; refused" % (what, path, info.st_nlink)
    if info.st_mode & 0o022:
        return "%s %s is writable by group or others (mode %04o); refused" % (what, path, stat.S_IMODE(info.st_mode))
    return None


def open_private(path, flags, mode=0o600, what="state file"):
    """``os.open(path)`` without following a link, checked with ``file_problem``; raises UnsafePathError.

    ``FileNotFoundError`` passes through (the caller decides what an absent file means).
    """
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | _CLOEXEC | _NONBLOCK, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP or (exc.errno != errno.ENOENT and os.path.islink(path)):
            raise UnsafePathError("%s %s is a symlink; refused (it is never followed)" % (what, path))
        raise
    try:
        problem = file_problem(os.fstat(fd), path, what)
        if problem:
            raise UnsafePathError(problem)
        if _NONBLOCK:
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def atomic_write_bytes(path, payload, mode=0o600, what="state file"):
    """Write ``payload`` to ``path`` atomically with the given file mode (the checks of the module docstring)."""
    directory = os.path.dirname(os.path.abspath(path))
    ensure_trusted_folder(directory, "state folder")
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        info = None
    if info is not None:
        if stat.S_ISLNK(info.st_mode):
            raise UnsafePathError("%s %s is a symlink; refused (it is never followed)" % (what, path))
        problem = file_problem(info, path, what)
        if problem:
            raise UnsafePathError(problem)
    while True:
        tmp_path = os.path.join(directory, ".%s.%s.tmp" % (os.path.basename(path), secrets.token_hex(6)))
        try:
            fd = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | _CLOEXEC, 0o600)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        try:
            os.unlink(tmp_path)
        except OSError:
            pass
        raise
    dir_fd = os.open(directory, os.O_RDONLY | _DIRECTORY | _CLOEXEC)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def atomic_write_json(path, document, mode=0o600, what="state file"):
    payload = json.dumps(document, indent=1, sort_keys=True).encode("utf-8") + b"\n"
    atomic_write_bytes(path, payload, mode, what)


class StateFile:
    """One schema-versioned JSON state file.

    ``upgrade(data, from_version)`` may be given to migrate documents written by an
    older version; a document from a newer version is refused with StateError.
    """

    def __init__(self, path, schema, version=1, upgrade=None, mode=0o600):
        self.path = path
        self.schema = schema
        self.version = version
        self.upgrade = upgrade
        self.mode = mode

    def exists(self):
        return os.path.lexists(self.path)

    def check_folder(self):
        """Refuse (UnsafePathError) a folder that could not hold this file safely, before any work
        that the first save would record; the deepest existing folder is checked when it is missing."""
        problem = trusted_folder_problem(deepest_existing_folder(os.path.dirname(os.path.abspath(self.path))))
        if problem:
            raise UnsafePathError(problem)

    def _read(self):
        """The file's bytes, opened with ``open_private`` after checking its folder; None when absent."""
        directory = os.path.dirname(os.path.abspath(self.path))
        problem = trusted_folder_problem(directory) if os.path.isdir(directory) else None
        if problem:
            raise UnsafePathError(problem)
        try:
            fd = open_private(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        with os.fdopen(fd, "rb") as handle:
            return handle.read()

    def load(self, default=None):
        raw = self._read()
        if raw is None:
            return copy.deepcopy(default) if default is not None else {}
        try:
            document = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise StateError("state file %s is not valid JSON: %s" % (self.path, exc))
        if not isinstance(document, dict) or document.get("schema") != self.schema or "data" not in document:
            raise StateError("state file %s is not a %s state file" % (self.path, self.schema))
        version = document.get("version")
        if not isinstance(version, int) or version < 1:
            raise StateError("state file %s has no valid schema version" % self.path)
        if version > self.version:
            raise StateError(
                "state file %s was written by a newer version (schema %s version %d; this collection reads up to %d)"
                % (self.path, self.schema, version, self.version)
            )
        data = document["data"]
        if version < self.version:
            if self.upgrade is None:
                raise StateError("state file %s has version %d and no upgrade to %d" % (self.path, version, self.version))
            data = self.upgrade(data, version)
        return data

    def save(self, data):
        atomic_write_json(self.path, {"schema": self.schema, "version": self.version, "data": data}, self.mode)
