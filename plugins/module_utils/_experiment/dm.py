# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""APS Data Management (DS + DAQ web services) client, plan and apply for aps_dm_experiment.

Private to sciops.datasync: not a public API.

The DM server and its Python client are not public. The routes below are the ones the
xray-imaging tools are observed to use plus a few inferred ones; all of them are in the
single table ``ROUTES`` so they can be checked against a real deployment in one place.

Wire format: ``POST /dm/login`` (form username, password) sets a ``session_id`` cookie
that goes back on every call; a 401 on a later call means the session expired, and the
client logs in again once. Every request carries ``Content-Type: html``; POSTs have no
body. String parameters are double base64 (``b64encode(encodebytes(s))``) sent as the
bytes repr ``b'...'``. Application errors arrive with ``Dm-Status-Code`` /
``Dm-Status-Message`` / ``Dm-Exception-Type`` headers; code 14 (ObjectNotFound) is the
only one that means "absent" -- every other error is an error.
"""

from __future__ import annotations

import base64
import datetime
import json
import re

from urllib.parse import quote

from ansible_collections.sciops.datasync.plugins.module_utils._core.http import HttpError, HttpSettings
from ansible_collections.sciops.datasync.plugins.module_utils._core.results import error, reasons_text
from ansible_collections.sciops.datasync.plugins.module_utils._core.secrets import SecretFileError, read_login_pair

# name: (service, method, path template, origin). {x} is raw (URL-quoted), {x!e} double base64.
ROUTES = {
    "login": ("ds", "POST", "/dm/login", "observed"),
    "experiment_by_name": ("ds", "GET", "/dm/experimentsByName/{name!e}/{station}", "observed"),
    "experiment_by_id": ("ds", "GET", "/dm/experimentsById/{id}", "observed"),
    "experiments_by_station": ("ds", "GET", "/dm/experimentsByStation/{station}", "observed"),
    "add_experiment": ("ds", "POST", "/dm/experiments/addExperiment", "inferred"),
    "update_experiment": ("ds", "PUT", "/dm/experiments/updateExperiment", "inferred"),
    "set_metadata": ("ds", "PUT", "/dm/experimentsByName/{name!e}/metadata/{key!e}", "inferred"),
    "user_by_username": ("ds", "GET", "/dm/usersByUsername/{username}", "inferred"),
    "add_user_role": ("ds", "POST", "/dm/usersByExperimentRole/{username}/{role}/{name!e}", "inferred"),
    "remove_user_role": ("ds", "DELETE", "/dm/usersByExperimentRole/{username}/{role}/{name!e}", "inferred"),
    "daq_login": ("daq", "POST", "/dm/login", "observed"),
    "start_daq": ("daq", "POST", "/dm/experimentsByName/{name!e}/startDaq/{directory!e}", "observed"),
    "stop_daq": ("daq", "POST", "/dm/experimentsByName/{name!e}/stopDaq/{directory!e}", "inferred"),
    "list_daqs": ("daq", "GET", "/dm/experimentDaqs", "inferred"),
}
# Query parameters sent double base64 (the rest, ids and status, go as they are).
ENCODED_QUERY = ("name", "stationName", "typeName", "description", "rootPath", "startDate", "endDate",
                 "value", "taskInfo")

DM_CODES = {0: "Success", 5: "AuthorizationError", 10: "InvalidArgument", 12: "InvalidSession",
            14: "ObjectNotFound", 15: "ObjectAlreadyExists", 16: "InvalidObjectState"}
NOT_FOUND = 14
BAD_NAME_CHARS = re.compile(r"""[#%&} {\\<>*?/$!:@'"]""")
USERNAME = re.compile(r"^d[0-9]{1,12}$")
RUNNING = ("pending", "running")
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


class DmApiError(Exception):
    def __init__(self, message, code=None, kind=None, http_status=None, route=None):
        Exception.__init__(self, message)
        self.message = message
        self.code = code
        self.kind = kind
        self.http_status = http_status
        self.route = route

    def __str__(self):
        parts = []
        if self.route:
            parts.append("DM %s" % self.route)
        if self.http_status is not None:
            parts.append("HTTP %s" % self.http_status)
        if self.code is not None:
            parts.append("Dm-Status-Code %s (%s)" % (self.code, self.kind or DM_CODES.get(self.code, "DmException")))
        return "%s: %s" % (", ".join(parts), self.message) if parts else self.message

    @property
    def not_found(self):
        return self.code == NOT_FOUND


def encode(value):
    """Double base64 as the DM client sends it: the bytes repr b'...' of b64encode(encodebytes(s))."""
    raw = base64.b64encode(base64.encodebytes(str(value).encode("utf-8")))
    return "b'%s'" % raw.decode("ascii")


def route_path(route, **params):
    """The URL path of ``route`` with its parameters encoded as that route wants."""
    template = ROUTES[route][2]

    def replace(match):
        key, flag = match.group(1), match.group(2)
        value = params[key]
        return quote(encode(value) if flag == "e" else str(value), safe="")
    return re.sub(r"\{(\w+)(?:!(e))?\}", replace, template)


def query_string(query):
    parts = []
    for key, value in query.items():
        if value is None:
            continue
        text = encode(value) if key in ENCODED_QUERY else str(value)
        parts.append("%s=%s" % (quote(key, safe=""), quote(text, safe="")))
    return "&".join(parts)


def experiment_name_problem(name):
    """Why ``name`` cannot be a DM experiment name, or None."""
    if not isinstance(name, str) or not name:
        return "experiment name %r is empty" % (name,)
    bad = BAD_NAME_CHARS.search(name)
    if bad:
        return "experiment name %r contains %r (DM names may not contain #%%&} {\\<>*?/$!:@'\")" % (name, bad.group(0))
    if ".." in name or name.startswith("-") or re.search(r"[\x00-\x1f\x7f]", name):
        return "experiment name %r contains '..', control characters or starts with '-'" % name
    return None


def normalize_username(value):
    """A badge (digits) or a DM username -> ``d<badge>``; (username, problem)."""
    text = str(value).strip()
    if text.isdigit():
        text = "d" + text
    if not USERNAME.match(text):
        return None, "user %r is neither a badge number nor a DM username d<badge>" % (value,)
    return text, None


def dm_date(value):
    """YYYY-MM-DD (or already DD-Mon-YY) -> DD-Mon-YY, as the DM client sends dates."""
    if value is None or value == "":
        return None
    text = str(value)
    if re.match(r"^\d{2}-[A-Z][a-z]{2}-\d{2}$", text):
        return text
    try:
        day = datetime.datetime.strptime(text[:10], "%Y-%m-%d")
    except ValueError:
        raise ValueError("date %r is not YYYY-MM-DD or DD-Mon-YY" % text)
    return "%02d-%s-%02d" % (day.day, MONTHS[day.month - 1], day.year % 100)


def read_login_file(path):
    """(username, password) from a DM login file: first line ``username|password``."""
    try:
        return read_login_pair(path, "DM login file")
    except SecretFileError as exc:
        raise DmApiError(str(exc))


class DmClient:
    """A session-cookie client for the DS and DAQ services (requests through ``_core.http``).

    The password and every session id are scrubbed from messages and added to
    ``no_log_values`` (the module's, when given).
    """

    def __init__(self, ds_url, daq_url, username, password, settings=None, no_log_values=None):
        self.urls = {"ds": ds_url.rstrip("/"), "daq": (daq_url or ds_url).rstrip("/")}
        self.username = username
        self.password = password
        self.sessions = {}
        self.no_log_values = no_log_values if no_log_values is not None else set()
        self.http = (settings or HttpSettings()).client("DM")
        self._secret(password)

    def _secret(self, value):
        if value:
            self.http.add_secret(value)
            self.no_log_values.add(str(value))

    def _open(self, method, url, data=None, cookie=None, idempotent=None):
        headers = {"Content-Type": "html"}
        if cookie:
            headers["Cookie"] = "session_id=%s" % cookie
        if data is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            response = self.http.request(method, url, headers=headers, data=data, idempotent=idempotent)
        except HttpError as exc:
            raise DmApiError(self.http.scrub(str(exc)), http_status=exc.status)
        return response.status, response.headers, response.body

    def _check(self, route, status, headers, body):
        code = headers.get("Dm-Status-Code") if headers is not None else None
        message = headers.get("Dm-Status-Message") if headers is not None else None
        kind = headers.get("Dm-Exception-Type") if headers is not None else None
        document = None
        if body:
            try:
                document = json.loads(body.decode("utf-8"))
            except ValueError:
                document = None
        if isinstance(document, dict) and document.get("errorCode") not in (None, 0):
            code = code or document.get("errorCode")
            message = message or document.get("errorMessage")
            kind = kind or document.get("exceptionType")
        code = int(code) if code not in (None, "") else None
        if status >= 400 or (code not in (None, 0)):
            text = self.http.scrub(message or (body.decode("utf-8", "replace")[:200] if body else "no message"))
            raise DmApiError(text, code=code, kind=kind, http_status=status, route=route)
        return document

    def login(self, service):
        url = self.urls[service] + ROUTES["login"][2]
        form = "username=%s&password=%s" % (quote(self.username, safe=""), quote(self.password, safe=""))
        status, headers, body = self._open("POST", url, data=form, idempotent=True)
        self._check("login", status, headers, body)
        cookie = None
        for header in headers.get_all("Set-Cookie") or []:
            match = re.search(r"session_id=([^;]+)", header)
            if match:
                cookie = match.group(1)
        if not cookie:
            raise DmApiError("login to %s returned no session_id cookie" % self.urls[service], route="login")
        self._secret(cookie)
        self.sessions[service] = cookie

    def call(self, route, query=None, **params):
        service, method = ROUTES[route][0], ROUTES[route][1]
        url = self.urls[service] + route_path(route, **params)
        if query:
            url += "?" + query_string(query)
        for attempt in (1, 2):
            if service not in self.sessions:
                self.login(service)
            status, headers, body = self._open(method, url, cookie=self.sessions[service])
            if status == 401 and attempt == 1:
                self.sessions.pop(service, None)  # expired session: log in again once
                continue
            return self._check(route, status, headers, body)
        return None

    # ------------------------------------------------------------ typed calls
    def find_experiment(self, name, station):
        """The experiment document, or None when DM says it does not exist (code 14 only)."""
        try:
            return self.call("experiment_by_name", name=name, station=station)
        except DmApiError as exc:
            if exc.not_found:
                return None
            raise

    def find_user(self, username):
        try:
            return self.call("user_by_username", username=username)
        except DmApiError as exc:
            if exc.not_found:
                return None
            raise

    def experiment_daqs(self, name):
        daqs = self.call("list_daqs") or []
        return [d for d in daqs if d.get("experimentName") == name]


# ---------------------------------------------------------------- plan
def plan_changes(current, desired, known_users, running_daqs, user_emails):
    """Pure: the list of actions that bring ``current`` (experiment doc or None) to ``desired``.

    desired: name, station, type, description, root_path, start_date, end_date, users
    (normalized usernames or None), users_mode, metadata (dict), daq (None/started/stopped),
    daq_directory, notify (bool), notify_key.
    known_users: set of usernames that exist in DM; running_daqs: DAQ docs of the experiment
    still pending/running; user_emails: username -> email.
    Returns (actions, errors).
    """
    actions, errors = [], []
    if current is None:
        actions.append({"action": "create_experiment", "name": desired["name"], "station": desired["station"],
                        "type": desired["type"], "description": desired["description"],
                        "root_path": desired["root_path"], "start_date": desired["start_date"],
                        "end_date": desired["end_date"]})
        members = []
        document = {}
    else:
        members = list(current.get("experimentUsernameList") or [])
        document = current
    final = list(members)
    wanted = desired.get("users")
    mode = desired.get("users_mode") or "append"
    if wanted is not None:
        if mode in ("append", "exact"):
            for username in wanted:
                if username in final:
                    continue
                if username not in known_users:
                    errors.append(error(username, "DM user %s does not exist; not added" % username, user=username))
                    continue
                actions.append({"action": "add_user", "username": username})
                final.append(username)
        if mode == "exact":
            for username in members:
                if username not in wanted:
                    actions.append({"action": "remove_user", "username": username})
                    final.remove(username)
        if mode == "remove":
            for username in wanted:
                if username in final:
                    actions.append({"action": "remove_user", "username": username})
                    final.remove(username)
    for key, value in sorted((desired.get("metadata") or {}).items()):
        if str(document.get(key, "")) != str(value) or key not in document:
            actions.append({"action": "set_metadata", "key": key, "value": str(value)})
    daq = desired.get("daq")
    if daq == "started":
        directory = desired["daq_directory"]
        if not any(d.get("dataDirectory") == directory for d in running_daqs):
            actions.append({"action": "start_daq", "directory": directory})
    elif daq == "stopped":
        for item in running_daqs:
            actions.append({"action": "stop_daq", "directory": item.get("dataDirectory"), "id": item.get("id")})
    if desired.get("notify"):
        key = desired.get("notify_key") or "emailedUsers"
        emailed = split_emailed(document.get(key))
        for username in final:
            if username in emailed:
                continue
            email = user_emails.get(username)
            if not email:
                errors.append(error(username, "DM user %s has no email address; not emailed" % username, user=username))
                continue
            actions.append({"action": "email", "username": username, "email": email})
    return actions, errors


def split_emailed(value):
    if not value:
        return []
    return [item.strip() for item in str(value).split(",") if item.strip()]


def state_summary(document, daqs, key):
    if document is None:
        return {"exists": False}
    return {"exists": True, "name": document.get("name"), "users": sorted(document.get("experimentUsernameList") or []),
            "running_daqs": sorted(d.get("dataDirectory") for d in daqs), key: document.get(key, "")}


def predicted_summary(before, actions, desired, key):
    after = dict(before)
    if not after.get("exists"):
        after = {"exists": True, "name": desired["name"], "users": [], "running_daqs": [], key: ""}
    users = list(after.get("users", []))
    daqs = list(after.get("running_daqs", []))
    emailed = split_emailed(after.get(key))
    for action in actions:
        kind = action["action"]
        if kind == "add_user":
            users.append(action["username"])
        elif kind == "remove_user":
            users.remove(action["username"])
        elif kind == "set_metadata":
            after[action["key"]] = action["value"]
        elif kind == "start_daq":
            daqs.append(action["directory"])
        elif kind == "stop_daq" and action["directory"] in daqs:
            daqs.remove(action["directory"])
        elif kind == "email":
            emailed.append(action["username"])
    after["users"] = sorted(users)
    after["running_daqs"] = sorted(daqs)
    if emailed:
        after[key] = ",".join(emailed)
    return after


# ---------------------------------------------------------------- apply
def run_module(module):
    params = module.params
    key = (params.get("notify") or {}).get("metadata_key") or "emailedUsers"
    errors = []
    problem = experiment_name_problem(params["name"])
    if problem:
        module.fail_json(msg="refused: " + problem, errors=[error(params["name"], problem)])
    try:
        start_date, end_date = dm_date(params["start_date"]), dm_date(params["end_date"])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    if params["daq"] == "started" and not params["daq_directory"]:
        module.fail_json(msg="daq=started needs daq_directory")
    users = None
    if params["users"] is not None:
        users = []
        for item in params["users"]:
            username, bad = normalize_username(item)
            if bad:
                errors.append(error(item, "refused: " + bad, user=str(item)))
            elif username not in users:
                users.append(username)
    notify = params.get("notify") or {}
    desired = {"name": params["name"], "station": params["station"], "type": params["type"],
               "description": params["description"] or "", "root_path": params["root_path"],
               "start_date": start_date, "end_date": end_date, "users": users, "users_mode": params["users_mode"],
               "metadata": params["metadata"] or {}, "daq": params["daq"], "daq_directory": params["daq_directory"],
               "notify": bool(notify.get("enabled", True)) if notify else False, "notify_key": key}
    try:
        username, password = read_login_file(params["login_file"])
        module.no_log_values.add(password)
        client = DmClient(params["ds_url"], params["daq_url"], username, password, settings=HttpSettings.from_params(params),
                          no_log_values=module.no_log_values)
        current = client.find_experiment(params["name"], params["station"])
        if current is None and not params["create"] and module.check_mode:
            module.warn("DM experiment %s does not exist yet; in check mode this step has nothing to show" % params["name"])
            module.exit_json(changed=False, plan=[], errors=errors, emailed=[], experiment={}, users=[], daqs=[])
        if current is None and not params["create"]:
            module.fail_json(msg="DM experiment %s does not exist on station %s (create=false; run the init step first)" % (
                params["name"], params["station"]), errors=errors)
        members = set((current or {}).get("experimentUsernameList") or [])
        lookups = set(users or []) | members
        details = {}
        for name in sorted(lookups):
            found = client.find_user(name)
            if found is not None:
                details[name] = found
        running = []
        if current is not None and params["daq"]:
            running = [d for d in client.experiment_daqs(params["name"]) if d.get("status") in RUNNING]
        emails = {n: d.get("email") for n, d in details.items()}
        actions, plan_errors = plan_changes(current, desired, set(details), running, emails)
        errors.extend(plan_errors)
        before = state_summary(current, running, key)
        after = predicted_summary(before, actions, desired, key)
        result = {"changed": bool(actions), "plan": actions, "errors": errors, "emailed": []}
        if module._diff:
            result["diff"] = {"before": before, "after": after}
        if not module.check_mode:
            apply_actions(module, client, params, desired, actions, current, result)
            current = client.find_experiment(params["name"], params["station"])
            running = [d for d in client.experiment_daqs(params["name"]) if d.get("status") in RUNNING] if current and params["daq"] else []
        result["experiment"] = current or {}
        result["daqs"] = running
        members = (current or {}).get("experimentUsernameList") or [a["username"] for a in actions if a["action"] == "add_user"]
        result["users"] = [user_view(details.get(n), n) for n in sorted(members)]
    except DmApiError as exc:
        module.fail_json(msg=str(exc), dm_status_code=exc.code, errors=errors)
    if errors and params["fail_on_errors"]:
        result["msg"] = reasons_text(errors)
        module.fail_json(**result)
    module.exit_json(**result)


def user_view(document, username):
    document = document or {}
    return {"username": username, "badge": document.get("badge") or username[1:],
            "first_name": document.get("firstName"), "last_name": document.get("lastName"),
            "email": document.get("email")}


def apply_actions(module, client, params, desired, actions, current, result):
    name = params["name"]
    notify = params.get("notify") or {}
    key = desired["notify_key"]
    emailed = split_emailed((current or {}).get(key))
    for action in actions:
        kind = action["action"]
        if kind == "create_experiment":
            client.call("add_experiment", query={
                "name": name, "stationName": action["station"], "typeName": action["type"],
                "description": action["description"], "rootPath": action["root_path"],
                "startDate": action["start_date"], "endDate": action["end_date"]})
        elif kind == "add_user":
            client.call("add_user_role", username=action["username"], role="User", name=name)
        elif kind == "remove_user":
            client.call("remove_user_role", username=action["username"], role="User", name=name)
        elif kind == "set_metadata":
            client.call("set_metadata", name=name, key=action["key"], query={"value": action["value"]})
        elif kind == "start_daq":
            task_info = dict(params["daq_options"] or {})
            client.call("start_daq", name=name, directory=action["directory"],
                        query={"taskInfo": json.dumps(task_info, sort_keys=True)})
        elif kind == "stop_daq":
            client.call("stop_daq", name=name, directory=action["directory"])
        elif kind == "email":
            send_notification(notify, action)
            emailed.append(action["username"])
            # Remember at once, so a failure later in the run never emails this user again.
            client.call("set_metadata", name=name, key=key, query={"value": ",".join(emailed)})
            result["emailed"].append(action["username"])


def send_notification(notify, action):
    from ansible_collections.sciops.datasync.plugins.module_utils._core.mail import MailError, SmtpServer, send_mail

    try:
        send_mail(to=[action["email"]], subject=notify.get("subject") or "Important information on APS experiment",
                  text=notify["body"], server=SmtpServer.from_options(notify), sender=notify.get("sender"), cc=notify.get("cc"))
    except MailError as exc:
        raise DmApiError("emailing %s <%s> failed: %s" % (action["username"], action["email"], exc))
