"""Conformance: every Globus call the collection makes, answered by the emulator, against the recorded real answer.

The emulator (a private one: tests/lab/globus/private.py) is driven with the real globus-sdk;
each response is compared with the response globus-sdk recorded from the real service for
its own tests (``globus_sdk.testing``), read from the installed package at test time: the
same fields with the same JSON types (a null on either side is not compared), the same paging
style, the same error body. Where the SDK has no recording, the source of truth is the
Globus API documentation (``DOCUMENTED`` below names the documented fields); the table in
tests/lab/globus/README.md lists route, source and status.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid

import pytest
import requests

globus_sdk = pytest.importorskip("globus_sdk")
testing = pytest.importorskip("globus_sdk.testing")  # needs the `responses` package (requirements-dev)

from tests.lab.globus.private import PrivateEmulator  # noqa: E402  pylint: disable=wrong-import-position

TRANSFER_ALL = "urn:globus:auth:scope:transfer.api.globus.org:all"
GROUPS_ALL = "urn:globus:auth:scope:groups.api.globus.org:all"
VIEW_IDENTITIES = "urn:globus:auth:scope:auth.globus.org:view_identities"

# Every Globus client call made by plugins/ (grep -rhoE "(transfer|groups|auth|timers)\.[a-z_]+\(" plugins)
# and by globus_timer, with the recording it is held to: (client class, method, case) or a DOCUMENTED key.
CALLS = {
    "auth.oauth2_client_credentials_tokens": ("ConfidentialAppAuthClient", "oauth2_client_credentials_tokens", "default"),
    "auth.get_identities": ("AuthClient", "get_identities", "default"),
    "groups.get_my_groups": ("GroupsClient", "get_my_groups", "default"),
    "groups.get_group": ("GroupsClient", "get_group", "default"),
    "groups.create_group": ("GroupsClient", "create_group", "default"),
    "groups.update_group": ("GroupsClient", "create_group", "default"),  # the same group document
    "groups.delete_group": ("GroupsClient", "delete_group", "default"),
    "groups.get_group_policies": ("GroupsClient", "set_group_policies", "default"),  # the same policies document
    "groups.set_group_policies": ("GroupsClient", "set_group_policies", "default"),
    "groups.batch_membership_action": "batch_membership_action",
    "transfer.get_submission_id": ("TransferClient", "get_submission_id", "default"),
    "transfer.submit_transfer": ("TransferClient", "submit_transfer", "default"),
    "transfer.submit_delete": ("TransferClient", "submit_delete", "default"),
    "transfer.get_task": ("TransferClient", "task_list", "default"),  # DATA[0] is the task document
    "transfer.task_wait": ("TransferClient", "task_list", "default"),  # polls get_task: the same task document
    "transfer.task_list": ("TransferClient", "task_list", "default"),
    "transfer.task_event_list": "task_event_list",
    "transfer.task_successful_transfers": ("TransferClient", "endpoint_manager_task_successful_transfers", "default"),
    "transfer.task_skipped_errors": "task_skipped_errors",
    "transfer.cancel_task": ("TransferClient", "cancel_task", "default"),
    "transfer.operation_stat": ("TransferClient", "operation_stat", "default"),
    "transfer.operation_mkdir": ("TransferClient", "operation_mkdir", "default"),
    "transfer.operation_ls": "operation_ls",
    "transfer.get_endpoint": ("TransferClient", "get_endpoint", "default"),
    "transfer.endpoint_acl_list": "endpoint_acl_list",
    "transfer.add_endpoint_acl_rule": "add_endpoint_acl_rule",
    "transfer.delete_endpoint_acl_rule": "delete_endpoint_acl_rule",
    "timers.create_timer": ("TimersClient", "create_timer", "default"),
    "timers.list_jobs": ("TimersClient", "list_jobs", "default"),
    "timers.get_job": ("TimersClient", "get_job", "default"),
    "timers.update_job": ("TimersClient", "update_job", "default"),
    "timers.delete_job": ("TimersClient", "delete_job", "default"),
}

# No recording in globus_sdk.testing: the documented fields (docs.globus.org/api/transfer, /api/groups).
DOCUMENTED = {
    "batch_membership_action": {"add": [{"group_id": "", "identity_id": "", "username": "", "role": "", "status": ""}],
                                "errors": {"add": [{"identity_id": "", "code": "", "detail": ""}]}},
    "task_event_list": {"DATA_TYPE": "event_list", "DATA": [{"DATA_TYPE": "event", "code": "", "is_error": False,
                                                             "description": "", "details": "", "time": ""}],
                        "offset": 0, "limit": 0, "total": 0, "length": 0, "has_next_page": False},
    "task_skipped_errors": {"DATA_TYPE": "skipped_errors", "marker": 0, "next_marker": 0,
                            "DATA": [{"DATA_TYPE": "skipped_error", "source_path": "", "destination_path": "",
                                      "error_code": "", "error_details": "", "error_time": "", "is_directory": False,
                                      "is_symlink": False}]},
    "operation_ls": {"DATA_TYPE": "file_list", "path": "", "absolute_path": "", "endpoint": "", "length": 0, "total": 0,
                     "rename_supported": True, "symlink_supported": False,
                     "DATA": [{"DATA_TYPE": "file", "name": "", "type": "", "link_target": None, "permissions": "",
                               "size": 0, "user": "", "group": "", "last_modified": ""}]},
    "endpoint_acl_list": {"DATA_TYPE": "access_list", "length": 0, "endpoint": "",
                          "DATA": [{"DATA_TYPE": "access", "id": "", "principal_type": "", "principal": "", "path": "",
                                    "permissions": "", "role_id": None, "role_type": None, "create_time": "",
                                    "expiration_date": None}]},
    "add_endpoint_acl_rule": {"DATA_TYPE": "access_create_result", "code": "Created", "message": "", "request_id": "",
                              "resource": "", "access_id": ""},
    "delete_endpoint_acl_rule": {"DATA_TYPE": "result", "code": "Deleted", "message": "", "request_id": "", "resource": ""},
}


def recorded(key, case=None):
    """The recorded real response body (and status) for a CALLS entry, read from globus_sdk.testing now."""
    source = CALLS[key]
    if isinstance(source, str):
        return DOCUMENTED[source], None
    cls, method, default_case = source
    response = testing.get_response_set(getattr(getattr(globus_sdk, cls), method)).lookup(case or default_case)
    return response.json, response.status


def shape_diff(want, have, path="$"):
    """Differences in fields and JSON types between a recorded document and the emulator's (nulls not compared)."""
    if want is None or have is None:
        return []
    if isinstance(want, bool) or isinstance(have, bool):
        return [] if type(want) is type(have) else ["%s: %s recorded, %s here" % (path, type(want).__name__, type(have).__name__)]
    if isinstance(want, (int, float)) and isinstance(have, (int, float)):
        return []
    if isinstance(want, dict):
        if not isinstance(have, dict):
            return ["%s: object recorded, %s here" % (path, type(have).__name__)]
        out = []
        for key, value in want.items():
            if key not in have:
                out.append("%s.%s: missing" % (path, key))
            else:
                out.extend(shape_diff(value, have[key], "%s.%s" % (path, key)))
        return out
    if isinstance(want, list):
        if not isinstance(have, list):
            return ["%s: array recorded, %s here" % (path, type(have).__name__)]
        if want and have:
            return shape_diff(want[0], have[0], path + "[0]")
        return []
    return [] if type(want) is type(have) else ["%s: %s recorded, %s here" % (path, type(want).__name__, type(have).__name__)]


