"""A role default is written in one place: no run-now playbook sets a role's default variable."""

import glob
import os

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def role_defaults():
    names = {}
    for path in glob.glob(os.path.join(REPO, "roles", "*", "defaults", "main.yml")):
        with open(path) as handle:
            for name in yaml.safe_load(handle) or {}:
                names[name] = os.path.relpath(path, REPO)
    return names


def keys_set(node):
    """Every variable a play sets: play and task `vars`, `set_fact` keys, and role/include `vars`."""
    if isinstance(node, list):
        for item in node:
            yield from keys_set(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key in ("vars", "ansible.builtin.set_fact", "set_fact") and isinstance(value, dict):
                yield from value
            yield from keys_set(value)


PLAYBOOKS = sorted(glob.glob(os.path.join(REPO, "playbooks", "*.yml")))


def test_role_defaults_are_found():
    assert len(role_defaults()) > 50


@pytest.mark.parametrize("playbook", PLAYBOOKS, ids=os.path.basename)
def test_playbook_sets_no_role_default(playbook):
    defaults = role_defaults()
    with open(playbook) as handle:
        plays = yaml.safe_load(handle)
    restated = sorted({"%s (default in %s)" % (key, defaults[key]) for key in keys_set(plays) if key in defaults})
    assert not restated, "%s restates role defaults: %s" % (os.path.basename(playbook), restated)
