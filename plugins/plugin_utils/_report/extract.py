# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What one job run did, read from its module results. Private to sciops.datasync: not a public API.

``RunReport.add(module, result)`` takes one module result (a loop item's, or a task's) and
records counts for the metrics and one ``Change`` per change for the audit trail. Only named
result keys are read (names, ids, counts): never module arguments, messages or reasons, so a
secret that reached a module can reach neither the metrics nor the audit log.
"""

from __future__ import annotations

import collections

PREFIX = "sciops.datasync."
# The kind of item each identity key names, and the verb of the audit action.
USER_CHANGES = (("created", "created"), ("updated", "updated"), ("locked", "locked"), ("removed", "removed"), ("adopted", "adopted"))
GROUP_CHANGES = (("created", "created"), ("renamed", "renamed"), ("updated", "members_changed"), ("removed", "removed"))
HANDLED = ("globus_user_sync", "globus_group_sync", "globus_collection_sync", "epn_repatriate", "epn_alert", "rsync_pool_mirror",
           "globus_group", "globus_directory", "aps_dm_experiment")
USER_KEYS = ("name", "uid", "gid", "globus_username")
GROUP_KEYS = ("name", "gid", "globus_group", "members")


def _pick(entry, keys):
    return {k: entry[k] for k in keys if isinstance(entry, dict) and entry.get(k) is not None}


def _int(value):
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


class RunReport:
    """Counts and changes of one run of one job."""

    def __init__(self):
        self.items = collections.Counter()  # (kind, action) -> n
        self.files = collections.Counter()  # (kind, name) -> files transferred
        self.bytes = collections.Counter()  # (kind, name) -> bytes transferred
        self.failing = set()  # (kind, item) that failed in this run
        self.held_back = collections.Counter()  # kind -> departures refused by max_departures
        self.stalled = {}  # sync -> seconds its task has been stalled (0: not stalled)
        self.lock_waits = 0
        self.lock_wait_seconds = 0.0
        self.lock_skips = 0
        self.job_skipped = False  # a whole module found its run lock busy
        self.emails = 0
        self.changes = []  # Change dicts, in order

    def change(self, action, obj, upstream_id=None, before=None, after=None):
        self.changes.append({"action": action, "object": None if obj is None else str(obj),
                             "upstream_id": None if upstream_id is None else str(upstream_id), "before": before, "after": after})

    def add(self, module, result):
        """Record one result of ``module`` (its FQCN or short name)."""
        if not isinstance(result, dict) or result.get("censored"):
            return
        name = module[len(PREFIX):] if module.startswith(PREFIX) else module
        if "lock_waited" in result and float(result["lock_waited"] or 0) > 0:
            self.lock_waits += 1
            self.lock_wait_seconds += float(result["lock_waited"])
        if result.get("skipped") is True and "holder_pid" in result:
            self.lock_skips += 1
            self.job_skipped = True
            return
        if name in HANDLED:
            getattr(self, "_" + name)(result)
        elif module.startswith(PREFIX) and result.get("changed"):
            self.change(name + "_changed", name)

    def _errors(self, kind, result):
        for entry in result.get("errors") or []:
            if isinstance(entry, dict) and entry.get("item"):
                self.failing.add((kind, entry["item"]))
                self.items[(kind, "failed")] += 1

    def _globus_user_sync(self, result):
        if result.get("departures") is not None and result.get("failed"):
            self.held_back["user"] += _int(result["departures"])
        for key, verb in USER_CHANGES:
            for entry in result.get(key) or []:
                self.items[("user", verb)] += 1
                after = _pick(entry, USER_KEYS)
                before = {"locked": {"state": "active"}, "removed": after, "adopted": {"managed": False}}.get(verb)
                after = {"locked": {"state": "locked"}, "removed": None}.get(verb, after)
                if verb == "updated" and isinstance(entry.get("before"), dict) and isinstance(entry.get("after"), dict):
                    before, after = entry["before"], dict(after, **entry["after"])
                self.change("user_" + verb, entry.get("name"), entry.get("identity_id"), before, after)
        self._errors("user", result)

    def _globus_group_sync(self, result):
        if result.get("departures") is not None and result.get("failed"):
            self.held_back["group"] += _int(result["departures"])
        for key, verb in GROUP_CHANGES:
            for entry in result.get(key) or []:
                self.items[("group", verb if verb != "members_changed" else "updated")] += 1
                after = _pick(entry, GROUP_KEYS)
                before = None
                if verb == "renamed":
                    before, after = {"name": entry.get("old_name")}, {"name": entry.get("name")}
                elif verb == "members_changed":
                    before, after = {"removed": entry.get("removed") or []}, {"added": entry.get("added") or []}
                elif verb == "removed":
                    before, after = after, None
                self.change("group_" + verb, entry.get("name"), entry.get("globus_group_id"), before, after)
        self._errors("group", result)

    def _globus_collection_sync(self, result):
        for sync in result.get("syncs") or []:
            name = sync.get("name")
            if not name:
                continue
            self.stalled[name] = float((sync.get("stalled") or {}).get("seconds") or 0)
            ended = sync.get("ended_task") or {}
            if ended:
                self.files[("sync", name)] += _int(ended.get("files_transferred"))
                self.bytes[("sync", name)] += _int(ended.get("bytes_transferred"))
            if sync.get("action") == "submitted" and sync.get("submitted"):
                self.items[("sync", "submitted")] += 1
                self.change("transfer_submitted", name, sync.get("task_id") or (sync.get("task") or {}).get("task_id"),
                            None, _pick(sync.get("task") or {}, ("label", "deadline")) or None)
            if sync.get("cancelled"):
                self.items[("sync", "cancelled")] += 1
                self.change("transfer_cancelled", name, (sync.get("task") or {}).get("task_id"), {"status": "ACTIVE"},
                            {"status": (sync.get("task") or {}).get("status")})
            if sync.get("action") == "error":
                self.failing.add(("sync", name))
                self.items[("sync", "failed")] += 1
        self._mail(result.get("mail"), "collection sync summary")

    def _mail(self, mail, what):
        if isinstance(mail, dict) and mail.get("sent"):
            self.emails += 1
            self.change("email_sent", what, mail.get("message_id"), None, {"to": mail.get("to") or [], "subject": mail.get("subject")})

    def _epn_repatriate(self, result):
        for entry in result.get("epns") or []:
            epn, project = entry.get("epn"), entry.get("project") or ""
            if entry.get("holder_pid") is not None and entry.get("skipped"):
                self.lock_skips += 1
            if entry.get("status") == "transferred":
                self.items[("epn", "repatriated")] += 1
                self.files[("project", project)] += _int(entry.get("files"))
                self.bytes[("project", project)] += _int(entry.get("bytes"))
                self.change("epn_repatriated", epn, entry.get("equipment"), None,
                            _pick(entry, ("project", "destination", "files", "bytes", "visit_end")))
            elif entry.get("status") == "failed":
                self.failing.add(("epn", epn))
                self.items[("epn", "failed")] += 1

    def _epn_alert(self, result):
        if result.get("sent"):
            self.emails += 1
            self.change("email_sent", "unknown EPN owners", result.get("message_id"), None,
                        {"to": result.get("to") or [], "subject": result.get("subject"), "epns": result.get("alerted") or []})
        self._errors("epn", result)

    def _rsync_pool_mirror(self, result):
        pool = ((result.get("invocation") or {}).get("module_args") or {}).get("module") or (result.get("item") or {}).get("module")
        if result.get("dry_run"):
            return
        if "rsync_rc" in result:
            self.files[("pool", pool)] += _int(result.get("files_transferred"))
            self.bytes[("pool", pool)] += _int(result.get("bytes_transferred"))
            counts = {k: _int(result.get(k)) for k in ("transferred_count", "deleted_count", "files_transferred", "bytes_transferred")}
            if counts["transferred_count"] or counts["deleted_count"]:
                self.items[("pool", "mirrored")] += 1
                self.change("pool_mirrored", pool, None, None, counts)
        if result.get("lock_taken_over_from") is not None:
            self.change("pool_lock_taken_over", pool, None, {"holder_pid": result["lock_taken_over_from"]},
                        {"removed_leftovers": len(result.get("removed_leftovers") or [])})
        if result.get("failed"):
            self.failing.add(("pool", pool))
            self.items[("pool", "failed")] += 1
        if result.get("mail_sent"):
            self.emails += 1
            self.change("email_sent", "pool %s failure" % pool, None, None, None)

    def _globus_group(self, result):
        gid = result.get("group_id")
        name = (result.get("group") or {}).get("name")
        if result.get("created"):
            self.change("globus_group_created", name, gid, None, {"name": name})
        if result.get("deleted"):
            self.change("globus_group_deleted", name, gid, {"name": name}, None)
        if result.get("updated_fields"):
            self.change("globus_group_updated", name, gid, None, {"fields": result["updated_fields"]})
        for action, identities in sorted((result.get("actions") or {}).items()):
            for identity in identities or []:
                self.change("globus_group_member_" + action, name, identity, None, None)
        self._errors("group", result)

    def _globus_directory(self, result):
        path = result.get("path")
        for rule in result.get("added_rules") or []:
            self.change("globus_acl_added", path, rule.get("principal"), None, _pick(rule, ("principal_type", "permissions", "id")))
        for rule in result.get("deleted_rules") or []:
            self.change("globus_acl_deleted", path, rule.get("principal"), _pick(rule, ("principal_type", "permissions", "id")), None)
        for folder in result.get("created_directories") or []:
            self.change("globus_directory_created", folder, result.get("collection"), None, None)

    def _aps_dm_experiment(self, result):
        if not result.get("changed"):
            return
        name = (result.get("experiment") or {}).get("name")
        for step in result.get("plan") or []:
            if isinstance(step, dict) and step.get("action"):
                self.change("dm_" + step["action"], name, step.get("username") or step.get("directory"), None, None)
        for user in result.get("emailed") or []:
            self.emails += 1
            self.change("email_sent", name, user, None, None)
