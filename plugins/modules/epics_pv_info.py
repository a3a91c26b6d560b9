#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: epics_pv_info
short_description: Read beamline PVs over Channel Access
version_added: "0.1.0"
description:
  - Reads a list of process variables (O(prefix) + each of O(names)) over EPICS Channel Access
    with the pure-Python caproto client, as the xray-imaging C(globus) tool read the TomoScan user PVs.
  - All PVs are searched at once and the whole read is bounded by O(timeout).
  - An unreachable PV, a failed read or an empty value fails the module with a message naming the PV.
  - Values of the PVs listed in O(safe_names) must be usable as one path component and as an
    APS DM name; a value with V(/), V(..), spaces, quotes or shell or DM special characters is
    refused, naming the PV and the value.
author: sciops datasync maintainers (@sciops)
requirements:
  - caproto
extends_documentation_fragment:
  - sciops.datasync.attributes.info_module
options:
  prefix:
    description: Prefix put in front of every name, for example V(2bma:TomoScan:).
    type: str
    default: ""
  names:
    description: PV names (suffixes) to read, for example V(UserLastName).
    type: list
    elements: str
    required: true
  safe_names:
    description:
      - Names among O(names) whose values will become paths or DM names and must be safe.
    type: list
    elements: str
    default: []
  timeout:
    description: Seconds to wait for all PVs to connect and answer.
    type: float
    default: 2.0
  addr_list:
    description:
      - Space-separated addresses to search (EPICS_CA_ADDR_LIST). Unset keeps the environment's value.
    type: str
  auto_addr_list:
    description: Whether to also search every broadcast address (EPICS_CA_AUTO_ADDR_LIST). Unset keeps the environment's value.
    type: bool
  server_port:
    description: Channel Access server port (EPICS_CA_SERVER_PORT). Unset keeps the environment's value (default 5064).
    type: int
  repeater_port:
    description: Channel Access repeater port (EPICS_CA_REPEATER_PORT). Unset keeps the environment's value (default 5065).
    type: int
"""

EXAMPLES = r"""
- name: Read the TomoScan user PVs
  sciops.datasync.epics_pv_info:
    prefix: "2bma:TomoScan:"
    names: [ExperimentYearMonth, UserLastName, UserEmail, UserBadge, ProposalNumber, ProposalTitle]
    safe_names: [ExperimentYearMonth, UserLastName, ProposalNumber]
    timeout: 3
  register: user_pvs

- name: Show the PI's last name
  ansible.builtin.debug:
    msg: "{{ user_pvs.pv_values.UserLastName }}"
"""

RETURN = r"""
extends_documentation_fragment:
  - sciops.datasync.results
pv_values:
  description: Value of each PV read, by name (suffix). Strings are decoded; scalars are unwrapped.
  returned: always
  type: dict
  sample: {"UserLastName": "Lovelace", "ProposalNumber": "1001234"}
pvs:
  description: The same values by full PV name.
  returned: always
  type: dict
  sample: {"2bma:TomoScan:UserLastName": "Lovelace"}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sciops.datasync.plugins.module_utils._experiment.epics import run_module


def main():
    module = AnsibleModule(
        argument_spec=dict(
            prefix=dict(type="str", default=""),
            names=dict(type="list", elements="str", required=True),
            safe_names=dict(type="list", elements="str", default=[]),
            timeout=dict(type="float", default=2.0),
            addr_list=dict(type="str"),
            auto_addr_list=dict(type="bool"),
            server_port=dict(type="int"),
            repeater_port=dict(type="int"),
        ),
        supports_check_mode=True,
    )
    run_module(module)


if __name__ == "__main__":
    main()
