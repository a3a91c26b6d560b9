# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Local POSIX accounts, written with the system's own tools. Private to sciops.datasync: not a public API.

``PosixAccounts`` reads ``etc/passwd``, ``etc/group`` and ``etc/shadow`` under a root
folder (``/`` on a real host) and changes them only through shadow-utils and
systemd-sysusers, each called as an argv list through ``CommandRunner``:

- batches of new users and groups: ``systemd-sysusers --root=ROOT -`` with ``u``/``g``/``m``
  lines on standard input (it only adds; 20,000 users take a fraction of a second);
- single changes: ``useradd`` / ``usermod`` / ``userdel`` / ``groupadd`` / ``groupmod`` /
  ``groupdel`` with ``--prefix ROOT`` (``gpasswd`` only has a chroot mode, which cannot look
  users up in a bare folder, so group members are set with ``groupmod -U``).

Another backend (a directory such as LDAP) can implement the same methods.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
from collections import namedtuple

PasswdEntry = namedtuple("PasswdEntry", ["name", "password", "uid", "gid", "gecos", "home", "shell"])
GroupEntry = namedtuple("GroupEntry", ["name", "password", "gid", "members"])
ShadowEntry = namedtuple("ShadowEntry", ["name", "password", "lastchange", "min", "max", "warn", "inactive", "expire", "flag"])

# systemd-sysusers accepts only these ("strict" mode); other valid names go through shadow-utils.
SYSUSERS_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,30}$")
_GECOS_BAD = re.compile(r"[\x00-\x1f\x7f:\"\\]")

UserSpec = namedtuple("UserSpec", ["name", "uid", "gid", "group", "private_group", "gecos", "home", "shell"])
GroupSpec = namedtuple("GroupSpec", ["name", "gid", "members"])


class AccountError(Exception):
    """A tool failed or the databases are not usable."""


def clean_gecos(text):
    """A GECOS field that cannot break a passwd line or a sysusers line."""
    text = _GECOS_BAD.sub(" ", text or "")
    return " ".join(text.replace(",", " ").split())


def _int(text):
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


def _records(text, comment_marks):
    """The colon-separated fields of each line, skipping blank lines and those starting with one of ``comment_marks``."""
    for line in text.splitlines():
        if line and not line.startswith(comment_marks):
            yield line.split(":")


def parse_passwd(text):
    return [PasswdEntry(f[0], f[1], int(f[2]), int(f[3]), f[4], f[5], f[6])
            for f in _records(text, ("#", "+", "-"))
            if len(f) == 7 and _int(f[2]) is not None and _int(f[3]) is not None]


def parse_group(text):
    return [GroupEntry(f[0], f[1], int(f[2]), [m for m in f[3].split(",") if m])
            for f in _records(text, ("#", "+", "-"))
            if len(f) == 4 and _int(f[2]) is not None]


def parse_shadow(text):
    return [ShadowEntry(*(f + [""] * (9 - len(f)))[:9]) for f in _records(text, ("#",))]


def creation_errors(after, users, groups, errors):
    """``errors`` ({name: error}) plus each of ``users`` and ``groups`` (specs) that the database
    ``after`` does not hold with its ids; the names already in ``errors`` are not checked again."""
    for kind, specs, entries, ids in (("user", users, after.users, ("uid", "gid")), ("group", groups, after.groups, ("gid",))):
        for spec in specs:
            if spec.name in errors:
                continue
            entry = entries.get(spec.name)
            wanted = tuple(getattr(spec, name) for name in ids)
            found = tuple(getattr(entry, name) for name in ids) if entry else None
            if found is None:
                errors[spec.name] = "%s %s was not created" % (kind, spec.name)
            elif found != wanted:
                errors[spec.name] = "%s %s was created with %s instead of %s" % (
                    kind, spec.name, " ".join("%s %d" % pair for pair in zip(ids, found)), " ".join("%d" % n for n in wanted))
    return errors


def passwd_line(entry):
    return "%s:%s:%d:%d:%s:%s:%s" % tuple(entry)


def group_line(entry):
    return "%s:%s:%d:%s" % (entry.name, entry.password, entry.gid, ",".join(entry.members))


