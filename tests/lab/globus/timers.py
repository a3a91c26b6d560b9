"""Globus Timers in the emulator: transfer timers that fire on the emulator clock.

Routes (served by server.py, service "timer"): ``POST /v2/timer`` (create, v2 body
``{"timer": {name, schedule, body, timer_type: transfer}}``), ``GET /jobs/`` (list),
``GET|PATCH|DELETE /jobs/{id}``, ``POST /jobs/{id}/pause|resume``. Documents follow the
recorded responses of globus_sdk.testing (``timer/create_timer``, ``get_job``, ``list_jobs``).

The engine calls ``fire_due`` each tick: a timer whose ``next_run`` has come submits its
transfer body as a real task owned by the timer's owner (``Engine.new_transfer_task``);
a run that cannot be submitted counts in ``n_errors``. ``POST /_lab/clock {advance}``
moves the clock, so a test makes a timer fire without waiting.
"""

from __future__ import annotations

import uuid

from tests.lab.globus.engine import SubmitError
from tests.lab.globus.model import iso, parse_time

RS_TIMERS = "524230d7-ea86-4a52-8312-86065a9e0417"
CALLBACK_URL = "https://transfer.actions.globus.org/transfer/run"
MIN_INTERVAL = 60
# what the Timers service fills in on a transfer body (recorded create_timer response)
BODY_DEFAULTS = {
    "delete_destination_extra": False, "encrypt_data": False, "fail_on_quota_errors": False, "notify_on_failed": True,
    "notify_on_inactive": True, "notify_on_succeeded": True, "preserve_timestamp": False, "skip_source_errors": False,
    "store_base_path_info": False, "verify_checksum": True,
}


class TimerError(Exception):
    def __init__(self, status, code, detail):
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


def error_body(status, code, detail):
    """The Timers error body (recorded: ``{"error": {code, detail, status}}``)."""
    return {"error": {"code": code, "detail": detail, "status": status}}


def validate_schedule(schedule, now):
    if not isinstance(schedule, dict) or schedule.get("type") not in ("recurring", "once"):
        raise TimerError(422, "VALIDATION_ERROR", "schedule.type must be recurring or once")
    out = {"type": schedule["type"]}
    try:
        if schedule["type"] == "once":
            out["datetime"] = iso(parse_time(schedule["datetime"])) if schedule.get("datetime") else iso(now)
            return out
        interval = int(schedule.get("interval_seconds") or 0)
        out["start"] = iso(parse_time(schedule["start"])) if schedule.get("start") else iso(now)
    except (TypeError, ValueError):
        raise TimerError(422, "VALIDATION_ERROR", "schedule times must be ISO 8601 datetimes")
    if interval < MIN_INTERVAL:
        raise TimerError(422, "VALIDATION_ERROR", "schedule.interval_seconds must be at least %d" % MIN_INTERVAL)
    out["interval_seconds"] = interval
    out["end"] = None
    end = schedule.get("end")
    if end:
        if not isinstance(end, dict) or not ("count" in end or "datetime" in end):
            raise TimerError(422, "VALIDATION_ERROR", "schedule.end needs count or datetime")
        out["end"] = {k: end[k] for k in ("count", "datetime") if k in end}
    return out


def validate_body(body):
    if not isinstance(body, dict) or body.get("DATA_TYPE") != "transfer":
        raise TimerError(422, "VALIDATION_ERROR", "body must be a transfer document (DATA_TYPE transfer)")
    for key in ("source_endpoint", "destination_endpoint"):
        if not body.get(key):
            raise TimerError(422, "VALIDATION_ERROR", "body.%s is required" % key)
    if not body.get("DATA"):
        raise TimerError(422, "VALIDATION_ERROR", "body.DATA needs at least one transfer_item")
    clean = dict(BODY_DEFAULTS)
    clean.update((k, v) for k, v in body.items() if k != "submission_id")
    return clean


def first_run(schedule):
    return parse_time(schedule["datetime"] if schedule["type"] == "once" else schedule["start"])


