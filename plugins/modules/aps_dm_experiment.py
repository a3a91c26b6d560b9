#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: aps_dm_experiment
short_description: An APS Data Management experiment exists, with its users, metadata, DAQ and user emails
version_added: "0.1.0"
description:
  - Makes sure an experiment exists in the APS Data Management (DM) system, as C(globus init) of
    xray-imaging globus did. The experiment is created only when DM says it does not exist
    (Dm-Status-Code 14); any other lookup error fails the module instead of creating a duplicate.
  - Adds or removes experiment users (C(d<badge>), role V(User)), sets experiment metadata keys,
    starts a DAQ (automated upload of a directory) only when none is running for that experiment and
    directory, or stops every running DAQ of the experiment.
  - With O(notify), emails every experiment user who has not been emailed yet and records them in the
    experiment metadata key O(notify.metadata_key) (V(emailedUsers), as DMagic does), so each user gets
    the message once per experiment.
  - Logs in with the DM login file and logs in again once when the session expires (HTTP 401).
  - Check mode returns the plan; C(--diff) shows the experiment's users, running DAQs and emailed users
    before and after.
author: sciops datasync maintainers (@sciops)
extends_documentation_fragment:
  - sciops.datasync.attributes
  - sciops.datasync.web_api
  - sciops.datasync.mail.notify
