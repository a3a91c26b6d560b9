"""EPN repatriation against the lab: portal emulator, lab sshd as the synchrotron source."""

import json
import os
import signal
import time

from ansible_collections.sciops.datasync.plugins.module_utils._core.lock import RunLock

from tests.integration import epn_lab
from tests.integration.conftest import payload_folders, start_background
from tests.lab.portal import source_tree

MAPPED = {"12282a": ("MX1", "ny79"), "12282b": ("MX1", "ny79"), "13001a": ("MX1", "ab12"), "20123a": ("MX2", "cd34")}


def source_dir(lab, beamline, epn):
    return os.path.join(lab.endpoints()["portal"]["source_root"], beamline, epn)


def synced(state_file):
    if not os.path.exists(state_file):
        return {}
    with open(state_file) as handle:
        return json.load(handle)["data"]["synced"]


def process_tree(root_pid):
    """root_pid and all its descendants (ansible's workers call setsid, so a process group is not enough)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as handle:
                ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def kill_run(pid):
    """SIGKILL a run and everything it started, as systemd does to a job's cgroup."""
    for member in process_tree(pid):
        try:
            os.kill(member, signal.SIGKILL)
        except ProcessLookupError:
            pass


def assert_arrived(lab, tmp_path, epn):
    beamline, project = MAPPED[epn]
    source = source_dir(lab, beamline, epn)
    arrived = epn_lab.tree(tmp_path / "scratch" / project / epn / "data")
    expected = source_tree.expected_files(source)
    assert sorted(arrived) == sorted(expected)
    for relative, full in expected.items():
        with open(full, "rb") as handle:
            assert arrived[relative] == handle.read(), relative
    assert ".info" in arrived and "frames/run 1/.info" in arrived
    assert not any(p.startswith(".DS_Store") or p.startswith(".cache") or ".nfs" in p for p in arrived)


def test_mapped_epns_arrive_byte_identical_and_second_run_changes_nothing(lab, ansible_playbook, tmp_path):
    args = epn_lab.repatriate_args(lab, tmp_path)
    first = epn_lab.run(ansible_playbook, tmp_path, "epn_repatriate", args)
    assert first["changed"] is True
    assert sorted(first["transferred"]) == sorted(MAPPED)
    for epn in MAPPED:
        assert_arrived(lab, tmp_path, epn)
    by_epn = {r["epn"]: r for r in first["epns"]}
    assert by_epn["12282a"]["destination"] == str(tmp_path / "scratch" / "ny79" / "12282a" / "data") + "/"
    assert by_epn["12282a"]["rc"] == 0 and by_epn["12282a"]["rc_meaning"] == "success"
    assert by_epn["13001a"]["bytes"] > 24 * 1024 * 1024 and by_epn["13001a"]["files"] == 20
    reasons = {s["epn"]: s["reason"] for s in first["skipped_epns"]}
    assert "not in epn_map" in reasons["15555a"] and "not in epn_map" in reasons["20999a"]
    assert "has not ended" in reasons["12400a"]
    assert "21000a" not in reasons and "12500a" not in reasons  # outside the day range / in the future
    assert sorted(synced(args["state_file"])) == sorted(MAPPED)

    second = epn_lab.run(ansible_playbook, tmp_path, "epn_repatriate", args)
    assert second["changed"] is False
    assert second["transferred"] == [] and second["epns"] == []
    reasons = {s["epn"]: s["reason"] for s in second["skipped_epns"]}
    assert all(reasons[epn].startswith("already synced") for epn in MAPPED)


def test_check_mode_lists_files_and_changes_nothing(lab, ansible_playbook, tmp_path):
    args = epn_lab.repatriate_args(lab, tmp_path, only=["12282a", "20123a"])
    result = epn_lab.run(ansible_playbook, tmp_path, "epn_repatriate", args, check_mode=True)
    assert result["changed"] is True
    assert sorted(result["would_transfer"]) == ["12282a", "20123a"] and result["transferred"] == []
    listed = {r["epn"]: r["file_list"] for r in result["epns"]}
    expected = source_tree.expected_files(source_dir(lab, "MX1", "12282a"))
    assert sorted(listed["12282a"]) == sorted(expected)
    assert ".info" in listed["12282a"] and ".DS_Store" not in listed["12282a"]
    assert not (tmp_path / "scratch").exists()
    assert not (tmp_path / "state").exists()  # no state, no lock files


