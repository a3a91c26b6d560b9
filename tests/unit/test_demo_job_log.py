"""`make demo` decides what ran and what changed from the job logs datasync-job writes on the hosts
and from ansible-playbook's recap (tests/demo.py); these read the formats those tools print."""

import re

from tests.demo import changed_tasks, recap
from tests.lab.hosts.job_log import job_runs

WRAPPER = "roles/runtime/templates/datasync-job.j2"

LOG = """===== 2026-11-29T22:36:01Z start pools-pv

PLAY [Pool mirror pv] **********************************************************

TASK [Mirror the pool] *********************************************************
changed: [localhost]

PLAY RECAP *********************************************************************
localhost                  : ok=3    changed=1    unreachable=0    failed=0    skipped=1    rescued=0    ignored=0

===== 2026-11-29T22:36:04Z end pools-pv rc=0
===== 2026-11-29T22:37:01Z start pools-pv
fatal: [localhost]: FAILED! => {"msg": "@ERROR: auth failed on module pv"}
PLAY RECAP *********************************************************************
localhost                  : ok=1    changed=0    unreachable=0    failed=1    skipped=0    rescued=0    ignored=0
===== 2026-11-29T22:37:02Z end pools-pv rc=2
===== 2026-11-29T22:38:01Z start pools-pv
"""


def test_runs_are_read_with_their_time_exit_code_and_changed_count():
    runs = job_runs(LOG)
    assert [(r.start, r.rc, r.changed) for r in runs] == [("2026-11-29T22:36:01Z", 0, 1), ("2026-11-29T22:37:01Z", 2, 0)]
    assert runs[1].started - runs[0].started == 60
    assert "auth failed" in runs[1].output


def test_a_run_still_going_is_not_a_run_yet():
    assert len(job_runs(LOG + "PLAY [Pool mirror pv] ***\n")) == 2


def test_a_run_killed_before_its_end_line_is_not_joined_to_the_next():
    killed = "===== 2026-11-29T22:35:01Z start pools-pv\nTASK [Mirror the pool] ***\n"
    assert [r.start for r in job_runs(killed + LOG)] == ["2026-11-29T22:36:01Z", "2026-11-29T22:37:01Z"]


def test_the_wrapper_writes_the_lines_the_demo_reads():
    with open(WRAPPER, encoding="utf-8") as handle:
        text = handle.read()
    assert re.search(r'echo "===== \$\(date -u \+%Y-%m-%dT%H:%M:%SZ\) start \$job"', text)
    assert re.search(r'echo "===== \$\(date -u \+%Y-%m-%dT%H:%M:%SZ\) end \$job rc=\$rc"', text)


def test_recap_gives_each_hosts_changed_unreachable_and_failed():
    stdout = ("PLAY RECAP ****\n"
              "beamline1                  : ok=54   changed=2    unreachable=0    failed=0    skipped=12   rescued=0    ignored=0\n"
              "portal1                    : ok=16   changed=0    unreachable=1    failed=1    skipped=5    rescued=0    ignored=0\n")
    assert recap(stdout) == {"beamline1": (2, 0, 0), "portal1": (0, 1, 1)}


def test_the_deploys_changed_tasks_are_named_per_host():
    stdout = ("TASK [sciops.datasync.runtime : Install the cron entry for pools-pv] ****\n"
              "changed: [mirror1]\nok: [portal1]\n"
              "TASK [sciops.datasync.runtime : Write the job playbook] ****\n"
              "changed: [mirror1] => (item=pools-pv)\nchanged: [mirror1] => (item=pools-ops)\nchanged: [portal1]\n")
    assert changed_tasks(stdout) == {
        "mirror1": ["sciops.datasync.runtime : Install the cron entry for pools-pv", "sciops.datasync.runtime : Write the job playbook"],
        "portal1": ["sciops.datasync.runtime : Write the job playbook"]}
