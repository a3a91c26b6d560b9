# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Identity sync: carry out a user or group plan. Private to sciops.datasync: not a public API.

Accounts are changed through ``PosixAccounts``; new ids go into the id ledger, then the state
is saved with every new account pending and every hook run owed (write-ahead), then the changes
are made and the state saved again; the hooks run last, each success journalled at once. In check mode the
preview functions return the same result shape without doing anything.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

from ansible_collections.sciops.datasync.plugins.module_utils._core.progress import Progress
from ansible_collections.sciops.datasync.plugins.module_utils._identity.accounts import GroupSpec, UserSpec
from ansible_collections.sciops.datasync.plugins.module_utils._identity.hooks import group_hook_env, list_hooks, run_hooks, user_hook_env
from ansible_collections.sciops.datasync.plugins.module_utils._globus.groups import ACTIVE
from ansible_collections.sciops.datasync.plugins.module_utils._identity.model import add_pending_hook, drop_pending_hook, pending_hooks


@dataclass(frozen=True)
class Target:
    """Where and how a plan is carried out.

    ``state`` is the loaded state, persisted by ``save(state)``; ``backend`` the accounts (``PosixAccounts`` or
    ``DirectoryAccounts``) and ``db`` what it held when the plan was made (None: read it when needed); ``runner``
    runs the hooks of ``hooks_dir``; new homes are made when ``create_home``, from ``skeleton``; new ids go to
    ``ledger`` and finished hook runs to ``journal`` (``ledger.IdLedger``, ``ledger.HookJournal``); ``progress``
    (``_core.progress.Progress``) counts the accounts done of those planned.
    """

    state: dict
    save: Callable[[dict], Any]
    backend: Any
    db: Any = None
    runner: Any = None
    hooks_dir: Optional[str] = None
    skeleton: Optional[str] = None
    create_home: bool = True
    ledger: Any = None
    journal: Any = None
    progress: Any = None

    def counter(self, total):
        """The run's ``Progress`` (a silent one when none was given), counting from 0 of ``total``."""
        progress = self.progress or Progress("identity sync", None)
        progress.update(done=0, total=total)
        return progress


def now_iso():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


GROUP_KEYS = ("name", "gid", "globus_group_id")


def _public(item, *keys):
    keys = keys or ("name", "uid", "gid", "globus_username", "identity_id")
    return {k: item.get(k) for k in keys if item.get(k) is not None}


def _changed_user(item):
    """An updated or unlocked user as the result shows it: who, and ``before``/``after`` of what changed."""
    return dict(_public(item), before=item.get("was") or {}, after=item.get("now") or {})


def _attempt(errors, item, keys, change, *args):
    """Run ``change(*args)``; when it fails, note why against ``item`` and return False so the run goes on."""
    try:
        change(*args)
    except Exception as exc:  # AccountError, OSError: one account's failure must not stop the others
        errors.append(dict(_public(item, *keys), reason=str(exc)))
        return False
    return True


def _update_user(backend, item, unlock):
    if unlock:
        backend.unlock_user(item["name"], item["shell"])
    if item.get("changes", {}).get("gecos") is not None:
        backend.modify_user(item["name"], gecos=item["changes"]["gecos"])


class _Hooks:
    """The hook runs a plan owes: recorded pending before the change (write-ahead), run after the change
    is committed, each success journalled at once (``ledger.HookJournal``) and dropped from the state.
    With no hook executable (``hooks`` empty when the run starts) nothing is owed: 20,000 new accounts are not
    recorded as owing a run only to be cleared again."""

    def __init__(self, kind, records, journal, hooks):
        self.kind, self.records, self.journal, self.hooks = kind, records, journal, hooks
        self.fresh = {}
        self.targets = {}  # keys in order (a dict: 20,000 targets are looked up in constant time)

    def owe(self, key, action):
        if not self.hooks:
            return None
        record = self.records[key]
        before = {h["change"] for h in pending_hooks(record)}
        change = add_pending_hook(record, action)
        if change not in before:
            self.fresh[key] = change
        return change

    def cancel(self, key):
        """The change ``key`` owed a hook for did not happen: forget the hook run this plan added."""
        if key in self.fresh:
            drop_pending_hook(self.records[key], self.fresh.pop(key))

    def target(self, key):
        self.targets.setdefault(key, None)

    def settle(self, result, run_one, save, state):
        """Run the owed hooks, then commit their removal from the state and clear the journal."""
        if self.run(result, run_one):
            save(state)
            if self.journal is not None:
                self.journal.clear()
        return result

    def run(self, result, run_one):
        """Run every pending hook of the targets in order; ``run_one(key, record, entry)`` returns None or a problem.
        Returns whether any entry left the state (run, or dropped with no hook left to run it)."""
        result["hooks_run"] = 0
        settled = False
        for key in self.targets:
            record = self.records.get(key)
            if record is None:
                continue
            for entry in pending_hooks(record):
                if self.hooks:
                    problem = run_one(key, record, entry)
                    result["hooks_run"] += 1
                    if problem:
                        break
                    if self.journal is not None:
                        self.journal.record(self.kind, key, entry["change"])
                drop_pending_hook(record, entry["change"])
                settled = True
        return settled


