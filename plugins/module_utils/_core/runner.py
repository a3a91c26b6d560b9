# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one way this collection runs external commands. Private to sciops.datasync.

Every call is an argv list (never a shell string), so names can never be reinterpreted
by a shell. ``run`` hands it to ``AnsibleModule.run_command``; ``run_bulk`` is for
commands whose output runs to megabytes. ``secret_env`` carries secrets in the
environment (as rsync's RSYNC_PASSWORD), never in argv.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections import namedtuple

CommandResult = namedtuple("CommandResult", ["argv", "rc", "stdout", "stderr"])


class CommandRunner:
    def __init__(self, module):
        self.module = module
        self.history = []

    def binary(self, name, required=True, opt_dirs=None):
        return self.module.get_bin_path(name, required=required, opt_dirs=opt_dirs or [])

    @staticmethod
    def _checked(argv):
        if not isinstance(argv, (list, tuple)) or not argv:
            raise TypeError("argv must be a non-empty list of strings")
        for item in argv:
            if not isinstance(item, str):
                raise TypeError("argv items must be strings, got %r" % (item,))
        return list(argv)

    def run(self, argv, data=None, env=None, cwd=None, binary_data=False, secret_env=None):
        argv = self._checked(argv)
        environ = dict(env or {})
        environ.update(secret_env or {})
        rc, out, err = self.module.run_command(
            list(argv),
            data=data,
            binary_data=binary_data,
            environ_update=environ,
            cwd=cwd,
            use_unsafe_shell=False,
            check_rc=False,
        )
        result = CommandResult(argv, rc, out, err)
        self.history.append(result)
        return result

    def run_bulk(self, argv, env=None, secret_env=None, cwd=None, on_poll=None, poll_interval=1.0):
        """``run`` for a command that prints megabytes (rsync itemizing 100,000 files), stdin closed.

        ``cwd`` is the child's working folder; ``_core.paths.fd_path(fd)`` runs it inside a folder
        already opened and checked (the kernel resolves it to that folder, not to its name).

        The output goes to unnamed temporary files and is read once the command ends: a pipe
        read as it fills wakes this process for every line (run_command also grows its buffer
        by concatenation, quadratic in the output), taking CPU from the command itself; rsync
        writes each itemized line on its own. run_command cannot send output to a file, hence
        this one direct subprocess call. ``on_poll()`` is called every ``poll_interval`` seconds
        while the command runs (progress of a long transfer).
        """
        argv = self._checked(argv)
        environ = dict(os.environ)
        environ.update(env or {})
        environ.update(secret_env or {})
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            try:
                with subprocess.Popen(  # pylint: disable=ansible-bad-function
                        argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=environ, close_fds=True, cwd=cwd) as child:
                    rc = _wait(child, on_poll, poll_interval)
            except OSError as exc:
                rc = 127
                err.write(("cannot run %s: %s" % (argv[0], exc)).encode("utf-8", "surrogateescape"))
            streams = []
            for handle in (out, err):
                handle.seek(0)
                streams.append(handle.read().decode("utf-8", "surrogateescape"))
        result = CommandResult(argv, rc, streams[0], streams[1])
        self.history.append(result)
        return result


def _wait(child, on_poll, poll_interval):
    """The exit code of ``child``, calling ``on_poll()`` every ``poll_interval`` seconds while it runs."""
    if on_poll is None:
        return child.wait()
    while True:
        try:
            return child.wait(timeout=poll_interval)
        except subprocess.TimeoutExpired:
            on_poll()
