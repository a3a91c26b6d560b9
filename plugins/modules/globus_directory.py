#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: globus_directory
short_description: A directory on a Globus collection, shared through ACL rules
version_added: "0.1.0"
description:
  - Makes sure a directory exists on a Globus collection (parents too) and that access rules
    share it with identities (by username, email or identity id), Globus groups, or all
    authenticated users, read-only or read-write.
  - Rules on the directory that were not asked for are left alone unless O(exact=true).
    A rule asked for with other permissions than the existing one is replaced.
  - O(state=absent) removes the rules named in O(shares) from the directory; the directory
    itself and its content are never deleted.
  - Identities given as a username or an email are resolved with Globus Auth (an email is looked
    up as a username, as Globus usernames are usually email addresses such as V(ada@example.org));
    one that cannot be resolved is refused by name under RV(errors) while the other shares are
    made, and the module then fails.
  - The app must be allowed to manage the collection's permissions (collection owner or
    access manager role); Globus sends an invitation to O(shares[].notify_email) when given.
author: sciops datasync maintainers (@sciops)
extends_documentation_fragment:
  - sciops.datasync.globus
  - sciops.datasync.attributes
options:
  collection:
    description: Id (UUID) of the collection (a guest or mapped collection).
    type: str
    required: true
  path:
    description:
      - Absolute path of the directory on the collection, for example V(/2026-11/lovelace/).
    type: str
    required: true
  state:
    description:
      - V(present) creates the directory (unless O(create=false)) and the rules;
        V(absent) removes the rules named in O(shares).
    type: str
    choices: [present, absent]
    default: present
  create:
    description: Create the directory and its missing parents when O(state=present).
    type: bool
    default: true
  exact:
    description:
      - Remove every other identity, group or all-users rule on this exact path when O(state=present).
      - Rules on other paths of the collection are never touched.
      - When a share is refused (for example an unknown username), no other rule is removed in that run.
    type: bool
    default: false
  shares:
    description: Who gets access to the directory. Each entry names exactly one of O(shares[].identity),
      O(shares[].group) or O(shares[].all_authenticated_users).
    type: list
    elements: dict
    default: []
    suboptions:
      identity:
        description: A Globus username (an email-like V(user@domain)), or an identity id (UUID).
        type: str
      group:
        description: A Globus group id.
        type: str
      all_authenticated_users:
        description: Share with every authenticated Globus user.
        type: bool
        default: false
      permissions:
        description: V(r) (read) or V(rw) (read and write).
        type: str
        choices: [r, rw]
        default: r
      notify_email:
        description: Address Globus sends the sharing invitation to when the rule is created.
        type: str
      notify_message:
        description: Text added to the invitation.
        type: str
"""

EXAMPLES = r"""
- name: Share an experiment folder read-only with its users
  sciops.datasync.globus_directory:
    client_id: "{{ globus_client_id }}"
    client_secret_file: /etc/datasync/globus.secret
    collection: 0e2c7a10-3f8e-4d4b-9f5e-5f2b1f0d2c11
    path: /2026-11/lovelace/
    shares:
      - identity: ada.lovelace@example.org
        notify_email: ada.lovelace@example.org
      - group: 9b1f6f0e-6a4e-11ee-9b1a-0242ac120002
        permissions: rw

- name: Withdraw one user's access
  sciops.datasync.globus_directory:
    client_id: "{{ globus_client_id }}"
    client_secret_file: /etc/datasync/globus.secret
    collection: 0e2c7a10-3f8e-4d4b-9f5e-5f2b1f0d2c11
    path: /2026-11/lovelace/
    state: absent
    shares:
      - identity: charles.babbage@example.org
"""

RETURN = r"""
extends_documentation_fragment:
  - sciops.datasync.results
collection:
  description: The collection id.
  returned: always
  type: str
path:
  description: The directory as Globus access rules name it (leading and trailing slash).
  returned: always
  type: str
  sample: /2026-11/lovelace/
created_directories:
  description: Directories created (or that would be created in check mode), parents first.
  returned: always
  type: list
  elements: str
  sample: ["/2026-11/", "/2026-11/lovelace/"]
added_rules:
  description: Access rules added (or that would be added).
  returned: always
  type: list
  elements: dict
  sample: [{"principal_type": "identity", "principal": "5d1c...", "path": "/2026-11/lovelace/", "permissions": "r",
            "name": "identity ada.lovelace@example.org", "id": "8f3a..."}]
deleted_rules:
  description: Access rules deleted (or that would be deleted).
  returned: always
  type: list
  elements: dict
rules:
  description: Identity, group and all-users rules on the directory after the run.
  returned: always
  type: list
  elements: dict
errors: {}
"""

from ansible_collections.sciops.datasync.plugins.module_utils._globus.module import globus_module
from ansible_collections.sciops.datasync.plugins.module_utils._experiment.directory import run_module


def main():
    argument_spec = dict(
        collection=dict(type="str", required=True),
        path=dict(type="str", required=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        create=dict(type="bool", default=True),
        exact=dict(type="bool", default=False),
        shares=dict(type="list", elements="dict", default=[], options=dict(
            identity=dict(type="str"),
            group=dict(type="str"),
            all_authenticated_users=dict(type="bool", default=False),
            permissions=dict(type="str", choices=["r", "rw"], default="r"),
            notify_email=dict(type="str"),
            notify_message=dict(type="str"),
        )),
    )
    run_module(globus_module(argument_spec))


if __name__ == "__main__":
    main()
