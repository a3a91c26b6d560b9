#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: aps_beamtime_info
short_description: The current run's beamtime for a beamline from the APS scheduling API
version_added: "0.1.0"
description:
  - Reads the APS scheduling (beam-api) service with HTTP Basic auth, finds the run that covers
    O(date) (today by default) and returns the beamline's activities in that run with their proposal
    id, title, dates and experimenters (badge, name, email, institution, PI flag).
  - RV(beamtime) is the activity of O(proposal) when given, else the activity running at O(date).
author: sciops datasync maintainers (@sciops)
extends_documentation_fragment:
  - sciops.datasync.attributes.info_module
  - sciops.datasync.web_api
options:
  url:
    description: Base URL of the scheduling service (the part before C(/beamline-scheduling)).
    type: str
    required: true
  credentials_file:
    description: File whose first line is C(username|password).
    type: path
    required: true
  beamline:
    description: Beamline id as the scheduling system spells it, for example V(2-BM-A,B).
    type: str
    required: true
  run:
    description: Run name (for example V(2026-3)) instead of the run covering O(date).
    type: str
  date:
    description: Date V(YYYY-MM-DD) or ISO time to look at; defaults to now.
    type: str
  proposal:
    description: Return the activity of this proposal (GUP id) as RV(beamtime).
    type: str
  require:
    description: Fail when no activity matches.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Who is on the beamline today
  sciops.datasync.aps_beamtime_info:
    url: https://beam-api.aps.anl.gov
    credentials_file: /home/dm_bm/etc/.scheduling.login
    beamline: "2-BM-A,B"
  register: beamtime

- name: Show the proposal and its PI
  ansible.builtin.debug:
    msg: "{{ beamtime.beamtime.proposal_id }} {{ beamtime.beamtime.pi.last_name }}"
"""

RETURN = r"""
run:
  description: The run looked at.
  returned: always
  type: dict
  sample: {"name": "2026-3", "start": "2026-10-01T08:00:00.000-0600", "end": "2027-01-01T08:00:00.000-0600"}
activities:
  description: Every activity of the beamline in the run.
  returned: always
  type: list
  elements: dict
beamtime:
  description:
    - The chosen activity (empty when none) with C(activity_id), C(start), C(end), C(proposal_id), C(title),
      C(experimenters) (each with C(badge), C(first_name), C(last_name), C(email), C(institution), C(pi)) and C(pi).
  returned: always
  type: dict
  sample: {"proposal_id": "1001234", "title": "In situ tomography", "pi": {"badge": "300001", "last_name": "Lovelace"}}
"""

from ansible_collections.sciops.datasync.plugins.module_utils._core.http import web_api_module
from ansible_collections.sciops.datasync.plugins.module_utils._experiment.beamtime import run_module


def main():
    argument_spec = dict(
        url=dict(type="str", required=True),
        credentials_file=dict(type="path", required=True),
        beamline=dict(type="str", required=True),
        run=dict(type="str"),
        date=dict(type="str"),
        proposal=dict(type="str"),
        require=dict(type="bool", default=False),
    )
    run_module(web_api_module(argument_spec))


if __name__ == "__main__":
    main()
