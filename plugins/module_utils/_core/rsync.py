# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""rsync: argv building, output parsing, exit codes. Private to sciops.datasync: not a public API.

Pure functions only (no process is started here); run the argv with
``_runner.CommandRunner`` and feed its stdout/stderr back to the parsers.

- ``daemon_url(host, module, path, user, port)`` -> ``rsync://user@host:port/module/path/``
  (daemon mode) and ``remote_shell_source(host, path, user)`` -> ``user@host:path/``
  with ``rsh_command(["ssh", "-i", key, ...])`` for ``--rsh`` (remote shell mode).
- ``build_argv(source, dest, **options)`` -> the argv list (``RsyncOptions`` documents
  every option). The password never appears: give ``password_file`` (a path) or put
  it in ``RSYNC_PASSWORD`` through ``CommandRunner.run(secret_env=...)``.
- ``parse_itemized(stdout)`` -> list of ``ItemizedChange`` (``--itemize-changes``).
- ``parse_stats(stdout)`` -> ``RsyncStats`` (``--stats``), ``parse_listing(stdout)``
  (``--list-only``), ``parse_module_list(stdout)`` (daemon module listing).
- ``exit_meaning(rc)`` and ``daemon_error(stderr)``.

Commands should run with ``C_ENV`` (C locale, UTC) so numbers and times parse.
"""

from __future__ import annotations

import calendar
import re
import time

DEFAULT_DAEMON_PORT = 873
C_ENV = {"LC_ALL": "C", "LANG": "C", "TZ": "UTC"}

EXIT_CODES = {
    0: "success",
    1: "syntax or usage error",
    2: "protocol incompatibility",
    3: "errors selecting input/output files or directories",
    4: "requested action not supported",
    5: "error starting client-server protocol (daemon: authentication failed, unknown module or access denied)",
    6: "daemon unable to append to its log file",
    10: "error in socket I/O (cannot reach the daemon or connection lost)",
    11: "error in file I/O",
    12: "error in rsync protocol data stream",
    13: "errors with program diagnostics",
    14: "error in IPC code",
    20: "received SIGUSR1 or SIGINT (interrupted)",
    21: "some error returned by waitpid()",
    22: "error allocating core memory buffers",
    23: "partial transfer due to error",
    24: "partial transfer due to vanished source files",
    25: "the --max-delete limit stopped deletions",
    30: "timeout in data send/receive",
    35: "timeout waiting for daemon connection",
    127: "rsync (or the remote shell) not found",
    255: "the remote shell failed (e.g. ssh could not connect or authenticate)",
}

# Exit codes that mean "it worked, with something to note".
WARNING_CODES = (24,)


def exit_meaning(rc):
    """What rsync's exit code ``rc`` means, in words."""
    if rc is None:
        return "not run"
    if rc < 0:
        return "killed by signal %d" % -rc
    return EXIT_CODES.get(rc, "unknown rsync exit code %d" % rc)


def daemon_error(stderr):
    """The daemon's own message (``@ERROR: ...``) or rsync's first error line, or None."""
    first = None
    for line in (stderr or "").splitlines():
        line = line.strip()
        if line.startswith("@ERROR:"):
            return line[len("@ERROR:"):].strip()
        if first is None and (line.startswith("rsync:") or line.startswith("rsync error:") or line.startswith("ERROR:")):
            first = line
    return first


# ---------------------------------------------------------------- sources, argv

def _check_word(value, what):
    if not isinstance(value, str) or value == "":
        raise ValueError("%s must be a non-empty string" % what)
    if re.search(r"[\x00-\x20\x7f]", value) or value.startswith("-"):
        raise ValueError("%s %r must not start with '-' or contain whitespace or control characters" % (what, value))


def daemon_url(host, module, path="", user=None, port=None, trailing_slash=True):
    """``rsync://[user@]host[:port]/module[/path][/]``; ``module=""`` lists the modules."""
    _check_word(host, "host")
    if user:
        _check_word(user, "user")
    if ":" in host and not host.startswith("["):
        host = "[%s]" % host
    url = "rsync://%s%s%s/" % (user + "@" if user else "", host, ":%d" % int(port) if port else "")
    if module:
        url += module
        path = (path or "").strip("/")
        if path:
            url += "/" + path
        if trailing_slash:
            url += "/"
    return url


