# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

# The three attributes, written once for both fragments below.
_ATTRIBUTES = r"""
options: {{}}
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: {check_mode}
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: {diff_mode}
  idempotent:
    description: When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: full
"""


class ModuleDocFragment:
    # Annotated, as they are built from the text above: ansible-test's yamllint reads only plain
    # literal assignments here; validate-modules checks the docs these render into.

    # Modules that plan, then apply: check mode returns the plan, --diff shows it.
    DOCUMENTATION: str = _ATTRIBUTES.format(
        check_mode="Check mode computes the plan from the observed state and returns it without applying it.", diff_mode="full")

    # Read-only modules.
    INFO_MODULE: str = _ATTRIBUTES.format(check_mode="This module only reads; it behaves the same in check mode.", diff_mode="none")
