"""The lab supervisor is idempotent and publishes its endpoints."""

import json
import os
import subprocess
import sys


def test_up_twice_keeps_running_services(lab):
    before = {m.NAME: lab.pid(m.NAME) for m in lab.services}
    lab.up()
    after = {m.NAME: lab.pid(m.NAME) for m in lab.services}
    assert before == after
    assert all(lab.running(m) for m in lab.services)


def test_endpoints_and_env_files(lab):
    document = json.loads(open(lab.path("endpoints.json")).read())
    assert {"sshd", "rsyncd", "smtp"} <= set(document["services"])
    assert document["services"]["rsyncd"]["port"] == 44520
    env_text = open(lab.path("env")).read()
    assert "export DATASYNC_LAB_DIR=" in env_text


def test_status_command_lists_every_service(lab):
    out = subprocess.run([sys.executable, "-m", "tests.lab.supervisor", "status"], cwd=lab.repo, capture_output=True,
                         text=True, check=True, env=dict(os.environ, DATASYNC_LAB_DIR=lab.root))
    for module in lab.services:
        assert module.NAME in out.stdout
    assert "down" not in out.stdout.split()
