"""Unit tests for plugins/module_utils/_globus/clients.py and errors.py: token cache, secrets, error mapping."""

from __future__ import annotations

import json
import os
import stat

import pytest

from ansible_collections.sciops.datasync.plugins.module_utils._globus import clients as _globus
from ansible_collections.sciops.datasync.plugins.module_utils._globus import errors as _errors

globus_sdk = pytest.importorskip("globus_sdk")
requests = pytest.importorskip("requests")

CANARY = "canary-SECRET-7f3a9e1c"
TRANSFER = ("transfer.api.globus.org", "urn:globus:auth:scope:transfer.api.globus.org:all")


class Clock:
    def __init__(self, now=1000000.0):
        self.now = now

    def __call__(self):
        return self.now


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


# ---- token cache ----------------------------------------------------------------------------
def test_cache_round_trip_and_mode(tmp_path):
    path = str(tmp_path / "cache" / "tokens.json")
    clock = Clock()
    cache = _globus.TokenCache(path, "client-a", "http://auth/", clock=clock)
    assert cache.get(*TRANSFER) is None
    cache.put(TRANSFER[0], TRANSFER[1], "tok-1", clock.now + 3600)
    assert mode_of(path) == 0o600
    again = _globus.TokenCache(path, "client-a", "http://auth/", clock=clock)
    assert again.get(*TRANSFER) == ("tok-1", int(clock.now + 3600))


def test_cache_not_reused_shortly_before_expiry(tmp_path):
    path = str(tmp_path / "tokens.json")
    clock = Clock()
    cache = _globus.TokenCache(path, "client-a", "http://auth/", clock=clock)
    cache.put(TRANSFER[0], TRANSFER[1], "tok-1", clock.now + 1000)
    assert cache.get(*TRANSFER) is not None
    clock.now += 1000 - _globus.TOKEN_MARGIN + 1
    assert cache.get(*TRANSFER) is None
    clock.now += 5000
    assert cache.get(*TRANSFER) is None


def test_cache_expired_entries_pruned_on_write(tmp_path):
    path = str(tmp_path / "tokens.json")
    clock = Clock()
    cache = _globus.TokenCache(path, "client-a", "http://auth/", clock=clock)
    cache.put("groups.api.globus.org", "groups-scope", "old", clock.now + 10)
    clock.now += 100
    cache.put(TRANSFER[0], TRANSFER[1], "new", clock.now + 3600)
    with open(path) as handle:
        tokens = json.load(handle)["data"]["tokens"]
    assert [t["access_token"] for t in tokens.values()] == ["new"]


@pytest.mark.parametrize("content", [b"{not json", b"\x00\xff\xfe", b'{"schema": "other", "version": 1, "data": {}}',
                                     b'{"schema": "sciops.datasync.globus_token_cache", "version": 1, "data": {"tokens": []}}', b""])
def test_corrupt_cache_ignored_and_rewritten(tmp_path, content):
    path = str(tmp_path / "tokens.json")
    with open(path, "wb") as handle:
        handle.write(content)
    os.chmod(path, 0o644)
    cache = _globus.TokenCache(path, "client-a", "http://auth/", clock=Clock())
    assert cache.get(*TRANSFER) is None
    cache.put(TRANSFER[0], TRANSFER[1], "fresh", Clock().now + 3600)
    assert mode_of(path) == 0o600
    assert _globus.TokenCache(path, "client-a", "http://auth/", clock=Clock()).get(*TRANSFER)[0] == "fresh"


def test_cache_entries_are_per_client_service_and_scope(tmp_path):
    path = str(tmp_path / "tokens.json")
    clock = Clock()
    _globus.TokenCache(path, "client-a", "http://auth/", clock=clock).put(TRANSFER[0], TRANSFER[1], "a", clock.now + 3600)
    assert _globus.TokenCache(path, "client-b", "http://auth/", clock=clock).get(*TRANSFER) is None
    assert _globus.TokenCache(path, "client-a", "http://other-auth/", clock=clock).get(*TRANSFER) is None
    assert _globus.TokenCache(path, "client-a", "http://auth/", clock=clock).get(TRANSFER[0], "another scope") is None