class AccountDatabase:
    """A snapshot of passwd, group and shadow (read once, indexed).

    ``group`` None means the groups are read when first looked at, by ``group_reader`` (a function the backend
    sets, returning the group entries): a user sync with no one new to create never needs them.
    """

    def __init__(self, passwd=(), group=(), shadow=()):
        self.users = {}
        self.uids = {}
        for entry in passwd:
            self.users.setdefault(entry.name, entry)
            self.uids.setdefault(entry.uid, entry.name)
        self._groups = self._gids = None
        self.group_reader = None
        if group is not None:
            self._index_groups(group)
        self.shadow = {entry.name: entry for entry in shadow}

    def _index_groups(self, group):
        self._groups, self._gids = {}, {}
        for entry in group:
            self._groups.setdefault(entry.name, entry)
            self._gids.setdefault(entry.gid, entry.name)

    def _read_groups(self):
        if self._groups is None:
            if self.group_reader is None:
                raise AccountError("the groups were not read and nothing can read them")
            self._index_groups(self.group_reader())
        return self._groups, self._gids

    @property
    def groups(self):
        return self._read_groups()[0]

    @property
    def gids(self):
        return self._read_groups()[1]

    def user_locked(self, name):
        """True when the account is expired (the lock this collection applies)."""
        entry = self.shadow.get(name)
        return bool(entry and entry.expire not in ("",) and _int(entry.expire) is not None and int(entry.expire) <= 1)


