"""Identity sync: name mapping, id allocation, planning (pure) and apply against a temp root."""

import json
import os
import stat
from dataclasses import replace

import pytest

from ansible_collections.sciops.datasync.plugins.module_utils._identity.apply import Target, apply_group_plan, apply_user_plan, preview_user_plan
from ansible_collections.sciops.datasync.plugins.module_utils._identity.hooks import list_hooks
from ansible_collections.sciops.datasync.plugins.module_utils._globus.groups import GlobusGroupDoc, Member
from ansible_collections.sciops.datasync.plugins.module_utils._identity.model import SyncError, empty_state, pending_hooks
from ansible_collections.sciops.datasync.plugins.module_utils._identity.names import (
    GroupNameRules, UsernameRules, allocate_id, group_selected,
)
from ansible_collections.sciops.datasync.plugins.module_utils._identity.plan import (
    GroupOptions, GroupPlanSettings, UserOptions, UserPlanSettings, fingerprint, group_plan_changed, plan_groups, plan_users,
    user_plan_changed, user_plan_diff,
)
from ansible_collections.sciops.datasync.plugins.module_utils._identity.accounts import (
    AccountDatabase, GroupEntry, PasswdEntry, PosixAccounts, ShadowEntry,
)
from ansible_collections.sciops.datasync.plugins.module_utils._core.progress import Progress
from ansible_collections.sciops.datasync.plugins.module_utils._core.runner import CommandRunner

from identity_helpers import NEEDS_ROOT, ShellFreeModule

RULES = UsernameRules(domains=["uchicago.edu", "globusid.org"], overrides={"weird.name@uchicago.edu": "wname"})
OPTS = UserOptions(uid_min=20000, uid_max=20100, primary_group=None, home_root="/home", shell="/bin/bash",
                   departed="lock", adopt_existing=False)
GOPTS = GroupOptions(gid_min=5000, gid_max=5100, membership="exact", departed="keep", adopt_existing=False)


def member(local, full="", email=None, domain="uchicago.edu", iid=None):
    username = "%s@%s" % (local, domain)
    return Member(iid or "id-" + local, username, full or local.title(), email or local + "@example.org", "active", "member")


def db_with(users=(), groups=(), shadow=()):
    base = [PasswdEntry("root", "x", 0, 0, "root", "/root", "/bin/bash"), PasswdEntry("admin", "x", 1000, 1000, "Admin", "/home/admin", "/bin/bash")]
    return AccountDatabase(base + list(users), [GroupEntry("root", "x", 0, []), GroupEntry("admin", "x", 1000, [])] + list(groups), shadow)


@pytest.mark.parametrize("username,expected", [
    ("alice@uchicago.edu", "alice"),
    ("Alice.Smith@UChicago.EDU", None),
    ("BOB@globusid.org", "bob"),
    ("weird.name@uchicago.edu", "wname"),
    ("carol@evil.example", None),
    ("-rf@uchicago.edu", None),
    ("a/b@uchicago.edu", None),
    ("..@uchicago.edu", None),
    ("two words@uchicago.edu", None),
    ("x;reboot@uchicago.edu", None),
    ("$(touch canary)@uchicago.edu", None),
    ("new\nline@uchicago.edu", None),
    ("zoë@uchicago.edu", None),
    ("a" * 33 + "@uchicago.edu", None),
    ("a" * 32 + "@uchicago.edu", "a" * 32),
    ("nodomain", None),
    ("dollar$@uchicago.edu", None),
])
def test_username_mapping(username, expected):
    name, problem = RULES.map(username, "id-x")
    assert name == expected
    assert (problem is None) == (expected is not None)
    if problem:
        assert repr(username) in problem or "domain" in problem


def test_override_is_validated_and_may_use_identity_id():
    rules = UsernameRules(domains=[], overrides={"ID-9": "nine", "bad@x.org": "-bad"})
    assert rules.map("someone@x.org", "id-9") == ("nine", None)
    assert rules.map("bad@x.org")[0] is None


