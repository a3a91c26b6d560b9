# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Globus group members -> local POSIX users and groups (gosync). Private to sciops.datasync: not a public API.

Observe (Globus members, local databases, the state file) -> plan (pure functions in
this file, unit tested) -> apply (``PosixAccounts`` calls, hooks, state saves).

The state file remembers, per Globus identity id, the local name and the uid handed
out, and per Globus group id the local name and gid. Ids are written to the state
*before* an account is created, so a run killed at any point is finished by the next
one with the same ids; a departed user's uid stays in the state and is never reused.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
import time
from collections import namedtuple

from ansible_collections.sciops.datasync.plugins.module_utils._accounts import (
    GroupSpec, UserSpec, clean_gecos, group_line, passwd_line, PasswdEntry, GroupEntry,
)
from ansible_collections.sciops.datasync.plugins.module_utils._names import path_component_problem, posix_name_problem

STATE_SCHEMA = "sciops.datasync.identity_sync"
STATE_VERSION = 1
ACTIVE = "active"
CLIENT_DOMAIN = "@clients.auth.globus.org"
NEVER_ADOPTED = frozenset(["root"])
GROUP_NAME = re.compile(r"^[A-Za-z_@][A-Za-z0-9_.@-]*$")
_PLACEHOLDER = re.compile(r"\{(name|last|first|id)\}")

Member = namedtuple("Member", ["identity_id", "username", "full_name", "email", "status", "role"])
GlobusGroupDoc = namedtuple("GlobusGroupDoc", ["id", "name", "parent_id", "description", "members"])


class SyncError(Exception):
    """A setting or a state that stops the whole run."""


def empty_state():
    return {"users": {}, "groups": {}, "uid_next": None, "gid_next": None}


# ---------------------------------------------------------------------------------------
# names
# ---------------------------------------------------------------------------------------
def user_name_problem(name):
    problem = posix_name_problem(name, "local user name")
    if problem:
        return problem
    if name.endswith("$"):
        return "local user name %r ends with '$'" % name
    return None


def group_name_problem(name, what="local group name"):
    problem = path_component_problem(name, what)
    if problem:
        return problem
    if len(name) > 32:
        return "%s %r is longer than 32 characters" % (what, name)
    if not GROUP_NAME.match(name):
        return "%s %r may only hold letters, digits, '_', '-', '.', '@' and not start with a digit" % (what, name)
    return None


class UsernameRules(object):
    """Globus username -> local name, without eval.

    ``overrides`` maps a Globus username or identity id to a local name; otherwise the
    domain after the last ``@`` must be in ``domains`` (case-insensitive) and is
    stripped, and the rest is lower-cased when ``lowercase``.
    """

    def __init__(self, domains=(), overrides=None, lowercase=True):
        self.domains = set(d.lower() for d in domains)
        self.overrides = dict((str(k).lower(), v) for k, v in (overrides or {}).items())
        self.lowercase = lowercase

    def map(self, username, identity_id=None):
        """Return (local_name, None) or (None, reason)."""
        if not isinstance(username, str) or not username:
            return None, "Globus username %r is empty" % (username,)
        override = self.overrides.get(username.lower()) or (identity_id and self.overrides.get(str(identity_id).lower()))
        if override:
            return (None, user_name_problem(override)) if user_name_problem(override) else (override, None)
        if "@" not in username:
            return None, "Globus username %r has no identity-provider domain" % username
        local, domain = username.rsplit("@", 1)
        if domain.lower() not in self.domains:
            return None, "Globus username %r: domain %r is not on the allowed list" % (username, domain)
        if self.lowercase:
            local = local.lower()
        problem = user_name_problem(local)
        if problem:
            return None, "Globus username %r is refused: %s" % (username, problem)
        return local, None


def _pattern_matches(pattern, text):
    if len(pattern) >= 2 and pattern.startswith("/") and pattern.endswith("/"):
        try:
            return re.search(pattern[1:-1], text, re.IGNORECASE) is not None
        except re.error:
            return False
    if any(ch in pattern for ch in "*?["):
        return fnmatch.fnmatchcase(text.lower(), pattern.lower())
    return pattern.lower() == text.lower()


def pattern_problem(pattern):
    if len(pattern) >= 2 and pattern.startswith("/") and pattern.endswith("/"):
        try:
            re.compile(pattern[1:-1])
        except re.error as exc:
            return "filter %r is not a valid regular expression: %s" % (pattern, exc)
    return None


def group_selected(name, include=(), exclude=()):
    """gosync filter semantics: ``/re/`` regex, globs, case-insensitive literals, ``!`` negates.

    A group is selected when it matches some positive ``include`` pattern (or there is
    none), matches no negated ``include`` pattern and no ``exclude`` pattern.
    """
    positive = [p for p in include if not p.startswith("!")]
    negative = [p[1:] for p in include if p.startswith("!")] + list(exclude)
    if positive and not any(_pattern_matches(p, name) for p in positive):
        return False
    return not any(_pattern_matches(p, name) for p in negative)


