# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection sync summary email: when it goes out and its text. Private to sciops.datasync: not a public API.

Per sync: status, counts, bytes, the destination path and a file-manager link to it;
sent with the shared SMTP sender (``_mail``) when ``mail.when`` matches the run.
"""

from __future__ import annotations

from urllib.parse import quote

FILE_MANAGER_URL = "https://app.globus.org/file-manager"


def file_manager_link(collection, path, base=FILE_MANAGER_URL):
    return "%s?origin_id=%s&origin_path=%s" % (base, collection, quote(path, safe=""))


def human_bytes(count):
    count = float(count or 0)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if count < 1024 or unit == "TiB":
            return ("%d %s" % (count, unit)) if unit == "B" else ("%.1f %s" % (count, unit))
        count /= 1024.0
    return "%d B" % count  # pragma: no cover


def email_wanted(when, results, errors):
    """Whether this run's summary email goes out: always, ended, transferred or failed."""
    ended = [r["ended_task"] for r in results if r.get("ended_task")]
    if when == "always":
        return True
    if when == "failed":
        return bool(errors) or any(task.get("status") == "FAILED" for task in ended)
    if when == "transferred":
        return any(task.get("files_transferred") for task in ended)
    return bool(ended) or bool(errors)


def _task_lines(task, indent="  "):
    nice = task.get("nice_status")
    lines = [
        "%sStatus: %s%s" % (indent, task.get("status"), (" (%s)" % nice) if nice and nice != task.get("status") else ""),
        "%sTask: %s" % (indent, task.get("task_id")),
        "%sRequested: %s" % (indent, task.get("request_time") or "-"),
        "%sCompleted: %s" % (indent, task.get("completion_time") or "-"),
        "%sDeadline: %s" % (indent, task.get("deadline") or "-"),
        "%sFiles: %s, transferred: %s, skipped: %s" % (indent, task.get("files") or 0, task.get("files_transferred") or 0, task.get("files_skipped") or 0),
        "%sBytes transferred: %s (%s)" % (indent, task.get("bytes_transferred") or 0, human_bytes(task.get("bytes_transferred"))),
    ]
    fatal = task.get("fatal_error")
    if fatal:
        lines.append("%sFatal error: %s %s" % (indent, fatal.get("code", ""), fatal.get("description", "")))
    return lines


def summary_email(results, errors, hostname, file_manager_url=FILE_MANAGER_URL):
    """Subject and plain-text body of the run summary. Pure."""
    statuses = []
    for result in results:
        for task in (result.get("task"), result.get("ended_task")):
            if task:
                statuses.append(task.get("status"))
    if errors or "FAILED" in statuses:
        overall = "FAILED"
    elif "ACTIVE" in statuses or "INACTIVE" in statuses:
        overall = "ACTIVE"
    else:
        overall = "OK"
    count = len(results)
    subject = "Collection sync on %s: %s (%d sync%s)" % (hostname, overall, count, "" if count == 1 else "s")
    lines = ["Collection sync summary from %s" % hostname, ""]
    for result in results:
        task = result.get("task")
        previous = result.get("previous")
        lines.append("Sync: %s" % result["name"])
        lines.append("  Action this run: %s" % result.get("action"))
        if result.get("error"):
            lines.append("  Error: %s" % result["error"])
        if task:
            lines.extend(_task_lines(task))
        elif not result.get("error"):
            lines.append("  Status: no task")
        if previous and (not task or previous.get("task_id") != task.get("task_id")):
            lines.append("  Previous task (ended):")
            lines.extend(_task_lines(previous, "    "))
        lines.append("  Source: collection %s path %s" % (result["source_collection"], result["source_path"]))
        lines.append("  Destination path: %s (collection %s)" % (result["destination_path"], result["destination_collection"]))
        lines.append("  File manager: %s" % file_manager_link(result["destination_collection"], result["destination_path"], file_manager_url))
        for event in result.get("error_events") or []:
            lines.append("  Error event: %s %s %s" % (event.get("time") or "", event.get("code") or "", event.get("description") or ""))
        lines.append("")
    for error in errors:
        if not any(error == r.get("error") for r in results):
            lines.append("Error: %s" % error)
    return subject, "\n".join(lines).rstrip() + "\n"


def send_summary(module, results, errors):
    """Send the run summary when asked; returns the ``mail`` result (or None)."""
    from ansible_collections.sciops.datasync.plugins.module_utils._core.mail import (  # pylint: disable=import-outside-toplevel
        MailError, mail_settings, send_mail)
    import socket  # pylint: disable=import-outside-toplevel

    options = module.params.get("mail")
    settings = mail_settings({k: v for k, v in (options or {}).items() if k not in ("when", "file_manager_url")})
    if not settings:
        return None
    hostname = socket.getfqdn()
    subject, text = summary_email(results, errors, hostname, options.get("file_manager_url") or FILE_MANAGER_URL)
    outcome = {"to": settings["to"], "subject": subject, "sent": False}
    if not email_wanted(options.get("when") or "ended", results, errors):
        outcome["reason"] = "mail.when=%s did not match this run" % (options.get("when") or "ended")
        return outcome
    if module.check_mode:
        outcome["reason"] = "check mode"
        return outcome
    try:
        outcome["message_id"] = send_mail(subject=subject, text=text, **settings)
        outcome["sent"] = True
    except MailError as exc:
        outcome["error"] = str(exc)
        module.warn("summary email not sent: %s" % exc)
    return outcome
