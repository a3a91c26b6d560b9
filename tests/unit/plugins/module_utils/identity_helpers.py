"""Helpers for the identity-sync unit tests: a subprocess-backed stand-in for AnsibleModule."""

import os
import shutil
import subprocess

import pytest

NEEDS_ROOT = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("useradd", path="/usr/sbin:/usr/bin:/sbin"),
                                reason="needs root and shadow-utils")


class ShellFreeModule:
    """The two AnsibleModule methods CommandRunner uses, backed by subprocess."""

    def __init__(self):
        self.commands = []

    def get_bin_path(self, name, required=False, opt_dirs=None):
        return shutil.which(name, path=":".join((opt_dirs or []) + [os.environ.get("PATH", "")]))

    def run_command(self, args, data=None, environ_update=None, use_unsafe_shell=False, **kwargs):
        assert use_unsafe_shell is False
        self.commands.append(list(args))
        env = dict(os.environ, **(environ_update or {}))
        proc = subprocess.run(args, input=data, env=env, capture_output=True, text=True, check=False, cwd=kwargs.get("cwd"))
        return proc.returncode, proc.stdout, proc.stderr
