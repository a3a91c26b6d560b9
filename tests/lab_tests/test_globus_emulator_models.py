"""The emulator's models of real Globus behaviour (issue 15), through the real globus-sdk and globus-cli.

A private emulator (its clock is moved here): role-derived ACL rows and rule management by
access managers, label rules, filter rules, mtime sync, faults after the change, stalled tasks,
timers firing on the clock, and globus-cli's group show / delete / timer commands.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest

from tests.lab_tests.test_globus_conformance import Clients, wait_ended
from tests.lab_tests.test_globus_conformance import emulator  # noqa: F401  pylint: disable=unused-import

globus_sdk = pytest.importorskip("globus_sdk")


@pytest.fixture(scope="module")
def lab(emulator):  # noqa: F811  pylint: disable=redefined-outer-name
    return Clients(emulator)


@pytest.fixture()
def other(emulator):  # noqa: F811  pylint: disable=redefined-outer-name
    return Clients(emulator)


def rule(principal, path, permissions="r"):
    return {"DATA_TYPE": "access", "principal_type": "identity", "principal": principal, "path": path, "permissions": permissions}


def test_access_manager_manages_rules_and_sees_role_rows(lab, other):
    coll = other.collection({"share/x.txt": "x"})
    transfer = lab.transfer()
    with pytest.raises(globus_sdk.TransferAPIError) as caught:
        transfer.endpoint_acl_list(coll["id"])
    assert caught.value.http_status == 403
    lab.admin("POST", "/collections/%s/roles" % coll["id"], {"principal": lab.client_id, "role": "access_manager"})
    added = transfer.add_endpoint_acl_rule(coll["id"], rule(other.client_id, "/share/"))
    rows = list(transfer.endpoint_acl_list(coll["id"]))
    roles = sorted((r["principal"], r["role_type"]) for r in rows if r["id"] is None)
    assert roles == sorted([(other.client_id, "administrator"), (lab.client_id, "access_manager")])
    assert all(r["role_id"] and r["path"] == "/" and r["permissions"] == "rw" for r in rows if r["id"] is None)
    assert [r["id"] for r in rows if r["id"]] == [added["access_id"]]
    assert transfer.operation_stat(coll["id"], path="/share/x.txt")["name"] == "x.txt"  # rw on / from the role
    assert transfer.endpoint_acl_list(coll["id"]).http_status == 200
    transfer.delete_endpoint_acl_rule(coll["id"], added["access_id"])


def test_labels_as_transfer_checks_them(lab):
    transfer = lab.transfer()
    src, dst = lab.collection({"a/f": "f"}), lab.collection()
    for label, accepted in (("x" * 128, True), ("x" * 129, False), ("two\nlines", False), ("cr\r", False),
                            (" lead", False), ("trail ", False), ("inner  spaces ok", True)):
        data = globus_sdk.TransferData(src["id"], dst["id"], label=label)
        data.add_item("/a/", "/a/", recursive=True)
        if accepted:
            assert transfer.submit_transfer(data)["code"] == "Accepted"
        else:
            with pytest.raises(globus_sdk.TransferAPIError) as caught:
                transfer.submit_transfer(data)
            assert (caught.value.http_status, caught.value.code) == (400, "ClientError.BadRequest"), label
            assert "label" in caught.value.message.lower()


def test_filter_rules_as_globus_cli_sends_them(lab):
    transfer = lab.transfer()
    src = lab.collection({"d/keep.txt": "k", "d/drop.dat": "d", "d/sub/also.txt": "a", "d/skipdir/x.txt": "x"})
    dst = lab.collection()
    data = globus_sdk.TransferData(src["id"], dst["id"])
    data.add_item("/d/", "/d/", recursive=True)
    data.add_filter_rule("skipdir", method="exclude", type="dir")
    data.add_filter_rule("*.txt", method="include", type="file")
    data.add_filter_rule("*", method="exclude", type="file")
    task = wait_ended(transfer, transfer.submit_transfer(data)["task_id"])
    assert task["status"] == "SUCCEEDED" and task["filter_rules"][0]["name"] == "skipdir"
    got = sorted(os.path.relpath(os.path.join(p, f), dst["root"]) for p, _d, fs in os.walk(dst["root"]) for f in fs)
    assert got == ["d/keep.txt", "d/sub/also.txt"]


def test_mtime_sync_copies_only_when_the_source_is_newer(lab):
    transfer = lab.transfer()
    src = lab.collection({"m/newer": "source", "m/older": "source", "m/same-size-newer": "aaaa"})
    dst = lab.collection({"m/newer": "old destination", "m/older": "destination is newer", "m/same-size-newer": "bbbb"})
    now = time.time()
    for name, src_age, dst_age in (("newer", 10, 1000), ("older", 1000, 10), ("same-size-newer", 10, 1000)):
        os.utime(os.path.join(src["root"], "m", name), (now - src_age, now - src_age))
        os.utime(os.path.join(dst["root"], "m", name), (now - dst_age, now - dst_age))
    data = globus_sdk.TransferData(src["id"], dst["id"], sync_level="mtime")
    data.add_item("/m/", "/m/", recursive=True)
    task = wait_ended(transfer, transfer.submit_transfer(data)["task_id"])
    assert (task["files_transferred"], task["files_skipped"]) == (2, 1)
    with open(os.path.join(dst["root"], "m", "older")) as handle:
        assert handle.read() == "destination is newer"  # sizes differ, but the destination is newer: kept
    with open(os.path.join(dst["root"], "m", "same-size-newer")) as handle:
        assert handle.read() == "aaaa"


def test_fault_after_the_change_loses_the_reply(lab):
    transfer = lab.transfer()
    coll = lab.collection({"p/f": "f"})
    alice = lab.admin("POST", "/identities", {"username": "lost-reply@example.org"})["id"]
    lab.admin("POST", "/faults", {"pattern": "/v0.10/endpoint/*/access", "method": "POST", "status": 502, "after": True,
                                  "client_id": lab.client_id})
    with pytest.raises(globus_sdk.TransferAPIError) as caught:
        with transfer.retry_config.tune(max_retries=0):
            transfer.add_endpoint_acl_rule(coll["id"], rule(alice, "/p/"))
    assert caught.value.http_status == 502
    with pytest.raises(globus_sdk.TransferAPIError) as caught:
        transfer.add_endpoint_acl_rule(coll["id"], rule(alice, "/p/"))  # the retry: the rule is there
    assert (caught.value.http_status, caught.value.code) == (409, "Exists")
    rule_id = [r["id"] for r in transfer.endpoint_acl_list(coll["id"]) if r["principal"] == alice][0]
    lab.admin("POST", "/faults", {"pattern": "/v0.10/endpoint/*/access/*", "method": "DELETE", "status": 502, "after": True,
                                  "client_id": lab.client_id})
    with pytest.raises(globus_sdk.TransferAPIError) as caught:
        with transfer.retry_config.tune(max_retries=0):
            transfer.delete_endpoint_acl_rule(coll["id"], rule_id)
    assert caught.value.http_status == 502
    with pytest.raises(globus_sdk.TransferAPIError) as caught:
        transfer.delete_endpoint_acl_rule(coll["id"], rule_id)  # the retry: the rule is gone
    assert caught.value.http_status == 404
    assert [r["principal"] for r in transfer.endpoint_acl_list(coll["id"]) if r["id"]] == []


def test_stalled_task_stays_active_with_fault_events(lab):
    transfer = lab.transfer()
    src, dst = lab.collection({"s/f": "x" * 4000}), lab.collection()
    lab.admin("POST", "/config", {"transfer_rate": 100, "client_id": lab.client_id})
    try:
        data = globus_sdk.TransferData(src["id"], dst["id"])
        data.add_item("/s/", "/s/", recursive=True)
        task_id = transfer.submit_transfer(data)["task_id"]
        lab.admin("POST", "/tasks/%s/fault" % task_id, {"code": "PERMISSION_DENIED", "description": "Permission denied"})
        time.sleep(0.3)
        task = transfer.get_task(task_id)
        assert (task["status"], task["is_ok"], task["nice_status"]) == ("ACTIVE", False, "PERMISSION_DENIED")
        assert task["faults"] >= 1
        events = list(transfer.task_event_list(task_id))
        assert events[0]["code"] == "PERMISSION_DENIED" and events[0]["is_error"]
        transfer.cancel_task(task_id)
        assert transfer.get_task(task_id)["status"] == "FAILED"
    finally:
        lab.admin("POST", "/config", {"transfer_rate": None, "client_id": lab.client_id})


# ---- Timers and globus-cli ------------------------------------------------------------------------------------------
@pytest.fixture()
def cli(lab, tmp_path):
    globus = shutil.which("globus") or os.path.join(os.path.dirname(sys.executable), "globus")
    env = dict(os.environ, GLOBUS_CLI_CLIENT_ID=lab.client_id, GLOBUS_CLI_CLIENT_SECRET=lab.secret, HOME=str(tmp_path))

    def run(*args):
        proc = subprocess.run([globus] + list(args), env=env, capture_output=True, text=True, check=False, timeout=120)
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
        return proc.stdout

    return run


def test_timer_fires_on_the_emulator_clock_through_globus_cli(lab, cli):
    src, dst = lab.collection({"t/one.txt": "1"}), lab.collection()
    made = json.loads(cli("timer", "create", "transfer", "--interval", "1h", "--name", "cli timer", "--recursive",
                          "-F", "json", "%s:/t/" % src["id"], "%s:/t/" % dst["id"]))
    job_id = made.get("timer", made)["job_id"]

    def runs():
        return json.loads(cli("timer", "show", job_id, "-F", "json"))["n_runs"]

    deadline = time.monotonic() + 30
    while runs() < 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    first = json.loads(cli("timer", "show", job_id, "-F", "json"))
    assert first["n_runs"] == 1
    assert wait_ended(lab.transfer(), first["results"]["data"][0]["data"]["action_id"])["status"] == "SUCCEEDED"
    assert os.listdir(os.path.join(dst["root"], "t")) == ["one.txt"]
    with open(os.path.join(src["root"], "t", "two.txt"), "w") as handle:
        handle.write("2")
    lab.admin("POST", "/clock", {"advance": 3600})
    deadline = time.monotonic() + 30
    while runs() < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    shown = json.loads(cli("timer", "show", job_id, "-F", "json"))
    assert shown["n_runs"] == 2 and len(shown["results"]["data"]) == 2
    task_id = shown["results"]["data"][0]["data"]["action_id"]
    assert wait_ended(lab.transfer(), task_id)["status"] == "SUCCEEDED"
    assert os.path.exists(os.path.join(dst["root"], "t", "two.txt"))
    assert "cli timer" in cli("timer", "list")
    assert "cli timer" in cli("timer", "show", job_id)
    cli("timer", "delete", job_id)
    assert "cli timer" not in cli("timer", "list")


def test_globus_cli_group_show_and_delete(lab, cli):
    name = "cli-show-%s" % uuid.uuid4().hex[:6]
    group = lab.groups().create_group({"name": name})
    shown = cli("group", "show", group["id"])
    # globus-cli prints the policies a real group carries without include=policies
    assert "Visibility:" in shown and "None" not in shown.split("Visibility:")[1].splitlines()[0]
    assert name in cli("group", "list")
    cli("group", "delete", group["id"])
    assert name not in cli("group", "list")
    with pytest.raises(globus_sdk.GroupsAPIError) as caught:
        lab.groups().get_group(group["id"])
    assert caught.value.http_status == 404
    coll = lab.collection({"gone/a": "a", "gone/b/c": "c"})
    out = json.loads(cli("delete", "--recursive", "-F", "json", "%s:/gone/" % coll["id"]))
    task = wait_ended(lab.transfer(), out["task_id"])
    assert task["status"] == "SUCCEEDED" and not os.path.exists(os.path.join(coll["root"], "gone"))


def test_group_tree_subgroup_limit(lab):
    groups = lab.groups()
    root = groups.create_group({"name": "tree-size-%s" % uuid.uuid4().hex[:6]})["id"]
    made = [groups.create_group({"name": "sub-%02d" % i, "parent_id": root})["id"] for i in range(75)]
    with pytest.raises(globus_sdk.GroupsAPIError) as caught:
        groups.create_group({"name": "sub-76", "parent_id": made[0]})
    assert (caught.value.http_status, caught.value.code) == (409, "GROUP_TREE_SIZE_EXCEEDED")
    for gid in made + [root]:
        groups.delete_group(gid)
