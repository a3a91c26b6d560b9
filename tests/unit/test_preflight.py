"""The pre-flight checks (plugins/module_utils/_preflight): one row per check, clear failures."""

from __future__ import annotations

import os
import socket
import threading

from ansible_collections.sciops.datasync.plugins.module_utils._core.runner import CommandResult
from ansible_collections.sciops.datasync.plugins.module_utils._preflight import local, network
from ansible_collections.sciops.datasync.plugins.module_utils._preflight.globus import GlobusChecks
from ansible_collections.sciops.datasync.plugins.module_utils._preflight.rows import errors_of, failed, ok
from ansible_collections.sciops.datasync.plugins.modules import preflight

from tests.unit.plugins.module_utils.globus_fakes import ApiError
from tests.unit.plugins.modules.module_runner import run


def test_failed_rows_become_errors_with_their_fix():
    rows = [ok("credential file", "/a", "fine"), failed("destination folder", "/b", "/b is missing", "create /b")]
    assert errors_of(rows) == [{"item": "destination folder: /b", "reason": "/b is missing",
                                "check": "destination folder", "fix": "create /b"}]
    assert rows[0]["fix"] == ""


def test_secret_file_rows(tmp_path):
    good = tmp_path / "good.secret"
    good.write_text("s3cret\n")
    good.chmod(0o600)
    loose = tmp_path / "loose.secret"
    loose.write_text("s3cret\n")
    loose.chmod(0o644)
    link = tmp_path / "link.secret"
    link.symlink_to(good)
    assert local.check_secret_file(str(good), "client secret")["result"] == "ok"
    row = local.check_secret_file(str(loose), "client secret")
    assert row["result"] == "failed" and "0644" in row["detail"] and "0600" in row["fix"]
    assert "symlink" in local.check_secret_file(str(link), None)["detail"]
    missing = local.check_secret_file(str(tmp_path / "none"), "client secret")
    assert missing["result"] == "failed" and "s3cret" not in repr([row, missing])


def test_destination_rows(tmp_path):
    assert local.check_destination(str(tmp_path), 1)["result"] == "ok"
    later = local.check_destination(str(tmp_path / "a" / "b"), 1)
    assert later["result"] == "ok" and "does not exist yet" in later["detail"] and str(tmp_path) in later["detail"]
    full = local.check_destination(str(tmp_path), 1 << 60)
    assert full["result"] == "failed" and "below the threshold" in full["detail"] and "min_free" in full["fix"]
    afile = tmp_path / "file"
    afile.write_text("x")
    assert local.check_destination(str(afile), 1)["detail"].endswith("is not a directory")


