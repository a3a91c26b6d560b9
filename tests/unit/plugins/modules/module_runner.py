"""Run a module's main() with patch_module_args and catch what it reports.

    from module_runner import run
    outcome = run(some_module.main, {"option": "value"})
    assert outcome.failed and "why" in outcome.result["msg"]
"""

from unittest import mock

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args


class Exit(Exception):
    """What main() ended with: ``result`` (the exit_json/fail_json keywords) and ``failed``."""

    def __init__(self, result, failed):
        super().__init__(result.get("msg"))
        self.result = result
        self.failed = failed


def _exit_json(self_, **result):
    raise Exit(result, False)


def _fail_json(self_, **result):
    raise Exit(result, True)


def run(main, args):
    """Call ``main()`` with ``args`` as the module arguments; return its Exit."""
    with patch_module_args(args), mock.patch.object(basic.AnsibleModule, "exit_json", _exit_json), \
            mock.patch.object(basic.AnsibleModule, "fail_json", _fail_json):
        with pytest.raises(Exit) as caught:
            main()
    return caught.value
