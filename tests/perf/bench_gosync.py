"""Identity sync at scale: 20,000 Globus users in 2,000 groups, 20 ms added to every API call, the
same data synced with each backend side by side:

- local files (accounts under a temp root): first import at most 5 s, a no-op run at most 3 s;
- the lab's slapd (``backend: ldap`` over LDAPS, the lab CA verified, bound as the sync account, into
  ``ou=bench-*`` below ou=people and ou=groups, deleted after): first import at most 30 s, a no-op run at
  most 5 s;
- per user at least 100x faster than a playbook looping ansible.builtin.group + ansible.builtin.user
  (run here on 200 users; those accounts are real, prefixed ``dsb``, and removed after).

Runs its own emulator on a free port with its own state folder (the lab one is untouched). The
directory part uses the lab: run the bench under the lab lock.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

import requests

from tests.perf.bench_globus import free_port, wait_port
from tests.perf.ldap_scratch import ScratchDirectory

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCALES = {"full": (20000, 2000, 200), "small": (2000, 200, 20)}
LATENCY = 0.020
# Globus calls in flight (the modules' concurrency option; 16 by default).
CONCURRENCY = 32
GOALS = {"local": (5.0, 3.0), "ldap": (30.0, 5.0)}


def _module(name, args, env, folder):
    path = os.path.join(folder, "args-%s.json" % uuid.uuid4().hex[:6])
    with open(path, "w") as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": args}, handle)
    started = time.monotonic()
    proc = subprocess.run([sys.executable, os.path.join(REPO, "plugins", "modules", name + ".py"), path], capture_output=True,
                          text=True, env=dict(env, PYTHONPATH=os.path.join(REPO, ".collections")), check=False)
    elapsed = time.monotonic() - started
    try:
        result = json.loads(proc.stdout[proc.stdout.index("{"):])
    except ValueError:
        raise RuntimeError("%s printed no result: %s" % (name, proc.stderr[-2000:]))
    if result.get("failed"):
        raise RuntimeError("%s failed: %s" % (name, result.get("msg")))
    return elapsed, result


def _sync(env, folder, common):
    users_time, users = _module("globus_user_sync", dict(common, domains=["example.org"], uid_min=100000, uid_max=199999,
                                                         skeleton="/nonexistent", concurrency=CONCURRENCY), env, folder)
    groups_time, groups = _module("globus_group_sync", dict(common, recursive=True, gid_min=200000, gid_max=209999,
                                                            concurrency=CONCURRENCY), env, folder)
    return users_time + groups_time, users, groups


def _first_and_noop(env, folder, common):
    """(first import seconds, no-op seconds, users created, groups created, members read, groups read)."""
    first, users, synced = _sync(env, folder, common)
    if users["errors"] or synced["errors"]:
        raise RuntimeError("the first import reported errors: %s" % (users["errors"] or synced["errors"])[:3])
    noop, users_again, groups_again = _sync(env, folder, common)
    if users_again["changed"] or groups_again["changed"]:
        raise RuntimeError("the second run changed something")
    return first, noop, len(users["created"]), len(synced["created"]), users_again["members"], groups_again["groups"]


def _rows(backend, measured, other=None):
    first, noop, users, groups, members, read = measured
    first_goal, noop_goal = GOALS[backend]
    side = ""
    if other is not None:
        side = "; local files on the same data: %.1f s / %.1f s" % (other[0], other[1])
    return [
        {"name": "gosync first import (%s)" % backend, "ours": first, "baseline": first_goal, "baseline_name": "goal %g s" % first_goal,
         "note": "%d users, %d groups created; %d ms per API call%s" % (users, groups, LATENCY * 1000, side)},
        {"name": "gosync no-op run (%s)" % backend, "ours": noop, "baseline": noop_goal, "baseline_name": "goal %g s" % noop_goal,
         "note": "%d users, %d groups read (concurrency %d), nothing changed" % (members, read, CONCURRENCY)},
    ]


def _baseline(count, folder):
    """A playbook looping ansible.builtin.group and ansible.builtin.user: (create time, unchanged time)."""
    names = ["dsb%s%03d" % (uuid.uuid4().hex[:4], n) for n in range(count)]
    play = [{"name": "baseline", "hosts": "localhost", "connection": "local", "gather_facts": False,
             "tasks": [{"name": "groups", "ansible.builtin.group": {"name": "{{ item }}", "gid": "{{ 300000 + idx }}"},
                        "loop": names, "loop_control": {"index_var": "idx"}},
                       {"name": "users", "ansible.builtin.user": {"name": "{{ item }}", "uid": "{{ 300000 + idx }}", "group": "{{ item }}",
                                                                  "comment": "Bench {{ item }}", "home": "/nonexistent/{{ item }}",
                                                                  "create_home": False, "shell": "/bin/bash"},
                        "loop": names, "loop_control": {"index_var": "idx"}}]}]
    path = os.path.join(folder, "baseline.yml")
    with open(path, "w") as handle:
        json.dump(play, handle)
    binary = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"))
    times = []
    try:
        for _round in range(2):
            started = time.monotonic()
            subprocess.run([binary, "-i", "localhost,", "-e", "ansible_python_interpreter=" + sys.executable, path],
                           capture_output=True, env=env, check=True, cwd=REPO)
            times.append(time.monotonic() - started)
    finally:
        for name in names:
            subprocess.run(["userdel", name], capture_output=True, check=False)
            subprocess.run(["groupdel", name], capture_output=True, check=False)
    return times


def run(scale):
    from tests.lab.globus import seedgen

    identities, groups, baseline_users = SCALES.get(scale, SCALES["small"])
    work = tempfile.mkdtemp(prefix="bench-gosync-")
    process = None
    try:
        seed = os.path.join(work, "seed.json")
        seedgen.main(["-o", seed, "--identities", str(identities), "--groups", str(groups), "--big-group", str(identities // 4)])
        port = free_port()
        with open(os.path.join(work, "server.log"), "wb") as log:
            process = subprocess.Popen([sys.executable, "-m", "tests.lab.globus.server", "--port", str(port), "--state-dir",
                                        os.path.join(work, "state"), "--seed", seed], stdout=log, stderr=subprocess.STDOUT,
                                       cwd=REPO, env=dict(os.environ, PYTHONPATH=REPO))
        wait_port(port, process)
        url = "http://127.0.0.1:%d/" % port
        requests.post(url + "_lab/latency", json={"seconds": LATENCY}, timeout=30).raise_for_status()
        secret = os.path.join(work, "secret")
        with open(secret, "w") as handle:
            handle.write(seedgen.LAB_CLIENT["secret"] + "\n")
        os.chmod(secret, 0o600)
        env = dict(os.environ, GLOBUS_SDK_ENVIRONMENT="lab", GLOBUS_SDK_SERVICE_URL_AUTH=url, GLOBUS_SDK_SERVICE_URL_GROUPS=url,
                   GLOBUS_SDK_SERVICE_URL_TRANSFER=url)
        common = {"client_id": seedgen.LAB_CLIENT["id"], "client_secret_file": secret, "root_group": seedgen.gid(0),
                  "token_cache": os.path.join(work, "tokens.json")}
        local = _first_and_noop(env, work, dict(common, root=os.path.join(work, "root")))
        rows = _rows("local", local)
        with ScratchDirectory() as directory:
            directory_common = dict(common, root=os.path.join(work, "root-ldap"), backend="ldap", ldap=directory.options)
            rows += _rows("ldap", _first_and_noop(env, work, directory_common), other=local)
        baseline_create, baseline_unchanged = _baseline(baseline_users, work)
        created = local[2]
        baseline_name = "ansible.builtin.user+group loop (%d users)" % baseline_users
        return rows + [
            {"name": "gosync per created user (local)", "ours": local[0] / max(created, 1), "baseline": baseline_create / baseline_users,
             "baseline_name": baseline_name, "note": "goal ratio <= 0.01"},
            {"name": "gosync per unchanged user (local)", "ours": local[1] / max(created, 1), "baseline": baseline_unchanged / baseline_users,
             "baseline_name": baseline_name, "note": "goal ratio <= 0.01"},
        ]
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(work, ignore_errors=True)