class PosixAccounts:
    """Accounts in the files under ``root``, changed with shadow-utils and systemd-sysusers."""

    def __init__(self, runner, root="/", nologin_shell="/usr/sbin/nologin", use_sysusers=True, tool_paths=None):
        self.runner = runner
        self.root = os.path.abspath(root or "/")
        self.nologin_shell = nologin_shell
        self.use_sysusers = use_sysusers
        self._tool_paths = dict(tool_paths or {})

    # -- paths and tools -------------------------------------------------------
    def path(self, *parts):
        return os.path.join(self.root, *[p.lstrip("/") for p in parts])

    @property
    def prefixed(self):
        return self.root != "/"

    def tool(self, name, required=True):
        if name not in self._tool_paths:
            self._tool_paths[name] = self.runner.binary(name, required=required, opt_dirs=["/usr/sbin", "/sbin", "/usr/bin"])
        return self._tool_paths[name]

    def _prefix_args(self):
        return ["--prefix", self.root] if self.prefixed else []

    def _run(self, argv, data=None):
        result = self.runner.run(argv, data=data)
        if result.rc != 0:
            raise AccountError("%s failed (rc=%d): %s" % (" ".join(argv[:1] + argv[-1:]), result.rc, (result.stderr or result.stdout).strip()))
        return result

    # -- reading ---------------------------------------------------------------
    SEEDS = (("passwd", "root:x:0:0:root:/root:/bin/bash\n", 0o644), ("group", "root:x:0:\n", 0o644),
             ("shadow", "root:*:19000:0:99999:7:::\n", 0o640), ("gshadow", "root:*::\n", 0o640))

    def ensure_databases(self):
        """Under a non-/ root, create account databases (holding root) when none exist yet."""
        if not self.prefixed or os.path.exists(self.path("etc/passwd")):
            return False
        etc = self.path("etc")
        if not os.path.isdir(etc):
            os.makedirs(etc, 0o755)
        for name, content, mode in self.SEEDS:
            target = self.path("etc", name)
            if not os.path.exists(target):
                with open(target, "w") as handle:
                    handle.write(content)
                os.chmod(target, mode)
        if not os.path.exists(self.path("etc/login.defs")):
            if os.path.exists("/etc/login.defs"):
                shutil.copyfile("/etc/login.defs", self.path("etc/login.defs"))
            else:
                with open(self.path("etc/login.defs"), "w") as handle:
                    handle.write("USERGROUPS_ENAB yes\n")
        return True

    def _read(self, name):
        try:
            with open(self.path("etc", name), "rb") as handle:
                return handle.read().decode("utf-8", "replace")
        except (IOError, OSError):
            return ""

    def read(self, user_details=True, group_members=True, groups=True):  # pylint: disable=unused-argument
        """The databases as an ``AccountDatabase``; the files are read whole (the keywords are for the directory's sake)."""
        if self.prefixed and not os.path.exists(self.path("etc/passwd")):
            seeds = {name: content for name, content, mode in self.SEEDS}
            return AccountDatabase(parse_passwd(seeds["passwd"]), parse_group(seeds["group"]), parse_shadow(seeds["shadow"]))
        return AccountDatabase(parse_passwd(self._read("passwd")), parse_group(self._read("group")), parse_shadow(self._read("shadow")))

    # -- batches (systemd-sysusers) ---------------------------------------------
    @staticmethod
    def sysusers_quote(text):
        return '"%s"' % clean_gecos(text).replace("%", "%%")

    def sysusers_lines(self, users=(), groups=(), db=None):
        """Lines for systemd-sysusers; returns (lines, leftover_users, leftover_groups)."""
        lines, rest_users, rest_groups = [], [], []
        for group in groups:
            if SYSUSERS_NAME.match(group.name):
                lines.append("g %s %d" % (group.name, group.gid))
            else:
                rest_groups.append(group)
        for user in users:
            if not SYSUSERS_NAME.match(user.name) or (user.group and not SYSUSERS_NAME.match(user.group)):
                rest_users.append(user)
                continue
            if user.private_group and not (db and user.name in db.groups):
                ident = "%d" % user.uid
            else:
                ident = "%d:%s" % (user.uid, user.group or user.name)
            lines.append("u %s %s %s %s %s" % (user.name, ident, self.sysusers_quote(user.gecos), user.home, user.shell))
        for group in groups:
            if SYSUSERS_NAME.match(group.name):
                for member in group.members:
                    if SYSUSERS_NAME.match(member):
                        lines.append("m %s %s" % (member, group.name))
        return lines, rest_users, rest_groups

    def create_batch(self, users=(), groups=(), db=None):
        """Create new users and groups; returns {name: error} for those that failed.

        systemd-sysusers handles the names it accepts in one call; the rest, or all of
        them when it is missing, go through useradd / groupadd one by one. Afterwards
        each account is checked against the files: a wrong uid or gid is an error.
        """
        users, groups = list(users), list(groups)
        errors = {}
        if db is None:
            db = self.read()
        sysusers = self.tool("systemd-sysusers", required=False) if self.use_sysusers else None
        if sysusers and (users or groups):
            lines, rest_users, rest_groups = self.sysusers_lines(users, groups, db)
            if lines:
                argv = [sysusers] + (["--root", self.root] if self.prefixed else []) + ["-"]
                result = self.runner.run(argv, data="\n".join(lines) + "\n")
                if result.rc != 0:
                    # Nothing is known to be written: fall back to the single-change tools.
                    rest_users, rest_groups = users, groups
        else:
            rest_users, rest_groups = users, groups
        for group in rest_groups:
            try:
                if group.name not in self.read().groups:
                    self.add_group(group.name, group.gid)
                if group.members:
                    self.set_group_members(group.name, group.members, append=True)
            except AccountError as exc:
                errors[group.name] = str(exc)
        after = self.read() if rest_users else None
        for user in rest_users:
            if user.name in after.users:
                continue
            try:
                self.add_user(user, after)
            except AccountError as exc:
                errors[user.name] = str(exc)
        return creation_errors(self.read(), users, groups, errors)

    # -- single changes (shadow-utils) ------------------------------------------
    def add_user(self, user, db=None):
        db = db or self.read()
        argv = [self.tool("useradd")] + self._prefix_args() + ["-u", str(user.uid)]
        if user.private_group and user.name not in db.groups:
            argv += ["-U"]
        else:
            argv += ["-N", "-g", user.group or user.name]
        argv += ["-M", "-c", clean_gecos(user.gecos), "-d", user.home, "-s", user.shell, "--", user.name]
        self._run(argv)

    def modify_user(self, name, gecos=None, home=None, shell=None, gid=None):
        argv = [self.tool("usermod")] + self._prefix_args()
        if gecos is not None:
            argv += ["-c", clean_gecos(gecos)]
        if shell is not None:
            argv += ["-s", shell]
        if home is not None:
            argv += ["-d", home]
        if gid is not None:
            argv += ["-g", str(gid)]
        self._run(argv + ["--", name])

    def lock_user(self, name):
        """Expire the account and give it the nologin shell (passwords stay locked)."""
        self._run([self.tool("usermod")] + self._prefix_args() + ["-e", "1", "-s", self.nologin_shell, "--", name])

    def unlock_user(self, name, shell):
        self._run([self.tool("usermod")] + self._prefix_args() + ["-e", "", "-s", shell, "--", name])

    def remove_user(self, name):
        """userdel without -r: the home folder is kept."""
        self._run([self.tool("userdel")] + self._prefix_args() + ["--", name])

    def add_group(self, name, gid):
        self._run([self.tool("groupadd")] + self._prefix_args() + ["-g", str(gid), "--", name])

    def rename_group(self, old, new):
        self._run([self.tool("groupmod")] + self._prefix_args() + ["-n", new, "--", old])

    def set_group_members(self, name, members, append=False):
        argv = [self.tool("groupmod")] + self._prefix_args() + (["-a"] if append else []) + ["-U", ",".join(members), "--", name]
        self._run(argv)

    def remove_group(self, name):
        self._run([self.tool("groupdel")] + self._prefix_args() + ["--", name])

    # -- homes -----------------------------------------------------------------
    HOME_TEMP = ".%s.datasync-new"

    def create_home(self, home, uid, gid, skeleton=None, mode=0o750):
        """Create the home folder under the root from a skeleton; it appears complete or not at all.

        With a skeleton the home is built under a temporary name in the same parent
        (``.NAME.datasync-new``, root 0700 until done): skeleton copied, ownership and mode set, then
        renamed into place; without one it is made in place (``_create_empty_home``). A
        leftover temporary folder from a killed run is removed (without following links) and the
        home is built again. An existing home is left alone, except an empty root-owned 0700
        folder (what a run killed before this rule left behind), which is rebuilt. Returns True
        when created. Nothing is followed through symlinks.
        """
        target = self.path(home)
        parent = os.path.dirname(target)
        temp = os.path.join(parent, self.HOME_TEMP % os.path.basename(target))
        if os.path.lexists(target):
            if not self._half_made(target, uid):
                return False
            os.rmdir(target)
        if not os.path.isdir(parent):
            os.makedirs(parent, 0o755)
        if os.path.islink(parent):
            raise OSError("home parent %s is a symbolic link" % parent)
        if not (skeleton and os.path.isdir(skeleton)):
            return self._create_empty_home(target, uid, gid, mode)
        if os.path.lexists(temp):
            if os.path.isdir(temp) and not os.path.islink(temp):
                shutil.rmtree(temp)
            else:
                os.unlink(temp)
        os.mkdir(temp, 0o700)
        if skeleton and os.path.isdir(skeleton):
            self._copy_skeleton(skeleton, temp, uid, gid)
        os.chmod(temp, mode)
        os.chown(temp, uid, gid)
        if os.path.lexists(target):  # appeared meanwhile: leave it, drop ours
            shutil.rmtree(temp)
            return False
        os.rename(temp, target)
        return True

    @staticmethod
    def _create_empty_home(target, uid, gid, mode):
        """An empty home made in place: until it is handed over it is an empty root-owned 0700 folder, which the next
        run rebuilds (``_half_made``), so it too appears complete or not at all, without a temporary name."""
        try:
            os.mkdir(target, 0o700)
        except FileExistsError:  # appeared meanwhile: leave it
            return False
        fd = os.open(target, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            os.fchown(fd, uid, gid)
            os.fchmod(fd, mode)
        finally:
            os.close(fd)
        return True

    @staticmethod
    def _half_made(target, uid):
        """An empty folder owned by root with mode 0700 for a non-root account: a home that was never finished."""
        try:
            info = os.lstat(target)
        except OSError:
            return False
        return (uid != 0 and stat.S_ISDIR(info.st_mode) and info.st_uid == 0 and stat.S_IMODE(info.st_mode) == 0o700
                and not os.listdir(target))

    @staticmethod
    def _copy_skeleton(skeleton, target, uid, gid):
        for dirpath, dirnames, filenames in os.walk(skeleton):
            rel = os.path.relpath(dirpath, skeleton)
            dest_dir = target if rel == "." else os.path.join(target, rel)
            for dirname in dirnames:
                src = os.path.join(dirpath, dirname)
                dst = os.path.join(dest_dir, dirname)
                if os.path.islink(src):
                    os.symlink(os.readlink(src), dst)
                else:
                    os.mkdir(dst, stat.S_IMODE(os.stat(src).st_mode))
                os.lchown(dst, uid, gid)
            for filename in filenames:
                src = os.path.join(dirpath, filename)
                dst = os.path.join(dest_dir, filename)
                if os.path.islink(src):
                    os.symlink(os.readlink(src), dst)
                elif os.path.isfile(src):
                    shutil.copy2(src, dst)
                else:
                    continue  # never a device, FIFO or socket from a skeleton
                os.lchown(dst, uid, gid)
