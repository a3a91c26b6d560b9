"""APS Data Management emulator (DS + DAQ services), HTTPS on port 8703 of every lab listen address."""

import os

from tests.lab.services import _emulator
from tests.lab.supervisor import port_open

NAME = "aps_dm"
ORDER = 50
PORT = 8703


def prepare(lab):
    account = _emulator.seed(lab, NAME)["accounts"][0]
    login = os.path.join(lab.ensure_dir(NAME, mode=0o700), "login")
    _emulator.write_private(login, "%s|%s\n" % (account["username"], account["password"]))


def command(lab):
    return _emulator.command(lab, "tests.lab.aps_dm.server", PORT, NAME, state=(NAME, "state.json"))


def ready(lab):
    return port_open(PORT)


def env(lab):
    url = _emulator.url(PORT)
    return {"DM_DS_WEB_SERVICE_URL": url, "DM_DAQ_WEB_SERVICE_URL": url, "DM_LOGIN_FILE": lab.path(NAME, "login")}


def hosts_env(lab):
    url = _emulator.host_url(PORT)
    return {"DM_DS_WEB_SERVICE_URL": url, "DM_DAQ_WEB_SERVICE_URL": url}


def endpoints(lab):
    url = _emulator.url(PORT)
    return {"ds_url": url, "daq_url": url, "host_url": _emulator.host_url(PORT), "ca_file": lab.ca()["ca_file"],
            "login_file": lab.path(NAME, "login"), "station": "2-BM-A,B",
            "admin_url": url + "/_lab", "state_file": lab.path(NAME, "state.json")}
