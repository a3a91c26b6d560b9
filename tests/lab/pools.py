"""The pool trees the lab rsync daemon serves (seeded once, kept between runs).

Modules (all read-only, `auth users = pacs`):

- ``pv``    PACS product pools, PV: ~1,100 small files in nested product folders
            (transferPools-style ``simple.pacs_.../herschel.ia.dataset.Product/N``),
            two 8 MB calibration cubes, symlinks (relative, to a folder, dangling).
- ``pv-1``  PV part 1: ~800 small files and one 16 MB file.
- ``pv-2``  PV part 2: ~500 small files, and names with spaces and odd characters.
- ``ops``   operations notes: a few files, odd names (tab, quotes, unicode), an absolute symlink.
- ``scratch`` an empty pool tests fill with their own folders (unique names) and change.
- ``bench`` only when generated: ``python -m tests.lab.pools bench [--files N] [--mbytes M]``
            (default 100,000 files, about 2 GB) for tests/perf/bench_pools.py.

Contents and times are deterministic (seeded random bytes, fixed mtimes), so a mirror
can be compared byte for byte. A seed marker under ``.lab/pools/.seed/`` records which
version of a tree was written; a newer version adds what is missing and never wipes.
"""

import argparse
import os
import random
import sys

SEED_VERSION = 2
BASE_TIME = 1187969940  # 2007-08-24T15:39:00Z, the seed's first log entry


