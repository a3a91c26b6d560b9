"""Integration fixtures: the lab (started once per session) and a runner for real ansible-playbook."""

import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

from tests.lab.supervisor import Lab

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="session")
def lab():
    lab = Lab()
    was_up = all(lab.running(m) for m in lab.services)
    lab.up()
    # The emulators serve HTTPS with the lab CA: this process's own clients verify against it too.
    os.environ.update(lab.ca_environment())
    yield lab
    if not was_up and os.environ.get("DATASYNC_KEEP_LAB") != "1":
        lab.down()


@pytest.fixture(scope="session")
def lab_env(lab):
    return dict(os.environ, **lab.environment())


def playbook_env(lab_env, temp=None):
    """The environment of an ansible-playbook run on the controller, with the checkout's collection.

    The inventory is the test-only controller inventory (prefix mode): ansible.cfg's default
    (inventories/lab) describes the booted hosts, whose group_vars (become, the hosts' Python, an SSH
    key below inventory_dir) also reach the implicit localhost. ``temp`` (fixture run_temp) is for a
    run the test may kill: a killed run cannot remove its temporary folders (the module's AnsiballZ
    payload, ansible-tmp-*, ansible-local-*, multiprocessing's pymp-*), so they are made there, not in
    /tmp and ~/.ansible/tmp.
    """
    env = dict(lab_env, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"),
               ANSIBLE_INVENTORY=os.path.join(REPO, "tests", "integration", "inventory"),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, ".collections"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    if temp is not None:
        env.update(TMPDIR=str(temp), ANSIBLE_LOCAL_TEMP=str(temp), ANSIBLE_REMOTE_TEMP=str(temp))
    return env


def start_background(lab_env, path, temp):
    """ansible-playbook ``path`` started in its own session, its temporary folders in ``temp``."""
    binary = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    return subprocess.Popen([binary, path], cwd=REPO, env=playbook_env(lab_env, temp), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)


@pytest.fixture
def run_temp():
    """The test's own folder for the temporary folders of the runs it may kill (playbook_env), removed after
    the test. Not below tmp_path: multiprocessing's socket in it must fit a socket path's 107 bytes."""
    folder = tempfile.mkdtemp(prefix="datasync-run-")
    yield folder
    shutil.rmtree(folder)


def payload_folders(folder, module):
    """The AnsiballZ payload folders of the collection's ``module`` in ``folder``."""
    return glob.glob(os.path.join(str(folder), "ansible_sciops.datasync.%s_payload_*" % module))


class PlaybookResult:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr

    def __repr__(self):
        return "rc=%s\n%s\n%s" % (self.rc, self.stdout[-4000:], self.stderr[-2000:])


@pytest.fixture(scope="session")
def ansible_playbook(lab_env):
    """Run ansible-playbook with the checkout's collection; returns rc, stdout, stderr."""

    def run(*args, env=None, check=True):
        # The test-only controller inventory (prefix mode) unless a test passes -i: module-level
        # checks; what a deployment looks like runs on the booted hosts (inventories/lab).
        full_env = playbook_env(lab_env)
        full_env.update(env or {})
        if full_env.get("ANSIBLE_STDOUT_CALLBACK") in ("json", "ansible.builtin.json", "ansible.posix.json"):
            # ansible-core has no json callback; the tests ship their own (tests/callback_plugins/json.py)
            full_env["ANSIBLE_STDOUT_CALLBACK"] = "json"
            full_env["ANSIBLE_CALLBACK_PLUGINS"] = os.path.join(REPO, "tests", "callback_plugins")
        binary = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
        proc = subprocess.run([binary] + list(args), cwd=REPO, env=full_env, capture_output=True, text=True, check=False)
        result = PlaybookResult(proc)
        if check:
            assert result.rc == 0, result
        return result

    return run


@pytest.fixture(scope="session")
def lab_site(lab, ansible_playbook):
    """playbooks/site.yml deployed once per session to the lab's booted hosts (inventories/lab,
    SSH as the admin with sudo); the playbook result. Tests on the deployed hosts share it.
    Skips where the hosts are not booted (they need root: make lab-up)."""
    from tests.integration.site_lab import deploy_site, hosts_up

    if not hosts_up(lab):
        pytest.skip("the lab's booted hosts are not up (needs root: make lab-up)")
    return deploy_site(lab, ansible_playbook)


def module_results(stdout):
    """Parse the JSON printed by the test json callback (env ANSIBLE_STDOUT_CALLBACK=json)."""
    return json.loads(stdout[stdout.index("{"):])


@pytest.fixture(params=["local", "ldap"])
def backend(request, lab, tmp_path):
    """The identity tests' accounts backend (tests.integration.gosync_lab.Backend): such a test runs once per backend."""
    from tests.integration.gosync_lab import Backend

    accounts = Backend(request.param, lab, tmp_path / "root")
    accounts.clear()
    yield accounts
    accounts.clear()
