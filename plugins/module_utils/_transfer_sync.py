# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Collection sync (globus_sync_directory as a module). Private to sciops.datasync: not a public API.

Per named sync: observe the recorded task (state file) and any live task carrying the
sync's label, plan (pure: report the live task, or record the ended one and submit the
next), then apply (pre-flight, submit with a recorded submission id, optional wait).

The Transfer client is passed in (duck-typed ``globus_sdk.TransferClient``), so the
planning and the apply loop can be tested without a network.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import re
import time

try:
    from urllib.parse import quote
except ImportError:  # pragma: no cover - Python 2 is not supported, kept for sanity's import checks
    quote = None

SYNC_LEVELS = {"exists": 0, "size": 1, "mtime": 2, "checksum": 3}
LIVE_STATUSES = ("ACTIVE", "INACTIVE")
ENDED_STATUSES = ("SUCCEEDED", "FAILED")
STATE_SCHEMA = "sciops.datasync.collection_sync"
STATE_VERSION = 1
DEFAULT_TIME_LIMIT = "1440"
FILE_MANAGER_URL = "https://app.globus.org/file-manager"

SYNC_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
LABEL = re.compile(r"^[A-Za-z0-9 _.:()+-]{1,128}$")
TIME_LIMIT = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "": 60, "h": 3600, "d": 86400}

# Fields of a Transfer task document kept in results and in the state file.
TASK_FIELDS = (
    "task_id", "status", "nice_status", "label", "request_time", "completion_time", "deadline",
    "sync_level", "files", "files_transferred", "files_skipped", "directories",
    "bytes_transferred", "bytes_checksummed", "faults", "fatal_error",
    "source_endpoint_id", "destination_endpoint_id",
)

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


# --------------------------------------------------------------------------- pure helpers


def parse_time_limit(value):
    """Seconds from a time limit: minutes as a number, or a number with s, m, h or d."""
    if isinstance(value, bool):
        raise ValueError("time limit %r is not a duration" % (value,))
    if isinstance(value, int):
        value = str(value)
    match = TIME_LIMIT.match(value or "")
    if not match:
        raise ValueError("time limit %r is not a duration (minutes, or a number followed by s, m, h or d)" % (value,))
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds <= 0:
        raise ValueError("time limit %r must be positive" % (value,))
    return seconds


def format_deadline(now, seconds):
    """ISO 8601 deadline ``seconds`` after ``now`` (an aware datetime), UTC."""
    return (now + datetime.timedelta(seconds=seconds)).astimezone(datetime.timezone.utc).isoformat()


def default_label(name):
    return "Syncing data for %s" % name


def normalize_dir(path):
    """A collection directory path as Transfer wants it for a recursive item: '/a/b/'."""
    path = "/" + path.strip("/")
    return path if path == "/" else path + "/"


def path_problem(path, what):
    if not isinstance(path, str) or not path.startswith("/"):
        return "%s %r must be an absolute path on the collection" % (what, path)
    if re.search(r"[\x00-\x1f\x7f]", path):
        return "%s %r contains control characters" % (what, path)
    if any(part in (".", "..") for part in path.split("/")):
        return "%s %r contains '.' or '..' components" % (what, path)
    return None


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
        if not isinstance(value, str) or not UUID.match(value):
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
    if not LABEL.match(label):
        raise SyncError("sync %s: label %r is refused: up to 128 of letters, digits, space and _ . : ( ) + -" % (name, label))
    sync["label"] = label
    return sync


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
    if submission_id:
        document["submission_id"] = submission_id
    return document


def task_summary(document):
    """The fields of a task document worth keeping (None when there is no task)."""
    if not document:
        return None
    data = dict(document)
    summary = dict((key, data.get(key)) for key in TASK_FIELDS)
    if summary["task_id"] is None:
        summary["task_id"] = data.get("id")
    return summary


def is_live(task):
    return bool(task) and task.get("status") in LIVE_STATUSES


