"""_core/http.py, the one request function of the portal, DM and scheduling clients, against a hostile server.

Retries (issue 14 item 10): bounded, honouring Retry-After (seconds or HTTP-date), proved from
the server's own log of when each request arrived. Redirects and secrets (item 9): a request
with credentials never follows a redirect to another origin, and no secret reaches a message.
"""

import email.utils
import time

import pytest

from ansible_collections.sciops.datasync.plugins.module_utils._core import http as _http

from tests.hostile_http import HostileServer, script

CANARY = "canary-7Hq2-secret"


def gaps(log):
    return [later["time"] - earlier["time"] for earlier, later in zip(log, log[1:])]


def test_503_with_retry_after_seconds_twice_then_200_waits_as_asked():
    answer = script((503, {"Retry-After": "1"}, {"error": "busy"}), (503, {"Retry-After": "1"}, {"error": "busy"}), (200, {}, {"ok": 1}))
    with HostileServer(answer) as server:
        client = _http.HttpClient(_http.HttpSettings(backoff=0.01))
        response = client.request("GET", server.url + "/visits")
    assert response.status == 200 and response.json() == {"ok": 1}
    assert len(server.log) == 3 and client.retried == 2 and client.waits == [1.0, 1.0]
    assert all(gap >= 0.95 for gap in gaps(server.log)), gaps(server.log)  # the server saw the waits, not the backoff


def test_retry_after_as_an_http_date_is_honoured():
    def busy(request):
        return 503, {"Retry-After": email.utils.formatdate(time.time() + 2, usegmt=True)}, {}
    with HostileServer(script(busy, (200, {}, {}))) as server:
        client = _http.HttpClient(_http.HttpSettings(backoff=0.01))
        assert client.request("GET", server.url + "/x").status == 200
    assert len(server.log) == 2 and 0.5 < client.waits[0] <= 2.0
    assert gaps(server.log)[0] >= client.waits[0] - 0.05


def test_always_503_is_bounded_and_fails_clearly():
    with HostileServer(script((503, {"Retry-After": "0"}, {}))) as server:
        client = _http.HttpClient(_http.HttpSettings(retries=3, backoff=0.01), label="portal")
        with pytest.raises(_http.HttpError) as caught:
            client.request("GET", server.url + "/visits?start=1")
    assert len(server.log) == 4
    assert str(caught.value) == "portal: GET %s/visits answered HTTP 503 4 times; giving up" % server.url
    assert caught.value.status == 503 and caught.value.attempts == 4


@pytest.mark.parametrize("status", [429, 502, 504])
def test_other_transient_statuses_are_retried(status):
    with HostileServer(script((status, {}, {}), (200, {}, {}))) as server:
        client = _http.HttpClient(_http.HttpSettings(backoff=0.01))
        assert client.request("POST", server.url + "/x", data="a=1").status == 200
    assert len(server.log) == 2 and client.waits == [0.01]


def test_retry_after_longer_than_max_wait_gives_up_at_once():
    with HostileServer(script((429, {"Retry-After": "3600"}, {}))) as server:
        client = _http.HttpClient(max_wait=30)
        with pytest.raises(_http.HttpError, match="asked to retry after 3600 seconds .*more than the 30 allowed"):
            client.request("GET", server.url + "/x")
    assert len(server.log) == 1


def test_500_is_retried_only_when_idempotent():
    with HostileServer(script((500, {}, {}), (500, {}, {}), (200, {}, {}))) as server:
        client = _http.HttpClient(_http.HttpSettings(backoff=0.01))
        assert client.request("POST", server.url + "/addExperiment").status == 500
        assert client.request("GET", server.url + "/x").status == 200
    assert len(server.log) == 3


def test_backoff_grows_and_is_capped():
    client = _http.HttpClient(_http.HttpSettings(backoff=1.0), max_wait=5)
    assert [client._wait_for(None, n) for n in range(5)] == [1.0, 2.0, 4.0, 5, 5]