def _empty_result(plan, changes, keys):
    """The result before any change: the plan's skipped items (with ``keys``) and errors (without the id)."""
    result = {k: [] for k in changes}
    result["skipped"] = [_public(i, *keys, "reason") for i in plan["skipped"]]
    result["errors"] = [_public(i, *(k for k in keys if k not in ("uid", "gid")), "reason") for i in plan["errors"]]
    return result


def apply_user_plan(plan, target):
    """Carry out a user plan on ``target`` (a ``Target``).

    Order: new ids into ``ledger`` (fsynced), then the state with every new account pending and every
    hook run owed (write-ahead); then the accounts and homes; the state again (commit); then the
    hooks, each success journalled in ``journal`` at once; the state a last time.
    """
    result = _empty_result(plan, ("created", "updated", "locked", "removed", "adopted"),
                           ("name", "uid", "globus_username", "identity_id"))
    state, save, backend = target.state, target.save, target.backend
    users = state["users"]
    stamp = now_iso()
    owed = _Hooks("u", users, target.journal, list_hooks(target.hooks_dir))

    def remember(item, status, **extra):
        record = users.setdefault(item["identity_id"], {})
        for key in ("name", "uid", "gid", "globus_username", "full_name", "email", "fingerprint", "home", "shell", "group", "private_group"):
            if item.get(key) is not None:
                record[key] = item[key]
        record["status"] = status
        record.update(extra)
        return record

    new_ids = []
    for item in plan["create"]:
        known = users.get(item["identity_id"], {})
        if known.get("uid") != item["uid"]:
            new_ids.append(("uid", item["uid"], item["name"], item["identity_id"]))
            if item.get("private_group"):
                new_ids.append(("gid", item["gid"], item["name"], item["identity_id"]))
        remember(item, "pending", allocated=known.get("allocated") or stamp)
        owed.owe(item["identity_id"], "created")
    for item in plan["resume"]:
        if not any(h["action"] == "created" for h in pending_hooks(users[item["identity_id"]])):
            owed.owe(item["identity_id"], "created")
    for item in plan["adopt"]:
        remember(item, ACTIVE, adopted=stamp, private_group=False)
        result["adopted"].append(_public(item))
    for item in plan["update"] + plan["unlock"]:
        owed.owe(item["identity_id"], "updated")
    for item in plan["lock"]:
        record = users[item["identity_id"]]
        if not record.get("shell_before_lock") and item.get("shell_before_lock"):
            record["shell_before_lock"] = item["shell_before_lock"]
        owed.owe(item["identity_id"], "locked")
    for item in plan["remove"]:
        if item.get("account"):
            owed.owe(item["identity_id"], "removed")
    if plan.get("uid_next") is not None:
        state["uid_next"] = plan["uid_next"]
    if target.ledger is not None and new_ids:
        target.ledger.record(new_ids)
    if any(plan[k] for k in ("create", "adopt", "resume", "update", "unlock", "lock", "remove")):
        save(state)

    progress = target.counter(sum(len(plan[k]) for k in ("create", "resume", "update", "unlock", "lock", "remove")))
    specs = [UserSpec(i["name"], i["uid"], i["gid"], i["group"], i["private_group"], i["gecos"], i["home"], i["shell"]) for i in plan["create"]]
    failures = backend.create_batch(specs, db=target.db) if specs else {}
    for item in plan["create"] + plan["resume"]:
        progress.advance()
        if item["name"] in failures:
            result["errors"].append(dict(_public(item), reason=failures[item["name"]]))
            continue
        if target.create_home and item.get("home"):
            try:
                backend.create_home(item["home"], item["uid"], item["gid"], target.skeleton)
            except OSError as exc:
                result["errors"].append(dict(_public(item), reason="home %s: %s" % (item["home"], exc)))
        remember(item, ACTIVE, created=stamp)
        result["created"].append(_public(item))
        owed.target(item["identity_id"])
    for item, unlock in [(i, False) for i in plan["update"]] + [(i, True) for i in plan["unlock"]]:
        progress.advance()
        if not _attempt(result["errors"], item, (), _update_user, backend, item, unlock):
            owed.cancel(item["identity_id"])
            continue
        record = remember(item, ACTIVE, updated=stamp)
        if unlock:
            record.pop("shell_before_lock", None)
        result["updated"].append(_changed_user(item))
        owed.target(item["identity_id"])
    for item in plan["lock"]:
        progress.advance()
        if not _attempt(result["errors"], item, (), backend.lock_user, item["name"]):
            owed.cancel(item["identity_id"])
            continue
        users[item["identity_id"]].update(status="locked", locked=stamp)
        result["locked"].append(_public(item))
        owed.target(item["identity_id"])
    for item in plan["remove"]:
        progress.advance()
        if item.get("account") and not _attempt(result["errors"], item, (), backend.remove_user, item["name"]):
            owed.cancel(item["identity_id"])
            continue
        record = users[item["identity_id"]]
        record.update(status="removed", removed=stamp)
        result["removed"].append(_public(item))
        if item.get("account") is False:  # never created: no hook is owed for it
            for entry in pending_hooks(record):
                drop_pending_hook(record, entry["change"])
        else:
            owed.target(item["identity_id"])
    for item in plan["hooks"]:
        owed.target(item["identity_id"])
    if any(result[k] for k in ("created", "updated", "locked", "removed", "adopted")) or owed.fresh:
        save(state)

    items = {i["identity_id"]: i for k in ("hooks", "create", "resume", "update", "unlock", "lock", "remove") for i in plan[k]}

    def run_one(identity_id, record, entry):
        item = items.get(identity_id, {})
        env_item = dict(record, **{k: v for k, v in item.items() if v is not None and k != "shell_before_lock"})
        env_item.update(shell=record.get("shell") if entry["action"] != "locked" else backend.nologin_shell, change=entry["change"])
        problem = run_hooks(target.runner, owed.hooks, [entry["action"], record["name"]], user_hook_env(entry["action"], env_item, backend.root))
        if problem:
            result["errors"].append(dict(_public(dict(record, identity_id=identity_id)), reason=problem, hook_action=entry["action"]))
        return problem

    owed.settle(result, run_one, save, state)
    if progress.total:  # a run with nothing to do leaves no line in the job log
        progress.finish()
    return result


