"""The pool mirror's pre-flight (plugins/module_utils/_preflight/pools.py): what the real rsync said, one clear row each.

rsync's outcomes are replayed from tests/unit/rsync_list_outcomes.json, recorded with the lab hosts' rsync 3.2.7
client and the lab machine's 3.5.0 against a 3.5.0 daemon set up as the lab's (its "_recorded" says how).
"""

from __future__ import annotations

import json
import os
import re

import pytest

from ansible_collections.sciops.datasync.plugins.module_utils._core.rsync import C_ENV, unescape_name
from ansible_collections.sciops.datasync.plugins.module_utils._core.runner import CommandResult
from ansible_collections.sciops.datasync.plugins.module_utils._preflight import pools
from ansible_collections.sciops.datasync.plugins.module_utils._preflight.pools import DaemonChecks, classify

from tests.unit.test_preflight import serve_once

with open(os.path.join(os.path.dirname(__file__), "rsync_list_outcomes.json"), encoding="utf-8") as _handle:
    RECORDED = json.load(_handle)["clients"]

EXPECTED = {
    "ok": pools.OK, "ok_path": pools.OK,
    "wrong_password": pools.AUTH, "wrong_user": pools.AUTH, "hostile_auth": pools.AUTH,
    "unknown_module": pools.UNKNOWN_MODULE, "unknown_module_wrong_password": pools.UNKNOWN_MODULE, "hostile_error": pools.UNKNOWN_MODULE,
    "path_missing": pools.PATH_MISSING, "path_not_a_folder": pools.NOT_A_FOLDER,
    "refused": pools.UNREACHABLE,
    "not_a_daemon": pools.NOT_A_DAEMON, "hostile_greeting": pools.NOT_A_DAEMON,
    "password_file_missing": pools.PASSWORD_FILE,
    "host_denied": pools.HOST_DENIED, "max_connections": pools.OTHER,
}
PASSWORD = "lab-pool-password"
UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e]")


@pytest.mark.parametrize("client", sorted(RECORDED))
def test_every_recorded_outcome_is_told_apart(client):
    cases = RECORDED[client]
    assert set(cases) == set(EXPECTED)
    assert {name: classify(case["rc"], case["stderr"])[0] for name, case in cases.items()} == EXPECTED


def test_the_daemon_words_are_kept_short_and_escaped():
    case = RECORDED["3.2.7"]["hostile_error"]
    # rsync escapes in the C locale; were the same text raw, it still reaches the row escaped.
    for stderr in (case["stderr"], unescape_name(case["stderr"])):
        kind, said = classify(case["rc"], stderr)
        assert kind == pools.UNKNOWN_MODULE and not UNSAFE.search(said) and "\\#033]0;pwned\\#007" in said, said
    assert len(classify(5, "@ERROR: auth failed on module " + "x" * 5000)[1]) < 400


class ReplayRunner:
    """Answers each listing with the recorded outcome its URL's module[/path] names; keeps every argv and env."""

    def __init__(self, answers, client="3.2.7"):
        self.answers, self.client, self.calls = answers, client, []

    @staticmethod
    def binary(name, required=True):
        return "/usr/bin/" + name

    def run(self, argv, env=None, secret_env=None):
        self.calls.append((argv, env, secret_env))
        label = re.sub(r"^rsync://[^/]*/", "", argv[-1]).rstrip("/")
        case = RECORDED[self.client][self.answers[label]]
        return CommandResult(argv, case["rc"], case.get("stdout", ""), case["stderr"])


@pytest.fixture
def password_file(tmp_path):
    path = tmp_path / "password"
    path.write_text(PASSWORD + "\n")
    path.chmod(0o600)
    return str(path)


def daemon_rows(runner, password_file, pool_list, port=None, failed_secrets=()):
    daemon = {"host": "127.0.0.1", "port": port or serve_once(b"@RSYNCD: 32.0 sha512 sha256 sha1 md5 md4\n"), "user": "pacs",
              "password_file": password_file, "pools": pool_list}
    return DaemonChecks(runner, daemon, 5, failed_secrets).rows()


def results(rows):
    return [(row["check"], row["item"].split(" on ")[0], row["result"]) for row in rows]


@pytest.mark.parametrize("client", sorted(RECORDED))
def test_a_wrong_password_is_one_failed_login_row(password_file, client):
    runner = ReplayRunner({"pv": "wrong_password", "pv-1": "wrong_password", "ops/notes": "wrong_password"}, client)
    rows = daemon_rows(runner, password_file, [{"module": "pv"}, {"module": "pv-1"}, {"module": "ops", "path": "notes"}])
    assert results(rows) == [("rsync daemon reachable", rows[0]["item"], "ok"), ("rsync login accepted", rows[1]["item"], "failed"),
                             ("rsync pool listed", "pv", "skipped"), ("rsync pool listed", "pv-1", "skipped"),
                             ("rsync pool listed", "ops/notes", "skipped")]
    login = rows[1]
    assert login["item"].startswith("pacs@127.0.0.1:")
    assert "refused the login of pacs with the password in %s for module 'pv', 'pv-1', 'ops'" % password_file in login["detail"]
    assert "(auth failed on module pv)" in login["detail"]
    assert "put the daemon's current password for pacs in %s (transfer_pools_password)" % password_file in login["fix"]
    # Listed as the job lists (its argv builder), the password only in its file, nothing transferred.
    argv, env, secret_env = runner.calls[0]
    assert argv[0] == "/usr/bin/rsync" and "--list-only" in argv and "--password-file=%s" % password_file in argv
    assert "--recursive" not in argv and not any(word.startswith("--dry-run") for word in argv)
    assert argv[-2:] == ["--", "rsync://pacs@%s/pv/" % rows[0]["item"]]
    assert runner.calls[2][0][-1].endswith("/ops/notes/")
    assert env == C_ENV and not secret_env
    assert PASSWORD not in repr(runner.calls) + repr(rows)


def test_each_pool_fault_is_its_own_row_with_its_fix(password_file):
    runner = ReplayRunner({"pv": "ok", "nosuch": "unknown_module", "pv/missing": "path_missing", "pv/file": "path_not_a_folder"})
    rows = daemon_rows(runner, password_file, [{"module": "pv"}, {"module": "nosuch"}, {"module": "pv", "path": "missing"},
                                               {"module": "pv", "path": "file"}])
    assert [row["result"] for row in rows] == ["ok", "ok", "ok", "failed", "failed", "failed"]
    assert rows[1]["detail"] == "pacs with the password in %s accepted for module 'pv'" % password_file
    assert rows[2]["detail"] == "listed: 3 entries at its top (nothing transferred)"
    unknown, missing, afile = rows[3:]
    assert unknown["item"].startswith("nosuch on ")
    assert unknown["detail"] == "the daemon has no module 'nosuch' (Unknown module 'nosuch')"
    assert "transfer_pools_modules" in unknown["fix"] and "rsync rsync://127.0.0.1:" in unknown["fix"]
    assert missing["detail"].startswith("module 'pv' has no path 'missing' (rsync: [sender] change_dir \"missing\" (in pv) failed: "
                                        "No such file or directory (2))")
    assert "path inside module 'pv'" in missing["fix"]
    assert afile["detail"].startswith("path 'file' in module 'pv' is not a folder") and "as a folder" in afile["fix"]


def test_a_denied_host_and_any_other_refusal_say_what_the_daemon_said(password_file):
    runner = ReplayRunner({"pv": "host_denied", "ops": "max_connections"})
    rows = daemon_rows(runner, password_file, [{"module": "pv"}, {"module": "ops"}])
    assert [row["result"] for row in rows] == ["ok", "skipped", "failed", "failed"]
    denied, other = rows[2:]
    assert denied["detail"] == "the daemon does not let this host into module 'pv' (access denied to denied from localhost (127.0.0.1))"
    assert "hosts allow of module 'pv'" in denied["fix"]
    assert other["detail"].startswith("rsync exit code 5 (error starting client-server protocol") and \
        other["detail"].endswith(": max connections (-1) reached -- try again later")
    assert "pools_action=list" in other["fix"]


