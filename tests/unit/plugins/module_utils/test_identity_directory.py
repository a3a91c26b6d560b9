"""The LDAP directory backend: plan and apply against ldap3's in-memory directory (the lab's slapd is in tests/integration)."""

import json
import os
import socket
from dataclasses import replace

import pytest

ldap3 = pytest.importorskip("ldap3")

# pylint: disable=wrong-import-position
from ansible_collections.sciops.datasync.plugins.module_utils._identity import directory as d  # noqa: E402
from ansible_collections.sciops.datasync.plugins.module_utils._identity.directory_options import GROUP_SCHEMAS  # noqa: E402
from ansible_collections.sciops.datasync.plugins.module_utils._identity.accounts import GroupEntry, PasswdEntry, UserSpec  # noqa: E402
from ansible_collections.sciops.datasync.plugins.module_utils._identity.apply import Target, apply_group_plan, apply_user_plan  # noqa: E402
from ansible_collections.sciops.datasync.plugins.module_utils._identity.model import empty_state  # noqa: E402
from ansible_collections.sciops.datasync.plugins.module_utils._identity.names import GroupNameRules  # noqa: E402
from ansible_collections.sciops.datasync.plugins.module_utils._identity.plan import (  # noqa: E402
    GroupPlanSettings, UserPlanSettings, group_plan_changed, plan_groups, plan_users, user_plan_changed, user_plan_diff)

from test_identity_sync import GOPTS, RULES, group_doc, member  # noqa: E402
from test_identity_sync import OPTS as FILES_OPTS  # noqa: E402

OPTS = replace(FILES_OPTS, gecos_form=d.ascii_gecos)

ADMIN = "cn=sync,ou=services,dc=lab"
PEOPLE, GROUPS = "ou=people,dc=lab", "ou=groups,dc=lab"


def directory(schema="rfc2307", tmp_path=None):
    conn = ldap3.Connection(ldap3.Server("mock"), user=ADMIN, password="secret", client_strategy=ldap3.MOCK_ASYNC)
    conn.strategy.add_entry(ADMIN, {"userPassword": "secret", "cn": "sync"})
    for dn in (PEOPLE, GROUPS):
        conn.strategy.add_entry(dn, {"objectClass": ["organizationalUnit"], "ou": dn.split(",", maxsplit=1)[0][3:]})
    assert conn.bind()
    return d.DirectoryAccounts(conn, PEOPLE, GROUPS, schema, root=str(tmp_path or "/nonexistent"))


def attributes(backend, dn):
    msgid = backend.conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=ldap3.ALL_ATTRIBUTES)
    response, result = backend.conn.get_response(msgid)
    assert result["result"] == 0, result
    return {k.lower(): [str(x) for x in (v if isinstance(v, list) else [v])] for k, v in response[0]["attributes"].items()}


def saver():
    saved = []
    return saved, lambda s: saved.append(json.loads(json.dumps(s)))


@pytest.mark.parametrize("schema", GROUP_SCHEMAS)
def test_users_created_locked_unlocked_and_second_run_changes_nothing(schema):
    backend = directory(schema)
    state = empty_state()
    saved, save = saver()
    members = [member("ann", full="Ann Åström"), member("bob")]
    db = backend.read()
    plan = plan_users(members, state, db, UserPlanSettings(RULES, OPTS))
    result = apply_user_plan(plan, Target(state, save, backend, db, create_home=False))
    assert not result["errors"] and [c["name"] for c in result["created"]] == ["ann", "bob"]
    assert saved[0]["users"]["id-ann"]["status"] == "pending"  # recorded before the directory was written
    ann = attributes(backend, "uid=ann," + PEOPLE)
    assert sorted(ann["objectclass"]) == ["account", "posixAccount", "shadowAccount", "top"]
    assert ann["uidnumber"] == ["20000"] and ann["gidnumber"] == ["20000"] and ann["gecos"] == ["Ann Astrom"]
    assert "userpassword" not in ann and "shadowexpire" not in ann
    assert attributes(backend, "cn=ann," + GROUPS)["gidnumber"] == ["20000"]  # the private group
    db = backend.read()
    assert db.users["bob"] == PasswdEntry("bob", "x", 20001, 20001, "Bob", "/home/bob", "/bin/bash")
    assert not user_plan_changed(plan_users(members, state, db, UserPlanSettings(RULES, OPTS)))
    # bob departs: shadowExpire 1 and nologin, seen by the next read as locked; then nothing to do
    plan = plan_users(members[:1], state, db, UserPlanSettings(RULES, OPTS))
    assert "(locked, expired)" in user_plan_diff(plan)["after"]
    result = apply_user_plan(plan, Target(state, save, backend, db, create_home=False))
    bob = attributes(backend, "uid=bob," + PEOPLE)
    assert [r["name"] for r in result["locked"]] == ["bob"] and bob["shadowexpire"] == ["1"] and bob["loginshell"] == ["/usr/sbin/nologin"]
    db = backend.read()
    assert db.user_locked("bob") and not user_plan_changed(plan_users(members[:1], state, db, UserPlanSettings(RULES, OPTS)))
    # bob comes back: unlocked with his shell
    plan = plan_users(members, state, db, UserPlanSettings(RULES, OPTS))
    apply_user_plan(plan, Target(state, save, backend, db, create_home=False))
    bob = attributes(backend, "uid=bob," + PEOPLE)
    assert "shadowexpire" not in bob and bob["loginshell"] == ["/bin/bash"]