def apply_group_plan(plan, target):
    """Carry out a group plan, in the order ``apply_user_plan`` uses (ledger, write-ahead, changes, commit, hooks)."""
    result = _empty_result(plan, ("created", "renamed", "updated", "removed"), ("name", "gid", "globus_group", "globus_group_id"))
    state, save, backend = target.state, target.save, target.backend
    records = state["groups"]
    stamp = now_iso()
    owed = _Hooks("g", records, target.journal, list_hooks(target.hooks_dir))
    new_ids = []
    for item in plan["create"]:
        record = records.setdefault(item["globus_group_id"], {})
        if record.get("gid") != item["gid"] and not item.get("adopt"):
            new_ids.append(("gid", item["gid"], item["name"], item["globus_group_id"]))
        record.update(name=item["name"], gid=item["gid"], globus_group=item["globus_group"], status="pending",
                      adopted=bool(item.get("adopt")))
        if not any(h["action"] == "created" for h in pending_hooks(record)):
            owed.owe(item["globus_group_id"], "created")
    for item in plan["rename"] + plan["members"]:
        owed.owe(item["globus_group_id"], "updated")
    for item in plan["remove"]:
        owed.owe(item["globus_group_id"], "removed")
    if plan.get("gid_next") is not None:
        state["gid_next"] = plan["gid_next"]
    if target.ledger is not None and new_ids:
        target.ledger.record(new_ids)
    if any(plan[k] for k in ("create", "rename", "members", "remove")):
        save(state)
    progress = target.counter(sum(len(plan[k]) for k in ("create", "rename", "members", "remove")))
    new = [GroupSpec(i["name"], i["gid"], i["members"]) for i in plan["create"] if not i.get("adopt")]
    failures = backend.create_batch(groups=new, db=target.db) if new else {}
    for item in plan["create"]:
        progress.advance()
        if item["name"] in failures:
            result["errors"].append(dict(_public(item, "name", "gid", "globus_group", "globus_group_id"), reason=failures[item["name"]]))
            continue
        if item.get("resume") and item["members"] and not _attempt(
                result["errors"], item, GROUP_KEYS, backend.set_group_members, item["name"], item["members"]):
            continue
        records[item["globus_group_id"]].update(status=ACTIVE, created=stamp)
        result["created"].append(_public(item, "name", "gid", "globus_group", "globus_group_id", "members"))
        owed.target(item["globus_group_id"])
    for item in plan["rename"]:
        progress.advance()
        if not _attempt(result["errors"], item, GROUP_KEYS, backend.rename_group, item["old_name"], item["name"]):
            owed.cancel(item["globus_group_id"])
            continue
        records[item["globus_group_id"]].update(name=item["name"], globus_group=item["globus_group"], renamed=stamp)
        result["renamed"].append(_public(item, "old_name", "name", "gid", "globus_group", "globus_group_id"))
        owed.target(item["globus_group_id"])
    for item in plan["members"]:
        progress.advance()
        if not _attempt(result["errors"], item, GROUP_KEYS, backend.set_group_members, item["name"], item["members"]):
            if not any(r["globus_group_id"] == item["globus_group_id"] for r in result["renamed"]):
                owed.cancel(item["globus_group_id"])
            continue
        result["updated"].append(_public(item, "name", "gid", "globus_group", "globus_group_id", "added", "removed"))
        owed.target(item["globus_group_id"])
    for item in plan["remove"]:
        progress.advance()
        if not _attempt(result["errors"], item, GROUP_KEYS, backend.remove_group, item["name"]):
            owed.cancel(item["globus_group_id"])
            continue
        records[item["globus_group_id"]].update(status="removed", removed=stamp)
        result["removed"].append(_public(item, *GROUP_KEYS))
        owed.target(item["globus_group_id"])
    for item in plan["hooks"]:
        owed.target(item["globus_group_id"])
    if any(result[k] for k in ("created", "renamed", "updated", "removed")) or owed.fresh:
        save(state)
    hooks = owed.hooks
    db = backend.read() if hooks and owed.targets else None
    items = {i["globus_group_id"]: i for k in ("hooks", "create", "rename", "members", "remove") for i in plan[k]}

    def run_one(group_id, record, entry):
        item = dict(items.get(group_id, {}), name=record["name"], gid=record.get("gid"), globus_group_id=group_id,
                    globus_group=record.get("globus_group"), change=entry["change"])
        local = db.groups.get(record["name"]) if record.get("status") != "removed" else None
        members = local.members if local is not None else list(item.get("members") or [])
        item["members"] = members
        problem = run_hooks(target.runner, hooks, [entry["action"], record["name"]], group_hook_env(entry["action"], item, backend.root),
                            stdin="".join(m + "\n" for m in members))
        if problem:
            result["errors"].append(dict(_public(item, *GROUP_KEYS), reason=problem, hook_action=entry["action"]))
        return problem

    owed.settle(result, run_one, save, state)
    if progress.total:  # a run with nothing to do leaves no line in the job log
        progress.finish()
    return result


