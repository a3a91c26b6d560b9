"""SSH keys: the lab's admin key pair (private half under the lab folder) and each host's sshd key."""

from __future__ import annotations

import os
import subprocess

HOST_KEY = "etc/ssh/ssh_host_ed25519_key"


def _generate(path, comment):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path],
                   check=True, capture_output=True)


def ensure_admin_key(path):
    """The admin's key pair at path and path.pub; returns the public key line."""
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        _generate(path, "datasync-lab-admin")
    with open(path + ".pub", encoding="utf-8") as handle:
        return handle.read().strip()


def ensure_host_key(root, hostname):
    """The host's own sshd key, generated into its root on first setup."""
    path = os.path.join(root, HOST_KEY)
    if not os.path.exists(path):
        _generate(path, "root@" + hostname)


def host_public_key(root):
    """'TYPE BASE64' of the key the host's sshd presents, read from its root filesystem."""
    with open(os.path.join(root, HOST_KEY + ".pub"), encoding="utf-8") as handle:
        key_type, key_data = handle.read().split()[:2]
    return "%s %s" % (key_type, key_data)


def write_known_hosts(path, entries):
    """entries: (names, public key) pairs; written whole, then renamed into place."""
    lines = ["%s %s\n" % (",".join(names), key) for names, key in entries]
    temporary = path + ".tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.writelines(lines)
    os.replace(temporary, path)
