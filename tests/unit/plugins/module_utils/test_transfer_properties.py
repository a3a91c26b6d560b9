"""Property-based tests (hypothesis) of the rsync parsers, the name escaping and the destination path walk (issue 14)."""

import os
import shutil
import stat
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.sciops.datasync.plugins.module_utils._core import paths
from ansible_collections.sciops.datasync.plugins.module_utils._core import rsync as rs

# Any Unicode text plus the lone surrogates a non-UTF-8 byte decodes to (surrogateescape).
RAW_BYTE = st.integers(min_value=0x80, max_value=0xFF).map(lambda b: chr(0xDC00 + b))
NAME_CHAR = st.one_of(st.characters(blacklist_categories=("Cs",)), RAW_BYTE,
                      st.sampled_from(["\\", "#", "\n", "\r", "\x1b", "\x7f", "\u009b", "\u202e", "\t", " -> ", "0", "1", "7"]))
# Names as rsync's output decodes them: bytes read with surrogateescape (a lone surrogate is a non-UTF-8 byte).
NAMES = st.lists(NAME_CHAR, min_size=1, max_size=40).map(
    lambda chars: "".join(chars).encode("utf-8", "surrogateescape").decode("utf-8", "surrogateescape"))
SAFE_NAMES = NAMES.filter(lambda n: "/" not in n and n not in (".", ".."))
UNSAFE = set(chr(c) for c in list(range(0x00, 0x09)) + list(range(0x0A, 0x20)) + list(range(0x7F, 0xA0))) | {
    "\u061c", "\u200e", "\u200f", "\u2028", "\u2029", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e",
    "\u2066", "\u2067", "\u2068", "\u2069"}


@given(NAMES)
def test_escape_name_round_trips_through_unescape(name):
    assert rs.unescape_name(rs.escape_name(name)) == name


@given(NAMES)
def test_escaped_names_and_text_hold_no_unsafe_character(name):
    for escaped in (rs.escape_name(name), rs.escape_text(name)):
        assert not set(escaped) & UNSAFE, repr(escaped)
        assert not any(0xDC80 <= ord(c) <= 0xDCFF for c in escaped)
        assert "\n" not in escaped and "\r" not in escaped


@given(NAMES)
def test_escape_text_leaves_safe_text_alone_and_is_idempotent(text):
    once = rs.escape_text(text)
    assert rs.escape_text(once) == once
    if not set(text) & UNSAFE and not any(0xDC80 <= ord(c) <= 0xDCFF for c in text):
        assert once == text


@given(st.lists(SAFE_NAMES.filter(lambda n: " -> " not in n and " => " not in n), min_size=1, max_size=8),
       st.sampled_from([">f+++++++++", ">f.st......", "cd+++++++++", ".d..t......", "<f+++++++++"]))
def test_parse_itemized_gives_back_every_name_rsync_printed(names, code):
    stdout = "receiving incremental file list\n" + "".join("%s %s\n" % (code, rs.escape_name(n)) for n in names) + "\nsent 1 bytes\n"
    changes = rs.parse_itemized(stdout)
    assert [c.path for c in changes] == names
    assert all(c.code == code for c in changes)
    # What the transferPools log shows for them is one line each, with no raw control byte.
    for change in changes:
        line = change.log_line()
        assert "\n" not in line and not set(line) & UNSAFE


@given(st.text())
def test_parsers_never_raise_on_arbitrary_output(text):
    rs.parse_itemized(text)
    rs.parse_stats(text)
    rs.parse_listing(text)
    rs.parse_module_list(text)
    rs.daemon_error(text)
    rs.summary_lines(text)


def commas(number):
    return "{:,}".format(number)


@given(st.fixed_dictionaries({key: st.integers(min_value=0, max_value=10 ** 15) for key in rs.RsyncStats.FIELDS}),
       st.integers(min_value=0, max_value=10 ** 6), st.booleans())
def test_parse_stats_reads_back_every_number(values, itemized, grouped):
    fmt = commas if grouped else str
    body = "".join(">f+++++++++ file%d\n" % n for n in range(itemized % 50))
    block = "".join("%s: %s%s\n" % (key, fmt(value), " bytes" if "size" in key or "data" in key or "bytes" in key else "")
                    for key, value in ((key, values[key]) for key in rs.RsyncStats.FIELDS))  # rsync's order
    stats = rs.parse_stats(body + "\n" + block + "\nsent 1 bytes  received 2 bytes  3.00 bytes/sec\ntotal size is 4  speedup is 0.50\n")
    for key, name in rs.RsyncStats.FIELDS.items():
        assert getattr(stats, name) == values[key], key
    assert stats.speedup == 0.5


