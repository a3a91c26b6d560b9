#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: epn_repatriate
short_description: Repatriate synchrotron EPN data over rsync and ssh (ASSyncy mxsync)
version_added: "0.1.0"
description:
  - For each equipment in O(equipment), logs in to the synchrotron portal with that equipment's credentials and lists
    the visits of the last O(visit_day_range) days that have ended.
  - Keeps the EPNs whose numeric prefix is a key of O(epn_map), skips those already recorded in O(state_file), and
    copies each with rsync over ssh from C(<source_root>/<beamline>/<epn>/) on O(source_host) into
    C(<destination_root>/<project>/<epn>/data/).
  - Up to O(max_tasks) transfers run at once. Each EPN transfer holds a lock in O(lock_dir), so an EPN that another run
    is still transferring is skipped, not started twice.
  - An EPN is recorded as synced only after its real transfer succeeded; the state file is written atomically. An ASSyncy
    C(ignore.yml) given as O(ignore_file) is imported when the state file does not exist yet.
  - In check mode rsync runs with C(--dry-run --itemize-changes) and the result lists, per EPN, the files that would
    arrive; nothing is written and nothing is recorded.
  - EPN names that are not C(<digits><letters>) and project folders with C(..), C(/) or a leading C(-) are refused by
    name and listed in RV(errors); the other EPNs go on.
  - The module fails (after doing everything else) when an equipment cannot be queried or a transfer fails.
author: sciops datasync maintainers (@sciops)
extends_documentation_fragment:
  - sciops.datasync.attributes
  - sciops.datasync.epn
options:
  only:
    description: Consider only these EPNs (for a one-off repatriation); the others are skipped with a reason.
    type: list
    elements: str
  destination_root:
    description: Where projects live; each EPN goes to C(<destination_root>/<project>/<epn>/data/).
    type: path
    required: true
  state_file:
    description: JSON state file recording the synced EPNs.
    type: path
    required: true
  ignore_file:
    description: An ASSyncy C(ignore.yml) (C(previouslySynched) list) imported when O(state_file) does not exist yet.
    type: path
  lock_dir:
    description: Folder of the per-EPN lock files. Defaults to the folder of O(state_file).
    type: path
  max_tasks:
    description: How many EPN transfers run at once.
    type: int
    default: 1
  rsync_options:
    description:
      - Replace the rsync transfer options. The default is ASSyncy's set as it meant it, plus C(--inplace) so a run
        killed with SIGKILL leaves partial files that the next run resumes
        (V(--recursive), V(--times), V(--partial), V(--inplace), V(--size-only), V(--chmod=Dg+s,ug+w,o-wx,ug+X),
        V(--perms), V(--include=.info), V(--exclude=.*)).
      - C(--itemize-changes), C(--stats), C(--rsh) and, in check mode, C(--dry-run) are always added.
    type: list
    elements: str
  rsync_extra_options:
    description: Options added after O(rsync_options), for example V(--bwlimit=50m).
    type: list
    elements: str
    default: []
  rsync_path:
    description: The rsync program.
    type: str
    default: rsync
notes:
  - The source's host key must be in O(known_hosts) before the first run; the C(sciops.datasync.mxsync) role puts it there.
requirements:
  - rsync and ssh on the host that runs the module
  - PyYAML (Python)
seealso:
  - module: sciops.datasync.epn_alert
  - ref: sciops.datasync.mxsync role <ansible_collections.sciops.datasync.mxsync_role>
    description: Installs the key, credentials and the scheduled jobs.
"""

EXAMPLES = r"""
- name: Repatriate ended MX visits
  sciops.datasync.epn_repatriate: &mx_repatriate
    portal_url: https://portal.synchrotron.org.au
    credentials_file: /etc/datasync/mxsync/portal.yml
    equipment:
      - {id: 23, beamline: MX1}
      - {id: 24, beamline: MX2}
    epn_map:
      "12282": ny79
    source_host: sftp.synchrotron.org.au
    source_user: mxdata
    key_file: /etc/datasync/mxsync/mx_key
    known_hosts: /etc/datasync/mxsync/known_hosts
    destination_root: /scratch
    state_file: /var/lib/datasync/mxsync/epn_repatriate.json
    ignore_file: /opt/mx_sync/etc/ignore.yml
    max_tasks: 2

