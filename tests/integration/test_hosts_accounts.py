"""Accounts the identity sync makes on portal1 are real logins: alice, created from the lab's Globus
root group, logs in over SSH with her key; a member removed from the group in Globus can log in
until the sync locks the account, and is refused after."""

import subprocess
import uuid

import requests

from tests.integration.site_lab import lab_file, ssh, wait_for


def _root(lab, *command):
    result = ssh(lab, "portal1", *command)
    assert result.returncode == 0, (command, result.stdout, result.stderr)
    return result.stdout


def _user_key(tmp_path, name):
    path = tmp_path / ("%s_ed25519" % name)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name + "@lab-test", "-f", str(path)],
                   check=True, capture_output=True)
    return path


def _authorize(lab, user, public_key):
    """What a site's key provisioning does: the user's key in their own ~/.ssh, owned by them."""
    home = _root(lab, "getent", "passwd", user).split(":")[5]
    _root(lab, "install", "-d", "-m", "0700", "-o", user, "-g", user, home + "/.ssh")
    _root(lab, "sh", "-c", 'printf "%s\\n" "$1" > "$2" && chown "$3:" "$2" && chmod 0600 "$2"', "authorize",
          public_key, home + "/.ssh/authorized_keys", user)
    return home


def _login(lab, user, key, *command):
    """ssh as user with key to portal1 (the lab's known_hosts; no password, no agent)."""
    address = lab_file(lab)["network"]["hosts"]["portal1"]
    known_hosts = lab.path("hosts", "known_hosts")
    return subprocess.run(["ssh", "-i", str(key), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                           "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=" + known_hosts,
                           "-o", "GlobalKnownHostsFile=/dev/null", "-o", "ConnectTimeout=10",
                           "-o", "PasswordAuthentication=no", "%s@%s" % (user, address), *command],
                          capture_output=True, text=True, check=False, timeout=60, stdin=subprocess.DEVNULL)


def _sync(lab, mode, done, what):
    """Run the identity sync job as cron runs it (`datasync-job gosync-MODE` as root) until done();
    a run that finds the lock held by the cron run skips, so it is tried again."""
    def attempt():
        ssh(lab, "portal1", "/usr/local/bin/datasync-job", "gosync-" + mode)
        return done()

    return wait_for(what, attempt, timeout=150, interval=2)


def _passwd(lab, user):
    entry = ssh(lab, "portal1", "getent", "passwd", user)
    return entry.stdout.strip() if entry.returncode == 0 else None


def _locked(lab, user):
    """The lock the sync applies: the account expired and the nologin shell."""
    expires = [line for line in _root(lab, "chage", "-l", user).splitlines() if line.startswith("Account expires")]
    shell = (_passwd(lab, user) or "").split(":")[-1]
    return bool(expires) and not expires[0].rstrip().endswith("never") and shell.endswith("/nologin")


def test_alice_logs_in_to_portal1_with_her_key(lab, lab_site, tmp_path):
    # alice is an active admin of the lab's root group (tests/lab/seeds/globus-demo.yml).
    entry = _sync(lab, "new", lambda: _passwd(lab, "alice"), "the identity sync creating alice on portal1")
    fields = entry.split(":")
    assert 20000 <= int(fields[2]) <= 29999 and fields[6] == "/bin/bash", entry
    key = _user_key(tmp_path, "alice")
    home = _authorize(lab, "alice", key.with_suffix(".pub").read_text().strip())
    login = _login(lab, "alice", key, "id -un; pwd; test -O . && echo owns-home; touch written && echo wrote")
    assert login.returncode == 0, login.stderr
    assert login.stdout.split() == ["alice", home, "owns-home", "wrote"], login.stdout
    # The same key for another account is not accepted: the key works because it is alice's.
    assert _login(lab, "bob", key, "id -un").returncode == 255


def test_a_departed_member_is_refused_after_the_lock(lab, lab_site, tmp_path):
    globus = lab.endpoints()["globus"]
    admin = globus["admin_url"].rstrip("/")
    local = "leaver" + uuid.uuid4().hex[:6]
    username = local + "@example.org"
    identity = {"username": username, "name": "Lee Leaver", "email": username}
    created = requests.post(admin + "/identities", json=identity, timeout=30)
    assert created.status_code < 300, created.text
    member = "%s/groups/%s/members" % (admin, globus["root_group_id"])

    def membership(status):
        response = requests.post(member, json={"username": username, "role": "member", "status": status}, timeout=30)
        assert response.status_code < 300, response.text

    membership("active")
    _sync(lab, "new", lambda: _passwd(lab, local), "the identity sync creating %s on portal1" % local)
    key = _user_key(tmp_path, local)
    home = _authorize(lab, local, key.with_suffix(".pub").read_text().strip())
    before = _login(lab, local, key, "id -un")
    assert before.returncode == 0 and before.stdout.strip() == local, before.stderr

    # Removed from the group in Globus; the sync of updated users locks the account.
    membership("removed")
    _sync(lab, "updated", lambda: _locked(lab, local), "the identity sync locking %s" % local)
    after = _login(lab, local, key, "id -un")
    assert after.returncode == 255 and local not in after.stdout, (after.stdout, after.stderr)
    # Refused for the lock, not for a lost key: the key is still there, and sshd says why.
    assert _root(lab, "test", "-s", home + "/.ssh/authorized_keys") == ""
    journal = _root(lab, "journalctl", "--no-pager", "-o", "cat", "-u", "ssh", "-n", "50")
    assert "expired" in journal.lower() and local in journal, journal[-2000:]