def preview_user_plan(plan):
    """The result apply_user_plan would return, without doing anything (check mode)."""
    result = {"created": [_public(i) for i in plan["create"] + plan["resume"]],
              "updated": [_changed_user(i) for i in plan["update"] + plan["unlock"]],
              "locked": [_public(i) for i in plan["lock"]], "removed": [_public(i) for i in plan["remove"]],
              "adopted": [_public(i) for i in plan["adopt"]],
              "skipped": [_public(i, "name", "uid", "globus_username", "identity_id", "reason") for i in plan["skipped"]],
              "errors": [_public(i, "name", "globus_username", "identity_id", "reason") for i in plan["errors"]],
              "hooks_run": 0}
    return result


def preview_group_plan(plan):
    """The result apply_group_plan would return, without doing anything (check mode)."""
    keys = ("name", "gid", "globus_group", "globus_group_id")
    return {"created": [_public(i, *(keys + ("members",))) for i in plan["create"]],
            "renamed": [_public(i, *(keys + ("old_name",))) for i in plan["rename"]],
            "updated": [_public(i, *(keys + ("added", "removed"))) for i in plan["members"]],
            "removed": [_public(i, *GROUP_KEYS) for i in plan["remove"]],
            "skipped": [_public(i, *(keys + ("reason",))) for i in plan["skipped"]],
            "errors": [_public(i, *(keys + ("reason",))) for i in plan["errors"]],
            "hooks_run": 0}
