"""Beamline experiment (playbooks/experiment.yml) against the lab: IOC, DM, schedule, sshd, SMTP."""

from __future__ import annotations

import json
import os
import stat
import urllib.request

import pytest

from tests.integration.experiment_lab import (changed_hosts, dm_admin, dm_state, globus_collection, messages_about,
                                              run_experiment, set_user_pvs, task_results, unique_last_name)
from tests.lab.aps_dm.fixtures import ensure_globus_identities

CONTACTS = ["d200001", "d200002"]


def test_init_creates_the_experiment_once(lab, ansible_playbook):
    pvs = set_user_pvs(lab, "lab:T1:")
    first = run_experiment(ansible_playbook, "lab:T1:", "init")
    assert changed_hosts(first) == {"beamline1": 1}
    experiment = dm_state(lab)["experiments"][pvs["name"]]
    assert experiment["description"] == "Lab test proposal"
    assert experiment["rootPath"] == "2026-11"
    assert sorted(experiment["experimentUsernameList"]) == sorted(["d300004"] + CONTACTS)
    second = run_experiment(ansible_playbook, "lab:T1:", "init")
    assert changed_hosts(second) == {}
    assert task_results(second, "The DM experiment exists")[0]["plan"] == []


def test_init_takes_the_proposal_experimenters_from_the_schedule(lab, ansible_playbook):
    # Proposal 1002002 is in the scheduling emulator's current run with Noether (PI) and Franklin.
    pvs = set_user_pvs(lab, "lab:T2:", ProposalNumber="1002002", UserLastName=unique_last_name("Noether"),
                       UserBadge="300006")
    run_experiment(ansible_playbook, "lab:T2:", "init")
    experiment = dm_state(lab)["experiments"][pvs["name"]]
    assert sorted(experiment["experimentUsernameList"]) == sorted(["d300006", "d300007"] + CONTACTS)


def test_dirs_are_created_over_ssh_on_both_hosts(lab, ansible_playbook):
    pvs = set_user_pvs(lab, "lab:T3:")
    sshd_log = lab.path("logs", "sshd.log")
    logins_before = open(sshd_log).read().count("Accepted publickey")
    # No ssh connection sharing: a master left by an earlier test would hide the new logins.
    first = run_experiment(ansible_playbook, "lab:T3:", "dirs", env={"ANSIBLE_SSH_ARGS": "-o ControlMaster=no"})
    assert set(changed_hosts(first)) == {"detector1", "analysis1"}
    assert open(sshd_log).read().count("Accepted publickey") > logins_before
    for host in ("detector1", "analysis1"):
        path = lab.path("root", host, "local", "data", "2026-11", pvs["name"])
        mode = stat.S_IMODE(os.stat(path).st_mode)
        assert os.path.isdir(path)
        assert mode == 0o755, oct(mode)
    second = run_experiment(ansible_playbook, "lab:T3:", "dirs")
    assert changed_hosts(second) == {}


def test_email_each_user_once_and_a_later_user_once(lab, ansible_playbook):
    pvs = set_user_pvs(lab, "lab:T4:")
    run_experiment(ansible_playbook, "lab:T4:", "init,email")
    sent = messages_about(lab, pvs["name"])
    assert sorted(to for to, _subject, _body in sent) == sorted([
        "grace.hopper@example.org", "frances.carlo@lab.example.org", "viktor.nikitin@lab.example.org"])
    assert all(subject == "Important information on APS experiment" for _to, subject, _body in sent)
    assert dm_state(lab)["experiments"][pvs["name"]]["emailedUsers"].split(",") == ["d300004", "d200001", "d200002"]

    again = run_experiment(ansible_playbook, "lab:T4:", "email")
    assert changed_hosts(again) == {}
    assert len(messages_about(lab, pvs["name"])) == 3

    run_experiment(ansible_playbook, "lab:T4:", "users", "-e", '{"experiment_users_add": ["300005"]}')
    later = run_experiment(ansible_playbook, "lab:T4:", "email")
    assert task_results(later, "Email the users")[0]["emailed"] == ["d300005"]
    assert sorted(to for to, _s, _b in messages_about(lab, pvs["name"]))[0] == "alan.turing@example.org"
    assert len(messages_about(lab, pvs["name"])) == 4


