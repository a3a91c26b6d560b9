"""main() of the four identity modules with fake Globus clients (patch_module_args)."""

import os

import pytest

from ansible_collections.sciops.datasync.plugins.module_utils._globus import clients as _globus
from ansible_collections.sciops.datasync.plugins.module_utils._core.lock import RunLock
from ansible_collections.sciops.datasync.plugins.modules import globus_group, globus_group_info, globus_group_sync, globus_user_sync

from module_runner import run

ROOT_GROUP = "aaaaaaaa-0000-4000-8000-000000000000"
SUB = "bbbbbbbb-0000-4000-8000-000000000000"
ANN = "11111111-0000-4000-8000-000000000000"
BOB = "22222222-0000-4000-8000-000000000000"


def membership(identity_id, username, role="member", status="active"):
    return {"identity_id": identity_id, "username": username, "role": role, "status": status}


class FakeGroups:
    def __init__(self):
        self.docs = {
            ROOT_GROUP: {"id": ROOT_GROUP, "name": "root", "parent_id": None, "child_ids": [SUB],
                         "memberships": [membership(ANN, "ann@example.org"), membership(BOB, "-bob@example.org")]},
            SUB: {"id": SUB, "name": "proj.x", "parent_id": ROOT_GROUP, "description": "X", "child_ids": [],
                  "policies": {"group_visibility": "private"}, "memberships": [membership(ANN, "ann@example.org", "admin")]},
        }
        self.batches = []

    def get_group(self, group_id, include=()):
        return self.docs[group_id]

    def get_my_groups(self):
        return list(self.docs.values())

    def batch_membership_action(self, group_id, body):
        self.batches.append((group_id, body))
        return {}


class FakeAuth:
    def get_identities(self, ids=None, usernames=None):
        known = {ANN: {"id": ANN, "username": "ann@example.org", "name": "Ann Arbor", "email": "ann@example.org"},
                 BOB: {"id": BOB, "username": "-bob@example.org", "name": "Bob", "email": None}}
        if usernames:
            return {"identities": [v for v in known.values() if v["username"] in usernames]}
        return {"identities": [known[i] for i in ids if i in known]}


@pytest.fixture
def fakes(monkeypatch):
    groups, auth = FakeGroups(), FakeAuth()
    monkeypatch.setattr(_globus, "groups_client", lambda module: groups)
    monkeypatch.setattr(_globus, "auth_client", lambda module: auth)
    return groups


def base(tmp_path, **extra):
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    secret.chmod(0o600)
    args = {"client_id": "cccccccc-0000-4000-8000-000000000000", "client_secret_file": str(secret), "root_group": ROOT_GROUP,
            "root": str(tmp_path / "root")}
    args.update(extra)
    return args


def test_user_sync_check_mode_plans_and_refuses_by_name(tmp_path, fakes):
    out = run(globus_user_sync.main, base(tmp_path, domains=["example.org"], _ansible_check_mode=True, _ansible_diff=True))
    assert not out.failed and out.result["changed"] is True
    assert [c["name"] for c in out.result["created"]] == ["ann"]
    assert "'-bob'" in out.result["errors"][0]["reason"] and out.result["errors"][0]["item"] == out.result["errors"][0]["globus_username"]
    assert "ann:x:10000:10000:Ann Arbor:/home/ann:/bin/bash" in out.result["diff"]["after"]
    assert not os.path.exists(str(tmp_path / "root"))


def test_user_sync_busy_lock_without_waiting_is_skipped_with_holder(tmp_path, fakes):
    lock_file = str(tmp_path / "run.lock")
    with RunLock(lock_file, wait=False):
        out = run(globus_user_sync.main, base(tmp_path, lock_file=lock_file, lock_wait=False))
    assert out.result["skipped"] is True and out.result["holder_pid"] == os.getpid() and out.result["changed"] is False


def test_user_sync_absent_needs_names(tmp_path, fakes):
    assert run(globus_user_sync.main, base(tmp_path, state="absent")).failed


def test_group_sync_rejects_a_bad_regex(tmp_path, fakes):
    out = run(globus_group_sync.main, base(tmp_path, include=["/(unclosed/"]))
    assert out.failed and "regular expression" in out.result["msg"]


def test_group_sync_check_mode(tmp_path, fakes):
    out = run(globus_group_sync.main, base(tmp_path, _ansible_check_mode=True))
    assert out.result["changed"] is True and out.result["created"][0]["name"] == "proj-x"


def test_group_info_lists_subgroups_and_one_group(tmp_path, fakes):
    args = base(tmp_path)
    args.pop("root_group")
    args.pop("root")
    out = run(globus_group_info.main, dict(args, subgroups_of=ROOT_GROUP, include=["proj.*"]))
    assert [g["name"] for g in out.result["groups"]] == ["proj.x"] and out.result["changed"] is False
    out = run(globus_group_info.main, dict(args, group_id=SUB, member_statuses=["active"]))
    assert out.result["group"]["members"][0]["username"] == "ann@example.org"


def test_group_adds_by_username_in_check_mode_and_applies(tmp_path, fakes):
    args = base(tmp_path)
    args.pop("root_group")
    args.pop("root")
    out = run(globus_group.main, dict(args, group_id=SUB, members=["-bob@example.org", "nobody@example.org"], _ansible_check_mode=True))
    assert out.result["changed"] is True and out.result["actions"] == {"add": [BOB]}
    assert out.result["errors"][0]["reference"] == "nobody@example.org" == out.result["errors"][0]["item"] and not fakes.batches
    out = run(globus_group.main, dict(args, group_id=SUB, members=["-bob@example.org"]))
    assert fakes.batches == [(SUB, {"add": [{"identity_id": BOB, "role": "member"}]})]
