import pytest

from ansible_collections.sciops.datasync.plugins.module_utils._core import rsync as rs

ITEMIZED = """receiving incremental file list
created directory /tmp/dest
cd+++++++++ ./
>f+++++++++ README
cd+++++++++ odd names/
>f+++++++++ odd names/file with spaces.txt
cL+++++++++ latest -> obs0039
>f.st...... obs0001/product_00.fits
.d..t...... obs0001/
>f+++++++++ caf\\#303\\#251 line\\#012break.txt
hf+++++++++ hard => README
*deleting   old/gone.fits
*deleting   old/

Number of files: 6 (reg: 3, dir: 2, link: 1)
Number of created files: 5 (reg: 3, dir: 1, link: 1)
Number of deleted files: 2 (reg: 1, dir: 1)
Number of regular files transferred: 3
Total file size: 3,145,737 bytes
Total transferred file size: 3,145,734 bytes
Literal data: 3,145,734 bytes
Matched data: 0 bytes
File list size: 0
File list generation time: 0.001 seconds
File list transfer time: 0.000 seconds
Total bytes sent: 3,146,777
Total bytes received: 84

sent 3,146,777 bytes  received 84 bytes  6,293,722.00 bytes/sec
total size is 3,145,737  speedup is 1.00
"""


def test_parse_itemized_changes():
    changes = rs.parse_itemized(ITEMIZED)
    paths = [c.path for c in changes]
    assert paths == ["./", "README", "odd names/", "odd names/file with spaces.txt", "latest", "obs0001/product_00.fits",
                     "obs0001/", "caf\u00e9 line\nbreak.txt", "hard", "old/gone.fits", "old/"]
    link = changes[4]
    assert (link.kind, link.target, link.created) == ("symlink", "obs0039", True)
    assert changes[5].transferred and not changes[5].created
    assert not changes[6].transferred
    assert changes[8].target == "README"
    assert [c.deleted for c in changes[-2:]] == [True, True]
    assert changes[-2].log_line() == "deleting old/gone.fits"
    assert link.log_line() == "latest -> obs0039"


def test_parse_stats():
    stats = rs.parse_stats(ITEMIZED)
    assert stats.files == 6
    assert stats.regular_files_transferred == 3
    assert stats.total_transferred_file_size == 3145734
    assert stats.bytes_sent == 3146777 and stats.bytes_received == 84
    assert stats.file_list_generation_time == 0.001
    assert stats.speedup == 1.0
    assert stats.breakdown["deleted_files"] == {"reg": 1, "dir": 1}
    assert stats.as_dict()["created_files"] == 5
    empty = rs.parse_stats("nothing here")
    assert all(value is None for name, value in empty.as_dict().items() if name != "breakdown") and empty.breakdown == {}
    assert rs.summary_lines(ITEMIZED)[0].startswith("sent 3,146,777 bytes")


def test_daemon_url_and_argv_keep_password_out():
    url = rs.daemon_url("127.0.0.1", "pv-1", "obs 01/sub", user="pacs", port=44520)
    assert url == "rsync://pacs@127.0.0.1:44520/pv-1/obs 01/sub/"
    assert rs.daemon_url("::1", "", port=873) == "rsync://[::1]:873/"
    options = rs.RsyncOptions(delete=True, max_delete=10, dry_run=True, password_file="/etc/pw", excludes=("*.tmp",),
                              bwlimit="10m", timeout=60)
    argv = rs.build_argv(url, "/data/pv/", options)
    assert argv[0] == "rsync"
    assert argv[-3:] == ["--", url, "/data/pv/"]
    for option in ("--dry-run", "--itemize-changes", "--stats", "--delete", "--max-delete=10", "--password-file=/etc/pw",
                   "--exclude=*.tmp", "--bwlimit=10m", "--timeout=60", "--links", "--times"):
        assert option in argv
    assert not any("lab-pool-password" in a for a in argv)
    assert "--delete" not in rs.build_argv(url, "/d/")
    assert "--copy-links" in rs.build_argv(url, "/d/", rs.RsyncOptions(symlinks="copy"))
    assert "--links" not in rs.build_argv(url, "/d/", rs.RsyncOptions(symlinks="skip"))
    with pytest.raises(ValueError):
        rs.RsyncOptions(symlinks="follow")


def test_remote_shell_mode():
    rsh = rs.rsh_command(["ssh", "-i", "/keys/id ed25519", "-p", "2222", "-o", "StrictHostKeyChecking=yes"])
    assert rsh == "ssh -i '/keys/id ed25519' -p 2222 -o StrictHostKeyChecking=yes"
    source = rs.remote_shell_source("beamline.example.org", "/data/epn 1", user="mx")
    assert source == "mx@beamline.example.org:/data/epn 1/"
    argv = rs.build_argv(source, "/dest/", rs.RsyncOptions(rsh=rsh))
    assert "--rsh=" + rsh in argv and argv[-2:] == [source, "/dest/"]


@pytest.mark.parametrize("host", ["-oProxyCommand=x", "a b", "", "h\n"])
def test_bad_hosts_are_refused(host):
    with pytest.raises(ValueError):
        rs.daemon_url(host, "pv")


def test_exit_meanings_and_daemon_errors():
    assert rs.exit_meaning(0) == "success"
    assert "partial transfer" in rs.exit_meaning(23)
    assert "vanished" in rs.exit_meaning(24)
    assert "authentication" in rs.exit_meaning(5)
    assert "socket" in rs.exit_meaning(10)
    assert rs.exit_meaning(-9) == "killed by signal 9"
    assert "unknown" in rs.exit_meaning(99)
    stderr = "@ERROR: auth failed on module pv\nrsync error: error starting client-server protocol (code 5)\n"
    assert rs.daemon_error(stderr) == "auth failed on module pv"
    assert rs.daemon_error("rsync: [Receiver] failed to connect\n").startswith("rsync: ")
    assert rs.daemon_error("") is None


def test_listing_and_modules():
    listing = ("drwxr-xr-x           4096 2007/08/24 15:39:00 .\n"
               "-rw-r--r--             21 2007/08/24 15:39:00 README\n"
               "lrwxrwxrwx              6 2007/08/24 15:39:00 README.txt -> README\n"
               "-rw-r--r--          1,234 2007/08/24 15:40:00 odd names/file with spaces.txt\n")
    entries = rs.parse_listing(listing)
    assert [e["name"] for e in entries] == [".", "README", "README.txt", "odd names/file with spaces.txt"]
    assert entries[1]["mtime"] == 1187969940 and entries[1]["modified"] == "2007-08-24T15:39:00Z"
    assert entries[2]["type"] == "symlink" and entries[2]["target"] == "README"
    assert entries[3]["size"] == 1234
    modules = rs.parse_module_list("pv             \tPACS product pools, PV\nops            \tICC operations notes\n")
    assert modules == [{"name": "pv", "description": "PACS product pools, PV"},
                       {"name": "ops", "description": "ICC operations notes"}]
