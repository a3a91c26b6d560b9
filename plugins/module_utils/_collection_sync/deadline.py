# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Transfer task time limits and deadlines. Private to sciops.datasync: not a public API.

A time limit is minutes as a number, or a number followed by s, m, h or d; a task's
deadline is that long after the run starts, in UTC.
"""

from __future__ import annotations

import datetime
import re

DEFAULT_TIME_LIMIT = "1440"

TIME_LIMIT = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "": 60, "h": 3600, "d": 86400}


def parse_time_limit(value):
    """Seconds from a time limit: minutes as a number, or a number with s, m, h or d."""
    if isinstance(value, bool):
        raise ValueError("time limit %r is not a duration" % (value,))
    if isinstance(value, int):
        value = str(value)
    match = TIME_LIMIT.match(value or "")
    if not match:
        raise ValueError("time limit %r is not a duration (minutes, or a number followed by s, m, h or d)" % (value,))
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds <= 0:
        raise ValueError("time limit %r must be positive" % (value,))
    return seconds


def format_deadline(now, seconds):
    """ISO 8601 deadline ``seconds`` after ``now`` (an aware datetime), UTC."""
    return (now + datetime.timedelta(seconds=seconds)).astimezone(datetime.timezone.utc).isoformat()
