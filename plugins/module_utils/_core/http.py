# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one HTTP request function of the web-API clients (portal, APS DM, APS scheduling).

Private to sciops.datasync: not a public API. ``HttpClient.request`` is the only way these
clients reach a web service:

- TLS is verified by default (``validate_certs``); ``ca_bundle`` names the CA certificates
  to trust instead of the system store (and implies verification).
- Every request carries credentials (Basic, bearer token, session cookie), so a redirect is
  followed only within the same origin (scheme, host and port), at most ``MAX_REDIRECTS``
  times; a redirect to another origin is refused with an ``HttpError`` naming both origins.
- 429, 502, 503 and 504 are retried, and 500 and connection failures when the request is
  idempotent (GET, HEAD, PUT, DELETE, OPTIONS, or ``idempotent=True``), up to ``retries``
  times. A ``Retry-After`` answer (seconds or an HTTP-date) is waited for as asked, up to
  ``max_wait`` seconds (a longer one gives up at once, saying so); otherwise the waits
  grow as ``backoff * 2**n``, capped at ``max_wait``. This is globus-sdk's retry policy.
- Every secret the client is told about (``add_secret``) is scrubbed from its messages, and
  messages show URLs without their query string.
"""

from __future__ import annotations

import datetime
import email.utils
import json
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Optional

from ansible.module_utils.basic import AnsibleModule

RETRY_STATUSES = (429, 502, 503, 504)
IDEMPOTENT_RETRY_STATUSES = (500,)
IDEMPOTENT_METHODS = ("GET", "HEAD", "PUT", "DELETE", "OPTIONS")
MAX_REDIRECTS = 5
MASK = "********"
MIN_SCRUBBED = 4  # shorter values are not secrets worth the noise of masking them in every word


def reply_excerpt(response, limit=200):
    """' (the service said: ...)' from an error reply's message or text, printable and short; '' when empty."""
    try:
        document = response.json()
    except ValueError:
        message = response.text
    else:
        message = next((document[k] for k in ("message", "error_description", "error", "detail")
                        if isinstance(document, dict) and isinstance(document.get(k), str)), "")
    text = " ".join("".join(c if c.isprintable() else " " for c in message).split())[:limit]
    return " (the service said: %s)" % text if text else ""


