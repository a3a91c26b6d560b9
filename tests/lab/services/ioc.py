"""A Channel Access IOC (caproto) on port 15064 of every lab listen address (TCP and UDP search; repeater 15065 on
127.0.0.1) with the TomoScan user PVs. The hosts use EPICS_CA_ADDR_LIST=10.213.0.1, EPICS_CA_AUTO_ADDR_LIST=NO."""

import os

from tests.lab.supervisor import port_open

NAME = "ioc"
ORDER = 40
PORT = 15064
REPEATER_PORT = 15065


def _seed(lab):
    # DATASYNC_IOC_SEED serves other prefixes or values (same format as tests/lab/seeds/ioc.yml).
    return os.environ.get("DATASYNC_IOC_SEED") or os.path.join(lab.repo, "tests", "lab", "seeds", "ioc.yml")


def prepare(lab):
    lab.ensure_dir("ioc")


def command(lab):
    argv = [lab.python, "-m", "tests.lab.ioc.server", "--seed", _seed(lab)]
    for address in lab.listen_addresses():
        argv += ["--bind", address]
    return argv


def env(lab):
    return {
        "EPICS_CA_ADDR_LIST": "127.0.0.1",
        "EPICS_CA_AUTO_ADDR_LIST": "NO",
        "EPICS_CA_SERVER_PORT": str(PORT),
        "EPICS_CA_REPEATER_PORT": str(REPEATER_PORT),
    }


def process_env(lab):
    return env(lab)


def ready(lab):
    return port_open(PORT)


def endpoints(lab):
    return {"host": "127.0.0.1", "port": PORT, "repeater_port": REPEATER_PORT, "addr_list": "127.0.0.1",
            "lab_host": lab.controller_address, "hosts_env": hosts_env(lab),
            "seed": _seed(lab), "prefix": "2bma:TomoScan:"}


def hosts_env(lab):
    """The Channel Access environment of a client on a lab host."""
    return dict(env(lab), EPICS_CA_ADDR_LIST=lab.controller_address)
