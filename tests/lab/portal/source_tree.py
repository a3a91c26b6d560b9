"""The synchrotron's /data/<beamline>/<epn>/ tree, under .lab/synchrotron/data (served by the lab sshd).

Each EPN folder looks like a real MX experiment: nested folders, names with spaces,
a ``.info`` file (which repatriation copies), other dot files and folders (which it
does not), many small files and a large one. Generated once, deterministically.
"""

from __future__ import annotations

import os
import random
import shutil

# beamline, epn, size of the large file in bytes
EPNS = [
    ("MX1", "12282a", 3 * 1024 * 1024),
    ("MX1", "12282b", 1 * 1024 * 1024),
    ("MX1", "13001a", 24 * 1024 * 1024),
    ("MX1", "12400a", 512 * 1024),
    ("MX1", "15555a", 256 * 1024),
    ("MX1", "17777a", 128 * 1024),
    ("MX2", "20123a", 2 * 1024 * 1024),
    ("MX2", "20999a", 256 * 1024),
]


def source_root(lab):
    return lab.path("synchrotron", "data")


def _write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)


def build_epn(path, beamline, epn, large_size, seed=None):
    """Write one EPN folder at ``path`` (replaced atomically if it does not exist yet)."""
    if os.path.isdir(path):
        return path
    rng = random.Random(seed if seed is not None else "%s/%s" % (beamline, epn))
    tmp = path + ".tmp-build"
    shutil.rmtree(tmp, ignore_errors=True)
    _write(os.path.join(tmp, ".info"), ("epn: %s\nbeamline: %s\nfacility: lab synchrotron\n" % (epn, beamline)).encode())
    _write(os.path.join(tmp, ".DS_Store"), rng.randbytes(1024))
    _write(os.path.join(tmp, ".cache", "thumbs.db"), rng.randbytes(2048))
    _write(os.path.join(tmp, "notes for user.txt"), b"Collected on %s. Keep the raw frames.\n" % beamline.encode())
    for run in (1, 2):
        folder = os.path.join(tmp, "frames", "run %d" % run)
        for number in range(1, 7):
            _write(os.path.join(folder, "img_%04d.cbf" % number), rng.randbytes(rng.randint(8 * 1024, 48 * 1024)))
        _write(os.path.join(folder, ".info"), ("run: %d\n" % run).encode())
    _write(os.path.join(tmp, "frames", "run 1", "master.h5"), rng.randbytes(large_size))
    _write(os.path.join(tmp, "processing", "autoPROC", "aimless.log"), b"aimless summary\n" * 400)
    _write(os.path.join(tmp, "processing", "xia2 run 1", "DEFAULT", "xia2.txt"), b"xia2 report\n" * 200)
    _write(os.path.join(tmp, "processing", ".nfs0000000001a2b"), b"stale nfs handle\n")
    _write(os.path.join(tmp, "empty.dat"), b"")
    os.rename(tmp, path)
    return path


def build(lab):
    root = source_root(lab)
    for beamline, epn, size in EPNS:
        build_epn(os.path.join(root, beamline, epn), beamline, epn, size)
    return root


def expected_files(epn_dir):
    """Relative paths rsync's default EPN filter copies: everything but dot files, except .info."""
    found = {}
    for current, dirs, files in os.walk(epn_dir):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if name.startswith(".") and name != ".info":
                continue
            full = os.path.join(current, name)
            found[os.path.relpath(full, epn_dir)] = full
    return found