@pytest.mark.parametrize("schema,attr", [("rfc2307", "memberuid"), ("rfc2307bis", "member")])
def test_groups_members_rename_and_removed_user_leaves_groups(schema, attr):
    backend = directory(schema)
    state = empty_state()
    save = saver()[1]
    members = [member("ann"), member("bob")]
    db = backend.read()
    apply_user_plan(plan_users(members, state, db, UserPlanSettings(RULES, OPTS)), Target(state, save, backend, db, create_home=False))
    rules = GroupNameRules(template="{name}")
    groups = [group_doc("proj", "g-p", "ann", "bob"), group_doc("empty", "g-e")]
    plan = plan_groups(groups, {}, state, backend.read(), GroupPlanSettings(rules, GOPTS))
    result = apply_group_plan(plan, Target(state, save, backend))
    assert not result["errors"], result
    proj = attributes(backend, "cn=proj," + GROUPS)
    if schema == "rfc2307":
        assert proj[attr] == ["ann", "bob"] and "posixGroup" in proj["objectclass"]
        assert "memberuid" not in attributes(backend, "cn=empty," + GROUPS)
    else:
        assert proj[attr] == ["uid=ann," + PEOPLE, "uid=bob," + PEOPLE] and "groupOfNames" in proj["objectclass"]
        assert attributes(backend, "cn=empty," + GROUPS)[attr] == ["cn=empty," + GROUPS]  # its own DN, never read back
    db = backend.read()
    assert db.groups["proj"] == GroupEntry("proj", "x", 5001, ["ann", "bob"]) and db.groups["empty"].members == []
    assert not group_plan_changed(plan_groups(groups, {}, state, db, GroupPlanSettings(rules, GOPTS)))
    # renamed in Globus and bob dropped: the entry is renamed (same gid) and bob leaves it
    groups = [group_doc("proj2", "g-p", "ann"), group_doc("empty", "g-e")]
    apply_group_plan(plan_groups(groups, {}, state, db, GroupPlanSettings(rules, GOPTS)), Target(state, save, backend))
    db = backend.read()
    assert db.groups["proj2"] == GroupEntry("proj2", "x", 5001, ["ann"]) and "proj" not in db.groups
    # a removed user leaves every group and loses its private group, as userdel does
    backend.set_group_members("proj2", ["ann", "bob"])
    backend.remove_user("bob")
    db = backend.read()
    assert "bob" not in db.users and "bob" not in db.groups and db.groups["proj2"].members == ["ann"]


