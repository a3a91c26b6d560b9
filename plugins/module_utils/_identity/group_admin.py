# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Globus group administration (gosync ``group ...``). Private to sciops.datasync: not a public API.

Observe the group (memberships and policies) and the identities named, plan the changes
as plain data (``plan_group``, pure), then apply: create / update / set policies and one
batch membership call. Batch items are idempotent under the SDK's retries: an ``add`` that
finds the member already active, or a ``remove`` that finds no membership, counts as done.
"""

from __future__ import annotations

import time

from ansible_collections.sciops.datasync.plugins.module_utils._core.results import error
from ansible_collections.sciops.datasync.plugins.module_utils._globus.errors import fail_globus, is_globus_error
from ansible_collections.sciops.datasync.plugins.module_utils._globus.groups import fetch_group_tree, response_data
from ansible_collections.sciops.datasync.plugins.module_utils._globus.identities import resolve_identities
from ansible_collections.sciops.datasync.plugins.module_utils._identity.names import group_selected, pattern_problem

ROLE_RANK = {"member": 1, "manager": 2, "admin": 3}
POLICY_KEYS = ("is_high_assurance", "authentication_assurance_timeout", "group_visibility", "group_members_visibility",
               "join_requests", "signup_fields")
REQUIRED_POLICY_KEYS = ("is_high_assurance", "group_visibility", "group_members_visibility", "join_requests", "signup_fields")
IDEMPOTENT_CODES = {"add": ("ALREADY_ACTIVE",), "remove": ("NO_MEMBERSHIP",), "change_role": (), "approve": ()}
MEMBER_KEYS = ("identity_id", "username", "role", "status")


class GroupError(Exception):
    """A group that cannot be managed as asked."""


def member_summary(membership):
    return {k: membership.get(k) for k in MEMBER_KEYS}


GROUP_FIELDS = ("id", "name", "description", "parent_id")
# What real Groups returns with every group document (globus_sdk.testing's recorded get_group), kept when present.
GROUP_EXTRA_FIELDS = ("group_type", "enforce_session", "session_limit", "session_timeouts", "subscription_id")


def group_summary(doc, members=True):
    out = {k: doc.get(k) for k in GROUP_FIELDS}
    out.update((k, doc[k]) for k in GROUP_EXTRA_FIELDS if k in doc)
    if doc.get("my_memberships") is not None:
        out["my_roles"] = sorted({m.get("role") for m in doc["my_memberships"] if m.get("status") == "active" and m.get("role")})
    if doc.get("policies") is not None:
        out["policies"] = {k: doc["policies"].get(k) for k in POLICY_KEYS if k in doc["policies"]}
    if members and doc.get("memberships") is not None:
        out["members"] = sorted((member_summary(m) for m in doc["memberships"]), key=lambda m: (m["username"] or "", m["identity_id"]))
    return out


# ---------------------------------------------------------------------------------------
# finding things
# ---------------------------------------------------------------------------------------
def find_group_by_name(groups, name, parent_id=None):
    """The id of the group named ``name`` (under ``parent_id`` when given) among my groups, or None."""
    data = response_data(groups.get_my_groups())
    found = [g for g in data if g.get("name") == name and (parent_id is None or g.get("parent_id") == parent_id)]
    if len(found) > 1:
        raise GroupError("%d Globus groups are named %r%s; use group_id" % (len(found), name, " under %s" % parent_id if parent_id else ""))
    return found[0]["id"] if found else None


def read_group(groups, group_id):
    """The group with memberships and policies, or None when it does not exist (404)."""
    try:
        return response_data(groups.get_group(group_id, include=["memberships", "policies"]))
    except Exception as exc:  # pylint: disable=broad-except
        if is_globus_error(exc, status=404):
            return None
        raise


# ---------------------------------------------------------------------------------------
# plan
# ---------------------------------------------------------------------------------------
def desired_roles(members, managers, admins, ids):
    roles = {}
    for role, refs in (("member", members), ("manager", managers), ("admin", admins)):
        for ref in refs:
            identity_id = ids.get(ref)
            if identity_id and ROLE_RANK[role] > ROLE_RANK.get(roles.get(identity_id), 0):
                roles[identity_id] = role
    return roles


def plan_group(current, want, ids, me=None):
    """What to change. ``current`` is the group doc (None when absent); ``want`` the module's
    desired fields; ``ids`` maps every reference in ``want`` to an identity id; ``me`` is the
    caller's identity id (never removed or demoted by ``exact``).
    """
    plan = {"create": None, "delete": False, "update": {}, "policies": None, "batch": {}, "before": None, "after": None}
    if want["state"] == "absent":
        plan["delete"] = current is not None
        plan["before"] = group_summary(current) if current else None
        return plan
    memberships = {m["identity_id"]: m for m in (current or {}).get("memberships") or []}
    if current is None:
        plan["create"] = {"name": want["name"], "description": want.get("description") or "", "parent_id": want.get("parent")}
    else:
        if want.get("description") is not None and (current.get("description") or "") != want["description"]:
            plan["update"]["description"] = want["description"]
        if want.get("name") and current.get("name") != want["name"] and want.get("rename"):
            plan["update"]["name"] = want["name"]
    if want.get("policies"):
        have = dict((current or {}).get("policies") or {})
        merged = dict(have)
        merged.update({k: v for k, v in want["policies"].items() if v is not None})
        if current is None or any(have.get(k) != merged.get(k) for k in merged):
            plan["policies"] = {k: merged[k] for k in POLICY_KEYS if k in merged}
    roles = desired_roles(want.get("members") or [], want.get("managers") or [], want.get("admins") or [], ids)
    add, change, approve, remove = [], [], [], []
    for identity_id, role in sorted(roles.items()):
        member = memberships.get(identity_id)
        if member is None or member.get("status") != "active":
            if member is not None and member.get("status") == "pending" and role == "member":
                approve.append({"identity_id": identity_id})
            else:
                add.append({"identity_id": identity_id, "role": role})
        elif member.get("role") != role:
            if want.get("membership") == "exact" or ROLE_RANK[role] > ROLE_RANK.get(member.get("role"), 0):
                change.append({"identity_id": identity_id, "role": role})
    wanted_approvals = {ids.get(r) for r in want.get("approve") or []}
    for identity_id, member in sorted(memberships.items()):
        if member.get("status") != "pending" or identity_id in roles:
            continue
        if want.get("approve_all") or identity_id in wanted_approvals:
            approve.append({"identity_id": identity_id})
    removals = {ids.get(r) for r in want.get("remove_members") or []}
    if want.get("membership") == "exact" and (roles or want.get("members") is not None):
        removals.update(i for i, m in memberships.items() if m.get("status") == "active" and i not in roles)
    for identity_id in sorted(i for i in removals if i):
        member = memberships.get(identity_id)
        if identity_id == me or member is None or member.get("status") not in ("active", "invited", "pending"):
            continue
        if identity_id in roles:
            continue
        remove.append({"identity_id": identity_id})
    for key, items in (("add", add), ("change_role", change), ("approve", approve), ("remove", remove)):
        if items:
            plan["batch"][key] = items
    if current is not None:
        plan["before"] = group_summary(current)
    plan["after"] = preview_after(current, plan)
    return plan


def preview_after(current, plan):
    doc = dict(current or {})
    if plan["create"]:
        doc.update(plan["create"])
        doc.setdefault("id", None)
    doc.update(plan["update"])
    if plan["policies"]:
        doc["policies"] = plan["policies"]
    members = {m["identity_id"]: dict(m) for m in doc.get("memberships") or []}
    for item in plan["batch"].get("add", []):
        members.setdefault(item["identity_id"], {"identity_id": item["identity_id"], "username": None}).update(role=item["role"], status="active")
    for item in plan["batch"].get("change_role", []):
        members[item["identity_id"]]["role"] = item["role"]
    for item in plan["batch"].get("approve", []):
        members[item["identity_id"]]["status"] = "active"
    for item in plan["batch"].get("remove", []):
        members[item["identity_id"]]["status"] = "removed"
    doc["memberships"] = list(members.values())
    return group_summary(doc)


def plan_changed(plan):
    return bool(plan["create"] or plan["delete"] or plan["update"] or plan["policies"] or plan["batch"])


# ---------------------------------------------------------------------------------------
# apply
# ---------------------------------------------------------------------------------------
def create_group_once(groups, body, attempts=3, sleep=time.sleep):
    """Create a group without duplicates: SDK retries are off for the POST; after a failure
    the group is looked up by name before trying again."""
    last = None
    for attempt in range(attempts):
        try:
            tune = getattr(getattr(groups, "retry_config", None), "tune", None)
            if tune is not None:
                with tune(max_retries=0):
                    return response_data(groups.create_group(body))["id"]
            return response_data(groups.create_group(body))["id"]
        except Exception as exc:  # pylint: disable=broad-except
            if not is_globus_error(exc):
                raise
            status = getattr(exc, "http_status", None)  # None: a network error, worth another try
            if status is not None and status < 500 and status != 429:
                raise
            last = exc
            existing = find_group_by_name(groups, body["name"], body.get("parent_id"))
            if existing:
                return existing
            sleep(min(2 ** attempt, 5))
    raise last


def apply_group_plan(groups, group_id, plan):
    """Carry out ``plan``; returns (group_id, [batch item errors])."""
    errors = []
    if plan["delete"]:
        groups.delete_group(group_id)
        return group_id, errors
    if plan["create"]:
        body = {k: v for k, v in plan["create"].items() if v}
        body.setdefault("description", "")
        group_id = create_group_once(groups, body)
    if plan["update"]:
        current = response_data(groups.get_group(group_id))
        body = {"name": plan["update"].get("name", current.get("name")),
                "description": plan["update"].get("description", current.get("description") or "")}
        groups.update_group(group_id, body)
    if plan["policies"]:
        body = dict(plan["policies"])
        if plan["create"] or any(k not in body for k in REQUIRED_POLICY_KEYS):
            have = response_data(groups.get_group_policies(group_id))
            merged = {k: have.get(k) for k in POLICY_KEYS if k in have}
            merged.update(body)
            body = merged
        groups.set_group_policies(group_id, body)
    if plan["batch"]:
        response = response_data(groups.batch_membership_action(group_id, plan["batch"]))
        for action, items in (response.get("errors") or {}).items():
            for item in items:
                if item.get("code") in IDEMPOTENT_CODES.get(action, ()):
                    continue
                errors.append(error(item.get("identity_id"), item.get("detail") or item.get("code"), action=action,
                                    identity_id=item.get("identity_id"), code=item.get("code")))
    return group_id, errors


# ---------------------------------------------------------------------------------------
# module glue
# ---------------------------------------------------------------------------------------
def run_group_module(module):
    """globus_group."""
    from ansible_collections.sciops.datasync.plugins.module_utils._globus import clients  # pylint: disable=import-outside-toplevel

    params = module.params
    if not params["group_id"] and not params["name"]:
        module.fail_json(msg="one of group_id or name is required")
    policies = {k: v for k, v in (params["policies"] or {}).items() if v is not None}
    want = dict(state=params["state"], name=params["name"], parent=params["parent"], description=params["description"],
                policies=policies, members=params["members"], managers=params["managers"], admins=params["admins"],
                membership=params["membership"], approve=params["approve"], approve_all=params["approve_all"],
                remove_members=params["remove_members"], rename=bool(params["group_id"] and params["name"]))
    groups, auth = clients.groups_client(module), clients.auth_client(module)
    try:
        group_id = params["group_id"] or find_group_by_name(groups, params["name"], params["parent"])
        current = read_group(groups, group_id) if group_id else None
        if params["group_id"] and current is None and params["state"] == "present":
            module.fail_json(msg="Globus group %s does not exist or is not visible" % params["group_id"])
        if current is not None and not want["name"]:
            want["name"] = current.get("name")
        refs = []
        for key in ("members", "managers", "admins", "approve", "remove_members"):
            refs.extend(params[key] or [])
        ids, unknown = resolve_identities(auth, refs) if refs else ({}, [])
        me = params["client_id"]  # the Globus identity id of a client is its client id
        plan = plan_group(current, want, ids, me)
    except GroupError as exc:
        module.fail_json(msg=str(exc))
    except Exception as exc:  # pylint: disable=broad-except
        fail_globus(module, exc, "Globus group %s" % (params["group_id"] or params["name"]))  # re-raises any other error
    errors = [error(ref, "no Globus identity %r" % ref, reference=ref) for ref in unknown]
    changed = plan_changed(plan)
    result = {"changed": changed, "group_id": group_id, "errors": errors,
              "actions": {k: [i["identity_id"] for i in v] for k, v in plan["batch"].items()},
              "created": bool(plan["create"]), "deleted": plan["delete"],
              "updated_fields": sorted(plan["update"]) + (["policies"] if plan["policies"] else [])}
    if module._diff:
        result["diff"] = {"before": plan["before"] or {}, "after": plan["after"] if params["state"] == "present" else {}}
    if changed and not module.check_mode:
        try:
            group_id, batch_errors = apply_group_plan(groups, group_id, plan)
        except Exception as exc:  # pylint: disable=broad-except
            fail_globus(module, exc, "Globus group %s" % (params["group_id"] or params["name"]), **result)  # re-raises any other error
        result["group_id"] = group_id
        result["errors"].extend(batch_errors)
    if params["state"] == "present" and result["group_id"] and not module.check_mode:
        try:
            result["group"] = group_summary(read_group(groups, result["group_id"]) or {})
        except Exception as exc:  # pylint: disable=broad-except
            if not is_globus_error(exc):
                raise
            result["group"] = plan["after"]
    else:
        result["group"] = plan["after"] if params["state"] == "present" else None
    module.exit_json(**result)


def run_group_info_module(module):
    """globus_group_info."""
    from ansible_collections.sciops.datasync.plugins.module_utils._globus import clients  # pylint: disable=import-outside-toplevel

    params = module.params
    for pattern in (params["include"] or []) + (params["exclude"] or []):
        problem = pattern_problem(pattern.lstrip("!"))
        if problem:
            module.fail_json(msg=problem)
    groups = clients.groups_client(module)
    statuses = set(params["member_statuses"] or [])

    def shaped(doc):
        out = group_summary(doc, members=params["members"])
        if "members" in out and statuses:
            out["members"] = [m for m in out["members"] if m["status"] in statuses]
        return out

    single = bool(params["group_id"] or params["name"])
    doc = root = None
    docs, failed = {}, {}
    try:
        if single:
            group_id = params["group_id"] or find_group_by_name(groups, params["name"], params["parent"])
            doc = read_group(groups, group_id) if group_id else None
        else:
            root, docs, failed = fetch_group_tree(groups, params["subgroups_of"], params["recursive"], params["concurrency"],
                                                  root_members=False)
    except GroupError as exc:
        module.fail_json(msg=str(exc))
    except Exception as exc:  # pylint: disable=broad-except
        fail_globus(module, exc, "Globus groups")  # re-raises any other error
    if single:
        if doc is None:
            module.exit_json(changed=False, found=False, group=None, groups=[])
        module.exit_json(changed=False, found=True, group=shaped(doc), groups=[shaped(doc)])
    selected = [shaped(d) for d in sorted(docs.values(), key=lambda d: d.get("name") or "")
                if group_selected(d.get("name") or "", params["include"] or (), params["exclude"] or ())]
    module.exit_json(changed=False, found=True, root=group_summary(root, members=False), groups=selected,
                     errors=[error(k, v, group_id=k) for k, v in sorted(failed.items())])