def is_ended(task):
    return bool(task) and task.get("status") in ENDED_STATUSES


def plan_sync(name, recorded, found_live, start):
    """Decide what one sync does this run. Pure.

    ``recorded``: summary of the task recorded in the state file (None if none or unknown);
    ``found_live``: a live task carrying the sync's label (None if none);
    ``start``: whether a new task may be submitted.

    Returns a dict: action (``report`` a live task, ``submit`` a new one, or ``idle``),
    ``task`` (the live task reported), ``ended`` (a recorded task that ended and is
    recorded now as the last outcome), ``adopted`` (live task found by label), reason.
    """
    plan = {"name": name, "action": "idle", "task": None, "ended": None, "adopted": False, "reason": ""}
    if is_live(recorded):
        plan.update(action="report", task=recorded,
                    reason="task %s is still %s: nothing submitted" % (recorded["task_id"], recorded["status"]))
        return plan
    if is_ended(recorded):
        plan["ended"] = recorded
    if is_live(found_live):
        plan.update(action="report", task=found_live, adopted=True,
                    reason="live task %s found by its label %r: nothing submitted" % (found_live["task_id"], found_live.get("label")))
        return plan
    if start:
        plan.update(action="submit", reason="no live task: submitting a new one")
    elif plan["ended"]:
        plan["reason"] = "last task %s %s; start is false: nothing submitted" % (recorded["task_id"], recorded["status"])
    else:
        plan["reason"] = "no task recorded; start is false: nothing submitted"
    return plan


def file_manager_link(collection, path, base=FILE_MANAGER_URL):
    return "%s?origin_id=%s&origin_path=%s" % (base, collection, quote(path, safe=""))


def human_bytes(count):
    count = float(count or 0)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if count < 1024 or unit == "TiB":
            return ("%d %s" % (count, unit)) if unit == "B" else ("%.1f %s" % (count, unit))
        count /= 1024.0
    return "%d B" % count  # pragma: no cover


def email_wanted(when, results, errors):
    """Whether this run's summary email goes out: always, ended, transferred or failed."""
    ended = [r["ended_task"] for r in results if r.get("ended_task")]
    if when == "always":
        return True
    if when == "failed":
        return bool(errors) or any(task.get("status") == "FAILED" for task in ended)
    if when == "transferred":
        return any(task.get("files_transferred") for task in ended)
    return bool(ended) or bool(errors)


def _task_lines(task, indent="  "):
    nice = task.get("nice_status")
    lines = [
        "%sStatus: %s%s" % (indent, task.get("status"), (" (%s)" % nice) if nice and nice != task.get("status") else ""),
        "%sTask: %s" % (indent, task.get("task_id")),
        "%sRequested: %s" % (indent, task.get("request_time") or "-"),
        "%sCompleted: %s" % (indent, task.get("completion_time") or "-"),
        "%sDeadline: %s" % (indent, task.get("deadline") or "-"),
        "%sFiles: %s, transferred: %s, skipped: %s" % (indent, task.get("files") or 0, task.get("files_transferred") or 0, task.get("files_skipped") or 0),
        "%sBytes transferred: %s (%s)" % (indent, task.get("bytes_transferred") or 0, human_bytes(task.get("bytes_transferred"))),
    ]
    fatal = task.get("fatal_error")
    if fatal:
        lines.append("%sFatal error: %s %s" % (indent, fatal.get("code", ""), fatal.get("description", "")))
    return lines


