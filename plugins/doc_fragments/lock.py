# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # What every module that takes a lock returns when the lock was busy
    # (module_utils/_core/lock.py busy_result(), module_lock()). A module's RETURN extends
    # this fragment; one that names RV(skipped) in its own text keeps an empty "skipped: {}"
    # entry (validate-modules checks RV() references before it adds fragments).
    RETURN = r"""
skipped:
  description:
    - V(true) when nothing ran because the lock was busy (another run holds it) and the module did not
      wait for it (C(lock_wait=false), or a lock that is never waited for).
    - A module that locks each item (M(sciops.datasync.epn_repatriate), on each C(epns) entry) returns these keys on the item instead.
  returned: when the lock was busy
  type: bool
holder_pid:
  description: Pid of the run holding the lock (as recorded in the lock file) when it was busy.
  returned: when the lock was busy
  type: int
lock_file:
  description: The lock file that was busy.
  returned: when the lock was busy
  type: str
lock_waited:
  description:
    - Seconds the run waited for its lock (V(0) when it was free at once), also when it was busy or the wait timed out.
    - The job report adds them up as the metric C(datasync_lock_wait_seconds_total).
  returned: when the module took or tried its lock
  type: float
  sample: 0.0
"""
