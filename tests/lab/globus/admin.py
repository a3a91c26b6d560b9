"""Admin routes of the Globus emulator (/_lab/...): fault injection, clock, fixtures. See README.md."""

from __future__ import annotations

import fnmatch
import json
import re
import uuid

from tests.lab.globus.model import ROLES, STATUSES, iso


class AdminError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


def body_of(handler):
    if not handler.raw_body:
        return {}
    try:
        value = json.loads(handler.raw_body.decode("utf-8"))
    except ValueError:
        raise AdminError(400, "invalid JSON body")
    if not isinstance(value, dict):
        raise AdminError(400, "body must be a JSON object")
    return value


def handle(handler, method):
    path = handler.path_only.rstrip("/")
    for route_method, pattern, function in ROUTES:
        match = re.match("^" + pattern + "$", path)
        if match and route_method == method:
            try:
                with handler.lab.state.lock:
                    return function(handler, body_of(handler), **match.groupdict())
            except AdminError as exc:
                return exc.status, {"error": exc.message}
            except (KeyError, TypeError, ValueError) as exc:
                return 400, {"error": "bad request: %r" % (exc,)}
    return 404, {"error": "no admin route %s %s" % (method, path), "routes": ["%s %s" % (m, p) for m, p, f in ROUTES]}


def health(handler, body):
    state = handler.lab.state
    return 200, {"ok": True, "now": iso(state.now()), "counts": {k: len(state.data[k]) for k in
                                                                 ("clients", "identities", "groups", "collections", "tasks", "tokens")}}


def add_fault(handler, body):
    status = int(body["status"])
    if not 100 <= status <= 599:
        raise AdminError(400, "status must be an HTTP status")
    rule = {
        "id": str(uuid.uuid4()), "pattern": body.get("pattern", "*"), "method": body.get("method"),
        "status": status, "remaining": int(body.get("count", 1)), "retry_after": body.get("retry_after"),
        "client_id": body.get("client_id"), "code": body.get("code"), "message": body.get("message"),
        "body": body.get("body"), "hits": 0, "after": bool(body.get("after", False)),
    }
    with handler.lab.fault_lock:
        handler.lab.faults.append(rule)
    return 201, rule


def list_faults(handler, body):
    with handler.lab.fault_lock:
        return 200, {"faults": list(handler.lab.faults), "latency": list(handler.lab.latency)}


def clear_faults(handler, body):
    client = handler.query.get("client_id") or body.get("client_id")
    with handler.lab.fault_lock:
        before = len(handler.lab.faults) + len(handler.lab.latency)
        handler.lab.faults[:] = [f for f in handler.lab.faults if client and f.get("client_id") != client]
        handler.lab.latency[:] = [f for f in handler.lab.latency if client and f.get("client_id") != client]
        after = len(handler.lab.faults) + len(handler.lab.latency)
    return 200, {"cleared": before - after}


def add_latency(handler, body):
    rule = {"id": str(uuid.uuid4()), "seconds": float(body["seconds"]), "pattern": body.get("pattern", "*"),
            "client_id": body.get("client_id")}
    with handler.lab.fault_lock:
        if rule["seconds"] <= 0:
            handler.lab.latency[:] = [r for r in handler.lab.latency if not (r["pattern"] == rule["pattern"] and r["client_id"] == rule["client_id"])]
            return 200, {"cleared": True}
        handler.lab.latency.append(rule)
    return 201, rule


def expire_tokens(handler, body):
    state = handler.lab.state
    client = body.get("client_id")
    count = 0
    for token in state.data["tokens"].values():
        if client and token["client_id"] != client:
            continue
        if token["expires_at"] > state.now():
            token["expires_at"] = state.now() - 1
            count += 1
    state.mark()
    return 200, {"expired": count}


def task_or_404(handler, tid):
    task = handler.lab.state.data["tasks"].get(tid)
    if task is None:
        raise AdminError(404, "no task %s" % tid)
    return task


