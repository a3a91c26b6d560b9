"""epn_repatriate and epn_alert main(): argument handling and clear failures before any network call."""

import os

from ansible_collections.sciops.datasync.plugins.module_utils._epn import alert as _epn_alert
from ansible_collections.sciops.datasync.plugins.modules import epn_alert, epn_repatriate

from module_runner import run

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))


def base(tmp_path):
    return {"portal_url": "https://portal.example.org", "credentials_file": str(tmp_path / "missing.yml"),
            "equipment": [{"id": 23, "beamline": "MX1"}], "epn_map": {"12282": "ny79"}, "source_host": "sftp.example.org",
            "source_user": "mx", "key_file": str(tmp_path / "key"), "state_file": str(tmp_path / "state.json")}


def test_repatriate_names_a_missing_credentials_file(tmp_path):
    outcome = run(epn_repatriate.main, dict(base(tmp_path), destination_root=str(tmp_path / "scratch")))
    assert outcome.failed and "missing.yml cannot be read: No such file or directory" in outcome.result["msg"]
    assert not (tmp_path / "scratch").exists()


def test_alert_names_a_missing_known_hosts_file(tmp_path):
    args = dict(base(tmp_path), known_hosts=str(tmp_path / "no_known_hosts"), mail={"to": ["helpdesk@example.org"]})
    outcome = run(epn_alert.main, args)
    assert outcome.failed and "no_known_hosts does not exist" in outcome.result["msg"]


def test_role_templates_are_the_module_defaults():
    files = os.path.join(REPO, "roles", "mxsync", "files")
    with open(os.path.join(files, "epnalert-text.j2")) as handle:
        assert handle.read() == _epn_alert.DEFAULT_TEXT_TEMPLATE
    with open(os.path.join(files, "epnalert-html.j2")) as handle:
        assert handle.read() == _epn_alert.DEFAULT_HTML_TEMPLATE
