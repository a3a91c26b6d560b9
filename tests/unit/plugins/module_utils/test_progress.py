import os

import pytest
from as_user import as_other_user, folder_of_other_user

from ansible_collections.sciops.datasync.plugins.module_utils._core.progress import (
    JobLog, Progress, module_progress, progress_argument_spec, size_text)

WALL = 1796003400  # 2026-11-30T01:50:00Z


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_a_line_every_interval_with_items_of_total_bytes_and_rate():
    clock, lines = FakeClock(), []
    progress = Progress("pool pacs1", lines.append, interval=30, unit="files", clock=clock, wall=lambda: WALL)
    progress.update(total=4000)
    for unused in range(10):
        clock.now += 5
        progress.advance(100, 100 * 1024 * 1024)
    assert lines == [
        "2026-11-30T01:50:00Z progress pool pacs1: 600 of 4000 files, 600.0 MiB, 20.0 MiB/s, 30 s",
    ]
    clock.now += 20  # 70 s: the next line is due at 60 s, written by the next call
    progress.update(done=1000, nbytes=1000 * 1024 * 1024)
    progress.finish()
    assert lines[1:] == [
        "2026-11-30T01:50:00Z progress pool pacs1: 1000 of 4000 files, 1000.0 MiB, 14.3 MiB/s, 70 s",
        "2026-11-30T01:50:00Z progress pool pacs1: 1000 of 4000 files, 1000.0 MiB, 14.3 MiB/s, 70 s: finished",
    ]
    assert progress.lines == 3


def test_without_bytes_or_total_the_rate_is_items_per_second():
    clock, lines = FakeClock(), []
    progress = Progress("identity sync", lines.append, interval=10, unit="users", clock=clock, wall=lambda: WALL)
    clock.now += 10
    progress.advance(25)
    assert lines == ["2026-11-30T01:50:00Z progress identity sync: 25 users, 2.5 users/s, 10 s"]


def test_nothing_is_written_before_the_interval_and_finish_always_writes():
    clock, lines = FakeClock(), []
    progress = Progress("x", lines.append, interval=30, clock=clock, wall=lambda: WALL)
    clock.now += 29.9
    progress.advance(3)
    assert lines == []
    progress.finish("failed")
    assert lines == ["2026-11-30T01:50:00Z progress x: 3 items, 0.1 items/s, 29 s: failed"]


def test_sizes_in_binary_units():
    assert [size_text(n) for n in (0, 1023, 1024, 1536 * 1024 ** 3)] == ["0 B", "1023 B", "1.0 KiB", "1.5 TiB"]


def test_a_sink_that_fails_turns_progress_off_and_says_why():
    def broken(unused_line):
        raise OSError(28, "No space left on device")

    clock = FakeClock()
    progress = Progress("x", broken, interval=0, clock=clock)
    progress.advance()
    progress.advance()
    assert progress.problem == "progress lines stopped: No space left on device"
    assert progress.sink is None and progress.lines == 0


def test_module_progress_appends_to_the_job_log(tmp_path):
    log = tmp_path / "job.log"
    log.write_text("===== 2026-11-30T01:49:00Z start pools\n")
    os.chmod(log, 0o640)
    clock = FakeClock()
    progress, sink = module_progress({"progress_log": str(log), "progress_interval": 1.0}, "pool p", "files", clock, lambda: WALL)
    clock.now += 1
    progress.advance(2, 10)
    progress.finish()
    sink.close()
    assert progress.problem is None
    assert log.read_text().splitlines()[1:] == [
        "2026-11-30T01:50:00Z progress pool p: 2 files, 10 B, 10 B/s, 1 s",
        "2026-11-30T01:50:00Z progress pool p: 2 files, 10 B, 10 B/s, 1 s: finished"]


def test_without_a_log_progress_counts_silently():
    progress, sink = module_progress({"progress_log": None, "progress_interval": None}, "x")
    progress.advance(5)
    progress.finish()
    assert sink is None and progress.problem is None and progress.done == 5


def test_the_interval_option_falls_back_to_the_environment(monkeypatch):
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
    monkeypatch.setenv("DATASYNC_JOB_LOG", "/var/log/datasync/pools.log")
    monkeypatch.setenv("DATASYNC_PROGRESS_INTERVAL", "2")
    params = ArgumentSpecValidator(progress_argument_spec()).validate({}).validated_parameters
    assert params == {"progress_log": "/var/log/datasync/pools.log", "progress_interval": 2.0}
    monkeypatch.delenv("DATASYNC_PROGRESS_INTERVAL")
    assert ArgumentSpecValidator(progress_argument_spec()).validate({}).validated_parameters["progress_interval"] == 30.0


@pytest.mark.skipif(os.geteuid() != 0, reason="plants files as another user")
def test_a_link_or_another_users_log_is_never_written(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("root's file\n")
    os.chmod(tmp_path, 0o755)
    # A link planted where the log should be (in a root-owned folder: only the link is refused).
    os.symlink(victim, tmp_path / "job.log")
    progress, sink = module_progress({"progress_log": str(tmp_path / "job.log"), "progress_interval": 0}, "x")
    progress.finish()
    assert sink is None and "is a symlink; refused" in progress.problem
    assert victim.read_text() == "root's file\n"
    # The log folder owned by another user (who could swap the log at any time).
    folder = folder_of_other_user(tmp_path / "logs")
    assert as_other_user(folder, lambda: open("job.log", "w").close()) == 0
    progress, sink = module_progress({"progress_log": str(folder / "job.log"), "progress_interval": 0}, "x")
    assert sink is None and "owned by uid 65534" in progress.problem
    assert (folder / "job.log").read_text() == ""


def test_job_log_is_not_created(tmp_path):
    with pytest.raises(FileNotFoundError):
        JobLog(str(tmp_path / "missing.log")).open()
    assert not (tmp_path / "missing.log").exists()
