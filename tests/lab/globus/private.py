"""A private Globus emulator process: its own free port, state folder and log file.

The lab emulator (127.0.0.1:8701) is shared by every area at the same time; tests and
benchmarks that change global settings (the clock, a global transfer rate, a big seed, a
restart) run one of these instead:

    with PrivateEmulator(state_dir, seed) as server:
        requests.get(server.url + "_lab/health")

A port picked free can be taken by another process before the emulator binds it: the start
is then retried on another port.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
DEMO_SEED = os.path.join(REPO, "tests", "lab", "seeds", "globus-demo.yml")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port, process, timeout=180):
    """Wait until ``process`` listens on ``port``; raises RuntimeError if it exits or the time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("emulator exited with %s" % process.returncode)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("emulator did not start in %ss" % timeout)


class PrivateEmulator:
    """``python -m tests.lab.globus.server`` on a free port; ``url`` ends with a slash."""

    def __init__(self, state_dir, seed=DEMO_SEED, log_path=None, timeout=60, attempts=3):
        self.state_dir = state_dir
        self.seed = seed
        self.log_path = log_path or state_dir.rstrip(os.sep) + ".log"
        self.timeout = timeout
        self.process = None
        self.port = None
        self.start(attempts)

    @property
    def url(self):
        return "http://127.0.0.1:%d/" % self.port

    def start(self, attempts=3):
        for attempt in range(attempts):
            self.port = free_port()
            with open(self.log_path, "ab") as log:
                self.process = subprocess.Popen(
                    [sys.executable, "-m", "tests.lab.globus.server", "--port", str(self.port), "--state-dir", self.state_dir,
                     "--seed", self.seed], cwd=REPO, env=dict(os.environ, PYTHONPATH=REPO), stdout=log, stderr=subprocess.STDOUT)
            if self._wait_ready():
                return
            if self.process.poll() is None:
                break  # running but not answering: do not try another port
        self.stop()
        raise RuntimeError("private Globus emulator did not start (attempts: %d); log:\n%s" % (attempt + 1, self.log()[-3000:]))

    def _wait_ready(self):
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False  # exited, for example because the port was taken meanwhile
            try:
                with urllib.request.urlopen(self.url + "_lab/health", timeout=2) as response:
                    if "counts" in json.loads(response.read().decode("utf-8")):
                        return True
            except (OSError, ValueError, urllib.error.URLError):
                pass
            time.sleep(0.1)
        return False

    def log(self):
        try:
            with open(self.log_path, "rb") as handle:
                return handle.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self):
        """Stop the process (SIGTERM, then SIGKILL) and return its log."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return self.log()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stop()