def test_malformed_entry_ignored(tmp_path):
    path = str(tmp_path / "tokens.json")
    cache = _globus.TokenCache(path, "client-a", "http://auth/", clock=Clock())
    cache.put(TRANSFER[0], TRANSFER[1], "x", Clock().now + 3600)
    with open(path) as handle:
        document = json.load(handle)
    for entry in document["data"]["tokens"].values():
        entry["expires_at"] = "soon"
    with open(path, "w") as handle:
        json.dump(document, handle)
    assert cache.get(*TRANSFER) is None


def test_no_cache_path_is_harmless():
    cache = _globus.TokenCache(None, "client-a", "http://auth/")
    cache.put(TRANSFER[0], TRANSFER[1], "x", 10 ** 10)
    assert cache.get(*TRANSFER) is None


def test_authorizer_uses_cached_token_without_asking(tmp_path, monkeypatch):
    path = str(tmp_path / "tokens.json")
    monkeypatch.setenv("GLOBUS_SDK_SERVICE_URL_AUTH", "http://127.0.0.1:9/")
    clients = _globus.GlobusClients("client-a", CANARY, token_cache=path)
    clients.cache.put(TRANSFER[0], TRANSFER[1], "cached-token", int(clients.cache.clock()) + 7200)
    authorizer = clients.authorizer("transfer")
    assert authorizer.access_token == "cached-token"
    assert authorizer.scopes == TRANSFER[1]


def test_each_service_gets_exactly_its_scope():
    assert _globus.SCOPES["groups"][1].endswith("groups.api.globus.org:all")
    assert _globus.SCOPES["transfer"][1].endswith("transfer.api.globus.org:all")
    assert _globus.SCOPES["auth"][1].endswith("auth.globus.org:view_identities")


# ---- the environment read once per client (proxies, NO_PROXY; verification unchanged; no ~/.netrc) --
PROXY = "http://proxy.example.test:3128"
SERVICE_URLS = {"auth": "https://auth.example.test/", "groups": "https://groups.example.test/",
                "transfer": "https://transfer.example.test/", "timer": "https://timers.example.test/"}
ENVIRONMENT_VARS = ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
                    "NETRC", "GLOBUS_SDK_ENVIRONMENT", "GLOBUS_SDK_VERIFY_SSL"]


def plain_environment(monkeypatch):
    """No proxy, CA bundle or netrc from the caller's environment; every service on its own example.test host."""
    for name in ENVIRONMENT_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    for service, url in SERVICE_URLS.items():
        monkeypatch.setenv("GLOBUS_SDK_SERVICE_URL_" + service.upper(), url)


def clients_with_tokens(tmp_path, ca_bundle=None):
    """GlobusClients with a cached token for every service: building a client asks Globus Auth for nothing."""
    clients = _globus.GlobusClients("client-a", CANARY, token_cache=str(tmp_path / "tokens.json"), ca_bundle=ca_bundle)
    for resource_server, scope in _globus.SCOPES.values():
        clients.cache.put(resource_server, scope, "cached-token", int(clients.cache.clock()) + 7200)
    return clients


def proxy_for(client, url):
    """The proxy the client's session sends a request for ``url`` through (None: direct)."""
    session = client.transport.session
    prepared = requests.Request("GET", url).prepare()
    return requests.utils.select_proxy(url, requests.utils.resolve_proxies(prepared, session.proxies, session.trust_env))


