import pytest

from ansible_collections.sciops.datasync.plugins.module_utils._runner import CommandRunner


class FakeModule(object):
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