def conforms(key, data, status=None, case=None):
    want, want_status = recorded(key, case)
    if isinstance(want, dict) and "DATA" in want and key in ("transfer.get_task", "transfer.task_wait"):
        want = want["DATA"][0]
    problems = shape_diff(want, data)
    assert not problems, "%s differs from the recorded response: %s" % (key, problems)
    if status is not None and want_status is not None:
        assert status == want_status, "%s: HTTP %s recorded, %s here" % (key, want_status, status)


# ---- fixtures -------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    with PrivateEmulator(str(tmp_path_factory.mktemp("conformance") / "state")) as server:
        names = ("AUTH", "GROUPS", "TRANSFER", "TIMER")
        saved = {k: os.environ.get(k) for k in ["GLOBUS_SDK_ENVIRONMENT"] + ["GLOBUS_SDK_SERVICE_URL_" + n for n in names]}
        os.environ["GLOBUS_SDK_ENVIRONMENT"] = "lab"
        for name in names:
            os.environ["GLOBUS_SDK_SERVICE_URL_" + name] = server.url
        try:
            yield server
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


class Clients:
    def __init__(self, emulator):
        self.url = emulator.url
        made = self.admin("POST", "/clients", {"name": "conformance"})
        self.client_id, self.secret, self.username = made["client_id"], made["client_secret"], made["username"]
        self.app = globus_sdk.ConfidentialAppAuthClient(self.client_id, self.secret)

    def admin(self, method, route, body=None):
        response = requests.request(method, self.url + "_lab" + route, json=body, timeout=30)
        assert response.status_code < 300, response.text
        return response.json()

    def client(self, cls, scope):
        made = cls(authorizer=globus_sdk.ClientCredentialsAuthorizer(self.app, scope))
        return made

    def transfer(self):
        return self.client(globus_sdk.TransferClient, TRANSFER_ALL)

    def groups(self):
        return self.client(globus_sdk.GroupsClient, GROUPS_ALL)

    def auth(self):
        return self.client(globus_sdk.AuthClient, VIEW_IDENTITIES)

    def timers(self):
        return self.client(globus_sdk.TimersClient, globus_sdk.TimersClient.scopes.timer)

    def collection(self, files=None):
        coll = self.admin("POST", "/collections", {"display_name": "conf-%s" % uuid.uuid4().hex[:8], "owner": self.client_id})
        for rel, content in (files or {}).items():
            target = os.path.join(coll["root"], rel)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "w") as handle:
                handle.write(content)
        return coll


