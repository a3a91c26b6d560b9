import datetime

import pytest

from ansible_collections.sciops.datasync.plugins.module_utils._globus.folders import normalize_dir
from ansible_collections.sciops.datasync.plugins.module_utils._collection_sync.run import CollectionSync, RunOptions, Timing
from ansible_collections.sciops.datasync.plugins.module_utils._core.state import StateFile
from ansible_collections.sciops.datasync.plugins.module_utils._collection_sync.definition import SyncError, resolve_sync, transfer_document
from ansible_collections.sciops.datasync.plugins.module_utils._collection_sync.summary import email_wanted, summary_email
from ansible_collections.sciops.datasync.plugins.module_utils._globus.transfer import LIVE_STATUSES
from ansible_collections.sciops.datasync.plugins.module_utils._collection_sync.deadline import format_deadline, parse_time_limit
from ansible_collections.sciops.datasync.plugins.module_utils._collection_sync.plan import plan_sync
from ansible_collections.sciops.datasync.plugins.module_utils._collection_sync.state import STATE_SCHEMA, STATE_VERSION

from globus_fakes import ApiError

SRC = "11111111-1111-4111-8111-111111111111"
DST = "22222222-2222-4222-8222-222222222222"
NOW = datetime.datetime(2026, 11, 23, 12, 0, 0, tzinfo=datetime.timezone.utc)


class Response(dict):
    @property
    def data(self):
        return dict(self)


class FakeTransfer:
    """Just enough of TransferClient for the run loop: tasks, stat, mkdir, label search."""

    def __init__(self, paths=None, denied=()):
        self.tasks = {}
        self.paths = {(SRC, "/data/"): "dir"} if paths is None else paths
        self.denied = set(denied)
        self.submitted = []
        self.mkdirs = []
        self.by_submission = {}
        self.counter = 0

    def get_submission_id(self):
        self.counter += 1
        return {"value": "sub-%d" % self.counter}

    def submit_transfer(self, data):
        body = dict(data)
        if body["submission_id"] in self.by_submission:
            return Response(code="Duplicate", task_id=self.by_submission[body["submission_id"]])
        task_id = "task-%d" % (len(self.submitted) + 1)
        self.submitted.append(body)
        self.by_submission[body["submission_id"]] = task_id
        self.tasks[task_id] = {"task_id": task_id, "status": "ACTIVE", "label": body["label"], "request_time": "t%d" % len(self.submitted),
                               "files": 0, "files_transferred": 0, "deadline": body["deadline"]}
        return Response(code="Accepted", task_id=task_id)

    def get_task(self, task_id):
        if task_id not in self.tasks:
            raise ApiError(404, "TaskNotFound")
        return Response(self.tasks[task_id])

    def task_list(self, **kwargs):
        label = kwargs["filter"].split("label:=")[1].split("/")[0] if "label:=" in kwargs["filter"] else None
        statuses = kwargs["filter"].split("/status:")[1].split("/")[0].split(",") if "/status:" in kwargs["filter"] else None
        found = [t for t in self.tasks.values() if label in (None, t["label"]) and (statuses is None or t["status"] in statuses)]
        return sorted(found, key=lambda t: t["request_time"], reverse=True)

    def task_event_list(self, task_id, limit=100):
        return [{"code": "EXPIRED", "is_error": True, "description": "deadline passed", "time": "t"}]

    def _check(self, collection, path):
        if collection in self.denied:
            raise ApiError(403, "EndpointPermissionDenied", "denied")

    def operation_stat(self, collection, path):
        self._check(collection, path)
        kind = self.paths.get((collection, normalize_dir(path)))
        if kind is None:
            raise ApiError(404, "ClientError.NotFound")
        return Response(type=kind, name=path)

    def operation_ls(self, collection, path, limit=None):
        self._check(collection, path)
        return Response(DATA=[])

    def operation_mkdir(self, collection, path):
        self._check(collection, path)
        if (collection, normalize_dir(path)) in self.paths:
            raise ApiError(502, "ExternalError.MkdirFailed.Exists", "exists")
        parent = normalize_dir(path.rstrip("/").rsplit("/", 1)[0] or "/")
        if parent != "/" and (collection, parent) not in self.paths:
            raise ApiError(502, "ExternalError.MkdirFailed.NotFound", "parent missing")
        self.mkdirs.append(path)
        self.paths[(collection, normalize_dir(path))] = "dir"
        return Response(code="DirectoryCreated")

    def finish(self, task_id, status="SUCCEEDED", transferred=3):
        self.tasks[task_id].update(status=status, files=3, files_transferred=transferred, completion_time="done")


