"""A directory backend refuses the names of the syncing host's own system accounts, as the files backend does."""

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
from ansible_collections.sciops.datasync.plugins.module_utils._identity.sync import _host_names_taken  # noqa: E402

from test_identity_directory import GOPTS, OPTS, RULES, directory, group_doc, member  # noqa: E402

# a service account and a system group of the host (below login.defs' 1000), and a person's leftover group above it
HOST = AccountDatabase([PasswdEntry("hostop", "x", 990, 990, "", "/var/lib/hostop", "/usr/sbin/nologin")],
                       [GroupEntry("ops", "x", 120, []), GroupEntry("ann", "x", 20000, [])])
USERS, GROUPS = replace(OPTS, adopt_uids=(1000, 60000)), replace(GOPTS, adopt_gids=(1000, 60000))
DEFS = {"UID_MIN": 1000, "UID_MAX": 60000, "GID_MIN": 1000, "GID_MAX": 60000}


def test_a_new_user_named_like_a_host_system_account_or_group_is_refused():
    """The host's files answer first: a directory entry of such a name would be a second account under one name."""
    plan = plan_users([member("hostop"), member("ops"), member("ann")], empty_state(), directory().read(),
                      UserPlanSettings(RULES, _host_names_taken(USERS, HOST, DEFS)))
    assert [c["name"] for c in plan["create"]] == ["ann"]
    assert sorted(s["name"] for s in plan["skipped"]) == ["hostop", "ops"]
    assert all("reserved name" in s["reason"] for s in plan["skipped"])


def test_a_new_group_named_like_a_host_system_account_is_refused():
    plan = plan_groups([group_doc("hostop", "g1", "ann"), group_doc("proj", "g2", "ann")], {}, empty_state(), directory().read(),
                       GroupPlanSettings(GroupNameRules(), _host_names_taken(GROUPS, HOST, DEFS)))
    assert [c["name"] for c in plan["create"]] == ["proj"] and [s["name"] for s in plan["skipped"]] == ["hostop"]


def test_the_files_backend_keeps_its_options():
    assert _host_names_taken(OPTS, None, DEFS) is OPTS
