"""Issue 16 item 5: playbooks/preflight.yml on the lab's booted hosts (inventories/lab, SSH as the admin).

On the deployed lab it passes and prints one table with a row for every job of every host. With five
faults at once, each on its own job, it exits non-zero and the table has exactly one failed row per
fault, naming it and how to fix it:

- a wrong client secret (gosync on portal1: a 0600 secret file with another secret);
- an unknown host key (the EPN source on beamline1: a known_hosts with other hosts' keys only);
- a collection the app cannot write (collection_sync on transfer1: the Globus emulator's partner
  collection, where an access rule gives the lab app read-only access to /public/);
- a PV that does not connect (the experiment on beamline1: a prefix the lab IOC does not serve);
- a destination without enough space (the EPN destination: a threshold above what its file system has);
- a wrong rsync password (the pool mirror on mirror1: a 0600 password file of the job's account with another
  password) and an unknown pool module (a pool the lab daemon does not export): the daemon looks the module
  up before the password, so each shows, once.

The faults are extra variables pointing the jobs at files in /tmp on the hosts; those are removed afterwards.
"""

import json
import re

import certifi
import pytest

from ansible_collections.sciops.datasync.plugins.module_utils._preflight import network
from ansible_collections.sciops.datasync.plugins.modules import preflight
from tests.integration.site_lab import lab_file, playbook_on_lab, ssh
from tests.unit.plugins.modules.module_runner import run

WRONG_SECRET = "/tmp/preflight-wrong-globus.secret"
WRONG_RSYNC_PASSWORD = "/tmp/preflight-wrong-rsync.password"
FOREIGN_KNOWN_HOSTS = "/tmp/preflight-known_hosts"
ROW = re.compile(r'^\s*"(\S+)\s+\| (\S+)\s+\| (.+?)\s+\| (.*) \| (ok|failed|skipped)\s*\| (.*)",?$')


def table(result):
    """The rows of the printed table: (host, job, check, item, result, detail)."""
    return [ROW.match(line).groups() for line in result.stdout.splitlines() if ROW.match(line)]


def failed_rows(rows):
    return [row for row in rows if row[4] == "failed"]


def _root(lab, host, *command):
    result = ssh(lab, host, *command)
    assert result.returncode == 0, (host, command, result.stdout, result.stderr)


@pytest.fixture
def faults(lab, lab_site):
    """The fault files on the hosts and the extra variables that point the jobs at them; removed afterwards."""
    globus = lab_file(lab)["services"]["globus"]
    with open(lab.path("hosts", "known_hosts"), encoding="utf-8") as handle:
        other_keys = "".join(line for line in handle if line.strip())
    try:
        _root(lab, "portal1", "sh", "-c", "umask 077 && printf '%s\\n' wrong-secret-for-the-lab-app > " + WRONG_SECRET)
        _root(lab, "beamline1", "sh", "-c", 'printf "%s" "$1" > ' + FOREIGN_KNOWN_HOSTS, "-", other_keys)
        _root(lab, "beamline1", "chown", "datasync:datasync", FOREIGN_KNOWN_HOSTS)
        _root(lab, "mirror1", "sh", "-c", "umask 077 && printf '%s\\n' wrong-rsync-password > " + WRONG_RSYNC_PASSWORD)
        _root(lab, "mirror1", "chown", "datasync:datasync", WRONG_RSYNC_PASSWORD)
        yield {
            "gosync_client_secret_file": WRONG_SECRET,
            "mxsync_known_hosts_file": FOREIGN_KNOWN_HOSTS,
            "collection_sync_syncs": [{
                "name": "projects", "source_collection": globus["collections"]["source"], "source_path": "/projects/",
                "destination_collection": globus["collections"]["partner"], "destination_path": "/public/"}],
            "experiment_pv_prefix": "2bma:NoSuchIoc:",
            "mxsync_preflight_min_free": "1P",
            "transfer_pools_password_file": WRONG_RSYNC_PASSWORD,
            "transfer_pools_modules": [{"module": "pv", "dest": "/srv/pacs/pools/pv"},
                                       {"module": "no-such-pool", "dest": "/srv/pacs/pools/pv"}],
        }
    finally:
        ssh(lab, "portal1", "rm", "-f", WRONG_SECRET)
        ssh(lab, "beamline1", "rm", "-f", FOREIGN_KNOWN_HOSTS)
        ssh(lab, "mirror1", "rm", "-f", WRONG_RSYNC_PASSWORD)


