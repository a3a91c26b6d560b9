"""Identity sync under faults: 503/429 bursts, a subgroup that keeps failing, expired tokens,
SIGKILL at random points, and two runs at once. Modules run as files (fast) on the lab emulator."""

import collections
import os
import random
import signal
import threading
import time

import pytest

from ansible_collections.sciops.datasync.plugins.module_utils._core.lock import RunLock
from tests.integration.gosync_lab import GlobusWorld, read_db, run_module, start_module

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="creates accounts under a temp root with shadow-utils (needs root)")


@pytest.fixture
def world(lab, tmp_path):
    world = GlobusWorld(lab)
    world.users = [world.identity("u%s%02d" % (world.tag, n)) for n in range(12)]
    world.root_id = world.group("gosync-faults-" + world.tag, world.users)
    world.subgroups = [world.group("proj.p%d-%s" % (n, world.tag), world.users[n::3], world.root_id) for n in range(3)]
    world.root = str(tmp_path / "root")
    world.common = {"client_id": world.client_id, "client_secret_file": world.write_secret(tmp_path), "root_group": world.root_id,
                    "root": world.root, "_args_dir": str(tmp_path)}
    world.tmp = tmp_path
    yield world
    world.clear_faults()


def users_args(world, **extra):
    args = dict(world.common, domains=["example.org"], uid_min=40000, uid_max=40999)
    args.update(extra)
    return args


def groups_args(world, **extra):
    args = dict(world.common, gid_min=41000, gid_max=41999)
    args.update(extra)
    return args


def check_consistent(world, expected_users):
    """No duplicate names or ids; every expected user exists once; state and passwd agree."""
    import json

    db = read_db(world.root)
    names = [row[0] for row in db["passwd"]]
    uids = [row[2] for row in db["passwd"]]
    gnames = [row[0] for row in db["group"]]
    gids = [row[2] for row in db["group"]]
    assert [n for n, c in collections.Counter(names).items() if c > 1] == []
    assert [u for u, c in collections.Counter(uids).items() if c > 1] == []
    assert [n for n, c in collections.Counter(gnames).items() if c > 1] == []
    assert [g for g, c in collections.Counter(gids).items() if c > 1] == []
    assert sorted(n for n in names if n != "root") == sorted(expected_users)
    state = json.load(open(os.path.join(world.root, "var/lib/sciops-datasync/identity_sync.json")))["data"]
    by_name = {row[0]: row for row in db["passwd"]}
    for record in state["users"].values():
        assert record["status"] == "active", record
        assert by_name[record["name"]][2] == str(record["uid"])
    assert len({r["uid"] for r in state["users"].values()}) == len(state["users"])


def test_503_and_429_bursts_are_ridden_out(lab_env, world):
    world.fault("/v2/groups/*", 503, count=3, retry_after=0)
    world.fault("/v2/api/identities", 429, count=2, retry_after=0)
    proc, result = run_module("globus_user_sync", users_args(world), lab_env)
    assert proc.returncode == 0, result
    assert len(result["created"]) == 12 and not result["errors"]
    hits = [r for r in world.requests_log("/v2/groups/*")["requests"] if r["status"] == 503]
    assert len(hits) == 3


def test_a_subgroup_that_keeps_failing_is_reported_and_the_rest_sync(lab_env, world):
    run_module("globus_user_sync", users_args(world), lab_env)
    world.fault("/v2/groups/%s" % world.subgroups[1], 503, count=1000, retry_after=0)
    proc, result = run_module("globus_group_sync", groups_args(world), lab_env)
    world.clear_faults()
    assert proc.returncode == 0, result
    assert [e["globus_group_id"] for e in result["errors"]] == [world.subgroups[1]]
    assert "503" in result["errors"][0]["reason"]
    assert sorted(g["globus_group"] for g in result["created"]) == sorted(["proj.p0-" + world.tag, "proj.p2-" + world.tag])


def test_expired_token_is_refreshed(lab_env, world):
    cache = str(world.tmp / "tokens.json")
    proc, result = run_module("globus_user_sync", users_args(world, token_cache=cache), lab_env)
    assert proc.returncode == 0 and len(result["created"]) == 12, result
    world.expire_tokens()
    world.set_member(world.root_id, world.users[0], status="left")
    proc, result = run_module("globus_user_sync", users_args(world, token_cache=cache), lab_env)
    assert proc.returncode == 0, result
    assert [u["globus_username"] for u in result["locked"]] == [world.users[0]]
    assert any(r["status"] == 401 for r in world.requests_log("/v2/groups/*")["requests"])


def test_two_runs_at_once_wait_or_skip_with_holder_pid(lab_env, world):
    lock_file = os.path.join(world.root, "var/lib/sciops-datasync/identity_sync.lock")
    holder = RunLock(lock_file, wait=False)
    holder.acquire()
    try:
        proc, result = run_module("globus_user_sync", users_args(world, lock_wait=False), lab_env)
        assert proc.returncode == 0 and result["skipped"] is True and result["changed"] is False, result
        assert result["holder_pid"] == os.getpid()
        assert not os.path.exists(os.path.join(world.root, "etc", "passwd"))
        proc, result = run_module("globus_group_sync", groups_args(world, lock_wait=False), lab_env)
        assert result["skipped"] is True and result["holder_pid"] == os.getpid()
        threading.Timer(1.5, holder.release).start()
        started = time.monotonic()
        proc, result = run_module("globus_user_sync", users_args(world, lock_wait=True), lab_env)
        assert proc.returncode == 0 and len(result["created"]) == 12, result
        # it waited for the release (how long depends on how fast the module started)
        assert result["lock_waited"] > 0 and time.monotonic() - started >= 1.5
    finally:
        holder.release()
    # two real runs started together: both finish, accounts exist once, the later one changes nothing
    procs = [start_module("globus_user_sync", users_args(world, lock_wait=True), lab_env) for dummy in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    check_consistent(world, [u.split("@")[0] for u in world.users])


def test_sigkill_at_random_points_then_a_run_completes(lab_env, world):
    """Runs killed at random moments while users join (until 12 were killed mid-run); then one run finishes the job."""
    rng = random.Random(int(world.tag, 16))
    hooks = world.tmp / "hooks"
    hooks.mkdir()
    (hooks / "10-slow").write_text("#!/bin/sh\nsleep 0.02\n")
    (hooks / "10-slow").chmod(0o755)
    joined = list(world.users)
    killed = 0
    trial = 0
    # a run that finished before its kill moment does not count: keep going until 12 were killed
    while killed < 12:
        assert trial < 80, "only %d of %d runs were still going when killed" % (killed, trial)
        for n in range(3):
            username = world.identity("k%s%02d%d" % (world.tag, trial, n))
            world.set_member(world.root_id, username)
            joined.append(username)
        module = "globus_group_sync" if trial % 4 == 3 else "globus_user_sync"
        args = users_args(world, hooks_dir=str(hooks)) if module == "globus_user_sync" else groups_args(world)
        proc = start_module(module, args, lab_env)
        time.sleep(rng.uniform(0.05, 0.9))
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            killed += 1
        proc.communicate()
        trial += 1
    proc, result = run_module("globus_user_sync", users_args(world, hooks_dir=str(hooks)), lab_env)
    assert proc.returncode == 0 and not result["errors"], result
    proc, result = run_module("globus_group_sync", groups_args(world), lab_env)
    assert proc.returncode == 0 and not result["errors"], result
    check_consistent(world, [u.split("@")[0] for u in joined])
    proc, again = run_module("globus_user_sync", users_args(world, hooks_dir=str(hooks)), lab_env)
    assert again["changed"] is False, again
