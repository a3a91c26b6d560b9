"""EPN repatriation in parallel: epn_repatriate with max_tasks 4 against max_tasks 1, side by side.

Eight EPNs (the portal emulator's BENCH equipment, visits 30001a-30008a) are served by the
lab sshd, with the serving rsync limited per stream (``--rsync-path="rsync --bwlimit=..."``),
as a facility's per-connection limit would. Goal (issue 6): max_tasks 4 at least 3.5x faster
than max_tasks 1. The module is timed as Ansible runs it on a host (the module process with
its args file); each run starts from an empty destination and state.

Scale "full": about 6 MB per EPN at 1000 KiB/s per stream; "small": about 1.5 MB at 500 KiB/s.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from tests.lab.portal import source_tree
from tests.lab.supervisor import Lab

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EPNS = ["3000%da" % n for n in range(1, 9)]
SCALES = {"full": (6 * 1024 * 1024, 1000), "small": (1024 * 1024, 500)}


def _module(work, args, env):
    path = os.path.join(work, "args-%d.json" % len(os.listdir(work)))
    with open(path, "w") as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": dict(args, _ansible_check_mode=False, _ansible_diff=False)}, handle)
    begin = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "ansible_collections.sciops.datasync.plugins.modules.epn_repatriate", path],
                          env=env, cwd=work, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - begin
    result = json.loads(proc.stdout[proc.stdout.index("{"):])
    if result.get("failed") or sorted(result.get("transferred", [])) != EPNS:
        raise RuntimeError("epn_repatriate did not transfer the 8 EPNs: %s %s" % (result.get("msg"), result.get("skipped_epns")))
    return elapsed


def run(scale):
    large, bwlimit = SCALES[scale]
    lab = Lab()
    lab.up(hosts=False)
    services = lab.endpoints()
    beamline = "BENCH-%s" % scale
    root = services["portal"]["source_root"]
    for epn in EPNS:
        source_tree.build_epn(os.path.join(root, beamline, epn), beamline, epn, large)
    epn_bytes = sum(os.path.getsize(p) for p in source_tree.expected_files(os.path.join(root, beamline, EPNS[0])).values())
    env = dict(os.environ, PYTHONPATH=os.path.join(REPO, ".collections"))
    work = tempfile.mkdtemp(prefix="bench-epn-")
    try:
        def repatriate(max_tasks):
            target = os.path.join(work, "run-%d" % max_tasks)
            shutil.rmtree(target, ignore_errors=True)
            return _module(work, {
                "portal_url": services["portal"]["url"], "ca_bundle": services["portal"]["ca_file"],
                "credentials_file": services["portal"]["credentials_file"],
                "equipment": [{"id": 77, "beamline": beamline}], "epn_map": {"3000%d" % n: "bench" for n in range(1, 9)},
                "source_host": "127.0.0.1", "source_port": services["sshd"]["port"], "source_user": services["sshd"]["user"],
                "source_root": root, "key_file": services["sshd"]["key_file"], "known_hosts": services["sshd"]["known_hosts"],
                "destination_root": os.path.join(target, "scratch"), "state_file": os.path.join(target, "state.json"),
                "max_tasks": max_tasks, "rsync_extra_options": ["--rsync-path=rsync --bwlimit=%d" % bwlimit],
            }, env)

        serial = repatriate(1)
        parallel = repatriate(4)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ratio = serial / parallel
    return [{
        "name": "EPN repatriation, 8 EPNs x %.1f MB, %d KiB/s per stream" % (epn_bytes / 1048576.0, bwlimit),
        "ours": parallel, "baseline": serial, "baseline_name": "epn_repatriate max_tasks 1",
        "note": "max_tasks 4 is %.2fx faster (goal >= 3.5x)" % ratio,
    }]


if __name__ == "__main__":
    print(json.dumps(run(sys.argv[1] if len(sys.argv) > 1 else "small"), indent=1))
