"""Identity sync hardening (issue 14 items 5, 6, 7, 8, 14): the pure rules and the local file parts.

Property-based tests (hypothesis) hold the name rules: nothing outside ASCII ever maps to a local
name, and a mapped name is exactly the ASCII lower-casing of its source.
"""

import json
import os
import stat
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ansible_collections.sciops.datasync.plugins.module_utils._globus.groups import GlobusGroupDoc, Member
from ansible_collections.sciops.datasync.plugins.module_utils._identity.accounts import AccountDatabase, GroupEntry, PasswdEntry, PosixAccounts
from ansible_collections.sciops.datasync.plugins.module_utils._identity.apply import Target, apply_user_plan
from ansible_collections.sciops.datasync.plugins.module_utils._identity.ledger import HookJournal, IdLedger, LedgerError
from ansible_collections.sciops.datasync.plugins.module_utils._identity.model import add_pending_hook, empty_state, pending_hooks
from ansible_collections.sciops.datasync.plugins.module_utils._identity.names import (
    DEFAULT_DENIED_NAMES, GroupNameRules, UsernameRules, ascii_lower, group_name_problem, group_selected, name_denied, user_name_problem,
)
from ansible_collections.sciops.datasync.plugins.module_utils._identity.plan import (
    GroupOptions, GroupPlanSettings, Reserved, UserOptions, UserPlanSettings, departure_limit, fingerprint, plan_groups, plan_users,
)
from ansible_collections.sciops.datasync.plugins.module_utils._identity.policy import (
    PolicyError, home_owners, login_defs, parse_sudoers, sudoers_names,
)

RULES = UsernameRules(domains=["example.org"], overrides={"kate@example.org": "kate"})
OPTS = UserOptions(uid_min=20000, uid_max=20100, primary_group=None, home_root="/home", shell="/bin/bash", departed="lock",
                   adopt_existing=True, adopt_uids=(1000, 60000))
GOPTS = GroupOptions(gid_min=5000, gid_max=5100, membership="exact", departed="remove", adopt_existing=True, adopt_gids=(1000, 60000))


def member(local, iid=None, domain="example.org"):
    return Member(iid or "id-" + local, "%s@%s" % (local, domain), local.title(), local + "@mail.org", "active", "member")


def db_with(users=(), groups=(), shadow=()):
    base = [PasswdEntry("root", "x", 0, 0, "root", "/root", "/bin/bash")]
    return AccountDatabase(base + list(users), [GroupEntry("root", "x", 0, [])] + list(groups), shadow)


def active(name, uid, iid=None, **extra):
    return iid or "id-" + name, dict({"name": name, "uid": uid, "gid": uid, "status": "active", "private_group": True}, **extra)


# ---------------------------------------------------------------------------------------
# item 7: names that fold
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("username", [
    "\u212aate@example.org",      # KELVIN SIGN: lower() gives 'kate'
    "\u0130nfo@example.org",      # LATIN CAPITAL I WITH DOT: lower() gives 'i' + combining dot
    "\u017fam@example.org",       # LONG S: casefolds to 's'
    "alice@example.\u212aorg",    # a folding domain
    "ALICE@EXAMPLE.ORG\u200b",    # zero-width space
    "\uff41lice@example.org",     # FULLWIDTH a
])
def test_non_ascii_is_refused_before_any_case_change(username):
    name, problem = RULES.map(username, "id-x")
    assert name is None and problem and repr(username) in problem or "domain" in problem


def test_a_kelvin_sign_never_reaches_kates_override():
    assert RULES.map("kate@example.org") == ("kate", None)
    assert RULES.map("KATE@example.org") == ("kate", None)
    assert RULES.map("\u212aATE@example.org")[0] is None  # would be 'kate@example.org' after str.lower()


