# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Folders on a Globus collection: ids, path rules, stat, mkdir with parents. Private to sciops.datasync: not a public API.

Used by the collection sync (source pre-flight, destination folder) and by
globus_directory. The Transfer client is passed in (duck-typed).
"""

from __future__ import annotations

import re

from ansible_collections.sciops.datasync.plugins.module_utils._globus.errors import error_result, is_globus_error


class FolderError(Exception):
    """A folder that cannot be checked or made; the message names it and says why."""


def normalize_dir(path):
    """A collection directory path as Transfer wants it for a recursive item: '/a/b/'."""
    path = "/" + path.strip("/")
    return path if path == "/" else path + "/"


def path_problem(path, what):
    if not isinstance(path, str) or not path.startswith("/"):
        return "%s %r must be an absolute path on the collection" % (what, path)
    if re.search(r"[\x00-\x1f\x7f]", path):
        return "%s %r contains control characters" % (what, path)
    if any(part in (".", "..") for part in path.split("/")):
        return "%s %r contains '.' or '..' components" % (what, path)
    return None


def stat_path(transfer, collection, path):
    """The stat document of ``path`` on ``collection``; None if absent; raises on other errors."""
    try:
        return dict(transfer.operation_stat(collection, path=path).data)
    except Exception as exc:  # pylint: disable=broad-except
        if is_globus_error(exc, status=404):
            return None
        raise


def access_problem(exc, collection, path, app, what):
    """A clear message for an access error on a collection path, or None for other errors."""
    if not is_globus_error(exc):
        return None
    error = error_result(exc, "transfer")
    status, code, message = error["http_status"], error["code"] or "", error["message"]
    if status == 403 or "PermissionDenied" in code:
        return ("the app %s has no %s access to %s on collection %s: share the path with %s "
                "(Globus: %s %s)" % (app, what, path, collection, app, code, message))
    if (status == 404 and "Endpoint" in code) or code.startswith("EndpointNotFound"):
        return "collection %s was not found (is the id right?): %s" % (collection, message)
    return None


def parent_dir(path):
    return normalize_dir(path.rstrip("/").rsplit("/", 1)[0] or "/")


def _mkdir(transfer, collection, folder, app, name):
    """True when made, False when it exists, None when its parent is missing; raises FolderError on access problems."""
    try:
        transfer.operation_mkdir(collection, folder)
        return True
    except Exception as exc:  # pylint: disable=broad-except
        if is_globus_error(exc, code_part="Exists"):
            return False
        if is_globus_error(exc, code_part="NotFound") and not is_globus_error(exc, code_part="Endpoint"):
            return None
        problem = access_problem(exc, collection, folder, app, "write")
        if problem:
            raise FolderError("%s: %s" % (name, problem))
        raise


def ensure_directory(transfer, collection, path, app, check_mode, name="directory"):
    """Make ``path`` (and missing parents) on ``collection``; returns the paths created, top first.

    One mkdir when the parent exists or the folder already exists (Transfer answers Exists):
    the folder is made first and parents only when Transfer says one is missing, so the
    common cases cost one call. In check mode nothing is made: the path is stat'ed up to the
    first existing folder. Raises FolderError (message starting with ``name``) when the app
    may not write there or a part of the path is not a directory.
    """
    target = normalize_dir(path)
    if target == "/":
        return []
    if check_mode:
        missing = []
        current = target
        while current != "/":
            try:
                found = stat_path(transfer, collection, current)
            except Exception as exc:  # pylint: disable=broad-except
                problem = access_problem(exc, collection, current, app, "write")
                if problem:
                    raise FolderError("%s: %s" % (name, problem))
                raise
            if found is not None:
                if found.get("type", "dir") != "dir":
                    raise FolderError("%s: %s on collection %s exists and is not a directory" % (name, current.rstrip("/"), collection))
                break
            missing.append(current)
            current = parent_dir(current)
        missing.reverse()
        return missing
    pending = []  # folders under the first one made, deepest first
    current = target
    created = []
    while current != "/":
        made = _mkdir(transfer, collection, current, app, name)
        if made is None:
            pending.append(current)
            current = parent_dir(current)
            continue
        if made:
            created.append(current)
        break
    for folder in reversed(pending):
        made = _mkdir(transfer, collection, folder, app, name)
        if made is None:
            raise FolderError("%s: cannot make %s on collection %s: %s exists and is not a directory" % (
                name, folder.rstrip("/"), collection, parent_dir(folder).rstrip("/")))
        if made:
            created.append(folder)
    return created
