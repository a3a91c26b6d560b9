"""Collection sync against the Globus emulator: real globus-sdk, real ansible-playbook, real files.

Every test module run makes its own Globus client and collections on the emulator (see
tests/lab/globus/README.md), so it neither sees nor disturbs other areas' tasks and faults.
"""

import email
import email.policy
import hashlib
import json
import os
import sys
import time
import uuid

import pytest
import requests
import yaml

from tests.integration.conftest import module_results
from tests.integration.globus_lab import wait_for

SMTP_PORT = 2525


def globus_endpoints(lab):
    with open(lab.path("endpoints.json")) as handle:
        return json.load(handle)["services"]["globus"]


def admin(lab, method, route, **kwargs):
    url = globus_endpoints(lab)["admin_url"] + route.lstrip("/")
    response = requests.request(method, url, timeout=10, **kwargs)
    assert response.status_code < 300, (route, response.status_code, response.text)
    return response.json()


class Env:
    """One client of our own, a source and a destination collection it owns, a collection it cannot read."""

    def __init__(self, lab, tmp):
        self.lab = lab
        self.tmp = tmp
        tag = uuid.uuid4().hex[:8]
        self.tag = tag
        client = admin(lab, "POST", "clients", json={"name": "collection sync test %s" % tag})
        self.client_id = client["client_id"]
        self.username = client["username"]
        self.secret_file = os.path.join(tmp, "client.secret")
        fd = os.open(self.secret_file, os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(client["client_secret"] + "\n")
        other = globus_endpoints(lab)["other_client_id"]
        self.src = self.collection("src", self.client_id)
        self.dst = self.collection("dst", self.client_id)
        self.foreign = self.collection("foreign", other)
        os.makedirs(os.path.join(self.foreign["root"], "data"), exist_ok=True)

    def collection(self, kind, owner):
        return admin(self.lab, "POST", "collections",
                     json={"display_name": "cs %s %s" % (kind, self.tag), "owner": owner, "folder": "cs-%s-%s" % (kind, self.tag)})

    def src_path(self, *parts):
        return os.path.join(self.src["root"], *parts)

    def dst_path(self, *parts):
        return os.path.join(self.dst["root"], *parts)

    def rate(self, bytes_per_second):
        admin(self.lab, "POST", "config", json={"transfer_rate": bytes_per_second, "client_id": self.client_id})


@pytest.fixture(scope="module")
def env(lab, tmp_path_factory):
    made = Env(lab, str(tmp_path_factory.mktemp("collection_sync")))
    yield made
    made.rate(None)
    requests.delete(globus_endpoints(lab)["admin_url"] + "faults", params={"client_id": made.client_id}, timeout=10)


def write_tree(root, files):
    for rel, content in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as handle:
            handle.write(content)


def snapshot(root):
    found = {}
    for folder, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            info = os.stat(path)
            with open(path, "rb") as handle:
                found[os.path.relpath(path, root)] = (hashlib.md5(handle.read()).hexdigest(), int(info.st_mtime))
    return found


def run_module(ansible_playbook, env, module, args, check=False, tmp=None):
    tmp = tmp or env.tmp
    args = dict(args)
    args.setdefault("client_id", env.client_id)
    args.setdefault("client_secret_file", env.secret_file)
    play = [{"name": "test", "hosts": "localhost", "connection": "local", "gather_facts": False,
             "tasks": [{"name": "module under test", "sciops.datasync." + module: args, "ignore_errors": True}]}]
    path = os.path.join(tmp, "play-%s.yml" % uuid.uuid4().hex[:6])
    with open(path, "w") as handle:
        yaml.safe_dump(play, handle)
    argv = ["-i", "localhost,", "-e", "ansible_python_interpreter=%s" % sys.executable, path]
    if check:
        argv.append("--check")
    result = ansible_playbook(*argv, env={"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"}, check=False)
    document = module_results(result.stdout)
    return document["plays"][0]["tasks"][0]["hosts"]["localhost"]


def sync_args(env, name, source_path, destination_path, **extra):
    args = {"state_file": os.path.join(env.tmp, "state-%s.json" % name),
            "syncs": [{"name": name, "source_collection": env.src["id"], "source_path": source_path,
                       "destination_collection": env.dst["id"], "destination_path": destination_path}]}
    args.update(extra)
    return args


def test_sync_copies_then_nothing_then_changes_never_deletes(ansible_playbook, env):
    files = {"file011.txt": "one\n", "file012.txt": "two\n", "subfolder1/file111.txt": "a" * 3000,
             "subfolder1/file112.txt": "b" * 10}
    write_tree(env.src_path("dirtoshare"), files)
    source_before = snapshot(env.src_path("dirtoshare"))
    args = sync_args(env, "tree", "/dirtoshare", "/backup/dirtoshare", wait=True, wait_timeout=60)

    predicted = run_module(ansible_playbook, env, "globus_collection_sync", args, check=True)
    assert predicted["changed"] and predicted["syncs"][0]["action"] == "submitted", predicted
    assert predicted["syncs"][0]["created_directories"] == ["/backup/", "/backup/dirtoshare/"]
    assert predicted["syncs"][0]["transfer"]["sync_level"] == 3
    assert not os.path.exists(env.dst_path("backup")) and not os.path.exists(args["state_file"])

    first = run_module(ansible_playbook, env, "globus_collection_sync", args)
    assert not first.get("failed"), first
    task = first["syncs"][0]["task"]
    assert first["changed"] and task["status"] == "SUCCEEDED" and task["files_transferred"] == 4, first
    assert snapshot(env.dst_path("backup", "dirtoshare")) == source_before

    second = run_module(ansible_playbook, env, "globus_collection_sync", args)
    assert second["syncs"][0]["task"]["files_transferred"] == 0, second
    assert second["changed"] is False and second["syncs"][0]["task"]["task_id"] != task["task_id"]

    time.sleep(1.1)
    write_tree(env.src_path("dirtoshare"), {"file011.txt": "one, changed\n"})
    os.remove(env.src_path("dirtoshare", "subfolder1", "file112.txt"))
    source_now = snapshot(env.src_path("dirtoshare"))
    third = run_module(ansible_playbook, env, "globus_collection_sync", args)
    assert third["changed"] and third["syncs"][0]["task"]["files_transferred"] == 1, third
    with open(env.dst_path("backup", "dirtoshare", "file011.txt")) as handle:
        assert handle.read() == "one, changed\n"
    assert os.path.exists(env.dst_path("backup", "dirtoshare", "subfolder1", "file112.txt")), "a sync never deletes"
    assert snapshot(env.src_path("dirtoshare")) == source_now, "the source is never written"

    info = run_module(ansible_playbook, env, "globus_task_info",
                      {"name": "tree", "state_file": args["state_file"], "transferred_files": True})
    assert info["found"] and info["source"] == "state" and info["task"]["status"] == "SUCCEEDED", info
    assert [f["destination_path"] for f in info["transferred_files"]] == ["/backup/dirtoshare/file011.txt"]


def test_deadline_expiry_then_resume_copies_each_file_once(ansible_playbook, env):
    files = {"part%02d.bin" % n: chr(65 + n) * 16000 for n in range(6)}
    write_tree(env.src_path("slow"), files)
    env.rate(8000)  # 2 s per file, 12 s for the tree: the 8 s deadline cuts it even if the task starts late
    try:
        args = sync_args(env, "slow", "/slow", "/slow-copy", time_limit="8s", wait=True, wait_timeout=60)
        first = run_module(ansible_playbook, env, "globus_collection_sync", args)
    finally:
        env.rate(None)
    cut = first["syncs"][0]["task"]
    assert cut["status"] == "FAILED" and cut["fatal_error"]["code"] == "EXPIRED", first
    assert 0 < cut["files_transferred"] < 6, cut
    assert first["syncs"][0]["error_events"][0]["code"] == "EXPIRED"

    args["time_limit"] = "10m"
    second = run_module(ansible_playbook, env, "globus_collection_sync", args)
    done = second["syncs"][0]["task"]
    assert done["status"] == "SUCCEEDED" and cut["files_transferred"] + done["files_transferred"] == 6, second
    assert second["syncs"][0]["previous"] is None  # the FAILED task was recorded by the first run
    assert snapshot(env.dst_path("slow-copy")) == snapshot(env.src_path("slow"))

    copied = []
    for task_id in (cut["task_id"], done["task_id"]):
        info = run_module(ansible_playbook, env, "globus_task_info", {"task_id": task_id, "transferred_files": True})
        copied.extend(f["destination_path"] for f in info["transferred_files"])
    assert sorted(copied) == sorted("/slow-copy/" + name for name in files), "every file copied exactly once"


def test_two_runs_while_active_submit_one_task_and_lost_state_finds_it(ansible_playbook, env):
    write_tree(env.src_path("busy"), {"f%d.bin" % n: "x" * 50000 for n in range(4)})
    env.rate(1000)  # 200 s for the tree: the task stays ACTIVE through five slow ansible-playbook runs
    task_id = None
    try:
        args = sync_args(env, "busy", "/busy", "/busy-copy")
        first = run_module(ansible_playbook, env, "globus_collection_sync", args)
        assert first["changed"] and first["submitted"] == ["busy"], first
        task_id = first["syncs"][0]["task_id"]
        second = run_module(ansible_playbook, env, "globus_collection_sync", args)
        assert second["changed"] is False and second["submitted"] == [] and second["syncs"][0]["action"] == "report", second
        assert second["syncs"][0]["task"]["task_id"] == task_id

        os.remove(args["state_file"])
        third = run_module(ansible_playbook, env, "globus_collection_sync", args)
        assert third["syncs"][0]["adopted"] and third["syncs"][0]["task"]["task_id"] == task_id, third
        assert third["submitted"] == [] and third["changed"] is False

        status = run_module(ansible_playbook, env, "globus_collection_sync", dict(args, start=False))
        assert status["syncs"][0]["task"]["task_id"] == task_id and status["submitted"] == []
        tasks = admin(env.lab, "GET", "tasks", params={"client_id": env.client_id})["tasks"]
        assert [t["task_id"] for t in tasks if t["label"] == "Syncing data for busy"] == [task_id]
    finally:
        if task_id:  # fail it while the slow rate still holds it ACTIVE (a fast rate would end it first)
            admin(env.lab, "POST", "tasks/%s/fail" % task_id, json={"description": "test cleanup"})
        env.rate(None)


def test_app_without_access_gets_a_clear_error(ansible_playbook, env):
    args = {"state_file": os.path.join(env.tmp, "state-denied.json"),
            "syncs": [{"name": "denied", "source_collection": env.foreign["id"], "source_path": "/data",
                       "destination_collection": env.dst["id"], "destination_path": "/denied"}]}
    result = run_module(ansible_playbook, env, "globus_collection_sync", args)
    assert result["failed"] and result["submitted"] == []
    assert env.foreign["id"] in result["msg"] and env.username in result["msg"] and "/data/" in result["msg"], result["msg"]
    assert "denied" in result["msg"]


def test_503_bursts_are_ridden_out(ansible_playbook, env):
    write_tree(env.src_path("flaky"), {"a.txt": "a\n", "b.txt": "b\n"})
    for pattern in ("/v0.10/task/*", "/v0.10/operation/*", "/v0.10/transfer"):
        admin(env.lab, "POST", "faults", json={"pattern": pattern, "status": 503, "count": 2, "client_id": env.client_id})
    try:
        result = run_module(ansible_playbook, env, "globus_collection_sync",
                            sync_args(env, "flaky", "/flaky", "/flaky-copy", wait=True, wait_timeout=60))
        left = [f for f in admin(env.lab, "GET", "faults")["faults"] if f.get("client_id") == env.client_id]
    finally:  # faults not hit must not reach the next tests (they share this client)
        admin(env.lab, "DELETE", "faults", params={"client_id": env.client_id})
    assert not result.get("failed"), result
    assert result["syncs"][0]["task"]["status"] == "SUCCEEDED" and result["syncs"][0]["task"]["files_transferred"] == 2
    assert left == [], "every injected 503 was hit and retried"


def test_summary_email_arrives_with_the_right_fields(ansible_playbook, env, lab):
    write_tree(env.src_path("mailed"), {"m1.txt": "m" * 2048, "m2.txt": "n\n"})
    recipient = "sync-%s@example.org" % env.tag
    args = sync_args(env, "mailed", "/mailed", "/archive/mailed", wait=True, wait_timeout=60,
                     mail={"to": [recipient], "host": "127.0.0.1", "port": SMTP_PORT, "sender": "datasync@transfer1.example.org",
                           "when": "ended"})
    result = run_module(ansible_playbook, env, "globus_collection_sync", args)
    assert result["mail"]["sent"], result

    def delivered():
        for name in sorted(os.listdir(lab.path("mail"))):
            if not name.endswith(".eml"):
                continue  # the sink writes <id>.tmp, then renames it
            with open(os.path.join(lab.path("mail"), name), "rb") as handle:
                candidate = email.message_from_binary_file(handle, policy=email.policy.default)
            if recipient in (candidate["X-Lab-Envelope-To"] or ""):
                return candidate
        return None

    message = wait_for(delivered, timeout=60, what="mail to %s in .lab/mail" % recipient)
    body = message.get_body(("plain",)).get_content()
    assert message["Subject"].startswith("Collection sync on ") and ": OK (1 sync)" in message["Subject"]
    assert "Sync: mailed" in body and "Status: SUCCEEDED" in body
    assert "Files: 2, transferred: 2, skipped: 0" in body and "Bytes transferred: 2050" in body
    assert "Destination path: /archive/mailed/ (collection %s)" % env.dst["id"] in body
    assert "origin_id=%s&origin_path=%%2Farchive%%2Fmailed%%2F" % env.dst["id"] in body


def test_directory_is_made_and_shared(ansible_playbook, env):
    path = "/share-%s/2026-11/lovelace" % env.tag
    args = {"collection": env.dst["id"], "path": path,
            "shares": [{"identity": "alice@example.org", "notify_email": "alice@example.org"},
                       {"identity": "carol@example.org", "permissions": "rw"}]}
    first = run_module(ansible_playbook, env, "globus_directory", args)
    assert first["changed"] and not first.get("failed"), first
    assert first["created_directories"] == ["/share-%s/" % env.tag, "/share-%s/2026-11/" % env.tag, path + "/"]
    assert os.path.isdir(env.dst_path("share-%s" % env.tag, "2026-11", "lovelace"))
    rules = admin(env.lab, "GET", "collections/%s" % env.dst["id"])
    acl = rules.get("acl") or rules.get("access") or []
    acl = acl.values() if isinstance(acl, dict) else acl
    on_path = sorted((r["principal"], r["permissions"]) for r in acl if r["path"] == path + "/")
    assert on_path == sorted([("f13ec8e8-82ab-5641-a1f2-14531f59aaad", "r"), ("c0c65561-adc4-5af4-b7c6-6af83fca0dac", "rw")])

    again = run_module(ansible_playbook, env, "globus_directory", args)
    assert again["changed"] is False, again

    exact = run_module(ansible_playbook, env, "globus_directory", dict(args, shares=args["shares"][:1], exact=True))
    assert exact["changed"] and [r["principal"] for r in exact["deleted_rules"]] == ["c0c65561-adc4-5af4-b7c6-6af83fca0dac"]

    gone = run_module(ansible_playbook, env, "globus_directory", dict(args, state="absent", shares=args["shares"][:1]))
    assert gone["changed"] and gone["rules"] == [] and os.path.isdir(env.dst_path("share-%s" % env.tag))

    unknown = run_module(ansible_playbook, env, "globus_directory", dict(args, shares=[{"identity": "nobody@example.org"}]))
    assert unknown["failed"] and "nobody@example.org" in unknown["msg"]


def test_run_now_playbook_takes_the_scheduled_jobs_lock(ansible_playbook, env, lab):
    """playbooks/collection_sync.yml status run: the lock is the one the role's jobs use (datasync_service_lock_dir)."""
    locks = os.path.join(env.tmp, "run-now-locks")
    result = ansible_playbook("-i", "tests/integration/inventory", "-l", "transfer1", "playbooks/collection_sync.yml",
                              "-e", "start=false", "-e", "datasync_service_lock_dir=%s" % locks,
                              "-e", "collection_sync_state_file=%s" % os.path.join(env.tmp, "run-now.json"),
                              "-e", "collection_sync_client_secret_file=%s" % globus_endpoints(lab)["client_secret_file"],
                              env={"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"}, check=False)
    assert result.rc == 0, result
    run = module_results(result.stdout)["plays"][0]["tasks"][0]["hosts"]["transfer1"]
    assert run["submitted"] == [] and not run.get("failed"), run
    assert os.listdir(locks) == ["collection_sync.lock"]
