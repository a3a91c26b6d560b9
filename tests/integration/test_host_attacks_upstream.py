"""Issue 14 items 9 and 10 on the booted host beamline1, against the web-API clients where a site
runs them (docs/security.md): the portal client in the deployed mxsync job, started as its timer
starts it (`datasync-job mxsync-repatriate` as root, which runs it as the service account), and
the APS scheduling and DM clients in `playbooks/experiment.yml --tags init` (the job account, its
virtualenv), both with the credentials the site installed on beamline1.

The actor is the upstream: a hostile HTTPS server on the lab bridge address (tests/hostile_http.py,
the lab's service certificate, so the clients keep verifying TLS against the host's CA store) that
a run is pointed at with one extra var, the service URL a site would change. It echoes the token,
passwords, Basic credentials and session it received in its errors, redirects to a second origin
that logs whatever reaches it, or answers 503 with `Retry-After: 1` twice before the real answer
(a relay to the lab's emulator). Nothing secret may reach the run's output, the job's log, the
audit log or beamline1's journal; no credential reaches the second origin; the retried runs
succeed after waiting as asked.
"""

import base64
import json
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from tests.hostile_http import HostileServer, script
from tests.integration import host_attack_lab as hal
from tests.integration.site_lab import host_now, lab_file

HOST = "beamline1"
JOB = "mxsync-repatriate"
JOB_LOG = "/var/log/datasync-jobs/%s.log" % JOB
AUDIT_LOG = "/var/log/datasync-jobs/audit.log"
TOKEN = "canary-token-Hb41"        # the hostile portal's access token
SESSION = "canary-session-Vq93"    # the hostile DM's session id
BUSY = (503, {"Retry-After": "1"}, {})
REFUSED = "redirected to another origin"


def basic(user, password):
    return base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def leaked(text, secrets):
    return sorted(secret for secret in secrets if secret in text)


def waits(entries):
    return [round(b["time"] - a["time"], 2) for a, b in zip(entries, entries[1:])]


def waited_as_asked(entries):
    """Two waits of Retry-After's 1 s; the clients' own backoff (1 s, then 2 s) would make the second one 2 s."""
    return len(entries) == 3 and all(0.95 <= wait < 1.9 for wait in waits(entries))


@pytest.fixture(scope="module")
def upstream(lab, lab_site):
    """The lab's files the attack needs: the service certificate (its SAN holds the bridge address
    and services.lab), the bridge address, the real services and the secrets beamline1 holds."""
    del lab_site
    endpoints = lab_file(lab)
    services = endpoints["services"]
    with open(services["portal"]["credentials_file"]) as handle:
        equipment = yaml.safe_load(handle)["equipment"]
    with open(services["aps_dm"]["login_file"]) as handle:
        dm_user, dm_password = handle.read().strip().split("|", 1)
    with open(services["aps_beamtime"]["credentials_file"]) as handle:
        sched_user, sched_password = handle.read().strip().split("|", 1)
    portal_secrets = {TOKEN}
    for entry in equipment:
        portal_secrets |= {entry["password"], entry["client_password"], basic(entry["client_name"], entry["client_password"])}
    return {"tls": (lab.path("ca", "server.pem"), lab.path("ca", "server.key")), "address": endpoints["network"]["controller_address"],
            "name": endpoints["network"]["services_host"], "ca": endpoints["ca"]["ca_file"],
            "dm": services["aps_dm"]["ds_url"], "sched": services["aps_beamtime"]["url"],
            "portal_secrets": portal_secrets, "dm_password": dm_password,
            "sched_basic": basic(sched_user, sched_password),
            "experiment_secrets": {dm_password, sched_password, basic(sched_user, sched_password), SESSION},
            "dm_user": dm_user, "sched_user": sched_user}


def serve(upstream, answer):
    """A HostileServer on the bridge address with the lab's service certificate; the URL beamline1 uses."""
    server = HostileServer(answer, tls=upstream["tls"], host=upstream["address"])
    server.host_url = "https://%s:%d" % (upstream["name"], server.port)
    return server


def relay(base, cafile):
    """An answer that passes the request on to the real service at ``base`` (an overloaded gateway's good moments)."""
    context = ssl.create_default_context(cafile=cafile)

    def answer(request):
        headers = {k: v for k, v in request["headers"].items() if k.lower() in ("authorization", "cookie", "content-type", "accept")}
        forwarded = urllib.request.Request(base + request["path"], data=request["body"] or None, headers=headers, method=request["method"])
        try:
            with urllib.request.urlopen(forwarded, context=context, timeout=30) as response:
                status, got, payload = response.status, response.headers, response.read()
        except urllib.error.HTTPError as exc:
            status, got, payload = exc.code, exc.headers, exc.read()
        return status, {k: v for k, v in got.items() if k.lower() == "set-cookie" or k.lower().startswith("dm-")}, payload
    return answer


def host_journal(lab, since):
    """beamline1's journal since ``since``: where each module logs its invocation (checked, so a leak would show)."""
    text = hal.root(lab, HOST, "journalctl", "--since", "@%d" % since, "--no-pager", "-o", "cat").stdout
    assert "Invoked with" in text, text[-2000:]
    return text


