"""Plant files as another (unprivileged) user, as an attacker would: used by the path-safety tests."""

import os

OTHER_UID = OTHER_GID = 65534  # nobody


def as_other_user(folder, action):
    """Run ``action()`` in a forked child as uid/gid 65534, working inside ``folder``; returns its exit status.

    The child enters ``folder`` before it drops root, so ``action`` uses names relative to it
    whatever the modes of the folders above (pytest's are 0700).
    """
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        status = 1
        try:
            os.chdir(folder)
            os.setgroups([])
            os.setgid(OTHER_GID)
            os.setuid(OTHER_UID)
            action()
            status = 0
        finally:
            os._exit(status)  # pylint: disable=protected-access
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def folder_of_other_user(path):
    """Make ``path`` a folder owned by the other user (0755), as a project member's folder is."""
    os.mkdir(path, 0o755)
    os.chown(path, OTHER_UID, OTHER_GID)
    return path


def link_in_shared_folder(tmp_path, name, target):
    """A sticky world-writable ``tmp_path/shared`` (as /tmp) where the other user planted ``name`` -> ``target``;
    the link's path. The link's owner can re-point it at any time, so nothing behind it is to be trusted."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    assert as_other_user(str(shared), lambda: os.symlink(str(target), name)) == 0
    return shared / name