@pytest.mark.parametrize("name,include,exclude,selected", [
    ("osg.ProjA", [], [], True),
    ("osg.ProjA", ["osg.*"], [], True),
    ("osg.ProjA", ["OSG.PROJA"], [], True),
    ("other.x", ["osg.*"], [], False),
    ("osg.test", ["osg.*", "!*.test"], [], False),
    ("osg.test", ["osg.*"], ["/test$/"], False),
    ("osg.Prod", ["/^osg\\.p/"], [], True),
])
def test_group_filters(name, include, exclude, selected):
    assert group_selected(name, include, exclude) is selected


@pytest.mark.parametrize("rules,globus,expected", [
    (GroupNameRules(), "osg.ProjA", "osg-proja"),
    (GroupNameRules(template="@{name}"), "osg.ProjA", "@osg-proja"),
    (GroupNameRules(rules=[{"match": "osg.*", "template": "{last}"}]), "osg.ProjA", "proja"),
    (GroupNameRules(overrides={"osg.ProjA": "pa"}), "osg.ProjA", "pa"),
    (GroupNameRules(template="{name.__class__}"), "x", None),
    (GroupNameRules(), "bad name", None),
    (GroupNameRules(), "-rf", None),
    (GroupNameRules(), "a/b", None),
    (GroupNameRules(), "$(id)", None),
    (GroupNameRules(), "x" * 40, None),
    (GroupNameRules(), "1abc", None),
])
def test_group_name_mapping(rules, globus, expected):
    assert rules.map(globus, "gid-1")[0] == expected


def test_allocate_id_skips_taken_and_wraps():
    assert allocate_id(10, 20, {10, 11}) == 12
    assert allocate_id(10, 20, {19, 20}, start=19) == 10
    with pytest.raises(SyncError):
        allocate_id(10, 11, {10, 11})


def test_new_members_get_sequential_uids_avoiding_local_ids():
    db = db_with(users=[PasswdEntry("legacy", "x", 20001, 20001, "", "/", "/bin/sh")])
    plan = plan_users([member("ann"), member("bob")], empty_state(), db, UserPlanSettings(RULES, OPTS, mode="new"))
    assert [(c["name"], c["uid"], c["gid"]) for c in plan["create"]] == [("ann", 20000, 20000), ("bob", 20002, 20002)]
    assert plan["create"][0]["home"] == "/home/ann" and plan["create"][0]["gecos"] == "Ann"
    assert user_plan_changed(plan)
    diff = user_plan_diff(plan)
    assert "ann:x:20000:20000:Ann:/home/ann:/bin/bash" in diff["after"]


def test_existing_local_accounts_are_not_adopted_and_root_never():
    plan = plan_users([member("root"), member("admin")], empty_state(), db_with(), UserPlanSettings(RULES, OPTS, mode="all"))
    assert [s["name"] for s in plan["skipped"]] == ["admin", "root"] and not plan["create"]
    adopt = replace(OPTS, adopt_existing=True)
    plan = plan_users([member("root"), member("admin")], empty_state(), db_with(), UserPlanSettings(RULES, adopt, mode="all"))
    # both are privileged names (issue 14 item 5): never adopted, even with adopt_existing
    assert not plan["adopt"] and [s["name"] for s in plan["skipped"]] == ["admin", "root"]
    assert all("privileged" in s["reason"] for s in plan["skipped"])
    local = PasswdEntry("dana", "x", 20050, 20050, "Dana", "/home/dana", "/bin/zsh")
    plan = plan_users([member("dana")], empty_state(), db_with(users=[local]), UserPlanSettings(RULES, adopt, mode="all"))
    assert [a["name"] for a in plan["adopt"]] == ["dana"] and plan["adopt"][0]["shell"] == "/bin/zsh"


def test_two_identities_one_name_first_provisioned_keeps_it():
    a = member("ann", domain="uchicago.edu", iid="id-a")
    b = member("ann", domain="globusid.org", iid="id-b")
    plan = plan_users([a, b], empty_state(), db_with(), UserPlanSettings(RULES, OPTS))
    assert not plan["create"] and len(plan["errors"]) == 2
    state = empty_state()
    state["users"]["id-b"] = {"name": "ann", "uid": 20000, "gid": 20000, "status": "active", "fingerprint": fingerprint(b)}
    db = db_with(users=[PasswdEntry("ann", "x", 20000, 20000, "Ann", "/home/ann", "/bin/bash")])
    plan = plan_users([a, b], state, db, UserPlanSettings(RULES, OPTS))
    assert [e["identity_id"] for e in plan["errors"]] == ["id-a"] and not plan["create"] and not plan["update"]


