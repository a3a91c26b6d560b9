# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Transfer API calls for tasks. Private to sciops.datasync: not a public API.

The Transfer client is passed in (duck-typed ``globus_sdk.TransferClient``), so callers
can be tested without a network. Task documents are kept as summaries (TASK_FIELDS).
"""

from __future__ import annotations

import time

from ansible_collections.sciops.datasync.plugins.module_utils._globus.errors import is_globus_error

LIVE_STATUSES = ("ACTIVE", "INACTIVE")
ENDED_STATUSES = ("SUCCEEDED", "FAILED")

# Fields of a Transfer task document kept in results and in the state file.
TASK_FIELDS = (
    "task_id", "status", "nice_status", "label", "request_time", "completion_time", "deadline",
    "sync_level", "files", "files_transferred", "files_skipped", "directories",
    "bytes_transferred", "bytes_checksummed", "faults", "fatal_error",
    "source_endpoint_id", "destination_endpoint_id", "is_ok",
)


# The Transfer task options a collection sync and a Globus Timers timer share, with their
# defaults (doc fragment sciops.datasync.transfer).
TRANSFER_OPTION_DEFAULTS = {"verify_checksum": True, "preserve_timestamp": True, "encrypt": False, "skip_source_errors": False}


def transfer_argument_spec(with_defaults=True):
    """The shared Transfer task options; without their defaults for per-sync values that fall back to the module's."""
    return {name: dict(type="bool", default=default) if with_defaults else dict(type="bool")
            for name, default in TRANSFER_OPTION_DEFAULTS.items()}


# --------------------------------------------------------------------------- tasks


def task_summary(document):
    """The fields of a task document worth keeping (None when there is no task)."""
    if not document:
        return None
    data = dict(document)
    summary = {key: data.get(key) for key in TASK_FIELDS}
    if summary["task_id"] is None:
        summary["task_id"] = data.get("id")
    return summary


def is_live(task):
    return bool(task) and task.get("status") in LIVE_STATUSES


def is_ended(task):
    return bool(task) and task.get("status") in ENDED_STATUSES


def _task_list_filter(label, statuses):
    value = "type:TRANSFER/label:=%s" % label
    if statuses:
        value += "/status:%s" % ",".join(statuses)
    return value


def find_task_by_label(transfer, label, statuses=LIVE_STATUSES):
    """Newest task carrying exactly ``label`` (optionally with one of ``statuses``), or None.

    A label Transfer accepts may hold the filter syntax's ``/`` or ``,``: such a label is not put
    in the filter (it would change it); the newest tasks are read and matched here instead.
    """
    if "/" in label or "," in label:
        value = "type:TRANSFER" + ("/status:%s" % ",".join(statuses) if statuses else "")
        response = transfer.task_list(filter=value, orderby="request_time DESC", limit=1000)
    else:
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
        if is_globus_error(exc, status=404):
            return None
        raise


def error_events(transfer, task_id, count=5):
    """The last ``count`` error events of a task (newest first)."""
    if count <= 0:
        return []
    found = []
    for event in transfer.task_event_list(task_id, limit=100):
        if event.get("is_error"):
            found.append({key: event.get(key) for key in ("time", "code", "description", "details")})
        if len(found) >= count:
            break
    return found


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
    for rule in fields.pop("filter_rules", None) or ():
        data.add_filter_rule(rule["name"], method=rule["method"], type=rule["type"])
    response = transfer.submit_transfer(data)
    return response["task_id"], response.get("code")


def cancel_task(transfer, task_id):
    """Cancel a task; returns Transfer's code (Canceled, TaskComplete)."""
    return transfer.cancel_task(task_id).get("code")


def wait_for_tasks(transfer, task_ids, timeout, sleep=time.sleep, clock=time.monotonic, max_interval=10.0, give_up=None,
                   on_poll=None):
    """Poll until every task ended or ``timeout`` seconds passed; returns {task_id: summary}.

    ``give_up(summary)``: when true for a live task, it is no longer waited for (e.g. a stalled task).
    ``on_poll(latest)``: called after each round with the summaries read so far (progress).
    """
    latest = {}
    pending = list(task_ids)
    started = clock()
    interval = 0.5
    while pending:
        for task_id in list(pending):
            summary = get_task(transfer, task_id)
            latest[task_id] = summary
            if summary is None or is_ended(summary) or (give_up is not None and give_up(summary)):
                pending.remove(task_id)
        if on_poll is not None:
            on_poll(latest)
        if not pending or clock() - started >= timeout:
            break
        sleep(min(interval, max(0.0, timeout - (clock() - started))))
        interval = min(interval * 1.5, max_interval)
    return latest
