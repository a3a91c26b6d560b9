"""The lab network: one bridge on the controller, and a fixed address for each host on it.

Hosts get no gateway, so the only network they can reach is the lab's own.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import subprocess

DEFAULT_HOSTS = ("portal1", "transfer1", "beamline1", "detector1", "analysis1", "mirror1")
# Host numbers for the default hosts; any other name gets a free number from 100 up, remembered by the lab.
FIRST_DEFAULT_HOST_NUMBER = 11
FIRST_EXTRA_HOST_NUMBER = 100


@dataclasses.dataclass(frozen=True)
class LabNetwork:
    bridge: str = "dslab0"
    subnet: str = "10.213.0.0/24"

    @property
    def prefix_length(self):
        return ipaddress.ip_network(self.subnet).prefixlen

    def address(self, number):
        return str(ipaddress.ip_network(self.subnet).network_address + number)

    @property
    def controller_address(self):
        return self.address(1)

    def default_host_number(self, name):
        if name in DEFAULT_HOSTS:
            return FIRST_DEFAULT_HOST_NUMBER + DEFAULT_HOSTS.index(name)
        return None


def _ip(*args, check=True):
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


def bridge_exists(name):
    return _ip("link", "show", "dev", name, check=False).returncode == 0


def ensure_bridge(network):
    """The bridge exists, is up and holds the controller's address (idempotent)."""
    if not bridge_exists(network.bridge):
        _ip("link", "add", network.bridge, "type", "bridge")
    controller = "%s/%d" % (network.controller_address, network.prefix_length)
    if controller not in _ip("-o", "addr", "show", "dev", network.bridge).stdout:
        _ip("addr", "add", controller, "dev", network.bridge)
    _ip("link", "set", network.bridge, "up")


def delete_bridge(name):
    if bridge_exists(name):
        _ip("link", "delete", name)
