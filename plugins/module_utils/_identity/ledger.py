# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Identity sync: the id ledger and the hook journal next to the state. Private to sciops.datasync: not a public API.

``IdLedger`` (``identity_sync.ids``) is an append-only list of every uid and gid ever handed out,
written (and fsynced) before the state that allocates them: with the state file lost, an id in
the ledger is still never reissued (userdel removes the passwd entry, the ledger keeps the id).

``HookJournal`` (``identity_sync.hooks-done``) records each finished hook run at once (one short
append, no state rewrite per hook); the next state save folds it in and the journal is removed.

Both files are opened without following links and must be regular files owned by the running
user, not writable by group or others, in a folder others cannot write.
"""

from __future__ import annotations

import json
import os
import re
import stat

# A name or key already safe as one ledger word: printable ASCII, no space.
_PLAIN = re.compile(r"[!-~]+")


class LedgerError(Exception):
    """A ledger or journal file that cannot be trusted."""


def _check_folder(folder):
    info = os.lstat(folder)
    if not stat.S_ISDIR(info.st_mode):
        raise LedgerError("%s is not a folder (a link is never followed)" % folder)
    if info.st_mode & stat.S_IWOTH and not info.st_mode & stat.S_ISVTX:
        raise LedgerError("folder %s is writable by others" % folder)
    if info.st_uid not in (0, os.geteuid()):
        raise LedgerError("folder %s is owned by uid %d, not by root or the running user" % (folder, info.st_uid))


def open_private(path, flags, mode=0o600):
    """Open ``path`` without following a link; it must be a regular file of ours, not group/other writable."""
    folder = os.path.dirname(os.path.abspath(path))
    if flags & os.O_CREAT and not os.path.isdir(folder):
        os.makedirs(folder, 0o755)
    _check_folder(folder)
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0), mode)
    except OSError as exc:
        if os.path.islink(path):
            raise LedgerError("%s is a symbolic link; it is never followed" % path) from exc
        raise
    info = os.fstat(fd)
    problem = None
    if not stat.S_ISREG(info.st_mode):
        problem = "%s is not a regular file" % path
    elif info.st_uid != os.geteuid():
        problem = "%s is owned by uid %d, not by the running user (uid %d)" % (path, info.st_uid, os.geteuid())
    elif info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        problem = "%s is writable by group or others (mode %04o)" % (path, stat.S_IMODE(info.st_mode))
    if problem:
        os.close(fd)
        raise LedgerError(problem)
    return fd


def _read_lines(path):
    try:
        fd = open_private(path, os.O_RDONLY)
    except FileNotFoundError:
        return []
    with os.fdopen(fd, "rb") as handle:
        return handle.read().decode("utf-8", "replace").splitlines()


def _append(path, text, durable):
    fd = open_private(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        payload = text.encode("utf-8")
        while payload:
            payload = payload[os.write(fd, payload):]
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)


class IdLedger:
    """Every uid and gid ever handed out: ``uid N name identity`` / ``gid N name group`` lines, append only."""

    def __init__(self, path):
        self.path = path

    def read(self):
        """(uids, gids) recorded; unreadable lines are ignored."""
        uids, gids = set(), set()
        for line in _read_lines(self.path):
            fields = line.split()
            if len(fields) >= 2 and fields[0] in ("uid", "gid") and fields[1].isdigit():
                (uids if fields[0] == "uid" else gids).add(int(fields[1]))
        return uids, gids

    def record(self, entries):
        """Append ``(kind, id, name, key)`` entries and fsync, before the state that hands them out is saved."""
        lines = ["%s %d %s %s\n" % (kind, number, _word(name), _word(key)) for kind, number, name, key in entries]
        if lines:
            _append(self.path, "".join(lines), durable=True)


def _word(value):
    if isinstance(value, str) and _PLAIN.fullmatch(value):
        return value
    text = "".join(ch if ch.isascii() and ch.isprintable() and not ch.isspace() else "?" for ch in str(value or "-"))
    return text or "-"


class HookJournal:
    """Hook runs finished since the state was last saved: one JSON line each, ``{"k": kind, "id": key, "c": change}``."""

    def __init__(self, path):
        self.path = path

    def done(self):
        """{(kind, key, change)} recorded; a line cut short by a kill is ignored."""
        out = set()
        for line in _read_lines(self.path):
            try:
                entry = json.loads(line)
                out.add((entry["k"], entry["id"], entry["c"]))
            except (ValueError, KeyError, TypeError):
                continue
        return out

    def record(self, kind, key, change):
        # One write; no fsync: it only has to survive the death of this process, not of the host.
        _append(self.path, json.dumps({"k": kind, "id": key, "c": change}, sort_keys=True) + "\n", durable=False)

    def clear(self):
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
