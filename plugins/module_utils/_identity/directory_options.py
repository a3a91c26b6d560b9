# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``backend`` and ``ldap`` options of the identity sync and their checks, without the LDAP client (a module run
with the files backend never imports ldap3). Private to sciops.datasync: not a public API."""

from __future__ import annotations

import unicodedata

from ansible_collections.sciops.datasync.plugins.module_utils._identity.accounts import clean_gecos

GROUP_SCHEMAS = ("rfc2307", "rfc2307bis")


def ldap_argument_spec():
    """The options of ``backend`` and ``ldap`` (doc fragment sciops.datasync.ldap)."""
    return dict(
        backend=dict(type="str", default="local", choices=["local", "ldap"]),
        ldap=dict(type="dict", options=dict(
            uri=dict(type="str", required=True),
            start_tls=dict(type="bool", default=False),
            ca_file=dict(type="path"),
            validate_certs=dict(type="bool", default=True),
            bind_dn=dict(type="str", required=True),
            bind_password_file=dict(type="path", required=True, no_log=False),
            users_base=dict(type="str", required=True),
            groups_base=dict(type="str", required=True),
            group_schema=dict(type="str", default="rfc2307", choices=list(GROUP_SCHEMAS)),
            timeout=dict(type="int", default=30),
        )),
    )


def settings_problem(settings):
    """Why the ``ldap`` options cannot be used, or None."""
    if not settings:
        return "backend=ldap needs the ldap options (uri, bind_dn, bind_password_file, users_base, groups_base)"
    uri = settings["uri"].lower()
    if uri.startswith("ldap://"):
        if not settings.get("start_tls"):
            return "ldap.uri %s is not encrypted: use ldaps:// or set ldap.start_tls" % settings["uri"]
    elif not uri.startswith("ldaps://"):
        return "ldap.uri must start with ldaps:// or ldap:// (with ldap.start_tls)"
    elif settings.get("start_tls"):
        return "ldap.start_tls is for ldap:// URIs; an ldaps:// connection is already TLS"
    if settings.get("group_schema", "rfc2307") not in GROUP_SCHEMAS:
        return "ldap.group_schema must be one of %s" % ", ".join(GROUP_SCHEMAS)
    if (settings.get("timeout") or 0) < 1:
        return "ldap.timeout must be at least 1 second"
    return None


def ascii_gecos(text):
    """GECOS is IA5 (ASCII) in RFC 2307: accents folded, anything else dropped."""
    folded = unicodedata.normalize("NFKD", clean_gecos(text)).encode("ascii", "ignore").decode("ascii")
    return " ".join(folded.split())
