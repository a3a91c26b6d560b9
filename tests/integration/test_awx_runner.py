"""Issue 13 item 7, the AWX path: every job template the README describes ("AWX / AAP", "Job
templates") runs through ansible-runner, the engine AWX and AAP run jobs with, from a private data
dir built the way AWX builds one, against the lab's booted hosts: job type "Check" (--check --diff)
and "Run", each run `successful` with no failed or unreachable host; site.yml and globus_groups.yml
run twice and the second run changes nothing (the README's idempotence claim).

The private data dir:
  project/    the project (this repository's playbooks and roles) with the collection on the
              project's collections path (project/collections/ansible_collections/sciops/datasync)
  inventory/  the inventory source: a copy of inventories/lab, without the key file (the Machine
              credential gives the key)
  env/extravars  the job template's extra variables (prompted on launch)
  env/ssh_key    the Machine credential's private key (runner loads it into an ssh-agent)
  env/envvars    what AWX injects: the collections path, and the lab's location for the inventory;
                 and, as each job's execution environment starts with no SSH master connections,
                 a control path folder of the job's own (a job never rides on a connection that an
                 earlier run opened with the key file)
"""

import json
import os
import re
import shutil
import sys
import tempfile

import pytest

ansible_runner = pytest.importorskip("ansible_runner")

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# The README's job templates: (playbook, extra vars, job tags, idempotent on a second run).
TEMPLATES = [
    ("site.yml", {}, None, True),
    ("gosync.yml", {"mode": "updated"}, None, False),
    ("collection_sync.yml", {"start": False}, None, False),
    ("epn.yml", {"epn_action": "repatriate"}, None, False),
    ("pools.yml", {"pools_action": "list"}, None, False),
    ("globus_groups.yml", {}, None, True),
    ("experiment.yml", {}, "init", False),
]


def private_data_dir(root, lab, extravars, tags=None):
    """Build <root> as AWX builds a job's private data dir."""
    if os.path.exists(root):
        shutil.rmtree(root)
    project = os.path.join(root, "project")
    os.makedirs(os.path.join(project, "collections", "ansible_collections", "sciops"))
    for name in ("playbooks", "roles", "ansible.cfg"):
        os.symlink(os.path.join(REPO, name), os.path.join(project, name))
    os.symlink(REPO, os.path.join(project, "collections", "ansible_collections", "sciops", "datasync"))
    inventory = os.path.join(root, "inventory")
    shutil.copytree(os.path.join(REPO, "inventories", "lab"), inventory)
    site = os.path.join(inventory, "group_vars", "all", "lab.yml")
    text = open(site).read()
    # The Machine credential provides the key (env/ssh_key), not the inventory.
    text = re.sub(r"(?m)^ansible_ssh_private_key_file:.*\n", "", text)
    # The project's checkout is the collection the roles install on the hosts.
    text = text.replace("(inventory_dir ~ '/../..') | realpath", "'%s'" % REPO)
    open(site, "w").write(text)
    env = os.path.join(root, "env")
    os.makedirs(env)
    with open(os.path.join(env, "extravars"), "w") as f:
        json.dump(extravars, f)
    key = open(lab.path("hosts", "admin_ed25519")).read()
    with open(os.path.join(env, "ssh_key"), "w") as f:
        f.write(key if key.endswith("\n") else key + "\n")
    os.chmod(os.path.join(env, "ssh_key"), 0o600)
    envvars = {
        "ANSIBLE_COLLECTIONS_PATH": os.path.join(project, "collections"),
        "ANSIBLE_CONFIG": os.path.join(project, "ansible.cfg"),
        "DATASYNC_LAB_DIR": lab.root,
        "ANSIBLE_NOCOLOR": "1",
        # AWX's execution environment has ansible-playbook on its PATH; here it is the venv's.
        "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
        # Short: ssh's socket path (folder, hash and ssh's temporary suffix) must stay under 108 bytes.
        "ANSIBLE_SSH_CONTROL_PATH_DIR": tempfile.mkdtemp(prefix="awx-cp-"),
    }
    with open(os.path.join(env, "envvars"), "w") as f:
        json.dump(envvars, f)
    return root


