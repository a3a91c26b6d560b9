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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Optional

from ansible_collections.sciops.datasync.plugins.module_utils._globus.folders import (
    FolderError,
    access_problem,
    ensure_directory,
    stat_path,
)
from ansible_collections.sciops.datasync.plugins.module_utils._collection_sync.definition import SyncError, resolve_syncs, transfer_document
from ansible_collections.sciops.datasync.plugins.module_utils._collection_sync.summary import send_summary
from ansible_collections.sciops.datasync.plugins.module_utils._core.progress import module_progress
from ansible_collections.sciops.datasync.plugins.module_utils._core.results import error, reasons, reasons_text
from ansible_collections.sciops.datasync.plugins.module_utils._globus.errors import describe_error, fail_globus
from ansible_collections.sciops.datasync.plugins.module_utils._globus.transfer import (
    cancel_task,
    error_events,
    find_task_by_label,
    get_task,
    LIVE_STATUSES,
    is_ended,
    is_live,
    submit,
    task_summary,
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


# Fault codes that Transfer keeps retrying but that rarely heal by themselves.
FATAL_LOOKING = ("PERMISSION_DENIED", "NOT_FOUND", "QUOTA", "NO_SPACE")
# Pre-flights (stat, mkdir) of the syncs to submit run side by side: each is a few round trips to Transfer.
PREFLIGHT_WORKERS = 4


def _event_time(text):
    try:
        value = datetime.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)


def stalled_fault(transfer, task, stall_timeout, now):
    """The fault of a live task that has kept retrying a fatal-looking fault for more than ``stall_timeout`` seconds, else None.

    Transfer keeps such a task ACTIVE (``is_ok`` false, fault events) until its deadline. The
    stall started at the oldest error event of the newest unbroken run of error events.
    """
    if stall_timeout is None or not task or task.get("status") != "ACTIVE" or task.get("is_ok") is not False:
        return None
    streak = []
    for event in transfer.task_event_list(task["task_id"], limit=100):  # newest first
        if not event.get("is_error"):
            break
        streak.append(event)
    fatal = [e for e in streak if any(word in (e.get("code") or "").upper() for word in FATAL_LOOKING)]
    if not fatal:
        return None
    since = _event_time(fatal[-1].get("time"))
    if since is None:
        return None
    seconds = (now - since).total_seconds()
    if seconds < stall_timeout:
        return None
    newest = fatal[0]
    return {"code": newest.get("code"), "description": newest.get("description"), "details": newest.get("details"),
            "since": fatal[-1].get("time"), "seconds": int(seconds), "events": len(fatal)}


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


def _utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


@dataclass(frozen=True)
class RunOptions:
    """How one run behaves (the module options of the same names; ``events`` is ``error_events``)."""

    start: bool = True
    check_mode: bool = False
    wait: bool = False
    wait_timeout: int = 3600
    events: int = 5
    stall_timeout: Optional[int] = None
    cancel_stalled: bool = False

    @classmethod
    def from_params(cls, params, check_mode):
        return cls(start=params["start"], check_mode=check_mode, wait=params["wait"], wait_timeout=params["wait_timeout"],
                   events=params["error_events"], stall_timeout=params["stall_timeout"], cancel_stalled=params["cancel_stalled"])


@dataclass(frozen=True)
class Timing:
    """The run's time: ``now()`` (aware UTC datetime), ``sleep(seconds)``, ``clock()`` (monotonic); fakes in tests."""

    now: Callable = field(default=_utc_now)
    sleep: Callable = field(default=time.sleep)
    clock: Callable = field(default=time.monotonic)


