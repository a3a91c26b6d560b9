"""The minimal Debian root filesystem every lab host boots from, built once with mmdebstrap.

Images live outside the checkout, one folder per key (a hash of suite, packages and
recipe), so a changed package list builds a new image and an unchanged one is reused.
A build goes into a temporary folder that is renamed into place only when complete.
"""

from __future__ import annotations

import dataclasses
import fcntl
import glob
import hashlib
import json
import os
import subprocess
import time

from tests.lab.hosts.apt_sources import debian_mirror
from tests.lab.hosts.overlay import unmount_all_under
from tests.lab.hosts.processes import kill_processes_mentioning
from tests.lab.hosts.system_packages import ensure_host_tools

IMAGE_CACHE = os.environ.get("DATASYNC_LAB_IMAGE_CACHE", "/var/cache/sciops-datasync-lab/images")
SUITES = ("bookworm", "trixie")
PACKAGES = (
    "systemd", "systemd-sysv", "dbus", "libpam-systemd", "openssh-server", "cron",
    "python3", "sudo", "rsync", "ca-certificates", "iproute2",
    # The directory client (nslcd, its NSS and PAM modules): off in the image, switched on by the lab's
    # provisioning on the hosts that read the lab's directory (provision.install_directory_client).
    "nslcd", "libnss-ldapd", "libpam-ldapd",
)
ADMIN_USER = "admin"
# Part of the image key: bump it whenever _customize() changes what it writes.
RECIPE_VERSION = 2


@dataclasses.dataclass(frozen=True)
class ImageSpec:
    suite: str = "bookworm"
    packages: tuple[str, ...] = PACKAGES

    @property
    def key(self):
        recipe = {"suite": self.suite, "packages": sorted(self.packages), "recipe": RECIPE_VERSION}
        return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]

    @property
    def folder(self):
        return os.path.join(IMAGE_CACHE, self.key)

    @property
    def rootfs(self):
        return os.path.join(self.folder, "rootfs")

    @property
    def record_path(self):
        return os.path.join(self.folder, "image.json")

    def record(self):
        with open(self.record_path, encoding="utf-8") as handle:
            return json.load(handle)


def _write(path, text, mode=0o644):
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, mode)


def _customize(rootfs):
    """What every host shares: an admin with passwordless sudo, networkd, sshd with per-host keys."""
    for key in glob.glob(os.path.join(rootfs, "etc/ssh/ssh_host_*")):
        os.unlink(key)
    _write(os.path.join(rootfs, "etc/ssh/sshd_config.d/lab.conf"),
           "HostKey /etc/ssh/ssh_host_ed25519_key\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n")
    subprocess.run(["chroot", rootfs, "useradd", "--create-home", "--shell", "/bin/bash", ADMIN_USER], check=True)
    _write(os.path.join(rootfs, "etc/sudoers.d/lab-admin"), "%s ALL=(ALL) NOPASSWD:ALL\n" % ADMIN_USER, 0o440)
    subprocess.run(["systemctl", "--root", rootfs, "enable", "systemd-networkd.service"],
                   check=True, capture_output=True)
    # A host reads only local files until told otherwise: nslcd stopped, pam_ldap out of the PAM stacks.
    subprocess.run(["systemctl", "--root", rootfs, "disable", "nslcd.service"], check=True, capture_output=True)
    subprocess.run(["chroot", rootfs, "pam-auth-update", "--disable", "ldap"], check=True, capture_output=True,
                   env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive"})
    # Each host gets its own name and machine id; an empty machine-id is "not yet set" to systemd.
    for name in ("etc/hostname", "etc/machine-id", "var/lib/dbus/machine-id"):
        path = os.path.join(rootfs, name)
        if os.path.lexists(path):
            os.unlink(path)
    _write(os.path.join(rootfs, "etc/machine-id"), "")


def _remove_build(folder):
    """Remove a build folder, stopping an mmdebstrap that outlived its builder and its /proc, /sys, /dev mounts first."""
    kill_processes_mentioning(folder)
    unmount_all_under(folder)
    subprocess.run(["rm", "-rf", "--one-file-system", folder], check=True)


def _remove_abandoned_builds():
    # Called with the build lock held, so no folder here belongs to a live build.
    for folder in glob.glob(os.path.join(IMAGE_CACHE, ".building-*")):
        _remove_build(folder)


def _build(spec, log):
    building = os.path.join(IMAGE_CACHE, ".building-%s-%d" % (spec.key, os.getpid()))
    os.makedirs(building)
    rootfs = os.path.join(building, "rootfs")
    mirror = debian_mirror()
    started = time.monotonic()
    try:
        with open(os.path.join(building, "mmdebstrap.log"), "w", encoding="utf-8") as output:
            proc = subprocess.run(
                ["mmdebstrap", "--mode=root", "--variant=apt", "--include=" + ",".join(spec.packages),
                 spec.suite, rootfs, "deb %s %s main" % (mirror, spec.suite)],
                stdout=output, stderr=subprocess.STDOUT, check=False)
        if proc.returncode != 0:
            raise RuntimeError("mmdebstrap %s failed (rc %d); see %s" % (spec.suite, proc.returncode, output.name))
        _customize(rootfs)
        seconds = round(time.monotonic() - started, 1)
        record = {"suite": spec.suite, "packages": list(spec.packages), "recipe": RECIPE_VERSION, "mirror": mirror,
                  "build_seconds": seconds, "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        _write(os.path.join(building, "image.json"), json.dumps(record, indent=2) + "\n")
        os.rename(building, spec.folder)
    except BaseException:
        _remove_build(building)
        raise
    log("built image %s (%s) in %.1f s" % (spec.key, spec.suite, seconds))


def ensure_image(spec=ImageSpec(), log=print):
    """The image for spec, building it first if the cache has none."""
    if spec.suite not in SUITES:
        raise ValueError("suite %r is not one of %s" % (spec.suite, ", ".join(SUITES)))
    if os.path.isfile(spec.record_path):
        return spec
    ensure_host_tools()
    os.makedirs(IMAGE_CACHE, exist_ok=True)
    with open(os.path.join(IMAGE_CACHE, ".build.lock"), "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.isfile(spec.record_path):
            _remove_abandoned_builds()
            log("building lab image %s (%s) with mmdebstrap" % (spec.key, spec.suite))
            _build(spec, log)
    return spec
