"""Collection sync: one run over N syncs (submit, then a status-only pass) through the real
globus-sdk, against a per-sync `globus transfer` / `globus task show` loop with globus-cli
(what an operator scripts without the collection).

Runs its own Globus emulator on a free port with its own state folder (the lab one is untouched).
The emulator answers in about a millisecond, so globus-cli's process start dominates its side; the
second pair of rows repeats both with WAN_LATENCY added to every request (as a facility far from
Globus sees it), where the number of calls each side makes shows.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time

import requests
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(REPO, ".collections")
SCALES = {"full": 20, "small": 3}
WAN_LATENCY = 0.05  # seconds added to each request in the latency rows
CLIENT = {"id": "d08b351a-2516-55d1-9257-d2e8a3e81ebc", "secret": "bench-collection-sync-secret", "name": "bench"}
SRC = "3f1a2b4c-1d2e-4f50-8a6b-7c8d9e0f1a2b"
DST = "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b"


def seed(count):
    files = {}
    for n in range(count):
        for m in range(3):
            files["sync%02d/ours/f%d.txt" % (n, m)] = "data %d %d\n" % (n, m)
            files["sync%02d/cli/f%d.txt" % (n, m)] = "data %d %d\n" % (n, m)
    return {"clients": [CLIENT], "identities": [], "groups": [],
            "collections": [{"id": SRC, "display_name": "bench src", "owner": CLIENT["id"], "folder": "src", "files": files},
                            {"id": DST, "display_name": "bench dst", "owner": CLIENT["id"], "folder": "dst", "files": {}}]}


def ours(url, count, state_path, prefix=""):
    if COLLECTIONS not in sys.path:
        sys.path.insert(0, COLLECTIONS)
    import globus_sdk  # pylint: disable=import-outside-toplevel

    from ansible_collections.sciops.datasync.plugins.module_utils._globus.clients import GlobusClients
    from ansible_collections.sciops.datasync.plugins.module_utils._core.state import StateFile
    from ansible_collections.sciops.datasync.plugins.module_utils._collection_sync.run import CollectionSync, RunOptions
    from ansible_collections.sciops.datasync.plugins.module_utils._collection_sync.definition import resolve_sync
    from ansible_collections.sciops.datasync.plugins.module_utils._collection_sync.state import STATE_SCHEMA, STATE_VERSION

    clients = GlobusClients(CLIENT["id"], CLIENT["secret"])
    transfer = globus_sdk.TransferClient(authorizer=clients.authorizer("transfer"), base_url=url)
    syncs = [resolve_sync({"name": "%ssync%02d" % (prefix, n), "source_collection": SRC, "source_path": "/sync%02d/ours/" % n,
                           "destination_collection": DST, "destination_path": "/%ssync%02d/ours/" % (prefix, n)}, {})
             for n in range(count)]
    state = StateFile(state_path, STATE_SCHEMA, STATE_VERSION)
    begin = time.perf_counter()
    results, errors, dummy = CollectionSync(transfer, state, "bench").run(syncs)
    submit = time.perf_counter() - begin
    assert not errors and all(r["submitted"] for r in results), errors
    begin = time.perf_counter()
    results, errors, dummy = CollectionSync(transfer, state, "bench", RunOptions(start=False)).run(syncs)
    status = time.perf_counter() - begin
    assert not errors and not any(r["submitted"] for r in results), errors
    return submit, status


def baseline(url, count, prefix=""):
    env = dict(os.environ, GLOBUS_SDK_ENVIRONMENT="bench", GLOBUS_SDK_SERVICE_URL_AUTH=url, GLOBUS_SDK_SERVICE_URL_TRANSFER=url,
               GLOBUS_SDK_SERVICE_URL_GROUPS=url, GLOBUS_CLI_CLIENT_ID=CLIENT["id"], GLOBUS_CLI_CLIENT_SECRET=CLIENT["secret"])
    binary = os.path.join(os.path.dirname(sys.executable), "globus")
    task_ids = []
    begin = time.perf_counter()
    for n in range(count):
        proc = subprocess.run([binary, "transfer", SRC + ":/sync%02d/cli/" % n, DST + ":/%ssync%02d/cli/" % (prefix, n), "--recursive",
                               "--sync-level", "checksum", "--label", "cli sync%02d" % n, "--jq", "task_id", "-F", "unix"],
                              env=env, capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stderr
        task_ids.append(proc.stdout.strip())
    submit = time.perf_counter() - begin
    begin = time.perf_counter()
    for task_id in task_ids:
        proc = subprocess.run([binary, "task", "show", task_id, "-F", "json"], env=env, capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stderr
    status = time.perf_counter() - begin
    return submit, status


def run(scale):
    from tests.lab.globus.private import PrivateEmulator  # pylint: disable=import-outside-toplevel

    count = SCALES.get(scale, SCALES["small"])
    work = tempfile.mkdtemp(prefix="bench-collection-sync-")
    server = None
    try:
        seed_path = os.path.join(work, "seed.yml")
        with open(seed_path, "w") as handle:
            yaml.safe_dump(seed(count), handle)
        server = PrivateEmulator(os.path.join(work, "state"), seed_path, log_path=os.path.join(work, "server.log"))
        url = server.url
        rows = []
        for prefix, latency in (("", 0), ("wan-", WAN_LATENCY)):
            requests.post(url + "_lab/latency", json={"seconds": latency}, timeout=30).raise_for_status()
            saved = dict(os.environ)
            os.environ.update(GLOBUS_SDK_SERVICE_URL_AUTH=url, GLOBUS_SDK_SERVICE_URL_TRANSFER=url, GLOBUS_SDK_ENVIRONMENT="bench")
            try:
                our_submit, our_status = ours(url, count, os.path.join(work, prefix + "state.json"), prefix)
            finally:
                os.environ.clear()
                os.environ.update(saved)
            cli_submit, cli_status = baseline(url, count, prefix)
            where = " (+%d ms a request)" % (latency * 1000) if latency else ""
            note = "%d syncs; ours also checks source access and makes destination folders" % count
            rows += [
                {"name": "collection sync submit %d syncs%s" % (count, where), "ours": our_submit, "baseline": cli_submit,
                 "baseline_name": "globus transfer per sync (globus-cli)", "note": note, "goal": "ratio <= 1 (issue 15)"},
                {"name": "collection sync status %d syncs%s" % (count, where), "ours": our_status, "baseline": cli_status,
                 "baseline_name": "globus task show per sync (globus-cli)", "note": "status-only run (start=false)"},
            ]
        return rows
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    for row in run(sys.argv[1] if len(sys.argv) > 1 else "small"):
        print(row)
