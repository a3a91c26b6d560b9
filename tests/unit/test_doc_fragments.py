"""Every doc fragment text passes the yamllint rules ansible-test applies to plugin docs.

ansible-test's yamllint only reads a fragment written as one literal string; the fragments
built from shared parts (mail, attributes) are loaded here as ansible loads them and linted
with the same configuration, so they are not left unchecked.
"""

import os
import runpy

import ansible_test
import pytest
from yamllint import linter
from yamllint.config import YamlLintConfig

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FRAGMENTS = os.path.join(REPO, "plugins", "doc_fragments")
CONFIG = os.path.join(os.path.dirname(ansible_test.__file__), "_util", "controller", "sanity", "yamllint", "config", "plugins.yml")


def fragment_texts():
    for file_name in sorted(os.listdir(FRAGMENTS)):
        if file_name.endswith(".py") and file_name != "__init__.py":
            fragment = runpy.run_path(os.path.join(FRAGMENTS, file_name))["ModuleDocFragment"]
            for name in sorted(n for n in vars(fragment) if n.isupper()):
                yield "%s.%s" % (file_name[:-3], name), getattr(fragment, name)


CASES = list(fragment_texts())


@pytest.mark.parametrize("name,text", CASES, ids=[name for name, _text in CASES])
def test_fragment_passes_the_plugin_docs_yamllint(name, text):
    problems = [str(problem) for problem in linter.run(text, YamlLintConfig(file=CONFIG))]
    assert not problems, "%s: %s" % (name, problems)