def remote_shell_source(host, path, user=None, trailing_slash=True):
    """``[user@]host:path[/]`` for remote shell (ssh) mode."""
    _check_word(host, "host")
    if user:
        _check_word(user, "user")
    path = path or "."
    if trailing_slash and not path.endswith("/"):
        path += "/"
    return "%s%s:%s" % (user + "@" if user else "", host, path)


def _quote_rsh_word(word):
    if word and re.match(r"^[A-Za-z0-9_./=:@%+,-]+$", word):
        return word
    return "'" + word.replace("'", "'\"'\"'") + "'"


def rsh_command(argv):
    """An ``--rsh`` value from an argv list (rsync splits it on spaces and honours quotes)."""
    return " ".join(_quote_rsh_word(w) for w in argv)


def ssh_rsh(key_file=None, port=None, known_hosts=None, strict_host_key_checking=True, extra=None, ssh="ssh"):
    """The usual ssh argv for remote shell mode: batch mode, host keys checked by default."""
    argv = [ssh, "-o", "BatchMode=yes"]
    if key_file:
        argv += ["-i", key_file, "-o", "IdentitiesOnly=yes"]
    if port:
        argv += ["-p", str(int(port))]
    if known_hosts:
        argv += ["-o", "UserKnownHostsFile=%s" % known_hosts]
    argv += ["-o", "StrictHostKeyChecking=%s" % ("yes" if strict_host_key_checking else "no")]
    argv += list(extra or [])
    return rsh_command(argv)


SYMLINK_MODES = ("preserve", "copy", "skip")


def build_argv(source, dest, binary="rsync", recursive=True, symlinks="preserve", safe_links=False,
               perms=True, times=True, owner=False, group=False, checksum=False, delete=False,
               max_delete=None, dry_run=False, itemize=True, stats=True, password_file=None,
               port=None, rsh=None, bwlimit=None, timeout=None, contimeout=None, excludes=None,
               includes=None, partial_dir=None, temp_dir=None, protect_args=False, list_only=False,
               eight_bit=True, outbuf=None, extra=None):
    """The rsync argv for one transfer (or ``list_only`` listing); ``dest`` may be None for a listing.

    Every option is a separate argv word ``--name=value``, so values never split;
    ``source`` and ``dest`` come after ``--`` so they are never read as options.
    ``port`` is only for daemon URLs without a port (``--port``). ``outbuf="B"`` makes
    rsync block-buffer its output (``--outbuf=B``): far fewer pipe writes when a big
    itemized list is captured by the caller.
    """
    if symlinks not in SYMLINK_MODES:
        raise ValueError("symlinks must be one of %s" % ", ".join(SYMLINK_MODES))
    argv = [binary]
    if list_only:
        argv.append("--list-only")
    if recursive:
        argv.append("--recursive")
    if symlinks == "preserve":
        argv.append("--links")
        if safe_links:
            argv.append("--safe-links")
    elif symlinks == "copy":
        argv.append("--copy-links")
    if perms:
        argv.append("--perms")
    if times:
        argv.append("--times")
    if owner:
        argv.append("--owner")
    if group:
        argv.append("--group")
    if checksum:
        argv.append("--checksum")
    if delete:
        argv.append("--delete")
        if max_delete is not None:
            argv.append("--max-delete=%d" % int(max_delete))
    if dry_run:
        argv.append("--dry-run")
    if itemize and not list_only:
        argv.append("--itemize-changes")
    if stats and not list_only:
        argv.append("--stats")
    if eight_bit:
        argv.append("--8-bit-output")
    if outbuf:
        argv.append("--outbuf=%s" % outbuf)
    if protect_args:
        argv.append("--protect-args")
    if password_file:
        argv.append("--password-file=%s" % password_file)
    if port:
        argv.append("--port=%d" % int(port))
    if rsh:
        argv.append("--rsh=%s" % rsh)
    if bwlimit:
        argv.append("--bwlimit=%s" % bwlimit)
    if timeout:
        argv.append("--timeout=%d" % int(timeout))
    if contimeout:
        argv.append("--contimeout=%d" % int(contimeout))
    if partial_dir:
        argv.append("--partial-dir=%s" % partial_dir)
    if temp_dir:
        argv.append("--temp-dir=%s" % temp_dir)
    for pattern in includes or []:
        argv.append("--include=%s" % pattern)
    for pattern in excludes or []:
        argv.append("--exclude=%s" % pattern)
    argv += list(extra or [])
    argv.append("--")
    argv.append(source)
    if dest is not None:
        argv.append(dest)
    return argv