def test_group_names_and_filters_do_not_fold():
    rules = GroupNameRules(overrides={"science": "@science"})
    assert rules.map("\u017fcience")[0] is None  # LONG S would fold to 'science'
    assert rules.map("Science") == ("@science", None)
    assert rules.map("Proj.\u212aelvin")[0] is None
    assert not group_selected("\u212aelvin", include=["kelvin"])
    assert not group_selected("\u212aelvin", include=["/^kelvin$/"])
    assert not group_selected("\u212aelvin", include=["k*"])
    assert group_selected("Kelvin", include=["/^kelvin$/"]) and group_selected("Kelvin", include=["k*"])


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(min_size=1, max_size=40), st.sampled_from(["example.org", "EXAMPLE.org", "other.net"]))
def test_property_a_mapped_user_name_is_the_ascii_lowering_of_its_source(local, domain):
    rules = UsernameRules(domains=["example.org"])
    name, problem = rules.map("%s@%s" % (local, domain), "id-p")
    assert (name is None) != (problem is None)
    if name is not None:
        assert name.isascii() and user_name_problem(name) is None
        assert local.isascii() and name == ascii_lower(local)
        assert domain.lower() == "example.org"


@settings(max_examples=300)
@given(st.text(min_size=1, max_size=30))
def test_property_non_ascii_never_maps_without_an_exact_override(text):
    rules = UsernameRules(domains=["example.org"], overrides={"kate@example.org": "kate"})
    name, dummy = rules.map(text + "@example.org")
    if not text.isascii():
        assert name is None
    name, dummy = GroupNameRules(template="@{name}").map(text)
    if not text.isascii():
        assert name is None
    elif name is not None:
        assert group_name_problem(name) is None and name.isascii()


@given(st.text(max_size=30))
def test_property_ascii_lower_touches_only_a_to_z(text):
    out = ascii_lower(text)
    assert len(out) == len(text)
    for before, after in zip(text, out):
        assert after == (before.lower() if "A" <= before <= "Z" else before)


@given(st.text(min_size=1, max_size=20))
def test_property_a_denied_name_is_denied_in_any_ascii_case(text):
    name = "wheel" if not text.isascii() else text
    assert name_denied(name.upper(), DEFAULT_DENIED_NAMES) == name_denied(name, DEFAULT_DENIED_NAMES) or not name.isascii()
    assert name_denied("WHEEL", DEFAULT_DENIED_NAMES) == "wheel"


# ---------------------------------------------------------------------------------------
# item 5: privileged names and adoption
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["root", "admin", "wheel", "sudo", "adm", "docker", "lxd", "disk", "shadow", "staff",
                                  "systemd-network", "libvirt", "kvm", "_apt", "www-data"])
def test_privileged_user_names_are_never_created_nor_adopted(name):
    local = PasswdEntry(name, "x", 30000, 30000, "x", "/home/" + name, "/bin/sh")
    for db in (db_with(), db_with(users=[local])):
        plan = plan_users([member(name)], empty_state(), db, UserPlanSettings(RULES, replace(OPTS, uid_max=40000)))
        assert not plan["create"] and not plan["adopt"], name
        assert "privileged" in plan["skipped"][0]["reason"]


def test_sudoers_groups_extend_the_denylist_for_users_and_groups():
    names, includes = parse_sudoers("%labops ALL=(ALL) ALL\nUser_Alias OPS = bob, %:netadm\nOPS ALL=/bin/ls\n#includedir /etc/sudoers.d\n")
    assert {"labops", "netadm", "bob"} <= names and includes == [("includedir", "/etc/sudoers.d")]
    denied = DEFAULT_DENIED_NAMES + tuple(names)
    plan = plan_users([member("labops")], empty_state(), db_with(), UserPlanSettings(RULES, replace(OPTS, denied=denied)))
    assert not plan["create"] and "labops" in plan["skipped"][0]["reason"]
    doc = GlobusGroupDoc("g-1", "labops", "root", "", [])
    plan = plan_groups([doc], {}, empty_state(), db_with(), GroupPlanSettings(GroupNameRules(), replace(GOPTS, denied=denied)))
    assert not plan["create"] and "privileged" in plan["skipped"][0]["reason"]