@pytest.mark.parametrize("variable", ["HTTPS_PROXY", "https_proxy"])
def test_https_proxy_is_used_for_the_service(tmp_path, monkeypatch, variable):
    plain_environment(monkeypatch)
    monkeypatch.setenv(variable, PROXY)
    monkeypatch.setenv("NO_PROXY", "localhost,other.example.test")
    groups = clients_with_tokens(tmp_path).groups
    assert groups.transport.session.proxies.get("https") == PROXY
    assert proxy_for(groups, groups.base_url + "groups/my_groups") == PROXY


@pytest.mark.parametrize("no_proxy", ["groups.example.test", "localhost, groups.example.test", ".example.test"])
def test_no_proxy_naming_the_service_host_means_no_proxy(tmp_path, monkeypatch, no_proxy):
    plain_environment(monkeypatch)
    monkeypatch.setenv("HTTPS_PROXY", PROXY)
    monkeypatch.setenv("ALL_PROXY", PROXY)
    monkeypatch.setenv("NO_PROXY", no_proxy)
    groups = clients_with_tokens(tmp_path).groups
    assert groups.transport.session.trust_env is False
    assert PROXY not in groups.transport.session.proxies.values()
    assert proxy_for(groups, groups.base_url + "groups/my_groups") is None


def test_every_client_settles_the_environment_for_its_own_host(tmp_path, monkeypatch):
    plain_environment(monkeypatch)
    monkeypatch.setenv("HTTPS_PROXY", PROXY)
    monkeypatch.setenv("NO_PROXY", "groups.example.test")
    clients = clients_with_tokens(tmp_path)
    built = {"confidential": clients.confidential_client(), "auth": clients.auth, "groups": clients.groups,
             "transfer": clients.transfer, "timers": clients.timers}
    for name, client in built.items():
        assert client.transport.session.trust_env is False, name
        expected = None if name == "groups" else PROXY
        assert proxy_for(client, client.base_url) == expected, name
    assert clients.groups is built["groups"]  # built once per module run


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_requests_ca_variables_leave_verification_to_globus_sdk(tmp_path, monkeypatch, variable):
    """globus-sdk sends with an explicit ``verify``: requests' CA variables never applied to it, and still do not."""
    plain_environment(monkeypatch)
    bundle = tmp_path / "site-ca.pem"
    bundle.write_text("not read here\n")
    monkeypatch.setenv(variable, str(bundle))
    clients = clients_with_tokens(tmp_path)
    assert clients.groups.transport.verify_ssl is True
    assert clients.confidential_client().transport.verify_ssl is True


def test_ca_bundle_option_wins_over_the_environment(tmp_path, monkeypatch):
    plain_environment(monkeypatch)
    for name in ("environment-ca.pem", "curl-ca.pem", "option-ca.pem"):
        (tmp_path / name).write_text("not read here\n")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "environment-ca.pem"))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(tmp_path / "curl-ca.pem"))
    option = str(tmp_path / "option-ca.pem")
    clients = clients_with_tokens(tmp_path, ca_bundle=option)
    assert clients.groups.transport.verify_ssl == option
    assert clients.confidential_client().transport.verify_ssl == option


def test_no_ca_bundle_anywhere_keeps_default_verification(tmp_path, monkeypatch):
    plain_environment(monkeypatch)
    assert clients_with_tokens(tmp_path).groups.transport.verify_ssl is True


@pytest.mark.parametrize("value", ["false", "0", "no"])
def test_verification_switched_off_by_the_operator_stays_off(tmp_path, monkeypatch, value):
    plain_environment(monkeypatch)
    monkeypatch.setenv("GLOBUS_SDK_VERIFY_SSL", value)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "site-ca.pem"))
    clients = clients_with_tokens(tmp_path)
    assert clients.groups.transport.verify_ssl is False
    assert clients.confidential_client().transport.verify_ssl is False


