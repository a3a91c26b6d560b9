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


def itemized(entries, *keys):
    """``entries`` (dicts with a ``reason`` and keys of their own) as ``errors`` entries.

    The ``item`` of each is the first of ``keys`` it holds a value for (an entry that
    already has an ``item`` keeps it); every other key stays as an extra key.
    """
    shaped = []
    for entry in entries:
        item = entry.get("item")
        if item is None:
            item = next((entry[key] for key in keys if entry.get(key) is not None), None)
        extra = {key: value for key, value in entry.items() if key not in ("item", "reason")}
        shaped.append(error(item, entry.get("reason"), **extra))
    return shaped


def exit_module(module, result):
    """End the module: ``diff`` only with --diff, and a failure naming every error when there is one."""
    diff = result.pop("diff", None)
    if module._diff and diff:
        result["diff"] = diff
    if result["errors"]:
        module.fail_json(msg=reasons_text(result["errors"]), **result)
    module.exit_json(**result)
