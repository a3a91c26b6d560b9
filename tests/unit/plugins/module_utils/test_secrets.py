"""Unit tests for plugins/module_utils/_core/secrets.py: the one secret-file policy and reader."""

import os

import pytest

from ansible_collections.sciops.datasync.plugins.module_utils._core import secrets as _secrets

CANARY = "canary-Zq81-never-shown"


def secret(tmp_path, text=CANARY + "\n", mode=0o600, name="secret"):
    path = tmp_path / name
    path.write_text(text)
    path.chmod(mode)
    return str(path)


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_private_file_is_read_without_its_trailing_newline(tmp_path, mode):
    path = secret(tmp_path, mode=mode)
    assert _secrets.secret_file_problem(path) is None
    assert _secrets.read_secret_file(path) == CANARY


@pytest.mark.parametrize("text, expected", [("a|b\r\n", "a|b"), ("a\nb\n", "a\nb"), ("no-newline", "no-newline"), ("x\n\n", "x\n")])
def test_only_the_trailing_newline_goes(tmp_path, text, expected):
    assert _secrets.read_secret_file(secret(tmp_path, text)) == expected


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o620, 0o602])
def test_group_or_others_access_is_refused(tmp_path, mode):
    path = secret(tmp_path, mode=mode)
    with pytest.raises(_secrets.SecretFileError) as caught:
        _secrets.read_secret_file(path, "password file")
    message = str(caught.value)
    assert message.startswith("password file %s is accessible by group or others (mode %04o)" % (path, mode))
    assert CANARY not in message
    assert _secrets.secret_file_problem(path, "password file") == message


def test_symlink_is_refused_even_to_a_private_file(tmp_path):
    target = secret(tmp_path)
    link = tmp_path / "link"
    link.symlink_to(target)
    with pytest.raises(_secrets.SecretFileError) as caught:
        _secrets.read_secret_file(str(link))
    assert "symlink" in str(caught.value) and str(link) in str(caught.value) and CANARY not in str(caught.value)


def test_missing_and_not_regular(tmp_path):
    with pytest.raises(_secrets.SecretFileError, match="nope cannot be read: No such file"):
        _secrets.read_secret_file(str(tmp_path / "nope"))
    folder = tmp_path / "folder"
    folder.mkdir(mode=0o700)
    assert "is not a regular file" in _secrets.secret_file_problem(str(folder))


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another uid needs root")
def test_file_of_another_user_is_refused(tmp_path):
    path = secret(tmp_path)
    os.chown(path, 4242, -1)
    with pytest.raises(_secrets.SecretFileError) as caught:
        _secrets.read_secret_file(path)
    assert "owned by uid 4242" in str(caught.value) and CANARY not in str(caught.value)


def test_not_utf8(tmp_path):
    path = tmp_path / "bin"
    path.write_bytes(b"\xff\xfe" + CANARY.encode())
    path.chmod(0o600)
    with pytest.raises(_secrets.SecretFileError, match="not UTF-8"):
        _secrets.read_secret_file(str(path))
