"""The lab supervisor: `python -m tests.lab.supervisor up [--no-hosts] [SERVICE...]|down|status|env`.

`up` brings up the whole lab: the lab CA (tests/lab/ca.py, <lab>/ca/), then the bridge
(dslab0, the controller at 10.213.0.1) and the inventory's hosts booted as containers
(tests/lab/hosts/), then every service. `--no-hosts` (or DATASYNC_LAB_HOSTS=0, and
always when not root) brings up the services alone, for callers that only need them on
127.0.0.1. `down` stops the services and the hosts, unmounts their roots and deletes the
bridge; a lab that was killed is cleaned up by the next `up`.

Every service is a module in tests/lab/services/ that defines NAME, ORDER and
prepare(lab), command(lab), ready(lab), endpoints(lab), and optionally env(lab) and
PORT. The supervisor starts each with its state, log and pid file under .lab/, listening
on lab.listen_addresses() (127.0.0.1, and the bridge address whenever the bridge holds
it; never 0.0.0.0), waits until it answers on each, and writes .lab/endpoints.json and
.lab/env for the inventories and tests. `up` is idempotent: a running service that
answers on every address it should is kept. The web-API emulators serve HTTPS with the
lab CA's server certificate (names: 127.0.0.1, 10.213.0.1, localhost, services.lab).
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

from tests.lab import ca
from tests.lab.hosts.lab import LabBusy
from tests.lab.hosts.machine import HostError
from tests.lab.hosts.network import DEFAULT_HOSTS, LabNetwork, bridge_exists

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


def hosts_by_default():
    """Whether `up` boots the hosts when not told: as root, unless DATASYNC_LAB_HOSTS=0."""
    return os.geteuid() == 0 and os.environ.get("DATASYNC_LAB_HOSTS", "1").lower() not in ("0", "no", "false")


class Lab:
    def __init__(self, root=None):
        self.repo = REPO
        self.root = os.path.abspath(root or os.environ.get("DATASYNC_LAB_DIR") or os.path.join(REPO, ".lab"))
        self.python = sys.executable
        self.user = os.environ.get("USER") or __import__("pwd").getpwuid(os.getuid()).pw_name
        self.network = LabNetwork()
        self.services = self._discover()
        self._listen = None

    # the network, the CA and the hosts

    @property
    def controller_address(self):
        return self.network.controller_address

    def bridge_ready(self):
        """The lab bridge exists and holds the controller's address."""
        if not bridge_exists(self.network.bridge):
            return False
        shown = subprocess.run(["ip", "-o", "-4", "addr", "show", "dev", self.network.bridge], capture_output=True,
                               text=True, check=False).stdout
        return (" %s/" % self.controller_address) in shown

    def listen_addresses(self):
        """Where the services listen: 127.0.0.1, and the controller's bridge address when the bridge holds it."""
        if self._listen is not None:
            return list(self._listen)
        return ["127.0.0.1"] + ([self.controller_address] if self.bridge_ready() else [])

    def ca(self):
        """Paths of the lab CA (ca_file), the server certificate and key, and the controller bundle."""
        return ca.paths(self.root)

    def ensure_ca(self):
        return ca.ensure(self.root, self.controller_address)

    def tls_args(self):
        """--tls-cert/--tls-key and a --bind per listen address, for the HTTPS emulators."""
        paths = self.ca()
        argv = ["--tls-cert", paths["cert_file"], "--tls-key", paths["key_file"]]
        for address in self.listen_addresses():
            argv += ["--bind", address]
        return argv

    def host_lab(self):
        from tests.lab.hosts.lab import HostLab

        return HostLab(self.path("hosts"), self.network, ca_file=self.ca()["ca_file"],
                       services={ca.DNS_NAME: self.controller_address},
                       directory=self.service("slapd").host_client(self))

    def service_url(self, port, scheme="https"):
        """(url on 127.0.0.1 for the controller, url by the lab DNS name for the hosts)."""
        return "%s://127.0.0.1:%d" % (scheme, port), "%s://%s:%d" % (scheme, ca.DNS_NAME, port)

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

    def _listen_file(self, name):
        return self.path("run", name + ".listen")

    def listening_on(self, name):
        """The addresses the service was started to listen on."""
        try:
            with open(self._listen_file(name)) as handle:
                return json.load(handle)
        except (OSError, ValueError):
            return None

    def running(self, module):
        """Alive, answering, started for today's listen addresses, and (with a PORT) accepting on each of them."""
        pid = self.pid(module.NAME)
        if not (pid and pid_alive(pid) and module.ready(self)):
            return False
        wanted = self.listen_addresses()
        if self.listening_on(module.NAME) != wanted:
            return False
        port = getattr(module, "PORT", None)
        return port is None or all(port_open(port, address) for address in wanted)

    def up(self, names=None, hosts=None, log=print):
        """Bring up the lab CA, then (hosts: default hosts_by_default()) the bridge and hosts, then the services."""
        hosts = hosts_by_default() if hosts is None else hosts
        self.ensure_dir("run")
        self.ensure_dir("logs")
        self.ensure_ca()
        if hosts:
            self.host_lab().up(DEFAULT_HOSTS, log=log)
        self._listen = None
        self._listen = self.listen_addresses()
        try:
            for module in self.services:
                if names and module.NAME not in names:
                    continue
                module.prepare(self)
                if self.running(module):
                    continue
                self._stop(module.NAME)
                self._start(module)
            self.write_endpoints()
        finally:
            self._listen = None
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
        with open(self._listen_file(module.NAME), "w") as handle:
            json.dump(self.listen_addresses(), handle)
        port = getattr(module, "PORT", None)
        deadline = time.monotonic() + getattr(module, "START_TIMEOUT", 30)
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise LabError("%s exited with %s; see %s:\n%s" % (module.NAME, process.returncode, log_path, self.tail(log_path)))
            if module.ready(self) and (port is None or all(port_open(port, a) for a in self.listen_addresses())):
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
        for path in (self._pidfile(name), self._listen_file(name)):
            if os.path.exists(path):
                os.unlink(path)

    def down(self, hosts=True, log=print):
        """Stop every service; with hosts (default) also the hosts, their mounts and the bridge."""
        for module in reversed(self.services):
            self._stop(module.NAME)
        if hosts and (os.path.isdir(self.path("hosts")) or bridge_exists(self.network.bridge)):
            self.host_lab().down(log=log)

    def endpoints(self):
        return {m.NAME: m.endpoints(self) for m in self.services}

    def environment(self):
        """What a controller-side client of the lab needs: the services' variables and the lab CA.

        SSL_CERT_FILE, REQUESTS_CA_BUNDLE and GLOBUS_SDK_VERIFY_SSL (globus-sdk sends through its
        session without requests' environment merge) point at the controller bundle (the system store
        plus the lab CA), so Python's ssl, ansible's open_url, requests and globus-sdk all verify the
        emulators' certificates; DATASYNC_LAB_CA is the lab CA alone (for modules' CA options).
        """
        paths = self.ca()
        env = {"DATASYNC_LAB_DIR": self.root, "DATASYNC_LAB_CA": paths["ca_file"],
               "DATASYNC_LAB_CA_BUNDLE": paths["bundle_file"], "DATASYNC_LAB_SERVICES_HOST": ca.DNS_NAME,
               "DATASYNC_LAB_CONTROLLER_ADDRESS": self.controller_address}
        env.update(self.ca_environment())
        for module in self.services:
            env.update(getattr(module, "env", lambda lab: {})(self))
        return env

    def hosts_environment(self):
        """What a job on a lab host needs: the services by the lab DNS name (services.lab, the bridge address),
        trust from the host's system store (REQUESTS_CA_BUNDLE too: requests in a virtualenv reads certifi)."""
        env = {"REQUESTS_CA_BUNDLE": ca.HOST_SYSTEM_BUNDLE, "SSL_CERT_FILE": ca.HOST_SYSTEM_BUNDLE,
               "GLOBUS_SDK_VERIFY_SSL": ca.HOST_SYSTEM_BUNDLE}
        for module in self.services:
            env.update(getattr(module, "hosts_env", lambda lab: {})(self))
        return env

    def ca_environment(self):
        """SSL_CERT_FILE, REQUESTS_CA_BUNDLE and GLOBUS_SDK_VERIFY_SSL for the controller bundle: os.environ.update()
        them in a process whose own clients (urllib, requests, globus-sdk) talk to the emulators."""
        bundle = self.ca()["bundle_file"]
        return {"SSL_CERT_FILE": bundle, "REQUESTS_CA_BUNDLE": bundle, "GLOBUS_SDK_VERIFY_SSL": bundle}

    def network_document(self):
        hosts = {}
        if os.path.isdir(self.path("hosts")):
            hosts = {host.name: host.address for host in self.host_lab().hosts_on_disk()}
        return {"bridge": self.network.bridge, "subnet": self.network.subnet,
                "controller_address": self.controller_address, "services_host": ca.DNS_NAME,
                "listen": self.listen_addresses(), "hosts": hosts,
                "ssh_config": self.path("hosts", "ssh_config"), "known_hosts": self.path("hosts", "known_hosts")}

    def write_endpoints(self):
        paths = self.ca()
        document = {"lab_dir": self.root, "services": self.endpoints(), "env": self.environment(),
                    "hosts_env": self.hosts_environment(),
                    "ca": {"ca_file": paths["ca_file"], "bundle_file": paths["bundle_file"],
                           "dns_name": paths["dns_name"]},
                    "network": self.network_document()}
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
            if state == "up":
                state = "up on " + ",".join(self.listening_on(module.NAME) or [])
            rows.append((module.NAME, state, pid or "-", json.dumps(module.endpoints(self), sort_keys=True)))
        return rows

    def host_status(self):
        """(name, address, state) of each lab host, or [] when there are none."""
        if not os.path.isdir(self.path("hosts")):
            return []
        return self.host_lab().status()


