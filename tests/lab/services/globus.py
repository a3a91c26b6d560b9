"""Globus Auth + Groups v2 + Transfer v0.10 emulator (tests/lab/globus/): HTTPS on port 8701 of every lab listen address."""

import os

import yaml

from tests.lab.ca import DNS_NAME
from tests.lab.supervisor import port_open

NAME = "globus"
ORDER = 40
PORT = 8701
URL = "https://127.0.0.1:%d/" % PORT
SEED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "seeds", "globus-demo.yml")


def _seed():
    with open(os.environ.get("GLOBUS_LAB_SEED") or SEED) as handle:
        return yaml.safe_load(handle)


def _lab_client():
    return _seed()["clients"][0]


def prepare(lab):
    directory = lab.ensure_dir("globus")
    lab.ensure_dir("globus", "collections")
    client = _lab_client()
    secret_file = os.path.join(directory, "client.secret")
    fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(client["secret"] + "\n")
    os.chmod(secret_file, 0o600)


def command(lab):
    return [lab.python, "-m", "tests.lab.globus.server", "--port", str(PORT), "--state-dir", lab.path("globus"),
            "--seed", os.environ.get("GLOBUS_LAB_SEED") or SEED] + lab.tls_args()


def ready(lab):
    return port_open(PORT)


def endpoints(lab):
    seed = _seed()
    client = seed["clients"][0]
    return {
        "url": URL,
        "host_url": "https://%s:%d/" % (DNS_NAME, PORT),
        "ca_file": lab.ca()["ca_file"],
        "admin_url": URL + "_lab/",
        "client_id": client["id"],
        "client_secret_file": lab.path("globus", "client.secret"),
        "client_username": "%s@clients.auth.globus.org" % client["id"],
        "other_client_id": seed["clients"][1]["id"] if len(seed["clients"]) > 1 else None,
        "root_group_id": seed["groups"][0]["id"],
        "groups": {g["name"]: g["id"] for g in seed.get("groups", [])},
        "collections": {c.get("folder") or c["id"]: c["id"] for c in seed.get("collections", [])},
        "collections_dir": lab.path("globus", "collections"),
        "state_file": lab.path("globus", "state.json"),
    }


def hosts_env(lab):
    url = "https://%s:%d/" % (DNS_NAME, PORT)
    return dict(env(lab), GLOBUS_SDK_SERVICE_URL_AUTH=url, GLOBUS_SDK_SERVICE_URL_GROUPS=url,
                GLOBUS_SDK_SERVICE_URL_TRANSFER=url, GLOBUS_SDK_SERVICE_URL_TIMER=url)


def env(lab):
    client = _lab_client()
    return {
        "GLOBUS_SDK_ENVIRONMENT": "lab",
        "GLOBUS_SDK_SERVICE_URL_AUTH": URL,
        "GLOBUS_SDK_SERVICE_URL_GROUPS": URL,
        "GLOBUS_SDK_SERVICE_URL_TRANSFER": URL,
        "GLOBUS_SDK_SERVICE_URL_TIMER": URL,  # globus_sdk.config names the Timers service "timer"
        "GLOBUS_CLI_CLIENT_ID": client["id"],
        "GLOBUS_CLI_CLIENT_SECRET": client["secret"],
    }
