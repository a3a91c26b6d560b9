#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: globus_timer
short_description: A recurring Globus Timers transfer timer running one collection sync
version_added: "0.1.0"
description:
  - Keeps a Globus Timers transfer timer present or absent. The timer runs one sync (the options of
    M(sciops.datasync.globus_collection_sync)) every O(interval) on the Globus service itself, so no
    always-on transfer host is needed to start the syncs.
  - The timer is found by its O(name) among the app's timers (the name is the key; keep it unique).
    A timer whose transfer or schedule differs from the options is replaced (deleted, then created);
    the Timers API does not change the transfer of a timer in place. O(start) is only used when the
    timer is created.
  - Before a timer is created the source path must exist and be readable by the app and the
    destination folder is made (with its parents), as the collection sync does.
  - The transfers run as the app (the client identity); share the source (read) and the destination
    (read-write) with it. The transfer never deletes anything at the destination.
  - O(state=present) on an unchanged timer also returns its recent runs (each run's task, status and
    counts); run it in check mode to only report.
author: sciops datasync maintainers (@sciops)
extends_documentation_fragment:
  - sciops.datasync.globus
  - sciops.datasync.attributes
  - sciops.datasync.transfer
options:
  name:
    description: Name of the timer on Globus Timers (up to 200 characters); the key the module finds it by.
    type: str
    required: true
  state:
    description: V(present) keeps the timer as described; V(absent) deletes every timer of the app with that name.
    type: str
    choices: [present, absent]
    default: present
  source_collection:
    description: Id (UUID) of the source collection. Required with O(state=present).
    type: str
  source_path:
    description: Directory (or file) on the source collection.
    type: str
    default: /
  destination_collection:
    description: Id (UUID) of the destination collection. Required with O(state=present).
    type: str
  destination_path:
    description: Directory on the destination collection; defaults to O(source_path).
    type: str
  sync_level:
    description: What makes a file be copied again (as for M(sciops.datasync.globus_collection_sync)).
    type: str
    choices: [exists, size, mtime, checksum]
    default: checksum
  filters:
    description:
      - Include/exclude rules, in order, as globus-cli's C(--include)/C(--exclude) (see
        M(sciops.datasync.globus_collection_sync) O(sciops.datasync.globus_collection_sync#module:filters)).
    type: list
    elements: dict
    default: []
  label:
    description:
      - Label of the tasks the timer starts (checked as Transfer checks labels). Defaults to
        V(Syncing data for <name>), the label M(sciops.datasync.globus_collection_sync) gives a sync of that name,
        so that a status-only run of the collection sync finds the timer's live task.
    type: str
  interval:
    description: Time between runs, in seconds or a number followed by V(s), V(m), V(h) or V(d) (at least 60 seconds).
    type: str
    default: 1d
  start:
    description: First run (ISO 8601 date and time, for example V(2026-12-01T12:00:00+00:00)); now when not given.
    type: str
  stop_after_runs:
    description: End the timer after this many runs; it never ends when not given.
    type: int
  runs:
    description: How many recent runs to return.
    type: int
    default: 10
"""

EXAMPLES = r"""
- name: Sync the raw data every day at 12:00 UTC with Globus Timers
  sciops.datasync.globus_timer: &raw_data
    client_id: "{{ globus_client_id }}"
    client_secret_file: /etc/datasync/globus.secret
    name: raw-data
    source_collection: 3f1a2b4c-1d2e-4f50-8a6b-7c8d9e0f1a2b
    source_path: /dirtoshare/
    destination_collection: 9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b
    destination_path: /backup/dirtoshare/
    interval: 1d
    start: "2026-12-01T12:00:00+00:00"
    filters:
      - exclude: "*.tmp"

- name: Report the timer's recent runs and what the task above would change, changing nothing
  sciops.datasync.globus_timer:
    <<: *raw_data
  check_mode: true
  register: raw_data_timer

- name: Remove the timer
  sciops.datasync.globus_timer:
    client_id: "{{ globus_client_id }}"
    client_secret_file: /etc/datasync/globus.secret
    name: raw-data
    state: absent
"""

RETURN = r"""
extends_documentation_fragment:
  - sciops.datasync.results
action:
  description: What was done (or would be done in check mode).
  returned: always
  type: str
  choices: [none, create, replace, delete]
timer:
  description: The timer after the run (none after O(state=absent) or in check mode when it would change).
  returned: always
  type: dict
  sample: {"job_id": "0d2f...", "name": "raw-data", "status": "loaded", "interval_seconds": 86400,
           "next_run": "2026-12-02T12:00:00+00:00", "last_ran_at": "2026-12-01T12:00:00+00:00", "n_runs": 1, "n_errors": 0}
recent_runs:
  description: The timer's recent runs, newest first (when the timer was unchanged).
  returned: always
  type: list
  elements: dict
  sample: [{"ran_at": "2026-12-01T12:00:03+00:00", "task_id": "5b1e...", "status": "SUCCEEDED", "files_transferred": 12}]
created_directories:
  description: Destination folders created (or that would be created) before the timer was created.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.sciops.datasync.plugins.module_utils._globus.module import globus_module
from ansible_collections.sciops.datasync.plugins.module_utils._globus.transfer import transfer_argument_spec
from ansible_collections.sciops.datasync.plugins.module_utils._collection_sync.timer import run_module


def main():
    argument_spec = dict(
        name=dict(type="str", required=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        source_collection=dict(type="str"),
        source_path=dict(type="str", default="/"),
        destination_collection=dict(type="str"),
        destination_path=dict(type="str"),
        sync_level=dict(type="str", choices=["exists", "size", "mtime", "checksum"], default="checksum"),
        filters=dict(type="list", elements="dict", default=[]),
        label=dict(type="str"),
        interval=dict(type="str", default="1d"),
        start=dict(type="str"),
        stop_after_runs=dict(type="int"),
        runs=dict(type="int", default=10),
        **transfer_argument_spec()
    )
    run_module(globus_module(argument_spec, required_if=[["state", "present", ["source_collection", "destination_collection"]]]))


if __name__ == "__main__":
    main()
