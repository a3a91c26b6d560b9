# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pool mirroring (transferPools). Private to sciops.datasync: not a public API.

The bookkeeping is compatible with existing transferPools installations: under the
icc-rsync folder (``bookkeeping_root``) each rsync module has

- ``<module>/logs/<Weekday>``: one log per weekday, started with the day header and
  overwritten a week later; each run appends ``***** YYYYMMDDThhmm: starting rsync *****``,
  the names transferred, rsync's summary and on failure
  ``YYYYMMDDThhmm: PACS product pool transfer rsync error N.``
- ``<module>/logs/logDay``: the current weekday name; a change starts the day's new log.
- ``<module>/writeLock``: the pid of the running instance, present only while rsync
  runs. A live holder makes a second instance skip (noted in the log); a stale one
  (the pid is gone, or now belongs to a younger process) is taken over and that is
  logged, and the rsync temp files the killed run left in the destination are removed.

The logs, ``logDay`` and ``writeLock`` are handled as the lock and state files are
(``_core.state``): their folders (and every folder above) must be owned by the running
user or root and not writable by others unless sticky, and each file is opened with
``O_NOFOLLOW`` and checked on its descriptor (a regular file with one link, owned by the
running user, not group/other-writable) before anything is read, truncated or appended;
``logDay`` is replaced atomically and the writeLock's temp file is made ``O_EXCL``. A
planted link or a foreign file fails the pool with ``UnsafePathError`` naming it.