def test_sudoers_read_without_following_links(tmp_path):
    etc = tmp_path / "etc"
    (etc / "sudoers.d").mkdir(parents=True)
    (etc / "sudoers").write_text("root ALL=(ALL) ALL\n%wheelers ALL=(ALL) ALL\n@includedir /etc/sudoers.d\n")
    (etc / "sudoers.d" / "lab").write_text("%labops ALL=(ALL) NOPASSWD: ALL\n")
    assert {"root", "wheelers", "labops"} <= sudoers_names(str(tmp_path))
    (tmp_path / "elsewhere").write_text("%x ALL=ALL\n")
    os.symlink(str(tmp_path / "elsewhere"), str(etc / "sudoers.d" / "planted"))
    with pytest.raises(PolicyError, match="symbolic link"):
        sudoers_names(str(tmp_path))


def test_login_defs_ranges(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "login.defs").write_text("UID_MIN 2000\n#UID_MAX 1\nUID_MAX 50000\nGID_MIN\t2000\n")
    assert login_defs(str(tmp_path)) == {"UID_MIN": 2000, "UID_MAX": 50000, "GID_MIN": 2000, "GID_MAX": 60000}


def test_system_accounts_and_groups_are_never_adopted():
    sysop = PasswdEntry("sysop", "x", 1, 1, "local sysadmin", "/var/sysop", "/bin/bash")
    svc = PasswdEntry("svc", "x", 20050, 20050, "service", "/srv/svc", "/usr/sbin/nologin")
    plan = plan_users([member("sysop"), member("svc")], empty_state(), db_with(users=[sysop, svc]), UserPlanSettings(RULES, OPTS))
    assert [a["name"] for a in plan["adopt"]] == ["svc"]
    assert [s["name"] for s in plan["skipped"]] == ["sysop"] and "outside the site's uid range" in plan["skipped"][0]["reason"]
    # in the module's range but below login.defs UID_MIN: still a system account
    plan = plan_users([member("svc")], empty_state(), db_with(users=[svc]), UserPlanSettings(RULES, replace(OPTS, adopt_uids=(30000, 60000))))
    assert not plan["adopt"]
    groups = [GroupEntry("render2", "x", 105, ["sysop"]), GroupEntry("proj", "x", 5050, [])]
    docs = [GlobusGroupDoc("g-r", "render2", "root", "", []), GlobusGroupDoc("g-p", "proj", "root", "", [])]
    plan = plan_groups(docs, {}, empty_state(), db_with(groups=groups), GroupPlanSettings(GroupNameRules(), GOPTS))
    assert [c["name"] for c in plan["create"]] == ["proj"] and plan["create"][0].get("adopt")
    assert [s["name"] for s in plan["skipped"]] == ["render2"] and "system group" in plan["skipped"][0]["reason"]


def test_a_group_is_never_renamed_to_a_privileged_name():
    state = empty_state()
    state["groups"]["g-1"] = {"name": "proj", "gid": 5001, "status": "active", "globus_group": "proj"}
    db = db_with(groups=[GroupEntry("proj", "x", 5001, [])])
    plan = plan_groups([GlobusGroupDoc("g-1", "docker", "root", "", [])], {}, state, db, GroupPlanSettings(GroupNameRules(), GOPTS))
    assert not plan["rename"] and "privileged" in plan["errors"][0]["reason"]


def test_unlock_gives_back_the_shell_recorded_at_lock():
    m = member("svc")
    iid, record = active("svc", 20050, fingerprint=fingerprint(m), shell="/usr/sbin/nologin")
    state = empty_state()
    state["users"][iid] = record
    entry = PasswdEntry("svc", "x", 20050, 20050, "Svc", "/srv/svc", "/usr/sbin/nologin")
    plan = plan_users([], state, db_with(users=[entry]), UserPlanSettings(RULES, OPTS, mode="updated"))
    assert plan["lock"][0]["shell_before_lock"] == "/usr/sbin/nologin"
    record.update(status="locked", shell_before_lock="/bin/zsh", shell="/bin/bash")
    plan = plan_users([m], state, db_with(users=[entry]), UserPlanSettings(RULES, OPTS, mode="updated"))
    assert plan["unlock"][0]["shell"] == "/bin/zsh"


