"""The alert rules of docs/monitoring.md: valid for promtool, each alert tested firing, each named in the docs."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FOLDER = os.path.join(REPO, "docs", "monitoring")
RULES = os.path.join(FOLDER, "datasync.rules.yml")
RULE_TESTS = os.path.join(FOLDER, "datasync.rules.test.yml")
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool missing: install the Debian package prometheus (make system-deps)")


def _alerts():
    with open(RULES, encoding="utf-8") as handle:
        return [rule["alert"] for group in yaml.safe_load(handle)["groups"] for rule in group["rules"] if "alert" in rule]


def _promtool(*args):
    proc = subprocess.run([PROMTOOL, *args], cwd=FOLDER, capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout + proc.stderr


@needs_promtool
def test_promtool_checks_the_rules():
    rc, out = _promtool("check", "rules", RULES)
    assert rc == 0 and "SUCCESS: %d rules found" % len(_alerts()) in out, out


@needs_promtool
def test_promtool_rule_tests_pass():
    rc, out = _promtool("test", "rules", RULE_TESTS)
    assert rc == 0 and "SUCCESS" in out, out


def test_every_alert_has_a_test_where_it_fires():
    with open(RULE_TESTS, encoding="utf-8") as handle:
        tests = yaml.safe_load(handle)["tests"]
    firing = {case["alertname"] for test in tests for case in test.get("alert_rule_test", []) if case.get("exp_alerts")}
    assert set(_alerts()) <= firing, set(_alerts()) - firing


def test_every_alert_is_in_the_docs():
    with open(os.path.join(REPO, "docs", "monitoring.md"), encoding="utf-8") as handle:
        text = handle.read()
    assert [name for name in _alerts() if name not in text] == []


def test_the_docs_show_the_rules_file_verbatim():
    with open(os.path.join(REPO, "docs", "monitoring.md"), encoding="utf-8") as handle:
        text = handle.read()
    with open(RULES, encoding="utf-8") as handle:
        rules = handle.read()
    assert "```yaml\n" + rules + "```" in text
