"""EPN names, the repatriation plan, ignore.yml import, and the rsync/ssh argv."""

import datetime
import json
import os

import pytest

from as_user import OTHER_UID, folder_of_other_user, link_in_shared_folder

from ansible_collections.sciops.datasync.plugins.module_utils._core import ssh as _ssh
from ansible_collections.sciops.datasync.plugins.module_utils._epn import repatriate as _epn
from ansible_collections.sciops.datasync.plugins.module_utils._core.state import StateError

NOW = datetime.datetime(2026, 11, 23, 12, 0, tzinfo=datetime.timezone.utc)


def visit(epn, end, equipment=23, beamline="MX1"):
    return {"epn": epn, "equipment": equipment, "beamline": beamline, "end_time": end}


@pytest.mark.parametrize("name", ["12282a", "12282", "9abc", "20123AB"])
def test_epn_names_accepted(name):
    assert _epn.epn_problem(name) is None


@pytest.mark.parametrize("name", ["../../etc", "-rf", "12282c; rm -rf ~", "a12282", "12282a/x", "", "12282 a", "１２３a", None])
def test_epn_names_refused_by_name(name):
    problem = _epn.epn_problem(name)
    assert problem and repr(name) in problem


def test_epn_map_refuses_bad_projects_and_keys():
    usable, errors = _epn.epn_map_problems({"12282": "ny79", "1": "../up", "2": "-rf", "3": "a/b", "x12": "p", 44: "ok44"})
    assert usable == {"12282": "ny79", "44": "ok44"}
    text = "\n".join(e["reason"] for e in errors)
    for name in ("'../up'", "'-rf'", "'a/b'", "'x12'"):
        assert name in text
    assert sorted(e["item"] for e in errors) == ["-rf", "../up", "a/b", "x12"]


def test_plan_transfers_mapped_ended_unsynced_and_says_why_for_the_rest():
    visits = [
        visit("12282a", "2026-10-01T00:00:00Z"),
        visit("12282b", "2026-11-01T00:00:00Z"),
        visit("12282b", "2026-11-01T00:00:00Z", equipment=24),  # seen twice: once
        visit("15555a", "2026-11-20T00:00:00Z"),
        visit("12400a", "2026-11-25T00:00:00Z"),
        visit("../x", "2026-11-20T00:00:00Z"),
        visit("12283a", None),
        visit("12777a", "2026-11-20T00:00:00Z"),
    ]
    plan = _epn.plan_repatriation(visits, {"12282": "ny79", "12400": "ny79", "12283": "p"}, {"12282a": {"at": "2026-10-02T00:00:00Z"}},
                                  NOW, refused_projects={"12777": "../escape"})
    assert [(t["epn"], t["project"], t["beamline"]) for t in plan["transfers"]] == [("12282b", "ny79", "MX1")]
    reasons = {s["epn"]: s["reason"] for s in plan["skipped"]}
    assert reasons["12282a"].startswith("already synced")
    assert "not in epn_map" in reasons["15555a"]
    assert "has not ended" in reasons["12400a"]
    assert "no end time" in reasons["12283a"]
    assert "refused" in reasons["12777a"]
    assert len(plan["errors"]) == 1 and "'../x'" in plan["errors"][0]["reason"] and plan["errors"][0]["item"] == "../x"


def test_plan_only():
    plan = _epn.plan_repatriation([visit("12282a", "2026-10-01T00:00:00Z"), visit("12282b", "2026-10-01T00:00:00Z")],
                                  {"12282": "ny79"}, {}, NOW, only={"12282b"})
    assert [t["epn"] for t in plan["transfers"]] == ["12282b"]
    assert plan["skipped"][0]["epn"] == "12282a"


def test_state_imports_ignore_file_once_and_records(tmp_path):
    ignore = tmp_path / "ignore.yml"
    ignore.write_text("previouslySynched:\n- 12282a\n- '../bad'\n")
    state = _epn.RepatriationState(str(tmp_path / "s.json"), str(ignore))
    data = state.load()
    assert sorted(data["synced"]) == ["12282a"] and state.imported == ["12282a"]
    assert "'../bad'" in state.refused_imports[0]["reason"] and state.refused_imports[0]["item"] == "../bad"
    state.record("12282b", {"at": "2026-11-23T00:00:00Z"})
    saved = json.loads((tmp_path / "s.json").read_text())
    assert saved["schema"] == _epn.STATE_SCHEMA and sorted(saved["data"]["synced"]) == ["12282a", "12282b"]
    ignore.write_text("previouslySynched:\n- 99999z\n")
    assert "99999z" not in _epn.RepatriationState(str(tmp_path / "s.json"), str(ignore)).load()["synced"]


class FakeModule:
    check_mode = False

    def __init__(self, **params):
        self.params = params


def test_rsync_argv_defaults_keep_assyncy_options_with_two_dash_stats(tmp_path):
    key = tmp_path / "key"
    key.write_text("k")
    known = tmp_path / "known hosts"
    known.write_text("x")
    module = FakeModule(source_host="sftp.example.org", source_user="mx", key_file=str(key), source_port=22, known_hosts=str(known),
                        connect_timeout=30, rsync_options=None, rsync_extra_options=["--bwlimit=10m"], rsync_path="rsync")
    repatriation = _epn.Repatriation(module)
    rsh = repatriation.rsh()
    argv = repatriation.rsync_argv({"source": "/data/MX1/12282a/", "destination": "/scratch/ny79/12282a/data/"},
                                   repatriation.rsync_options(rsh))
    assert "--stats" in argv and "-stats" not in argv and "--dry-run" not in argv
    for option in _epn.DEFAULT_RSYNC_OPTIONS + ["--bwlimit=10m", "--itemize-changes"]:
        assert option in argv
    assert argv.index("--include=.info") < argv.index("--exclude=.*")
    assert argv[-3:] == ["--", "sftp.example.org:/data/MX1/12282a/", "/scratch/ny79/12282a/data/"]
    assert "'UserKnownHostsFile=%s'" % known in rsh and "StrictHostKeyChecking=yes" in rsh and "BatchMode=yes" in rsh
    assert "-l mx" in rsh
    module.check_mode = True
    checking = _epn.Repatriation(module)
    assert "--dry-run" in checking.rsync_argv({"source": "/d/", "destination": "/s/"}, checking.rsync_options(rsh))


