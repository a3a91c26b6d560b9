"""APS Data Management emulator: the DS and DAQ web services on one port.

python -m tests.lab.aps_dm.server --port 8703 --seed tests/lab/seeds/aps_dm.yml --state .lab/aps_dm/state.json

Wire format (../shared/reference/beamline.md): session login with a `session_id` cookie,
string parameters double base64 (`b64encode(encodebytes(s))`, sent as `b'...'`),
application errors as HTTP 200 with `Dm-Status-Code`, `Dm-Status-Message`,
`Dm-Exception-Type` headers and a JSON body. Every route is in ROUTES below.

Admin routes for tests: GET /_lab/state, GET /_lab/requests, POST /_lab/fault
{"path": substring, "method": "GET", "status": 500 | "dm_code": 14, "message": "...",
"count": 1}, POST /_lab/expire_sessions, POST /_lab/clear_faults.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import re
import secrets
import threading
import time
import urllib.parse

import yaml

from tests.lab import httpd

DM_CODES = {
    0: "Success", 5: "AuthorizationError", 10: "InvalidArgument", 12: "InvalidSession",
    14: "ObjectNotFound", 15: "ObjectAlreadyExists", 16: "InvalidObjectState", 1: "DmException",
}
BAD_NAME = re.compile(r"""[#%&} {\\<>*?/$!:@'"]""")
SESSION_SECONDS = 3600


class DmError(Exception):
    def __init__(self, code, message):
        Exception.__init__(self, message)
        self.code = code
        self.message = message


def decode(value):
    """A double-base64 parameter (with or without the b'...' wrapper) -> str."""
    value = urllib.parse.unquote(value)
    if value.startswith("b'") and value.endswith("'"):
        value = value[2:-1]
    try:
        return base64.decodebytes(base64.b64decode(value.encode("ascii"), validate=True)).decode("utf-8")
    except (ValueError, UnicodeError) as exc:
        raise DmError(10, "Cannot decode parameter %r: %s" % (value, exc))


def dm_date(text):
    """`%d-%b-%y` (as the clients send) -> "YYYY-MM-DD 00:00:00-06:00"."""
    try:
        day = datetime.datetime.strptime(text, "%d-%b-%y")
    except ValueError:
        try:
            day = datetime.datetime.strptime(text[:10], "%Y-%m-%d")
        except ValueError:
            raise DmError(10, "Invalid date %r (expected DD-Mon-YY)" % text)
    return day.strftime("%Y-%m-%d 00:00:00-06:00")


class Store:
    def __init__(self, seed_path, state_path):
        self.lock = threading.RLock()
        self.state_path = state_path
        with open(seed_path) as handle:
            self.seed = yaml.safe_load(handle) or {}
        self.faults = httpd.Faults()
        self.requests = []
        self.sessions = {}
        if os.path.exists(state_path):
            with open(state_path) as handle:
                self.state = json.load(handle)
        else:
            self.state = self._from_seed()
            self.save()

    def _from_seed(self):
        state = {"next_id": 1, "experiments": {}, "users": {}, "daqs": [], "logins": 0}
        for user in self.seed.get("users", []):
            username = "d%s" % user["badge"]
            state["users"][username] = dict(user, username=username, badge=str(user["badge"]))
        self.state = state
        for exp in self.seed.get("experiments", []):
            doc = self.new_experiment(exp["name"], self.seed.get("station"), exp.get("typeName"),
                                      exp.get("description", ""), exp.get("rootPath"),
                                      exp.get("startDate"), exp.get("endDate"))
            doc["experimentUsernameList"] = list(exp.get("users", []))
        return state

    def save(self):
        httpd.save_json(self.state_path, self.state, indent=1, sort_keys=True)

    def new_experiment(self, name, station, type_name, description, root_path, start, end):
        if not name or BAD_NAME.search(name):
            raise DmError(10, "Experiment name %r contains invalid characters." % name)
        if name in self.state["experiments"]:
            raise DmError(15, "Experiment %s already exists." % name)
        if type_name and type_name not in self.seed.get("experiment_types", []):
            raise DmError(14, "Experiment type %s does not exist." % type_name)
        station = station or self.seed.get("station")
        exp_id = self.state["next_id"]
        self.state["next_id"] += 1
        storage = "/gdata/dm/%s/%s%s" % (station, (root_path + "/") if root_path else "", name)
        doc = {
            "id": exp_id, "name": name, "description": description or "",
            "experimentType": {"name": type_name or "2BM"}, "experimentStationId": 1,
            "stationName": station, "rootPath": root_path or "",
            "startDate": dm_date(start) if start else None, "endDate": dm_date(end) if end else None,
            "storageDirectory": storage, "dataDirectory": storage,
            "experimentUsernameList": [],
        }
        self.state["experiments"][name] = doc
        return doc

    def experiment(self, name):
        doc = self.state["experiments"].get(name)
        if doc is None:
            raise DmError(14, "Experiment %s does not exist." % name)
        return doc

    def user(self, username):
        doc = self.state["users"].get(username)
        if doc is None:
            raise DmError(14, "User %s does not exist." % username)
        return doc


# ---------------------------------------------------------------- handlers
# Each takes (store, params, query) and returns a JSON-able document.

def h_login(store, params, query, form):
    for account in store.seed.get("accounts", []):
        if form.get("username") == account["username"] and form.get("password") == account["password"]:
            store.state["logins"] += 1
            store.save()
            return "LOGIN"
    raise DmError(5, "Incorrect username or password.")


def h_experiment_by_name(store, params, query, form):
    doc = store.experiment(decode(params["name"]))
    station = urllib.parse.unquote(params["station"])
    if doc["stationName"] != station:
        raise DmError(14, "Experiment %s does not exist for station %s." % (doc["name"], station))
    return doc


def h_experiment_by_id(store, params, query, form):
    for doc in store.state["experiments"].values():
        if str(doc["id"]) == params["id"]:
            return doc
    raise DmError(14, "Experiment with id %s does not exist." % params["id"])


def h_experiments_by_station(store, params, query, form):
    station = urllib.parse.unquote(params["station"])
    return [d for d in store.state["experiments"].values() if d["stationName"] == station]


def _q(query, key, required=True):
    if key not in query:
        if required:
            raise DmError(10, "Missing parameter %s." % key)
        return None
    return decode(query[key])


def h_add_experiment(store, params, query, form):
    doc = store.new_experiment(_q(query, "name"), _q(query, "stationName"), _q(query, "typeName", False),
                               _q(query, "description", False), _q(query, "rootPath", False),
                               _q(query, "startDate", False), _q(query, "endDate", False))
    store.save()
    return doc


def h_update_experiment(store, params, query, form):
    exp_id = query.get("experimentId")
    doc = h_experiment_by_id(store, {"id": exp_id}, query, form)
    for key in ("description", "rootPath"):
        if key in query:
            doc[key] = decode(query[key])
    for key in ("startDate", "endDate"):
        if key in query:
            doc[key] = dm_date(decode(query[key]))
    store.save()
    return doc


def h_set_metadata(store, params, query, form):
    doc = store.experiment(decode(params["name"]))
    key = decode(params["key"])
    if key in ("id", "name", "experimentUsernameList", "stationName", "experimentType") or not re.match(r"^[A-Za-z][A-Za-z0-9_]*$", key):
        raise DmError(10, "Metadata key %r is not allowed." % key)
    doc[key] = _q(query, "value")
    store.save()
    return doc


def h_user_by_username(store, params, query, form):
    return store.user(urllib.parse.unquote(params["username"]))


def h_add_user_role(store, params, query, form):
    username = urllib.parse.unquote(params["username"])
    store.user(username)
    if params["role"] != "User":
        raise DmError(14, "Role %s does not exist." % params["role"])
    doc = store.experiment(decode(params["name"]))
    if username in doc["experimentUsernameList"]:
        raise DmError(15, "User %s already has role User for experiment %s." % (username, doc["name"]))
    doc["experimentUsernameList"].append(username)
    store.save()
    return store.user(username)


def h_remove_user_role(store, params, query, form):
    username = urllib.parse.unquote(params["username"])
    doc = store.experiment(decode(params["name"]))
    if username not in doc["experimentUsernameList"]:
        raise DmError(14, "User %s does not have role User for experiment %s." % (username, doc["name"]))
    doc["experimentUsernameList"].remove(username)
    store.save()
    return store.user(username)


def h_start_daq(store, params, query, form):
    doc = store.experiment(decode(params["name"]))
    directory = decode(params["directory"])
    task_info = json.loads(_q(query, "taskInfo", False) or "{}")
    daq = {
        "id": secrets.token_hex(8), "experimentName": doc["name"], "experimentStationName": doc["stationName"],
        "dataDirectory": directory, "status": "running", "startTime": time.time(),
        "nProcessedFiles": 0, "nProcessingErrors": 0, "taskInfo": task_info,
    }
    store.state["daqs"].append(daq)
    store.save()
    return daq


def h_stop_daq(store, params, query, form):
    doc = store.experiment(decode(params["name"]))
    directory = decode(params["directory"])
    stopped = None
    for daq in store.state["daqs"]:
        if daq["experimentName"] == doc["name"] and daq["dataDirectory"] == directory and daq["status"] in ("pending", "running"):
            daq["status"] = "done"
            daq["endTime"] = time.time()
            stopped = daq
    if stopped is None:
        raise DmError(16, "No running DAQ for experiment %s and directory %s." % (doc["name"], directory))
    store.save()
    return stopped


def h_list_daqs(store, params, query, form):
    status = query.get("status")
    daqs = store.state["daqs"]
    if status:
        status = urllib.parse.unquote(status)
        daqs = [d for d in daqs if d["status"] == status]
    return daqs


# The one route table: (method, path pattern, handler, needs session).
ROUTES = [
    ("POST", "/dm/login", h_login, False),
    ("GET", "/dm/experimentsByName/{name}/{station}", h_experiment_by_name, True),
    ("GET", "/dm/experimentsById/{id}", h_experiment_by_id, True),
    ("GET", "/dm/experimentsByStation/{station}", h_experiments_by_station, True),
    ("POST", "/dm/experiments/addExperiment", h_add_experiment, True),
    ("PUT", "/dm/experiments/updateExperiment", h_update_experiment, True),
    ("PUT", "/dm/experimentsByName/{name}/metadata/{key}", h_set_metadata, True),
    ("GET", "/dm/usersByUsername/{username}", h_user_by_username, True),
    ("POST", "/dm/usersByExperimentRole/{username}/{role}/{name}", h_add_user_role, True),
    ("DELETE", "/dm/usersByExperimentRole/{username}/{role}/{name}", h_remove_user_role, True),
    ("POST", "/dm/experimentsByName/{name}/startDaq/{directory}", h_start_daq, True),
    ("POST", "/dm/experimentsByName/{name}/stopDaq/{directory}", h_stop_daq, True),
    ("GET", "/dm/experimentDaqs", h_list_daqs, True),
]


def _compile(pattern):
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern)
    return re.compile("^" + regex + "$")


