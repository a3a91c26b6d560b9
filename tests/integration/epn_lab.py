"""Helpers for the EPN integration tests: module arguments for the lab, and a runner."""

import email
import glob
import json
import os
import stat

import yaml

from tests.integration.conftest import module_results

EPN_MAP = {"12282": "ny79", "13001": "ab12", "12400": "ny79", "20123": "cd34"}


def endpoints(lab):
    return lab.endpoints()


def source_args(lab):
    services = endpoints(lab)
    return {
        "portal_url": services["portal"]["url"],
        "credentials_file": services["portal"]["credentials_file"],
        "equipment": services["portal"]["equipment"],
        "epn_map": dict(EPN_MAP),
        "source_host": "127.0.0.1",
        "source_port": services["sshd"]["port"],
        "source_user": services["sshd"]["user"],
        "source_root": services["portal"]["source_root"],
        "key_file": services["sshd"]["key_file"],
        "known_hosts": services["sshd"]["known_hosts"],
        "portal_backoff": 0.1,
    }


def repatriate_args(lab, tmp_path, **extra):
    args = source_args(lab)
    args.update(destination_root=str(tmp_path / "scratch"), state_file=str(tmp_path / "state" / "epn_repatriate.json"), max_tasks=2)
    args.update(extra)
    return args


def alert_args(lab, tmp_path, recipient, **extra):
    args = source_args(lab)
    smtp = endpoints(lab)["smtp"]
    args.update(state_file=str(tmp_path / "state" / "epn_alert.json"),
                mail={"to": [recipient], "host": smtp["host"], "port": smtp["port"], "sender": "mxsync@lab.example.org"})
    args.update(extra)
    return args


def playbook(tmp_path, module, args, name="play.json"):
    path = tmp_path / name
    path.write_text(json.dumps([{
        "name": "EPN test", "hosts": "localhost", "gather_facts": False, "connection": "local",
        "tasks": [{"name": "run", module: args}],
    }]))
    return str(path)


JSON_ENV = {"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"}


def run(ansible_playbook, tmp_path, module, args, check_mode=False, expect_failure=False):
    """Run one module on localhost; returns its result dict."""
    argv = [playbook(tmp_path, "sciops.datasync." + module, args)]
    if check_mode:
        argv.append("--check")
    result = ansible_playbook(*argv, env=JSON_ENV, check=False)
    document = module_results(result.stdout)
    task = document["plays"][0]["tasks"][0]["hosts"]["localhost"]
    if expect_failure:
        assert result.rc != 0 and task.get("failed"), result
    else:
        assert result.rc == 0, result
    return task


def tree(root):
    """{relative path: bytes} of every file under root (dot files included)."""
    found = {}
    for current, _dirs, files in os.walk(root):
        for name in files:
            full = os.path.join(current, name)
            with open(full, "rb") as handle:
                found[os.path.relpath(full, root)] = handle.read()
    return found


def portal_admin(lab, path, document=None):
    import requests
    url = endpoints(lab)["portal"]["url"] + path
    if document is None and path == "/_lab/requests":
        return requests.get(url, timeout=10).json()
    response = requests.post(url, json=document or {}, timeout=10)
    response.raise_for_status()
    return response.json()


def credentials(lab):
    with open(endpoints(lab)["portal"]["credentials_file"]) as handle:
        return yaml.safe_load(handle)


def mails_to(lab, recipient):
    messages = []
    for path in sorted(glob.glob(os.path.join(endpoints(lab)["smtp"]["maildir"], "*.eml"))):
        with open(path, "rb") as handle:
            message = email.message_from_bytes(handle.read())
        if recipient in (message["X-Lab-Envelope-To"] or ""):
            messages.append(message)
    return messages


def wrong_known_hosts(tmp_path):
    path = tmp_path / "wrong_known_hosts"
    path.write_text("[127.0.0.1]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBm4uGZl1Ynq1r3s2m0Pn2qfWl8nXQ2cLk4hXbX9Zz1X\n")
    return str(path)


def plant_dangerous_entries(folder):
    """What a hostile source puts in an EPN or a pool: in ``folder`` (made when missing) a setuid and
    a setgid file, a FIFO, a character device and a link to /etc."""
    os.makedirs(folder, exist_ok=True)
    for name, mode in (("setuid-tool", 0o4755), ("setgid-tool", 0o2755)):
        with open(os.path.join(folder, name), "wb") as handle:
            handle.write(b"#!/bin/sh\nid\n")
        os.chmod(os.path.join(folder, name), mode)
    os.mkfifo(os.path.join(folder, "pipe"))
    os.mknod(os.path.join(folder, "disk"), 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    os.symlink("/etc", os.path.join(folder, "etc-link"))
