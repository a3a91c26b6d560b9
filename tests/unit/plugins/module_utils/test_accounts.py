"""The POSIX accounts backend, run for real with shadow-utils and systemd-sysusers under a temp root."""

import os

import pytest

from ansible_collections.sciops.datasync.plugins.module_utils._identity import accounts as acc
from ansible_collections.sciops.datasync.plugins.module_utils._core.runner import CommandRunner

from identity_helpers import NEEDS_ROOT, ShellFreeModule


@pytest.fixture
def backend(tmp_path):
    module = ShellFreeModule()
    accounts = acc.PosixAccounts(CommandRunner(module), root=str(tmp_path / "root"))
    assert accounts.ensure_databases() is True
    accounts.module = module
    return accounts


def test_parsers_skip_comments_and_bad_lines():
    users = acc.parse_passwd("root:x:0:0:root:/root:/bin/bash\n# c\nbad:line\nx:x:notint:1:::\n")
    assert [u.name for u in users] == ["root"]
    groups = acc.parse_group("wheel:x:10:a,b\nempty:x:11:\n")
    assert groups[0].members == ["a", "b"] and groups[1].members == []
    assert acc.group_line(groups[0]) == "wheel:x:10:a,b"
    assert acc.passwd_line(users[0]) == "root:x:0:0:root:/root:/bin/bash"
    shadow = acc.parse_shadow("a:!:1::::::\nb:!*:1:0:99999:7::1:\n")
    db = acc.AccountDatabase(users, groups, shadow)
    assert not db.user_locked("a") and db.user_locked("b")


@pytest.mark.parametrize("raw,clean", [
    ("Ada Lovelace", "Ada Lovelace"),
    ("a:b\nc", "a b c"),
    ('say "hi"\\', "say hi"),
    ("Smith, John", "Smith John"),
    ("Zoë Ünal", "Zoë Ünal"),
])
def test_gecos_is_cleaned(raw, clean):
    assert acc.clean_gecos(raw) == clean


def test_sysusers_lines_escape_specifiers_and_route_odd_names():
    backend = acc.PosixAccounts(runner=None, root="/tmp/x")
    users = [acc.UserSpec("ada", 20001, 20001, "ada", True, "Ada 100%", "/home/ada", "/bin/bash"),
             acc.UserSpec("bo", 20002, 5000, "staff", False, "Bo", "/home/bo", "/bin/sh")]
    groups = [acc.GroupSpec("proj", 30001, ["ada"]), acc.GroupSpec("@odd.name", 30002, [])]
    lines, rest_users, rest_groups = backend.sysusers_lines(users, groups, acc.AccountDatabase())
    assert lines == ["g proj 30001", 'u ada 20001 "Ada 100%%" /home/ada /bin/bash',
                     'u bo 20002:staff "Bo" /home/bo /bin/sh', "m ada proj"]
    assert rest_users == [] and [g.name for g in rest_groups] == ["@odd.name"]


@NEEDS_ROOT
def test_batch_creates_users_and_groups_with_exact_ids(backend):
    users = [acc.UserSpec("u%03d" % i, 20000 + i, 20000 + i, "u%03d" % i, True, "User %d" % i, "/home/u%03d" % i, "/bin/bash")
             for i in range(50)]
    groups = [acc.GroupSpec("proj", 30001, ["u001", "u002"]), acc.GroupSpec("@dotted.grp", 30002, ["u003"])]
    assert backend.create_batch(users, groups) == {}
    db = backend.read()
    assert db.users["u049"] == acc.PasswdEntry("u049", "x", 20049, 20049, "User 49", "/home/u049", "/bin/bash")
    assert db.groups["u049"].gid == 20049
    assert db.groups["proj"].members == ["u001", "u002"]
    assert db.groups["@dotted.grp"].members == ["u003"]
    sysusers = [c for c in backend.module.commands if c[0].endswith("systemd-sysusers")]
    assert len(sysusers) == 1 and sysusers[0][1:] == ["--root", backend.root, "-"]
    assert db.shadow["u000"].password.startswith("!")


@NEEDS_ROOT
def test_batch_reports_a_taken_uid_instead_of_accepting_another(backend):
    backend.add_group("squat", 20005)
    backend.add_user(acc.UserSpec("squatter", 20005, 20005, "squat", False, "", "/home/s", "/bin/sh"))
    errors = backend.create_batch([acc.UserSpec("late", 20005, 20005, "late", True, "", "/home/late", "/bin/sh")])
    assert "late" in errors


@NEEDS_ROOT
def test_user_with_leftover_private_group_is_created(backend):
    backend.add_group("ivan", 20020)  # a run killed between sysusers writing group and passwd
    assert backend.create_batch([acc.UserSpec("ivan", 20020, 20020, "ivan", True, "I", "/home/ivan", "/bin/sh"),
                                 acc.UserSpec("jo", 20021, 20021, "jo", True, "J", "/home/jo", "/bin/sh")]) == {}
    assert backend.read().users["ivan"].gid == 20020


@NEEDS_ROOT
def test_single_changes_lock_unlock_members_rename_remove(backend):
    backend.add_user(acc.UserSpec("ada", 20001, 20001, "ada", True, "Ada", "/home/ada", "/bin/bash"))
    backend.add_user(acc.UserSpec("bo", 20002, 20002, "bo", True, "Bo", "/home/bo", "/bin/bash"))
    backend.modify_user("ada", gecos="Ada King")
    backend.lock_user("ada")
    db = backend.read()
    assert db.users["ada"].gecos == "Ada King" and db.users["ada"].shell == "/usr/sbin/nologin" and db.user_locked("ada")
    backend.unlock_user("ada", "/bin/bash")
    db = backend.read()
    assert not db.user_locked("ada") and db.users["ada"].shell == "/bin/bash"
    backend.add_group("proj", 30001)
    backend.set_group_members("proj", ["ada", "bo"])
    backend.set_group_members("proj", ["bo"])
    backend.rename_group("proj", "proj2")
    assert backend.read().groups["proj2"] == acc.GroupEntry("proj2", "x", 30001, ["bo"])
    backend.remove_user("bo")
    backend.remove_group("proj2")
    db = backend.read()
    assert "bo" not in db.users and "proj2" not in db.groups
    with pytest.raises(acc.AccountError):
        backend.remove_user("nobody-here")


@NEEDS_ROOT
def test_home_from_skeleton_owned_by_user_and_existing_home_untouched(backend, tmp_path):
    skel = tmp_path / "skel"
    (skel / ".config").mkdir(parents=True)
    (skel / ".bashrc").write_text("# hi\n")
    (skel / ".config" / "x").write_text("y")
    os.symlink("/etc/passwd", str(skel / "link"))
    assert backend.create_home("/home/ada", 20001, 20001, str(skel)) is True
    home = backend.path("/home/ada")
    assert os.stat(home).st_uid == 20001 and oct(os.stat(home).st_mode & 0o777) == "0o750"
    assert os.stat(os.path.join(home, ".config", "x")).st_uid == 20001
    assert os.readlink(os.path.join(home, "link")) == "/etc/passwd"
    assert os.lstat(os.path.join(home, "link")).st_uid == 20001
    assert os.stat("/etc/passwd").st_uid == 0
    assert backend.create_home("/home/ada", 1, 1, str(skel)) is False
    assert os.stat(home).st_uid == 20001
