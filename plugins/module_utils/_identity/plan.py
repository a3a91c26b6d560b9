# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Identity sync: plan what to do with local users and groups. Private to sciops.datasync: not a public API.

Pure functions: they read the Globus members or groups, the state and the local
account databases, and return a plan (plain dicts) that _identity_apply carries out.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any, List, Optional, Set, Tuple

from ansible_collections.sciops.datasync.plugins.module_utils._identity.accounts import GroupEntry, PasswdEntry, clean_gecos, group_line, passwd_line
from ansible_collections.sciops.datasync.plugins.module_utils._globus.groups import ACTIVE, GlobusGroupDoc, Member
from ansible_collections.sciops.datasync.plugins.module_utils._identity.model import pending_hooks, state_gids, state_uids
from ansible_collections.sciops.datasync.plugins.module_utils._identity.names import (
    DEFAULT_DENIED_NAMES, allocate_id, ascii_lower, group_selected, name_denied)

CLIENT_DOMAIN = "@clients.auth.globus.org"
DEFAULT_MAX_DEPARTURES = {"count": 10, "percent": 10}


# With a directory backend the syncing host's own files still answer first (nsswitch "files" before the directory):
# a directory entry named like one of its accounts or groups would be a second account under one name there, unless
# it is the same account (adopt_existing: the directory entry gets the host account's uid and gid). The sync's own
# accounts are in the state, never new, so a move from local files keeps them.
HOST_NAME = "%r is a user or group in this host's own files; a directory entry of that name would be a second one here"


@dataclass(frozen=True)
class Reserved:
    """Ids never handed out although no account holds them: owners of existing homes and every id
    ever recorded in the id ledger (``ledger.IdLedger``), which survives the loss of the state."""

    uids: frozenset = frozenset()
    gids: frozenset = frozenset()


def departure_limit(limits, provisioned):
    """How many departures one run may apply: at most ``count`` and at most ``percent`` % of the
    ``provisioned`` records, but always at least one (one departure is never a mass departure)."""
    limits = dict(DEFAULT_MAX_DEPARTURES, **{k: v for k, v in (limits or {}).items() if v is not None})
    return max(1, min(int(limits["count"]), int(provisioned * float(limits["percent"]) / 100.0)))


def departure_problem(what, departing, provisioned, limits, way=""):
    """None, or why ``departing`` departures out of ``provisioned`` are too many to apply (the run must stop)."""
    limit = departure_limit(limits, provisioned)
    if departing <= limit:
        return None
    limits = dict(DEFAULT_MAX_DEPARTURES, **{k: v for k, v in (limits or {}).items() if v is not None})
    return ("refusing %d %s out of %d (max_departures: count %s, percent %s allows %d): nothing was changed. If Globus is "
            "right, raise max_departures (role variable gosync_max_departures) for one run%s; if not, check the app's role in "
            "the group and what Globus returned" % (departing, what, provisioned, limits["count"], limits["percent"], limit, way))


class _Union:
    """Membership in any of several sets, without copying them."""

    def __init__(self, *sets):
        self.sets = sets

    def __contains__(self, item):
        return any(item in s for s in self.sets)