The destination is opened below ``dest_root`` without following links (``_core.paths``)
and rsync runs inside that descriptor; names (and rsync's own messages) reach the log,
the failure email and the result escaped as rsync escapes them (``\\#ooo``).
"""

from __future__ import annotations

import datetime
import errno
import fcntl
import os
import re
import socket
import stat
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sciops.datasync.plugins.module_utils._core.lock import busy_result, waited_result
from ansible_collections.sciops.datasync.plugins.module_utils._core.mail import MailError, mail_settings, send_mail
from ansible_collections.sciops.datasync.plugins.module_utils._core.names import path_component_problem, relative_path_problem
from ansible_collections.sciops.datasync.plugins.module_utils._core.paths import UnsafePath, check_below, fd_path, open_below
from ansible_collections.sciops.datasync.plugins.module_utils._core.progress import module_progress
from ansible_collections.sciops.datasync.plugins.module_utils._core.results import error, reasons_text
from ansible_collections.sciops.datasync.plugins.module_utils._core.rsync import (
    C_ENV, WARNING_CODES, RsyncOptions, build_argv, daemon_error, daemon_url, escape_name, escape_text, exit_meaning,
    parse_itemized, parse_listing, parse_module_list, parse_stats, summary_lines)
from ansible_collections.sciops.datasync.plugins.module_utils._core.secrets import secret_file_problem
from ansible_collections.sciops.datasync.plugins.module_utils._core.state import (
    UnsafePathError, atomic_write_bytes, deepest_existing_folder, ensure_trusted_folder, open_private, trusted_folder_problem)
from ansible_collections.sciops.datasync.plugins.module_utils._core.runner import CommandRunner
from ansible_collections.sciops.datasync.plugins.module_utils._pools.progress import RsyncProgress

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
RULE = "=" * 51
DEFAULT_PORT = 44520
_WILDCARDS = re.compile(r"[*?\[\]\\]")
_WHITESPACE = re.compile(r"\s")
_MODULE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._,+@=-]*$")
_RSYNC_TEMP = re.compile(r"^\..+\.[A-Za-z0-9]{6}$")
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


# ---------------------------------------------------------------- names

def daemon_argument_spec():
    """How to reach and log in to the rsync daemon, and the rsync that does (doc fragment sciops.datasync.rsync_daemon)."""
    return dict(
        host=dict(type="str", required=True),
        port=dict(type="int", default=DEFAULT_PORT),
        user=dict(type="str"),
        password_file=dict(type="path", no_log=False),
        password=dict(type="str", no_log=True),
        contimeout=dict(type="int", default=30),
        rsync_path=dict(type="path"),
    )


def daemon_module(argument_spec):
    """An AnsibleModule with the daemon options, their rule (one password source) and ``argument_spec``, in check mode."""
    return AnsibleModule(
        argument_spec=dict(daemon_argument_spec(), **argument_spec),
        mutually_exclusive=[("password_file", "password")],
        supports_check_mode=True,
    )


def module_name_problem(name):
    """Why ``name`` cannot be an rsync module name we ask the daemon for, or None."""
    problem = path_component_problem(name, "rsync module name")
    if problem:
        return problem
    if _WHITESPACE.search(name):
        return "rsync module name %r contains whitespace" % name
    if _WILDCARDS.search(name):
        return "rsync module name %r contains wildcard or escape characters" % name
    if not _MODULE_NAME.match(name):
        return "rsync module name %r has characters outside letters, digits and . _ , + @ = -" % name
    return None


def pool_path_problem(path):
    """Why ``path`` cannot be a sub-path inside a module, or None (empty = whole module)."""
    if path is None or path == "":
        return None
    if not isinstance(path, str):
        return "path %r is not a string" % (path,)
    if path.startswith("/"):
        return "path %r is absolute; give it relative to the module" % path
    problem = relative_path_problem(path, "path")
    if problem:
        return problem
    if _WILDCARDS.search(path):
        return "path %r contains wildcard or escape characters" % path
    if re.search(r"[\t\n\r\x0b\x0c]", path):
        return "path %r contains whitespace control characters" % path
    return None


def name_problems(params):
    """The module name and path refused (``_core.results`` entries)."""
    checks = ((params["module"], module_name_problem(params["module"])), (params.get("path"), pool_path_problem(params.get("path"))))
    return [error(value, problem) for value, problem in checks if problem]


def endpoint_problems(params):
    """Why host or user cannot be used in an rsync URL (they reach argv too): ``_core.results`` entries."""
    problems = []
    for key in ("host", "user"):
        value = params.get(key)
        if value is None or (key == "user" and value == ""):
            continue
        if value == "" or value.startswith("-") or re.search(r"[\s\x00-\x1f\x7f/@]", value):
            problems.append(error(value, "%s %r is refused: empty, starting with '-', or containing whitespace, control characters, '/' or '@'" % (
                key, value)))
    return problems


def source_label(module_name, path):
    return module_name + ("/" + path.strip("/") if path else "")


# ---------------------------------------------------------------- time, logs

def stamp(moment):
    """transferPools' time format: YYYYMMDDThhmm."""
    return moment.strftime("%Y%m%dT%H%M")


def weekday(moment):
    return WEEKDAYS[moment.weekday()]


def day_header(moment, products_dir):
    return "%s\nTransferPools log file for %s, %s\nProducts located in: %s\n%s\n" % (
        RULE, weekday(moment), stamp(moment), products_dir, RULE)


class PoolLog:
    """The per-module weekday logs. ``clock()`` returns the local time (a datetime)."""

    def __init__(self, root, module_name, products_dir, clock=None):
        self.dir = os.path.join(root, module_name, "logs")
        self.products_dir = products_dir
        self.clock = clock or datetime.datetime.now
        self.path = None

    def now(self):
        return self.clock()

    @staticmethod
    def _open(path, flags, what="transferPools weekday log"):
        """``path`` opened without following a link and checked (``_core.state.open_private``)."""
        return open_private(path, flags, 0o644, what)

    def open_day(self):
        """Start (or continue) today's log; returns its path. Raises UnsafePathError for a planted link or a foreign file."""
        moment = self.now()
        today = weekday(moment)
        ensure_trusted_folder(self.dir, "transferPools log folder")
        path = os.path.join(self.dir, today)
        day_file = os.path.join(self.dir, "logDay")
        try:
            with os.fdopen(self._open(day_file, os.O_RDONLY, "transferPools logDay"), "r") as handle:
                current = handle.read(64).strip()
        except FileNotFoundError:
            current = None
        with os.fdopen(self._open(path, os.O_WRONLY | os.O_CREAT), "w") as handle:
            info = os.fstat(handle.fileno())
            # A new weekday, a new (empty) file, or the same weekday name a week (or more) later.
            fresh = current != today or info.st_size == 0 or time.mktime(moment.timetuple()) - info.st_mtime > 6 * 86400
            if fresh:
                handle.truncate(0)  # checked on its descriptor first: nothing but our own log is ever emptied
                handle.write(day_header(moment, self.products_dir))
                os.fchmod(handle.fileno(), 0o644)
        if fresh:
            atomic_write_bytes(day_file, (today + "\n").encode("ascii"), mode=0o644, what="transferPools logDay")
        self.path = path
        return path

    def write(self, lines):
        """Append ``lines``; a line holding newlines becomes several, and no raw control character is ever written."""
        if self.path is None:
            self.open_day()
        with os.fdopen(self._open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT), "a") as handle:
            for line in lines:
                for part in line.rstrip("\n").split("\n"):
                    handle.write(escape_text(part) + "\n")

    def start_run(self):
        self.write(["***** %s: starting rsync *****" % stamp(self.now())])

    def skipped(self, holder):
        self.write(["***** %s: skipped: writeLock held by running pid %s *****" % (stamp(self.now()), holder)])

    def took_over(self, holder, reason, leftovers=()):
        lines = ["%s: stale writeLock of pid %s taken over (%s)." % (stamp(self.now()), holder, reason)]
        for name in leftovers:
            lines.append("%s: removed temp file left by the killed run: %s" % (stamp(self.now()), escape_name(name)))
        self.write(lines)

    def error(self, rc, meaning=None, detail=None):
        lines = ["%s: PACS product pool transfer rsync error %d." % (stamp(self.now()), rc)]
        if meaning:
            lines.append("rsync error %d: %s" % (rc, meaning))
        if detail:
            lines.append(detail)
        self.write(lines)

    def tail(self, count=40):
        if not self.path:
            return []
        try:
            with os.fdopen(self._open(self.path, os.O_RDONLY), "r", errors="replace") as handle:
                return handle.read().splitlines()[-count:]
        except (IOError, OSError):
            return []


# ---------------------------------------------------------------- writeLock

def _boot_time():
    try:
        with open("/proc/stat") as handle:
            for line in handle:
                if line.startswith("btime "):
                    return int(line.split()[1])
    except (IOError, OSError, ValueError):
        return None
    return None


def process_start_time(pid):
    """Epoch seconds when ``pid`` started (Linux /proc), or None when unknown."""
    try:
        with open("/proc/%d/stat" % pid) as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        ticks = int(fields[19])
        boot = _boot_time()
        if boot is None:
            return None
        return boot + ticks / float(os.sysconf("SC_CLK_TCK"))
    except (IOError, OSError, ValueError, IndexError):
        return None


def holder_state(pid, since=None):
    """(alive, reason) for a writeLock holder written at ``since`` (epoch)."""
    if pid is None or pid <= 0:
        return False, "no pid in the lock"
    if pid == os.getpid():
        return False, "the pid is this process (reused)"
    try:
        os.kill(pid, 0)
    except OSError as exc:
        if exc.errno == errno.ESRCH:
            return False, "process %d is gone" % pid
        if exc.errno != errno.EPERM:
            raise
    try:
        with open("/proc/%d/stat" % pid) as handle:
            if handle.read().rsplit(")", 1)[1].split()[0] == "Z":
                return False, "process %d is a zombie" % pid
    except (IOError, OSError, IndexError):
        pass
    started = process_start_time(pid)
    if since is not None and started is not None and started > since + 2:
        return False, "pid %d now belongs to a process started after the lock was written" % pid
    return True, "process %d is running" % pid


class WriteLock:
    """transferPools' ``writeLock``: a file holding the pid while rsync runs.

    ``acquire()`` returns ("acquired", None, None), ("took_over", old_pid, reason) or
    ("busy", holder_pid, reason). Check-and-create runs under an flock on the module
    folder, so two of our runs never both take a stale lock; the file itself is created
    with link(), so it never exists without its pid (for scripts that read it). The folder
    must be trusted and the lock is never read through a link (module docstring); a planted
    one raises UnsafePathError.
    """

    def __init__(self, path):
        self.path = path
        self.pid = os.getpid()
        self.held = False
        self.stale_since = None

    def read(self):
        """``(pid or None, mtime, exists)``; raises UnsafePathError for a link or a file not the running user's own."""
        try:
            fd = open_private(self.path, os.O_RDONLY, 0o644, "writeLock")
        except FileNotFoundError:
            return None, None, False
        with os.fdopen(fd, "r") as handle:
            text = handle.read(64).strip()
            since = os.fstat(handle.fileno()).st_mtime
        return (int(text) if text.isdigit() else None), since, True

    def _mutex(self):
        directory = os.path.dirname(self.path)
        ensure_trusted_folder(directory, "transferPools module folder")
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | _CLOEXEC)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd

    def _create(self):
        tmp = "%s.%d.tmp" % (self.path, self.pid)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | _CLOEXEC
        try:
            fd = os.open(tmp, flags, 0o644)
        except FileExistsError:
            os.unlink(tmp)  # left by a killed run of this pid, or planted: we hold the folder's flock
            fd = os.open(tmp, flags, 0o644)
        with os.fdopen(fd, "w") as handle:
            handle.write("%d\n" % self.pid)
            handle.flush()
            os.fchmod(handle.fileno(), 0o644)
            os.fsync(handle.fileno())
        try:
            os.link(tmp, self.path)
            return True
        except OSError as exc:
            if exc.errno == errno.EEXIST:
                return False
            raise
        finally:
            os.unlink(tmp)

    def acquire(self):
        fd = self._mutex()
        try:
            for attempt in range(3):
                holder, since, exists = self.read()
                stale = None
                if exists:
                    alive, reason = holder_state(holder, since)
                    if alive:
                        return "busy", holder, reason
                    stale = (holder, reason)
                    self.stale_since = since
                    try:
                        os.unlink(self.path)
                    except OSError as exc:
                        if exc.errno != errno.ENOENT:
                            raise
                if self._create():
                    self.held = True
                    if stale:
                        return "took_over", stale[0], stale[1]
                    return "acquired", None, None
                time.sleep(0.05 * (attempt + 1))
            holder, since, exists = self.read()
            return "busy", holder, "another process keeps creating the lock"
        finally:
            os.close(fd)

    def release(self):
        if not self.held:
            return
        fd = self._mutex()
        try:
            try:
                holder = self.read()[0]
            except UnsafePathError:
                holder = None  # replaced by something that is not our lock: leave it alone
            if holder == self.pid:
                os.unlink(self.path)
        finally:
            os.close(fd)
            self.held = False


