"""Identity sync with backend ldap against the lab's slapd, what only a directory has: the entries' classes
over LDAPS and StartTLS, a directory that is down or refuses the bind fails the run before anything is
recorded, certificates and the password file are checked, a site moves from files keeping every uid, and with
group_schema rfc2307bis the groups are groupOfNames with member DNs in the lab's second slapd (the
one with the rfc2307bis schema, tests/lab/services/slapd_rfc2307bis.py).

The directory is read back as cn=host-reader (what nslcd on the hosts binds as). Each test
starts from empty ou=people and ou=groups (cleared as the directory's admin). The behaviour both backends
share (creation, refusals, check mode, departures, renames, guard rails) is tested once per backend in
test_gosync_sync.py and test_gosync_hardening.py (the ``backend`` fixture)."""

import os
import pathlib

import pytest

from tests.integration.directory_lab import clear, entries, password
from tests.integration.gosync_lab import GOOD, GlobusWorld, playbook_file, task_results

JSON = {"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"}
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab's slapd runs as a root-started service (needs root)")


@pytest.fixture
def world(lab, tmp_path):
    ep = lab.endpoints()["slapd"]
    clear(ep)
    world = GlobusWorld(lab)
    members = [world.identity(u) for u in GOOD]
    world.root_id = world.group("gosync-ldap-" + world.tag, members)
    world.alpha = world.group("sciops.alpha-" + world.tag, ["alice@example.org", "bob@example.org"], world.root_id)
    world.beta = world.group("sciops.beta-" + world.tag, ["bob@example.org", "carol@example.org"], world.root_id)
    world.ep = ep
    world.tmp = tmp_path
    world.ldap = {"uri": ep["uri"], "ca_file": ep["ca_file"], "bind_dn": ep["bind_dn"], "bind_password_file": ep["bind_password_file"],
                  "users_base": ep["users_base"], "groups_base": ep["groups_base"]}
    world.common = {"client_id": world.client_id, "client_secret_file": world.write_secret(tmp_path), "root_group": world.root_id,
                    "root": str(tmp_path / "root"), "backend": "ldap"}
    yield world
    clear(ep)


def run(ansible_playbook, world, *extra, user_args=None, group_args=None, ldap=None, check=True):
    directory = dict(world.ldap, **(ldap or {}))
    users = dict(world.common, ldap=directory, domains=["example.org"], uid_min=40000, uid_max=40999, **(user_args or {}))
    groups = dict(world.common, ldap=directory, gid_min=41000, gid_max=41999, **(group_args or {}))
    tasks = [{"name": "users", "sciops.datasync.globus_user_sync": users},
             {"name": "groups", "sciops.datasync.globus_group_sync": groups}]
    result = ansible_playbook(playbook_file(world.tmp, tasks), *extra, env=JSON, check=check)
    return task_results(result.stdout)


def test_users_and_groups_in_the_directory_second_run_unchanged(ansible_playbook, world):
    results = run(ansible_playbook, world, "--diff")
    assert results["users"]["changed"] is True and results["groups"]["changed"] is True
    assert not results["users"]["errors"] and not results["groups"]["errors"]
    people = entries(world.ep, world.ep["users_base"])
    assert sorted(people) == GOOD
    alice = people["alice"]
    assert alice["uidnumber"] == ["40000"] and alice["gidnumber"] == ["40000"] and alice["loginshell"] == ["/bin/bash"]
    assert alice["homedirectory"] == ["/home/alice"] and "shadowexpire" not in alice and "userpassword" not in alice
    assert {"posixAccount", "shadowAccount"} <= set(alice["objectclass"])
    groups = entries(world.ep, world.ep["groups_base"])
    alpha, beta = "sciops-alpha-" + world.tag, "sciops-beta-" + world.tag
    assert groups[alpha]["memberuid"] == ["alice", "bob"] and groups[beta]["memberuid"] == ["bob", "carol"]
    assert 41000 <= int(groups[alpha]["gidnumber"][0]) <= 41999
    assert groups["alice"]["gidnumber"] == ["40000"]  # the private group
    assert "alice:x:40000:40000:" in results["users"]["diff"]["after"]
    assert "%s:x:%s:alice,bob" % (alpha, groups[alpha]["gidnumber"][0]) in results["groups"]["diff"]["after"]
    # homes are made on the host that ran the sync
    assert os.stat(os.path.join(world.common["root"], "home", "carol")).st_uid == int(people["carol"]["uidnumber"][0])
    # the second run, over StartTLS this time, changes nothing
    again = run(ansible_playbook, world, ldap={"uri": world.ep["starttls_uri"], "start_tls": True})
    assert again["users"]["changed"] is False and again["groups"]["changed"] is False
    assert entries(world.ep, world.ep["users_base"]) == people


