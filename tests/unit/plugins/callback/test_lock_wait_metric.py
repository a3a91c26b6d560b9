"""Issue 16 item 1: the seconds every locking module waited for its lock (``lock_waited``, the one
lock contract of _core/lock.py) reach Prometheus as datasync_lock_wait_seconds_total."""

from __future__ import annotations

from test_job_report import run_job, samples


def test_lock_waits_of_the_transfer_modules_become_the_lock_wait_metric(tmp_path):
    sync = {"changed": False, "submitted": [], "skipped": False, "errors": [], "syncs": [], "lock_waited": 2.5}
    pool = {"changed": False, "transferred": [], "errors": [], "module": "pv", "lock_waited": 0.25, "files_transferred": 0,
            "bytes_transferred": 0}
    got = samples(run_job(tmp_path, "collection-sync", [("v2_runner_on_ok", "globus_collection_sync", sync)]))
    assert got[("datasync_lock_wait_seconds_total", ())] == 2.5 and got[("datasync_lock_waits_total", ())] == 1
    got = samples(run_job(tmp_path, "pools-pv", [("v2_runner_on_ok", "rsync_pool_mirror", pool)] * 2))
    assert got[("datasync_lock_wait_seconds_total", ())] == 0.5 and got[("datasync_lock_waits_total", ())] == 2
    # A lock free at once (0 s) is no wait; a timed-out wait counts its seconds.
    free = dict(sync, lock_waited=0.0)
    timed_out = dict(sync, lock_waited=600.0, holder_pid=4242, lock_file="/var/lib/datasync/collection-sync.lock", failed=True)
    got = samples(run_job(tmp_path, "collection-sync", [("v2_runner_on_ok", "globus_collection_sync", free),
                                                        ("v2_runner_on_failed", "globus_collection_sync", timed_out)], failed=True))
    assert got[("datasync_lock_wait_seconds_total", ())] == 602.5 and got[("datasync_lock_waits_total", ())] == 2