def summary_email(results, errors, hostname, file_manager_url=FILE_MANAGER_URL):
    """Subject and plain-text body of the run summary. Pure."""
    statuses = []
    for result in results:
        for task in (result.get("task"), result.get("ended_task")):
            if task:
                statuses.append(task.get("status"))
    if errors or "FAILED" in statuses:
        overall = "FAILED"
    elif "ACTIVE" in statuses or "INACTIVE" in statuses:
        overall = "ACTIVE"
    else:
        overall = "OK"
    count = len(results)
    subject = "Collection sync on %s: %s (%d sync%s)" % (hostname, overall, count, "" if count == 1 else "s")
    lines = ["Collection sync summary from %s" % hostname, ""]
    for result in results:
        task = result.get("task")
        previous = result.get("previous")
        lines.append("Sync: %s" % result["name"])
        lines.append("  Action this run: %s" % result.get("action"))
        if result.get("error"):
            lines.append("  Error: %s" % result["error"])
        if task:
            lines.extend(_task_lines(task))
        elif not result.get("error"):
            lines.append("  Status: no task")
        if previous and (not task or previous.get("task_id") != task.get("task_id")):
            lines.append("  Previous task (ended):")
            lines.extend(_task_lines(previous, "    "))
        lines.append("  Source: collection %s path %s" % (result["source_collection"], result["source_path"]))
        lines.append("  Destination path: %s (collection %s)" % (result["destination_path"], result["destination_collection"]))
        lines.append("  File manager: %s" % file_manager_link(result["destination_collection"], result["destination_path"], file_manager_url))
        for event in result.get("error_events") or []:
            lines.append("  Error event: %s %s %s" % (event.get("time") or "", event.get("code") or "", event.get("description") or ""))
        lines.append("")
    for error in errors:
        if not any(error == r.get("error") for r in results):
            lines.append("Error: %s" % error)
    return subject, "\n".join(lines).rstrip() + "\n"


# --------------------------------------------------------------------------- Globus access


def api_error_info(exc):
    """(http_status, code, message) of a globus_sdk.GlobusAPIError or NetworkError, or None for other errors."""
    status = getattr(exc, "http_status", None)
    if status is None:
        if any(cls.__name__ == "NetworkError" for cls in type(exc).__mro__):
            return 0, "NetworkError", "%s: %s" % (type(exc).__name__, getattr(exc, "exc", None) or exc)
        return None
    message = getattr(exc, "message", None) or str(exc)
    return status, getattr(exc, "code", None) or "", message


def _is_api_error(exc, status=None, code_part=None):
    info = api_error_info(exc)
    if info is None:
        return False
    if status is not None and info[0] != status:
        return False
    if code_part is not None and code_part not in (info[1] or ""):
        return False
    return True


def describe_api_error(exc):
    info = api_error_info(exc)
    if info is None:
        return str(exc)
    request_id = getattr(exc, "request_id", None)
    return "%s %s: %s%s" % (info[0], info[1], info[2], (" (request %s)" % request_id) if request_id else "")


def _task_list_filter(label, statuses):
    value = "type:TRANSFER/label:=%s" % label
    if statuses:
        value += "/status:%s" % ",".join(statuses)
    return value


def find_task_by_label(transfer, label, statuses=LIVE_STATUSES):
    """Newest task carrying exactly ``label`` (optionally with one of ``statuses``), or None."""
    response = transfer.task_list(filter=_task_list_filter(label, statuses), orderby="request_time DESC", limit=10)
    for document in response:
        if document.get("label") == label and (not statuses or document.get("status") in statuses):
            return task_summary(document)
    return None


def get_task(transfer, task_id):
    """Summary of a task, or None when Transfer does not know it (404)."""
    try:
        return task_summary(transfer.get_task(task_id).data)
    except Exception as exc:  # pylint: disable=broad-except
        if _is_api_error(exc, status=404):
            return None
        raise


def error_events(transfer, task_id, count=5):
    """The last ``count`` error events of a task (newest first)."""
    if count <= 0:
        return []
    found = []
    for event in transfer.task_event_list(task_id, limit=100):
        if event.get("is_error"):
            found.append(dict((key, event.get(key)) for key in ("time", "code", "description", "details")))
        if len(found) >= count:
            break
    return found


