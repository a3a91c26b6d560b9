"""A second slapd of the same recipe (tests/lab/services/slapd.py) with the rfc2307bis schema instead of nis: the
directory for the identity sync's group_schema rfc2307bis (groupOfNames + posixGroup with member DNs).

The schema is server-wide in slapd and rfc2307bis redefines nis's object classes under the same OIDs
(posixGroup becomes auxiliary, so a group needs a structural class such as groupOfNames), so the two
cannot share one slapd. Debian's slapd ships nis only; the rfc2307bis schema (draft-howard-rfc2307bis)
comes from Debian's gosa-schema package (/etc/ldap/schema/gosa/rfc2307bis.ldif). No host reads it.
"""

from tests.lab.services.slapd import Directory

NAME = "slapd_rfc2307bis"
ORDER = 26
PORT = 6637
STARTTLS_PORT = 3390
SCHEMAS = ("core", "cosine", "gosa/rfc2307bis")

DIRECTORY = Directory(NAME, PORT, STARTTLS_PORT, SCHEMAS)
prepare = DIRECTORY.prepare
command = DIRECTORY.command
ready = DIRECTORY.ready
endpoints = DIRECTORY.endpoints