def make_sync(**overrides):
    raw = {"name": "raw", "source_collection": SRC, "source_path": "/data", "destination_collection": DST,
           "destination_path": "/copies/raw"}
    raw.update(overrides)
    return resolve_sync(raw, {})


def make_run(tmp_path, transfer, **kwargs):
    state = StateFile(str(tmp_path / "state.json"), STATE_SCHEMA, STATE_VERSION)
    return CollectionSync(transfer, state, "app@clients.auth.globus.org", RunOptions(**kwargs), Timing(now=lambda: NOW, sleep=lambda s: None))


@pytest.mark.parametrize("value,seconds", [("1440", 86400), (30, 1800), ("45s", 45), ("2h", 7200), ("1d", 86400), (" 5m ", 300)])
def test_time_limit(value, seconds):
    assert parse_time_limit(value) == seconds


@pytest.mark.parametrize("value", ["", "0", "-5", "1w", "abc", True])
def test_bad_time_limit(value):
    with pytest.raises(ValueError):
        parse_time_limit(value)


def test_resolve_defaults_checksum_and_paths():
    sync = make_sync(destination_path=None)
    assert sync["sync_level"] == "checksum"
    assert sync["source_path"] == "/data/" and sync["destination_path"] == "/data/"
    assert sync["label"] == "Syncing data for raw"
    assert sync["time_limit_seconds"] == 86400


@pytest.mark.parametrize("overrides,needle", [
    ({"name": "bad name"}, "sync name"),
    ({"name": "-x"}, "sync name"),
    ({"source_collection": "not-a-uuid"}, "source_collection"),
    ({"source_path": "relative"}, "absolute"),
    ({"destination_path": "/a/../b"}, ".."),
    ({"sync_level": "fast"}, "sync_level"),
    ({"time_limit": "soon"}, "time limit"),
    ({"label": " leading space"}, "whitespace"),
    ({"label": "trailing space "}, "whitespace"),
    ({"label": "two\nlines"}, "newline"),
    ({"label": "x" * 129}, "128"),
    ({"destination_collection": SRC, "destination_path": "/data/sub"}, "overlap"),
])
def test_resolve_refuses_by_name(overrides, needle):
    with pytest.raises(SyncError, match=needle):
        make_sync(**overrides)


def test_transfer_document_never_deletes_and_has_deadline():
    sync = make_sync(sync_level="mtime", encrypt=True)
    document = transfer_document(sync, format_deadline(NOW, 60), "sub-1")
    assert document["delete_destination_extra"] is False
    assert document["sync_level"] == 2 and document["encrypt_data"] is True
    assert document["deadline"] == "2026-11-23T12:01:00+00:00"
    assert document["DATA"] == [{"DATA_TYPE": "transfer_item", "source_path": "/data/", "destination_path": "/copies/raw/", "recursive": True}]
    assert document["submission_id"] == "sub-1"


@pytest.mark.parametrize("recorded,live,start,action,ended", [
    (None, None, True, "submit", False),
    (None, None, False, "idle", False),
    ({"task_id": "a", "status": "ACTIVE"}, None, True, "report", False),
    ({"task_id": "a", "status": "INACTIVE"}, None, True, "report", False),
    ({"task_id": "a", "status": "SUCCEEDED"}, None, True, "submit", True),
    ({"task_id": "a", "status": "FAILED"}, None, False, "idle", True),
    (None, {"task_id": "b", "status": "ACTIVE", "label": "L"}, True, "report", False),
    ({"task_id": "a", "status": "FAILED"}, {"task_id": "b", "status": "ACTIVE", "label": "L"}, True, "report", True),
])
def test_plan(recorded, live, start, action, ended):
    plan = plan_sync("raw", recorded, live, start)
    assert plan["action"] == action
    assert bool(plan["ended"]) is ended
    assert plan["adopted"] is bool(live and not (recorded and recorded["status"] in LIVE_STATUSES))


