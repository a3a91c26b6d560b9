"""Issue 14 item 2 as the attacker would try it: a local unprivileged user (``dsattacker``) plants links
and files at the lock and state paths of a job that root runs, or finds their folder writable.

Each attack is planted with ``runuser -u dsattacker``; then root runs the real module through
ansible-playbook (globus_collection_sync takes its run lock first; epn_alert reads its state
first). Every attempt must be refused with a message naming the path, and the root-owned
canary the links point at must be unchanged (content, size, mode and mtime).
"""

import os
import pwd
import shutil
import subprocess
import tempfile

import pytest

from tests.integration.module_play import run_module

ACTOR = "dsattacker"
CANARY_TEXT = "root-owned canary: must never be truncated or rewritten\n"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the attacks need root to create the actor and run the job as root")


@pytest.fixture(scope="module")
def actor():
    try:
        return pwd.getpwnam(ACTOR)
    except KeyError:
        subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", ACTOR], check=True)
        return pwd.getpwnam(ACTOR)


def as_actor(*argv):
    """Run argv as the actor; returns the CompletedProcess (never raises)."""
    return subprocess.run(["runuser", "-u", ACTOR, "--"] + list(argv), capture_output=True, text=True, check=False)


@pytest.fixture
def site(actor, tmp_path):
    """A root-owned 0755 base the actor can traverse, with a root-owned canary and the folders of each scenario."""
    base = tempfile.mkdtemp(prefix="ds-item2-", dir="/var/tmp")
    os.chmod(base, 0o755)
    canary = os.path.join(base, "canary")
    with open(canary, "w") as handle:
        handle.write(CANARY_TEXT)
    os.chmod(canary, 0o644)
    folders = {"actor_owned": os.path.join(base, "actor_owned"), "sticky": os.path.join(base, "sticky"),
               "open": os.path.join(base, "open"), "private": os.path.join(base, "private")}
    os.mkdir(folders["actor_owned"], 0o755)
    os.chown(folders["actor_owned"], actor.pw_uid, actor.pw_gid)
    os.mkdir(folders["sticky"])
    os.chmod(folders["sticky"], 0o1777)  # like /tmp: others may create, not replace
    os.mkdir(folders["open"])
    os.chmod(folders["open"], 0o777)  # writable by others, not sticky
    os.mkdir(folders["private"], 0o755)
    before = fingerprint(canary)
    yield {"base": base, "canary": canary, "before": before, "tmp": tmp_path, **folders}
    assert fingerprint(canary) == before, "the canary changed"
    shutil.rmtree(base)


def fingerprint(path):
    info = os.lstat(path)
    with open(path, "rb") as handle:
        return handle.read(), info.st_size, info.st_mode, info.st_mtime_ns, info.st_uid


def collection_sync(site, lock_file, state_file=None):
    secret = site["tmp"] / "client_secret"
    secret.write_text("not-used\n")
    secret.chmod(0o600)
    args = {"client_id": "00000000-0000-4000-8000-000000000001", "client_secret_file": str(secret),
            "syncs": [{"name": "s", "source_collection": "00000000-0000-4000-8000-000000000002",
                       "destination_collection": "00000000-0000-4000-8000-000000000003", "destination_path": "/x/"}],
            "state_file": state_file or os.path.join(site["private"], "sync.json"), "lock_file": lock_file, "lock_wait": False}
    return run_module(site["tmp"], "globus_collection_sync", args)


def epn_alert(site, state_file):
    args = {"portal_url": "http://127.0.0.1:9", "credentials_file": str(site["tmp"] / "none.yml"),
            "equipment": [{"id": 23, "beamline": "MX1"}], "epn_map": {"12282": "ny79"}, "source_host": "127.0.0.1",
            "source_user": "nobody", "source_root": "/data", "key_file": str(site["tmp"] / "no-key"),
            "state_file": state_file, "mail": {"to": ["ops@example.org"], "sender": "mxsync@example.org"}}
    return run_module(site["tmp"], "epn_alert", args, name="alert.json")


def test_lock_link_in_a_folder_the_actor_owns_is_refused(site):
    lock = os.path.join(site["actor_owned"], "run.lock")
    assert as_actor("ln", "-s", site["canary"], lock).returncode == 0
    result, raw = collection_sync(site, lock)
    assert result.get("failed") and site["actor_owned"] in result["msg"] and "owned by uid" in result["msg"], result.get("msg")


def test_lock_link_in_a_sticky_shared_folder_is_never_followed(site):
    lock = os.path.join(site["sticky"], "run.lock")
    assert as_actor("ln", "-s", site["canary"], lock).returncode == 0
    result, raw = collection_sync(site, lock)
    assert result.get("failed") and "lock file %s is a symlink" % lock in result["msg"], result.get("msg")
    assert os.path.islink(lock)


def test_lock_file_planted_by_the_actor_is_refused_and_left_alone(site):
    lock = os.path.join(site["sticky"], "run.lock")
    assert as_actor("sh", "-c", "echo 4242 > %s" % lock).returncode == 0
    result, raw = collection_sync(site, lock)
    assert result.get("failed") and "lock file %s is owned by uid" % lock in result["msg"], result.get("msg")
    with open(lock) as handle:
        assert handle.read() == "4242\n"


def test_lock_hard_link_to_a_root_file_is_refused(site):
    lock = os.path.join(site["sticky"], "hard.lock")
    # The kernel stops the actor (fs.protected_hardlinks); where it would not, the module does:
    attempt = as_actor("ln", site["canary"], lock)
    if attempt.returncode != 0:
        os.link(site["canary"], lock)  # what the actor could do with protected_hardlinks=0
    result, raw = collection_sync(site, lock)
    assert result.get("failed") and "has 2 hard links" in result["msg"], result.get("msg")


def test_lock_folder_writable_by_others_is_refused(site):
    result, raw = collection_sync(site, os.path.join(site["open"], "run.lock"))
    assert result.get("failed") and "lock folder %s is writable by group or others" % site["open"] in result["msg"], result.get("msg")
    assert os.listdir(site["open"]) == []


def test_state_link_is_never_followed(site):
    state = os.path.join(site["sticky"], "alert.json")
    assert as_actor("ln", "-s", site["canary"], state).returncode == 0
    result, raw = epn_alert(site, state)
    assert result.get("failed") and "state file %s is a symlink" % state in result["msg"], result.get("msg")


def test_state_in_a_folder_the_actor_owns_is_refused(site):
    state = os.path.join(site["actor_owned"], "alert.json")
    assert as_actor("ln", "-s", site["canary"], state).returncode == 0
    result, raw = epn_alert(site, state)
    assert result.get("failed") and "state folder %s is owned by uid" % site["actor_owned"] in result["msg"], result.get("msg")


def test_state_planted_by_the_actor_is_refused(site):
    state = os.path.join(site["sticky"], "alert.json")
    planted = '{"schema": "sciops.datasync.epn_alert", "version": 1, "data": {"alerted": {}}}'
    assert as_actor("sh", "-c", "echo '%s' > %s" % (planted, state)).returncode == 0
    result, raw = epn_alert(site, state)
    assert result.get("failed") and "state file %s is owned by uid" % state in result["msg"], result.get("msg")


def test_world_writable_state_folder_is_refused(site):
    state = os.path.join(site["open"], "alert.json")
    result, raw = epn_alert(site, state)
    assert result.get("failed") and "state folder %s is writable by group or others" % site["open"] in result["msg"], result.get("msg")
    assert os.listdir(site["open"]) == []
