# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""APS scheduling (beam-api) client for aps_beamtime_info.

Private to sciops.datasync: not a public API.

HTTP Basic auth from a credentials file (``user|password``, read by ``_core.secrets``); requests go
through ``_core.http`` (TLS verified, no redirect to another origin with the credentials, 429/5xx
retried honouring Retry-After); the password and the Basic token are in the module's no_log values. The current run is the
one whose start/end cover the date asked for; its activities for the beamline carry
the proposal (GUP id, title) and the experimenters (badge, names, email, PI flag).
"""

from __future__ import annotations

import base64
import datetime
import re

from urllib.parse import quote

from ansible_collections.sciops.datasync.plugins.module_utils._core.http import HttpError, HttpSettings, without_query
from ansible_collections.sciops.datasync.plugins.module_utils._core.secrets import SecretFileError, read_login_pair

BASE = "/beamline-scheduling/sched-api"
ROUTES = {
    "all_runs": BASE + "/run/getAllRuns",
    "activities": BASE + "/activity/findByRunNameAndBeamlineId/{run}/{beamline}",
}


class BeamtimeError(Exception):
    pass


def parse_time(text):
    """ISO times as the API writes them (offset with or without a colon) -> aware datetime."""
    if not text:
        return None
    value = str(text).strip().replace("Z", "+00:00")
    match = re.match(r"^(.*[T ]\d{2}:\d{2}:\d{2})(\.\d+)?([+-]\d{2}):?(\d{2})$", value)
    if match:
        base, hours, minutes = match.group(1), match.group(3), match.group(4)
        return datetime.datetime.strptime(base.replace(" ", "T") + hours + minutes, "%Y-%m-%dT%H:%M:%S%z")
    try:
        day = datetime.datetime.strptime(value[:19], "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        raise BeamtimeError("cannot parse time %r" % text)
    return day.replace(tzinfo=datetime.timezone.utc)


def read_credentials(path):
    try:
        return read_login_pair(path, "scheduling credentials file")
    except SecretFileError as exc:
        raise BeamtimeError(str(exc))


def scheduling_client(settings=None, credentials=None, no_log_values=None):
    """The HttpClient of the scheduling API: its password and Basic token scrubbed and in ``no_log_values``."""
    http = (settings or HttpSettings()).client("scheduling API")
    if credentials:
        for value in (credentials[1], basic_token(credentials)):
            http.add_secret(value)
            if no_log_values is not None:
                no_log_values.add(value)
    return http


def basic_token(credentials):
    return base64.b64encode(("%s:%s" % tuple(credentials)).encode("utf-8")).decode("ascii")


def get_json(url, credentials, http):
    """The JSON document at ``url`` (GET with HTTP Basic); raises BeamtimeError.

    ``http`` is the shared ``_core.http`` client: a redirect to another origin is refused, so
    the Basic credentials never leave the scheduling service's origin; 429 and 5xx are retried.
    """
    headers = {"Authorization": "Basic " + basic_token(credentials), "Accept": "application/json"}
    shown = without_query(url)
    try:
        response = http.request("GET", url, headers=headers)
    except HttpError as exc:
        raise BeamtimeError(http.scrub(str(exc)))
    if response.status >= 400:
        detail = ""
        try:
            document = response.json()
            detail = document.get("message", "") if isinstance(document, dict) else ""
        except ValueError:
            detail = ""
        hint = {401: " (check the credentials file)", 403: " (the account may not read this beamline)"}.get(response.status, "")
        detail = (": " + str(detail)) if detail else ""
        raise BeamtimeError(http.scrub("scheduling API %s answered HTTP %s%s%s" % (shown, response.status, hint, detail)))
    if response.status != 200:
        raise BeamtimeError("scheduling API %s answered HTTP %s" % (shown, response.status))
    try:
        document = response.json()
    except ValueError:
        raise BeamtimeError("scheduling API %s returned something that is not JSON" % shown)
    if isinstance(document, dict) and "message" in document:
        raise BeamtimeError(http.scrub("scheduling API %s: %s" % (shown, document["message"])))
    return document


def pick_run(runs, when, run_name=None):
    if run_name:
        for run in runs:
            if run.get("runName") == run_name:
                return run
        raise BeamtimeError("run %s is not among the scheduling runs" % run_name)
    for run in runs:
        start, end = parse_time(run.get("startTime")), parse_time(run.get("endTime"))
        if start and end and start <= when < end:
            return run
    raise BeamtimeError("no scheduling run covers %s" % when.isoformat())


def experimenter_view(item):
    return {"badge": str(item.get("badge") or ""), "first_name": item.get("firstName"),
            "last_name": item.get("lastName"), "email": item.get("email"),
            "institution": item.get("institution"), "pi": item.get("piFlag") == "Y"}


def activity_view(item):
    proposal = ((item.get("beamtime") or {}).get("proposal")) or {}
    experimenters = [experimenter_view(e) for e in proposal.get("experimenters") or []]
    pis = [e for e in experimenters if e["pi"]]
    return {"activity_id": item.get("activityId"), "start": item.get("startTime"), "end": item.get("endTime"),
            "proposal_id": str(proposal.get("gupId") or ""), "title": proposal.get("proposalTitle"),
            "experimenters": experimenters, "pi": pis[0] if pis else None}


def choose_activity(activities, when, proposal=None):
    """The activity for ``proposal`` if given, else the one running at ``when``, else None."""
    if proposal:
        for item in activities:
            if item["proposal_id"] == str(proposal):
                return item
        return None
    for item in activities:
        start, end = parse_time(item["start"]), parse_time(item["end"])
        if start and end and start <= when < end:
            return item
    return None


def run_module(module):
    params = module.params
    try:
        if params["date"]:
            when = parse_time(params["date"] if "T" in params["date"] else params["date"] + "T12:00:00+00:00")
        else:
            when = datetime.datetime.now(datetime.timezone.utc)
        credentials = read_credentials(params["credentials_file"])
        module.no_log_values.add(credentials[1])
        base = params["url"].rstrip("/")
        http = scheduling_client(HttpSettings.from_params(params), credentials=credentials, no_log_values=module.no_log_values)
        runs = get_json(base + ROUTES["all_runs"], credentials, http)
        run = pick_run(runs, when, params["run"])
        url = base + ROUTES["activities"].format(run=quote(run["runName"], safe=""), beamline=quote(params["beamline"], safe=","))
        activities = [activity_view(a) for a in get_json(url, credentials, http)]
    except BeamtimeError as exc:
        module.fail_json(msg=str(exc))
    chosen = choose_activity(activities, when, params["proposal"])
    if chosen is None and params["proposal"] and params["require"]:
        module.fail_json(msg="proposal %s has no activity on %s in run %s" % (params["proposal"], params["beamline"], run["runName"]),
                         run=run, activities=activities)
    if chosen is None and params["require"]:
        module.fail_json(msg="no activity on %s at %s in run %s" % (params["beamline"], when.isoformat(), run["runName"]),
                         run=run, activities=activities)
    module.exit_json(changed=False, run={"name": run.get("runName"), "start": run.get("startTime"), "end": run.get("endTime")},
                     activities=activities, beamtime=chosen or {})
