"""OpenSSH sshd on port 2222 of every lab listen address: key login only, for the lab user (the synchrotron
source, stand-in remote hosts). known_hosts names it as 127.0.0.1, 10.213.0.1 and services.lab."""

import os
import subprocess

from tests.lab.ca import DNS_NAME
from tests.lab.supervisor import port_open

NAME = "sshd"
ORDER = 10
PORT = 2222

CONFIG = """\
Port {port}
{listen}
HostKey {dir}/ssh_host_ed25519_key
PidFile {dir}/sshd.pid
AuthorizedKeysFile {dir}/authorized_keys
AllowUsers {user}
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
LogLevel VERBOSE
"""


def _keygen(path):
    if not os.path.exists(path):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "datasync-lab", "-f", path], check=True)


def prepare(lab):
    directory = lab.ensure_dir("sshd", mode=0o700)
    keys = lab.ensure_dir("keys", mode=0o700)
    _keygen(os.path.join(directory, "ssh_host_ed25519_key"))
    _keygen(os.path.join(keys, "lab_ed25519"))
    with open(os.path.join(keys, "lab_ed25519.pub")) as handle:
        client_key = handle.read()
    with open(os.path.join(directory, "authorized_keys"), "w") as handle:
        handle.write(client_key)
    with open(os.path.join(directory, "ssh_host_ed25519_key.pub")) as handle:
        host_key = " ".join(handle.read().split()[:2])
    with open(os.path.join(keys, "known_hosts"), "w") as handle:
        handle.write("[127.0.0.1]:%d %s\n" % (PORT, host_key))
        handle.write("[%s]:%d,[%s]:%d %s\n" % (lab.controller_address, PORT, DNS_NAME, PORT, host_key))
    listen = "\n".join("ListenAddress %s" % address for address in lab.listen_addresses())
    with open(os.path.join(directory, "sshd_config"), "w") as handle:
        handle.write(CONFIG.format(port=PORT, dir=directory, user=lab.user, listen=listen))
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)


def command(lab):
    return ["/usr/sbin/sshd", "-D", "-e", "-f", lab.path("sshd", "sshd_config")]


def ready(lab):
    return port_open(PORT)


def endpoints(lab):
    return {
        "host": "127.0.0.1",
        "lab_host": DNS_NAME,
        "port": PORT,
        "user": lab.user,
        "key_file": lab.path("keys", "lab_ed25519"),
        "known_hosts": lab.path("keys", "known_hosts"),
    }
