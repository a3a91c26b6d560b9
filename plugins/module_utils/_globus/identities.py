# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Globus Auth identities: usernames and identity ids, at most 100 per request. Private to sciops.datasync: not a public API.

``auth`` is a duck-typed ``globus_sdk.AuthClient``: only ``get_identities(ids=...)`` and
``get_identities(usernames=...)`` are called, never with more than ``CHUNK`` values.
"""

from __future__ import annotations

from ansible_collections.sciops.datasync.plugins.module_utils._core.names import is_uuid
from ansible_collections.sciops.datasync.plugins.module_utils._globus.groups import keep_connections, pool_map, response_data

CHUNK = 100


def get_identities(auth, ids=None, usernames=None, workers=1):
    """The identity documents Auth returns for ``ids`` or ``usernames`` (one of them), ``CHUNK`` per request.

    With ``workers`` above 1 the requests run in a thread pool; the first failure is raised.
    """
    key, values = ("ids", ids) if ids is not None else ("usernames", usernames)
    values = sorted(set(values or ()))
    chunks = [values[i:i + CHUNK] for i in range(0, len(values), CHUNK)]
    found = []
    keep_connections(auth, workers)
    for _part, response, exc in pool_map(lambda part: response_data(auth.get_identities(**{key: part})), chunks, workers):
        if exc is not None:
            raise exc
        found.extend(response.get("identities") or [])
    return found


def identities_by_id(auth, identity_ids, workers=1):
    """{identity id: identity document} for the ids Auth knows."""
    return {doc["id"]: doc for doc in get_identities(auth, ids=identity_ids, workers=workers)}


def resolve_identities(auth, refs, fields=("username",)):
    """Usernames and identity ids -> ({ref: identity id}, [refs Auth does not know], sorted).

    Identity ids (UUIDs) pass through lower-cased, without a request. Other refs are looked
    up as usernames and match an identity whose ``fields`` (``username``; add ``email`` to
    accept emails) equals them exactly, else ignoring case.
    """
    out = {}
    names = set()
    for ref in refs:
        if is_uuid(ref):
            out[ref] = ref.lower()
        else:
            names.add(ref)
    exact, folded = {}, {}
    for doc in get_identities(auth, usernames=names) if names else ():
        for field in fields:
            value = doc.get(field)
            if value:
                exact.setdefault(value, doc["id"])
                folded.setdefault(value.lower(), doc["id"])
    unknown = []
    for ref in sorted(names):
        identity_id = exact.get(ref) or folded.get(ref.lower())
        if identity_id:
            out[ref] = identity_id
        else:
            unknown.append(ref)
    return out, unknown
