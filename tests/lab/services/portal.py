"""Synchrotron portal emulator on 127.0.0.1:8702, plus the EPN source tree the lab sshd serves."""

import os

import yaml

from tests.lab.portal import source_tree
from tests.lab.supervisor import port_open

NAME = "portal"
ORDER = 40
PORT = 8702
# Equipment only the tests and the benchmark use (fault injection, hostile names, the bench EPNs).
TEST_ONLY = (55, 77, 99)


def _seed_path(lab):
    return os.path.join(lab.repo, "tests", "lab", "seeds", "portal.yml")


def _seed(lab):
    with open(_seed_path(lab)) as handle:
        return yaml.safe_load(handle)


def prepare(lab):
    directory = lab.ensure_dir("portal", mode=0o700)
    seed = _seed(lab)
    # The credentials file the modules read, in ASSyncy's `equipment:` shape (0600).
    credentials = {"equipment": [{k: item[k] for k in ("id", "username", "password", "client_name", "client_password")}
                                 for item in seed["equipment"]]}
    path = os.path.join(directory, "credentials.yml")
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        yaml.safe_dump(credentials, handle, sort_keys=False)
    os.replace(path + ".tmp", path)
    source_tree.build(lab)


def command(lab):
    return [lab.python, "-m", "tests.lab.portal.server", "--port", str(PORT), "--seed", _seed_path(lab),
            "--state", lab.path("portal", "state.json")]


def ready(lab):
    return port_open(PORT)


def endpoints(lab):
    return {
        "url": "http://127.0.0.1:%d" % PORT,
        "credentials_file": lab.path("portal", "credentials.yml"),
        "equipment": [{"id": item["id"], "beamline": item["beamline"]} for item in _seed(lab)["equipment"] if item["id"] not in TEST_ONLY],
        "source_root": source_tree.source_root(lab),
    }


def env(lab):
    return {"DATASYNC_LAB_PORTAL_URL": "http://127.0.0.1:%d" % PORT}
