"""Identity sync attacks (issue 14 items 5, 6, 7, 8, 14), each run as its actor: a hostile Globus
upstream (the lab emulator seeded through its admin routes with hostile names, groups and
responses) or a local sysadmin's accounts on the host (a temp accounts root under the test's
folder). Modules run as files against the lab emulator; accounts are written with the real
shadow-utils and systemd-sysusers, or into the lab's slapd: each test runs once per backend (the
``backend`` fixture) unless it says why not."""

import collections
import json
import os
import random
import signal
import stat
import time
import uuid

import pytest

from tests.integration.gosync_lab import GlobusWorld, read_db, run_module, start_module

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="creates accounts under a temp root with shadow-utils (needs root)")


@pytest.fixture
def world(lab, tmp_path, backend):
    world = GlobusWorld(lab)
    world.root = backend.root
    world.tmp = tmp_path
    world.common = {"client_id": world.client_id, "client_secret_file": world.write_secret(tmp_path), "root": world.root,
                    "_args_dir": str(tmp_path), **backend.args}
    yield world
    world.clear_faults()


def users_args(world, **extra):
    args = dict(world.common, root_group=world.root_id, domains=["example.org"], uid_min=42000, uid_max=42999)
    args.update(extra)
    return args


def groups_args(world, **extra):
    args = dict(world.common, root_group=world.root_id, gid_min=43000, gid_max=43999)
    args.update(extra)
    return args


