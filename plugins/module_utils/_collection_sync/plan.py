# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What one collection sync does in a run (pure planning). Private to sciops.datasync: not a public API.

At most one live task per sync: a live task (recorded, or found by its label) is
reported and nothing is submitted; an ended recorded task is recorded as the last
outcome and, when starting is allowed, the next task is submitted.
"""

from __future__ import annotations

from ansible_collections.sciops.datasync.plugins.module_utils._globus.transfer import is_ended, is_live


def plan_sync(name, recorded, found_live, start):
    """Decide what one sync does this run. Pure.

    ``recorded``: summary of the task recorded in the state file (None if none or unknown);
    ``found_live``: a live task carrying the sync's label (None if none);
    ``start``: whether a new task may be submitted.

    Returns a dict: action (``report`` a live task, ``submit`` a new one, or ``idle``),
    ``task`` (the live task reported), ``ended`` (a recorded task that ended and is
    recorded now as the last outcome), ``adopted`` (live task found by label), reason.
    """
    plan = {"name": name, "action": "idle", "task": None, "ended": None, "adopted": False, "reason": ""}
    if is_live(recorded):
        plan.update(action="report", task=recorded,
                    reason="task %s is still %s: nothing submitted" % (recorded["task_id"], recorded["status"]))
        return plan
    if is_ended(recorded):
        plan["ended"] = recorded
    if is_live(found_live):
        plan.update(action="report", task=found_live, adopted=True,
                    reason="live task %s found by its label %r: nothing submitted" % (found_live["task_id"], found_live.get("label")))
        return plan
    if start:
        plan.update(action="submit", reason="no live task: submitting a new one")
    elif plan["ended"]:
        plan["reason"] = "last task %s %s; start is false: nothing submitted" % (recorded["task_id"], recorded["status"])
    else:
        plan["reason"] = "no task recorded; start is false: nothing submitted"
    return plan
