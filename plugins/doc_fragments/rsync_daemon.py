# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # How to reach and log in to an rsync daemon (module_utils/_pools/mirror.py daemon_argument_spec()).
    DOCUMENTATION = r"""
options:
  host:
    description: The rsync daemon's host name or address.
    type: str
    required: true
  port:
    description: The daemon's TCP port (transferPools' C(ICC_RSYNC_PORT)).
    type: int
    default: 44520
  user:
    description: The user for the daemon's C(auth users) (not a local login).
    type: str
  password_file:
    description:
      - File holding the password only (transferPools' C(password)).
      - Refused when group or others can access it; it must be mode V(0600) or V(0400).
    type: path
  password:
    description: The password, passed to rsync in C(RSYNC_PASSWORD). Prefer O(password_file).
    type: str
  contimeout:
    description: Seconds to wait for the daemon to answer (C(--contimeout)).
    type: int
    default: 30
  rsync_path:
    description: The rsync binary; found on E(PATH) when omitted.
    type: path
"""