def fingerprint(member):
    blob = json.dumps([member.username, member.full_name or "", member.email or ""], sort_keys=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class UserOptions:
    """How local accounts are made: the uid range, primary group (None: a private group each),
    home root and shell, what happens to departed members (keep, lock, remove), and
    whether a local account of the same name is adopted (only with a uid in ``adopt_uids``, the site's
    login.defs range intersected with uid_min..uid_max); ``denied`` names and globs are never
    created nor adopted; ``max_departures`` bounds the departures one run applies; ``host`` is the syncing
    host's own files (an ``AccountDatabase``) when the accounts go to a directory (``HOST_NAME``)."""

    uid_min: int
    uid_max: int
    primary_group: Optional[str]
    home_root: str
    shell: str
    departed: str
    adopt_existing: bool
    denied: Tuple[str, ...] = DEFAULT_DENIED_NAMES
    adopt_uids: Optional[Tuple[int, int]] = None
    max_departures: Any = None
    gecos_form: Any = None  # the backend's GECOS of a full name (None: clean_gecos; a directory keeps ASCII only)
    host: Any = None

    def gecos(self, full_name):
        return (self.gecos_form or clean_gecos)(full_name or "")


@dataclass(frozen=True)
class UserPlanSettings:
    """What one ``plan_users`` run is asked to do.

    ``rules`` maps Globus usernames to local names (``UsernameRules``); ``mode`` is
    new, updated or all; ``only`` limits the run to these local names, Globus usernames
    or identity ids; ``force`` updates accounts that look unchanged; ``complete`` says
    the member list is the whole membership (departures are only judged on a complete
    list); ``absent`` (gosync deluser) removes the users named in ``only``.
    """

    rules: Any
    options: UserOptions
    mode: str = "all"
    only: Tuple[str, ...] = ()
    force: bool = False
    complete: bool = True
    absent: bool = False


@dataclass(frozen=True)
class _UserClaim:
    """One Globus member claiming a local name: its state record (None if new) and the name's owner in the state."""

    member: Member
    record: Optional[dict]
    local: str
    owner: Optional[str]


class _UserIds:
    """The uids and gids taken so far in a plan, gathered when the first new user needs one (``taken()`` returns
    both sets), and where the next uid search starts."""

    def __init__(self, taken, next_uid):
        self._taken, self._sets, self.next_uid = taken, None, next_uid

    def _gathered(self):
        if self._sets is None:
            self._sets = self._taken()
        return self._sets

    @property
    def uids(self):
        return self._gathered()[0]

    @property
    def gids(self):
        return self._gathered()[1]


def _who(member):
    return {"globus_username": member.username, "identity_id": member.identity_id}


def _selected(only, local, member):
    if not only:
        return True
    keys = {ascii_lower(o) for o in only}
    return ascii_lower(local or "") in keys or ascii_lower(member.username or "") in keys or ascii_lower(member.identity_id) in keys


def _in(value, bounds):
    return bounds is None or bounds[0] <= value <= bounds[1]


def plan_users(members, state, db, settings, reserved=None):
    """Compute what to do with local users. Pure: reads its arguments, returns a plan dict.

    ``members`` are the active Globus members (Member tuples); ``settings`` is a
    ``UserPlanSettings``; ``reserved`` (``Reserved``) ids are never handed out. ``plan["refused"]``
    is set when more users would depart than ``max_departures`` allows: the caller must apply nothing.
    """
    plan = {"create": [], "update": [], "lock": [], "unlock": [], "remove": [], "adopt": [], "resume": [],
            "hooks": [], "skipped": [], "errors": [], "refused": None}
    users = state["users"]
    only, absent = settings.only, settings.absent
    reserved = reserved or Reserved()
    name_owner = {r["name"]: iid for iid, r in users.items()}
    ids = _UserIds(lambda: (set(db.uids) | state_uids(state) | set(reserved.uids), set(db.gids) | state_gids(state) | set(reserved.gids)),
                   state.get("uid_next"))
    active_ids = set()
    by_name = {}
    for member in sorted(members, key=lambda m: (m.username or "", m.identity_id)):
        record = users.get(member.identity_id)
        if record is not None:
            local, problem = record["name"], None
        else:
            local, problem = settings.rules.map(member.username, member.identity_id)
        if not _selected(only, local, member):
            active_ids.add(member.identity_id)
            continue
        if record is None and ascii_lower(member.username or "").endswith(CLIENT_DOMAIN):
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
            _plan_one_user(plan, _UserClaim(member, record, local, owner), db, settings, ids)

    if settings.mode in ("updated", "all") or absent:
        for identity_id in sorted(users, key=lambda i: users[i]["name"]):
            record = users[identity_id]
            if absent:
                if not only or ascii_lower(record["name"]) not in {ascii_lower(o) for o in only}:
                    continue
            elif identity_id in active_ids or not settings.complete:
                continue
            elif only and ascii_lower(record["name"]) not in {ascii_lower(o) for o in only}:
                continue
            _plan_departed(plan, identity_id, record, db, "remove" if absent else settings.options.departed)
    departing = len(plan["lock"]) + len([i for i in plan["remove"] if i.get("account") is True])
    if not absent and not only:
        provisioned = len([r for r in users.values() if r.get("status") in (ACTIVE, "locked")])
        plan["refused"] = departure_problem("user departures (lock/remove)", departing, provisioned, settings.options.max_departures,
                                            " or name the accounts with 'only'")
    plan["uid_next"] = ids.next_uid
    return plan


def _item(member, local, record=None, **extra):
    item = dict(_who(member), name=local)
    if record:
        item.update(uid=record["uid"], gid=record["gid"])
    item.update(extra)
    return item


def _plan_one_user(plan, claim, db, settings, ids):
    """Plan one member's claim on a local name: create, adopt, update, unlock, resume, hooks, or a reason not to."""
    entry = db.users.get(claim.local)
    if claim.record is None:
        if claim.owner is not None:
            plan["errors"].append(_item(claim.member, claim.local, reason="local name %r is already provisioned for another identity"
                                        % claim.local))
        elif settings.mode in ("new", "all"):
            _plan_new_user(plan, claim, entry, db, settings.options, ids)
        return
    _plan_known_user(plan, claim, entry, db, settings)


def _plan_new_user(plan, claim, entry, db, options, ids):
    member, local = claim.member, claim.local
    denied = name_denied(local, options.denied)
    if denied:
        plan["skipped"].append(_item(member, local, uid=entry.uid if entry else None,
                                     reason="%r is a privileged or reserved name (%s); never created nor adopted" % (local, denied)))
        return
    if _host_has(options, local):
        _plan_host_account(plan, member, local, entry, options)
        return
    if entry is not None:
        adopt_range = _intersect(options.adopt_uids, (options.uid_min, options.uid_max))
        if options.adopt_existing and entry.uid != 0 and entry.gid != 0 and _in(entry.uid, adopt_range):
            plan["adopt"].append(_adopted_item(member, local, entry))
        elif options.adopt_existing:
            plan["skipped"].append(_item(member, local, uid=entry.uid, reason="a local account %r (uid %d, gid %d) exists outside the "
                                         "site's uid range %d..%d (login.defs and uid_min/uid_max); a system account is never "
                                         "adopted" % ((local, entry.uid, entry.gid) + tuple(adopt_range or (0, -1)))))
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
        uid = allocate_id(options.uid_min, options.uid_max, ids.uids, ids.next_uid)
        gid, group_name, private = group.gid, group.name, False
    else:
        if local in db.groups:
            plan["skipped"].append(_item(member, local, reason="a local group %r exists that this module did not create" % local))
            return
        uid = allocate_id(options.uid_min, options.uid_max, _Union(ids.uids, ids.gids), ids.next_uid)
        gid, group_name, private = uid, local, True
    ids.uids.add(uid)
    ids.gids.add(gid)
    ids.next_uid = uid + 1
    plan["create"].append(_new_item(member, local, options, uid, gid, group_name, private))


def _adopted_item(member, local, entry):
    """A new member's claim on an existing account ``entry``, kept with its ids, home, GECOS and shell."""
    return _item(member, local, uid=entry.uid, gid=entry.gid, home=entry.home, gecos=entry.gecos, shell=entry.shell,
                 fingerprint=fingerprint(member), full_name=member.full_name, email=member.email)


def _new_item(member, local, options, uid, gid, group, private):
    """A new account for a member: its ids and group, the site's GECOS form, home root and shell."""
    return _item(member, local, uid=uid, gid=gid, group=group, private_group=private, gecos=options.gecos(member.full_name),
                 home=os.path.join(options.home_root, local), shell=options.shell, fingerprint=fingerprint(member),
                 full_name=member.full_name, email=member.email)


def _plan_host_account(plan, member, local, entry, options):
    """A new name the syncing host's own files hold, with a directory backend: its account is adopted into the
    directory with the same uid and gid (adopt_existing, uid in the site's range, the directory without it or with
    those ids), or the name is skipped."""
    host_entry = options.host.users.get(local)
    adopt_range = _intersect(options.adopt_uids, (options.uid_min, options.uid_max))
    why = None
    if host_entry is None:
        why = "a group, not a user, on this host"
    elif not options.adopt_existing:
        why = "not adopted (adopt_existing would give the directory entry its uid %d)" % host_entry.uid
    elif host_entry.gid == 0 or not _in(host_entry.uid, adopt_range):
        why = "uid %d is outside the site's uid range %d..%d; a system account is never adopted" % ((host_entry.uid,) + tuple(adopt_range or (0, -1)))
    elif entry is not None and (entry.uid, entry.gid) != (host_entry.uid, host_entry.gid):
        why = "the directory has %r with uid %d, this host with uid %d" % (local, entry.uid, host_entry.uid)
    if why:
        plan["skipped"].append(_item(member, local, reason="%s: %s" % (HOST_NAME % local, why)))
        return
    if entry is not None:
        plan["adopt"].append(_adopted_item(member, local, entry))
        return
    own_group = options.host.groups.get(local)
    private = own_group is not None and own_group.gid == host_entry.gid
    group = local if private else options.host.gids.get(host_entry.gid, str(host_entry.gid))
    plan["create"].append(_new_item(member, local, options, host_entry.uid, host_entry.gid, group, private))


def _plan_known_user(plan, claim, entry, db, settings):
    member, record, local, options = claim.member, claim.record, claim.local, settings.options
    want_new = settings.mode in ("new", "all")
    gecos = options.gecos(member.full_name)
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
    if settings.mode not in ("updated", "all"):
        if pending_hooks(record):
            plan["hooks"].append(_item(member, local, record, home=entry.home, full_name=member.full_name, email=member.email))
        return
    changes = {}
    if entry.gecos != gecos:
        changes["gecos"] = gecos
    if status == "locked":
        shell = record.get("shell_before_lock") or record.get("shell") or options.shell
        was, now = _what_changes(record, member, entry, changes)
        was.update(locked=True, shell=entry.shell)
        now.update(locked=False, shell=shell)
        plan["unlock"].append(_item(member, local, record, shell=shell, gecos=gecos,
                                    before=passwd_line(entry), fingerprint=fingerprint(member), home=entry.home,
                                    full_name=member.full_name, email=member.email, changes=changes, was=was, now=now))
        return
    if changes or settings.force or record.get("fingerprint") != fingerprint(member):
        after = entry._replace(**changes)
        was, now = _what_changes(record, member, entry, changes)
        plan["update"].append(_item(member, local, record, changes=changes, before=passwd_line(entry), after=passwd_line(after),
                                    fingerprint=fingerprint(member), home=entry.home, full_name=member.full_name,
                                    email=member.email, was=was, now=now))
    elif pending_hooks(record):
        plan["hooks"].append(_item(member, local, record, home=entry.home, full_name=member.full_name, email=member.email))


def _what_changes(record, member, entry, changes):
    """({field: before}, {field: after}) of an account update: the account's fields that change and the
    Globus identity's (username, name, email) as the state last recorded them (the audit trail's before and after)."""
    was = {k: getattr(entry, k) for k in changes}
    now = dict(changes)
    for key, value in (("globus_username", member.username), ("full_name", member.full_name), ("email", member.email)):
        if key in record and record.get(key) != value:
            was[key], now[key] = record.get(key), value
    return was, now


def _plan_departed(plan, identity_id, record, db, departed):
    status = record.get("status")
    entry = db.users.get(record["name"])
    who = {"globus_username": record.get("globus_username"), "identity_id": identity_id, "name": record["name"],
           "uid": record["uid"], "gid": record["gid"]}
    actions = [h["action"] for h in pending_hooks(record)]
    if status == "removed" or departed == "keep":
        if actions:
            plan["hooks"].append(dict(who, home=record.get("home")))
        return
    if entry is None or entry.uid != record["uid"]:
        if status == "pending":
            plan["remove"].append(dict(who, account=False))
        elif entry is None and "removed" in actions:  # killed after userdel, before the state said so
            plan["remove"].append(dict(who, account=None, home=record.get("home")))
        return
    if departed == "remove":
        plan["remove"].append(dict(who, account=True, before=passwd_line(entry), home=entry.home))
    elif status != "locked" or not db.user_locked(record["name"]):
        plan["lock"].append(dict(who, before=passwd_line(entry), home=entry.home, full_name=record.get("full_name"),
                                 email=record.get("email"), shell_before_lock=entry.shell))
    elif actions:
        plan["hooks"].append(dict(who, home=entry.home))


def _intersect(first, second):
    if first is None:
        return second
    low, high = max(first[0], second[0]), min(first[1], second[1])
    return (low, high) if low <= high else (1, 0)


def user_plan_changed(plan):
    return any(plan[k] for k in ("create", "update", "lock", "unlock", "remove", "adopt", "resume", "hooks"))


def user_plan_diff(plan):
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


@dataclass(frozen=True)
class GroupOptions:
    """How local groups are made: the gid range, ``membership`` (exact or append), what
    happens to groups gone from Globus (keep, remove), and whether a local group of the
    same name is adopted; with a directory, ``host`` is the syncing host's own files, whose group and user names
    are never created there (``HOST_NAME``)."""

    gid_min: int
    gid_max: int
    membership: str
    departed: str
    adopt_existing: bool
    denied: Tuple[str, ...] = DEFAULT_DENIED_NAMES
    adopt_gids: Optional[Tuple[int, int]] = None
    max_departures: Any = None
    host: Any = None


@dataclass(frozen=True)
class GroupPlanSettings:
    """What one ``plan_groups`` run is asked to do: ``rules`` maps Globus group names to
    local names (``GroupNameRules``), ``include``/``exclude`` select groups by name, and
    ``complete`` says every subgroup was read (only then are vanished groups removed)."""

    rules: Any
    options: GroupOptions
    include: Tuple[str, ...] = ()
    exclude: Tuple[str, ...] = ()
    complete: bool = True


@dataclass(frozen=True)
class _GroupClaim:
    """One Globus group claiming a local name, with its state record (None if new), the
    name's owner in the state, and the local user names of its active members."""

    doc: GlobusGroupDoc
    local: str
    owner: Optional[str]
    record: Optional[dict]
    members: List[str]


@dataclass
class _GroupIds:
    """The ids taken so far in a plan, and where the next gid search starts."""

    taken: Set[int]
    next_gid: Optional[int]


def plan_groups(groups, failed, state, db, settings, reserved=None):
    """Globus subgroups -> local groups. ``groups`` are GlobusGroupDoc with active members;
    ``settings`` is a ``GroupPlanSettings``; ``reserved`` (``Reserved``) ids are never handed out.

    ``failed`` maps Globus group ids that could not be read to a reason: they are
    reported and left alone (never treated as gone). ``plan["refused"]`` is set when more groups
    would be removed, or more active users dropped from groups, than ``max_departures`` allows.
    """
    plan = {"create": [], "rename": [], "members": [], "remove": [], "skipped": [], "errors": [], "hooks": [], "refused": None}
    local_user = {iid: r["name"] for iid, r in state["users"].items()
                  if r.get("status") == ACTIVE and r["name"] in db.users and db.users[r["name"]].uid == r["uid"]}
    records = state["groups"]
    reserved = reserved or Reserved()
    name_owner = {r["name"]: gid for gid, r in records.items()}
    ids = _GroupIds(set(db.gids) | state_gids(state) | set(db.uids) | state_uids(state) | set(reserved.uids) | set(reserved.gids),
                    state.get("gid_next"))
    seen = set()
    claims = {}
    for group_id, reason in sorted(failed.items()):
        seen.add(group_id)
        plan["errors"].append({"globus_group_id": group_id, "name": (records.get(group_id) or {}).get("name"), "reason": reason})
    for doc in sorted(groups, key=lambda g: (g.name, g.id)):
        seen.add(doc.id)
        if not group_selected(doc.name, settings.include, settings.exclude):
            continue
        local, problem = settings.rules.map(doc.name, doc.id)
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
            members = sorted({local_user[m.identity_id] for m in doc.members if m.identity_id in local_user})
            _plan_one_group(plan, _GroupClaim(doc, local, owner, records.get(doc.id), members), db, settings.options, ids)
    if settings.complete and settings.options.departed == "remove":
        for group_id in sorted(records, key=lambda g: records[g]["name"]):
            record = records[group_id]
            if group_id in seen or record.get("status") == "removed":
                continue
            entry = db.groups.get(record["name"])
            if entry is not None and entry.gid == record["gid"]:
                plan["remove"].append({"globus_group_id": group_id, "name": record["name"], "gid": record["gid"],
                                       "members": entry.members, "before": group_line(entry)})
    planned = {i["globus_group_id"] for key in ("create", "rename", "members", "remove", "hooks") for i in plan[key]}
    for group_id in sorted(records):
        if pending_hooks(records[group_id]) and group_id not in planned:
            record = records[group_id]
            plan["hooks"].append({"globus_group_id": group_id, "name": record["name"], "gid": record.get("gid"),
                                  "globus_group": record.get("globus_group")})
    provisioned = len([r for r in records.values() if r.get("status") != "removed"])
    plan["refused"] = departure_problem("local groups removed", len(plan["remove"]), provisioned, settings.options.max_departures)
    active_names = set(local_user.values())
    dropped = sum(len([m for m in item["removed"] if m in active_names]) for item in plan["members"])
    memberships = sum(len(db.groups[r["name"]].members) for r in records.values()
                      if r.get("status") == ACTIVE and r["name"] in db.groups and db.groups[r["name"]].gid == r["gid"])
    plan["refused"] = plan["refused"] or departure_problem(
        "active users dropped from their groups", dropped, memberships, settings.options.max_departures)
    plan["departures"] = {"groups_removed": len(plan["remove"]), "members_dropped": dropped}
    plan["gid_next"] = ids.next_gid
    return plan


def _host_has(options, name):
    return options.host is not None and (name in options.host.groups or name in options.host.users)


def _plan_one_group(plan, claim, db, options, ids):
    doc, local, owner, record, members = claim.doc, claim.local, claim.owner, claim.record, claim.members
    base = {"globus_group": doc.name, "globus_group_id": doc.id, "name": local}
    if record is None:
        if owner is not None:
            plan["errors"].append(dict(base, reason="local group %r is already provisioned for another Globus group" % local))
            return
        denied = name_denied(local, options.denied)
        if denied:
            plan["skipped"].append(dict(base, reason="%r is a privileged or reserved group name (%s); never created nor adopted"
                                        % (local, denied)))
            return
        if _host_has(options, local):
            plan["skipped"].append(dict(base, reason=HOST_NAME % local))
            return
        entry = db.groups.get(local)
        if entry is not None:
            adopt_range = _intersect(options.adopt_gids, (options.gid_min, options.gid_max))
            if options.adopt_existing and entry.gid != 0 and not _in(entry.gid, adopt_range):
                plan["skipped"].append(dict(base, gid=entry.gid, reason="a local group %r (gid %d) exists outside the site's gid range "
                                            "%d..%d (login.defs and gid_min/gid_max); a system group is never adopted"
                                            % ((local, entry.gid) + tuple(adopt_range))))
                return
            if not options.adopt_existing or entry.gid == 0:
                plan["skipped"].append(dict(base, gid=entry.gid, reason="a local group %r (gid %d) exists that this module did not create; "
                                            "it is not adopted (adopt_existing)" % (local, entry.gid)))
                return
            plan["create"].append(dict(base, gid=entry.gid, members=members, adopt=True))
            _plan_members(plan, base, entry, members, options)
            return
        gid = allocate_id(options.gid_min, options.gid_max, ids.taken, ids.next_gid)
        ids.taken.add(gid)
        plan["create"].append(dict(base, gid=gid, members=members))
        ids.next_gid = gid + 1
        return
    gid = record["gid"]
    base["gid"] = gid
    current = db.groups.get(record["name"])
    if current is None or current.gid != gid:
        if current is not None:
            plan["errors"].append(dict(base, reason="local group %r has gid %d, the state says %d; not touched"
                                       % (record["name"], current.gid, gid)))
            return
        holder = db.gids.get(gid)
        if holder is not None and holder != local:
            plan["errors"].append(dict(base, reason="gid %d of %r is now used by local group %r" % (gid, local, holder)))
            return
        if holder == local:
            current = db.groups[local]
        else:
            plan["create"].append(dict(base, members=members, resume=record.get("status") == "pending"))
            return
    if record["name"] != local:
        denied = name_denied(local, options.denied)
        if denied:
            plan["errors"].append(dict(base, reason="cannot rename %r to %r: a privileged or reserved group name (%s)"
                                       % (record["name"], local, denied)))
            return
        if local in db.groups or _host_has(options, local):
            plan["errors"].append(dict(base, reason="cannot rename %r to %r: a local group %r exists" % (record["name"], local, local)))
            return
        plan["rename"].append(dict(base, old_name=record["name"], before=group_line(current),
                                   after=group_line(current._replace(name=local))))
        current = current._replace(name=local)
    elif record.get("status") == "pending":
        plan["create"].append(dict(base, members=members, resume=True))
        return
    _plan_members(plan, base, current, members, options)
    if pending_hooks(record) and not any(i["globus_group_id"] == doc.id for i in plan["members"] + plan["rename"]):
        plan["hooks"].append(dict(base, members=members))


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