def create(state, owner, doc):
    timer = doc.get("timer") if isinstance(doc, dict) else None
    if not isinstance(timer, dict):
        raise TimerError(422, "VALIDATION_ERROR", "the body must be {\"timer\": {...}}")
    if timer.get("timer_type", "transfer") != "transfer":
        raise TimerError(422, "VALIDATION_ERROR", "only transfer timers are emulated")
    now = state.now()
    schedule = validate_schedule(timer.get("schedule"), now)
    body = validate_body(timer.get("body"))
    name = timer.get("name") or "Timer %s" % iso(now)
    job_id = str(uuid.uuid4())
    job = {
        "job_id": job_id, "owner_id": owner, "name": name, "schedule": schedule, "body": body,
        "status": "new", "inactive_reason": None, "submitted_at": now, "last_ran_at": None,
        "next_run": first_run(schedule), "n_runs": 0, "n_errors": 0, "results": [],
    }
    state.data.setdefault("timers", {})[job_id] = job
    state.mark()
    return job


def stop_after(job):
    end = job["schedule"].get("end") or {}
    if job["schedule"]["type"] == "once":
        return {"date": None, "n_runs": 1}
    return {"date": end.get("datetime"), "n_runs": end.get("count")}


def v2_doc(job):
    """The v2 timer document (create_timer's ``timer``)."""
    return {
        "body": dict(job["body"]), "inactive_reason": job["inactive_reason"], "job_id": job["job_id"],
        "last_ran_at": iso(job["last_ran_at"]), "name": job["name"], "next_run": iso(job["next_run"]),
        "number_of_errors": job["n_errors"], "number_of_runs": job["n_runs"], "schedule": dict(job["schedule"]),
        "status": job["status"], "submitted_at": iso(job["submitted_at"]), "timer_type": "transfer",
    }


def run_result(result, job, describe):
    """A run as get_job shows it (the Transfer action provider's action document), with the task as it is now."""
    out = dict(result)
    data = result.get("data")
    if not data:
        return out
    task = describe(data["action_id"]) if describe else None
    details = dict(task or data.get("details") or {}, event_list=[])
    status = (task or {}).get("status") or data.get("status")
    out["data"] = {
        "action_id": data["action_id"], "completion_time": details.get("completion_time"),
        "creator_id": "urn:globus:auth:identity:%s" % job["owner_id"], "details": details,
        "display_status": status, "label": details.get("label"), "manage_by": [], "monitor_by": [],
        "release_after": "P30D", "start_time": result["ran_at"], "status": "SUCCEEDED" if status == "SUCCEEDED" else (
            "FAILED" if status == "FAILED" else "ACTIVE"),
    }
    return out


def action_body(body):
    """The transfer body as the Transfer action provider takes it (the v1 ``callback_body.body``)."""
    out = {
        "label": body.get("label"), "sync_level": body.get("sync_level"), "source_endpoint_id": body["source_endpoint"],
        "destination_endpoint_id": body["destination_endpoint"],
        "transfer_items": [{"source_path": i["source_path"], "destination_path": i["destination_path"],
                            "recursive": bool(i.get("recursive", False))} for i in body.get("DATA") or []],
    }
    for key in ("verify_checksum", "skip_source_errors", "preserve_timestamp", "delete_destination_extra", "encrypt_data",
                "fail_on_quota_errors", "deadline", "filter_rules"):
        if key in body:
            out[key] = body[key]
    return out


def job_doc(job, results=True, describe=None):
    """The /jobs document (get_job, list_jobs): v1 fields as recorded, plus the v2 ones."""
    schedule = job["schedule"]
    doc = {
        "job_id": job["job_id"], "name": job["name"],
        "start": schedule.get("start") or schedule.get("datetime"),
        "interval": float(schedule["interval_seconds"]) if schedule.get("interval_seconds") else None,
        "stop_after": stop_after(job), "callback_url": CALLBACK_URL, "callback_body": {"body": action_body(job["body"])},
        "body": dict(job["body"]),
        "inactive_reason": job["inactive_reason"], "scope": None, "status": job["status"],
        "submitted_at": iso(job["submitted_at"]), "last_ran_at": iso(job["last_ran_at"]), "next_run": iso(job["next_run"]),
        "n_runs": job["n_runs"], "n_errors": job["n_errors"], "timer_type": "transfer", "schedule": dict(schedule),
        "activity": ({"code": "awaiting_next_run", "start_timestamp": None} if job["status"] in ("new", "loaded")
                     else ({"code": "paused", "start_timestamp": None} if job["status"] == "inactive" else None)),
    }
    if results:
        doc["results"] = {"data": [run_result(r, job, describe) for r in list(reversed(job["results"]))[:50]], "page_next": None}
    return doc