def run_job(tmp_path, lab, playbook, extravars, tags, check):
    root = private_data_dir(str(tmp_path / ("job-%s-%s" % (playbook.replace(".yml", ""), "check" if check else "run"))),
                            lab, extravars, tags)
    cmdline = ["--check", "--diff"] if check else ["--diff"]
    if tags:
        cmdline += ["--tags", tags]
    try:
        runner = ansible_runner.run(private_data_dir=root, playbook="playbooks/" + playbook,
                                    cmdline=" ".join(cmdline), quiet=True, timeout=1200)
    finally:
        with open(os.path.join(root, "env", "envvars")) as f:
            shutil.rmtree(json.load(f)["ANSIBLE_SSH_CONTROL_PATH_DIR"], ignore_errors=True)
    return runner


def summary(runner):
    failed = [e for e in runner.events if e.get("event") in ("runner_on_failed", "runner_on_unreachable")
              and not e.get("event_data", {}).get("ignore_errors")]
    changed = [e["event_data"].get("task") for e in runner.events
               if e.get("event") == "runner_on_ok" and e.get("event_data", {}).get("res", {}).get("changed")]
    stats = runner.stats or {}
    return failed, changed, stats


def _explain(runner):
    return runner.stdout.read()[-6000:]


@pytest.mark.parametrize("playbook,extravars,tags,idempotent", TEMPLATES, ids=[t[0] for t in TEMPLATES])
def test_job_template_check_then_run(tmp_path, lab, lab_site, playbook, extravars, tags, idempotent):
    check = run_job(tmp_path, lab, playbook, extravars, tags, check=True)
    failed, _changed, stats = summary(check)
    assert check.status == "successful" and check.rc == 0, _explain(check)
    assert not failed and not stats.get("failures") and not stats.get("dark"), _explain(check)

    real = run_job(tmp_path, lab, playbook, extravars, tags, check=False)
    failed, changed, stats = summary(real)
    assert real.status == "successful" and real.rc == 0, _explain(real)
    assert not failed and not stats.get("failures") and not stats.get("dark"), _explain(real)
    if idempotent:
        again = run_job(tmp_path, lab, playbook, extravars, tags, check=False)
        failed, changed, stats = summary(again)
        assert again.status == "successful", _explain(again)
        assert not failed and not changed and not stats.get("changed"), (changed, stats)


def test_a_job_refuses_a_host_whose_key_is_not_the_known_one(tmp_path, lab):
    """ansible-runner turns host key checking off unless told (ANSIBLE_HOST_KEY_CHECKING=False, which puts
    StrictHostKeyChecking=no first on ssh's command line); the inventory keeps it on: with portal1's
    known_hosts entry holding another host's key, the job never logs in."""
    root = private_data_dir(str(tmp_path / "job-forged-known-hosts"), lab, {})
    lines = open(lab.path("hosts", "known_hosts")).read().splitlines()
    keys = [line.split(" ", 1)[1] for line in lines]
    forged = os.path.join(root, "known_hosts")
    with open(forged, "w") as f:
        f.write("".join("%s %s\n" % (line.split(" ", 1)[0], keys[(n + 1) % len(keys)]) for n, line in enumerate(lines)))
    site = os.path.join(root, "inventory", "group_vars", "all", "lab.yml")
    text = open(site).read()
    assert "{{ lab_dir }}/hosts/known_hosts" in text
    open(site, "w").write(text.replace("{{ lab_dir }}/hosts/known_hosts", forged))
    try:
        runner = ansible_runner.run(private_data_dir=root, module="ansible.builtin.ping", host_pattern="portal1",
                                    quiet=True, timeout=120)
    finally:
        with open(os.path.join(root, "env", "envvars")) as f:
            shutil.rmtree(json.load(f)["ANSIBLE_SSH_CONTROL_PATH_DIR"], ignore_errors=True)
    output = runner.stdout.read()
    assert runner.status == "failed" and (runner.stats or {}).get("dark", {}).get("portal1"), output[-3000:]
    assert "Host key verification failed" in output or "REMOTE HOST IDENTIFICATION HAS CHANGED" in output, output[-3000:]