# ---------------------------------------------------------------- running rsync

def remove_leftovers(dest_fd, since=None):
    """Remove the rsync temp files (``.name.XXXXXX``) a killed run left below the folder open as ``dest_fd``; returns their paths.

    With ``since`` (when the killed run wrote its writeLock) only files written after it count,
    so a local dot file that merely looks like a temp name is left alone.

    Walks with descriptors (``os.fwalk``, links never followed) and unlinks relative to
    each folder's descriptor, so a link planted in the tree cannot send the removal elsewhere.
    """
    removed = []
    for top, _dirs, files, top_fd in os.fwalk(".", dir_fd=dest_fd):
        for name in files:
            if not _RSYNC_TEMP.match(name):
                continue
            info = os.stat(name, dir_fd=top_fd, follow_symlinks=False)
            if not stat.S_ISREG(info.st_mode) or (since is not None and info.st_mtime < since - 2):
                continue
            os.unlink(name, dir_fd=top_fd)
            removed.append(os.path.normpath(os.path.join(top, name)))
    return sorted(removed)


def dest_layout(params):
    """``(dest_root, relative, problem)``: the trusted root and the path of ``dest`` below it."""
    dest = os.path.normpath(params["dest"])
    root = os.path.normpath(params.get("dest_root") or os.path.dirname(dest))
    if not os.path.isabs(root):
        return None, None, "dest_root %r must be an absolute path" % params.get("dest_root")
    relative = os.path.relpath(dest, root)
    if relative == "." or relative.startswith(".."):
        return None, None, "dest %s is not inside dest_root %s" % (params["dest"], root)
    return root, relative, None


