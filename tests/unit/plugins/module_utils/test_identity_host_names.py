"""A directory backend never creates a name the syncing host's own files hold (its files answer first there); the
sync's own accounts are in the state, so a move from local files keeps them."""

from dataclasses import replace

import pytest

ldap3 = pytest.importorskip("ldap3")

# pylint: disable=wrong-import-position
from ansible_collections.sciops.datasync.plugins.module_utils._identity.accounts import (  # noqa: E402
    AccountDatabase, GroupEntry, PasswdEntry, UserSpec)
from ansible_collections.sciops.datasync.plugins.module_utils._identity.model import empty_state  # noqa: E402
from ansible_collections.sciops.datasync.plugins.module_utils._identity.names import GroupNameRules  # noqa: E402
from ansible_collections.sciops.datasync.plugins.module_utils._identity.plan import (  # noqa: E402
    GroupPlanSettings, UserPlanSettings, plan_groups, plan_users, user_plan_changed)
from ansible_collections.sciops.datasync.plugins.module_utils._identity.apply import Target, apply_user_plan  # noqa: E402
from ansible_collections.sciops.datasync.plugins.module_utils._identity.sync import _with_host  # noqa: E402

from test_identity_directory import GOPTS, OPTS, RULES, directory, group_doc, member  # noqa: E402

# a service account and a system group of the host (below login.defs' 1000), a person's account and a leftover group above it
HOST = AccountDatabase([PasswdEntry("hostop", "x", 990, 990, "", "/var/lib/hostop", "/usr/sbin/nologin"),
                        PasswdEntry("carl", "x", 1001, 1001, "", "/home/carl", "/bin/bash")],
                       [GroupEntry("ops", "x", 120, []), GroupEntry("ann", "x", 20000, [])])
USERS, GROUPS = replace(OPTS, adopt_uids=(1000, 60000)), replace(GOPTS, adopt_gids=(1000, 60000))


def test_a_new_user_named_like_a_host_account_or_group_is_refused():
    """The host's files answer first: a directory entry of such a name would be a second account under one name."""
    plan = plan_users([member("hostop"), member("ops"), member("ann"), member("carl"), member("dora")], empty_state(),
                      directory().read(), UserPlanSettings(RULES, _with_host(USERS, HOST)))
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
    plan = plan_users([member("carl")], state, backend.read(), UserPlanSettings(RULES, _with_host(USERS, host)))
    assert not plan["skipped"] and [(c["name"], c["uid"]) for c in plan["create"] + plan["resume"]] == [("carl", carl["uid"])]


def test_with_adopt_existing_the_hosts_account_goes_to_the_directory_with_its_own_uid():
    """One account under one name: the directory entry carries the uid and gid the host's files give it."""
    host = AccountDatabase([PasswdEntry("dora", "x", 20050, 20050, "", "/home/dora", "/bin/bash"),
                            PasswdEntry("emil", "x", 20060, 100, "", "/home/emil", "/bin/bash"),
                            PasswdEntry("fred", "x", 1001, 1001, "", "/home/fred", "/bin/bash"),
                            PasswdEntry("gus", "x", 20070, 20070, "", "/home/gus", "/bin/bash")],
                           [GroupEntry("dora", "x", 20050, []), GroupEntry("users", "x", 100, []), GroupEntry("fred", "x", 1001, [])])
    backend = directory()
    backend.create_batch([UserSpec("gus", 20071, 20071, "gus", True, "Gus", "/home/gus", "/bin/bash")])  # made elsewhere, other uid
    options = _with_host(replace(USERS, adopt_existing=True), host)
    state = empty_state()
    db = backend.read()
    plan = plan_users([member(n) for n in ("dora", "emil", "fred", "gus", "hana")], state, db, UserPlanSettings(RULES, options))
    created = {c["name"]: (c["uid"], c["gid"], c["group"], c["private_group"]) for c in plan["create"]}
    assert created["dora"] == (20050, 20050, "dora", True) and created["emil"] == (20060, 100, "users", False)
    assert created["hana"][0] not in (20050, 20060, 20070) and sorted(created) == ["dora", "emil", "hana"]
    skipped = {s["name"]: s["reason"] for s in plan["skipped"]}
    assert "outside the site's uid range" in skipped["fred"] and "the directory has 'gus' with uid 20071" in skipped["gus"]
    result = apply_user_plan(plan, Target(state, lambda s: None, backend, db, create_home=False))
    assert not result["errors"], result
    after = backend.read()
    assert (after.users["dora"].uid, after.groups["dora"].gid, after.users["emil"].gid) == (20050, 20050, 100)
    assert not user_plan_changed(plan_users([member(n) for n in ("dora", "emil", "hana")], state, after, UserPlanSettings(RULES, options)))


def test_a_new_group_named_like_a_host_user_or_group_is_refused_and_never_a_rename_target():
    plan = plan_groups([group_doc("hostop", "g1", "ann"), group_doc("ann", "g3", "ann"), group_doc("proj", "g2", "ann")], {},
                       empty_state(), directory().read(), GroupPlanSettings(GroupNameRules(), _with_host(GROUPS, HOST)))
    assert [c["name"] for c in plan["create"]] == ["proj"] and sorted(s["name"] for s in plan["skipped"]) == ["ann", "hostop"]
    state = empty_state()
    state["groups"]["g2"] = {"name": "proj", "gid": 30000, "status": "active"}
    db = AccountDatabase([], [GroupEntry("proj", "x", 30000, [])])
    plan = plan_groups([group_doc("ops", "g2", "ann")], {}, state, db, GroupPlanSettings(GroupNameRules(), _with_host(GROUPS, HOST)))
    assert not plan["rename"] and "a local group 'ops' exists" in plan["errors"][0]["reason"]


def test_the_files_backend_keeps_its_options():
    assert _with_host(OPTS, None) is OPTS
