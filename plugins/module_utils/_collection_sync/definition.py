# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Collection sync definitions: options, validation, the Transfer request. Private to sciops.datasync: not a public API.

A sync is a named source collection + path and destination collection + path with
Transfer options; ``resolve_syncs`` applies the module-level defaults and refuses bad
syncs by name, ``transfer_document`` is the Transfer body one sync task is submitted with.
"""

from __future__ import annotations

import re

from ansible_collections.sciops.datasync.plugins.module_utils._core.names import is_uuid
from ansible_collections.sciops.datasync.plugins.module_utils._core.results import error
from ansible_collections.sciops.datasync.plugins.module_utils._globus.folders import normalize_dir, path_problem
from ansible_collections.sciops.datasync.plugins.module_utils._collection_sync.deadline import DEFAULT_TIME_LIMIT, parse_time_limit

SYNC_LEVELS = {"exists": 0, "size": 1, "mtime": 2, "checksum": 3}

SYNC_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
LABEL_MAX = 128

SYNC_DEFAULTS = {
    "sync_level": "checksum",
    "time_limit": DEFAULT_TIME_LIMIT,
    "verify_checksum": True,
    "preserve_timestamp": True,
    "encrypt": False,
    "skip_source_errors": False,
}


class SyncError(Exception):
    """A problem with one sync; the module reports it under ``errors`` and goes on."""


def default_label(name):
    return "Syncing data for %s" % name


def label_problem(label):
    """Why Transfer would refuse ``label`` (None when it accepts it): at most 128 characters,
    no carriage return or newline, no leading or trailing whitespace."""
    if not isinstance(label, str) or not label:
        return "a label must be a non-empty string"
    if len(label) > LABEL_MAX:
        return "Transfer refuses labels longer than %d characters (this one has %d)" % (LABEL_MAX, len(label))
    if "\r" in label or "\n" in label:
        return "Transfer refuses labels with a carriage return or a newline"
    if label != label.strip():
        return "Transfer refuses labels that start or end with whitespace"
    return None


def resolve_filters(value, name):
    """Filter rules from ``filters`` entries ``{include: pattern}`` / ``{exclude: pattern}`` (``type``: file, the default as
    globus-cli's --include/--exclude, or dir), in order: the first rule matching a name decides, no match = included."""
    rules = []
    for entry in value or []:
        if not isinstance(entry, dict):
            raise SyncError("sync %s: filter %r must be {include: PATTERN} or {exclude: PATTERN}" % (name, entry))
        methods = [key for key in ("include", "exclude") if entry.get(key) is not None]
        unknown = sorted(set(entry) - {"include", "exclude", "type"})
        if len(methods) != 1 or unknown:
            raise SyncError("sync %s: filter %r must have exactly one of include or exclude (and optionally type)" % (name, entry))
        pattern = entry[methods[0]]
        if not isinstance(pattern, str) or not pattern or re.search(r"[\x00-\x1f/]", pattern):
            raise SyncError("sync %s: filter pattern %r must be a non-empty name pattern without '/' or control characters" % (name, pattern))
        kind = entry.get("type") or "file"
        if kind not in ("file", "dir"):
            raise SyncError("sync %s: filter type %r is not file or dir" % (name, kind))
        rules.append({"method": methods[0], "name": pattern, "type": kind})
    return rules


def resolve_sync(raw, defaults):
    """One sync's options with module-level defaults applied; raises SyncError naming it."""
    name = raw.get("name")
    if not isinstance(name, str) or not SYNC_NAME.match(name):
        raise SyncError("sync name %r is refused: use letters, digits, '.', '_' and '-' (up to 100, not starting with a symbol)" % (name,))
    sync = {"name": name}
    for key, fallback in SYNC_DEFAULTS.items():
        value = raw.get(key)
        if value is None:
            value = defaults.get(key)
        sync[key] = fallback if value is None else value
    for key in ("source_collection", "destination_collection"):
        value = raw.get(key)
        if not is_uuid(value):
            raise SyncError("sync %s: %s %r is not a collection id (UUID)" % (name, key, value))
        sync[key] = value.lower()
    source_path = raw.get("source_path") or "/"
    destination_path = raw.get("destination_path") or source_path
    for key, value in (("source_path", source_path), ("destination_path", destination_path)):
        problem = path_problem(value, key)
        if problem:
            raise SyncError("sync %s: %s" % (name, problem))
    sync["source_path"] = normalize_dir(source_path)
    sync["destination_path"] = normalize_dir(destination_path)
    if sync["source_collection"] == sync["destination_collection"] and (
        sync["destination_path"].startswith(sync["source_path"]) or sync["source_path"].startswith(sync["destination_path"])
    ):
        raise SyncError("sync %s: source and destination overlap on collection %s" % (name, sync["source_collection"]))
    if sync["sync_level"] not in SYNC_LEVELS:
        raise SyncError("sync %s: sync_level %r is not one of %s" % (name, sync["sync_level"], ", ".join(SYNC_LEVELS)))
    try:
        sync["time_limit_seconds"] = parse_time_limit(sync["time_limit"])
    except ValueError as exc:
        raise SyncError("sync %s: %s" % (name, exc))
    label = raw.get("label") or default_label(name)
    problem = label_problem(label)
    if problem:
        raise SyncError("sync %s: label %r is refused: %s" % (name, label, problem))
    sync["label"] = label
    sync["filter_rules"] = resolve_filters(raw.get("filters") if raw.get("filters") is not None else defaults.get("filters"), name)
    return sync


def resolve_syncs(params):
    """Resolved syncs and the errors of the refused ones (``_core.results`` entries, by sync name)."""
    defaults = {key: params.get(key) for key in SYNC_DEFAULTS}
    defaults["filters"] = params.get("filters")
    only = params.get("only") or []
    resolved = []
    errors = []
    names = set()
    labels = set()
    for raw in params["syncs"]:
        if only and raw.get("name") not in only:
            continue
        try:
            sync = resolve_sync(raw, defaults)
        except SyncError as exc:
            errors.append(error(raw.get("name"), str(exc)))
            continue
        if sync["name"] in names:
            errors.append(error(sync["name"], "sync %s: the name is used by two syncs" % sync["name"]))
            continue
        if sync["label"] in labels:
            errors.append(error(sync["name"], "sync %s: label %r is used by another sync (labels find the live task)" % (sync["name"], sync["label"])))
            continue
        names.add(sync["name"])
        labels.add(sync["label"])
        resolved.append(sync)
    for name in only:
        if name not in names and not any(name in entry["reason"] for entry in errors):
            errors.append(error(name, "sync %s (in only) is not one of the configured syncs" % name))
    return resolved, errors


def transfer_document(sync, deadline, submission_id=None, recursive=True):
    """The Transfer API body for one sync task (what TransferData puts on the wire).

    Never sets ``delete_destination_extra``: a sync never deletes at the destination.
    """
    document = {
        "DATA_TYPE": "transfer",
        "source_endpoint": sync["source_collection"],
        "destination_endpoint": sync["destination_collection"],
        "label": sync["label"],
        "sync_level": SYNC_LEVELS[sync["sync_level"]],
        "deadline": deadline,
        "verify_checksum": bool(sync["verify_checksum"]),
        "preserve_timestamp": bool(sync["preserve_timestamp"]),
        "encrypt_data": bool(sync["encrypt"]),
        "skip_source_errors": bool(sync["skip_source_errors"]),
        "delete_destination_extra": False,
        "DATA": [{
            "DATA_TYPE": "transfer_item",
            "source_path": sync["source_path"] if recursive else sync["source_path"].rstrip("/"),
            "destination_path": sync["destination_path"] if recursive else sync["destination_path"].rstrip("/"),
            "recursive": bool(recursive),
        }],
    }
    if sync.get("filter_rules"):
        if not recursive:
            raise SyncError("sync %s: filters apply to a directory; source %s is a file" % (sync["name"], sync["source_path"]))
        document["filter_rules"] = [dict(rule, DATA_TYPE="filter_rule") for rule in sync["filter_rules"]]
    if submission_id:
        document["submission_id"] = submission_id
    return document
