"""rsync --daemon on port 44520 of every lab listen address with auth users and a secrets file: the pool server.

rsync binds one --address per daemon, so with two listen addresses two daemons share the
configuration under one shell (one process group: the supervisor stops them together).
"""

import os
import shlex

from tests.lab import pools
from tests.lab.ca import DNS_NAME
from tests.lab.supervisor import port_open

NAME = "rsyncd"
ORDER = 20
PORT = 44520
USER = "pacs"
PASSWORD = "lab-pool-password"


def _write_private(path, text):
    with open(path, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


def prepare(lab):
    directory = lab.ensure_dir("rsyncd")
    _write_private(os.path.join(directory, "rsyncd.secrets"), "%s:%s\n" % (USER, PASSWORD))
    _write_private(os.path.join(directory, "client.password"), PASSWORD + "\n")
    lines = [
        "use chroot = no",
        "read only = yes",
        "list = yes",
        "uid = %s" % lab.user,
        "gid = %s" % __import__("grp").getgrgid(os.getgid()).gr_name,
        "",
    ]
    for module in pools.modules(lab):
        lines += [
            "[%s]" % module["name"],
            "    path = %s" % module["path"],
            "    comment = %s" % module["comment"],
            "    auth users = %s" % USER,
            "    secrets file = %s" % os.path.join(directory, "rsyncd.secrets"),
            "    strict modes = yes",
            # Serve symlinks as they are (without chroot rsync would munge them).
            "    munge symlinks = no",
            "",
        ]
    with open(os.path.join(directory, "rsyncd.conf"), "w") as handle:
        handle.write("\n".join(lines))


def _daemon(lab, address):
    return ["rsync", "--daemon", "--no-detach", "--address=%s" % address, "--port=%d" % PORT,
            "--config=%s" % lab.path("rsyncd", "rsyncd.conf"), "--log-file=%s" % lab.path("logs", "rsyncd-transfers.log")]


def command(lab):
    addresses = lab.listen_addresses()
    if len(addresses) == 1:
        return _daemon(lab, addresses[0])
    script = " & ".join(shlex.join(_daemon(lab, address)) for address in addresses)
    # When one daemon ends, end the other too, so the supervisor sees the service gone.
    return ["bash", "-c", "%s & wait -n; kill 0" % script]


def ready(lab):
    return port_open(PORT)


def endpoints(lab):
    return {
        "host": "127.0.0.1",
        "lab_host": DNS_NAME,
        "port": PORT,
        "user": USER,
        "password_file": lab.path("rsyncd", "client.password"),
        "modules": [m["name"] for m in pools.modules(lab)],
    }
