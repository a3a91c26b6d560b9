"""`make test`'s counting: skipped tests show, an empty or missing report fails the stage."""

from tests.checks import Count, junit_count

REPORT = """<?xml version="1.0"?><testsuites><testsuite name="pytest" tests="{tests}" failures="{failures}"
 errors="{errors}" skipped="{skipped}"></testsuite></testsuites>"""


def write(tmp_path, **counts):
    path = tmp_path / "report.xml"
    path.write_text(REPORT.format(**dict(dict(tests=0, failures=0, errors=0, skipped=0), **counts)))
    return str(path)


def test_skipped_tests_are_counted_apart(tmp_path):
    assert junit_count(write(tmp_path, tests=10, failures=1, errors=1, skipped=3), 1) == Count(5, 2, 3)


def test_a_stage_that_collects_nothing_fails(tmp_path):
    assert junit_count(write(tmp_path), 5) == Count(failed=1)


def test_a_missing_report_fails(tmp_path):
    assert junit_count(str(tmp_path / "absent.xml"), 0) == Count(failed=1)


def test_a_failing_exit_without_failed_tests_fails(tmp_path):
    assert junit_count(write(tmp_path, tests=4), 2) == Count(passed=3, failed=1)