def test_users_and_daq_start_stop(lab, ansible_playbook):
    pvs = set_user_pvs(lab, "lab:T5:")
    run_experiment(ansible_playbook, "lab:T5:", "init")
    added = run_experiment(ansible_playbook, "lab:T5:", "users", "-e", '{"experiment_users_add": ["300008", "300009"]}')
    listing = task_results(added, "Read the experiment's users")[0]["users"]
    assert {u["badge"] for u in listing} == {"300004", "300008", "300009", "200001", "200002"}
    removed = run_experiment(ansible_playbook, "lab:T5:", "users", "-e", '{"experiment_users_remove": ["300008"]}')
    assert changed_hosts(removed) == {"beamline1": 1}
    assert "d300008" not in dm_state(lab)["experiments"][pvs["name"]]["experimentUsernameList"]

    run_experiment(ansible_playbook, "lab:T5:", "daq_start")
    again = run_experiment(ansible_playbook, "lab:T5:", "daq_start")
    assert changed_hosts(again) == {}
    daqs = [d for d in dm_state(lab)["daqs"] if d["experimentName"] == pvs["name"]]
    assert len(daqs) == 1
    assert daqs[0]["status"] == "running"
    expected_dir = "@analysis1:%s" % lab.path("root", "analysis1", "local", "data", "2026-11", pvs["name"])
    assert daqs[0]["dataDirectory"] == expected_dir
    stop = run_experiment(ansible_playbook, "lab:T5:", "daq_stop")
    assert changed_hosts(stop) == {"beamline1": 1}
    daqs = [d for d in dm_state(lab)["daqs"] if d["experimentName"] == pvs["name"]]
    assert [d["status"] for d in daqs] == ["done"]


@pytest.mark.parametrize("suffix, value", [
    ("UserLastName", "Smith/../../etc"),
    ("UserLastName", "O'Brien"),
    ("UserLastName", "De Carlo"),
    ("ExperimentYearMonth", "2026-11/.."),
])
def test_hostile_pv_values_are_refused(lab, ansible_playbook, suffix, value):
    pvs = set_user_pvs(lab, "lab:T6:", **{suffix: value})
    result = run_experiment(ansible_playbook, "lab:T6:", "init,dirs", check=False)
    assert result.rc != 0
    failed = task_results(result, "Read the TomoScan user PVs")[0]
    assert failed["failed"]
    assert "lab:T6:%s" % suffix in failed["msg"] and "refused" in failed["msg"]
    assert pvs["name"] not in dm_state(lab)["experiments"]
    assert changed_hosts(result) == {}


def test_dm_errors_surface_clearly_and_nothing_is_created(lab, ansible_playbook):
    pvs = set_user_pvs(lab, "lab:T6:")
    dm_admin(lab, "/fault", {"path": "/dm/experimentsByName/", "method": "GET", "dm_code": 12,
                             "message": "Session lookup failed: database unavailable", "count": 1})
    result = run_experiment(ansible_playbook, "lab:T6:", "init", check=False)
    assert result.rc != 0
    failed = task_results(result, "The DM experiment exists")[0]
    assert "Dm-Status-Code 12 (InvalidSession)" in failed["msg"]
    assert "database unavailable" in failed["msg"]
    assert pvs["name"] not in dm_state(lab)["experiments"]

    # More 503s than the client's retries (3), so the failure outlasts them and surfaces.
    dm_admin(lab, "/fault", {"path": "/dm/experiments/addExperiment", "status": 503, "count": 10})
    result = run_experiment(ansible_playbook, "lab:T6:", "init", check=False)
    assert "HTTP 503" in task_results(result, "The DM experiment exists")[0]["msg"]
    dm_admin(lab, "/clear_faults")


def test_dm_session_expiry_logs_in_again(lab, ansible_playbook):
    pvs = set_user_pvs(lab, "lab:T6:")
    logins = dm_state(lab)["logins"]
    dm_admin(lab, "/fault", {"path": "/dm/experimentsByName/", "method": "GET", "status": 401, "count": 1,
                             "message": "Session expired"})
    result = run_experiment(ansible_playbook, "lab:T6:", "init")
    assert changed_hosts(result) == {"beamline1": 1}
    assert pvs["name"] in dm_state(lab)["experiments"]
    assert dm_state(lab)["logins"] == logins + 2


