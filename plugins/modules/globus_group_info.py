#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: globus_group_info
short_description: Read a Globus group and its members, or every subgroup under a root
version_added: "0.1.0"
description:
  - With O(group_id) or O(name), returns that group with its description, policies and members
    (username, identity id, role, status), like gosync C(group get) and C(group members).
  - With O(subgroups_of), returns every subgroup of that group (all descendants with O(recursive)),
    filtered by O(include) / O(exclude) with gosync's filter semantics, like gosync C(group list).
    A subgroup that cannot be read is reported under RV(errors).
author: sciops datasync maintainers (@sciops)
extends_documentation_fragment:
  - sciops.datasync.globus
  - sciops.datasync.attributes.info_module
options:
  group_id:
    description: Id of one group to read.
    type: str
  name:
    description: Name of one group to read (among the groups the client belongs to).
    type: str
  parent:
    description: With O(name), the id of its parent group.
    type: str
  subgroups_of:
    description: Id of a group whose subgroups are listed.
    type: str
  recursive:
    description: With O(subgroups_of), list all descendants.
    type: bool
    default: false
  include:
    description: Name filters - V(/regex/), globs, case-insensitive literals, V(!) negates.
    type: list
    elements: str
    default: []
  exclude:
    description: Groups matching any of these filters are left out.
    type: list
    elements: str
    default: []
  members:
    description: Include the members of each group.
    type: bool
    default: true
  member_statuses:
    description: Only members with these statuses (V(active), V(pending), V(invited), ...); all when empty.
    type: list
    elements: str
    default: []
  concurrency:
    description: Subgroups read at once.
    type: int
    default: 16
"""

EXAMPLES = r"""
- name: Members of one group (gosync group members sciops.proj-alpha)
  sciops.datasync.globus_group_info:
    client_id: "{{ globus_client_id }}"
    client_secret_file: /etc/datasync/globus.secret
    group_id: 76d34d54-c597-59aa-a57e-035ef81ce475
  register: alpha

- name: Every project group under the root (gosync group list 'sciops.*')
  sciops.datasync.globus_group_info:
    client_id: "{{ globus_client_id }}"
    client_secret_file: /etc/datasync/globus.secret
    subgroups_of: ad5e6bde-332f-5ee5-a92f-577161747a4f
    include: ["sciops.*"]
    members: false
  register: projects
"""

RETURN = r"""
extends_documentation_fragment:
  - sciops.datasync.results
found:
  description: Whether the group (or the root) was found.
  returned: always
  type: bool
group:
  description:
    - The group read with O(group_id) or O(name) (id, name, description, parent_id, policies, members), with what
      Globus Groups returns with every group (group_type, enforce_session, session_limit, session_timeouts,
      subscription_id) and C(my_roles), the app's active roles in the group.
    - C(policies) holds the policy keys Groups returned (real Groups may return only some of them).
  returned: when O(group_id) or O(name) is given
  type: dict
groups:
  description: The groups read, sorted by name (with O(subgroups_of), the selected subgroups).
  returned: always
  type: list
  elements: dict
  sample: [{"id": "76d3...", "name": "sciops.proj-alpha", "members": [{"username": "alice@example.org", "role": "admin", "status": "active"}]}]
root:
  description: The group named by O(subgroups_of).
  returned: with O(subgroups_of)
  type: dict
errors:
  returned: with O(subgroups_of)
"""

from ansible_collections.sciops.datasync.plugins.module_utils._globus.module import globus_module
from ansible_collections.sciops.datasync.plugins.module_utils._identity.group_admin import run_group_info_module


def main():
    argument_spec = dict(
        group_id=dict(type="str"),
        name=dict(type="str"),
        parent=dict(type="str"),
        subgroups_of=dict(type="str"),
        recursive=dict(type="bool", default=False),
        include=dict(type="list", elements="str", default=[]),
        exclude=dict(type="list", elements="str", default=[]),
        members=dict(type="bool", default=True),
        member_statuses=dict(type="list", elements="str", default=[]),
        concurrency=dict(type="int", default=16),
    )
    run_group_info_module(globus_module(argument_spec, required_one_of=[["group_id", "name", "subgroups_of"]],
                                        mutually_exclusive=[["group_id", "name", "subgroups_of"]]))


if __name__ == "__main__":
    main()
