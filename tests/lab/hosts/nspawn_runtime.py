"""What systemd-nspawn leaves in /run when it is killed instead of stopped: a machine's propagation
folder and the lock file of its root folder. A clean exit removes both; a killed lab's are removed
by the next down or up."""

from __future__ import annotations

import errno
import fcntl
import glob
import os
import shutil

RUNTIME = "/run/systemd/nspawn"


def remove_propagate_folder(machine_name):
    """The machine's folder for `machinectl bind`; only call it when that machine's nspawn is gone."""
    shutil.rmtree(os.path.join(RUNTIME, "propagate", machine_name), ignore_errors=True)


def remove_unheld_locks():
    """Root-folder lock files no running nspawn holds: nspawn keeps a shared lock on its own while
    it runs (other nspawn users of this machine included), so an exclusive lock is taken only on
    a dead one's file, as nspawn itself does before removing it."""
    removed = 0
    for path in glob.glob(os.path.join(RUNTIME, "locks", "inode-*")):
        try:
            descriptor = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.EWOULDBLOCK):
                raise
        else:
            os.unlink(path)
            removed += 1
        finally:
            os.close(descriptor)
    return removed