def test_sigkilled_run_is_not_recorded_and_the_next_run_resumes(lab, ansible_playbook, lab_env, tmp_path, run_temp):
    args = epn_lab.repatriate_args(lab, tmp_path, only=["13001a"], rsync_extra_options=["--bwlimit=4000"])
    big = tmp_path / "scratch" / "ab12" / "13001a" / "data" / "frames" / "run 1" / "master.h5"
    full_size = os.path.getsize(os.path.join(source_dir(lab, "MX1", "13001a"), "frames", "run 1", "master.h5"))
    proc = start_background(lab_env, epn_lab.playbook(tmp_path, "sciops.datasync.epn_repatriate", args), run_temp)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if big.exists() and big.stat().st_size > 4 * 1024 * 1024:
                break
            assert proc.poll() is None, "the run ended before it could be killed"
            time.sleep(0.1)
        kill_run(proc.pid)
    finally:
        proc.wait(timeout=30)
    assert payload_folders(run_temp, "epn_repatriate")  # what the killed run left is in the test's folder, not in /tmp
    time.sleep(0.5)
    partial = big.stat().st_size
    assert 0 < partial < full_size
    assert "13001a" not in synced(args["state_file"])

    args.pop("rsync_extra_options")
    result = epn_lab.run(ansible_playbook, tmp_path, "epn_repatriate", args)
    assert result["transferred"] == ["13001a"]
    assert_arrived(lab, tmp_path, "13001a")
    entry = result["epns"][0]
    assert entry["matched_bytes"] >= partial - 1024 * 1024, entry  # the partial file was reused, not sent again
    assert "13001a" in synced(args["state_file"])


def test_unmapped_skipped_and_hostile_names_refused_by_name(lab, ansible_playbook, tmp_path):
    epn_map = dict(epn_lab.EPN_MAP, **{"12777": "../escape", "99999": "-rf", "88888": "a/b"})
    args = epn_lab.repatriate_args(lab, tmp_path, equipment=[{"id": 99, "beamline": "MX1"}], epn_map=epn_map)
    result = epn_lab.run(ansible_playbook, tmp_path, "epn_repatriate", args)
    errors = "\n".join(e["reason"] for e in result["errors"])
    assert all(set(e) == {"item", "reason"} for e in result["errors"]), result["errors"]
    for name in ("'../../etc'", "'-rf'", "'12282c; rm -rf ~'", "'../escape'", "'a/b'"):
        assert name in errors, (name, errors)
    reasons = {s["epn"]: s["reason"] for s in result["skipped_epns"]}
    assert "project folder" in reasons["12777a"] and "refused" in reasons["12777a"]
    assert result["transferred"] == [] and result["changed"] is False
    assert not (tmp_path / "scratch").exists() and not (tmp_path / "escape").exists()


def test_ended_visit_without_a_source_folder_is_skipped_not_failed(lab, ansible_playbook, tmp_path):
    args = epn_lab.repatriate_args(lab, tmp_path, equipment=[{"id": 99, "beamline": "MX1"}], epn_map={"12777": "zz99"})
    result = epn_lab.run(ansible_playbook, tmp_path, "epn_repatriate", args)
    reasons = {s["epn"]: s["reason"] for s in result["skipped_epns"]}
    assert reasons["12777a"].startswith("no folder") and "MX1/12777a" in reasons["12777a"]
    assert result["changed"] is False and result["failed_epns"] == []
    assert not (tmp_path / "scratch").exists()  # the folders made for it were removed again
    assert synced(args["state_file"]) == {}


def test_wrong_host_key_stops_the_transfer_with_a_clear_error(lab, ansible_playbook, tmp_path):
    args = epn_lab.repatriate_args(lab, tmp_path, only=["12282b"], known_hosts=epn_lab.wrong_known_hosts(tmp_path))
    result = epn_lab.run(ansible_playbook, tmp_path, "epn_repatriate", args, expect_failure=True)
    assert "host key does not match" in result["msg"] and args["known_hosts"] in result["msg"]
    # rsync exits 255 (ssh failed) or 12 (stream closed), depending on which it notices first
    assert result["failed_epns"][0]["epn"] == "12282b" and result["failed_epns"][0]["rc"] in (12, 255)
    assert epn_lab.tree(tmp_path / "scratch") == {}
    assert synced(args["state_file"]) == {}


def test_running_epn_is_not_started_again(lab, ansible_playbook, tmp_path):
    args = epn_lab.repatriate_args(lab, tmp_path, only=["12282a", "12282b"])
    with RunLock(str(tmp_path / "state" / "epn-12282a.lock")):
        result = epn_lab.run(ansible_playbook, tmp_path, "epn_repatriate", args)
    reasons = {s["epn"]: s["reason"] for s in result["skipped_epns"]}
    assert reasons["12282a"].startswith("transfer already running") and str(os.getpid()) in reasons["12282a"]
    assert result["transferred"] == ["12282b"]
    assert sorted(synced(args["state_file"])) == ["12282b"]


def test_assyncy_ignore_file_is_imported_on_first_run(lab, ansible_playbook, tmp_path):
    ignore = tmp_path / "ignore.yml"
    ignore.write_text("previouslySynched:\n- 12282a\n- 20123a\n")
    args = epn_lab.repatriate_args(lab, tmp_path, only=["12282a", "12282b"], ignore_file=str(ignore))
    result = epn_lab.run(ansible_playbook, tmp_path, "epn_repatriate", args)
    assert sorted(result["imported"]) == ["12282a", "20123a"]
    assert result["transferred"] == ["12282b"]
    assert sorted(synced(args["state_file"])) == ["12282a", "12282b", "20123a"]
    assert not (tmp_path / "scratch" / "ny79" / "12282a").exists()