def stat_path(transfer, collection, path):
    """The stat document of ``path`` on ``collection``; None if absent; raises on other errors."""
    try:
        return dict(transfer.operation_stat(collection, path=path).data)
    except Exception as exc:  # pylint: disable=broad-except
        if _is_api_error(exc, status=404):
            return None
        raise


def access_problem(exc, collection, path, app, what):
    """A clear message for an access error on a collection path, or None for other errors."""
    info = api_error_info(exc)
    if info is None:
        return None
    if info[0] == 403 or "PermissionDenied" in (info[1] or ""):
        return ("the app %s has no %s access to %s on collection %s: share the path with %s "
                "(Globus: %s %s)" % (app, what, path, collection, app, info[1], info[2]))
    if (info[0] == 404 and "Endpoint" in (info[1] or "")) or (info[1] or "").startswith("EndpointNotFound"):
        return "collection %s was not found (is the id right?): %s" % (collection, info[2])
    return None


def preflight(transfer, sync, app, check_mode):
    """Check the source (exists, readable) and make the destination folder (parents too).

    Returns (recursive, created_paths). Raises SyncError with a clear message.
    """
    name = sync["name"]
    source = sync["source_path"]
    try:
        found = stat_path(transfer, sync["source_collection"], source)
    except Exception as exc:  # pylint: disable=broad-except
        problem = access_problem(exc, sync["source_collection"], source, app, "read")
        if problem:
            raise SyncError("sync %s: %s" % (name, problem))
        raise
    if found is None:
        raise SyncError("sync %s: source path %s does not exist on collection %s" % (name, source, sync["source_collection"]))
    # Transfer answers stat only for a path the app may read (403 otherwise), so this also checks access.
    recursive = found.get("type", "dir") == "dir"
    folder = sync["destination_path"] if recursive else (sync["destination_path"].rstrip("/").rsplit("/", 1)[0] or "/")
    created = ensure_directory(transfer, sync["destination_collection"], folder, app, check_mode, name)
    return recursive, created


def ensure_directory(transfer, collection, path, app, check_mode, name="directory"):
    """Make ``path`` (and missing parents) on ``collection``; returns the paths created."""
    missing = []
    current = normalize_dir(path)
    while current != "/":
        try:
            found = stat_path(transfer, collection, current)
        except Exception as exc:  # pylint: disable=broad-except
            problem = access_problem(exc, collection, current, app, "write")
            if problem:
                raise SyncError("%s: %s" % (name, problem))
            raise
        if found is not None:
            if found.get("type", "dir") != "dir":
                raise SyncError("%s: %s on collection %s exists and is not a directory" % (name, current.rstrip("/"), collection))
            break
        missing.append(current)
        current = normalize_dir(current.rstrip("/").rsplit("/", 1)[0] or "/")
    missing.reverse()
    if check_mode:
        return missing
    for folder in missing:
        try:
            transfer.operation_mkdir(collection, folder)
        except Exception as exc:  # pylint: disable=broad-except
            if _is_api_error(exc, code_part="Exists"):
                continue
            problem = access_problem(exc, collection, folder, app, "write")
            if problem:
                raise SyncError("%s: %s" % (name, problem))
            raise
    return missing


def submit(transfer, document):
    """Submit a transfer body (with its submission id); returns (task_id, code)."""
    from globus_sdk import TransferData  # pylint: disable=import-outside-toplevel

    fields = dict(document)
    items = fields.pop("DATA")
    fields.pop("DATA_TYPE", None)
    data = TransferData(
        fields.pop("source_endpoint"), fields.pop("destination_endpoint"),
        label=fields.pop("label"), submission_id=fields.pop("submission_id"),
        sync_level=fields.pop("sync_level"), verify_checksum=fields.pop("verify_checksum"),
        preserve_timestamp=fields.pop("preserve_timestamp"), encrypt_data=fields.pop("encrypt_data"),
        deadline=fields.pop("deadline"), skip_source_errors=fields.pop("skip_source_errors"),
        delete_destination_extra=fields.pop("delete_destination_extra"),
    )
    for item in items:
        data.add_item(item["source_path"], item["destination_path"], recursive=item["recursive"])
    response = transfer.submit_transfer(data)
    return response["task_id"], response.get("code")


