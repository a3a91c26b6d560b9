"""A lab whose nspawn processes were killed (kill -9, as a crashed or interrupted run leaves it) is
cleaned up by the next up, and the down after it leaves nothing: no mounts, no container processes,
no bridge, no nspawn runtime files in /run. Its own folder, bridge and subnet, as test_host_machines."""

import glob
import os
import signal

import pytest

from tests.lab.hosts.lab import HostLab, lab_dir
from tests.lab.hosts.network import LabNetwork, bridge_exists
from tests.lab.hosts.nspawn_runtime import RUNTIME
from tests.lab.hosts.overlay import mounts_under
from tests.lab.hosts.processes import pids_mentioning

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="booting lab hosts needs root")

HOST = "detector1"
PREFIX = "k-"


def _quiet(message):
    return None


def _lock_files():
    return set(glob.glob(os.path.join(RUNTIME, "locks", "inode-*")))


@pytest.fixture
def killed_lab():
    lab = HostLab(os.path.join(lab_dir(), "test-killed"), LabNetwork("dslabkill0", "10.213.249.0/24"),
                  machine_prefix=PREFIX)
    lab.down(wipe=True, log=_quiet)
    try:
        yield lab
    finally:
        lab.down(wipe=True, log=_quiet)


def test_a_killed_lab_is_cleaned_up_by_the_next_up_and_down_leaves_nothing(killed_lab):
    locks_before = _lock_files()
    killed_lab.up([HOST], log=_quiet)
    host = killed_lab.host(HOST)
    nspawn, init = host.nspawn_process, host.find_systemd()
    assert nspawn.alive() and init.alive()
    os.kill(nspawn.pid, signal.SIGKILL)
    # What the kill leaves: the root still mounted, the bridge, nspawn's files in /run.
    assert host.is_mounted() and bridge_exists(killed_lab.network.bridge)
    assert not host.is_running()

    messages = []
    killed_lab.up([HOST], log=messages.append)
    assert any("left over" in message for message in messages), messages
    assert not init.alive()
    assert host.is_running() and host.system_state() in ("running", "degraded")
    assert host.find_systemd().pid != init.pid

    killed_lab.down(log=_quiet)
    assert mounts_under(killed_lab.state_dir) == []
    assert pids_mentioning(killed_lab.state_dir) == []
    assert not bridge_exists(killed_lab.network.bridge)
    assert not os.path.exists(os.path.join(RUNTIME, "propagate", PREFIX + HOST))
    # No lock file of this lab is left (another nspawn user of this machine may hold its own).
    assert _lock_files() - locks_before == set(), sorted(_lock_files() - locks_before)
