"""Synchrotron portal emulator: the two API calls ASSyncy used, with per-equipment accounts.

python -m tests.lab.portal.server --port 8702 --seed tests/lab/seeds/portal.yml --state .lab/portal/state.json

- ``POST /api/v1/oauth/token``: HTTP Basic (client_name, client_password), form
  ``username``, ``password``, ``grant_type=password`` -> ``{"access_token": ...}``.
- ``GET /api/v1/equipment/{id}/visits?access_token=T&start_time=ISO&end_time=ISO``
  -> ``{"visits": [...]}``: visits overlapping the window; 401 on a bad or expired
  token, 403 when the token's account is not the equipment's.
- Admin routes: ``POST /_lab/faults {"path": prefix, "status": N, "count": N}`` (the next
  N matching responses get that status), ``POST /_lab/expire_tokens``, ``POST /_lab/reset``
  (faults, request log), ``GET /_lab/requests`` (the request log), ``GET /_lab/seed``.
"""

from __future__ import annotations

import base64
import datetime
import json
import re
import secrets
import threading
import time
import urllib.parse

import yaml

from tests.lab import httpd

VISITS = re.compile(r"^/api/v1/equipment/([0-9]+)/visits$")


def iso(moment):
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def parse_iso(text):
    value = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    return value


class Portal:
    def __init__(self, seed_path, state_path):
        with open(seed_path) as handle:
            self.seed = yaml.safe_load(handle)
        self.state_path = state_path
        self.lock = threading.Lock()
        self.tokens = {}
        self.faults = httpd.Faults(prefix=True)
        self.requests = []
        self.lifetime = int(self.seed.get("token_lifetime_seconds", 3600))
        self.save()

    def save(self):
        httpd.save_json(self.state_path, {"tokens": self.tokens, "faults": self.faults.items, "requests": self.requests}, indent=1)

    def equipment(self, equipment_id):
        for item in self.seed["equipment"]:
            if int(item["id"]) == equipment_id:
                return item
        return None

    def person(self, key):
        person = dict(self.seed["people"][key])
        return {"first_names": person["first_names"], "last_name": person["last_name"], "email": person["email"]}

    def visits(self, equipment_id, start, end):
        now = datetime.datetime.now(datetime.timezone.utc)
        found = []
        for number, visit in enumerate(self.seed["visits"]):
            if int(visit["equipment"]) != equipment_id:
                continue
            begins = now + datetime.timedelta(days=visit["start"])
            ends = now + datetime.timedelta(days=visit["end"])
            if ends < start or begins > end:
                continue
            found.append({
                "id": 5000 + number,
                "epn": str(visit["epn"]),
                "equipment_id": equipment_id,
                "start_time": iso(begins),
                "end_time": iso(ends),
                "principal_scientist": self.person(visit["principal_scientist"]),
                "data_scientists": [self.person(k) for k in visit.get("data_scientists", [])],
            })
        return found


class Handler(httpd.JsonHandler):
    server_version = "LabPortal/1.0"
    portal = None

    def log_message(self, fmt, *args):  # quieter log: one line per request
        print("%s %s" % (self.address_string(), fmt % args), flush=True)

    def reply(self, status, document, record=True, who=None):
        if record:  # logged before the answer leaves, so the log order is the order clients saw
            with self.portal.lock:
                httpd.remember(self.portal.requests, {"method": self.command, "path": self.path.split("?")[0], "status": status,
                                                      "who": who, "time": time.time()})
                self.portal.save()
        self.send_json(status, document)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/_lab/requests":
            with self.portal.lock:
                return self.reply(200, {"requests": list(self.portal.requests)}, record=False)
        if url.path == "/_lab/seed":
            return self.reply(200, self.portal.seed, record=False)
        match = VISITS.match(url.path)
        if not match:
            return self.reply(404, {"error": "not_found"})
        fault = self.fault(url.path)
        if fault:
            return self.reply(fault, {"error": "lab fault", "status": fault})
        query = urllib.parse.parse_qs(url.query)
        token = (query.get("access_token") or [""])[0]
        header = self.headers.get("Authorization", "")
        if not token and header.lower().startswith("bearer "):
            token = header[7:].strip()
        with self.portal.lock:
            grant = self.portal.tokens.get(token)
        if not grant or grant["expires"] < time.time():
            return self.reply(401, {"error": "invalid_token", "error_description": "The access token is invalid or has expired"})
        equipment_id = int(match.group(1))
        equipment = self.portal.equipment(equipment_id)
        if equipment is None:
            return self.reply(404, {"error": "not_found", "error_description": "no equipment %d" % equipment_id}, who=grant["username"])
        if grant["equipment"] != equipment_id:
            return self.reply(403, {"error": "forbidden", "error_description": "account %s has no access to equipment %d"
                                    % (grant["username"], equipment_id)}, who=grant["username"])
        try:
            start = parse_iso(query["start_time"][0])
            end = parse_iso(query["end_time"][0])
        except (KeyError, ValueError):
            return self.reply(400, {"error": "bad_request", "error_description": "start_time and end_time (ISO 8601) are required"})
        return self.reply(200, {"visits": self.portal.visits(equipment_id, start, end)}, who=grant["username"])

    def fault(self, path):
        with self.portal.lock:
            fault = self.portal.faults.take(self.command, path)
        return fault and fault["status"]

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        raw = self.read_body()
        if url.path.startswith("/_lab/"):
            return self.admin(url.path, raw)
        if url.path != "/api/v1/oauth/token":
            return self.reply(404, {"error": "not_found"})
        fault = self.fault(url.path)
        if fault:
            return self.reply(fault, {"error": "lab fault", "status": fault})
        form = urllib.parse.parse_qs(raw.decode())
        username = (form.get("username") or [""])[0]
        try:
            client, secret = base64.b64decode(self.headers.get("Authorization", "")[6:]).decode().split(":", 1)
        except (ValueError, UnicodeDecodeError):
            client, secret = "", ""
        if (form.get("grant_type") or [""])[0] != "password":
            return self.reply(400, {"error": "unsupported_grant_type"}, who=username)
        for item in self.portal.seed["equipment"]:
            if item["client_name"] == client and item["client_password"] == secret:
                if item["username"] == username and item["password"] == (form.get("password") or [""])[0]:
                    token = secrets.token_hex(20)
                    with self.portal.lock:
                        self.portal.tokens[token] = {"username": username, "equipment": int(item["id"]),
                                                     "expires": time.time() + self.portal.lifetime}
                    return self.reply(200, {"access_token": token, "token_type": "bearer", "expires_in": self.portal.lifetime,
                                            "scope": "read"}, who=username)
                return self.reply(401, {"error": "invalid_grant", "error_description": "Bad credentials"}, who=username)
        return self.reply(401, {"error": "invalid_client", "error_description": "Bad client credentials"}, who=username)

    def admin(self, path, raw):
        document = json.loads(raw.decode() or "{}")
        with self.portal.lock:
            if path == "/_lab/faults":
                self.portal.faults.add({"path": document["path"], "status": int(document["status"]),
                                        "count": int(document.get("count", 1))})
            elif path == "/_lab/expire_tokens":
                for grant in self.portal.tokens.values():
                    grant["expires"] = 0
            elif path == "/_lab/reset":
                self.portal.faults.clear()
                self.portal.requests = []
            else:
                return self.reply(404, {"error": "not_found"}, record=False)
            self.portal.save()
        return self.reply(200, {"ok": True}, record=False)


def setup(args):
    Handler.portal = Portal(args.seed, args.state)


if __name__ == "__main__":
    httpd.main(__doc__, 8702, Handler, setup)
