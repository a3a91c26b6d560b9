"""What the emulator hid (issue 15), fixed in the collection: tested through the real globus-sdk on a private emulator.

Role-derived ACL rows with an access-manager app, lost replies on add/delete, a stalled task
reported with its fault, a filtered sync, a label Transfer would refuse, identities 100 per
request, globus_group_info's group shape.
"""

from __future__ import annotations

import os
import sys
import time

import pytest

from tests.integration.module_play import run_module
from tests.lab_tests.test_globus_conformance import Clients, wait_ended
from tests.lab_tests.test_globus_conformance import emulator  # noqa: F401  pylint: disable=unused-import

globus_sdk = pytest.importorskip("globus_sdk")

COLLECTIONS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), ".collections")
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

# pylint: disable=wrong-import-position,wrong-import-order
from ansible_collections.sciops.datasync.plugins.module_utils._collection_sync.definition import resolve_syncs  # noqa: E402
from ansible_collections.sciops.datasync.plugins.module_utils._collection_sync.run import CollectionSync, RunOptions  # noqa: E402
from ansible_collections.sciops.datasync.plugins.module_utils._core.progress import Progress  # noqa: E402
from ansible_collections.sciops.datasync.plugins.module_utils._collection_sync.state import sync_state_file  # noqa: E402
from ansible_collections.sciops.datasync.plugins.module_utils._experiment.directory import DirectoryRequest, manage_directory  # noqa: E402
from ansible_collections.sciops.datasync.plugins.module_utils._globus.identities import resolve_identities  # noqa: E402
from ansible_collections.sciops.datasync.plugins.module_utils._identity.group_admin import group_summary, read_group  # noqa: E402


@pytest.fixture(scope="module")
def lab(emulator):  # noqa: F811  pylint: disable=redefined-outer-name
    return Clients(emulator)


@pytest.fixture()
def owner(emulator):  # noqa: F811  pylint: disable=redefined-outer-name
    return Clients(emulator)


def sync_params(src, dst, **extra):
    params = {"syncs": [dict({"name": "fix", "source_collection": src, "source_path": "/in/", "destination_collection": dst,
                              "destination_path": "/out/"}, **extra.pop("sync", {}))],
              "only": [], "sync_level": "checksum", "time_limit": "1440", "verify_checksum": True, "preserve_timestamp": True,
              "encrypt": False, "skip_source_errors": False, "filters": []}
    params.update(extra)
    return params


def test_directory_with_an_access_manager_app_leaves_role_rows_alone(lab, owner):
    coll = owner.collection({"share/x.txt": "x"})
    lab.admin("POST", "/collections/%s/roles" % coll["id"], {"principal": lab.client_id, "role": "access_manager"})
    alice = lab.admin("POST", "/identities", {"username": "fix-alice@example.org"})["id"]
    transfer, auth = lab.transfer(), lab.auth()
    shares = [{"identity": "fix-alice@example.org", "permissions": "rw"}]
    first = manage_directory(transfer, auth, DirectoryRequest(coll["id"], "/share/", shares, exact=True), app=lab.username)
    assert not first["errors"] and first["changed"] and first["deleted_rules"] == []
    root = manage_directory(transfer, auth, DirectoryRequest(coll["id"], "/", [{"identity": "fix-alice@example.org", "permissions": "r"}],
                                                             exact=True), app=lab.username)
    assert not root["errors"] and root["deleted_rules"] == [], "the role rows on / are never deleted"
    rows = list(transfer.endpoint_acl_list(coll["id"]))
    assert sorted(r["role_type"] for r in rows if r["id"] is None) == ["access_manager", "administrator"]
    assert sorted((r["path"], r["permissions"]) for r in rows if r["id"] and r["principal"] == alice) == [("/", "r"), ("/share/", "rw")]
    for path, perms in (("/share/", "rw"), ("/", "r")):
        again = manage_directory(transfer, auth, DirectoryRequest(coll["id"], path, [{"identity": "fix-alice@example.org", "permissions": perms}],
                                                                  exact=True), app=lab.username)
        assert not again["errors"] and not again["changed"], again
    assert len([r for r in transfer.endpoint_acl_list(coll["id"]) if r["id"] is None]) == 2


