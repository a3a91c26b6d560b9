import json
import os
import re

import pytest
from ansible.module_utils import basic

from ansible_collections.sciops.datasync.plugins.module_utils._core.runner import CommandResult, CommandRunner
from ansible_collections.sciops.datasync.plugins.modules import rsync_pool_info, rsync_pool_mirror

from module_runner import run

ITEMIZED = ">f+++++++++ README\ncd+++++++++ obs0001/\nNumber of regular files transferred: 1\nTotal transferred file size: 21 bytes\n"


@pytest.fixture
def calls(monkeypatch):
    seen = []

    def run_command(module, args, **kwargs):
        seen.append((args, kwargs))
        return 0, ITEMIZED, ""

    def run_bulk(runner, argv, env=None, secret_env=None, cwd=None, **unused_poll):
        seen.append((argv, {"environ_update": dict(env or {}, **(secret_env or {})), "cwd": cwd}))
        return CommandResult(argv, 0, ITEMIZED, "")

    monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
    monkeypatch.setattr(CommandRunner, "run_bulk", run_bulk)
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda module, name, **kw: "/usr/bin/" + name)
    return seen


@pytest.mark.parametrize("field,value", [("module", "--rsh=touch /tmp/canary"), ("module", "pv/../.."), ("path", "../../etc"),
                                         ("path", "obs\n1"), ("module", "-e"), ("host", "-oProxyCommand=x"),
                                         ("user", "pacs@evil"), ("host", "a b")])
def test_hostile_names_refused_before_any_command(calls, tmp_path, field, value):
    args = {"host": "127.0.0.1", "module": "pv", "dest": str(tmp_path / "d"), "password": "x", "user": "pacs"}
    args[field] = value
    outcome = run(rsync_pool_mirror.main, args)
    assert outcome.failed
    assert outcome.result["errors"] and repr(value)[1:-1] in outcome.result["errors"][0]["reason"]
    assert outcome.result["errors"][0]["item"] == value
    assert calls == []
    assert not (tmp_path / "d").exists()


def test_check_mode_is_a_dry_run_that_creates_nothing(calls, tmp_path):
    args = {"host": "127.0.0.1", "module": "pv", "dest": str(tmp_path / "d"), "password": "s3cret", "user": "pacs",
            "bookkeeping_root": str(tmp_path / "icc"), "_ansible_check_mode": True}
    outcome = run(rsync_pool_mirror.main, args)
    assert not outcome.failed
    assert outcome.result["changed"] is True and outcome.result["dry_run"] is True
    assert outcome.result["transferred"] == ["README", "obs0001/"]
    argv, kwargs = calls[0]
    assert "--dry-run" in argv and "--itemize-changes" in argv
    assert "s3cret" not in json.dumps(argv) and kwargs["environ_update"]["RSYNC_PASSWORD"] == "s3cret"
    assert "s3cret" not in json.dumps(outcome.result)
    assert not (tmp_path / "d").exists() and not (tmp_path / "icc").exists()


def test_info_refuses_hostile_module(calls):
    outcome = run(rsync_pool_info.main, {"host": "127.0.0.1", "module": "pv;reboot"})
    assert outcome.failed and calls == []


def test_info_lists_modules(calls, monkeypatch):
    monkeypatch.setattr(basic.AnsibleModule, "run_command",
                        lambda module, args, **kw: (0, "pv             \tPACS product pools, PV\n", ""))
    outcome = run(rsync_pool_info.main, {"host": "127.0.0.1"})
    assert outcome.result["modules"] == [{"name": "pv", "description": "PACS product pools, PV"}]


def test_readable_password_file_is_refused_by_name(calls, tmp_path):
    loose = tmp_path / "password"
    loose.write_text("s3cret\n")
    loose.chmod(0o644)
    outcome = run(rsync_pool_mirror.main, {"host": "127.0.0.1", "module": "pv", "dest": str(tmp_path / "d"), "password_file": str(loose)})
    assert outcome.failed and "group or others" in outcome.result["msg"] and calls == []
    assert outcome.result["errors"] == [{"item": str(loose), "reason": outcome.result["msg"]}]