# ---------------------------------------------------------------- parsing

_ESCAPE = re.compile(r"\\#([0-7]{3})")


def unescape_name(text):
    """Undo rsync's ``\\#ooo`` escapes of unprintable bytes; bytes that are not UTF-8 stay surrogate-escaped."""
    if "\\#" not in text:
        return text
    raw = text.encode("utf-8", "surrogateescape")
    raw = re.sub(br"\\#([0-7]{3})", lambda m: bytes([int(m.group(1), 8)]), raw)
    return raw.decode("utf-8", "surrogateescape")


class ItemizedChange(object):
    """One ``--itemize-changes`` line: ``YXcstpoguax name[ -> target]`` or ``*deleting name``."""

    __slots__ = ("code", "update", "kind", "path", "target", "deleted")

    KINDS = {"f": "file", "d": "directory", "L": "symlink", "D": "device", "S": "special"}

    def __init__(self, code, path, target=None):
        self.code = code
        self.deleted = code.startswith("*deleting")
        self.update = code[0]
        self.kind = "deleted" if self.deleted else self.KINDS.get(code[1:2], "other")
        self.path = path
        self.target = target

    @property
    def transferred(self):
        """Content arrived (a file sent, or created: new dirs/symlinks count as arrived)."""
        if self.deleted:
            return False
        if self.update in "<>":
            return True
        return self.update == "c"

    @property
    def created(self):
        return not self.deleted and "+++++++" in self.code

    def as_dict(self):
        data = {"code": self.code, "path": self.path, "kind": self.kind, "deleted": self.deleted}
        if self.target is not None:
            data["target"] = self.target
        return data

    def log_line(self):
        """How ``rsync -v`` would have shown it (the transferPools log lists names)."""
        if self.deleted:
            return "deleting %s" % self.path
        if self.target is not None:
            return "%s -> %s" % (self.path, self.target)
        return self.path

    def __repr__(self):
        return "ItemizedChange(%r, %r)" % (self.code, self.path)


_ITEMIZED = re.compile(r"^(?:(\*deleting)\s+(.*)|([<>ch.][fdLDS].{9}) (.*))$", re.M)


def parse_itemized(stdout):
    """The itemized changes in rsync's stdout (other lines are ignored)."""
    changes = []
    for match in _ITEMIZED.finditer(stdout or ""):
        if match.group(1):
            changes.append(ItemizedChange("*deleting", unescape_name(match.group(2))))
            continue
        code = match.group(3)
        name = match.group(4)
        target = None
        if code[1] == "L" and " -> " in name:
            name, target = name.split(" -> ", 1)
            target = unescape_name(target)
        elif code[0] == "h" and " => " in name:
            name, target = name.split(" => ", 1)
            target = unescape_name(target)
        changes.append(ItemizedChange(code, unescape_name(name), target))
    return changes


class RsyncStats(object):
    """``--stats`` numbers. Attributes are None when rsync did not print them."""

    FIELDS = {
        "Number of files": "files",
        "Number of created files": "created_files",
        "Number of deleted files": "deleted_files",
        "Number of regular files transferred": "regular_files_transferred",
        "Total file size": "total_file_size",
        "Total transferred file size": "total_transferred_file_size",
        "Literal data": "literal_data",
        "Matched data": "matched_data",
        "File list size": "file_list_size",
        "File list generation time": "file_list_generation_time",
        "File list transfer time": "file_list_transfer_time",
        "Total bytes sent": "bytes_sent",
        "Total bytes received": "bytes_received",
    }
    NAMES = tuple(FIELDS.values()) + ("speedup",)

    def __init__(self, **values):
        for name in self.NAMES:
            setattr(self, name, values.get(name))
        self.breakdown = values.get("breakdown") or {}

    @property
    def parsed(self):
        return any(getattr(self, name) is not None for name in self.NAMES)

    def as_dict(self):
        data = dict((name, getattr(self, name)) for name in self.NAMES)
        data["breakdown"] = dict(self.breakdown)
        return data

    def __repr__(self):
        return "RsyncStats(%r)" % self.as_dict()


