import base64
import re
import urllib.parse

import pytest

from ansible_collections.sciops.datasync.plugins.module_utils._experiment import dm as _dm
from tests.lab.aps_dm import server as dm_server


def test_encode_is_double_base64_bytes_repr_and_the_emulator_decodes_it():
    encoded = _dm.encode("2026-11-Lovelace-1001234")
    assert encoded.startswith("b'") and encoded.endswith("'")
    inner = encoded[2:-1]
    assert base64.decodebytes(base64.b64decode(inner)).decode() == "2026-11-Lovelace-1001234"
    assert dm_server.decode(urllib.parse.quote(encoded, safe="")) == "2026-11-Lovelace-1001234"
    assert dm_server.decode(inner) == "2026-11-Lovelace-1001234"  # the bare form too


def test_route_path_encodes_only_flagged_parameters():
    path = _dm.route_path("add_user_role", username="d300001", role="User", name="exp/1")
    assert path.startswith("/dm/usersByExperimentRole/d300001/User/b%27")
    assert "/" not in path[len("/dm/usersByExperimentRole/d300001/User/"):]


def test_every_client_route_is_served_by_the_emulator():
    served = {(method, re.sub(r"\{\w+\}", "{}", pattern)) for method, pattern, _h, _a in dm_server.ROUTES}
    for name, (_service, method, template, origin) in _dm.ROUTES.items():
        assert origin in ("observed", "inferred")
        assert (method, re.sub(r"\{\w+(?:!e)?\}", "{}", template)) in served, name


@pytest.mark.parametrize("name, ok", [
    ("2026-11-Lovelace-1001234", True), ("2026-11-De Carlo-1", False), ("a/b", False), ("O'Brien", False),
    ("x..y", False), ("", False), ("a$b", False),
])
def test_experiment_name_problem(name, ok):
    assert (_dm.experiment_name_problem(name) is None) is ok


def test_normalize_username_and_dates():
    assert _dm.normalize_username("300001") == ("d300001", None)
    assert _dm.normalize_username("d300001") == ("d300001", None)
    assert _dm.normalize_username("root")[1]
    assert _dm.normalize_username("1; rm")[1]
    assert _dm.dm_date("2026-11-05") == "05-Nov-26"
    assert _dm.dm_date("05-Nov-26") == "05-Nov-26"
    with pytest.raises(ValueError):
        _dm.dm_date("yesterday")


DESIRED = {"name": "e", "station": "s", "type": "2BM", "description": "d", "root_path": "2026-11",
           "start_date": None, "end_date": None, "users": None, "users_mode": "append", "metadata": {},
           "daq": None, "daq_directory": None, "notify": False, "notify_key": "emailedUsers"}


def desired(**kw):
    return dict(DESIRED, **kw)


def test_plan_creates_an_absent_experiment_with_known_users_only():
    actions, errors = _dm.plan_changes(None, desired(users=["d1", "d2"]), {"d1"}, [], {})
    assert [a["action"] for a in actions] == ["create_experiment", "add_user"]
    assert errors[0]["user"] == "d2"


def test_plan_is_empty_when_everything_is_in_place():
    current = {"name": "e", "experimentUsernameList": ["d1"], "emailedUsers": "d1"}
    actions, errors = _dm.plan_changes(current, desired(users=["d1"], notify=True), {"d1"}, [], {"d1": "a@x"})
    assert actions == [] and errors == []


def test_plan_exact_and_remove():
    current = {"name": "e", "experimentUsernameList": ["d1", "d2"]}
    actions, _e = _dm.plan_changes(current, desired(users=["d1", "d3"], users_mode="exact"), {"d1", "d2", "d3"}, [], {})
    assert actions == [{"action": "add_user", "username": "d3"}, {"action": "remove_user", "username": "d2"}]
    actions, _e = _dm.plan_changes(current, desired(users=["d2", "d9"], users_mode="remove"), {"d2"}, [], {})
    assert actions == [{"action": "remove_user", "username": "d2"}]


def test_plan_daq_started_only_when_none_runs_for_the_directory_and_stop_stops_all():
    current = {"name": "e", "experimentUsernameList": []}
    running = [{"id": "1", "dataDirectory": "/a", "status": "running"}, {"id": "2", "dataDirectory": "/b", "status": "pending"}]
    actions, _e = _dm.plan_changes(current, desired(daq="started", daq_directory="/a"), set(), running, {})
    assert actions == []
    actions, _e = _dm.plan_changes(current, desired(daq="started", daq_directory="/c"), set(), running, {})
    assert actions == [{"action": "start_daq", "directory": "/c"}]
    actions, _e = _dm.plan_changes(current, desired(daq="stopped"), set(), running, {})
    assert [a["directory"] for a in actions] == ["/a", "/b"]


def test_plan_emails_only_users_not_yet_emailed_and_reports_missing_addresses():
    current = {"name": "e", "experimentUsernameList": ["d1", "d2", "d3"], "emailedUsers": "d1"}
    actions, errors = _dm.plan_changes(current, desired(notify=True), {"d1", "d2", "d3"}, [], {"d1": "a@x", "d2": "b@x"})
    assert actions == [{"action": "email", "username": "d2", "email": "b@x"}]
    assert errors[0]["user"] == "d3"


def test_plan_metadata_only_when_different():
    current = {"name": "e", "experimentUsernameList": [], "sample": "x"}
    actions, _e = _dm.plan_changes(current, desired(metadata={"sample": "x", "beam": "pink"}), set(), [], {})
    assert actions == [{"action": "set_metadata", "key": "beam", "value": "pink"}]


def test_predicted_summary_for_the_diff():
    before = _dm.state_summary(None, [], "emailedUsers")
    actions, _e = _dm.plan_changes(None, desired(users=["d1"], notify=True), {"d1"}, [], {"d1": "a@x"})
    after = _dm.predicted_summary(before, actions, desired(), "emailedUsers")
    assert after == {"exists": True, "name": "e", "users": ["d1"], "running_daqs": [], "emailedUsers": "d1"}


def test_check_reads_dm_status_headers():
    class Headers(dict):
        pass
    headers = Headers({"Dm-Status-Code": "14", "Dm-Status-Message": "Experiment x does not exist.",
                       "Dm-Exception-Type": "ObjectNotFound"})
    with pytest.raises(_dm.DmApiError) as caught:
        _dm.DmClient("http://dm", None, "u", "p")._check("experiment_by_name", 200, headers, b'{"errorCode": 14}')
    assert caught.value.not_found
    assert "Dm-Status-Code 14 (ObjectNotFound): Experiment x does not exist." in str(caught.value)
    assert _dm.DmClient("http://dm", None, "u", "p")._check("x", 200, Headers({"Dm-Status-Code": "0"}), b'{"a": 1}') == {"a": 1}


def test_login_file(tmp_path):
    path = tmp_path / "login"
    path.write_text("dm_user|p|w\n")
    path.chmod(0o600)
    assert _dm.read_login_file(str(path)) == ("dm_user", "p|w")
    path.write_text("nopipe\n")
    with pytest.raises(_dm.DmApiError):
        _dm.read_login_file(str(path))
