"""The identity sync with backend ldap, run on portal1 as a site runs it by hand (playbooks/gosync.yml, the job's
virtualenv, the directory by its lab name over LDAPS), makes accounts that beamline1 and analysis1 read from the
lab's slapd through nslcd: ines resolves with her uid and project groups and logs in over SSH with her key
(pam_mkhomedir makes her home); a second run changes nothing; after she departs in Globus the next run locks her
(shadowExpire 1, nologin) and both hosts refuse her login. lena, with a login in portal1's own files and a uid in
the sync's range, is adopted into the directory with that uid (adopt_existing); mia, outside it, is skipped by name.

The test has its own Globus client and groups, its own state and lock files on portal1, and empties the
directory's people and groups before and after (test_gosync_ldap.clear)."""

import json
import shlex
import subprocess

import pytest

from tests.integration.directory_lab import clear, entries
from tests.integration.gosync_lab import GlobusWorld
from tests.integration.site_lab import lab_file, ssh

READERS = ("beamline1", "analysis1")
WORK = "/var/lib/datasync-test-directory"
UID_MIN, GID_MIN = 30000, 32000
LOCAL = (("lena", UID_MIN + 500), ("mia", UID_MIN - 10))


def _root(lab, host, *command):
    result = ssh(lab, host, *command)
    assert result.returncode == 0, (host, command, result.stdout, result.stderr)
    return result.stdout


def _put(lab, host, path, text, mode="0600"):
    """Write text to path on host as root (through stdin: never in an argv)."""
    script = 'umask 077 && cat > "$1" && chmod "$2" "$1"'
    remote = shlex.join(["sudo", "-n", "sh", "-c", script, "put", path, mode])
    result = subprocess.run(["ssh", "-F", lab.path("hosts", "ssh_config"), host, remote], input=text,
                            capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 0, result.stderr


def _user_key(tmp_path, name):
    path = tmp_path / ("%s_ed25519" % name)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name + "@lab-test", "-f", str(path)],
                   check=True, capture_output=True)
    return path


def _login_to(lab, host, user, key, command):
    """ssh as user with key only (no password, no agent), the host's key checked against the lab's known_hosts."""
    address = lab_file(lab)["network"]["hosts"][host]
    return subprocess.run(["ssh", "-i", str(key), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                           "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=" + lab.path("hosts", "known_hosts"),
                           "-o", "GlobalKnownHostsFile=/dev/null", "-o", "ConnectTimeout=10", "-o", "PasswordAuthentication=no",
                           "%s@%s" % (user, address), command],
                          capture_output=True, text=True, check=False, timeout=60, stdin=subprocess.DEVNULL)


def _sync(lab, ansible_playbook, world, tmp_path):
    """playbooks/gosync.yml on portal1 with the directory backend; {task name: portal1's result}."""
    ep = world.ep
    settings = {
        "gosync_backend": "ldap",
        "gosync_ldap": {"uri": "ldaps://%s:%d" % (ep["lab_host"], ep["port"]), "ca_file": "/etc/ssl/certs/ca-certificates.crt",
                        "bind_dn": ep["bind_dn"], "bind_password_file": WORK + "/ldap-bind.password",
                        "users_base": ep["users_base"], "groups_base": ep["groups_base"]},
        "gosync_client_id": world.client_id, "gosync_client_secret_file": WORK + "/globus-client.secret",
        "gosync_root_group": world.root_id, "gosync_state_file": WORK + "/identity_sync.json",
        "gosync_lock_file": WORK + "/gosync.lock", "gosync_token_cache": WORK + "/tokens.json",
        "gosync_uid_min": UID_MIN, "gosync_uid_max": UID_MIN + 999, "gosync_gid_min": GID_MIN, "gosync_gid_max": GID_MIN + 999,
        # Homes are made where she logs in (pam_mkhomedir); portal1 reads only its own files.
        "gosync_create_home": False,
        "gosync_adopt_existing": True,
    }
    extra = tmp_path / "directory.json"
    extra.write_text(json.dumps(settings))
    result = ansible_playbook("-i", "inventories/lab", "-l", "portal1", "playbooks/gosync.yml", "-e", "@%s" % extra,
                              env={"ANSIBLE_INVENTORY": "", "ANSIBLE_STDOUT_CALLBACK": "json"})
    document = json.loads(result.stdout[result.stdout.index("{"):])
    return {task["task"]["name"]: task["hosts"]["portal1"] for play in document["plays"] for task in play["tasks"]
            if "portal1" in task["hosts"]}


