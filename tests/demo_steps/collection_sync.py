"""Demo step: collection sync on transfer1. systemd starts collection-sync-start (it submits the Globus
sync task) and then collection-sync-status (it reads the task's outcome and mails the summary), each
as its timer would; the outcome is read from the job's state file on transfer1."""

import json
import time

from tests.demo_steps import DemoError

ORDER = 30
TITLE = "collection sync"
HOST = "transfer1"
STATE = "/var/lib/datasync-jobs/collection_sync.json"
ENDED = ("SUCCEEDED", "FAILED")


def _line(job, run, journal):
    finished = [line.split(" ", 1)[1] for line in journal if "Finished" in line or "Deactivated" in line]
    return "%s (systemctl start): %s rc=%d, %d changed; journal: %s" % (job, run.start[11:], run.rc, run.changed, finished[-1] if finished else "-")


def run(demo):
    since = time.time()
    # Every start submits a sync task (ansible reports it as a change); what changed in the data is
    # the files that task moved, counted below.
    start, start_journal = demo.timer_job(HOST, "collection-sync-start", count=False)
    lines = [_line("collection-sync-start", start, start_journal)]
    deadline = time.time() + 120
    time.sleep(3)  # the status timer fires hours after the start one: give the task a moment
    while True:
        status, status_journal = demo.timer_job(HOST, "collection-sync-status")
        syncs = json.loads(demo.on(HOST, "cat", STATE))["data"]["syncs"]
        tasks = {name: sync.get("last") or {} for name, sync in syncs.items()}
        if all(task.get("status") in ENDED for task in tasks.values()) or time.time() > deadline:
            break
        time.sleep(3)
    lines.append(_line("collection-sync-status", status, status_journal))
    for name, task in sorted(tasks.items()):
        if task.get("status") != "SUCCEEDED" or task.get("request_time", "") < time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(since - 1)):
            raise DemoError("the %s sync task on %s did not succeed after the start job: %s" % (name, HOST, task))
        lines.append("%s: task %s %s, %d of %d files transferred (%d bytes), %d already in place" % (
            name, task["task_id"][:8], task["status"], task["files_transferred"], task["files"], task["bytes_transferred"],
            task.get("files_skipped", 0)))
        demo.changed("%s %s files transferred" % (HOST, name), task["files_transferred"])
    return lines
