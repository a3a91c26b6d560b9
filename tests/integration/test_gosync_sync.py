"""Identity sync against the lab Globus emulator: users, groups, hostile names, departures,
renames, group administration. Each test has its own Globus client, groups and accounts root; the account
tests run once per backend (the ``backend`` fixture: local files, or the lab's slapd)."""

import os
import stat
import sys

import pytest

from tests.integration.gosync_lab import GOOD, HOSTILE_USERS, GlobusWorld, playbook_file, task_results

JSON = {"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"}
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="creates accounts under a temp root with shadow-utils (needs root)")


@pytest.fixture
def globus(lab, tmp_path):
    world = GlobusWorld(lab)
    world.canaries = [str(tmp_path / ("canary-%d" % n)) for n in range(3)]
    hostile = [world.identity(u) for u in HOSTILE_USERS]
    hostile += [world.identity("$(touch %s)" % world.canaries[0]), world.identity("x;touch %s" % world.canaries[1]),
                world.identity("`touch %s`" % world.canaries[2]), world.identity("mallory", domain="evil.example.net")]
    members = ["%s@example.org" % u for u in GOOD] + hostile + ["root@example.org"]
    world.root_id = world.group("gosync-root-" + world.tag, members)
    world.alpha = world.group("sciops.alpha-" + world.tag, ["alice@example.org", "bob@example.org", hostile[0]], world.root_id)
    world.beta = world.group("sciops.beta-" + world.tag, ["bob@example.org", "carol@example.org"], world.root_id)
    world.bad_groups = [world.group(n, ["alice@example.org"], world.root_id)
                        for n in ("-evil", "a/b", "..", "semi;colon", "$(touch %s)" % world.canaries[0], "x" * 40)]
    world.root = str(tmp_path / "root")
    world.hooks = tmp_path / "hooks"
    world.hooks.mkdir()
    world.hook_log = tmp_path / "hook.log"
    hook = world.hooks / "10-log"
    hook.write_text('#!/bin/sh\nprintf "%%s %%s %%s %%s\\n" "$1" "$2" "$DATASYNC_UID" "$DATASYNC_GLOBUS_USERNAME" >> %s\n' % world.hook_log)
    hook.chmod(0o755)
    world.common = {"client_id": world.client_id, "client_secret_file": world.write_secret(tmp_path),
                    "root_group": world.root_id, "root": world.root}
    world.tmp = tmp_path
    return world


@pytest.fixture
def world(globus, backend):
    """The Globus side and the accounts backend of an identity test (``backend.root`` is ``world.root``)."""
    globus.common.update(backend.args)
    return globus


def sync_tasks(world, user_args=None, group_args=None):
    users = dict(world.common, domains=["example.org"], hooks_dir=str(world.hooks), uid_min=30000, uid_max=30999)
    users.update(user_args or {})
    groups = dict(world.common, gid_min=31000, gid_max=31999)
    groups.update(group_args or {})
    return [{"name": "users", "sciops.datasync.globus_user_sync": users, "register": "users"},
            {"name": "groups", "sciops.datasync.globus_group_sync": groups}]


def run(ansible_playbook, world, *extra, **kw):
    play = playbook_file(world.tmp, sync_tasks(world, kw.get("user_args"), kw.get("group_args")))
    result = ansible_playbook(play, *extra, env=JSON)
    return task_results(result.stdout)


