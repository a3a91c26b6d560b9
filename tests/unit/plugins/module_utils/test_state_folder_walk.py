"""Issue 14 item 2: a state or lock folder is made with the no-follow walk of _core/paths.py."""

import os
import stat

import pytest

from ansible_collections.sciops.datasync.plugins.module_utils._core import state as _state
from ansible_collections.sciops.datasync.plugins.module_utils._core.lock import RunLock
from ansible_collections.sciops.datasync.plugins.module_utils._core.state import StateFile, UnsafePathError, ensure_trusted_folder


@pytest.fixture
def top(tmp_path):
    os.chmod(tmp_path, 0o700)
    return tmp_path


def test_missing_folders_are_made_0755_without_the_umask_widening_parents(top):
    old = os.umask(0o022)
    try:
        ensure_trusted_folder(str(top / "a" / "b" / "c"))
    finally:
        os.umask(old)
    for path in (top / "a", top / "a" / "b", top / "a" / "b" / "c"):
        info = os.lstat(path)
        assert stat.S_ISDIR(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o755, (path, oct(info.st_mode))


def test_a_link_planted_after_the_check_is_never_followed_while_making_folders(top, monkeypatch):
    """The race os.makedirs lost: the existing folder is checked, then a link appears at the next
    component; the walk refuses it by name and makes nothing in the link's target."""
    (top / "a").mkdir(mode=0o755)
    elsewhere = top / "elsewhere"
    elsewhere.mkdir(mode=0o755)
    checked = _state.trusted_folder_problem

    def check_then_plant(directory, what="state folder"):
        problem = checked(directory, what)
        if directory == str(top / "a") and not os.path.lexists(top / "a" / "b"):
            os.symlink(str(elsewhere), str(top / "a" / "b"))
        return problem

    monkeypatch.setattr(_state, "trusted_folder_problem", check_then_plant)
    with pytest.raises(UnsafePathError) as refused:
        StateFile(str(top / "a" / "b" / "c" / "state.json"), "test").save({"n": 1})
    assert "state folder %s/a/b is a symbolic link (-> %s); refused" % (top, elsewhere) in str(refused.value)
    assert os.listdir(elsewhere) == []


@pytest.mark.parametrize("planted", ["file", "dangling link"])
def test_a_file_or_dangling_link_on_the_way_to_a_lock_folder_is_refused_naming_it(top, planted):
    (top / "a").mkdir(mode=0o755)
    if planted == "file":
        (top / "a" / "locks").write_text("not a folder\n")
        reason = "is not a folder"
    else:
        os.symlink(str(top / "nowhere"), str(top / "a" / "locks"))
        reason = "is a symbolic link (-> %s/nowhere)" % top
    with pytest.raises(UnsafePathError) as refused:
        RunLock(str(top / "a" / "locks" / "job" / "run.lock")).acquire()
    assert "lock folder %s/a/locks %s; refused" % (top, reason) in str(refused.value)
    assert not os.path.lexists(top / "nowhere")


def test_dot_dot_after_a_link_is_checked_where_the_kernel_goes(top):
    """``trusted/link/..`` is the link target's parent for the kernel, not ``trusted``: that folder is checked."""
    (top / "trusted").mkdir(mode=0o755)
    (top / "open" / "inner").mkdir(parents=True)
    os.chmod(top / "open", 0o777)
    os.symlink(str(top / "open" / "inner"), str(top / "trusted" / "link"))
    problem = _state.trusted_folder_problem(str(top / "trusted" / "link" / ".."), "lock folder")
    assert problem == "lock folder parent %s is writable by group or others (mode 0777, not sticky); refused" % (top / "open"), problem
    assert _state.trusted_folder_problem(str(top / "trusted"), "lock folder") is None
