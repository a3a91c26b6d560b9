# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pre-flight of an rsync daemon the pool mirror pulls from. Private to sciops.datasync: not a public API.

The rows prove what the transfer_pools job needs, transferring nothing:

- ``rsync daemon reachable``: its ``@RSYNCD:`` greeting (``network.check_rsync_daemon``); when it
  fails, the rows below are skipped;
- ``rsync login accepted``: the job's user and password file (its password only ever in that file,
  read by rsync) are accepted for every pool's module; one row for all of them, since a wrong
  password is refused for each;
- ``rsync pool listed``: per pool, ``module[/path]`` listed one level deep (``--list-only``) by the
  argv the job's own listing uses (``_pools.mirror.listing_argv``).

``classify(rc, stderr)`` reads rsync's outcome (texts recorded from rsync 3.2.7 and 3.5.0):

- exit 5, ``@ERROR: auth failed on module M``: a wrong user or password;
- exit 5, ``@ERROR: Unknown module 'M'`` (the daemon asks for it before the password);
- exit 5, ``@ERROR: access denied to M from H``: the module's hosts allow/deny;
- exit 5, ``rsync: server sent "..." rather than greeting``: not an rsync daemon;
- exit 23, ``change_dir "P" (in M) failed: No such file or directory (2)``: the path is missing
  (``Not a directory (20)``: it is a file);
- exit 1 naming the password file: rsync would not read it; exit 10 or 35: no connection.

Daemon text reaches a row escaped (``_core.rsync.escape_text``) and cut short.
"""

from __future__ import annotations

import re

from ansible_collections.sciops.datasync.plugins.module_utils._core.results import reasons_text
from ansible_collections.sciops.datasync.plugins.module_utils._core.rsync import C_ENV, daemon_error, escape_text, exit_meaning, parse_listing
from ansible_collections.sciops.datasync.plugins.module_utils._pools.mirror import (
    endpoint_problems, listing_argv, name_problems, password_setup, source_label)
from ansible_collections.sciops.datasync.plugins.module_utils._preflight.network import check_rsync_daemon
from ansible_collections.sciops.datasync.plugins.module_utils._preflight.rows import FAILED, failed, ok, skipped

LOGIN = "rsync login accepted"
POOL = "rsync pool listed"

OK = "ok"
AUTH = "auth failed"
PASSWORD_FILE = "password file refused"
UNKNOWN_MODULE = "unknown module"
PATH_MISSING = "path missing"
NOT_A_FOLDER = "path not a folder"
HOST_DENIED = "host denied"
UNREACHABLE = "daemon unreachable"
NOT_A_DAEMON = "not an rsync daemon"
OTHER = "other"
REFUSED = "refused"

_LOGIN_KINDS = (AUTH, PASSWORD_FILE)
_LIMIT = 300


def _said(stderr):
    """rsync's (or the daemon's) first error line, escaped and cut short: it is the server's text."""
    text = daemon_error(stderr) or " ".join((stderr or "").split()[:40])
    text = escape_text(text)
    return text if len(text) <= _LIMIT else text[:_LIMIT] + "..."


def _names(names):
    """Names quoted and escaped, each once, in order: 'pv', 'pv-1'."""
    unique = []
    for name in names:
        if name not in unique:
            unique.append(name)
    return ", ".join("'%s'" % escape_text(name) for name in unique)


