# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validation of names that reach a command or a path. Private to sciops.datasync.

Each check returns None when the name is acceptable, or a reason naming it, so a
caller can refuse that one name and go on with the rest.
"""

from __future__ import annotations

import re

POSIX_NAME = re.compile(r"^[a-z_][a-z0-9_-]*\$?$")
POSIX_NAME_MAX = 32
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def path_component_problem(name, what="name", max_length=255):
    """Why ``name`` cannot be one component of a path (or an argv word), or None."""
    if not isinstance(name, str) or name == "":
        return "%s %r is empty or not a string" % (what, name)
    if _CONTROL.search(name):
        return "%s %r contains control characters" % (what, name)
    if name.startswith("-"):
        return "%s %r starts with '-'" % (what, name)
    if "/" in name:
        return "%s %r contains '/'" % (what, name)
    if name in (".", "..") or ".." in name:
        return "%s %r contains '..'" % (what, name)
    if name != name.strip():
        return "%s %r has leading or trailing whitespace" % (what, name)
    if len(name.encode("utf-8")) > max_length:
        return "%s %r is longer than %d bytes" % (what, name, max_length)
    return None


def relative_path_problem(path, what="path"):
    """Why ``path`` cannot be a relative path inside a root (no escape), or None."""
    if not isinstance(path, str):
        return "%s %r is not a string" % (what, path)
    parts = [p for p in path.strip("/").split("/") if p not in ("",)]
    for part in parts:
        problem = path_component_problem(part, what)
        if problem:
            return "%s %r is refused: %s" % (what, path, problem)
    return None


def posix_name_problem(name, what="user name"):
    """Why ``name`` is not a portable POSIX user/group name, or None."""
    problem = path_component_problem(name, what)
    if problem:
        return problem
    if len(name) > POSIX_NAME_MAX:
        return "%s %r is longer than %d characters" % (what, name, POSIX_NAME_MAX)
    if not POSIX_NAME.match(name):
        return "%s %r is not a valid POSIX name ([a-z_][a-z0-9_-]*)" % (what, name)
    return None


def is_uuid(value):
    """Whether ``value`` is a UUID in its usual text form (a Globus collection, group, identity or task id)."""
    return isinstance(value, str) and _UUID.fullmatch(value) is not None