def test_preflight_passes_on_the_lab(lab, lab_site, ansible_playbook):
    result = playbook_on_lab(ansible_playbook, "playbooks/preflight.yml")
    assert result.rc == 0, result
    rows = table(result)
    assert not failed_rows(rows), rows
    jobs = {row[:2] for row in rows}
    assert jobs >= {("portal1", "gosync"), ("transfer1", "collection_sync"), ("beamline1", "epn"), ("beamline1", "experiment"),
                    ("detector1", "experiment"), ("analysis1", "experiment"), ("mirror1", "pools")}, jobs
    checks = {(row[0], row[2]) for row in rows if row[4] == "ok"}
    for needed in [("portal1", "Globus root group role"), ("transfer1", "Globus make folder"), ("beamline1", "PVs connect"),
                   ("beamline1", "SSH host key known, login accepted"), ("beamline1", "Globus manage access"),
                   ("mirror1", "rsync daemon reachable"), ("mirror1", "rsync login accepted"),
                   ("transfer1", "SMTP relay accepts the sender"),
                   ("beamline1", "HTTPS service reachable"), ("mirror1", "credential file")]:
        assert needed in checks, (needed, rows)
    # Every pool of mirror1 (inventories/lab) listed with the job's login, nothing transferred.
    listed = sorted(row[3].split(" on ")[0] for row in rows if row[0] == "mirror1" and row[2] == "rsync pool listed")
    assert listed == ["ops", "pv", "pv-1", "pv-2"] and ("mirror1", "rsync pool listed") in checks, rows


def test_preflight_names_each_fault_in_exactly_one_row(lab, lab_site, ansible_playbook, faults):
    result = playbook_on_lab(ansible_playbook, "playbooks/preflight.yml", "-e", json.dumps(faults))
    assert result.rc != 0, result
    failed = failed_rows(table(result))
    by_fault = {
        "wrong secret": [r for r in failed if r[:3] == ("portal1", "gosync", "Globus token")],
        "unknown host key": [r for r in failed if r[:3] == ("beamline1", "epn", "SSH host key known, login accepted")],
        "collection not writable": [r for r in failed if r[:3] == ("transfer1", "collection_sync", "Globus make folder")],
        "PV does not connect": [r for r in failed if r[:3] == ("beamline1", "experiment", "PVs connect")],
        "not enough space": [r for r in failed if r[:3] == ("beamline1", "epn", "destination folder")],
        "wrong rsync password": [r for r in failed if r[:3] == ("mirror1", "pools", "rsync login accepted")],
        "unknown pool module": [r for r in failed if r[:3] == ("mirror1", "pools", "rsync pool listed")],
    }
    assert {fault: len(rows) for fault, rows in by_fault.items()} == dict.fromkeys(by_fault, 1), failed
    assert len(failed) == 7, failed
    detail = {fault: rows[0][5] for fault, rows in by_fault.items()}
    assert "HTTP 401" in detail["wrong secret"] and "FIX: put the app's current client secret in " + WRONG_SECRET in detail["wrong secret"]
    assert "wrong-secret-for-the-lab-app" not in result.stdout + result.stderr
    assert "its host key is not recorded in " + FOREIGN_KNOWN_HOSTS in detail["unknown host key"]
    assert "no write access to /public/" in detail["collection not writable"] and "EndpointPermissionDenied" in detail["collection not writable"]
    assert "PV 2bma:NoSuchIoc:UserLastName did not answer" in detail["PV does not connect"]
    assert "below the threshold 1024.0 TiB" in detail["not enough space"]
    assert "the daemon refused the login of pacs with the password in %s for module 'pv' (auth failed on module pv)" % (
        WRONG_RSYNC_PASSWORD) in detail["wrong rsync password"]
    assert "FIX: put the daemon's current password for pacs in " + WRONG_RSYNC_PASSWORD in detail["wrong rsync password"]
    assert "wrong-rsync-password" not in result.stdout + result.stderr
    assert by_fault["unknown pool module"][0][3].startswith("no-such-pool on ")
    assert "the daemon has no module 'no-such-pool' (Unknown module 'no-such-pool')" in detail["unknown pool module"]
    assert "FIX: check the pool's module in transfer_pools_modules" in detail["unknown pool module"]
    assert "7 of " in result.stdout and "pre-flight checks failed" in result.stdout