PROGRESS_STDOUT = (">f+++++++++ a.fits\n>f+++++++++ b.fits\ncd+++++++++ obs/\nNumber of files: 4 (reg: 2, dir: 2)\n"
                   "Number of regular files transferred: 2\nTotal transferred file size: 3,145,728 bytes\n")


def test_a_mirror_writes_progress_lines_into_the_job_log_while_rsync_runs(monkeypatch, tmp_path):
    """Issue 16 item 6: with the job log the wrapper names, a line per interval while rsync runs
    (files and bytes arrived so far, read from rsync's own log file) and a closing line."""
    job_log = tmp_path / "logs" / "pools-pv.log"
    job_log.parent.mkdir()
    job_log.write_text("===== 2026-11-30T01:50:00Z start pools-pv\n")
    job_log.chmod(0o640)
    seen = {}

    def run_bulk(runner, argv, env=None, secret_env=None, cwd=None, on_poll=None, poll_interval=1.0):
        rsync_log = [word.split("=", 1)[1] for word in argv if word.startswith("--log-file=")][0]
        assert "--log-file-format=%i %l" in argv and argv.index("--log-file-format=%i %l") < argv.index("--")
        for size in (1048576, 2097152):
            with open(rsync_log, "a") as handle:
                handle.write("2026/11/30 01:50:01 [42] >f+++++++++ %d\n2026/11/30 01:50:01 [42] cd+++++++++ 4096\n" % size)
            on_poll()
        seen.update(poll_interval=poll_interval, rsync_log=rsync_log)
        return CommandResult(argv, 0, PROGRESS_STDOUT, "")

    monkeypatch.setattr(CommandRunner, "run_bulk", run_bulk)
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda module, name, **kw: "/usr/bin/" + name)
    monkeypatch.setenv("DATASYNC_JOB_LOG", str(job_log))
    monkeypatch.setenv("DATASYNC_PROGRESS_INTERVAL", "0")
    args = {"host": "127.0.0.1", "module": "pv", "dest": str(tmp_path / "d"), "password": "x", "user": "pacs"}
    outcome = run(rsync_pool_mirror.main, args)
    assert not outcome.failed, outcome.result
    lines = job_log.read_text().splitlines()[1:]
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ progress pool pv: "
    assert len(lines) == 3, lines
    assert re.match(stamp + r"1 files, 1\.0 MiB, \S+ \S+/s, \d+ s$", lines[0]), lines
    assert re.match(stamp + r"2 files, 3\.0 MiB, \S+ \S+/s, \d+ s$", lines[1]), lines
    assert re.match(stamp + r"2 of 4 files, 3\.0 MiB, \S+ \S+/s, \d+ s: finished$", lines[2]), lines
    assert seen["poll_interval"] == 0.2
    assert not os.path.exists(os.path.dirname(seen["rsync_log"]))  # the run's private folder is removed


def test_a_job_log_that_is_a_link_gives_a_warning_and_the_mirror_runs(calls, monkeypatch, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("root's file\n")
    (tmp_path / "job.log").symlink_to(victim)
    monkeypatch.setenv("DATASYNC_JOB_LOG", str(tmp_path / "job.log"))
    warnings = []
    monkeypatch.setattr(basic.AnsibleModule, "warn", lambda module, text: warnings.append(text))
    outcome = run(rsync_pool_mirror.main, {"host": "127.0.0.1", "module": "pv", "dest": str(tmp_path / "d"), "password": "x"})
    assert not outcome.failed and outcome.result["transferred"] == ["README", "obs0001/"]
    assert any("is a symlink; refused" in warning for warning in warnings), warnings
    assert not any(word.startswith("--log-file") for word in calls[0][0])
    assert victim.read_text() == "root's file\n"
