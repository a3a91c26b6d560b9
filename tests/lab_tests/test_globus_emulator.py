"""Contract tests: the real globus-sdk and globus-cli against the lab Globus emulator."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import time

import pytest

from tests.integration.globus_lab import LabClient, admin, sdk_environment, tree, wait_for, wait_task

globus_sdk = pytest.importorskip("globus_sdk")

ALICE = "alice@example.org"


@pytest.fixture(scope="module", autouse=True)
def globus_env(lab):
    with sdk_environment(lab):
        yield


@pytest.fixture()
def client():
    made = LabClient("contract")
    yield made
    made.clear_faults()


def identity_id(username):
    return admin("POST", "/identities", {"username": username})["id"]


def files_20k():
    return {"tree/d%d/f%02d.dat" % (i % 3, i): (b"%02d" % i) * 1000 for i in range(10)}


# ---- Auth ---------------------------------------------------------------------------------------------------------
def test_auth_token_and_identities(client):
    auth = client.auth()
    found = auth.get_identities(usernames=[ALICE, "nobody-here@example.org"])["identities"]
    assert [i["username"] for i in found] == [ALICE]
    for field in ("id", "username", "name", "email", "organization", "identity_provider", "status"):
        assert field in found[0]
    by_id = auth.get_identities(ids=[found[0]["id"], client.client_id])["identities"]
    assert {i["username"] for i in by_id} == {ALICE, client.username}
    provisioned = auth.get_identities(usernames=["brand-new-%s@example.org" % client.client_id[:8]], provision=True)["identities"]
    assert provisioned[0]["status"] == "unused"
    awkward = auth.get_identities(usernames=["zoë@example.org"])["identities"]
    assert awkward and awkward[0]["name"].startswith("Zo")


def test_token_response_per_resource_server(client):
    confidential = globus_sdk.ConfidentialAppAuthClient(client.client_id, client.secret)
    tokens = confidential.oauth2_client_credentials_tokens(requested_scopes=[
        "urn:globus:auth:scope:transfer.api.globus.org:all", "urn:globus:auth:scope:groups.api.globus.org:all"])
    assert set(tokens.by_resource_server) == {"transfer.api.globus.org", "groups.api.globus.org"}
    assert tokens.by_resource_server["transfer.api.globus.org"]["expires_at_seconds"] > time.time() + 3600


def test_bad_client_secret_is_401(client):
    confidential = globus_sdk.ConfidentialAppAuthClient(client.client_id, "not-the-secret")
    with pytest.raises(globus_sdk.AuthAPIError) as caught:
        confidential.oauth2_client_credentials_tokens(requested_scopes="urn:globus:auth:scope:transfer.api.globus.org:all")
    assert caught.value.http_status == 401


# ---- Groups -------------------------------------------------------------------------------------------------------
def test_groups_lifecycle(client):
    groups = client.groups()
    alice, bob = identity_id(ALICE), identity_id("bob@example.org")
    root = groups.create_group({"name": "contract-root", "description": "root"})
    assert root["my_memberships"][0]["role"] == "admin"
    sub = groups.create_group({"name": "contract.sub", "description": "sub", "parent_id": root["id"]})
    assert sub["parent_id"] == root["id"]
    mine = {g["id"]: g for g in groups.get_my_groups()}
    assert {root["id"], sub["id"]} <= set(mine)
    assert {"id", "name", "parent_id", "group_type", "my_memberships", "policies"} <= set(mine[sub["id"]])

    batch = globus_sdk.BatchMembershipActions()
    batch.add_members([alice], role="manager")
    batch.invite_members([bob])
    done = groups.batch_membership_action(sub["id"], batch)
    assert done["add"][0]["role"] == "manager" and done["invite"][0]["status"] == "invited"
    again = globus_sdk.BatchMembershipActions()
    again.add_members([alice])
    again.remove_members([identity_id("grace@example.org")])
    errors = groups.batch_membership_action(sub["id"], again)["errors"]
    assert errors["add"][0]["code"] == "ALREADY_ACTIVE"
    assert errors["remove"][0]["code"] == "NO_MEMBERSHIP"

    change = globus_sdk.BatchMembershipActions()
    change.change_roles("member", [alice])
    change.remove_members([bob])
    result = groups.batch_membership_action(sub["id"], change)
    assert result["change_role"][0]["role"] == "member" and result["remove"][0]["status"] == "removed"

    full = groups.get_group(sub["id"], include=["memberships", "policies"])
    members = {m["username"]: m for m in full["memberships"]}
    assert members[ALICE]["status"] == "active" and members["bob@example.org"]["status"] == "removed"
    for field in ("group_id", "identity_id", "username", "role", "status", "membership_fields", "invite_time", "updated"):
        assert field in members[ALICE]

    policies = globus_sdk.GroupPolicies(is_high_assurance=False, group_visibility="authenticated",
                                        group_members_visibility="members", join_requests=True, signup_fields=["email"])
    assert groups.set_group_policies(sub["id"], policies)["group_visibility"] == "authenticated"
    assert groups.get_group_policies(sub["id"])["signup_fields"] == ["email"]
    assert groups.update_group(sub["id"], {"name": "contract.sub", "description": "new text"})["description"] == "new text"
    with pytest.raises(globus_sdk.GroupsAPIError) as caught:
        groups.delete_group(root["id"])
    assert caught.value.http_status == 409
    groups.delete_group(sub["id"])
    groups.delete_group(root["id"])


def test_groups_permissions(client, lab):
    outsider = LabClient("outsider")
    root = client.groups().create_group({"name": "contract-perm"})
    with pytest.raises(globus_sdk.GroupsAPIError) as caught:
        outsider.groups().get_group(root["id"])
    assert caught.value.http_status == 404
    admin("POST", "/groups/%s/members" % root["id"], {"identity": outsider.client_id, "role": "member"})
    view = outsider.groups().get_group(root["id"], include=["memberships"])
    assert [m["identity_id"] for m in view["memberships"]] == [outsider.client_id]
    with pytest.raises(globus_sdk.GroupsAPIError) as caught:
        outsider.groups().update_group(root["id"], {"name": "x", "description": "y"})
    assert caught.value.http_status == 403
    readonly = globus_sdk.GroupsClient(authorizer=client.authorizer(globus_sdk.scopes.GroupsScopes.view_my_groups_and_memberships))
    assert readonly.get_group(root["id"])["name"] == "contract-perm"
    with pytest.raises(globus_sdk.GroupsAPIError) as caught:
        readonly.update_group(root["id"], {"name": "x", "description": "y"})
    assert caught.value.http_status == 403


def test_seeded_root_group(lab):
    info = lab.endpoints()["globus"]
    lab_client = LabClient.__new__(LabClient)
    lab_client.client_id = info["client_id"]
    with open(info["client_secret_file"]) as handle:
        lab_client.secret = handle.read().strip()
    root = lab_client.groups().get_group(info["root_group_id"], include=["memberships"])
    statuses = {m["username"]: m["status"] for m in root["memberships"]}
    assert statuses["dave@example.org"] == "pending" and statuses["erin@example.org"] == "removed"
    assert "new\nline@example.org" in statuses and "$(reboot)@example.org" in statuses


# ---- Transfer -----------------------------------------------------------------------------------------------------
def test_ls_mkdir_stat_endpoint(client):
    transfer = client.transfer()
    coll, root = client.collection("ls", {"a/one.txt": "1", "a/two.txt": "22"})
    listing = transfer.operation_ls(coll, path="/a/")
    assert listing["path"] == "/a/"
    assert [(e["name"], e["type"], e["size"]) for e in listing] == [("one.txt", "file", 1), ("two.txt", "file", 2)]
    assert len(listing["DATA"][0]["last_modified"]) == len("2026-01-01 00:00:00+00:00")
    assert transfer.operation_mkdir(coll, "/a/new")["code"] == "DirectoryCreated"
    assert os.path.isdir(os.path.join(root, "a", "new"))
    with pytest.raises(globus_sdk.TransferAPIError) as caught:
        transfer.operation_mkdir(coll, "/a/new")
    assert (caught.value.http_status, caught.value.code) == (502, "ExternalError.MkdirFailed.Exists")
    assert transfer.operation_stat(coll, "/a/two.txt")["size"] == 2
    with pytest.raises(globus_sdk.TransferAPIError) as caught:
        transfer.operation_stat(coll, "/missing")
    assert caught.value.http_status == 404
    endpoint = transfer.get_endpoint(coll)
    assert endpoint["owner_id"] == client.client_id and endpoint["entity_type"] == "GCSv5_guest_collection"
    assert endpoint["display_name"].startswith("ls ")
    listing = transfer.operation_ls(coll, path="/../../")
    assert {e["name"] for e in listing} == {"a"}


def test_acl_rules_grant_access(client):
    other = LabClient("grantee")
    coll, _root = client.collection("acl", {"shared/x.txt": "x", "private/y.txt": "y"})
    transfer, theirs = client.transfer(), other.transfer()
    with pytest.raises(globus_sdk.TransferAPIError) as caught:
        theirs.operation_ls(coll, path="/shared/")
    assert (caught.value.http_status, caught.value.code) == (403, "EndpointPermissionDenied")
    rule = transfer.add_endpoint_acl_rule(coll, {"DATA_TYPE": "access", "principal_type": "identity", "principal": other.client_id,
                                                 "path": "/shared/", "permissions": "r", "notify_email": "x@example.org"})
    assert rule["code"] == "Created"
    assert [e["name"] for e in theirs.operation_ls(coll, path="/shared/")] == ["x.txt"]
    with pytest.raises(globus_sdk.TransferAPIError):
        theirs.operation_ls(coll, path="/private/")
    with pytest.raises(globus_sdk.TransferAPIError) as caught:
        theirs.operation_mkdir(coll, "/shared/sub")
    assert caught.value.http_status == 403
    with pytest.raises(globus_sdk.TransferAPIError) as caught:
        transfer.add_endpoint_acl_rule(coll, {"DATA_TYPE": "access", "principal_type": "identity", "principal": other.client_id,
                                              "path": "/shared/", "permissions": "rw"})
    assert caught.value.http_status == 409
    rules = list(transfer.endpoint_acl_list(coll))
    # as the real list: role-derived rw rules on / (id null, role_id set; the owner's), then the rules
    role_rows = [r for r in rules if r.get("role_id")]
    assert all((r["id"], r["path"], r["permissions"]) == (None, "/", "rw") for r in role_rows)
    rules = [r for r in rules if not r.get("role_id")]
    assert [(r["principal_type"], r["principal"], r["path"], r["permissions"]) for r in rules] == [
        ("identity", other.client_id, "/shared/", "r")]
    assert "id" in rules[0]
    with pytest.raises(globus_sdk.TransferAPIError) as caught:
        theirs.endpoint_acl_list(coll)
    assert caught.value.http_status == 403
    assert transfer.delete_endpoint_acl_rule(coll, rule["access_id"])["code"] == "Deleted"
    with pytest.raises(globus_sdk.TransferAPIError):
        theirs.operation_ls(coll, path="/shared/")
    notes = admin("GET", "/notifications")["notifications"]
    assert any(n["access_id"] == rule["access_id"] and n["email"] == "x@example.org" for n in notes)


def submit_sync(transfer, src, dst, label, deadline=None, submission_id=None, **extra):
    if deadline:
        extra["deadline"] = deadline
    if submission_id:
        extra["submission_id"] = submission_id
    data = globus_sdk.TransferData(src, dst, label=label, sync_level="checksum", verify_checksum=True,
                                   preserve_timestamp=True, **extra)
    data.add_item("/tree/", "/copy/", recursive=True)
    return transfer.submit_transfer(data)


def test_checksum_sync_twice_copies_nothing_the_second_time(client):
    transfer = client.transfer()
    src, src_root = client.collection("src", files_20k())
    dst, dst_root = client.collection("dst", {"copy/extra.txt": "keep me"})
    first = submit_sync(transfer, src, dst, "sync 1")
    assert first["code"] == "Accepted"
    task = wait_task(transfer, first["task_id"])
    assert task["status"] == "SUCCEEDED" and task["files"] == 10 and task["files_transferred"] == 10
    assert task["bytes_transferred"] == 20000
    for field in ("nice_status", "fatal_error", "deadline", "request_time", "completion_time", "label", "sync_level",
                  "files_skipped", "directories", "bytes_checksummed", "faults", "source_endpoint_id", "destination_endpoint_id"):
        assert field in task.data
    copied = tree(os.path.join(dst_root, "copy"))
    assert {k: v for k, v in copied.items() if k != "extra.txt"} == tree(os.path.join(src_root, "tree"))
    src_mtime = os.stat(os.path.join(src_root, "tree", "d0", "f00.dat")).st_mtime
    assert int(os.stat(os.path.join(dst_root, "copy", "d0", "f00.dat")).st_mtime) == int(src_mtime)
    paths = sorted(t["destination_path"] for t in transfer.task_successful_transfers(first["task_id"]))
    assert len(paths) == 10 and paths[0] == "/copy/d0/f00.dat"

    second = submit_sync(transfer, src, dst, "sync 2")
    task = wait_task(transfer, second["task_id"])
    assert task["status"] == "SUCCEEDED" and task["files_transferred"] == 0 and task["files_skipped"] == 10
    assert list(transfer.task_successful_transfers(second["task_id"])) == []
    assert tree(os.path.join(dst_root, "copy"))["extra.txt"] == b"keep me"

    with open(os.path.join(src_root, "tree", "d1", "f01.dat"), "wb") as handle:
        handle.write(b"X" * 2000)
    third = wait_task(transfer, submit_sync(transfer, src, dst, "sync 3")["task_id"])
    assert (third["files_transferred"], third["files_skipped"]) == (1, 9)
    events = [e["code"] for e in transfer.task_event_list(second["task_id"])]
    assert events[0] == "SUCCEEDED" and "STARTED" in events


def test_deadline_expiry_keeps_partial_destination_and_resubmit_completes(client):
    transfer = client.transfer()
    src, _src_root = client.collection("slow-src", files_20k())
    dst, dst_root = client.collection("slow-dst")
    client.set_rate(2000)  # 1 s per file: 10 s for the tree, the deadline cuts it after about 5 files
    submission = transfer.get_submission_id()["value"]  # the token is fetched before the deadline starts counting
    deadline = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=5)).isoformat()
    submitted = submit_sync(transfer, src, dst, "slow", deadline=deadline, submission_id=submission)
    task = wait_task(transfer, submitted["task_id"])
    assert task["status"] == "FAILED" and task["fatal_error"]["code"] == "EXPIRED"
    events = list(transfer.task_event_list(submitted["task_id"]))
    assert events[0]["code"] == "EXPIRED" and events[0]["is_error"] is True
    arrived = tree(os.path.join(dst_root, "copy")) if os.path.isdir(os.path.join(dst_root, "copy")) else {}
    assert 0 < len(arrived) < 10, arrived.keys()
    assert task["files_transferred"] == len(arrived)
    assert not [n for n in arrived if ".globus-partial" in n]

    client.set_rate(None)
    again = wait_task(transfer, submit_sync(transfer, src, dst, "slow again")["task_id"])
    assert again["status"] == "SUCCEEDED"
    assert again["files_transferred"] == 10 - len(arrived) and again["files_skipped"] == len(arrived)
    assert len(tree(os.path.join(dst_root, "copy"))) == 10


def test_injected_expiry_and_fail_and_cancel(client):
    transfer = client.transfer()
    src, _src_root = client.collection("fault-src", files_20k())
    dst, _dst_root = client.collection("fault-dst")
    client.set_rate(200)  # 100 s per task: none ends by itself during the test
    tasks = []
    try:
        tasks = [submit_sync(transfer, src, dst, "t%d" % i)["task_id"] for i in range(5)]
        wait_for(lambda: all(transfer.get_task(t)["nice_status"] == "OK" for t in tasks[:3]), what="the first 3 tasks started")
        views = {t: transfer.get_task(t) for t in tasks}
        assert all(v["status"] == "ACTIVE" for v in views.values())
        assert [views[t]["nice_status"] for t in tasks[3:]] == ["Queued", "Queued"]
        listed = transfer.task_list(filter="type:TRANSFER/status:ACTIVE", orderby="request_time DESC", limit=100)
        assert {t["task_id"] for t in listed} == set(tasks)
        assert transfer.task_list(filter="label:=t2")["DATA"][0]["task_id"] == tasks[2]
        assert transfer.update_task(tasks[4], {"DATA_TYPE": "task", "label": "renamed"})["code"] == "Updated"
        assert transfer.get_task(tasks[4])["label"] == "renamed"

        expired = admin("POST", "/tasks/%s/expire" % tasks[0])
        assert expired["status"] == "FAILED"
        failed = admin("POST", "/tasks/%s/fail" % tasks[1], {"code": "PERMISSION_DENIED", "description": "lab says no"})
        assert failed["fatal_error"]["code"] == "PERMISSION_DENIED"
        assert transfer.cancel_task(tasks[2])["code"] == "Canceled"
        assert transfer.cancel_task(tasks[2])["code"] == "TaskComplete"
        assert transfer.get_task(tasks[2])["fatal_error"]["code"] == "CANCELED"
        wait_for(lambda: transfer.get_task(tasks[3])["nice_status"] != "Queued", what="the 4th task started")
    finally:
        for task_id in tasks:
            transfer.cancel_task(task_id)
        client.set_rate(None)


def test_submission_id_dedupe_and_marker_paging(client):
    transfer = client.transfer()
    src, _src_root = client.collection("dup-src", files_20k())
    dst, _dst_root = client.collection("dup-dst")
    submission = transfer.get_submission_id()["value"]
    first = submit_sync(transfer, src, dst, "dup", submission_id=submission)
    second = submit_sync(transfer, src, dst, "dup", submission_id=submission)
    assert second["code"] == "Duplicate" and second["task_id"] == first["task_id"]
    wait_task(transfer, first["task_id"])
    admin("POST", "/config", {"page_size": 3, "client_id": client.client_id})
    page = transfer.task_successful_transfers(first["task_id"])
    assert len(page["DATA"]) == 3 and page["next_marker"]
    every = list(transfer.paginated.task_successful_transfers(first["task_id"]).items())
    assert len(every) == 10 and len({e["destination_path"] for e in every}) == 10
    skipped = transfer.task_skipped_errors(first["task_id"])
    assert skipped["DATA"] == [] and skipped["next_marker"] is None


def test_skip_source_errors_recorded(client):
    transfer = client.transfer()
    src, _src_root = client.collection("skip-src", {"tree/a.txt": "a"})
    dst, _dst_root = client.collection("skip-dst")
    data = globus_sdk.TransferData(src, dst, label="skip", sync_level="checksum", skip_source_errors=True)
    data.add_item("/tree/", "/copy/", recursive=True)
    data.add_item("/nope.txt", "/copy/nope.txt")
    task = wait_task(transfer, transfer.submit_transfer(data)["task_id"])
    assert task["status"] == "SUCCEEDED" and task["files_transferred"] == 1
    errors = list(transfer.task_skipped_errors(task["task_id"]))
    assert errors[0]["source_path"] == "/nope.txt" and errors[0]["error_code"] == "FILE_NOT_FOUND"


def test_submit_without_write_permission_is_403(client):
    transfer = client.transfer()
    src, _src_root = client.collection("perm-src", files_20k())
    foreign, _root = LabClient("owner").collection("foreign")
    with pytest.raises(globus_sdk.TransferAPIError) as caught:
        submit_sync(transfer, src, foreign, "nope")
    assert (caught.value.http_status, caught.value.code) == (403, "EndpointPermissionDenied")


# ---- retries and tokens -------------------------------------------------------------------------------------------
def test_two_503_then_success(client):
    transfer = client.transfer()
    coll, _root = client.collection("retry", {"f.txt": "f"})
    transfer.operation_ls(coll)
    client.fault("/v0.10/operation/endpoint/*/ls", 503, count=2, retry_after=0)
    listing = transfer.operation_ls(coll)
    assert [e["name"] for e in listing] == ["f.txt"]
    statuses = [r["status"] for r in client.requests("/v0.10/operation/endpoint/*/ls")]
    assert statuses[-3:] == [503, 503, 200]


def test_429_retry_after_is_honoured(client):
    groups = client.groups()
    groups.get_my_groups()
    client.fault("/v2/groups/my_groups", 429, count=1, retry_after=1)
    started = time.monotonic()
    groups.get_my_groups()
    assert time.monotonic() - started >= 0.9
    assert [r["status"] for r in client.requests("/v2/groups/my_groups")][-2:] == [429, 200]


def test_persistent_503_surfaces_the_error(client):
    transfer = client.transfer()
    coll, _root = client.collection("down")
    client.fault("/v0.10/operation/endpoint/*/ls", 503, count=10, retry_after=0)
    with transfer.retry_config.tune(max_retries=1):
        with pytest.raises(globus_sdk.TransferAPIError) as caught:
            transfer.operation_ls(coll)
    assert caught.value.http_status == 503 and caught.value.request_id


def test_injected_401_refreshes_token_once(client):
    transfer = client.transfer()
    coll, _root = client.collection("auth401", {"f.txt": "f"})
    transfer.operation_ls(coll)
    assert len(client.requests("/v2/oauth2/token")) == 1
    client.fault("/v0.10/operation/endpoint/*/ls", 401, count=1)
    transfer.operation_ls(coll)
    assert len(client.requests("/v2/oauth2/token")) == 2
    assert [r["status"] for r in client.requests("/v0.10/operation/endpoint/*/ls")][-2:] == [401, 200]


def test_expired_tokens_are_renewed(client):
    transfer = client.transfer()
    coll, _root = client.collection("expire")
    transfer.operation_ls(coll)
    assert admin("POST", "/tokens/expire", {"client_id": client.client_id})["expired"] >= 1
    transfer.operation_ls(coll)
    assert len(client.requests("/v2/oauth2/token")) == 2


def test_latency_injection(client):
    transfer = client.transfer()
    coll, _root = client.collection("slow")
    transfer.operation_ls(coll)
    admin("POST", "/latency", {"seconds": 0.5, "pattern": "/v0.10/operation/*", "client_id": client.client_id})
    started = time.monotonic()
    transfer.operation_ls(coll)
    assert time.monotonic() - started >= 0.45


# ---- globus-cli ---------------------------------------------------------------------------------------------------
def test_globus_cli_smoke(client, lab, tmp_path):
    globus = os.path.join(os.path.dirname(sys.executable), "globus")
    env = client.cli_env(lab, str(tmp_path))
    src, _src_root = client.collection("cli-src", files_20k())
    dst, dst_root = client.collection("cli-dst")
    group = client.groups().create_group({"name": "cli-group"})
    batch = globus_sdk.BatchMembershipActions()
    batch.add_members([identity_id(ALICE)])
    client.groups().batch_membership_action(group["id"], batch)

    def cli(*args):
        proc = subprocess.run([globus] + list(args), env=env, capture_output=True, text=True, check=False, timeout=60)
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
        return proc.stdout

    assert "cli-group" in cli("group", "list")
    assert ALICE in cli("group", "member", "list", group["id"])
    assert cli("ls", "%s:/tree/" % src).split() == ["d0/", "d1/", "d2/"]
    assert "created successfully" in cli("mkdir", "%s:/made" % dst)
    out = json.loads(cli("transfer", "--sync-level", "checksum", "--recursive", "--label", "cli sync", "-F", "json",
                         "%s:/tree/" % src, "%s:/copy/" % dst))
    task = wait_task(client.transfer(), out["task_id"])
    assert task["files_transferred"] == 10
    assert "SUCCEEDED" in cli("task", "show", out["task_id"])
    assert len(tree(os.path.join(dst_root, "copy"))) == 10


def test_lab_environment_reaches_timers(client, lab, tmp_path):
    """The lab environment handed to clients names the Timers service: globus-cli's timer commands work with it alone."""
    for env in (lab.environment(), lab.hosts_environment()):
        assert env["GLOBUS_SDK_SERVICE_URL_TIMER"] == env["GLOBUS_SDK_SERVICE_URL_TRANSFER"]
    globus = os.path.join(os.path.dirname(sys.executable), "globus")
    env = client.cli_env(lab, str(tmp_path))
    src, _src_root = client.collection("timer-src", {"t/a.txt": "a"})
    dst, _dst_root = client.collection("timer-dst")

    def cli(*args):
        proc = subprocess.run([globus] + list(args), env=env, capture_output=True, text=True, check=False, timeout=60)
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
        return proc.stdout

    made = json.loads(cli("timer", "create", "transfer", "--interval", "1d", "--name", "lab env timer", "--recursive", "-F", "json",
                          "%s:/t/" % src, "%s:/t/" % dst))
    job_id = made.get("timer", made)["job_id"]
    assert "lab env timer" in cli("timer", "list")
    assert json.loads(cli("timer", "show", job_id, "-F", "json"))["name"] == "lab env timer"
    cli("timer", "delete", job_id)
    assert "lab env timer" not in cli("timer", "list")


def test_admin_identity_update_touches_memberships(client):
    groups = client.groups()
    username = "changing-%s@example.org" % client.client_id[:8]
    ident = admin("POST", "/identities", {"username": username, "name": "Before", "email": username})
    group = groups.create_group({"name": "identity-update"})
    admin("POST", "/groups/%s/members" % group["id"], {"identity": ident["id"], "role": "member"})
    before = {m["identity_id"]: m for m in groups.get_group(group["id"], include=["memberships"])["memberships"]}[ident["id"]]
    time.sleep(1.1)
    admin("PUT", "/identities/%s" % ident["id"], {"name": "After", "email": "new-" + username})
    after = {m["identity_id"]: m for m in groups.get_group(group["id"], include=["memberships"])["memberships"]}[ident["id"]]
    assert after["updated"] > before["updated"]
    assert client.auth().get_identities(ids=ident["id"])["identities"][0]["name"] == "After"
