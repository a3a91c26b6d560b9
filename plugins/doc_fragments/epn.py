# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The synchrotron portal, the equipment, the EPN map and the ssh source: shared by
    # epn_repatriate and epn_alert.
    DOCUMENTATION = r"""
options:
  portal_url:
    description: Base URL of the synchrotron portal, for example V(https://portal.synchrotron.org.au).
    type: str
    required: true
  credentials_file:
    description:
      - "YAML (or JSON) file with the portal credentials of every equipment, in ASSyncy's shape
        C(equipment: [{id, username, password, client_name, client_password}]). An ASSyncy C(config.yml) works as it is."
      - Keep it mode 0600; the secrets never appear in arguments, logs or results.
    type: path
    required: true
  validate_certs:
    description: Verify the portal's TLS certificate.
    type: bool
    default: true
  ca_bundle:
    description: CA bundle to verify the portal's certificate with, instead of the system's.
    type: path
  portal_timeout:
    description: Seconds to wait for one portal answer.
    type: int
    default: 30
  portal_retries:
    description:
      - How many times a portal call answered with 5xx (or a connection error) is retried, with exponential backoff.
      - A call answered with 401 logs in again once.
    type: int
    default: 3
  portal_backoff:
    description: Seconds before the first retry; doubled for each further retry.
    type: float
    default: 1.0
  equipment:
    description: The equipment (beamlines) whose visits are looked up, each with its own credentials in O(credentials_file).
    type: list
    elements: dict
    required: true
    suboptions:
      id:
        description: The portal's equipment id.
        type: int
        required: true
      beamline:
        description: The beamline folder on the source (C(<source_root>/<beamline>/<epn>)); defaults to O(beamline).
        type: str
  beamline:
    description: Beamline folder for equipment entries that do not name one.
    type: str
  epn_map:
    description:
      - EPN number to project folder, for example C(12282 -> ny79). EPN C(12282a) belongs to project C(ny79).
      - A project folder with C(..), C(/) or a leading C(-) is refused by name.
    type: dict
    required: true
  visit_day_range:
    description: How many days back to look for visits.
    type: int
    default: 200
  source_host:
    description: The synchrotron's ssh (rsync, SFTP) host.
    type: str
    required: true
  source_port:
    description: Its ssh port.
    type: int
    default: 22
  source_user:
    description: The ssh user (ASSyncy hard-coded it).
    type: str
    required: true
  source_root:
    description: Absolute path of the data folder on the source, holding C(<beamline>/<epn>/).
    type: str
    default: /data
  key_file:
    description: The ssh private key (mode 0600).
    type: path
    required: true
  known_hosts:
    description:
      - known_hosts file holding the source's host key; the only keys accepted. Without it, the user's known_hosts is used.
      - Host keys are always checked; an unknown or changed key stops the connection with an error.
    type: path
  connect_timeout:
    description: ssh connect timeout in seconds.
    type: int
    default: 30
"""