def test_run_submits_then_reports_live_then_records_and_resubmits(tmp_path):
    transfer = FakeTransfer()
    results, errors, dummy = make_run(tmp_path, transfer).run([make_sync()])
    assert errors == [] and results[0]["action"] == "submitted" and results[0]["changed"]
    assert transfer.mkdirs == ["/copies/", "/copies/raw/"]
    assert transfer.submitted[0]["deadline"] == "2026-11-24T12:00:00+00:00"
    # second run while ACTIVE: nothing submitted
    results, errors, dummy = make_run(tmp_path, transfer).run([make_sync()])
    assert results[0]["action"] == "report" and not results[0]["changed"] and len(transfer.submitted) == 1
    # task failed on its deadline: outcome recorded, next task submitted
    transfer.finish("task-1", "FAILED", transferred=2)
    results, errors, dummy = make_run(tmp_path, transfer).run([make_sync()])
    assert results[0]["previous"]["status"] == "FAILED" and results[0]["ended_task"]["task_id"] == "task-1"
    assert results[0]["error_events"][0]["code"] == "EXPIRED"
    assert results[0]["action"] == "submitted" and len(transfer.submitted) == 2
    state = StateFile(str(tmp_path / "state.json"), STATE_SCHEMA, STATE_VERSION).load()
    assert state["syncs"]["raw"]["task_id"] == "task-2" and state["syncs"]["raw"]["last"]["task_id"] == "task-1"


def test_start_false_reports_only(tmp_path):
    transfer = FakeTransfer()
    results, errors, dummy = make_run(tmp_path, transfer, start=False).run([make_sync()])
    assert results[0]["action"] == "idle" and transfer.submitted == [] and errors == []


def test_check_mode_submits_nothing_and_writes_nothing(tmp_path):
    transfer = FakeTransfer()
    results, errors, dummy = make_run(tmp_path, transfer, check_mode=True).run([make_sync()])
    assert results[0]["action"] == "submitted" and results[0]["changed"]
    assert results[0]["transfer"]["sync_level"] == 3
    assert results[0]["created_directories"] == ["/copies/", "/copies/raw/"]
    assert transfer.submitted == [] and transfer.mkdirs == [] and not (tmp_path / "state.json").exists()


def test_lost_state_finds_live_task_by_label(tmp_path):
    transfer = FakeTransfer()
    make_run(tmp_path, transfer).run([make_sync()])
    (tmp_path / "state.json").unlink()
    results, errors, dummy = make_run(tmp_path, transfer).run([make_sync()])
    assert results[0]["action"] == "report" and results[0]["adopted"] and results[0]["task"]["task_id"] == "task-1"
    assert len(transfer.submitted) == 1


def test_no_access_is_a_clear_error_and_other_syncs_go_on(tmp_path):
    other = "33333333-3333-4333-8333-333333333333"
    transfer = FakeTransfer(paths={(SRC, "/data/"): "dir", (other, "/x/"): "dir"}, denied={other})
    results, errors, dummy = make_run(tmp_path, transfer).run([make_sync(name="denied", source_collection=other, source_path="/x"), make_sync()])
    assert len(errors) == 1
    assert "app@clients.auth.globus.org has no read access to /x/ on collection %s" % other in errors[0]["reason"]
    assert "denied" in errors[0]["reason"] and errors[0]["item"] == "denied"
    assert results[1]["action"] == "submitted"


def test_missing_source_is_an_error(tmp_path):
    transfer = FakeTransfer(paths={})
    results, errors, dummy = make_run(tmp_path, transfer).run([make_sync()])
    assert "source path /data/ does not exist" in errors[0]["reason"] and transfer.submitted == []


def test_wait_changed_means_files_arrived(tmp_path):
    transfer = FakeTransfer()
    original = transfer.get_task

    def finishing(task_id):
        if transfer.tasks[task_id]["status"] == "ACTIVE" and transfer.tasks[task_id].get("seen"):
            transfer.finish(task_id, transferred=0)
        transfer.tasks[task_id]["seen"] = True
        return original(task_id)

    transfer.get_task = finishing
    results, errors, dummy = make_run(tmp_path, transfer, wait=True, wait_timeout=30).run([make_sync()])
    assert results[0]["task"]["status"] == "SUCCEEDED" and results[0]["changed"] is False
    assert results[0]["ended_task"]["task_id"] == "task-1"


def test_wait_times_out(tmp_path):
    transfer = FakeTransfer()
    ticks = iter(range(0, 1000, 5))
    run = CollectionSync(transfer, StateFile(str(tmp_path / "s.json"), STATE_SCHEMA), "app", RunOptions(wait=True, wait_timeout=20),
                         Timing(now=lambda: NOW, sleep=lambda s: None, clock=lambda: next(ticks)))
    results, errors, dummy = run.run([make_sync()])
    assert results[0]["timed_out"] and results[0]["changed"] is True


