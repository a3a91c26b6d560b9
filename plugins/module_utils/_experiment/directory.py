# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A directory on a Globus collection and the ACL rules sharing it. Private to sciops.datasync: not a public API.

Observe (stat the folder, list the collection's access rules, resolve identities),
plan (pure: rules to add and to delete), apply (mkdir with parents, delete, add).
Rules this module was not asked about are left alone unless ``exact`` is set.

The access list also carries role-derived rows: each administrator and access manager of
the collection has an implicit rw rule on ``/``, listed with ``role_id`` set and ``id``
null. They are shown but never planned with: never deleted, compared or counted as a rule
asked for. Adding and deleting are safe to retry: Transfer's 409 ``Exists`` for the very
rule asked for, or 404 on a delete, after a reply that was lost, is success.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ansible_collections.sciops.datasync.plugins.module_utils._core.names import is_uuid
from ansible_collections.sciops.datasync.plugins.module_utils._core.results import error, exit_module
from ansible_collections.sciops.datasync.plugins.module_utils._globus.errors import describe_error, is_globus_error
from ansible_collections.sciops.datasync.plugins.module_utils._globus.folders import (
    FolderError,
    ensure_directory,
    normalize_dir,
    path_problem,
)
from ansible_collections.sciops.datasync.plugins.module_utils._globus.identities import resolve_identities

PERMISSIONS = ("r", "rw")


class ShareError(Exception):
    """A share that cannot be used; reported by name under ``errors``."""


def is_role_row(rule):
    """A role-derived access row (administrator / access manager): role_id set, no rule id."""
    return bool(rule.get("role_id")) or rule.get("id") is None


def on_path(rule, path):
    """Whether an access rule stands on ``path`` (a normalized directory)."""
    return normalize_dir(rule.get("path") or "/") == path


def share_key(rule):
    return (rule.get("principal_type"), (rule.get("principal") or "").lower())


def describe_share(share):
    """How the user named a share: 'identity alice@example.org', 'group <id>', 'all authenticated users'."""
    if share.get("identity"):
        return "identity %s" % share["identity"]
    if share.get("group"):
        return "group %s" % share["group"]
    return "all authenticated users"


def share_request(share):
    """(principal_type, reference) of a share option; raises ShareError naming it."""
    chosen = [key for key in ("identity", "group", "all_authenticated_users") if share.get(key)]
    if len(chosen) != 1:
        given = {k: v for k, v in share.items() if v is not None}
        raise ShareError("share %r must name exactly one of identity, group or all_authenticated_users" % (given,))
    permissions = share.get("permissions") or "r"
    if permissions not in PERMISSIONS:
        raise ShareError("share %s: permissions %r is not r or rw" % (describe_share(share), permissions))
    if chosen[0] == "group":
        if not is_uuid(share["group"]):
            raise ShareError("share group %r is not a Globus group id (UUID)" % share["group"])
        return "group", share["group"].lower()
    if chosen[0] == "all_authenticated_users":
        return "all_authenticated_users", ""
    return "identity", share["identity"]


def identity_lookups(shares):
    """Usernames / emails that need resolving to identity ids (UUIDs are used as they are)."""
    wanted = []
    for share in shares:
        value = share.get("identity")
        if value and not is_uuid(value) and value not in wanted:
            wanted.append(value)
    return wanted


def desired_rules(shares, path, identity_ids):
    """The rules asked for, and the errors (``_core.results`` entries) for shares that cannot be made. Pure."""
    rules = []
    errors = []
    for share in shares:
        try:
            principal_type, reference = share_request(share)
        except ShareError as exc:
            errors.append(error(describe_share(share), str(exc)))
            continue
        principal = reference
        if principal_type == "identity":
            principal = reference.lower() if is_uuid(reference) else identity_ids.get(reference)
            if not principal:
                errors.append(error(reference, "share identity %s: Globus Auth has no identity with that username or email" % reference))
                continue
        rule = {"principal_type": principal_type, "principal": principal, "path": path,
                "permissions": share.get("permissions") or "r", "name": describe_share(share)}
        if share.get("notify_email"):
            rule["notify_email"] = share["notify_email"]
        if share.get("notify_message"):
            rule["notify_message"] = share["notify_message"]
        rules.append(rule)
    return rules, errors


def plan_rules(existing, wanted, path, state="present", exact=False):
    """Rules to add and rule ids to delete for ``path``. Pure.

    ``existing``: access rules of the collection (id, principal_type, principal, path,
    permissions); only those on ``path`` are considered. A rule whose permissions differ
    is replaced (deleted, then added).
    """
    rules_on_path = [rule for rule in existing if on_path(rule, path) and not is_role_row(rule)
                     and rule.get("principal_type") in ("identity", "group", "all_authenticated_users")]
    by_key = {}
    for rule in rules_on_path:
        by_key.setdefault(share_key(rule), []).append(rule)
    add = []
    delete = []
    keep = []
    wanted_keys = set()
    for rule in wanted:
        key = share_key(rule)
        wanted_keys.add(key)
        current = by_key.get(key, [])
        if state == "absent":
            delete.extend(current)
            continue
        same = [r for r in current if r.get("permissions") == rule["permissions"]]
        if same:
            keep.append(same[0])
            delete.extend(r for r in current if r is not same[0])
        else:
            delete.extend(current)
            add.append(rule)
    if state == "present" and exact:
        delete.extend(rule for rule in rules_on_path if share_key(rule) not in wanted_keys)
    seen = set()
    unique_delete = []
    for rule in delete:
        if rule["id"] not in seen:  # role rows (no id) never get here
            seen.add(rule["id"])
            unique_delete.append(rule)
    return {"add": add, "delete": unique_delete, "keep": keep}


RULE_KEYS = ("id", "principal_type", "principal", "path", "permissions", "role_id", "role_type")


def list_rules(transfer, collection):
    rules = []
    for rule in transfer.endpoint_acl_list(collection):
        rules.append({key: rule.get(key) for key in RULE_KEYS})
    return rules


def _public(rule):
    return {key: rule.get(key) for key in RULE_KEYS + ("name",) if rule.get(key) is not None}


def same_rule(found, rule, path):
    return (not is_role_row(found) and share_key(found) == share_key(rule) and on_path(found, path)
            and found.get("permissions") == rule["permissions"])


def add_rule(transfer, collection, rule, path):
    """Add a rule; returns its id. A 409 Exists for this very rule (a retry after a lost reply) is success."""
    document = {"DATA_TYPE": "access", "principal_type": rule["principal_type"], "principal": rule["principal"],
                "path": path, "permissions": rule["permissions"]}
    for key in ("notify_email", "notify_message"):
        if rule.get(key):
            document[key] = rule[key]
    try:
        return transfer.add_endpoint_acl_rule(collection, document).get("access_id")
    except Exception as exc:  # pylint: disable=broad-except
        if not is_globus_error(exc, status=409):
            raise
        found = [r for r in list_rules(transfer, collection) if same_rule(r, rule, path)]
        if not found:
            raise
        return found[0]["id"]


def delete_rule(transfer, collection, rule_id):
    """Delete a rule; a 404 (already gone, e.g. a retry after a lost reply) is success."""
    try:
        transfer.delete_endpoint_acl_rule(collection, rule_id)
    except Exception as exc:  # pylint: disable=broad-except
        if not is_globus_error(exc, status=404):
            raise


@dataclass(frozen=True)
class DirectoryRequest:
    """What globus_directory is asked for: a folder on a collection, its shares and how they apply."""

    collection: str
    path: str
    shares: Sequence[dict] = ()
    state: str = "present"
    exact: bool = False
    create: bool = True


def manage_directory(transfer, auth, request, check_mode=False, app="the app"):
    """Observe, plan and apply ``request`` (a DirectoryRequest); returns the module result dict (without failing)."""
    collection, path, shares, state, exact = request.collection, request.path, request.shares, request.state, request.exact
    result = {"changed": False, "collection": collection, "path": None, "created_directories": [],
              "added_rules": [], "deleted_rules": [], "rules": [], "errors": []}
    problem = path_problem(path, "path")
    if problem:
        result["errors"].append(error(path, problem))
        return result
    if not is_uuid(collection):
        result["errors"].append(error(collection, "collection %r is not a collection id (UUID)" % (collection,)))
        return result
    path = normalize_dir(path)
    result["path"] = path
    try:
        if state == "present" and request.create:
            result["created_directories"] = ensure_directory(transfer, collection, path, app, check_mode, "directory %s" % path)
        names = identity_lookups(shares)
        # A username or an email; names Auth does not know are refused by desired_rules.
        identity_ids = resolve_identities(auth, names, fields=("username", "email"))[0] if names else {}
        wanted, errors = desired_rules(shares, path, identity_ids)
        result["errors"].extend(errors)
        existing = list_rules(transfer, collection)
        if exact and errors and state == "present":
            # A refused share may be the one an existing rule stands for: exact removes nothing this run.
            result["errors"].append(error(path, "exact: rules not asked for on %s are kept because some shares were refused" % path))
            exact = False
        plan = plan_rules(existing, wanted, path, state, exact)
        result["added_rules"] = [_public(rule) for rule in plan["add"]]
        result["deleted_rules"] = [_public(rule) for rule in plan["delete"]]
        result["changed"] = bool(result["created_directories"] or plan["add"] or plan["delete"])
        before = [_public(r) for r in existing if on_path(r, path)]
        if not check_mode:
            for rule in plan["delete"]:
                delete_rule(transfer, collection, rule["id"])
            for rule in plan["add"]:
                rule["id"] = add_rule(transfer, collection, rule, path)
            after = [_public(r) for r in list_rules(transfer, collection) if on_path(r, path)]
        else:
            deleted = {r.get("id") for r in plan["delete"]}
            after = [r for r in before if r.get("id") not in deleted] + [_public(r) for r in plan["add"]]
        result["rules"] = after
        result["diff"] = {"before": {"path": path, "rules": before},
                          "after": {"path": path, "rules": after, "created_directories": result["created_directories"]}}
    except FolderError as exc:
        result["errors"].append(error(path, str(exc)))
    except Exception as exc:  # pylint: disable=broad-except
        # describe_error re-raises what is not a Globus error
        result["errors"].append(error(path, "collection %s path %s: Globus error: %s" % (collection, path, describe_error(exc, "transfer"))))
    return result


def run_module(module):
    """globus_directory."""
    from ansible_collections.sciops.datasync.plugins.module_utils._globus import clients  # pylint: disable=import-outside-toplevel

    params = module.params
    transfer = clients.transfer_client(module)
    shares = params["shares"] or []
    auth = clients.auth_client(module) if identity_lookups(shares) else None
    request = DirectoryRequest(params["collection"], params["path"], shares, state=params["state"], exact=params["exact"],
                               create=params["create"])
    result = manage_directory(transfer, auth, request, check_mode=module.check_mode, app=clients.client_username(module))
    exit_module(module, result)
