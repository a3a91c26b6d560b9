"""Processes the lab starts: recognise them by pid and start time, find a container's init, stop them."""

from __future__ import annotations

import dataclasses
import os
import signal
import time


def _stat_fields(pid):
    """Fields of /proc/PID/stat after the command name (which may hold spaces), or None."""
    try:
        with open("/proc/%d/stat" % pid, encoding="utf-8") as handle:
            text = handle.read()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()


def _reap(pid):
    # A process this one started stays a zombie until waited for.
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


@dataclasses.dataclass(frozen=True)
class ProcessId:
    """A pid plus its start time, so a reused pid is never taken for the process recorded."""

    pid: int
    start_time: int

    @classmethod
    def of(cls, pid):
        fields = _stat_fields(pid)
        return cls(pid, int(fields[19])) if fields else None

    def alive(self):
        _reap(self.pid)
        fields = _stat_fields(self.pid)
        return fields is not None and fields[0] != "Z" and int(fields[19]) == self.start_time

    def as_dict(self):
        return {"pid": self.pid, "start_time": self.start_time}

    @classmethod
    def from_dict(cls, data):
        return cls(int(data["pid"]), int(data["start_time"]))


def children(pid):
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields and int(fields[1]) == pid:
                found.append(int(entry))
    return found


def pids_mentioning(text):
    """Pids of the processes whose command line contains text."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as handle:
                if text.encode() in handle.read():
                    found.append(int(entry))
        except OSError:
            continue
    return found


def kill_processes_mentioning(text, timeout=10):
    """SIGKILL every process whose command line contains text (all but this one) and wait until they are gone."""
    processes = [ProcessId.of(pid) for pid in pids_mentioning(text) if pid != os.getpid()]
    for process in processes:
        signal_process(process, signal.SIGKILL)
    wait_gone(processes, timeout)


def command_name(pid):
    try:
        with open("/proc/%d/comm" % pid, encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError:
        return None


def descendant_named(pid, name, depth=3):
    """The first process called name among pid's descendants, breadth first, at most depth levels down."""
    level = [pid]
    for _level in range(depth):
        level = [child for parent in level for child in children(parent)]
        for child in level:
            if command_name(child) == name:
                return child
    return None


def signal_process(process, signum):
    if process is not None and process.alive():
        try:
            os.kill(process.pid, signum)
        except ProcessLookupError:
            pass


def wait_gone(processes, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(process.alive() for process in processes if process):
            return True
        time.sleep(0.2)
    return not any(process.alive() for process in processes if process)


def stop(manager, others=(), timeout=20):
    """SIGTERM the manager (nspawn: a clean shutdown) and wait; then SIGKILL whatever is left.

    Without its manager (nspawn was killed) a container's init would wait forever, so it is killed at once.
    """
    everything = [manager, *others]
    if manager is not None and manager.alive():
        signal_process(manager, signal.SIGTERM)
        wait_gone(everything, timeout)
    for process in everything:
        signal_process(process, signal.SIGKILL)
    wait_gone(everything, 5)
