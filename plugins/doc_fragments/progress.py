# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The progress options of every long-running module (module_utils/_core/progress.py).
    DOCUMENTATION = r"""
options:
  progress_log:
    description:
      - The job log to append progress lines to while the module runs (items done of total,
        bytes, rate, seconds elapsed), one every O(progress_interval) seconds and one at the end,
        so an operator tailing the log sees movement.
      - The C(datasync-job) wrapper sets it through the environment variable E(DATASYNC_JOB_LOG).
        Without it nothing is written.
      - The file must already exist, be a regular file owned by the running user and not writable by
        group or others, in a folder only the running user or root can write; it is never followed
        when it is a symbolic link. A log that cannot be used gives a warning and no progress lines;
        the run goes on.
    type: path
  progress_interval:
    description:
      - Seconds between two progress lines.
      - Falls back to the environment variable E(DATASYNC_PROGRESS_INTERVAL).
    type: float
    default: 30
"""
