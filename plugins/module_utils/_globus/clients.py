# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Authenticated Globus clients. Private to sciops.datasync: not a public API.

Every Globus module takes the options of ``globus_argument_spec()`` (documented by the
``sciops.datasync.globus`` doc fragment) and gets its clients from here:

- ``transfer_client(module)``, ``groups_client(module)``, ``auth_client(module)`` build a
  globus-sdk client with a ``ClientCredentialsAuthorizer`` for exactly one resource server
  and exactly the scope it needs (Transfer ``all``, Groups ``all`` for management, Auth
  ``view_identities``), lazily, once per module run.
- Service URLs come from the standard ``GLOBUS_SDK_*`` environment (the lab sets them).
- ``token_cache``: a 0600 JSON file; a cached token is reused while it has more than
  ``TOKEN_MARGIN`` seconds left, so a job every 2 minutes does not ask for a new token each
  time. A corrupt or foreign cache is ignored and rewritten.
- ``globus_clients(module)`` is the module run's ``GlobusClients`` (the secret read once,
  added to the module's no_log values); the three functions above are the way to get a
  client from a module: a failure to get a token fails the module (``_globus.errors``).
- Errors: ``_globus.errors`` (``fail_globus``, ``describe_error``); the client secret is
  scrubbed from every text.
