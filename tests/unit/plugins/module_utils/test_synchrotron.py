"""The portal client: login, visits with the token in the header, one re-login on 401, secrets scrubbed."""

import base64
import datetime
import urllib.parse

import pytest

from ansible_collections.sciops.datasync.plugins.module_utils._core.http import HttpClient, HttpError, HttpSettings
from ansible_collections.sciops.datasync.plugins.module_utils._epn import portal as _synchrotron

CREDS = {"username": "u", "password": "p", "client_name": "c", "client_password": "cp"}
START = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
END = datetime.datetime(2026, 2, 1, tzinfo=datetime.timezone.utc)


class Response:
    def __init__(self, status, document):
        self.status = status
        self.document = document
        self.text = str(document)

    def json(self):
        return self.document


class Http(HttpClient):
    """The shared helper with canned answers in place of the network (its retry loop is test_http's)."""

    def __init__(self, answers):
        super().__init__(label="equipment 23: portal")
        self.answers = list(answers)
        self.calls = []

    def request(self, method, url, headers=None, data=None, idempotent=None):
        self.calls.append((method, url, dict(headers or {}), data))
        return self.answers.pop(0)


VISIT = {"epn": "12282a", "start_time": "2026-01-10T00:00:00.000Z", "end_time": "2026-01-11T00:00:00Z",
         "principal_scientist": {"first_names": "Alice", "last_name": "Nguyen", "email": "a@x"}, "data_scientists": []}


def client(answers, **kwargs):
    http = Http(answers)
    return _synchrotron.PortalClient("https://portal.example.org/", 23, CREDS, http=http, **kwargs), http


def test_login_and_visits_send_what_the_portal_expects():
    portal, http = client([Response(200, {"access_token": "T1-token"}), Response(200, {"visits": [VISIT]})])
    visits = portal.visits(START, END)
    assert visits[0]["epn"] == "12282a" and visits[0]["principal_scientist"]["name"] == "Alice Nguyen"
    method, url, headers, data = http.calls[0]
    assert (method, url) == ("POST", "https://portal.example.org/api/v1/oauth/token")
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"c:cp").decode()
    assert urllib.parse.parse_qs(data) == {"username": ["u"], "password": ["p"], "grant_type": ["password"]}
    method, url, headers, data = http.calls[1]
    path, _sep, query = url.partition("?")
    assert path.endswith("/api/v1/equipment/23/visits") and data is None
    assert urllib.parse.parse_qs(query) == {"start_time": ["2026-01-01T00:00:00Z"], "end_time": ["2026-02-01T00:00:00Z"]}
    assert headers["Authorization"] == "Bearer T1-token"  # the token never in the URL
    assert "T1-token" in portal.no_log_values and "cp" in portal.no_log_values


def test_settings_reach_the_shared_helper():
    portal = _synchrotron.PortalClient("https://p", 23, CREDS)
    assert (portal.http.validate_certs, portal.http.ca_bundle) == (True, None)
    portal = _synchrotron.PortalClient("https://p", 23, CREDS, settings=HttpSettings(ca_bundle="/etc/ca.pem", retries=5))
    assert (portal.http.validate_certs, portal.http.ca_bundle, portal.http.retries) == (True, "/etc/ca.pem", 5)
    assert _synchrotron.PortalClient("https://p", 23, CREDS, settings=HttpSettings(validate_certs=False)).http.validate_certs is False


def test_401_logs_in_again_once():
    portal, http = client([Response(200, {"access_token": "T1"}), Response(401, {}), Response(200, {"access_token": "T2"}),
                           Response(200, {"visits": []})])
    assert portal.visits(START, END) == []
    assert portal.logins == 2 and http.calls[-1][2]["Authorization"] == "Bearer T2"
    portal, http = client([Response(200, {"access_token": "T1"}), Response(401, {}), Response(200, {"access_token": "T2"}),
                           Response(401, {})])
    with pytest.raises(_synchrotron.PortalError, match="equipment 23.*401"):
        portal.visits(START, END)


def test_helper_failures_become_portal_errors_naming_the_equipment():
    class Failing(Http):
        def request(self, method, url, headers=None, data=None, idempotent=None):
            raise HttpError("equipment 23: portal: GET /x answered HTTP 503 4 times; giving up", status=503)

    portal = _synchrotron.PortalClient("https://p", 23, CREDS, http=Failing([]))
    with pytest.raises(_synchrotron.PortalError, match="equipment 23: portal: GET /x answered HTTP 503 4 times") as caught:
        portal.login()
    assert caught.value.status == 503


def test_bad_credentials_name_the_equipment_not_the_password():
    creds = dict(CREDS, password="canary-pass-1", client_password="canary-client-2")
    http = Http([Response(401, {"error": "invalid_grant", "error_description": "Bad credentials canary-pass-1 / canary-client-2"})])
    portal = _synchrotron.PortalClient("https://portal.example.org/", 23, creds, http=http)
    with pytest.raises(_synchrotron.PortalError) as caught:
        portal.login()
    assert "equipment 23" in str(caught.value) and "canary" not in str(caught.value)


def test_load_credentials(tmp_path):
    path = tmp_path / "c.yml"
    path.write_text("equipment:\n- {id: 23, username: u, password: p, client_name: c, client_password: cp}\n")
    path.chmod(0o600)
    assert _synchrotron.load_credentials(str(path)) == {23: CREDS}
    path.write_text("equipment:\n- {id: 24, username: u}\n")
    with pytest.raises(_synchrotron.PortalError, match="equipment 24 lacks password"):
        _synchrotron.load_credentials(str(path))


def test_load_credentials_adds_the_passwords_to_no_log_values(tmp_path):
    path = tmp_path / "c.yml"
    path.write_text("equipment:\n- {id: 23, username: u, password: pw-canary, client_name: c, client_password: cp-canary}\n")
    path.chmod(0o600)
    found = set()
    _synchrotron.load_credentials(str(path), found)
    assert found == {"pw-canary", "cp-canary"}
    path.write_text("equipment:\n- {id: 23, password: pw-canary\n  bad: [\n")
    with pytest.raises(_synchrotron.PortalError) as caught:
        _synchrotron.load_credentials(str(path))
    assert "not valid YAML" in str(caught.value) and "canary" not in str(caught.value)