def open_dest(params, check_mode):
    """``(fd or None, problem)``: ``dest`` opened (made when missing) below its root, no link followed; check mode makes nothing."""
    root, relative, problem = dest_layout(params)
    if problem:
        return None, problem
    if check_mode:
        return None, check_below(root, relative) if os.path.isdir(root) else trusted_folder_problem(deepest_existing_folder(root), "dest_root")
    try:
        if not os.path.isdir(root):
            # A missing root is made only below folders no one else controls, without following a link.
            ensure_trusted_folder(root, "dest_root")
        fd, _created = open_below(root, relative, create=True, mode=0o755)
    except UnsafePath as exc:
        return None, "dest %s" % exc
    except UnsafePathError as exc:
        return None, str(exc)
    except OSError as exc:
        return None, "cannot create dest %s: %s" % (params["dest"], exc)
    return fd, None


def password_setup(params):
    """(argv password file, secret env, problem) from the module parameters."""
    if params.get("password_file"):
        problem = secret_file_problem(params["password_file"], "password file")
        if problem:
            return None, {}, problem
        return params["password_file"], {}, None
    if params.get("password"):
        return None, {"RSYNC_PASSWORD": params["password"]}, None
    if params.get("user") and not os.environ.get("RSYNC_PASSWORD"):
        return None, {}, "user %s needs password_file (or password, or RSYNC_PASSWORD in the environment)" % params["user"]
    return None, {}, None


