"""A directory backend never creates a name the syncing host's own files hold (its files answer first there); the
sync's own accounts are in the state, so a move from local files keeps them."""

from dataclasses import replace

import pytest

ldap3 = pytest.importorskip("ldap3")

# pylint: disable=wrong-import-position
from ansible_collections.sciops.datasync.plugins.module_utils._identity.accounts import (  # noqa: E402
    AccountDatabase, GroupEntry, PasswdEntry)
from ansible_collections.sciops.datasync.plugins.module_utils._identity.model import empty_state  # noqa: E402
from ansible_collections.sciops.datasync.plugins.module_utils._identity.names import GroupNameRules  # noqa: E402
from ansible_collections.sciops.datasync.plugins.module_utils._identity.plan import (  # noqa: E402
    GroupPlanSettings, UserPlanSettings, plan_groups, plan_users)
from ansible_collections.sciops.datasync.plugins.module_utils._identity.apply import Target, apply_user_plan  # noqa: E402
from ansible_collections.sciops.datasync.plugins.module_utils._identity.sync import _host_names_taken  # noqa: E402

from test_identity_directory import GOPTS, OPTS, RULES, directory, group_doc, member  # noqa: E402

# a service account and a system group of the host (below login.defs' 1000), a person's account and a leftover group above it
HOST = AccountDatabase([PasswdEntry("hostop", "x", 990, 990, "", "/var/lib/hostop", "/usr/sbin/nologin"),
                        PasswdEntry("carl", "x", 1001, 1001, "", "/home/carl", "/bin/bash")],
                       [GroupEntry("ops", "x", 120, []), GroupEntry("ann", "x", 20000, [])])
USERS, GROUPS = replace(OPTS, adopt_uids=(1000, 60000)), replace(GOPTS, adopt_gids=(1000, 60000))


def test_a_new_user_named_like_a_host_account_or_group_is_refused():
    """The host's files answer first: a directory entry of such a name would be a second account under one name."""
    plan = plan_users([member("hostop"), member("ops"), member("ann"), member("carl"), member("dora")], empty_state(),
                      directory().read(), UserPlanSettings(RULES, _host_names_taken(USERS, HOST)))
    assert [c["name"] for c in plan["create"]] == ["dora"]
    assert sorted(s["name"] for s in plan["skipped"]) == ["ann", "carl", "hostop", "ops"]
    assert all("in this host's own files" in s["reason"] for s in plan["skipped"])


def test_the_syncs_own_accounts_in_the_state_are_kept_when_moving_to_a_directory():
    """After a files-backend run the host holds the sync's accounts; the directory gets them with the same ids."""
    state = empty_state()
    apply_user_plan(plan_users([member("carl")], state, AccountDatabase(), UserPlanSettings(RULES, USERS)),
                    Target(state, lambda s: None, directory(), AccountDatabase(), create_home=False))
    carl = dict(state["users"]["id-carl"])
    host = AccountDatabase([PasswdEntry("carl", "x", carl["uid"], carl["gid"], "", "/home/carl", "/bin/bash")],
                           [GroupEntry("carl", "x", carl["gid"], [])])
    backend = directory()
    plan = plan_users([member("carl")], state, backend.read(), UserPlanSettings(RULES, _host_names_taken(USERS, host)))
    assert not plan["skipped"] and [(c["name"], c["uid"]) for c in plan["create"] + plan["resume"]] == [("carl", carl["uid"])]


def test_a_new_group_named_like_a_host_user_or_group_is_refused_and_never_a_rename_target():
    plan = plan_groups([group_doc("hostop", "g1", "ann"), group_doc("ann", "g3", "ann"), group_doc("proj", "g2", "ann")], {},
                       empty_state(), directory().read(), GroupPlanSettings(GroupNameRules(), _host_names_taken(GROUPS, HOST)))
    assert [c["name"] for c in plan["create"]] == ["proj"] and sorted(s["name"] for s in plan["skipped"]) == ["ann", "hostop"]
    state = empty_state()
    state["groups"]["g2"] = {"name": "proj", "gid": 30000, "status": "active"}
    db = AccountDatabase([], [GroupEntry("proj", "x", 30000, [])])
    plan = plan_groups([group_doc("ops", "g2", "ann")], {}, state, db, GroupPlanSettings(GroupNameRules(), _host_names_taken(GROUPS, HOST)))
    assert not plan["rename"] and "a local group 'ops' exists" in plan["errors"][0]["reason"]


def test_the_files_backend_keeps_its_options():
    assert _host_names_taken(OPTS, None) is OPTS
