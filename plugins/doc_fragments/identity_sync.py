# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The Globus group, state file and run lock shared by globus_user_sync and globus_group_sync
    # (module_utils/_identity/sync.py identity_sync_argument_spec(); the other options it returns are documented per module).
    # Each module overrides the description of root_group and recursive with what they mean for it.
    DOCUMENTATION = r"""
options:
  root_group:
    description: Id of the Globus group the sync reads.
    type: str
    required: true
  recursive:
    description: Also descend into the subgroups of subgroups.
    type: bool
    default: false
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
  deny_names:
    description:
      - Names (or globs such as V(lab-admin-*)) never created nor adopted, as users or groups, added to the
        built-in list of privileged names (V(root), V(admin), V(wheel), V(sudo), V(adm), V(staff), V(docker),
        V(lxd), V(libvirt), V(kvm), V(disk), V(shadow), V(systemd-*), system daemons; see C(docs/security.md))
        and to every user and group named in the host's sudoers files (C(etc/sudoers), its includes,
        C(etc/sudoers.d/*) under O(root), read without following links; a sudoers file that is a link stops the run).
    type: list
    elements: str
    default: []
  max_departures:
    description:
      - The most departures one run applies. Above it nothing is changed and the run fails saying how many
        and how to proceed (raise the limit for one run, or name the accounts with C(only) of M(sciops.datasync.globus_user_sync)).
      - For users - accounts locked or removed because they left Globus; for groups - groups removed, and active
        users dropped from their groups.
      - One departure is always allowed; more need to stay within both O(max_departures.count) and
        O(max_departures.percent) of the provisioned users (or groups, or memberships).
    type: dict
    suboptions:
      count:
        description: Most departures per run.
        type: int
        default: 10
      percent:
        description: Most departures per run as a percentage of those provisioned.
        type: int
        default: 10
  ids_file:
    description:
      - Append-only ledger of every uid and gid ever handed out (kept next to O(state_file) as C(identity_sync.ids)
        by default). An id in it is never handed out again, even when the state file is lost.
      - Must be a regular file owned by the running user and writable by nobody else; it is never followed through a link.
    type: path
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
departures:
  description:
    - The departures the O(max_departures) guard held back (users locked or removed; groups removed plus active
      users dropped from groups). Nothing was changed.
  returned: when the run is refused by O(max_departures)
  type: int
"""
