import pytest

from ansible_collections.sciops.datasync.plugins.module_utils._core.names import (
    path_component_problem,
    posix_name_problem,
    relative_path_problem,
)


@pytest.mark.parametrize("name", ["alice", "12282a", "pv-1", "a.b_c"])
def test_good_components(name):
    assert path_component_problem(name) is None


@pytest.mark.parametrize("name", ["", "-rf", "a/b", "..", "a..b", "x\ny", " pad", "tab\t", "x" * 300])
def test_bad_components_name_themselves(name):
    problem = path_component_problem(name, "EPN")
    assert problem and problem.startswith("EPN ")
    assert repr(name)[:20] in problem


@pytest.mark.parametrize("name", ["root", "alice", "_svc", "user-1"])
def test_posix_names(name):
    assert posix_name_problem(name) is None


@pytest.mark.parametrize("name", ["Alice", "9lives", "a b", "a;b", "$(id)", "é", "a" * 33, "-x"])
def test_bad_posix_names(name):
    assert posix_name_problem(name)


def test_relative_paths():
    assert relative_path_problem("a/b/c") is None
    assert "refused" in relative_path_problem("a/../b")
    assert relative_path_problem("a/-b")
