# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Atomic, versioned JSON state files. Private to sciops.datasync: not a public API.

A state file is ``{"schema": NAME, "version": N, "data": {...}}``. It is written to
a temp file in the same folder, fsynced, renamed over the old one and the folder is
fsynced, so a run killed at any point leaves the old or the new content.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile


class StateError(Exception):
    """A state file that cannot be used as it is."""


def atomic_write_bytes(path, payload, mode=0o600):
    """Write ``payload`` to ``path`` atomically with the given file mode."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, 0o755, exist_ok=True)
    fd, tmp_path = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        if os.path.exists(tmp_path):
            os.unlink(tmp_path)
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def atomic_write_json(path, document, mode=0o600):
    payload = json.dumps(document, indent=1, sort_keys=True).encode("utf-8") + b"\n"
    atomic_write_bytes(path, payload, mode)


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
        return os.path.exists(self.path)

    def load(self, default=None):
        if not os.path.exists(self.path):
            return copy.deepcopy(default) if default is not None else {}
        try:
            with open(self.path, "rb") as handle:
                document = json.loads(handle.read().decode("utf-8"))
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
