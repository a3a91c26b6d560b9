# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Destination folders walked without following links. Private to sciops.datasync: not a public API.

A destination below a configured root (``<destination_root>/<project>/<epn>/data``, a
pool mirror's ``dest`` below its ``dest_root``) may sit in folders other users can
write: a project member can plant a symlink at any level. ``open_below(root, relative)``
opens the root (trusted: it is configuration, and it is followed), then each component
relative to its parent's descriptor with ``O_NOFOLLOW | O_DIRECTORY`` (``openat``),
creating a missing one with ``mkdirat`` when asked, as systemd's ``chase()`` does. A
component that is a link, or not a folder, raises ``UnsafePath`` naming it; nothing
below it is touched. The caller keeps the returned descriptor and runs the copy inside
it (``fd_path``: ``/proc/self/fd/N`` as a child's working folder, resolved by the kernel
to the folder already checked, whatever is renamed or planted at its path afterwards).
"""

from __future__ import annotations

import errno
import os
import stat

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_NOFOLLOW = os.O_NOFOLLOW


class UnsafePath(Exception):
    """A destination component is a link or not a folder (or the path tries to leave its root)."""

    def __init__(self, path, reason):
        Exception.__init__(self, "%s %s; refused: nothing is written through it" % (path, reason))
        self.path = path
        self.reason = reason


def split_relative(relative):
    """The components of a relative path, refusing ``..`` (``.`` and empty parts are dropped)."""
    parts = []
    for part in (relative or "").split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            raise UnsafePath(relative, "contains '..'")
        parts.append(part)
    return parts


def describe(name, dir_fd):
    """What ``name`` (in the folder ``dir_fd``) is, when it is not a plain folder: ``is a symbolic link (-> target)``, ..."""
    try:
        info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError as exc:
        return "cannot be examined (%s)" % exc.strerror
    if stat.S_ISLNK(info.st_mode):
        try:
            target = os.readlink(name, dir_fd=dir_fd)
        except OSError:
            target = "?"
        return "is a symbolic link (-> %s)" % target
    if stat.S_ISDIR(info.st_mode):
        return "is a folder that cannot be opened"
    return "is not a folder"


def _open_child(fd, name, path, create, mode, created):
    """Open the folder ``name`` in ``fd`` without following it (creating it when asked); None when missing."""
    for _attempt in range(3):
        try:
            return os.open(name, _DIR_FLAGS | _NOFOLLOW, dir_fd=fd)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                if not create:
                    return None
                try:
                    os.mkdir(name, mode, dir_fd=fd)
                    created.append(path)
                except FileExistsError:
                    pass  # made (or planted) meanwhile: open it, or refuse what is there
                continue
            if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                raise UnsafePath(path, describe(name, fd))
            raise
    raise UnsafePath(path, "keeps changing while it is opened")


def open_below(root, relative, create=False, mode=0o777):
    """``(fd, created)``: the folder ``root/relative`` opened with no link followed below ``root``.

    ``root`` itself is opened following links (it is configuration). With ``create``,
    missing components are made (``mode`` minus the umask) and listed in ``created``
    (full paths, outermost first). Without it a missing component gives ``(None, [])``.
    Raises ``UnsafePath`` for a link or a non-folder below the root, ``OSError`` when
    the root cannot be opened. The caller closes ``fd``.
    """
    parts = split_relative(relative)
    fd = os.open(root, _DIR_FLAGS)
    created = []
    path = root.rstrip("/") or "/"
    try:
        for name in parts:
            path = os.path.join(path, name)
            child = _open_child(fd, name, path, create, mode, created)
            os.close(fd)
            fd = child
            if fd is None:
                return None, created
        result, fd = fd, None
        return result, created
    finally:
        if fd is not None:
            os.close(fd)


def check_below(root, relative):
    """Why ``root/relative`` cannot be used as a destination (a link or a non-folder below ``root``), or None.

    A missing part is fine (it would be created); nothing is created.
    """
    try:
        fd, _created = open_below(root, relative, create=False)
    except UnsafePath as exc:
        return str(exc)
    except OSError as exc:
        return "%s: %s" % (root, exc.strerror)
    if fd is not None:
        os.close(fd)
    return None


def fd_path(fd):
    """The path a child process started from this one resolves to the folder ``fd`` (Linux /proc)."""
    return "/proc/self/fd/%d" % fd
