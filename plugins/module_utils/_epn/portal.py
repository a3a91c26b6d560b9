# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Synchrotron portal client (the Australian Synchrotron user portal API). Private to sciops.datasync.

Two calls, as ASSyncy used them:

- ``POST {base}/api/v1/oauth/token`` with HTTP Basic (client_name, client_password)
  and the form ``username``, ``password``, ``grant_type=password``;
- ``GET {base}/api/v1/equipment/{id}/visits?access_token=..&start_time=..&end_time=..``
  -> ``{"visits": [...]}``.

Each equipment has its own credentials (``load_credentials`` reads them from a 0600
file in ASSyncy's ``equipment:`` shape). TLS is verified by default; a 401 on a call
logs in again once; 5xx answers and connection errors are retried with backoff.
"""

from __future__ import annotations

import datetime
import time

from ansible_collections.sciops.datasync.plugins.module_utils._core.secrets import SecretFileError, read_secret_file

CREDENTIAL_KEYS = ("username", "password", "client_name", "client_password")
RETRY_STATUSES = (500, 502, 503, 504)


class PortalError(Exception):
    """A portal call that failed; the message names the equipment."""

    def __init__(self, message, equipment=None, status=None):
        super().__init__(message)
        self.equipment = equipment
        self.status = status


def load_credentials(path):
    """``{equipment_id: {username, password, client_name, client_password}}`` from a YAML/JSON file.

    The file holds ``equipment: [{id, username, password, client_name, client_password}, ...]``
    (ASSyncy's config.yml works as it is). Raises PortalError on a missing key.
    """
    try:
        import yaml
    except ImportError:
        raise PortalError("reading %s needs PyYAML" % path)
    try:
        document = yaml.safe_load(read_secret_file(path, "portal credentials file")) or {}
    except SecretFileError as exc:
        raise PortalError(str(exc))
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
    """One equipment's session with the portal."""

    def __init__(self, base_url, equipment_id, credentials, verify=True, timeout=30, retries=3, backoff=1.0,
                 session=None, sleep=time.sleep):
        self.base_url = base_url.rstrip("/")
        self.equipment = int(equipment_id)
        self.credentials = credentials
        self.verify = verify
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.sleep = sleep
        self.token = None
        self.logins = 0
        self.retried = 0
        if session is None:
            import requests
            session = requests.Session()
        self.session = session

    def _label(self):
        return "equipment %d" % self.equipment

    def _send(self, method, path, **kwargs):
        """One request with retries on 5xx / connection errors; returns the response."""
        import requests
        url = self.base_url + path
        attempt = 0
        while True:
            try:
                response = self.session.request(method, url, timeout=self.timeout, verify=self.verify, **kwargs)
            except requests.exceptions.SSLError as exc:
                raise PortalError("%s: TLS verification of %s failed: %s" % (self._label(), self.base_url, exc), self.equipment)
            except requests.exceptions.RequestException as exc:
                if attempt >= self.retries:
                    raise PortalError("%s: portal %s unreachable after %d attempts: %s"
                                      % (self._label(), self.base_url, attempt + 1, exc), self.equipment)
                response = None
            if response is not None and response.status_code not in RETRY_STATUSES:
                return response
            if attempt >= self.retries:
                raise PortalError("%s: portal answered HTTP %d to %s %s %d times; giving up"
                                  % (self._label(), response.status_code, method, path, attempt + 1),
                                  self.equipment, response.status_code)
            attempt += 1
            self.retried += 1
            self.sleep(self.backoff * (2 ** (attempt - 1)))

    @staticmethod
    def _error_text(response):
        try:
            document = response.json()
        except ValueError:
            return (response.text or "")[:200]
        if isinstance(document, dict):
            return " ".join(str(document[k]) for k in ("error", "error_description", "message") if document.get(k))
        return str(document)[:200]

    def login(self):
        """Log in with this equipment's account; sets and returns the access token."""
        response = self._send(
            "POST", "/api/v1/oauth/token",
            auth=(self.credentials["client_name"], self.credentials["client_password"]),
            data={"username": self.credentials["username"], "password": self.credentials["password"], "grant_type": "password"},
        )
        self.logins += 1
        if response.status_code in (400, 401, 403):
            raise PortalError("%s: portal login as %s (client %s) refused with HTTP %d (%s): check its credentials"
                              % (self._label(), self.credentials["username"], self.credentials["client_name"],
                                 response.status_code, self._error_text(response)), self.equipment, response.status_code)
        if response.status_code != 200:
            raise PortalError("%s: portal login answered HTTP %d (%s)" % (self._label(), response.status_code, self._error_text(response)),
                              self.equipment, response.status_code)
        try:
            token = response.json()["access_token"]
        except (ValueError, KeyError, TypeError):
            raise PortalError("%s: portal login answer has no access_token" % self._label(), self.equipment)
        self.token = token
        return token

    def visits(self, start, end):
        """Visits of this equipment overlapping [start, end] (aware datetimes), as visit records."""
        if self.token is None:
            self.login()
        path = "/api/v1/equipment/%d/visits" % self.equipment
        params = {"start_time": iso_utc(start), "end_time": iso_utc(end)}
        reauthenticated = False
        while True:
            response = self._send("GET", path, params=dict(params, access_token=self.token))
            if response.status_code == 401 and not reauthenticated:
                reauthenticated = True
                self.login()
                continue
            break
        if response.status_code == 401:
            raise PortalError("%s: portal refused a fresh token for the visits (HTTP 401 after logging in again)" % self._label(),
                              self.equipment, 401)
        if response.status_code != 200:
            raise PortalError("%s: visits query answered HTTP %d (%s)" % (self._label(), response.status_code, self._error_text(response)),
                              self.equipment, response.status_code)
        try:
            documents = response.json()["visits"]
        except (ValueError, KeyError, TypeError):
            raise PortalError("%s: visits answer is not {\"visits\": [...]}" % self._label(), self.equipment)
        return [visit_record(d, self.equipment) for d in documents if isinstance(d, dict)]
