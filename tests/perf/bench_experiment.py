"""Beamline experiment: reading the TomoScan user PVs over Channel Access.

ours: _epics.read_pvs (all PVs searched at once on one context, one overall timeout).
baseline: what the original `globus` did with pyepics, one PV at a time
(`PV(name).get()`; here caproto's sync client `read`, one search + circuit per PV).
Also the failure case: N unreachable PVs cost one timeout with ours, N timeouts one by one.

Runs its own caproto IOC on free ports (the lab IOC is untouched).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(REPO, ".collections")
SCALES = {"full": {"prefixes": 8, "missing": 6}, "small": {"prefixes": 1, "missing": 2}}
SUFFIXES = ["ExperimentYearMonth", "UserName", "UserLastName", "UserEmail", "UserBadge", "UserInstitution",
            "ProposalNumber", "ProposalTitle", "ESAFNumber", "ESAFDOINumber", "UserInfoUpdate"]


def free_udp_tcp_port():
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                udp.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue


def run(scale):
    if COLLECTIONS not in sys.path:
        sys.path.insert(0, COLLECTIONS)
    from ansible_collections.sciops.datasync.plugins.module_utils._experiment import epics as _epics
    from caproto.sync.client import read

    sizes = SCALES[scale]
    port, repeater = free_udp_tcp_port(), free_udp_tcp_port()
    env = {"EPICS_CA_ADDR_LIST": "127.0.0.1", "EPICS_CA_AUTO_ADDR_LIST": "NO",
           "EPICS_CA_SERVER_PORT": str(port), "EPICS_CA_REPEATER_PORT": str(repeater)}
    prefixes = ["bench:P%d:" % n for n in range(sizes["prefixes"])]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        seed_path = os.path.join(tmp, "ioc.yml")
        with open(seed_path, "w") as handle:
            yaml.safe_dump({"prefixes": {p: {s: "v-%s" % s for s in SUFFIXES} for p in prefixes}}, handle)
        process = subprocess.Popen([sys.executable, "-m", "tests.lab.ioc.server", "--seed", seed_path], cwd=REPO,
                                   env=dict(os.environ, PYTHONPATH=REPO, **env), stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                        break
                except OSError:
                    time.sleep(0.2)
            os.environ.update(env)
            names = [p + s for p in prefixes for s in SUFFIXES]
            started = time.monotonic()
            values, errors = _epics.read_pvs("", names, timeout=5.0, environ=env)
            ours = time.monotonic() - started
            assert not errors and len(values) == len(names), errors
            started = time.monotonic()
            for name in names:
                read(name, timeout=5.0)
            baseline = time.monotonic() - started
            results.append({"name": "read %d PVs" % len(names), "ours": ours, "baseline": baseline,
                            "baseline_name": "one PV at a time (pyepics-style get)",
                            "note": "on localhost the client context start-up (~0.15 s) dominates small reads"})
            missing = ["bench:Missing:%d" % n for n in range(sizes["missing"])]
            started = time.monotonic()
            values, errors = _epics.read_pvs("", missing, timeout=1.0, environ=env)
            ours = time.monotonic() - started
            assert len(errors) == len(missing)
            started = time.monotonic()
            for name in missing:
                try:
                    read(name, timeout=1.0)
                except Exception:  # pylint: disable=broad-except
                    pass
            baseline = time.monotonic() - started
            results.append({"name": "%d unreachable PVs, 1 s timeout" % len(missing), "ours": ours, "baseline": baseline,
                            "baseline_name": "one timeout per PV", "note": "every PV named in the error"})
        finally:
            process.terminate()
            process.wait(timeout=10)
    return results


if __name__ == "__main__":
    for row in run(sys.argv[1] if len(sys.argv) > 1 else "small"):
        print(row)
