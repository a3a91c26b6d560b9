# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Progress of a running pool mirror. Private to sciops.datasync: not a public API.

rsync writes a line per item to a ``--log-file`` as each one is done, in a format of our own
(``--log-file-format=%i %l``: the itemized code and the size, no name), in a private folder
made for the run (``mkdtemp``, 0700); ``poll()`` reads what was added since and feeds the
shared ``_core.progress`` reporter files and bytes arrived so far. rsync's stdout, which the
result is built from, is left as it was.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile

_LINE = re.compile(r"\] ([<>ch.][fdLDS]\S{9}|\*deleting) +(\d[\d,]*)$")
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class RsyncProgress:
    """Counts the files rsync received (and their bytes) from its log file, for ``progress``."""

    FORMAT = "%i %l"

    def __init__(self, progress):
        self.progress = progress
        self.folder = tempfile.mkdtemp(prefix="datasync-pool-progress-")
        self.path = os.path.join(self.folder, "rsync.log")
        self.offset = 0
        self.pending = b""
        self.files = 0
        self.bytes = 0

    def argv_words(self):
        """The rsync words that write the log file ``poll`` reads."""
        return ("--log-file=%s" % self.path, "--log-file-format=%s" % self.FORMAT)

    def count(self, line):
        match = _LINE.search(line)
        if match and match.group(1)[0] in "<>" and match.group(1)[1] == "f":
            self.files += 1
            self.bytes += int(match.group(2).replace(",", ""))

    def poll(self):
        """Read the lines rsync added since the last call and update the reporter."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | _CLOEXEC)
        except OSError:
            return  # not written yet
        try:
            chunk = os.pread(fd, 1 << 20, self.offset)
            while chunk:
                self.offset += len(chunk)
                lines = (self.pending + chunk).split(b"\n")
                self.pending = lines.pop()
                for line in lines:
                    self.count(line.decode("utf-8", "replace"))
                chunk = os.pread(fd, 1 << 20, self.offset)
        finally:
            os.close(fd)
        self.progress.update(done=self.files, nbytes=self.bytes)

    def close(self):
        shutil.rmtree(self.folder, ignore_errors=True)
