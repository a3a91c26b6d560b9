# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: job_report
type: aggregate
short_description: Prometheus metrics and the audit trail of a datasync job
description:
  - Reads every result of this collection's modules in a job run and, when the run ends, writes the job's metrics as a
    Prometheus textfile (for node_exporter's textfile collector) and appends one JSON line per change to the job's audit
    log and to the journal.
  - The runtime role enables it in the jobs' C(ansible.cfg); the C(datasync-job) wrapper sets the job name and the
    account's metrics folder and audit log.
  - Only names, ids and counts are read from results, never module arguments, messages or reasons.
  - Nothing is written in check mode, nor for a task run in check mode.
  - Metric names, labels and the audit fields are described in the collection's C(docs/monitoring.md).
requirements:
  - prometheus_client (for the metrics)
options:
  job:
    description: The job name (label C(datasync_job) and audit field C(job)); default the playbook's file name without C(.yml).
    type: str
    env:
      - name: DATASYNC_JOB
  metrics_dir:
    description:
      - Folder of the textfile C(datasync_<job>.prom); no metrics when unset.
      - It must be writable only by the running user (or root).
    type: path
    env:
      - name: DATASYNC_METRICS_DIR
    ini:
      - section: callback_job_report
        key: metrics_dir
  audit_log:
    description: The append-only audit log (a private file of the running user); no log when unset.
    type: path
    env:
      - name: DATASYNC_AUDIT_LOG
    ini:
      - section: callback_job_report
        key: audit_log
  journal:
    description: Send the audit entries to the journal too (when the host has one).
    type: bool
    default: true
    env:
      - name: DATASYNC_AUDIT_JOURNAL
    ini:
      - section: callback_job_report
        key: journal
  interval:
    description: Seconds between two scheduled runs, exported as C(datasync_job_interval_seconds) for the alert rules (0 - unknown).
    type: int
    default: 0
    env:
      - name: DATASYNC_JOB_INTERVAL_SECONDS
"""

import datetime
import os
import socket
import time

from ansible import context
from ansible.plugins.callback import CallbackBase

from ansible_collections.sciops.datasync.plugins.plugin_utils._report import audit, metrics
from ansible_collections.sciops.datasync.plugins.plugin_utils._report.extract import PREFIX, RunReport


def _now_iso(now):
    return datetime.datetime.fromtimestamp(now, datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "sciops.datasync.job_report"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.report = RunReport()
        self.started = time.time()
        self.playbook = None
        self.failed = False

    def v2_playbook_on_start(self, playbook):
        self.started = time.time()
        self.playbook = os.path.splitext(os.path.basename(getattr(playbook, "_file_name", "") or "job"))[0]

    def _module(self, result):
        task = result._task
        return getattr(task, "resolved_action", None) or task.action

    def _add(self, result, res):
        if getattr(result._task, "check_mode", False) is True:
            return
        module = self._module(result)
        if not module or not module.startswith(PREFIX):
            return
        count = len(self.report.changes)
        self.report.add(module, res)
        stamp = _now_iso(time.time())
        for change in self.report.changes[count:]:
            change["time"] = stamp

    def _task_result(self, result, failed):
        res = result._result
        if failed:
            self.failed = True
        if isinstance(res.get("results"), list):
            return  # a loop: its items came through v2_runner_item_on_*
        self._add(result, res)

    def v2_runner_on_ok(self, result):
        self._task_result(result, False)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._task_result(result, not ignore_errors)

    def v2_runner_on_unreachable(self, result):
        self.failed = True

    def v2_runner_item_on_ok(self, result):
        self._add(result, result._result)

    def v2_runner_item_on_failed(self, result):
        self._add(result, result._result)

    def v2_playbook_on_stats(self, stats):
        if context.CLIARGS.get("check"):
            return
        ended = time.time()
        job = self.get_option("job") or self.playbook or "job"
        failed = self.failed or any(stats.failures.values()) or any(stats.dark.values())
        result = "failed" if failed else "skipped" if self.report.job_skipped else "success"
        host = socket.gethostname()
        entries = [dict(change, job=job, host=host) for change in self.report.changes]
        audit_log = self.get_option("audit_log")
        if audit_log:
            try:
                audit.append(audit_log, entries)
            except (OSError, ValueError) as exc:
                self._display.error("job_report: audit log %s not written: %s" % (audit_log, exc))
        if self.get_option("journal"):
            audit.to_journal(entries)
        directory = self.get_option("metrics_dir")
        if directory:
            try:
                metrics.write(directory, job, self.report, result, self.started, ended, self.get_option("interval"))
            except (OSError, ValueError, RuntimeError) as exc:
                self._display.error("job_report: metrics of %s not written in %s: %s" % (job, directory, exc))