@given(st.lists(st.text(alphabet="-aDKLv=devices", min_size=1, max_size=12), max_size=5))
def test_guards_close_every_transfer_argv_whatever_the_extra_words(extra):
    try:
        argv = rs.build_argv("src/", "dest/", rs.RsyncOptions(extra=tuple(extra)))
    except ValueError as exc:
        assert "refused" in str(exc)
        assert any(w.split("=")[0] in ("--keep-dirlinks", "--write-devices") or (w.startswith("-") and not w.startswith("--") and "K" in w)
                   for w in extra)
        return
    assert argv[-7:] == ["--safe-links", "--no-devices", "--no-specials", "--chmod=Fug-s", "--", "src/", "dest/"]


# ---------------------------------------------------------------- the path walk

COMPONENT = st.text(alphabet="abcxyz0", min_size=1, max_size=4)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(COMPONENT, min_size=1, max_size=5, unique=True), st.data())
def test_open_below_never_follows_a_link_below_the_root(parts, data):
    top = tempfile.mkdtemp()
    try:
        root, outside = os.path.join(top, "root"), os.path.join(top, "outside")
        os.makedirs(root)
        os.makedirs(outside)
        # Build some leading part of the path, then maybe a link (to outside) or a file at one level.
        built = data.draw(st.integers(min_value=0, max_value=len(parts)))
        planted = data.draw(st.sampled_from(["none", "link", "file"]))
        current = root
        for name in parts[:built]:
            current = os.path.join(current, name)
            os.mkdir(current)
        trap = None
        if planted != "none" and built < len(parts):
            trap = os.path.join(current, parts[built])
            if planted == "link":
                os.symlink(outside, trap)
            else:
                open(trap, "w").close()
        relative = "/".join(parts)
        problem = paths.check_below(root, relative)
        if trap:
            assert problem and trap in problem
            with pytest.raises(paths.UnsafePath) as caught:
                paths.open_below(root, relative, create=True)
            assert caught.value.path == trap
        else:
            assert problem is None
            fd, created = paths.open_below(root, relative, create=True)
            try:
                assert os.path.samestat(os.fstat(fd), os.stat(os.path.join(root, relative)))
            finally:
                os.close(fd)
            assert created == [os.path.join(root, *parts[:n + 1]) for n in range(built, len(parts))]
        assert os.listdir(outside) == []  # nothing was ever made through the link
    finally:
        shutil.rmtree(top)


@given(st.lists(st.sampled_from(["a", "..", ".", "", "b"]), min_size=1, max_size=6))
def test_split_relative_refuses_every_parent_reference(parts):
    relative = "/".join(parts)
    if ".." in parts:
        with pytest.raises(paths.UnsafePath):
            paths.split_relative(relative)
    else:
        assert paths.split_relative(relative) == [p for p in parts if p not in ("", ".")]


def test_fd_path_is_the_checked_folder_even_after_a_swap(tmp_path):
    root = tmp_path / "root"
    (root / "p").mkdir(parents=True)
    fd, _created = paths.open_below(str(root), "p/e/data", create=True)
    try:
        os.rename(str(root / "p" / "e"), str(root / "p" / "moved"))
        os.mkdir(str(root / "p" / "e"))
        os.symlink(str(tmp_path), str(root / "p" / "e" / "data"))
        assert os.path.samefile(paths.fd_path(fd), str(root / "p" / "moved" / "data"))
        assert stat.S_ISDIR(os.stat(paths.fd_path(fd)).st_mode)
    finally:
        os.close(fd)


def test_alert_mail_values_from_the_portal_carry_no_control_characters():
    from ansible_collections.sciops.datasync.plugins.module_utils._epn import alert
    items = [{"epn": "15555a", "beamline": "MX1", "start_time": "s", "end_time": "e",
              "principal_scientist": {"name": "Eve\x1b[2J\nForged: line", "email": "eve@example.org"}, "data_scientists": []}]
    text, html = alert.render_email(items, {"source": "host"})
    for body in (text, html):
        assert "\x1b" not in body and "Forged: line" in body and "\\#012Forged" in body
