"""HostLab: boot, list and stop the lab's hosts, and clean up after a lab that was killed."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil

from tests.lab.hosts.image import ADMIN_USER, ImageSpec, ensure_image
from tests.lab.hosts.keys import ensure_admin_key, host_public_key, write_known_hosts
from tests.lab.hosts.machine import LabHost, wait_until_ready
from tests.lab.hosts.network import DEFAULT_HOSTS, FIRST_EXTRA_HOST_NUMBER, LabNetwork, delete_bridge, ensure_bridge
from tests.lab.hosts.nspawn_runtime import remove_unheld_locks
from tests.lab.hosts.overlay import mounts_under, unmount_all_under
from tests.lab.hosts.provision import install_ca, install_directory_client, provision, write_hosts_file
from tests.lab.hosts.ssh_client import ssh_argv, write_ssh_config
from tests.lab.hosts.system_packages import ensure_host_tools

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def lab_dir():
    return os.path.abspath(os.environ.get("DATASYNC_LAB_DIR") or os.path.join(REPO, ".lab"))


class LabBusy(Exception):
    pass


class HostLab:
    """The hosts under state_dir (default <repo>/.lab/hosts), on network, booted from image.

    machine_prefix keeps the veth names of a second lab (a test's) apart from the main lab's.
    ca_file: a CA each host trusts in its system store (the lab CA); services: extra /etc/hosts
    names ({name: address}, e.g. services.lab on the controller's bridge address).
    """

    def __init__(self, state_dir=None, network=LabNetwork(), image=ImageSpec(), machine_prefix="", ca_file=None,
                 services=None, directory=None):
        self.state_dir = os.path.abspath(state_dir or os.path.join(lab_dir(), "hosts"))
        self.network = network
        self.image = image
        self.machine_prefix = machine_prefix
        self.ca_file = ca_file
        self.services = dict(services or {})
        self.directory = directory
        self.admin_user = ADMIN_USER
        self.admin_key = os.path.join(self.state_dir, "admin_ed25519")
        self.known_hosts = os.path.join(self.state_dir, "known_hosts")
        self.ssh_config = os.path.join(self.state_dir, "ssh_config")

    def host(self, name):
        if not name or not name.replace("-", "").isalnum() or len(name) > 40:
            raise ValueError("bad host name %r" % name)
        return LabHost(name, os.path.join(self.state_dir, name), self.machine_prefix + name)

    def hosts_on_disk(self):
        if not os.path.isdir(self.state_dir):
            return []
        return [self.host(name) for name in sorted(os.listdir(self.state_dir))
                if os.path.isfile(os.path.join(self.state_dir, name, "host.json"))]

    # addresses: the default hosts have fixed ones; any other host keeps the one it was given first

    def _extra_numbers(self):
        try:
            with open(os.path.join(self.state_dir, "addresses.json"), encoding="utf-8") as handle:
                return json.load(handle)
        except FileNotFoundError:
            return {}

    def address_of(self, name):
        number = self.network.default_host_number(name)
        if number is None:
            numbers = self._extra_numbers()
            if name not in numbers:
                numbers[name] = max(numbers.values(), default=FIRST_EXTRA_HOST_NUMBER - 1) + 1
                with open(os.path.join(self.state_dir, "addresses.json"), "w", encoding="utf-8") as handle:
                    json.dump(numbers, handle, indent=2)
            number = numbers[name]
        return self.network.address(number)

    def addresses(self, extra_names=()):
        names = set(DEFAULT_HOSTS) | {host.name for host in self.hosts_on_disk()} | set(extra_names)
        return {name: self.address_of(name) for name in names}

    @contextlib.contextmanager
    def _exclusive(self):
        """One up or down at a time on a lab folder."""
        os.makedirs(self.state_dir, mode=0o700, exist_ok=True)
        with open(os.path.join(self.state_dir, ".lock"), "w", encoding="utf-8") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise LabBusy("another up or down is running on %s" % self.state_dir) from None
            yield

    # commands

    def up(self, names=DEFAULT_HOSTS, log=print, timeout=180):
        """Boot the named hosts that are not running (or run an older image); returns when all of them answer ssh."""
        ensure_host_tools()
        image = ensure_image(self.image, log)
        with self._exclusive():
            return self._up(image, names, log, timeout)

    def _up(self, image, names, log, timeout):
        self.clean_up_stale(log)
        ensure_bridge(self.network)
        admin_public_key = ensure_admin_key(self.admin_key)
        addresses = self.addresses(names)
        hosts = [self.host(name) for name in names]
        booted = set()
        for host in hosts:
            if host.is_running() and host.read_state().get("image") != image.key:
                # A running host would otherwise go on with the packages of an image that is no longer the lab's.
                log("restarting %s on the new image %s" % (host.name, image.key))
                host.stop()
            if host.is_running():
                continue
            booted.add(host.name)
            os.makedirs(host.folder, exist_ok=True)
            host.write_state(address=addresses[host.name])
            host.mount(image.rootfs, image.key)
            provision(host.root, host.name, addresses[host.name], self.network.prefix_length,
                      self.admin_user, admin_public_key, addresses, self.services, self.ca_file)
            if self._reads_directory(host):
                install_directory_client(host.root, self.directory)
            host.start(self.network.bridge)
            log("booting %s (%s)" % (host.name, host.address))
        for host in self.hosts_on_disk():
            if host.is_running() and host.name not in booted:
                write_hosts_file(host.root, host.name, addresses, self.services)
                if install_ca(host.root, self.ca_file, run=lambda argv, host=host: host.inside(*argv)):
                    log("lab CA updated on %s" % host.name)
                if self._reads_directory(host) and install_directory_client(
                        host.root, self.directory, run=lambda argv, host=host: host.inside(*argv)):
                    log("directory client updated on %s" % host.name)
        wait_until_ready(hosts, timeout)
        self.write_client_files()
        return hosts

    def _reads_directory(self, host):
        return bool(self.directory) and host.name in self.directory["hosts"]

    def write_client_files(self):
        """known_hosts with each mounted host's real sshd key, and an ssh_config naming every host."""
        mounted = [host for host in self.hosts_on_disk() if host.is_mounted()]
        write_known_hosts(self.known_hosts, [((host.name, host.address), host_public_key(host.root))
                                             for host in mounted])
        write_ssh_config(self.ssh_config, {host.name: host.address for host in mounted},
                         self.admin_user, self.admin_key, self.known_hosts)

    def clean_up_stale(self, log=print):
        """A host whose nspawn is gone (killed lab, crash): stop what is left of it and unmount its root."""
        for host in self.hosts_on_disk():
            if not host.is_running() and (host.nspawn_process or host.systemd_process or host.is_mounted()):
                log("cleaning up %s, left over from a lab that was not stopped" % host.name)
                host.stop(timeout=5)
        remove_unheld_locks()

    def down(self, wipe=False, log=print):
        """Stop every host, unmount every root, delete the bridge; wipe also deletes the hosts' folders."""
        if os.path.isdir(self.state_dir):
            with self._exclusive():
                for host in self.hosts_on_disk():
                    if host.is_running():
                        log("stopping %s" % host.name)
                    host.stop()
                unmount_all_under(self.state_dir)
                remove_unheld_locks()
        delete_bridge(self.network.bridge)
        # Checked again because deleting through a root still mounted would delete inside that host.
        if wipe and os.path.isdir(self.state_dir) and not mounts_under(self.state_dir):
            shutil.rmtree(self.state_dir)

    def status(self):
        """(name, address, state) for every host the lab has set up."""
        return [(host.name, host.address, host.system_state()) for host in self.hosts_on_disk()]

    def ssh_command(self, name, *command):
        """argv for ssh to the host as the admin, checking its key against the lab's known_hosts."""
        return ssh_argv(self.admin_user, self.host(name).address, self.admin_key, self.known_hosts, *command)
