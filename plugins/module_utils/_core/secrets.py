# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one reader of secret files (passwords, client secrets, logins). Private to sciops.datasync.

Policy (``secret_file_problem``): the path is a regular file, not a symlink (opened with
``O_NOFOLLOW``), owned by the running user or root, and neither readable nor writable by
group or others (``mode & 0o077 == 0``: 0600 or 0400). A file that breaks it is refused
with a message naming the file and the problem, never its content.

``read_secret_file`` returns the text with its trailing newline removed; each caller
parses its own format (``user|password``, ``user:password``, YAML) from that text.
"""

from __future__ import annotations

import os
import stat


class SecretFileError(Exception):
    """A secret file that cannot be used; the message names the file, never its content."""


def _problem_of(info, path, what):
    if not stat.S_ISREG(info.st_mode):
        return "%s %s is not a regular file" % (what, path)
    if info.st_uid not in (os.geteuid(), 0):
        return "%s %s is owned by uid %d, not by the running user or root" % (what, path, info.st_uid)
    if info.st_mode & 0o077:
        return "%s %s is accessible by group or others (mode %04o); it must be 0600 or 0400" % (
            what, path, stat.S_IMODE(info.st_mode))
    return None


def _open(path, what):
    """A read-only fd on ``path`` that is not a symlink; raises SecretFileError."""
    try:
        return os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        if os.path.islink(path):
            raise SecretFileError("%s %s is a symlink; give the file itself" % (what, path))
        raise SecretFileError("%s %s cannot be read: %s" % (what, path, exc.strerror or exc.__class__.__name__))


def secret_file_problem(path, what="secret file"):
    """Why ``path`` is not a usable secret file under the policy above, or None."""
    try:
        fd = _open(path, what)
    except SecretFileError as exc:
        return str(exc)
    try:
        return _problem_of(os.fstat(fd), path, what)
    finally:
        os.close(fd)


def read_secret_file(path, what="secret file"):
    """The text of the secret file ``path`` without its trailing newline; raises SecretFileError."""
    fd = _open(path, what)
    try:
        problem = _problem_of(os.fstat(fd), path, what)
        if problem:
            raise SecretFileError(problem)
        chunks = []
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    except OSError as exc:
        raise SecretFileError("%s %s cannot be read: %s" % (what, path, exc.strerror or exc.__class__.__name__))
    finally:
        os.close(fd)
    try:
        text = b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError:
        raise SecretFileError("%s %s is not UTF-8 text" % (what, path))
    if text.endswith("\r\n"):
        return text[:-2]
    if text.endswith("\n"):
        return text[:-1]
    return text


def read_login_pair(path, what):
    """(username, password) from the first line ``username|password`` of a secret file."""
    line = read_secret_file(path, what).split("\n", 1)[0].strip()
    if "|" not in line:
        raise SecretFileError("%s %s must start with a line 'username|password'" % (what, path))
    username, password = line.split("|", 1)
    return username, password
