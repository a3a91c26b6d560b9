# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The state file and run lock shared by globus_user_sync and globus_group_sync
    # (module_utils/_identity/sync.py identity_sync_argument_spec(); the other options it returns are documented per module).
    DOCUMENTATION = r"""
options:
  state_file:
    description:
      - JSON state file with the uids and gids handed out, shared by M(sciops.datasync.globus_user_sync) and
        M(sciops.datasync.globus_group_sync); defaults to C(var/lib/sciops-datasync/identity_sync.json) under O(root).
    type: path
  lock_file:
    description:
      - Run lock shared by M(sciops.datasync.globus_user_sync) and M(sciops.datasync.globus_group_sync);
        defaults to C(var/lib/sciops-datasync/identity_sync.lock) under O(root).
    type: path
  lock_wait:
    description: Wait for a busy lock (gosync C(waitlock) behaviour); V(false) is gosync C(--nowait).
    type: bool
    default: true
  lock_timeout:
    description: Seconds to wait for the lock before failing.
    type: int
    default: 3600
"""

    # Return values both modules share (their RETURN extends this fragment; the busy-lock keys come
    # from the sciops.datasync.lock fragment).
    RETURN = r"""
state_file:
  description: The state file used.
  returned: success
  type: str
lock_waited:
  description: Seconds spent waiting for the lock.
  returned: success
  type: float
"""
