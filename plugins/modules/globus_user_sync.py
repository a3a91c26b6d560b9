#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: globus_user_sync
short_description: Active members of a Globus group become local POSIX users (gosync sync users)
version_added: "0.1.0"
description:
  - Reads the active members of the Globus group O(root_group) (and of its subgroups with
    O(include_subgroups)) and makes each one a local account on the host, like
    C(gosync sync users).
  - Usernames are mapped without C(eval) - an override from O(username_overrides), or the Globus
    username with an allowed identity-provider domain (O(domains)) stripped and lower-cased. Anything
    outside ASCII is refused before any case change (U+212A KELVIN SIGN would fold to V(k)), and only
    A-Z are lower-cased. The result must be a valid POSIX name; every other name (leading V(-), V(/),
    V(..), spaces, shell characters, newlines, non-ASCII, over 32 characters, a domain not on the list)
    is refused by name under RV(errors) and the other users go on.
  - Each identity gets a uid from O(uid_min)..O(uid_max) once; the uid is kept in O(state_file) and in
    the append-only O(ids_file) and never handed out again, even after the user departed and even when
    the state file is lost. A uid or gid that owns an entry of O(home_root) (or of the folder of any
    home in passwd) is never handed out either. Two identities that map to one name - the
    one already provisioned keeps it, the other is refused.
  - Accounts are written with the system's own tools - C(systemd-sysusers) for batches of new users,
    C(useradd), C(usermod), C(userdel) for single changes - under O(root) (C(--root) / C(--prefix)).
  - The module only changes accounts it created. A local account of the same name that it did not
    create (C(root), a system account, a sysadmin) is reported under RV(skipped_users) and left alone
    unless O(adopt_existing=true), and even then only when its uid is inside the site's range (C(UID_MIN)..C(UID_MAX)
    of C(etc/login.defs) under O(root), intersected with O(uid_min)..O(uid_max)). Privileged names
    (O(deny_names) and the built-in list, plus every name in the host's sudoers files) are never created nor adopted.
  - Users who left Globus (left, removed, rejected) are handled by O(departed) in O(mode=updated) and
    O(mode=all) - locked (expired, nologin shell) by default; the shell the account had is recorded and
    given back when the user returns. More departures in one run than O(max_departures) allows change
    nothing and fail the run. A Globus response without a memberships list fails the run (it is never read
    as "no members").
  - Executables in O(hooks_dir) (gosync's provisioner scripts) run in sorted order for each created,
    updated, locked or removed user as C(HOOK ACTION USER), never through a shell, with the account in
    environment variables (see the C(docs/gosync.md) guide). A failing hook is reported for that user
    and retried on the next run. A hook run is recorded as owed in the state before its change is made,
    so a run killed anywhere leaves it to the next run; C(DATASYNC_CHANGE_ID) names the change.
  - Homes are built under a temporary name in the same folder and renamed into place when complete.
  - Takes the run lock O(lock_file), shared with M(sciops.datasync.globus_group_sync). With
    O(lock_wait=false) (gosync C(--nowait)) a busy lock returns RV(skipped) with the holder's pid.
author: sciops datasync maintainers (@sciops)
requirements:
  - shadow-utils (useradd, usermod, userdel) and, for batches, systemd-sysusers
extends_documentation_fragment:
  - sciops.datasync.globus
  - sciops.datasync.attributes
  - sciops.datasync.identity_sync
  - sciops.datasync.ldap
  - sciops.datasync.progress
options:
  root_group:
    description: Id of the Globus group whose active members become users.
  include_subgroups:
    description: Also take the active members of the subgroups of O(root_group).
    type: bool
    default: false
  recursive:
    description: With O(include_subgroups), descend into subgroups of subgroups.
  mode:
    description:
      - V(new) creates users not yet provisioned (gosync C(--new)); V(updated) updates, locks and
        unlocks provisioned users (gosync C(--updated)); V(all) does both.
    type: str
    choices: [new, updated, all]
    default: all
  only:
    description:
      - Restrict the run to these users (local names, Globus usernames or identity ids; gosync C(--only)).
      - With O(state=absent), the users to remove.
    type: list
    elements: str
    default: []
  force:
    description: Apply updates (and run the update hooks) even when nothing changed (gosync C(--force)).
    type: bool
    default: false
  state:
    description:
      - V(present) synchronises. V(absent) removes the provisioned users named in O(only) with
        C(userdel) (home kept; gosync C(deluser)); their uids stay reserved.
    type: str
    choices: [present, absent]
    default: present
  domains:
    description: Identity-provider domains that may be stripped from Globus usernames (V(uchicago.edu)).
    type: list
    elements: str
    default: []
  username_overrides:
    description: Globus username or identity id -> local user name; the name is still validated.
    type: dict
    default: {}
  lowercase:
    description: Lower-case the mapped name.
    type: bool
    default: true
  uid_min:
    description: Lowest uid handed out.
    type: int
    default: 10000
  uid_max:
    description: Highest uid handed out.
    type: int
    default: 59999
  primary_group:
    description:
      - Name of an existing local group to be every new user's primary group.
      - When unset, each user gets a private group with gid = uid.
    type: str
  home_root:
    description: Folder holding the homes (inside O(root)).
    type: str
    default: /home
  shell:
    description: Login shell of new and re-activated users.
    type: str
    default: /bin/bash
  nologin_shell:
    description: Shell given to locked users.
    type: str
    default: /usr/sbin/nologin
  create_home:
    description: Create the home folder of new users from O(skeleton) (an existing folder is left alone).
    type: bool
    default: true
  skeleton:
    description: Skeleton folder copied into new homes (a path on the host, not inside O(root)).
    type: path
    default: /etc/skel
  departed:
    description:
      - What happens to provisioned users who are no longer active members.
      - V(lock) expires the account and sets O(nologin_shell); V(keep) leaves it; V(remove) runs
        C(userdel) (home kept). The uid stays reserved in every case.
    type: str
    choices: [lock, keep, remove]
    default: lock
  adopt_existing:
    description:
      - Take over a local account of the mapped name that this module did not create.
      - Only an account whose uid is inside C(UID_MIN)..C(UID_MAX) of C(etc/login.defs) and O(uid_min)..O(uid_max),
        with a primary gid other than 0, and whose name is not privileged (O(deny_names)); never C(root) nor a system account.
      - With O(backend=ldap), a directory entry of the mapped name is taken over on the same terms; a name that only this
        host's own files hold becomes a directory entry with that account's uid and gid (one account, one uid on every
        host). Without O(adopt_existing), or outside the range, such a name is skipped; the host's files answer first,
        so a new directory entry would be a second account under that name.
    type: bool
    default: false
  hooks_dir:
    description: Folder of executables run for each created, updated, locked or removed user.
    type: path
  root:
    description:
      - Root folder whose C(etc/passwd), C(etc/group) and C(etc/shadow) are managed (V(/) on a real host).
      - Under another folder, empty account databases are created when missing.
    type: path
    default: /
  concurrency:
    description: Globus calls in flight at once (subgroups, identity look-ups).
    type: int
    default: 16
"""

EXAMPLES = r"""
- name: Bring in new users (gosync sync users --new)
  sciops.datasync.globus_user_sync:
    client_id: "{{ globus_client_id }}"
    client_secret_file: /etc/datasync/globus.secret
    root_group: 2b9d0e56-1f2c-4a4e-9a57-8c0d4c7b6f10
    domains: [uchicago.edu, globusid.org]
    mode: new
    lock_wait: false

- name: Update one user only (gosync sync users --updated --only alice)
  sciops.datasync.globus_user_sync:
    client_id: "{{ globus_client_id }}"
    client_secret_file: /etc/datasync/globus.secret
    root_group: 2b9d0e56-1f2c-4a4e-9a57-8c0d4c7b6f10
    domains: [uchicago.edu]
    mode: updated
    only: [alice]
    hooks_dir: /etc/datasync/gosync/hooks

- name: Remove a user (gosync deluser bob); the home is kept
  sciops.datasync.globus_user_sync:
    client_id: "{{ globus_client_id }}"
    client_secret_file: /etc/datasync/globus.secret
    root_group: 2b9d0e56-1f2c-4a4e-9a57-8c0d4c7b6f10
    state: absent
    only: [bob]
"""

RETURN = r"""
extends_documentation_fragment:
  - sciops.datasync.identity_sync
  - sciops.datasync.lock
  - sciops.datasync.results
created:
  description: Users created (name, uid, gid, globus_username, identity_id).
  returned: success
  type: list
  elements: dict
  sample: [{"name": "alice", "uid": 10000, "gid": 10000, "globus_username": "alice@uchicago.edu"}]
updated:
  description:
    - Users updated or unlocked, each with C(before) and C(after) - the fields that changed (C(gecos), C(shell),
      C(locked); C(globus_username), C(full_name), C(email) as last recorded and as Globus has them now).
  returned: success
  type: list
  elements: dict
  sample: [{"name": "alice", "uid": 10000, "before": {"gecos": "Alice", "email": "a@old.org"}, "after": {"gecos": "Alice Smith", "email": "a@uchicago.edu"}}]
locked:
  description: Departed users locked.
  returned: success
  type: list
  elements: dict
removed:
  description: Users removed (O(departed=remove) or O(state=absent)).
  returned: success
  type: list
  elements: dict
adopted:
  description: Existing local accounts taken over (O(adopt_existing=true)).
  returned: success
  type: list
  elements: dict
skipped_users:
  description: Members not provisioned, with the reason (for example an existing local account not adopted).
  returned: success
  type: list
  elements: dict
skipped: {}
errors:
  returned: success
hooks_run:
  description: How many users the hooks ran for.
  returned: success
  type: int
members:
  description: Active Globus members seen.
  returned: success
  type: int
"""

from ansible_collections.sciops.datasync.plugins.module_utils._globus.module import globus_module
from ansible_collections.sciops.datasync.plugins.module_utils._identity.sync import identity_sync_argument_spec, run_user_sync_module


def main():
    argument_spec = dict(
        include_subgroups=dict(type="bool", default=False),
        mode=dict(type="str", choices=["new", "updated", "all"], default="all"),
        only=dict(type="list", elements="str", default=[]),
        force=dict(type="bool", default=False),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        domains=dict(type="list", elements="str", default=[]),
        username_overrides=dict(type="dict", default={}),
        lowercase=dict(type="bool", default=True),
        uid_min=dict(type="int", default=10000),
        uid_max=dict(type="int", default=59999),
        primary_group=dict(type="str"),
        home_root=dict(type="str", default="/home"),
        shell=dict(type="str", default="/bin/bash"),
        nologin_shell=dict(type="str", default="/usr/sbin/nologin"),
        create_home=dict(type="bool", default=True),
        skeleton=dict(type="path", default="/etc/skel"),
        departed=dict(type="str", choices=["lock", "keep", "remove"], default="lock"),
    )
    argument_spec.update(identity_sync_argument_spec())
    run_user_sync_module(globus_module(argument_spec))


if __name__ == "__main__":
    main()