def test_users_and_groups_created_hostile_names_refused_second_run_unchanged(ansible_playbook, world, backend):
    results = run(ansible_playbook, world, "--diff")
    users, groups = results["users"], results["groups"]
    assert users["changed"] is True and groups["changed"] is True
    passwd = backend.users()
    assert sorted(set(passwd) - {"root"}) == GOOD  # the files hold the host's root, the directory never does
    assert passwd["alice"] == (30000, 30000, "Alice Anders", "/home/alice", "/bin/bash", False)
    assert len({a.uid for a in passwd.values()}) == len(passwd)
    home = os.path.join(world.root, "home", "carol")
    assert os.stat(home).st_uid == passwd["carol"].uid and stat.S_IMODE(os.stat(home).st_mode) == 0o750
    # every hostile user is refused by name; root is reported, never adopted; the app itself is skipped
    reasons = "\n".join(e["reason"] for e in users["errors"])
    for name in HOSTILE_USERS:
        assert repr(name) in reasons or repr(name + "@example.org") in reasons, name
    assert "evil.example.net" in reasons and len(users["errors"]) == len(HOSTILE_USERS) + 4
    assert [s["name"] for s in users["skipped_users"] if s.get("name")] == ["root"]
    assert passwd.get("root", (0,))[0] == 0
    # no command ever saw a hostile name: no canary, hooks only for the three good users
    assert not any(os.path.exists(c) for c in world.canaries)
    assert sorted(line.split()[1] for line in world.hook_log.read_text().splitlines()) == GOOD
    # groups: dotted names mapped, members with local accounts, hostile group names refused
    group_rows = backend.groups()
    alpha, beta = "sciops-alpha-" + world.tag, "sciops-beta-" + world.tag
    assert group_rows[alpha][1] == ["alice", "bob"] and group_rows[beta][1] == ["bob", "carol"]
    assert 31000 <= group_rows[alpha][0] <= 31999
    assert sorted(e["globus_group_id"] for e in groups["errors"]) == sorted(world.bad_groups)
    assert "+%s:x:%s:alice,bob" % (alpha, group_rows[alpha][0]) in users_diff(groups)
    # the second run changes nothing
    again = run(ansible_playbook, world)
    assert again["users"]["changed"] is False and again["groups"]["changed"] is False
    assert backend.view() == (passwd, group_rows)


def users_diff(result):
    diff = result.get("diff") or {}
    return "\n".join("+" + line for line in (diff.get("after") or "").splitlines())


def test_check_mode_changes_nothing(ansible_playbook, world, backend):
    results = run(ansible_playbook, world, "--check")
    assert results["users"]["changed"] is True
    assert [c["name"] for c in results["users"]["created"]] == GOOD
    assert backend.view() == ({}, {}) and not os.path.exists(os.path.join(world.root, "home"))


def test_departed_user_locked_and_dropped_from_groups_comes_back_with_his_uid(ansible_playbook, world, backend):
    run(ansible_playbook, world)
    before = backend.users()["bob"]
    world.set_member(world.root_id, "bob@example.org", status="removed")
    world.set_member(world.beta, "bob@example.org", status="left")
    results = run(ansible_playbook, world, "--diff", user_args={"mode": "updated"})
    assert [u["name"] for u in results["users"]["locked"]] == ["bob"]
    assert "(locked, expired)" in results["users"]["diff"]["after"]
    bob = backend.users()["bob"]
    assert bob.shell == "/usr/sbin/nologin" and bob.expired
    beta = "sciops-beta-" + world.tag
    assert backend.groups()[beta][1] == ["carol"]
    assert "locked bob" in world.hook_log.read_text()
    again = run(ansible_playbook, world)
    assert again["users"]["changed"] is False and again["groups"]["changed"] is False
    # bob comes back: unlocked with his old uid
    world.set_member(world.root_id, "bob@example.org", status="active")
    results = run(ansible_playbook, world)
    assert [u["name"] for u in results["users"]["updated"]] == ["bob"]
    assert backend.users()["bob"] == before