def provisioned(*members, **status):
    state = empty_state()
    users = []
    for n, m in enumerate(members):
        local = m.username.split("@")[0]
        state["users"][m.identity_id] = {"name": local, "uid": 20000 + n, "gid": 20000 + n, "status": status.get(local, "active"),
                                         "globus_username": m.username, "fingerprint": fingerprint(m), "private_group": True}
        users.append(PasswdEntry(local, "x", 20000 + n, 20000 + n, m.full_name, "/home/" + local, "/bin/bash"))
    return state, users


def test_updated_mode_detects_changes_force_and_ignores_new():
    ann, bob = member("ann"), member("bob")
    state, users = provisioned(ann, bob)
    db = db_with(users=users)
    plan = plan_users([ann, bob, member("cat")], state, db, UserPlanSettings(RULES, OPTS, mode="updated"))
    assert not user_plan_changed(plan)
    renamed = ann._replace(full_name="Ann Other")
    plan = plan_users([renamed, bob], state, db, UserPlanSettings(RULES, OPTS, mode="updated"))
    assert [(u["name"], u["changes"]) for u in plan["update"]] == [("ann", {"gecos": "Ann Other"})]
    mail = bob._replace(email="new@example.org")
    plan = plan_users([ann, mail], state, db, UserPlanSettings(RULES, OPTS, mode="updated"))
    assert [(u["name"], u["changes"]) for u in plan["update"]] == [("bob", {})]
    plan = plan_users([ann, bob], state, db, UserPlanSettings(RULES, OPTS, mode="updated", force=True))
    assert len(plan["update"]) == 2
    plan = plan_users([ann, bob], state, db, UserPlanSettings(RULES, OPTS, mode="new"))
    assert not user_plan_changed(plan)


def test_updated_and_unlocked_users_say_what_was_before_and_what_is_after():
    ann, bob = member("ann", full="Ann A", email="ann@old.org"), member("bob")
    state, users = provisioned(ann, bob, bob="locked")
    state["users"][ann.identity_id].update(full_name="Ann A", email="ann@old.org")
    db = db_with(users=users, shadow=[ShadowEntry("bob", "!*", "", "", "", "", "", "1", "")])
    moved = ann._replace(full_name="Ann Other", email="ann@new.org")
    plan = plan_users([moved, bob], state, db, UserPlanSettings(RULES, OPTS, mode="updated"))
    shown = {u["name"]: (u["before"], u["after"]) for u in preview_user_plan(plan)["updated"]}
    assert shown["ann"] == ({"gecos": "Ann A", "full_name": "Ann A", "email": "ann@old.org"},
                            {"gecos": "Ann Other", "full_name": "Ann Other", "email": "ann@new.org"})
    assert shown["bob"] == ({"locked": True, "shell": "/bin/bash"}, {"locked": False, "shell": "/bin/bash"})


@pytest.mark.parametrize("departed,key", [("lock", "lock"), ("remove", "remove"), ("keep", None)])
def test_departed_users(departed, key):
    ann, bob = member("ann"), member("bob")
    state, users = provisioned(ann, bob)
    db = db_with(users=users)
    plan = plan_users([ann], state, db, UserPlanSettings(RULES, replace(OPTS, departed=departed), mode="updated"))
    for k in ("lock", "remove"):
        assert [i["name"] for i in plan[k]] == (["bob"] if k == key else [])
    plan = plan_users([ann], state, db, UserPlanSettings(RULES, OPTS, mode="new"))
    assert not plan["lock"]
    plan = plan_users([ann], state, db, UserPlanSettings(RULES, OPTS, mode="all", complete=False))
    assert not plan["lock"]


def test_locked_user_not_relocked_and_unlocked_when_back():
    ann, bob = member("ann"), member("bob")
    state, users = provisioned(ann, bob, bob="locked")
    shadow = [ShadowEntry("bob", "!*", "", "", "", "", "", "1", "")]
    db = db_with(users=users, shadow=shadow)
    assert not user_plan_changed(plan_users([ann], state, db, UserPlanSettings(RULES, OPTS)))
    plan = plan_users([ann, bob], state, db, UserPlanSettings(RULES, OPTS))
    assert [u["name"] for u in plan["unlock"]] == ["bob"]


