# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One globus_collection_sync run: observe, plan, apply, record. Private to sciops.datasync: not a public API.

Per named sync: observe the recorded task (state file) and any live task carrying the
sync's label, plan (pure, ``_transfer_plan``), then apply (pre-flight, submit with a
recorded submission id, optional wait) and record the outcome. ``run_module`` is the
module entry point: run lock, state file, Globus client, summary email.

The Transfer client is passed in (duck-typed ``globus_sdk.TransferClient``), so the
run can be tested without a network.
"""

from __future__ import annotations

import datetime
import time

from ansible_collections.sciops.datasync.plugins.module_utils._globus.folders import (
    FolderError,
    access_problem,
    ensure_directory,
    stat_path,
)
from ansible_collections.sciops.datasync.plugins.module_utils._collection_sync.definition import SyncError, resolve_syncs, transfer_document
from ansible_collections.sciops.datasync.plugins.module_utils._collection_sync.summary import send_summary
from ansible_collections.sciops.datasync.plugins.module_utils._core.results import error, reasons, reasons_text
from ansible_collections.sciops.datasync.plugins.module_utils._globus.errors import describe_error, fail_globus
from ansible_collections.sciops.datasync.plugins.module_utils._globus.transfer import (
    error_events,
    find_task_by_label,
    get_task,
    is_ended,
    is_live,
    submit,
    wait_for_tasks,
)
from ansible_collections.sciops.datasync.plugins.module_utils._collection_sync.deadline import format_deadline
from ansible_collections.sciops.datasync.plugins.module_utils._collection_sync.plan import plan_sync
from ansible_collections.sciops.datasync.plugins.module_utils._collection_sync.state import (
    empty_state,
    forget_submission,
    record_ended,
    recorded_entry,
    snapshot,
    sync_entry,
    sync_state_file,
)


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
    try:
        created = ensure_directory(transfer, sync["destination_collection"], folder, app, check_mode, name)
    except FolderError as exc:
        raise SyncError(str(exc))
    return recursive, created


class CollectionSync:
    """One run over the configured syncs: observe, plan, apply, record."""

    def __init__(self, transfer, state, app, start=True, check_mode=False, wait=False, wait_timeout=3600,
                 events=5, now=None, sleep=time.sleep, clock=time.monotonic):
        self.transfer, self.state, self.app = transfer, state, app
        self.start, self.check_mode = start, check_mode
        self.wait, self.wait_timeout, self.events = wait, wait_timeout, events
        self.now = now or (lambda: datetime.datetime.now(datetime.timezone.utc))
        self.sleep = sleep
        self.clock = clock
        self.data = None

    def _entry(self, name):
        return sync_entry(self.data, name)

    def _save(self):
        if not self.check_mode:
            self.state.save(self.data)

    def observe(self, sync):
        entry = recorded_entry(self.data, sync["name"])
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
        self.data = self.state.load(default=empty_state())
        before = snapshot(self.data)
        results = []
        errors = []
        for sync in syncs:
            try:
                results.append(self._one(sync))
            except SyncError as exc:
                errors.append(error(sync["name"], str(exc)))
                results.append(self._error_result(sync, str(exc)))
            except Exception as exc:  # pylint: disable=broad-except
                # describe_error re-raises what is not a Globus error
                message = "sync %s: Globus error: %s" % (sync["name"], describe_error(exc, "transfer"))
                errors.append(error(sync["name"], message))
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
        after = snapshot(self.data)
        return results, errors, {"before": before, "after": after}

    @staticmethod
    def _base_result(sync):
        return {key: sync.get(key) for key in (
            "name", "label", "source_collection", "source_path", "destination_collection", "destination_path", "sync_level")}

    def _error_result(self, sync, message):
        result = self._base_result(sync)
        result.update(action="error", error=message, task=None, submitted=False, changed=False)
        return result

    def _record_ended(self, name, task):
        record_ended(self._entry(name), task)

    def _one(self, sync):
        name = sync["name"]
        result = self._base_result(sync)
        recorded, found_live = self.observe(sync)
        plan = plan_sync(name, recorded, found_live, self.start)
        entry = self._entry(name)
        result.update(reason=plan["reason"], submitted=False, changed=False, created_directories=[],
                      previous=plan["ended"], adopted=plan["adopted"], ended_task=None)
        if recorded is None and entry.get("task_id"):
            forget_submission(entry)  # Transfer no longer knows the task
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


def run_module(module):
    """globus_collection_sync."""
    from ansible_collections.sciops.datasync.plugins.module_utils._globus import clients  # pylint: disable=import-outside-toplevel
    from ansible_collections.sciops.datasync.plugins.module_utils._core.lock import module_lock  # pylint: disable=import-outside-toplevel
    from ansible_collections.sciops.datasync.plugins.module_utils._core.state import StateError  # pylint: disable=import-outside-toplevel

    params = module.params
    result = {"changed": False, "syncs": [], "submitted": [], "errors": [], "skipped": False}
    syncs, errors = resolve_syncs(params)
    result["errors"].extend(errors)
    state = sync_state_file(params["state_file"])
    lock_path = params["lock_file"] or params["state_file"] + ".lock"
    with module_lock(module, lock_path, wait=params["lock_wait"], timeout=params["lock_timeout"], result=result):
        try:
            transfer = clients.transfer_client(module)
            run = CollectionSync(transfer, state, clients.client_username(module), start=params["start"], check_mode=module.check_mode,
                                 wait=params["wait"], wait_timeout=params["wait_timeout"], events=params["error_events"])
            try:
                results, run_errors, diff = run.run(syncs)
            except StateError as exc:
                module.fail_json(msg=str(exc), **result)
        except Exception as exc:  # pylint: disable=broad-except
            fail_globus(module, exc, "collection sync", service="transfer", **result)  # re-raises any other error
    result["syncs"] = results
    result["errors"].extend(run_errors)
    result["submitted"] = [r["name"] for r in results if r.get("submitted")]
    result["changed"] = any(r.get("changed") for r in results)
    if module._diff:
        result["diff"] = diff
    mail = send_summary(module, results, reasons(result["errors"]))
    if mail is not None:
        result["mail"] = mail
    if result["errors"]:
        module.fail_json(msg=reasons_text(result["errors"]), **result)
    module.exit_json(**result)
