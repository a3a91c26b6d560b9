"""Issue 16 item 5: playbooks/preflight.yml on the lab's booted hosts (inventories/lab, SSH as the admin).

On the deployed lab it passes and prints one table with a row for every job of every host. With five
faults at once, each on its own job, it exits non-zero and the table has exactly one failed row per
fault, naming it and how to fix it:

- a wrong client secret (gosync on portal1: a 0600 secret file with another secret);
- an unknown host key (the EPN source on beamline1: a known_hosts with other hosts' keys only);
- a collection the app cannot write (collection_sync on transfer1: the Globus emulator's partner
  collection, where an access rule gives the lab app read-only access to /public/);
- a PV that does not connect (the experiment on beamline1: a prefix the lab IOC does not serve);
- a destination without enough space (the EPN destination: a threshold above what its file system has).

The faults are extra variables pointing the jobs at files in /tmp on the hosts; those are removed afterwards.
"""

import json
import re

import certifi
import pytest

from ansible_collections.sciops.datasync.plugins.module_utils._preflight import network
from tests.integration.site_lab import lab_file, playbook_on_lab, ssh

WRONG_SECRET = "/tmp/preflight-wrong-globus.secret"
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
        yield {
            "gosync_client_secret_file": WRONG_SECRET,
            "mxsync_known_hosts_file": FOREIGN_KNOWN_HOSTS,
            "collection_sync_syncs": [{
                "name": "projects", "source_collection": globus["collections"]["source"], "source_path": "/projects/",
                "destination_collection": globus["collections"]["partner"], "destination_path": "/public/"}],
            "experiment_pv_prefix": "2bma:NoSuchIoc:",
            "mxsync_preflight_min_free": "1P",
        }
    finally:
        ssh(lab, "portal1", "rm", "-f", WRONG_SECRET)
        ssh(lab, "beamline1", "rm", "-f", FOREIGN_KNOWN_HOSTS)


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
                   ("mirror1", "rsync daemon reachable"), ("transfer1", "SMTP relay accepts the sender"),
                   ("beamline1", "HTTPS service reachable"), ("mirror1", "credential file")]:
        assert needed in checks, (needed, rows)


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
    }
    assert {fault: len(rows) for fault, rows in by_fault.items()} == dict.fromkeys(by_fault, 1), failed
    assert len(failed) == 5, failed
    detail = {fault: rows[0][5] for fault, rows in by_fault.items()}
    assert "HTTP 401" in detail["wrong secret"] and "FIX: put the app's current client secret in " + WRONG_SECRET in detail["wrong secret"]
    assert "wrong-secret-for-the-lab-app" not in result.stdout + result.stderr
    assert "its host key is not recorded in " + FOREIGN_KNOWN_HOSTS in detail["unknown host key"]
    assert "no write access to /public/" in detail["collection not writable"] and "EndpointPermissionDenied" in detail["collection not writable"]
    assert "PV 2bma:NoSuchIoc:UserLastName did not answer" in detail["PV does not connect"]
    assert "below the threshold 1024.0 TiB" in detail["not enough space"]
    assert "5 of " in result.stdout and "pre-flight checks failed" in result.stdout


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
