"""APS scheduling (beam-api) emulator on 127.0.0.1:8704, HTTP Basic auth."""

import os

import yaml

from tests.lab.supervisor import port_open

NAME = "aps_beamtime"
ORDER = 50
PORT = 8704


def _seed(lab):
    return os.path.join(lab.repo, "tests", "lab", "seeds", "aps_beamtime.yml")


def prepare(lab):
    directory = lab.ensure_dir("aps_beamtime", mode=0o700)
    with open(_seed(lab)) as handle:
        creds = yaml.safe_load(handle)["credentials"]
    path = os.path.join(directory, "credentials")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("%s|%s\n" % (creds["username"], creds["password"]))


def command(lab):
    return [lab.python, "-m", "tests.lab.beamtime.server", "--port", str(PORT), "--seed", _seed(lab)]


def ready(lab):
    return port_open(PORT)


def endpoints(lab):
    return {"url": "http://127.0.0.1:%d" % PORT, "credentials_file": lab.path("aps_beamtime", "credentials"),
            "beamline": "2-BM-A,B", "admin_url": "http://127.0.0.1:%d/_lab" % PORT}