def snapshot(root):
    """Every file under the accounts root: path -> (mode, uid, gid, content or link target)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            info = os.lstat(path)
            if "identity_sync" in name or name.endswith(".lock"):
                continue
            body = os.readlink(path) if stat.S_ISLNK(info.st_mode) else (open(path, "rb").read() if stat.S_ISREG(info.st_mode) else None)
            out[os.path.relpath(path, root)] = (info.st_mode, info.st_uid, info.st_gid, body)
    return out


def local_sysadmin(root, lines_passwd, lines_group, sudoers=None):
    """What a local sysadmin set up on the host before the sync ever ran."""
    etc = os.path.join(root, "etc")
    os.makedirs(etc, exist_ok=True)
    with open(os.path.join(etc, "passwd"), "w") as handle:
        handle.write("root:x:0:0:root:/root:/bin/bash\n" + "".join(line + "\n" for line in lines_passwd))
    with open(os.path.join(etc, "group"), "w") as handle:
        handle.write("root:x:0:\n" + "".join(line + "\n" for line in lines_group))
    with open(os.path.join(etc, "shadow"), "w") as handle:
        handle.write("root:*:19000:0:99999:7:::\n" + "".join(line.split(":")[0] + ":*:19000:0:99999:7:::\n" for line in lines_passwd))
    os.chmod(os.path.join(etc, "shadow"), 0o640)
    with open(os.path.join(etc, "gshadow"), "w") as handle:
        handle.write("root:*::\n" + "".join(line.split(":")[0] + ":*::\n" for line in lines_group))
    with open(os.path.join(etc, "login.defs"), "w") as handle:
        handle.write("UID_MIN 1000\nUID_MAX 60000\nGID_MIN 1000\nGID_MAX 60000\nUSERGROUPS_ENAB yes\n")
    if sudoers:
        os.makedirs(os.path.join(etc, "sudoers.d"), exist_ok=True)
        with open(os.path.join(etc, "sudoers"), "w") as handle:
            handle.write("root ALL=(ALL:ALL) ALL\n%sudo ALL=(ALL:ALL) ALL\n@includedir /etc/sudoers.d\n")
        for name, text in sudoers.items():
            with open(os.path.join(etc, "sudoers.d", name), "w") as handle:
                handle.write(text)


# ---------------------------------------------------------------------------------------
# item 5: adoption and privileged names
# ---------------------------------------------------------------------------------------
def test_privileged_names_and_system_accounts_are_never_created_nor_adopted(lab_env, world, backend):
    # the host: a service account of its own and the sudoers policy; the site, where the backend keeps accounts: a
    # sysadmin at uid 1, a system group, a sudoers group, a service account with nologin in range
    local_sysadmin(world.root, ["hostop:x:990:990:host service:/var/lib/hostop:/usr/sbin/nologin"], ["hostop:x:990:"],
                   sudoers={"lab": "%labops ALL=(ALL) NOPASSWD: ALL\n"})
    backend.add(["sysop:x:1:1:local sysadmin:/var/sysop:/bin/bash", "svc:x:42500:42500:service:/srv/svc:/usr/sbin/nologin"],
                ["sysop:x:1:", "plugsys:x:46:sysop", "svc:x:42500:", "labops:x:1500:sysop"])
    # hostile upstream: people named like privileged accounts, the sudoers group and the host's service account, and
    # subgroups named like privileged groups, each trying to take over their membership
    hostile = ["root", "admin", "wheel", "sudo", "adm", "docker", "labops", "sysop", "systemd-network", "hostop"]
    members = [world.identity(n) for n in hostile] + [world.identity("svc"), world.identity("alice")]
    world.root_id = world.group("hard-root-" + world.tag, members)
    subgroups = {n: world.group(n, ["alice@example.org"], world.root_id) for n in ("wheel", "docker", "sudo", "labops", "plugsys", "staff")}
    before = snapshot(world.root), backend.view()
    proc, users = run_module("globus_user_sync", users_args(world, adopt_existing=True), lab_env)
    assert proc.returncode == 0, users
    assert [c["name"] for c in users["created"]] == ["alice"]
    assert [a["name"] for a in users["adopted"]] == ["svc"]
    skipped = {s["name"]: s["reason"] for s in users["skipped_users"] if s.get("name")}
    assert sorted(skipped) == sorted(hostile)
    assert "outside the site's uid range" in skipped["sysop"]
    for name in hostile:
        if name not in ("sysop", "hostop"):
            assert "privileged" in skipped[name], name
    proc, groups = run_module("globus_group_sync", groups_args(world, adopt_existing=True), lab_env)
    assert proc.returncode == 0, groups
    assert not groups["created"]
    gskipped = {s["name"]: s["reason"] for s in groups["skipped_groups"]}
    assert sorted(gskipped) == sorted(subgroups)
    assert "system group" in gskipped["plugsys"] and "privileged" in gskipped["labops"] and "privileged" in gskipped["wheel"]
    users, rows = backend.view()
    assert rows["labops"] == (1500, ["sysop"]) and rows["plugsys"] == (46, ["sysop"])  # memberships untouched
    assert users["sysop"] == (1, 1, "local sysadmin", "/var/sysop", "/bin/bash", False)
    assert sorted(set(users) - set(before[1][0])) == ["alice"] and sorted(set(rows) - set(before[1][1])) == ["alice"]
    assert {name: users[name] for name in before[1][0]} == before[1][0]
    after = snapshot(world.root)
    changed = sorted(k for k in set(before[0]) | set(after) if before[0].get(k) != after.get(k))
    # Only the account files (and the backups shadow-utils keeps), alice's new home and the sync's own
    # state folder with the parents it made (the temp root starts with etc/ alone).
    expected = {"etc/%s%s" % (name, backup) for name in ("passwd", "group", "shadow", "gshadow") for backup in ("", "-")}
    expected |= {"home", "home/alice", "var", "var/lib", "var/lib/sciops-datasync"}
    assert [k for k in changed if k not in expected and not k.startswith(("home/alice/", "var/lib/sciops-datasync/"))] == []
    # the adopted service account departs (locked) and comes back: its own shell, not a login shell
    world.set_member(world.root_id, "svc@example.org", status="removed")
    proc, result = run_module("globus_user_sync", users_args(world, adopt_existing=True, mode="updated"), lab_env)
    assert [u["name"] for u in result["locked"]] == ["svc"], result
    world.set_member(world.root_id, "svc@example.org", status="active")
    proc, result = run_module("globus_user_sync", users_args(world, adopt_existing=True, mode="updated"), lab_env)
    assert [u["name"] for u in result["updated"]] == ["svc"], result
    assert backend.users()["svc"].shell == "/usr/sbin/nologin"


def test_a_sudoers_file_that_is_a_link_stops_the_run(lab_env, world, backend):
    local_sysadmin(world.root, [], [], sudoers={"lab": "%labops ALL=(ALL) ALL\n"})
    os.symlink("/etc/hostname", os.path.join(world.root, "etc", "sudoers.d", "planted"))
    world.root_id = world.group("hard-link-" + world.tag, [world.identity("alice")])
    proc, result = run_module("globus_user_sync", users_args(world), lab_env)
    assert result.get("failed") and "symbolic link" in result["msg"] and "planted" in result["msg"], result
    assert set(backend.users()) <= {"root"}


# ---------------------------------------------------------------------------------------
# item 6: mass departure
# ---------------------------------------------------------------------------------------
def _provisioned(world, lab_env, count, **extra):
    people = [world.identity("m%s%02d" % (world.tag, n)) for n in range(count)]
    world.root_id = world.group("hard-mass-" + world.tag, people)
    world.subs = [world.group("proj.m%d-%s" % (n, world.tag), people, world.root_id) for n in range(3)]
    proc, result = run_module("globus_user_sync", users_args(world, **extra), lab_env)
    assert proc.returncode == 0 and len(result["created"]) == count, result
    proc, result = run_module("globus_group_sync", groups_args(world, departed="remove"), lab_env)
    assert proc.returncode == 0 and len(result["created"]) == 3, result
    return people


def respond(world, path, body):
    """The hostile upstream: the next answer to ``path`` (for this client) is ``body`` with HTTP 200."""
    world.post("/faults", {"pattern": path, "status": 200, "count": 1, "client_id": world.client_id, "body": body})


def test_a_response_without_memberships_is_an_error_never_no_members(lab_env, world, backend):
    _provisioned(world, lab_env, 12)
    before = snapshot(world.root), backend.view()
    bare = {"id": world.root_id, "name": "hard-mass-" + world.tag, "group_type": "regular", "child_ids": world.subs}
    respond(world, "/v2/groups/%s" % world.root_id, bare)
    proc, result = run_module("globus_user_sync", users_args(world, departed="remove"), lab_env)
    assert result.get("failed") and "without a memberships list" in result["msg"], result
    # the same for a subgroup: that group is left alone and reported
    respond(world, "/v2/groups/%s" % world.subs[0], {"id": world.subs[0], "name": "proj.m0-" + world.tag})
    proc, result = run_module("globus_group_sync", groups_args(world, departed="remove"), lab_env)
    assert proc.returncode == 0 and not result["updated"] and not result["removed"], result
    assert [e["globus_group_id"] for e in result["errors"]] == [world.subs[0]] and "no memberships list" in result["errors"][0]["reason"]
    assert (snapshot(world.root), backend.view()) == before


def test_the_app_losing_its_manager_role_locks_nobody(lab_env, world, backend):
    """Demoted to a plain member, the app sees only its own membership: every user looks departed."""
    _provisioned(world, lab_env, 12)
    before = snapshot(world.root), backend.view()
    app = world.client_id + "@clients.auth.globus.org"
    for group_id in [world.root_id] + world.subs:
        world.set_member(group_id, app, role="member")
    for departed in ("lock", "remove"):
        proc, result = run_module("globus_user_sync", users_args(world, departed=departed), lab_env)
        assert result.get("failed") and "refusing 12 user departures (lock/remove) out of 12" in result["msg"], result
        assert "max_departures" in result["msg"] and "'only'" in result["msg"]
    proc, result = run_module("globus_group_sync", groups_args(world, departed="remove"), lab_env)
    assert result.get("failed") and "active users dropped from their groups" in result["msg"], result
    assert (snapshot(world.root), backend.view()) == before
    # how to proceed: name the accounts (or raise the limit for one run)
    proc, result = run_module("globus_user_sync", users_args(world, only=["m%s00" % world.tag]), lab_env)
    assert proc.returncode == 0 and [u["name"] for u in result["locked"]] == ["m%s00" % world.tag], result
    assert [name for name, account in backend.users().items() if account.expired] == ["m%s00" % world.tag]


# ---------------------------------------------------------------------------------------
# item 7: names that fold
# ---------------------------------------------------------------------------------------
def hostile_identity(world, local):
    """An identity of its own (an explicit id: the emulator's username index folds case like str.lower())."""
    username = "%s@example.org" % local
    doc = world.post("/identities", {"username": username, "id": str(uuid.uuid4()), "name": "Hostile " + world.tag})
    world.identities[username] = doc.get("id") or doc.get("identity", {}).get("id")
    return username


def group_of_ids(world, name, usernames, parent_id=None):
    body = {"name": name, "members": [{"identity": world.client_id, "role": "admin", "status": "active"}]
            + [{"identity": world.identities[u], "role": "member", "status": "active"} for u in usernames]}
    if parent_id:
        body["parent_id"] = parent_id
    doc = world.post("/groups", body)
    return doc.get("id") or doc.get("group", {}).get("id")


def test_names_that_fold_do_not_take_someone_elses_account(lab_env, world, backend):
    # Globus names of this test's own (the emulator keeps every identity for the lab's life, and its index folds)
    kate = world.identity("kate" + world.tag)
    kelvin = hostile_identity(world, "\u212aate" + world.tag)   # KELVIN SIGN + ate: str.lower() gives kate's
    dotted = hostile_identity(world, "\u0130nfo" + world.tag)   # I WITH DOT ABOVE
    longs = hostile_identity(world, "\u017fam" + world.tag)     # LONG S folds to 's': sam's
    sam = world.identity("sam" + world.tag)
    world.root_id = group_of_ids(world, "hard-fold-" + world.tag, [kate, kelvin, dotted, longs, sam])
    science = group_of_ids(world, "\u017fcience-" + world.tag, [kelvin], world.root_id)
    overrides = {kate: "kate", sam: "sam"}
    proc, result = run_module("globus_user_sync", users_args(world, username_overrides=overrides), lab_env)
    assert proc.returncode == 0, result
    assert sorted(c["name"] for c in result["created"]) == ["kate", "sam"], result
    refused = {e["globus_username"]: e["reason"] for e in result["errors"]}
    assert sorted(refused) == sorted([kelvin, dotted, longs])
    assert all("outside ASCII" in r or "refused" in r for r in refused.values()), refused
    rows = backend.users()
    assert sorted(set(rows) - {"root"}) == ["kate", "sam"]
    state = json.load(open(os.path.join(world.root, "var/lib/sciops-datasync/identity_sync.json")))["data"]["users"]
    assert state[world.identities[kate]]["name"] == "kate" and rows["kate"].uid == state[world.identities[kate]]["uid"]
    proc, groups = run_module("globus_group_sync", groups_args(world, name_overrides={"science-" + world.tag: "sci"}), lab_env)
    assert not groups["created"] and [e["globus_group_id"] for e in groups["errors"]] == [science], groups
    assert sorted(set(backend.groups()) - {"root"}) == ["kate", "sam"]


# ---------------------------------------------------------------------------------------
# item 8: ids reused
# ---------------------------------------------------------------------------------------
def test_a_removed_users_uid_is_never_reissued_after_the_state_is_lost(lab_env, world, backend):
    alice = world.identity("alice")
    world.root_id = world.group("hard-ids-" + world.tag, [alice])
    proc, result = run_module("globus_user_sync", users_args(world), lab_env)
    old_uid = result["created"][0]["uid"]
    world.set_member(world.root_id, alice, status="removed")
    proc, result = run_module("globus_user_sync", users_args(world, departed="remove"), lab_env)
    assert [u["name"] for u in result["removed"]] == ["alice"], result
    assert "alice" not in backend.users() and "alice" not in backend.groups()
    state_dir = os.path.join(world.root, "var/lib/sciops-datasync")
    # (a) the state is lost, the ledger next to it survives
    os.unlink(os.path.join(state_dir, "identity_sync.json"))
    world.set_member(world.root_id, world.identity("mallory"))
    proc, result = run_module("globus_user_sync", users_args(world), lab_env)
    assert [c["name"] for c in result["created"]] == ["mallory"] and result["created"][0]["uid"] != old_uid, result
    ledger = open(os.path.join(state_dir, "identity_sync.ids")).read()
    assert "uid %d alice" % old_uid in ledger
    # (b) state and ledger both lost: alice's home (kept by userdel) still owns her uid
    os.unlink(os.path.join(state_dir, "identity_sync.json"))
    os.unlink(os.path.join(state_dir, "identity_sync.ids"))
    assert os.stat(os.path.join(world.root, "home/alice")).st_uid == old_uid
    world.set_member(world.root_id, world.identity("trudy"))
    proc, result = run_module("globus_user_sync", users_args(world), lab_env)
    created = {c["name"]: c["uid"] for c in result["created"]}
    assert "trudy" in created and old_uid not in created.values(), result
    uids = [account.uid for account in backend.users().values()]
    assert len(uids) == len(set(uids)) and old_uid not in uids


# ---------------------------------------------------------------------------------------
# item 14: crash leftovers
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", ["local"], indirect=True)  # files only, for time: both backends share apply's record points
def test_sigkill_at_random_points_leaves_no_half_home_no_lost_hook_no_reused_id(lab_env, world):
    """10 runs over 150 joining users, each SIGKILLed at a random point (bounded trials, no timing assertion),
    then runs to completion: every home complete, every created hook run once per change, no id twice."""
    rng = random.Random(int(world.tag, 16))
    people = [world.identity("k%s%03d" % (world.tag, n)) for n in range(150)]
    world.root_id = world.group("hard-kill-" + world.tag, people[:10])
    hooks = world.tmp / "hooks"
    hooks.mkdir()
    log = world.tmp / "hooks.log"
    (hooks / "10-log").write_text('#!/bin/sh\necho "$1 $2 $DATASYNC_UID $DATASYNC_CHANGE_ID" >> %s\n' % log)
    (hooks / "10-log").chmod(0o755)
    skel = world.tmp / "skel"
    skel.mkdir()
    for n in range(5):
        (skel / (".rc%d" % n)).write_text("x" * 2000)
    args = users_args(world, hooks_dir=str(hooks), skeleton=str(skel))
    joined = 10
    for trial in range(10):
        for username in people[joined:joined + 14]:
            world.set_member(world.root_id, username)
        joined += 14
        proc = start_module("globus_user_sync", dict(args), lab_env)
        time.sleep(rng.uniform(0.3, 2.5))
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
    for dummy in range(2):
        proc, result = run_module("globus_user_sync", dict(args), lab_env)
        assert proc.returncode == 0 and not result["errors"], result
    names = sorted("k%s%03d" % (world.tag, n) for n in range(joined))
    db = read_db(world.root)
    passwd = {r[0]: r for r in db["passwd"] if r[0] != "root"}
    assert sorted(passwd) == names
    uids = [r[2] for r in db["passwd"]]
    assert [u for u, c in collections.Counter(uids).items() if c > 1] == []
    home = os.path.join(world.root, "home")
    assert sorted(os.listdir(home)) == names  # no leftover temporary folder
    for name in names:
        info = os.lstat(os.path.join(home, name))
        assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (int(passwd[name][2]), 0o750), name
        assert sorted(os.listdir(os.path.join(home, name))) == [".rc%d" % n for n in range(5)], name
    runs = collections.defaultdict(set)
    lines = collections.Counter()
    for line in log.read_text().splitlines():
        action, name, uid, change = line.split()
        assert action == "created" and uid == passwd[name][2]
        runs[name].add(change)
        lines[name] += 1
    # every created user's hook ran, all for the one change that created it
    assert sorted(runs) == names and all(len(c) == 1 for c in runs.values())
    # at-least-once: a hook that finished in the microseconds before its success was recorded runs again
    repeats = sum(c - 1 for c in lines.values())
    assert repeats <= 10, "hook runs repeated %d times" % repeats
    state = json.load(open(os.path.join(world.root, "var/lib/sciops-datasync/identity_sync.json")))["data"]
    assert all(r["status"] == "active" and not r.get("hooks") for r in state["users"].values())
    assert not os.path.exists(os.path.join(world.root, "var/lib/sciops-datasync/identity_sync.hooks-done"))
    print("hook lines %d for %d users (%d repeats)" % (sum(lines.values()), len(names), repeats))