def task_view(task):
    return {k: v for k, v in task.items() if not k.startswith("plan")}


def get_task(handler, body, tid):
    return 200, task_view(task_or_404(handler, tid))


def list_tasks(handler, body):
    client = handler.query.get("client_id")
    tasks = [t for t in handler.lab.state.data["tasks"].values() if not client or t["owner_id"] == client]
    tasks.sort(key=lambda t: t["request_time"])
    return 200, {"tasks": [{k: t[k] for k in ("task_id", "owner_id", "label", "status", "nice_status", "files",
                                              "files_transferred", "files_skipped", "bytes_transferred", "submission_id")}
                           for t in tasks]}


def fail_task(handler, body, tid):
    task = task_or_404(handler, tid)
    if task["status"] != "ACTIVE":
        raise AdminError(409, "task %s is %s" % (tid, task["status"]))
    handler.lab.engine.fail(task, body.get("code", "FAULT_INJECTED"), body.get("description", "failed by the lab"),
                            handler.lab.state.now())
    return 200, task_view(task)


def fault_task(handler, body, tid):
    """The task stays ACTIVE with fault events (code, e.g. PERMISSION_DENIED) until resumed or its deadline."""
    task = task_or_404(handler, tid)
    if task["status"] != "ACTIVE":
        raise AdminError(409, "task %s is %s" % (tid, task["status"]))
    handler.lab.engine.stall(task, body.get("code", "PERMISSION_DENIED"), body.get("description", "Permission denied"),
                             handler.lab.state.now())
    return 200, task_view(task)


def resume_task(handler, body, tid):
    task = task_or_404(handler, tid)
    handler.lab.engine.unstall(task)
    return 200, task_view(task)


def set_role(handler, body, cid):
    """A collection role (administrator, access_manager, ...) for an identity; ``role: null`` removes it."""
    state = handler.lab.state
    coll = state.data["collections"].get(cid)
    if coll is None:
        raise AdminError(404, "no collection %s" % cid)
    principal = state.resolve_identity(body.get("principal") or "")
    if principal is None:
        raise AdminError(400, "unknown principal %r" % body.get("principal"))
    roles = coll.setdefault("roles", {})
    role = body.get("role")
    if role is None:
        roles.pop(principal, None)
    elif role not in ("administrator", "access_manager", "activity_manager", "activity_monitor"):
        raise AdminError(400, "role must be administrator, access_manager, activity_manager or activity_monitor")
    else:
        roles[principal] = role
    state.mark()
    return 200, {"id": cid, "roles": roles}


def list_timers(handler, body):
    client = handler.query.get("client_id")
    jobs = [j for j in handler.lab.state.data.get("timers", {}).values() if not client or j["owner_id"] == client]
    return 200, {"timers": jobs}


def expire_task(handler, body, tid):
    task = task_or_404(handler, tid)
    if task["status"] != "ACTIVE":
        raise AdminError(409, "task %s is %s" % (tid, task["status"]))
    handler.lab.engine.expire(task, handler.lab.state.now())
    return 200, task_view(task)


def clock(handler, body):
    state = handler.lab.state
    config = state.data["config"]
    if "advance" in body:
        config["clock_offset"] = float(config.get("clock_offset") or 0) + float(body["advance"])
    if "offset" in body:
        config["clock_offset"] = float(body["offset"])
    state.mark()
    return 200, {"now": iso(state.now()), "offset": config["clock_offset"]}


def get_clock(handler, body):
    state = handler.lab.state
    return 200, {"now": iso(state.now()), "offset": state.data["config"]["clock_offset"]}


