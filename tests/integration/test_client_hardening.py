"""Issue 14 items 9 and 10 as a hostile upstream would try them, through real ansible-playbook.

The actor is the web service itself (portal, APS DM, APS scheduling) or whoever controls it:
it echoes credentials in its errors, redirects to another origin to collect them, or answers
503 / 429. Each module runs against the lab's own emulator code (served in-process on
127.0.0.1, with a Retry-After on its injected faults) or a tiny hostile server, and the whole
output of the run is grepped for the canary secrets.
"""

import base64
import os
import threading
import time

import pytest

from tests.hostile_http import HostileServer, script
from tests.integration.module_play import run_module
from tests.lab import httpd

LAB = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lab")
PASSWORD = "canary-pw-Q81x"
CLIENT_PASSWORD = "canary-client-Z7"
TOKEN = "canary-token-4KpW"
SESSION = "canary-session-9Jd"
MASKED = "********"


def secret_file(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    path.chmod(0o600)
    return str(path)


def assert_no_canary(raw, *canaries):
    for canary in canaries:
        assert canary not in raw, "%s leaked into the run's output" % canary


def serve(handler_class):
    server = httpd.ThreadingHTTPServer(("127.0.0.1", 0), handler_class)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server, "http://127.0.0.1:%d" % server.server_address[1]


# ---------------------------------------------------------------- portal (epn_repatriate)

def portal_args(tmp_path, url, credentials_file, **extra):
    args = {"portal_url": url, "credentials_file": credentials_file, "equipment": [{"id": 23, "beamline": "MX1"}],
            "epn_map": {"12282": "ny79"}, "source_host": "127.0.0.1", "source_user": "nobody", "source_root": "/data",
            "key_file": str(tmp_path / "no-key"), "destination_root": str(tmp_path / "scratch"),
            "state_file": str(tmp_path / "state" / "epn.json"), "portal_backoff": 0.05, "only": ["99999z"]}
    args.update(extra)
    return args


def portal_credentials(tmp_path, password=PASSWORD, client_password=CLIENT_PASSWORD, username="mx1-facility", client="datasync-mx1"):
    return secret_file(tmp_path, "portal.yml", "equipment:\n- {id: 23, username: %s, password: %s, client_name: %s, client_password: %s}\n"
                       % (username, password, client, client_password))


def hostile_portal(visits_answer):
    def answer(request):
        if request["path"] == "/api/v1/oauth/token":
            return 200, {}, {"access_token": TOKEN, "token_type": "bearer"}
        return visits_answer(request)
    return answer


def test_portal_token_in_the_header_and_an_echoing_portal_leaks_nothing(tmp_path):
    def echo(request):
        return 400, {}, {"error": "bad_request", "error_description": "token %s from %s (client %s) rejected: %s" % (
            TOKEN, request["path"], CLIENT_PASSWORD, request["headers"].get("Authorization"))}
    with HostileServer(hostile_portal(echo)) as server:
        result, raw = run_module(tmp_path, "epn_repatriate", portal_args(tmp_path, server.url, portal_credentials(tmp_path)))
    assert result.get("failed") and "equipment 23" in str(result) and "HTTP 400" in str(result)
    visits = [e for e in server.log if "/visits" in e["path"]]
    assert visits and all("access_token" not in e["path"] for e in visits)
    assert visits[0]["headers"]["Authorization"] == "Bearer " + TOKEN
    assert_no_canary(raw, TOKEN, PASSWORD, CLIENT_PASSWORD)
    assert MASKED in str(result)


def test_portal_redirect_to_another_origin_carries_no_token(tmp_path):
    with HostileServer(script((200, {}, {"visits": []}))) as elsewhere:
        def away(request):
            return 302, {"Location": elsewhere.url + "/collect"}, {}
        with HostileServer(hostile_portal(away)) as server:
            result, raw = run_module(tmp_path, "epn_repatriate", portal_args(tmp_path, server.url, portal_credentials(tmp_path)))
    assert result.get("failed") and "redirected to another origin" in str(result)
    assert elsewhere.log == []
    assert_no_canary(raw, TOKEN, PASSWORD, CLIENT_PASSWORD)


class RetryAfterPortal:
    """The lab's portal emulator, its injected faults answered with Retry-After."""

    def __init__(self, tmp_path, retry_after="1"):
        from tests.lab.portal import server as portal_server

        class Handler(portal_server.Handler):
            def log_message(self, fmt, *args):
                pass

            def send_json(self, status, document, headers=None):
                extra = dict(headers or {})
                if status in (429, 503):
                    extra["Retry-After"] = retry_after
                super().send_json(status, document, extra)

        Handler.portal = portal_server.Portal(os.path.join(LAB, "seeds", "portal.yml"), str(tmp_path / "portal-state.json"))
        self.portal = Handler.portal
        self.server, self.url = serve(Handler)

    def visits_log(self):
        with self.portal.lock:
            return [r for r in self.portal.requests if r["path"] == "/api/v1/equipment/23/visits"]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def retry_portal(tmp_path):
    portal = RetryAfterPortal(tmp_path)
    yield portal
    portal.close()


def test_portal_503_retry_after_twice_then_200_succeeds_waiting_as_asked(tmp_path, retry_portal):
    retry_portal.portal.faults.add({"path": "/api/v1/equipment/23/visits", "status": 503, "count": 2})
    credentials = portal_credentials(tmp_path, password="lab-mx1-password", client_password="lab-mx1-client-secret")
    result, raw = run_module(tmp_path, "epn_repatriate", portal_args(tmp_path, retry_portal.url, credentials, portal_backoff=0.01),
                             check_mode=True)
    log = retry_portal.visits_log()
    assert [r["status"] for r in log] == [503, 503, 200], result
    assert all(b["time"] - a["time"] >= 0.95 for a, b in zip(log, log[1:]))  # Retry-After: 1 honoured, not the 0.01 s backoff
    assert not result.get("failed"), result.get("msg")


def test_portal_always_503_gives_up_after_bounded_attempts(tmp_path, retry_portal):
    retry_portal.portal.faults.add({"path": "/api/v1/equipment/23/visits", "status": 503, "count": -1})
    credentials = portal_credentials(tmp_path, password="lab-mx1-password", client_password="lab-mx1-client-secret")
    result, raw = run_module(tmp_path, "epn_repatriate", portal_args(tmp_path, retry_portal.url, credentials, portal_retries=2))
    assert [r["status"] for r in retry_portal.visits_log()] == [503, 503, 503]
    assert result.get("failed") and "answered HTTP 503 3 times; giving up" in str(result) and "equipment 23" in str(result)
    assert_no_canary(raw, "lab-mx1-password", "lab-mx1-client-secret")


# ---------------------------------------------------------------- scheduling (aps_beamtime_info)

def beamtime_args(tmp_path, url, **extra):
    args = {"url": url, "beamline": "2-BM-A,B", "credentials_file": secret_file(tmp_path, "sched", "sched_2bm|%s\n" % PASSWORD)}
    args.update(extra)
    return args


BASIC = base64.b64encode(("sched_2bm:%s" % PASSWORD).encode()).decode()


def test_scheduling_redirect_to_another_origin_never_gets_the_basic_credentials(tmp_path):
    with HostileServer(script((200, {}, []))) as elsewhere:
        with HostileServer(script((301, {"Location": elsewhere.url + "/beamline-scheduling/sched-api/run/getAllRuns"}, {}))) as server:
            result, raw = run_module(tmp_path, "aps_beamtime_info", beamtime_args(tmp_path, server.url))
    assert result.get("failed") and "redirected to another origin" in result["msg"]
    assert elsewhere.log == [] and server.log[0]["headers"]["Authorization"] == "Basic " + BASIC
    assert_no_canary(raw, PASSWORD, BASIC)


def test_scheduling_error_echoing_the_credentials_leaks_nothing(tmp_path):
    def echo(request):
        return 401, {}, {"message": "denied %s (%s)" % (request["headers"].get("Authorization"), PASSWORD)}
    with HostileServer(echo) as server:
        result, raw = run_module(tmp_path, "aps_beamtime_info", beamtime_args(tmp_path, server.url))
    assert result.get("failed") and "HTTP 401" in result["msg"] and MASKED in result["msg"]
    assert_no_canary(raw, PASSWORD, BASIC)


class RetryAfterScheduling:
    """The lab's scheduling emulator, its injected faults answered with Retry-After, with a request log."""

    def __init__(self, retry_after="1"):
        import yaml
        from tests.lab.beamtime import server as beamtime_server

        log = self.log = []

        class Handler(beamtime_server.Handler):
            faults = httpd.Faults()

            def send_json(self, status, document, headers=None):
                extra = dict(headers or {})
                if status in (429, 503):
                    extra["Retry-After"] = retry_after
                log.append({"path": self.path, "status": status, "time": time.time()})
                super().send_json(status, document, extra)

        with open(os.path.join(LAB, "seeds", "aps_beamtime.yml")) as handle:
            Handler.seed = yaml.safe_load(handle)
        self.faults = Handler.faults
        self.server, self.url = serve(Handler)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_scheduling_503_retry_after_twice_then_200_and_always_503(tmp_path):
    emulator = RetryAfterScheduling()
    try:
        emulator.faults.add({"path": "getAllRuns", "status": 503, "count": 2})
        args = beamtime_args(tmp_path, emulator.url)
        args["credentials_file"] = secret_file(tmp_path, "sched-lab", "sched_2bm|lab-sched-password\n")
        result, raw = run_module(tmp_path, "aps_beamtime_info", args)
        runs = [r for r in emulator.log if "getAllRuns" in r["path"]]
        assert [r["status"] for r in runs] == [503, 503, 200] and not result.get("failed"), result
        assert all(b["time"] - a["time"] >= 0.95 for a, b in zip(runs, runs[1:]))
        assert result["beamtime"]["proposal_id"] == "1001234"

        del emulator.log[:]
        emulator.faults.add({"path": "getAllRuns", "status": 503, "count": -1})
        result, raw = run_module(tmp_path, "aps_beamtime_info", args, name="again.json")
        assert [r["status"] for r in emulator.log] == [503] * 4
        assert result.get("failed") and "answered HTTP 503 4 times; giving up" in result["msg"]
        assert_no_canary(raw, "lab-sched-password")
    finally:
        emulator.close()


# ---------------------------------------------------------------- DM (aps_dm_experiment)

def dm_args(tmp_path, url, **extra):
    args = {"name": "2026-11-hardening-1", "station": "2-BM-A,B", "ds_url": url, "create": False,
            "login_file": secret_file(tmp_path, "dm-login", "dmadmin|%s\n" % PASSWORD)}
    args.update(extra)
    return args


def dm_login(request):
    return 200, {"Set-Cookie": "session_id=%s; Path=/" % SESSION}, {}


def test_dm_error_echoing_session_and_password_leaks_nothing(tmp_path):
    def echo(request):
        if request["path"] == "/dm/login":
            return dm_login(request)
        message = "session %s for dmadmin/%s refused" % (request["headers"].get("Cookie"), PASSWORD)
        return 200, {"Dm-Status-Code": "1", "Dm-Status-Message": message, "Dm-Exception-Type": "DmException"}, {}
    with HostileServer(echo) as server:
        result, raw = run_module(tmp_path, "aps_dm_experiment", dm_args(tmp_path, server.url))
    assert result.get("failed") and "DmException" in result["msg"] and MASKED in result["msg"]
    assert_no_canary(raw, PASSWORD, SESSION)


def test_dm_redirect_to_another_origin_is_refused(tmp_path):
    with HostileServer(script((200, {}, {}))) as elsewhere:
        def away(request):
            return dm_login(request) if request["path"] == "/dm/login" else (307, {"Location": elsewhere.url + "/x"}, {})
        with HostileServer(away) as server:
            result, raw = run_module(tmp_path, "aps_dm_experiment", dm_args(tmp_path, server.url))
    assert result.get("failed") and "redirected to another origin" in result["msg"] and elsewhere.log == []
    assert_no_canary(raw, PASSWORD, SESSION)


def test_dm_503_retry_after_twice_then_200_and_always_503(tmp_path):
    def not_found(request):
        return 200, {"Dm-Status-Code": "14", "Dm-Status-Message": "not found", "Dm-Exception-Type": "ObjectNotFound"}, {}
    busy = (503, {"Retry-After": "1"}, {})
    answer = script(busy, busy, dm_login, not_found)
    with HostileServer(answer) as server:
        result, raw = run_module(tmp_path, "aps_dm_experiment", dm_args(tmp_path, server.url), check_mode=True)
    logins = [e for e in server.log if e["path"] == "/dm/login"]
    assert len(logins) == 3 and all(b["time"] - a["time"] >= 0.95 for a, b in zip(logins, logins[1:]))
    assert not result.get("failed"), result.get("msg")
    with HostileServer(script((503, {"Retry-After": "0"}, {}))) as server:
        result, raw = run_module(tmp_path, "aps_dm_experiment", dm_args(tmp_path, server.url), name="again.json")
    assert len(server.log) == 4 and result.get("failed") and "answered HTTP 503 4 times; giving up" in result["msg"]
    assert_no_canary(raw, PASSWORD)
