# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one shape of a module's ``errors``. Private to sciops.datasync: not a public API.

Every module returns ``errors`` as a list of ``{"item": <what was refused or failed: a
name, path, EPN, pool module, sync, PV, identity or group>, "reason": <message naming
it>}``, plus extra keys where useful (documented once in the ``sciops.datasync.results``
doc fragment). ``error()`` builds one entry; ``reasons_text()`` joins the reasons for a
module's ``msg``.
"""

from __future__ import annotations


def error(item, reason, **extra):
    """One ``errors`` entry: ``item`` (what it is about, as text) and ``reason``, plus ``extra`` keys."""
    entry = {"item": None if item is None else str(item), "reason": str(reason)}
    entry.update(extra)
    return entry


def reasons(errors):
    """The reasons of ``errors`` entries, in order."""
    return [entry["reason"] for entry in errors]


def reasons_text(errors, separator="; "):
    """The reasons of ``errors`` joined for a message."""
    return separator.join(reasons(errors))