def get(state, owner, job_id):
    job = state.data.get("timers", {}).get(job_id)
    if job is None or job["owner_id"] != owner:
        raise TimerError(404, "NOT_FOUND", "Timer %s not found" % job_id)
    return job


def update(state, owner, job_id, patch):
    job = get(state, owner, job_id)
    if not isinstance(patch, dict):
        raise TimerError(422, "VALIDATION_ERROR", "the body must be an object")
    for key in patch:
        if key not in ("name", "schedule", "body"):
            raise TimerError(422, "VALIDATION_ERROR", "%s cannot be updated" % key)
    if "name" in patch:
        job["name"] = str(patch["name"])
    if "schedule" in patch:
        job["schedule"] = validate_schedule(patch["schedule"], state.now())
        job["next_run"] = max(first_run(job["schedule"]), state.now()) if job["status"] != "ended" else None
    if "body" in patch:
        job["body"] = validate_body(patch["body"])
    state.mark()
    return job


def delete(state, owner, job_id):
    job = get(state, owner, job_id)
    del state.data["timers"][job_id]
    job["status"] = "deleted"
    state.mark()
    return job


def set_paused(state, owner, job_id, paused):
    job = get(state, owner, job_id)
    if paused:
        job["status"], job["inactive_reason"] = "inactive", {"cause": "user", "detail": None}
    elif job["status"] == "inactive":
        job["status"], job["inactive_reason"] = "loaded", None
        now = state.now()
        while job["next_run"] is not None and job["next_run"] < now and job["schedule"].get("interval_seconds"):
            job["next_run"] += job["schedule"]["interval_seconds"]
    state.mark()
    return job


def ended(job):
    schedule = job["schedule"]
    if schedule["type"] == "once":
        return job["n_runs"] + job["n_errors"] >= 1
    end = schedule.get("end") or {}
    if end.get("count") is not None and job["n_runs"] + job["n_errors"] >= int(end["count"]):
        return True
    if end.get("datetime") and job["next_run"] is not None and job["next_run"] > parse_time(end["datetime"]):
        return True
    return False


def fire_due(state, engine, now):
    """Run every timer whose next_run has come (at most one run per timer per call)."""
    for job in list(state.data.get("timers", {}).values()):
        if job["status"] not in ("new", "loaded") or job["next_run"] is None or job["next_run"] > now:
            continue
        body = dict(job["body"])
        body.setdefault("label", job["name"])
        try:
            task = engine.new_transfer_task(job["owner_id"], body, now)
            job["n_runs"] += 1
            job["results"].append({"ran_at": iso(now), "status": 202, "errors": None,
                                   "data": {"action_id": task["task_id"], "status": "ACTIVE",
                                            "details": {"task_id": task["task_id"], "label": task["label"], "status": "ACTIVE"}}})
        except SubmitError as exc:
            job["n_errors"] += 1
            job["results"].append({"ran_at": iso(now), "status": exc.status, "errors": error_body(exc.status, exc.code, exc.message),
                                   "data": None})
        job["last_ran_at"] = now
        job["status"] = "loaded"
        interval = job["schedule"].get("interval_seconds")
        job["next_run"] = job["next_run"] + interval if interval else None
        if interval:
            while job["next_run"] <= now:  # a clock jump fires once, then the next run is in the future
                job["next_run"] += interval
        if ended(job) or job["next_run"] is None:
            job["status"], job["next_run"] = "ended", None
        state.mark()
