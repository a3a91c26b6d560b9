"""APS scheduling (beam-api) emulator: runs and activities, HTTP Basic auth.

python -m tests.lab.beamtime.server --port 8704 --seed tests/lab/seeds/aps_beamtime.yml

Routes: GET /beamline-scheduling/sched-api/run/getAllRuns and
GET /beamline-scheduling/sched-api/activity/findByRunNameAndBeamlineId/{run}/{beamline}.
Admin: POST /_lab/fault {"path": substring, "status": 500, "count": 1}, POST /_lab/clear_faults.
"""

from __future__ import annotations

import base64
import datetime
import urllib.parse

import yaml

from tests.lab import httpd

BASE = "/beamline-scheduling/sched-api"
CHICAGO = datetime.timezone(datetime.timedelta(hours=-6))


def iso(moment):
    # The API writes offsets without a colon (-0600), as the real one sometimes does.
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000%z")


def all_runs(seed):
    runs = []
    for year in range(int(seed.get("first_year", 2024)), int(seed.get("last_year", 2030)) + 1):
        bounds = [(1, 1, 5, 1), (5, 1, 10, 1), (10, 1, 1, 1)]
        for index, (m1, d1, m2, d2) in enumerate(bounds, start=1):
            start = datetime.datetime(year, m1, d1, 8, 0, tzinfo=CHICAGO)
            end = datetime.datetime(year + (1 if index == 3 else 0), m2, d2, 8, 0, tzinfo=CHICAGO)
            runs.append({"runId": year * 10 + index, "runName": "%d-%d" % (year, index),
                         "startTime": iso(start), "endTime": iso(end), "_start": start, "_end": end})
    return runs


def current_run(runs, now=None):
    now = now or datetime.datetime.now(CHICAGO)
    for run in runs:
        if run["_start"] <= now < run["_end"]:
            return run
    return runs[-1]


def activities_for(seed, runs, run_name, beamline):
    by_beamline = (seed.get("activities") or {}).get(beamline)
    if by_beamline is None:
        return None
    current = current_run(runs)["runName"]
    today = datetime.datetime.now(CHICAGO).replace(hour=0, minute=0, second=0, microsecond=0)
    out = []
    for key, items in by_beamline.items():
        name = current if key == "current" else key
        if name != run_name:
            continue
        for item in items:
            start = today + datetime.timedelta(days=int(item.get("start_day", 0)))
            end = today + datetime.timedelta(days=int(item.get("end_day", 1)))
            out.append({"activityId": item["activityId"], "startTime": iso(start), "endTime": iso(end),
                        "duration": int((end - start).total_seconds()),
                        "beamtime": {"proposal": item["proposal"]}})
    return out


class Handler(httpd.JsonHandler):
    seed = None
    faults = httpd.Faults()

    def _authorized(self):
        creds = self.seed["credentials"]
        expected = "Basic " + base64.b64encode(("%s:%s" % (creds["username"], creds["password"])).encode()).decode()
        return self.headers.get("Authorization") == expected

    def do_POST(self):
        path = urllib.parse.urlsplit(self.path).path
        if not self.fault_route(self.faults, "POST", path, self.read_body()):
            self.send_json(405, {"message": "Method not allowed"})

    def do_GET(self):
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        fault = self.faults.take("GET", path)
        if fault:
            return self.send_json(int(fault.get("status", 500)), {"message": fault.get("message", "injected fault")})
        if not self._authorized():
            return self.send_json(401, {"message": "Unauthorized"}, {"WWW-Authenticate": 'Basic realm="beam-api"'})
        runs = all_runs(self.seed)
        if path == BASE + "/run/getAllRuns":
            return self.send_json(200, [{k: v for k, v in r.items() if not k.startswith("_")} for r in runs])
        prefix = BASE + "/activity/findByRunNameAndBeamlineId/"
        if path.startswith(prefix):
            run_name, _sep, beamline = path[len(prefix):].partition("/")
            if run_name not in [r["runName"] for r in runs]:
                return self.send_json(200, {"message": "Run %s not found" % run_name})
            found = activities_for(self.seed, runs, run_name, beamline)
            if found is None:
                return self.send_json(200, {"message": "Beamline %s not found" % beamline})
            return self.send_json(200, found)
        return self.send_json(404, {"message": "Not found: %s" % path})


def setup(args):
    with open(args.seed) as handle:
        Handler.seed = yaml.safe_load(handle)


if __name__ == "__main__":
    httpd.main(__doc__, 8704, Handler, setup, state=False)
