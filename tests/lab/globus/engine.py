"""Transfer task engine: really copies files between collection folders.

A background thread advances every ACTIVE task: at most ``max_active`` (3) per owning
client make progress, the others stay ACTIVE with nice_status "Queued". The source is
walked when a task starts; each file is then compared with the destination by the task's
sync_level when it is reached and copied (temp file + rename, so the destination only ever
holds whole files) or skipped. A transfer rate (bytes/s, global or per client) spreads the
copying over time, so a deadline can pass in the middle of a task: the task then FAILS
with an EXPIRED event and keeps what was already copied.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import posixpath
import shutil
import stat
import time
import uuid

from tests.lab.globus.model import iso, parse_time

TICK = 0.05
SYNC_LEVELS = {"exists": 0, "size": 1, "mtime": 2, "checksum": 3}
STALL_EVENT_EVERY = 60.0  # emulator seconds between the fault events of a stalled task
FATAL_LOOKING = ("PERMISSION_DENIED", "FILE_NOT_FOUND", "QUOTA_EXCEEDED", "ENDPOINT_ERROR")


class SubmitError(Exception):
    """A transfer/delete document Transfer refuses: (HTTP status, code, message)."""

    def __init__(self, status, code, message):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def label_problem(label):
    """Transfer's label rule: at most 128 characters, no CR/LF, no leading or trailing whitespace."""
    if label is None:
        return None
    if not isinstance(label, str):
        return "label must be a string"
    if len(label) > 128:
        return "label is longer than 128 characters"
    if "\r" in label or "\n" in label:
        return "label must not contain a carriage return or a newline"
    if label != label.strip():
        return "label must not start or end with whitespace"
    return None


def filter_rules_problem(rules):
    if rules is None:
        return None
    if not isinstance(rules, list):
        return "filter_rules must be a list"
    for rule in rules:
        if not isinstance(rule, dict) or rule.get("DATA_TYPE", "filter_rule") != "filter_rule":
            return "each filter rule is {DATA_TYPE: filter_rule, method, name, type?}"
        if rule.get("method", "exclude") not in ("include", "exclude"):
            return "filter rule method must be include or exclude"
        if rule.get("type") not in (None, "file", "dir"):
            return "filter rule type must be file or dir"
        if not isinstance(rule.get("name"), str) or not rule["name"]:
            return "filter rule name must be a non-empty pattern"
    return None


def filter_allows(rules, name, kind):
    """Transfer's filter rules: the first rule matching the item's name (and type) decides; none matching = included."""
    for rule in rules or ():
        if rule.get("type") and rule["type"] != kind:
            continue
        if fnmatch.fnmatchcase(name, rule["name"]):
            return rule.get("method", "exclude") == "include"
    return True


class PathError(Exception):
    pass


def norm_path(path):
    """A collection path -> normalized absolute posix path ("/" based, no trailing slash except root)."""
    path = path or "/"
    if path.startswith("/~/") or path in ("~", "/~", "~/"):
        path = "/" + path.split("~", 1)[1]
    elif path.startswith("~"):
        path = "/" + path[1:]
    if "\x00" in path:
        raise PathError("NUL in path")
    return posixpath.normpath("/" + path.lstrip("/")) if path.strip("/") else "/"


def local_path(root, path):
    """Map a collection path to the backing folder; refuse symlink escapes."""
    rel = norm_path(path).lstrip("/")
    target = os.path.join(root, rel) if rel else root
    real_root = os.path.realpath(root)
    real = os.path.realpath(target)
    if real != real_root and not real.startswith(real_root + os.sep):
        raise PathError("path leaves the collection")
    return target


def md5(path):
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def group_ids_of(state, identity_id):
    found = set()
    for group in state.data["groups"].values():
        member = group["memberships"].get(identity_id)
        if member and member["status"] == "active":
            found.add(group["id"])
    return found


