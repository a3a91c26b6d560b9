"""globus_timer through real ansible-playbook against a private Globus emulator (its clock is moved here).

A timer made by the module fires twice on the emulator clock and new source files arrive each
time; the real `globus timer list` shows it; a second run reports no change; state absent removes it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from tests.integration.module_play import run_module
from tests.lab_tests.test_globus_conformance import Clients, wait_ended
from tests.lab_tests.test_globus_conformance import emulator  # noqa: F401  pylint: disable=unused-import

globus_sdk = pytest.importorskip("globus_sdk")


@pytest.fixture(scope="module")
def lab(emulator):  # noqa: F811  pylint: disable=redefined-outer-name
    return Clients(emulator)


def timer_args(lab, tmp_path, src, dst, **extra):
    secret = tmp_path / "secret"
    secret.write_text(lab.secret + "\n")
    secret.chmod(0o600)
    args = {"client_id": lab.client_id, "client_secret_file": str(secret), "name": "lab timer sync",
            "source_collection": src["id"], "source_path": "/data/", "destination_collection": dst["id"],
            "destination_path": "/copy/data/", "interval": "1h", "filters": [{"exclude": "*.tmp"}]}
    args.update(extra)
    return args


def wait_runs(lab, job_id, count, timeout=30):
    timers = lab.timers()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = timers.get_job(job_id)
        if job["n_runs"] >= count:
            return job
        time.sleep(0.2)
    raise AssertionError("timer %s did not run %d times" % (job_id, count))


def globus_cli(lab, tmp_path, *args):
    globus = shutil.which("globus") or os.path.join(os.path.dirname(sys.executable), "globus")
    env = dict(os.environ, GLOBUS_CLI_CLIENT_ID=lab.client_id, GLOBUS_CLI_CLIENT_SECRET=lab.secret, HOME=str(tmp_path))
    proc = subprocess.run([globus] + list(args), env=env, capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    return proc.stdout


def test_timer_made_by_the_module_fires_on_the_emulator_clock(lab, tmp_path):
    src, dst = lab.collection({"data/one.h5": "1", "data/skip.tmp": "t"}), lab.collection()
    args = timer_args(lab, tmp_path, src, dst)

    checked, _raw = run_module(tmp_path, "globus_timer", args, check_mode=True, name="check.json")
    assert checked["changed"] and checked["action"] == "create" and "diff" not in checked
    assert lab.timers().list_jobs()["jobs"] == [] or all(j["name"] != args["name"] for j in lab.timers().list_jobs()["jobs"])

    made, raw = run_module(tmp_path, "globus_timer", args, name="create.json")
    assert made["changed"] and made["action"] == "create" and not made.get("failed"), raw[-3000:]
    assert made["created_directories"] == ["/copy/", "/copy/data/"]
    job_id = made["timer"]["job_id"]

    first = wait_runs(lab, job_id, 1)
    task_id = first["results"]["data"][0]["data"]["action_id"]
    assert wait_ended(lab.transfer(), task_id)["status"] == "SUCCEEDED"
    assert sorted(os.listdir(os.path.join(dst["root"], "copy", "data"))) == ["one.h5"]

    with open(os.path.join(src["root"], "data", "two.h5"), "w") as handle:
        handle.write("2")
    lab.admin("POST", "/clock", {"advance": 3600})
    second = wait_runs(lab, job_id, 2)
    task_id = second["results"]["data"][0]["data"]["action_id"]
    assert wait_ended(lab.transfer(), task_id)["status"] == "SUCCEEDED"
    assert sorted(os.listdir(os.path.join(dst["root"], "copy", "data"))) == ["one.h5", "two.h5"]

    listed = globus_cli(lab, tmp_path, "timer", "list")
    assert job_id in listed and args["name"] in listed

    again, _raw = run_module(tmp_path, "globus_timer", args, name="again.json")
    assert not again["changed"] and again["action"] == "none"
    assert [r["status"] for r in again["recent_runs"]] == ["SUCCEEDED", "SUCCEEDED"]
    assert again["timer"]["n_runs"] == 2

    diffed, _raw = run_module(tmp_path, "globus_timer", dict(args, interval="2h"), check_mode=True, name="diff.json")
    assert diffed["changed"] and diffed["action"] == "replace"

    gone, _raw = run_module(tmp_path, "globus_timer", {"client_id": lab.client_id, "client_secret_file": args["client_secret_file"],
                                                       "name": args["name"], "state": "absent"}, name="absent.json")
    assert gone["changed"] and gone["action"] == "delete"
    assert job_id not in globus_cli(lab, tmp_path, "timer", "list")
    twice, _raw = run_module(tmp_path, "globus_timer", {"client_id": lab.client_id, "client_secret_file": args["client_secret_file"],
                                                        "name": args["name"], "state": "absent"}, name="absent2.json")
    assert not twice["changed"]


def test_a_bad_label_or_interval_is_refused_by_name(lab, tmp_path):
    src, dst = lab.collection({"data/x": "x"}), lab.collection()
    for extra, needle in (({"label": "trailing "}, "whitespace"), ({"interval": "30s"}, "minimum"), ({"interval": "soon"}, "interval")):
        failed, _raw = run_module(tmp_path, "globus_timer", timer_args(lab, tmp_path, src, dst, **extra), name="bad.json")
        assert failed.get("failed") and needle in failed["msg"] and failed["errors"][0]["item"] == "lab timer sync"
    assert json.dumps(lab.timers().list_jobs()["jobs"]).count("lab timer sync") == 0
