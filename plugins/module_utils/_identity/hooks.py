# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Identity sync: the hook executables run after each change. Private to sciops.datasync: not a public API.

Hooks (gosync's provisioner scripts) run as argv, never through a shell, with the
account or group in DATASYNC_* environment variables. ``DATASYNC_CHANGE_ID`` names the change a
run follows: a hook killed with the sync (or whose success was not yet recorded) runs again for
the same change id, so a hook that must not act twice can remember the ids it has seen.
"""

from __future__ import annotations

import os

from ansible_collections.sciops.datasync.plugins.module_utils._identity.accounts import PasswdEntry, clean_gecos, passwd_line


def list_hooks(directory):
    """Executable regular files in ``directory``, sorted; hidden and backup files are ignored."""
    if not directory or not os.path.isdir(directory):
        return []
    hooks = []
    for name in sorted(os.listdir(directory)):
        if name.startswith(".") or name.endswith(("~", ".bak", ".orig", ".dpkg-old", ".dpkg-new", ".disabled")):
            continue
        path = os.path.join(directory, name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            hooks.append(path)
    return hooks


def _env_value(value):
    return "" if value is None else str(value).replace("\x00", "")


def user_hook_env(action, item, root):
    line = passwd_line(PasswdEntry(item["name"], "x", item["uid"], item["gid"], clean_gecos(item.get("full_name") or ""),
                                   item.get("home") or "", item.get("shell") or ""))
    return {k: _env_value(v) for k, v in {
        "DATASYNC_ACTION": action, "DATASYNC_USER": item["name"], "DATASYNC_UID": item["uid"], "DATASYNC_GID": item["gid"],
        "DATASYNC_HOME": item.get("home"), "DATASYNC_EMAIL": item.get("email"), "DATASYNC_FULL_NAME": item.get("full_name"),
        "DATASYNC_GLOBUS_ID": item.get("identity_id"), "DATASYNC_GLOBUS_USERNAME": item.get("globus_username"),
        "DATASYNC_ROOT": root, "DATASYNC_PASSWD_LINE": line, "DATASYNC_CHANGE_ID": item.get("change"),
    }.items()}


def group_hook_env(action, item, root):
    return {k: _env_value(v) for k, v in {
        "DATASYNC_ACTION": action, "DATASYNC_GROUP": item["name"], "DATASYNC_GID": item.get("gid"),
        "DATASYNC_GLOBUS_GROUP_ID": item.get("globus_group_id"), "DATASYNC_GLOBUS_GROUP": item.get("globus_group"),
        "DATASYNC_ROOT": root, "DATASYNC_MEMBERS": ",".join(item.get("members") or []), "DATASYNC_CHANGE_ID": item.get("change"),
    }.items()}


def run_hooks(runner, hooks, argv_tail, env, stdin=None):
    """Run each hook as argv (never a shell); returns None or the first failure's reason."""
    for hook in hooks:
        result = runner.run([hook] + list(argv_tail), data=stdin, env=env)
        if result.rc != 0:
            tail = (result.stderr or result.stdout or "").strip().splitlines()[-3:]
            return "hook %s failed (rc=%d): %s" % (os.path.basename(hook), result.rc, " | ".join(tail))
    return None
