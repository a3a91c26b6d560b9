import pytest

from ansible_collections.sciops.datasync.plugins.module_utils._experiment import epics as _epics


@pytest.mark.parametrize("value, ok", [
    ("Lovelace", True), ("2026-11", True), ("1001234", True), ("Smith/x", False), ("..", False),
    ("De Carlo", False), ("O'Brien", False), ('a"b', False), ("a;b", False), ("-rf", False), ("$(x)", False),
    ("", False), ("a\nb", False),
])
def test_value_problem(value, ok):
    problem = _epics.value_problem("p:UserLastName", value)
    assert (problem is None) is ok
    if problem:
        assert "p:UserLastName" in problem


def test_check_values_names_the_full_pv():
    errors = _epics.check_values({"UserLastName": "a/b", "ProposalTitle": "any title / ok"}, ["UserLastName"], "2bma:")
    assert len(errors) == 1
    assert errors[0]["item"] == "2bma:UserLastName" and "2bma:UserLastName" in errors[0]["reason"]


def test_decode_value():
    assert _epics.decode_value("CHAR", [72, 105, 0, 0]) == "Hi"
    assert _epics.decode_value("TIME_STRING", [b"Lovelace\x00\x00"]) == "Lovelace"
    assert _epics.decode_value("DOUBLE", [1.5]) == 1.5
    assert _epics.decode_value("LONG", [1, 2]) == [1, 2]


def test_ca_environment():
    env = _epics.ca_environment("127.0.0.1", False, 15064, None)
    assert env == {"EPICS_CA_ADDR_LIST": "127.0.0.1", "EPICS_CA_AUTO_ADDR_LIST": "NO", "EPICS_CA_SERVER_PORT": "15064"}
    assert _epics.ca_environment() == {}


def test_empty_values():
    assert _epics.is_empty("  ")
    assert _epics.is_empty([])
    assert not _epics.is_empty(0)