@pytest.mark.parametrize("variable", ["HOME", "NETRC"])
def test_netrc_credentials_never_replace_the_token(tmp_path, monkeypatch, variable):
    plain_environment(monkeypatch)
    home = tmp_path / "home"
    home.mkdir()
    netrc = home / ".netrc"
    netrc.write_text("machine groups.example.test login netrc-user password netrc-password\n"
                     "machine auth.example.test login netrc-user password netrc-password\n")
    os.chmod(str(netrc), 0o600)
    monkeypatch.setenv(variable, str(home) if variable == "HOME" else str(netrc))
    url = SERVICE_URLS["groups"] + "v2/groups/my_groups"
    # The file is one requests honours: a session that trusts the environment sends its Basic credentials.
    assert requests.Session().prepare_request(requests.Request("GET", url)).headers["Authorization"].startswith("Basic ")
    clients = clients_with_tokens(tmp_path)
    for client in (clients.groups, clients.confidential_client()):
        session = client.transport.session
        assert session.trust_env is False
        request_url = client.base_url + "v2/groups/my_groups"
        assert "Authorization" not in session.prepare_request(requests.Request("GET", request_url)).headers


# ---- secrets --------------------------------------------------------------------------------
def test_read_secret_first_line(tmp_path):
    path = tmp_path / "secret"
    path.write_text("  %s  \nsecond line\n" % CANARY)
    path.chmod(0o600)
    assert _globus.read_secret(str(path)) == CANARY


@pytest.mark.parametrize("content", ["", "\n", "   \nsecret-on-line-two\n"])
def test_read_secret_empty(tmp_path, content):
    path = tmp_path / "secret"
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(_globus.GlobusConfigError) as caught:
        _globus.read_secret(str(path))
    assert "empty" in str(caught.value) and "secret-on-line-two" not in str(caught.value)


def test_read_secret_missing(tmp_path):
    with pytest.raises(_globus.GlobusConfigError) as caught:
        _globus.read_secret(str(tmp_path / "nope"))
    assert "nope" in str(caught.value)


def test_secret_file_readable_by_others_is_refused(tmp_path):
    path = tmp_path / "secret"
    path.write_text(CANARY)
    os.chmod(str(path), 0o600)
    assert _globus.read_secret(str(path)) == CANARY
    os.chmod(str(path), 0o644)
    with pytest.raises(_globus.GlobusConfigError) as caught:
        _globus.read_secret(str(path))
    assert "0644" in str(caught.value) and str(path) in str(caught.value) and CANARY not in str(caught.value)


def test_scrub():
    assert _errors.scrub("a %s b %s" % (CANARY, CANARY), CANARY) == "a ******** b ********"
    assert _errors.scrub(None, CANARY) is None
    assert _errors.scrub("abc", "") == "abc"


# ---- error mapping --------------------------------------------------------------------------
def response(status, body, url):
    resp = requests.Response()
    resp.status_code = status
    resp._content = json.dumps(body).encode("utf-8")  # pylint: disable=protected-access
    resp.headers["Content-Type"] = "application/json"
    resp.url = url
    resp.request = requests.Request("GET", url, headers={"Authorization": "Bearer abc"}).prepare()
    return resp


def test_transfer_error_mapping():
    exc = globus_sdk.TransferAPIError(response(403, {"code": "EndpointPermissionDenied", "message": "No read permission",
                                                     "request_id": "AbC123", "resource": "/operation/endpoint/x/ls"},
                                               "http://lab/v0.10/operation/endpoint/x/ls"))
    assert _errors.error_result(exc) == {"service": "transfer", "http_status": 403, "code": "EndpointPermissionDenied",
                                         "message": "No read permission", "request_id": "AbC123"}


def test_groups_error_mapping():
    exc = globus_sdk.GroupsAPIError(response(404, {"code": "NOT_FOUND", "detail": "Group x not found"}, "http://lab/v2/groups/x"))
    result = _errors.error_result(exc)
    assert (result["service"], result["http_status"], result["code"]) == ("groups", 404, "NOT_FOUND")
    assert "Group x not found" in result["message"]


