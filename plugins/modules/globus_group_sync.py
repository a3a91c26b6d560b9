#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: globus_group_sync
short_description: Globus subgroups become local groups with their members (gosync sync groups)
version_added: "0.1.0"
description:
  - Reads the subgroups of the Globus group O(root_group) and makes each selected one a local group,
    like C(gosync sync groups). Members are the active Globus members that have local accounts
    provisioned by M(sciops.datasync.globus_user_sync) (run it first; both share O(state_file)).
  - Local names come from a template on the Globus name, without C(eval) - O(name_template),
    per-pattern O(name_rules), O(name_replace), O(name_overrides). Names that are not valid group
    names are refused by name under RV(errors). Anything outside ASCII is refused before any case change.
    Privileged names (O(deny_names), the built-in list, every group in the host's sudoers files) are never
    created, adopted or renamed to.
  - A gid from O(gid_min)..O(gid_max) is handed out once per Globus group id and kept in the state
    file, so a renamed Globus group keeps its gid (the local group is renamed). No hash-derived ids.
  - Membership is exact by default (members who left are removed from the local group); groups gone
    from Globus are kept unless O(departed=remove). A subgroup that cannot be read, or whose response
    holds no memberships list, is reported and left alone; the others still sync. More groups removed, or
    more active users dropped from groups, than O(max_departures) allows change nothing and fail the run.
  - New groups are written in one C(systemd-sysusers) call where their names allow it, otherwise with
    C(groupadd); members are set with C(groupmod -U).
  - Executables in O(hooks_dir) run for each created, updated or removed group as C(HOOK ACTION GROUP)
    with the member names on standard input.
  - Takes the run lock O(lock_file), shared with M(sciops.datasync.globus_user_sync).
author: sciops datasync maintainers (@sciops)
requirements:
  - shadow-utils (groupadd, groupmod, groupdel) and, for batches, systemd-sysusers
extends_documentation_fragment:
  - sciops.datasync.globus
  - sciops.datasync.attributes
  - sciops.datasync.identity_sync
  - sciops.datasync.ldap
  - sciops.datasync.progress
options:
  root_group:
    description: Id of the Globus group whose subgroups become local groups.
  recursive:
    description: Also take the subgroups of subgroups.
  include:
    description:
      - Filters on the Globus group name (gosync filter semantics) - V(/regex/), globs (V(osg.*)),
        case-insensitive literals; a leading V(!) negates. A group is synced when it matches some
        positive filter (or there is none) and no negated one.
    type: list
    elements: str
    default: []
  exclude:
    description: Groups matching any of these filters (same syntax) are not synced.
    type: list
    elements: str
    default: []
  name_template:
    description:
      - Local name template. Placeholders - V({name}) the Globus name, V({last}) / V({first}) its last
        / first dotted part, V({id}) the group id. gosync's default was V(@{name}).
    type: str
    default: "{name}"
  name_rules:
    description: Per-pattern templates, first match wins, each a dict with C(match) (a filter) and C(template), for example C(osg.*) -> V(@{last}).
    type: list
    elements: dict
    default: []
  name_replace:
    description: Replacements applied after the template (gosync replaced V(.) with V(-)).
    type: dict
    default: {".": "-"}
  name_lowercase:
    description: Lower-case the local name.
    type: bool
    default: true
  name_overrides:
    description: Globus group name or id -> local group name.
    type: dict
    default: {}
  gid_min:
    description: Lowest gid handed out.
    type: int
    default: 5000
  gid_max:
    description: Highest gid handed out.
    type: int
    default: 9999
  membership:
    description: V(exact) makes the local members exactly the active Globus members with accounts; V(append) only adds.
    type: str
    choices: [exact, append]
    default: exact
  departed:
    description: Local groups whose Globus group is gone - V(keep) or V(remove) (C(groupdel)). The gid stays reserved.
    type: str
    choices: [keep, remove]
    default: keep
  adopt_existing:
    description:
      - Take over a local group of the mapped name that this module did not create.
      - Only a group whose gid is inside C(GID_MIN)..C(GID_MAX) of C(etc/login.defs) and O(gid_min)..O(gid_max), and
        whose name is not privileged (O(deny_names), sudoers groups); never a system group.
    type: bool
    default: false
  hooks_dir:
    description: Folder of executables run for each created, updated or removed group, members on standard input.
    type: path
  root:
    description: Root folder whose C(etc/group) is managed (V(/) on a real host).
    type: path
    default: /
  concurrency:
    description: Subgroups read at once.
    type: int
    default: 16
"""

EXAMPLES = r"""
- name: Sync project groups (gosync sync groups)
  sciops.datasync.globus_group_sync:
    client_id: "{{ globus_client_id }}"
    client_secret_file: /etc/datasync/globus.secret
    root_group: 2b9d0e56-1f2c-4a4e-9a57-8c0d4c7b6f10
    include: ["osg.*", "!*.test"]
    name_rules:
      - match: "osg.*"
        template: "@{last}"
    lock_wait: false
"""

RETURN = r"""
extends_documentation_fragment:
  - sciops.datasync.identity_sync
  - sciops.datasync.lock
  - sciops.datasync.results
created:
  description: Groups created (name, gid, globus_group, globus_group_id, members).
  returned: success
  type: list
  elements: dict
  sample: [{"name": "osg-proja", "gid": 5000, "globus_group": "osg.ProjA", "members": ["alice"]}]
renamed:
  description: Groups renamed after their Globus group (old_name, name, gid).
  returned: success
  type: list
  elements: dict
updated:
  description: Groups whose members changed (name, added, removed).
  returned: success
  type: list
  elements: dict
removed:
  description: Groups removed (O(departed=remove)).
  returned: success
  type: list
  elements: dict
skipped_groups:
  description: Groups not provisioned, with the reason.
  returned: success
  type: list
  elements: dict
errors:
  returned: success
hooks_run:
  description: How many groups the hooks ran for.
  returned: success
  type: int
groups:
  description: Subgroups read from Globus.
  returned: success
  type: int
root_group_name:
  description: Name of O(root_group).
  returned: success
  type: str
groups_removed:
  description: Groups the refused run would have removed (C(departures) counts them with RV(members_dropped)).
  returned: when the run is refused by O(max_departures)
  type: int
members_dropped:
  description: Active users the refused run would have dropped from their groups.
  returned: when the run is refused by O(max_departures)
  type: int
"""

from ansible_collections.sciops.datasync.plugins.module_utils._globus.module import globus_module
from ansible_collections.sciops.datasync.plugins.module_utils._identity.sync import identity_sync_argument_spec, run_group_sync_module


def main():
    argument_spec = dict(
        include=dict(type="list", elements="str", default=[]),
        exclude=dict(type="list", elements="str", default=[]),
        name_template=dict(type="str", default="{name}"),
        name_rules=dict(type="list", elements="dict", default=[]),
        name_replace=dict(type="dict", default={".": "-"}),
        name_lowercase=dict(type="bool", default=True),
        name_overrides=dict(type="dict", default={}),
        gid_min=dict(type="int", default=5000),
        gid_max=dict(type="int", default=9999),
        membership=dict(type="str", choices=["exact", "append"], default="exact"),
        departed=dict(type="str", choices=["keep", "remove"], default="keep"),
    )
    argument_spec.update(identity_sync_argument_spec())
    run_group_sync_module(globus_module(argument_spec))


if __name__ == "__main__":
    main()
