# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Prometheus textfile of one job. Private to sciops.datasync: not a public API.

One file per job, ``datasync_<job>.prom``, written with prometheus_client's textfile writer
(a temporary file renamed over it). Counters (``_total``), the last success and the
consecutive failures of each item continue from the job's previous file, so the file is
the only state the metrics need; a lost file restarts them, which Prometheus reads as a
counter reset. The job is the label ``datasync_job``: ``job`` is the scrape job's own label.
"""

from __future__ import annotations

import os
import re

try:
    from prometheus_client import CollectorRegistry, Counter, Gauge, write_to_textfile
    from prometheus_client.parser import text_string_to_metric_families
    from prometheus_client import disable_created_metrics
except ImportError:  # reported by write() when metrics are asked for
    CollectorRegistry = None

from ansible_collections.sciops.datasync.plugins.module_utils._core.state import ensure_trusted_folder

RESULTS = ("success", "failed", "skipped")
# Metric name (without _total for counters) -> (help, label names).
COUNTERS = {
    "datasync_job_runs": ("Runs of the job, by result.", ("datasync_job", "result")),
    "datasync_items": ("Items changed or failed, by kind (user, group, sync, epn, pool) and action.", ("datasync_job", "kind", "action")),
    "datasync_files_transferred": ("Files transferred, per sync, EPN project or pool (kind, name).", ("datasync_job", "kind", "name")),
    "datasync_transferred_bytes": ("Bytes of the files transferred, per sync, EPN project or pool (kind, name).", ("datasync_job", "kind", "name")),
    "datasync_lock_waits": ("Runs that waited for the run lock.", ("datasync_job",)),
    "datasync_lock_wait_seconds": ("Seconds spent waiting for the run lock.", ("datasync_job",)),
    "datasync_lock_skips": ("Runs or items skipped because their lock was busy.", ("datasync_job",)),
    "datasync_departures_held_back": ("Departures refused by the max_departures guard.", ("datasync_job", "kind")),
    "datasync_emails_sent": ("Emails sent.", ("datasync_job",)),
}
GAUGES = {
    "datasync_job_last_run_timestamp_seconds": ("When the last run ended (Unix time).", ("datasync_job",)),
    "datasync_job_last_success_timestamp_seconds": ("When the last successful run ended (Unix time).", ("datasync_job",)),
    "datasync_job_duration_seconds": ("How long the last run took.", ("datasync_job",)),
    "datasync_job_result": ("1 for the result of the last run, 0 for the others.", ("datasync_job", "result")),
    "datasync_job_interval_seconds": ("Seconds between two scheduled runs of the job.", ("datasync_job",)),
    "datasync_job_departures_held_back": ("Departures the last run refused (max_departures); nothing was changed.", ("datasync_job", "kind")),
    "datasync_item_consecutive_failures": ("Runs in a row in which this item failed.", ("datasync_job", "kind", "item")),
    "datasync_sync_task_stalled_seconds": ("Seconds the live task of a sync has been stalled on a fault (0: not stalled).", ("datasync_job", "sync")),
}
CARRIED_GAUGES = ("datasync_job_last_success_timestamp_seconds",)
MAX_FAILING_ITEMS = 100  # label values per job: a mass failure shows in datasync_items_total instead


def textfile_path(directory, job):
    if not re.match(r"^[A-Za-z0-9_-]+$", job or ""):
        raise ValueError("job name %r: only letters, digits, '-' and '_'" % (job,))
    return os.path.join(directory, "datasync_%s.prom" % job)


def read_previous(path):
    """{(sample name, sorted label items): value} of the job's previous file, or {} (absent or unreadable)."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(text) for s in family.samples}
    except (OSError, ValueError):
        return {}


def build_registry(job, report, result, started, ended, previous, interval=None):
    """The registry of this run: ``report`` (a RunReport), ``result`` (success, failed or skipped)."""
    disable_created_metrics()
    registry = CollectorRegistry()
    counters = {name: Counter(name, text, labels, registry=registry) for name, (text, labels) in COUNTERS.items()}
    gauges = {name: Gauge(name, text, labels, registry=registry) for name, (text, labels) in GAUGES.items()}
    for (sample, labels), value in sorted(previous.items()):
        labels = dict(labels)
        if labels.get("datasync_job") != job:
            continue
        if sample.endswith("_total") and sample[:-6] in counters:
            counters[sample[:-6]].labels(**labels).inc(value)
        elif sample in CARRIED_GAUGES:
            gauges[sample].labels(**labels).set(value)
    counters["datasync_job_runs"].labels(job, result).inc()
    for (kind, action), n in report.items.items():
        counters["datasync_items"].labels(job, kind, action).inc(n)
    for (kind, name), n in report.files.items():
        counters["datasync_files_transferred"].labels(job, kind, name or "").inc(n)
    for (kind, name), n in report.bytes.items():
        counters["datasync_transferred_bytes"].labels(job, kind, name or "").inc(n)
    counters["datasync_lock_waits"].labels(job).inc(report.lock_waits)
    counters["datasync_lock_wait_seconds"].labels(job).inc(report.lock_wait_seconds)
    counters["datasync_lock_skips"].labels(job).inc(report.lock_skips)
    counters["datasync_emails_sent"].labels(job).inc(report.emails)
    for kind, n in report.held_back.items():
        counters["datasync_departures_held_back"].labels(job, kind).inc(n)
        gauges["datasync_job_departures_held_back"].labels(job, kind).set(n)
    gauges["datasync_job_last_run_timestamp_seconds"].labels(job).set(ended)
    if result == "success":
        gauges["datasync_job_last_success_timestamp_seconds"].labels(job).set(ended)
    gauges["datasync_job_duration_seconds"].labels(job).set(max(0.0, ended - started))
    for name in RESULTS:
        gauges["datasync_job_result"].labels(job, name).set(1 if name == result else 0)
    if interval:
        gauges["datasync_job_interval_seconds"].labels(job).set(interval)
    for kind, item in sorted(report.failing)[:MAX_FAILING_ITEMS]:
        before = previous.get(("datasync_item_consecutive_failures", tuple(sorted({"datasync_job": job, "kind": kind, "item": item}.items()))), 0)
        gauges["datasync_item_consecutive_failures"].labels(job, kind, item).set(before + 1)
    for sync, seconds in report.stalled.items():
        gauges["datasync_sync_task_stalled_seconds"].labels(job, sync).set(seconds)
    return registry


def write(directory, job, report, result, started, ended, interval=None):
    """Write the job's textfile in ``directory`` (a folder only its owner or root can write); returns its path."""
    if CollectorRegistry is None:
        raise RuntimeError("the Python library prometheus_client is missing (install it into the job virtualenv)")
    ensure_trusted_folder(directory, "metrics folder")
    path = textfile_path(directory, job)
    registry = build_registry(job, report, result, started, ended, read_previous(path), interval)
    # node_exporter reads the file as its own user; jobs run with umask 027.
    old = os.umask(0o022)
    try:
        write_to_textfile(path, registry)
    finally:
        os.umask(old)
    return path
