"""Globus Auth + Groups v2 + Transfer v0.10 emulator (one HTTP server, every service at its root).

    python -m tests.lab.globus.server --port 8701 --state-dir .lab/globus --seed tests/lab/seeds/globus-demo.yml

Wire formats follow /work/shared/reference/globus-api.md; admin routes live under /_lab/
(see README.md in this folder).
"""

from __future__ import annotations

import argparse
import gc
import base64
import binascii
import collections
import fnmatch
import json
import os
import re
import secrets
import signal
import stat as statmod
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, unquote, urlsplit

from tests.lab import httpd
from tests.lab.globus import timers
from tests.lab.globus.engine import Engine, PathError, SubmitError, label_problem, local_path, norm_path, permissions
from tests.lab.globus.model import (
    ROLES, RS_AUTH, RS_GROUPS, RS_TRANSFER, State, iso, ls_time, parse_time, stable_id,
)

GROUPS_ALL = "urn:globus:auth:scope:groups.api.globus.org:all"
DEFAULT_SCOPE = "openid profile email urn:globus:auth:scope:auth.globus.org:view_identities"
IDENTITIES_PER_REQUEST = 100
GROUP_TREE_MAX_SUBGROUPS = 75  # docs.globus.org/api/groups: a tree has at most 75 subgroups
GROUP_TREE_MAX_DEPTH = 4  # ... and at most 4 layers of subgroups below the root
COLLECTION_ROLES = ("administrator", "access_manager", "activity_manager", "activity_monitor")
REASONS = {429: "TooManyRequests", 500: "InternalError", 502: "BadGateway", 503: "ServiceUnavailable",
           504: "GatewayTimeout", 401: "AuthenticationFailed", 403: "PermissionDenied", 404: "NotFound"}


class HttpError(Exception):
    def __init__(self, status, body, headers=None):
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def task_link(task_id):
    return {"DATA_TYPE": "link", "href": "task/%s?format=json" % task_id, "rel": "related", "resource": "task", "title": "related task"}


def request_id():
    return secrets.token_hex(5)[:9]


def scope_resource_server(scope):
    if scope in ("openid", "profile", "email"):
        return RS_AUTH
    match = re.match(r"^urn:globus:auth:scope:([^:]+):", scope)
    if match:
        return match.group(1)
    match = re.match(r"^https://auth\.globus\.org/scopes/([^/]+)/", scope)
    if match:
        return match.group(1)
    return None


def split_scopes(text):
    """Space separated scopes; dependent scopes in [...] are dropped (the lab does not model them)."""
    out, depth, current = [], 0, ""
    for char in text or "":
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif depth == 0 and char.isspace():
            if current:
                out.append(current)
            current = ""
        elif depth == 0:
            current += char
    if current:
        out.append(current)
    return out


class Lab:
    """Everything the handlers share."""

    def __init__(self, state):
        self.state = state
        self.engine = Engine(state)
        self.faults = []
        self.latency = []
        self.requests = collections.deque(maxlen=5000)
        self.fault_lock = threading.Lock()


def service_of(path):
    if path.startswith("/jobs") or path.startswith("/v2/timer"):
        return "timer"
    if path.startswith("/v0.10/"):
        return "transfer"
    if path.startswith("/v2/groups") or path.startswith("/v2/preferences") or path.startswith("/v2/subscription_info"):
        return "groups"
    if path.startswith("/v2/oauth2") or path.startswith("/v2/api"):
        return "auth"
    return "lab"


