"""Pool mirroring against the lab rsync daemon, through real ansible-playbook runs."""

import email
import glob
import hashlib
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
import uuid

import pytest
import yaml

from tests.integration.conftest import module_results, payload_folders, start_background

JSON = {"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"}


def unique(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


@pytest.fixture(scope="module")
def pools(lab):
    endpoint = lab.endpoints()["rsyncd"]
    endpoint["root"] = lab.path("pools")
    return endpoint


def write_playbook(tmp_path, tasks, name="pools"):
    path = tmp_path / ("%s.yml" % name)
    path.write_text(yaml.safe_dump([{"name": "Pool mirroring test", "hosts": "localhost", "connection": "local",
                                     "gather_facts": False, "tasks": tasks}], sort_keys=False))
    return str(path)


def mirror_task(pools, **args):
    options = {"host": pools["host"], "port": pools["port"], "user": pools["user"], "password_file": pools["password_file"]}
    options.update(args)
    task = {"name": "mirror", "sciops.datasync.rsync_pool_mirror": options}
    return task


def play(ansible_playbook, path, *args):
    result = ansible_playbook(path, *args, env=JSON, check=False)
    assert "{" in result.stdout, result
    document = module_results(result.stdout)
    return result, [task["hosts"]["localhost"] for task in document["plays"][0]["tasks"]]


def run_mirror(ansible_playbook, tmp_path, pools, name="mirror", **args):
    task = mirror_task(pools, **args)
    task["ignore_errors"] = True
    result, tasks = play(ansible_playbook, write_playbook(tmp_path, [task], name))
    return tasks[0]


def snapshot(root):
    """Everything a user would compare: type, mode, size, mtime, content hash, link target."""
    found = {}
    for top, dirs, files in os.walk(root):
        for name in dirs + files:
            full = os.path.join(top, name)
            rel = os.path.relpath(full, root)
            info = os.lstat(full)
            if stat.S_ISLNK(info.st_mode):
                found[rel] = ("link", os.readlink(full), int(info.st_mtime))
            elif stat.S_ISDIR(info.st_mode):
                found[rel] = ("dir", stat.S_IMODE(info.st_mode))
            else:
                with open(full, "rb") as handle:
                    digest = hashlib.sha256(handle.read()).hexdigest()
                found[rel] = ("file", stat.S_IMODE(info.st_mode), info.st_size, int(info.st_mtime), digest)
    return found


def scratch_tree(pools, name, big_mb=0):
    root = os.path.join(pools["root"], "scratch", name)
    for n in range(20):
        path = os.path.join(root, "run %02d" % (n // 5), "frame_%03d.dat" % n)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(os.urandom(1000 + n))
    with open(os.path.join(root, "notes; and 'quotes'.txt"), "w") as handle:
        handle.write("hello\n")
    os.symlink("run 00", os.path.join(root, "latest"))
    if big_mb:
        with open(os.path.join(root, "zz big.dat"), "wb") as handle:
            handle.write(os.urandom(big_mb * 1024 * 1024))
    return root


def test_module_and_subpath_arrive_identical_then_no_change(ansible_playbook, tmp_path, pools):
    dest = str(tmp_path / "pv")
    first = run_mirror(ansible_playbook, tmp_path, pools, module="pv", dest=dest, bookkeeping_root=str(tmp_path / "icc"))
    assert not first.get("failed"), first
    assert first["changed"] is True and first["rsync_rc"] == 0 and first["rsync_rc_meaning"] == "success"
    assert first["files_transferred"] > 1000 and first["bytes_transferred"] > 16 * 1024 * 1024
    source = os.path.join(pools["root"], "pv")
    assert snapshot(dest) == snapshot(source)
    assert os.readlink(os.path.join(dest, "latest")) == "obs0039"

    second = run_mirror(ansible_playbook, tmp_path, pools, module="pv", dest=dest, bookkeeping_root=str(tmp_path / "icc"))
    assert second["changed"] is False and second["files_transferred"] == 0 and second["transferred"] == []
    log = open(os.path.join(str(tmp_path), "icc", "pv", "logs", open(str(tmp_path / "icc" / "pv" / "logs" / "logDay")).read().strip())).read()
    assert log.startswith("=" * 51 + "\nTransferPools log file for ")
    assert "Products located in: %s\n" % dest in log
    assert log.count(": starting rsync *****") == 2
    assert "obs0001/simple.pacs_standard_products_fmilt/herschel.ia.dataset.Product/0\n" in log
    assert not os.path.exists(str(tmp_path / "icc" / "pv" / "writeLock"))

    sub = str(tmp_path / "odd")
    third = run_mirror(ansible_playbook, tmp_path, pools, module="pv-2", path="odd names", dest=sub)
    assert third["changed"] is True
    assert snapshot(sub) == snapshot(os.path.join(pools["root"], "pv-2", "odd names"))
    assert os.path.exists(os.path.join(sub, "quote's and \"double\".txt"))


def test_upstream_change_and_deletes(ansible_playbook, tmp_path, pools):
    name = unique("change")
    source = scratch_tree(pools, name)
    dest = str(tmp_path / "dest")
    try:
        assert run_mirror(ansible_playbook, tmp_path, pools, module="scratch", path=name, dest=dest)["changed"]
        target = os.path.join(source, "run 01", "frame_005.dat")
        with open(target, "wb") as handle:
            handle.write(b"changed upstream\n")
        os.utime(target, (1187969940, 1187969940))
        os.unlink(os.path.join(source, "run 02", "frame_010.dat"))
        # The unlink may land in the second the folder was made; a set stamp makes its change certain.
        os.utime(os.path.join(source, "run 02"), (1187969940, 1187969940))
        changed = run_mirror(ansible_playbook, tmp_path, pools, module="scratch", path=name, dest=dest)
        assert changed["changed"] is True and changed["transferred"] == ["run 01/frame_005.dat"]
        assert changed["attributes_updated"] == ["run 02/"]  # its mtime changed upstream
        assert changed["files_transferred"] == 1 and changed["deleted"] == []
        assert open(os.path.join(dest, "run 01", "frame_005.dat"), "rb").read() == b"changed upstream\n"
        assert os.path.exists(os.path.join(dest, "run 02", "frame_010.dat"))  # delete is off by default
        deleted = run_mirror(ansible_playbook, tmp_path, pools, module="scratch", path=name, dest=dest, delete=True)
        assert deleted["deleted"] == ["run 02/frame_010.dat"] and deleted["files_deleted"] == 1 and deleted["changed"]
        assert snapshot(dest) == snapshot(source)
    finally:
        shutil.rmtree(source, ignore_errors=True)


def test_check_mode_is_test_and_creates_nothing(ansible_playbook, tmp_path, pools):
    dest = str(tmp_path / "never")
    task = mirror_task(pools, module="pv-1", dest=dest, bookkeeping_root=str(tmp_path / "icc"))
    result, tasks = play(ansible_playbook, write_playbook(tmp_path, [task]), "--check")
    assert result.rc == 0, result
    assert tasks[0]["changed"] is True and tasks[0]["dry_run"] is True
    assert "large/spectral cube.fits" in tasks[0]["transferred"]
    assert "--dry-run" in tasks[0]["rsync_argv"] and "--itemize-changes" in tasks[0]["rsync_argv"]
    assert not os.path.exists(dest) and not os.path.exists(str(tmp_path / "icc"))


def test_info_lists_modules_and_files(ansible_playbook, tmp_path, pools):
    tasks = [
        {"name": "modules", "sciops.datasync.rsync_pool_info": {"host": pools["host"], "port": pools["port"]}},
        {"name": "files", "sciops.datasync.rsync_pool_info": {
            "host": pools["host"], "port": pools["port"], "user": pools["user"], "password_file": pools["password_file"],
            "module": "pv-2", "path": "odd names", "recursive": True}},
    ]
    result, outcome = play(ansible_playbook, write_playbook(tmp_path, tasks))
    assert result.rc == 0, result
    modules = {m["name"]: m["description"] for m in outcome[0]["modules"]}
    assert {"pv", "pv-1", "pv-2", "ops"} <= set(modules)
    assert modules["pv-1"] == "PACS product pools, PV part 1"
    names = {f["name"]: f for f in outcome[1]["files"]}
    assert names["semi;colon&ampersand$dollar.txt"]["size"] == 60
    assert names["nested dir 2/semi;colon&ampersand$dollar.txt"]["type"] == "file"
    assert names["link to spaces"]["target"] == "file with spaces.txt"
    assert outcome[1]["changed"] is False


def new_mail(maildir, before, marker, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        for path in sorted(set(glob.glob(os.path.join(maildir, "*.eml"))) - before):
            message = email.message_from_bytes(open(path, "rb").read())
            if marker in (message["Subject"] or ""):
                return message
        time.sleep(0.1)
    return None


def test_wrong_password_clear_error_one_attempt_and_email(ansible_playbook, tmp_path, pools, lab):
    wrong = tmp_path / "password"
    wrong.write_text("not-the-password\n")
    wrong.chmod(0o600)
    smtp = lab.endpoints()["smtp"]
    marker = unique("[pools-test]")
    before = set(glob.glob(os.path.join(smtp["maildir"], "*.eml")))
    daemon_log = lab.path("logs", "rsyncd-transfers.log")
    offset = os.path.getsize(daemon_log) if os.path.exists(daemon_log) else 0
    outcome = run_mirror(ansible_playbook, tmp_path, pools, module="pv", dest=str(tmp_path / "pv"), password_file=str(wrong),
                         bookkeeping_root=str(tmp_path / "icc"),
                         mail={"to": ["pool-admins@example.org"], "host": smtp["host"], "port": smtp["port"], "subject_prefix": marker})
    assert outcome["failed"] and outcome["rsync_rc"] == 5
    assert "pv" in outcome["msg"] and "auth failed on module pv" in outcome["msg"]
    assert outcome["mail_sent"] is True
    assert "not-the-password" not in str(outcome)
    with open(daemon_log) as handle:
        handle.seek(offset)
        assert handle.read().count("auth failed on module pv") == 1  # no retry storm
    message = new_mail(smtp["maildir"], before, marker)
    assert message is not None
    assert message["X-Lab-Envelope-To"] == "pool-admins@example.org"
    body = message.get_payload(decode=True).decode()
    assert "exit code:  5" in body and "authentication failed" in body
    assert "PACS product pool transfer rsync error 5." in body  # the tail of the log
    log = open(outcome["log_file"]).read()
    assert "PACS product pool transfer rsync error 5." in log


def test_readable_password_file_is_refused(ansible_playbook, tmp_path, pools):
    loose = tmp_path / "password"
    loose.write_text("lab-pool-password\n")
    loose.chmod(0o644)
    outcome = run_mirror(ansible_playbook, tmp_path, pools, module="pv", dest=str(tmp_path / "pv"), password_file=str(loose))
    assert outcome["failed"] and "group or others" in outcome["msg"]
    assert "rsync_argv" not in outcome and not os.path.exists(str(tmp_path / "pv"))


def wait_for(predicate, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def wait_during(background, predicate, what, timeout=60):
    """Wait (at most ``timeout`` seconds) for ``predicate`` while the background run goes on.

    A run that ends first fails the wait at once, with its output (a run that never started
    its transfer is not a timeout).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if background.poll() is not None:
            out, err = background.communicate()
            if predicate():
                return
            raise AssertionError("the background run ended (rc %s) before %s:\n%s\n%s" % (
                background.returncode, what, out.decode("utf-8", "replace")[-4000:], err.decode("utf-8", "replace")[-2000:]))
        time.sleep(0.05)
    raise AssertionError("%s did not happen within %d seconds" % (what, timeout))


def test_concurrent_run_skips_then_killed_run_is_completed(ansible_playbook, tmp_path, pools, lab_env, run_temp):
    name = unique("lock")
    source = scratch_tree(pools, name, big_mb=6)
    dest = str(tmp_path / "dest")
    icc = str(tmp_path / "icc")
    lock = os.path.join(icc, "scratch", "writeLock")
    # Slow enough (6 MB at 300 KB/s: 20 s) that the big file is still arriving after the second
    # run below; the run is killed as soon as its temp file is seen, so this costs no time.
    slow = write_playbook(tmp_path, [mirror_task(pools, module="scratch", path=name, dest=dest, bookkeeping_root=icc, bwlimit="300")], "slow")
    background = start_background(lab_env, slow, run_temp)
    try:
        wait_during(background, lambda: os.path.exists(lock), "the writeLock")
        holder = int(open(lock).read())
        skipped = run_mirror(ansible_playbook, tmp_path, pools, module="scratch", path=name, dest=dest, bookkeeping_root=icc)
        assert skipped["skipped"] is True and skipped["holder_pid"] == holder and skipped["changed"] is False
        assert skipped["lock_file"] == lock
        assert "skipped: writeLock held by running pid %d" % holder in open(skipped["log_file"]).read()
        # Kill the whole run (ansible, module, rsync) mid-transfer, as a crash or kill -9 of the cron job would.
        wait_during(background, lambda: glob.glob(os.path.join(dest, ".zz big.dat.*")), "the temp file of zz big.dat")
        os.killpg(os.getpgid(holder), signal.SIGKILL)  # ansible's worker runs the module in its own session
        os.killpg(background.pid, signal.SIGKILL)
        background.wait()
        assert wait_for(lambda: not os.path.exists("/proc/%d" % holder) or open("/proc/%d/stat" % holder).read().split(")")[-1].split()[0] == "Z")
    finally:
        if background.poll() is None:
            os.killpg(background.pid, signal.SIGKILL)
            background.wait()
    assert payload_folders(run_temp, "rsync_pool_mirror")  # what the killed run left is in the test's folder, not in /tmp
    assert open(lock).read().strip() == str(holder)  # the stale lock is left behind
    assert snapshot(dest) != snapshot(source)
    completed = run_mirror(ansible_playbook, tmp_path, pools, module="scratch", path=name, dest=dest, bookkeeping_root=icc)
    assert not completed.get("failed"), completed
    assert completed["lock_taken_over_from"] == holder and completed["changed"] is True
    assert completed["removed_leftovers"] and completed["removed_leftovers"][0].startswith(".zz big.dat.")
    assert snapshot(dest) == snapshot(source)
    assert not os.path.exists(lock)
    log = open(completed["log_file"]).read()
    assert "stale writeLock of pid %d taken over (process %d is " % (holder, holder) in log
    shutil.rmtree(source, ignore_errors=True)


def test_stale_lock_from_killed_process_is_taken_over(ansible_playbook, tmp_path, pools):
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    icc = tmp_path / "icc"
    (icc / "ops").mkdir(parents=True)
    (icc / "ops" / "writeLock").write_text("%d\n" % victim.pid)
    outcome = run_mirror(ansible_playbook, tmp_path, pools, module="ops", dest=str(tmp_path / "ops"), bookkeeping_root=str(icc))
    assert not outcome.get("failed"), outcome
    assert outcome["lock_taken_over_from"] == victim.pid and outcome["changed"] is True
    assert "stale writeLock of pid %d taken over" % victim.pid in open(outcome["log_file"]).read()
    assert not (icc / "ops" / "writeLock").exists()


def test_hostile_names_refused_no_command_runs(ansible_playbook, tmp_path, pools):
    canary = tmp_path / "canary"
    hostile = [
        {"module": "--rsh=touch %s" % canary},
        {"module": "-e touch %s" % canary},
        {"module": "pv", "path": "../../../../%s" % tmp_path},
        {"module": "pv;touch %s" % canary},
        {"module": "$(touch %s)" % canary},
        {"module": "pv", "path": "obs0001\n--rsh=touch %s" % canary},
        {"module": "..", "path": ""},
    ]
    tasks = []
    for n, args in enumerate(hostile):
        task = mirror_task(pools, dest=str(tmp_path / ("dest%d" % n)), bookkeeping_root=str(tmp_path / "icc"), **args)
        task["ignore_errors"] = True
        tasks.append(task)
    info = {"name": "info", "sciops.datasync.rsync_pool_info": {"host": pools["host"], "port": pools["port"],
                                                                "module": "-e touch %s" % canary}, "ignore_errors": True}
    tasks.append(info)
    result, outcome = play(ansible_playbook, write_playbook(tmp_path, tasks))
    for args, task in zip(hostile + [{"module": info["sciops.datasync.rsync_pool_info"]["module"]}], outcome):
        assert task["failed"] and task["msg"].startswith("refused"), task
        assert "rsync_argv" not in task
    assert not canary.exists()
    assert not any((tmp_path / ("dest%d" % n)).exists() for n in range(len(hostile)))
    assert not (tmp_path / "icc").exists()


def run_pools_playbook(ansible_playbook, tmp_path, pools, *extra):
    """playbooks/pools.yml as an operator runs it, on a mirror host whose group_vars name the lab daemon."""
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"mirror": {"hosts": {"localhost": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable, "datasync_run_python": sys.executable,
        "transfer_pools_host": pools["host"], "transfer_pools_port": pools["port"],
        "transfer_pools_user": pools["user"], "transfer_pools_password_file": pools["password_file"],
        "transfer_pools_root": str(tmp_path / "icc"),
        "transfer_pools_modules": [{"module": "pv-2", "path": "odd names", "dest": str(tmp_path / "mirror")}],
    }}}}))
    result = ansible_playbook("-i", str(inventory), "playbooks/pools.yml", *extra, env=JSON, check=False)
    assert result.rc == 0, result
    document = module_results(result.stdout)
    return {task["task"]["name"]: task["hosts"]["localhost"] for task in document["plays"][0]["tasks"]
            if "localhost" in task["hosts"]}


def test_pools_playbook_list_test_copy_mirror(ansible_playbook, tmp_path, pools):
    """The run-now actions through the role's tasks/run.yml: list, test (dry run), copy (no logs), mirror."""
    listed = run_pools_playbook(ansible_playbook, tmp_path, pools)
    assert "pv-1  PACS product pools, PV part 1" in listed["Show the modules"]["msg"]

    files = run_pools_playbook(ansible_playbook, tmp_path, pools, "-e", "pools_action=list", "-e", "pools_module=pv-2",
                               "-e", '{"pools_path": "odd names"}', "-e", "pools_recursive=true")
    assert "nested dir 2/semi;colon&ampersand$dollar.txt" in files["Show the files"]["msg"]

    tested = run_pools_playbook(ansible_playbook, tmp_path, pools, "-e", "pools_action=test")
    dry_run = tested["Mirror the pools, with logs and writeLock, or copy them once"]["results"][0]
    assert dry_run["dry_run"] is True and dry_run["changed"] is True
    assert not os.path.exists(str(tmp_path / "mirror")) and not os.path.exists(str(tmp_path / "icc"))

    copy = str(tmp_path / "copy")
    run_pools_playbook(ansible_playbook, tmp_path, pools, "-e", "pools_action=copy", "-e", "pools_module=pv-2",
                       "-e", '{"pools_path": "odd names"}', "-e", "pools_dest=%s" % copy)
    assert snapshot(copy) == snapshot(os.path.join(pools["root"], "pv-2", "odd names"))
    assert not os.path.exists(str(tmp_path / "icc"))

    run_pools_playbook(ansible_playbook, tmp_path, pools, "-e", "pools_action=mirror")
    assert snapshot(str(tmp_path / "mirror")) == snapshot(os.path.join(pools["root"], "pv-2", "odd names"))
    assert os.path.exists(str(tmp_path / "icc" / "pv-2" / "logs" / "logDay"))
    assert not os.path.exists(str(tmp_path / "icc" / "pv-2" / "writeLock"))