def permissions(state, collection, identity_id, path):
    """'rw', 'r' or '' for an identity on a collection path."""
    if collection["owner_id"] == identity_id or identity_id in (collection.get("roles") or {}):
        return "rw"  # administrators and access managers: the role-derived rw rule on /
    path = norm_path(path)
    probe = path if path.endswith("/") else path + "/"
    best = ""
    groups = None
    for rule in state.data["acl"].get(collection["id"], {}).values():
        if not probe.startswith(rule["path"]):
            continue
        kind = rule["principal_type"]
        if kind == "identity" and rule["principal"] != identity_id:
            continue
        if kind == "group":
            if groups is None:
                groups = group_ids_of(state, identity_id)
            if rule["principal"] not in groups:
                continue
        if kind not in ("identity", "group", "all_authenticated_users", "anonymous"):
            continue
        if rule["permissions"] == "rw":
            return "rw"
        best = "r"
    return best


def event(task, code, description, details="", is_error=False, now=None):
    task["events"].append({
        "DATA_TYPE": "event",
        "code": code,
        "is_error": is_error,
        "description": description,
        "details": details,
        "time": iso(now if now is not None else time.time()),
    })


def finish(task, status, now, fatal=None):
    task["status"] = status
    task["nice_status"] = None
    task["completion_time"] = now
    task["fatal_error"] = fatal
    task["subtasks_pending"] = 0
    task.pop("plan", None)


