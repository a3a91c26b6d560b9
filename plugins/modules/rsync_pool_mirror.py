#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: rsync_pool_mirror
short_description: Mirror a module (or a path in it) from an authenticated rsync daemon
version_added: "0.1.0"
description:
  - Copies and updates the files of rsync daemon module O(module) (or only O(path) inside it) into O(dest),
    like the transferPools script of the Herschel PACS ICC.
  - With O(bookkeeping_root) it keeps transferPools' run bookkeeping, compatible with existing installations
    (C(<bookkeeping_root>/<module>/logs/<Weekday>), C(logs/logDay) and the C(<module>/writeLock) holding the pid while rsync runs).
  - A second instance for the same module does not start (RV(skipped)) and notes the skip in the log.
    A stale C(writeLock) (its pid is gone) is taken over and the takeover is logged;
    rsync temp files a killed run left in O(dest) are removed then.
  - Without O(bookkeeping_root) it makes one copy without the bookkeeping (C(transferPools copy)).
  - Check mode is transferPools' C(test); a dry run with C(--itemize-changes) that returns what would change and creates nothing.
  - On failure an email goes to O(mail.to) with the module, exit code, its meaning and the tail of the log.
  - The password never reaches argv, logs or results; it comes from O(password_file) (passed to rsync as C(--password-file))
    or O(password) (passed in C(RSYNC_PASSWORD)).
author:
  - sciops datasync maintainers (@sciops)
extends_documentation_fragment:
  - sciops.datasync.rsync_daemon
  - sciops.datasync.attributes
  - sciops.datasync.mail
  - sciops.datasync.progress
options:
  mail:
    description:
      - Where failure emails go. Nothing is sent without O(mail.to) or in check mode.
      - The subject starts with O(mail.subject_prefix), V([datasync]) when not set.
  module:
    description:
      - The rsync module (pool) name, for example V(pv) or V(pv-1).
      - Names starting with C(-), containing C(..), C(/), whitespace, control or wildcard characters are refused.
    type: str
    required: true
  path:
    description:
      - A path inside the module; only that part is mirrored, its contents arriving in O(dest).
      - Relative; components starting with C(-), C(..), control and wildcard characters are refused.
    type: str
    default: ""
  dest:
    description:
      - The local folder (absolute) that receives the files. Created when missing.
      - Every folder of O(dest) below O(dest_root) is opened without following links; a link or a non-folder there
        fails the task with a message naming it, before rsync starts. rsync then runs inside the folder it checked.
    type: path
    required: true
  dest_root:
    description:
      - The trusted folder above O(dest) (absolute; O(dest) must be inside it), made when missing and followed even when
        it is a link. Nothing below it is ever followed when it is a link, so set it to the deepest folder that only the
        account running the mirror (or root) can write.
      - Default the parent folder of O(dest).
    type: path
  bookkeeping_root:
    description:
      - The transferPools folder (C(ICC_RSYNC_ROOT), the icc-rsync folder) holding C(<module>/logs/) and C(<module>/writeLock).
      - Omit for a one-off copy without logs and lock.
    type: path
  delete:
    description:
      - Delete files in O(dest) that are gone upstream (C(--delete)).
      - Off by default; transferPools' cron mode mirrored deletions (the role's variable says which).
    type: bool
    default: false
  max_delete:
    description: With O(delete), delete at most this many files (C(--max-delete)); rsync then exits with 25.
    type: int
  symlinks:
    description:
      - V(preserve) recreates symlinks as symlinks, V(copy) copies what they point to, V(skip) leaves them out.
    type: str
    choices: [preserve, copy, skip]
    default: preserve
  safe_links:
    description:
      - Ignore symlinks that point outside the tree (C(--safe-links)), whatever O(symlinks) says, so links that leave the
        tree never arrive. V(false) lets them arrive (O(symlinks=preserve)).
    type: bool
    default: true
  perms:
    description:
      - Preserve permissions (C(--perms)). Times are always preserved.
      - Setuid and setgid bits never arrive on files (C(--chmod=Fug-s)); device files and FIFOs are never created
        (C(--no-devices --no-specials)).
    type: bool
    default: true
  checksum:
    description: Compare by checksum instead of size and time (C(--checksum)); slow on big pools.
    type: bool
    default: false
  excludes:
    description: rsync exclude patterns (C(--exclude)), each one argv word.
    type: list
    elements: str
    default: []
  bwlimit:
    description: Bandwidth limit (C(--bwlimit)), for example V(10m).
    type: str
  timeout:
    description: I/O timeout in seconds (C(--timeout)); V(0) for none.
    type: int
    default: 600
  log_files:
    description: List each transferred name in the weekday log, as transferPools did.
    type: bool
    default: true
  max_listed:
    description: At most this many names in RV(transferred) and RV(deleted); the counts are always complete.
    type: int
    default: 1000
notes:
  - rsync exit code 24 (files vanished upstream while copying) is a warning, not a failure.
  - A run killed with SIGKILL leaves C(writeLock) behind; the next run sees the pid is gone, takes the lock over and completes the mirror.
seealso:
  - module: sciops.datasync.rsync_pool_info
  - name: The transfer_pools role
    description: Schedules one mirror job per pool, staggered.
    link: https://example.org/sciops/datasync/roles/transfer_pools/README.md
