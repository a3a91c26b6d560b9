"""The portal client: login, visits, one re-login on 401, retries on 5xx."""

import datetime

import pytest

from ansible_collections.sciops.datasync.plugins.module_utils._epn import portal as _synchrotron

CREDS = {"username": "u", "password": "p", "client_name": "c", "client_password": "cp"}
START = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
END = datetime.datetime(2026, 2, 1, tzinfo=datetime.timezone.utc)


class Response:
    def __init__(self, status, document):
        self.status_code = status
        self.document = document
        self.text = str(document)

    def json(self):
        return self.document


class Session:
    def __init__(self, answers):
        self.answers = list(answers)
        self.calls = []

    def request(self, method, url, **kwargs):
        self.calls.append((method, url, kwargs))
        return self.answers.pop(0)


VISIT = {"epn": "12282a", "start_time": "2026-01-10T00:00:00.000Z", "end_time": "2026-01-11T00:00:00Z",
         "principal_scientist": {"first_names": "Alice", "last_name": "Nguyen", "email": "a@x"}, "data_scientists": []}


def client(answers, **kwargs):
    session = Session(answers)
    return _synchrotron.PortalClient("https://portal.example.org/", 23, CREDS, session=session, sleep=lambda s: None, **kwargs), session


def test_login_and_visits_send_what_the_portal_expects():
    portal, session = client([Response(200, {"access_token": "T1"}), Response(200, {"visits": [VISIT]})])
    visits = portal.visits(START, END)
    assert visits[0]["epn"] == "12282a" and visits[0]["principal_scientist"]["name"] == "Alice Nguyen"
    method, url, kwargs = session.calls[0]
    assert (method, url) == ("POST", "https://portal.example.org/api/v1/oauth/token")
    assert kwargs["auth"] == ("c", "cp") and kwargs["data"] == {"username": "u", "password": "p", "grant_type": "password"}
    assert kwargs["verify"] is True
    method, url, kwargs = session.calls[1]
    assert url.endswith("/api/v1/equipment/23/visits")
    assert kwargs["params"] == {"start_time": "2026-01-01T00:00:00Z", "end_time": "2026-02-01T00:00:00Z", "access_token": "T1"}


def test_401_logs_in_again_once():
    portal, session = client([Response(200, {"access_token": "T1"}), Response(401, {}), Response(200, {"access_token": "T2"}),
                              Response(200, {"visits": []})])
    assert portal.visits(START, END) == []
    assert portal.logins == 2 and session.calls[-1][2]["params"]["access_token"] == "T2"
    portal, session = client([Response(200, {"access_token": "T1"}), Response(401, {}), Response(200, {"access_token": "T2"}),
                              Response(401, {})])
    with pytest.raises(_synchrotron.PortalError, match="equipment 23.*401"):
        portal.visits(START, END)


def test_5xx_retried_then_given_up():
    portal, session = client([Response(200, {"access_token": "T"}), Response(503, {}), Response(500, {}),
                              Response(200, {"visits": []})], retries=2)
    assert portal.visits(START, END) == [] and portal.retried == 2
    portal, session = client([Response(200, {"access_token": "T"})] + [Response(502, {})] * 3, retries=2)
    with pytest.raises(_synchrotron.PortalError, match="equipment 23: portal answered HTTP 502 .* 3 times"):
        portal.visits(START, END)


def test_bad_credentials_name_the_equipment_not_the_password():
    portal, session = client([Response(401, {"error": "invalid_grant", "error_description": "Bad credentials"})])
    with pytest.raises(_synchrotron.PortalError) as caught:
        portal.login()
    assert "equipment 23" in str(caught.value) and "'p'" not in str(caught.value) and "cp" not in str(caught.value)


def test_load_credentials(tmp_path):
    path = tmp_path / "c.yml"
    path.write_text("equipment:\n- {id: 23, username: u, password: p, client_name: c, client_password: cp}\n")
    path.chmod(0o600)
    assert _synchrotron.load_credentials(str(path)) == {23: CREDS}
    path.write_text("equipment:\n- {id: 24, username: u}\n")
    with pytest.raises(_synchrotron.PortalError, match="equipment 24 lacks password"):
        _synchrotron.load_credentials(str(path))
