"""Each host's root: an overlay of the shared image (read-only) and the host's own upper folder."""

from __future__ import annotations

import os
import subprocess


def _unescape(field):
    # /proc/mounts writes space, tab, newline and backslash in paths as octal escapes.
    return field.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")


def mounts_under(folder):
    """Mount points at or below folder, deepest first (the order to unmount them)."""
    folder = os.path.realpath(folder)
    found = []
    with open("/proc/mounts", encoding="utf-8") as handle:
        for line in handle:
            point = _unescape(line.split()[1])
            if point == folder or point.startswith(folder + os.sep):
                found.append(point)
    return sorted(set(found), key=lambda point: point.count(os.sep), reverse=True)


def is_mounted(point):
    return os.path.realpath(point) in mounts_under(point)


def mount_overlay(lower, upper, work, point):
    for folder in (upper, work, point):
        os.makedirs(folder, exist_ok=True)
    if not is_mounted(point):
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                        "lowerdir=%s,upperdir=%s,workdir=%s" % (lower, upper, work), point],
                       check=True, capture_output=True, text=True)


def unmount_all_under(folder):
    """Unmount everything at or below folder; a mount still busy is detached lazily."""
    for point in mounts_under(folder):
        if subprocess.run(["umount", point], capture_output=True, check=False).returncode != 0:
            subprocess.run(["umount", "--lazy", point], capture_output=True, check=True)
