# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # How a module reaches its web services (module_utils/_core/http.py http_argument_spec()):
    # aps_beamtime_info and aps_dm_experiment.
    DOCUMENTATION = r"""
options:
  validate_certs:
    description: Verify the TLS certificate of each web service the module calls.
    type: bool
    default: true
  ca_bundle:
    description: CA bundle used to verify the web services' certificates, instead of the system's.
    type: path
  timeout:
    description: HTTP timeout in seconds.
    type: int
    default: 30
"""
