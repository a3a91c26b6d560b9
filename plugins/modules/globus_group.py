#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: globus_group
short_description: One Globus group - present or absent, description, policies, members, managers, admins
version_added: "0.1.0"
description:
  - Manages one Globus group through the Groups API, replacing gosync's C(group new), C(member),
    C(manager), C(admin), C(delmember), C(accept), C(syncdesc) and C(syncpolicy).
  - The group is O(group_id), or the group named O(name) under O(parent) among the groups the client
    belongs to; with O(state=present) a missing named group is created under O(parent) (the client
    becomes its admin). Creating is never retried blindly - after a failure the group is looked up
    by name first, so a retry cannot make two groups.
  - Members, managers and admins are Globus usernames or identity ids. O(membership=append) adds and
    promotes; V(exact) also demotes and removes active members not listed (never the client itself).
  - Pending join requests are approved by name (O(approve)) or all at once (O(approve_all)).
  - Membership changes go in one batch call; per-item errors are reported under RV(errors).
author: sciops datasync maintainers (@sciops)
extends_documentation_fragment:
  - sciops.datasync.globus
  - sciops.datasync.attributes
options:
  group_id:
    description: Id of the group. With O(name) as well, the group is renamed to O(name).
    type: str
  name:
    description: Name of the group (looked up under O(parent) when O(group_id) is not given).
    type: str
  parent:
    description: Id of the parent group (for look-up and creation).
    type: str
  state:
    description: V(present) or V(absent) (deletes the group; it must have no subgroups).
    type: str
    choices: [present, absent]
    default: present
  description:
    description: Group description (gosync C(syncdesc)).
    type: str
  policies:
    description: Group policies to set (gosync C(syncpolicy)); unset keys keep their current value.
    type: dict
    suboptions:
      group_visibility:
        description: Who can see the group.
        type: str
        choices: [authenticated, private]
      group_members_visibility:
        description: Who can see the members.
        type: str
        choices: [members, managers]
      join_requests:
        description: Whether users may ask to join.
        type: bool
      is_high_assurance:
        description: High-assurance group.
        type: bool
      authentication_assurance_timeout:
        description: Seconds of a high-assurance session.
        type: int
      signup_fields:
        description: Fields asked of people who join.
        type: list
        elements: str
  members:
    description: Usernames or identity ids that must be active members (role member).
    type: list
    elements: str
  managers:
    description: Usernames or identity ids that must be active managers.
    type: list
    elements: str
  admins:
    description: Usernames or identity ids that must be active admins.
    type: list
    elements: str
  membership:
    description: V(append) adds and promotes; V(exact) also demotes and removes active members not listed.
    type: str
    choices: [append, exact]
    default: append
  approve:
    description: Pending requests to approve, by username or identity id (gosync C(accept)).
    type: list
    elements: str
    default: []
  approve_all:
    description: Approve every pending request.
    type: bool
    default: false
  remove_members:
    description: Usernames or identity ids to remove from the group (gosync C(delmember)).
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Project group under the root (gosync group new -parent sciops-lab sciops.proj-delta, admin alice)
  sciops.datasync.globus_group:
    client_id: "{{ globus_client_id }}"
    client_secret_file: /etc/datasync/globus.secret
    name: sciops.proj-delta
    parent: ad5e6bde-332f-5ee5-a92f-577161747a4f
    description: Project delta, created 2026-11-23
    admins: [alice@example.org]
    policies:
      group_visibility: private
      group_members_visibility: managers
      join_requests: true

- name: Approve pending requests and remove a member (gosync group accept / delmember)
  sciops.datasync.globus_group:
    client_id: "{{ globus_client_id }}"
    client_secret_file: /etc/datasync/globus.secret
    group_id: 76d34d54-c597-59aa-a57e-035ef81ce475
    approve_all: true
    remove_members: [bob@example.org]
"""

RETURN = r"""
extends_documentation_fragment:
  - sciops.datasync.results
group_id:
  description: Id of the group (of the new group after a creation; null in check mode).
  returned: always
  type: str
group:
  description: The group after the change (id, name, description, parent_id, policies, members with username, role, status).
  returned: when O(state=present)
  type: dict
created:
  description: Whether the group was (or would be) created.
  returned: always
  type: bool
deleted:
  description: Whether the group was (or would be) deleted.
  returned: always
  type: bool
updated_fields:
  description: Group fields changed (V(description), V(name), V(policies)).
  returned: always
  type: list
  elements: str
actions:
  description: Identity ids per batch action (V(add), V(change_role), V(approve), V(remove)).
  returned: always
  type: dict
errors: {}
"""

from ansible_collections.sciops.datasync.plugins.module_utils._globus.module import globus_module
from ansible_collections.sciops.datasync.plugins.module_utils._identity.group_admin import run_group_module


def main():
    argument_spec = dict(
        group_id=dict(type="str"),
        name=dict(type="str"),
        parent=dict(type="str"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        description=dict(type="str"),
        policies=dict(type="dict", options=dict(
            group_visibility=dict(type="str", choices=["authenticated", "private"]),
            group_members_visibility=dict(type="str", choices=["members", "managers"]),
            join_requests=dict(type="bool"),
            is_high_assurance=dict(type="bool"),
            authentication_assurance_timeout=dict(type="int"),
            signup_fields=dict(type="list", elements="str"),
        )),
        members=dict(type="list", elements="str"),
        managers=dict(type="list", elements="str"),
        admins=dict(type="list", elements="str"),
        membership=dict(type="str", choices=["append", "exact"], default="append"),
        approve=dict(type="list", elements="str", default=[]),
        approve_all=dict(type="bool", default=False),
        remove_members=dict(type="list", elements="str", default=[]),
    )
    run_group_module(globus_module(argument_spec, required_one_of=[["group_id", "name"]]))


if __name__ == "__main__":
    main()