class GroupNameRules(object):
    """Globus group name -> local group name from templates, without eval.

    ``rules`` is a list of ``{match, template}`` (first match wins, ``match`` as in
    filters); ``template`` is used otherwise. Placeholders: ``{name}`` (the Globus name),
    ``{last}`` / ``{first}`` (its last / first dotted part), ``{id}``. Then each
    ``replace`` pair is applied and the result is lower-cased when ``lowercase``.
    ``overrides`` maps a Globus group name or id to a local name.
    """

    def __init__(self, template="{name}", rules=(), replace=None, lowercase=True, overrides=None):
        self.template = template
        self.rules = list(rules or [])
        self.replace = dict(replace if replace is not None else {".": "-"})
        self.lowercase = lowercase
        self.overrides = dict((str(k).lower(), v) for k, v in (overrides or {}).items())

    def map(self, globus_name, group_id=""):
        override = self.overrides.get(str(globus_name).lower()) or self.overrides.get(str(group_id).lower())
        if override:
            problem = group_name_problem(override)
            return (None, problem) if problem else (override, None)
        problem = path_component_problem(globus_name, "Globus group name", 255)
        if problem:
            return None, problem
        template = self.template
        for rule in self.rules:
            if _pattern_matches(rule.get("match", ""), globus_name):
                template = rule.get("template", template)
                break
        parts = globus_name.split(".")
        values = {"name": globus_name, "last": parts[-1], "first": parts[0], "id": str(group_id)}
        local = _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)
        for old, new in self.replace.items():
            local = local.replace(old, new)
        if self.lowercase:
            local = local.lower()
        problem = group_name_problem(local)
        if problem:
            return None, "Globus group %r is refused: %s" % (globus_name, problem)
        return local, None


# ---------------------------------------------------------------------------------------
# ids
# ---------------------------------------------------------------------------------------
def allocate_id(low, high, taken, start=None):
    """The first id in [low, high] not in ``taken``, scanning from ``start`` and wrapping once."""
    start = low if start is None or start < low or start > high else start
    candidate = start
    while candidate <= high:
        if candidate not in taken:
            return candidate
        candidate += 1
    candidate = low
    while candidate < start:
        if candidate not in taken:
            return candidate
        candidate += 1
    raise SyncError("no free id left in %d..%d" % (low, high))


class _Union(object):
    """Membership in any of several sets, without copying them."""

    def __init__(self, *sets):
        self.sets = sets

    def __contains__(self, item):
        return any(item in s for s in self.sets)


