"""A job run SIGKILLed on the booted host portal1 (its unit's cgroup killed, as a timeout or the OOM killer
does) leaves its temporary folder; the next run of a job of the same account removes it, then its own,
for the service account and for root alike; nothing but live runs' folders is left there (on a lab
deployed over an older one, the ansible-local-* pile its runs left is gone too). The probe jobs are
the test's own, run as cron and systemd run jobs; teardown removes their files."""

import shlex
import uuid

import pytest

from tests.integration import host_attack_lab as hal
from tests.integration.site_lab import wait_for

HOST = "portal1"
TEMP = {"datasync": "/var/lib/datasync-jobs/ansible/tmp", "root": "/var/lib/datasync/ansible/tmp"}
JOB = """---
- name: Temp probe
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Wait if told
      ansible.builtin.command:
        argv: [sleep, "{{ wait | default(0) }}"]
      changed_when: false
"""


def job_files(job):
    return ["/etc/datasync/jobs/%s.yml" % job, "/etc/datasync/env/%s.env" % job, "/var/log/datasync/%s.log" % job,
            "/var/log/datasync-jobs/%s.log" % job, "/var/lib/datasync/metrics/datasync_%s.prom" % job,
            "/var/lib/datasync-jobs-metrics/datasync_%s.prom" % job]


@pytest.fixture(name="probes")
def fixture_probes(lab, lab_site):  # pylint: disable=unused-argument
    """One probe job per account: {account: job name}."""
    tag = uuid.uuid4().hex[:6]
    jobs = {account: "temp-probe-%s-%s" % (account, tag) for account in TEMP}
    try:
        for account, job in jobs.items():
            mode, group = ("0600", "root") if account == "root" else ("0640", "datasync")
            hal.root_sh(lab, HOST, "printf %%s %s > /etc/datasync/jobs/%s.yml && chmod 0644 /etc/datasync/jobs/%s.yml && "
                        "install -m %s -o root -g %s /dev/null /etc/datasync/env/%s.env && "
                        "echo DATASYNC_JOB_USER=%s > /etc/datasync/env/%s.env"
                        % (shlex.quote(JOB), job, job, mode, group, job, account, job))
        yield jobs
    finally:
        for job in jobs.values():
            hal.root(lab, HOST, "systemctl", "stop", "%s.service" % job, check=False)
            hal.root(lab, HOST, "rm", "-f", *job_files(job), check=False)


def kill_a_run(lab, account, job):
    """Start ``job`` in a unit of its own as its account, SIGKILL the unit's cgroup once its task runs; the folder it left."""
    hal.root(lab, HOST, "systemd-run", "--collect", "--unit", job, "--uid", account, "/usr/local/bin/datasync-job", job, "-e", "wait=300")
    pid = hal.root(lab, HOST, "systemctl", "show", "-p", "MainPID", "--value", "%s.service" % job).stdout.strip()
    module = "/run-%s[.][^/]*/ansible-tmp-[^/]*/AnsiballZ_command[.]py" % pid   # its task's module, from its own folder
    wait_for("%s's task" % job, lambda: hal.root(lab, HOST, "pgrep", "-f", module, check=False).returncode == 0, 60, interval=0.3)
    hal.root(lab, HOST, "systemctl", "kill", "-s", "KILL", "%s.service" % job)
    wait_for("%s killed" % job, lambda: hal.root(lab, HOST, "systemctl", "is-active", "%s.service" % job, check=False).stdout.strip()
             in ("inactive", "failed"), 30, interval=0.3)
    left = hal.root_sh(lab, HOST, "ls -d %s/run-%s.*" % (TEMP[account], pid), check=False).stdout.split()
    assert len(left) == 1, left
    return left[0]


def temp_entries(lab, account):
    """What is in the account's temp folder, each with whether the process its name gives still runs."""
    script = ("cd %s && for e in * .[!.]*; do [ -e \"$e\" ] || continue; p=${e#run-}; p=${p%%%%.*}; "
              "if [ -d \"/proc/$p\" ]; then echo \"$e live\"; else echo \"$e dead\"; fi; done" % TEMP[account])
    return dict(line.split() for line in hal.root_sh(lab, HOST, script).stdout.splitlines())


@pytest.mark.parametrize("account", sorted(TEMP))
def test_the_next_run_removes_what_a_sigkilled_run_left(lab, probes, account):
    job = probes[account]
    left = kill_a_run(lab, account, job)
    proc = hal.root(lab, HOST, "/usr/local/bin/datasync-job", job, check=False)   # as cron runs it: root, switched to the account
    assert proc.returncode == 0, proc.stderr
    entries = temp_entries(lab, account)
    assert left.rsplit("/", 1)[1] not in entries
    # Only a run of a live job (portal1's identity sync runs as root every minute) may have a folder there.
    assert all(name.startswith("run-") and state == "live" for name, state in entries.items()), entries
