"""The lab supervisor: `python -m tests.lab.supervisor up|down|status|env`.

Every service is a module in tests/lab/services/ that defines NAME, ORDER and
prepare(lab), command(lab), ready(lab), endpoints(lab), and optionally env(lab).
The supervisor starts each on 127.0.0.1 with its state, log and pid file under
.lab/, waits until it answers, and writes .lab/endpoints.json and .lab/env for
the inventories and tests. `up` is idempotent: a running, answering service is kept.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import shlex
import signal
import socket
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class LabError(Exception):
    pass


def port_open(port, host="127.0.0.1", timeout=0.3):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().split()[2] != "Z"
    except OSError:
        return True


class Lab:
    def __init__(self, root=None):
        self.repo = REPO
        self.root = os.path.abspath(root or os.environ.get("DATASYNC_LAB_DIR") or os.path.join(REPO, ".lab"))
        self.python = sys.executable
        self.user = os.environ.get("USER") or __import__("pwd").getpwuid(os.getuid()).pw_name
        self.services = self._discover()

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def ensure_dir(self, *parts, mode=0o755):
        target = self.path(*parts)
        os.makedirs(target, mode=mode, exist_ok=True)
        return target

    @staticmethod
    def _discover():
        from tests.lab import services

        found = []
        for info in pkgutil.iter_modules(services.__path__):
            module = importlib.import_module("tests.lab.services." + info.name)
            if hasattr(module, "NAME"):
                found.append(module)
        return sorted(found, key=lambda m: (m.ORDER, m.NAME))

    def service(self, name):
        for module in self.services:
            if module.NAME == name:
                return module
        raise LabError("no lab service %s" % name)

    def _pidfile(self, name):
        return self.path("run", name + ".pid")

    def pid(self, name):
        try:
            with open(self._pidfile(name)) as handle:
                return int(handle.read().strip())
        except (OSError, ValueError):
            return None

    def running(self, module):
        pid = self.pid(module.NAME)
        return bool(pid and pid_alive(pid) and module.ready(self))

    def up(self, names=None):
        self.ensure_dir("run")
        self.ensure_dir("logs")
        for module in self.services:
            if names and module.NAME not in names:
                continue
            module.prepare(self)
            if self.running(module):
                continue
            self._stop(module.NAME)
            self._start(module)
        self.write_endpoints()
        return self.endpoints()

    def _start(self, module):
        log_path = self.path("logs", module.NAME + ".log")
        env = dict(os.environ, PYTHONPATH=self.repo, DATASYNC_LAB_DIR=self.root)
        env.update(getattr(module, "process_env", lambda lab: {})(self))
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                module.command(self), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.root, env=env, start_new_session=True,
            )
        with open(self._pidfile(module.NAME), "w") as handle:
            handle.write("%d\n" % process.pid)
        deadline = time.monotonic() + getattr(module, "START_TIMEOUT", 30)
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise LabError("%s exited with %s; see %s:\n%s" % (module.NAME, process.returncode, log_path, self.tail(log_path)))
            if module.ready(self):
                return
            time.sleep(0.1)
        raise LabError("%s did not answer in time; see %s:\n%s" % (module.NAME, log_path, self.tail(log_path)))

    @staticmethod
    def tail(path, lines=15):
        try:
            with open(path, errors="replace") as handle:
                return "".join(handle.readlines()[-lines:])
        except OSError:
            return ""

    def _stop(self, name):
        pid = self.pid(name)
        if pid and pid_alive(pid):
            try:
                os.killpg(pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if pid_alive(pid):
                os.killpg(pid, signal.SIGKILL)
        if os.path.exists(self._pidfile(name)):
            os.unlink(self._pidfile(name))

    def down(self):
        for module in reversed(self.services):
            self._stop(module.NAME)

    def endpoints(self):
        return {m.NAME: m.endpoints(self) for m in self.services}

    def environment(self):
        env = {"DATASYNC_LAB_DIR": self.root}
        for module in self.services:
            env.update(getattr(module, "env", lambda lab: {})(self))
        return env

    def write_endpoints(self):
        document = {"lab_dir": self.root, "services": self.endpoints(), "env": self.environment()}
        tmp = self.path("endpoints.json.tmp")
        with open(tmp, "w") as handle:
            json.dump(document, handle, indent=1, sort_keys=True)
        os.replace(tmp, self.path("endpoints.json"))
        lines = ["export %s=%s" % (k, shlex.quote(str(v))) for k, v in sorted(document["env"].items())]
        with open(self.path("env.tmp"), "w") as handle:
            handle.write("\n".join(lines) + "\n")
        os.replace(self.path("env.tmp"), self.path("env"))

    def status(self):
        rows = []
        for module in self.services:
            pid = self.pid(module.NAME)
            state = "up" if self.running(module) else ("running, not answering" if pid and pid_alive(pid) else "down")
            rows.append((module.NAME, state, pid or "-", json.dumps(module.endpoints(self), sort_keys=True)))
        return rows


def main(argv):
    lab = Lab()
    command = argv[0] if argv else "status"
    try:
        if command == "up":
            lab.up(argv[1:] or None)
            print("lab up under %s" % lab.root)
            command = "status"
        if command == "down":
            lab.down()
            print("lab down")
        elif command == "status":
            for name, state, pid, endpoint in lab.status():
                print("%-10s %-24s pid %-8s %s" % (name, state, pid, endpoint))
        elif command == "env":
            lab.write_endpoints()
            sys.stdout.write(open(lab.path("env")).read())
        else:
            print("usage: python -m tests.lab.supervisor up|down|status|env")
            return 2
    except LabError as exc:
        print("lab: %s" % exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
