# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Identity sync: Globus names -> local user and group names, filters, free ids. Private to sciops.datasync: not a public API.

Names are mapped from rules and templates, never with eval; every mapped name is
validated and a refused one comes back with the reason naming it.
"""

from __future__ import annotations

import fnmatch
import re

from ansible_collections.sciops.datasync.plugins.module_utils._identity.model import SyncError
from ansible_collections.sciops.datasync.plugins.module_utils._core.names import path_component_problem, posix_name_problem

GROUP_NAME = re.compile(r"^[A-Za-z_@][A-Za-z0-9_.@-]*$")
_PLACEHOLDER = re.compile(r"\{(name|last|first|id)\}")


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


def _checked(local, lowercase, problem_of, what, source):
    """(local, None) when the mapped name (lower-cased when ``lowercase``) passes ``problem_of``, else (None, reason)."""
    if lowercase:
        local = local.lower()
    problem = problem_of(local)
    if problem:
        return None, "%s %r is refused: %s" % (what, source, problem)
    return local, None


class UsernameRules:
    """Globus username -> local name, without eval.

    ``overrides`` maps a Globus username or identity id to a local name; otherwise the
    domain after the last ``@`` must be in ``domains`` (case-insensitive) and is
    stripped, and the rest is lower-cased when ``lowercase``.
    """

    def __init__(self, domains=(), overrides=None, lowercase=True):
        self.domains = {d.lower() for d in domains}
        self.overrides = {str(k).lower(): v for k, v in (overrides or {}).items()}
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
        return _checked(local, self.lowercase, user_name_problem, "Globus username", username)


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


class GroupNameRules:
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
        self.overrides = {str(k).lower(): v for k, v in (overrides or {}).items()}

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
        return _checked(local, self.lowercase, group_name_problem, "Globus group", globus_name)


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
