# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Identity sync: Globus names -> local user and group names, filters, free ids. Private to sciops.datasync: not a public API.

Names are mapped from rules and templates, never with eval; every mapped name is
validated and a refused one comes back with the reason naming it.
"""

from __future__ import annotations

import fnmatch
import functools
import re

from ansible_collections.sciops.datasync.plugins.module_utils._identity.model import SyncError
from ansible_collections.sciops.datasync.plugins.module_utils._core.names import path_component_problem, posix_name_problem

GROUP_NAME = re.compile(r"[A-Za-z_@][A-Za-z0-9_.@-]*")
_PLACEHOLDER = re.compile(r"\{(name|last|first|id)\}")
# What a mapped name may hold *before* any case change: ASCII only, so nothing outside ASCII can
# fold into an ASCII name ('\u212a' KELVIN SIGN lower-cases to 'k', '\u0130' to 'i' + a dot).
USER_SOURCE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
GROUP_SOURCE = GROUP_NAME
_ASCII_LOWER = {code: code + 32 for code in range(ord("A"), ord("Z") + 1)}

# Names never created nor adopted, as users or groups: accounts and groups that hold or grant
# privilege on a Debian/Ubuntu/RHEL host (root, sudo/admin/wheel, log readers, device and
# container groups, system daemons). Globs are matched with fnmatchcase on the ASCII name.
# Every group named in the host's sudoers files is added at run time (``policy.sudoers_names``).
DEFAULT_DENIED_NAMES = (
    "root", "toor", "admin", "administrator", "administrators", "wheel", "sudo", "sudoers", "adm", "staff", "operator",
    "docker", "lxd", "lxc", "incus", "incus-admin", "podman", "libvirt", "libvirt-qemu", "kvm", "disk", "shadow", "kmem",
    "tty", "utmp", "sys", "bin", "daemon", "nobody", "nogroup", "nfsnobody", "lpadmin", "sambashare", "netdev", "plugdev",
    "dialout", "cdrom", "floppy", "tape", "audio", "video", "render", "input", "sgx", "uucp", "lp", "mail", "news",
    "proxy", "backup", "list", "irc", "gnats", "games", "man", "www-data", "messagebus", "polkitd", "sssd", "ssh", "sshd",
    "ssl-cert", "crontab", "syslog", "postfix", "postdrop", "dip", "src", "voice", "fax", "users", "ftp", "sync",
    "shutdown", "halt", "systemd-*", "_*", "polkit*", "ansible*", "datasync*",
)


def ascii_lower(text):
    """``text`` with only A-Z lower-cased: no character outside ASCII ever folds into an ASCII one."""
    return text.translate(_ASCII_LOWER)


def source_problem(name, pattern, what):
    """Why ``name`` (before any case change) holds something outside the allowed ASCII set, or None."""
    if not isinstance(name, str) or not name:
        return "%s %r is empty" % (what, name)
    if not name.isascii():
        return "%s %r holds characters outside ASCII" % (what, name)
    if not pattern.fullmatch(name):
        return "%s %r holds characters outside the allowed set" % (what, name)
    return None


def name_denied(name, denied):
    """The entry of ``denied`` (names and globs) that ``name`` matches, or None."""
    exact, globs = _denied_matcher(tuple(denied))
    low = ascii_lower(name)
    hit = exact.get(low)
    for index, entry, pattern in globs:
        if hit is not None and hit[0] < index:
            break
        if pattern.match(low):
            return entry
    return hit[1] if hit is not None else None


@functools.lru_cache(maxsize=8)
def _denied_matcher(denied):
    """({lower-cased name: (position, entry)}, [(position, glob, compiled glob)]) of a deny list, made once per list:
    a first import checks tens of thousands of names against it."""
    exact, globs = {}, []
    for index, entry in enumerate(ascii_lower(e) for e in denied):
        if any(ch in entry for ch in "*?["):
            globs.append((index, entry, re.compile(fnmatch.translate(entry))))
        else:
            exact.setdefault(entry, (index, entry))
    return exact, globs


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
    if not GROUP_NAME.fullmatch(name):
        return "%s %r may only hold letters, digits, '_', '-', '.', '@' and not start with a digit" % (what, name)
    return None


def _checked(local, lowercase, problem_of, what, source, allowed=USER_SOURCE):
    """(local, None) when the mapped name (lower-cased when ``lowercase``) passes ``problem_of``, else (None, reason).

    The name is checked against the ``allowed`` ASCII set before any case change, and only A-Z
    are lower-cased (``ascii_lower``)."""
    problem = source_problem(local, allowed, "local name")
    if problem:
        return None, "%s %r is refused: %s" % (what, source, problem)
    if lowercase:
        local = ascii_lower(local)
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
        self.domains = {ascii_lower(d) for d in domains}
        self.overrides = {ascii_lower(str(k)): v for k, v in (overrides or {}).items()}
        self.lowercase = lowercase

    def map(self, username, identity_id=None):
        """Return (local_name, None) or (None, reason).

        Only ASCII letters are case-folded (overrides, domains, the name): a username holding
        anything outside ASCII never matches an override or a domain and is refused unless an
        override names it exactly."""
        if not isinstance(username, str) or not username:
            return None, "Globus username %r is empty" % (username,)
        override = self.overrides.get(ascii_lower(username)) or (identity_id and self.overrides.get(ascii_lower(str(identity_id))))
        if override:
            return (None, user_name_problem(override)) if user_name_problem(override) else (override, None)
        if "@" not in username:
            return None, "Globus username %r has no identity-provider domain" % username
        local, domain = username.rsplit("@", 1)
        if not domain.isascii() or ascii_lower(domain) not in self.domains:
            return None, "Globus username %r: domain %r is not on the allowed list" % (username, domain)
        return _checked(local, self.lowercase, user_name_problem, "Globus username", username)


def _pattern_matches(pattern, text):
    if len(pattern) >= 2 and pattern.startswith("/") and pattern.endswith("/"):
        try:
            return re.search(pattern[1:-1], text, re.IGNORECASE | re.ASCII) is not None
        except re.error:
            return False
    if any(ch in pattern for ch in "*?["):
        return fnmatch.fnmatchcase(ascii_lower(text), ascii_lower(pattern))
    return ascii_lower(pattern) == ascii_lower(text)


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
        self.overrides = {ascii_lower(str(k)): v for k, v in (overrides or {}).items()}

    def map(self, globus_name, group_id=""):
        override = self.overrides.get(ascii_lower(str(globus_name))) or self.overrides.get(ascii_lower(str(group_id)))
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
        return _checked(local, self.lowercase, group_name_problem, "Globus group", globus_name, GROUP_SOURCE)


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
