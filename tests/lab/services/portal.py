"""Synchrotron portal emulator (HTTPS, port 8702 of every lab listen address), plus the EPN source tree the lab sshd serves."""

import os

import yaml

from tests.lab.portal import source_tree
from tests.lab.services import _emulator
from tests.lab.supervisor import port_open

NAME = "portal"
ORDER = 40
PORT = 8702
# Equipment only the tests and the benchmark use (fault injection, hostile names, the bench EPNs).
TEST_ONLY = (55, 77, 99)


def prepare(lab):
    directory = lab.ensure_dir("portal", mode=0o700)
    seed = _emulator.seed(lab, NAME)
    # The credentials file the modules read, in ASSyncy's `equipment:` shape (0600).
    credentials = {"equipment": [{k: item[k] for k in ("id", "username", "password", "client_name", "client_password")}
                                 for item in seed["equipment"]]}
    _emulator.write_private(os.path.join(directory, "credentials.yml"), yaml.safe_dump(credentials, sort_keys=False))
    source_tree.build(lab)


def command(lab):
    return _emulator.command(lab, "tests.lab.portal.server", PORT, NAME, state=(NAME, "state.json"))


def ready(lab):
    return port_open(PORT)


def endpoints(lab):
    return {
        "url": _emulator.url(PORT),
        "host_url": _emulator.host_url(PORT),
        "ca_file": lab.ca()["ca_file"],
        "credentials_file": lab.path("portal", "credentials.yml"),
        "equipment": [{"id": item["id"], "beamline": item["beamline"]} for item in _emulator.seed(lab, NAME)["equipment"] if item["id"] not in TEST_ONLY],
        "source_root": source_tree.source_root(lab),
    }


def hosts_env(lab):
    return {"DATASYNC_LAB_PORTAL_URL": _emulator.host_url(PORT)}


def env(lab):
    return {"DATASYNC_LAB_PORTAL_URL": _emulator.url(PORT)}
