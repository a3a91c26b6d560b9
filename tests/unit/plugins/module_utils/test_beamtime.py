import datetime

import pytest

from ansible_collections.sciops.datasync.plugins.module_utils._experiment import beamtime as _beamtime


def test_parse_time_with_and_without_colon():
    a = _beamtime.parse_time("2026-10-01T08:00:00.000-0600")
    b = _beamtime.parse_time("2026-10-01T08:00:00-06:00")
    assert a == b
    assert a.utcoffset() == datetime.timedelta(hours=-6)
    with pytest.raises(_beamtime.BeamtimeError):
        _beamtime.parse_time("soon")


RUNS = [{"runName": "2026-2", "startTime": "2026-05-01T08:00:00-0500", "endTime": "2026-10-01T08:00:00-0500"},
        {"runName": "2026-3", "startTime": "2026-10-01T08:00:00-0500", "endTime": "2027-01-01T08:00:00-0600"}]


def test_pick_run():
    when = datetime.datetime(2026, 11, 20, tzinfo=datetime.timezone.utc)
    assert _beamtime.pick_run(RUNS, when)["runName"] == "2026-3"
    assert _beamtime.pick_run(RUNS, when, "2026-2")["runName"] == "2026-2"
    with pytest.raises(_beamtime.BeamtimeError):
        _beamtime.pick_run(RUNS, datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc))


ACTIVITY = {"activityId": 1, "startTime": "2026-11-20T08:00:00-0600", "endTime": "2026-11-25T08:00:00-0600",
            "beamtime": {"proposal": {"gupId": 1001234, "proposalTitle": "T", "experimenters": [
                {"badge": 300001, "firstName": "Ada", "lastName": "Lovelace", "email": "a@x", "piFlag": "Y"},
                {"badge": "300002", "firstName": "C", "lastName": "B", "email": "c@x", "piFlag": None}]}}}


def test_activity_view_and_choice():
    view = _beamtime.activity_view(ACTIVITY)
    assert view["proposal_id"] == "1001234"
    assert view["pi"]["last_name"] == "Lovelace"
    assert [e["badge"] for e in view["experimenters"]] == ["300001", "300002"]
    inside = datetime.datetime(2026, 11, 21, tzinfo=datetime.timezone.utc)
    outside = datetime.datetime(2026, 12, 21, tzinfo=datetime.timezone.utc)
    assert _beamtime.choose_activity([view], inside) is view
    assert _beamtime.choose_activity([view], outside) is None
    assert _beamtime.choose_activity([view], outside, "1001234") is view
    assert _beamtime.choose_activity([view], inside, "999") is None