@pytest.mark.parametrize("schema", GROUP_SCHEMAS)
def test_each_sync_reads_only_what_it_plans_with_and_plans_the_same(schema):
    """The user sync reads groups without members, the group sync users without gecos, shell and lock: the plans
    made from those reads are the plans made from the whole directory."""
    backend = directory(schema)
    state = empty_state()
    save = saver()[1]
    db = backend.read()
    apply_user_plan(plan_users([member("ann", full="Ann A"), member("bob")], state, db, UserPlanSettings(RULES, OPTS)),
                    Target(state, save, backend, db, create_home=False))
    backend.lock_user("bob")
    rules = GroupNameRules(template="{name}")
    groups = [group_doc("proj", "g-p", "ann", "bob")]
    apply_group_plan(plan_groups(groups, {}, state, backend.read(), GroupPlanSettings(rules, GOPTS)), Target(state, save, backend))
    full = backend.read()
    for_users, for_groups = backend.read(group_members=False), backend.read(user_details=False)
    assert full.groups["proj"].members == ["ann", "bob"] and for_users.groups["proj"].members == []
    assert for_groups.users["ann"].gecos == "" and for_groups.users["ann"].home == full.users["ann"].home
    assert not for_groups.user_locked("bob") and full.user_locked("bob")
    members = [member("ann", full="Ann B"), member("carl")]  # ann renamed, carl new, bob departed
    user_settings = UserPlanSettings(RULES, OPTS)
    assert plan_users(members, state, for_users, user_settings) == plan_users(members, state, full, user_settings)
    later = backend.read(group_members=False, groups=False)
    assert plan_users(members, state, later, user_settings) == plan_users(members, state, full, user_settings)
    unread = backend.read(group_members=False, groups=False)
    unread.group_reader = None  # reading the groups now would fail the plan
    known = [member("ann", full="Ann A"), member("bob")]
    assert not user_plan_changed(plan_users(known, state, unread, user_settings))  # no one new: the groups are never read
    groups = [group_doc("proj", "g-p", "ann"), group_doc("new", "g-n", "ann", "bob")]
    group_settings = GroupPlanSettings(rules, GOPTS)
    assert plan_groups(groups, {}, state, for_groups, group_settings) == plan_groups(groups, {}, state, full, group_settings)


def test_a_removed_user_leaves_groups_without_touching_other_members_made_elsewhere():
    """rfc2307bis: a member DN outside the users base stays; a group whose last member leaves keeps its own DN."""
    backend = directory("rfc2307bis")
    state = empty_state()
    db = backend.read()
    apply_user_plan(plan_users([member("ann"), member("bob")], state, db, UserPlanSettings(RULES, OPTS)),
                    Target(state, saver()[1], backend, db, create_home=False))
    outsider = "uid=svc,ou=services,dc=lab"
    for name, values in (("shared", ["uid=bob," + PEOPLE, outsider]), ("solo", ["uid=bob," + PEOPLE])):
        attrs = {"objectClass": ["groupOfNames", "posixGroup"], "cn": name, "gidNumber": "7000", "member": values}
        backend.conn.strategy.add_entry("cn=%s,%s" % (name, GROUPS), attrs)
    backend.set_group_members("shared", ["ann", "bob"], append=True)
    assert attributes(backend, "cn=shared," + GROUPS)["member"] == ["uid=bob," + PEOPLE, outsider, "uid=ann," + PEOPLE]
    backend.remove_user("bob")
    assert attributes(backend, "cn=shared," + GROUPS)["member"] == [outsider, "uid=ann," + PEOPLE]
    assert attributes(backend, "cn=solo," + GROUPS)["member"] == ["cn=solo," + GROUPS]
    assert "bob" not in backend.read().groups  # the private group went with him


def test_failed_adds_are_reported_per_name_and_the_rest_created():
    backend = directory()
    backend.conn.strategy.add_entry("uid=ann," + PEOPLE, {"objectClass": ["posixAccount"], "uid": "ann", "uidNumber": "999",
                                                          "gidNumber": "999", "homeDirectory": "/x", "cn": "ann"})
    specs = [UserSpec("ann", 20000, 20000, "ann", False, "", "/home/ann", "/bin/sh"), UserSpec("bob", 20001, 20001, "bob", False, "", "/home/bob", "/bin/sh")]
    errors = backend.create_batch(specs)
    assert list(errors) == ["ann"] and "entryAlreadyExists" in errors["ann"]
    assert backend.read().users["bob"].uid == 20001


def test_many_users_are_pipelined_in_windows():
    backend = directory()
    specs = [UserSpec("u%04d" % n, 30000 + n, 30000 + n, None, False, "", "/home/u%04d" % n, "/bin/sh") for n in range(d.WINDOW * 2 + 7)]
    assert backend.create_batch(specs) == {}
    db = backend.read()
    assert len(db.users) == len(specs) and db.users["u0300"].uid == 30300


