# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Identity sync: the state file and the records shared by the _identity_* files. Private to sciops.datasync: not a public API.

The state file remembers, per Globus identity id, the local name and the uid handed
out, and per Globus group id the local name and gid. Ids are written to the state
*before* an account is created, so a run killed at any point is finished by the next
one with the same ids; a departed user's uid stays in the state and is never reused.
"""

from __future__ import annotations

STATE_SCHEMA = "sciops.datasync.identity_sync"
STATE_VERSION = 1


class SyncError(Exception):
    """A setting or a state that stops the whole run."""


def empty_state():
    return {"users": {}, "groups": {}, "uid_next": None, "gid_next": None}


def state_uids(state):
    return {r["uid"] for r in state["users"].values() if r.get("uid") is not None}


def state_gids(state):
    gids = {r["gid"] for r in state["groups"].values() if r.get("gid") is not None}
    gids.update(r["gid"] for r in state["users"].values() if r.get("private_group") and r.get("gid") is not None)
    return gids