def test_auth_error_mapping():
    exc = globus_sdk.AuthAPIError(response(401, {"errors": [{"status": "401", "code": "UNAUTHORIZED", "detail": "Invalid client"}],
                                                 "error": "invalid_client"}, "http://lab/v2/oauth2/token"))
    result = _errors.error_result(exc)
    assert (result["service"], result["http_status"]) == ("auth", 401)
    assert "Invalid client" in result["message"]


def test_generic_api_error_service_from_url():
    exc = globus_sdk.GlobusAPIError(response(503, {"code": "ServiceUnavailable", "message": "down"}, "http://lab/v0.10/task/1"))
    assert _errors.error_result(exc)["service"] == "transfer"


def test_network_error_mapping():
    exc = globus_sdk.GlobusConnectionError("connection failed", ConnectionError("refused"))
    result = _errors.error_result(exc, service="transfer")
    assert result["service"] == "transfer" and result["code"] == "NetworkError" and result["http_status"] is None
    assert "refused" in result["message"]
    timeout = _errors.error_result(globus_sdk.GlobusTimeoutError("t", TimeoutError("slow")))
    assert timeout["code"] == "Timeout"


def test_secret_scrubbed():
    exc = globus_sdk.TransferAPIError(response(400, {"code": "BadRequest", "message": "bad %s" % CANARY}, "http://lab/v0.10/task/1"))
    result = _errors.error_result(exc, secret=CANARY)
    assert result["code"] == "BadRequest" and CANARY not in json.dumps(result)


@pytest.mark.parametrize("exc", [KeyError("identities"), ValueError("bad"), TypeError("x")])
def test_other_errors_are_bugs_not_globus_failures(exc):
    assert not _errors.is_globus_error(exc)
    with pytest.raises(type(exc)):
        _errors.error_result(exc)
    with pytest.raises(type(exc)):
        _errors.describe_error(exc)


def test_is_globus_error_by_status_and_code():
    exc = globus_sdk.TransferAPIError(response(404, {"code": "ClientError.NotFound", "message": "gone"}, "http://lab/v0.10/x"))
    assert _errors.is_globus_error(exc) and _errors.is_globus_error(exc, status=404) and not _errors.is_globus_error(exc, status=403)
    assert _errors.is_globus_error(exc, code_part="NotFound") and not _errors.is_globus_error(exc, code_part="Exists")
    network = globus_sdk.GlobusTimeoutError("t", TimeoutError("slow"))
    assert _errors.is_globus_error(network) and not _errors.is_globus_error(network, status=404)


def test_describe():
    text = _errors.describe({"service": "transfer", "http_status": 403, "code": "X", "message": "m", "request_id": "r"})
    assert text == "transfer HTTP 403 X: m (request_id r)"


# ---- module integration (fail_json never carries the secret) --------------------------------
class Failed(Exception):
    def __init__(self, kwargs):
        super().__init__(kwargs.get("msg"))
        self.kwargs = kwargs


def make_module(monkeypatch, args):
    from ansible.module_utils.basic import AnsibleModule
    from ansible.module_utils.testing import patch_module_args

    with patch_module_args(args):
        module = AnsibleModule(argument_spec=_globus.globus_argument_spec(), supports_check_mode=True)

    def fail_json(**kwargs):
        raise Failed(kwargs)

    monkeypatch.setattr(module, "fail_json", fail_json)
    module._sciops_warnings = []  # pylint: disable=protected-access
    monkeypatch.setattr(module, "warn", module._sciops_warnings.append, raising=False)  # pylint: disable=protected-access
    return module


def test_argument_spec_marks_secret_no_log():
    spec = _globus.globus_argument_spec()
    assert spec["client_secret"]["no_log"] is True
    assert spec["client_id"]["required"] is True
    assert spec is not _globus.globus_argument_spec()