def main(argv):
    lab = Lab()
    command = argv[0] if argv else "status"
    args = argv[1:]
    hosts = None
    if "--no-hosts" in args:
        hosts = False
        args = [a for a in args if a != "--no-hosts"]
    try:
        if command == "up":
            lab.up(args or None, hosts=hosts)
            print("lab up under %s" % lab.root)
            command = "status"
        if command == "down":
            lab.down(hosts=hosts is not False)
            print("lab down")
        elif command == "status":
            for name, state, pid, endpoint in lab.status():
                print("%-12s %-32s pid %-8s %s" % (name, state, pid, endpoint))
            for name, address, state in lab.host_status():
                print("%-12s %-32s %s" % (name, "host " + state, address))
            print("bridge %s: %s" % (lab.network.bridge, ("up, controller %s" % lab.controller_address)
                                     if lab.bridge_ready() else "absent"))
            print("lab CA: %s (hosts reach the services as %s)" % (lab.ca()["ca_file"], ca.DNS_NAME))
        elif command == "env":
            lab.write_endpoints()
            sys.stdout.write(open(lab.path("env")).read())
        else:
            print("usage: python -m tests.lab.supervisor up [--no-hosts] [SERVICE...] | down [--no-hosts] | status | env")
            return 2
    except (LabError, HostError, LabBusy) as exc:
        print("lab: %s" % exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
