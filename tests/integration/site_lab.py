"""Helpers for tests on the lab's booted hosts (inventories/lab): are they up, run a command
on one as root over SSH, and deploy playbooks/site.yml to them (once per session: the
`lab_site` fixture in conftest.py)."""

import json
import os
import shlex
import subprocess

from tests.lab.hosts.wheelhouse import link_into_lab


def hosts_up(lab):
    """Whether `make lab-up` booted the hosts (their addresses and known_hosts are written)."""
    try:
        with open(lab.path("endpoints.json")) as handle:
            network = json.load(handle).get("network", {})
    except (OSError, ValueError):
        return False
    return bool(network.get("hosts")) and os.path.exists(lab.path("hosts", "known_hosts"))


def ssh(lab, host, *command, timeout=300):
    """Run ``command`` (an argv, quoted for the remote shell) as root on ``host`` via the admin's sudo."""
    config = lab.path("hosts", "ssh_config")
    return subprocess.run(["ssh", "-F", config, host, shlex.join(["sudo", "-n"] + list(command))],
                          capture_output=True, text=True, check=False, timeout=timeout)


def deploy_site(lab, ansible_playbook):
    """playbooks/site.yml over SSH as a facility runs it (inventories/lab); the playbook result."""
    link_into_lab(lab.root, ("3.11",))
    result = ansible_playbook("-i", "inventories/lab", "playbooks/site.yml", env={"ANSIBLE_INVENTORY": ""})
    assert "failed=0" in result.stdout and "unreachable=0" in result.stdout, result
    return result
