# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection sync state file: the current and last task of each sync. Private to sciops.datasync: not a public API.

``{"syncs": {NAME: {"task_id", "submission_id", "submitted_at", "label", "last"}}}`` in
an atomic, versioned StateFile. ``task_id`` is the task this run watches (with the
submission id it was submitted under); ``last`` is the summary of the last ended task.
"""

from __future__ import annotations

from ansible_collections.sciops.datasync.plugins.module_utils._core.state import StateFile

STATE_SCHEMA = "sciops.datasync.collection_sync"
STATE_VERSION = 1

_SUBMISSION_KEYS = ("task_id", "submission_id", "submitted_at")


def sync_state_file(path):
    return StateFile(path, STATE_SCHEMA, STATE_VERSION)


def empty_state():
    return {"syncs": {}}


def recorded_entry(data, name):
    """The recorded entry of a sync (read only; {} when there is none)."""
    return data.get("syncs", {}).get(name, {})


def sync_entry(data, name):
    """The entry of a sync, created when missing (to be changed and saved)."""
    return data.setdefault("syncs", {}).setdefault(name, {})


def snapshot(data):
    """A copy of every entry, for the diff."""
    return {name: dict(entry) for name, entry in data.get("syncs", {}).items()}


def forget_submission(entry):
    """Drop the watched task and its submission id."""
    for key in _SUBMISSION_KEYS:
        entry.pop(key, None)


def record_ended(entry, task):
    """Keep ``task`` as the last outcome; it is no longer watched."""
    entry["last"] = task
    if entry.get("task_id") == task["task_id"]:
        forget_submission(entry)


def watched_or_last_task_id(entry):
    """The task id of the watched task, else of the last ended one (None if none)."""
    return entry.get("task_id") or (entry.get("last") or {}).get("task_id")
