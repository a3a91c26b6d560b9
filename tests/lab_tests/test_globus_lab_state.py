"""The Globus emulator's own state handling: persistence across restarts, seeds, path safety."""

from __future__ import annotations

import json
import os

import pytest
import requests

from tests.integration.globus_lab import wait_for
from tests.lab.globus import engine
from tests.lab.globus.model import State
from tests.lab.globus.private import PrivateEmulator


def token(url, client_id, secret, scope):
    reply = requests.post(url + "v2/oauth2/token", data={"grant_type": "client_credentials", "scope": scope},
                          auth=(client_id, secret), timeout=10)
    assert reply.status_code == 200, reply.text
    return {"Authorization": "Bearer " + reply.json()["access_token"]}


def test_state_survives_restart_and_seed_applies_once(tmp_path):
    state_dir = str(tmp_path / "globus")
    server = PrivateEmulator(state_dir)
    try:
        client = requests.post(server.url + "_lab/clients", json={"name": "persist"}, timeout=10).json()
        headers = token(server.url, client["client_id"], client["client_secret"], "urn:globus:auth:scope:groups.api.globus.org:all")
        group = requests.post(server.url + "v2/groups", json={"name": "persisted"}, headers=headers, timeout=10).json()
        seeded = requests.get(server.url + "_lab/groups/7a3362f8-ba51-5caf-80e4-4d4f2634261c", timeout=10)
        assert seeded.status_code == 200
    finally:
        server.stop()
    with open(os.path.join(state_dir, "state.json")) as handle:
        document = json.load(handle)
    assert group["id"] in document["groups"]
    assert stat_mode(os.path.join(state_dir, "state.json")) == 0o600
    del document["groups"]["7a3362f8-ba51-5caf-80e4-4d4f2634261c"]
    with open(os.path.join(state_dir, "state.json"), "w") as handle:
        json.dump(document, handle)

    server = PrivateEmulator(state_dir)
    try:
        assert requests.get(server.url + "_lab/groups/" + group["id"], timeout=10).status_code == 200
        assert requests.get(server.url + "_lab/groups/7a3362f8-ba51-5caf-80e4-4d4f2634261c", timeout=10).status_code == 404
        headers = token(server.url, client["client_id"], client["client_secret"], "urn:globus:auth:scope:groups.api.globus.org:all")
        mine = requests.get(server.url + "v2/groups/my_groups", headers=headers, timeout=10).json()
        assert [g["name"] for g in mine] == ["persisted"]
    finally:
        server.stop()


def test_corrupt_state_is_set_aside(tmp_path):
    state_dir = tmp_path / "globus"
    state_dir.mkdir()
    (state_dir / "state.json").write_text("{broken")
    server = PrivateEmulator(str(state_dir))
    try:
        health = requests.get(server.url + "_lab/health", timeout=10).json()
        assert health["counts"]["groups"] == 5
    finally:
        log = server.stop()
    assert "state unusable" in log
    assert [p.name for p in state_dir.iterdir() if p.name.startswith("state.json.broken")]


def stat_mode(path):
    return os.stat(path).st_mode & 0o777


@pytest.mark.parametrize("path, expected", [
    ("/", "/"), ("", "/"), ("/~/", "/"), ("~/a", "/a"), ("/a/../../b", "/b"), ("/a//b/", "/a/b"), ("/../..", "/"),
])
def test_norm_path(path, expected):
    assert engine.norm_path(path) == expected


def test_symlink_escape_refused(tmp_path):
    root = tmp_path / "coll"
    root.mkdir()
    (root / "out").symlink_to(tmp_path)
    with pytest.raises(engine.PathError):
        engine.local_path(str(root), "/out/x")
    assert engine.local_path(str(root), "/../x") == os.path.join(str(root), "x")


def test_acl_permissions(tmp_path):
    state = State(str(tmp_path / "s"))
    owner = state.add_client(name="owner")["id"]
    other = state.add_client(name="other")["id"]
    coll = state.add_collection("c", owner)
    group = state.add_group("g")
    state.set_membership(group, other, "member", "active")
    assert engine.permissions(state, coll, owner, "/anything") == "rw"
    assert engine.permissions(state, coll, other, "/data/x") == ""
    state.add_acl(coll["id"], "group", group["id"], "/data/", "r")
    assert engine.permissions(state, coll, other, "/data/x") == "r"
    assert engine.permissions(state, coll, other, "/data") == "r"
    assert engine.permissions(state, coll, other, "/database") == ""
    state.add_acl(coll["id"], "identity", other, "/data/rw/", "rw")
    assert engine.permissions(state, coll, other, "/data/rw/deeper") == "rw"
    state.set_membership(group, other, "member", "removed")
    assert engine.permissions(state, coll, other, "/data/x") == ""


def test_moving_the_clock_expires_tasks_and_tokens(tmp_path):
    """Clock moves are global, so they are tested on a private emulator."""
    import globus_sdk

    server = PrivateEmulator(str(tmp_path / "globus"))
    try:
        url = server.url
        admin = server.url + "_lab"
        client = requests.post(admin + "/clients", json={"name": "clock"}, timeout=10).json()
        src = requests.post(admin + "/collections", json={"display_name": "src", "owner": client["client_id"]}, timeout=10).json()
        dst = requests.post(admin + "/collections", json={"display_name": "dst", "owner": client["client_id"]}, timeout=10).json()
        for index in range(5):
            with open(os.path.join(src["root"], "f%d" % index), "wb") as handle:
                handle.write(b"x" * 1000)
        requests.post(admin + "/config", json={"transfer_rate": 100}, timeout=10)  # 50 s: it cannot end before the clock moves
        confidential = globus_sdk.ConfidentialAppAuthClient(client["client_id"], client["client_secret"], base_url=url)
        transfer = globus_sdk.TransferClient(base_url=url, authorizer=globus_sdk.ClientCredentialsAuthorizer(
            confidential, globus_sdk.scopes.TransferScopes.all))
        data = globus_sdk.TransferData(src["id"], dst["id"], label="clock", sync_level="checksum")
        data.add_item("/", "/", recursive=True)
        task_id = transfer.submit_transfer(data)["task_id"]
        moved = requests.post(admin + "/clock", json={"advance": 49 * 3600}, timeout=10).json()
        assert moved["offset"] == 49 * 3600
        # the engine expires the task on its next tick; poll the admin view (not logged as a Transfer request)
        wait_for(lambda: requests.get(admin + "/tasks/" + task_id, timeout=10).json()["status"] == "FAILED", what="expired task")
        task = transfer.get_task(task_id)
        assert task["status"] == "FAILED" and task["fatal_error"]["code"] == "EXPIRED"
        statuses = [r["status"] for r in requests.get(admin + "/requests", params={"path": "/v0.10/task/*"}, timeout=10).json()["requests"]]
        assert statuses == [401, 200]
        assert requests.post(admin + "/clock", json={"offset": 0}, timeout=10).json()["offset"] == 0
    finally:
        server.stop()