def test_removed_users_uid_is_never_handed_out_again():
    ann = member("ann")
    state, users = provisioned(ann, ann="removed")
    plan = plan_users([member("zed")], state, db_with(), UserPlanSettings(RULES, OPTS))
    assert plan["create"][0]["uid"] == 20001
    plan = plan_users([ann], state, db_with(), UserPlanSettings(RULES, OPTS, mode="all"))
    assert plan["create"][0]["uid"] == 20000 and plan["create"][0]["name"] == "ann"


def test_pending_allocation_is_resumed_or_recreated_with_same_uid():
    ann = member("ann")
    state, users = provisioned(ann, ann="pending")
    plan = plan_users([ann], state, db_with(users=users), UserPlanSettings(RULES, OPTS, mode="new"))
    assert [r["name"] for r in plan["resume"]] == ["ann"]
    plan = plan_users([ann], state, db_with(), UserPlanSettings(RULES, OPTS, mode="updated"))
    assert plan["create"][0]["uid"] == 20000


def test_only_and_absent():
    ann, bob = member("ann"), member("bob")
    plan = plan_users([ann, bob], empty_state(), db_with(), UserPlanSettings(RULES, OPTS, mode="new", only=("bob",)))
    assert [c["name"] for c in plan["create"]] == ["bob"]
    state, users = provisioned(ann, bob)
    plan = plan_users([ann, bob], state, db_with(users=users), UserPlanSettings(RULES, OPTS, only=("bob",), absent=True))
    assert [r["name"] for r in plan["remove"]] == ["bob"] and not plan["lock"]


def test_uid_drift_is_reported_not_touched():
    ann = member("ann")
    state, users = provisioned(ann)
    db = db_with(users=[users[0]._replace(uid=31000)])
    plan = plan_users([ann], state, db, UserPlanSettings(RULES, OPTS))
    assert plan["errors"] and not user_plan_changed(plan)


def group_doc(name, gid, *members):
    return GlobusGroupDoc(gid, name, "root", "", [member(m) for m in members])


def test_group_plan_create_rename_members_failed_and_departed():
    ann, bob = member("ann"), member("bob")
    state, users = provisioned(ann, bob)
    db = db_with(users=users)
    rules = GroupNameRules()
    groups = [group_doc("osg.A", "g-a", "ann", "bob", "ghost"), group_doc("osg.B", "g-b"), group_doc("bad name", "g-c")]
    plan = plan_groups(groups, {"g-d": "503 twice"}, state, db, GroupPlanSettings(rules, GOPTS))
    assert [(c["name"], c["gid"], c["members"]) for c in plan["create"]] == [("osg-a", 5000, ["ann", "bob"]), ("osg-b", 5001, [])]
    assert sorted(e["globus_group_id"] for e in plan["errors"]) == ["g-c", "g-d"]
    # provisioned; then Globus renames B and A loses bob
    state["groups"] = {"g-a": {"name": "osg-a", "gid": 5000, "status": "active"}, "g-b": {"name": "osg-b", "gid": 5001, "status": "active"},
                       "g-old": {"name": "old", "gid": 5002, "status": "active"}}
    db = db_with(users=users, groups=[GroupEntry("osg-a", "x", 5000, ["ann", "bob"]), GroupEntry("osg-b", "x", 5001, []),
                                      GroupEntry("old", "x", 5002, ["ann"])])
    groups = [group_doc("osg.A", "g-a", "ann"), group_doc("osg.Bee", "g-b")]
    plan = plan_groups(groups, {}, state, db, GroupPlanSettings(rules, GOPTS))
    assert [(r["old_name"], r["name"], r["gid"]) for r in plan["rename"]] == [("osg-b", "osg-bee", 5001)]
    assert [(m["name"], m["removed"]) for m in plan["members"]] == [("osg-a", ["bob"])]
    assert not plan["remove"] and not plan["create"]
    plan = plan_groups(groups, {}, state, db, GroupPlanSettings(rules, replace(GOPTS, departed="remove")))
    assert [r["name"] for r in plan["remove"]] == ["old"]
    plan = plan_groups(groups, {}, state, db, GroupPlanSettings(rules, replace(GOPTS, membership="append")))
    assert not plan["members"]
    plan = plan_groups([group_doc("osg.A", "g-a", "ann", "bob")], {}, state, db, GroupPlanSettings(rules, GOPTS, include=("osg.a",)))
    assert not group_plan_changed(plan)