def _number(text):
    text = text.strip().replace(",", "")
    match = re.match(r"^(\d+)(\.\d+)?", text)
    if not match:
        return None
    if match.group(2):
        return float(match.group(1) + match.group(2))
    return int(match.group(1))


def _stats_tail(stdout):
    """The end of the output holding --stats and the summary (the itemized list can be huge)."""
    stdout = stdout or ""
    start = stdout.rfind("Number of files: ")
    if start < 0:
        start = max(stdout.rfind("\nsent ") - 1, 0) if "\nsent " in stdout else max(len(stdout) - 4096, 0)
    return stdout[max(stdout.rfind("\n", 0, start), 0):]


def parse_stats(stdout):
    """``RsyncStats`` from the ``--stats`` block (and the ``sent .. received ..`` summary)."""
    values = {"breakdown": {}}
    for line in _stats_tail(stdout).splitlines():
        key, sep, rest = line.partition(": ")
        if sep and key in RsyncStats.FIELDS:
            name = RsyncStats.FIELDS[key]
            values[name] = _number(rest)
            detail = re.search(r"\((.*)\)", rest)
            if detail:
                parts = {}
                for item in detail.group(1).split(","):
                    kind, colon, count = item.strip().partition(": ")
                    if colon:
                        parts[kind] = _number(count)
                values["breakdown"][name] = parts
            continue
        match = re.match(r"^sent ([\d,.]+) bytes\s+received ([\d,.]+) bytes", line)
        if match:
            values.setdefault("bytes_sent", _number(match.group(1)))
            values.setdefault("bytes_received", _number(match.group(2)))
            continue
        match = re.match(r"^total size is ([\d,.]+)\s+speedup is ([\d,.]+)", line)
        if match:
            values.setdefault("total_file_size", _number(match.group(1)))
            values["speedup"] = _number(match.group(2))
    return RsyncStats(**values)


def summary_lines(stdout):
    """rsync's two closing lines (``sent ... bytes ...`` and ``total size is ...``)."""
    return [line for line in _stats_tail(stdout).splitlines() if line.startswith("sent ") or line.startswith("total size is ")]


_LISTING = re.compile(r"^([-dlcbps][-rwxsStT]{9}[.+@]?)\s+([\d,.]+)\s+(\d{4}/\d\d/\d\d) (\d\d:\d\d:\d\d) (.*)$")


def parse_listing(stdout, utc=True):
    """Entries of ``--list-only``: dicts with name, type, mode, size, mtime (epoch) and target.

    Run the listing with ``TZ=UTC`` (``C_ENV``) so the times are UTC.
    """
    kinds = {"-": "file", "d": "directory", "l": "symlink", "c": "device", "b": "device", "p": "fifo", "s": "socket"}
    entries = []
    for line in (stdout or "").splitlines():
        match = _LISTING.match(line)
        if not match:
            continue
        perms, size, day, clock, name = match.groups()
        target = None
        if perms[0] == "l" and " -> " in name:
            name, target = name.split(" -> ", 1)
            target = unescape_name(target)
        stamp = time.strptime(day + " " + clock, "%Y/%m/%d %H:%M:%S")
        mtime = calendar.timegm(stamp) if utc else int(time.mktime(stamp))
        entry = {"name": unescape_name(name), "type": kinds.get(perms[0], "other"), "mode": perms[:10],
                 "size": _number(size), "mtime": mtime,
                 "modified": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(mtime))}
        if target is not None:
            entry["target"] = target
        entries.append(entry)
    return entries


def parse_module_list(stdout):
    """The daemon's module list (``rsync rsync://host/``): dicts with name and description."""
    modules = []
    for line in (stdout or "").splitlines():
        if not line.strip() or line.startswith("@") or line.startswith(" "):
            continue
        name, sep, comment = line.partition("\t")
        name = name.strip()
        if not name or " " in name and not sep:
            continue
        modules.append({"name": name, "description": comment.strip()})
    return modules
