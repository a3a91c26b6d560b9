# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The audit trail of a job: one JSON line per change, in a log and in the journal. Private to sciops.datasync.

The log is only ever appended to (``O_APPEND``), opened without following a link, and must be a
private file of the running user (``_core.state.open_private``) in a folder only it or root can
write. Each line is written with one ``write`` so lines of concurrent jobs never interleave.

The journal gets the same fields through systemd's native protocol (a datagram of ``NAME=value``
fields on ``/run/systemd/journal/socket``, a value holding a newline framed with its 64-bit
little-endian length); fields are ``DATASYNC_<NAME>`` plus ``MESSAGE``, ``PRIORITY`` and
``SYSLOG_IDENTIFIER`` (``datasync-audit``), so ``journalctl SYSLOG_IDENTIFIER=datasync-audit
DATASYNC_JOB=<job> -o json`` lists them.
"""

from __future__ import annotations

import json
import os
import socket
import struct

from ansible_collections.sciops.datasync.plugins.module_utils._core.state import ensure_trusted_folder, open_private

FIELDS = ("time", "job", "host", "action", "object", "upstream_id", "before", "after")
JOURNAL_SOCKET = "/run/systemd/journal/socket"
IDENTIFIER = "datasync-audit"


def lines(entries):
    """The log lines (bytes, one per entry, newline-terminated) of ``entries`` (dicts with FIELDS)."""
    return [(json.dumps({k: entry.get(k) for k in FIELDS}, sort_keys=False, separators=(",", ":"), default=str) + "\n").encode("utf-8")
            for entry in entries]


def append(path, entries, mode=0o640):
    """Append ``entries`` to the log at ``path``."""
    if not entries:
        return
    ensure_trusted_folder(os.path.dirname(os.path.abspath(path)), "audit log folder")
    fd = open_private(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, mode, "audit log")
    try:
        for line in lines(entries):
            os.write(fd, line)
    finally:
        os.close(fd)


def _field(name, value):
    name = name.encode("ascii")
    value = value.encode("utf-8") if isinstance(value, str) else value
    if b"\n" in value:
        return name + b"\n" + struct.pack("<Q", len(value)) + value + b"\n"
    return name + b"=" + value + b"\n"


def journal_datagram(entry):
    """The native-protocol datagram of one entry."""
    message = "datasync audit: %s %s %s" % (entry.get("job"), entry.get("action"), entry.get("object"))
    parts = [_field("MESSAGE", message), _field("PRIORITY", "6"), _field("SYSLOG_IDENTIFIER", IDENTIFIER)]
    for key in FIELDS:
        value = entry.get(key)
        if value is None:
            continue
        text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), default=str)
        parts.append(_field("DATASYNC_" + key.upper(), text))
    return b"".join(parts)


def to_journal(entries, path=JOURNAL_SOCKET):
    """Send ``entries`` to the journal; returns how many were sent (0 without a journal)."""
    if not entries or not os.path.exists(path):
        return 0
    sent = 0
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        for entry in entries:
            try:
                sock.sendto(journal_datagram(entry), path)
                sent += 1
            except OSError:
                break
    return sent