COMPILED = [(method, _compile(pattern), handler, auth) for method, pattern, handler, auth in ROUTES]


class Handler(httpd.JsonHandler):
    server_version = "DmLab/1.0"
    store = None

    def _dm_error(self, code, message, status=200):
        kind = DM_CODES.get(code, "DmException")
        body = {"errorMessage": message, "errorCode": code, "exceptionType": kind}
        self.send_json(status, body, {"Dm-Status-Code": str(code), "Dm-Status-Message": message, "Dm-Exception-Type": kind})

    def _session_ok(self):
        cookies = self.headers.get("Cookie", "")
        for part in cookies.split(";"):
            key, _sep, value = part.strip().partition("=")
            if key == "session_id" and self.store.sessions.get(value, 0) > time.time():
                return True
        return False

    def _admin(self, method, path, body):
        store = self.store
        with store.lock:
            if self.fault_route(store.faults, method, path, body):
                return None
            if path == "/_lab/state" and method == "GET":
                return self.send_json(200, store.state)
            if path == "/_lab/requests" and method == "GET":
                return self.send_json(200, store.requests)
            if path == "/_lab/expire_sessions" and method == "POST":
                store.sessions.clear()
                return self.send_json(200, {"sessions": 0})
        return self.send_json(404, {"error": "no admin route %s %s" % (method, path)})

    def _handle(self):
        method = self.command
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        body = self.read_body()
        if path.startswith("/_lab/"):
            return self._admin(method, path, body)
        store = self.store
        with store.lock:
            httpd.remember(store.requests, {"method": method, "path": self.path, "time": time.time()})
            fault = store.faults.take(method, path)
            if fault:
                if fault.get("status"):
                    return self.send_json(int(fault["status"]), {"errorMessage": fault.get("message", "injected fault")})
                return self._dm_error(int(fault.get("dm_code", 1)), fault.get("message", "Injected DM error."))
            for route_method, regex, handler, auth in COMPILED:
                match = regex.match(path)
                if not match or route_method != method:
                    continue
                if auth and not self._session_ok():
                    return self._dm_error(12, "Session is invalid or has expired; please log in.", status=401)
                query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
                query = {k: urllib.parse.quote(v, safe="") for k, v in query.items()}
                form = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace"))) if body else {}
                try:
                    result = handler(store, match.groupdict(), query, form)
                except DmError as exc:
                    status = 401 if exc.code == 5 else 200
                    return self._dm_error(exc.code, exc.message, status=status)
                if result == "LOGIN":
                    session = secrets.token_hex(16)
                    store.sessions[session] = time.time() + SESSION_SECONDS
                    expires = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + SESSION_SECONDS))
                    return self.send_json(200, {}, {"Set-Cookie": "session_id=%s; expires=%s; Path=/" % (session, expires),
                                                    "Dm-Status-Code": "0"})
                return self.send_json(200, result, {"Dm-Status-Code": "0"})
            return self.send_json(404, {"errorMessage": "No route %s %s" % (method, path)})

    do_GET = do_POST = do_PUT = do_DELETE = _handle


def setup(args):
    Handler.store = Store(args.seed, args.state)


if __name__ == "__main__":
    httpd.main(__doc__, 8703, Handler, setup)
