#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: globus_task_info
short_description: Status of a collection sync's current or last Globus Transfer task
version_added: "0.1.0"
description:
  - Reads one Transfer task, chosen by O(task_id), or as the current (else last) task of the sync
    O(name) recorded in O(state_file) by M(sciops.datasync.globus_collection_sync), or as the newest
    task carrying O(label). When the state file knows nothing, the sync's label is searched.
  - Returns its status, counts, bytes, deadline, fatal error, the last error events and, on request,
    the files transferred and skipped (paged, up to O(max_files) each).
author: sciops datasync maintainers (@sciops)
extends_documentation_fragment:
  - sciops.datasync.globus
  - sciops.datasync.attributes.info_module
options:
  task_id:
    description: A Transfer task id (UUID).
    type: str
  name:
    description: Name of a sync of M(sciops.datasync.globus_collection_sync); needs O(state_file) or O(label).
    type: str
  state_file:
    description: The state file of M(sciops.datasync.globus_collection_sync).
    type: path
  label:
    description: Task label; defaults to the sync's label (V(Syncing data for <name>)).
    type: str
  error_events:
    description: How many of the last error events to return.
    type: int
    default: 5
  transferred_files:
    description: Also return the files the task transferred.
    type: bool
    default: false
  skipped_files:
    description: Also return the files the task skipped because of errors.
    type: bool
    default: false
  max_files:
    description: At most this many entries in RV(transferred_files) and in RV(skipped_files).
    type: int
    default: 1000
"""

EXAMPLES = r"""
- name: Status of the raw-data sync
  sciops.datasync.globus_task_info:
    client_id: "{{ globus_client_id }}"
    client_secret_file: /etc/datasync/globus.secret
    name: raw-data
    state_file: /var/lib/datasync/collection_sync.json
    transferred_files: true
  register: raw_data

- name: Show it
  ansible.builtin.debug:
    msg: "{{ raw_data.task.status }}: {{ raw_data.task.files_transferred }} files, {{ raw_data.task.bytes_transferred }} bytes"
  when: raw_data.found
"""

RETURN = r"""
found:
  description: Whether a task was found.
  returned: always
  type: bool
source:
  description: Where the task was found (V(task_id), V(state), V(label)).
  returned: when found
  type: str
task:
  description: The task (task_id, status, nice_status, label, request_time, completion_time, deadline,
    sync_level, files, files_transferred, files_skipped, directories, bytes_transferred, bytes_checksummed,
    faults, fatal_error, source_endpoint_id, destination_endpoint_id).
  returned: when found
  type: dict
  sample: {"task_id": "8e0c...", "status": "SUCCEEDED", "files": 12, "files_transferred": 3, "bytes_transferred": 1048576}
events:
  description: The last error events (time, code, description, details), newest first.
  returned: when found
  type: list
  elements: dict
transferred_files:
  description: Files transferred (source_path, destination_path).
  returned: when O(transferred_files=true) and found
  type: list
  elements: dict
skipped_files:
  description: Files skipped on errors (source_path, destination_path, error_code, error_details, error_time).
  returned: when O(skipped_files=true) and found
  type: list
  elements: dict
truncated:
  description: Whether a file list was cut at O(max_files).
  returned: when found
  type: bool
"""

from ansible_collections.sciops.datasync.plugins.module_utils._globus.module import globus_module
from ansible_collections.sciops.datasync.plugins.module_utils._collection_sync.task_info import run_task_info_module


def main():
    argument_spec = dict(
        task_id=dict(type="str"),
        name=dict(type="str"),
        state_file=dict(type="path"),
        label=dict(type="str"),
        error_events=dict(type="int", default=5),
        transferred_files=dict(type="bool", default=False),
        skipped_files=dict(type="bool", default=False),
        max_files=dict(type="int", default=1000),
    )
    run_task_info_module(globus_module(argument_spec, required_one_of=[["task_id", "name", "label"]],
                                       mutually_exclusive=[["task_id", "name"], ["task_id", "label"]]))


if __name__ == "__main__":
    main()