options:
  name:
    description:
      - Experiment name, for example V(2026-11-Lovelace-1001234).
      - Refused when it holds characters DM does not allow (C(#%&} {\<>*?/$!:@'")) or C(..).
    type: str
    required: true
  station:
    description: DM station name, for example V(2-BM-A,B).
    type: str
    required: true
  create:
    description:
      - Create the experiment when DM says it does not exist. With V(false) a missing experiment fails
        the module (for steps that only manage an existing experiment).
    type: bool
    default: true
  type:
    description: Experiment type name, used when the experiment is created.
    type: str
    default: "2BM"
  description:
    description: Experiment description (the proposal title), used when the experiment is created.
    type: str
  root_path:
    description: Root path of the experiment's storage directory (V(YYYY-MM)), used when the experiment is created.
    type: str
  start_date:
    description: Start date V(YYYY-MM-DD) (or V(DD-Mon-YY)), used when the experiment is created.
    type: str
  end_date:
    description: End date V(YYYY-MM-DD) (or V(DD-Mon-YY)), used when the experiment is created.
    type: str
  users:
    description:
      - Badge numbers or DM usernames (C(d<badge>)). Unset leaves the users alone.
      - A value that is neither, or a user DM does not know, is reported in RV(errors) and the rest go on.
    type: list
    elements: str
  users_mode:
    description:
      - V(append) adds O(users) that are missing; V(exact) also removes users not in O(users);
        V(remove) removes O(users).
    type: str
    choices: [append, exact, remove]
    default: append
  metadata:
    description: Experiment metadata keys and values to set.
    type: dict
  daq:
    description:
      - V(started) starts a DAQ for O(daq_directory) unless one is already pending or running for this
        experiment and directory; V(stopped) stops every running DAQ of the experiment. Unset leaves DAQs alone.
    type: str
    choices: [started, stopped]
  daq_directory:
    description: Directory the DAQ uploads, a path or V(@host:/path). Required with O(daq=started).
    type: str
  daq_options:
    description: Extra DAQ task options sent as the C(taskInfo) JSON document.
    type: dict
  ds_url:
    description: URL of the DM DS web service (C(DM_DS_WEB_SERVICE_URL)).
    type: str
    required: true
  daq_url:
    description: URL of the DM DAQ web service (C(DM_DAQ_WEB_SERVICE_URL)); defaults to O(ds_url).
    type: str
  login_file:
    description: DM login file (C(DM_LOGIN_FILE)); its first line is C(username|password).
    type: path
    required: true
  fail_on_errors:
    description: Fail after applying the rest when a user was refused or could not be added or emailed.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: The experiment exists with the proposal's users
  sciops.datasync.aps_dm_experiment:
    name: 2026-11-Lovelace-1001234
    station: "2-BM-A,B"
    description: In situ tomography of difference engine gears
    root_path: "2026-11"
    start_date: "2026-11-22"
    end_date: "2026-11-27"
    users: ["300001", "300002", "200001"]
    ds_url: https://dm.example.org:22236
    daq_url: https://dm.example.org:33336
    login_file: /home/dm_bm/etc/.dm.login

- name: Remove one user
  sciops.datasync.aps_dm_experiment:
    name: 2026-11-Lovelace-1001234
    station: "2-BM-A,B"
    users: ["300002"]
    users_mode: remove
    ds_url: https://dm.example.org:22236
    login_file: /home/dm_bm/etc/.dm.login

- name: Start uploading the analysis directory
  sciops.datasync.aps_dm_experiment:
    name: 2026-11-Lovelace-1001234
    station: "2-BM-A,B"
    daq: started
    daq_directory: "@analysis1:/data/2026-11/2026-11-Lovelace-1001234"
    ds_url: https://dm.example.org:22236
    daq_url: https://dm.example.org:33336
    login_file: /home/dm_bm/etc/.dm.login

- name: Email users who have not been emailed yet
  sciops.datasync.aps_dm_experiment:
    name: 2026-11-Lovelace-1001234
    station: "2-BM-A,B"
    notify:
      sender: beamline-contact@example.org
      body: "{{ lookup('ansible.builtin.template', 'experiment_email.txt.j2') }}"
      host: smtp.example.org
      port: 587
      tls: starttls
    ds_url: https://dm.example.org:22236
    login_file: /home/dm_bm/etc/.dm.login
"""

RETURN = r"""
extends_documentation_fragment:
  - sciops.datasync.results
plan:
  description: The actions computed from the observed state (applied unless in check mode).
  returned: always
  type: list
  elements: dict
  sample: [{"action": "add_user", "username": "d300002"}, {"action": "start_daq", "directory": "/data/x"}]
experiment:
  description: The DM experiment document after the run (empty in check mode when it does not exist yet).
  returned: success
  type: dict
users:
  description: The experiment's users with badge, names and email.
  returned: success
  type: list
  elements: dict
  sample: [{"username": "d300001", "badge": "300001", "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.org"}]
daqs:
  description: DAQs of the experiment still pending or running after the run.
  returned: success
  type: list
  elements: dict
emailed:
  description: Usernames emailed in this run.
  returned: success
  type: list
  elements: str
errors: {}
dm_status_code:
  description: The DM status code of the error that failed the module.
  returned: failure
  type: int
"""

from ansible_collections.sciops.datasync.plugins.module_utils._core.http import web_api_module
from ansible_collections.sciops.datasync.plugins.module_utils._experiment.dm import run_module
from ansible_collections.sciops.datasync.plugins.module_utils._core.mail import smtp_options


def main():
    argument_spec = dict(
        name=dict(type="str", required=True),
        station=dict(type="str", required=True),
        create=dict(type="bool", default=True),
        type=dict(type="str", default="2BM"),
        description=dict(type="str"),
        root_path=dict(type="str"),
        start_date=dict(type="str"),
        end_date=dict(type="str"),
        users=dict(type="list", elements="str"),
        users_mode=dict(type="str", choices=["append", "exact", "remove"], default="append"),
        metadata=dict(type="dict"),
        daq=dict(type="str", choices=["started", "stopped"]),
        daq_directory=dict(type="str"),
        daq_options=dict(type="dict"),
        notify=dict(type="dict", options=smtp_options(
            enabled=dict(type="bool", default=True),
            body=dict(type="str", required=True),
            subject=dict(type="str", default="Important information on APS experiment"),
            sender=dict(type="str", required=True),
            cc=dict(type="list", elements="str"),
            metadata_key=dict(type="str", default="emailedUsers", no_log=False),
        )),
        ds_url=dict(type="str", required=True),
        daq_url=dict(type="str"),
        login_file=dict(type="path", required=True),
        fail_on_errors=dict(type="bool", default=True),
    )
    run_module(web_api_module(argument_spec))


if __name__ == "__main__":
    main()
