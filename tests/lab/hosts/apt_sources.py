"""The Debian mirror this machine's apt already uses, so the lab image comes from the same place."""

from __future__ import annotations

import glob
import re

SOURCES_LIST = "/etc/apt/sources.list"
SOURCES_DIR = "/etc/apt/sources.list.d"


# A Debian archive carries one of these suites; third-party repositories use their own names.
DEBIAN_SUITES = {"bullseye", "bookworm", "trixie", "forky", "stable", "testing", "unstable", "sid"}


class NoDebianMirror(Exception):
    pass


def _one_line_entries(text):
    """(uri, suites) from `deb [options] URI SUITE COMPONENTS...` lines."""
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        line = re.sub(r"\[[^]]*\]", " ", line)
        fields = line.split()
        if len(fields) >= 3 and fields[0] == "deb":
            yield fields[1], [fields[2]]


def _deb822_entries(text):
    """(uri, suites) from the stanzas of a .sources file."""
    for stanza in re.split(r"\n\s*\n", text):
        fields = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            key, value = line.split(":", 1)
            fields[key.strip().lower()] = value.split()
        if "deb" not in fields.get("types", []) or fields.get("enabled", ["yes"]) == ["no"]:
            continue
        for uri in fields.get("uris", []):
            yield uri, fields.get("suites", [])


def _entries():
    paths = [SOURCES_LIST] + sorted(glob.glob(SOURCES_DIR + "/*.list")) + sorted(glob.glob(SOURCES_DIR + "/*.sources"))
    for path in paths:
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except OSError:
            continue
        yield from (_deb822_entries(text) if path.endswith(".sources") else _one_line_entries(text))


def debian_mirror():
    """The URI of the configured Debian archive: the first entry that carries a release suite."""
    for uri, suites in _entries():
        if uri.startswith(("http://", "https://")) and DEBIAN_SUITES.intersection(suites):
            return uri.rstrip("/")
    raise NoDebianMirror("no Debian archive found in %s or %s" % (SOURCES_LIST, SOURCES_DIR))
