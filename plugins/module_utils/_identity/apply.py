# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Identity sync: carry out a user or group plan. Private to sciops.datasync: not a public API.

Accounts are changed through ``PosixAccounts``; the state is saved before accounts are
created (write-ahead) and after the changes, and the hooks run last. In check mode the
preview functions return the same result shape without doing anything.
"""

from __future__ import annotations

import time

from ansible_collections.sciops.datasync.plugins.module_utils._identity.accounts import GroupSpec, UserSpec
from ansible_collections.sciops.datasync.plugins.module_utils._identity.hooks import group_hook_env, list_hooks, run_hooks, user_hook_env
from ansible_collections.sciops.datasync.plugins.module_utils._globus.groups import ACTIVE


def now_iso():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


GROUP_KEYS = ("name", "gid", "globus_group_id")


def _public(item, *keys):
    keys = keys or ("name", "uid", "gid", "globus_username", "identity_id")
    return {k: item.get(k) for k in keys if item.get(k) is not None}


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


def apply_user_plan(plan, state, save, backend, db, runner, hooks_dir=None, skeleton=None, create_home=True):
    """Carry out a user plan. ``save(state)`` persists the state (write-ahead before creating)."""
    result = {k: [] for k in ("created", "updated", "locked", "removed", "adopted", "skipped", "errors")}
    result["skipped"] = [_public(i, "name", "uid", "globus_username", "identity_id", "reason") for i in plan["skipped"]]
    result["errors"] = [_public(i, "name", "globus_username", "identity_id", "reason") for i in plan["errors"]]
    users = state["users"]
    stamp = now_iso()

    def remember(item, status, **extra):
        record = users.setdefault(item["identity_id"], {})
        for key in ("name", "uid", "gid", "globus_username", "full_name", "email", "fingerprint", "home", "shell", "group", "private_group"):
            if item.get(key) is not None:
                record[key] = item[key]
        record["status"] = status
        record.update(extra)
        return record

    for item in plan["create"]:
        remember(item, "pending", allocated=users.get(item["identity_id"], {}).get("allocated") or stamp)
    for item in plan["adopt"]:
        remember(item, ACTIVE, adopted=stamp, private_group=False)
        result["adopted"].append(_public(item))
    if plan.get("uid_next") is not None:
        state["uid_next"] = plan["uid_next"]
    if plan["create"] or plan["adopt"]:
        save(state)

    hook_jobs = []
    specs = [UserSpec(i["name"], i["uid"], i["gid"], i["group"], i["private_group"], i["gecos"], i["home"], i["shell"]) for i in plan["create"]]
    failures = backend.create_batch(specs, db=db) if specs else {}
    for item in plan["create"] + plan["resume"]:
        if item["name"] in failures:
            result["errors"].append(dict(_public(item), reason=failures[item["name"]]))
            continue
        if create_home and item.get("home"):
            try:
                backend.create_home(item["home"], item["uid"], item["gid"], skeleton)
            except OSError as exc:
                result["errors"].append(dict(_public(item), reason="home %s: %s" % (item["home"], exc)))
        remember(item, ACTIVE, created=stamp)
        result["created"].append(_public(item))
        hook_jobs.append(("created", item))
    for item in plan["update"] + plan["unlock"]:
        if not _attempt(result["errors"], item, (), _update_user, backend, item, item in plan["unlock"]):
            continue
        remember(item, ACTIVE, updated=stamp)
        result["updated"].append(_public(item))
        hook_jobs.append(("updated", item))
    for item in plan["lock"]:
        if not _attempt(result["errors"], item, (), backend.lock_user, item["name"]):
            continue
        users[item["identity_id"]].update(status="locked", locked=stamp)
        result["locked"].append(_public(item))
        hook_jobs.append(("locked", item))
    for item in plan["remove"]:
        if item.get("account") and not _attempt(result["errors"], item, (), backend.remove_user, item["name"]):
            continue
        users[item["identity_id"]].update(status="removed", removed=stamp)
        result["removed"].append(_public(item))
        if item.get("account"):
            hook_jobs.append(("removed", item))
    for item in plan["hooks"]:
        hook_jobs.append((item["action"], item))
    if any(result[k] for k in ("created", "updated", "locked", "removed")):
        save(state)

    hooks = list_hooks(hooks_dir)
    result["hooks_run"] = 0
    if hooks and hook_jobs:
        for action, item in hook_jobs:
            record = users[item["identity_id"]]
            env_item = dict(record, **{k: v for k, v in item.items() if v is not None})
            env_item.setdefault("shell", record.get("shell"))
            problem = run_hooks(runner, hooks, [action, item["name"]], user_hook_env(action, env_item, backend.root))
            result["hooks_run"] += 1
            if problem:
                record["hooks_pending"] = action
                result["errors"].append(dict(_public(item), reason=problem, hook_action=action))
            else:
                record.pop("hooks_pending", None)
        save(state)
    return result


def apply_group_plan(plan, state, save, backend, runner, hooks_dir=None):
    result = {k: [] for k in ("created", "renamed", "updated", "removed", "skipped", "errors")}
    result["skipped"] = [_public(i, "name", "gid", "globus_group", "globus_group_id", "reason") for i in plan["skipped"]]
    result["errors"] = [_public(i, "name", "globus_group", "globus_group_id", "reason") for i in plan["errors"]]
    records = state["groups"]
    stamp = now_iso()
    for item in plan["create"]:
        record = records.setdefault(item["globus_group_id"], {})
        record.update(name=item["name"], gid=item["gid"], globus_group=item["globus_group"], status="pending",
                      adopted=bool(item.get("adopt")))
    if plan.get("gid_next") is not None:
        state["gid_next"] = plan["gid_next"]
    if plan["create"]:
        save(state)
    new = [GroupSpec(i["name"], i["gid"], i["members"]) for i in plan["create"] if not i.get("adopt")]
    failures = backend.create_batch(groups=new) if new else {}
    hook_jobs = []
    for item in plan["create"]:
        if item["name"] in failures:
            result["errors"].append(dict(_public(item, "name", "gid", "globus_group", "globus_group_id"), reason=failures[item["name"]]))
            continue
        if item.get("resume") and item["members"] and not _attempt(
                result["errors"], item, GROUP_KEYS, backend.set_group_members, item["name"], item["members"]):
            continue
        records[item["globus_group_id"]].update(status=ACTIVE, created=stamp)
        result["created"].append(_public(item, "name", "gid", "globus_group", "globus_group_id", "members"))
        hook_jobs.append(("created", item))
    renamed = []
    for item in plan["rename"]:
        if not _attempt(result["errors"], item, GROUP_KEYS, backend.rename_group, item["old_name"], item["name"]):
            continue
        records[item["globus_group_id"]].update(name=item["name"], globus_group=item["globus_group"], renamed=stamp)
        result["renamed"].append(_public(item, "old_name", "name", "gid", "globus_group", "globus_group_id"))
        renamed.append(item)
    for item in plan["members"]:
        if not _attempt(result["errors"], item, GROUP_KEYS, backend.set_group_members, item["name"], item["members"]):
            continue
        result["updated"].append(_public(item, "name", "gid", "globus_group", "globus_group_id", "added", "removed"))
        hook_jobs.append(("updated", item))
    hooked = {job[1]["globus_group_id"] for job in hook_jobs}
    for item in renamed:
        if item["globus_group_id"] not in hooked:  # a rename alone still tells the hooks
            hook_jobs.append(("updated", dict(item, members=None)))
    for item in plan["remove"]:
        if not _attempt(result["errors"], item, GROUP_KEYS, backend.remove_group, item["name"]):
            continue
        records[item["globus_group_id"]].update(status="removed", removed=stamp)
        result["removed"].append(_public(item, *GROUP_KEYS))
        hook_jobs.append(("removed", item))
    for item in plan["hooks"]:
        hook_jobs.append((item["action"], item))
    if any(result[k] for k in ("created", "renamed", "updated", "removed")):
        save(state)
    hooks = list_hooks(hooks_dir)
    result["hooks_run"] = 0
    if hooks and hook_jobs:
        db = backend.read()
        for action, item in hook_jobs:
            members = item.get("members")
            if members is None:
                entry = db.groups.get(item["name"])
                members = entry.members if entry else []
            env_item = dict(item, members=members)
            problem = run_hooks(runner, hooks, [action, item["name"]], group_hook_env(action, env_item, backend.root),
                                stdin="".join(m + "\n" for m in members))
            result["hooks_run"] += 1
            record = records.get(item["globus_group_id"])
            if problem:
                if record is not None:
                    record["hooks_pending"] = action
                result["errors"].append(dict(_public(item, *GROUP_KEYS), reason=problem, hook_action=action))
            elif record is not None:
                record.pop("hooks_pending", None)
        save(state)
    return result


def preview_user_plan(plan):
    """The result apply_user_plan would return, without doing anything (check mode)."""
    result = {"created": [_public(i) for i in plan["create"] + plan["resume"]],
              "updated": [_public(i) for i in plan["update"] + plan["unlock"]],
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
