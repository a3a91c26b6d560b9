# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""globus_timer: a recurring Globus Timers transfer timer for one collection sync. Private to sciops.datasync: not a public API.

Observe (list the app's timers, keep those named ``name``), plan (pure: create, replace,
delete or nothing, by comparing the transfer and the schedule), apply. A timer whose
transfer or schedule differs is replaced (deleted, then created), since the Timers API
does not change a timer's transfer in place. The sync options and their checks are the
collection sync's (``_collection_sync.definition``).
"""

from __future__ import annotations

import re

from ansible_collections.sciops.datasync.plugins.module_utils._collection_sync.definition import (
    SYNC_LEVELS,
    SyncError,
    default_label,
    label_problem,
    resolve_sync,
)
from ansible_collections.sciops.datasync.plugins.module_utils._collection_sync.run import preflight
from ansible_collections.sciops.datasync.plugins.module_utils._core.results import error, exit_module
from ansible_collections.sciops.datasync.plugins.module_utils._globus.errors import describe_error, is_globus_error

SYNC_OPTIONS = ("source_collection", "source_path", "destination_collection", "destination_path", "sync_level",
                "verify_checksum", "preserve_timestamp", "encrypt", "skip_source_errors", "filters", "label")
INTERVAL = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
MIN_INTERVAL = 60
RUNS_SHOWN = 10


class TimerError(Exception):
    """A timer that cannot be managed as asked."""


def parse_interval(value):
    """Seconds from ``3600``, ``"90m"``, ``"12h"``, ``"1d"``; raises TimerError."""
    match = INTERVAL.match(str(value))
    if not match:
        raise TimerError("interval %r is not a number of seconds or a number followed by s, m, h or d" % (value,))
    seconds = int(match.group(1)) * UNITS[match.group(2)]
    if seconds < MIN_INTERVAL:
        raise TimerError("interval %r is shorter than Globus Timers' minimum of %d seconds" % (value, MIN_INTERVAL))
    return seconds


def desired_timer(params):
    """(name, comparable transfer, schedule) wanted; raises TimerError naming the problem."""
    name = params["name"]
    if not isinstance(name, str) or not name.strip() or name != name.strip() or len(name) > 200 or re.search(r"[\x00-\x1f]", name):
        raise TimerError("timer name %r must be 1 to 200 characters, without control characters or surrounding spaces" % (name,))
    raw = {key: params.get(key) for key in SYNC_OPTIONS}
    raw["name"] = "timer"
    raw["label"] = params.get("label") or default_label(name)
    problem = label_problem(raw["label"])
    if problem:
        raise TimerError("timer %s: label %r is refused: %s" % (name, raw["label"], problem))
    try:
        sync = resolve_sync(raw, {})
    except SyncError as exc:
        raise TimerError(str(exc).replace("sync timer:", "timer %s:" % name))
    sync["name"] = name
    schedule = {"interval_seconds": parse_interval(params["interval"]), "stop_after_runs": params.get("stop_after_runs")}
    return sync, schedule


def transfer_fields(sync, recursive=None):
    """The transfer a timer runs, as plain data (``recursive``: the sync's, else a directory)."""
    recursive = sync.get("recursive", True) if recursive is None else recursive
    return {
        "source_endpoint_id": sync["source_collection"], "destination_endpoint_id": sync["destination_collection"],
        "label": sync["label"], "sync_level": SYNC_LEVELS[sync["sync_level"]],
        "verify_checksum": bool(sync["verify_checksum"]), "preserve_timestamp": bool(sync["preserve_timestamp"]),
        "encrypt_data": bool(sync["encrypt"]), "skip_source_errors": bool(sync["skip_source_errors"]),
        "transfer_items": [{"source_path": sync["source_path"] if recursive else sync["source_path"].rstrip("/"),
                            "destination_path": sync["destination_path"] if recursive else sync["destination_path"].rstrip("/"),
                            "recursive": bool(recursive)}],
        "filter_rules": [{"method": r["method"], "name": r["name"], "type": r["type"]} for r in sync.get("filter_rules") or []],
    }


def existing_fields(job):
    """The comparable transfer of an existing timer (the v1 ``callback_body.body`` or the v2 ``body``)."""
    body = ((job.get("callback_body") or {}).get("body")) or {}
    if not body and job.get("body"):
        v2 = job["body"]
        body = {"source_endpoint_id": v2.get("source_endpoint"), "destination_endpoint_id": v2.get("destination_endpoint"),
                "transfer_items": v2.get("DATA") or []}
        body.update((k, v2.get(k)) for k in ("label", "sync_level", "verify_checksum", "preserve_timestamp", "encrypt_data",
                                             "skip_source_errors", "filter_rules"))
    return {
        "source_endpoint_id": body.get("source_endpoint_id"), "destination_endpoint_id": body.get("destination_endpoint_id"),
        "label": body.get("label"), "sync_level": body.get("sync_level"),
        "verify_checksum": bool(body.get("verify_checksum", True)), "preserve_timestamp": bool(body.get("preserve_timestamp", False)),
        "encrypt_data": bool(body.get("encrypt_data", False)), "skip_source_errors": bool(body.get("skip_source_errors", False)),
        "transfer_items": [{"source_path": i.get("source_path"), "destination_path": i.get("destination_path"),
                            "recursive": bool(i.get("recursive", False))} for i in body.get("transfer_items") or []],
        "filter_rules": [{"method": r.get("method", "exclude"), "name": r.get("name"), "type": r.get("type")}
                         for r in body.get("filter_rules") or []],
    }


def existing_schedule(job):
    schedule = job.get("schedule") or {}
    interval = schedule.get("interval_seconds") or job.get("interval")
    runs = (job.get("stop_after") or {}).get("n_runs")
    if runs is None:
        runs = (schedule.get("end") or {}).get("count")
    return {"interval_seconds": int(interval) if interval else None, "stop_after_runs": runs}


def timer_summary(job):
    keys = ("job_id", "name", "status", "inactive_reason", "submitted_at", "start", "last_ran_at", "next_run", "n_runs", "n_errors")
    out = {key: job.get(key) for key in keys}
    if out["n_runs"] is None:
        out["n_runs"] = job.get("number_of_runs")
    if out["n_errors"] is None:
        out["n_errors"] = job.get("number_of_errors")
    out["interval_seconds"] = existing_schedule(job)["interval_seconds"]
    return out


def recent_runs(job, count=RUNS_SHOWN):
    """The timer's last runs (newest first): when, the task, its status and counts."""
    runs = []
    for run in ((job.get("results") or {}).get("data") or [])[:count]:
        data = run.get("data") or {}
        details = data.get("details") or {}
        runs.append({"ran_at": run.get("ran_at"), "task_id": details.get("task_id") or data.get("action_id"),
                     "status": details.get("status") or data.get("status"), "label": details.get("label"),
                     "files_transferred": details.get("files_transferred"), "files_skipped": details.get("files_skipped"),
                     "bytes_transferred": details.get("bytes_transferred"), "fatal_error": details.get("fatal_error"),
                     "error": (run.get("errors") or {}).get("error") if run.get("errors") else None})
    return runs


def comparable(fields):
    """Transfer fields compared for idempotency: paths without their trailing slash (a file source is not recursive)."""
    out = dict(fields)
    out["transfer_items"] = [(i["source_path"].rstrip("/"), i["destination_path"].rstrip("/")) for i in fields["transfer_items"]]
    return out


def plan_timer(existing, wanted_fields, wanted_schedule, state):
    """What to do: ``create``, ``replace``, ``delete`` or ``none``, with the timers to delete. Pure."""
    if state == "absent":
        return {"action": "delete" if existing else "none", "delete": list(existing)}
    if not existing:
        return {"action": "create", "delete": []}
    if len(existing) > 1:
        return {"action": "replace", "delete": list(existing)}
    job = existing[0]
    if job.get("status") == "ended":
        return {"action": "replace", "delete": [job]}
    same = comparable(existing_fields(job)) == comparable(wanted_fields) and existing_schedule(job) == wanted_schedule
    return {"action": "none" if same else "replace", "delete": [] if same else [job]}


def list_named(timers, name):
    return [job for job in timers.list_jobs()["jobs"] if job.get("name") == name and job.get("timer_type", "transfer") == "transfer"]


def create_timer(timers, name, sync, schedule, start=None):
    import globus_sdk  # pylint: disable=import-outside-toplevel

    fields = transfer_fields(sync)
    data = globus_sdk.TransferData(sync["source_collection"], sync["destination_collection"], label=fields["label"],
                                   sync_level=fields["sync_level"], verify_checksum=fields["verify_checksum"],
                                   preserve_timestamp=fields["preserve_timestamp"], encrypt_data=fields["encrypt_data"],
                                   skip_source_errors=fields["skip_source_errors"], delete_destination_extra=False)
    for item in fields["transfer_items"]:
        data.add_item(item["source_path"], item["destination_path"], recursive=item["recursive"])
    for rule in fields["filter_rules"]:
        data.add_filter_rule(rule["name"], method=rule["method"], type=rule["type"])
    kwargs = {"interval_seconds": schedule["interval_seconds"]}
    if start:
        kwargs["start"] = start
    if schedule.get("stop_after_runs"):
        kwargs["end"] = {"count": int(schedule["stop_after_runs"])}
    response = timers.create_timer(globus_sdk.TransferTimer(name=name, body=data, schedule=globus_sdk.RecurringTimerSchedule(**kwargs)))
    return response.get("timer") or response.data


def delete_timer(timers, job_id):
    """Delete a timer; a 404 (already gone, e.g. a retry after a lost reply) is success."""
    try:
        timers.delete_job(job_id)
    except Exception as exc:  # pylint: disable=broad-except
        if not is_globus_error(exc, status=404):
            raise


def manage_timer(timers, transfer, params, app, check_mode=False):
    """Observe, plan and apply; returns the module result (without failing)."""
    result = {"changed": False, "action": "none", "timer": None, "recent_runs": [], "created_directories": [], "errors": []}
    name = params["name"]
    try:
        wanted_sync, wanted_schedule = desired_timer(params) if params["state"] == "present" else (None, None)
    except TimerError as exc:
        result["errors"].append(error(name, str(exc)))
        return result
    try:
        existing = list_named(timers, name)
        wanted_fields = transfer_fields(wanted_sync) if wanted_sync else None
        plan = plan_timer(existing, wanted_fields, wanted_schedule, params["state"])
        before = {"name": name, "timers": [{"schedule": existing_schedule(j), "transfer": existing_fields(j)} for j in existing]}
        after = {"name": name, "timers": [] if params["state"] == "absent" else [{"schedule": wanted_schedule, "transfer": wanted_fields}]}
        result["diff"] = {"before": before, "after": after if plan["action"] != "none" else before}
        result["action"] = plan["action"]
        result["changed"] = plan["action"] != "none"
        if params["state"] == "present" and plan["action"] != "none":
            recursive, created = preflight(transfer, wanted_sync, app, check_mode)
            result["created_directories"] = created
            wanted_sync["recursive"] = recursive
            if not recursive and wanted_sync.get("filter_rules"):
                raise SyncError("timer %s: filters apply to a directory; source %s is a file" % (name, wanted_sync["source_path"]))
        if check_mode:
            result["timer"] = timer_summary(existing[0]) if existing and plan["action"] == "none" else None
        else:
            for job in plan["delete"]:
                delete_timer(timers, job["job_id"])
            if plan["action"] in ("create", "replace") and params["state"] == "present":
                result["timer"] = timer_summary(create_timer(timers, name, wanted_sync, wanted_schedule, params.get("start")))
            elif plan["action"] == "none" and existing:
                result["timer"] = timer_summary(existing[0])
        if result["timer"] and result["timer"].get("job_id") and plan["action"] == "none":
            job = timers.get_job(result["timer"]["job_id"])
            result["timer"] = timer_summary(job)
            result["recent_runs"] = recent_runs(job, params.get("runs") or RUNS_SHOWN)
            if job.get("status") == "inactive":
                result["warnings"] = ["timer %s is inactive: %s" % (name, job.get("inactive_reason"))]
    except (SyncError, TimerError) as exc:
        result["errors"].append(error(name, str(exc)))
    except Exception as exc:  # pylint: disable=broad-except
        # describe_error re-raises what is not a Globus error
        result["errors"].append(error(name, "timer %s: Globus error: %s" % (name, describe_error(exc, "timers"))))
    return result


def run_module(module):
    """globus_timer."""
    from ansible_collections.sciops.datasync.plugins.module_utils._globus import clients  # pylint: disable=import-outside-toplevel

    params = module.params
    timers = clients.timers_client(module)
    transfer = clients.transfer_client(module) if params["state"] == "present" else None
    result = manage_timer(timers, transfer, params, clients.client_username(module), check_mode=module.check_mode)
    for warning in result.pop("warnings", []):
        module.warn(warning)
    exit_module(module, result)
