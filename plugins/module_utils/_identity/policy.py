# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Identity sync: what the host says about privilege and ids. Private to sciops.datasync: not a public API.

- ``login_defs``: UID_MIN/UID_MAX/GID_MIN/GID_MAX of the target root (the site's range for
  people; only accounts and groups inside it may be adopted).
- ``sudoers_names``: every group (``%group``, ``%:group``) and user named in ``etc/sudoers``, the
  files it includes and ``etc/sudoers.d/*``: never created nor adopted. Files are read without
  following links; one that is a link or not a regular file stops the run (fail closed).
- ``home_owners``: the uids and gids owning an entry of the home folders: never reissued.
"""

from __future__ import annotations

import os
import re
import stat

LOGIN_DEFS_DEFAULTS = {"UID_MIN": 1000, "UID_MAX": 60000, "GID_MIN": 1000, "GID_MAX": 60000}
_GROUP_TOKEN = re.compile(r"%:?([A-Za-z0-9_.@$-]+)")
_ALIAS = re.compile(r"^(User_Alias|Runas_Alias|Host_Alias|Cmnd_Alias|Cmd_Alias)\s+(.*)$")
_INCLUDE = re.compile(r"^[#@](include|includedir)\s+(\S+)")
_USER_WORD = re.compile(r"^[A-Za-z_][A-Za-z0-9_.@-]*$")


class PolicyError(Exception):
    """A policy file that cannot be read safely: the run stops."""


def _rooted(root, path):
    return os.path.join(os.path.abspath(root or "/"), path.lstrip("/"))


def read_nofollow(path, limit=4 << 20):
    """The text of a regular file, opened without following a link (None when absent)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        if os.path.islink(path):
            raise PolicyError("%s is a symbolic link; it is not followed (replace it with the file)" % path) from exc
        raise PolicyError("cannot read %s: %s" % (path, exc)) from exc
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise PolicyError("%s is not a regular file" % path)
        return handle.read(limit).decode("utf-8", "replace")


def login_defs(root):
    """UID_MIN, UID_MAX, GID_MIN, GID_MAX of ``root``'s etc/login.defs (defaults when absent)."""
    values = dict(LOGIN_DEFS_DEFAULTS)
    text = read_nofollow(_rooted(root, "etc/login.defs")) or ""
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] in values and fields[1].isdigit():
            values[fields[0]] = int(fields[1])
    return values


def parse_sudoers(text):
    """(names, includes): the users and groups a sudoers text names, and the files/folders it includes."""
    names, includes = set(), []
    text = re.sub(r"\\\n", " ", text)
    for raw in text.splitlines():
        line = raw.strip()
        include = _INCLUDE.match(line)
        if include:
            includes.append((include.group(1), include.group(2)))
            continue
        line = re.sub(r"#(?![0-9]).*$", "", line).strip()
        if not line or line.startswith("Defaults"):
            continue
        names.update(_GROUP_TOKEN.findall(line))
        alias = _ALIAS.match(line)
        if alias:
            if alias.group(1) in ("User_Alias", "Runas_Alias"):
                for definition in alias.group(2).split(":"):
                    members = definition.split("=", 1)[-1]
                    names.update(w.strip().lstrip("!") for w in members.split(",") if _USER_WORD.match(w.strip().lstrip("!")))
            continue
        users = line.split(None, 1)[0]
        names.update(w.lstrip("!") for w in users.split(",") if _USER_WORD.match(w.lstrip("!")) and w.lstrip("!") != "ALL")
        for runas in re.findall(r"\(([^)]*)\)", line):
            names.update(w.strip().lstrip("!") for w in re.split(r"[,:]", runas) if _USER_WORD.match(w.strip().lstrip("!")))
    names = {n for n in names if not (n.isupper() and n != "ALL") and n != "ALL"}  # upper-case words are aliases
    return names, includes


def _sudoers_dir(root, folder, seen, names, depth):
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise PolicyError("cannot read the sudoers folder %s without following a link: %s" % (folder, exc)) from exc
    try:
        entries = sorted(os.listdir(fd))
    finally:
        os.close(fd)
    for entry in entries:
        _sudoers_file(root, os.path.join(folder, entry), seen, names, depth)


def _sudoers_file(root, path, seen, names, depth):
    if path in seen or depth > 8:
        return
    seen.add(path)
    text = read_nofollow(path)
    if text is None:
        return
    found, includes = parse_sudoers(text)
    names.update(found)
    for kind, target in includes:
        if target.startswith("/"):
            target = _rooted(root, target)
        else:
            target = os.path.join(os.path.dirname(path), target)
        if kind == "includedir":
            _sudoers_dir(root, target, seen, names, depth + 1)
        else:
            _sudoers_file(root, target, seen, names, depth + 1)


def sudoers_names(root):
    """Every user and group named in ``root``'s sudoers files (etc/sudoers, its includes, etc/sudoers.d/*)."""
    names, seen = set(), set()
    _sudoers_file(root, _rooted(root, "etc/sudoers"), seen, names, 0)
    _sudoers_dir(root, _rooted(root, "etc/sudoers.d"), seen, names, 0)
    return names


def home_owners(root, folders, limit=200000):
    """(uids, gids) owning the entries of each home folder (``/home``, the parents of the homes in passwd)."""
    uids, gids = set(), set()
    count = 0
    for folder in sorted(set(folders)):
        if not folder or not folder.startswith("/") or folder == "/":
            continue
        path = _rooted(root, folder)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            for entry in os.listdir(fd):
                count += 1
                if count > limit:
                    return uids, gids
                try:
                    info = os.stat(entry, dir_fd=fd, follow_symlinks=False)
                except OSError:
                    continue
                uids.add(info.st_uid)
                gids.add(info.st_gid)
        finally:
            os.close(fd)
    return uids, gids
