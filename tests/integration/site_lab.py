"""Helpers for tests on the lab's booted hosts (inventories/lab): are they up, run a command
on one as root over SSH, and deploy playbooks/site.yml to them (once per session: the
`lab_site` fixture in conftest.py)."""

import json
import os
import shlex
import subprocess
import time

from tests.lab.hosts.wheelhouse import link_into_lab


def lab_file(lab):
    """.lab/endpoints.json: the services, the hosts' network and the environment a host's client needs."""
    with open(lab.path("endpoints.json"), encoding="utf-8") as handle:
        return json.load(handle)


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


def host_now(lab, host):
    """The host's clock as epoch seconds (journalctl --since @N, job log times)."""
    return int(ssh(lab, host, "date", "+%s").stdout.strip())


def wait_for(what, probe, timeout, interval=3):
    """Call probe() until it returns something true; that value, or an AssertionError naming what did not happen."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError("%s: not within %d s" % (what, timeout))
        time.sleep(interval)


def playbook_on_lab(ansible_playbook, playbook, *args):
    """A playbook with inventories/lab over SSH (as deploy_site), with extra arguments; the result (not checked)."""
    return ansible_playbook("-i", "inventories/lab", playbook, *args, env={"ANSIBLE_INVENTORY": ""}, check=False)
