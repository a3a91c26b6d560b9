"""The log the datasync-job wrapper writes on a host: the one reader `make demo` and the host tests use.

Each run is framed by `===== <UTC time> start <job>` and `===== <UTC time> end <job> rc=<N>`
(roles/runtime/templates/datasync-job.j2); ansible-playbook's output is in between.
"""

import calendar
import re
import time
from dataclasses import dataclass, field

MARK = re.compile(r"^===== (\S+) (start|end) (\S+)(?: rc=(\d+))?$")


def epoch(stamp):
    return calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ"))


@dataclass
class JobRun:
    """One run of a job; rc is None while it runs (or when it was killed before its end line)."""

    job: str
    start: str
    end: str = None
    rc: int = None
    lines: list = field(default_factory=list)

    @property
    def started(self):
        return epoch(self.start)

    @property
    def finished(self):
        return self.rc is not None

    @property
    def output(self):
        return "\n".join(self.lines)

    @property
    def changed(self):
        """The changed count of the run's PLAY RECAP lines."""
        return sum(int(n) for n in re.findall(r"\bchanged=(\d+)", self.output))

    def __repr__(self):
        return "%s %s..%s rc=%s changed=%d" % (self.job, self.start, (self.end or "")[11:], self.rc, self.changed)


def job_runs(text, job=None, since=0, finished=True):
    """The runs in a log's text, oldest first: of ``job`` (any when None), started at or after epoch
    ``since``; with ``finished`` only those that logged their end line."""
    runs, current = [], None
    for line in text.splitlines():
        mark = MARK.match(line)
        if not mark:
            if current is not None:
                current.lines.append(line)
            continue
        stamp, what, name, rc = mark.groups()
        if job is not None and name != job:
            continue
        if what == "start":
            current = JobRun(name, stamp)
            runs.append(current)
        elif current is not None and name == current.job and rc is not None:
            current.end, current.rc = stamp, int(rc)
            current = None
    return [run for run in runs if run.started >= since and (run.finished or not finished)]