def test_pool_paths_are_listed_as_the_job_lists_them(lab):
    """The module on this machine against the lab daemon: a pool's missing path and a path that is a file fail
    their own rows; the module and the login pass."""
    rsyncd = lab_file(lab)["services"]["rsyncd"]
    daemon = {"host": "127.0.0.1", "port": rsyncd["port"], "user": rsyncd["user"], "password_file": rsyncd["password_file"],
              "pools": [{"module": "pv"}, {"module": "pv", "path": "no/such/folder"}, {"module": "pv", "path": "README"}]}
    outcome = run(preflight.main, {"job": "pools", "rsync_daemons": [daemon]})
    rows = [(r["check"], r["item"].split(" on ")[0], r["result"]) for r in outcome.result["rows"]]
    assert rows == [("rsync daemon reachable", "127.0.0.1:%d" % rsyncd["port"], "ok"),
                    ("rsync login accepted", "pacs@127.0.0.1:%d" % rsyncd["port"], "ok"),
                    ("rsync pool listed", "pv", "ok"), ("rsync pool listed", "pv/no/such/folder", "failed"),
                    ("rsync pool listed", "pv/README", "failed")], outcome.result
    missing, afile = outcome.result["rows"][3:]
    assert "module 'pv' has no path 'no/such/folder'" in missing["detail"] and "No such file or directory (2)" in missing["detail"]
    assert "path 'README' in module 'pv' is not a folder" in afile["detail"] and "Not a directory (20)" in afile["detail"]
    assert outcome.failed and outcome.result["failed_rows"] == 2


def test_smtp_and_https_checks_verify_tls_against_the_given_ca(lab):
    """The SMTP relay (STARTTLS) and a web service pass with the lab CA and fail, saying why, with a bundle
    that does not hold it (certifi's public CAs)."""
    services = lab_file(lab)["services"]
    smtp = {"host": "127.0.0.1", "port": services["smtp"]["port"], "tls": "starttls", "timeout": 10}
    trusted = network.check_smtp(dict(smtp, ca_bundle=services["smtp"]["ca_file"]), "ops@example.org", "team@example.org")
    assert trusted["result"] == "ok" and "TLS verified" in trusted["detail"], trusted
    untrusted = network.check_smtp(dict(smtp, ca_bundle=certifi.where()), "ops@example.org")
    assert untrusted["result"] == "failed" and "CERTIFICATE_VERIFY_FAILED" in untrusted["detail"], untrusted
    assert "trust store" in untrusted["fix"]
    portal = services["portal"]["url"]
    assert network.check_web_service("portal", portal, services["portal"]["ca_file"])["result"] == "ok"
    refused = network.check_web_service("portal", portal, certifi.where())
    assert refused["result"] == "failed" and "TLS verification" in refused["detail"] and "certificate" in refused["fix"], refused