def test_killed_after_submit_resubmits_same_submission_id(tmp_path):
    transfer = FakeTransfer()
    state = StateFile(str(tmp_path / "state.json"), STATE_SCHEMA, STATE_VERSION)
    state.save({"syncs": {"raw": {"submission_id": "sub-9", "submitted_at": "x"}}})
    transfer.by_submission["sub-9"] = "task-0"
    transfer.tasks["task-0"] = {"task_id": "task-0", "status": "SUCCEEDED", "label": "other", "request_time": "t0"}
    results, errors, dummy = make_run(tmp_path, transfer).run([make_sync()])
    assert results[0]["submission_code"] == "Duplicate" and results[0]["task_id"] == "task-0"
    assert transfer.submitted == []


def test_summary_email_names_destination_path_and_link():
    result = {"name": "raw", "action": "submitted", "source_collection": SRC, "source_path": "/data/",
              "destination_collection": DST, "destination_path": "/copies/raw/",
              "task": {"task_id": "t2", "status": "ACTIVE"},
              "previous": {"task_id": "t1", "status": "SUCCEEDED", "files": 4, "files_transferred": 3, "bytes_transferred": 2048}}
    subject, body = summary_email([result], [], "transfer1")
    assert subject == "Collection sync on transfer1: ACTIVE (1 sync)"
    assert "Destination path: /copies/raw/ (collection %s)" % DST in body
    assert "origin_id=%s&origin_path=%%2Fcopies%%2Fraw%%2F" % DST in body
    assert "Files: 4, transferred: 3, skipped: 0" in body and "2.0 KiB" in body


@pytest.mark.parametrize("when,ended,errors,wanted", [
    ("always", None, [], True),
    ("ended", None, [], False),
    ("ended", {"status": "SUCCEEDED"}, [], True),
    ("ended", None, ["x"], True),
    ("transferred", {"status": "SUCCEEDED", "files_transferred": 0}, [], False),
    ("transferred", {"status": "SUCCEEDED", "files_transferred": 2}, [], True),
    ("failed", {"status": "SUCCEEDED"}, [], False),
    ("failed", {"status": "FAILED"}, [], True),
])
def test_email_wanted(when, ended, errors, wanted):
    assert email_wanted(when, [{"ended_task": ended}], errors) is wanted


def test_single_file_source_is_not_recursive_and_its_folder_is_made(tmp_path):
    transfer = FakeTransfer(paths={(SRC, "/data/"): "file"})
    results, errors, dummy = make_run(tmp_path, transfer).run([make_sync(destination_path="/copies/raw.dat")])
    assert errors == [] and transfer.mkdirs == ["/copies/"]
    assert transfer.submitted[0]["DATA"][0]["recursive"] is False
    assert transfer.submitted[0]["DATA"][0]["destination_path"] == "/copies/raw.dat"


def test_filters_become_transfer_filter_rules_in_order():
    sync = make_sync(filters=[{"include": "*.h5"}, {"exclude": "*"}, {"exclude": "tmp", "type": "dir"}])
    document = transfer_document(sync, format_deadline(NOW, 60), "sub-1")
    assert document["filter_rules"] == [
        {"DATA_TYPE": "filter_rule", "method": "include", "name": "*.h5", "type": "file"},
        {"DATA_TYPE": "filter_rule", "method": "exclude", "name": "*", "type": "file"},
        {"DATA_TYPE": "filter_rule", "method": "exclude", "name": "tmp", "type": "dir"}]
    assert "filter_rules" not in transfer_document(make_sync(), format_deadline(NOW, 60))
    with pytest.raises(SyncError, match="file"):
        transfer_document(sync, format_deadline(NOW, 60), recursive=False)


@pytest.mark.parametrize("filters", [[{"include": "a", "exclude": "b"}], [{"keep": "a"}], [{"exclude": "a/b"}],
                                     [{"exclude": "x", "type": "link"}], ["*.h5"]])
def test_bad_filters_are_refused_by_name(filters):
    with pytest.raises(SyncError, match="sync raw: filter"):
        make_sync(filters=filters)


def test_transfer_accepts_any_label_it_would_accept():
    assert make_sync(label="Sync; of raw/data [2026] é")["label"] == "Sync; of raw/data [2026] é"
    assert make_sync(label="x" * 128)["label"] == "x" * 128


