"""What the HTTPS emulator services (portal, aps_dm, aps_beamtime) share: seed files, 0600 secret files, argv, URLs.

Each serves HTTPS with the lab CA's server certificate on every lab listen address:
``url`` (https://127.0.0.1:PORT) is for the controller, ``host_url`` (https://services.lab:PORT)
for the lab hosts.

No NAME here, so the supervisor does not take this module for a service.
"""

import os

import yaml


def url(port):
    """The controller's URL of the emulator on port (the certificate names 127.0.0.1)."""
    return "https://127.0.0.1:%d" % port


def host_url(port):
    """The lab hosts' URL of the emulator on port (services.lab is the controller's bridge address)."""
    from tests.lab.ca import DNS_NAME

    return "https://%s:%d" % (DNS_NAME, port)


def seed_path(lab, name):
    """tests/lab/seeds/<name>.yml."""
    return os.path.join(lab.repo, "tests", "lab", "seeds", name + ".yml")


def seed(lab, name):
    with open(seed_path(lab, name)) as handle:
        return yaml.safe_load(handle)


def write_private(path, text):
    """Write ``text`` to ``path`` (mode 0600) atomically."""
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(path + ".tmp", path)


def command(lab, module, port, seed_name, state=None):
    """argv of ``python -m <module> --port P --seed S [--state .lab/<state>]`` + TLS and bind options."""
    argv = [lab.python, "-m", module, "--port", str(port), "--seed", seed_path(lab, seed_name)]
    if state:
        argv += ["--state", lab.path(*state)]
    return argv + lab.tls_args()