# ---------------------------------------------------------------------------------------
# item 6: mass departure
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("provisioned,limits,expected", [
    (3, None, 1), (100, None, 10), (20000, None, 10), (20000, {"count": 500, "percent": 1}, 200), (50, {"count": 100, "percent": 100}, 50),
])
def test_departure_limit(provisioned, limits, expected):
    assert departure_limit(limits, provisioned) == expected


def test_everyone_gone_from_a_response_changes_nothing_and_says_how_to_proceed():
    state = empty_state()
    users = [PasswdEntry("u%02d" % n, "x", 20000 + n, 20000 + n, "U", "/home/u%02d" % n, "/bin/bash") for n in range(30)]
    for entry in users:
        iid, record = active(entry.name, entry.uid)
        state["users"][iid] = record
    for departed in ("lock", "remove"):
        plan = plan_users([], state, db_with(users=users), UserPlanSettings(RULES, replace(OPTS, departed=departed), mode="updated"))
        assert plan["refused"] and "refusing 30 user departures" in plan["refused"] and "max_departures" in plan["refused"]
        assert "only" in plan["refused"]
    # three of thirty: allowed by count 10 but not by 10 % (3); a raised limit lets them go
    kept = [member(e.name) for e in users[3:]]
    plan = plan_users(kept, state, db_with(users=users), UserPlanSettings(RULES, OPTS, mode="updated"))
    assert plan["refused"] is None and len(plan["lock"]) == 3
    plan = plan_users(kept[1:], state, db_with(users=users), UserPlanSettings(RULES, OPTS, mode="updated"))
    assert plan["refused"] and "refusing 4 " in plan["refused"]
    limits = replace(OPTS, max_departures={"count": 10, "percent": 50})
    assert plan_users(kept[1:], state, db_with(users=users), UserPlanSettings(RULES, limits, mode="updated"))["refused"] is None
    # naming the accounts with only: the operator decided
    plan = plan_users([], state, db_with(users=users), UserPlanSettings(RULES, OPTS, mode="updated", only=("u00", "u01", "u02", "u03")))
    assert plan["refused"] is None and len(plan["lock"]) == 4


def test_group_departures_are_guarded_too():
    state = empty_state()
    users, groups = [], []
    for n in range(20):
        entry = PasswdEntry("u%02d" % n, "x", 20000 + n, 20000 + n, "U", "/home/u%02d" % n, "/bin/bash")
        users.append(entry)
        iid, record = active(entry.name, entry.uid)
        state["users"][iid] = record
    for n in range(20):
        state["groups"]["g-%d" % n] = {"name": "proj%d" % n, "gid": 5000 + n, "status": "active", "globus_group": "proj%d" % n}
        groups.append(GroupEntry("proj%d" % n, "x", 5000 + n, [u.name for u in users]))
    db = db_with(users=users, groups=groups)
    plan = plan_groups([], {}, state, db, GroupPlanSettings(GroupNameRules(), GOPTS))
    assert plan["refused"] and "refusing 20 local groups removed" in plan["refused"]
    assert plan["departures"] == {"groups_removed": 20, "members_dropped": 0}
    empty = [GlobusGroupDoc("g-%d" % n, "proj%d" % n, "root", "", []) for n in range(20)]
    plan = plan_groups(empty, {}, state, db, GroupPlanSettings(GroupNameRules(), GOPTS))
    assert plan["refused"] and "active users dropped from their groups" in plan["refused"]
    assert plan["departures"] == {"groups_removed": 0, "members_dropped": 400}


