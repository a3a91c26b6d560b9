"""APS scheduling (beam-api) emulator, HTTPS on port 8704 of every lab listen address, HTTP Basic auth."""

import os

from tests.lab.services import _emulator
from tests.lab.supervisor import port_open

NAME = "aps_beamtime"
ORDER = 50
PORT = 8704


def prepare(lab):
    creds = _emulator.seed(lab, NAME)["credentials"]
    path = os.path.join(lab.ensure_dir(NAME, mode=0o700), "credentials")
    _emulator.write_private(path, "%s|%s\n" % (creds["username"], creds["password"]))


def command(lab):
    return _emulator.command(lab, "tests.lab.beamtime.server", PORT, NAME)


def ready(lab):
    return port_open(PORT)


def endpoints(lab):
    return {"url": _emulator.url(PORT), "host_url": _emulator.host_url(PORT), "ca_file": lab.ca()["ca_file"],
            "credentials_file": lab.path(NAME, "credentials"),
            "beamline": "2-BM-A,B", "admin_url": _emulator.url(PORT) + "/_lab"}
