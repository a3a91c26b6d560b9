"""Helpers for tests against the lab Globus emulator (tests/lab/globus/README.md).

Tests of every area run against the same emulator at the same time, so each test makes its
own client, collections and groups here and scopes injected faults with its client_id.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid

import requests

URL = "https://127.0.0.1:8701/"
ADMIN = URL + "_lab"
SDK_ENV_KEYS = ("GLOBUS_SDK_ENVIRONMENT", "GLOBUS_SDK_SERVICE_URL_AUTH", "GLOBUS_SDK_SERVICE_URL_GROUPS",
                "GLOBUS_SDK_SERVICE_URL_TRANSFER", "GLOBUS_SDK_SERVICE_URL_TIMER", "GLOBUS_SDK_VERIFY_SSL")


def admin(method, route, body=None, **params):
    """Call an admin route (route like "/faults"); query parameters as keywords."""
    response = requests.request(method, ADMIN + route, json=body, params=params or None, timeout=30)
    assert response.status_code < 300, "%s %s -> %s %s" % (method, route, response.status_code, response.text)
    return response.json()


def sdk_env(lab):
    """The GLOBUS_SDK_* variables of the lab (set them in os.environ before building SDK clients)."""
    return {k: v for k, v in lab.environment().items() if k in SDK_ENV_KEYS}


@contextlib.contextmanager
def sdk_environment(lab):
    """os.environ holds the lab's GLOBUS_SDK_* variables inside the block (restored after it)."""
    values = sdk_env(lab)
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield values
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def wait_for(probe, timeout=60, interval=0.1, what="condition"):
    """Poll ``probe()`` until it returns something true (returned) or fail after ``timeout`` seconds.

    Tests share a loaded 2-core machine: wait for what the test needs, never for a fixed time.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError("%s not reached after %ss (last: %r)" % (what, timeout, value))
        time.sleep(interval)


class LabClient:
    """A fresh Globus client (its own identity, tokens, tasks and faults)."""

    def __init__(self, name="test", secret=None):
        made = admin("POST", "/clients", {"name": "%s-%s" % (name, uuid.uuid4().hex[:6]), "client_secret": secret})
        self.client_id = made["client_id"]
        self.secret = made["client_secret"]
        self.username = made["username"]

    def authorizer(self, scope):
        import globus_sdk

        return globus_sdk.ClientCredentialsAuthorizer(globus_sdk.ConfidentialAppAuthClient(self.client_id, self.secret), scope)

    def transfer(self):
        import globus_sdk

        return globus_sdk.TransferClient(authorizer=self.authorizer(globus_sdk.scopes.TransferScopes.all))

    def groups(self):
        import globus_sdk

        return globus_sdk.GroupsClient(authorizer=self.authorizer(globus_sdk.scopes.GroupsScopes.all))

    def auth(self):
        import globus_sdk

        return globus_sdk.AuthClient(authorizer=self.authorizer(globus_sdk.scopes.AuthScopes.view_identities))

    def collection(self, name="collection", files=None):
        """A new collection owned by this client -> (collection_id, local root folder)."""
        made = admin("POST", "/collections", {"display_name": "%s %s" % (name, uuid.uuid4().hex[:6]), "owner": self.client_id})
        for rel, content in (files or {}).items():
            target = os.path.join(made["root"], rel)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as handle:
                handle.write(content if isinstance(content, bytes) else content.encode("utf-8"))
        return made["id"], made["root"]

    def fault(self, pattern, status, count=1, **extra):
        return admin("POST", "/faults", dict(extra, pattern=pattern, status=status, count=count, client_id=self.client_id))

    def clear_faults(self):
        admin("DELETE", "/faults", client_id=self.client_id)

    def set_rate(self, bytes_per_second):
        admin("POST", "/config", {"transfer_rate": bytes_per_second, "client_id": self.client_id})

    def requests(self, path=None):
        params = {"client_id": self.client_id}
        if path:
            params["path"] = path
        return admin("GET", "/requests", **params)["requests"]

    def cli_env(self, lab, home):
        env = dict(os.environ, **lab.environment())
        env.update(GLOBUS_CLI_CLIENT_ID=self.client_id, GLOBUS_CLI_CLIENT_SECRET=self.secret, HOME=home)
        return env


def wait_task(transfer, task_id, timeout=120, statuses=("SUCCEEDED", "FAILED")):
    """The task once its status is one of ``statuses`` (polled; a generous deadline for a loaded machine)."""
    def probe():
        task = transfer.get_task(task_id)
        return task if task["status"] in statuses else None

    return wait_for(probe, timeout, what="task %s in %s" % (task_id, "/".join(statuses)))


def tree(root):
    """{relative path: bytes} of every file under root."""
    found = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            full = os.path.join(dirpath, name)
            with open(full, "rb") as handle:
                found[os.path.relpath(full, root)] = handle.read()
    return found
