"""plugins/module_utils/_globus/clients.py (and errors.py) against the lab Globus emulator: token cache, refresh, secrets."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest

from ansible_collections.sciops.datasync.plugins.module_utils._globus import clients as _globus
from ansible_collections.sciops.datasync.plugins.module_utils._globus import errors as _errors
from tests.integration.globus_lab import LabClient, admin, sdk_environment

globus_sdk = pytest.importorskip("globus_sdk")

CANARY = "canary-4b1d-SECRET-e9a0"


@pytest.fixture(scope="module", autouse=True)
def globus_env(lab):
    with sdk_environment(lab):
        yield


def token_requests(client):
    return [r for r in client.requests("/v2/oauth2/token") if r["method"] == "POST"]


def test_token_cache_reused_across_runs(tmp_path):
    client = LabClient("cache")
    cache = str(tmp_path / "state" / "globus-tokens.json")
    coll, _root = client.collection("cache", {"x.txt": "x"})
    for run in range(3):
        clients = _globus.GlobusClients(client.client_id, client.secret, token_cache=cache)
        assert [e["name"] for e in clients.transfer.operation_ls(coll)] == ["x.txt"]
        assert clients.groups.get_my_groups().data == []
        assert clients.auth.get_identities(usernames="alice@example.org")["identities"]
        assert len(token_requests(client)) == 3, "run %d asked for new tokens" % run
    assert stat.S_IMODE(os.stat(cache).st_mode) == 0o600
    with open(cache) as handle:
        scopes = sorted(t["scope"] for t in json.load(handle)["data"]["tokens"].values())
    # The run used Transfer, Groups and Auth; a Timers token is only asked for by a run that uses a timer.
    assert scopes == sorted(_globus.SCOPES[service][1] for service in ("transfer", "groups", "auth"))


def test_revoked_cached_token_is_refreshed_and_cache_updated(tmp_path):
    client = LabClient("refresh")
    cache = str(tmp_path / "tokens.json")
    coll, _root = client.collection("refresh")
    _globus.GlobusClients(client.client_id, client.secret, token_cache=cache).transfer.operation_ls(coll)
    with open(cache) as handle:
        before = json.load(handle)["data"]["tokens"]
    admin("POST", "/tokens/expire", {"client_id": client.client_id})
    clients = _globus.GlobusClients(client.client_id, client.secret, token_cache=cache)
    clients.transfer.operation_ls(coll)
    assert len(token_requests(client)) == 2
    with open(cache) as handle:
        after = json.load(handle)["data"]["tokens"]
    assert [t["access_token"] for t in after.values()] != [t["access_token"] for t in before.values()]
    _globus.GlobusClients(client.client_id, client.secret, token_cache=cache).transfer.operation_ls(coll)
    assert len(token_requests(client)) == 2


def test_corrupt_cache_with_live_service(tmp_path):
    client = LabClient("corrupt")
    cache = tmp_path / "tokens.json"
    cache.write_text("garbage{")
    clients = _globus.GlobusClients(client.client_id, client.secret, token_cache=str(cache))
    clients.transfer.get_submission_id()
    assert clients.warnings and "rewritten" in clients.warnings[0]
    assert json.loads(cache.read_text())["schema"] == _globus.CACHE_SCHEMA


def test_errors_mapped_with_request_id(tmp_path):
    client = LabClient("errors")
    clients = _globus.GlobusClients(client.client_id, client.secret)
    with pytest.raises(globus_sdk.TransferAPIError) as caught:
        clients.transfer.operation_ls("f52fcf83-d6a1-5905-ad7f-37b06a99d31a")
    result = _errors.error_result(caught.value)
    assert result["service"] == "transfer" and result["http_status"] == 403
    assert result["code"] == "EndpointPermissionDenied" and result["request_id"]
    client.fault("/v2/groups/my_groups", 503, count=20, retry_after=0)
    with clients.groups.retry_config.tune(max_retries=1):
        with pytest.raises(globus_sdk.GroupsAPIError) as caught:
            clients.groups.get_my_groups()
    client.clear_faults()
    result = _errors.error_result(caught.value)
    assert (result["service"], result["http_status"], result["code"]) == ("groups", 503, "ServiceUnavailable")


def test_canary_secret_never_leaks(lab, tmp_path):
    client = LabClient("canary", secret=CANARY)
    secret_file = tmp_path / "secret"
    secret_file.write_text(CANARY + "\n")
    os.chmod(str(secret_file), 0o600)
    texts = []
    good = _globus.clients_from_params({"client_id": client.client_id, "client_secret_file": str(secret_file),
                                        "token_cache": str(tmp_path / "cache.json")})
    good.transfer.get_submission_id()
    client.fault("/v0.10/submission_id", 500, count=20, retry_after=0)
    with good.transfer.retry_config.tune(max_retries=1):
        with pytest.raises(globus_sdk.TransferAPIError) as caught:
            good.transfer.get_submission_id()
    client.clear_faults()
    texts += [str(caught.value), repr(caught.value), json.dumps(_errors.error_result(caught.value, secret=CANARY))]
    bad = _globus.GlobusClients(client.client_id, CANARY + "-wrong")
    with pytest.raises(globus_sdk.AuthAPIError) as caught:
        bad.groups.get_my_groups()
    texts += [str(caught.value), repr(caught.value), json.dumps(_errors.error_result(caught.value, secret=CANARY))]
    with open(str(tmp_path / "cache.json")) as handle:
        texts.append(handle.read())
    texts.append(json.dumps(client.requests()))
    texts.append(lab.tail(lab.path("logs", "globus.log"), 400))
    for text in texts:
        assert CANARY not in text


def test_canary_secret_not_in_ansible_output(lab, tmp_path):
    """An Ansible task using the shared options with a canary secret: neither the failure nor -vvv output shows it."""
    client = LabClient("ansible", secret=CANARY)
    playbook = tmp_path / "play.yml"
    playbook.write_text("""
- name: Canary
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: %s
  tasks:
    - name: Read a task that does not exist
      sciops.datasync.globus_task_info:
        client_id: %s
        client_secret: "%s"
        task_id: 00000000-0000-0000-0000-000000000000
""" % (sys.executable, client.client_id, CANARY))
    env = dict(os.environ, **lab.environment())
    env.update(ANSIBLE_COLLECTIONS_PATH=os.path.join(lab.repo, ".collections"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_CONFIG=os.path.join(lab.repo, "ansible.cfg"))
    binary = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    # localhost only: ansible.cfg's default inventory is the booted hosts', whose group_vars do not apply here.
    proc = subprocess.run([binary, "-vvv", "-i", "localhost,", str(playbook)], env=env, capture_output=True, text=True, check=False,
                          cwd=lab.repo, timeout=120)
    # The module ran, got a token with the canary secret and asked Transfer for the task.
    assert proc.returncode == 2 and "Transfer task 00000000-0000-0000-0000-000000000000 was not found" in proc.stdout
    assert [r["method"] for r in client.requests("/v0.10/task/00000000-0000-0000-0000-000000000000")] == ["GET"]
    assert CANARY not in proc.stdout + proc.stderr