@pytest.fixture
def world(lab, lab_site, tmp_path):
    world = GlobusWorld(lab)
    world.ep = lab.endpoints()["slapd"]
    clear(world.ep)
    # lena and mia have logins in portal1's own files: lena's uid is in the sync's range, so with adopt_existing her
    # directory entry gets it (one account, one uid on every host); mia's is not, so she is skipped by name
    for name, uid in LOCAL:
        ssh(lab, "portal1", "userdel", name)  # left by an interrupted run
        _root(lab, "portal1", "useradd", "--uid", str(uid), "--no-create-home", "--shell", "/bin/bash", name)
    members = [world.identity(n) for n in ("ines", "otto", "lena", "mia")]
    world.root_id = world.group("gosync-hosts-" + world.tag, members)
    world.alpha = "sciops-alpha-" + world.tag
    world.beta = "sciops-beta-" + world.tag
    world.group("sciops.alpha-" + world.tag, members, world.root_id)
    world.group("sciops.beta-" + world.tag, ["ines@example.org"], world.root_id)
    _root(lab, "portal1", "install", "-d", "-m", "0700", WORK)
    _put(lab, "portal1", WORK + "/globus-client.secret", world.secret + "\n")
    with open(world.ep["bind_password_file"], encoding="utf-8") as handle:
        _put(lab, "portal1", WORK + "/ldap-bind.password", handle.read())
    yield world
    clear(world.ep)
    ssh(lab, "portal1", "rm", "-rf", WORK)
    for name, _uid in LOCAL:
        ssh(lab, "portal1", "userdel", name)
    for host in READERS:
        ssh(lab, host, "rm", "-rf", "/etc/ssh/authorized_keys/ines", "/home/ines")


def test_ines_resolves_and_logs_in_on_the_directory_hosts_until_she_departs(lab, ansible_playbook, world, tmp_path):
    first = _sync(lab, ansible_playbook, world, tmp_path)
    assert [u["name"] for u in first["Sync users"]["created"]] == ["ines", "lena", "otto"], first["Sync users"]
    skipped = {s["name"]: s["reason"] for s in first["Sync users"]["skipped_users"] if s.get("name")}
    assert list(skipped) == ["mia"] and "in this host's own files" in skipped["mia"] and "outside" in skipped["mia"], skipped
    groups = entries(world.ep, world.ep["groups_base"])
    alpha, beta = groups[world.alpha]["gidnumber"][0], groups[world.beta]["gidnumber"][0]
    key = _user_key(tmp_path, "ines")
    for host in READERS:
        fields = _root(lab, host, "getent", "passwd", "ines").strip().split(":")
        assert [fields[i] for i in (0, 2, 3, 5, 6)] == ["ines", str(UID_MIN), str(UID_MIN), "/home/ines", "/bin/bash"], fields
        ids = _root(lab, host, "id", "ines").split()
        assert ids[0] == "uid=%d(ines)" % UID_MIN, ids
        assert sorted(ids[2].split("=", 1)[1].split(",")) == sorted(
            ["%d(ines)" % UID_MIN, "%s(%s)" % (alpha, world.alpha), "%s(%s)" % (beta, world.beta)]), ids
        # The site's key provisioning: ines's key where sshd looks for directory users (lab-directory.conf).
        _put(lab, host, "/etc/ssh/authorized_keys/ines", key.with_suffix(".pub").read_text(), mode="0644")
        login = _login_to(lab, host, "ines", key, "id -un; pwd; test -O . && echo owns-home")
        assert login.returncode == 0, (host, login.stderr)
        assert login.stdout.split() == ["ines", "/home/ines", "owns-home"], (host, login.stdout)

    again = _sync(lab, ansible_playbook, world, tmp_path)
    assert again["Sync users"]["changed"] is False and again["Sync groups"]["changed"] is False, again

    world.set_member(world.root_id, "ines@example.org", status="removed")
    departed = _sync(lab, ansible_playbook, world, tmp_path)
    assert [u["name"] for u in departed["Sync users"]["locked"]] == ["ines"], departed["Sync users"]
    for host in READERS:
        assert _root(lab, host, "getent", "passwd", "ines").strip().endswith(":/usr/sbin/nologin")
        assert _root(lab, host, "getent", "shadow", "ines").split(":")[7] == "1"
        refused = _login_to(lab, host, "ines", key, "id -un")
        assert refused.returncode == 255 and "ines" not in refused.stdout, (host, refused.stdout, refused.stderr)
        # Refused for the lock: the key is still there, and the account check (pam_unix / pam_ldap) says why.
        journal = _root(lab, host, "journalctl", "--no-pager", "-o", "cat", "-u", "ssh", "-n", "30")
        assert "expired" in journal.lower(), journal[-1500:]
    # otto, who stays, still resolves; lena has portal1's uid on every host; mia never reached the directory
    assert _root(lab, "analysis1", "id", "-un", "otto").strip() == "otto"
    for host in ("portal1",) + READERS:
        assert _root(lab, host, "id", "-u", "lena").strip() == str(LOCAL[0][1]), host
    assert ssh(lab, "analysis1", "getent", "passwd", "mia").returncode == 2
