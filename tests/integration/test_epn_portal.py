"""Portal faults seen by epn_repatriate: bad credentials, 401 mid-run, 5xx bursts."""

import datetime
import time

import yaml

from ansible_collections.sciops.datasync.plugins.module_utils._core.http import HttpSettings
from ansible_collections.sciops.datasync.plugins.module_utils._epn.portal import PortalClient, load_credentials

from tests.integration import epn_lab

# Faults are injected for the fault-test equipment only, so other tests (even running at the
# same time) never see them.
FAULTS = [{"id": 55, "beamline": "MX1"}]
VISITS_55 = "/api/v1/equipment/55/visits"


def requests_for(lab, path, since=0):
    return [r for r in epn_lab.portal_admin(lab, "/_lab/requests")["requests"] if r["path"] == path and r["time"] >= since]


def test_bad_credentials_name_the_equipment_and_the_rest_goes_on(lab, ansible_playbook, tmp_path):
    document = epn_lab.credentials(lab)
    for entry in document["equipment"]:
        if entry["id"] == 55:
            entry["password"] = "not-the-password"
    bad = tmp_path / "credentials.yml"
    bad.write_text(yaml.safe_dump(document))
    bad.chmod(0o600)
    args = epn_lab.repatriate_args(lab, tmp_path, credentials_file=str(bad), only=["12282b"],
                                   equipment=FAULTS + [{"id": 23, "beamline": "MX1"}])
    result = epn_lab.run(ansible_playbook, tmp_path, "epn_repatriate", args, expect_failure=True)
    assert "equipment 55" in result["msg"] and "faults-facility" in result["msg"] and "HTTP 401" in result["msg"]
    assert "not-the-password" not in str(result)
    assert result["transferred"] == ["12282b"]  # equipment 23 went on


def test_401_mid_run_reauthenticates_once(lab, ansible_playbook, tmp_path):
    epn_lab.portal_admin(lab, "/_lab/faults", {"path": VISITS_55, "status": 401, "count": 1})
    since = time.time()
    args = epn_lab.repatriate_args(lab, tmp_path, only=["12282b"], equipment=FAULTS)
    result = epn_lab.run(ansible_playbook, tmp_path, "epn_repatriate", args)
    assert result["transferred"] == ["12282b"]
    logins = [r for r in requests_for(lab, "/api/v1/oauth/token", since) if r["who"] == "faults-facility"]
    assert len(logins) == 2
    assert [r["status"] for r in requests_for(lab, VISITS_55, since)] == [401, 200]


def test_5xx_burst_is_retried_and_a_long_outage_fails_clearly(lab, ansible_playbook, tmp_path):
    since = time.time()
    epn_lab.portal_admin(lab, "/_lab/faults", {"path": VISITS_55, "status": 503, "count": 2})
    args = epn_lab.repatriate_args(lab, tmp_path, only=["12282b"], equipment=FAULTS)
    result = epn_lab.run(ansible_playbook, tmp_path, "epn_repatriate", args)
    assert result["transferred"] == ["12282b"]
    assert [r["status"] for r in requests_for(lab, VISITS_55, since)] == [503, 503, 200]

    epn_lab.portal_admin(lab, "/_lab/faults", {"path": VISITS_55, "status": 502, "count": 3})
    args = epn_lab.repatriate_args(lab, tmp_path / "again", only=["12282a"], equipment=FAULTS, portal_retries=2)
    (tmp_path / "again").mkdir()
    result = epn_lab.run(ansible_playbook, tmp_path, "epn_repatriate", args, expect_failure=True)
    assert "equipment 55" in result["msg"] and "HTTP 502" in result["msg"] and "3 times" in result["msg"]
    assert result["transferred"] == []


def test_expired_token_mid_session_logs_in_again(lab):
    """The real client against the emulator: a token that expires between two calls."""
    endpoint = lab.endpoints()["portal"]
    client = PortalClient(endpoint["url"], 55, load_credentials(endpoint["credentials_file"])[55], settings=HttpSettings(backoff=0.1))
    end = datetime.datetime.now(datetime.timezone.utc)
    start = end - datetime.timedelta(days=60)
    first = client.visits(start, end)
    epn_lab.portal_admin(lab, "/_lab/expire_tokens")
    second = client.visits(start, end)
    assert [v["epn"] for v in first] == [v["epn"] for v in second] == ["12282a", "12282b"]
    assert client.logins == 2
