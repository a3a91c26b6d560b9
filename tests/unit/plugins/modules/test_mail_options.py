"""Every mailing module takes the shared mail options (module_utils/_core/mail.py) and documents them with one fragment."""

from unittest import mock

import pytest
from ansible.module_utils import basic

from ansible_collections.sciops.datasync.plugins.module_utils._core import mail as _mail
from ansible_collections.sciops.datasync.plugins.modules import aps_dm_experiment, epn_alert, globus_collection_sync, rsync_pool_mirror

from module_runner import run


class Spec(Exception):
    def __init__(self, kwargs):
        super().__init__("argument_spec")
        self.kwargs = kwargs


def argument_spec(main):
    def capture(self_, *args, **kwargs):
        raise Spec(kwargs)

    with mock.patch.object(basic.AnsibleModule, "__init__", capture):
        with pytest.raises(Spec) as caught:
            main()
    return caught.value.kwargs["argument_spec"]


@pytest.mark.parametrize("module", [epn_alert, rsync_pool_mirror, globus_collection_sync])
def test_mail_option_is_the_shared_one(module):
    options = argument_spec(module.main)["mail"]["options"]
    for key, value in _mail.MAIL_OPTIONS.items():
        assert options[key] == value, key
    assert "sciops.datasync.mail" in module.DOCUMENTATION


def test_notify_uses_the_shared_smtp_options():
    options = argument_spec(aps_dm_experiment.main)["notify"]["options"]
    for key, value in _mail.SMTP_OPTIONS.items():
        assert options[key] == value, key
    assert "sciops.datasync.mail.notify" in aps_dm_experiment.DOCUMENTATION


def test_epn_alert_needs_a_recipient(tmp_path):
    args = {"portal_url": "https://portal.example.org", "credentials_file": str(tmp_path / "c.yml"),
            "equipment": [{"id": 23, "beamline": "MX1"}], "epn_map": {}, "source_host": "sftp.example.org",
            "source_user": "mx", "key_file": str(tmp_path / "key"), "state_file": str(tmp_path / "state.json"),
            "mail": {"host": "127.0.0.1"}}
    outcome = run(epn_alert.main, args)
    assert outcome.failed and "mail.to" in outcome.result["msg"]
