# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""globus_task_info: a sync's current or last Transfer task, or a task by id. Private to sciops.datasync: not a public API.

The task is found by id, else through the collection sync state file, else by its
label on the Transfer API; the report holds its summary, its last error events and,
when asked, the transferred and skipped file lists (paged, cut at ``max_files``).
"""

from __future__ import annotations

from ansible_collections.sciops.datasync.plugins.module_utils._core.names import is_uuid
from ansible_collections.sciops.datasync.plugins.module_utils._globus.errors import fail_globus
from ansible_collections.sciops.datasync.plugins.module_utils._collection_sync.definition import SYNC_NAME, default_label, label_problem
from ansible_collections.sciops.datasync.plugins.module_utils._globus.transfer import (
    LIVE_STATUSES,
    error_events,
    find_task_by_label,
    get_task,
)
from ansible_collections.sciops.datasync.plugins.module_utils._collection_sync.state import (
    empty_state,
    recorded_entry,
    sync_state_file,
    watched_or_last_task_id,
)


def _file_list(method, task_id, fields, limit):
    files = []
    marker = None
    while True:
        response = method(task_id, marker=marker) if marker else method(task_id)
        for entry in response["DATA"]:
            if len(files) >= limit:
                return files, True
            files.append({key: entry.get(key) for key in fields})
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
    from ansible_collections.sciops.datasync.plugins.module_utils._globus import clients  # pylint: disable=import-outside-toplevel
    from ansible_collections.sciops.datasync.plugins.module_utils._core.state import StateError  # pylint: disable=import-outside-toplevel

    params = module.params
    if params["name"] and not SYNC_NAME.match(params["name"]):
        module.fail_json(msg="sync name %r is refused" % params["name"])
    if params["task_id"] and not is_uuid(params["task_id"]):
        module.fail_json(msg="task_id %r is not a Transfer task id (UUID)" % params["task_id"], found=False)
    if params["label"] and label_problem(params["label"]):
        module.fail_json(msg="label %r is refused: %s" % (params["label"], label_problem(params["label"])), found=False)
    try:
        transfer = clients.transfer_client(module)
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
                    data = sync_state_file(params["state_file"]).load(default=empty_state())
                except StateError as exc:
                    module.fail_json(msg=str(exc), found=False)
                task_id = watched_or_last_task_id(recorded_entry(data, params["name"]))
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
        fail_globus(module, exc, "task info", service="transfer", found=False)  # re-raises any other error
    report.update(changed=False, source=source)
    module.exit_json(**report)
