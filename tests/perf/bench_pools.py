"""Pool mirroring at scale: rsync_pool_mirror against plain rsync with the same options, and
against ansible.posix.synchronize pulling the same pool, over loopback from the lab daemon.

Scale "full": 100,000 files / about 2 GB (issue 7); "small": 2,000 files / 50 MB.
Goals: full copy within 1.05x of plain rsync; no-op within 1.05x of plain rsync + 1 s;
both faster than ansible.posix.synchronize (taken from the `ansible` wheel on PyPI, for
the benchmark only, unpacked under .cache/bench; skipped when it cannot be fetched).

The module is timed as Ansible runs it on a host (the module process with its args file),
and also through ansible-playbook next to synchronize (both then pay ansible's start-up).
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCALES = {"full": (100000, 2048), "medium": (20000, 400), "small": (2000, 50)}
CACHE = os.path.join(REPO, ".cache", "bench")
REPEATS = {"full": 8, "medium": 4, "small": 3}


def _timed(argv, env=None, cwd=None):
    begin = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - begin
    if proc.returncode != 0:
        raise RuntimeError("%s failed (rc %d): %s %s" % (argv[0], proc.returncode, proc.stdout[-1500:], proc.stderr[-1500:]))
    return elapsed, proc.stdout


def _posix_collections():
    """A collections path holding ansible.posix (from the ansible wheel), or None."""
    target = os.path.join(CACHE, "collections")
    if os.path.isdir(os.path.join(target, "ansible_collections", "ansible", "posix")):
        return target
    wheels = os.path.join(CACHE, "wheels")
    if not glob.glob(os.path.join(wheels, "ansible-*.whl")):
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--disable-pip-version-check", "ansible", "-d", wheels],
                       capture_output=True, check=False)
    found = sorted(glob.glob(os.path.join(wheels, "ansible-*.whl")))
    if not found:
        return None
    with zipfile.ZipFile(found[-1]) as wheel:
        for name in wheel.namelist():
            if name.startswith("ansible_collections/ansible/posix/"):
                wheel.extract(name, target)
    return target if os.path.isdir(os.path.join(target, "ansible_collections", "ansible", "posix")) else None


def _scratch_parent(pool_bytes):
    """Where the copies go: memory (/dev/shm) when it holds four of them, else .cache.

    On disk, writeback of one run's 2 GB lands on the next and the spread between runs
    (6 to 12 s for the same copy here) hides the tools' own cost, which is what is compared.
    """
    try:
        shm = os.statvfs("/dev/shm")
        if shm.f_bavail * shm.f_frsize > 4 * pool_bytes:
            return "/dev/shm"
    except OSError:
        pass
    return os.path.join(REPO, ".cache")


def run(scale):
    from tests.lab import pools
    from tests.lab.supervisor import Lab

    files, mbytes = SCALES.get(scale, SCALES["small"])
    repeats = REPEATS.get(scale, 3)
    lab = Lab()
    lab.up(["rsyncd"], hosts=False)
    name = "bench-%s" % (scale if scale in SCALES else "small")
    started = time.monotonic()
    root, written = pools.generate_bench(lab, files=files, mbytes=mbytes, name=name)
    generated = time.monotonic() - started
    endpoint = lab.endpoints()["rsyncd"]
    url = "rsync://%s@%s:%d/%s/" % (endpoint["user"], endpoint["host"], endpoint["port"], name)
    options = ["--recursive", "--links", "--perms", "--times", "--itemize-changes", "--stats", "--8-bit-output",
               "--password-file=%s" % endpoint["password_file"], "--timeout=600", "--contimeout=30"]
    work = tempfile.mkdtemp(prefix="bench-pools-", dir=_scratch_parent(written[1]))
    env = dict(os.environ, LC_ALL="C", TZ="UTC", PYTHONPATH=os.path.join(REPO, ".collections"))
    rows = []
    from tests.lab.services import rsyncd

    def ensure_served():
        # Another process's `lab up` may rewrite the daemon config meanwhile; serve the bench pool again.
        listing = subprocess.run(["rsync", "--contimeout=10", "rsync://%s:%d/" % (endpoint["host"], endpoint["port"])],
                                 capture_output=True, text=True, check=False).stdout
        if name not in listing.split():
            rsyncd.prepare(lab)

    try:
        def plain(dest):
            ensure_served()
            return _timed(["rsync"] + options + ["--", url, dest + "/"], env=env)[0]

        def module(dest, icc):
            ensure_served()
            args = os.path.join(work, "args-%d.json" % len(os.listdir(work)))
            with open(args, "w") as handle:
                json.dump({"ANSIBLE_MODULE_ARGS": {
                    "host": endpoint["host"], "port": endpoint["port"], "user": endpoint["user"],
                    "password_file": endpoint["password_file"], "module": name, "dest": dest, "bookkeeping_root": icc,
                    "_ansible_check_mode": False, "_ansible_diff": False}}, handle)
            elapsed, out = _timed([sys.executable, "-m", "ansible_collections.sciops.datasync.plugins.modules.rsync_pool_mirror", args],
                                  env=env, cwd=work)
            result = json.loads(out[out.index("{"):])
            if result.get("failed"):
                raise RuntimeError(result.get("msg"))
            return elapsed, result

        # Full copies, each into a fresh folder, alternating ours and plain rsync (medians of REPEATS).
        plain(os.path.join(work, "warm"))
        shutil.rmtree(os.path.join(work, "warm"))
        ours_runs, base_runs = [], []
        for n in range(repeats):
            for folder in ("ours", "plain", "icc"):
                shutil.rmtree(os.path.join(work, folder), ignore_errors=True)
            os.sync()  # the deletes' writeback must not land on whichever run goes first
            if n % 2:
                base_runs.append(plain(os.path.join(work, "plain")))
            elapsed, result = module(os.path.join(work, "ours"), os.path.join(work, "icc"))
            ours_runs.append(elapsed)
            if not n % 2:
                base_runs.append(plain(os.path.join(work, "plain")))
        ours_full, base_full = statistics.median(ours_runs), statistics.median(base_runs)
        rows.append({"name": "pools full copy (%d files, %.0f MB)" % (files, written[1] / 1048576.0), "ours": ours_full,
                     "baseline": base_full, "baseline_name": "plain rsync, same options",
                     "note": "goal <= 1.05x; %d files arrived in %s; median of %d; pool generated in %.0f s" % (
                         result["files_transferred"], os.path.dirname(work), repeats, generated)})
        ours_runs, base_runs = [], []
        for n in range(5):
            ours_runs.append(module(os.path.join(work, "ours"), os.path.join(work, "icc"))[0])
            base_runs.append(plain(os.path.join(work, "plain")))
        ours_noop, base_noop = statistics.median(ours_runs), statistics.median(base_runs)
        rows.append({"name": "pools no-op run", "ours": ours_noop, "baseline": base_noop, "baseline_name": "plain rsync, same options",
                     "note": "goal <= 1.05x + 1 s (ours - 1.05 x plain = %+.2f s); median of 5" % (ours_noop - 1.05 * base_noop)})

        posix = _posix_collections()
        playbook_env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                            ANSIBLE_COLLECTIONS_PATH=os.pathsep.join(p for p in (os.path.join(REPO, ".collections"), posix) if p))
        binary = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")

        def playbook(task, dest):
            ensure_served()
            path = os.path.join(work, "play-%d.yml" % len(os.listdir(work)))
            with open(path, "w") as handle:
                json.dump([{"name": "bench", "hosts": "localhost", "connection": "local", "gather_facts": False,
                            "tasks": [task]}], handle)
            return _timed([binary, "-i", "localhost,", "-e", "ansible_python_interpreter=%s" % sys.executable, path], env=playbook_env, cwd=REPO)[0]

        ours_task = {"name": "mirror", "sciops.datasync.rsync_pool_mirror": {
            "host": endpoint["host"], "port": endpoint["port"], "user": endpoint["user"], "password_file": endpoint["password_file"],
            "module": name, "dest": os.path.join(work, "ours-pb")}}
        sync_task = {"name": "synchronize", "ansible.posix.synchronize": {
            "src": url, "dest": os.path.join(work, "sync") + "/", "archive": False, "recursive": True, "links": True,
            "perms": True, "times": True, "rsync_opts": ["--password-file=%s" % endpoint["password_file"]]},
            "delegate_to": "localhost"}
        if not posix:
            rows.append({"name": "pools full copy via ansible-playbook", "ours": playbook(ours_task, None), "baseline": 0,
                         "baseline_name": "ansible.posix.synchronize", "note": "baseline unavailable (no ansible wheel)"})
            return rows
        full = {"ours": [], "sync": []}
        noop = {"ours": [], "sync": []}
        for n in range(repeats):
            for folder in ("ours-pb", "sync"):
                shutil.rmtree(os.path.join(work, folder), ignore_errors=True)
            os.sync()
            order = ("ours", "sync") if n % 2 == 0 else ("sync", "ours")
            for which in order:
                full[which].append(playbook(ours_task if which == "ours" else sync_task, None))
        for n in range(3):
            noop["ours"].append(playbook(ours_task, None))
            noop["sync"].append(playbook(sync_task, None))
        rows.append({"name": "pools full copy via ansible-playbook", "ours": statistics.median(full["ours"]),
                     "baseline": statistics.median(full["sync"]), "baseline_name": "ansible.posix.synchronize (pull)",
                     "note": "goal < 1; median of %d" % repeats})
        rows.append({"name": "pools no-op via ansible-playbook", "ours": statistics.median(noop["ours"]),
                     "baseline": statistics.median(noop["sync"]), "baseline_name": "ansible.posix.synchronize (pull)",
                     "note": "goal < 1; median of 3"})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows
