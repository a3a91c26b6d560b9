"""The job_report callback fed module results shaped as the modules return them (their RETURN docs).

Two gosync runs, a pools run and a collection sync and EPN run: the textfile each leaves must
parse (prometheus_client's parser and `promtool check metrics`), carry counters and the last
success across runs, and the audit log must hold one line per change, with a canary secret
planted in module arguments, messages and reasons appearing in neither.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import types

import pytest
import yaml
from ansible import constants as C
from ansible import context
from ansible.executor.stats import AggregateStats
from ansible_collections.sciops.datasync.plugins.callback import job_report
from prometheus_client.parser import text_string_to_metric_families

NAME = "sciops.datasync.job_report"
CANARY = "CANARY-s3cr3t-7f1d"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool missing: install the Debian package prometheus (make system-deps)")


def _task(module, check_mode=False):
    return types.SimpleNamespace(resolved_action="sciops.datasync." + module, action=module, check_mode=check_mode)


def _result(module, result, check_mode=False):
    result = dict(result, invocation={"module_args": {"client_secret": CANARY, "password_file": "/etc/" + CANARY}})
    return types.SimpleNamespace(_task=_task(module, check_mode), _result=result)


def _stats(failed=False):
    stats = AggregateStats()
    stats.increment("ok", "localhost")
    if failed:
        stats.increment("failures", "localhost")
    return stats


def _callback(tmp_path, job, **options):
    """The callback with its options read through its DOCUMENTATION, as the plugin loader does."""
    C.config.initialize_plugin_configuration_definitions("callback", NAME, yaml.safe_load(job_report.DOCUMENTATION)["options"])
    context.CLIARGS = context.CLIARGS.__class__({"check": False})
    callback = job_report.CallbackModule()
    callback._load_name = NAME
    callback.set_options(direct=dict({"job": job, "metrics_dir": str(tmp_path / "metrics"), "audit_log": str(tmp_path / "log" / "audit.log"),
                                      "journal": False}, **options))
    return callback


def run_job(tmp_path, job, results, failed=False, interval=0):
    """One playbook run of the callback: ``results`` is a list of (callback method, module, result)."""
    callback = _callback(tmp_path, job, interval=interval)
    callback.v2_playbook_on_start(types.SimpleNamespace(_file_name="/etc/datasync/jobs/%s.yml" % job))
    for method, module, result in results:
        getattr(callback, method)(_result(module, result))
    callback.v2_playbook_on_stats(_stats(failed))
    return tmp_path / "metrics" / ("datasync_%s.prom" % job)


def samples(path):
    text = path.read_text(encoding="utf-8")
    return {(s.name, tuple(sorted((k, v) for k, v in s.labels.items() if k != "datasync_job"))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def audit_lines(tmp_path):
    path = tmp_path / "log" / "audit.log"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


USERS_OK = {"changed": True, "created": [{"name": "alice", "uid": 10001, "gid": 10001, "globus_username": "alice@uchicago.edu",
                                          "identity_id": "id-alice"}],
            "updated": [], "locked": [{"name": "bob", "uid": 10002, "identity_id": "id-bob"}], "removed": [], "adopted": [],
            "skipped_users": [{"name": "root", "reason": "denied " + CANARY}], "lock_waited": 1.5, "hooks_run": 0, "members": 4,
            "errors": [{"item": "carol@uchicago.edu", "reason": "useradd failed: " + CANARY}], "failed": True, "msg": "useradd failed " + CANARY}
GROUPS_OK = {"changed": True, "created": [], "renamed": [{"old_name": "osg-a", "name": "osg-proja", "gid": 5000, "globus_group_id": "g-1"}],
             "updated": [{"name": "osg-projb", "gid": 5001, "globus_group_id": "g-2", "added": ["alice"], "removed": ["bob"]}],
             "removed": [], "skipped_groups": [], "errors": [], "lock_waited": 0.0, "hooks_run": 0, "groups": 2}
USERS_REFUSED = {"failed": True, "departures": 12, "members": 3, "msg": "refusing 12 user departures ... " + CANARY}
GROUPS_REFUSED = {"failed": True, "departures": 7, "groups_removed": 2, "members_dropped": 5, "groups": 9, "msg": "refusing ..."}


def test_gosync_runs_metrics_carry_over_and_audit(tmp_path):
    results = [("v2_runner_on_failed", "globus_user_sync", USERS_OK), ("v2_runner_on_ok", "globus_group_sync", GROUPS_OK)]
    first = run_job(tmp_path, "gosync", results, failed=True, interval=300)
    one = samples(first)
    assert one[("datasync_job_result", (("result", "failed"),))] == 1
    assert ("datasync_job_last_success_timestamp_seconds", ()) not in one
    assert one[("datasync_items_total", (("action", "created"), ("kind", "user")))] == 1
    assert one[("datasync_items_total", (("action", "locked"), ("kind", "user")))] == 1
    assert one[("datasync_items_total", (("action", "failed"), ("kind", "user")))] == 1
    assert one[("datasync_items_total", (("action", "renamed"), ("kind", "group")))] == 1
    assert one[("datasync_lock_waits_total", ())] == 1 and one[("datasync_lock_wait_seconds_total", ())] == 1.5
    assert one[("datasync_item_consecutive_failures", (("item", "carol@uchicago.edu"), ("kind", "user")))] == 1
    assert one[("datasync_job_interval_seconds", ())] == 300
    assert oct(os.stat(first).st_mode & 0o777) == "0o644"

    second = samples(run_job(tmp_path, "gosync", [("v2_runner_on_failed", "globus_user_sync", USERS_REFUSED),
                                                  ("v2_runner_on_failed", "globus_group_sync", GROUPS_REFUSED)], failed=True))
    assert second[("datasync_job_departures_held_back", (("kind", "group"),))] == 7
    assert second[("datasync_job_runs_total", (("result", "failed"),))] == 2
    assert second[("datasync_items_total", (("action", "created"), ("kind", "user")))] == 1  # carried over
    assert second[("datasync_job_departures_held_back", (("kind", "user"),))] == 12
    assert second[("datasync_departures_held_back_total", (("kind", "user"),))] == 12
    # carol did not fail in the second run (nothing ran): her streak ends.
    assert ("datasync_item_consecutive_failures", (("item", "carol@uchicago.edu"), ("kind", "user"))) not in second

    third = samples(run_job(tmp_path, "gosync", [("v2_runner_on_ok", "globus_user_sync", dict(USERS_OK, failed=False, created=[], locked=[]))]))
    assert third[("datasync_job_result", (("result", "success"),))] == 1
    assert third[("datasync_job_last_success_timestamp_seconds", ())] == third[("datasync_job_last_run_timestamp_seconds", ())]
    assert third[("datasync_job_runs_total", (("result", "success"),))] == 1
    assert third[("datasync_item_consecutive_failures", (("item", "carol@uchicago.edu"), ("kind", "user")))] == 1

    fourth = samples(run_job(tmp_path, "gosync", [("v2_runner_on_failed", "globus_user_sync", USERS_OK)], failed=True))
    assert fourth[("datasync_item_consecutive_failures", (("item", "carol@uchicago.edu"), ("kind", "user")))] == 2
    assert fourth[("datasync_job_last_success_timestamp_seconds", ())] == third[("datasync_job_last_success_timestamp_seconds", ())]

    lines = audit_lines(tmp_path)
    actions = [(line["action"], line["object"]) for line in lines]
    assert actions[:4] == [("user_created", "alice"), ("user_locked", "bob"), ("group_renamed", "osg-proja"),
                           ("group_members_changed", "osg-projb")]
    assert actions[4:] == [("user_created", "alice"), ("user_locked", "bob")]  # the fourth run's
    created = lines[0]
    assert set(created) == {"time", "job", "host", "action", "object", "upstream_id", "before", "after"}
    assert created["job"] == "gosync" and created["upstream_id"] == "id-alice" and created["before"] is None
    assert created["after"] == {"name": "alice", "uid": 10001, "gid": 10001, "globus_username": "alice@uchicago.edu"}
    assert lines[1]["before"] == {"state": "active"} and lines[1]["after"] == {"state": "locked"}
    assert lines[3]["before"] == {"removed": ["bob"]} and lines[3]["after"] == {"added": ["alice"]}
    assert oct(os.stat(tmp_path / "log" / "audit.log").st_mode & 0o777) == "0o640"


POOL_OK = {"changed": True, "transferred_count": 3, "deleted_count": 1, "files_transferred": 2, "bytes_transferred": 4096,
           "rsync_rc": 0, "dry_run": False, "errors": [], "item": {"module": "pv"}}
POOL_FAILED = {"failed": True, "changed": False, "rsync_rc": 5, "rsync_error": "auth failed " + CANARY, "dry_run": False,
               "files_transferred": 0, "bytes_transferred": 0, "errors": [{"item": "sky", "reason": "auth failed " + CANARY}],
               "mail_sent": True, "msg": CANARY}
POOL_BUSY = {"changed": False, "skipped": True, "holder_pid": 4242, "lock_file": "/var/lib/datasync-jobs/locks/x", "msg": "busy"}


def test_pools_loop_items_and_lock_skip(tmp_path):
    failed = dict(POOL_FAILED, invocation=None, item={"module": "sky"})
    results = [("v2_runner_item_on_ok", "rsync_pool_mirror", POOL_OK), ("v2_runner_item_on_failed", "rsync_pool_mirror", failed),
               ("v2_runner_on_failed", "rsync_pool_mirror", {"results": [POOL_OK, failed], "failed": True})]
    path = run_job(tmp_path, "pools", results, failed=True)
    got = samples(path)
    assert got[("datasync_files_transferred_total", (("kind", "pool"), ("name", "pv")))] == 2
    assert got[("datasync_transferred_bytes_total", (("kind", "pool"), ("name", "pv")))] == 4096
    assert got[("datasync_item_consecutive_failures", (("item", "sky"), ("kind", "pool")))] == 1
    assert got[("datasync_emails_sent_total", ())] == 1
    assert [(line["action"], line["object"]) for line in audit_lines(tmp_path)] == [("pool_mirrored", "pv"), ("email_sent", "pool sky failure")]

    busy = samples(run_job(tmp_path, "pools", [("v2_runner_on_ok", "rsync_pool_mirror", POOL_BUSY)]))
    assert busy[("datasync_job_result", (("result", "skipped"),))] == 1
    assert busy[("datasync_lock_skips_total", ())] == 1
    assert busy[("datasync_files_transferred_total", (("kind", "pool"), ("name", "pv")))] == 2


SYNCS = {"changed": True, "submitted": ["raw"], "skipped": False, "errors": [],
         "mail": {"sent": True, "to": ["ops@example.org"], "subject": "sync", "message_id": "<m1@x>"},
         "syncs": [{"name": "raw", "action": "submitted", "submitted": True, "task_id": "t-2",
                    "task": {"task_id": "t-2", "label": "datasync raw", "status": "ACTIVE"},
                    "ended_task": {"task_id": "t-1", "status": "SUCCEEDED", "files_transferred": 7, "bytes_transferred": 7000}},
                   {"name": "scans", "action": "report", "task": {"task_id": "t-9", "status": "ACTIVE"},
                    "stalled": {"seconds": 5400, "code": "PERMISSION_DENIED"}},
                   {"name": "bad", "action": "error", "error": "refused " + CANARY}]}
EPNS = {"changed": True, "transferred": ["12282a"], "errors": [],
        "epns": [{"epn": "12282a", "equipment": 23, "project": "ny79", "destination": "/scratch/ny79/12282a/data/", "status": "transferred",
                  "files": 17, "bytes": 3145728},
                 {"epn": "13000b", "project": "ny79", "status": "failed", "msg": "rsync " + CANARY},
                 {"epn": "14000c", "project": "zz01", "status": "skipped", "skipped": True, "holder_pid": 99, "reason": "running elsewhere"}]}


def test_collection_sync_and_epn(tmp_path):
    got = samples(run_job(tmp_path, "collection-sync", [("v2_runner_on_failed", "globus_collection_sync", dict(SYNCS, failed=True))],
                          failed=True))
    assert got[("datasync_files_transferred_total", (("kind", "sync"), ("name", "raw")))] == 7
    assert got[("datasync_sync_task_stalled_seconds", (("sync", "scans"),))] == 5400
    assert got[("datasync_sync_task_stalled_seconds", (("sync", "raw"),))] == 0
    assert got[("datasync_item_consecutive_failures", (("item", "bad"), ("kind", "sync")))] == 1
    epn = samples(run_job(tmp_path, "mxsync-repatriate", [("v2_runner_on_ok", "epn_repatriate", EPNS)]))
    assert epn[("datasync_transferred_bytes_total", (("kind", "project"), ("name", "ny79")))] == 3145728
    assert epn[("datasync_lock_skips_total", ())] == 1
    assert epn[("datasync_item_consecutive_failures", (("item", "13000b"), ("kind", "epn")))] == 1
    lines = audit_lines(tmp_path)
    assert [(line["job"], line["action"], line["object"], line["upstream_id"]) for line in lines] == [
        ("collection-sync", "transfer_submitted", "raw", "t-2"), ("collection-sync", "email_sent", "collection sync summary", "<m1@x>"),
        ("mxsync-repatriate", "epn_repatriated", "12282a", "23")]


def test_check_mode_writes_nothing(tmp_path):
    callback = _callback(tmp_path, "gosync")
    callback.v2_runner_on_ok(_result("globus_user_sync", USERS_OK, check_mode=True))
    callback.v2_playbook_on_stats(_stats())
    assert audit_lines(tmp_path) == []
    assert ("datasync_items_total", (("action", "created"), ("kind", "user"))) not in samples(tmp_path / "metrics" / "datasync_gosync.prom")


def test_refuses_a_planted_audit_link(tmp_path):
    (tmp_path / "log").mkdir()
    os.symlink(tmp_path / "elsewhere", tmp_path / "log" / "audit.log")
    run_job(tmp_path, "gosync", [("v2_runner_on_ok", "globus_group_sync", GROUPS_OK)])
    assert not (tmp_path / "elsewhere").exists()


def test_a_job_name_never_leaves_the_metrics_folder(tmp_path):
    (tmp_path / "metrics").mkdir()
    run_job(tmp_path, "../escaped", [("v2_runner_on_ok", "globus_group_sync", GROUPS_OK)])
    assert sorted(p.name for p in tmp_path.rglob("*.prom")) == []


def test_no_secret_anywhere(tmp_path):
    run_job(tmp_path, "gosync", [("v2_runner_on_failed", "globus_user_sync", USERS_OK), ("v2_runner_on_ok", "globus_group_sync", GROUPS_OK)],
            failed=True)
    run_job(tmp_path, "pools", [("v2_runner_item_on_failed", "rsync_pool_mirror", dict(POOL_FAILED, item={"module": "sky"}))], failed=True)
    run_job(tmp_path, "sync", [("v2_runner_on_failed", "globus_collection_sync", dict(SYNCS, failed=True))], failed=True)
    run_job(tmp_path, "epn", [("v2_runner_on_ok", "epn_repatriate", EPNS)])
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(written) == 5
    for path in written:
        assert CANARY not in path.read_text(encoding="utf-8"), path


def test_journal_datagram_fields():
    from ansible_collections.sciops.datasync.plugins.plugin_utils._report import audit
    datagram = audit.journal_datagram({"time": "t", "job": "gosync", "host": "h", "action": "user_created", "object": "alice",
                                       "upstream_id": "id", "before": None, "after": {"note": "two\nlines"}})
    assert b"SYSLOG_IDENTIFIER=datasync-audit\n" in datagram and b"DATASYNC_ACTION=user_created\n" in datagram
    assert b"DATASYNC_BEFORE" not in datagram
    value = json.dumps({"note": "two\nlines"}, separators=(",", ":")).encode()
    assert b"DATASYNC_AFTER=" + value + b"\n" in datagram  # json escapes the newline: one plain field


@needs_promtool
def test_promtool_checks_the_textfile(tmp_path):
    path = run_job(tmp_path, "gosync", [("v2_runner_on_failed", "globus_user_sync", USERS_OK), ("v2_runner_on_ok", "globus_group_sync", GROUPS_OK)],
                   failed=True, interval=300)
    proc = subprocess.run([PROMTOOL, "check", "metrics"], input=path.read_bytes(), capture_output=True, check=False)
    assert proc.returncode == 0 and not proc.stdout.strip() and not proc.stderr.strip(), proc.stdout + proc.stderr
