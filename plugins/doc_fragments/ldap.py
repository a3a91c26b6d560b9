# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # Where globus_user_sync and globus_group_sync keep accounts (module_utils/_identity/directory.py ldap_argument_spec()).
    DOCUMENTATION = r"""
options:
  backend:
    description:
      - Where the accounts live. V(local) writes C(etc/passwd), C(etc/group) and C(etc/shadow) under O(root) with
        shadow-utils and systemd-sysusers. V(ldap) writes them to an LDAP directory (O(ldap)) that every host reads
        through SSSD or nslcd; homes are still made on the host the module runs on, under O(root).
      - Both backends get the same plan, ids, name rules, departure handling and O(max_departures) guard. With
        V(ldap) the ids of the host's own accounts under O(root) are never handed out either.
      - See C(docs/gosync.md) for when to choose which, and how to move a site without changing any uid.
    type: str
    choices: [local, ldap]
    default: local
  ldap:
    description:
      - The directory for O(backend=ldap). Users are C(account) + C(posixAccount) + C(shadowAccount) entries
        C(uid=NAME) under O(ldap.users_base); a departed user is locked with C(shadowExpire=1) and the nologin shell,
        which SSSD and nslcd refuse on every host. No password is ever written.
      - The connection is always TLS (C(ldaps://) or O(ldap.start_tls)) with the server certificate verified.
    type: dict
    suboptions:
      uri:
        description: The directory, C(ldaps://HOST[:PORT]) or C(ldap://HOST[:PORT]) with O(ldap.start_tls=true).
        type: str
        required: true
      start_tls:
        description: Upgrade an C(ldap://) connection with StartTLS before binding (required for C(ldap://)).
        type: bool
        default: false
      ca_file:
        description: PEM file of the CA(s) that sign the directory's certificate; the system CAs when unset.
        type: path
      validate_certs:
        description: Verify the directory's certificate and name. Only for a throwaway test directory set V(false).
        type: bool
        default: true
      bind_dn:
        description: DN the sync binds as; it needs write access to the entries under the two bases and nothing else.
        type: str
        required: true
      bind_password_file:
        description:
          - File holding the bind password (its first line without the newline). It must be a regular file owned by the
            running user or root with mode 0600 or 0400; it is read by the collection's secret reader, never logged.
        type: path
        required: true
      users_base:
        description: DN under which user entries are read and created (for example C(ou=people,dc=example,dc=org)).
        type: str
        required: true
      groups_base:
        description: DN under which group entries (including private groups) are read and created.
        type: str
        required: true
      group_schema:
        description:
          - V(rfc2307) - groups are C(posixGroup) entries with C(memberUid) names (the C(nis) schema OpenLDAP ships).
          - V(rfc2307bis) - groups are C(groupOfNames) + C(posixGroup) entries with C(member) DNs; the directory must
            carry the rfc2307bis schema (C(posixGroup) auxiliary). An empty group holds its own DN as its only member.
        type: str
        choices: [rfc2307, rfc2307bis]
        default: rfc2307
      timeout:
        description: Seconds to wait to connect and for each answer.
        type: int
        default: 30
requirements:
  - ldap3 (Python) on the host that runs the module, for O(backend=ldap)
"""