def test_lost_replies_on_add_and_delete_end_in_success(lab):
    coll = lab.collection({"lost/x": "x"})
    lab.admin("POST", "/identities", {"username": "fix-bob@example.org"})
    transfer, auth = lab.transfer(), lab.auth()
    for method in ("POST", "DELETE"):
        lab.admin("POST", "/faults", {"pattern": "/v0.10/endpoint/*/access*", "method": method, "status": 503, "after": True,
                                      "client_id": lab.client_id})
    added = manage_directory(transfer, auth, DirectoryRequest(coll["id"], "/lost/", [{"identity": "fix-bob@example.org"}]), app=lab.username)
    assert not added["errors"] and added["changed"] and [r["principal_type"] for r in added["rules"]] == ["identity"]
    removed = manage_directory(transfer, auth, DirectoryRequest(coll["id"], "/lost/", [{"identity": "fix-bob@example.org"}], state="absent"),
                               app=lab.username)
    assert not removed["errors"] and removed["changed"] and removed["rules"] == []
    hits = [r for r in lab.admin("GET", "/faults")["faults"] if r.get("client_id") == lab.client_id]
    assert hits == [], "both faults fired (the replies were lost and the SDK retried)"


def test_a_stalled_task_is_reported_with_its_fault_before_its_deadline(lab, tmp_path):
    src, dst = lab.collection({"in/big.dat": "x" * 20000}), lab.collection()
    lab.admin("POST", "/config", {"transfer_rate": 50, "client_id": lab.client_id})
    transfer = lab.transfer()
    state = sync_state_file(str(tmp_path / "state.json"))
    try:
        syncs, errors = resolve_syncs(sync_params(src["id"], dst["id"]))
        results, errors, _diff = CollectionSync(transfer, state, lab.username).run(syncs)
        task_id = results[0]["task_id"]
        lab.admin("POST", "/tasks/%s/fault" % task_id, {"code": "PERMISSION_DENIED", "description": "Permission denied on /out/"})
        time.sleep(1.2)
        results, errors, _diff = CollectionSync(transfer, state, lab.username, RunOptions(stall_timeout=1)).run(syncs)
        assert results[0]["stalled"]["code"] == "PERMISSION_DENIED"
        assert errors and "PERMISSION_DENIED" in errors[0]["reason"] and "Permission denied on /out/" in errors[0]["reason"]
        assert transfer.get_task(task_id)["status"] == "ACTIVE", "reported long before the 24 h deadline"
        results, errors, _diff = CollectionSync(transfer, state, lab.username, RunOptions(stall_timeout=1, cancel_stalled=True)).run(syncs)
        assert results[0]["cancelled"] and transfer.get_task(task_id)["status"] == "FAILED"
    finally:
        lab.admin("POST", "/config", {"transfer_rate": None, "client_id": lab.client_id})


def test_a_filtered_sync_copies_only_what_the_rules_allow(lab, tmp_path):
    src = lab.collection({"in/a.h5": "a", "in/b.log": "b", "in/sub/c.h5": "c", "in/tmp/d.h5": "d"})
    dst = lab.collection()
    filters = [{"exclude": "tmp", "type": "dir"}, {"include": "*.h5"}, {"exclude": "*"}]
    syncs, errors = resolve_syncs(sync_params(src["id"], dst["id"], filters=filters))
    assert not errors
    lines = []
    progress = Progress("collection sync", lines.append, interval=0, unit="files")
    results, errors, _diff = CollectionSync(lab.transfer(), sync_state_file(str(tmp_path / "s.json")), lab.username,
                                            RunOptions(wait=True, wait_timeout=60), progress=progress).run(syncs)
    assert not errors and results[0]["task"]["status"] == "SUCCEEDED"
    # Progress from the task documents while waiting (issue 16 item 6), the last line once it ended.
    assert lines and lines[-1].endswith(": 1 of 1 tasks ended") and " progress collection sync: 2 of 2 files, 2 B, " in lines[-1], lines
    got = sorted(os.path.relpath(os.path.join(p, f), dst["root"]) for p, _d, fs in os.walk(dst["root"]) for f in fs)
    assert got == ["out/a.h5", "out/sub/c.h5"]


@pytest.mark.parametrize("label, reason", [("x" * 129, "128"), ("trailing ", "whitespace"), ("two\nlines", "newline")])
def test_a_label_transfer_would_refuse_is_refused_with_a_clear_message(lab, label, reason):
    syncs, errors = resolve_syncs(sync_params(lab.client_id, lab.client_id, sync={"label": label}))
    assert not syncs and reason in errors[0]["reason"] and "label" in errors[0]["reason"]