# ---------------------------------------------------------------- portal: the deployed mxsync job

def hostile_portal(visits):
    """Logs every equipment in with TOKEN (keeping what it sent), answers the visits with ``visits``."""
    def answer(request):
        if request["path"] == "/api/v1/oauth/token":
            return 200, {}, {"access_token": TOKEN, "token_type": "bearer"}
        return visits(request)
    return answer


def echo_credentials(server):
    """A 400 quoting the bearer header of the visits and the client password and password of the login."""
    def answer(request):
        login = [e for e in server.log if e["path"] == "/api/v1/oauth/token"][-1]   # this equipment's
        client = base64.b64decode(login["headers"]["Authorization"].split()[1]).decode()
        form = urllib.parse.parse_qs(login["body"].decode())
        return 400, {}, {"error": "invalid_request", "error_description": "%s rejected for client %s, user %s/%s" % (
            request["headers"].get("Authorization"), client, form["username"][0], form["password"][0])}
    return answer


def run_job(lab, portal_url):
    """``datasync-job mxsync-repatriate -v`` as root (as the timer and cron run it), the portal URL as an
    extra var; (rc, everything the run wrote: its output, job log, audit log, the host's journal)."""
    offsets = {path: hal.log_size(lab, HOST, path) for path in (JOB_LOG, AUDIT_LOG)}
    since = host_now(lab, HOST)
    proc = hal.root(lab, HOST, "/usr/local/bin/datasync-job", JOB, "-v", "-e", json.dumps({"mxsync_portal_url": portal_url}), check=False)
    written = {path: hal.log_since(lab, HOST, path, offset) for path, offset in offsets.items()}
    written["output"] = proc.stdout + proc.stderr
    written["journal"] = host_journal(lab, since)
    return proc.returncode, written


def test_portal_echoing_the_token_and_passwords_leaks_nothing_on_beamline1(lab, upstream):
    server = serve(upstream, None)
    server.answer = hostile_portal(echo_credentials(server))
    with server:
        rc, written = run_job(lab, server.host_url)
    visits = [e for e in server.log if "/visits" in e["path"]]
    assert visits and all(e["headers"]["Authorization"] == "Bearer " + TOKEN and "access_token" not in e["path"] for e in visits)
    assert rc != 0 and "HTTP 400" in written[JOB_LOG] and "equipment 23" in written[JOB_LOG], written[JOB_LOG][-3000:]
    # The echo (its secrets real: the credentials beamline1 holds) reached the job log, masked.
    assert "rejected for client datasync-mx1:********, user mx1-facility/********" in written[JOB_LOG], written[JOB_LOG][-3000:]
    for where, text in written.items():
        assert leaked(text, upstream["portal_secrets"]) == [], "%s holds a secret the portal echoed" % where


def test_portal_redirect_to_another_origin_never_carries_the_token(lab, upstream):
    with serve(upstream, script((200, {}, {"visits": []}))) as elsewhere:
        # Another origin on the same address: only the port differs.
        away = hostile_portal(lambda request: (302, {"Location": elsewhere.host_url + "/collect"}, {}))
        with serve(upstream, away) as server:
            rc, written = run_job(lab, server.host_url)
    assert any("/visits" in e["path"] for e in server.log)
    assert elsewhere.log == []
    assert rc != 0 and REFUSED in written[JOB_LOG] and elsewhere.host_url in written[JOB_LOG], written[JOB_LOG][-3000:]
    for where, text in written.items():
        assert leaked(text, upstream["portal_secrets"]) == [], where


def test_portal_503_retry_after_twice_is_ridden_out(lab, upstream):
    with serve(upstream, hostile_portal(script(BUSY, BUSY, (200, {}, {"visits": []})))) as server:
        rc, written = run_job(lab, server.host_url)
    visits = [e for e in server.log if "/visits" in e["path"]]
    assert len(visits) == 4, [e["path"] for e in server.log]   # equipment 23: 503, 503, 200; equipment 24: 200
    assert waited_as_asked(visits[:3]), waits(visits)
    assert rc == 0 and '"visits": 0' in written[JOB_LOG], written[JOB_LOG][-3000:]
    print("portal waits: %s" % waits(visits))
    for where, text in written.items():
        assert leaked(text, upstream["portal_secrets"]) == [], where


# ---------------------------------------------------------------- scheduling and DM: playbooks/experiment.yml

def echo_basic(request):
    """A 401 quoting the Basic header and the password inside it."""
    decoded = base64.b64decode(request["headers"].get("Authorization", "x y").split()[1]).decode()
    return 401, {}, {"message": "denied %s (%s)" % (request["headers"].get("Authorization"), decoded)}


def dm_hostile(after_login):
    """A DM that logs in (session SESSION, remembering the password posted) and answers the rest with ``after_login``."""
    def answer(request):
        if request["path"] == "/dm/login":
            return 200, {"Set-Cookie": "session_id=%s; Path=/" % SESSION}, {}
        return after_login(request)
    return answer