"""

from __future__ import annotations

import hashlib
import os
import time

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.sciops.datasync.plugins.module_utils._core.secrets import SecretFileError, read_secret_file
from ansible_collections.sciops.datasync.plugins.module_utils._core.state import StateError, StateFile
from ansible_collections.sciops.datasync.plugins.module_utils._globus.errors import fail_globus

TOKEN_MARGIN = 300
CACHE_SCHEMA = "sciops.datasync.globus_token_cache"
CACHE_VERSION = 1

# Scopes per service: exactly what each client needs.
SCOPES = {
    "transfer": ("transfer.api.globus.org", "urn:globus:auth:scope:transfer.api.globus.org:all"),
    "groups": ("groups.api.globus.org", "urn:globus:auth:scope:groups.api.globus.org:all"),
    "auth": ("auth.globus.org", "urn:globus:auth:scope:auth.globus.org:view_identities"),
    # Globus Timers; a transfer timer runs its transfers with the app's Transfer consent (dependent scope).
    "timers": ("524230d7-ea86-4a52-8312-86065a9e0417",
               "https://auth.globus.org/scopes/524230d7-ea86-4a52-8312-86065a9e0417/timer"
               "[urn:globus:auth:scope:transfer.api.globus.org:all]"),
}

_SDK_IMPORT_ERROR = None
try:
    import globus_sdk  # pylint: disable=unused-import  # noqa: F401
except ImportError as _import_exc:  # pragma: no cover - depends on the target
    globus_sdk = None
    _SDK_IMPORT_ERROR = _import_exc


def globus_argument_spec():
    """A fresh copy of the shared Globus options (see the sciops.datasync.globus doc fragment)."""
    return dict(
        client_id=dict(type="str", required=True),
        client_secret_file=dict(type="path"),
        client_secret=dict(type="str", no_log=True),
        token_cache=dict(type="path"),
        ca_bundle=dict(type="path"),
        timeout=dict(type="float", default=60.0),
    )


GLOBUS_MUTUALLY_EXCLUSIVE = [["client_secret", "client_secret_file"]]
GLOBUS_REQUIRED_ONE_OF = [["client_secret", "client_secret_file"]]


class GlobusConfigError(Exception):
    """A problem with the Globus options (secret file, cache), safe to show."""


def require_sdk(module):
    if globus_sdk is None:
        module.fail_json(msg=missing_required_lib("globus-sdk (>=4.9,<5)"), exception=str(_SDK_IMPORT_ERROR))


def read_secret(path):
    """The client secret from the first line of ``path`` (a secret file: ``_core.secrets``); the message never holds the content."""
    try:
        secret = read_secret_file(path, "client_secret_file").split("\n", 1)[0].strip()
    except SecretFileError as exc:
        raise GlobusConfigError(str(exc))
    if not secret:
        raise GlobusConfigError("client_secret_file %s is empty" % path)
    return secret


def _auth_service_url():
    return os.environ.get("GLOBUS_SDK_SERVICE_URL_AUTH") or os.environ.get("GLOBUS_SDK_ENVIRONMENT") or "production"


class TokenCache:
    """Access tokens per (client, auth service, resource server, scope) in a 0600 JSON file."""

    def __init__(self, path, client_id, auth_url=None, margin=TOKEN_MARGIN, clock=time.time):
        self.path = path
        self.client_id = client_id
        self.auth_url = auth_url if auth_url is not None else _auth_service_url()
        self.margin = margin
        self.clock = clock
        self.file = StateFile(path, CACHE_SCHEMA, CACHE_VERSION, mode=0o600) if path else None
        self.warnings = []

    def _key(self, resource_server, scope):
        raw = "\n".join([self.client_id, self.auth_url, resource_server, scope])
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()

    def _load(self):
        if self.file is None:
            return {}
        try:
            data = self.file.load(default={})
        except StateError:
            self.warnings.append("token cache %s was unreadable; it is rewritten" % self.path)
            return {}
        except (IOError, OSError) as exc:
            self.warnings.append("token cache %s cannot be read (%s); it is rewritten" % (self.path, exc.strerror))
            return {}
        tokens = data.get("tokens") if isinstance(data, dict) else None
        return tokens if isinstance(tokens, dict) else {}

    def get(self, resource_server, scope):
        """(access_token, expires_at) if a cached token has more than ``margin`` seconds left."""
        entry = self._load().get(self._key(resource_server, scope))
        if not isinstance(entry, dict):
            return None
        token, expires_at = entry.get("access_token"), entry.get("expires_at")
        if not isinstance(token, str) or not isinstance(expires_at, (int, float)):
            return None
        if expires_at - self.margin <= self.clock():
            return None
        return token, int(expires_at)

    def put(self, resource_server, scope, access_token, expires_at):
        if self.file is None:
            return
        tokens = self._load()
        now = self.clock()
        tokens = {k: v for k, v in tokens.items() if isinstance(v, dict) and v.get("expires_at", 0) > now}
        tokens[self._key(resource_server, scope)] = {
            "access_token": access_token, "expires_at": int(expires_at), "resource_server": resource_server, "scope": scope,
        }
        try:
            self.file.save({"tokens": tokens})
        except (IOError, OSError) as exc:
            self.warnings.append("token cache %s cannot be written: %s" % (self.path, exc.strerror))


class GlobusClients:
    """Lazily built, authenticated Globus clients for one module run."""

    def __init__(self, client_id, client_secret, token_cache=None, ca_bundle=None, timeout=60.0):
        if globus_sdk is None:
            raise GlobusConfigError("the globus-sdk Python library is required")
        self.client_id = client_id
        self.secret = client_secret
        self.ca_bundle = ca_bundle
        self.timeout = timeout
        self.cache = TokenCache(token_cache, client_id)
        self._confidential = None
        self._clients = {}

    @property
    def warnings(self):
        return self.cache.warnings

    @property
    def username(self):
        """The identity username of this client, used in ACL rules and group memberships."""
        return "%s@clients.auth.globus.org" % self.client_id

    def _transport(self):
        from globus_sdk.transport import RequestsTransport  # pylint: disable=import-outside-toplevel

        verify = self.ca_bundle if self.ca_bundle else None
        return RequestsTransport(verify_ssl=verify, http_timeout=self.timeout)

    def confidential_client(self):
        if self._confidential is None:
            self._confidential = _proxy_read_once(
                globus_sdk.ConfidentialAppAuthClient(self.client_id, self.secret, transport=self._transport()))
        return self._confidential

    def authorizer(self, service):
        resource_server, scope = SCOPES[service]
        cached = self.cache.get(resource_server, scope)
        cache = self.cache

        def on_refresh(response):
            data = response.by_resource_server.get(resource_server)
            if data:
                cache.put(resource_server, scope, data["access_token"], data["expires_at_seconds"])

        return globus_sdk.ClientCredentialsAuthorizer(
            self.confidential_client(), scope,
            access_token=cached[0] if cached else None,
            expires_at=cached[1] if cached else None,
            on_refresh=on_refresh,
        )

    def _client(self, service, cls):
        if service not in self._clients:
            self._clients[service] = _proxy_read_once(cls(authorizer=self.authorizer(service), transport=self._transport()))
        return self._clients[service]

    @property
    def transfer(self):
        return self._client("transfer", globus_sdk.TransferClient)

    @property
    def groups(self):
        return self._client("groups", globus_sdk.GroupsClient)

    @property
    def auth(self):
        return self._client("auth", globus_sdk.AuthClient)

    @property
    def timers(self):
        return self._client("timers", globus_sdk.TimersClient)


def _proxy_read_once(client):
    """``client`` with its proxy taken from the environment once (HTTPS_PROXY, ALL_PROXY, NO_PROXY, for the
    client's service host). requests otherwise reads the environment again on every call: a tenth of the CPU of
    2,000 group reads. TLS verification is globus-sdk's as before (``ca_bundle``, GLOBUS_SDK_VERIFY_SSL); with
    ``trust_env`` off, a redirect no longer takes Basic credentials from ``~/.netrc`` in place of the token."""
    import requests.utils  # pylint: disable=import-outside-toplevel  # present wherever globus-sdk is

    session, url = client.transport.session, client.base_url
    scheme = url.split(":", 1)[0].lower()
    found = requests.utils.get_environ_proxies(url)
    proxy = found.get(scheme, found.get("all"))
    if proxy:
        session.proxies.setdefault(scheme, proxy)
    session.trust_env = False
    return client


def clients_from_params(params):
    """GlobusClients from module params (client_id, client_secret or client_secret_file, ...)."""
    secret = params.get("client_secret")
    if not secret:
        if not params.get("client_secret_file"):
            raise GlobusConfigError("one of client_secret_file or client_secret is required")
        secret = read_secret(params["client_secret_file"])
    return GlobusClients(params["client_id"], secret, params.get("token_cache"), params.get("ca_bundle"),
                         params.get("timeout") or 60.0)


def globus_clients(module):
    """The module's GlobusClients (built once); fails the module on configuration problems."""
    existing = getattr(module, "_sciops_globus_clients", None)
    if existing is not None:
        return existing
    require_sdk(module)
    params = module.params
    if params.get("client_secret") and params.get("client_secret_file"):
        module.fail_json(msg="client_secret and client_secret_file are mutually exclusive")
    try:
        clients = clients_from_params(params)
    except GlobusConfigError as exc:
        module.fail_json(msg=str(exc))
    module.no_log_values.add(clients.secret)
    module._sciops_globus_clients = clients  # pylint: disable=protected-access
    return clients


def _module_client(module, service):
    clients = globus_clients(module)
    try:
        client = getattr(clients, service)
    except Exception as exc:  # pylint: disable=broad-except
        # Without a cached token the authorizer asks Globus Auth for one right away; fail_globus re-raises any other error.
        fail_globus(module, exc, "cannot get a Globus %s token for client %s" % (service, module.params["client_id"]), service="auth")
    while clients.warnings:
        module.warn(clients.warnings.pop(0))
    return client


def transfer_client(module):
    """An authenticated TransferClient (scope transfer all); fails the module if no token can be had."""
    return _module_client(module, "transfer")


def groups_client(module):
    """An authenticated GroupsClient (scope groups all); fails the module if no token can be had."""
    return _module_client(module, "groups")


def auth_client(module):
    """An authenticated AuthClient (scope view_identities); fails the module if no token can be had."""
    return _module_client(module, "auth")


def timers_client(module):
    """An authenticated TimersClient (scope timer, with Transfer as its dependency); fails the module if no token can be had."""
    return _module_client(module, "timers")


def client_username(module):
    return "%s@clients.auth.globus.org" % module.params["client_id"]