# ---------------------------------------------------------------------------------------
# item 8: ids never reissued
# ---------------------------------------------------------------------------------------
def test_reserved_ids_are_never_handed_out():
    plan = plan_users([member("new")], empty_state(), db_with(), UserPlanSettings(RULES, OPTS), Reserved(frozenset([20000, 20001]), frozenset([20002])))
    assert plan["create"][0]["uid"] == 20003
    doc = GlobusGroupDoc("g-1", "proj", "root", "", [])
    plan = plan_groups([doc], {}, empty_state(), db_with(), GroupPlanSettings(GroupNameRules(), GOPTS), Reserved(frozenset([5000]), frozenset([5001])))
    assert plan["create"][0]["gid"] == 5002


def test_id_ledger_is_append_only_and_never_followed(tmp_path):
    ledger = IdLedger(str(tmp_path / "state" / "identity_sync.ids"))
    assert ledger.read() == (set(), set())
    ledger.record([("uid", 20000, "ann", "id-ann"), ("gid", 20000, "ann", "id-ann")])
    ledger.record([("uid", 20001, "bo b\n", "id-bob")])
    assert ledger.read() == ({20000, 20001}, {20000})
    assert stat.S_IMODE(os.stat(ledger.path).st_mode) == 0o600
    assert len(open(ledger.path).read().splitlines()) == 3
    target = tmp_path / "target"
    target.write_text("precious\n")
    planted = IdLedger(str(tmp_path / "state" / "planted.ids"))
    os.symlink(str(target), planted.path)
    with pytest.raises(LedgerError, match="symbolic link"):
        planted.record([("uid", 1, "x", "y")])
    assert target.read_text() == "precious\n"
    os.chmod(ledger.path, 0o666)
    with pytest.raises(LedgerError, match="writable"):
        ledger.read()


def test_home_owners_are_reserved(tmp_path):
    home = tmp_path / "home"
    (home / "gone").mkdir(parents=True)
    os.symlink("/etc", str(home / "link"))
    uids, gids = home_owners(str(tmp_path), ["/home", "/nonexistent"])
    assert os.getuid() in uids and os.getgid() in gids


# ---------------------------------------------------------------------------------------
# item 14: crash leftovers (homes, hooks)
# ---------------------------------------------------------------------------------------
class NoRunner:
    def binary(self, *args, **kwargs):
        return None


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another uid needs root")
def test_home_is_complete_or_absent_and_leftovers_are_cleaned(tmp_path):
    backend = PosixAccounts(NoRunner(), root=str(tmp_path / "root"))
    skel = tmp_path / "skel"
    (skel / ".config").mkdir(parents=True)
    (skel / ".profile").write_text("x\n")
    parent = tmp_path / "root" / "home"
    parent.mkdir(parents=True)
    # a leftover temp from a killed run, and a half-made home from an older version
    leftover = parent / ".ann.datasync-new"
    leftover.mkdir()
    (leftover / "junk").write_text("x")
    half = parent / "bob"
    half.mkdir(mode=0o700)
    os.chmod(str(half), 0o700)
    assert backend.create_home("/home/ann", 20000, 20000, str(skel)) is True
    assert backend.create_home("/home/bob", 20001, 20001, str(skel)) is True
    for name, uid in (("ann", 20000), ("bob", 20001)):
        info = os.lstat(str(parent / name))
        assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (uid, 0o750)
        assert sorted(os.listdir(str(parent / name))) == [".config", ".profile"]
        assert os.lstat(str(parent / name / ".profile")).st_uid == uid
    assert sorted(os.listdir(str(parent))) == ["ann", "bob"]
    # an existing, finished home is left alone
    assert backend.create_home("/home/ann", 20005, 20005, str(skel)) is False
    assert os.lstat(str(parent / "ann")).st_uid == 20000


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another uid needs root")
def test_a_home_without_skeleton_is_made_in_place_and_a_half_made_one_rebuilt(tmp_path):
    backend = PosixAccounts(NoRunner(), root=str(tmp_path / "root"))
    parent = tmp_path / "root" / "home"
    parent.mkdir(parents=True)
    half = parent / "bob"  # a run killed between mkdir and the hand-over
    half.mkdir(mode=0o700)
    os.chmod(str(half), 0o700)
    os.symlink(str(tmp_path / "elsewhere"), str(parent / "eve"))
    assert backend.create_home("/home/ann", 20000, 20000, str(tmp_path / "no-skeleton")) is True
    assert backend.create_home("/home/bob", 20001, 20001) is True
    for name, uid in (("ann", 20000), ("bob", 20001)):
        info = os.lstat(str(parent / name))
        assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (uid, uid, 0o750)
        assert os.listdir(str(parent / name)) == []
    assert backend.create_home("/home/eve", 20002, 20002) is False  # a link stands there: never followed
    assert not os.path.lexists(str(tmp_path / "elsewhere"))
    assert backend.create_home("/home/ann", 20005, 20005) is False
    assert os.lstat(str(parent / "ann")).st_uid == 20000
    assert sorted(os.listdir(str(parent))) == ["ann", "bob", "eve"]