def _command_env():
    # C locale and UTC, so numbers and times in rsync's output parse.
    return dict(C_ENV)


def mirror_argv(params, rsync_binary, password_file, dry_run, dest=None, extra=()):
    """The mirror's argv; ``dest`` replaces ``params["dest"]`` (``./`` when rsync runs inside the checked folder).

    ``extra`` words go before the guards (the progress log file, ``RsyncProgress``)."""
    source = daemon_url(params["host"], params["module"], params.get("path") or "", user=params.get("user"),
                        port=params.get("port"))
    dest = dest or params["dest"].rstrip("/") + "/"
    options = RsyncOptions(
        binary=rsync_binary, symlinks=params.get("symlinks") or "preserve", safe_links=bool(params.get("safe_links", True)),
        perms=bool(params.get("perms", True)), checksum=bool(params.get("checksum")), delete=bool(params.get("delete")),
        max_delete=params.get("max_delete"), dry_run=dry_run, password_file=password_file, bwlimit=params.get("bwlimit"),
        timeout=params.get("timeout"), contimeout=params.get("contimeout"), excludes=tuple(params.get("excludes") or ()), outbuf="B",
        extra=tuple(extra))
    return build_argv(source, dest, options)


def listing_argv(params, rsync_binary, password_file):
    """The argv listing ``module[/path]`` as ``user`` (``--list-only``, all below it with ``recursive``): nothing is transferred.

    rsync_pool_info and the pre-flight (``_preflight.pools``) list with it."""
    url = daemon_url(params["host"], params["module"], params.get("path") or "", user=params.get("user"), port=params.get("port"))
    options = RsyncOptions(binary=rsync_binary, list_only=True, recursive=bool(params.get("recursive")), password_file=password_file,
                           contimeout=params.get("contimeout"), timeout=params.get("timeout"), perms=False, times=False,
                           itemize=False, stats=False)
    argv = build_argv(url, None, options)
    argv.insert(1, "--no-human-readable")
    return argv