def test_credentials_never_follow_a_redirect_to_another_origin():
    with HostileServer(script((200, {}, {"stolen": True}))) as elsewhere:
        with HostileServer(script((302, {"Location": elsewhere.url + "/steal"}, {}))) as server:
            client = _http.HttpClient(secrets=[CANARY])
            with pytest.raises(_http.HttpError) as caught:
                client.request("GET", server.url + "/runs", headers={"Authorization": "Basic " + CANARY})
    assert elsewhere.log == []  # nothing, so no credential, reached the other origin
    assert "redirected to another origin" in str(caught.value) and elsewhere.url.split(":")[-1] in str(caught.value)
    assert CANARY not in str(caught.value)


def test_a_redirect_to_another_scheme_on_the_same_host_is_another_origin():
    assert _http.origin("http://h/x") != _http.origin("https://h/x")
    assert _http.origin("https://H:443/a") == _http.origin("https://h/b")


def test_same_origin_redirects_are_followed_with_the_credentials():
    def moved(request):
        return (302, {"Location": "/new"}, {}) if request["path"] == "/old" else (200, {}, {"here": True})
    with HostileServer(moved) as server:
        response = _http.HttpClient().request("GET", server.url + "/old", headers={"Authorization": "Bearer t"})
    assert response.json() == {"here": True}
    assert [e["path"] for e in server.log] == ["/old", "/new"] and server.log[1]["headers"]["Authorization"] == "Bearer t"


def test_secrets_and_query_strings_never_reach_a_message():
    client = _http.HttpClient(_http.HttpSettings(retries=0), secrets=[CANARY])
    with HostileServer(script((503, {}, {}))) as server:
        with pytest.raises(_http.HttpError) as caught:
            client.request("GET", server.url + "/x/%s?token=%s" % (CANARY, CANARY))
    assert CANARY not in str(caught.value) and "token=" not in str(caught.value) and "********" in str(caught.value)
    assert client.scrub("a %s b" % CANARY) == "a ******** b" and client.scrub("abc") == "abc"


def test_unreachable_is_retried_when_idempotent_and_named(unused_port=1):
    client = _http.HttpClient(_http.HttpSettings(retries=1, backoff=0.01), label="DM")
    with pytest.raises(_http.HttpError, match=r"DM: cannot reach http://127.0.0.1:1/dm/login \(POST 2 times; giving up\)"):
        client.request("POST", "http://127.0.0.1:%d/dm/login" % unused_port, data="u=1", idempotent=True)
    with pytest.raises(_http.HttpError, match=r"DM: cannot reach http://127.0.0.1:1/dm/x: "):
        client.request("POST", "http://127.0.0.1:1/dm/x")


@pytest.fixture(scope="module")
def lab_ca(tmp_path_factory):
    pytest.importorskip("cryptography")
    from tests.lab import ca
    return ca.ensure(str(tmp_path_factory.mktemp("ca")))


def test_tls_is_verified_by_default_and_trusts_a_given_ca_bundle(lab_ca, monkeypatch):
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    with HostileServer(script((200, {}, {"ok": 1})), tls=(lab_ca["cert_file"], lab_ca["key_file"])) as server:
        with pytest.raises(_http.HttpError, match="TLS verification of https://127.0.0.1:.* failed"):
            _http.HttpClient(_http.HttpSettings(retries=0)).request("GET", server.url + "/x")
        assert _http.HttpClient(_http.HttpSettings(ca_bundle=lab_ca["ca_file"])).request("GET", server.url + "/x").json() == {"ok": 1}
        assert _http.HttpClient(_http.HttpSettings(validate_certs=False)).request("GET", server.url + "/x").status == 200
    assert len(server.log) == 2  # the refused handshake never became a request


def test_retry_after_parsing():
    assert _http.retry_after_seconds("7") == 7.0
    assert _http.retry_after_seconds(None) is None and _http.retry_after_seconds("soon") is None
    assert _http.retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
