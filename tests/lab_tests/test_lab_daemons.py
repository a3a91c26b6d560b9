"""The foundation's three real daemons answer their real clients."""

import email
import glob
import os
import smtplib
import subprocess
import time


def ssh_argv(lab, *command):
    sshd = lab.endpoints()["sshd"]
    return ["ssh", "-i", sshd["key_file"], "-p", str(sshd["port"]), "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=" + sshd["known_hosts"],
            "%s@%s" % (sshd["user"], sshd["host"])] + list(command)


def test_ssh_key_login(lab):
    out = subprocess.run(ssh_argv(lab, "echo", "hello-from-lab"), capture_output=True, text=True, timeout=30, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "hello-from-lab"


def test_ssh_refuses_unknown_host_key(lab, tmp_path):
    wrong = tmp_path / "known_hosts"
    wrong.write_text("[127.0.0.1]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBm4uGZl1Ynq1r3s2m0Pn2qfWl8nXQ2cLk4hXbX9Zz1X\n")
    argv = [a if not a.startswith("UserKnownHostsFile=") else "UserKnownHostsFile=%s" % wrong for a in ssh_argv(lab, "true")]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert out.returncode == 255
    assert "HOST IDENTIFICATION HAS CHANGED" in out.stderr or "verification failed" in out.stderr


def test_rsync_over_ssh_with_the_key(lab, tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    (source / "a file.txt").write_bytes(b"payload\n" * 100)
    sshd = lab.endpoints()["sshd"]
    rsh = " ".join(ssh_argv(lab)[:-1])
    dest = tmp_path / "dest"
    out = subprocess.run(["rsync", "-rt", "-e", rsh, "%s@%s:%s/" % (sshd["user"], sshd["host"], source), str(dest)],
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    assert (dest / "a file.txt").read_bytes() == (source / "a file.txt").read_bytes()


def test_rsync_daemon_login_and_refusal(lab, tmp_path):
    rsyncd = lab.endpoints()["rsyncd"]
    url = "rsync://%s@%s:%d/" % (rsyncd["user"], rsyncd["host"], rsyncd["port"])
    listing = subprocess.run(["rsync", "--password-file=" + rsyncd["password_file"], url + "pv/"],
                             capture_output=True, text=True, timeout=30, check=False)
    assert listing.returncode == 0, listing.stderr
    assert "README" in listing.stdout
    bad = tmp_path / "bad.password"
    bad.write_text("wrong\n")
    bad.chmod(0o600)
    refused = subprocess.run(["rsync", "--password-file=%s" % bad, url + "pv/"], capture_output=True, text=True, timeout=30, check=False)
    assert refused.returncode == 5
    assert "auth failed on module pv" in refused.stderr


def test_smtp_stores_messages(lab):
    smtp = lab.endpoints()["smtp"]
    before = set(glob.glob(os.path.join(smtp["maildir"], "*.eml")))
    marker = "lab-check-%f" % time.time()
    with smtplib.SMTP(smtp["host"], smtp["port"], timeout=10) as client:
        client.sendmail("ops@example.org", ["alice@example.org"], "Subject: %s\r\n\r\nbody\r\n" % marker)
    deadline = time.time() + 5
    new = []
    while time.time() < deadline and not new:
        new = sorted(set(glob.glob(os.path.join(smtp["maildir"], "*.eml"))) - before)
        time.sleep(0.05)
    assert len(new) == 1
    message = email.message_from_bytes(open(new[0], "rb").read())
    assert message["Subject"] == marker
    assert message["X-Lab-Envelope-To"] == "alice@example.org"