def test_a_directory_down_or_refusing_the_bind_fails_the_run_and_records_nothing_done(ansible_playbook, world):
    run(ansible_playbook, world)
    people, groups = entries(world.ep, world.ep["users_base"]), entries(world.ep, world.ep["groups_base"])
    folder = pathlib.Path(world.common["root"], "var", "lib", "sciops-datasync")
    recorded = [(folder / name).read_bytes() for name in ("identity_sync.json", "identity_sync.ids")]
    world.set_member(world.root_id, "bob@example.org", status="removed")
    wrong = world.tmp / "wrong.password"
    wrong.write_text("not-the-password\n")
    wrong.chmod(0o600)
    down = world.ep["uri"].rsplit(":", 1)[0] + ":1"  # nothing listens there: the directory is down
    for ldap, why in (({"uri": down}, "cannot reach the directory %s: " % down),
                      ({"bind_password_file": str(wrong)}, "refused the bind as %s: invalidCredentials" % world.ep["bind_dn"])):
        results = run(ansible_playbook, world, ldap=ldap, check=False)
        assert results["users"].get("failed") is True and why in results["users"]["msg"], results["users"]
        assert results["users"]["msg"].endswith("; nothing was changed") and "groups" not in results
        # bob's departure is not recorded as done: state, ledger and directory as they were
        assert [(folder / name).read_bytes() for name in ("identity_sync.json", "identity_sync.ids")] == recorded
        assert entries(world.ep, world.ep["users_base"]) == people and entries(world.ep, world.ep["groups_base"]) == groups
    # the directory back: the next run carries out what was not done
    assert [u["name"] for u in run(ansible_playbook, world)["users"]["locked"]] == ["bob"]


def test_an_unverified_certificate_or_a_loose_password_file_is_refused_before_the_bind(ansible_playbook, world):
    # the system CAs do not vouch for the lab directory
    results = run(ansible_playbook, world, ldap={"ca_file": "/etc/ssl/certs/ca-certificates.crt"}, check=False)
    assert results["users"].get("failed") is True and "CERTIFICATE_VERIFY_FAILED" in results["users"]["msg"]
    # a readable-by-others password file is refused by the secret reader
    loose = world.tmp / "loose.password"
    loose.write_text(password(world.ep["bind_password_file"]) + "\n")
    loose.chmod(0o644)
    results = run(ansible_playbook, world, ldap={"bind_password_file": str(loose)}, check=False)
    assert results["users"].get("failed") is True and "accessible by group or others" in results["users"]["msg"]
    assert entries(world.ep, world.ep["users_base"]) == {}
    assert not os.path.exists(os.path.join(world.common["root"], "var", "lib", "sciops-datasync", "identity_sync.json"))


def test_moving_from_local_files_to_the_directory_keeps_every_uid(ansible_playbook, world):
    local = {"backend": "local"}
    run(ansible_playbook, world, user_args=local, group_args=local)
    with open(os.path.join(world.common["root"], "etc", "passwd")) as handle:
        files = {f[0]: f[2] for f in (line.split(":") for line in handle) if f[0] in GOOD}
    with open(os.path.join(world.common["root"], "etc", "group")) as handle:
        file_groups = {f[0]: f[2] for f in (line.split(":") for line in handle) if world.tag in f[0]}
    assert sorted(files) == GOOD and len(file_groups) == 2
    results = run(ansible_playbook, world, "--check")  # same state file, now the directory: creates, nothing written yet
    assert sorted(c["name"] for c in results["users"]["created"]) == GOOD and entries(world.ep, world.ep["users_base"]) == {}
    run(ansible_playbook, world)
    people, groups = entries(world.ep, world.ep["users_base"]), entries(world.ep, world.ep["groups_base"])
    assert {name: attrs["uidnumber"][0] for name, attrs in people.items()} == files
    assert {name: attrs["gidnumber"][0] for name, attrs in groups.items() if world.tag in name} == file_groups
    again = run(ansible_playbook, world)
    assert again["users"]["changed"] is False and again["groups"]["changed"] is False


def test_rfc2307bis_groups_of_names_in_a_directory_with_that_schema(lab, ansible_playbook, world):
    bis = lab.endpoints()["slapd_rfc2307bis"]
    clear(bis)
    try:
        ldap = {"uri": bis["starttls_uri"], "start_tls": True, "ca_file": bis["ca_file"], "bind_dn": bis["bind_dn"],
                "bind_password_file": bis["bind_password_file"], "group_schema": "rfc2307bis"}
        results = run(ansible_playbook, world, "--diff", ldap=ldap)
        assert results["users"]["changed"] is True and results["groups"]["changed"] is True
        assert sorted(entries(bis, bis["users_base"])) == GOOD
        groups = entries(bis, bis["groups_base"])
        alpha, beta = groups["sciops-alpha-" + world.tag], groups["sciops-beta-" + world.tag]
        assert {"groupOfNames", "posixGroup"} <= set(alpha["objectclass"]) and "memberuid" not in alpha
        dn = "uid=%s," + bis["users_base"]
        assert sorted(alpha["member"]) == [dn % "alice", dn % "bob"] and sorted(beta["member"]) == [dn % "bob", dn % "carol"]
        # a private group has no members: groupOfNames needs one, so it holds its own DN
        assert groups["alice"]["member"] == ["cn=alice," + bis["groups_base"]]
        again = run(ansible_playbook, world, ldap=ldap)
        assert again["users"]["changed"] is False and again["groups"]["changed"] is False
        world.set_member(world.beta, "bob@example.org", status="left")
        run(ansible_playbook, world, ldap=ldap)
        assert entries(bis, bis["groups_base"])["sciops-beta-" + world.tag]["member"] == [dn % "carol"]
    finally:
        clear(bis)
