# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The AnsibleModule of a Globus module. Private to sciops.datasync: not a public API.

A Globus module is its documentation, its own argument_spec and one call::

    def main():
        argument_spec = dict(...)
        run_something(globus_module(argument_spec, required_one_of=[["a", "b"]]))

``globus_module`` adds the shared Globus options (``globus_argument_spec()``, documented by
the ``sciops.datasync.globus`` doc fragment) and their rule (exactly one of
``client_secret_file`` and ``client_secret``), and supports check mode. The AnsibleModule
is built when ``main()`` runs, so ansible-test validate-modules still reads the argspec.
"""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sciops.datasync.plugins.module_utils._globus.clients import (
    GLOBUS_MUTUALLY_EXCLUSIVE,
    GLOBUS_REQUIRED_ONE_OF,
    globus_argument_spec,
)


def globus_module(argument_spec, mutually_exclusive=None, required_one_of=None, **kwargs):
    """An AnsibleModule with the shared Globus options and ``argument_spec``; the other keywords go to AnsibleModule."""
    spec = globus_argument_spec()
    spec.update(argument_spec)
    return AnsibleModule(
        argument_spec=spec,
        mutually_exclusive=GLOBUS_MUTUALLY_EXCLUSIVE + list(mutually_exclusive or []),
        required_one_of=GLOBUS_REQUIRED_ONE_OF + list(required_one_of or []),
        supports_check_mode=True,
        **kwargs
    )