def set_config(handler, body):
    state = handler.lab.state
    config = state.data["config"]
    client = body.get("client_id")
    if "transfer_rate" in body:
        rate = body["transfer_rate"]
        rate = None if rate in (None, 0) else float(rate)
        if client:
            if rate is None:
                config["client_rates"].pop(client, None)
            else:
                config["client_rates"][client] = rate
        else:
            config["transfer_rate"] = rate
    if client and "page_size" in body:
        config.setdefault("client_page_sizes", {})[client] = int(body["page_size"])
        body = dict(body)
        del body["page_size"]
    for key in ("page_size", "token_lifetime", "max_active"):
        if key in body:
            config[key] = int(body[key])
    state.mark()
    return 200, config


def get_config(handler, body):
    return 200, handler.lab.state.data["config"]


def add_client(handler, body):
    state = handler.lab.state
    client = state.add_client(body.get("client_id"), body.get("client_secret"), body.get("name"))
    return 201, {"client_id": client["id"], "client_secret": client["secret"],
                 "username": state.data["identities"][client["id"]]["username"]}


def add_identity(handler, body):
    state = handler.lab.state
    existing = state.identity_by_username(body["username"])
    if existing and not body.get("id"):
        return 200, existing
    ident = state.add_identity(body["username"], body.get("id"), body.get("name"), body.get("email"),
                               body.get("organization"), body.get("status", "used"))
    return 201, ident


def update_identity(handler, body, identity_id):
    state = handler.lab.state
    ident = state.data["identities"].get(identity_id) or state.identity_by_username(identity_id)
    if ident is None:
        raise AdminError(404, "no identity %s" % identity_id)
    for key in ("name", "email", "organization", "status", "username"):
        if key in body:
            ident[key] = body[key]
    if "username" in body:
        state._by_username = None  # pylint: disable=protected-access
        for group in state.data["groups"].values():
            member = group["memberships"].get(ident["id"])
            if member:
                member["username"] = ident["username"]
    if body.get("touch_memberships", True):
        for group in state.data["groups"].values():
            member = group["memberships"].get(ident["id"])
            if member:
                member["updated"] = state.now()
    state.mark()
    return 200, ident


def add_collection(handler, body):
    state = handler.lab.state
    owner = state.resolve_identity(body["owner"])
    if owner is None:
        raise AdminError(400, "unknown owner %r" % body["owner"])
    coll = state.add_collection(body["display_name"], owner, body.get("id") or str(uuid.uuid4()), body.get("folder"),
                                body.get("entity_type", "GCSv5_guest_collection"), body.get("description", ""))
    return 201, dict(coll, root=state.collection_root(coll))


def get_collection(handler, body, cid):
    state = handler.lab.state
    coll = state.data["collections"].get(cid)
    if coll is None:
        raise AdminError(404, "no collection %s" % cid)
    return 200, dict(coll, root=state.collection_root(coll), acl=list(state.data["acl"].get(cid, {}).values()))


def list_collections(handler, body):
    state = handler.lab.state
    return 200, {"collections": [dict(c, root=state.collection_root(c)) for c in state.data["collections"].values()]}


def add_acl(handler, body, cid):
    state = handler.lab.state
    if cid not in state.data["collections"]:
        raise AdminError(404, "no collection %s" % cid)
    principal = body.get("principal", "")
    if body.get("principal_type", "identity") == "identity":
        principal = state.resolve_identity(principal) or principal
    rule = state.add_acl(cid, body.get("principal_type", "identity"), principal, body.get("path", "/"), body.get("permissions", "r"))
    return 201, rule


def add_group(handler, body):
    state = handler.lab.state
    group = state.add_group(body["name"], body.get("id") or str(uuid.uuid4()), body.get("description", ""),
                            body.get("parent_id"), body.get("policies"))
    for member in body.get("members", []):
        set_member(handler, member, group["id"])
    return 201, {"id": group["id"], "name": group["name"], "memberships": list(group["memberships"].values())}