def classify(rc, stderr):
    """``(kind, words)`` of one listing: what went wrong (a kind above) and rsync's own words, escaped."""
    stderr = stderr or ""
    if rc == 0:
        return OK, ""
    said = _said(stderr)
    if rc == 5 and re.search(r"^@ERROR: auth failed on module ", stderr, re.M):
        return AUTH, said
    if rc == 5 and re.search(r"^@ERROR: Unknown module ", stderr, re.M):
        return UNKNOWN_MODULE, said
    if rc == 5 and re.search(r"^@ERROR: access denied to .* from ", stderr, re.M):
        return HOST_DENIED, said
    if rc == 5 and re.search(r"^rsync: server sent .* rather than greeting$", stderr, re.M):
        return NOT_A_DAEMON, said
    if rc == 23 and re.search(r"change_dir .* failed: No such file or directory \(2\)", stderr):
        return PATH_MISSING, said
    if rc == 23 and re.search(r"change_dir .* failed: Not a directory \(20\)", stderr):
        return NOT_A_FOLDER, said
    if rc == 1 and re.search(r"password file", stderr):
        return PASSWORD_FILE, said
    if rc in (10, 35):
        return UNREACHABLE, said
    return OTHER, said


class DaemonChecks:
    """The rows of one ``rsync_daemons`` entry: host, port, user, password_file, pools (module, path), rsync_path.

    ``failed_secrets`` are the paths whose credential file row failed: a password file among them
    skips the login instead of failing a second row for the same fault.
    """

    def __init__(self, runner, daemon, timeout, failed_secrets=()):
        self.runner = runner
        self.daemon = daemon
        self.timeout = timeout
        self.failed_secrets = set(failed_secrets)
        self.where = escape_text("%s:%d" % (daemon["host"], daemon["port"]))
        self.user = escape_text(daemon.get("user") or "")
        self.password_file = daemon.get("password_file")
        self.login_item = "%s@%s" % (self.user or "(no user)", self.where)

    def params(self, pool):
        """The job's listing parameters for ``pool`` (``_pools.mirror.listing_argv``): one level, nothing transferred."""
        return {"host": self.daemon["host"], "port": self.daemon["port"], "user": self.daemon.get("user") or None,
                "password_file": self.password_file, "module": pool["module"], "path": pool.get("path") or "",
                "recursive": False, "contimeout": self.timeout, "timeout": self.timeout}

    def pool_item(self, pool):
        return "%s on %s" % (escape_text(source_label(pool["module"], pool.get("path"))), self.where)

    def rows(self):
        greeting = check_rsync_daemon(self.daemon["host"], self.daemon["port"], self.timeout)
        pools = self.daemon.get("pools") or []
        if not pools:
            return [greeting]
        if greeting["result"] == FAILED:
            return [greeting] + self._skipped(pools, "the daemon did not answer")
        login, why = self._login_problem(pools[0])
        if login:
            return [greeting, login] + self._skipped(pools, why)[1:]
        binary = self.daemon.get("rsync_path") or self.runner.binary("rsync", required=False)
        if not binary:
            return [greeting, failed(LOGIN, self.login_item, "rsync is not installed on this host",
                                     "install rsync (transfer_pools_manage_package)")] + self._skipped(pools, "no rsync")[1:]
        outcomes = [self._list(pool, binary) for pool in pools]
        return [greeting, self._login_row(outcomes)] + [self._pool_row(*outcome) for outcome in outcomes]

    def _skipped(self, pools, why):
        return [skipped(LOGIN, self.login_item, why)] + [skipped(POOL, self.pool_item(p), why) for p in pools]

    def _login_problem(self, pool):
        """``(row, why the pools are skipped)`` when the login settings cannot be used, else ``(None, None)``."""
        problems = endpoint_problems(self.params(pool))
        if problems:
            return failed(LOGIN, self.login_item, "refused: %s" % escape_text(reasons_text(problems)),
                          "give the daemon's host and user as plain names (transfer_pools_host, transfer_pools_user)"), \
                "the login settings were refused"
        problem = password_setup(self.params(pool))[2]
        if not problem:
            return None, None
        if self.password_file in self.failed_secrets:
            return skipped(LOGIN, self.login_item, "the password file failed its check"), "no usable password file"
        return failed(LOGIN, self.login_item, escape_text(problem), "install the daemon's password for %s in %s (transfer_pools_password), "
                      "mode 0600, owned by the job's account" % (self.user, self.password_file)), "no usable password file"

    def _list(self, pool, binary):
        """``(pool, kind, words, run)``: the pool listed as the job lists it, the password only in its file."""
        params = self.params(pool)
        problems = name_problems(params)
        if problems:
            return pool, REFUSED, escape_text(reasons_text(problems)), None
        run = self.runner.run(listing_argv(params, binary, self.password_file), env=dict(C_ENV))
        kind, said = classify(run.rc, run.stderr)
        return pool, kind, said, run

    def _login_row(self, outcomes):
        how = "%s with the password in %s" % (self.user, self.password_file) if self.password_file else self.user or "no user"
        refused = [(pool, kind, said) for pool, kind, said, _run in outcomes if kind in _LOGIN_KINDS]
        if refused:
            modules = _names(pool["module"] for pool, _kind, _said in refused)
            _pool, kind, said = refused[0]
            if kind == PASSWORD_FILE:
                return failed(LOGIN, self.login_item, "rsync would not read the password file %s: %s" % (self.password_file, said),
                              "make %s a regular file owned by the job's account, mode 0600" % self.password_file)
            return failed(LOGIN, self.login_item, "the daemon refused the login of %s for module %s (%s)" % (how, modules, said),
                          "put the daemon's current password for %s in %s (transfer_pools_password), and check that %s is "
                          "in the auth users of module %s on the daemon" % (self.user, self.password_file, self.user, modules))
        reached = _names(pool["module"] for pool, kind, _said, _run in outcomes if kind in (OK, PATH_MISSING, NOT_A_FOLDER))
        if not reached:
            return skipped(LOGIN, self.login_item, "no pool's module was reached to log in to")
        return ok(LOGIN, self.login_item, "%s accepted for module %s" % (how, reached))

    def _pool_row(self, pool, kind, said, run):
        item = self.pool_item(pool)
        module, path = _names([pool["module"]]), _names([pool.get("path") or ""])
        if kind == OK:
            count = len([e for e in parse_listing(run.stdout) if e["name"] != "."])
            return ok(POOL, item, "listed: %d %s at its top (nothing transferred)" % (count, "entry" if count == 1 else "entries"))
        if kind in _LOGIN_KINDS:
            return skipped(POOL, item, "the login was refused")
        fixes = {
            REFUSED: ("refused: %s" % said, "give the pool's module as a plain rsync module name and its path relative, "
                      "without '..' (transfer_pools_modules)"),
            UNKNOWN_MODULE: ("the daemon has no module %s (%s)" % (module, said),
                             "check the pool's module in transfer_pools_modules against the daemon's list (rsync rsync://%s/), "
                             "or ask the daemon's administrators to export it" % self.where),
            PATH_MISSING: ("module %s has no path %s (%s)" % (module, path, said),
                           "check the pool's path inside module %s in transfer_pools_modules, or have it made on the daemon" % module),
            NOT_A_FOLDER: ("path %s in module %s is not a folder (%s)" % (path, module, said),
                           "give the pool's path as a folder inside module %s in transfer_pools_modules" % module),
            HOST_DENIED: ("the daemon does not let this host into module %s (%s)" % (module, said),
                          "ask the daemon's administrators to let this host in (hosts allow of module %s)" % module),
            UNREACHABLE: ("rsync could not reach the daemon: %s" % said,
                          "check the host and port, and that the daemon runs and lets this host in"),
            NOT_A_DAEMON: ("not an rsync daemon: %s" % said, "check the port: it must be the rsync daemon's"),
        }
        if kind in fixes:
            return failed(POOL, item, *fixes[kind])
        return failed(POOL, item, "rsync exit code %d (%s): %s" % (run.rc, exit_meaning(run.rc), said),
                      "list the pool as the job does (playbooks/pools.yml -e pools_action=list -e pools_module=...) "
                      "and act on rsync's message")