def test_entries_made_elsewhere_are_read_and_bad_ones_ignored():
    backend = directory()
    carol = {"objectClass": ["posixAccount"], "uid": "carol", "uidNumber": "20050", "gidNumber": "100", "homeDirectory": "/home/carol",
             "cn": "Carol X"}
    backend.conn.strategy.add_entry("cn=Carol X," + PEOPLE, carol)
    backend.conn.strategy.add_entry("uid=bad," + PEOPLE, {"objectClass": ["posixAccount"], "uid": "bad", "uidNumber": "x", "cn": "bad"})
    db = backend.read()
    assert list(db.users) == ["carol"] and backend.user_dn("carol") == "cn=Carol X," + PEOPLE
    backend.lock_user("carol")
    assert backend.read().user_locked("carol")


def test_attribute_names_match_whatever_their_case_in_plain_dicts():
    """connect() has ldap3 return plain dicts: a directory spelling uidnumber or UIDNUMBER is still read."""
    ldap3.set_config_parameter("CASE_INSENSITIVE_ATTRIBUTE_NAMES", False)
    try:
        backend = directory()
        backend.conn.strategy.add_entry("uid=dan," + PEOPLE, {"objectclass": ["posixAccount"], "UID": "dan", "uidnumber": "20060",
                                                              "GIDNUMBER": "100", "homedirectory": "/home/dan", "cn": "dan",
                                                              "LoginShell": "/bin/sh"})
        backend.conn.strategy.add_entry("cn=team," + GROUPS, {"objectclass": ["posixGroup"], "CN": "team", "gidnumber": "100",
                                                              "MEMBERUID": ["dan"]})
        db = backend.read()
    finally:
        ldap3.set_config_parameter("CASE_INSENSITIVE_ATTRIBUTE_NAMES", True)
    assert db.users["dan"] == PasswdEntry("dan", "x", 20060, 100, "", "/home/dan", "/bin/sh")
    assert db.groups["team"] == GroupEntry("team", "x", 100, ["dan"])


def test_missing_base_fails_the_read_never_an_empty_directory():
    backend = directory()
    backend.users_base = "ou=nowhere,dc=lab"
    with pytest.raises(d.DirectoryError, match="noSuchObject"):
        backend.read()


@pytest.mark.parametrize("settings,problem", [
    (None, "needs the ldap options"),
    ({"uri": "ldap://h"}, "not encrypted"),
    ({"uri": "ldaps://h", "start_tls": True}, "already TLS"),
    ({"uri": "http://h"}, "must start with"),
    ({"uri": "ldap://h", "start_tls": True, "timeout": 0}, "timeout"),
    ({"uri": "ldap://h", "start_tls": True, "timeout": 5}, None),
    ({"uri": "LDAPS://h:636", "timeout": 5}, None),
])
def test_settings_refuse_clear_text(settings, problem):
    found = d.settings_problem(settings)
    assert (found is None) if problem is None else (problem in found)


def nobody_listening():
    """``ldap`` options of a directory at a port of 127.0.0.1 nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return {"uri": "ldaps://127.0.0.1:%d" % port, "start_tls": False, "ca_file": None, "validate_certs": True,
            "bind_dn": ADMIN, "users_base": PEOPLE, "groups_base": GROUPS, "timeout": 2}


def test_unreachable_directory_is_a_clear_error():
    with pytest.raises(d.DirectoryError, match="cannot reach the directory ldaps://127.0.0.1"):
        d.connect(nobody_listening(), "secret")


def test_a_read_in_a_child_process_fails_with_the_childs_message():
    reading = d.DirectoryReading(nobody_listening(), "secret", group_members=False, groups=False)
    with pytest.raises(d.DirectoryError, match="cannot reach the directory ldaps://127.0.0.1"):
        reading.result()
    assert reading._child.exitcode == 0  # pylint: disable=protected-access  # it answered, then ended


def test_ascii_gecos():
    assert d.ascii_gecos("Zoë Ñúñez, PhD:x") == "Zoe Nunez PhD x"
    assert d.ascii_gecos("李") == ""


def test_homes_are_made_on_this_host(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root to chown")
    backend = directory(tmp_path=tmp_path)
    assert backend.create_home("/home/ann", 20000, 20000) is True
    assert os.stat(tmp_path / "home" / "ann").st_uid == 20000