def set_member(handler, body, gid):
    state = handler.lab.state
    group = state.data["groups"].get(gid)
    if group is None:
        raise AdminError(404, "no group %s" % gid)
    identity_id = state.resolve_identity(body.get("identity") or body.get("username") or body.get("identity_id"))
    if identity_id is None:
        raise AdminError(400, "unknown identity")
    role, status = body.get("role", "member"), body.get("status", "active")
    if role not in ROLES or status not in STATUSES:
        raise AdminError(400, "role must be one of %s and status one of %s" % (ROLES, STATUSES))
    return 200, state.set_membership(group, identity_id, role, status, body.get("membership_fields"))


def get_group(handler, body, gid):
    group = handler.lab.state.data["groups"].get(gid)
    if group is None:
        raise AdminError(404, "no group %s" % gid)
    return 200, group


def requests_log(handler, body):
    pattern = handler.query.get("path")
    since = float(handler.query.get("since") or 0)
    rows = [r for r in list(handler.lab.requests) if r["time"] >= since and (not pattern or fnmatch.fnmatchcase(r["path"], pattern))]
    client = handler.query.get("client_id")
    if client:
        rows = [r for r in rows if r["client_id"] == client]
    return 200, {"requests": rows}


def clear_requests(handler, body):
    handler.lab.requests.clear()
    return 200, {"cleared": True}


def notifications(handler, body):
    return 200, {"notifications": handler.lab.state.data["notifications"]}


def reset(handler, body):
    handler.lab.state.reset(body.get("seed"))
    with handler.lab.fault_lock:
        handler.lab.faults[:] = []
        handler.lab.latency[:] = []
    return 200, {"reset": True}


def save(handler, body):
    handler.lab.state.save()
    return 200, {"saved": handler.lab.state.path}


ROUTES = [
    ("GET", r"/_lab/health", health),
    ("GET", r"/_lab", health),
    ("POST", r"/_lab/faults", add_fault),
    ("GET", r"/_lab/faults", list_faults),
    ("DELETE", r"/_lab/faults", clear_faults),
    ("POST", r"/_lab/latency", add_latency),
    ("DELETE", r"/_lab/latency", clear_faults),
    ("POST", r"/_lab/tokens/expire", expire_tokens),
    ("GET", r"/_lab/tasks", list_tasks),
    ("GET", r"/_lab/tasks/(?P<tid>[^/]+)", get_task),
    ("POST", r"/_lab/tasks/(?P<tid>[^/]+)/fail", fail_task),
    ("POST", r"/_lab/tasks/(?P<tid>[^/]+)/expire", expire_task),
    ("POST", r"/_lab/tasks/(?P<tid>[^/]+)/fault", fault_task),
    ("POST", r"/_lab/tasks/(?P<tid>[^/]+)/resume", resume_task),
    ("POST", r"/_lab/collections/(?P<cid>[^/]+)/roles", set_role),
    ("GET", r"/_lab/timers", list_timers),
    ("GET", r"/_lab/clock", get_clock),
    ("POST", r"/_lab/clock", clock),
    ("GET", r"/_lab/config", get_config),
    ("POST", r"/_lab/config", set_config),
    ("POST", r"/_lab/clients", add_client),
    ("POST", r"/_lab/identities", add_identity),
    ("PUT", r"/_lab/identities/(?P<identity_id>[^/]+)", update_identity),
    ("GET", r"/_lab/collections", list_collections),
    ("POST", r"/_lab/collections", add_collection),
    ("GET", r"/_lab/collections/(?P<cid>[^/]+)", get_collection),
    ("POST", r"/_lab/collections/(?P<cid>[^/]+)/acl", add_acl),
    ("POST", r"/_lab/groups", add_group),
    ("GET", r"/_lab/groups/(?P<gid>[^/]+)", get_group),
    ("POST", r"/_lab/groups/(?P<gid>[^/]+)/members", set_member),
    ("GET", r"/_lab/requests", requests_log),
    ("DELETE", r"/_lab/requests", clear_requests),
    ("GET", r"/_lab/notifications", notifications),
    ("POST", r"/_lab/reset", reset),
    ("POST", r"/_lab/save", save),
]
