"""Lab hosts behave as separate machines: systemd as PID 1, own name and accounts, sshd with
keys the controller checks, a network between them, cron and timers that fire, and a
teardown that leaves nothing behind.

The hosts boot into a lab of their own (folder, bridge, subnet), so a lab started with
`make lab-hosts-up` is left alone; the folder is fixed, so a run that was killed is
cleaned up by the next.
"""

import os
import subprocess
import time

import pytest

from tests.lab.hosts.lab import HostLab, lab_dir
from tests.lab.hosts.network import LabNetwork, bridge_exists
from tests.lab.hosts.overlay import mounts_under
from tests.lab.hosts.processes import pids_mentioning

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="booting lab hosts needs root")

HOST_A, HOST_B = "portal1", "mirror1"
PROBE_USER = "labprobe"


@pytest.fixture(scope="module")
def host_lab():
    lab = HostLab(os.path.join(lab_dir(), "test-hosts"), LabNetwork("dslabtest0", "10.213.250.0/24"),
                  machine_prefix="t-")
    lab.down(wipe=True, log=lambda message: None)  # whatever a killed run left, so every run starts from the image
    try:
        lab.up([HOST_A, HOST_B], log=lambda message: None)
        yield lab
    finally:
        lab.down(wipe=True, log=lambda message: None)


def ssh(lab, name, *command, input=None, known_hosts=None):
    argv = lab.ssh_command(name, *command)
    if known_hosts:
        argv = [part.replace(lab.known_hosts, known_hosts) for part in argv]
    return subprocess.run(argv, input=input, capture_output=True, text=True, timeout=60, check=False)


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "%s did not happen within %d s" % (what, timeout)
        time.sleep(1)


def test_systemd_is_pid_1_and_the_system_is_running(host_lab):
    for name in (HOST_A, HOST_B):
        host = host_lab.host(name)
        assert host.inside("cat", "/proc/1/comm").stdout.strip() == "systemd"
        state = host.inside("systemctl", "is-system-running", check=False).stdout.strip()
        assert state in ("running", "degraded"), (name, state)


def test_admin_logs_in_over_ssh_with_host_keys_checked(host_lab):
    for name in (HOST_A, HOST_B):
        login = ssh(host_lab, name, "sudo", "-n", "id", "-u")
        assert login.returncode == 0, login.stderr
        assert login.stdout.strip() == "0"


def test_ssh_refuses_a_host_whose_key_is_not_known(host_lab, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    login = ssh(host_lab, HOST_A, "true", known_hosts=str(empty))
    assert login.returncode == 255
    assert "Host key verification failed" in login.stderr


def test_hosts_have_their_own_names(host_lab):
    names = {name: ssh(host_lab, name, "hostname").stdout.strip() for name in (HOST_A, HOST_B)}
    assert names == {HOST_A: HOST_A, HOST_B: HOST_B}


def test_a_user_added_on_one_host_exists_only_there(host_lab):
    added = ssh(host_lab, HOST_A, "sudo", "-n", "useradd", "--no-create-home", PROBE_USER)
    assert added.returncode == 0, added.stderr
    assert ssh(host_lab, HOST_A, "getent", "passwd", PROBE_USER).returncode == 0
    assert ssh(host_lab, HOST_B, "getent", "passwd", PROBE_USER).returncode == 2
    with open(os.path.join(host_lab.image.rootfs, "etc/passwd"), encoding="utf-8") as image_passwd:
        assert PROBE_USER + ":" not in image_passwd.read()


def test_a_host_reaches_another_on_the_lab_network_and_nothing_beyond(host_lab):
    banner = ssh(host_lab, HOST_A, "python3", "-c",
                 "import socket; print(socket.create_connection(('%s', 22), 5).recv(7).decode())" % HOST_B)
    assert banner.stdout.strip() == "SSH-2.0", banner.stderr
    assert ssh(host_lab, HOST_A, "ip", "route", "show", "default").stdout.strip() == ""


def test_a_cron_job_and_a_systemd_timer_fire(host_lab):
    def write(path, text):
        written = ssh(host_lab, HOST_B, "sudo", "-n", "tee", path, input=text)
        assert written.returncode == 0, written.stderr

    write("/etc/cron.d/lab-probe", "* * * * * root touch /var/tmp/cron-fired\n")
    write("/etc/systemd/system/lab-probe.service", "[Service]\nType=oneshot\nExecStart=/usr/bin/touch /var/tmp/timer-fired\n")
    write("/etc/systemd/system/lab-probe.timer", "[Timer]\nOnActiveSec=1s\nAccuracySec=1s\n")
    started = ssh(host_lab, HOST_B, "sudo", "-n", "sh", "-c", "systemctl daemon-reload && systemctl start lab-probe.timer")
    assert started.returncode == 0, started.stderr

    def fired(marker):
        return lambda: ssh(host_lab, HOST_B, "test", "-e", marker).returncode == 0

    wait_for(fired("/var/tmp/timer-fired"), 20, "the systemd timer")
    # cron runs a job at the start of the minute after it notices the file
    wait_for(fired("/var/tmp/cron-fired"), 75, "the cron job")


def test_down_leaves_no_mounts_processes_or_bridge(host_lab):
    hosts = [host_lab.host(name) for name in (HOST_A, HOST_B)]
    processes = [process for host in hosts for process in (host.nspawn_process, host.find_systemd())]
    assert all(process and process.alive() for process in processes)

    host_lab.down(log=lambda message: None)

    assert mounts_under(host_lab.state_dir) == []
    assert not any(process.alive() for process in processes)
    assert pids_mentioning(host_lab.state_dir) == []
    assert not bridge_exists(host_lab.network.bridge)
    assert [host.system_state() for host in hosts] == ["stopped", "stopped"]