@pytest.fixture(scope="module")
def lab(emulator):
    return Clients(emulator)


def wait_ended(transfer, task_id, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = transfer.get_task(task_id)
        if task["status"] in ("SUCCEEDED", "FAILED"):
            return task
        time.sleep(0.1)
    raise AssertionError("task %s did not end" % task_id)


@contextlib.contextmanager
def api_error(cls=globus_sdk.GlobusAPIError):
    with pytest.raises(cls) as caught:
        yield caught


# ---- Auth -----------------------------------------------------------------------------------------------------------
def test_auth_token(lab):
    response = lab.app.oauth2_client_credentials_tokens(requested_scopes=TRANSFER_ALL)
    conforms("auth.oauth2_client_credentials_tokens", response.data, response.http_status)


def test_auth_get_identities_and_its_limit(lab):
    lab.admin("POST", "/identities", {"username": "conf-alice@example.org"})
    response = lab.auth().get_identities(usernames=["conf-alice@example.org"])
    conforms("auth.get_identities", response.data, response.http_status)
    with api_error(globus_sdk.AuthAPIError) as caught:
        lab.auth().get_identities(usernames=["u%d@example.org" % i for i in range(101)])
    assert caught.value.http_status == 400


def test_auth_error_body(lab):
    bad = globus_sdk.AuthClient(authorizer=globus_sdk.AccessTokenAuthorizer("not-a-token"))
    with api_error(globus_sdk.AuthAPIError) as caught:
        bad.get_identities(usernames=["x@example.org"])
    want, status = recorded("auth.get_identities", "unauthorized")
    assert caught.value.http_status == status == 401
    assert not shape_diff(want, caught.value.raw_json)
    assert caught.value.code == "UNAUTHORIZED"


# ---- Groups ---------------------------------------------------------------------------------------------------------
def test_groups_calls(lab):
    groups = lab.groups()
    created = groups.create_group({"name": "conf-%s" % uuid.uuid4().hex[:6], "description": "conformance"})
    conforms("groups.create_group", created.data)
    gid = created["id"]
    shown = groups.get_group(gid)
    conforms("groups.get_group", shown.data, shown.http_status)
    assert shown["policies"]["group_visibility"] in ("private", "authenticated")  # without include, as real Groups
    with_actions = groups.get_group(gid, include=["allowed_actions"])
    assert isinstance(with_actions["allowed_actions"], list) and "update_group" in with_actions["allowed_actions"]
    mine = groups.get_my_groups()
    conforms("groups.get_my_groups", mine.data, mine.http_status)
    conforms("groups.update_group", groups.update_group(gid, {"name": created["name"], "description": "changed"}).data)
    policies = groups.get_group_policies(gid)
    conforms("groups.get_group_policies", policies.data)
    body = {"is_high_assurance": False, "group_visibility": "private", "group_members_visibility": "managers",
            "join_requests": False, "signup_fields": ["address1"], "authentication_assurance_timeout": 28800}
    conforms("groups.set_group_policies", groups.set_group_policies(gid, body).data)
    alice = lab.admin("POST", "/identities", {"username": "conf-alice@example.org"})["id"]
    actions = globus_sdk.BatchMembershipActions().add_members([alice])
    first = groups.batch_membership_action(gid, actions)
    assert not shape_diff(DOCUMENTED["batch_membership_action"]["add"], first["add"])
    again = groups.batch_membership_action(gid, globus_sdk.BatchMembershipActions().add_members([alice]))
    assert again["errors"]["add"][0]["code"] == "ALREADY_ACTIVE"
    conforms("groups.batch_membership_action", again.data)
    deleted = groups.delete_group(gid)
    conforms("groups.delete_group", deleted.data, deleted.http_status)


def test_groups_error_body_and_tree_limits(lab):
    groups = lab.groups()
    with api_error(globus_sdk.GroupsAPIError) as caught:
        groups.get_group(str(uuid.uuid4()))
    # No recording: documented Groups error body {code, detail}
    assert caught.value.http_status == 404 and caught.value.code == "NOT_FOUND" and caught.value.raw_json["detail"]
    parent = groups.create_group({"name": "conf-tree-root"})["id"]
    made = [parent]
    for depth in range(4):
        made.append(groups.create_group({"name": "conf-tree-%d" % depth, "parent_id": made[-1]})["id"])
    with api_error(globus_sdk.GroupsAPIError) as caught:
        groups.create_group({"name": "conf-tree-too-deep", "parent_id": made[-1]})
    assert caught.value.http_status == 409 and "4 layers" in caught.value.raw_json["detail"]
    for gid in reversed(made):
        groups.delete_group(gid)


# ---- Transfer -------------------------------------------------------------------------------------------------------
def test_transfer_submit_task_and_paging(lab):
    transfer = lab.transfer()
    src = lab.collection({"in/a.txt": "a" * 10, "in/b.txt": "b"})
    dst = lab.collection()
    sid = transfer.get_submission_id()
    conforms("transfer.get_submission_id", sid.data, sid.http_status)
    data = globus_sdk.TransferData(src["id"], dst["id"], label="conformance", submission_id=sid["value"], sync_level="checksum")
    data.add_item("/in/", "/out/", recursive=True)
    submitted = transfer.submit_transfer(data)
    conforms("transfer.submit_transfer", submitted.data)
    assert submitted.http_status in (200, 202)  # the recording says 200; Transfer documents 202 Accepted
    task = wait_ended(transfer, submitted["task_id"])
    conforms("transfer.get_task", task.data)
    listed = transfer.task_list(filter="label:=conformance", limit=10)
    conforms("transfer.task_list", listed.data, listed.http_status)
    conforms("transfer.task_event_list", transfer.task_event_list(submitted["task_id"]).data)
    successes = transfer.task_successful_transfers(submitted["task_id"])
    conforms("transfer.task_successful_transfers", successes.data, successes.http_status)
    lab.admin("POST", "/config", {"page_size": 1, "client_id": lab.client_id})
    paths = [row["source_path"] for page in transfer.paginated.task_successful_transfers(submitted["task_id"]).pages() for row in page]
    assert sorted(paths) == ["/in/a.txt", "/in/b.txt"]  # marker paging, as the SDK paginator expects
    lab.admin("POST", "/config", {"page_size": 100, "client_id": lab.client_id})
    os.remove(os.path.join(src["root"], "in", "b.txt"))
    data = globus_sdk.TransferData(src["id"], dst["id"], skip_source_errors=True)
    data.add_item("/in/b.txt", "/out/b2.txt")
    skipped_task = transfer.submit_transfer(data)["task_id"]
    wait_ended(transfer, skipped_task)
    conforms("transfer.task_skipped_errors", transfer.task_skipped_errors(skipped_task).data)


def test_transfer_cancel_and_delete(lab):
    transfer = lab.transfer()
    src = lab.collection({"big/f.dat": "x" * 5000})
    dst = lab.collection()
    lab.admin("POST", "/config", {"transfer_rate": 10, "client_id": lab.client_id})
    data = globus_sdk.TransferData(src["id"], dst["id"])
    data.add_item("/big/", "/big/", recursive=True)
    task_id = transfer.submit_transfer(data)["task_id"]
    cancelled = transfer.cancel_task(task_id)
    conforms("transfer.cancel_task", cancelled.data, cancelled.http_status)
    lab.admin("POST", "/config", {"transfer_rate": None, "client_id": lab.client_id})
    deletion = globus_sdk.DeleteData(endpoint=src["id"], recursive=True)
    deletion.add_item("/big/")
    submitted = transfer.submit_delete(deletion)
    conforms("transfer.submit_delete", submitted.data)
    assert transfer.task_wait(submitted["task_id"], timeout=30, polling_interval=1)  # the SDK's own polling of get_task
    task = transfer.get_task(submitted["task_id"])
    conforms("transfer.task_wait", task.data)
    assert task["type"] == "DELETE" and task["status"] == "SUCCEEDED"
    assert not os.path.exists(os.path.join(src["root"], "big"))


def test_transfer_operations_and_errors(lab):
    transfer = lab.transfer()
    coll = lab.collection({"d/f.txt": "f"})
    stat = transfer.operation_stat(coll["id"], path="/d/f.txt")
    conforms("transfer.operation_stat", stat.data, stat.http_status)
    made = transfer.operation_mkdir(coll["id"], "/newdir/")
    conforms("transfer.operation_mkdir", made.data, made.http_status)
    listing = transfer.operation_ls(coll["id"], path="/d/", limit=1)
    conforms("transfer.operation_ls", listing.data, listing.http_status)
    assert [f["name"] for f in listing["DATA"]] == ["f.txt"]
    endpoint = transfer.get_endpoint(coll["id"])
    conforms("transfer.get_endpoint", endpoint.data, endpoint.http_status)
    with api_error(globus_sdk.TransferAPIError) as caught:
        transfer.operation_stat(coll["id"], path="/nope")
    want, status = recorded("transfer.operation_stat", "not_found")
    assert caught.value.http_status == status and caught.value.code == want["code"]
    assert not shape_diff(want, caught.value.raw_json) and caught.value.request_id
    foreign = lab.admin("POST", "/collections", {"display_name": "conf-foreign", "owner": "alice@example.org"})
    with api_error(globus_sdk.TransferAPIError) as caught:
        transfer.operation_stat(foreign["id"], path="/")
    want, status = recorded("transfer.operation_stat", "permission_denied")
    assert caught.value.http_status == status and caught.value.code == want["code"]
    assert not shape_diff(want, caught.value.raw_json)
    with api_error(globus_sdk.TransferAPIError) as caught:
        with transfer.retry_config.tune(max_retries=0):
            transfer.submit_transfer(globus_sdk.TransferData(coll["id"], coll["id"], submission_id=str(uuid.uuid4())))
    want, status = recorded("transfer.submit_transfer", "failure")
    assert (caught.value.http_status, caught.value.code) == (status, want["code"])
    assert not shape_diff(want, caught.value.raw_json)


def test_transfer_acl_calls(lab):
    transfer = lab.transfer()
    coll = lab.collection({"share/x": "x"})
    alice = lab.admin("POST", "/identities", {"username": "conf-alice@example.org"})["id"]
    added = transfer.add_endpoint_acl_rule(coll["id"], {"DATA_TYPE": "access", "principal_type": "identity",
                                                        "principal": alice, "path": "/share/", "permissions": "r"})
    conforms("transfer.add_endpoint_acl_rule", added.data)
    listed = transfer.endpoint_acl_list(coll["id"])
    conforms("transfer.endpoint_acl_list", listed.data, listed.http_status)
    rows = list(listed)
    role_rows = [r for r in rows if r["role_id"]]
    assert [(r["id"], r["principal"], r["path"], r["permissions"]) for r in role_rows] == [(None, lab.client_id, "/", "rw")]
    deleted = transfer.delete_endpoint_acl_rule(coll["id"], added["access_id"])
    conforms("transfer.delete_endpoint_acl_rule", deleted.data)


# ---- Timers ---------------------------------------------------------------------------------------------------------
def test_timers_calls(lab):
    timers = lab.timers()
    src = lab.collection({"t/a.txt": "a"})
    dst = lab.collection()
    body = globus_sdk.TransferData(src["id"], dst["id"])
    body.add_item("/t/", "/t/", recursive=True)
    made = timers.create_timer(globus_sdk.TransferTimer(name="conformance timer", body=body,
                                                        schedule=globus_sdk.RecurringTimerSchedule(3600)))
    conforms("timers.create_timer", made.data, made.http_status)
    job_id = made["timer"]["job_id"]
    listed = timers.list_jobs()
    conforms("timers.list_jobs", listed.data, listed.http_status)
    shown = timers.get_job(job_id)
    conforms("timers.get_job", shown.data, shown.http_status)
    updated = timers.update_job(job_id, {"name": "renamed"})
    conforms("timers.update_job", updated.data, updated.http_status)
    deleted = timers.delete_job(job_id)
    conforms("timers.delete_job", deleted.data, deleted.http_status)
    with api_error(globus_sdk.GlobusAPIError) as caught:
        with timers.retry_config.tune(max_retries=0):
            timers.get_job(job_id)
    want, _status = recorded("timers.get_job", "simple_500_error")
    assert caught.value.http_status == 404 and not shape_diff(want, caught.value.raw_json)


def test_every_call_of_the_collection_is_listed():
    """Every SDK client method plugins/ names (called, or handed over like task_successful_transfers) has a row here
    and in the README table; a new call without one fails."""
    import re

    clients = (globus_sdk.TransferClient, globus_sdk.GroupsClient, globus_sdk.AuthClient, globus_sdk.TimersClient,
               globus_sdk.ConfidentialAppAuthClient)
    generic = set(dir(globus_sdk.BaseClient))  # get/post/put/delete/request…: not a Globus route of their own
    methods = {m for cls in clients for m in dir(cls) if not m.startswith("_") and m not in generic}
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    named = set()
    for folder, _dirs, files in os.walk(os.path.join(repo, "plugins")):
        for name in files:
            if name.endswith(".py"):
                with open(os.path.join(folder, name)) as handle:
                    named.update(m for m in re.findall(r"\.([a-z_]+)\b", handle.read()) if m in methods)
    listed = {key.split(".", 1)[1] for key in CALLS}
    assert named, "no Globus SDK call found in plugins/"
    assert not sorted(named - listed), "calls without a conformance row: %s" % sorted(named - listed)
    with open(os.path.join(repo, "tests", "lab", "globus", "README.md")) as handle:
        table = [line for line in handle.read().splitlines() if line.startswith("| `")]
    assert not [m for m in listed if not any("`%s`" % m in line for line in table)], "CALLS without a README row"
