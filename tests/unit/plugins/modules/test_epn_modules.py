"""epn_repatriate and epn_alert main(): argument handling and clear failures before any network call."""

import os

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.sciops.datasync.plugins.module_utils import _epn_alert
from ansible_collections.sciops.datasync.plugins.modules import epn_alert, epn_repatriate

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))


class Exit(Exception):
    def __init__(self, result, failed):
        super(Exit, self).__init__(result.get("msg"))
        self.result = result
        self.failed = failed


@pytest.fixture(autouse=True)
def exits(monkeypatch):
    def exit_json(self_, **result):
        raise Exit(result, False)

    def fail_json(self_, **result):
        raise Exit(result, True)

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)


def base(tmp_path):
    return {"portal_url": "https://portal.example.org", "credentials_file": str(tmp_path / "missing.yml"),
            "equipment": [{"id": 23, "beamline": "MX1"}], "epn_map": {"12282": "ny79"}, "source_host": "sftp.example.org",
            "source_user": "mx", "key_file": str(tmp_path / "key"), "state_file": str(tmp_path / "state.json")}


def test_repatriate_names_a_missing_credentials_file(tmp_path):
    with patch_module_args(dict(base(tmp_path), destination_root=str(tmp_path / "scratch"))):
        with pytest.raises(Exit) as caught:
            epn_repatriate.main()
    assert caught.value.failed and "missing.yml does not exist" in caught.value.result["msg"]
    assert not (tmp_path / "scratch").exists()


def test_alert_names_a_missing_known_hosts_file(tmp_path):
    args = dict(base(tmp_path), known_hosts=str(tmp_path / "no_known_hosts"), mail={"to": ["helpdesk@example.org"]})
    with patch_module_args(args):
        with pytest.raises(Exit) as caught:
            epn_alert.main()
    assert caught.value.failed and "no_known_hosts does not exist" in caught.value.result["msg"]


def test_role_templates_are_the_module_defaults():
    files = os.path.join(REPO, "roles", "mxsync", "files")
    with open(os.path.join(files, "epnalert-text.j2")) as handle:
        assert handle.read() == _epn_alert.DEFAULT_TEXT_TEMPLATE
    with open(os.path.join(files, "epnalert-html.j2")) as handle:
        assert handle.read() == _epn_alert.DEFAULT_HTML_TEMPLATE