def test_canary_secret_never_in_failure(monkeypatch, tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text(CANARY + "\n")
    os.chmod(str(secret_file), 0o600)
    for service in ("AUTH", "GROUPS", "TRANSFER"):
        monkeypatch.setenv("GLOBUS_SDK_SERVICE_URL_" + service, "http://127.0.0.1:9/")
    module = make_module(monkeypatch, {"client_id": "client-canary", "client_secret_file": str(secret_file),
                                       "token_cache": str(tmp_path / "cache.json"), "timeout": 2})
    clients = _globus.globus_clients(module)
    assert clients.secret == CANARY and CANARY in module.no_log_values
    clients.confidential_client().retry_config.max_retries = 0
    with pytest.raises(Failed) as caught:
        _globus.transfer_client(module)
    blob = json.dumps(caught.value.kwargs) + repr(caught.value)
    assert CANARY not in blob
    assert caught.value.kwargs["globus_error"]["code"] == "NetworkError"
    assert "client-canary" in caught.value.kwargs["msg"]

    with pytest.raises(Failed) as caught:
        _errors.fail_globus(module, globus_sdk.GlobusConnectionError("leaked %s here" % CANARY, ConnectionError(CANARY)), "while testing")
    assert CANARY not in json.dumps(caught.value.kwargs)
    with pytest.raises(RuntimeError):  # not a Globus failure: a bug, raised as it is
        _errors.fail_globus(module, RuntimeError("a bug"), "while testing")


def test_missing_secret_file_fails_cleanly(monkeypatch, tmp_path):
    module = make_module(monkeypatch, {"client_id": "c", "client_secret_file": str(tmp_path / "missing")})
    with pytest.raises(Failed) as caught:
        _globus.globus_clients(module)
    assert "client_secret_file %s cannot be read" % (tmp_path / "missing") in caught.value.kwargs["msg"]


def test_both_secrets_refused(monkeypatch, tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text(CANARY)
    module = make_module(monkeypatch, {"client_id": "c", "client_secret_file": str(secret_file), "client_secret": CANARY})
    with pytest.raises(Failed) as caught:
        _globus.globus_clients(module)
    assert "mutually exclusive" in caught.value.kwargs["msg"] and CANARY not in json.dumps(caught.value.kwargs)


def test_world_readable_secret_file_is_refused(monkeypatch, tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text(CANARY)
    os.chmod(str(secret_file), 0o644)
    module = make_module(monkeypatch, {"client_id": "c", "client_secret_file": str(secret_file)})
    with pytest.raises(Failed) as caught:
        _globus.globus_clients(module)
    assert "0644" in caught.value.kwargs["msg"] and CANARY not in caught.value.kwargs["msg"]


def test_client_username(monkeypatch):
    module = make_module(monkeypatch, {"client_id": "abc", "client_secret": CANARY})
    assert _globus.client_username(module) == "abc@clients.auth.globus.org"
    assert _globus.globus_clients(module).username == "abc@clients.auth.globus.org"


def test_cache_warnings_reach_the_module(monkeypatch, tmp_path):
    cache = tmp_path / "cache.json"
    cache.write_text("garbage")
    monkeypatch.setenv("GLOBUS_SDK_SERVICE_URL_AUTH", "http://127.0.0.1:9/")
    module = make_module(monkeypatch, {"client_id": "c", "client_secret": CANARY, "token_cache": str(cache)})
    clients = _globus.globus_clients(module)
    clients.cache.put(_globus.SCOPES["transfer"][0], _globus.SCOPES["transfer"][1], "tok", int(clients.cache.clock()) + 7200)
    cache.write_text("garbage again")
    clients.cache.put(_globus.SCOPES["transfer"][0], _globus.SCOPES["transfer"][1], "tok", int(clients.cache.clock()) + 7200)
    _globus.transfer_client(module)
    assert any("rewritten" in w for w in module._sciops_warnings)  # pylint: disable=protected-access
