import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from ansible_collections.sciops.datasync.plugins.module_utils._core import state as _state
from ansible_collections.sciops.datasync.plugins.module_utils._core.state import StateError, StateFile, UnsafePathError, atomic_write_json

COLLECTIONS = [p for p in sys.path if p.endswith(".collections")][0]

WRITER = """
    import hashlib, sys
    from ansible_collections.sciops.datasync.plugins.module_utils._core.state import StateFile
    state = StateFile(sys.argv[1], "test", 1)
    n = 0
    print("ready", flush=True)
    while True:
        n += 1
        payload = ("%d-" % n) * 20000
        state.save({"n": n, "payload": payload, "sha": hashlib.sha256(payload.encode()).hexdigest()})
"""


def test_round_trip_and_mode(tmp_path):
    state = StateFile(str(tmp_path / "s.json"), "users", 2)
    assert state.load(default={"uids": {}}) == {"uids": {}}
    state.save({"uids": {"alice": 20001}})
    assert state.load() == {"uids": {"alice": 20001}}
    assert oct(os.stat(state.path).st_mode & 0o777) == "0o600"
    document = json.loads((tmp_path / "s.json").read_text())
    assert document["schema"] == "users" and document["version"] == 2


def test_newer_version_is_refused_with_clear_error(tmp_path):
    atomic_write_json(str(tmp_path / "s.json"), {"schema": "users", "version": 9, "data": {}})
    with pytest.raises(StateError, match="newer version"):
        StateFile(str(tmp_path / "s.json"), "users", 2).load()


def test_older_version_is_upgraded(tmp_path):
    atomic_write_json(str(tmp_path / "s.json"), {"schema": "users", "version": 1, "data": {"a": 1}})
    state = StateFile(str(tmp_path / "s.json"), "users", 2, upgrade=lambda data, v: dict(data, upgraded_from=v))
    assert state.load() == {"a": 1, "upgraded_from": 1}


@pytest.mark.parametrize("content", ["{broken", '{"schema": "other", "version": 1, "data": {}}', "[]"])
def test_foreign_or_broken_file_is_an_error(tmp_path, content):
    (tmp_path / "s.json").write_text(content)
    with pytest.raises(StateError):
        StateFile(str(tmp_path / "s.json"), "users", 1).load()


def test_writer_killed_mid_write_leaves_old_or_new_content(tmp_path):
    path = str(tmp_path / "state.json")
    env = dict(os.environ, PYTHONPATH=COLLECTIONS)
    rng = random.Random(7)
    last_seen = 0
    for trial in range(20):
        writer = subprocess.Popen([sys.executable, "-c", textwrap.dedent(WRITER), path], env=env, stdout=subprocess.PIPE, text=True)
        assert writer.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.01, 0.15))
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
        if not os.path.exists(path):
            continue
        data = StateFile(path, "test", 1).load()
        assert hashlib.sha256(data["payload"].encode()).hexdigest() == data["sha"]
        assert data["payload"].startswith("%d-" % data["n"])
        last_seen = max(last_seen, data["n"])
    assert last_seen > 0


# ---------------------------------------------------------------- issue 14 item 2: nothing followed, nothing foreign

def test_a_symlink_at_the_state_path_is_refused_and_its_target_untouched(tmp_path):
    target = tmp_path / "target"
    target.write_text("keep")
    link = tmp_path / "state.json"
    link.symlink_to(target)
    state = StateFile(str(link), "s")
    with pytest.raises(UnsafePathError, match="state file .*state.json is a symlink"):
        state.load()
    with pytest.raises(UnsafePathError, match="is a symlink"):
        state.save({"a": 1})
    assert target.read_text() == "keep" and link.is_symlink()


def test_a_state_file_with_two_links_or_writable_by_others_is_refused(tmp_path):
    path = tmp_path / "state.json"
    StateFile(str(path), "s").save({"a": 1})
    os.link(str(path), str(tmp_path / "other"))
    with pytest.raises(UnsafePathError, match="has 2 hard links"):
        StateFile(str(path), "s").load()
    os.unlink(str(tmp_path / "other"))
    path.chmod(0o622)
    with pytest.raises(UnsafePathError, match=r"writable by group or others \(mode 0622\)"):
        StateFile(str(path), "s").load()


@pytest.mark.parametrize("mode, refused", [(0o777, True), (0o775, True), (0o1777, False), (0o755, False)])
def test_a_state_folder_writable_by_others_is_refused_unless_sticky(tmp_path, mode, refused):
    folder = tmp_path / "f"
    folder.mkdir()
    folder.chmod(mode)
    state = StateFile(str(folder / "s.json"), "s")
    if refused:
        with pytest.raises(UnsafePathError, match="state folder %s is writable by group or others" % folder):
            state.save({"a": 1})
        with pytest.raises(UnsafePathError):
            state.load()
        assert list(folder.iterdir()) == []
    else:
        state.save({"a": 1})
        assert state.load() == {"a": 1}


def test_unsafe_path_error_is_both_a_state_error_and_an_os_error():
    exc = UnsafePathError("state file /x is a symlink")
    assert isinstance(exc, StateError) and isinstance(exc, OSError) and str(exc) == exc.strerror == "state file /x is a symlink"


def test_the_temp_file_never_follows_a_planted_name(tmp_path, monkeypatch):
    target = tmp_path / "target"
    target.write_text("keep")
    names = iter(["aaaaaaaaaaaa", "bbbbbbbbbbbb"])
    monkeypatch.setattr(_state.secrets, "token_hex", lambda n: next(names))
    (tmp_path / ".s.json.aaaaaaaaaaaa.tmp").symlink_to(target)  # a planted temp name is skipped, never opened
    StateFile(str(tmp_path / "s.json"), "s").save({"a": 1})
    assert target.read_text() == "keep" and StateFile(str(tmp_path / "s.json"), "s").load() == {"a": 1}
