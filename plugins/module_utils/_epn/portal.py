# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Synchrotron portal client (the Australian Synchrotron user portal API). Private to sciops.datasync.

Two calls, as ASSyncy used them:

- ``POST {base}/api/v1/oauth/token`` with HTTP Basic (client_name, client_password)
  and the form ``username``, ``password``, ``grant_type=password``;
- ``GET {base}/api/v1/equipment/{id}/visits?start_time=..&end_time=..`` with the token in
  ``Authorization: Bearer ..`` -> ``{"visits": [...]}``.

ASSyncy sent the token as ``?access_token=``; a query string ends up in proxy and server
access logs and in error texts, so the token goes in the header instead: the login is an
OAuth 2 password grant answering a bearer token, and RFC 6750 section 2.1 makes the
``Authorization: Bearer`` header the one method every bearer-token resource server must
accept (the lab emulator takes both forms). The token never reaches a URL, a message or a
result (it is in the module's no_log values).

Each equipment has its own credentials (``load_credentials`` reads them with the one
secret-file reader, ``_core.secrets``, in ASSyncy's ``equipment:`` shape). Requests go through
``_core.http``: TLS verified by default, redirects only within the portal's origin, 429 and
5xx answers retried (honouring Retry-After). A 401 on a call logs in again once.
"""

from __future__ import annotations

import base64
import datetime

from urllib.parse import urlencode

from ansible_collections.sciops.datasync.plugins.module_utils._core.http import HttpError, HttpSettings
from ansible_collections.sciops.datasync.plugins.module_utils._core.secrets import SecretFileError, read_secret_file

CREDENTIAL_KEYS = ("username", "password", "client_name", "client_password")


class PortalError(Exception):
    """A portal call that failed; the message names the equipment."""

    def __init__(self, message, equipment=None, status=None):
        super().__init__(message)
        self.equipment = equipment
        self.status = status


def load_credentials(path, no_log_values=None):
    """``{equipment_id: {username, password, client_name, client_password}}`` from a YAML/JSON file.

    The file holds ``equipment: [{id, username, password, client_name, client_password}, ...]``
    (ASSyncy's config.yml works as it is). Raises PortalError on a missing key. Every
    password is added to ``no_log_values`` (a module's) when given.
    """
    try:
        import yaml
    except ImportError:
        raise PortalError("reading %s needs PyYAML" % path)
    try:
        document = yaml.safe_load(read_secret_file(path, "portal credentials file")) or {}
    except SecretFileError as exc:
        raise PortalError(str(exc))
    except yaml.YAMLError as exc:  # the message would quote the file's text: only say where
        mark = getattr(exc, "problem_mark", None)
        raise PortalError("portal credentials file %s is not valid YAML%s" % (path, " (line %d)" % (mark.line + 1) if mark else ""))
    entries = document.get("equipment") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise PortalError("portal credentials file %s has no 'equipment' list" % path)
    found = {}
    for entry in entries:
        if not isinstance(entry, dict) or "id" not in entry:
            raise PortalError("portal credentials file %s: every equipment entry needs an id" % path)
        missing = [key for key in CREDENTIAL_KEYS if not entry.get(key)]
        if missing:
            raise PortalError("portal credentials file %s: equipment %s lacks %s" % (path, entry["id"], ", ".join(missing)),
                              equipment=entry["id"])
        found[int(entry["id"])] = {key: str(entry[key]) for key in CREDENTIAL_KEYS}
        if no_log_values is not None:
            no_log_values.update(found[int(entry["id"])][key] for key in ("password", "client_password"))
    return found


def iso_utc(moment):
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text):
    """An aware datetime from the portal's ISO 8601 text (``Z`` or an offset; naive = UTC)."""
    if not isinstance(text, str) or not text:
        return None
    value = text.strip().replace("Z", "+00:00")
    if "." in value:
        head, tail = value.split(".", 1)
        digits = "".join(c for c in tail if c.isdigit())
        value = head + "." + digits[:6].ljust(6, "0") + tail[len(digits):]
    try:
        moment = datetime.datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment


def person(document):
    """A portal person as ``{name, email}`` (missing parts are empty strings)."""
    document = document or {}
    name = " ".join(p for p in (document.get("first_names") or "", document.get("last_name") or "") if p).strip()
    return {"name": name, "first_names": document.get("first_names") or "", "last_name": document.get("last_name") or "",
            "email": document.get("email") or ""}


def visit_record(document, equipment_id):
    """The parts of a portal visit this collection uses, as plain data."""
    start = parse_time(document.get("start_time"))
    end = parse_time(document.get("end_time"))
    return {
        "epn": document.get("epn"),
        "equipment": equipment_id,
        "start_time": iso_utc(start) if start else None,
        "end_time": iso_utc(end) if end else None,
        "principal_scientist": person(document.get("principal_scientist")),
        "data_scientists": [person(p) for p in document.get("data_scientists") or []],
    }


class PortalClient:
    """One equipment's session with the portal (requests through ``_core.http``).

    The access token goes in the ``Authorization: Bearer`` header, never in the URL (see
    the module docstring); the credentials and every token are added to ``no_log_values``
    (the module's, when given) and scrubbed from every message.
    """

    def __init__(self, base_url, equipment_id, credentials, settings=None, http=None, no_log_values=None):
        self.base_url = base_url.rstrip("/")
        self.equipment = int(equipment_id)
        self.credentials = credentials
        self.token = None
        self.logins = 0
        self.no_log_values = no_log_values if no_log_values is not None else set()
        self.http = http or (settings or HttpSettings()).client("equipment %d: portal" % self.equipment)
        for key in ("password", "client_password"):
            self._secret(credentials.get(key))

    @property
    def retried(self):
        return self.http.retried

    def _secret(self, value):
        if value:
            self.http.add_secret(value)
            self.no_log_values.add(str(value))

    def _label(self):
        return "equipment %d" % self.equipment

    def _send(self, method, path, headers=None, data=None, idempotent=None):
        """One request through the shared helper (retries, same-origin redirects, TLS); returns the response."""
        try:
            return self.http.request(method, self.base_url + path, headers=headers, data=data, idempotent=idempotent)
        except HttpError as exc:
            raise PortalError(self.http.scrub(str(exc)), self.equipment, exc.status)

    def _answer(self, response, call, key, malformed):
        """``key`` of the JSON body of a 200 answer to ``call``; PortalError naming the call, or saying ``malformed``, otherwise."""
        if response.status != 200:
            raise PortalError("%s: %s answered HTTP %d (%s)" % (self._label(), call, response.status, self._error_text(response)),
                              self.equipment, response.status)
        try:
            return response.json()[key]
        except (ValueError, KeyError, TypeError):
            raise PortalError("%s: %s" % (self._label(), malformed), self.equipment)

    def _error_text(self, response):
        try:
            document = response.json()
        except ValueError:
            return self.http.scrub(response.text[:200])
        if isinstance(document, dict):
            text = " ".join(str(document[k]) for k in ("error", "error_description", "message") if document.get(k))
        else:
            text = str(document)[:200]
        return self.http.scrub(text)

    def login(self):
        """Log in with this equipment's account; sets and returns the access token."""
        basic = base64.b64encode(("%s:%s" % (self.credentials["client_name"], self.credentials["client_password"])).encode("utf-8"))
        self._secret(basic.decode("ascii"))
        form = urlencode({"username": self.credentials["username"], "password": self.credentials["password"], "grant_type": "password"})
        response = self._send("POST", "/api/v1/oauth/token", data=form, idempotent=True,
                              headers={"Authorization": "Basic " + basic.decode("ascii"), "Accept": "application/json",
                                       "Content-Type": "application/x-www-form-urlencoded"})
        self.logins += 1
        if response.status in (400, 401, 403):
            raise PortalError("%s: portal login as %s (client %s) refused with HTTP %d (%s): check its credentials"
                              % (self._label(), self.credentials["username"], self.credentials["client_name"],
                                 response.status, self._error_text(response)), self.equipment, response.status)
        token = self._answer(response, "portal login", "access_token", "portal login answer has no access_token")
        if not isinstance(token, str) or not token:
            raise PortalError("%s: portal login answer has no access_token" % self._label(), self.equipment)
        self._secret(token)
        self.token = token
        return token

    def visits(self, start, end):
        """Visits of this equipment overlapping [start, end] (aware datetimes), as visit records."""
        if self.token is None:
            self.login()
        path = "/api/v1/equipment/%d/visits?%s" % (self.equipment, urlencode({"start_time": iso_utc(start), "end_time": iso_utc(end)}))
        reauthenticated = False
        while True:
            response = self._send("GET", path, headers={"Authorization": "Bearer " + self.token, "Accept": "application/json"})
            if response.status == 401 and not reauthenticated:
                reauthenticated = True
                self.login()
                continue
            break
        if response.status == 401:
            raise PortalError("%s: portal refused a fresh token for the visits (HTTP 401 after logging in again)" % self._label(),
                              self.equipment, 401)
        documents = self._answer(response, "visits query", "visits", "visits answer is not {\"visits\": [...]}")
        return [visit_record(d, self.equipment) for d in documents if isinstance(d, dict)]