def fingerprint(member):
    blob = json.dumps([member.username, member.full_name or "", member.email or ""], sort_keys=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def state_uids(state):
    return set(r["uid"] for r in state["users"].values() if r.get("uid") is not None)


def state_gids(state):
    gids = set(r["gid"] for r in state["groups"].values() if r.get("gid") is not None)
    gids.update(r["gid"] for r in state["users"].values() if r.get("private_group") and r.get("gid") is not None)
    return gids


# ---------------------------------------------------------------------------------------
# user plan
# ---------------------------------------------------------------------------------------
UserOptions = namedtuple("UserOptions", [
    "uid_min", "uid_max", "primary_group", "home_root", "shell", "departed", "adopt_existing", "create_home",
])


def _who(member):
    return {"globus_username": member.username, "identity_id": member.identity_id}


def _selected(only, local, member):
    if not only:
        return True
    keys = set(o.lower() for o in only)
    return (local or "").lower() in keys or (member.username or "").lower() in keys or member.identity_id.lower() in keys


def plan_users(members, state, db, rules, options, mode="all", only=(), force=False, complete=True, absent=False):
    """Compute what to do with local users. Pure: reads its arguments, returns a plan dict.

    ``members`` are the active Globus members (Member tuples); ``complete`` says the
    list is the whole membership (departure is only judged on a complete list).
    ``absent`` (gosync deluser) removes the users named in ``only``.
    """
    plan = {"create": [], "update": [], "lock": [], "unlock": [], "remove": [], "adopt": [], "resume": [],
            "hooks": [], "skipped": [], "errors": []}
    users = state["users"]
    name_owner = dict((r["name"], iid) for iid, r in users.items())
    taken_uids = set(db.uids) | state_uids(state)
    taken_gids = set(db.gids) | state_gids(state)
    next_uid = state.get("uid_next")
    active_ids = set()
    by_name = {}
    for member in sorted(members, key=lambda m: (m.username or "", m.identity_id)):
        record = users.get(member.identity_id)
        if record is not None:
            local, problem = record["name"], None
        else:
            local, problem = rules.map(member.username, member.identity_id)
        if not _selected(only, local, member):
            active_ids.add(member.identity_id)
            continue
        if record is None and (member.username or "").lower().endswith(CLIENT_DOMAIN):
            plan["skipped"].append(dict(_who(member), reason="%s is a Globus app (client), not a person" % member.username))
            continue
        if problem:
            plan["errors"].append(dict(_who(member), reason=problem))
            continue
        active_ids.add(member.identity_id)
        by_name.setdefault(local, []).append((member, record))

    if absent:
        by_name = {}
    for local in sorted(by_name):
        claims = by_name[local]
        owner = name_owner.get(local)
        if len(claims) > 1:
            keep = [c for c in claims if c[0].identity_id == owner]
            others = [c[0].username for c in claims]
            for member, record in claims:
                if keep and member.identity_id == owner:
                    continue
                plan["errors"].append(dict(_who(member), name=local, reason="%s maps to local name %r like %s; add an override"
                                           % (member.username, local, ", ".join(o for o in others if o != member.username))))
            claims = keep
        for member, record in claims:
            _plan_one_user(plan, member, record, local, owner, state, db, options, mode, force, taken_uids, taken_gids, next_uid)
            if plan["create"] and plan["create"][-1]["identity_id"] == member.identity_id and record is None:
                next_uid = plan["create"][-1]["uid"] + 1

    if mode in ("updated", "all") or absent:
        for identity_id in sorted(users, key=lambda i: users[i]["name"]):
            record = users[identity_id]
            if absent:
                if not only or record["name"].lower() not in set(o.lower() for o in only):
                    continue
            elif identity_id in active_ids or not complete:
                continue
            elif only and record["name"].lower() not in set(o.lower() for o in only):
                continue
            _plan_departed(plan, identity_id, record, db, "remove" if absent else options.departed)
    plan["uid_next"] = next_uid
    return plan


def _item(member, local, record=None, **extra):
    item = dict(_who(member), name=local)
    if record:
        item.update(uid=record["uid"], gid=record["gid"])
    item.update(extra)
    return item


def _plan_one_user(plan, member, record, local, owner, state, db, options, mode, force, taken_uids, taken_gids, next_uid):
    entry = db.users.get(local)
    want_new = mode in ("new", "all")
    want_update = mode in ("updated", "all")
    gecos = clean_gecos(member.full_name or "")
    if record is None:
        if owner is not None:
            plan["errors"].append(_item(member, local, reason="local name %r is already provisioned for another identity" % local))
            return
        if not want_new:
            return
        if local in NEVER_ADOPTED:
            plan["skipped"].append(_item(member, local, uid=entry.uid if entry else None,
                                         reason="%r is a reserved system name; never created nor adopted" % local))
            return
        if entry is not None:
            if options.adopt_existing and local not in NEVER_ADOPTED and entry.uid != 0:
                plan["adopt"].append(_item(member, local, uid=entry.uid, gid=entry.gid, home=entry.home, gecos=entry.gecos,
                                           fingerprint=fingerprint(member), full_name=member.full_name, email=member.email))
            else:
                plan["skipped"].append(_item(member, local, uid=entry.uid, reason="a local account %r (uid %d) exists that this module did not "
                                             "create; it is not adopted (adopt_existing)" % (local, entry.uid)))
            return
        if options.primary_group:
            group = db.groups.get(options.primary_group)
            if group is None:
                plan["errors"].append(_item(member, local, reason="primary group %r does not exist" % options.primary_group))
                return
            if local in db.groups:
                plan["skipped"].append(_item(member, local, reason="a local group %r exists; not touched" % local))
                return
            uid = allocate_id(options.uid_min, options.uid_max, taken_uids, next_uid)
            gid, group_name, private = group.gid, group.name, False
        else:
            if local in db.groups:
                plan["skipped"].append(_item(member, local, reason="a local group %r exists that this module did not create" % local))
                return
            uid = allocate_id(options.uid_min, options.uid_max, _Union(taken_uids, taken_gids), next_uid)
            gid, group_name, private = uid, local, True
        taken_uids.add(uid)
        taken_gids.add(gid)
        plan["create"].append(_item(member, local, uid=uid, gid=gid, group=group_name, private_group=private, gecos=gecos,
                                    home=os.path.join(options.home_root, local), shell=options.shell,
                                    fingerprint=fingerprint(member), full_name=member.full_name, email=member.email))
        return
    # known identity
    status = record.get("status")
    if entry is None:
        if status == "pending" or status == "removed" or want_new:
            if not want_new and status != "pending":
                return
            if record["uid"] in db.uids:
                plan["errors"].append(_item(member, local, record, reason="uid %d of %r is now used by local account %r"
                                            % (record["uid"], local, db.uids[record["uid"]])))
                return
            plan["create"].append(_item(member, local, record, group=record.get("group") or local,
                                        private_group=bool(record.get("private_group")), gecos=gecos,
                                        home=record.get("home") or os.path.join(options.home_root, local),
                                        shell=record.get("shell") or options.shell, fingerprint=fingerprint(member),
                                        full_name=member.full_name, email=member.email))
        else:
            plan["errors"].append(_item(member, local, record, reason="account %r is in the state but missing locally" % local))
        return
    if entry.uid != record["uid"]:
        plan["errors"].append(_item(member, local, record, reason="local account %r has uid %d, the state says %d; not touched"
                                    % (local, entry.uid, record["uid"])))
        return
    if status == "pending":
        plan["resume"].append(_item(member, local, record, home=entry.home, gecos=gecos, fingerprint=fingerprint(member),
                                    full_name=member.full_name, email=member.email))
        return
    if not want_update:
        if record.get("hooks_pending"):
            plan["hooks"].append(_item(member, local, record, action=record["hooks_pending"], home=entry.home,
                                       full_name=member.full_name, email=member.email))
        return
    changes = {}
    if entry.gecos != gecos:
        changes["gecos"] = gecos
    if status == "locked":
        plan["unlock"].append(_item(member, local, record, shell=record.get("shell") or options.shell, gecos=gecos,
                                    before=passwd_line(entry), fingerprint=fingerprint(member), home=entry.home,
                                    full_name=member.full_name, email=member.email, changes=changes))
        return
    if changes or force or record.get("fingerprint") != fingerprint(member):
        after = entry._replace(**changes)
        plan["update"].append(_item(member, local, record, changes=changes, before=passwd_line(entry), after=passwd_line(after),
                                    fingerprint=fingerprint(member), home=entry.home, full_name=member.full_name,
                                    email=member.email))
    elif record.get("hooks_pending"):
        plan["hooks"].append(_item(member, local, record, action=record["hooks_pending"], home=entry.home,
                                   full_name=member.full_name, email=member.email))


def _plan_departed(plan, identity_id, record, db, departed):
    status = record.get("status")
    entry = db.users.get(record["name"])
    who = {"globus_username": record.get("globus_username"), "identity_id": identity_id, "name": record["name"],
           "uid": record["uid"], "gid": record["gid"]}
    if status == "removed" or departed == "keep":
        return
    if entry is None or entry.uid != record["uid"]:
        if status == "pending":
            plan["remove"].append(dict(who, account=False))
        return
    if departed == "remove":
        plan["remove"].append(dict(who, account=True, before=passwd_line(entry)))
    elif status != "locked" or not db.user_locked(record["name"]):
        plan["lock"].append(dict(who, before=passwd_line(entry), home=entry.home, full_name=record.get("full_name"),
                                 email=record.get("email")))


def user_plan_changed(plan):
    return any(plan[k] for k in ("create", "update", "lock", "unlock", "remove", "adopt", "resume", "hooks"))


def user_plan_diff(plan, options):
    before, after = [], []
    for item in plan["create"]:
        after.append(passwd_line(PasswdEntry(item["name"], "x", item["uid"], item["gid"], item["gecos"], item["home"], item["shell"])))
    for item in plan["update"]:
        before.append(item["before"])
        after.append(item["after"])
    for item in plan["lock"]:
        before.append(item["before"])
        fields = item["before"].split(":")
        fields[6] = "(locked, expired) " + fields[6]
        after.append(":".join(fields))
    for item in plan["unlock"]:
        before.append(item["before"] + " (locked, expired)")
        fields = item["before"].split(":")
        fields[4], fields[6] = item["gecos"], item["shell"]
        after.append(":".join(fields))
    for item in plan["remove"]:
        if item.get("before"):
            before.append(item["before"])
    return {"before": "\n".join(before) + ("\n" if before else ""), "after": "\n".join(after) + ("\n" if after else ""),
            "before_header": "passwd", "after_header": "passwd"}


# ---------------------------------------------------------------------------------------
# group plan
# ---------------------------------------------------------------------------------------
GroupOptions = namedtuple("GroupOptions", ["gid_min", "gid_max", "membership", "departed", "adopt_existing"])


def plan_groups(groups, failed, state, db, rules, options, include=(), exclude=(), complete=True):
    """Globus subgroups -> local groups. ``groups`` are GlobusGroupDoc with active members.

    ``failed`` maps Globus group ids that could not be read to a reason: they are
    reported and left alone (never treated as gone).
    """
    plan = {"create": [], "rename": [], "members": [], "remove": [], "skipped": [], "errors": [], "hooks": []}
    local_user = dict((iid, r["name"]) for iid, r in state["users"].items()
                      if r.get("status") == ACTIVE and r["name"] in db.users and db.users[r["name"]].uid == r["uid"])
    records = state["groups"]
    name_owner = dict((r["name"], gid) for gid, r in records.items())
    taken = set(db.gids) | state_gids(state) | set(db.uids) | state_uids(state)
    next_gid = state.get("gid_next")
    seen = set()
    claims = {}
    for group_id, reason in sorted(failed.items()):
        seen.add(group_id)
        plan["errors"].append({"globus_group_id": group_id, "name": (records.get(group_id) or {}).get("name"), "reason": reason})
    for doc in sorted(groups, key=lambda g: (g.name, g.id)):
        seen.add(doc.id)
        if not group_selected(doc.name, include, exclude):
            continue
        local, problem = rules.map(doc.name, doc.id)
        if problem:
            plan["errors"].append({"globus_group": doc.name, "globus_group_id": doc.id, "reason": problem})
            continue
        claims.setdefault(local, []).append(doc)
    for local in sorted(claims):
        docs = claims[local]
        owner = name_owner.get(local)
        if len(docs) > 1:
            names = [d.name for d in docs]
            for doc in docs:
                if doc.id != owner:
                    plan["errors"].append({"globus_group": doc.name, "globus_group_id": doc.id, "name": local,
                                           "reason": "maps to local group %r like %s; add an override"
                                           % (local, ", ".join(n for n in names if n != doc.name))})
            docs = [d for d in docs if d.id == owner]
        for doc in docs:
            members = sorted(set(local_user[m.identity_id] for m in doc.members if m.identity_id in local_user))
            next_gid = _plan_one_group(plan, doc, local, owner, records.get(doc.id), members, db, options, taken, next_gid)
    if complete and options.departed == "remove":
        for group_id in sorted(records, key=lambda g: records[g]["name"]):
            record = records[group_id]
            if group_id in seen or record.get("status") == "removed":
                continue
            entry = db.groups.get(record["name"])
            if entry is not None and entry.gid == record["gid"]:
                plan["remove"].append({"globus_group_id": group_id, "name": record["name"], "gid": record["gid"],
                                       "members": entry.members, "before": group_line(entry)})
    plan["gid_next"] = next_gid
    return plan


def _plan_one_group(plan, doc, local, owner, record, members, db, options, taken, next_gid):
    base = {"globus_group": doc.name, "globus_group_id": doc.id, "name": local}
    if record is None:
        if owner is not None:
            plan["errors"].append(dict(base, reason="local group %r is already provisioned for another Globus group" % local))
            return next_gid
        entry = db.groups.get(local)
        if entry is not None:
            if not options.adopt_existing or entry.gid == 0:
                plan["skipped"].append(dict(base, gid=entry.gid, reason="a local group %r (gid %d) exists that this module did not create; "
                                            "it is not adopted (adopt_existing)" % (local, entry.gid)))
                return next_gid
            plan["create"].append(dict(base, gid=entry.gid, members=members, adopt=True))
            _plan_members(plan, base, entry, members, options)
            return next_gid
        gid = allocate_id(options.gid_min, options.gid_max, taken, next_gid)
        taken.add(gid)
        plan["create"].append(dict(base, gid=gid, members=members))
        return gid + 1
    gid = record["gid"]
    base["gid"] = gid
    current = db.groups.get(record["name"])
    if current is None or current.gid != gid:
        if current is not None:
            plan["errors"].append(dict(base, reason="local group %r has gid %d, the state says %d; not touched"
                                       % (record["name"], current.gid, gid)))
            return next_gid
        holder = db.gids.get(gid)
        if holder is not None and holder != local:
            plan["errors"].append(dict(base, reason="gid %d of %r is now used by local group %r" % (gid, local, holder)))
            return next_gid
        if holder == local:
            current = db.groups[local]
        else:
            plan["create"].append(dict(base, members=members, resume=record.get("status") == "pending"))
            return next_gid
    if record["name"] != local:
        if local in db.groups:
            plan["errors"].append(dict(base, reason="cannot rename %r to %r: a local group %r exists" % (record["name"], local, local)))
            return next_gid
        plan["rename"].append(dict(base, old_name=record["name"], before=group_line(current),
                                   after=group_line(current._replace(name=local))))
        current = current._replace(name=local)
    elif record.get("status") == "pending":
        plan["create"].append(dict(base, members=members, resume=True))
        return next_gid
    _plan_members(plan, base, current, members, options)
    if record.get("hooks_pending") and not any(i["globus_group_id"] == doc.id for i in plan["members"] + plan["rename"]):
        plan["hooks"].append(dict(base, action=record["hooks_pending"], members=members))
    return next_gid


def _plan_members(plan, base, entry, members, options):
    current = list(entry.members)
    if options.membership == "exact":
        wanted = members
        if sorted(set(current)) == wanted and len(current) == len(wanted):
            return
    else:
        missing = [m for m in members if m not in current]
        if not missing:
            return
        wanted = current + missing
    plan["members"].append(dict(base, gid=entry.gid, members=wanted, added=sorted(set(wanted) - set(current)),
                                removed=sorted(set(current) - set(wanted)), before=group_line(entry),
                                after=group_line(GroupEntry(entry.name, entry.password, entry.gid, wanted))))


def group_plan_changed(plan):
    return any(plan[k] for k in ("create", "rename", "members", "remove", "hooks"))


def group_plan_diff(plan):
    before, after = [], []
    for item in plan["create"]:
        if not item.get("adopt"):
            after.append("%s:x:%d:%s" % (item["name"], item["gid"], ",".join(item["members"])))
    for item in plan["rename"] + plan["members"]:
        before.append(item["before"])
        after.append(item["after"])
    for item in plan["remove"]:
        before.append(item["before"])
    return {"before": "\n".join(before) + ("\n" if before else ""), "after": "\n".join(after) + ("\n" if after else ""),
            "before_header": "group", "after_header": "group"}


# ---------------------------------------------------------------------------------------
# hooks
# ---------------------------------------------------------------------------------------
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
    return dict((k, _env_value(v)) for k, v in {
        "DATASYNC_ACTION": action, "DATASYNC_USER": item["name"], "DATASYNC_UID": item["uid"], "DATASYNC_GID": item["gid"],
        "DATASYNC_HOME": item.get("home"), "DATASYNC_EMAIL": item.get("email"), "DATASYNC_FULL_NAME": item.get("full_name"),
        "DATASYNC_GLOBUS_ID": item.get("identity_id"), "DATASYNC_GLOBUS_USERNAME": item.get("globus_username"),
        "DATASYNC_ROOT": root, "DATASYNC_PASSWD_LINE": line,
    }.items())


def group_hook_env(action, item, root):
    return dict((k, _env_value(v)) for k, v in {
        "DATASYNC_ACTION": action, "DATASYNC_GROUP": item["name"], "DATASYNC_GID": item.get("gid"),
        "DATASYNC_GLOBUS_GROUP_ID": item.get("globus_group_id"), "DATASYNC_GLOBUS_GROUP": item.get("globus_group"),
        "DATASYNC_ROOT": root, "DATASYNC_MEMBERS": ",".join(item.get("members") or []),
    }.items())


def run_hooks(runner, hooks, argv_tail, env, stdin=None):
    """Run each hook as argv (never a shell); returns None or the first failure's reason."""
    for hook in hooks:
        result = runner.run([hook] + list(argv_tail), data=stdin, env=env)
        if result.rc != 0:
            tail = (result.stderr or result.stdout or "").strip().splitlines()[-3:]
            return "hook %s failed (rc=%d): %s" % (os.path.basename(hook), result.rc, " | ".join(tail))
    return None


def now_iso():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


# ---------------------------------------------------------------------------------------
# apply
# ---------------------------------------------------------------------------------------
def _public(item, *keys):
    keys = keys or ("name", "uid", "gid", "globus_username", "identity_id")
    return dict((k, item.get(k)) for k in keys if item.get(k) is not None)


def apply_user_plan(plan, state, save, backend, db, runner, hooks_dir=None, skeleton=None, create_home=True):
    """Carry out a user plan. ``save(state)`` persists the state (write-ahead before creating)."""
    result = dict((k, []) for k in ("created", "updated", "locked", "removed", "adopted", "skipped", "errors"))
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
        try:
            if item in plan["unlock"]:
                backend.unlock_user(item["name"], item["shell"])
            if item.get("changes", {}).get("gecos") is not None:
                backend.modify_user(item["name"], gecos=item["changes"]["gecos"])
        except Exception as exc:  # AccountError; keep going with the others
            result["errors"].append(dict(_public(item), reason=str(exc)))
            continue
        remember(item, ACTIVE, updated=stamp)
        result["updated"].append(_public(item))
        hook_jobs.append(("updated", item))
    for item in plan["lock"]:
        try:
            backend.lock_user(item["name"])
        except Exception as exc:
            result["errors"].append(dict(_public(item), reason=str(exc)))
            continue
        users[item["identity_id"]].update(status="locked", locked=stamp)
        result["locked"].append(_public(item))
        hook_jobs.append(("locked", item))
    for item in plan["remove"]:
        try:
            if item.get("account"):
                backend.remove_user(item["name"])
        except Exception as exc:
            result["errors"].append(dict(_public(item), reason=str(exc)))
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
            env_item = dict(record, **dict((k, v) for k, v in item.items() if v is not None))
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
    result = dict((k, []) for k in ("created", "renamed", "updated", "removed", "skipped", "errors"))
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
        if item.get("resume") and item["members"]:
            try:
                backend.set_group_members(item["name"], item["members"])
            except Exception as exc:
                result["errors"].append(dict(_public(item, "name", "gid", "globus_group_id"), reason=str(exc)))
                continue
        records[item["globus_group_id"]].update(status=ACTIVE, created=stamp)
        result["created"].append(_public(item, "name", "gid", "globus_group", "globus_group_id", "members"))
        hook_jobs.append(("created", item))
    for item in plan["rename"]:
        try:
            backend.rename_group(item["old_name"], item["name"])
        except Exception as exc:
            result["errors"].append(dict(_public(item, "name", "gid", "globus_group_id"), reason=str(exc)))
            continue
        records[item["globus_group_id"]].update(name=item["name"], globus_group=item["globus_group"], renamed=stamp)
        result["renamed"].append(_public(item, "old_name", "name", "gid", "globus_group", "globus_group_id"))
    renamed_ids = set(i["globus_group_id"] for i in result["renamed"])
    for item in plan["members"]:
        try:
            backend.set_group_members(item["name"], item["members"])
        except Exception as exc:
            result["errors"].append(dict(_public(item, "name", "gid", "globus_group_id"), reason=str(exc)))
            continue
        result["updated"].append(_public(item, "name", "gid", "globus_group", "globus_group_id", "added", "removed"))
        hook_jobs.append(("updated", item))
    for item in plan["rename"]:
        if item["globus_group_id"] in renamed_ids and not any(j[1]["globus_group_id"] == item["globus_group_id"] for j in hook_jobs):
            hook_jobs.append(("updated", dict(item, members=None)))
    for item in plan["remove"]:
        try:
            backend.remove_group(item["name"])
        except Exception as exc:
            result["errors"].append(dict(_public(item, "name", "gid", "globus_group_id"), reason=str(exc)))
            continue
        records[item["globus_group_id"]].update(status="removed", removed=stamp)
        result["removed"].append(_public(item, "name", "gid", "globus_group_id"))
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
                result["errors"].append(dict(_public(item, "name", "gid", "globus_group_id"), reason=problem, hook_action=action))
            elif record is not None:
                record.pop("hooks_pending", None)
        save(state)
    return result


# ---------------------------------------------------------------------------------------
# Globus reads (clients are duck-typed globus_sdk GroupsClient / AuthClient)
# ---------------------------------------------------------------------------------------
def api_problem(exc):
    """A one-line reason for a failed Globus call, with the service's code and request id."""
    try:
        from ansible_collections.sciops.datasync.plugins.module_utils import _globus  # pylint: disable=import-outside-toplevel

        return _globus.describe(_globus.error_result(exc))
    except ImportError:
        pass
    status = getattr(exc, "http_status", None)
    if status is None:
        return "%s: %s" % (type(exc).__name__, exc)
    code = getattr(exc, "code", None)
    message = getattr(exc, "message", None) or str(exc)
    rid = getattr(exc, "request_id", None)
    return "HTTP %s %s: %s%s" % (status, code or "", message, " (request %s)" % rid if rid else "")


def _data(response):
    return getattr(response, "data", response)


def get_group_doc(groups, group_id, children=False):
    include = ["memberships"] + (["child_ids"] if children else [])
    return _data(groups.get_group(group_id, include=include))


def _pool_map(func, items, workers):
    """[(item, result, exc)] with at most ``workers`` calls in flight."""
    items = list(items)
    if workers <= 1 or len(items) <= 1:
        out = []
        for item in items:
            try:
                out.append((item, func(item), None))
            except Exception as exc:  # pylint: disable=broad-except
                out.append((item, None, exc))
        return out
    from concurrent.futures import ThreadPoolExecutor  # pylint: disable=import-outside-toplevel

    def safe(item):
        try:
            return item, func(item), None
        except Exception as exc:  # pylint: disable=broad-except
            return item, None, exc

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(safe, items))