def test_check_mode_plans_without_creating(lab, ansible_playbook):
    pvs = set_user_pvs(lab, "lab:T6:")
    result = run_experiment(ansible_playbook, "lab:T6:", "init", "--check", "--diff")
    plan = task_results(result, "The DM experiment exists")[0]["plan"]
    assert plan[0]["action"] == "create_experiment"
    assert pvs["name"] not in dm_state(lab)["experiments"]


def test_unreachable_ioc_names_the_pv(lab, ansible_playbook):
    result = run_experiment(ansible_playbook, "lab:T6:", "init", "-e", "experiment_ca_server_port=15099",
                            "-e", "experiment_pv_timeout=1", check=False)
    assert result.rc != 0
    failed = task_results(result, "Read the TomoScan user PVs")[0]
    assert "PV lab:T6:ExperimentYearMonth did not answer within 1.0 s" in failed["msg"]
    assert "EPICS_CA_SERVER_PORT=15099" in failed["msg"]


def test_share_creates_the_globus_folder_and_one_read_rule_per_user(lab, ansible_playbook):
    ensure_globus_identities(lab)
    pvs = set_user_pvs(lab, "lab:T1:")
    run_experiment(ansible_playbook, "lab:T1:", "init", "-e", "experiment_schedule_users=false")
    first = run_experiment(ansible_playbook, "lab:T1:", "share", "-e", "experiment_schedule_users=false")
    share = task_results(first, "The Globus folder exists")[0]
    assert share["changed"]
    collection = globus_collection(lab)
    folder = os.path.join(collection["root"], "2026-11", pvs["name"])
    assert os.path.isdir(folder)
    rules = [r for r in collection["acl"] if r["path"] == "/2026-11/%s/" % pvs["name"]]
    assert len(rules) == 3
    assert {r["permissions"] for r in rules} == {"r"}
    assert {r["principal_type"] for r in rules} == {"identity"}
    second = run_experiment(ansible_playbook, "lab:T1:", "share", "-e", "experiment_schedule_users=false")
    assert changed_hosts(second) == {}
    assert len([r for r in globus_collection(lab)["acl"] if r["path"] == "/2026-11/%s/" % pvs["name"]]) == 3


def test_schedule_client_against_the_emulator_and_its_errors(lab, tmp_path):
    from ansible_collections.sciops.datasync.plugins.module_utils._core.http import HttpSettings
    from ansible_collections.sciops.datasync.plugins.module_utils._experiment import beamtime as _beamtime

    endpoints = lab.endpoints()["aps_beamtime"]
    base = endpoints["url"]
    good = _beamtime.read_credentials(endpoints["credentials_file"])
    # No retries: the injected 503 below must surface at once.
    http = _beamtime.scheduling_client(HttpSettings(ca_bundle=endpoints["ca_file"], retries=0), credentials=good)
    runs = _beamtime.get_json(base + _beamtime.ROUTES["all_runs"], good, http)
    assert any(r["runName"].endswith("-3") for r in runs)
    with pytest.raises(_beamtime.BeamtimeError) as caught:
        _beamtime.get_json(base + _beamtime.ROUTES["all_runs"], (good[0], "wrong"), http)
    assert "HTTP 401 (check the credentials file)" in str(caught.value)
    request = urllib.request.Request(endpoints["admin_url"] + "/fault", method="POST",
                                     data=json.dumps({"path": "getAllRuns", "status": 503, "message": "maintenance"}).encode())
    urllib.request.urlopen(request, timeout=10).read()
    with pytest.raises(_beamtime.BeamtimeError) as caught:
        _beamtime.get_json(base + _beamtime.ROUTES["all_runs"], good, http)
    assert "HTTP 503" in str(caught.value) and "maintenance" in str(caught.value)
    url = base + _beamtime.ROUTES["activities"].format(run="1999-1", beamline="2-BM-A,B")
    with pytest.raises(_beamtime.BeamtimeError) as caught:
        _beamtime.get_json(url, good, http)
    assert "Run 1999-1 not found" in str(caught.value)