def error_body(service, status, code, message, path):
    rid = request_id()
    if service == "transfer":
        return {"code": code, "message": message, "request_id": rid, "resource": path}
    if service == "groups":
        return {"code": code, "detail": message}
    if service == "timer":
        return timers.error_body(status, code, message)
    title = REASONS.get(status, "Error")
    return {"errors": [{"status": str(status), "code": code, "detail": message, "id": rid, "title": title}],
            "error": code.lower(), "error_description": title}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in separate writes: with Nagle on, the body waits for the client's delayed
    # ACK (~40 ms a request on Linux), a cost the real services do not have.
    disable_nagle_algorithm = True
    server_version = "GlobusLab/1.0"
    lab = None  # set by make_server

    def log_message(self, fmt, *args):  # quiet; /_lab/requests has the log
        if os.environ.get("GLOBUS_LAB_VERBOSE"):
            sys.stderr.write("%s\n" % (fmt % args))

    # ---- plumbing ----------------------------------------------------------------------
    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def do_PATCH(self):
        self.dispatch("PATCH")

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def json_body(self):
        raw = self.raw_body
        if not raw:
            return {}
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise self.fail(400, "ClientError.BadRequest" if self.service == "transfer" else "BAD_REQUEST", "Invalid JSON body")

    def form_body(self):
        return {k: v[-1] for k, v in parse_qs(self.raw_body.decode("utf-8", "replace"), keep_blank_values=True).items()}

    def record(self, status):
        """Log the request before its answer leaves, so the log order is the order clients saw."""
        if self.logged:
            return
        self.logged = True
        self.lab.requests.append(dict(self.log_entry, time=time.time(), status=status, client_id=self.caller_client,
                                      ms=round((time.monotonic() - self.started) * 1000, 1)))

    def send(self, status, body, headers=None):
        data = b"" if body is None else json.dumps(body).encode("utf-8")
        self.record(status)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, str(value))
        self.end_headers()
        self.wfile.write(data)
        self.status_sent = status

    def fail(self, status, code, message, headers=None):
        return HttpError(status, error_body(self.service, status, code, message, self.path_only), headers)

    def dispatch(self, method):
        split = urlsplit(self.path)
        self.path_only = unquote(split.path)
        self.query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        self.service = service_of(self.path_only)
        self.raw_body = self.read_body()
        self.status_sent = None
        self.caller_client = None
        self.started = time.monotonic()
        self.logged = False
        self.log_entry = {"method": method, "path": self.path_only, "query": split.query, "service": self.service}
        self.after_fault = None
        try:
            if self.path_only.startswith("/_lab/") or self.path_only == "/_lab":
                self.route_admin(method)
                return
            self.inject(method)
            self.route(method)
        except HttpError as exc:
            self.send(exc.status, exc.body, exc.headers)
        except Exception as exc:  # an emulator bug: answer 500 and log it
            import traceback
            traceback.print_exc()
            self.send(500, error_body(self.service, 500, "InternalError", "lab emulator error: %r" % (exc,), self.path_only))
        finally:
            self.record(self.status_sent)

    def client_hint(self):
        """Who is calling (for fault filters), without validating anything."""
        header = self.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            token = self.lab.state.data["tokens"].get(header[7:].strip())
            return token["client_id"] if token else None
        if header.startswith("Basic "):
            try:
                return base64.b64decode(header[6:]).decode("utf-8").split(":", 1)[0]
            except (binascii.Error, UnicodeDecodeError):
                return None
        return None

    def inject(self, method):
        lab = self.lab
        hint = self.client_hint()
        self.caller_client = hint
        delay = 0.0
        chosen = None
        with lab.fault_lock:
            for rule in lab.latency:
                if fnmatch.fnmatchcase(self.path_only, rule.get("pattern") or "*") and rule.get("client_id") in (None, hint):
                    delay = max(delay, float(rule["seconds"]))
            for rule in list(lab.faults):
                if rule.get("method") and rule["method"].upper() != method:
                    continue
                if rule.get("client_id") and rule["client_id"] != hint:
                    continue
                if not fnmatch.fnmatchcase(self.path_only, rule["pattern"]):
                    continue
                rule["remaining"] -= 1
                rule["hits"] = rule.get("hits", 0) + 1
                if rule["remaining"] <= 0:
                    lab.faults.remove(rule)
                chosen = rule
                break
        if delay:
            time.sleep(delay)
        if chosen and chosen.get("after"):
            self.after_fault = chosen  # the request is handled, then its reply is lost (route() answers the fault)
            return
        if chosen:
            raise self.fault_error(chosen)

    def fault_error(self, chosen):
        status = int(chosen["status"])
        headers = {}
        if chosen.get("retry_after") is not None:
            headers["Retry-After"] = chosen["retry_after"]
        code = chosen.get("code") or REASONS.get(status, "Error%d" % status)
        body = chosen.get("body") or error_body(self.service, status, code, chosen.get("message") or "injected by the lab", self.path_only)
        return HttpError(status, body, headers)

    # ---- authentication ----------------------------------------------------------------
    def basic_client(self, required=True):
        header = self.headers.get("Authorization", "")
        if header.startswith("Basic "):
            try:
                client_id, secret = base64.b64decode(header[6:]).decode("utf-8").split(":", 1)
            except (binascii.Error, UnicodeDecodeError, ValueError):
                raise self.fail(401, "UNAUTHORIZED", "malformed Basic credentials")
            client = self.lab.state.data["clients"].get(client_id)
            if client is None or not secrets.compare_digest(client["secret"], secret):
                raise HttpError(401, {"error": "invalid_client", "errors": [{"status": "401", "code": "UNAUTHORIZED",
                                                                            "detail": "Invalid client credentials"}]})
            self.caller_client = client_id
            return client
        if required:
            raise HttpError(401, {"error": "invalid_client", "errors": [{"status": "401", "code": "UNAUTHORIZED",
                                                                        "detail": "No client credentials"}]})
        return None

    def bearer(self, resource_server):
        header = self.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            code = {"transfer": "AuthenticationFailed", "groups": "UNAUTHORIZED"}.get(self.service, "UNAUTHORIZED")
            raise self.fail(401, code, "No Authorization header found")
        state = self.lab.state
        token = state.data["tokens"].get(header[7:].strip())
        if token is None or token["expires_at"] <= state.now() or token["resource_server"] != resource_server:
            code = {"transfer": "AuthenticationFailed", "groups": "UNAUTHORIZED"}.get(self.service, "UNAUTHORIZED")
            raise self.fail(401, code, "Token is not active")
        self.caller_client = token["client_id"]
        return token

    # ---- routing -----------------------------------------------------------------------
    ROUTES = [
        ("POST", r"/v2/oauth2/token", "auth_token"),
        ("POST", r"/v2/oauth2/token/introspect", "auth_introspect"),
        ("POST", r"/v2/oauth2/token/revoke", "auth_revoke"),
        ("GET", r"/v2/oauth2/userinfo", "auth_userinfo"),
        ("GET", r"/v2/api/identities", "auth_identities"),
        ("GET", r"/v2/api/identities/(?P<identity_id>[^/]+)", "auth_identity"),
        ("GET", r"/v2/groups/my_groups", "groups_my"),
        ("POST", r"/v2/groups", "groups_create"),
        ("GET", r"/v2/groups/(?P<gid>[^/]+)", "groups_get"),
        ("PUT", r"/v2/groups/(?P<gid>[^/]+)", "groups_update"),
        ("DELETE", r"/v2/groups/(?P<gid>[^/]+)", "groups_delete"),
        ("POST", r"/v2/groups/(?P<gid>[^/]+)", "groups_batch"),
        ("GET", r"/v2/groups/(?P<gid>[^/]+)/policies", "groups_policies_get"),
        ("PUT", r"/v2/groups/(?P<gid>[^/]+)/policies", "groups_policies_put"),
        ("GET", r"/v0.10/submission_id", "tr_submission_id"),
        ("POST", r"/v0.10/transfer", "tr_submit"),
        ("POST", r"/v0.10/delete", "tr_delete"),
        ("POST", r"/v2/timer", "timer_create"),
        ("GET", r"/jobs", "timer_list"),
        ("GET", r"/jobs/(?P<job>[^/]+)", "timer_get"),
        ("PATCH", r"/jobs/(?P<job>[^/]+)", "timer_update"),
        ("DELETE", r"/jobs/(?P<job>[^/]+)", "timer_delete"),
        ("POST", r"/jobs/(?P<job>[^/]+)/pause", "timer_pause"),
        ("POST", r"/jobs/(?P<job>[^/]+)/resume", "timer_resume"),
        ("GET", r"/v0.10/task_list", "tr_task_list"),
        ("GET", r"/v0.10/task/(?P<tid>[^/]+)", "tr_task"),
        ("PUT", r"/v0.10/task/(?P<tid>[^/]+)", "tr_task_update"),
        ("GET", r"/v0.10/task/(?P<tid>[^/]+)/successful_transfers", "tr_successful"),
        ("GET", r"/v0.10/task/(?P<tid>[^/]+)/skipped_errors", "tr_skipped"),
        ("GET", r"/v0.10/task/(?P<tid>[^/]+)/event_list", "tr_events"),
        ("POST", r"/v0.10/task/(?P<tid>[^/]+)/cancel", "tr_cancel"),
        ("GET", r"/v0.10/operation/endpoint/(?P<ep>[^/]+)/ls", "tr_ls"),
        ("POST", r"/v0.10/operation/endpoint/(?P<ep>[^/]+)/mkdir", "tr_mkdir"),
        ("GET", r"/v0.10/operation/endpoint/(?P<ep>[^/]+)/stat", "tr_stat"),
        ("GET", r"/v0.10/endpoint/(?P<ep>[^/]+)", "tr_endpoint"),
        ("GET", r"/v0.10/endpoint/(?P<ep>[^/]+)/access_list", "tr_acl_list"),
        ("POST", r"/v0.10/endpoint/(?P<ep>[^/]+)/access", "tr_acl_add"),
        ("GET", r"/v0.10/endpoint/(?P<ep>[^/]+)/access/(?P<rule>[^/]+)", "tr_acl_get"),
        ("PUT", r"/v0.10/endpoint/(?P<ep>[^/]+)/access/(?P<rule>[^/]+)", "tr_acl_update"),
        ("DELETE", r"/v0.10/endpoint/(?P<ep>[^/]+)/access/(?P<rule>[^/]+)", "tr_acl_delete"),
    ]
    COMPILED = [(m, re.compile("^" + p + "/?$"), h) for m, p, h in ROUTES]

    def route(self, method):
        path_matched = False
        for route_method, pattern, name in self.COMPILED:
            match = pattern.match(self.path_only)
            if not match:
                continue
            path_matched = True
            if route_method != method:
                continue
            with self.lab.state.lock:
                status, body = getattr(self, name)(**match.groupdict())
            if self.after_fault is not None:
                raise self.fault_error(self.after_fault)
            self.send(status, body)
            return
        if path_matched:
            raise self.fail(405, "MethodNotAllowed" if self.service == "transfer" else "METHOD_NOT_ALLOWED", "method not allowed")
        print("globus lab: unknown route %s %s" % (method, self.path), flush=True)
        raise self.fail(404, "ClientError.NotFound" if self.service == "transfer" else "NOT_FOUND", "no such route: %s" % self.path_only)

    # ---- Auth --------------------------------------------------------------------------
    def auth_token(self):
        client = self.basic_client()
        form = self.form_body()
        if form.get("grant_type") != "client_credentials":
            raise HttpError(400, {"error": "unsupported_grant_type", "errors": [{"status": "400", "code": "UNSUPPORTED_GRANT_TYPE",
                                                                                "detail": "only client_credentials is supported"}]})
        scopes = split_scopes(form.get("scope") or DEFAULT_SCOPE)
        by_rs = collections.OrderedDict()
        for scope in scopes:
            rs = scope_resource_server(scope)
            if rs is None:
                raise HttpError(400, {"error": "invalid_scope", "errors": [{"status": "400", "code": "INVALID_SCOPE",
                                                                           "detail": "Unknown scope %s" % scope}]})
            by_rs.setdefault(rs, []).append(scope)
        state = self.lab.state
        lifetime = int(state.data["config"].get("token_lifetime") or 172800)
        now = state.now()
        docs = []
        for rs, rs_scopes in by_rs.items():
            token = "lab" + secrets.token_urlsafe(24)
            state.data["tokens"][token] = {"client_id": client["id"], "resource_server": rs, "scope": " ".join(rs_scopes),
                                           "expires_at": now + lifetime, "issued_at": now}
            docs.append({"access_token": token, "expires_in": lifetime, "resource_server": rs, "scope": " ".join(rs_scopes),
                         "token_type": "Bearer", "state": "_default"})
        self.prune_tokens(now)
        state.mark()
        top = dict(docs[0])
        top["other_tokens"] = docs[1:]
        return 200, top

    def prune_tokens(self, now):
        tokens = self.lab.state.data["tokens"]
        if len(tokens) > 2000:
            for key in [k for k, v in tokens.items() if v["expires_at"] <= now]:
                del tokens[key]

    def auth_introspect(self):
        self.basic_client()
        form = self.form_body()
        state = self.lab.state
        token = state.data["tokens"].get(form.get("token", ""))
        if token is None or token["expires_at"] <= state.now():
            return 200, {"active": False}
        ident = state.data["identities"].get(token["client_id"])
        return 200, {"active": True, "scope": token["scope"], "client_id": token["client_id"], "sub": token["client_id"],
                     "username": ident["username"] if ident else None, "aud": [token["resource_server"]],
                     "exp": int(token["expires_at"]), "iat": int(token["issued_at"]), "token_type": "Bearer"}

    def auth_revoke(self):
        self.basic_client()
        self.lab.state.data["tokens"].pop(self.form_body().get("token", ""), None)
        self.lab.state.mark()
        return 200, {"active": False}

    def auth_userinfo(self):
        token = self.bearer(RS_AUTH)
        ident = self.lab.state.data["identities"][token["client_id"]]
        return 200, {"sub": ident["id"], "preferred_username": ident["username"], "name": ident["name"],
                     "email": ident["email"], "identity_provider": ident["identity_provider"], "identity_set": [self.identity_out(ident)]}

    def auth_caller(self):
        header = self.headers.get("Authorization", "")
        if header.startswith("Basic "):
            return self.basic_client()["id"]
        return self.bearer(RS_AUTH)["client_id"]

    @staticmethod
    def identity_out(ident):
        return {k: ident.get(k) for k in ("id", "username", "name", "email", "organization", "identity_provider", "identity_type", "status")}

    def auth_identities(self):
        self.auth_caller()
        state = self.lab.state
        usernames, ids = self.query.get("usernames"), self.query.get("ids")
        if usernames and ids:
            raise self.fail(400, "INVALID_PARAMETERS", "usernames and ids are mutually exclusive")
        found = []
        values = [v for v in (usernames or ids or "").split(",") if v.strip()]
        if len(values) > IDENTITIES_PER_REQUEST:
            raise self.fail(400, "INVALID_PARAMETERS", "At most %d %s may be requested at once (got %d)" % (
                IDENTITIES_PER_REQUEST, "usernames" if usernames else "ids", len(values)))
        provision = str(self.query.get("provision", "false")).lower() == "true"
        if usernames:
            for name in usernames.split(","):
                name = name.strip()
                ident = state.identity_by_username(name)
                if ident is None and provision and "@" in name:
                    # like Globus Auth: an identity for a username nobody has used yet, status "unused"
                    ident = state.add_identity(name, status="unused")
                if ident is not None:
                    found.append(self.identity_out(ident))
        elif ids:
            for identity_id in ids.split(","):
                ident = state.data["identities"].get(identity_id.strip())
                if ident is not None:
                    found.append(self.identity_out(ident))
        return 200, {"identities": found}

    def auth_identity(self, identity_id):
        self.auth_caller()
        ident = self.lab.state.data["identities"].get(identity_id)
        if ident is None:
            raise self.fail(404, "NOT_FOUND", "identity not found")
        return 200, {"identity": self.identity_out(ident)}

    # ---- Groups ------------------------------------------------------------------------
    def groups_caller(self, manage=False):
        token = self.bearer(RS_GROUPS)
        if manage and GROUPS_ALL not in token["scope"].split():
            raise self.fail(403, "FORBIDDEN", "this operation needs the scope %s" % GROUPS_ALL)
        return token["client_id"]

    def group_or_404(self, gid):
        group = self.lab.state.data["groups"].get(gid)
        if group is None:
            raise self.fail(404, "NOT_FOUND", "Group %s not found" % gid)
        return group

    @staticmethod
    def role_of(group, identity_id):
        member = group["memberships"].get(identity_id)
        if member and member["status"] == "active":
            return member["role"]
        return None

    def membership_out(self, group, member):
        return {
            "group_id": group["id"], "identity_id": member["identity_id"], "username": member["username"],
            "role": member["role"], "status": member["status"], "membership_fields": member.get("membership_fields") or {},
            "invite_time": iso(member.get("invite_time")), "updated": iso(member.get("updated")),
            "invite_email_address": None, "invite_provider": None,
        }

    def can_see(self, group, caller):
        member = group["memberships"].get(caller)
        if member and member["status"] in ("active", "invited", "pending"):
            return True
        return group["policies"].get("group_visibility") == "authenticated"

    def group_out(self, group, caller, include=()):
        fields = ("id", "name", "description", "parent_id", "group_type", "enforce_session", "session_limit",
                  "terms_and_conditions")
        doc = {k: group.get(k) for k in fields}
        doc["session_limit"] = group.get("session_limit") or 28800
        doc["session_timeouts"] = dict(group.get("session_timeouts") or {})
        doc["subscription_id"] = None
        doc["subscription_info"] = None
        if "policies" in include:
            doc["policies"] = dict(group["policies"])
        if "my_memberships" in include:
            mine = group["memberships"].get(caller)
            doc["my_memberships"] = [self.membership_out(group, mine)] if mine else []
        if "memberships" in include:
            role = self.role_of(group, caller)
            if role in ("admin", "manager") or (role == "member" and group["policies"].get("group_members_visibility") == "members"):
                doc["memberships"] = [self.membership_out(group, m) for m in group["memberships"].values()]
            else:
                mine = group["memberships"].get(caller)
                doc["memberships"] = [self.membership_out(group, mine)] if mine else []
        if "child_ids" in include:
            doc["child_ids"] = sorted(g["id"] for g in self.lab.state.data["groups"].values() if g["parent_id"] == group["id"])
        if "allowed_actions" in include:
            # a list of the action names the caller may take on the group
            role = self.role_of(group, caller)
            manage = role in ("admin", "manager")
            actions = ["view_group"]
            if manage:
                actions += ["update_group", "view_memberships", "add_members", "invite_members", "remove_members",
                            "approve_members", "change_roles", "update_policies", "create_subgroup"]
            if role == "admin":
                actions.append("delete_group")
            if role is not None:
                actions.append("leave")
            doc["allowed_actions"] = actions
        return doc

    def groups_my(self):
        caller = self.groups_caller()
        statuses = set((self.query.get("statuses") or "active").split(","))
        out = []
        for group in self.lab.state.data["groups"].values():
            mine = group["memberships"].get(caller)
            if mine and mine["status"] in statuses:
                doc = self.group_out(group, caller, ("my_memberships", "policies"))
                out.append(doc)
        out.sort(key=lambda g: g["name"].lower())
        return 200, out

    def groups_get(self, gid):
        caller = self.groups_caller()
        group = self.group_or_404(gid)
        if not self.can_see(group, caller):
            raise self.fail(404, "NOT_FOUND", "Group %s not found" % gid)
        include = [part.strip() for part in (self.query.get("include") or "").split(",") if part.strip()]
        # as real Groups: policies and my_memberships are always in the group document
        return 200, self.group_out(group, caller, ["policies", "my_memberships"] + include)

    def groups_create(self):
        caller = self.groups_caller(manage=True)
        body = self.json_body()
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise self.fail(422, "VALIDATION_ERROR", "name is required")
        state = self.lab.state
        parent_id = body.get("parent_id")
        if parent_id:
            parent = state.data["groups"].get(parent_id)
            if parent is None:
                raise self.fail(404, "NOT_FOUND", "parent group %s not found" % parent_id)
            if self.role_of(parent, caller) not in ("admin", "manager"):
                raise self.fail(403, "FORBIDDEN", "only admins and managers of the parent can create subgroups")
            self.check_tree_limits(parent)
        group = state.add_group(name, str(uuid.uuid4()), body.get("description") or "", parent_id or None, None)
        group["terms_and_conditions"] = body.get("terms_and_conditions")
        state.set_membership(group, caller, "admin", "active")
        return 201, self.group_out(group, caller, ("my_memberships", "policies"))

    def check_tree_limits(self, parent):
        groups = self.lab.state.data["groups"]
        depth, root = 1, parent
        while root.get("parent_id") and root["parent_id"] in groups:
            depth += 1
            root = groups[root["parent_id"]]
        if depth > GROUP_TREE_MAX_DEPTH:
            raise self.fail(409, "GROUP_TREE_DEPTH_EXCEEDED",
                            "A group tree may have no more than %d layers of subgroups" % GROUP_TREE_MAX_DEPTH)
        children = {}
        for group in groups.values():
            if group.get("parent_id"):
                children.setdefault(group["parent_id"], []).append(group["id"])
        count, frontier = 0, [root["id"]]
        while frontier:
            kids = children.get(frontier.pop(), [])
            count += len(kids)
            frontier.extend(kids)
        if count >= GROUP_TREE_MAX_SUBGROUPS:
            raise self.fail(409, "GROUP_TREE_SIZE_EXCEEDED",
                            "A group tree may have no more than %d subgroups" % GROUP_TREE_MAX_SUBGROUPS)

    def require_manager(self, group, caller, admin_only=False):
        role = self.role_of(group, caller)
        allowed = ("admin",) if admin_only else ("admin", "manager")
        if role not in allowed:
            if not self.can_see(group, caller):
                raise self.fail(404, "NOT_FOUND", "Group %s not found" % group["id"])
            raise self.fail(403, "FORBIDDEN", "You must be an %s of this group" % ("admin" if admin_only else "admin or manager"))

    def groups_update(self, gid):
        caller = self.groups_caller(manage=True)
        group = self.group_or_404(gid)
        self.require_manager(group, caller)
        body = self.json_body()
        for key in ("name", "description", "terms_and_conditions"):
            if key in body:
                group[key] = body[key]
        if "name" in body and not (isinstance(body["name"], str) and body["name"].strip()):
            raise self.fail(422, "VALIDATION_ERROR", "name must be a non-empty string")
        self.lab.state.mark()
        return 200, self.group_out(group, caller, ("policies", "my_memberships"))

    def groups_delete(self, gid):
        caller = self.groups_caller(manage=True)
        group = self.group_or_404(gid)
        self.require_manager(group, caller, admin_only=True)
        if any(g["parent_id"] == gid for g in self.lab.state.data["groups"].values()):
            raise self.fail(409, "CONFLICT", "Group %s has subgroups; delete them first" % gid)
        doc = self.group_out(group, caller, ("policies", "my_memberships"))
        del self.lab.state.data["groups"][gid]
        self.lab.state.mark()
        return 200, doc

    def groups_policies_get(self, gid):
        caller = self.groups_caller()
        group = self.group_or_404(gid)
        if not self.can_see(group, caller):
            raise self.fail(404, "NOT_FOUND", "Group %s not found" % gid)
        return 200, dict(group["policies"])

    def groups_policies_put(self, gid):
        caller = self.groups_caller(manage=True)
        group = self.group_or_404(gid)
        self.require_manager(group, caller)
        body = self.json_body()
        problems = []
        for key in ("is_high_assurance", "group_visibility", "group_members_visibility", "join_requests", "signup_fields"):
            if key not in body:
                problems.append("%s is required" % key)
        if body.get("group_visibility", "private") not in ("authenticated", "private"):
            problems.append("group_visibility must be authenticated or private")
        if body.get("group_members_visibility", "members") not in ("members", "managers"):
            problems.append("group_members_visibility must be members or managers")
        for key in ("is_high_assurance", "join_requests"):
            if key in body and not isinstance(body[key], bool):
                problems.append("%s must be a boolean" % key)
        if "signup_fields" in body and not isinstance(body["signup_fields"], list):
            problems.append("signup_fields must be a list")
        if body.get("is_high_assurance") and "authentication_assurance_timeout" not in body:
            problems.append("authentication_assurance_timeout is required for high assurance groups")
        if problems:
            raise self.fail(422, "VALIDATION_ERROR", "; ".join(problems))
        for key in ("is_high_assurance", "authentication_assurance_timeout", "group_visibility", "group_members_visibility",
                    "join_requests", "signup_fields"):
            if key in body:
                group["policies"][key] = body[key]
        self.lab.state.mark()
        return 200, dict(group["policies"])

    def groups_batch(self, gid):
        caller = self.groups_caller(manage=True)
        group = self.group_or_404(gid)
        if not self.can_see(group, caller):
            raise self.fail(404, "NOT_FOUND", "Group %s not found" % gid)
        body = self.json_body()
        state = self.lab.state
        role = self.role_of(group, caller)
        manager = role in ("admin", "manager")
        result = {}
        errors = {}
        known = ("add", "invite", "accept", "approve", "remove", "reject", "decline", "leave", "change_role", "join", "request_join")
        for action in body:
            if action not in known:
                raise self.fail(422, "VALIDATION_ERROR", "unknown action %s" % action)
        for action in known:
            items = body.get(action)
            if not items:
                continue
            if not isinstance(items, list):
                raise self.fail(422, "VALIDATION_ERROR", "%s must be a list" % action)
            done, bad = [], []
            for item in items:
                identity_id = item.get("identity_id") if isinstance(item, dict) else None
                problem = self.batch_item(group, caller, role, manager, action, item if isinstance(item, dict) else {}, identity_id)
                if problem:
                    bad.append({"identity_id": identity_id, "code": problem[0], "detail": problem[1]})
                else:
                    done.append(self.membership_out(group, group["memberships"][identity_id]))
            result[action] = done  # every requested action is answered, failures under errors
            if bad:
                errors[action] = bad
        if errors:
            result["errors"] = errors
        state.mark()
        return 200, result

    def batch_item(self, group, caller, role, manager, action, item, identity_id):
        state = self.lab.state
        if not identity_id or identity_id not in state.data["identities"]:
            return ("INVALID_IDENTITY", "identity %s does not exist" % identity_id)
        member = group["memberships"].get(identity_id)
        status = member["status"] if member else None
        self_actions = ("accept", "decline", "leave", "join", "request_join")
        if action in self_actions:
            if identity_id != caller:
                return ("FORBIDDEN", "%s can only be done for your own identity" % action)
        elif not manager:
            return ("FORBIDDEN", "only admins and managers can %s members" % action)
        wanted = item.get("role", "member")
        if action in ("add", "invite", "change_role"):
            if wanted not in ROLES:
                return ("INVALID_ROLE", "role must be one of %s" % ", ".join(ROLES))
            if wanted == "admin" and role != "admin":
                return ("FORBIDDEN", "only admins can grant the admin role")
        if action == "add":
            if status == "active":
                return ("ALREADY_ACTIVE", "Identity %s is already an active member of the group" % identity_id)
            state.set_membership(group, identity_id, wanted, "active")
        elif action == "invite":
            if status == "active":
                return ("ALREADY_ACTIVE", "Identity %s is already an active member of the group" % identity_id)
            if status == "invited":
                return ("ALREADY_INVITED", "Identity %s is already invited" % identity_id)
            state.set_membership(group, identity_id, wanted, "invited")
            group["memberships"][identity_id]["invite_time"] = state.now()
        elif action in ("approve", "reject"):
            if status != "pending":
                return ("NOT_PENDING" if member else "NO_MEMBERSHIP", "Identity %s has no pending request (status %s)" % (identity_id, status))
            state.set_membership(group, identity_id, member["role"], "active" if action == "approve" else "rejected")
        elif action == "remove":
            if status not in ("active", "invited", "pending"):
                return ("NO_MEMBERSHIP", "Identity %s is not a member of the group (status %s)" % (identity_id, status))
            if member["role"] == "admin" and status == "active" and self.last_admin(group, identity_id):
                return ("LAST_ADMIN", "cannot remove the last admin of a group")
            if member["role"] == "admin" and role != "admin":
                return ("FORBIDDEN", "only admins can remove admins")
            state.set_membership(group, identity_id, member["role"], "removed")
        elif action == "change_role":
            if status != "active":
                return ("NO_MEMBERSHIP", "Identity %s is not an active member (status %s)" % (identity_id, status))
            if member["role"] == "admin" and wanted != "admin" and self.last_admin(group, identity_id):
                return ("LAST_ADMIN", "cannot demote the last admin of a group")
            if member["role"] == "admin" and role != "admin":
                return ("FORBIDDEN", "only admins can change an admin's role")
            state.set_membership(group, identity_id, wanted, "active")
        elif action in ("accept", "decline"):
            if status != "invited":
                return ("NOT_INVITED" if member else "NO_MEMBERSHIP", "no invitation for %s (status %s)" % (identity_id, status))
            state.set_membership(group, identity_id, member["role"], "active" if action == "accept" else "declined")
        elif action == "leave":
            if status != "active":
                return ("NO_MEMBERSHIP", "Identity %s is not an active member" % identity_id)
            if member["role"] == "admin" and self.last_admin(group, identity_id):
                return ("LAST_ADMIN", "the last admin cannot leave")
            state.set_membership(group, identity_id, member["role"], "left")
        elif action in ("join", "request_join"):
            if status == "active":
                return ("ALREADY_ACTIVE", "already an active member")
            if not group["policies"].get("join_requests") and group["policies"].get("group_visibility") != "authenticated":
                return ("FORBIDDEN", "this group does not accept join requests")
            state.set_membership(group, identity_id, "member", "pending")
        return None

    @staticmethod
    def last_admin(group, identity_id):
        admins = [m for m in group["memberships"].values() if m["role"] == "admin" and m["status"] == "active"]
        return len(admins) == 1 and admins[0]["identity_id"] == identity_id

    # ---- Transfer ----------------------------------------------------------------------
    def transfer_caller(self):
        return self.bearer(RS_TRANSFER)["client_id"]

    def collection_or_404(self, ep):
        coll = self.lab.state.data["collections"].get(ep)
        if coll is None:
            raise self.fail(404, "EndpointNotFound", "No such collection '%s'" % ep)
        return coll

    def check_access(self, coll, caller, path, need):
        have = permissions(self.lab.state, coll, caller, path)
        if need not in have:
            raise self.fail(403, "EndpointPermissionDenied",
                            "No %s permission on %s of collection %s" % ("write" if need == "w" else "read", norm_path(path), coll["id"]))

    def resolve_local(self, coll, path):
        try:
            return local_path(self.lab.state.collection_root(coll), path)
        except PathError as exc:
            raise self.fail(403, "EndpointPermissionDenied", "%s: %s" % (path, exc))

    def tr_submission_id(self):
        self.transfer_caller()
        return 200, {"DATA_TYPE": "submission_id", "value": str(uuid.uuid4())}

    def tr_submit(self):
        caller = self.transfer_caller()
        body = self.json_body()
        state = self.lab.state
        if body.get("DATA_TYPE") != "transfer":
            raise self.fail(400, "ClientError.BadRequest", "DATA_TYPE must be transfer")
        if "submission_id" not in body:
            raise self.fail(400, "ClientError.BadRequest", "submission_id is required; GET /submission_id first")
        submission_id = body.get("submission_id") or str(uuid.uuid4())  # an explicit null: a fresh one, no dedupe
        key = "%s/%s" % (caller, submission_id)
        if key in state.data["submissions"]:
            task_id = state.data["submissions"][key]
            return 200, {"DATA_TYPE": "transfer_result", "code": "Duplicate", "message": "A transfer with id '%s' was already submitted" % submission_id,
                         "request_id": request_id(), "resource": "/transfer", "submission_id": submission_id, "task_id": task_id,
                         "task_link": task_link(task_id)}
        try:
            task = self.lab.engine.new_transfer_task(caller, body, state.now(), submission_id)
        except SubmitError as exc:
            raise self.fail(exc.status, exc.code, exc.message)
        state.data["submissions"][key] = task["task_id"]
        state.mark()
        return 202, {"DATA_TYPE": "transfer_result", "code": "Accepted",
                     "message": "The transfer has been accepted and a task has been created and queued for execution",
                     "request_id": request_id(), "resource": "/transfer", "submission_id": submission_id, "task_id": task["task_id"],
                     "task_link": task_link(task["task_id"])}

    def tr_delete(self):
        caller = self.transfer_caller()
        body = self.json_body()
        state = self.lab.state
        if body.get("DATA_TYPE") != "delete":
            raise self.fail(400, "ClientError.BadRequest", "DATA_TYPE must be delete")
        submission_id = body.get("submission_id") or str(uuid.uuid4())
        key = "%s/%s" % (caller, submission_id)
        if key in state.data["submissions"]:
            task_id = state.data["submissions"][key]
            return 200, {"DATA_TYPE": "delete_result", "code": "Duplicate", "message": "A delete with id '%s' was already submitted" % submission_id,
                         "request_id": request_id(), "resource": "/delete", "submission_id": submission_id, "task_id": task_id,
                         "task_link": task_link(task_id)}
        try:
            task = self.lab.engine.new_delete_task(caller, body, state.now(), submission_id)
        except SubmitError as exc:
            raise self.fail(exc.status, exc.code, exc.message)
        state.data["submissions"][key] = task["task_id"]
        return 202, {"DATA_TYPE": "delete_result", "code": "Accepted",
                     "message": "The delete has been accepted and a task has been created and queued for execution",
                     "request_id": request_id(), "resource": "/delete", "submission_id": submission_id, "task_id": task["task_id"],
                     "task_link": task_link(task["task_id"])}

    def task_or_404(self, tid, caller):
        task = self.lab.state.data["tasks"].get(tid)
        if task is None or task["owner_id"] != caller:
            raise self.fail(404, "TaskNotFound", "Task %s not found" % tid)
        return task

    def task_out(self, task):
        state = self.lab.state
        src = state.data["collections"].get(task["source_endpoint_id"], {})
        dst = state.data["collections"].get(task["destination_endpoint_id"], {})
        owner = state.data["identities"].get(task["owner_id"], {})
        elapsed = ((task["completion_time"] or state.now()) - task["request_time"]) or 1
        doc = {
            "DATA_TYPE": "task", "task_id": task["task_id"], "type": task["type"], "status": task["status"],
            "nice_status": task["nice_status"],
            "nice_status_short_description": task.get("nice_status_short_description") or task["nice_status"],
            "nice_status_details": (task.get("stall") or {}).get("description"),
            "nice_status_expires_in": -1 if task["status"] == "ACTIVE" else None,
            "label": task["label"], "owner_id": task["owner_id"], "username": owner.get("username"),
            "submission_id": task["submission_id"], "request_time": iso(task["request_time"]),
            "completion_time": iso(task["completion_time"]), "deadline": iso(task["deadline"]),
            "source_endpoint_id": task["source_endpoint_id"], "destination_endpoint_id": task["destination_endpoint_id"],
            "source_endpoint_display_name": src.get("display_name"), "destination_endpoint_display_name": dst.get("display_name"),
            "source_endpoint": src.get("display_name"), "destination_endpoint": dst.get("display_name"),
            "sync_level": task["sync_level"], "verify_checksum": task["verify_checksum"],
            "preserve_timestamp": task["preserve_timestamp"], "delete_destination_extra": task["delete_destination_extra"],
            "skip_source_errors": task["skip_source_errors"], "fail_on_quota_errors": task["fail_on_quota_errors"],
            "encrypt_data": task["encrypt_data"], "recursive_symlinks": "ignore",
            "files": task["files"], "files_transferred": task["files_transferred"], "files_skipped": task["files_skipped"],
            "directories": task["directories"], "symlinks": 0, "bytes_transferred": task["bytes_transferred"],
            "bytes_checksummed": task["bytes_checksummed"],
            "effective_bytes_per_second": int(task["bytes_transferred"] / elapsed) if elapsed > 0 else 0,
            "subtasks_total": task["subtasks_total"], "subtasks_pending": task["subtasks_pending"],
            "subtasks_succeeded": task["subtasks_succeeded"], "subtasks_failed": task["subtasks_failed"],
            "subtasks_canceled": 0, "subtasks_expired": 0, "subtasks_retrying": 0,
            "subtasks_skipped_errors": len(task["skipped_errors"]), "faults": task["faults"],
            "fatal_error": task["fatal_error"], "is_paused": False, "canceled_by_admin": None,
            "canceled_by_admin_message": None, "history_deleted": False, "command": "API 0.10",
            "destination_local_user": None, "source_local_user": None, "destination_local_user_status": None,
            "source_local_user_status": None, "filter_rules": task.get("filter_rules"),
            # real Transfer: is_ok is null once the task ended, false while it is retrying a fault
            "is_ok": (not task.get("stall")) if task["status"] == "ACTIVE" else None,
        }
        if task["type"] == "DELETE":
            doc["files_deleted"] = task.get("files_deleted", 0)
            doc["destination_endpoint_id"] = None
            doc["destination_endpoint_display_name"] = None
            doc["destination_endpoint"] = None
        return doc

    def tr_task(self, tid):
        caller = self.transfer_caller()
        return 200, self.task_out(self.task_or_404(tid, caller))

    def tr_task_update(self, tid):
        caller = self.transfer_caller()
        task = self.task_or_404(tid, caller)
        body = self.json_body()
        if task["status"] != "ACTIVE":
            raise self.fail(409, "Conflict", "Task %s is complete and cannot be changed" % tid)
        for key in body:
            if key not in ("DATA_TYPE", "label", "deadline"):
                raise self.fail(400, "ClientError.BadRequest", "only label and deadline can be updated")
        if "label" in body:
            problem = label_problem(body["label"])
            if problem:
                raise self.fail(400, "ClientError.BadRequest", "Invalid label: %s" % problem)
            task["label"] = body["label"]
        if "deadline" in body:
            try:
                task["deadline"] = parse_time(body["deadline"])
            except ValueError:
                raise self.fail(400, "ClientError.BadRequest", "Invalid deadline %r" % body["deadline"])
        self.lab.state.mark()
        return 200, {"DATA_TYPE": "result", "code": "Updated", "message": "Updated task %s" % tid, "request_id": request_id(),
                     "resource": "/task/%s" % tid}

    def tr_task_list(self):
        caller = self.transfer_caller()
        tasks = [t for t in self.lab.state.data["tasks"].values() if t["owner_id"] == caller]
        for part in (self.query.get("filter") or "").split("/"):
            if not part or ":" not in part:
                continue
            field, value = part.split(":", 1)
            if field == "type":
                wanted = set(value.upper().split(","))
                tasks = [t for t in tasks if t["type"] in wanted]
            elif field == "status":
                wanted = set(value.upper().split(","))
                tasks = [t for t in tasks if t["status"] in wanted]
            elif field == "task_id":
                wanted = set(value.split(","))
                tasks = [t for t in tasks if t["task_id"] in wanted]
            elif field == "label":
                if value.startswith("="):
                    tasks = [t for t in tasks if t["label"] == value[1:]]
                elif value.startswith("~"):
                    tasks = [t for t in tasks if value[1:].lower() in (t["label"] or "").lower()]
                elif value == "null":
                    tasks = [t for t in tasks if t["label"] is None]
                else:
                    tasks = [t for t in tasks if t["label"] == value]
            elif field in ("request_time", "completion_time"):
                low, _sep, high = value.partition(",")
                try:
                    low_ts = parse_time(low) if low else None
                    high_ts = parse_time(high) if high else None
                except ValueError:
                    raise self.fail(400, "ClientError.BadRequest", "bad %s filter" % field)
                tasks = [t for t in tasks if t[field] is not None and (low_ts is None or t[field] >= low_ts)
                         and (high_ts is None or t[field] <= high_ts)]
            else:
                raise self.fail(400, "ClientError.BadRequest", "unsupported filter field %s" % field)
        order = (self.query.get("orderby") or "request_time DESC").split(",")[0].split()
        reverse = len(order) > 1 and order[1].upper() == "DESC"
        field = order[0] if order[0] in ("request_time", "completion_time", "label", "status") else "request_time"
        tasks.sort(key=lambda t: (t.get(field) is None, t.get(field) or 0, t["task_id"]), reverse=reverse)
        offset, limit = self.int_param("offset", 0), min(self.int_param("limit", 10), 1000)
        page = tasks[offset:offset + limit]
        return 200, {"DATA_TYPE": "task_list", "DATA": [self.task_out(t) for t in page], "offset": offset, "limit": limit,
                     "total": len(tasks), "length": len(page), "has_next_page": offset + limit < len(tasks)}

    def int_param(self, name, default):
        try:
            return max(0, int(self.query.get(name, default)))
        except ValueError:
            raise self.fail(400, "ClientError.BadRequest", "%s must be an integer" % name)

    def marker_page(self, rows, data_type):
        config = self.lab.state.data["config"]
        size = int(config.get("client_page_sizes", {}).get(self.caller_client) or config.get("page_size") or 100)
        try:
            start = int(self.query.get("marker") or 0)
        except ValueError:
            raise self.fail(400, "ClientError.BadRequest", "invalid marker")
        page = rows[start:start + size]
        following = start + size if start + size < len(rows) else None
        return 200, {"DATA_TYPE": data_type, "DATA": page, "marker": start, "next_marker": following}

    def tr_successful(self, tid):
        caller = self.transfer_caller()
        task = self.task_or_404(tid, caller)
        return self.marker_page(task["successful"], "successful_transfers")

    def tr_skipped(self, tid):
        caller = self.transfer_caller()
        task = self.task_or_404(tid, caller)
        return self.marker_page(task["skipped_errors"], "skipped_errors")

    def tr_events(self, tid):
        caller = self.transfer_caller()
        task = self.task_or_404(tid, caller)
        events = list(reversed(task["events"]))
        offset, limit = self.int_param("offset", 0), min(self.int_param("limit", 10), 1000)
        page = events[offset:offset + limit]
        return 200, {"DATA_TYPE": "event_list", "DATA": page, "offset": offset, "limit": limit, "total": len(events),
                     "length": len(page), "has_next_page": offset + limit < len(events)}

    def tr_cancel(self, tid):
        caller = self.transfer_caller()
        task = self.task_or_404(tid, caller)
        if task["status"] != "ACTIVE":
            return 200, {"DATA_TYPE": "result", "code": "TaskComplete", "message": "The task is already complete",
                         "request_id": request_id(), "resource": "/task/%s/cancel" % tid}
        self.lab.engine.cancel(task, self.lab.state.now())
        return 200, {"DATA_TYPE": "result", "code": "Canceled", "message": "The task has been cancelled successfully.",
                     "request_id": request_id(), "resource": "/task/%s/cancel" % tid}

    @staticmethod
    def file_doc(name, full):
        info = os.lstat(full)
        if statmod.S_ISLNK(info.st_mode):
            kind = "link"
        elif statmod.S_ISDIR(info.st_mode):
            kind = "dir"
        else:
            kind = "file"
        return {"DATA_TYPE": "file", "name": name, "type": kind, "size": info.st_size, "last_modified": ls_time(info.st_mtime),
                "permissions": "%04o" % statmod.S_IMODE(info.st_mode), "user": "lab", "group": "lab",
                "link_target": os.readlink(full) if kind == "link" else None, "link_group": None, "link_user": None,
                "link_size": None, "link_last_modified": None}

    def tr_ls(self, ep):
        caller = self.transfer_caller()
        coll = self.collection_or_404(ep)
        path = norm_path(self.query.get("path") or "/~/")
        self.check_access(coll, caller, path, "r")
        local = self.resolve_local(coll, path)
        if not os.path.exists(local):
            raise self.fail(404, "ClientError.NotFound", "Directory '%s' not found on collection %s" % (path, ep))
        if not os.path.isdir(local):
            raise self.fail(502, "ExternalError.DirListingFailed.NotDirectory", "'%s' is not a directory" % path)
        show_hidden = str(self.query.get("show_hidden", "true")).lower() not in ("false", "0", "no")
        names = sorted(os.listdir(local))
        docs = []
        for name in names:
            if name.startswith(".globus-partial-") or (not show_hidden and name.startswith(".")):
                continue
            try:
                docs.append(self.file_doc(name, os.path.join(local, name)))
            except OSError:
                continue
        for rule in (self.query.get("filter") or "").split("/"):
            if rule.startswith("name:"):
                value = rule[5:]
                if value.startswith("~"):
                    docs = [d for d in docs if fnmatch.fnmatchcase(d["name"], value[1:])]
                elif value.startswith("!~"):
                    docs = [d for d in docs if not fnmatch.fnmatchcase(d["name"], value[2:])]
                elif value.startswith("="):
                    docs = [d for d in docs if d["name"] == value[1:]]
                else:
                    docs = [d for d in docs if d["name"] in value.split(",")]
            elif rule.startswith("type:"):
                kinds = set(rule[5:].split(","))
                docs = [d for d in docs if d["type"] in kinds]
        offset, limit = self.int_param("offset", 0), min(self.int_param("limit", 100000), 100000)
        total = len(docs)
        docs = docs[offset:offset + limit]
        shown = path if path.endswith("/") else path + "/"
        return 200, {"DATA_TYPE": "file_list", "DATA": docs, "path": shown, "absolute_path": shown, "endpoint": ep,
                     "length": len(docs), "total": total, "rename_supported": True, "symlink_supported": False}

    def tr_stat(self, ep):
        caller = self.transfer_caller()
        coll = self.collection_or_404(ep)
        path = norm_path(self.query.get("path") or "/")
        self.check_access(coll, caller, path, "r")
        local = self.resolve_local(coll, path)
        if not os.path.lexists(local):
            raise self.fail(404, "NotFound", "Path '%s' not found on collection %s" % (path, ep))
        return 200, self.file_doc(os.path.basename(path.rstrip("/")) or "/", local)

    def tr_mkdir(self, ep):
        caller = self.transfer_caller()
        coll = self.collection_or_404(ep)
        body = self.json_body()
        if body.get("DATA_TYPE", "mkdir") != "mkdir" or not body.get("path"):
            raise self.fail(400, "ClientError.BadRequest", "body must be {DATA_TYPE: mkdir, path}")
        path = norm_path(body["path"])
        if path == "/":
            raise self.fail(502, "ExternalError.MkdirFailed.Exists", "Path already exists, Error Path '/' already exists")
        self.check_access(coll, caller, path, "w")
        local = self.resolve_local(coll, path)
        if os.path.lexists(local):
            raise self.fail(502, "ExternalError.MkdirFailed.Exists", "Path already exists, Error Path '%s/' already exists" % path)
        if not os.path.isdir(os.path.dirname(local)):
            raise self.fail(502, "ExternalError.MkdirFailed.NotFound", "Parent directory of '%s' does not exist" % path)
        os.mkdir(local)
        return 200, {"DATA_TYPE": "mkdir_result", "code": "DirectoryCreated", "message": "The directory was created successfully",
                     "request_id": request_id(), "resource": "/operation/endpoint/%s/mkdir" % ep}

    def endpoint_out(self, coll):
        owner = self.lab.state.data["identities"].get(coll["owner_id"], {})
        return {
            "DATA_TYPE": "endpoint", "id": coll["id"], "display_name": coll["display_name"], "canonical_name": "lab#" + coll["id"],
            "entity_type": coll["entity_type"], "host_endpoint_id": coll["host_endpoint_id"],
            "host_endpoint_display_name": "Lab GCS endpoint", "owner_id": coll["owner_id"], "owner_string": owner.get("username"),
            "description": coll.get("description") or "", "organization": "SciOps Lab", "department": None,
            "keywords": None, "contact_email": None, "contact_info": None, "info_link": None, "public": True,
            "default_directory": "/", "gcs_version": "5.4.80", "gcs_manager_url": None, "high_assurance": False,
            "non_functional": False, "is_globus_connect": False, "subscription_id": None, "acl_available": True,
            "acl_editable": True, "activated": True, "expires_in": -1, "force_encryption": False, "disable_verify": False,
            "https_server": None, "myproxy_server": None, "oauth_server": None, "local_user_info_available": False,
            "username": owner.get("username"), "user_message": None, "user_message_link": None,
            "french_english_bilingual": False, "globus_connect_setup_key": None, "gcp_connected": None, "gcp_paused": None,
            "s3_url": None, "s3_owner_activated": False, "host_path": None, "disable_anonymous_writes": False,
            "force_verify": False, "mfa_required": False, "myproxy_dn": None, "non_functional_endpoint_display_name": None,
            "non_functional_endpoint_id": None, "expire_time": None, "shareable": False, "in_use": False, "DATA": [],
            "my_effective_roles": [self.collection_role(coll, self.caller_client)] if self.collection_role(coll, self.caller_client) else [],
        }

    def tr_endpoint(self, ep):
        self.transfer_caller()
        return 200, self.endpoint_out(self.collection_or_404(ep))

    @staticmethod
    def collection_role(coll, identity_id):
        if coll["owner_id"] == identity_id:
            return "administrator"
        return (coll.get("roles") or {}).get(identity_id)

    def acl_owner(self, ep):
        caller = self.transfer_caller()
        coll = self.collection_or_404(ep)
        if self.collection_role(coll, caller) not in ("administrator", "access_manager"):
            raise self.fail(403, "PermissionDenied", "Only an administrator or access manager of collection %s can manage its access rules" % ep)
        return caller, coll

    @staticmethod
    def rule_out(rule):
        return {k: v for k, v in rule.items() if k != "notify_email"}

    def role_rows(self, coll):
        """Role-derived rows: administrators and access managers have an implicit rw rule on / (id null, role_id set)."""
        holders = [(coll["owner_id"], "administrator")] + sorted((coll.get("roles") or {}).items())
        rows = []
        for identity_id, role in holders:
            if role not in ("administrator", "access_manager"):
                continue
            rows.append({"DATA_TYPE": "access", "id": None, "principal_type": "identity", "principal": identity_id,
                         "path": "/", "permissions": "rw", "role_id": stable_id("role", coll["id"], identity_id, role),
                         "role_type": role, "create_time": None, "expiration_date": None})
        return rows

    def tr_acl_list(self, ep):
        _caller, coll = self.acl_owner(ep)
        rules = self.role_rows(coll) + [self.rule_out(r) for r in self.lab.state.data["acl"].get(ep, {}).values()]
        return 200, {"DATA_TYPE": "access_list", "DATA": rules, "endpoint": ep, "length": len(rules), "total": len(rules),
                     "offset": 0, "limit": 100, "has_next_page": False}

    def validate_rule(self, body, partial=False):
        state = self.lab.state
        problems = []
        if not partial:
            kind = body.get("principal_type")
            if kind not in ("identity", "group", "all_authenticated_users", "anonymous"):
                problems.append("principal_type must be identity, group, all_authenticated_users or anonymous")
            principal = body.get("principal", "")
            if kind == "identity" and principal not in state.data["identities"]:
                problems.append("principal %r is not a known identity id" % principal)
            if kind == "group" and principal not in state.data["groups"]:
                problems.append("principal %r is not a known group id" % principal)
            path = body.get("path")
            if not isinstance(path, str) or not path.startswith("/") or not path.endswith("/"):
                problems.append("path must be an absolute directory path ending in '/'")
            elif norm_path(path).rstrip("/") + "/" != path and path != "/":
                problems.append("path must be normalized (no '..', '.' or '//')")
        if body.get("permissions") not in ("r", "rw"):
            problems.append("permissions must be r or rw")
        if body.get("notify_email") is not None and "@" not in str(body.get("notify_email")):
            problems.append("notify_email is not an email address")
        if problems:
            raise self.fail(400, "InvalidValue" if len(problems) == 1 else "ClientError.BadRequest", "; ".join(problems))

    def tr_acl_add(self, ep):
        self.acl_owner(ep)
        body = self.json_body()
        if body.get("DATA_TYPE", "access") != "access":
            raise self.fail(400, "ClientError.BadRequest", "DATA_TYPE must be access")
        self.validate_rule(body)
        state = self.lab.state
        for rule in state.data["acl"].get(ep, {}).values():
            if rule["principal_type"] == body["principal_type"] and rule["principal"] == body.get("principal", "") and rule["path"] == body["path"]:
                raise self.fail(409, "Exists", "Access rule already exists (%s)" % rule["id"])
        rule = state.add_acl(ep, body["principal_type"], body.get("principal", ""), body["path"], body["permissions"],
                             notify_email=body.get("notify_email"))
        if body.get("notify_email"):
            state.data["notifications"].append({"time": iso(state.now()), "collection_id": ep, "access_id": rule["id"],
                                                "email": body["notify_email"], "message": body.get("notify_message"),
                                                "path": body["path"], "permissions": body["permissions"]})
        return 201, {"DATA_TYPE": "access_create_result", "code": "Created", "message": "Access rule created successfully.",
                     "request_id": request_id(), "resource": "/endpoint/%s/access" % ep, "access_id": rule["id"]}

    def tr_acl_get(self, ep, rule):
        self.acl_owner(ep)
        found = self.lab.state.data["acl"].get(ep, {}).get(rule)
        if found is None:
            raise self.fail(404, "AccessRuleNotFound", "Access rule '%s' not found" % rule)
        return 200, self.rule_out(found)

    def tr_acl_update(self, ep, rule):
        self.acl_owner(ep)
        found = self.lab.state.data["acl"].get(ep, {}).get(rule)
        if found is None:
            raise self.fail(404, "AccessRuleNotFound", "Access rule '%s' not found" % rule)
        body = self.json_body()
        self.validate_rule(body, partial=True)
        found["permissions"] = body["permissions"]
        self.lab.state.mark()
        return 200, {"DATA_TYPE": "result", "code": "Updated", "message": "Access rule '%s' permissions updated successfully" % rule,
                     "request_id": request_id(), "resource": "/endpoint/%s/access/%s" % (ep, rule)}

    def tr_acl_delete(self, ep, rule):
        self.acl_owner(ep)
        if self.lab.state.data["acl"].get(ep, {}).pop(rule, None) is None:
            raise self.fail(404, "AccessRuleNotFound", "Access rule '%s' not found" % rule)
        self.lab.state.mark()
        return 200, {"DATA_TYPE": "result", "code": "Deleted", "message": "Access rule '%s' deleted successfully" % rule,
                     "request_id": request_id(), "resource": "/endpoint/%s/access/%s" % (ep, rule)}

    # ---- Timers ------------------------------------------------------------------------
    def timer_caller(self):
        return self.bearer(timers.RS_TIMERS)["client_id"]

    def timer_call(self, function, *args):
        try:
            return function(self.lab.state, *args)
        except timers.TimerError as exc:
            raise HttpError(exc.status, timers.error_body(exc.status, exc.code, exc.detail))

    def timer_create(self):
        caller = self.timer_caller()
        job = self.timer_call(timers.create, caller, self.json_body())
        return 201, {"timer": timers.v2_doc(job)}

    def timer_list(self):
        caller = self.timer_caller()
        jobs = [j for j in self.lab.state.data.get("timers", {}).values() if j["owner_id"] == caller]
        order = (self.query.get("order") or "submitted_at asc").split()
        jobs.sort(key=lambda j: (j.get(order[0]) or 0, j["job_id"]), reverse=len(order) > 1 and order[1].lower() == "desc")
        return 200, {"jobs": [timers.job_doc(j, describe=self.describe_task) for j in jobs]}

    def describe_task(self, task_id):
        task = self.lab.state.data["tasks"].get(task_id)
        return self.task_out(task) if task else None

    def timer_get(self, job):
        return 200, timers.job_doc(self.timer_call(timers.get, self.timer_caller(), job), describe=self.describe_task)

    def timer_update(self, job):
        return 200, timers.job_doc(self.timer_call(timers.update, self.timer_caller(), job, self.json_body()), describe=self.describe_task)

    def timer_delete(self, job):
        return 200, timers.job_doc(self.timer_call(timers.delete, self.timer_caller(), job), describe=self.describe_task)

    def timer_pause(self, job):
        self.timer_call(timers.set_paused, self.timer_caller(), job, True)
        return 200, {"message": "Successfully paused job %s." % job}

    def timer_resume(self, job):
        self.timer_call(timers.set_paused, self.timer_caller(), job, False)
        return 200, {"message": "Successfully resumed job %s." % job}

    # ---- admin routes (/_lab/...) ------------------------------------------------------
    def route_admin(self, method):
        from tests.lab.globus import admin

        status, body = admin.handle(self, method)
        self.send(status, body)