def summarize(stdout, limit):
    """(changes, result fields) from an rsync run's stdout."""
    changes = parse_itemized(stdout)
    stats = parse_stats(stdout)
    arrived = [escape_name(c.path) for c in changes if c.transferred]
    touched = [escape_name(c.path) for c in changes if not c.deleted and not c.transferred]
    deleted = [escape_name(c.path) for c in changes if c.deleted]
    fields = {
        "transferred": arrived[:limit],
        "transferred_count": len(arrived),
        "attributes_updated": touched[:limit],
        "deleted": deleted[:limit],
        "deleted_count": len(deleted),
        "files_transferred": stats.regular_files_transferred if stats.regular_files_transferred is not None
        else len([c for c in changes if c.kind == "file" and c.update in "<>"]),
        "files_deleted": len(deleted),
        "bytes_transferred": stats.total_transferred_file_size or 0,
        "bytes_received": stats.bytes_received or 0,
        "stats": stats.as_dict(),
        "lists_truncated": len(arrived) > limit or len(deleted) > limit,
    }
    return changes, fields


def failure_mail(params, result, log_tail, stderr):
    settings = mail_settings(params.get("mail"))
    if not settings:
        return None, None
    settings.setdefault("subject_prefix", "[datasync]")
    label = source_label(params["module"], params.get("path"))
    host = socket.gethostname()
    subject = "pool %s on %s: rsync error %s (%s)" % (label, host, result["rsync_rc"], result["rsync_rc_meaning"])
    lines = [
        "The pool mirror of %s failed." % label,
        "",
        "host:       %s" % host,
        "source:     %s" % result["source"],
        "dest:       %s" % result["dest"],
        "exit code:  %s" % result["rsync_rc"],
        "meaning:    %s" % result["rsync_rc_meaning"],
    ]
    if result.get("rsync_error"):
        lines.append("rsync says: %s" % result["rsync_error"])
    if log_tail:
        lines += ["", "Tail of %s:" % result.get("log_file", "the log"), ""] + ["  " + line for line in log_tail]
    elif stderr:
        lines += ["", "rsync's error output:", ""] + ["  " + line for line in stderr.splitlines()[-20:]]
    # Nothing from upstream reaches the mail raw: the log is escaped already, rsync's output may not be.
    lines = [escape_text(line) for line in lines]
    try:
        send_mail(subject=escape_text(subject), text="\n".join(lines) + "\n", **settings)
    except MailError as exc:
        return False, str(exc)
    return True, None