def test_hooks_are_owed_in_the_state_before_the_change(tmp_path):
    """The first save (before any account exists) already owes each new user's created hook."""
    saved = []

    class Backend:
        root = str(tmp_path)
        nologin_shell = "/usr/sbin/nologin"

        def create_batch(self, users, db=None):
            assert saved, "accounts created before the state was saved"
            raise KeyboardInterrupt  # killed here

    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "10-notify").write_text("#!/bin/sh\n")
    os.chmod(str(hooks / "10-notify"), 0o755)
    state = empty_state()
    plan = plan_users([member("ann"), member("bob")], state, db_with(), UserPlanSettings(RULES, OPTS))
    with pytest.raises(KeyboardInterrupt):
        apply_user_plan(plan, Target(state, lambda s: saved.append(json.loads(json.dumps(s))), Backend(), db_with(), None, str(hooks)))
    first = saved[0]["users"]
    assert {iid: [h["action"] for h in pending_hooks(r)] for iid, r in first.items()} == {"id-ann": ["created"], "id-bob": ["created"]}
    # the next run resumes the same change (same change id), not a second one
    record = first["id-ann"]
    change = pending_hooks(record)[0]["change"]
    assert add_pending_hook(record, "created") == change and len(pending_hooks(record)) == 1


def test_without_hooks_nothing_is_owed_and_the_state_is_saved_twice(tmp_path):
    """No hook executable: the write-ahead save and the commit, no hook entries to clear in a third."""
    saved = []

    class Backend:
        root = str(tmp_path)
        nologin_shell = "/usr/sbin/nologin"

        def create_batch(self, users, db=None):
            return {}

    state = empty_state()
    plan = plan_users([member("ann"), member("bob")], state, db_with(), UserPlanSettings(RULES, OPTS))
    result = apply_user_plan(plan, Target(state, lambda s: saved.append(json.loads(json.dumps(s))), Backend(), db_with(), None,
                                          str(tmp_path / "no-hooks"), create_home=False))
    assert [c["name"] for c in result["created"]] == ["ann", "bob"] and result["hooks_run"] == 0
    assert len(saved) == 2 and all(not pending_hooks(r) for r in saved[0]["users"].values())
    assert [r["status"] for r in saved[1]["users"].values()] == ["active", "active"]


def test_hook_journal_tolerates_a_cut_line(tmp_path):
    journal = HookJournal(str(tmp_path / "x.hooks-done"))
    journal.record("u", "id-ann", "c1")
    with open(journal.path, "a") as handle:
        handle.write('{"k": "u", "id": "id-b')
    assert journal.done() == {("u", "id-ann", "c1")}
    journal.clear()
    assert journal.done() == set()