def test_a_label_transfer_accepts_finds_its_task(lab, tmp_path):
    src, dst = lab.collection({"in/f": "f"}), lab.collection()
    syncs, errors = resolve_syncs(sync_params(src["id"], dst["id"], sync={"label": "raw/data, run 7 [é]"}))
    assert not errors
    transfer = lab.transfer()
    results, errors, _diff = CollectionSync(transfer, sync_state_file(str(tmp_path / "a.json")), lab.username).run(syncs)
    assert not errors and results[0]["submitted"]
    lost_state = CollectionSync(transfer, sync_state_file(str(tmp_path / "b.json")), lab.username, RunOptions(start=False))
    results, errors, _diff = lost_state.run(syncs)
    assert not errors and results[0]["task"]["task_id"] == wait_ended(transfer, results[0]["task"]["task_id"])["task_id"]


def test_identities_are_resolved_100_per_request(lab):
    names = ["fix-user%03d@example.org" % n for n in range(250)]
    for name in names[:5]:
        lab.admin("POST", "/identities", {"username": name})
    found, unknown = resolve_identities(lab.auth(), names)
    assert len(found) == 5 and len(unknown) == 245


def test_group_info_shape_is_what_real_groups_returns(lab):
    groups = lab.groups()
    made = groups.create_group({"name": "fix-info"})
    summary = group_summary(read_group(groups, made["id"]))
    assert summary["my_roles"] == ["admin"] and summary["group_type"] == "regular"
    assert summary["policies"]["group_visibility"] == "private" and summary["members"][0]["role"] == "admin"
    groups.delete_group(made["id"])


def test_side_by_side_preflights_keep_each_sync_its_own_outcome(lab, tmp_path):
    """Pre-flights run side by side: results stay in the order of the syncs and one sync's error stays its own."""
    src, dst = lab.collection({"in/%d/f.txt" % n: str(n) for n in (0, 2, 3, 4, 5)}), lab.collection()
    params = sync_params(src["id"], dst["id"])
    params["syncs"] = [{"name": "side%d" % n, "source_collection": src["id"], "source_path": "/in/%d/" % n,
                        "destination_collection": dst["id"], "destination_path": "/out/%d/deep/" % n} for n in range(6)]
    syncs, errors = resolve_syncs(params)
    assert not errors
    transfer = lab.transfer()
    results, errors, _diff = CollectionSync(transfer, sync_state_file(str(tmp_path / "s.json")), lab.username).run(syncs)
    assert [r["name"] for r in results] == ["side%d" % n for n in range(6)]
    assert [e["item"] for e in errors] == ["side1"] and "does not exist" in errors[0]["reason"]
    assert [r["submitted"] for r in results] == [True, False, True, True, True, True]
    made = [r["created_directories"] for r in results if r["submitted"]]
    assert [m[-2:] for m in made] == [["/out/%d/" % n, "/out/%d/deep/" % n] for n in (0, 2, 3, 4, 5)]
    assert sum(m.count("/out/") for m in made) == 1, "the shared parent is reported made once"
    for result in results:
        if result["submitted"]:
            assert wait_ended(transfer, result["task_id"])["status"] == "SUCCEEDED"
    got = sorted(os.path.relpath(os.path.join(p, f), dst["root"]) for p, _d, fs in os.walk(dst["root"]) for f in fs)
    assert got == ["out/%d/deep/f.txt" % n for n in (0, 2, 3, 4, 5)]


def test_the_module_refuses_a_bad_label_by_name_and_submits_the_rest(lab, tmp_path):
    """Through ansible-playbook: the sync with a label Transfer would refuse fails with the reason; the others go."""
    src, dst = lab.collection({"in/a/f.txt": "a", "in/b/f.txt": "b"}), lab.collection()
    secret = tmp_path / "secret"
    secret.write_text(lab.secret + "\n")
    secret.chmod(0o600)
    syncs = [{"name": name, "source_collection": src["id"], "source_path": "/in/%s/" % name[-1], "destination_collection": dst["id"],
              "destination_path": "/out/%s/" % name[-1]} for name in ("good-a", "good-b")]
    syncs.append(dict(syncs[0], name="bad-label", label="run 7 "))
    args = {"client_id": lab.client_id, "client_secret_file": str(secret), "state_file": str(tmp_path / "state.json"), "syncs": syncs}
    result, raw = run_module(tmp_path, "globus_collection_sync", args)
    assert result.get("failed") and "bad-label" in result["msg"] and "whitespace" in result["msg"], raw[-2000:]
    assert [e["item"] for e in result["errors"]] == ["bad-label"]
    assert sorted(result["submitted"]) == ["good-a", "good-b"]
    for sync in result["syncs"]:
        wait_ended(lab.transfer(), sync["task_id"])
    got = sorted(os.path.relpath(os.path.join(p, f), dst["root"]) for p, _d, fs in os.walk(dst["root"]) for f in fs)
    assert got == ["out/a/f.txt", "out/b/f.txt"]
    assert lab.secret not in raw