def fetch_group_tree(groups, root_id, recursive=False, workers=8, root_members=True):
    """The root group and its subgroups (children; all descendants when ``recursive``).

    Returns (root_doc, {id: doc}, {id: reason}); the root failing raises. With
    ``root_members`` false the root's (possibly huge) member list is not read.
    """
    if root_members:
        root = get_group_doc(groups, root_id, children=True)
    else:
        root = _data(groups.get_group(root_id, include=["child_ids"]))
    docs, failed = {}, {}
    frontier = list(root.get("child_ids") or [])
    seen = set([root_id])
    while frontier:
        batch = [g for g in frontier if g not in seen]
        seen.update(batch)
        frontier = []
        for group_id, doc, exc in _pool_map(lambda g: get_group_doc(groups, g, children=recursive), batch, workers):
            if exc is not None:
                failed[group_id] = api_problem(exc)
                continue
            docs[group_id] = doc
            if recursive:
                frontier.extend(doc.get("child_ids") or [])
    return root, docs, failed


def lookup_identities(auth, identity_ids, workers=8, chunk=100):
    """{identity id: identity doc} from Auth, ``chunk`` ids per call."""
    identity_ids = sorted(set(identity_ids))
    chunks = [identity_ids[i:i + chunk] for i in range(0, len(identity_ids), chunk)]
    found = {}
    for part, response, exc in _pool_map(lambda ids_: _data(auth.get_identities(ids=ids_)), chunks, workers):
        if exc is not None:
            raise exc
        for ident in response.get("identities", []):
            found[ident["id"]] = ident
    return found


