"""TLS verification is on for the jobs on the booted hosts: beamline1's repatriation job trusts the
portal emulator through the system store (the lab CA, installed as a site installs its own CA).
With the lab CA taken out of beamline1's store the same job fails, saying the certificate could not
be verified, and changes nothing; with the CA back it runs again."""

import pytest

from tests.integration.site_lab import host_now, ssh
from tests.lab.hosts.job_log import job_runs

CA = "/usr/local/share/ca-certificates/datasync-lab-ca.crt"
SAVED = "/root/datasync-lab-ca.crt.saved"
STATE = "/var/lib/datasync-jobs/mxsync/epn_repatriate.json"
LOG = "/var/log/datasync-jobs/mxsync-repatriate.log"


def _root(lab, *command):
    result = ssh(lab, "beamline1", *command)
    assert result.returncode == 0, (command, result.stdout, result.stderr)
    return result.stdout


def _last_run(lab):
    """The job log from the last run's start line on (the wrapper writes the run's output there)."""
    log = _root(lab, "cat", LOG)
    return log[log.rindex("start mxsync-repatriate"):]


@pytest.fixture
def ca_untrusted(lab, lab_site):
    """beamline1 without the lab CA in its system store; put back (and the store rebuilt) afterwards."""
    _root(lab, "test", "-s", CA)
    _root(lab, "mv", CA, SAVED)
    try:
        _root(lab, "update-ca-certificates", "--fresh")
        yield
    finally:
        if ssh(lab, "beamline1", "test", "-e", SAVED).returncode == 0:
            _root(lab, "mv", SAVED, CA)
        _root(lab, "update-ca-certificates", "--fresh")


def test_a_job_on_a_host_that_does_not_trust_the_lab_ca_fails_with_a_tls_error(lab, lab_site, ca_untrusted):
    store = _root(lab, "sh", "-c", "grep -c 'BEGIN CERTIFICATE' /etc/ssl/certs/ca-certificates.crt; "
                                   "openssl verify -CAfile /etc/ssl/certs/ca-certificates.crt %s 2>&1 || true" % SAVED)
    assert "OK" not in store, store
    state_before = _root(lab, "md5sum", STATE)
    since = host_now(lab, "beamline1")
    run = ssh(lab, "beamline1", "/usr/local/bin/datasync-job", "mxsync-repatriate")
    out = _last_run(lab)
    assert run.returncode != 0, out[-3000:]
    runs = job_runs(_root(lab, "cat", LOG), "mxsync-repatriate", since)
    assert runs and runs[-1].rc != 0, runs
    # What the operator reads in the job log: the certificate could not be verified, for which service.
    assert "CERTIFICATE_VERIFY_FAILED" in out or "certificate verify failed" in out, out[-3000:]
    assert "services.lab" in out, out[-3000:]
    assert _root(lab, "md5sum", STATE) == state_before


def test_the_same_job_runs_with_the_lab_ca_trusted(lab, lab_site):
    _root(lab, "test", "-s", CA)
    run = ssh(lab, "beamline1", "/usr/local/bin/datasync-job", "mxsync-repatriate")
    out = _last_run(lab)
    assert run.returncode == 0, out[-3000:]
    assert "CERTIFICATE_VERIFY_FAILED" not in out and "failed=0" in out, out[-3000:]
