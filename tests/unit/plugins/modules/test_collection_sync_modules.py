import os

import pytest

from ansible_collections.sciops.datasync.plugins.module_utils._core.lock import RunLock
from ansible_collections.sciops.datasync.plugins.modules import globus_collection_sync, globus_directory, globus_task_info

from module_runner import run

SRC = "11111111-1111-4111-8111-111111111111"
DST = "22222222-2222-4222-8222-222222222222"


def sync_args(tmp_path, **extra):
    secret = tmp_path / "secret"
    secret.write_text("s3cret-value\n")
    secret.chmod(0o600)
    args = {"client_id": "d08b351a-2516-55d1-9257-d2e8a3e81ebc", "client_secret_file": str(secret),
            "state_file": str(tmp_path / "state.json"),
            "syncs": [{"name": "raw", "source_collection": SRC, "source_path": "/data", "destination_collection": DST}]}
    args.update(extra)
    return args


def test_busy_lock_without_wait_skips(tmp_path):
    with RunLock(str(tmp_path / "state.json.lock")):
        outcome = run(globus_collection_sync.main, sync_args(tmp_path, lock_wait=False))
    assert not outcome.failed and outcome.result["skipped"] is True and outcome.result["changed"] is False
    assert outcome.result["holder_pid"] == os.getpid() and outcome.result["lock_file"] == str(tmp_path / "state.json.lock")


def test_refused_sync_is_named_and_nothing_is_contacted(tmp_path, monkeypatch):
    from ansible_collections.sciops.datasync.plugins.module_utils._globus import clients as _globus

    class Silent:
        def task_list(self, **kwargs):
            return []

        def __getattr__(self, name):
            raise AssertionError("no Globus call expected: %s" % name)

    monkeypatch.setattr(_globus, "transfer_client", lambda module: Silent())
    args = sync_args(tmp_path)
    args["syncs"][0]["source_collection"] = "not-a-uuid"
    outcome = run(globus_collection_sync.main, args)
    assert outcome.failed and "sync raw: source_collection 'not-a-uuid' is not a collection id" in outcome.result["msg"]
    assert outcome.result["syncs"] == [] and outcome.result["submitted"] == []


def test_task_info_needs_a_task_a_name_or_a_label(tmp_path):
    outcome = run(globus_task_info.main, {"client_id": "x", "client_secret_file": str(tmp_path / "s")})
    assert outcome.failed and "task_id" in outcome.result["msg"]


def test_directory_refuses_a_bad_path_before_any_call(tmp_path, monkeypatch):
    from ansible_collections.sciops.datasync.plugins.module_utils._globus import clients as _globus

    monkeypatch.setattr(_globus, "transfer_client", lambda module: None)
    monkeypatch.setattr(_globus, "auth_client", lambda module: None)
    outcome = run(globus_directory.main, {"client_id": "x", "client_secret_file": str(tmp_path / "s"), "collection": DST,
                                          "path": "/a/../b", "shares": [{"identity": "alice@example.org"}]})
    assert outcome.failed and "'/a/../b'" in outcome.result["msg"] and outcome.result["changed"] is False


def test_check_mode_plans_without_creating_the_state_or_lock_folder(tmp_path, monkeypatch):
    from ansible_collections.sciops.datasync.plugins.module_utils._globus import clients as _globus
    from tests.unit.plugins.module_utils.test_collection_sync import FakeTransfer

    fake = FakeTransfer()
    monkeypatch.setattr(_globus, "transfer_client", lambda module: fake)
    args = sync_args(tmp_path, state_file=str(tmp_path / "never" / "state.json"), lock_file=str(tmp_path / "locks" / "cs.lock"),
                     _ansible_check_mode=True)
    outcome = run(globus_collection_sync.main, args)
    assert not outcome.failed, outcome.result
    assert outcome.result["changed"] and outcome.result["syncs"][0]["action"] == "submitted"
    assert outcome.result["syncs"][0]["transfer"]["DATA"][0]["source_path"] == "/data/"
    assert fake.submitted == [] and fake.mkdirs == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret"], "check mode wrote nothing"


@pytest.mark.parametrize("option, value", [("task_id", "../endpoint/x"), ("label", " x/status:SUCCEEDED"), ("name", "-rf")])
def test_task_info_refuses_bad_ids_and_labels_before_any_call(tmp_path, monkeypatch, option, value):
    from ansible_collections.sciops.datasync.plugins.module_utils._globus import clients as _globus

    def no_clients(module):
        raise AssertionError("no Globus call expected")

    monkeypatch.setattr(_globus, "transfer_client", no_clients)
    outcome = run(globus_task_info.main, {"client_id": "x", "client_secret_file": str(tmp_path / "s"), option: value})
    assert outcome.failed and repr(value) in outcome.result["msg"]
