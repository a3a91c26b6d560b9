"""The wheelhouse the lab hosts install their job virtualenv from: they have no internet.

Built on the controller with `pip download --only-binary=:all:` for a host Python version
(Debian 12: 3.11, Debian 13: 3.13) and manylinux x86_64, from the runtime role's own
requirement list (roles/runtime/defaults/main.yml) plus pip itself (the hosts have no
python3-venv, so the role installs pip from its wheel). Cached outside the checkout, one
folder per key (requirements, Python version, platforms), and linked into the lab as
<lab>/wheelhouse/py<version>, which inventories/lab hands to the role
(datasync_pip_wheelhouse_src). A build goes to a temporary folder renamed into place when complete.

python -m tests.lab.hosts.wheelhouse [VERSION...]   (default: 3.11)
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
CACHE = os.environ.get("DATASYNC_LAB_WHEEL_CACHE", "/var/cache/sciops-datasync-lab/wheelhouse")
PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_36_x86_64")
RECIPE_VERSION = 1
# The host Python of each Debian release the lab images come in.
SUITE_PYTHON = {"bookworm": "3.11", "trixie": "3.13"}


def requirements():
    with open(os.path.join(REPO, "roles", "runtime", "defaults", "main.yml"), encoding="utf-8") as handle:
        return list(yaml.safe_load(handle)["datasync_venv_requirements"])


def key(python_version, reqs):
    recipe = {"python": python_version, "requirements": sorted(reqs), "platforms": PLATFORMS, "recipe": RECIPE_VERSION}
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def ensure_wheelhouse(python_version="3.11", log=print):
    """The folder of wheels for python_version, downloading them first if the cache has none."""
    reqs = requirements()
    folder = os.path.join(CACHE, key(python_version, reqs))
    wheels = os.path.join(folder, "wheels")
    if os.path.isfile(os.path.join(folder, "wheelhouse.json")):
        return wheels
    os.makedirs(CACHE, exist_ok=True)
    with open(os.path.join(CACHE, ".build.lock"), "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.isfile(os.path.join(folder, "wheelhouse.json")):
            return wheels
        building = "%s.building-%d" % (folder, os.getpid())
        shutil.rmtree(building, ignore_errors=True)
        started = time.monotonic()
        abi = "cp" + python_version.replace(".", "")
        argv = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--quiet",
                "--only-binary=:all:", "--python-version", python_version, "--implementation", "cp", "--abi", abi]
        for platform in PLATFORMS:
            argv += ["--platform", platform]
        argv += ["--dest", os.path.join(building, "wheels"), "pip"] + reqs
        log("building the lab wheelhouse for Python %s (pip download)" % python_version)
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            shutil.rmtree(building, ignore_errors=True)
            raise RuntimeError("pip download for Python %s failed:\n%s" % (python_version, proc.stderr[-3000:]))
        record = {"python": python_version, "requirements": reqs, "platforms": list(PLATFORMS),
                  "wheels": sorted(os.listdir(os.path.join(building, "wheels"))),
                  "build_seconds": round(time.monotonic() - started, 1)}
        with open(os.path.join(building, "wheelhouse.json"), "w", encoding="utf-8") as handle:
            json.dump(record, handle, indent=2)
        shutil.rmtree(folder, ignore_errors=True)
        os.rename(building, folder)
    return wheels


def link_into_lab(lab_dir, versions=("3.11",), log=print):
    """<lab_dir>/wheelhouse/py<version> -> the cached wheels, for each version; returns {version: link}."""
    links = {}
    os.makedirs(os.path.join(lab_dir, "wheelhouse"), exist_ok=True)
    for version in versions:
        target = ensure_wheelhouse(version, log)
        link = os.path.join(lab_dir, "wheelhouse", "py" + version)
        if os.path.realpath(link) != os.path.realpath(target):
            temporary = link + ".tmp"
            if os.path.lexists(temporary):
                os.unlink(temporary)
            os.symlink(target, temporary)
            os.replace(temporary, link)
        links[version] = link
    return links


def main(argv):
    from tests.lab.hosts.lab import lab_dir

    for version, link in link_into_lab(lab_dir(), tuple(argv) or ("3.11",)).items():
        print("Python %s: %s -> %s" % (version, link, os.path.realpath(link)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
