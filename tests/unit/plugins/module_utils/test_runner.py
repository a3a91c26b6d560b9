import sys

import pytest

from ansible_collections.sciops.datasync.plugins.module_utils._core.runner import CommandRunner


class FakeModule:
    def __init__(self):
        self.calls = []

    def run_command(self, args, **kwargs):
        self.calls.append((args, kwargs))
        return 0, "out", "err"


def test_argv_list_is_passed_without_shell():
    module = FakeModule()
    result = CommandRunner(module).run(["echo", "a; rm -rf /"], secret_env={"RSYNC_PASSWORD": "s3cret"})
    args, kwargs = module.calls[0]
    assert args == ["echo", "a; rm -rf /"]
    assert kwargs["use_unsafe_shell"] is False
    assert kwargs["environ_update"] == {"RSYNC_PASSWORD": "s3cret"}
    assert "s3cret" not in " ".join(result.argv)
    assert (result.rc, result.stdout, result.stderr) == (0, "out", "err")


@pytest.mark.parametrize("argv", ["echo hi", [], ["echo", 1], None])
def test_shell_strings_and_bad_argv_are_refused(argv):
    with pytest.raises(TypeError):
        CommandRunner(FakeModule()).run(argv)


def test_bulk_output_arrives_whole_with_the_secret_only_in_the_environment():
    script = "import os, sys; [print('>f+++++++++ d/f%06d' % n) for n in range(200000)]; sys.stderr.write(os.environ['RSYNC_PASSWORD'][:2])"
    runner = CommandRunner(FakeModule())
    result = runner.run_bulk([sys.executable, "-c", script], env={"LC_ALL": "C"}, secret_env={"RSYNC_PASSWORD": "s3cret"})
    lines = result.stdout.splitlines()
    assert result.rc == 0 and len(lines) == 200000 and lines[-1] == ">f+++++++++ d/f199999"
    assert result.stderr == "s3" and "s3cret" not in " ".join(result.argv)
    assert runner.history == [result]


def test_bulk_keeps_undecodable_names_and_reports_a_missing_binary():
    runner = CommandRunner(FakeModule())
    raw = runner.run_bulk([sys.executable, "-c", "import sys; sys.stdout.buffer.write(b'caf\\xe9\\n'); sys.exit(23)"])
    assert raw.rc == 23 and raw.stdout.encode("utf-8", "surrogateescape") == b"caf\xe9\n"
    missing = runner.run_bulk(["/nonexistent/rsync", "--version"])
    assert missing.rc == 127 and "/nonexistent/rsync" in missing.stderr


def test_run_bulk_calls_on_poll_while_the_command_runs():
    polls = []
    result = CommandRunner(FakeModule()).run_bulk(
        [sys.executable, "-c", "import time; time.sleep(0.6); print('done')"], on_poll=lambda: polls.append(1), poll_interval=0.1)
    assert result.rc == 0 and result.stdout == "done\n"
    assert 3 <= len(polls) <= 7