class Engine:
    def __init__(self, state):
        self.state = state

    def loop(self):
        last = time.monotonic()
        while True:
            time.sleep(TICK)
            now_mono = time.monotonic()
            elapsed, last = now_mono - last, now_mono
            try:
                self.tick(elapsed)
            except Exception as exc:  # keep the engine alive; the log shows it
                print("globus lab engine: %r" % (exc,), flush=True)

    def rate_for(self, owner):
        config = self.state.data["config"]
        rate = config.get("client_rates", {}).get(owner)
        if rate is None:
            rate = config.get("transfer_rate")
        return rate

    def tick(self, elapsed):
        state = self.state
        with state.lock:
            now = state.now()
            from tests.lab.globus import timers  # pylint: disable=import-outside-toplevel

            timers.fire_due(state, self, now)
            by_owner = {}
            for task in state.data["tasks"].values():
                if task["status"] == "ACTIVE":
                    by_owner.setdefault(task["owner_id"], []).append(task)
            limit = int(state.data["config"].get("max_active") or 3)
            for owner, tasks in by_owner.items():
                tasks.sort(key=lambda t: (t["request_time"], t["task_id"]))
                for index, task in enumerate(tasks):
                    if task["deadline"] is not None and now >= task["deadline"]:
                        self.expire(task, now)
                        continue
                    if index >= limit and not task.get("plan_started"):
                        task["nice_status"] = "Queued"
                        continue
                    if task.get("stall"):
                        self.stalled(task, now)
                        continue
                    if task["type"] == "DELETE":
                        self.run_delete(task, now)
                    else:
                        self.advance(task, now, elapsed)
                    state.mark()

    def expire(self, task, now):
        event(task, "EXPIRED", "deadline expired", "The task's deadline passed before it completed; "
              "%d of %d files were transferred" % (task["files_transferred"], task["files"]), True, now)
        finish(task, "FAILED", now, {"code": "EXPIRED", "description": "deadline expired"})
        self.state.mark()

    def fail(self, task, code, description, now):
        event(task, code, description, "", True, now)
        finish(task, "FAILED", now, {"code": code, "description": description})
        self.state.mark()

    def stall(self, task, code, description, now):
        """The task stays ACTIVE with a fault (as real Transfer retries e.g. PERMISSION_DENIED until the deadline)."""
        task["stall"] = {"code": code, "description": description, "last_event": None}
        self.stalled(task, now)

    def stalled(self, task, now):
        stall = task["stall"]
        if stall["last_event"] is None or now - stall["last_event"] >= STALL_EVENT_EVERY:
            event(task, stall["code"], stall["description"], "Error on the endpoint; Globus will retry until the deadline", True, now)
            stall["last_event"] = now
            task["faults"] += 1
        task["nice_status"] = stall["code"]
        task["nice_status_short_description"] = stall["code"].replace("_", " ").lower()
        self.state.mark()

    def unstall(self, task):
        task.pop("stall", None)
        task["nice_status"] = "OK"
        task.pop("nice_status_short_description", None)
        self.state.mark()

    def cancel(self, task, now):
        event(task, "CANCELED", "canceled", "The task was canceled by its owner", True, now)
        finish(task, "FAILED", now, {"code": "CANCELED", "description": "canceled"})
        self.state.mark()

    # ---- planning ----------------------------------------------------------------------
    def plan(self, task, now):
        state = self.state
        src_coll = state.data["collections"].get(task["source_endpoint_id"])
        dst_coll = state.data["collections"].get(task["destination_endpoint_id"])
        if src_coll is None or dst_coll is None:
            return self.fail(task, "ENDPOINT_NOT_FOUND", "collection no longer exists", now)
        src_root, dst_root = state.collection_root(src_coll), state.collection_root(dst_coll)
        ops = []
        extras = []
        directories = 0
        for item in task["items"]:
            src_path, dst_path = norm_path(item["source_path"]), norm_path(item["destination_path"])
            try:
                src_local = local_path(src_root, src_path)
                local_path(dst_root, dst_path)
            except PathError as exc:
                return self.fail(task, "PERMISSION_DENIED", "%s: %s" % (src_path, exc), now)
            if not os.path.lexists(src_local):
                if task.get("skip_source_errors"):
                    task["skipped_errors"].append({
                        "DATA_TYPE": "skipped_error", "source_path": src_path, "destination_path": dst_path,
                        "error_code": "FILE_NOT_FOUND", "error_details": "No such file or directory",
                        "error_time": iso(now), "is_directory": bool(item.get("recursive")), "is_symlink": False,
                    })
                    continue
                return self.fail(task, "FILE_NOT_FOUND", "%s: No such file or directory" % src_path, now)
            if os.path.isdir(src_local):
                if not item.get("recursive"):
                    return self.fail(task, "NOT_A_FILE", "%s is a directory; set recursive" % src_path, now)
                ops.append({"kind": "dir", "src": src_path, "dst": dst_path})
                directories += 1
                for dirpath, dirnames, filenames in os.walk(src_local):
                    dirnames.sort()
                    rel = os.path.relpath(dirpath, src_local)
                    rel = "" if rel == "." else rel.replace(os.sep, "/")
                    rules = task.get("filter_rules")
                    dirnames[:] = [d for d in dirnames if filter_allows(rules, d, "dir")]
                    for name in dirnames:
                        full = os.path.join(dirpath, name)
                        if os.path.islink(full):
                            continue
                        sub = posixpath.join(rel, name)
                        ops.append({"kind": "dir", "src": posixpath.join(src_path, sub), "dst": posixpath.join(dst_path, sub)})
                        directories += 1
                    for name in sorted(filenames):
                        full = os.path.join(dirpath, name)
                        if os.path.islink(full) or not os.path.isfile(full) or not filter_allows(rules, name, "file"):
                            continue
                        sub = posixpath.join(rel, name)
                        ops.append({"kind": "file", "src": posixpath.join(src_path, sub), "dst": posixpath.join(dst_path, sub),
                                    "size": os.path.getsize(full)})
                if task.get("delete_destination_extra"):
                    extras.append({"src": src_path, "dst": dst_path})
            else:
                ops.append({"kind": "file", "src": src_path, "dst": dst_path, "size": os.path.getsize(src_local)})
        task["plan"] = ops
        task["plan_extras"] = extras
        task["plan_index"] = 0
        task["plan_partial"] = 0
        task["plan_started"] = True
        task["files"] = sum(1 for op in ops if op["kind"] == "file")
        task["directories"] = directories
        task["subtasks_total"] = len(ops)
        task["subtasks_pending"] = len(ops)
        task["nice_status"] = "OK"
        event(task, "STARTED", "started", "Starting transfer of %d files" % task["files"], False, now)
        return None

    # ---- execution ---------------------------------------------------------------------
    def should_copy(self, task, src, dst):
        if not os.path.exists(dst):
            return True
        level = task.get("sync_level")
        if level is None:
            return True
        if level == 0:
            return False
        src_stat, dst_stat = os.stat(src), os.stat(dst)
        if level == 2:
            # mtime: copy when the destination is older than the source (sizes are not compared)
            return int(src_stat.st_mtime) > int(dst_stat.st_mtime)
        if src_stat.st_size != dst_stat.st_size:
            return True
        if level == 1:
            return False
        task["bytes_checksummed"] += src_stat.st_size
        return md5(src) != md5(dst)

    def advance(self, task, now, elapsed):
        if task.get("plan") is None:
            if self.plan(task, now) is not None or task["status"] != "ACTIVE":
                return
        state = self.state
        src_root = state.collection_root(state.data["collections"][task["source_endpoint_id"]])
        dst_root = state.collection_root(state.data["collections"][task["destination_endpoint_id"]])
        rate = self.rate_for(task["owner_id"])
        budget = None if not rate else float(rate) * max(elapsed, TICK) + task.get("plan_carry", 0.0)
        started = time.monotonic()
        ops = task["plan"]
        while task["plan_index"] < len(ops):
            if time.monotonic() - started > 0.25:
                return
            op = ops[task["plan_index"]]
            try:
                src = local_path(src_root, op["src"])
                dst = local_path(dst_root, op["dst"])
            except PathError as exc:
                return self.fail(task, "PERMISSION_DENIED", "%s: %s" % (op["src"], exc), now)
            if op["kind"] == "dir":
                os.makedirs(dst, exist_ok=True)
                task["plan_index"] += 1
                task["subtasks_pending"] -= 1
                task["subtasks_succeeded"] += 1
                continue
            if not os.path.isfile(src):
                if task.get("skip_source_errors"):
                    task["skipped_errors"].append({
                        "DATA_TYPE": "skipped_error", "source_path": op["src"], "destination_path": op["dst"],
                        "error_code": "FILE_NOT_FOUND", "error_details": "No such file or directory",
                        "error_time": iso(now), "is_directory": False, "is_symlink": False,
                    })
                    task["plan_index"] += 1
                    task["subtasks_pending"] -= 1
                    continue
                return self.fail(task, "FILE_NOT_FOUND", "%s vanished from the source" % op["src"], now)
            dst_coll = state.data["collections"][task["destination_endpoint_id"]]
            if "w" not in permissions(state, dst_coll, task["owner_id"], posixpath.dirname(op["dst"]) or "/"):
                return self.stall(task, "PERMISSION_DENIED", "Permission denied writing %s" % op["dst"], now)
            if task.get("plan_partial", 0) == 0 and not self.should_copy(task, src, dst):
                task["files_skipped"] += 1
                task["plan_index"] += 1
                task["subtasks_pending"] -= 1
                task["subtasks_succeeded"] += 1
                continue
            size = os.path.getsize(src)
            if budget is not None:
                need = size - task.get("plan_partial", 0)
                if budget < need:
                    task["plan_partial"] = task.get("plan_partial", 0) + int(budget)
                    task["plan_carry"] = budget - int(budget)
                    return
                budget -= need
            self.copy(task, src, dst)
            task["plan_partial"] = 0
            task["files_transferred"] += 1
            task["bytes_transferred"] += size
            if task.get("verify_checksum"):
                task["bytes_checksummed"] += size
            task["successful"].append({"DATA_TYPE": "successful_transfer", "source_path": op["src"], "destination_path": op["dst"]})
            task["plan_index"] += 1
            task["subtasks_pending"] -= 1
            task["subtasks_succeeded"] += 1
        task["plan_carry"] = 0.0
        for extra in task.get("plan_extras", []):
            self.delete_extras(task, src_root, dst_root, extra)
        event(task, "SUCCEEDED", "succeeded", "Transferred %d files, skipped %d" % (task["files_transferred"], task["files_skipped"]),
              False, now)
        finish(task, "SUCCEEDED", now)

    def copy(self, task, src, dst):
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        tmp = os.path.join(os.path.dirname(dst), ".globus-partial-%s" % uuid.uuid4().hex[:8])
        shutil.copyfile(src, tmp)
        mode = stat.S_IMODE(os.stat(src).st_mode)
        os.chmod(tmp, mode)
        if task.get("preserve_timestamp"):
            source = os.stat(src)
            os.utime(tmp, (source.st_atime, source.st_mtime))
        os.replace(tmp, dst)

    def delete_extras(self, task, src_root, dst_root, extra):
        src_dir, dst_dir = local_path(src_root, extra["src"]), local_path(dst_root, extra["dst"])
        for dirpath, dirnames, filenames in os.walk(dst_dir, topdown=False):
            rel = os.path.relpath(dirpath, dst_dir)
            for name in filenames + dirnames:
                counterpart = os.path.normpath(os.path.join(src_dir, rel, name))
                target = os.path.join(dirpath, name)
                if os.path.lexists(counterpart):
                    continue
                if os.path.isdir(target) and not os.path.islink(target):
                    shutil.rmtree(target)
                else:
                    os.unlink(target)
                task["files_deleted"] = task.get("files_deleted", 0) + 1

    # ---- new tasks (the submit route and timers) ---------------------------------------
    def check_items(self, owner, src, dst, items):
        state = self.state
        for item in items:
            for coll, key, need in ((src, "source_path", "r"), (dst, "destination_path", "w")):
                try:
                    local_path(state.collection_root(coll), item[key])
                except PathError as exc:
                    raise SubmitError(403, "EndpointPermissionDenied", "%s: %s" % (item[key], exc))
                if need not in permissions(state, coll, owner, item[key]):
                    raise SubmitError(403, "EndpointPermissionDenied", "No %s permission on %s of collection %s" % (
                        "write" if need == "w" else "read", norm_path(item[key]), coll["id"]))

    def collection(self, ep):
        coll = self.state.data["collections"].get(ep or "")
        if coll is None:
            raise SubmitError(404, "EndpointNotFound", "No such collection '%s'" % ep)
        return coll

    def base_task(self, owner, kind, body, now, submission_id):
        label = body.get("label")
        problem = label_problem(label)
        if problem:
            raise SubmitError(400, "ClientError.BadRequest", "Invalid label: %s" % problem)
        deadline = now + 86400
        if body.get("deadline"):
            try:
                deadline = parse_time(body["deadline"])
            except ValueError:
                raise SubmitError(400, "ClientError.BadRequest", "Invalid deadline %r" % body["deadline"])
        return {
            "task_id": str(uuid.uuid4()), "type": kind, "status": "ACTIVE", "nice_status": "Queued", "owner_id": owner,
            "label": label, "submission_id": submission_id, "request_time": now, "completion_time": None,
            "deadline": deadline, "files": 0, "files_transferred": 0, "files_skipped": 0, "directories": 0,
            "bytes_transferred": 0, "bytes_checksummed": 0, "subtasks_total": 0, "subtasks_pending": 0,
            "subtasks_succeeded": 0, "subtasks_failed": 0, "faults": 0, "fatal_error": None, "events": [],
            "successful": [], "skipped_errors": [], "files_deleted": 0,
        }

    def new_transfer_task(self, owner, body, now, submission_id=None):
        """Validate a transfer document and queue its task (raises SubmitError)."""
        state = self.state
        src, dst = self.collection(body.get("source_endpoint")), self.collection(body.get("destination_endpoint"))
        items = body.get("DATA") or []
        if not items:
            raise SubmitError(400, "ClientError.BadRequest.NoTransferItems", "A transfer requires at least one item")
        for item in items:
            if item.get("DATA_TYPE") not in ("transfer_item", "transfer_symlink_item") or not item.get("source_path") or not item.get("destination_path"):
                raise SubmitError(400, "ClientError.BadRequest", "each item needs DATA_TYPE transfer_item, source_path and destination_path")
        self.check_items(owner, src, dst, items)
        problem = filter_rules_problem(body.get("filter_rules"))
        if problem:
            raise SubmitError(400, "ClientError.BadRequest", problem)
        sync_level = body.get("sync_level")
        if isinstance(sync_level, str):
            sync_level = SYNC_LEVELS.get(sync_level, sync_level)
        if sync_level is not None and sync_level not in (0, 1, 2, 3):
            raise SubmitError(400, "ClientError.BadRequest", "sync_level must be 0-3")
        task = self.base_task(owner, "TRANSFER", body, now, submission_id or str(uuid.uuid4()))
        task.update({
            "source_endpoint_id": src["id"], "destination_endpoint_id": dst["id"],
            "sync_level": sync_level, "verify_checksum": bool(body.get("verify_checksum", True)),
            "preserve_timestamp": bool(body.get("preserve_timestamp", False)),
            "delete_destination_extra": bool(body.get("delete_destination_extra", False)),
            "skip_source_errors": bool(body.get("skip_source_errors", False)),
            "fail_on_quota_errors": bool(body.get("fail_on_quota_errors", False)),
            "encrypt_data": bool(body.get("encrypt_data", False)),
            "filter_rules": [{"DATA_TYPE": "filter_rule", "method": r.get("method", "exclude"), "name": r["name"],
                              "type": r.get("type")} for r in body.get("filter_rules") or []] or None,
            "items": [{"source_path": i["source_path"], "destination_path": i["destination_path"],
                       "recursive": bool(i.get("recursive", False))} for i in items],
        })
        state.data["tasks"][task["task_id"]] = task
        state.mark()
        return task

    def new_delete_task(self, owner, body, now, submission_id=None):
        """Validate a delete document (``POST /delete``) and queue its task (raises SubmitError)."""
        coll = self.collection(body.get("endpoint"))
        items = body.get("DATA") or []
        if not items:
            raise SubmitError(400, "ClientError.BadRequest.NoDeleteItems", "A delete requires at least one item")
        for item in items:
            if item.get("DATA_TYPE") != "delete_item" or not item.get("path"):
                raise SubmitError(400, "ClientError.BadRequest", "each item needs DATA_TYPE delete_item and path")
            try:
                local_path(self.state.collection_root(coll), item["path"])
            except PathError as exc:
                raise SubmitError(403, "EndpointPermissionDenied", "%s: %s" % (item["path"], exc))
            if norm_path(item["path"]) == "/":
                raise SubmitError(400, "ClientError.BadRequest", "the root of a collection cannot be deleted")
            if "w" not in permissions(self.state, coll, owner, item["path"]):
                raise SubmitError(403, "EndpointPermissionDenied", "No write permission on %s of collection %s" % (
                    norm_path(item["path"]), coll["id"]))
        task = self.base_task(owner, "DELETE", body, now, submission_id or str(uuid.uuid4()))
        task.update({
            "source_endpoint_id": coll["id"], "destination_endpoint_id": None, "sync_level": None,
            "verify_checksum": False, "preserve_timestamp": False, "delete_destination_extra": False,
            "skip_source_errors": False, "fail_on_quota_errors": False, "encrypt_data": False, "filter_rules": None,
            "recursive": bool(body.get("recursive", False)), "ignore_missing": bool(body.get("ignore_missing", False)),
            "items": [{"path": norm_path(i["path"])} for i in items],
        })
        self.state.data["tasks"][task["task_id"]] = task
        self.state.mark()
        return task

    def run_delete(self, task, now):
        coll = self.state.data["collections"].get(task["source_endpoint_id"])
        if coll is None:
            return self.fail(task, "ENDPOINT_NOT_FOUND", "collection no longer exists", now)
        if not task.get("plan_started"):
            task["plan_started"] = True
            task["nice_status"] = "OK"
            event(task, "STARTED", "started", "Starting delete of %d items" % len(task["items"]), False, now)
        root = self.state.collection_root(coll)
        for item in task["items"]:
            target = local_path(root, item["path"])
            if not os.path.lexists(target):
                if task["ignore_missing"]:
                    continue
                return self.fail(task, "FILE_NOT_FOUND", "%s: No such file or directory" % item["path"], now)
            if os.path.isdir(target) and not os.path.islink(target):
                if not task["recursive"]:
                    return self.fail(task, "NOT_A_FILE", "%s is a directory; set recursive" % item["path"], now)
                count = sum(len(files) + len(dirs) for _path, dirs, files in os.walk(target)) + 1
                shutil.rmtree(target)
                task["directories"] += 1
            else:
                os.unlink(target)
                count = 1
            task["files_deleted"] += count
            task["files"] += 1
        event(task, "SUCCEEDED", "succeeded", "Deleted %d items" % task["files_deleted"], False, now)
        finish(task, "SUCCEEDED", now)
        return None
