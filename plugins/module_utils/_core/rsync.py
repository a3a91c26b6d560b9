# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""rsync: argv building, output parsing, exit codes. Private to sciops.datasync: not a public API.

Pure functions only (no process is started here); run the argv with
``_runner.CommandRunner`` and feed its stdout/stderr back to the parsers.

- ``daemon_url(host, module, path, user, port)`` -> ``rsync://user@host:port/module/path/``
  (daemon mode) and ``remote_shell_source(host, path, user)`` -> ``user@host:path/``
  with ``rsh_command(["ssh", "-i", key, ...])`` for ``--rsh`` (remote shell mode).
- ``build_argv(source, dest, RsyncOptions(...))`` -> the argv list (``RsyncOptions`` documents
  every option). The password never appears: give ``password_file`` (a path) or put
  it in ``RSYNC_PASSWORD`` through ``CommandRunner.run(secret_env=...)``.
- ``parse_itemized(stdout)`` -> list of ``ItemizedChange`` (``--itemize-changes``).
- ``parse_stats(stdout)`` -> ``RsyncStats`` (``--stats``), ``parse_listing(stdout)``
  (``--list-only``), ``parse_module_list(stdout)`` (daemon module listing).
- ``exit_meaning(rc)`` and ``daemon_error(stderr)``.
- ``escape_name(name)`` / ``escape_text(text)``: upstream names and text made safe for
  logs, mails and job output, the way rsync escapes them (``\\#ooo``).

Every transfer argv ends with the guards against untrusted data (after any ``extra``
words, so an ``-a`` or ``-D`` there cannot undo them): ``--safe-links`` (unless
``safe_links=False``), ``--no-devices --no-specials`` (no device file or FIFO is ever
created from upstream data) and ``--chmod=Fug-s`` (no setuid or setgid file arrives).

Commands should run with ``C_ENV`` (C locale, UTC) so numbers and times parse.
"""

from __future__ import annotations

import calendar
import re
import time
from dataclasses import dataclass
from typing import Optional, Tuple

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


# ---------------------------------------------------------------- escaping

# Characters that move a terminal's cursor, change colours, reorder text or start a new
# line in some viewers: C0 controls (but tab, as rsync), DEL, C1 controls (U+0080-U+009F,
# CSI among them), bidirectional overrides and isolates, and the Unicode line separators.
_UNSAFE_CHARS = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\udc80-\udcff]")
_UNSAFE_OR_ESCAPE = re.compile(_UNSAFE_CHARS.pattern[:-1] + "]|\\\\(?=#[0-9]{3})")


def _octal(match):
    raw = match.group(0).encode("utf-8", "surrogateescape")
    return "".join("\\#%03o" % byte for byte in raw)


def escape_name(name):
    """A file name as rsync prints it: unsafe characters (``_UNSAFE_CHARS``) as ``\\#ooo`` per byte.

    A backslash followed by ``#`` and three digits becomes ``\\#134``, as rsync does, so
    ``unescape_name(escape_name(name)) == name`` for every name; everything else (tab,
    spaces, quotes, printable Unicode) stays as it is.
    """
    if not isinstance(name, str):
        name = str(name)
    return _UNSAFE_OR_ESCAPE.sub(_octal, name)


def escape_text(text):
    """Free text (rsync's stderr, a daemon message) with its unsafe characters as ``\\#ooo``.

    Unlike ``escape_name`` a backslash is left alone: text rsync already escaped stays as
    it is. A newline is escaped too, so split multi-line text into lines first.
    """
    if not isinstance(text, str):
        text = str(text)
    return _UNSAFE_CHARS.sub(_octal, text)


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


SYMLINK_MODES = ("preserve", "copy", "skip")


@dataclass(frozen=True)
class RsyncOptions:
    """How one rsync runs: every option ``build_argv`` knows, with rsync's usual defaults.

    ``symlinks`` is ``preserve`` (``--links``), ``copy`` (``--copy-links``) or ``skip``;
    ``safe_links`` (default) adds ``--safe-links``: links leaving the tree never arrive. ``max_delete`` only counts with ``delete``;
    ``itemize`` and ``stats`` are left out of a ``list_only`` listing. ``outbuf="B"``
    makes rsync block-buffer its output (``--outbuf=B``): far fewer pipe writes when a
    big itemized list is captured by the caller. ``extra`` words go last, before ``--``.
    """

    binary: str = "rsync"
    recursive: bool = True
    symlinks: str = "preserve"
    safe_links: bool = True
    perms: bool = True
    times: bool = True
    checksum: bool = False
    delete: bool = False
    max_delete: Optional[int] = None
    dry_run: bool = False
    itemize: bool = True
    stats: bool = True
    list_only: bool = False
    password_file: Optional[str] = None
    rsh: Optional[str] = None
    bwlimit: Optional[str] = None
    timeout: Optional[int] = None
    contimeout: Optional[int] = None
    excludes: Tuple[str, ...] = ()
    outbuf: Optional[str] = None
    extra: Tuple[str, ...] = ()

    def __post_init__(self):
        if self.symlinks not in SYMLINK_MODES:
            raise ValueError("symlinks must be one of %s" % ", ".join(SYMLINK_MODES))


def _option_words(options):
    """The switches (``--name`` words without a value) ``options`` turns on, in rsync's usual order."""
    words = ["--list-only"] if options.list_only else []
    if options.recursive:
        words.append("--recursive")
    if options.symlinks == "preserve":
        words.append("--links")
    elif options.symlinks == "copy":
        words.append("--copy-links")
    for flag, word in ((options.perms, "--perms"), (options.times, "--times"), (options.checksum, "--checksum")):
        if flag:
            words.append(word)
    if options.delete:
        words.append("--delete")
        if options.max_delete is not None:
            words.append("--max-delete=%d" % int(options.max_delete))
    if options.dry_run:
        words.append("--dry-run")
    if options.itemize and not options.list_only:
        words.append("--itemize-changes")
    if options.stats and not options.list_only:
        words.append("--stats")
    words.append("--8-bit-output")
    return words


def _value_words(options):
    """The ``--name=value`` words of the options that are set."""
    words = []
    for name, value in (("outbuf", options.outbuf), ("password-file", options.password_file), ("rsh", options.rsh),
                        ("bwlimit", options.bwlimit)):
        if value:
            words.append("--%s=%s" % (name, value))
    for name, value in (("timeout", options.timeout), ("contimeout", options.contimeout)):
        if value:
            words.append("--%s=%d" % (name, int(value)))
    words += ["--exclude=%s" % pattern for pattern in options.excludes or ()]
    return words


# Options that would undo the guards (``guard_words``) and cannot be turned off after them:
# -K follows links at the destination, --write-devices writes into device files there.
_REFUSED_LONG = ("--keep-dirlinks", "--write-devices")
_REFUSED_SHORT = "K"


def guard_words(options):
    """The words that end every transfer argv: links that leave the tree, devices, specials, set-id bits."""
    if options.list_only:
        return []
    words = ["--safe-links"] if options.safe_links else []
    return words + ["--no-devices", "--no-specials", "--chmod=Fug-s"]


def extra_option_problem(words):
    """Why extra rsync words cannot be used (they would follow destination links or write into devices), or None."""
    for word in words or ():
        if not isinstance(word, str):
            return "rsync option %r is not a string" % (word,)
        name = word.split("=", 1)[0]
        if name in _REFUSED_LONG or (word.startswith("-") and not word.startswith("--") and _REFUSED_SHORT in word[1:]):
            return "rsync option %r is refused: it would follow links or write into devices at the destination" % word
    return None


def build_argv(source, dest, options=None):
    """The rsync argv for one transfer (or a ``list_only`` listing) with ``RsyncOptions``; ``dest`` may be None for a listing.

    Every option is a separate argv word ``--name=value``, so values never split;
    ``source`` and ``dest`` come after ``--`` so they are never read as options.
    """
    options = options or RsyncOptions()
    problem = extra_option_problem(options.extra)
    if problem:
        raise ValueError(problem)
    argv = [options.binary] + _option_words(options) + _value_words(options) + list(options.extra or ()) + guard_words(options)
    argv += ["--", source]
    if dest is not None:
        argv.append(dest)
    return argv


# ---------------------------------------------------------------- parsing

def unescape_name(text):
    """Undo rsync's ``\\#ooo`` escapes of unprintable bytes; bytes that are not UTF-8 stay surrogate-escaped."""
    if "\\#" not in text:
        return text
    raw = text.encode("utf-8", "surrogateescape")
    raw = re.sub(br"\\#([0-3][0-7]{2})", lambda m: bytes([int(m.group(1), 8)]), raw)
    return raw.decode("utf-8", "surrogateescape")


class ItemizedChange:
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
        """How ``rsync -v`` would have shown it (the transferPools log lists names), escaped (``escape_name``)."""
        if self.deleted:
            return "deleting %s" % escape_name(self.path)
        if self.target is not None:
            return "%s -> %s" % (escape_name(self.path), escape_name(self.target))
        return escape_name(self.path)

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


class RsyncStats:
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

    def as_dict(self):
        data = {name: getattr(self, name) for name in self.NAMES}
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