def make_server(port, state_dir, seed, listen=None):
    """The emulator's server(s): one per ``listen.bind`` address (HTTPS with ``listen.tls_cert``); the first is returned
    with the others as its ``.others``."""
    state = State(state_dir, seed)
    lab = Lab(state)
    handler = type("BoundHandler", (Handler,), {"lab": lab})
    servers = httpd.make_servers(listen or argparse.Namespace(bind=None, tls_cert=None, tls_key=None), port, handler)
    server = servers[0]
    server.others = servers[1:]
    server.lab = lab
    return server


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8701)
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--seed")
    httpd.add_listen_arguments(parser)
    args = parser.parse_args(argv)
    server = make_server(args.port, args.state_dir, args.seed, args)
    lab = server.lab
    gc.freeze()  # the seed lives as long as the server: full collections need not scan it again (20,000 identities)
    threading.Thread(target=lab.state.saver, daemon=True, name="saver").start()
    threading.Thread(target=lab.engine.loop, daemon=True, name="engine").start()
    for other in server.others:
        threading.Thread(target=other.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    listening = (", ".join(args.bind or ["127.0.0.1"]), args.port, " (https)" if args.tls_cert else "", lab.state.path)
    print("globus lab listening on %s port %d%s (state %s)" % listening, flush=True)
    server.serve_forever(poll_interval=0.2)
    lab.state.save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