def test_group_not_adopted_and_collisions():
    db = db_with(groups=[GroupEntry("osg-a", "x", 777, [])])
    docs = [group_doc("osg.A", "g-a"), group_doc("osg-x", "g-x"), group_doc("osg.x", "g-y")]
    plan = plan_groups(docs, {}, empty_state(), db, GroupPlanSettings(GroupNameRules(), GOPTS))
    assert [s["name"] for s in plan["skipped"]] == ["osg-a"]
    assert sorted(e["globus_group_id"] for e in plan["errors"]) == ["g-x", "g-y"]


# ---------------------------------------------------------------------------------------
# apply, for real, under a temp root
# ---------------------------------------------------------------------------------------
@pytest.fixture
def env(tmp_path):
    module = ShellFreeModule()
    runner = CommandRunner(module)
    backend = PosixAccounts(runner, root=str(tmp_path / "root"))
    backend.ensure_databases()
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    saved = []
    return {"runner": runner, "backend": backend, "hooks": str(hooks), "tmp": tmp_path, "module": module,
            "save": lambda s: saved.append(json.loads(json.dumps(s))), "saved": saved}


def write_hook(path, body):
    with open(path, "w") as handle:
        handle.write("#!/bin/sh\n" + body)
    os.chmod(path, 0o755)


@NEEDS_ROOT
def test_apply_creates_users_homes_hooks_and_is_idempotent(env):
    log = env["tmp"] / "hook.log"
    write_hook(os.path.join(env["hooks"], "10-log"), 'echo "$1 $2 $DATASYNC_UID $DATASYNC_EMAIL $DATASYNC_GLOBUS_USERNAME" >> %s\n' % log)
    write_hook(os.path.join(env["hooks"], "20-fail-for-bob"), '[ "$DATASYNC_USER" != bob ]\n')
    write_hook(os.path.join(env["hooks"], ".hidden"), "exit 1\n")
    state = empty_state()
    members = [member("ann", full="Ann A"), member("bob")]
    db = env["backend"].read()
    plan = plan_users(members, state, db, UserPlanSettings(RULES, OPTS, mode="new"))
    result = apply_user_plan(plan, Target(state, env["save"], env["backend"], db, env["runner"], env["hooks"]))
    assert [c["name"] for c in result["created"]] == ["ann", "bob"]
    assert env["saved"][0]["users"]["id-ann"]["status"] == "pending"  # written before the accounts
    db = env["backend"].read()
    assert db.users["ann"] == PasswdEntry("ann", "x", 20000, 20000, "Ann A", "/home/ann", "/bin/bash")
    assert os.stat(env["backend"].path("/home/ann")).st_uid == 20000
    assert log.read_text().splitlines() == ["created ann 20000 ann@example.org ann@uchicago.edu", "created bob 20001 bob@example.org bob@uchicago.edu"]
    assert [e["name"] for e in result["errors"]] == ["bob"] and [h["action"] for h in pending_hooks(state["users"]["id-bob"])] == ["created"]
    # next run retries only bob's hooks; then nothing to do
    os.unlink(os.path.join(env["hooks"], "20-fail-for-bob"))
    plan = plan_users(members, state, db, UserPlanSettings(RULES, OPTS, mode="all"))
    assert [h["name"] for h in plan["hooks"]] == ["bob"] and not plan["create"] and not plan["update"]
    result = apply_user_plan(plan, Target(state, env["save"], env["backend"], db, env["runner"], env["hooks"]))
    assert not result["errors"] and not pending_hooks(state["users"]["id-bob"])
    assert not user_plan_changed(plan_users(members, state, env["backend"].read(), UserPlanSettings(RULES, OPTS, mode="all")))
    # bob departs: locked with nologin, hook told "locked"
    db = env["backend"].read()
    plan = plan_users(members[:1], state, db, UserPlanSettings(RULES, OPTS, mode="updated"))
    result = apply_user_plan(plan, Target(state, env["save"], env["backend"], db, env["runner"], env["hooks"]))
    db = env["backend"].read()
    assert [r["name"] for r in result["locked"]] == ["bob"] and db.user_locked("bob") and db.users["bob"].shell == "/usr/sbin/nologin"
    assert log.read_text().splitlines()[-1].startswith("locked bob 20001")
    assert not user_plan_changed(plan_users(members[:1], state, db, UserPlanSettings(RULES, OPTS, mode="all")))