def test_group_administration_then_sync(ansible_playbook, world, backend):
    """globus_group creates, renames and fills a project group; globus_group_info lists it; the sync follows."""
    common = {k: v for k, v in world.common.items() if k not in ("root_group", "root", "backend", "ldap")}
    gamma = dict(common, name="sciops.gamma-" + world.tag, parent=world.root_id, description="Project gamma",
                 members=["carol@example.org"], managers=["alice@example.org"],
                 policies={"join_requests": True, "group_visibility": "private"})
    tasks = [
        {"name": "create", "sciops.datasync.globus_group": gamma, "register": "made"},
        {"name": "again", "sciops.datasync.globus_group": gamma},
        {"name": "info", "sciops.datasync.globus_group_info": dict(common, subgroups_of=world.root_id, include=["sciops.*"])},
    ]
    results = task_results(ansible_playbook(playbook_file(world.tmp, tasks), env=JSON).stdout)
    assert results["create"]["changed"] is True and results["create"]["created"] is True
    assert results["again"]["changed"] is False
    listed = {g["name"]: g for g in results["info"]["groups"]}
    gamma = listed["sciops.gamma-" + world.tag]
    assert {m["username"]: m["role"] for m in gamma["members"] if m["status"] == "active"} == {
        "alice@example.org": "manager", "carol@example.org": "member", world.client_id + "@clients.auth.globus.org": "admin"}
    assert sorted(listed) == sorted(["sciops.alpha-" + world.tag, "sciops.beta-" + world.tag, "sciops.gamma-" + world.tag])
    run(ansible_playbook, world)
    gid = backend.groups()["sciops-gamma-" + world.tag][0]
    # rename in Globus, remove carol, approve a pending request: the local group follows, gid kept
    world.set_member(results["create"]["group_id"], "bob@example.org", status="pending")
    rename = dict(common, group_id=results["create"]["group_id"], name="sciops.delta-" + world.tag, approve_all=True,
                  remove_members=["carol@example.org"])
    tasks = [{"name": "rename", "sciops.datasync.globus_group": rename}]
    renamed = task_results(ansible_playbook(playbook_file(world.tmp, tasks), "--diff", env=JSON).stdout)["rename"]
    assert renamed["changed"] is True and renamed["actions"]["approve"] and renamed["actions"]["remove"]
    results = run(ansible_playbook, world)
    rows = backend.groups()
    assert "sciops-gamma-" + world.tag not in rows
    assert rows["sciops-delta-" + world.tag] == (gid, ["alice", "bob"])
    assert results["groups"]["renamed"][0]["old_name"] == "sciops-gamma-" + world.tag


def test_globus_groups_playbook_uses_the_gosync_app(ansible_playbook, globus):
    """playbooks/globus_groups.yml with only the gosync role's variables: a project group under
    gosync_root_group with the default description and its dotted-prefix policy file, then the list."""
    import json

    import yaml

    policies = globus.tmp / "policies"
    policies.mkdir()
    (policies / "policy.sciops.json").write_text(json.dumps({"join_requests": True, "group_visibility": "private"}))
    listing = globus.tmp / "groups.json"
    name = "sciops.gamma-" + globus.tag
    inventory = globus.tmp / "inventory.yml"
    # The playbook runs its modules with the job's Python (datasync_run_python; on a deployed host the
    # job virtualenv's): here the controller's venv, which has globus-sdk.
    inventory.write_text(yaml.safe_dump({"portal": {"hosts": {"localhost": {
        "ansible_connection": "local", "datasync_run_python": sys.executable,
        "gosync_client_id": globus.client_id, "gosync_client_secret_file": globus.common["client_secret_file"],
        "gosync_root_group": globus.root_id,
        "globus_groups_projects": [{"name": name, "members": ["carol@example.org"], "managers": ["alice@example.org"]}],
        "globus_groups_policy_dir": str(policies),
    }}}}))
    result = ansible_playbook("-i", str(inventory), "playbooks/globus_groups.yml", "-e", "globus_groups_list_format=json",
                              "-e", "globus_groups_list_file=%s" % listing, env=JSON)
    applied = task_results(result.stdout)["Project groups with description, policies, roles and approvals"]["results"]
    assert [(r["gosync_groups_project"]["name"], r["created"]) for r in applied] == [(name, True)]
    assert applied[0]["gosync_groups_project"]["policies"] == {"join_requests": True, "group_visibility": "private"}
    listed = {g["name"]: g for g in json.loads(listing.read_text())}
    assert listed[name]["description"] == "Project " + name
    assert listed[name]["parent_id"] == globus.root_id
    assert {m["username"]: m["role"] for m in listed[name]["members"] if m["status"] == "active"} == {
        "alice@example.org": "manager", "carol@example.org": "member", globus.client_id + "@clients.auth.globus.org": "admin"}
