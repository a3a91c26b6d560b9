# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Identity sync: the state file and the records shared by the _identity_* files. Private to sciops.datasync: not a public API.

The state file remembers, per Globus identity id, the local name and the uid handed
out, and per Globus group id the local name and gid. Ids are written to the state
*before* an account is created, so a run killed at any point is finished by the next
one with the same ids; a departed user's uid stays in the state and is never reused (the
records are the state's tombstones; ``ledger.IdLedger`` keeps a second copy that survives the
loss of the state).

Hooks: each change appends ``{"action", "change"}`` to its record's ``hooks`` list and the state
is saved *before* the change is made; the entry leaves the list once every hook ran for it
(``ledger.HookJournal`` records each success at once). A run killed anywhere therefore leaves the
hook pending and the next run runs it; once recorded done it never runs again.
"""

from __future__ import annotations

import uuid

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


def pending_hooks(record):
    """The hook runs still owed for ``record``, oldest first (``hooks_pending``, a bare action, is the older form)."""
    hooks = list(record.get("hooks") or [])
    legacy = record.get("hooks_pending")
    if legacy and not any(h.get("change") == "legacy" for h in hooks):
        hooks.insert(0, {"action": legacy, "change": "legacy"})
    return hooks


def add_pending_hook(record, action):
    """Owe a hook run for ``action`` on ``record``; a still-pending entry of the same action is reused
    (a change retried after a kill is the same change). Returns the change id."""
    hooks = pending_hooks(record)
    record.pop("hooks_pending", None)
    if hooks and hooks[-1]["action"] == action:
        record["hooks"] = hooks
        return hooks[-1]["change"]
    change = uuid.uuid4().hex[:16]
    hooks.append({"action": action, "change": change})
    record["hooks"] = hooks
    return change


def drop_pending_hook(record, change):
    """The hook run ``change`` is done (or its change never happened)."""
    hooks = [h for h in pending_hooks(record) if h["change"] != change]
    record.pop("hooks_pending", None)
    if hooks:
        record["hooks"] = hooks
    else:
        record.pop("hooks", None)
