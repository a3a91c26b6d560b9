# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one way this collection runs external commands. Private to sciops.datasync.

Every call is an argv list handed to ``AnsibleModule.run_command`` (never a shell
string), so names can never be reinterpreted by a shell. ``secret_env`` carries
secrets in the environment (as rsync's RSYNC_PASSWORD), never in argv.
"""

from __future__ import annotations

from collections import namedtuple

CommandResult = namedtuple("CommandResult", ["argv", "rc", "stdout", "stderr"])


class CommandRunner(object):
    def __init__(self, module):
        self.module = module
        self.history = []

    def binary(self, name, required=True, opt_dirs=None):
        return self.module.get_bin_path(name, required=required, opt_dirs=opt_dirs or [])

    def run(self, argv, data=None, env=None, cwd=None, binary_data=False, secret_env=None):
        if not isinstance(argv, (list, tuple)) or not argv:
            raise TypeError("argv must be a non-empty list of strings")
        for item in argv:
            if not isinstance(item, str):
                raise TypeError("argv items must be strings, got %r" % (item,))
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
        result = CommandResult(list(argv), rc, out, err)
        self.history.append(result)
        return result