class StalledTransfer(FakeTransfer):
    def __init__(self, events, **kwargs):
        super().__init__(**kwargs)
        self.events = events
        self.cancelled = []

    def task_event_list(self, task_id, limit=100):
        return self.events

    def cancel_task(self, task_id):
        self.cancelled.append(task_id)
        self.tasks[task_id].update(status="FAILED", fatal_error={"code": "CANCELED"})
        return Response(code="Canceled")


def stalled_events(minutes):
    fault = {"code": "PERMISSION_DENIED", "is_error": True, "description": "Permission denied", "details": "/copies/raw/x"}
    return [dict(fault, time=(NOW - datetime.timedelta(minutes=m)).isoformat()) for m in range(0, minutes + 1, 5)] + [
        {"code": "STARTED", "is_error": False, "time": (NOW - datetime.timedelta(minutes=minutes + 1)).isoformat()}]


@pytest.mark.parametrize("cancel", [False, True])
def test_a_stalled_task_is_reported_with_its_fault_and_cancelled_when_asked(tmp_path, cancel):
    transfer = StalledTransfer(stalled_events(90))
    first, errors, _diff = make_run(tmp_path, transfer).run([make_sync()])
    task_id = first[0]["task_id"]
    transfer.tasks[task_id].update(is_ok=False, nice_status="PERMISSION_DENIED")
    results, errors, _diff = make_run(tmp_path, transfer, stall_timeout=3600, cancel_stalled=cancel).run([make_sync()])
    assert results[0]["stalled"]["code"] == "PERMISSION_DENIED" and results[0]["stalled"]["seconds"] == 90 * 60
    assert len(errors) == 1 and "PERMISSION_DENIED" in errors[0]["reason"] and "Permission denied" in errors[0]["reason"]
    assert transfer.cancelled == ([task_id] if cancel else [])
    assert results[0]["task"]["status"] == ("FAILED" if cancel else "ACTIVE")


def test_a_recent_fault_is_not_a_stall(tmp_path):
    transfer = StalledTransfer(stalled_events(10))
    first, _errors, _diff = make_run(tmp_path, transfer).run([make_sync()])
    transfer.tasks[first[0]["task_id"]].update(is_ok=False)
    results, errors, _diff = make_run(tmp_path, transfer, stall_timeout=3600).run([make_sync()])
    assert not errors and "stalled" not in results[0]


def test_waiting_reports_files_of_total_and_bytes_from_the_task_documents(tmp_path):
    """Issue 16 item 6: while waiting, a progress line per interval from Transfer's counts (polled every
    10 s here: a line at 20 s, none at 10 and 30 s), and one when it ended."""
    from ansible_collections.sciops.datasync.plugins.module_utils._core.progress import Progress

    transfer = FakeTransfer()
    ticks = iter(range(0, 1000, 10))
    rounds = [dict(files=40, files_transferred=10, files_skipped=2, bytes_transferred=10 << 20),
              dict(files=100, files_transferred=50, files_skipped=2, bytes_transferred=50 << 20),
              dict(status="SUCCEEDED", files=100, files_transferred=98, files_skipped=2, bytes_transferred=98 << 20, completion_time="done")]
    original = transfer.get_task

    def counting(task_id):
        transfer.tasks[task_id].update(rounds.pop(0) if rounds else {})
        return original(task_id)

    transfer.get_task = counting
    lines, clock = [], iter(range(0, 1000, 10))
    progress = Progress("collection sync", lines.append, interval=15, unit="files", clock=lambda: next(clock), wall=lambda: 1796003400)
    run = CollectionSync(transfer, StateFile(str(tmp_path / "s.json"), STATE_SCHEMA), "app", RunOptions(wait=True, wait_timeout=600),
                         Timing(now=lambda: NOW, sleep=lambda s: None, clock=lambda: next(ticks)), progress=progress)
    results, errors, _diff = run.run([make_sync()])
    assert not errors and results[0]["task"]["status"] == "SUCCEEDED"
    assert [line.split(" progress ", 1)[1] for line in lines] == [
        "collection sync: 52 of 100 files, 50.0 MiB, 2.5 MiB/s, 20 s",
        "collection sync: 100 of 100 files, 98.0 MiB, 2.4 MiB/s, 40 s: 1 of 1 tasks ended",
    ]
