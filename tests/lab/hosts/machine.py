"""One lab host: its folder, its overlay root, and its systemd-nspawn process.

Layout of a host's folder: upper/ and work/ (the overlay's writable layers), root/
(the merged root it boots from), host.json (address, image, pids) and console.log.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time

from tests.lab.hosts.nspawn_runtime import remove_propagate_folder
from tests.lab.hosts.overlay import is_mounted, mount_overlay, unmount_all_under
from tests.lab.hosts.processes import ProcessId, descendant_named, stop

READY_STATES = ("running", "degraded")
INSIDE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class HostError(Exception):
    pass


class LabHost:
    def __init__(self, name, folder, machine_name=None):
        self.name = name
        self.folder = folder
        self.machine_name = machine_name or name

    def path(self, *parts):
        return os.path.join(self.folder, *parts)

    @property
    def root(self):
        return self.path("root")

    # host.json: what the lab knows about this host between commands

    def read_state(self):
        try:
            with open(self.path("host.json"), encoding="utf-8") as handle:
                return json.load(handle)
        except FileNotFoundError:
            return {}

    def write_state(self, **changes):
        state = dict(self.read_state(), **changes)
        temporary = self.path("host.json.tmp")
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(state, handle, indent=2)
        os.replace(temporary, self.path("host.json"))

    @property
    def address(self):
        return self.read_state().get("address")

    def _process(self, key):
        data = self.read_state().get(key)
        return ProcessId.from_dict(data) if data else None

    @property
    def nspawn_process(self):
        return self._process("nspawn")

    @property
    def systemd_process(self):
        return self._process("systemd")

    def is_running(self):
        process = self.nspawn_process
        return process is not None and process.alive()

    # the overlay root

    def mount(self, image_rootfs, image_key):
        """Mount the host's root over the image; a host made from another image starts afresh."""
        if self.read_state().get("image") not in (None, image_key):
            self.unmount()
            subprocess.run(["rm", "-rf", "--one-file-system", self.path("upper"), self.path("work")], check=True)
        mount_overlay(image_rootfs, self.path("upper"), self.path("work"), self.root)
        self.write_state(image=image_key)

    def is_mounted(self):
        return is_mounted(self.root)

    def unmount(self):
        unmount_all_under(self.folder)

    # the container

    def start(self, bridge):
        command = ["systemd-nspawn", "-q", "--keep-unit", "--register=no", "--link-journal=no",
                   "-D", self.root, "--machine=" + self.machine_name, "--network-bridge=" + bridge, "--boot"]
        with open(self.path("console.log"), "ab") as console:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        started = ProcessId.of(process.pid)
        if started is None:
            raise HostError("systemd-nspawn for %s exited at once:\n%s" % (self.name, self.console_tail()))
        self.write_state(nspawn=started.as_dict(), systemd=None)

    def find_systemd(self):
        """The container's PID 1 as the controller sees it (nspawn's grandchild), recorded once found."""
        recorded = self.systemd_process
        if recorded and recorded.alive():
            return recorded
        nspawn = self.nspawn_process
        pid = descendant_named(nspawn.pid, "systemd") if nspawn and nspawn.alive() else None
        if pid is None:
            return None
        process = ProcessId.of(pid)
        self.write_state(systemd=process.as_dict())
        return process

    def inside(self, *command, check=True, timeout=60, input=None):
        """Run command inside the host (all its namespaces) as root; returns the CompletedProcess."""
        systemd = self.find_systemd()
        if systemd is None:
            raise HostError("%s is not running" % self.name)
        return subprocess.run(["nsenter", "--target", str(systemd.pid), "--all", *command],
                              env={"PATH": INSIDE_PATH, "LANG": "C.UTF-8"}, capture_output=True, text=True,
                              check=check, timeout=timeout, input=input)

    def system_state(self):
        """What `systemctl is-system-running` says inside, or stopped, stale (nspawn gone, systemd not) or booting."""
        if not self.is_running():
            systemd = self.systemd_process
            return "stale" if systemd and systemd.alive() else "stopped"
        if self.find_systemd() is None:
            return "booting"
        try:
            result = self.inside("systemctl", "is-system-running", check=False, timeout=10)
        except subprocess.TimeoutExpired:
            return "unknown"
        return result.stdout.strip() or "unknown"

    def sshd_answers(self):
        try:
            with socket.create_connection((self.address, 22), timeout=1) as connection:
                connection.settimeout(2)
                return connection.recv(64).startswith(b"SSH-")
        except OSError:
            return False

    def is_ready(self):
        if not self.is_running():
            raise HostError("%s stopped while booting; last console lines:\n%s" % (self.name, self.console_tail()))
        return self.system_state() in READY_STATES and self.sshd_answers() and self.logins_permitted()

    def logins_permitted(self):
        """Whether pam_nologin lets the admin in: systemd-user-sessions removed /run/nologin. A boot can
        finish "degraded" with that unit failed (status 219/CGROUP, seen after a killed lab); it is
        started again once, as an operator would."""
        if self.inside("test", "!", "-e", "/run/nologin", check=False).returncode == 0:
            return True
        if self.inside("systemctl", "is-failed", "--quiet", "systemd-user-sessions.service", check=False).returncode == 0:
            self.inside("systemctl", "restart", "systemd-user-sessions.service", check=False)
        return False

    def console_tail(self, lines=20):
        try:
            with open(self.path("console.log"), encoding="utf-8", errors="replace") as handle:
                return "".join(handle.readlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout=20):
        """Power the host off (nspawn forwards SIGTERM as a shutdown), kill it if it hangs, unmount."""
        stop(self.nspawn_process, [self.systemd_process], timeout)
        self.write_state(nspawn=None, systemd=None)
        self.unmount()
        remove_propagate_folder(self.machine_name)


def wait_until_ready(hosts, timeout=120):
    """Poll every host until each is running/degraded with sshd answering; raises on timeout or a dead host."""
    pending = list(hosts)
    deadline = time.monotonic() + timeout
    while pending:
        pending = [host for host in pending if not host.is_ready()]
        if not pending:
            return
        if time.monotonic() > deadline:
            raise HostError("not ready after %d s: %s" % (timeout, ", ".join(
                "%s (%s)" % (host.name, host.system_state()) for host in pending)))
        time.sleep(0.5)