def active_members(doc, identities=None):
    out = []
    for membership in doc.get("memberships") or []:
        if membership.get("status") != ACTIVE:
            continue
        ident = (identities or {}).get(membership["identity_id"], {})
        out.append(Member(membership["identity_id"], ident.get("username") or membership.get("username"),
                          ident.get("name"), ident.get("email"), ACTIVE, membership.get("role")))
    return out


def to_group_doc(doc, identities=None):
    return GlobusGroupDoc(doc["id"], doc.get("name") or "", doc.get("parent_id"), doc.get("description") or "",
                          active_members(doc, identities))


# ---------------------------------------------------------------------------------------
# module glue (globus_user_sync, globus_group_sync)
# ---------------------------------------------------------------------------------------
STATE_DIR = "var/lib/sciops-datasync"


def globus_clients(module):
    """(GroupsClient, AuthClient) built by the collection's shared Globus options."""
    from ansible_collections.sciops.datasync.plugins.module_utils import _globus  # pylint: disable=import-outside-toplevel

    return _globus.groups_client(module), _globus.auth_client(module)


def default_paths(params):
    root = params.get("root") or "/"
    state_file = params.get("state_file") or os.path.join(root, STATE_DIR, "identity_sync.json")
    lock_file = params.get("lock_file") or os.path.join(root, STATE_DIR, "identity_sync.lock")
    return root, state_file, lock_file


