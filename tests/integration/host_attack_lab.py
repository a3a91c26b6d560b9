"""Issue 14's attacks on the lab's booted hosts: root and a project member on a host, a redeploy
of one role with the attack's settings (and back), and the before/after listing of a host's files.

The member is a real login account made on the host for the attack and reached over SSH with its
own key (host key checked, as the admin's); root is the admin with sudo (site_lab.ssh).
"""

import json
import os
import re
import shlex
import subprocess

from tests.integration.site_lab import ssh

# What the hosts' files are compared on: stat data (and md5 below the victims) of these trees.
SNAPSHOT_ROOTS = ("/etc", "/root", "/usr/local", "/var/lib/datasync", "/var/lib/datasync-jobs", "/srv", "/home", "/opt/datasync")
# Changed by any job run (Ansible's temp folders, the jobs' metrics): never compared.
ALWAYS_PRUNED = ("/var/lib/datasync-jobs/ansible", "/var/lib/datasync/ansible")


def root(lab, host, *argv, check=True):
    proc = ssh(lab, host, *argv)
    if check:
        assert proc.returncode == 0, (host, argv, proc.stdout[-3000:], proc.stderr[-3000:])
    return proc


def root_sh(lab, host, script, check=True):
    return root(lab, host, "sh", "-c", script, check=check)


def as_account(lab, host, account, script, check=True):
    """``script`` run by ``account`` on the host (runuser: the service account has no login shell)."""
    return root(lab, host, "runuser", "-u", account, "--", "/bin/sh", "-c", script, check=check)


class Member:
    """A project member: a login account on ``host`` with its own SSH key."""

    def __init__(self, lab, host, name, key_dir):
        self.lab, self.host, self.name = lab, host, name
        self.key = os.path.join(str(key_dir), "%s_ed25519" % name)

    def create(self):
        if not os.path.exists(self.key):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", self.name, "-f", self.key], check=True)
        with open(self.key + ".pub") as handle:
            public = handle.read().strip()
        home = "/home/%s" % self.name
        root_sh(self.lab, self.host, "id -u {n} >/dev/null 2>&1 || useradd --create-home --shell /bin/bash {n}; "
                "install -d -m 0700 -o {n} -g {n} {h}/.ssh; printf '%s\\n' {k} > {h}/.ssh/authorized_keys; "
                "chown {n}:{n} {h}/.ssh/authorized_keys; chmod 0600 {h}/.ssh/authorized_keys"
                .format(n=self.name, h=home, k=shlex.quote(public)))
        return self

    def run(self, script):
        """``script`` run by the member in their own SSH login session; asserts who ran it."""
        proc = subprocess.run(["ssh", "-F", self.lab.path("hosts", "ssh_config"), "-o", "User=%s" % self.name,
                               "-o", "IdentityFile=%s" % self.key, self.host, "set -e; %s; id -un" % script],
                              capture_output=True, text=True, check=False, timeout=120)
        assert proc.returncode == 0, (self.name, script, proc.stdout, proc.stderr)
        assert proc.stdout.splitlines()[-1] == self.name, proc.stdout
        return proc

    def remove(self):
        root(self.lab, self.host, "userdel", "--remove", self.name, check=False)


def snapshot(lab, host, prune=(), checksum=()):
    """The host's files as a set of lines: path, type, owner, mode and (not for folders, whose
    entries are listed) size, mtime and link target, below SNAPSHOT_ROOTS minus ``prune``; plus
    the md5 of every file below ``checksum``."""
    pruned = " -o ".join("-path %s" % shlex.quote(path) for path in tuple(prune) + ALWAYS_PRUNED)
    script = ("roots=; for r in %s; do [ -e \"$r\" ] && roots=\"$roots $r\"; done; "
              "find $roots -xdev \\( %s \\) -prune -o \\( -type d -printf '%%p d %%U:%%G %%m\\n' \\) "
              "-o -printf '%%p %%y %%U:%%G %%m %%s %%T@ %%l\\n'" % (" ".join(SNAPSHOT_ROOTS), pruned))
    if checksum:
        script += "; find %s -xdev -type f -exec md5sum {} +" % " ".join(shlex.quote(path) for path in checksum)
    return set(root_sh(lab, host, script).stdout.splitlines())


def differences(before, after):
    return sorted(("-" if line in before else "+") + line for line in before ^ after)


def deploy(ansible_playbook, playbook, host, start_at, extra=None):
    """Run ``playbook`` (its role, from the task ``start_at``: the runtime is already deployed by
    site.yml) against ``host`` of inventories/lab, with ``extra`` as extra vars."""
    args = ["-i", "inventories/lab", playbook, "--limit", host, "--start-at-task", start_at]
    if extra:
        args += ["-e", json.dumps(extra)]
    result = ansible_playbook(*args, env={"ANSIBLE_INVENTORY": ""})
    assert "%s " % host in result.stdout and "failed=0" in result.stdout and "unreachable=0" in result.stdout, result
    return result


def log_size(lab, host, path):
    out = root_sh(lab, host, "stat -c %%s %s 2>/dev/null || echo 0" % shlex.quote(path)).stdout.strip()
    return int(out or 0)


def log_since(lab, host, path, offset):
    """What a job appended to its log since ``offset`` bytes (bytes decoded with surrogateescape)."""
    proc = subprocess.run(["ssh", "-F", lab.path("hosts", "ssh_config"), host,
                           shlex.join(["sudo", "-n", "tail", "-c", "+%d" % (offset + 1), path])],
                          capture_output=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.decode("utf-8", "surrogateescape")


def write_file(lab, host, path, text, mode="0644"):
    """``text`` written by root to ``path`` on the host (through standard input: never in argv)."""
    proc = subprocess.run(["ssh", "-F", lab.path("hosts", "ssh_config"), host,
                           shlex.join(["sudo", "-n", "sh", "-c", 'umask 077; cat > "$1" && chmod "$2" "$1"', "write", path, mode])],
                          input=text, capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 0, (host, path, proc.stderr)


def job_results(log):
    """The module results a job printed with -v (``ok: [localhost] => {...}``, ``FAILED! => {...}``), in order."""
    decoder = json.JSONDecoder()
    results = []
    for match in re.finditer(r"\[localhost\](?:: FAILED!)? => (?=\{)", log):
        try:
            results.append(decoder.raw_decode(log, match.end())[0])
        except ValueError:
            continue
    return results


def changed_outside(before, after, allowed):
    """Differences between two snapshots whose path does not match the regular expression ``allowed``."""
    pattern = re.compile(allowed)
    return [line for line in differences(before, after)
            if not pattern.match(next((word for word in line[1:].split() if word.startswith("/")), ""))]
