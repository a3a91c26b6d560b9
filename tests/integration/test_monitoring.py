"""Metrics and audit trail on the lab's booted hosts (issue 16): a job started as its timer starts
it leaves a textfile promtool accepts, reachable from root's metrics folder, and one audit line per
change in the log and in the journal, with no secret in either."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from tests.integration.site_lab import host_now, ssh, wait_for

PROMTOOL = shutil.which("promtool")


def _samples(text):
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for family in text_string_to_metric_families(text) for s in family.samples}


def _audit(lab, host, path, job, since):
    text = ssh(lab, host, "cat", path).stdout
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    return [line for line in lines if line["job"] == job and line["time"] >= since], text


def _iso(seconds):
    return subprocess.run(["date", "-u", "-d", "@%d" % seconds, "+%Y-%m-%dT%H:%M:%S"], capture_output=True, text=True, check=True).stdout.strip()


def test_collection_sync_job_reports_metrics_and_audit(lab_site, lab):
    """transfer1: `systemctl start datasync-collection-sync-start.service` (the service account's job)."""
    job, host = "collection-sync-start", "transfer1"
    submitted_key = ("datasync_items_total", (("action", "submitted"), ("datasync_job", job), ("kind", "sync")))
    before = _samples(ssh(lab, host, "cat", "/var/lib/datasync/metrics/datasync_%s.prom" % job).stdout).get(submitted_key, 0)
    since = host_now(lab, host)
    started = ssh(lab, host, "systemctl", "start", "datasync-%s.service" % job, timeout=600)
    assert started.returncode == 0, started.stdout + started.stderr + ssh(lab, host, "tail", "-n", "40", "/var/log/datasync-jobs/%s.log" % job).stdout

    # node_exporter's folder holds root's link to the file the service account wrote.
    link = ssh(lab, host, "stat", "-c", "%U %F %N", "/var/lib/datasync/metrics/datasync_%s.prom" % job).stdout
    assert link.startswith("root symbolic link") and "/var/lib/datasync-jobs-metrics/datasync_%s.prom" % job in link, link
    owner = ssh(lab, host, "stat", "-c", "%U %a", "/var/lib/datasync-jobs-metrics/datasync_%s.prom" % job).stdout.split()
    assert owner == ["datasync", "644"], owner
    text = ssh(lab, host, "cat", "/var/lib/datasync/metrics/datasync_%s.prom" % job).stdout
    got = _samples(text)
    labels = (("datasync_job", job),)
    assert got[("datasync_job_last_run_timestamp_seconds", labels)] >= since
    assert got[("datasync_job_result", labels + (("result", "success"),))] == 1, text
    assert got[("datasync_job_last_success_timestamp_seconds", labels)] == got[("datasync_job_last_run_timestamp_seconds", labels)]
    assert got[("datasync_job_interval_seconds", labels)] == 86400
    assert ("datasync_sync_task_stalled_seconds", labels + (("sync", "projects"),)) in got
    if PROMTOOL:
        check = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, check=False)
        assert check.returncode == 0, check.stdout + check.stderr

    # The start job submits a task when none is live: each change is one audit line, also in the journal.
    changes, log_text = _audit(lab, host, "/var/log/datasync-jobs/audit.log", job, _iso(since))
    assert got[submitted_key] == before + 1, text
    assert [c["action"] for c in changes if c["action"] == "transfer_submitted"] == ["transfer_submitted"], changes
    assert all(c["host"] == host and c["upstream_id"] for c in changes if c["action"] == "transfer_submitted"), changes
    mode = ssh(lab, host, "stat", "-c", "%U %a", "/var/log/datasync-jobs/audit.log").stdout.split()
    assert mode == ["datasync", "640"], mode
    journal = ssh(lab, host, "journalctl", "-o", "json", "--since", "@%d" % since, "SYSLOG_IDENTIFIER=datasync-audit", "DATASYNC_JOB=" + job)
    entries = [json.loads(line) for line in journal.stdout.splitlines() if line.strip()]
    assert sorted((e["DATASYNC_ACTION"], e["DATASYNC_OBJECT"]) for e in entries) == sorted((c["action"], c["object"]) for c in changes), \
        journal.stdout + journal.stderr

    secret = open(lab.endpoints()["globus"]["client_secret_file"], encoding="utf-8").read().strip()
    assert len(secret) > 8 and secret not in log_text and secret not in text and secret not in journal.stdout

    # The lab's Prometheus scrapes it from node_exporter on transfer1.
    ran = got[("datasync_job_last_run_timestamp_seconds", labels)]
    query = 'datasync_job_last_run_timestamp_seconds{instance="%s",datasync_job="%s"}' % (host, job)
    url = "%s/query?%s" % (lab.endpoints()["prometheus"]["api"], urllib.parse.urlencode({"query": query}))

    def scraped():
        with urllib.request.urlopen(url, timeout=10) as answer:  # nosec: the lab's own Prometheus on 127.0.0.1
            result = json.load(answer)["data"]["result"]
        return result and float(result[0]["value"][1]) == ran

    wait_for("Prometheus scraping the run of %s on %s" % (job, host), scraped, timeout=60)


def test_root_job_writes_in_roots_folder(lab_site, lab):
    """portal1: the root job gosync-new, run as cron runs it, writes a root-owned file promtool accepts."""
    job, host = "gosync-new", "portal1"
    since = host_now(lab, host)
    run = ssh(lab, host, "/usr/local/bin/datasync-job", job)
    assert run.returncode == 0, run.stdout + run.stderr
    info = ssh(lab, host, "stat", "-c", "%U %a %F", "/var/lib/datasync/metrics", "/var/lib/datasync/metrics/datasync_%s.prom" % job)
    assert info.stdout.splitlines() == ["root 755 directory", "root 644 regular file"], info.stdout + info.stderr
    text = ssh(lab, host, "cat", "/var/lib/datasync/metrics/datasync_%s.prom" % job).stdout
    got = _samples(text)
    assert got[("datasync_job_last_run_timestamp_seconds", (("datasync_job", job),))] >= since, text
    assert got[("datasync_job_interval_seconds", (("datasync_job", job),))] == 120, text
    if PROMTOOL:
        check = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, check=False)
        assert check.returncode == 0, check.stdout + check.stderr
    # The service account can neither write root's folder nor replace the root job's file.
    attack = ssh(lab, host, "runuser", "-u", "datasync", "--", "/bin/sh", "-c",
                 "echo 'datasync_job_result{datasync_job=\"%s\",result=\"success\"} 1' > /var/lib/datasync/metrics/forged.prom "
                 "2>/dev/null && echo WROTE; mv /var/lib/datasync/metrics/datasync_%s.prom /tmp/x 2>/dev/null && echo MOVED; true"
                 % (job, job))
    assert attack.stdout.strip() == "", attack.stdout


def test_logrotate_file_is_installed(lab_site, lab):
    """Each host has the logrotate file naming both log folders, the service account's rotated as it."""
    text = ssh(lab, "mirror1", "cat", "/etc/logrotate.d/datasync").stdout
    assert "/var/log/datasync/*.log {" in text and "/var/log/datasync-jobs/*.log {" in text
    assert "su datasync datasync" in text and "create 0640 datasync datasync" in text
