"""The HTTP plumbing the lab's JSON emulators share (portal, aps_dm, beamtime).

- ``JsonHandler``: a quiet request handler with ``read_body``, ``send_json`` and the
  ``POST /_lab/fault`` / ``POST /_lab/clear_faults`` admin routes (``fault_route``).
- ``Faults``: injected faults; the next ``count`` requests whose path matches one get it
  (a negative count: every one).
- ``remember``: the request log behind ``GET /_lab/requests`` (the last 500).
- ``save_json``: a state file written atomically. ``main``: the command line (``--port``,
  ``--seed``, ``--state``, ``--bind``, ``--tls-cert``/``--tls-key``), the emulator's ``setup(args)``,
  a threading server on each bind address (127.0.0.1 unless told), HTTPS when given a certificate.
- ``add_listen_arguments`` / ``serve``: the same listening options and loop for other servers (Globus).
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

KEEP_REQUESTS = 500


class Faults:
    """Faults like ``{"path": "/dm/", "method": "GET", "status": 503, "count": 1}``.

    ``path`` matches as a substring of the request path, or as its prefix with ``prefix=True``;
    ``method`` (optional) must be the request's. What a fault answers is up to the emulator.
    """

    def __init__(self, prefix=False):
        self.prefix = prefix
        self.items = []
        self.lock = threading.Lock()

    def add(self, fault):
        fault = dict(fault)
        fault.setdefault("count", 1)
        with self.lock:
            self.items.append(fault)
        return fault

    def clear(self):
        with self.lock:
            self.items[:] = []

    def take(self, method, path):
        """The first fault for this request with some count left (one is used up), or None."""
        with self.lock:
            for fault in self.items:
                where = fault.get("path", "")
                matches = path.startswith(where) if self.prefix else where in path
                if matches and fault.get("method", method) == method and fault["count"] != 0:
                    fault["count"] -= 1
                    return fault
        return None


def remember(requests, entry):
    """Append ``entry`` to the request log, keeping the last KEEP_REQUESTS."""
    requests.append(entry)
    del requests[:-KEEP_REQUESTS]


def save_json(path, document, **dump_options):
    tmp = path + ".tmp"
    with open(tmp, "w") as handle:
        json.dump(document, handle, **dump_options)
    os.replace(tmp, path)


class JsonHandler(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):  # quiet; the emulators keep their own request log
        pass

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send_json(self, status, document, headers=None):
        data = document if isinstance(document, bytes) else json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def fault_route(self, faults, method, path, body):
        """Answer ``POST /_lab/fault`` (add one) or ``POST /_lab/clear_faults``; False for any other request."""
        if method != "POST" or path not in ("/_lab/fault", "/_lab/clear_faults"):
            return False
        if path == "/_lab/fault":
            faults.add(json.loads(body or b"{}"))
        else:
            faults.clear()
        with faults.lock:
            document = json.dumps({"faults": faults.items}).encode()
        self.send_json(200, document)
        return True


def add_listen_arguments(parser):
    """--bind ADDRESS (repeatable; default 127.0.0.1), --tls-cert and --tls-key (HTTPS when given)."""
    parser.add_argument("--bind", action="append", default=None, help="address to listen on (repeatable)")
    parser.add_argument("--tls-cert", help="serve HTTPS with this certificate (PEM)")
    parser.add_argument("--tls-key", help="the certificate's key (PEM)")


class _Server(ThreadingHTTPServer):
    # socketserver listens with a backlog of 5: when a client opens more connections at once (the identity sync
    # keeps 32 calls in flight) the kernel drops the extra handshakes and the client waits a second for the retry.
    # A real service's backlog is far deeper.
    request_queue_size = 128


def make_servers(args, port, handler):
    """One ThreadingHTTPServer per --bind address on ``port``, wrapped in TLS when --tls-cert is set."""
    context = None
    if args.tls_cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(args.tls_cert, args.tls_key)
    servers = []
    for address in args.bind or ["127.0.0.1"]:
        server = _Server((address, port), handler)
        server.daemon_threads = True
        if context is not None:
            # The handshake happens in the request's thread (on its first read), not in the accept loop.
            server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
        servers.append(server)
    return servers


def serve(servers, poll_interval=0.5):
    """Serve every server; the first in this thread, the others in daemon threads. Returns when the first stops."""
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": poll_interval}, daemon=True).start()
    try:
        servers[0].serve_forever(poll_interval=poll_interval)
    finally:
        for server in servers[1:]:
            server.shutdown()


def main(description, port, handler, setup, state=True):
    """Serve ``handler`` on the --bind addresses after ``setup(args)`` loaded the seed (and the state file when ``state``)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, default=port)
    parser.add_argument("--seed", required=True)
    if state:
        parser.add_argument("--state", required=True)
    add_listen_arguments(parser)
    args = parser.parse_args()
    setup(args)
    serve(make_servers(args, args.port, handler))