def wait_for_tasks(transfer, task_ids, timeout, sleep=time.sleep, clock=time.monotonic, max_interval=10.0):
    """Poll until every task ended or ``timeout`` seconds passed; returns {task_id: summary}."""
    latest = {}
    pending = list(task_ids)
    started = clock()
    interval = 0.5
    while pending:
        for task_id in list(pending):
            summary = get_task(transfer, task_id)
            latest[task_id] = summary
            if summary is None or is_ended(summary):
                pending.remove(task_id)
        if not pending or clock() - started >= timeout:
            break
        sleep(min(interval, max(0.0, timeout - (clock() - started))))
        interval = min(interval * 1.5, max_interval)
    return latest


# --------------------------------------------------------------------------- the run


class CollectionSync(object):
    """One run over the configured syncs: observe, plan, apply, record."""

    def __init__(self, transfer, state, app, start=True, check_mode=False, wait=False, wait_timeout=3600,
                 events=5, now=None, sleep=time.sleep, clock=time.monotonic):
        self.transfer = transfer
        self.state = state
        self.app = app
        self.start = start
        self.check_mode = check_mode
        self.wait = wait
        self.wait_timeout = wait_timeout
        self.events = events
        self.now = now or (lambda: datetime.datetime.now(datetime.timezone.utc))
        self.sleep = sleep
        self.clock = clock
        self.data = None

    def _entry(self, name):
        return self.data.setdefault("syncs", {}).setdefault(name, {})

    def _save(self):
        if not self.check_mode:
            self.state.save(self.data)

    def observe(self, sync):
        entry = self.data.get("syncs", {}).get(sync["name"], {})
        recorded = None
        if entry.get("task_id"):
            recorded = get_task(self.transfer, entry["task_id"])
        found_live = None
        if not is_live(recorded):
            found_live = find_task_by_label(self.transfer, sync["label"])
            if found_live and recorded and found_live["task_id"] == recorded["task_id"]:
                found_live = None
        return recorded, found_live

    def run(self, syncs):
        """``syncs``: raw option dicts already resolved by resolve_sync (or SyncError strings)."""
        self.data = self.state.load(default={"syncs": {}})
        before = dict((name, dict(entry)) for name, entry in self.data.get("syncs", {}).items())
        results = []
        errors = []
        for sync in syncs:
            try:
                results.append(self._one(sync))
            except SyncError as exc:
                errors.append(str(exc))
                results.append(self._error_result(sync, str(exc)))
            except Exception as exc:  # pylint: disable=broad-except
                if api_error_info(exc) is None:
                    raise
                message = "sync %s: Globus error: %s" % (sync["name"], describe_api_error(exc))
                errors.append(message)
                results.append(self._error_result(sync, message))
        if self.wait:
            self._wait(results)
        for result in results:
            if result.get("error"):
                continue
            task = result.get("task")
            if task and result["action"] in ("submitted", "report") and is_ended(task):
                result["ended_task"] = task
                self._record_ended(result["name"], task)
                if task.get("status") == "FAILED" and self.events:
                    result["error_events"] = error_events(self.transfer, task["task_id"], self.events)
        self._save()
        after = dict((name, dict(entry)) for name, entry in self.data.get("syncs", {}).items())
        return results, errors, {"before": before, "after": after}

    @staticmethod
    def _base_result(sync):
        return dict((key, sync.get(key)) for key in (
            "name", "label", "source_collection", "source_path", "destination_collection", "destination_path", "sync_level"))

    def _error_result(self, sync, message):
        result = self._base_result(sync)
        result.update(action="error", error=message, task=None, submitted=False, changed=False)
        return result

    def _record_ended(self, name, task):
        entry = self._entry(name)
        entry["last"] = task
        if entry.get("task_id") == task["task_id"]:
            entry.pop("task_id", None)
            entry.pop("submission_id", None)
            entry.pop("submitted_at", None)

    def _one(self, sync):
        name = sync["name"]
        result = self._base_result(sync)
        recorded, found_live = self.observe(sync)
        plan = plan_sync(name, recorded, found_live, self.start)
        entry = self._entry(name)
        result.update(reason=plan["reason"], submitted=False, changed=False, created_directories=[],
                      previous=plan["ended"], adopted=plan["adopted"], ended_task=None)
        if recorded is None and entry.get("task_id"):
            for key in ("task_id", "submission_id", "submitted_at"):
                entry.pop(key, None)  # Transfer no longer knows the task
        if plan["ended"]:
            result["ended_task"] = plan["ended"]
            self._record_ended(name, plan["ended"])
            if self.events and plan["ended"]["status"] == "FAILED":
                result["error_events"] = error_events(self.transfer, plan["ended"]["task_id"], self.events)
        if plan["action"] == "report":
            result.update(action="report", task=plan["task"])
            if plan["adopted"]:
                entry["task_id"] = plan["task"]["task_id"]
                entry["label"] = sync["label"]
            return result
        if plan["action"] == "idle":
            result.update(action="idle", task=plan["ended"] or entry.get("last"))
            if not plan["ended"] and not entry.get("last") and not entry.get("task_id"):
                result["task"] = find_task_by_label(self.transfer, sync["label"], statuses=())
            return result
        # submit
        recursive, created = preflight(self.transfer, sync, self.app, self.check_mode)
        deadline = format_deadline(self.now(), sync["time_limit_seconds"])
        result["created_directories"] = created
        result["deadline"] = deadline
        if self.check_mode:
            result.update(action="submitted", submitted=True, changed=True, task=None,
                          transfer=transfer_document(sync, deadline, recursive=recursive))
            return result
        submission_id = entry.get("submission_id") if not entry.get("task_id") else None
        if not submission_id:
            submission_id = self.transfer.get_submission_id()["value"]
            entry.update(submission_id=submission_id, submitted_at=self.now().isoformat(), label=sync["label"])
            entry.pop("task_id", None)
            self._save()  # a run killed after submitting resubmits the same id: Transfer answers Duplicate
        document = transfer_document(sync, deadline, submission_id, recursive=recursive)
        task_id, code = submit(self.transfer, document)
        entry["task_id"] = task_id
        self._save()
        task = get_task(self.transfer, task_id)
        result.update(action="submitted", submitted=True, changed=True, task=task, task_id=task_id,
                      submission_code=code, transfer=document)
        return result

    def _wait(self, results):
        """With wait: wait for every live task, then ``changed`` means files arrived."""
        candidates = [r for r in results if not r.get("error") and r.get("task") and r["action"] in ("submitted", "report")]
        waiting = [r for r in candidates if is_live(r["task"])]
        latest = {}
        if waiting:
            latest = wait_for_tasks(self.transfer, [r["task"]["task_id"] for r in waiting], self.wait_timeout,
                                    sleep=self.sleep, clock=self.clock)
        for result in candidates:
            task = latest.get(result["task"]["task_id"]) or result["task"]
            result["task"] = task
            result["waited"] = True
            if is_ended(task):
                result["changed"] = bool(task.get("files_transferred"))
            else:
                result["timed_out"] = True


