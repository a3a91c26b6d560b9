"""A tiny hostile web server for the client hardening tests (issue 14 items 9 and 10): on 127.0.0.1
for the controller's clients, or on the lab bridge address for the clients on the booted hosts.

    with HostileServer(answer) as server:      # answer(request) -> (status, headers, body)
        ...server.url..., server.log            # log: method, path, headers, body, time (when received)

``script(*answers)`` answers requests in turn (the last one repeats). ``tls=(cert, key)``
serves HTTPS; ``host`` is the address it listens on (port: ``server.port``). Nothing here is part
of the collection.
"""

import json
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def script(*answers):
    """An answer function that gives ``answers`` in turn, repeating the last."""
    state = {"next": 0}
    lock = threading.Lock()

    def answer(request):
        with lock:
            index = min(state["next"], len(answers) - 1)
            state["next"] += 1
        found = answers[index]
        return found(request) if callable(found) else found
    return answer


def body(document):
    return json.dumps(document).encode()


class HostileServer:
    def __init__(self, answer, tls=None, host="127.0.0.1"):
        self.answer = answer
        self.log = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, fmt, *args):
                pass

            def handle_any(self):
                length = int(self.headers.get("Content-Length") or 0)
                entry = {"method": self.command, "path": self.path, "headers": dict(self.headers.items()),
                         "body": self.rfile.read(length) if length else b"", "time": time.time()}
                outer.log.append(entry)
                status, headers, payload = outer.answer(entry)
                payload = payload if isinstance(payload, bytes) else body(payload)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = handle_any

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        scheme = "http"
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.port = self.server.server_address[1]
        self.url = "%s://%s:%d" % (scheme, host, self.port)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.server.shutdown()
        self.server.server_close()