def _load_state(module, path):
    from ansible_collections.sciops.datasync.plugins.module_utils._state import StateError, StateFile  # pylint: disable=import-outside-toplevel

    statefile = StateFile(path, STATE_SCHEMA, STATE_VERSION)
    try:
        state = statefile.load(default=empty_state())
    except StateError as exc:
        module.fail_json(msg=str(exc))
    for key, value in empty_state().items():
        state.setdefault(key, value)
    return statefile, state


def _locked(module, lock_file, body):
    """Run ``body()`` under the run lock; a busy lock with lock_wait false exits skipped."""
    from ansible_collections.sciops.datasync.plugins.module_utils._lock import LockBusy, RunLock  # pylint: disable=import-outside-toplevel

    params = module.params
    if module.check_mode and not os.path.isdir(os.path.dirname(lock_file) or "."):
        # Nothing has ever run here and check mode writes nothing: no lock folder to create.
        return body(RunLock(lock_file))
    lock = RunLock(lock_file, wait=params["lock_wait"], timeout=params["lock_timeout"])
    try:
        lock.acquire()
    except LockBusy as exc:
        if exc.timed_out:
            module.fail_json(msg=str(exc), holder_pid=exc.holder_pid, lock_file=lock_file)
        module.exit_json(changed=False, skipped=True, holder_pid=exc.holder_pid, lock_file=lock_file,
                         msg="not run: %s (lock_wait is false)" % exc)
    try:
        return body(lock)
    finally:
        lock.release()


