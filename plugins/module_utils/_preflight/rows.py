# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rows of a pre-flight check. Private to sciops.datasync: not a public API.

A row is one thing a job needs, checked once: ``check`` (what kind of thing), ``item``
(which one: a file, URL, collection, PV prefix), ``result`` (``ok``, ``failed`` or
``skipped`` when an earlier row it depends on failed), ``detail`` (what was seen) and
``fix`` (what an operator does about a failure; empty otherwise). Only ``failed`` rows
make the pre-flight fail; each becomes one ``errors`` entry (``_core.results``).
"""

from __future__ import annotations

from ansible_collections.sciops.datasync.plugins.module_utils._core.results import error

OK = "ok"
FAILED = "failed"
SKIPPED = "skipped"


def row(check, item, result, detail, fix=""):
    """One row; ``fix`` is kept only for a failure."""
    return {"check": check, "item": str(item), "result": result, "detail": str(detail),
            "fix": fix if result == FAILED else ""}


def ok(check, item, detail):
    return row(check, item, OK, detail)


def failed(check, item, detail, fix):
    return row(check, item, FAILED, detail, fix)


def skipped(check, item, detail):
    return row(check, item, SKIPPED, detail)


def errors_of(rows):
    """The ``errors`` entries of the failed rows: item '<check>: <item>', reason the detail."""
    return [error("%s: %s" % (r["check"], r["item"]), r["detail"], check=r["check"], fix=r["fix"])
            for r in rows if r["result"] == FAILED]
