"""datasync-job's temporary folders: one per run, gone when the run ends, and what a SIGKILLed run left
removed by the next run, never a live run's and never through a link. The wrapper is rendered from
roles/runtime/templates/datasync-job.j2 into a folder of the test and run as the test's own account
(its job account) with the real ansible-playbook; the hosts run it the same way (molecule runtime,
tests/integration)."""

import getpass
import os
import signal
import shutil
import subprocess
import sys
import tempfile
import time

import jinja2
import pytest
from ansible.plugins.filter.core import comment

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
JOB = """---
- name: Temp probe
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Run a module (its AnsiballZ payload goes to the run's temp folder), then wait if told
      ansible.builtin.command:
        argv: [sleep, "{{ wait | default(0) }}"]
      changed_when: false
"""


@pytest.fixture(name="short_root")
def fixture_short_root():
    """A folder with a short path, as the hosts' (ansible-playbook's multiprocessing socket lives in the
    run's temp folder: a path longer than 107 bytes cannot be bound)."""
    root = tempfile.mkdtemp(prefix="dsj-")
    yield root
    shutil.rmtree(root)


@pytest.fixture(name="wrapper")
def fixture_wrapper(short_root):
    """The rendered wrapper, its job ``probe`` run by this account, and the account's temp folder."""
    root = os.path.join(short_root, "r")
    paths = {name: os.path.join(root, name) for name in ("bin", "etc", "jobs", "env", "state", "log", "venv", "home")}
    for path in paths.values():
        os.makedirs(path)
    os.makedirs(os.path.join(paths["venv"], "bin"))
    os.symlink(os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), os.path.join(paths["venv"], "bin", "ansible-playbook"))
    with open(os.path.join(REPO, "roles", "runtime", "templates", "datasync-job.j2"), encoding="utf-8") as handle:
        template = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
        template.filters["comment"] = comment
        text = template.from_string(handle.read()).render(
            ansible_managed="Ansible managed", datasync_bin_dir=paths["bin"], datasync_jobs_dir=paths["jobs"],
            datasync_env_dir=paths["env"], datasync_config_dir=paths["etc"], datasync_venv_dir=paths["venv"],
            datasync_user="datasync", datasync_state_dir=paths["state"], datasync_service_state_dir=paths["home"],
            datasync_log_dir=paths["log"], datasync_service_log_dir=paths["log"], datasync_metrics_dir=paths["log"],
            datasync_service_metrics_dir=paths["log"], datasync_audit_log=paths["log"] + "/audit.log",
            datasync_service_audit_log=paths["log"] + "/audit.log")
    binary = os.path.join(paths["bin"], "datasync-job")
    with open(binary, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(binary, 0o755)
    with open(os.path.join(paths["etc"], "ansible.cfg"), "w", encoding="utf-8") as handle:
        handle.write("[defaults]\nretry_files_enabled = false\n")
    with open(os.path.join(paths["jobs"], "probe.yml"), "w", encoding="utf-8") as handle:
        handle.write(JOB)
    with open(os.path.join(paths["env"], "probe.env"), "w", encoding="utf-8") as handle:
        handle.write("DATASYNC_JOB_USER=%s\n" % getpass.getuser())
    home = paths["state"] if os.geteuid() == 0 else paths["home"]
    os.makedirs(os.path.join(home, "ansible"), mode=0o700)
    return binary, os.path.join(home, "ansible", "tmp"), os.path.join(paths["log"], "probe.log")


def run(binary, *args):
    proc = subprocess.run([binary, "probe"] + list(args), capture_output=True, text=True, check=False, timeout=120)
    return proc.returncode, proc.stderr


def tree(pid):
    """``pid`` and every process it started (ansible-playbook's workers start sessions of their own)."""
    children = {}
    for line in subprocess.run(["ps", "-eo", "pid=,ppid=,comm="], capture_output=True, text=True, check=True).stdout.splitlines():
        child, parent, name = line.split(None, 2)
        children.setdefault(int(parent), []).append((int(child), name.strip()))
    found, todo = [(pid, "")], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child[0])
    return found


def signal_tree(pid, signum):
    """``signum`` to a run and everything it started, as systemd does to a job's cgroup."""
    for member, _name in tree(pid):
        try:
            os.kill(member, signum)
        except ProcessLookupError:
            pass


def start(binary, wait):
    """A run waiting ``wait`` s in its task; returns it once its module runs."""
    proc = subprocess.Popen([binary, "probe", "-e", "wait=%d" % wait], start_new_session=True)
    deadline = time.monotonic() + 60
    while not any(name == "sleep" for _pid, name in tree(proc.pid)):
        assert proc.poll() is None and time.monotonic() < deadline, "the run never reached its task"
        time.sleep(0.05)
    return proc


def runs_in(tmp):
    return sorted(name for name in os.listdir(tmp) if name.startswith("run-"))


def test_a_run_leaves_no_temporary_folder(wrapper):
    binary, tmp, log = wrapper
    assert run(binary) == (0, "")
    assert os.listdir(tmp) == []
    with open(log, encoding="utf-8") as handle:
        assert "end probe rc=0" in handle.read()


def test_a_sigkilled_runs_folder_is_removed_by_the_next_run_a_live_runs_is_not(wrapper):
    binary, tmp = wrapper[:2]
    killed = start(binary, 60)
    signal_tree(killed.pid, signal.SIGKILL)
    killed.wait()
    left = runs_in(tmp)
    assert len(left) == 1 and left[0].startswith("run-%d." % killed.pid)
    assert any(name.startswith("ansible-") for name in os.listdir(os.path.join(tmp, left[0])))
    live = start(binary, 60)
    try:
        mine = [name for name in runs_in(tmp) if name.startswith("run-%d." % live.pid)]
        assert run(binary) == (0, "")
        assert runs_in(tmp) == mine   # the killed run's folder is gone, the live run's is there
    finally:
        signal_tree(live.pid, signal.SIGTERM)   # a stop: the run removes its own folder on the way out
        assert live.wait(timeout=60) == 143
    assert os.listdir(tmp) == []


def test_the_sweep_does_not_follow_links_and_keeps_an_older_layouts_live_folder(wrapper, tmp_path):
    binary, tmp = wrapper[:2]
    outside = tmp_path / "outside"
    (outside / "sub").mkdir(parents=True)
    (outside / "sub" / "keep").write_text("x")
    dead = os.path.join(tmp, "run-1.AAAAAAAA")
    os.makedirs(dead)
    os.symlink(str(outside / "sub"), os.path.join(dead, "dir-link"))
    os.symlink(str(outside / "sub" / "keep"), os.path.join(dead, "file-link"))
    os.symlink(str(outside), os.path.join(tmp, "run-2.BBBBBBBB"))
    # Left by the wrapper before per-run folders: ansible-local-<pid><8 random>, ansible-tmp-<time>-<pid>-<n>.
    gone = ["ansible-local-4194399abcdefgh", "ansible-tmp-1796029803.29-4194399-83944"]
    kept = ["ansible-local-%dabcdefgh" % os.getpid(), "ansible-tmp-1796029803.29-%d-83944" % os.getpid()]
    for name in gone + kept:
        os.makedirs(os.path.join(tmp, name, "sub"))
    assert run(binary) == (0, "")
    assert sorted(os.listdir(tmp)) == sorted(kept + ["run-2.BBBBBBBB"])
    assert (outside / "sub" / "keep").read_text() == "x"