"""

EXAMPLES = r"""
- name: Mirror the pv pool every hour with transferPools' logs and writeLock
  sciops.datasync.rsync_pool_mirror:
    host: icc.example.org
    user: pacs
    password_file: /home/pacspools/icc-rsync/password
    module: pv
    dest: /pacs/pools/pv
    bookkeeping_root: /home/pacspools/icc-rsync
    mail:
      to: [pools-admin@example.org]
      host: smtp.example.org
      tls: starttls

- name: What would change (transferPools test)
  sciops.datasync.rsync_pool_mirror:
    host: icc.example.org
    user: pacs
    password_file: /home/pacspools/icc-rsync/password
    module: pv-1
    dest: /pacs/pools/pv-1
  check_mode: true

- name: One copy of a sub-path, mirroring deletions (transferPools copy pv/obs0001 /scratch/obs0001)
  sciops.datasync.rsync_pool_mirror:
    host: icc.example.org
    user: pacs
    password_file: /home/pacspools/icc-rsync/password
    module: pv
    path: obs0001
    dest: /scratch/obs0001
    delete: true
"""

RETURN = r"""
extends_documentation_fragment:
  - sciops.datasync.lock
  - sciops.datasync.results
transferred:
  description:
    - Paths (relative to O(dest)) that arrived (new or changed content, new folders and links), or would in check mode; at most O(max_listed).
    - Names here, in RV(attributes_updated), RV(deleted), the weekday log and the failure email are escaped as rsync escapes them
      (control characters, DEL, C1 controls and bidirectional overrides as C(\#ooo) per byte), never raw.
  returned: when rsync ran
  type: list
  elements: str
  sample: ["obs0001/", "obs0001/product_00.fits"]
attributes_updated:
  description: Paths whose content was already there but whose times or permissions were updated.
  returned: when rsync ran
  type: list
  elements: str
transferred_count:
  description: How many paths arrived or were updated (complete).
  returned: when rsync ran
  type: int
deleted:
  description: Paths deleted from O(dest) (only with O(delete)); at most O(max_listed).
  returned: when rsync ran
  type: list
  elements: str
deleted_count:
  description: How many paths were deleted.
  returned: when rsync ran
  type: int
files_transferred:
  description: Regular files transferred (rsync's C(Number of regular files transferred)).
  returned: when rsync ran
  type: int
files_deleted:
  description: Files deleted.
  returned: when rsync ran
  type: int
bytes_transferred:
  description: Size of the file data transferred (C(Total transferred file size)).
  returned: when rsync ran
  type: int
bytes_received:
  description: Bytes received on the wire.
  returned: when rsync ran
  type: int
stats:
  description: rsync's C(--stats), as numbers (files, created_files, deleted_files, regular_files_transferred, total_file_size, ...).
  returned: when rsync ran
  type: dict
rsync_rc:
  description: rsync's exit code.
  returned: when rsync ran
  type: int
  sample: 0
rsync_rc_meaning:
  description: What the exit code means (23 partial transfer, 24 vanished files, 5 authentication or unknown module, 10 socket error, ...).
  returned: when rsync ran
  type: str
  sample: success
rsync_error:
  description: The daemon's message (C(@ERROR) line) or rsync's first error line.
  returned: when rsync reported an error
  type: str
  sample: auth failed on module pv
rsync_argv:
  description: The rsync command that ran (no secrets in it).
  returned: when rsync ran
  type: list
  elements: str
dry_run:
  description: Whether this was a dry run (check mode).
  returned: always
  type: bool
skipped: {}
lock_taken_over_from:
  description: The pid of the stale writeLock that was taken over.
  returned: when a stale lock was taken over
  type: int
removed_leftovers:
  description: rsync temp files a killed run left in O(dest), removed at takeover.
  returned: when a stale lock was taken over
  type: list
  elements: str
log_file:
  description: The weekday log this run wrote to.
  returned: when O(bookkeeping_root) is set and not in check mode
  type: str
  sample: /home/pacspools/icc-rsync/pv/logs/Friday
mail_sent:
  description: Whether the failure email was sent.
  returned: on failure with O(mail.to)
  type: bool
mail_error:
  description: Why the failure email could not be sent.
  returned: when sending failed
  type: str
"""

from ansible_collections.sciops.datasync.plugins.module_utils._core.mail import mail_argument_spec
from ansible_collections.sciops.datasync.plugins.module_utils._core.progress import progress_argument_spec
from ansible_collections.sciops.datasync.plugins.module_utils._pools.mirror import daemon_module, run_mirror


def main():
    run_mirror(daemon_module(dict(
        module=dict(type="str", required=True),
        path=dict(type="str", default=""),
        dest=dict(type="path", required=True),
        dest_root=dict(type="path"),
        bookkeeping_root=dict(type="path"),
        delete=dict(type="bool", default=False),
        max_delete=dict(type="int"),
        symlinks=dict(type="str", default="preserve", choices=["preserve", "copy", "skip"]),
        safe_links=dict(type="bool", default=True),
        perms=dict(type="bool", default=True),
        checksum=dict(type="bool", default=False),
        excludes=dict(type="list", elements="str", default=[]),
        bwlimit=dict(type="str"),
        timeout=dict(type="int", default=600),
        log_files=dict(type="bool", default=True),
        max_listed=dict(type="int", default=1000),
        **dict(mail_argument_spec(), **progress_argument_spec())
    )))


if __name__ == "__main__":
    main()