def test_ssh_argv_refuses_bad_settings(tmp_path):
    key = tmp_path / "key"
    key.write_text("k")
    with pytest.raises(_ssh.SshConfigError, match="'-oProxyCommand=x'"):
        _ssh.ssh_argv("-oProxyCommand=x", "mx", str(key))
    with pytest.raises(_ssh.SshConfigError, match="does not exist"):
        _ssh.ssh_argv("h", "mx", str(tmp_path / "missing"))
    with pytest.raises(_ssh.SshConfigError, match="known_hosts"):
        _ssh.ssh_argv("h", "mx", str(key), known_hosts=str(tmp_path / "nope"))


def test_host_key_problem_is_clear():
    stderr = "@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\nHost key verification failed.\n"
    message = _ssh.host_key_problem(stderr, "127.0.0.1", 2222, "/etc/kh")
    assert "[127.0.0.1]:2222" in message and "does not match" in message and "/etc/kh" in message
    assert "not recorded" in _ssh.host_key_problem("Host key verification failed.\n", "h", 22, "/etc/kh")
    assert _ssh.host_key_problem("Permission denied (publickey).", "h", 22, None) is None


def test_a_state_folder_others_can_write_is_refused_before_any_epn_is_planned(tmp_path):
    folder = tmp_path / "state"
    folder.mkdir()
    folder.chmod(0o777)
    with pytest.raises(StateError, match="writable by group or others"):
        _epn.RepatriationState(str(folder / "s.json")).load()


def test_a_link_at_an_epn_lock_path_fails_that_epn_naming_it_and_never_truncates_the_target(tmp_path):
    locks = tmp_path / "locks"
    locks.mkdir(mode=0o755)
    victim = tmp_path / "victim"
    victim.write_text("keep me\n")
    (locks / "epn-12282a.lock").symlink_to(victim)
    repatriation = _epn.Repatriation(FakeModule(lock_dir=str(locks)))
    result = repatriation.transfer({"epn": "12282a", "source": "/d/", "destination": "/s/"}, None, None)
    assert result["status"] == "failed" and result["refused"], result
    assert result["msg"].startswith("EPN 12282a: refused the lock %s/epn-12282a.lock: " % locks), result
    assert "symlink" in result["msg"] and victim.read_text() == "keep me\n"


def test_a_busy_epn_lock_skips_that_epn_with_the_one_lock_contract(tmp_path):
    """Issue 16 item 1 / issue 12: the item carries the lock keys every locking module returns, lock_waited included."""
    from ansible_collections.sciops.datasync.plugins.module_utils._core.lock import RunLock

    locks = tmp_path / "locks"
    locks.mkdir(mode=0o755)
    repatriation = _epn.Repatriation(FakeModule(lock_dir=str(locks)))
    with RunLock(str(locks / "epn-12282a.lock"), wait=False):
        result = repatriation.transfer({"epn": "12282a", "source": "/d/", "destination": "/s/"}, None, None)
    assert result["status"] == "skipped" and result["skipped"] is True and result["holder_pid"] == os.getpid()
    assert result["lock_file"] == str(locks / "epn-12282a.lock") and result["lock_waited"] == 0.0, result


@pytest.mark.skipif(os.geteuid() != 0, reason="plants as another user")
@pytest.mark.parametrize("check_mode", [False, True])
def test_a_missing_destination_root_is_never_made_below_another_users_folder_or_link(tmp_path, check_mode):
    """Issue 14 item 3: the EPN root gets the pool dest_root's treatment (a member's folder, a member's link in /tmp-like folders)."""
    os.chmod(str(tmp_path), 0o755)
    item = {"epn": "12282a", "project": "ny79"}
    theirs = folder_of_other_user(str(tmp_path / "theirs"))
    module = FakeModule(destination_root=os.path.join(theirs, "scratch"))
    module.check_mode = check_mode
    fd, problem = _epn.Repatriation(module).open_destination(item)
    assert fd is None and problem == "EPN 12282a: destination_root %s is owned by uid %d, not by the running user (uid 0) or root; refused" % (
        theirs, OTHER_UID)
    assert os.listdir(theirs) == []
    target = tmp_path / "target"
    target.mkdir(mode=0o755)
    link = link_in_shared_folder(tmp_path, "data", target)
    module = FakeModule(destination_root=str(link / "scratch"))
    module.check_mode = check_mode
    fd, problem = _epn.Repatriation(module).open_destination(item)
    assert fd is None and problem.startswith("EPN 12282a: destination_root %s is a link owned by uid %d" % (link, OTHER_UID)), problem
    assert os.listdir(str(target)) == []


def test_a_missing_destination_root_below_trusted_folders_is_made_and_the_destination_opened(tmp_path):
    os.chmod(str(tmp_path), 0o755)
    root = tmp_path / "srv" / "scratch"
    fd, problem = _epn.Repatriation(FakeModule(destination_root=str(root))).open_destination({"epn": "12282a", "project": "ny79"})
    try:
        assert problem is None and os.path.samestat(os.fstat(fd), os.stat(str(root / "ny79" / "12282a" / "data")))
    finally:
        os.close(fd)