class HttpError(Exception):
    """A request that got no usable answer; the message holds no secret and no query string."""

    def __init__(self, message, status=None, attempts=0, url=None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.attempts = attempts
        self.url = url


class Response:
    """An answer: ``status``, ``headers`` (an ``http.client.HTTPMessage``), ``body`` bytes, ``url``."""

    def __init__(self, status, headers, body, url):
        self.status = status
        self.headers = headers
        self.body = body or b""
        self.url = url

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        """The body as JSON; raises ValueError when it is not."""
        return json.loads(self.body.decode("utf-8"))


def origin(url):
    """``(scheme, host, port)`` of ``url``, the port made explicit."""
    parts = urllib.parse.urlsplit(url)
    scheme = (parts.scheme or "").lower()
    port = parts.port or {"http": 80, "https": 443}.get(scheme)
    return scheme, (parts.hostname or "").lower(), port


def origin_text(url):
    scheme, host, port = origin(url)
    return "%s://%s:%s" % (scheme, host, port)


def without_query(url):
    """``url`` without its query string and fragment (what a message may show)."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


def retry_after_seconds(value, now=None):
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP-date); None when absent or unreadable."""
    if value is None:
        return None
    text = str(value).strip()
    if text.isdigit():
        return float(text)
    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    now = now if now is not None else datetime.datetime.now(datetime.timezone.utc)
    return max(0.0, (moment - now).total_seconds())


class _CrossOriginRedirect(Exception):
    def __init__(self, source, target):
        super().__init__(source, target)
        self.source = source
        self.target = target


class _SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only within the request's origin; another origin raises _CrossOriginRedirect."""

    max_redirections = MAX_REDIRECTS

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if origin(newurl) != origin(req.full_url):
            raise _CrossOriginRedirect(req.full_url, newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def http_argument_spec():
    """The options of a module whose web services are reached with HttpClient (doc fragment sciops.datasync.web_api)."""
    return dict(
        validate_certs=dict(type="bool", default=True),
        ca_bundle=dict(type="path"),
        timeout=dict(type="int", default=30),
    )


def web_api_module(argument_spec):
    """The AnsibleModule of a web-API module: ``http_argument_spec()`` and ``argument_spec``, with check mode.

    Built when the module's ``main()`` runs, so ansible-test validate-modules still reads the argspec.
    """
    return AnsibleModule(argument_spec=dict(http_argument_spec(), **argument_spec), supports_check_mode=True)


@dataclass(frozen=True)
class HttpSettings:
    """How a client reaches its web service: TLS verification, timeout and retry policy."""

    validate_certs: bool = True
    ca_bundle: Optional[str] = None
    timeout: float = 30
    retries: int = 3
    backoff: float = 1.0

    @classmethod
    def from_params(cls, params):
        """The settings of a module whose options come from ``http_argument_spec()``."""
        return cls(validate_certs=params["validate_certs"], ca_bundle=params["ca_bundle"], timeout=params["timeout"])

    def client(self, label):
        return HttpClient(self, label=label)


def tls_context(validate_certs=True, ca_bundle=None):
    """The SSL context for a client: verified against ``ca_bundle`` or the system store."""
    if ca_bundle or validate_certs:
        return ssl.create_default_context(cafile=ca_bundle or None)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class HttpClient:
    """Requests with a timeout, TLS verification, same-origin redirects, bounded retries and scrubbed messages."""

    def __init__(self, settings=None, label="service", secrets=(), max_wait=60.0):
        settings = settings or HttpSettings()
        self.validate_certs = settings.validate_certs
        self.ca_bundle = settings.ca_bundle
        self.timeout = settings.timeout
        self.retries = max(0, int(settings.retries))
        self.backoff = settings.backoff
        self.max_wait = max_wait
        self.label = label
        self.secrets = set()
        for value in secrets:
            self.add_secret(value)
        self.retried = 0
        self.waits = []
        self._opener = None

    def add_secret(self, value):
        """Scrub ``value`` (and its URL-quoted form) from every message of this client."""
        if value:
            text = str(value)
            self.secrets.add(text)
            self.secrets.add(urllib.parse.quote(text, safe=""))
            self.secrets.add(urllib.parse.quote_plus(text))

    def scrub(self, text):
        text = str(text)
        for secret in sorted(self.secrets, key=len, reverse=True):
            if len(secret) >= MIN_SCRUBBED:
                text = text.replace(secret, MASK)
        return text

    def _build_opener(self):
        if self._opener is None:
            context = tls_context(self.validate_certs, self.ca_bundle)
            self._opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context), _SameOriginRedirects())
        return self._opener

    def _wait_for(self, response, attempt):
        """Seconds to wait before the next attempt, or a reason to give up now (as a string)."""
        asked = retry_after_seconds(response.headers.get("Retry-After")) if response is not None else None
        if asked is not None:
            if asked > self.max_wait:
                return "it asked to retry after %d seconds (Retry-After), more than the %d allowed" % (asked, self.max_wait)
            return asked
        return min(self.backoff * (2 ** attempt), self.max_wait)

    def _once(self, request):
        try:
            answer = self._build_opener().open(request, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            try:
                body = exc.read()
            except (IOError, OSError, ValueError):
                body = b""
            return Response(exc.code, exc.headers, body, exc.geturl() or request.full_url)
        try:
            return Response(answer.getcode(), answer.headers, answer.read(), answer.geturl())
        finally:
            answer.close()

    def request(self, method, url, headers=None, data=None, idempotent=None):
        """Send one request (retried as the module docstring says) and return its Response.

        4xx and other answers are returned as they are; raises HttpError on a refused
        redirect, a TLS failure, a connection failure or retries used up.
        """
        method = method.upper()
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        shown = without_query(url)
        if isinstance(data, str):
            data = data.encode("utf-8")
        attempt = 0
        while True:
            request = urllib.request.Request(url, data=data, headers=dict(headers or {}), method=method)
            response, failure = None, None
            try:
                response = self._once(request)
            except _CrossOriginRedirect as exc:
                text = "%s: %s %s redirected to another origin (%s -> %s); a request with credentials follows redirects only within its origin"
                raise HttpError(text % (self.label, method, shown, origin_text(exc.source), origin_text(exc.target)), url=shown)
            except urllib.error.URLError as exc:
                reason = getattr(exc, "reason", None) or exc
                if isinstance(reason, ssl.SSLError):
                    raise HttpError(self.scrub("%s: TLS verification of %s failed: %s" % (self.label, origin_text(url), reason)), url=shown)
                failure = reason
            except (socket.timeout, ssl.SSLError, IOError, OSError) as exc:
                if isinstance(exc, ssl.SSLError):
                    raise HttpError(self.scrub("%s: TLS verification of %s failed: %s" % (self.label, origin_text(url), exc)), url=shown)
                failure = exc
            if failure is not None and not idempotent:
                raise HttpError(self.scrub("%s: cannot reach %s: %s" % (self.label, shown, failure)), attempts=attempt + 1, url=shown)
            retryable = response is not None and (response.status in RETRY_STATUSES
                                                  or (idempotent and response.status in IDEMPOTENT_RETRY_STATUSES))
            if response is not None and not retryable:
                return response
            wait = self._wait_for(response, attempt)
            if attempt >= self.retries or isinstance(wait, str):
                if response is None:
                    text = "%s: cannot reach %s (%s %d times; giving up): %s" % (self.label, shown, method, attempt + 1, failure)
                else:
                    why = (": " + wait) if isinstance(wait, str) else "; giving up"
                    text = "%s: %s %s answered HTTP %d %d times%s%s" % (
                        self.label, method, shown, response.status, attempt + 1, why, reply_excerpt(response))
                raise HttpError(self.scrub(text),
                                status=response.status if response is not None else None, attempts=attempt + 1, url=shown)
            attempt += 1
            self.retried += 1
            self.waits.append(wait)
            time.sleep(wait)