def echo_session(server):
    def answer(request):
        form = urllib.parse.parse_qs(next(e for e in server.log if e["path"] == "/dm/login")["body"].decode())
        message = "session %s of %s/%s refused" % (request["headers"].get("Cookie"), form["username"][0], form["password"][0])
        return 200, {"Dm-Status-Code": "1", "Dm-Status-Message": message, "Dm-Exception-Type": "DmException"}, {}
    return answer


def experiment_init(ansible_playbook, **urls):
    """`ansible-playbook -i inventories/lab playbooks/experiment.yml --tags init --check -v` on beamline1,
    the service URLs as extra vars; the playbook result."""
    extra = {"experiment_%s" % name: url for name, url in urls.items()}
    return ansible_playbook("-i", "inventories/lab", "playbooks/experiment.yml", "--tags", "init", "--check", "-v", "--limit", HOST,
                            "-e", json.dumps(extra), env={"ANSIBLE_INVENTORY": ""}, check=False)


def dm_urls(server):
    return {"dm_ds_url": server.host_url, "dm_daq_url": server.host_url}


def test_scheduling_and_dm_hostile_upstreams_on_beamline1(lab, upstream, ansible_playbook):
    """Six runs at once, each against its own hostile server: the scheduling service and DM each redirect to
    another origin and echo what they got; DM redirects its login (the password in the body); both answer
    503 twice before the real services answer."""
    elsewhere = serve(upstream, script((200, {}, {})))
    servers = {
        "sched redirect": serve(upstream, lambda r: (301, {"Location": elsewhere.host_url + r["path"]}, {})),
        "sched echo": serve(upstream, echo_basic),
        "dm login redirect": serve(upstream, lambda r: (307, {"Location": elsewhere.host_url + "/dm/login"}, {})),
        "dm session redirect": serve(upstream, dm_hostile(lambda r: (302, {"Location": elsewhere.host_url + r["path"]}, {}))),
        "sched busy": serve(upstream, script(BUSY, BUSY, relay(upstream["sched"], upstream["ca"]))),
        "dm busy": serve(upstream, script(BUSY, BUSY, relay(upstream["dm"], upstream["ca"]))),
    }
    servers["dm echo"] = serve(upstream, None)
    servers["dm echo"].answer = dm_hostile(echo_session(servers["dm echo"]))
    runs = {
        "sched redirect": {"schedule_url": servers["sched redirect"].host_url},
        "sched echo": {"schedule_url": servers["sched echo"].host_url},
        "dm login redirect": dm_urls(servers["dm login redirect"]),
        "dm session redirect": dm_urls(servers["dm session redirect"]),
        "dm echo": dm_urls(servers["dm echo"]),
        "busy": dict(schedule_url=servers["sched busy"].host_url, **dm_urls(servers["dm busy"])),
    }
    since = host_now(lab, HOST)
    started = time.monotonic()
    with elsewhere:
        for server in servers.values():
            server.__enter__()
        try:
            with ThreadPoolExecutor(max_workers=len(runs)) as pool:
                results = dict(zip(runs, pool.map(lambda urls: experiment_init(ansible_playbook, **urls), runs.values())))
        finally:
            for server in servers.values():
                server.__exit__(None, None, None)
    seconds = time.monotonic() - started
    journal = host_journal(lab, since)

    assert elsewhere.log == [], [(e["path"], e["headers"]) for e in elsewhere.log]
    for name in ("sched redirect", "dm login redirect", "dm session redirect"):
        assert results[name].rc != 0 and REFUSED in results[name].stdout, (name, results[name])
    assert servers["sched redirect"].log[0]["headers"]["Authorization"] == "Basic " + upstream["sched_basic"]
    assert "password=" + upstream["dm_password"] in servers["dm login redirect"].log[0]["body"].decode()
    assert servers["dm session redirect"].log[-1]["headers"]["Cookie"] == "session_id=" + SESSION
    assert results["sched echo"].rc != 0 and "HTTP 401" in results["sched echo"].stdout, results["sched echo"]
    assert results["dm echo"].rc != 0 and "DmException" in results["dm echo"].stdout, results["dm echo"]
    # The echoes (of the credentials beamline1 holds) reached the output, masked.
    assert "denied Basic ******** (%s:********)" % upstream["sched_user"] in results["sched echo"].stdout, results["sched echo"]
    assert "session session_id=******** of %s/******** refused" % upstream["dm_user"] in results["dm echo"].stdout, results["dm echo"]

    assert results["busy"].rc == 0 and "failed=0" in results["busy"].stdout, results["busy"]
    sched_calls = [e for e in servers["sched busy"].log if "getAllRuns" in e["path"]]
    dm_logins = [e for e in servers["dm busy"].log if e["path"] == "/dm/login"]
    assert waited_as_asked(sched_calls), waits(sched_calls)
    assert waited_as_asked(dm_logins), waits(dm_logins)

    for name, result in results.items():
        assert leaked(result.stdout + result.stderr, upstream["experiment_secrets"]) == [], name
    assert leaked(journal, upstream["experiment_secrets"]) == [], "beamline1's journal"
    print("experiment runs: %.1f s; waits: scheduling %s, DM %s" % (seconds, waits(sched_calls), waits(dm_logins)))