def test_apply_writes_progress_lines_at_a_steady_interval(env):
    lines, ticks = [], iter(range(0, 1000, 10))
    progress = Progress("identity sync users", lines.append, interval=25, unit="accounts", clock=lambda: next(ticks), wall=lambda: 0)
    members = [member("u%02d" % n) for n in range(6)]
    db = env["backend"].read()
    plan = plan_users(members, empty_state(), db, UserPlanSettings(RULES, OPTS, mode="new"))
    apply_user_plan(plan, Target(empty_state(), env["save"], env["backend"], db, env["runner"], create_home=False, progress=progress))
    assert len(lines) >= 3 and all(" progress identity sync users: " in line for line in lines)
    assert lines[-1].split(": ", 1)[1].startswith("6 of 6 accounts") and lines[-1].endswith(": finished")
    quiet = []
    nothing = plan_users([], empty_state(), db, UserPlanSettings(RULES, OPTS, mode="new"))
    apply_user_plan(nothing, Target(empty_state(), env["save"], env["backend"], db, create_home=False,
                                    progress=Progress("identity sync users", quiet.append, interval=3600)))
    assert quiet == []  # a run with nothing to do writes no line


@NEEDS_ROOT
def test_apply_groups_for_real(env):
    state = empty_state()
    members = [member("ann"), member("bob")]
    db = env["backend"].read()
    apply_user_plan(plan_users(members, state, db, UserPlanSettings(RULES, OPTS)), Target(state, env["save"], env["backend"], db, env["runner"]))
    write_hook(os.path.join(env["hooks"], "10-members"), 'cat > %s/"$DATASYNC_GROUP".members\n' % env["tmp"])
    rules = GroupNameRules(template="@{name}")
    groups = [group_doc("osg.A", "g-a", "ann", "bob"), group_doc("plain", "g-p", "bob")]
    plan = plan_groups(groups, {}, state, env["backend"].read(), GroupPlanSettings(rules, GOPTS))
    result = apply_group_plan(plan, Target(state, env["save"], env["backend"], runner=env["runner"], hooks_dir=env["hooks"]))
    assert not result["errors"]
    db = env["backend"].read()
    assert db.groups["@osg-a"] == GroupEntry("@osg-a", "x", 5000, ["ann", "bob"]) and db.groups["@plain"].members == ["bob"]
    assert (env["tmp"] / "@osg-a.members").read_text() == "ann\nbob\n"
    groups = [group_doc("osg.A2", "g-a", "ann"), group_doc("plain", "g-p", "bob")]
    plan = plan_groups(groups, {}, state, db, GroupPlanSettings(rules, GOPTS))
    apply_group_plan(plan, Target(state, env["save"], env["backend"], runner=env["runner"], hooks_dir=env["hooks"]))
    db = env["backend"].read()
    assert db.groups["@osg-a2"] == GroupEntry("@osg-a2", "x", 5000, ["ann"]) and "@osg-a" not in db.groups
    assert not group_plan_changed(plan_groups(groups, {}, state, db, GroupPlanSettings(rules, GOPTS)))


def test_hook_listing_ignores_non_executables(tmp_path):
    (tmp_path / "b").write_text("x")
    write_hook(str(tmp_path / "a"), "")
    write_hook(str(tmp_path / "c~"), "")
    os.mkdir(str(tmp_path / "d"))
    assert [os.path.basename(h) for h in list_hooks(str(tmp_path))] == ["a"]
    assert list_hooks(str(tmp_path / "missing")) == []
    assert stat.S_IMODE(os.stat(str(tmp_path / "a")).st_mode) == 0o755


def test_globus_apps_are_skipped_not_errors():
    app = Member("c1", "c1@clients.auth.globus.org", "lab client", None, "active", "admin")
    plan = plan_users([app], empty_state(), db_with(), UserPlanSettings(RULES, OPTS))
    assert not plan["errors"] and plan["skipped"][0]["identity_id"] == "c1"