def _write(path, data, mtime=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if not os.path.lexists(path):
        with open(path, "wb") as handle:
            handle.write(data)
        if mtime is not None:
            os.utime(path, (mtime, mtime))


def _link(path, target):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if not os.path.lexists(path):
        os.symlink(target, path)


def _blob(rng, size):
    return rng.randbytes(size) if hasattr(rng, "randbytes") else bytes(rng.getrandbits(8) for n in range(size))


def _products(root, rng, prefix, count, per_product, when):
    """transferPools-style product pool folders with .attrib/.meta and numbered parts."""
    for n in range(count):
        pool = os.path.join(root, "%s%04d" % (prefix, n), "simple.pacs_standard_products_fmilt")
        stamp = when + n * 3600
        _write(os.path.join(pool, "herschel.ia.dataset.Product.attrib"), b"attrib %s %d\n" % (prefix.encode(), n) * 4, stamp)
        _write(os.path.join(pool, "herschel.ia.dataset.Product.meta"), b"meta obsid=%d\n" % (1342180000 + n) * 8, stamp)
        for part in range(per_product):
            size = 200 + rng.randint(0, 3800)
            _write(os.path.join(pool, "herschel.ia.dataset.Product", str(part)), _blob(rng, size), stamp + part)
        _write(os.path.join(root, "%s%04d" % (prefix, n), "simple.pacs_calibration_products", "calibration.meta"),
               b"calibration for %d\n" % n, stamp)


ODD_NAMES = [
    "file with spaces.txt",
    "quote's and \"double\".txt",
    "semi;colon&ampersand$dollar.txt",
    "[brackets] (parens) {braces}.txt",
    "-leading-dash.txt",
    "#hash and 100%.txt",
    "\u00fcmlaut-\u00e9t\u00e9-\u65e5\u672c.fits",
    "back\\slash.txt",
    "star*question?.txt",
    "trailing.dot.",
]


def seed_pv(root):
    rng = random.Random("pv")
    _products(root, rng, "obs", 40, 25, BASE_TIME)
    _write(os.path.join(root, "README"), b"PACS product pool pv\n", BASE_TIME)
    for n in (1, 2):
        _write(os.path.join(root, "large", "calibration_cube_%02d.fits" % n), _blob(rng, 8 * 1024 * 1024), BASE_TIME + n)
    _link(os.path.join(root, "README.txt"), "README")
    _link(os.path.join(root, "latest"), "obs0039")
    _link(os.path.join(root, "large", "current cube.fits"), "calibration_cube_02.fits")
    _link(os.path.join(root, "dangling"), "obs9999/missing")


def seed_pv1(root):
    rng = random.Random("pv-1")
    _products(root, rng, "pv1_obs", 30, 25, BASE_TIME + 86400)
    _write(os.path.join(root, "large", "spectral cube.fits"), _blob(rng, 16 * 1024 * 1024), BASE_TIME + 86400)
    _write(os.path.join(root, "README"), b"PV part 1\n", BASE_TIME)


def seed_pv2(root):
    rng = random.Random("pv-2")
    _products(root, rng, "pv2_obs", 20, 23, BASE_TIME + 2 * 86400)
    for n, name in enumerate(ODD_NAMES):
        _write(os.path.join(root, "odd names", name), b"odd %d\n" % n * 10, BASE_TIME + n)
        _write(os.path.join(root, "odd names", "nested dir %d" % n, name), b"nested odd %d\n" % n, BASE_TIME + n)
    _link(os.path.join(root, "odd names", "link to spaces"), "file with spaces.txt")


def seed_ops(root):
    rng = random.Random("ops")
    for n in range(12):
        _write(os.path.join(root, "notes", "2007", "%02d" % (n + 1), "shift-report.txt"), _blob(rng, 512), BASE_TIME + n * 86400)
    _write(os.path.join(root, "odd", "tab\there.txt"), b"tab\n", BASE_TIME)
    _write(os.path.join(root, "odd", "caf\u00e9 cr\u00e8me.txt"), b"unicode\n", BASE_TIME)
    _write(os.path.join(root, "odd", "it's \"quoted\".txt"), b"quotes\n", BASE_TIME)
    _link(os.path.join(root, "odd", "absolute-link"), "/etc/hostname")
    _write(os.path.join(root, "README"), b"operations notes\n", BASE_TIME)


def seed_scratch(root):
    os.makedirs(root, exist_ok=True)


POOLS = [
    {"name": "pv", "comment": "PACS product pools, PV", "seed": seed_pv},
    {"name": "pv-1", "comment": "PACS product pools, PV part 1", "seed": seed_pv1},
    {"name": "pv-2", "comment": "PACS product pools, PV part 2 (odd names)", "seed": seed_pv2},
    {"name": "ops", "comment": "ICC operations notes", "seed": seed_ops},
    {"name": "scratch", "comment": "Lab scratch pool for tests", "seed": seed_scratch},
]

BENCH = {"name": "bench", "comment": "Benchmark pool (generated)"}


def _marker(lab, name):
    return lab.path("pools", ".seed", "%s.v%d" % (name, SEED_VERSION))


def modules(lab):
    found = []
    for pool in POOLS:
        path = lab.path("pools", pool["name"])
        if not os.path.exists(_marker(lab, pool["name"])):
            pool["seed"](path)
            os.makedirs(os.path.dirname(_marker(lab, pool["name"])), exist_ok=True)
            open(_marker(lab, pool["name"]), "w").close()
        found.append({"name": pool["name"], "path": path, "comment": pool["comment"]})
    seeds = lab.path("pools", ".seed")
    for marker in sorted(os.listdir(seeds)) if os.path.isdir(seeds) else []:
        name, dot, version = marker.rpartition(".")
        if name.startswith(BENCH["name"]) and version == "v%d" % SEED_VERSION:
            found.append({"name": name, "path": lab.path("pools", name), "comment": BENCH["comment"]})
    return found


def generate_large(root, files=100000, mbytes=2048, per_dir=500, seed="bench"):
    """A big pool: ``files`` files in folders of ``per_dir``, about ``mbytes`` MB in total.

    Most files are small (1-16 KB); a few large ones carry the rest of the volume.
    Returns (files, bytes) written. Existing files are kept (reruns only add).
    """
    rng = random.Random(seed)
    total = mbytes * 1024 * 1024
    small_count = max(files - 20, 0)
    big_count = files - small_count
    written = 0
    chunk = _blob(rng, 1024 * 1024)
    for n in range(small_count):
        size = 1024 + (n * 7919) % (15 * 1024)
        folder = os.path.join(root, "d%03d" % (n // (per_dir * 20)), "s%03d" % ((n // per_dir) % 20))
        path = os.path.join(folder, "f%06d.dat" % n)
        offset = (n * 4099) % (len(chunk) - size)
        _write(path, chunk[offset:offset + size], BASE_TIME + n)
        written += size
    remaining = max(total - written, 0)
    for n in range(big_count):
        size = remaining // big_count if big_count else 0
        path = os.path.join(root, "large", "big%02d.dat" % n)
        if not os.path.exists(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as handle:
                left = size
                while left > 0:
                    piece = chunk[: min(left, len(chunk))]
                    handle.write(piece)
                    left -= len(piece)
            os.utime(path, (BASE_TIME, BASE_TIME))
        written += size
    return files, written


def generate_bench(lab, files=100000, mbytes=2048, name=None):
    """Generate a bench pool under .lab/pools/<name> (default bench) and serve it (the daemon rereads its config)."""
    name = name or BENCH["name"]
    if not name.startswith(BENCH["name"]):
        raise ValueError("bench pool names start with %s" % BENCH["name"])
    root = lab.path("pools", name)
    result = generate_large(root, files=files, mbytes=mbytes)
    os.makedirs(os.path.dirname(_marker(lab, name)), exist_ok=True)
    open(_marker(lab, name), "w").close()
    from tests.lab.services import rsyncd

    rsyncd.prepare(lab)
    return root, result


def main(argv):
    parser = argparse.ArgumentParser(prog="python -m tests.lab.pools")
    parser.add_argument("command", choices=["bench", "seed"])
    parser.add_argument("--files", type=int, default=100000)
    parser.add_argument("--mbytes", type=int, default=2048)
    parser.add_argument("--name", default=BENCH["name"])
    args = parser.parse_args(argv)
    from tests.lab.supervisor import Lab

    lab = Lab()
    if args.command == "seed":
        for module in modules(lab):
            print(module["name"], module["path"])
        return 0
    root, (count, size) = generate_bench(lab, args.files, args.mbytes, args.name)
    print("bench pool %s: %d files, %.1f MB" % (root, count, size / 1048576.0))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
