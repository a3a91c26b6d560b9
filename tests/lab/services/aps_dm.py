"""APS Data Management emulator (DS + DAQ services) on 127.0.0.1:8703."""

import os

import yaml

from tests.lab.supervisor import port_open

NAME = "aps_dm"
ORDER = 50
PORT = 8703


def _seed(lab):
    return os.path.join(lab.repo, "tests", "lab", "seeds", "aps_dm.yml")


def prepare(lab):
    directory = lab.ensure_dir("aps_dm", mode=0o700)
    with open(_seed(lab)) as handle:
        account = yaml.safe_load(handle)["accounts"][0]
    login = os.path.join(directory, "login")
    fd = os.open(login, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("%s|%s\n" % (account["username"], account["password"]))


def command(lab):
    return [lab.python, "-m", "tests.lab.aps_dm.server", "--port", str(PORT), "--seed", _seed(lab),
            "--state", lab.path("aps_dm", "state.json")]


def ready(lab):
    return port_open(PORT)


def env(lab):
    url = "http://127.0.0.1:%d" % PORT
    return {"DM_DS_WEB_SERVICE_URL": url, "DM_DAQ_WEB_SERVICE_URL": url, "DM_LOGIN_FILE": lab.path("aps_dm", "login")}


def endpoints(lab):
    url = "http://127.0.0.1:%d" % PORT
    return {"ds_url": url, "daq_url": url, "login_file": lab.path("aps_dm", "login"), "station": "2-BM-A,B",
            "admin_url": url + "/_lab", "state_file": lab.path("aps_dm", "state.json")}
