"""How the controller reaches the hosts: an ssh_config for `ssh -F`, and ssh argv for the tests.

Host keys are always checked, against the lab's own known_hosts.
"""

from __future__ import annotations

import os
import shlex


def client_options(admin_key, known_hosts):
    return {"IdentityFile": admin_key, "IdentitiesOnly": "yes", "BatchMode": "yes",
            "StrictHostKeyChecking": "yes", "UserKnownHostsFile": known_hosts,
            "GlobalKnownHostsFile": "/dev/null", "ConnectTimeout": "10"}


def write_ssh_config(path, addresses, user, admin_key, known_hosts):
    """`ssh -F path NAME` reaches host NAME as user; addresses maps host names to addresses."""
    lines = []
    for name, address in sorted(addresses.items()):
        lines += ["Host %s" % name, "    HostName %s" % address, ""]
    lines.append("Host *")
    lines.append("    User %s" % user)
    lines += ["    %s %s" % item for item in client_options(admin_key, known_hosts).items()]
    temporary = path + ".tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    os.replace(temporary, path)


def ssh_argv(user, address, admin_key, known_hosts, *command):
    """ssh argv that runs command (an argv) on the host; sshd hands it to a shell, so it is quoted here."""
    options = [part for key, value in client_options(admin_key, known_hosts).items()
               for part in ("-o", "%s=%s" % (key, value))]
    return ["ssh", *options, "%s@%s" % (user, address), *([shlex.join(command)] if command else [])]
