"""The Debian packages the controller needs to build and boot lab hosts, installed when missing."""

from __future__ import annotations

import os
import subprocess

HOST_TOOLS = ("mmdebstrap", "systemd-container", "iproute2", "openssh-client")


class MissingSystemPackages(Exception):
    pass


def missing(packages):
    return [name for name in packages
            if subprocess.run(["dpkg-query", "-W", "-f=${Status}", name], capture_output=True, text=True,
                              check=False).stdout.strip() != "install ok installed"]


def ensure_host_tools(packages=HOST_TOOLS):
    """Install what is missing (as root), or say what to install."""
    absent = missing(packages)
    if not absent:
        return []
    if os.geteuid() != 0:
        raise MissingSystemPackages("missing %s; as root run: apt-get update && apt-get install -y %s"
                                    % (", ".join(absent), " ".join(absent)))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *absent], check=True, env=env)
    return absent
