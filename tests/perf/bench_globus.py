"""Globus emulator at scale: get_group(include=memberships) on a 5,000-member group of the
20,000 identity / 2,000 group seed, through the real globus-sdk. Goal: under 200 ms.

Runs its own emulator on a free port with its own state folder (the lab one is untouched).
"""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCALES = {"full": (20000, 2000, 5000), "small": (2000, 200, 500)}
GOAL = 0.200


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port, process, timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("emulator exited with %s" % process.returncode)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("emulator did not start in %ss" % timeout)


def run(scale):
    import globus_sdk

    from tests.lab.globus import seedgen

    identities, groups, big = SCALES.get(scale, SCALES["small"])
    work = tempfile.mkdtemp(prefix="bench-globus-")
    process = None
    try:
        seed = os.path.join(work, "seed.yml")
        seedgen.main(["-o", seed, "--identities", str(identities), "--groups", str(groups), "--big-group", str(big)])
        port = free_port()
        started = time.monotonic()
        env = dict(os.environ, PYTHONPATH=REPO)
        with open(os.path.join(work, "server.log"), "wb") as log:
            process = subprocess.Popen([sys.executable, "-m", "tests.lab.globus.server", "--port", str(port), "--state-dir",
                                        os.path.join(work, "state"), "--seed", seed], stdout=log, stderr=subprocess.STDOUT,
                                       cwd=REPO, env=env)
        wait_port(port, process)
        load_time = time.monotonic() - started
        url = "http://127.0.0.1:%d/" % port
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
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    for row in run(sys.argv[1] if len(sys.argv) > 1 else "small"):
        print(row)
