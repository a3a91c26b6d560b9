"""Globus emulator at scale: get_group(include=memberships) on a 5,000-member group of the
20,000 identity / 2,000 group seed, through the real globus-sdk. Goal: under 200 ms.

Runs its own emulator on a free port with its own state folder (the lab one is untouched).
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time

# free_port and wait_port are imported from here by other benchmarks (bench_gosync).
from tests.lab.globus.private import PrivateEmulator, free_port, wait_port  # noqa: F401 pylint: disable=unused-import

SCALES = {"full": (20000, 2000, 5000), "small": (2000, 200, 500)}
GOAL = 0.200


def run(scale):
    import globus_sdk

    from tests.lab.globus import seedgen

    identities, groups, big = SCALES.get(scale, SCALES["small"])
    work = tempfile.mkdtemp(prefix="bench-globus-")
    server = None
    try:
        seed = os.path.join(work, "seed.yml")
        seedgen.main(["-o", seed, "--identities", str(identities), "--groups", str(groups), "--big-group", str(big)])
        started = time.monotonic()
        server = PrivateEmulator(os.path.join(work, "state"), seed, log_path=os.path.join(work, "server.log"), timeout=180)
        load_time = time.monotonic() - started
        url = server.url
        confidential = globus_sdk.ConfidentialAppAuthClient(seedgen.LAB_CLIENT["id"], seedgen.LAB_CLIENT["secret"], base_url=url)
        authorizer = globus_sdk.ClientCredentialsAuthorizer(confidential, globus_sdk.scopes.GroupsScopes.all)
        client = globus_sdk.GroupsClient(authorizer=authorizer, base_url=url)
        time.sleep(1.5)  # let the emulator finish writing the state the token request dirtied
        group_id = seedgen.gid(1)
        first = client.get_group(group_id, include=["memberships"])
        members = len(first["memberships"])
        samples = []
        for _round in range(15):
            begin = time.perf_counter()
            client.get_group(group_id, include=["memberships"])
            samples.append(time.perf_counter() - begin)
        median = statistics.median(samples)
        begin = time.perf_counter()
        mine = client.get_my_groups()
        my_groups = time.perf_counter() - begin
        return [
            {"name": "globus get_group %d members" % members, "ours": median, "baseline": GOAL, "baseline_name": "goal 200 ms",
             "note": "median of 15 via globus-sdk; seed %d ids / %d groups" % (identities, groups)},
            {"name": "globus get_my_groups (%d)" % len(mine.data), "ours": my_groups, "baseline": GOAL, "baseline_name": "goal 200 ms",
             "note": "one call"},
            {"name": "globus emulator start with seed", "ours": load_time, "baseline": 30.0, "baseline_name": "30 s budget",
             "note": "seed load + first atomic state write"},
        ]
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    for row in run(sys.argv[1] if len(sys.argv) > 1 else "small"):
        print(row)
