"""rsync --daemon on 127.0.0.1:44520 with auth users and a secrets file: the pool server."""

import os

from tests.lab import pools
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
        "pid file = %s" % os.path.join(directory, "rsyncd.pid"),
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


def command(lab):
    return ["rsync", "--daemon", "--no-detach", "--address=127.0.0.1", "--port=%d" % PORT,
            "--config=%s" % lab.path("rsyncd", "rsyncd.conf"), "--log-file=%s" % lab.path("logs", "rsyncd-transfers.log")]


def ready(lab):
    return port_open(PORT)


def endpoints(lab):
    return {
        "host": "127.0.0.1",
        "port": PORT,
        "user": USER,
        "password_file": lab.path("rsyncd", "client.password"),
        "modules": [m["name"] for m in pools.modules(lab)],
    }
