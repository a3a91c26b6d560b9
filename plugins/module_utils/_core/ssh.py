# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ssh for remote-shell transfers. Private to sciops.datasync: not a public API.

``ssh_argv`` builds the ssh command line every remote-shell transfer uses: the key
file only (IdentitiesOnly), a user, BatchMode (never a prompt), and host keys checked
against a known_hosts file (StrictHostKeyChecking=yes: an unknown or changed key
stops the connection, it is never accepted silently). ``host_key_problem`` turns
ssh's stderr into a clear message when the host key is the reason it stopped.
"""

from __future__ import annotations

import os
import re

_WORD = re.compile(r"^[A-Za-z0-9_.@%+:,\[\]-]+$")

HOST_KEY_MARKERS = (
    "REMOTE HOST IDENTIFICATION HAS CHANGED",
    "Host key verification failed",
    "No ED25519 host key is known",
    "No RSA host key is known",
    "No ECDSA host key is known",
    "host key for",
)


class SshConfigError(ValueError):
    """An ssh setting that cannot be used (reported before anything runs)."""


def endpoint_problem(host, user, port):
    """Why host/user/port cannot go on an ssh command line, or None."""
    for value, what in ((host, "host"), (user, "user")):
        if not isinstance(value, str) or not value or value.startswith("-") or not _WORD.match(value):
            return "ssh %s %r is not a plain host or user name" % (what, value)
    if not isinstance(port, int) or not 0 < port < 65536:
        return "ssh port %r is not a port number" % (port,)
    return None


def ssh_argv(host, user, key_file, port=22, known_hosts=None, connect_timeout=30, extra_options=None, ssh="ssh"):
    """The ssh argv (without the remote command) for ``user@host`` with the key file.

    ``known_hosts`` replaces the user's and the global known_hosts files, so the key
    recorded there is the only one accepted.
    """
    problem = endpoint_problem(host, user, port)
    if problem:
        raise SshConfigError(problem)
    if not key_file or not os.path.isfile(key_file):
        raise SshConfigError("ssh key file %s does not exist" % key_file)
    argv = [ssh, "-i", key_file, "-l", user, "-p", str(port),
            "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
            "-o", "ConnectTimeout=%d" % int(connect_timeout)]
    if known_hosts:
        if not os.path.isfile(known_hosts):
            raise SshConfigError("known_hosts file %s does not exist: add the source's host key there first" % known_hosts)
        argv += ["-o", "UserKnownHostsFile=%s" % known_hosts, "-o", "GlobalKnownHostsFile=/dev/null"]
    for option in extra_options or []:
        argv += ["-o", option]
    return argv


def host_label(host, port):
    return host if port == 22 else "[%s]:%d" % (host, port)


def host_key_problem(stderr, host, port, known_hosts):
    """A clear message when ssh refused the host key (from its stderr), else None."""
    text = stderr or ""
    if not any(marker in text for marker in HOST_KEY_MARKERS):
        return None
    where = known_hosts or "the user's known_hosts"
    if "HAS CHANGED" in text or "does not match" in text:
        why = "its host key does not match the one recorded in %s" % where
    else:
        why = "its host key is not recorded in %s" % where
    return ("ssh refused to connect to %s: %s. Nothing was transferred; verify the new key with the facility "
            "and update known_hosts (keys are never accepted silently)" % (host_label(host, port), why))
