# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""EPN alert (ASSyncy's epnalert as a module). Private to sciops.datasync: not a public API.

List the EPN folders on the source over SFTP (paramiko, host key checked against
known_hosts), keep those whose number is not in the EPN map, look up their visits on
the portal, and send one email (text + HTML from Jinja templates, the HTML
autoescaped) naming each EPN's principal scientist and data scientists. Each EPN is
alerted once (remembered in a state file) unless ``realert_after_days`` has passed.
"""

from __future__ import annotations

import datetime
import os
import stat

from ansible_collections.sciops.datasync.plugins.module_utils._epn.repatriate import (
    epn_map_problems, epn_number, epn_problem, equipment_beamlines, list_portal_visits, now_utc,
)
from ansible_collections.sciops.datasync.plugins.module_utils._core.mail import MailError, mail_settings, send_mail
from ansible_collections.sciops.datasync.plugins.module_utils._core.results import error, reasons_text
from ansible_collections.sciops.datasync.plugins.module_utils._core.rsync import escape_text
from ansible_collections.sciops.datasync.plugins.module_utils._core.ssh import host_label
from ansible_collections.sciops.datasync.plugins.module_utils._core.state import StateError, StateFile
from ansible_collections.sciops.datasync.plugins.module_utils._epn.portal import PortalError, iso_utc, parse_time

STATE_SCHEMA = "sciops.datasync.epn_alert"
STATE_VERSION = 1

DEFAULT_TEXT_TEMPLATE = """\
The following EPNs have data on {{ source }} but no project folder is mapped for them,
so they are not being repatriated. Please find out who owns them and add their EPN
numbers to the EPN map.
{% for item in epns %}
EPN {{ item.epn }} ({{ item.beamline }}, visit {{ item.start_time }} - {{ item.end_time }})
  Principal scientist: {{ item.principal_scientist.name }} <{{ item.principal_scientist.email }}>
{%- for person in item.data_scientists %}
  Data scientist: {{ person.name }} <{{ person.email }}>
{%- endfor %}
{% endfor %}
sent by sciops.datasync epn_alert ({{ count }} EPN{{ 's' if count != 1 }})
"""

DEFAULT_HTML_TEMPLATE = """\
<html><body>
<p>The following EPNs have data on {{ source }} but no project folder is mapped for them, so they are
not being repatriated. Please find out who owns them and add their EPN numbers to the EPN map.</p>
<table border="1" cellpadding="4" cellspacing="0">
<tr><th>EPN</th><th>Beamline</th><th>Visit</th><th>Principal scientist</th><th>Data scientists</th></tr>
{% for item in epns %}<tr><td>{{ item.epn }}</td><td>{{ item.beamline }}</td><td>{{ item.start_time }} &ndash; {{ item.end_time }}</td>
<td><a href="mailto:{{ item.principal_scientist.email }}">{{ item.principal_scientist.name }}</a></td>
<td>{% for person in item.data_scientists %}<a href="mailto:{{ person.email }}">{{ person.name }}</a>{{ ", " if not loop.last }}{% endfor %}</td></tr>
{% endfor %}</table>
<p><small>sent by sciops.datasync epn_alert ({{ count }} EPN{{ 's' if count != 1 }})</small></p>
</body></html>
"""


class SourceError(Exception):
    """The source could not be listed (connection, host key, permissions)."""


def list_source_epns(params, beamlines):
    """``{beamline: [folder names]}`` under ``<source_root>/<beamline>`` over SFTP, with the
    module's ``source_host``, ``source_port``, ``source_user``, ``key_file``, ``known_hosts``
    and ``connect_timeout`` (``params``).

    The host key must be in ``known_hosts`` (or the user's known_hosts when None):
    paramiko's RejectPolicy refuses unknown keys, and a changed key raises.
    """
    import paramiko

    host, port, user, known_hosts = params["source_host"], params["source_port"], params["source_user"], params["known_hosts"]
    timeout = params["connect_timeout"]
    client = paramiko.SSHClient()
    label = host_label(host, port)
    try:
        if known_hosts:
            if not os.path.isfile(known_hosts):
                raise SourceError("known_hosts file %s does not exist: add the source's host key there first" % known_hosts)
            client.load_host_keys(known_hosts)
        else:
            client.load_system_host_keys()
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            client.connect(host, port=port, username=user, key_filename=params["key_file"], look_for_keys=False, allow_agent=False,
                           timeout=timeout, banner_timeout=timeout, auth_timeout=timeout)
        except paramiko.BadHostKeyException:
            raise SourceError("SFTP to %s refused: its host key does not match the one recorded in %s; nothing was listed. "
                              "Verify the new key with the facility and update known_hosts (keys are never accepted silently)"
                              % (label, known_hosts or "the user's known_hosts"))
        except paramiko.SSHException as exc:
            if "not found in known_hosts" in str(exc):
                raise SourceError("SFTP to %s refused: its host key is not recorded in %s" % (label, known_hosts or "the user's known_hosts"))
            raise SourceError("SFTP to %s as %s failed: %s" % (label, user, exc))
        except OSError as exc:
            raise SourceError("SFTP to %s failed: %s" % (label, exc))
        sftp = client.open_sftp()
        found = {}
        for beamline in beamlines:
            folder = "%s/%s" % (params["source_root"].rstrip("/"), beamline)
            try:
                entries = sftp.listdir_attr(folder)
            except OSError as exc:
                raise SourceError("SFTP %s: cannot list %s: %s" % (label, folder, exc))
            found[beamline] = sorted(e.filename for e in entries if stat.S_ISDIR(e.st_mode or 0))
        return found
    finally:
        client.close()


def plan_alert(source_epns, epn_map, visits, alerted, now, realert_after_days=None):
    """Which EPN folders to alert about. Pure.

    ``source_epns`` is ``{beamline: [names]}``; ``visits`` visit records; ``alerted``
    ``{epn: {"at": iso}}``. Returns ``{"alert": [...], "skipped": [...], "errors": [...]}``.
    """
    by_epn = {}
    for visit in sorted(visits, key=lambda v: v.get("end_time") or ""):
        by_epn[visit.get("epn")] = visit
    alert, skipped, errors = [], [], []
    for beamline in sorted(source_epns):
        for name in source_epns[beamline]:
            if name.startswith("."):
                continue
            problem = epn_problem(name, "EPN folder")
            if problem:
                errors.append(error(name, "%s: refused %s" % (beamline, problem)))
                continue
            number = epn_number(name)
            if number in epn_map:
                continue
            visit = by_epn.get(name)
            if visit is None:
                skipped.append({"epn": name, "beamline": beamline, "reason": "no visit found on the portal in the day range"})
                continue
            previous = (alerted.get(name) or {}).get("at")
            if previous:
                when = parse_time(previous)
                if realert_after_days is None or (when and now - when < datetime.timedelta(days=realert_after_days)):
                    skipped.append({"epn": name, "beamline": beamline, "reason": "already alerted (%s)" % previous})
                    continue
            alert.append({
                "epn": name, "beamline": beamline, "equipment": visit.get("equipment"),
                "start_time": visit.get("start_time"), "end_time": visit.get("end_time"),
                "principal_scientist": visit.get("principal_scientist") or {},
                "data_scientists": visit.get("data_scientists") or [],
                "previously_alerted": previous,
            })
    return {"alert": alert, "skipped": skipped, "errors": errors}


def _safe_value(value):
    return escape_text(value) if isinstance(value, str) else value


def render_email(items, context, template_text=None, template_html=None):
    """``(text, html)`` from Jinja templates (files, or the built-in ones); HTML autoescaped."""
    import jinja2

    def load(path, default):
        if not path:
            return default
        with open(path, "r") as handle:
            return handle.read()

    values = dict(context, epns=items, count=len(items))
    # Values from the portal and the source (names, emails, EPN folders) never put raw control
    # characters in the mail: every {{ value }} of both templates is escaped as rsync escapes names.
    text_env = jinja2.Environment(autoescape=False, keep_trailing_newline=True, undefined=jinja2.StrictUndefined, finalize=_safe_value)
    html_env = jinja2.Environment(autoescape=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined, finalize=_safe_value)
    text = text_env.from_string(load(template_text, DEFAULT_TEXT_TEMPLATE)).render(values)
    html = html_env.from_string(load(template_html, DEFAULT_HTML_TEMPLATE)).render(values)
    return text, html


def run_alert(module):
    params = module.params
    if not params["mail"].get("to"):
        module.fail_json(msg="mail.to must name at least one recipient")
    now = now_utc()
    errors, failures = [], []
    epn_map, map_errors = epn_map_problems(params["epn_map"])
    errors.extend(map_errors)
    state_file = StateFile(params["state_file"], STATE_SCHEMA, STATE_VERSION)
    try:
        state = state_file.load({"alerted": {}})
    except (StateError, OSError) as exc:
        module.fail_json(msg="cannot read the alert state: %s" % exc)

    pairs, refused = equipment_beamlines(params)
    errors.extend(refused)
    beamlines = sorted({b for _eq, b in pairs})
    try:
        source_epns = list_source_epns(params, beamlines)
    except SourceError as exc:
        module.fail_json(msg=str(exc), errors=errors)

    start = now - datetime.timedelta(days=params["visit_day_range"])
    try:
        visits, refused, portal_failures = list_portal_visits(params, start, now, module.no_log_values)
    except PortalError as exc:
        module.fail_json(msg=str(exc), errors=errors)
    errors.extend(refused)
    failures.extend(portal_failures)

    plan = plan_alert(source_epns, epn_map, visits, state["alerted"], now, params["realert_after_days"])
    errors.extend(plan["errors"])
    items = plan["alert"]
    mail = params["mail"]
    result = {
        "changed": False, "alerted": [i["epn"] for i in items], "epns": items, "skipped_epns": plan["skipped"],
        "errors": errors + failures, "sent": False, "subject": params["subject"], "to": list(mail["to"]),
    }
    if items:
        context = {"source": host_label(params["source_host"], params["source_port"]), "generated": iso_utc(now),
                   "visit_day_range": params["visit_day_range"]}
        try:
            text, html = render_email(items, context, params["template_text"], params["template_html"])
        except Exception as exc:  # jinja2 errors of a replaced template: name the template
            module.fail_json(msg="rendering the alert templates failed: %s" % exc, **result)
        result.update(text=text, html=html, changed=True)
        if not module.check_mode:
            try:
                result["message_id"] = send_mail(subject=params["subject"], text=text, html=html, **mail_settings(mail))
            except MailError as exc:
                module.fail_json(msg="the alert email was not sent: %s" % exc, **result)
            result["sent"] = True
            for item in items:
                state["alerted"][item["epn"]] = {"at": iso_utc(now), "to": list(mail["to"])}
            state_file.save(state)
    if failures:
        module.fail_json(msg=reasons_text(failures), **result)
    module.exit_json(**result)
