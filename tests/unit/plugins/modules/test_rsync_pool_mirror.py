import json

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

    def run_bulk(runner, argv, env=None, secret_env=None, cwd=None):
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