- name: Dry run for one EPN (what would arrive), with the options of the task above
  sciops.datasync.epn_repatriate:
    <<: *mx_repatriate
    only: [12282a]
  check_mode: true
  register: plan
"""

RETURN = r"""
extends_documentation_fragment:
  - sciops.datasync.lock
  - sciops.datasync.results
epns:
  description: One entry per EPN the run tried to transfer (or would, in check mode).
  returned: always
  type: list
  elements: dict
  contains:
    epn: {description: The EPN., type: str, sample: 12282a}
    equipment: {description: Equipment id of its visit., type: int, sample: 23}
    project: {description: The project folder from O(epn_map)., type: str, sample: ny79}
    source: {description: Path on the source., type: str, sample: /data/MX1/12282a/}
    destination: {description: Destination folder., type: str, sample: /scratch/ny79/12282a/data/}
    status: {description: "V(transferred), V(would_transfer), V(failed) or V(skipped).", type: str, sample: transferred}
    files: {description: Files that arrived (would arrive in check mode)., type: int, sample: 17}
    file_list: {description: Their paths (at most 1000)., type: list, elements: str}
    bytes: {description: Bytes of the files that arrived (rsync's total transferred file size)., type: int, sample: 3145728}
    duration: {description: Seconds the rsync ran., type: float, sample: 2.5}
    rc: {description: rsync's exit code., type: int, sample: 0}
    rc_meaning: {description: What the exit code means., type: str, sample: success}
    beamline: {description: The beamline folder on the source., type: str, sample: MX1}
    visit_end: {description: When the visit ended., type: str, sample: "2026-10-24T01:44:09Z"}
    literal_bytes: {description: "Bytes rsync sent as literal data (fewer than RV(epns[].bytes) when a partial file was resumed).", type: int}
    matched_bytes: {description: Bytes rsync found already in place (a resumed partial file)., type: int}
    msg: {description: Why it failed., type: str, returned: when failed}
    reason: {description: Why it was skipped., type: str, returned: when skipped}
transferred:
  description: EPNs transferred and recorded in this run.
  returned: always
  type: list
  elements: str
  sample: [12282a]
would_transfer:
  description: EPNs check mode would transfer.
  returned: always
  type: list
  elements: str
skipped_epns:
  description: Every EPN not transferred, with the reason (unmapped, already synced, not ended, running elsewhere).
  returned: always
  type: list
  elements: dict
  sample: [{epn: 15555a, equipment: 23, reason: "EPN number 15555 is not in epn_map (unknown ownership)"}]
failed_epns:
  description: Transfers that failed, with rsync's exit code and message.
  returned: always
  type: list
  elements: dict
errors: {}
imported:
  description: EPNs imported from O(ignore_file) on this first run.
  returned: always
  type: list
  elements: str
visits:
  description: Number of visits the portal listed.
  returned: always
  type: int
"""

import os

from ansible_collections.sciops.datasync.plugins.module_utils._epn.repatriate import Repatriation, epn_module


def main():
    module = epn_module(dict(
        only=dict(type="list", elements="str"),
        destination_root=dict(type="path", required=True),
        state_file=dict(type="path", required=True),
        ignore_file=dict(type="path"),
        lock_dir=dict(type="path"),
        max_tasks=dict(type="int", default=1),
        rsync_options=dict(type="list", elements="str"),
        rsync_extra_options=dict(type="list", elements="str", default=[]),
        rsync_path=dict(type="str", default="rsync"),
    ), libraries=(("yaml", "PyYAML"),))
    if module.params["lock_dir"] is None:
        module.params["lock_dir"] = os.path.dirname(os.path.abspath(module.params["state_file"]))
    Repatriation(module).run()


if __name__ == "__main__":
    main()
