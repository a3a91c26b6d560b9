# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The "errors" every module returns (module_utils/_core/results.py error()). A module's
    # RETURN extends this fragment; one that names RV(errors) in its own text, or returns
    # errors other than always, keeps a short "errors:" entry with only "returned"
    # (validate-modules checks RV() references before it adds fragments).
    RETURN = r"""
errors:
  description:
    - What was refused or failed, one entry each; the rest went on.
  returned: always
  type: list
  elements: dict
  contains:
    item:
      description: What the entry is about (a name, path, EPN, pool module, sync, PV, identity or group).
      type: str
      returned: always
    reason:
      description: Why it was refused or failed, naming it.
      type: str
      returned: always
  sample: [{"item": "-rf@uchicago.edu", "reason": "Globus username '-rf@uchicago.edu' is refused: ..."}]
"""