# --------------------------------------------------------------------------- module glue


def _clients(module, auth=False):
    """(transfer client, app identity username[, auth client]) from the shared Globus options."""
    from ansible_collections.sciops.datasync.plugins.module_utils import _globus  # pylint: disable=import-outside-toplevel

    transfer = _globus.transfer_client(module)
    app = _globus.client_username(module)
    if auth:
        return transfer, app, _globus.auth_client(module)
    return transfer, app


def _fail_api(module, exc, what, **result):
    from ansible_collections.sciops.datasync.plugins.module_utils._globus import fail_globus  # pylint: disable=import-outside-toplevel

    if api_error_info(exc) is None:
        raise exc
    fail_globus(module, exc, msg=what, service="transfer", **result)


def resolve_syncs(params):
    """Resolved syncs and the errors of the refused ones (by name)."""
    defaults = dict((key, params.get(key)) for key in SYNC_DEFAULTS)
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
            errors.append(str(exc))
            continue
        if sync["name"] in names:
            errors.append("sync %s: the name is used by two syncs" % sync["name"])
            continue
        if sync["label"] in labels:
            errors.append("sync %s: label %r is used by another sync (labels find the live task)" % (sync["name"], sync["label"]))
            continue
        names.add(sync["name"])
        labels.add(sync["label"])
        resolved.append(sync)
    for name in only:
        if name not in names and not any(name in error for error in errors):
            errors.append("sync %s (in only) is not one of the configured syncs" % name)
    return resolved, errors


