"""The pool trees the lab rsync daemon serves (seeded once, kept between runs)."""

import os


def _write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if not os.path.exists(path):
        with open(path, "wb") as handle:
            handle.write(data)


def seed_pv(root):
    for obs in range(3):
        for n in range(5):
            _write(os.path.join(root, "obs%04d" % obs, "product_%02d.fits" % n), (b"PV %d %d\n" % (obs, n)) * (50 + n))
    _write(os.path.join(root, "README"), b"PACS product pool pv\n")


POOLS = [
    {"name": "pv", "comment": "PACS product pool pv", "seed": seed_pv},
]


def modules(lab):
    found = []
    for pool in POOLS:
        path = lab.path("pools", pool["name"])
        if not os.path.isdir(path):
            pool["seed"](path)
        found.append({"name": pool["name"], "path": path, "comment": pool["comment"]})
    return found
