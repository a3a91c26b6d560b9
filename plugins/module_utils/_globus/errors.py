# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Globus errors: one description for every failed Globus call. Private to sciops.datasync: not a public API.

A Globus error is what globus-sdk raises for a failed call:

- ``globus_sdk.GlobusAPIError`` (and its per-service subclasses): the service answered
  with an error. It is described by its service, HTTP status, code, message and request id.
- ``globus_sdk.NetworkError`` (``GlobusTimeoutError``, ``GlobusConnectionError``, ...): no
  answer. Its code is ``Timeout`` or ``NetworkError``; the message names the cause.

``error_result(exc)`` maps one to a JSON-safe dict (service, http_status, code, message,
request_id), ``describe(result)`` to one line, ``describe_error(exc)`` does both and
``fail_globus(module, exc, msg)`` fails the module with the line and the dict. The client
secret is scrubbed from every text. Any other exception is not a Globus failure but a bug:
these functions re-raise it, so it surfaces with its traceback.

globus-sdk is imported only when an exception has to be told apart.
"""

from __future__ import annotations

REDACTED = "********"
SERVICES = ("transfer", "groups", "auth", "timers", "search", "flows", "gcs")


def _sdk():
    try:
        import globus_sdk  # pylint: disable=import-outside-toplevel
    except ImportError:  # pragma: no cover - without the SDK no exception can be one of its errors
        return None
    return globus_sdk


def _kind(exc):
    """'api', 'network', or None when ``exc`` is not a Globus error."""
    sdk = _sdk()
    if sdk is None:
        return None
    if isinstance(exc, sdk.GlobusAPIError):
        return "api"
    if isinstance(exc, sdk.NetworkError):
        return "network"
    return None


def scrub(text, secret):
    """``text`` with every occurrence of ``secret`` replaced."""
    if text is None:
        return None
    text = str(text)
    if secret and len(secret) >= 4:
        text = text.replace(secret, REDACTED)
    return text


def _service_of(exc, default=None):
    name = exc.__class__.__name__.lower()
    for service in SERVICES:
        if name.startswith(service):
            return service
    url = ""
    response = getattr(exc, "_underlying_response", None)
    if response is not None:
        url = getattr(response, "url", "") or ""
    if "/v0.10/" in url:
        return "transfer"
    if "/v2/groups" in url:
        return "groups"
    if "/v2/oauth2" in url or "/v2/api/" in url:
        return "auth"
    return default or "globus"


def error_result(exc, service=None, secret=None):
    """The dict of a Globus error: service, http_status, code, message, request_id.

    ``service`` names the service when the error does not (network errors). Re-raises
    ``exc`` when it is not a Globus error.
    """
    kind = _kind(exc)
    if kind is None:
        raise exc
    result = dict(service=service or "globus", http_status=None, code=None, message=None, request_id=None)
    if kind == "api":
        result["service"] = _service_of(exc, service)
        result["http_status"] = exc.http_status
        result["code"] = exc.code if exc.code != "Error" else None
        messages = [m for m in (getattr(exc, "messages", None) or []) if m]
        result["message"] = "; ".join(messages) if messages else (exc.message or exc.http_reason)
        result["request_id"] = getattr(exc, "request_id", None)
    else:
        result["code"] = "Timeout" if "Timeout" in exc.__class__.__name__ else "NetworkError"
        underlying = getattr(exc, "underlying_exception", None)
        result["message"] = "%s: %s" % (exc.__class__.__name__, underlying if underlying is not None else exc)
    for key in ("message", "code", "request_id"):
        result[key] = scrub(result[key], secret)
    return result


def is_globus_error(exc, status=None, code_part=None):
    """Whether ``exc`` is a Globus error (with HTTP ``status``, with ``code_part`` in its code, when given)."""
    if _kind(exc) is None:
        return False
    result = error_result(exc)
    if status is not None and result["http_status"] != status:
        return False
    if code_part is not None and code_part not in (result["code"] or ""):
        return False
    return True


def describe(result):
    """One line for msg: 'transfer HTTP 403 EndpointPermissionDenied: ... (request_id abc)'."""
    parts = [result.get("service") or "globus"]
    if result.get("http_status"):
        parts.append("HTTP %s" % result["http_status"])
    if result.get("code"):
        parts.append(str(result["code"]))
    text = " ".join(parts)
    if result.get("message"):
        text += ": %s" % result["message"]
    if result.get("request_id"):
        text += " (request_id %s)" % result["request_id"]
    return text


def describe_error(exc, service=None, secret=None):
    """``describe(error_result(exc))``; re-raises ``exc`` when it is not a Globus error."""
    return describe(error_result(exc, service, secret))


def module_secret(module):
    """The client secret of a module run, to scrub from texts (None before it was read)."""
    clients = getattr(module, "_sciops_globus_clients", None)
    return clients.secret if clients is not None else module.params.get("client_secret")


def fail_globus(module, exc, msg=None, service=None, **extra):
    """fail_json with msg '<msg>: <describe>' and ``globus_error`` = error_result(exc); never includes the secret.

    Re-raises ``exc`` when it is not a Globus error.
    """
    secret = module_secret(module)
    result = error_result(exc, service, secret)
    text = describe(result)
    module.fail_json(msg=scrub("%s: %s" % (msg, text) if msg else text, secret), globus_error=result, **extra)