def _preview_users(plan):
    result = {"created": [_public(i) for i in plan["create"] + plan["resume"]],
              "updated": [_public(i) for i in plan["update"] + plan["unlock"]],
              "locked": [_public(i) for i in plan["lock"]], "removed": [_public(i) for i in plan["remove"]],
              "adopted": [_public(i) for i in plan["adopt"]],
              "skipped": [_public(i, "name", "uid", "globus_username", "identity_id", "reason") for i in plan["skipped"]],
              "errors": [_public(i, "name", "globus_username", "identity_id", "reason") for i in plan["errors"]],
              "hooks_run": 0}
    return result


def run_user_sync_module(module, clients=None):
    clients = clients or globus_clients
    params = module.params
    root, state_file, lock_file = default_paths(params)
    if params["state"] == "absent" and not params["only"]:
        module.fail_json(msg="state=absent removes the users named in 'only'; 'only' is empty")
    if params["uid_min"] > params["uid_max"] or params["uid_min"] < 1:
        module.fail_json(msg="uid_min must be at least 1 and not above uid_max")
    rules = UsernameRules(params["domains"], params["username_overrides"], params["lowercase"])
    options = UserOptions(params["uid_min"], params["uid_max"], params["primary_group"], params["home_root"], params["shell"],
                          params["departed"], params["adopt_existing"], params["create_home"])

    def body(lock):
        from ansible_collections.sciops.datasync.plugins.module_utils._accounts import PosixAccounts  # pylint: disable=import-outside-toplevel
        from ansible_collections.sciops.datasync.plugins.module_utils._runner import CommandRunner  # pylint: disable=import-outside-toplevel

        statefile, state = _load_state(module, state_file)
        groups_client, auth_client = clients(module)
        failed = {}
        try:
            if params["include_subgroups"]:
                root_doc, docs, failed = fetch_group_tree(groups_client, params["root_group"], params["recursive"], params["concurrency"])
            else:
                root_doc, docs = get_group_doc(groups_client, params["root_group"]), {}
        except Exception as exc:  # pylint: disable=broad-except
            module.fail_json(msg="cannot read Globus group %s: %s" % (params["root_group"], api_problem(exc)))
        memberships = {}
        for doc in [root_doc] + [docs[k] for k in sorted(docs)]:
            for m in doc.get("memberships") or []:
                if m.get("status") == ACTIVE:
                    memberships.setdefault(m["identity_id"], m)
        wanted = list(memberships)
        if params["mode"] == "new" and not params["force"]:
            wanted = [i for i in wanted if i not in state["users"] or state["users"][i].get("status") == "pending"]
        try:
            identities = lookup_identities(auth_client, wanted, params["concurrency"]) if wanted else {}
        except Exception as exc:  # pylint: disable=broad-except
            module.fail_json(msg="cannot look up Globus identities: %s" % api_problem(exc))
        members = []
        for identity_id, m in sorted(memberships.items()):
            ident = identities.get(identity_id, {})
            record = state["users"].get(identity_id, {})
            members.append(Member(identity_id, ident.get("username") or m.get("username"),
                                  ident.get("name") if ident else record.get("full_name"),
                                  ident.get("email") if ident else record.get("email"), ACTIVE, m.get("role")))
        runner = CommandRunner(module)
        backend = PosixAccounts(runner, root, nologin_shell=params["nologin_shell"])
        if not module.check_mode:
            backend.ensure_databases()
        db = backend.read()
        plan = plan_users(members, state, db, rules, options, params["mode"], params["only"] or (), params["force"],
                          complete=not failed, absent=params["state"] == "absent")
        diff = user_plan_diff(plan, options)
        if module.check_mode:
            result = _preview_users(plan)
            changed = user_plan_changed(plan)
        else:
            result = apply_user_plan(plan, state, statefile.save, backend, db, runner, params["hooks_dir"], params["skeleton"],
                                     params["create_home"])
            changed = any(result[k] for k in ("created", "updated", "locked", "removed", "adopted")) or result["hooks_run"] > 0
        for group_id, reason in sorted(failed.items()):
            result["errors"].append({"globus_group_id": group_id, "reason": "subgroup not read (departures not judged): " + reason})
        result["skipped_users"] = result.pop("skipped")
        result.update(changed=changed, lock_waited=round(lock.waited, 3), state_file=state_file, members=len(members))
        if module._diff:
            result["diff"] = diff
        return result

    module.exit_json(**_locked(module, lock_file, body))


