import pytest

from ansible_collections.sciops.datasync.plugins.modules import aps_dm_experiment, epics_pv_info

from module_runner import run


def test_dm_refuses_a_hostile_experiment_name_before_any_request(tmp_path):
    login = tmp_path / "login"
    login.write_text("u|p\n")
    login.chmod(0o600)
    result = run(aps_dm_experiment.main, {"name": "2026-11-x/../y-1", "station": "2-BM-A,B",
                                          "ds_url": "http://127.0.0.1:1", "login_file": str(login)})
    assert result.failed
    assert "refused" in result.result["msg"] and "2026-11-x/../y-1" in result.result["msg"]


def test_dm_unreachable_service_is_a_clear_error(tmp_path):
    login = tmp_path / "login"
    login.write_text("u|p\n")
    login.chmod(0o600)
    result = run(aps_dm_experiment.main, {"name": "2026-11-x-1", "station": "2-BM-A,B",
                                          "ds_url": "http://127.0.0.1:1", "login_file": str(login), "timeout": 2})
    assert result.failed
    assert "cannot reach http://127.0.0.1:1/dm/login" in result.result["msg"]


def test_dm_daq_started_needs_a_directory(tmp_path):
    login = tmp_path / "login"
    login.write_text("u|p\n")
    login.chmod(0o600)
    result = run(aps_dm_experiment.main, {"name": "e", "station": "s", "daq": "started",
                                          "ds_url": "http://127.0.0.1:1", "login_file": str(login)})
    assert result.failed and "daq_directory" in result.result["msg"]


def test_epics_safe_names_must_be_among_names():
    pytest.importorskip("caproto")
    result = run(epics_pv_info.main, {"prefix": "x:", "names": ["A"], "safe_names": ["B"]})
    assert result.failed and "safe_names" in result.result["msg"]