def test_an_unknown_module_is_named_even_with_a_wrong_password(password_file):
    # The daemon looks the module up before it asks for the password: both faults show, once each.
    runner = ReplayRunner({"pv": "wrong_password", "nosuch": "unknown_module_wrong_password"})
    rows = daemon_rows(runner, password_file, [{"module": "pv"}, {"module": "nosuch"}])
    assert results(rows)[1:] == [("rsync login accepted", rows[1]["item"], "failed"), ("rsync pool listed", "pv", "skipped"),
                                 ("rsync pool listed", "nosuch", "failed")]
    assert "for module 'pv' " in rows[1]["detail"] and "nosuch" not in rows[1]["detail"]


def test_no_greeting_skips_the_login_and_the_pools(password_file):
    runner = ReplayRunner({})
    rows = daemon_rows(runner, password_file, [{"module": "pv"}], port=serve_once(b"SSH-2.0-OpenSSH_9.2p1 \x1b[2J\r\n"))
    assert [row["result"] for row in rows] == ["failed", "skipped", "skipped"] and runner.calls == []
    assert "did not greet as an rsync daemon ('SSH-2.0-OpenSSH_9.2p1 \\#033[2J" in rows[0]["detail"]
    assert rows[2]["detail"] == "the daemon did not answer"


def test_a_greeting_is_shown_escaped():
    row = pools.check_rsync_daemon("127.0.0.1", serve_once(b"@RSYNCD: 31.0\x1b]0;owned\x07\n"), 5)
    assert row["result"] == "ok" and row["detail"] == "greeted with @RSYNCD: 31.0\\#033]0;owned\\#007"


def test_an_unusable_password_file_is_one_row(tmp_path):
    missing = str(tmp_path / "none")
    runner = ReplayRunner({})
    rows = daemon_rows(runner, missing, [{"module": "pv"}])
    assert [row["result"] for row in rows] == ["ok", "failed", "skipped"] and runner.calls == []
    assert missing in rows[1]["detail"] and "install the daemon's password for pacs in %s" % missing in rows[1]["fix"]
    # Its credential file row failed already: the login is skipped, not failed a second time.
    rows = daemon_rows(runner, missing, [{"module": "pv"}], failed_secrets=[missing])
    assert [row["result"] for row in rows] == ["ok", "skipped", "skipped"]
    assert rows[1]["detail"] == "the password file failed its check"


def test_rsync_refusing_the_password_file_is_the_login_row(password_file):
    runner = ReplayRunner({"pv": "password_file_missing", "ops": "password_file_missing"})
    rows = daemon_rows(runner, password_file, [{"module": "pv"}, {"module": "ops"}])
    assert [row["result"] for row in rows] == ["ok", "failed", "skipped", "skipped"]
    assert "rsync would not read the password file" in rows[1]["detail"] and "could not open password file" in rows[1]["detail"]


def test_names_the_job_refuses_never_reach_rsync(password_file):
    runner = ReplayRunner({"pv": "ok"})
    rows = daemon_rows(runner, password_file, [{"module": "pv"}, {"module": "bad name"}, {"module": "pv", "path": "../up"}])
    assert [row["result"] for row in rows] == ["ok", "ok", "ok", "failed", "failed"] and len(runner.calls) == 1
    assert "whitespace" in rows[3]["detail"] and "transfer_pools_modules" in rows[3]["fix"]
    bad_user = DaemonChecks(runner, {"host": "127.0.0.1", "port": serve_once(b"@RSYNCD: 32.0\n"), "user": "-oProxy",
                                     "password_file": password_file, "pools": [{"module": "pv"}]}, 5).rows()
    assert [row["result"] for row in bad_user] == ["ok", "failed", "skipped"] and len(runner.calls) == 1


def test_hostile_daemon_text_never_reaches_a_row_raw(password_file):
    hostile = dict(RECORDED["3.2.7"]["hostile_error"])
    hostile["stderr"] = unescape_name(hostile["stderr"])
    RECORDED["raw"] = {"hostile_error": hostile}
    try:
        rows = daemon_rows(ReplayRunner({"pv": "hostile_error"}, "raw"), password_file, [{"module": "pv"}])
    finally:
        del RECORDED["raw"]
    assert rows[-1]["result"] == "failed" and "\\#033]0;pwned" in rows[-1]["detail"]
    assert not any(UNSAFE.search(row[key]) for row in rows for key in ("item", "detail", "fix"))