class CollectionSync:
    """One run over the configured syncs: observe, plan, apply, record.

    ``progress`` (a ``_core.progress.Progress``) hears the files and bytes of the tasks waited for.
    """

    def __init__(self, transfer, state, app, options=RunOptions(), timing=Timing(), progress=None):
        self.transfer, self.state, self.app = transfer, state, app
        self.options, self.timing, self.progress = options, timing, progress
        self.stall_errors = []
        self._live = None
        self.data = None

    def now(self):
        return self.timing.now()

    def _entry(self, name):
        return sync_entry(self.data, name)

    def _save(self):
        if not self.options.check_mode:
            self.state.save(self.data)

    def observe(self, sync):
        entry = recorded_entry(self.data, sync["name"])
        recorded = None
        if entry.get("task_id"):
            recorded = get_task(self.transfer, entry["task_id"])
        found_live = None
        if not is_live(recorded):
            found_live = self._live_by_label().get(sync["label"])
            if found_live and recorded and found_live["task_id"] == recorded["task_id"]:
                found_live = None
        return recorded, found_live

    def _live_by_label(self):
        """{label: newest live task}, read once per run with one task_list call (not one per sync)."""
        if self._live is None:
            self._live = {}
            response = self.transfer.task_list(filter="type:TRANSFER/status:%s" % ",".join(LIVE_STATUSES),
                                               orderby="request_time DESC", limit=1000)
            for document in response:
                label = document.get("label")
                if label and label not in self._live and document.get("status") in LIVE_STATUSES:
                    self._live[label] = task_summary(document)
        return self._live

    def run(self, syncs):
        """``syncs``: raw option dicts already resolved by resolve_sync (or SyncError strings)."""
        self.data = self.state.load(default=empty_state())
        before = snapshot(self.data)
        results = []
        errors = []
        planned = [self._guarded(sync, self._one, errors) for sync in syncs]
        to_submit = [i for i, result in enumerate(planned) if result.get("action") == "submit"]
        checks = {}
        if to_submit:
            with ThreadPoolExecutor(max_workers=min(PREFLIGHT_WORKERS, len(to_submit))) as pool:
                checks = {i: pool.submit(preflight, self.transfer, syncs[i], self.app, self.options.check_mode) for i in to_submit}
        for i, (sync, result) in enumerate(zip(syncs, planned)):
            if i in checks:
                result = self._guarded(sync, lambda s, r=result, c=checks[i]: self._submit(s, r, c.result()), errors)
            results.append(result)
        if self.options.wait:
            self._wait(results)
        for result in results:
            if not result.get("error") and result.get("task") and result["action"] in ("submitted", "report"):
                self._check_stall(result)
        errors.extend(self.stall_errors)
        for result in results:
            if result.get("error"):
                continue
            task = result.get("task")
            if task and result["action"] in ("submitted", "report") and is_ended(task):
                result["ended_task"] = task
                self._record_ended(result["name"], task)
                if task.get("status") == "FAILED" and self.options.events:
                    result["error_events"] = error_events(self.transfer, task["task_id"], self.options.events)
        self._save()
        after = snapshot(self.data)
        return results, errors, {"before": before, "after": after}

    def _guarded(self, sync, step, errors):
        """``step(sync)``'s result, or an error result (appended to ``errors``) when it raises SyncError or a Globus error."""
        try:
            return step(sync)
        except SyncError as exc:
            errors.append(error(sync["name"], str(exc)))
            return self._error_result(sync, str(exc))
        except Exception as exc:  # pylint: disable=broad-except
            # describe_error re-raises what is not a Globus error
            message = "sync %s: Globus error: %s" % (sync["name"], describe_error(exc, "transfer"))
            errors.append(error(sync["name"], message))
            return self._error_result(sync, message)

    @staticmethod
    def _base_result(sync):
        return {key: sync.get(key) for key in (
            "name", "label", "source_collection", "source_path", "destination_collection", "destination_path", "sync_level")}

    def _error_result(self, sync, message):
        result = self._base_result(sync)
        result.update(action="error", error=message, task=None, submitted=False, changed=False)
        return result

    def _check_stall(self, result):
        """Report (and with cancel_stalled cancel) a live task stuck on a fatal-looking fault for longer than stall_timeout."""
        task = result["task"]
        fault = stalled_fault(self.transfer, task, self.options.stall_timeout, self.now())
        if fault is None:
            return
        result["stalled"] = fault
        message = ("sync %s: task %s has been retrying %s for %ds (since %s): %s%s" % (
            result["name"], task["task_id"], fault["code"], fault["seconds"], fault["since"], fault["description"],
            " (%s)" % fault["details"] if fault.get("details") else ""))
        if self.options.cancel_stalled and not self.options.check_mode:
            result["cancel_code"] = cancel_task(self.transfer, task["task_id"])
            result["cancelled"] = True
            result["changed"] = True
            result["task"] = get_task(self.transfer, task["task_id"]) or task
            message += "; the task was cancelled (cancel_stalled)"
        elif self.options.cancel_stalled:
            result["cancelled"] = True
            result["changed"] = True
            message += "; the task would be cancelled (cancel_stalled)"
        else:
            message += "; it keeps retrying until its deadline %s (cancel_stalled: true cancels it)" % task.get("deadline")
        self.stall_errors.append(error(result["name"], message, task_id=task["task_id"], code=fault["code"]))

    def _record_ended(self, name, task):
        record_ended(self._entry(name), task)

    def _one(self, sync):
        name = sync["name"]
        result = self._base_result(sync)
        recorded, found_live = self.observe(sync)
        plan = plan_sync(name, recorded, found_live, self.options.start)
        entry = self._entry(name)
        result.update(reason=plan["reason"], submitted=False, changed=False, created_directories=[],
                      previous=plan["ended"], adopted=plan["adopted"], ended_task=None)
        if recorded is None and entry.get("task_id"):
            forget_submission(entry)  # Transfer no longer knows the task
        if plan["ended"]:
            result["ended_task"] = plan["ended"]
            self._record_ended(name, plan["ended"])
            if self.options.events and plan["ended"]["status"] == "FAILED":
                result["error_events"] = error_events(self.transfer, plan["ended"]["task_id"], self.options.events)
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
        result["action"] = "submit"  # after the pre-flight (run): _submit
        return result

    def _submit(self, sync, result, checked):
        """Submit ``sync`` (its pre-flight ``checked`` = (recursive, created folders)) with a recorded submission id."""
        recursive, created = checked
        entry = self._entry(sync["name"])
        deadline = format_deadline(self.now(), sync["time_limit_seconds"])
        result["created_directories"] = created
        result["deadline"] = deadline
        if self.options.check_mode:
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
        # No get_task round trip: a task just accepted is ACTIVE (the next run or wait reads it).
        task = task_summary({"task_id": task_id, "status": "ACTIVE", "label": sync["label"], "deadline": deadline,
                             "sync_level": document["sync_level"], "source_endpoint_id": sync["source_collection"],
                             "destination_endpoint_id": sync["destination_collection"]})
        result.update(action="submitted", submitted=True, changed=True, task=task, task_id=task_id,
                      submission_code=code, transfer=document)
        return result

    def _wait(self, results):
        """With wait: wait for every live task, then ``changed`` means files arrived."""
        candidates = [r for r in results if not r.get("error") and r.get("task") and r["action"] in ("submitted", "report")]
        waiting = [r for r in candidates if is_live(r["task"])]
        latest = {}
        if waiting:
            def stalled(summary):
                return stalled_fault(self.transfer, summary, self.options.stall_timeout, self.now()) is not None

            latest = wait_for_tasks(self.transfer, [r["task"]["task_id"] for r in waiting], self.options.wait_timeout,
                                    sleep=self.timing.sleep, clock=self.timing.clock, give_up=stalled, on_poll=self._report_progress)
            if self.progress is not None:
                ended = sum(1 for task in latest.values() if is_ended(task))
                self._report_progress(latest, "%d of %d tasks ended" % (ended, len(waiting)))
        for result in candidates:
            task = latest.get(result["task"]["task_id"]) or result["task"]
            result["task"] = task
            result["waited"] = True
            if is_ended(task):
                result["changed"] = bool(task.get("files_transferred"))
            else:
                result["timed_out"] = True

    def _report_progress(self, latest, outcome=None):
        """Files done (transferred or skipped by the sync level) of the files found so far, and bytes, over the tasks waited for."""
        if self.progress is None:
            return
        tasks = [task for task in latest.values() if task]
        counts = dict(done=sum((task.get("files_transferred") or 0) + (task.get("files_skipped") or 0) for task in tasks),
                      total=sum(task.get("files") or 0 for task in tasks), nbytes=sum(task.get("bytes_transferred") or 0 for task in tasks))
        if outcome is None:
            self.progress.update(**counts)
        else:
            self.progress.finish(outcome, **counts)


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
    with module_lock(module, lock_path, wait=params["lock_wait"], timeout=params["lock_timeout"], result=result) as lock:
        result.update(lock.result())
        try:
            transfer = clients.transfer_client(module)
            progress, job_log = module_progress(params, "collection sync", "files")
            if progress.problem:
                module.warn(progress.problem)
            run = CollectionSync(transfer, state, clients.client_username(module), RunOptions.from_params(params, module.check_mode),
                                 progress=progress if job_log else None)
            try:
                results, run_errors, diff = run.run(syncs)
            except StateError as exc:
                module.fail_json(msg=str(exc), **result)
            finally:
                if job_log:
                    job_log.close()
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