def run_mirror(module):
    """rsync_pool_mirror: refuse bad names, take the writeLock, run rsync, log, mail on failure."""
    params = module.params
    result = {"changed": False, "errors": [], "dry_run": bool(module.check_mode)}
    problems = name_problems(params)
    problems += endpoint_problems(params)
    if params.get("bookkeeping_root") is not None and not os.path.isabs(params["bookkeeping_root"]):
        problems.append(error(params["bookkeeping_root"], "bookkeeping_root must be an absolute path"))
    if not os.path.isabs(params["dest"]):
        problems.append(error(params["dest"], "dest %r must be an absolute path" % params["dest"]))
    elif dest_layout(params)[2]:
        problems.append(error(params.get("dest_root"), dest_layout(params)[2]))
    if problems:
        result["errors"] = problems
        module.fail_json(msg="refused: %s" % reasons_text(problems), **result)
    password_file, secret_env, problem = password_setup(params)
    if problem:
        result["errors"] = [error(params.get("password_file") or params.get("user"), problem)]
        module.fail_json(msg=problem, **result)

    runner = CommandRunner(module)
    rsync_binary = params.get("rsync_path") or runner.binary("rsync")
    argv = mirror_argv(params, rsync_binary, password_file, module.check_mode)
    label = source_label(params["module"], params.get("path"))
    result.update(source="%s:%s/%s" % (params["host"], params.get("port") or "", label), dest=params["dest"],
                  module=params["module"], path=params.get("path") or "", rsync_argv=argv)

    log = lock = job_log = reader = None
    dest_fd = None
    if module.check_mode:
        dest_fd, problem = open_dest(params, True)
        if problem:
            result["errors"] = [error(params["dest"], problem)]
            module.fail_json(msg="pool %s refused: %s" % (label, problem), **result)
    if params.get("bookkeeping_root") and not module.check_mode:
        log = PoolLog(params["bookkeeping_root"], params["module"], params["dest"])
        lock = WriteLock(os.path.join(params["bookkeeping_root"], params["module"], "writeLock"))
        try:
            log.open_day()
            started = time.monotonic()
            state, holder, reason = lock.acquire()
            result.update(waited_result(time.monotonic() - started))
        except (IOError, OSError) as exc:
            module.fail_json(msg="cannot use the transferPools folder %s for module %s: %s" % (
                params["bookkeeping_root"], params["module"], exc), **result)
        result["log_file"] = log.path
        if state == "busy":
            log.skipped(holder)
            result.update(busy_result(lock.path, holder,
                                      "another transfer of %s is running (writeLock %s held by pid %s); skipped" % (label, lock.path, holder)))
            module.exit_json(**result)
    try:
        if not module.check_mode:
            dest_fd, problem = open_dest(params, False)
            if problem:
                if log:
                    log.write(["%s: refused: %s" % (stamp(log.now()), problem)])
                result["errors"] = [error(params["dest"], problem)]
                module.fail_json(msg="pool %s refused: %s" % (label, problem), **result)
            progress, job_log = module_progress(params, "pool %s" % label, "files")
            if progress.problem:
                module.warn(progress.problem)
            reader = RsyncProgress(progress) if job_log else None
            # rsync runs inside the folder just checked (its descriptor, not its name).
            argv = mirror_argv(params, rsync_binary, password_file, module.check_mode, dest="./",
                               extra=reader.argv_words() if reader else ())
            result["rsync_argv"] = argv
        if lock and state == "took_over":
            leftovers = [escape_name(name) for name in remove_leftovers(dest_fd, lock.stale_since)]
            log.took_over(holder, reason, leftovers)
            result.update(lock_taken_over_from=holder, lock_takeover_reason=reason, removed_leftovers=leftovers)
        if log:
            log.start_run()
        env = _command_env()
        run = runner.run_bulk(argv, env=env, secret_env=secret_env, cwd=fd_path(dest_fd) if dest_fd is not None else None,
                              on_poll=reader.poll if reader else None, poll_interval=min(max(progress.interval, 0.2), 5.0) if reader else 1.0)
        changes, fields = summarize(run.stdout, params.get("max_listed") or 1000)
        result.update(fields)
        if reader:
            progress.finish("finished" if run.rc == 0 else "rsync exit code %d" % run.rc,
                            done=fields["files_transferred"], total=fields["stats"]["files"], nbytes=fields["bytes_transferred"])
        result["rsync_rc"] = run.rc
        result["rsync_rc_meaning"] = exit_meaning(run.rc)
        refusal = daemon_error(run.stderr)
        if refusal:
            result["rsync_error"] = escape_text(refusal)
        result["changed"] = bool(changes)
        if module._diff:
            result["diff"] = {"prepared": "\n".join("%s %s" % (c.code, escape_name(c.path)) for c in changes) + ("\n" if changes else "")}
        if log:
            lines = [c.log_line() for c in changes] if params.get("log_files", True) else []
            lines += summary_lines(run.stdout)
            log.write(lines)
            if run.rc != 0:
                detail = "\n".join(escape_text(line) for line in run.stderr.splitlines() if line.strip())[-4000:]
                log.error(run.rc, exit_meaning(run.rc), detail or None)
    finally:
        if reader:
            reader.close()
        if job_log:
            job_log.close()
        if dest_fd is not None:
            os.close(dest_fd)
        if lock:
            lock.release()

    if run.rc in WARNING_CODES:
        module.warn("rsync exit code %d: %s" % (run.rc, exit_meaning(run.rc)))
    elif run.rc != 0:
        if not module.check_mode:
            sent, mail_error = failure_mail(params, result, log.tail() if log else None, run.stderr)
            if sent is not None:
                result["mail_sent"] = sent
            if mail_error:
                result["mail_error"] = mail_error
        message = "rsync of module %s from %s:%s failed with exit code %d (%s)" % (
            label, params["host"], params.get("port"), run.rc, exit_meaning(run.rc))
        if result.get("rsync_error"):
            message += ": %s" % result["rsync_error"]
        module.fail_json(msg=message, **result)
    module.exit_json(**result)


