# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The Transfer task options a collection sync and a Globus Timers timer share
    # (globus_collection_sync, globus_timer; module_utils/_globus/transfer.py transfer_argument_spec()).
    DOCUMENTATION = r"""
options:
  verify_checksum:
    description: Verify each file's checksum after it is copied.
    type: bool
    default: true
  preserve_timestamp:
    description: Give copied files the modification time of their source.
    type: bool
    default: true
  encrypt:
    description: Encrypt the data channel.
    type: bool
    default: false
  skip_source_errors:
    description: Skip source files that cannot be read instead of failing the task.
    type: bool
    default: false
"""
