# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

# The SMTP server suboptions, written once for the three fragments below (module_utils/_core/mail.py
# SMTP_OPTIONS, smtp_options()); {option} is the option that holds them, for the O() references.
_SMTP_SUBOPTIONS = r"""
      host:
        description: The SMTP server.
        type: str
        default: localhost
      port:
        description: The SMTP port; V(25), or V(465) with O({option}.tls=ssl).
        type: int
      tls:
        description:
          - V(none) (plain SMTP), V(starttls) or V(ssl) (SMTPS); overrides O({option}.starttls).
          - When omitted, V(starttls) if O({option}.starttls) is set, else V(none).
          - Certificates and the host name are always verified, against O({option}.ca_bundle) or the system store.
          - A login (O({option}.credentials_file)) over V(none) is refused, as it would send the password in clear,
            unless O({option}.host) is a loopback address (V(localhost), V(127.0.0.1), V(::1)).
        type: str
        choices: [none, starttls, ssl]
      starttls:
        description: Use STARTTLS; the same as O({option}.tls=starttls).
        type: bool
        default: false
      credentials_file:
        description:
          - File with C(user:password) (or a user line and a password line) for SMTP login; mode V(0600) or V(0400).
          - The credentials never appear in arguments, logs or results.
        type: path
      ca_bundle:
        description: CA bundle to verify the SMTP server's certificate with; the system store when omitted.
        type: path
      timeout:
        description: SMTP timeout in seconds.
        type: int
        default: 30"""

# The ``mail`` option of every mailing module (module_utils/_core/mail.py mail_argument_spec()).
# A module may override the option's own description or required flag in its DOCUMENTATION.
_MAIL = r"""
options:
  mail:
    description: Where the email goes and how. Nothing is sent without O(mail.to).
    type: dict
    suboptions:
      to:
        description: Recipient addresses.
        type: list
        elements: str
        default: []
      sender:
        description: The From address; C(datasync@<fqdn>) when omitted.
        type: str
      subject_prefix:
        description: Text put before the subject.
        type: str""" + _SMTP_SUBOPTIONS.format(option="mail")

# globus_collection_sync's summary settings (mail_argument_spec(extra=...) with these two).
_RUN_SUMMARY = r"""
      when:
        description:
          - V(ended) when a task ended during the run or a sync failed; V(transferred) when a task
            that ended had copied files; V(failed) when a task failed or a sync had an error; V(always).
        type: str
        choices: [always, ended, transferred, failed]
        default: ended
      file_manager_url:
        description: Base of the file-manager link put in the email.
        type: str
        default: https://app.globus.org/file-manager
"""

# aps_dm_experiment's ``notify``: its own message settings plus the same SMTP server options.
_NOTIFY = r"""
options:
  notify:
    description:
      - Email the experiment users who were not emailed yet (one message per user) and remember them
        in the experiment metadata.
    type: dict
    suboptions:
      enabled:
        description: Whether to send at all.
        type: bool
        default: true
      body:
        description: The message text (for example rendered from a template with the file-manager link).
        type: str
        required: true
      subject:
        description: Message subject.
        type: str
        default: Important information on APS experiment
      sender:
        description: From address (the primary beamline contact).
        type: str
        required: true
      cc:
        description: Addresses copied on every message.
        type: list
        elements: str
      metadata_key:
        description: Experiment metadata key that lists the emailed usernames, comma-separated.
        type: str
        default: emailedUsers""" + _SMTP_SUBOPTIONS.format(option="notify") + "\n"


class ModuleDocFragment:
    # Annotated, as they are built from the texts above: ansible-test's yamllint reads only plain
    # literal assignments here; validate-modules checks the docs these render into.
    DOCUMENTATION: str = _MAIL + "\n"
    RUN_SUMMARY: str = _MAIL + _RUN_SUMMARY
    NOTIFY: str = _NOTIFY
