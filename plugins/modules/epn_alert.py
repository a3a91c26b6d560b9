#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: epn_alert
short_description: Email about synchrotron EPNs whose owner is unknown (ASSyncy epnalert)
version_added: "0.1.0"
description:
  - Lists the EPN folders under C(<source_root>/<beamline>/) on O(source_host) over SFTP (the host key is checked
    against O(known_hosts)), keeps those whose number is not a key of O(epn_map), and looks up their visits on the
    synchrotron portal.
  - Sends one email, subject O(subject), with a text and an HTML part rendered from Jinja templates (the HTML is
    autoescaped), naming each EPN's principal scientist and data scientists. Nothing is sent when no unknown EPN has a
    visit.
  - Each EPN is alerted once, remembered in O(state_file), unless O(realert_after_days) have passed.
  - In check mode the email is rendered and returned, not sent, and nothing is recorded.
  - EPN folder names that are not C(<digits><letters>) are refused by name and listed in RV(errors).
author: sciops datasync maintainers (@sciops)
extends_documentation_fragment:
  - sciops.datasync.attributes
  - sciops.datasync.epn
  - sciops.datasync.mail
attributes:
  diff_mode:
    support: none
options:
  state_file:
    description: JSON state file remembering which EPNs were alerted, and when.
    type: path
    required: true
  realert_after_days:
    description: Alert again about an EPN still unknown this many days after the last alert. Never, when omitted.
    type: int
  subject:
    description: The email subject.
    type: str
    default: Unknown ownership of EPNs
  template_text:
    description:
      - Jinja template of the text part. Variables are C(epns) (each with C(epn), C(beamline), C(start_time),
        C(end_time), C(principal_scientist) and C(data_scientists), people having C(name) and C(email)), C(count),
        C(source), C(generated) and C(visit_day_range).
      - A built-in template is used when omitted; the C(sciops.datasync.mxsync) role installs a copy you can replace.
    type: path
  mail:
    description:
      - Where the alert goes and how (see the suboptions).
      - O(mail.to) must name at least one recipient.
    required: true
  template_html:
    description: Jinja template of the HTML part (autoescaped), with the variables of O(template_text).
    type: path
requirements:
  - paramiko, jinja2 and PyYAML (Python)
seealso:
  - module: sciops.datasync.epn_repatriate
"""

EXAMPLES = r"""
- name: Tell the helpdesk about EPNs nobody has mapped yet
  sciops.datasync.epn_alert:
    portal_url: https://portal.synchrotron.org.au
    credentials_file: /etc/datasync/mxsync/portal.yml
    equipment: [{id: 23, beamline: MX1}]
    epn_map: {"12282": ny79}
    source_host: sftp.synchrotron.org.au
    source_user: mxdata
    key_file: /etc/datasync/mxsync/mx_key
    known_hosts: /etc/datasync/mxsync/known_hosts
    state_file: /var/lib/datasync/mxsync/epn_alert.json
    realert_after_days: 30
    template_text: /etc/datasync/mxsync/epnalert-text.j2
    template_html: /etc/datasync/mxsync/epnalert-html.j2
    mail:
      to: [helpdesk@example.edu]
      sender: mxsync@example.edu
      host: smtp.example.edu
      tls: starttls
"""

RETURN = r"""
extends_documentation_fragment:
  - sciops.datasync.results
alerted:
  description: EPNs in the email (sent, or rendered in check mode).
  returned: always
  type: list
  elements: str
  sample: [15555a]
epns:
  description: The alerted EPNs with their beamline, visit times, principal scientist and data scientists.
  returned: always
  type: list
  elements: dict
skipped_epns:
  description: Unknown EPN folders not alerted, with the reason (no visit, already alerted).
  returned: always
  type: list
  elements: dict
errors: {}
sent:
  description: Whether an email was sent.
  returned: always
  type: bool
subject:
  description: The subject.
  returned: always
  type: str
to:
  description: The recipients.
  returned: always
  type: list
  elements: str
text:
  description: The text part.
  returned: when there is something to alert
  type: str
html:
  description: The HTML part.
  returned: when there is something to alert
  type: str
message_id:
  description: Message-ID of the email sent.
  returned: when sent
  type: str
"""

from ansible_collections.sciops.datasync.plugins.module_utils._epn.repatriate import epn_module
from ansible_collections.sciops.datasync.plugins.module_utils._epn.alert import run_alert
from ansible_collections.sciops.datasync.plugins.module_utils._core.mail import mail_argument_spec


def main():
    run_alert(epn_module(dict(
        state_file=dict(type="path", required=True),
        realert_after_days=dict(type="int"),
        subject=dict(type="str", default="Unknown ownership of EPNs"),
        template_text=dict(type="path"),
        template_html=dict(type="path"),
        **mail_argument_spec(required=True)
    ), libraries=(("paramiko", "paramiko"), ("jinja2", "jinja2"), ("yaml", "PyYAML"))))


if __name__ == "__main__":
    main()