def send_summary(module, results, errors):
    """Send the run summary when asked; returns the ``mail`` result (or None)."""
    from ansible_collections.sciops.datasync.plugins.module_utils._mail import MailError, mail_settings, send_mail  # pylint: disable=import-outside-toplevel
    import socket  # pylint: disable=import-outside-toplevel

    options = module.params.get("mail")
    settings = mail_settings(dict((k, v) for k, v in (options or {}).items() if k not in ("when", "file_manager_url")))
    if not settings:
        return None
    hostname = socket.getfqdn()
    subject, text = summary_email(results, errors, hostname, options.get("file_manager_url") or FILE_MANAGER_URL)
    outcome = {"to": settings["to"], "subject": subject, "sent": False}
    if not email_wanted(options.get("when") or "ended", results, errors):
        outcome["reason"] = "mail.when=%s did not match this run" % (options.get("when") or "ended")
        return outcome
    if module.check_mode:
        outcome["reason"] = "check mode"
        return outcome
    try:
        outcome["message_id"] = send_mail(subject=subject, text=text, **settings)
        outcome["sent"] = True
    except MailError as exc:
        outcome["error"] = str(exc)
        module.warn("summary email not sent: %s" % exc)
    return outcome


def run_module(module):
    """globus_collection_sync."""
    from ansible_collections.sciops.datasync.plugins.module_utils._lock import LockBusy, RunLock  # pylint: disable=import-outside-toplevel
    from ansible_collections.sciops.datasync.plugins.module_utils._state import StateError, StateFile  # pylint: disable=import-outside-toplevel

    params = module.params
    result = {"changed": False, "syncs": [], "submitted": [], "errors": [], "skipped": False}
    syncs, errors = resolve_syncs(params)
    result["errors"].extend(errors)
    state = StateFile(params["state_file"], STATE_SCHEMA, STATE_VERSION)
    lock_path = params["lock_file"] or params["state_file"] + ".lock"
    if module.check_mode and not os.path.isdir(os.path.dirname(lock_path) or "."):
        # Nothing has run here yet and check mode writes nothing: no lock folder to create.
        lock = contextlib.nullcontext()
    else:
        lock = RunLock(lock_path, wait=params["lock_wait"], timeout=params["lock_timeout"])
    try:
        with lock:
            transfer, app = _clients(module)
            run = CollectionSync(transfer, state, app, start=params["start"], check_mode=module.check_mode,
                                 wait=params["wait"], wait_timeout=params["wait_timeout"], events=params["error_events"])
            try:
                results, run_errors, diff = run.run(syncs)
            except StateError as exc:
                module.fail_json(msg=str(exc), **result)
    except LockBusy as exc:
        if exc.timed_out:
            module.fail_json(msg=str(exc), lock_holder=exc.holder_pid, **result)
        result.update(skipped=True, lock_holder=exc.holder_pid, msg="another run holds the lock (%s)" % exc)
        module.exit_json(**result)
    except Exception as exc:  # pylint: disable=broad-except
        _fail_api(module, exc, "collection sync", **result)
    result["syncs"] = results
    result["errors"].extend(run_errors)
    result["submitted"] = [r["name"] for r in results if r.get("submitted")]
    result["changed"] = any(r.get("changed") for r in results)
    if module._diff:
        result["diff"] = diff
    mail = send_summary(module, results, result["errors"])
    if mail is not None:
        result["mail"] = mail
    if result["errors"]:
        module.fail_json(msg="; ".join(result["errors"]), **result)
    module.exit_json(**result)


