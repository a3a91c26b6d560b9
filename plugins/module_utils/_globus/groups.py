# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Globus group reads (groups and their members; identities: ``_globus.identities``). Private to sciops.datasync: not a public API.

Clients are duck-typed globus_sdk GroupsClient / AuthClient; independent calls run in a
small thread pool.
"""

from __future__ import annotations

from collections import namedtuple

from ansible_collections.sciops.datasync.plugins.module_utils._globus.errors import describe_error

ACTIVE = "active"

Member = namedtuple("Member", ["identity_id", "username", "full_name", "email", "status", "role"])
GlobusGroupDoc = namedtuple("GlobusGroupDoc", ["id", "name", "parent_id", "description", "members"])


def response_data(response):
    """The JSON body of a globus-sdk response (or the value itself when it is already plain data)."""
    return getattr(response, "data", response)


def get_group_doc(groups, group_id, children=False):
    include = ["memberships"] + (["child_ids"] if children else [])
    return response_data(groups.get_group(group_id, include=include))


def keep_connections(client, workers):
    """Let ``client`` keep ``workers`` HTTP connections open (requests keeps 10 by default: with more calls in flight
    every extra one opened a new connection and closed it after one call)."""
    session = getattr(getattr(client, "transport", None), "session", None)
    if session is None or workers <= 10:
        return
    import requests.adapters  # pylint: disable=import-outside-toplevel  # present wherever globus-sdk is

    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=workers)
    session.mount("https://", adapter)
    session.mount("http://", adapter)


def pool_map(func, items, workers):
    """[(item, result, exc)] with at most ``workers`` calls in flight; the caller decides what an exception means."""
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
    keep_connections(groups, workers)
    if root_members:
        root = get_group_doc(groups, root_id, children=True)
    else:
        root = response_data(groups.get_group(root_id, include=["child_ids"]))
    docs, failed = {}, {}
    frontier = list(root.get("child_ids") or [])
    seen = {root_id}
    while frontier:
        batch = [g for g in frontier if g not in seen]
        seen.update(batch)
        frontier = []
        for group_id, doc, exc in pool_map(lambda g: get_group_doc(groups, g, children=recursive), batch, workers):
            if exc is not None:
                failed[group_id] = describe_error(exc, "groups")  # re-raises what is not a Globus error
                continue
            docs[group_id] = doc
            if recursive:
                frontier.extend(doc.get("child_ids") or [])
    return root, docs, failed


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
