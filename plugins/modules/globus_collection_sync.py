#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: globus_collection_sync
short_description: Sync directories between Globus collections, one live task per sync
version_added: "0.1.0"
description:
  - Replaces C(globus_sync_directory). Each named sync copies a directory of a source collection
    to a directory of a destination collection with a Globus Transfer task (recursive, by
    checksum by default, never deleting anything at the destination and never writing to the source).
  - At most one live task per sync. When the task recorded for a sync is still V(ACTIVE) or
    V(INACTIVE) it is reported and nothing is submitted; when it has ended its outcome is
    recorded and the next task is submitted. O(start=false) only reports (the original's C(-d)).
  - O(time_limit) becomes the task deadline. A task cut by its deadline fails; the next run's
    task skips the files that already arrived (checksum sync) and goes on.
  - The last task of each sync is kept in O(state_file) (written atomically). When that file is
    lost, the live task is found again by its label on the Transfer API.
  - Before submitting, the source path must exist and be readable by the app (a clear error names
    the collection, the path and the app identity to share it with) and the destination folder
    is created with its parents when missing.
  - A run holds a lock (O(lock_file)) so that two scheduled runs never submit twice.
  - A summary email (per sync status, counts, bytes, destination path, file-manager link) is sent
    when O(mail) is set and O(mail.when) matches.
author: sciops datasync maintainers (@sciops)
extends_documentation_fragment:
  - sciops.datasync.globus
  - sciops.datasync.attributes
  - sciops.datasync.mail.run_summary
  - sciops.datasync.transfer
  - sciops.datasync.progress
attributes:
  idempotent:
    support: partial
    details:
      - Without O(wait), a run that submits a task reports a change; the next run reports the live
        task and submits nothing. With O(wait=true), C(changed) means files arrived, so a second
        run of an up-to-date sync reports no change.
options:
  syncs:
    description: The syncs. Options not given on a sync take the module-level value of the same name.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - Name of the sync (letters, digits, V(.), V(_), V(-)); the key of its state and part of its default label.
        type: str
        required: true
      source_collection:
        description: Id (UUID) of the source collection.
        type: str
        required: true
      source_path:
        description: Directory on the source collection.
        type: str
        default: /
      destination_collection:
        description: Id (UUID) of the destination collection.
        type: str
        required: true
      destination_path:
        description: Directory on the destination collection; defaults to O(syncs[].source_path).
        type: str
      sync_level:
        description: What makes a file be copied again; defaults to O(sync_level).
        type: str
        choices: [exists, size, mtime, checksum]
      time_limit:
        description: Task time limit; defaults to O(time_limit).
        type: str
      label:
        description:
          - Task label, used to find the live task when the state file is lost. Must be unique per sync.
          - Defaults to V(Syncing data for <name>).
        type: str
      verify_checksum: {description: Defaults to O(verify_checksum)., type: bool}
      preserve_timestamp: {description: Defaults to O(preserve_timestamp)., type: bool}
      encrypt: {description: Defaults to O(encrypt)., type: bool}
      skip_source_errors: {description: Defaults to O(skip_source_errors)., type: bool}
      filters:
        description: Include/exclude rules of this sync; defaults to O(filters).
        type: list
        elements: dict
  only:
    description: Run only the syncs with these names (all when empty).
    type: list
    elements: str
    default: []
  start:
    description: Submit a new task when none is live. V(false) only reports the current or last task.
    type: bool
    default: true
  sync_level:
    description:
      - V(checksum) copies files that are new or whose checksum differs; V(mtime), V(size) and
        V(exists) compare less and are faster.
    type: str
    choices: [exists, size, mtime, checksum]
    default: checksum
  time_limit:
    description:
      - How long a task may run before Globus stops it (its deadline). Minutes as a number, or a
        number followed by V(s), V(m), V(h) or V(d).
    type: str
    default: "1440"
  filters:
    description:
      - Include/exclude rules, in order, as globus-cli's C(--include) and C(--exclude) (Transfer filter rules).
      - "Each entry has one key, V(include) or V(exclude), whose value is a name glob (V(*), V(?), V([...])) matched
        against each file (or directory) name met in the source tree, and an optional V(type): V(file) (the default)
        or V(dir)."
      - "The first rule matching a name decides; a name no rule matches is included. So an V(include) of V(*.h5)
        followed by an V(exclude) of V(*) copies only C(.h5) files. An excluded directory is not entered."
      - Only for a directory source.
    type: list
    elements: dict
    default: []
  stall_timeout:
    description:
      - Seconds a live task may keep retrying a fatal-looking fault (permission denied, not found, quota) before the
        run reports it as an error, with the fault, instead of reporting the task as merely running until its deadline.
      - Transfer keeps such a task V(ACTIVE) (C(is_ok) false, fault events) until its deadline; the stall is timed from
        the first fault event of the current run of faults.
    type: int
    default: 3600
  cancel_stalled:
    description:
      - Cancel a task found stalled (see O(stall_timeout)), so that the next run submits a new one once the cause is fixed.
    type: bool
    default: false
  wait:
    description:
      - Wait for the tasks (submitted or live) to end, up to O(wait_timeout), and return their counts.
      - With V(true), C(changed) means files arrived.
    type: bool
    default: false
  wait_timeout:
    description: Seconds to wait with O(wait=true).
    type: int
    default: 3600
  error_events:
    description: How many error events of a failed task to return and mail.
    type: int
    default: 5
  state_file:
    description: JSON file holding the last task of each sync.
    type: path
    required: true
  lock_file:
    description: Run lock file; defaults to O(state_file) with C(.lock) appended.
    type: path
  lock_wait:
    description: Wait for a run holding the lock (up to O(lock_timeout)); V(false) skips at once.
    type: bool
    default: true
  lock_timeout:
    description: Seconds to wait for the lock.
    type: int
    default: 600
  mail:
    description: Summary email of the run. Nothing is sent without O(mail.to).
"""

EXAMPLES = r"""
- name: Start the daily syncs
  sciops.datasync.globus_collection_sync:
    client_id: "{{ globus_client_id }}"
    client_secret_file: /etc/datasync/globus.secret
    state_file: /var/lib/datasync/collection_sync.json
    time_limit: 5h
    syncs:
      - name: raw-data
        source_collection: 3f1a2b4c-1d2e-4f50-8a6b-7c8d9e0f1a2b
        source_path: /dirtoshare/
        destination_collection: 9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b
        destination_path: /backup/dirtoshare/
    mail:
      to: [data-team@example.org]
      host: smtp.example.org
      port: 587
      starttls: true
      credentials_file: /etc/datasync/smtp.credentials

- name: Report on the syncs, then sync now and wait for the files
  module_defaults:
    sciops.datasync.globus_collection_sync:
      client_id: "{{ globus_client_id }}"
      client_secret_file: /etc/datasync/globus.secret
      state_file: /var/lib/datasync/collection_sync.json
      syncs: "{{ collection_sync_syncs }}"
  block:
    - name: Report on the syncs without starting anything
      sciops.datasync.globus_collection_sync:
        start: false
      register: sync_status

    - name: Sync now and wait for the files
      sciops.datasync.globus_collection_sync:
        wait: true
        wait_timeout: 1800
"""

RETURN = r"""
extends_documentation_fragment:
  - sciops.datasync.lock
  - sciops.datasync.results
syncs:
  description: One entry per sync run.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The sync's name.
      type: str
    action:
      description: V(submitted) (a task was submitted, or would be in check mode), V(report) (a live task
        was reported), V(idle) (nothing live and O(start=false)) or V(error).
      type: str
    reason:
      description: Why, in words.
      type: str
    task:
      description:
        - The live, submitted or last task (task_id, status, nice_status, label, request_time, completion_time,
          deadline, files, files_transferred, files_skipped, bytes_transferred, fatal_error...).
      type: dict
    previous:
      description: The recorded task that was found ended during this run.
      type: dict
    adopted:
      description: Whether the live task was found by its label (state file lost).
      type: bool
    created_directories:
      description: Destination folders created (or that would be).
      type: list
    transfer:
      description: The Transfer document submitted (or that would be submitted in check mode).
      type: dict
    error_events:
      description: Last error events of a failed task.
      type: list
    error:
      description: Why this sync failed.
      type: str
  sample: [{"name": "raw-data", "action": "report", "task": {"task_id": "8e0c...", "status": "ACTIVE"}}]
submitted:
  description: Names of the syncs for which a task was submitted.
  returned: always
  type: list
  elements: str
skipped:
  returned: always
mail:
  description: The summary email (sent, to, subject, message_id, or error).
  returned: when O(mail.to) is set
  type: dict
"""

from ansible_collections.sciops.datasync.plugins.module_utils._globus.module import globus_module
from ansible_collections.sciops.datasync.plugins.module_utils._globus.transfer import transfer_argument_spec
from ansible_collections.sciops.datasync.plugins.module_utils._collection_sync.run import run_module
from ansible_collections.sciops.datasync.plugins.module_utils._core.mail import mail_argument_spec
from ansible_collections.sciops.datasync.plugins.module_utils._core.progress import progress_argument_spec


def main():
    argument_spec = dict(
        syncs=dict(type="list", elements="dict", required=True, options=dict(
            name=dict(type="str", required=True),
            source_collection=dict(type="str", required=True),
            source_path=dict(type="str", default="/"),
            destination_collection=dict(type="str", required=True),
            destination_path=dict(type="str"),
            sync_level=dict(type="str", choices=["exists", "size", "mtime", "checksum"]),
            time_limit=dict(type="str"),
            label=dict(type="str"),
            filters=dict(type="list", elements="dict"),
            **transfer_argument_spec(with_defaults=False)
        )),
        only=dict(type="list", elements="str", default=[]),
        start=dict(type="bool", default=True),
        sync_level=dict(type="str", choices=["exists", "size", "mtime", "checksum"], default="checksum"),
        time_limit=dict(type="str", default="1440"),
        filters=dict(type="list", elements="dict", default=[]),
        stall_timeout=dict(type="int", default=3600),
        cancel_stalled=dict(type="bool", default=False),
        wait=dict(type="bool", default=False),
        wait_timeout=dict(type="int", default=3600),
        error_events=dict(type="int", default=5),
        state_file=dict(type="path", required=True),
        lock_file=dict(type="path"),
        lock_wait=dict(type="bool", default=True),
        lock_timeout=dict(type="int", default=600),
        **transfer_argument_spec(),
        **progress_argument_spec(),
        **mail_argument_spec(extra=dict(
            when=dict(type="str", choices=["always", "ended", "transferred", "failed"], default="ended"),
            file_manager_url=dict(type="str", default="https://app.globus.org/file-manager"),
        ))
    )
    run_module(globus_module(argument_spec))


if __name__ == "__main__":
    main()