def _file_list(method, task_id, fields, limit):
    files = []
    marker = None
    while True:
        response = method(task_id, marker=marker) if marker else method(task_id)
        for entry in response["DATA"]:
            if len(files) >= limit:
                return files, True
            files.append(dict((key, entry.get(key)) for key in fields))
        marker = response.get("next_marker")
        if not marker:
            return files, False


def task_report(transfer, task, events=5, transferred=False, skipped=False, max_files=1000):
    """The globus_task_info result for a task summary."""
    report = {"found": True, "task": task, "events": error_events(transfer, task["task_id"], events), "truncated": False}
    if transferred:
        report["transferred_files"], cut = _file_list(transfer.task_successful_transfers, task["task_id"],
                                                      ("source_path", "destination_path"), max_files)
        report["truncated"] = report["truncated"] or cut
    if skipped:
        report["skipped_files"], cut = _file_list(transfer.task_skipped_errors, task["task_id"],
                                                  ("source_path", "destination_path", "error_code", "error_details", "error_time"), max_files)
        report["truncated"] = report["truncated"] or cut
    return report


def run_task_info_module(module):
    """globus_task_info."""
    from ansible_collections.sciops.datasync.plugins.module_utils._state import StateError, StateFile  # pylint: disable=import-outside-toplevel

    params = module.params
    if params["name"] and not SYNC_NAME.match(params["name"]):
        module.fail_json(msg="sync name %r is refused" % params["name"])
    if params["task_id"] and not UUID.match(params["task_id"]):
        module.fail_json(msg="task_id %r is not a Transfer task id (UUID)" % params["task_id"], found=False)
    if params["label"] and not LABEL.match(params["label"]):
        module.fail_json(msg="label %r is refused: up to 128 of letters, digits, space and _ . : ( ) + -" % params["label"], found=False)
    try:
        transfer = _clients(module)[0]
        task = None
        source = None
        if params["task_id"]:
            task = get_task(transfer, params["task_id"])
            source = "task_id"
            if task is None:
                module.fail_json(msg="Transfer task %s was not found" % params["task_id"], found=False)
        else:
            if params["name"] and params["state_file"]:
                try:
                    data = StateFile(params["state_file"], STATE_SCHEMA, STATE_VERSION).load(default={"syncs": {}})
                except StateError as exc:
                    module.fail_json(msg=str(exc), found=False)
                entry = data.get("syncs", {}).get(params["name"], {})
                task_id = entry.get("task_id") or (entry.get("last") or {}).get("task_id")
                if task_id:
                    task = get_task(transfer, task_id)
                    source = "state"
            if task is None:
                label = params["label"] or default_label(params["name"])
                task = find_task_by_label(transfer, label, statuses=LIVE_STATUSES) or find_task_by_label(transfer, label, statuses=())
                source = "label"
        if task is None:
            module.exit_json(changed=False, found=False)
        report = task_report(transfer, task, params["error_events"], params["transferred_files"], params["skipped_files"], params["max_files"])
    except Exception as exc:  # pylint: disable=broad-except
        _fail_api(module, exc, "task info", found=False)
    report.update(changed=False, source=source)
    module.exit_json(**report)