def _preview_groups(plan):
    keys = ("name", "gid", "globus_group", "globus_group_id")
    return {"created": [_public(i, *(keys + ("members",))) for i in plan["create"]],
            "renamed": [_public(i, *(keys + ("old_name",))) for i in plan["rename"]],
            "updated": [_public(i, *(keys + ("added", "removed"))) for i in plan["members"]],
            "removed": [_public(i, "name", "gid", "globus_group_id") for i in plan["remove"]],
            "skipped": [_public(i, *(keys + ("reason",))) for i in plan["skipped"]],
            "errors": [_public(i, *(keys + ("reason",))) for i in plan["errors"]],
            "hooks_run": 0}


def run_group_sync_module(module, clients=None):
    clients = clients or globus_clients
    params = module.params
    root, state_file, lock_file = default_paths(params)
    for pattern in (params["include"] or []) + (params["exclude"] or []):
        problem = pattern_problem(pattern.lstrip("!"))
        if problem:
            module.fail_json(msg=problem)
    if params["gid_min"] > params["gid_max"] or params["gid_min"] < 1:
        module.fail_json(msg="gid_min must be at least 1 and not above gid_max")
    rules = GroupNameRules(params["name_template"], params["name_rules"], params["name_replace"], params["name_lowercase"],
                           params["name_overrides"])
    options = GroupOptions(params["gid_min"], params["gid_max"], params["membership"], params["departed"], params["adopt_existing"])

    def body(lock):
        from ansible_collections.sciops.datasync.plugins.module_utils._accounts import PosixAccounts  # pylint: disable=import-outside-toplevel
        from ansible_collections.sciops.datasync.plugins.module_utils._runner import CommandRunner  # pylint: disable=import-outside-toplevel

        statefile, state = _load_state(module, state_file)
        groups_client = clients(module)[0]
        try:
            root_doc, docs, failed = fetch_group_tree(groups_client, params["root_group"], params["recursive"], params["concurrency"],
                                                      root_members=False)
        except Exception as exc:  # pylint: disable=broad-except
            module.fail_json(msg="cannot read Globus group %s: %s" % (params["root_group"], api_problem(exc)))
        runner = CommandRunner(module)
        backend = PosixAccounts(runner, root)
        if not module.check_mode:
            backend.ensure_databases()
        db = backend.read()
        plan = plan_groups([to_group_doc(docs[k]) for k in sorted(docs)], failed, state, db, rules, options,
                           params["include"] or (), params["exclude"] or (), complete=not failed)
        diff = group_plan_diff(plan)
        if module.check_mode:
            result = _preview_groups(plan)
            changed = group_plan_changed(plan)
        else:
            result = apply_group_plan(plan, state, statefile.save, backend, runner, params["hooks_dir"])
            changed = any(result[k] for k in ("created", "renamed", "updated", "removed")) or result["hooks_run"] > 0
        result["skipped_groups"] = result.pop("skipped")
        result.update(changed=changed, lock_waited=round(lock.waited, 3), state_file=state_file, groups=len(docs),
                      root_group_name=root_doc.get("name"))
        if module._diff:
            result["diff"] = diff
        return result

    module.exit_json(**_locked(module, lock_file, body))