def run_info(module):
    """rsync_pool_info: the daemon's modules, or the entries under module[/path]."""
    params = module.params
    result = {"changed": False, "errors": []}
    problems = []
    if params.get("module"):
        problems = name_problems(params)
    elif params.get("path"):
        problems = [error(params["path"], "path needs module")]
    problems += endpoint_problems(params)
    if problems:
        result["errors"] = problems
        module.fail_json(msg="refused: %s" % reasons_text(problems), **result)
    runner = CommandRunner(module)
    rsync_binary = params.get("rsync_path") or runner.binary("rsync")
    env = _command_env()
    if not params.get("module"):
        url = daemon_url(params["host"], "", port=params.get("port"))
        argv = [rsync_binary]
        if params.get("contimeout"):
            argv.append("--contimeout=%d" % params["contimeout"])
        argv += ["--", url]
        run = runner.run(argv, env=env)
        if run.rc != 0:
            module.fail_json(msg="listing the modules of %s:%s failed with exit code %d (%s): %s" % (
                params["host"], params.get("port"), run.rc, exit_meaning(run.rc), daemon_error(run.stderr) or run.stderr.strip()),
                rsync_rc=run.rc, rsync_rc_meaning=exit_meaning(run.rc), **result)
        result["modules"] = parse_module_list(run.stdout)
        module.exit_json(**result)
    password_file, secret_env, problem = password_setup(params)
    if problem:
        result["errors"] = [error(params.get("password_file") or params.get("user"), problem)]
        module.fail_json(msg=problem, **result)
    run = runner.run(listing_argv(params, rsync_binary, password_file), env=env, secret_env=secret_env)
    if run.rc != 0:
        module.fail_json(msg="listing %s on %s:%s failed with exit code %d (%s): %s" % (
            source_label(params["module"], params.get("path")), params["host"], params.get("port"), run.rc,
            exit_meaning(run.rc), daemon_error(run.stderr) or run.stderr.strip()),
            rsync_rc=run.rc, rsync_rc_meaning=exit_meaning(run.rc), **result)
    entries = [e for e in parse_listing(run.stdout) if e["name"] != "."]
    limit = params.get("max_entries") or 0
    result["files_count"] = len(entries)
    result["total_size"] = sum(e["size"] for e in entries if e["type"] == "file")
    if limit and len(entries) > limit:
        entries = entries[:limit]
        result["truncated"] = True
    result["files"] = entries
    result["module"] = params["module"]
    result["path"] = params.get("path") or ""
    module.exit_json(**result)
