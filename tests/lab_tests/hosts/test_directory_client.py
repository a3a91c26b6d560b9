"""Which lab hosts read the lab's directory and how their client is set up: beamline1 and analysis1 run nslcd
with a root-only configuration (it holds the reader's password) and look accounts up after the local files;
the other hosts keep local files only (nslcd off, no pam_ldap). What the hosts then resolve and refuse:
tests/integration/test_hosts_directory.py."""

import os
import subprocess

import pytest

from tests.lab.services.slapd import CLIENT_HOSTS

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="booting lab hosts needs root")


def _as_admin(lab, host, script):
    argv = lab.host_lab().ssh_command(host, "sh", "-c", script)
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)


@pytest.fixture(scope="module")
def lab_hosts(lab):
    lab.up(hosts=True)
    return lab


@pytest.mark.parametrize("host", ["beamline1", "analysis1", "portal1"])
def test_only_the_client_hosts_read_the_directory(lab_hosts, host):
    reads = host in CLIENT_HOSTS
    state = _as_admin(lab_hosts, host, "systemctl is-active nslcd; grep -E '^(passwd|group|shadow):' /etc/nsswitch.conf; "
                                       "grep -c pam_ldap /etc/pam.d/common-account; sudo -n stat -c '%a %U:%G' /etc/nslcd.conf")
    lines = state.stdout.splitlines()
    assert lines[0] == ("active" if reads else "inactive"), state.stdout
    assert all(line.split()[-1] == ("ldap" if reads else "files") for line in lines[1:4]), state.stdout
    assert lines[4] == ("1" if reads else "0"), state.stdout
    if reads:
        assert lines[5] == "600 root:root", state.stdout
        # the reader's password is root's: the admin without sudo cannot read it
        assert _as_admin(lab_hosts, host, "cat /etc/nslcd.conf").returncode != 0