def test_destination_not_writable(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    row = local.check_destination(str(tmp_path), 1)
    assert row["result"] == "failed" and "not writable" in row["detail"]


def serve_once(greeting):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def answer():
        conn = server.accept()[0]
        conn.sendall(greeting)
        conn.close()
        server.close()

    threading.Thread(target=answer, daemon=True).start()
    return server.getsockname()[1]


def test_rsync_daemon_greeting():
    assert network.check_rsync_daemon("127.0.0.1", serve_once(b"@RSYNCD: 31.0\n"), 5)["result"] == "ok"
    row = network.check_rsync_daemon("127.0.0.1", serve_once(b"SSH-2.0-OpenSSH_9.2\r\n"), 5)
    assert row["result"] == "failed" and "did not greet as an rsync daemon" in row["detail"]


class FakeRunner:
    def __init__(self, rc, stderr=""):
        self.rc, self.stderr, self.argv = rc, stderr, None

    def run(self, argv):
        self.argv = argv
        return CommandResult(argv, self.rc, "", self.stderr)


def test_ssh_unknown_host_key_and_accepted_login(tmp_path):
    key, known = tmp_path / "key", tmp_path / "known_hosts"
    key.write_text("k")
    known.write_text("")
    runner = FakeRunner(255, "No ED25519 host key is known for [src]:2222 and you have requested strict checking.\n"
                             "Host key verification failed.\n")
    row = network.check_ssh(runner, "src", 2222, "mx", str(key), str(known))
    assert row["result"] == "failed" and "not recorded in %s" % known in row["detail"]
    assert "StrictHostKeyChecking=yes" in runner.argv and runner.argv[-2:] == ["src", "true"]
    # A forced command that refuses `true` still proves the host key and the login.
    assert network.check_ssh(FakeRunner(1, "rrsync: command refused"), "src", 2222, "mx", str(key), str(known))["result"] == "ok"
    denied = network.check_ssh(FakeRunner(255, "mx@src: Permission denied (publickey)."), "src", 22, "mx", str(key), str(known))
    assert "refused the login" in denied["detail"]


class FakeTransfer:
    def __init__(self, deny_mkdir=False):
        self.deny_mkdir = deny_mkdir
        self.made, self.deleted = [], []

    def operation_stat(self, collection, path):
        return type("R", (), {"data": {"type": "dir"}})()

    def operation_ls(self, collection, path, limit):
        return []

    def operation_mkdir(self, collection, path):
        if self.deny_mkdir:
            raise ApiError(403, "EndpointPermissionDenied", "No write permission on %s" % path)
        self.made.append(path)

    def endpoint_acl_list(self, collection):
        return []

    @staticmethod
    def get_submission_id():
        return {"value": "sub"}

    def submit_delete(self, data):
        self.deleted += [item["path"] for item in data["DATA"]]
        return {"task_id": "t1"}

    @staticmethod
    def task_wait(task_id, timeout, polling_interval):
        return True

    @staticmethod
    def get_task(task_id):
        return {"status": "SUCCEEDED"}


class FakeGroups:
    def __init__(self, role):
        self.role = role

    def get_group(self, group_id, include):
        return type("R", (), {"data": {"name": "root", "my_memberships": [{"role": self.role, "status": "active"}]}})()


class FakeClients:
    username = "app@clients.auth.globus.org"
    secret = "the-secret"

    def __init__(self, transfer=None, groups=None, token_error=None):
        self._transfer, self._groups, self.token_error = transfer, groups, token_error

    @property
    def transfer(self):
        if self.token_error:
            raise self.token_error
        return self._transfer

    @property
    def groups(self):
        if self.token_error:
            raise self.token_error
        return self._groups


def globus_rows(monkeypatch, clients, check_mode=False):
    from ansible_collections.sciops.datasync.plugins.module_utils._preflight import globus

    monkeypatch.setattr(globus, "clients_from_params", lambda options: clients)
    options = {"client_id": "app", "client_secret_file": "/etc/secret", "root_group": "g1",
               "collections": [{"id": "c1", "name": "destination", "path": "/backup/", "access": "write"}]}
    return GlobusChecks(options, check_mode).rows()


def test_globus_all_ok_probe_made_and_deleted(monkeypatch):
    transfer = FakeTransfer()
    rows = globus_rows(monkeypatch, FakeClients(transfer, FakeGroups("manager")))
    assert [r["result"] for r in rows] == ["ok"] * 4
    assert transfer.made == transfer.deleted and transfer.made[0].startswith("/backup/.datasync-preflight-")


def test_globus_wrong_secret_is_one_failed_row(monkeypatch):
    rows = globus_rows(monkeypatch, FakeClients(token_error=ApiError(401, "invalid_client", "Unauthorized")))
    assert [r["result"] for r in rows] == ["failed", "skipped", "skipped", "skipped"]
    assert "401" in rows[0]["detail"] and "/etc/secret" in rows[0]["fix"]


def test_globus_member_role_and_denied_mkdir(monkeypatch):
    rows = globus_rows(monkeypatch, FakeClients(FakeTransfer(deny_mkdir=True), FakeGroups("member")))
    role, listed, write = rows[1], rows[2], rows[3]
    assert role["result"] == "failed" and "a member" in role["detail"] and "manager" in role["fix"]
    assert listed["result"] == "ok"
    assert write["result"] == "failed" and "no write access" in write["detail"] and "rw" in write["fix"]


def test_globus_check_mode_makes_no_probe(monkeypatch):
    transfer = FakeTransfer()
    rows = globus_rows(monkeypatch, FakeClients(transfer, FakeGroups("admin")), check_mode=True)
    assert rows[-1]["result"] == "skipped" and transfer.made == []


def test_module_returns_every_row_and_fails_on_a_failed_one(tmp_path):
    secret = tmp_path / "client.secret"
    secret.write_text("the-secret-value\n")
    secret.chmod(0o600)
    args = {"job": "pools", "secret_files": [{"path": str(secret), "what": "rsync password"}],
            "destinations": [str(tmp_path)], "min_free": "1"}
    outcome = run(preflight.main, args)
    assert not outcome.failed and outcome.result["failed_rows"] == 0 and not outcome.result["changed"]
    assert [(r["job"], r["check"], r["result"]) for r in outcome.result["rows"]] == [
        ("pools", "credential file", "ok"), ("pools", "destination folder", "ok")]
    secret.chmod(0o640)
    outcome = run(preflight.main, dict(args, min_free="1P"))
    assert outcome.failed and outcome.result["failed_rows"] == 2 and len(outcome.result["errors"]) == 2
    assert "0640" in outcome.result["msg"] and "below the threshold" in outcome.result["msg"]
    assert "the-secret-value" not in repr(outcome.result)


def test_module_refuses_a_size_it_cannot_read():
    outcome = run(preflight.main, {"job": "pools", "min_free": "lots"})
    assert outcome.failed and "min_free 'lots' is not a size" in outcome.result["msg"]
