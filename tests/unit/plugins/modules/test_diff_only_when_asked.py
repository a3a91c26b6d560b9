"""``diff`` is in a result only when the run asked for it (``--diff``: ``_ansible_diff``), for one module of each job."""

import os
import sys

import pytest

from ansible_collections.sciops.datasync.plugins.module_utils._experiment import dm as _dm
from ansible_collections.sciops.datasync.plugins.module_utils._globus import clients as _globus
from ansible_collections.sciops.datasync.plugins.modules import (
    aps_dm_experiment, epn_repatriate, globus_collection_sync, globus_user_sync, rsync_pool_mirror)

from module_runner import run
from test_collection_sync_modules import sync_args
from test_identity_modules import base as identity_args
# fixtures
from test_identity_modules import fakes  # noqa: F401  pylint: disable=unused-import
from test_rsync_pool_mirror import calls  # noqa: F401  pylint: disable=unused-import

ASKED = [pytest.param({}, False, id="without-diff"), pytest.param({"_ansible_diff": True}, True, id="with-diff")]


def private(path, text):
    path.write_text(text)
    path.chmod(0o600)
    return str(path)


@pytest.mark.parametrize("extra,wanted", ASKED)
def test_identity_user_sync(tmp_path, fakes, extra, wanted):  # noqa: F811  pylint: disable=redefined-outer-name
    out = run(globus_user_sync.main, identity_args(tmp_path, domains=["example.org"], _ansible_check_mode=True, **extra))
    assert not out.failed and out.result["changed"] is True
    assert ("diff" in out.result) is wanted


@pytest.mark.parametrize("extra,wanted", ASKED)
def test_collection_sync(tmp_path, monkeypatch, extra, wanted):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "module_utils"))  # globus_fakes
    from tests.unit.plugins.module_utils.test_collection_sync import FakeTransfer

    monkeypatch.setattr(_globus, "transfer_client", lambda module: FakeTransfer())
    out = run(globus_collection_sync.main, sync_args(tmp_path, _ansible_check_mode=True, **extra))
    assert not out.failed and out.result["changed"] is True, out.result
    assert ("diff" in out.result) is wanted


@pytest.mark.parametrize("extra,wanted", ASKED)
def test_pools_mirror(tmp_path, calls, extra, wanted):  # noqa: F811  pylint: disable=redefined-outer-name
    args = {"host": "127.0.0.1", "module": "pv", "dest": str(tmp_path / "d"), "password": "x", "user": "pacs", "_ansible_check_mode": True}
    out = run(rsync_pool_mirror.main, dict(args, **extra))
    assert not out.failed and out.result["changed"] is True
    assert ("diff" in out.result) is wanted


@pytest.mark.parametrize("extra,wanted", ASKED)
def test_epn_repatriate(tmp_path, extra, wanted):
    credentials = private(tmp_path / "c.yml", "equipment:\n- {id: 1, username: u, password: p, client_name: c, client_password: cp}\n")
    args = {"portal_url": "https://portal.example.org", "credentials_file": credentials, "equipment": [{"id": 23, "beamline": "MX1"}],
            "epn_map": {"12282": "ny79"}, "source_host": "sftp.example.org", "source_user": "mx", "key_file": str(tmp_path / "key"),
            "state_file": str(tmp_path / "state.json"), "destination_root": str(tmp_path / "scratch")}
    out = run(epn_repatriate.main, dict(args, **extra))
    # Equipment 23 has no credentials: the run reports it (naming it) and returns its result.
    assert out.failed and out.result["errors"] == [{"item": "equipment 23", "reason": "equipment 23: no credentials in %s" % credentials}]
    assert ("diff" in out.result) is wanted


class FakeDm(object):
    def __init__(self, *args, **kwargs):
        pass

    def find_experiment(self, name, station):
        return None

    def find_user(self, name):
        return {"username": name, "email": "%s@example.org" % name}

    def experiment_daqs(self, name):
        return []


@pytest.mark.parametrize("extra,wanted", ASKED)
def test_experiment_dm(tmp_path, monkeypatch, extra, wanted):
    monkeypatch.setattr(_dm, "DmClient", FakeDm)
    args = {"name": "2026-11-x-1", "station": "2-BM-A,B", "ds_url": "http://127.0.0.1:1", "users": ["d1"],
            "login_file": private(tmp_path / "login", "u|p\n"), "_ansible_check_mode": True}
    out = run(aps_dm_experiment.main, dict(args, **extra))
    assert not out.failed and out.result["changed"] is True, out.result
    assert ("diff" in out.result) is wanted
