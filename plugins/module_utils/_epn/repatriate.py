# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""EPN repatriation (ASSyncy's mxsync as a module). Private to sciops.datasync: not a public API.

- Names: ``epn_problem`` (an EPN is ``<digits><letters>``), ``epn_map_problems``
  (project folders are one plain path component).
- Plan (pure): ``plan_repatriation(visits, epn_map, synced, now)`` -> which EPNs to
  transfer and why every other one is skipped.
- State: ``RepatriationState`` (synced EPNs, atomic JSON, one writer under a lock),
  importing an ASSyncy ``ignore.yml`` (``previouslySynched: [...]``) on first use.
- Apply: ``Repatriation(module).run()`` lists the visits of every equipment on the
  portal, plans, and runs up to ``max_tasks`` rsyncs over ssh at once, each under a
  per-EPN lock; an EPN is recorded only after its real transfer succeeded.
- Untrusted ends: the source EPN folder is listed first (``rsync --list-only`` of the
  folder itself, no trailing slash): a link (to /etc, to another project's EPN) or a
  non-folder is refused by name, nothing is copied and nothing recorded. The destination
  ``<project>/<epn>/data`` is opened below ``destination_root`` without following any
  link (``_core.paths.open_below``) and rsync runs inside that descriptor.
"""

from __future__ import annotations

import datetime
import importlib.util
import os
import re
import threading
import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.sciops.datasync.plugins.module_utils._core.http import HttpSettings
from ansible_collections.sciops.datasync.plugins.module_utils._core.lock import LockBusy, RunLock, busy_result
from ansible_collections.sciops.datasync.plugins.module_utils._core.names import path_component_problem
from ansible_collections.sciops.datasync.plugins.module_utils._core.paths import UnsafePath, check_below, fd_path, open_below
from ansible_collections.sciops.datasync.plugins.module_utils._core.results import error, reasons
from ansible_collections.sciops.datasync.plugins.module_utils._core.rsync import (
    C_ENV, RsyncOptions, build_argv, daemon_error, escape_name, escape_text, exit_meaning, extra_option_problem, parse_itemized,
    parse_listing, parse_stats, remote_shell_source, rsh_command,
)
from ansible_collections.sciops.datasync.plugins.module_utils._core.runner import CommandRunner
from ansible_collections.sciops.datasync.plugins.module_utils._core.ssh import host_key_problem, ssh_argv
from ansible_collections.sciops.datasync.plugins.module_utils._core.state import (
    StateError, StateFile, UnsafePathError, deepest_existing_folder, ensure_trusted_folder, trusted_folder_problem)
from ansible_collections.sciops.datasync.plugins.module_utils._epn.portal import (
    PortalClient, PortalError, iso_utc, load_credentials, parse_time,
)

EPN_NAME = re.compile(r"^([0-9]+)([A-Za-z]*)$")
EPN_NUMBER = re.compile(r"^[0-9]+$")
STATE_SCHEMA = "sciops.datasync.epn_repatriate"
STATE_VERSION = 1
MAX_LISTED_FILES = 1000

# ASSyncy's options, as it meant them: recursive, times, partial, --stats (two dashes),
# size-only, its --chmod/--perms set, .info included and other dot files excluded.
# --inplace is added so a run killed with SIGKILL (no chance for rsync to keep its
# temp file) leaves the partial file under its own name, and the next run resumes it.
DEFAULT_RSYNC_OPTIONS = [
    "--recursive", "--times", "--partial", "--inplace", "--size-only",
    "--chmod=Dg+s,ug+w,o-wx,ug+X", "--perms", "--include=.info", "--exclude=.*",
]


# ---------------------------------------------------------------- options

def epn_module(argument_spec, libraries):
    """An AnsibleModule with the shared EPN options and ``argument_spec``, in check mode; it fails with
    missing_required_lib for the first of ``libraries`` ((import name, package name) pairs) not installed."""
    module = AnsibleModule(argument_spec=dict(epn_argument_spec(), **argument_spec), supports_check_mode=True)
    for library, name in libraries:
        if importlib.util.find_spec(library) is None:
            module.fail_json(msg=missing_required_lib(name))
    return module


def epn_argument_spec():
    """The options epn_repatriate and epn_alert share (documented by the ``sciops.datasync.epn`` doc fragment)."""
    return dict(
        portal_url=dict(type="str", required=True),
        credentials_file=dict(type="path", required=True),
        validate_certs=dict(type="bool", default=True),
        ca_bundle=dict(type="path"),
        portal_timeout=dict(type="int", default=30),
        portal_retries=dict(type="int", default=3),
        portal_backoff=dict(type="float", default=1.0),
        equipment=dict(type="list", elements="dict", required=True, options=dict(
            id=dict(type="int", required=True),
            beamline=dict(type="str"),
        )),
        beamline=dict(type="str"),
        epn_map=dict(type="dict", required=True),
        visit_day_range=dict(type="int", default=200),
        source_host=dict(type="str", required=True),
        source_port=dict(type="int", default=22),
        source_user=dict(type="str", required=True),
        source_root=dict(type="str", default="/data"),
        key_file=dict(type="path", required=True),
        known_hosts=dict(type="path"),
        connect_timeout=dict(type="int", default=30),
    )


# ---------------------------------------------------------------- names

def epn_problem(name, what="EPN"):
    """Why ``name`` is not an EPN (``<digits><letters>``), or None."""
    problem = path_component_problem(name, what)
    if problem:
        return problem
    if not EPN_NAME.match(name):
        return "%s %r is not <digits><letters> (like 12282a)" % (what, name)
    return None


def epn_number(name):
    match = EPN_NAME.match(name or "")
    return match.group(1) if match else None


def epn_map_problems(epn_map):
    """``(usable map, errors)``: keys are EPN numbers, values single plain folder names; errors are ``_core.results`` entries."""
    usable = {}
    errors = []
    for number, project in sorted((epn_map or {}).items(), key=lambda pair: str(pair[0])):
        number = str(number)
        if not EPN_NUMBER.match(number):
            errors.append(error(number, "epn_map key %r refused: it must be the numeric part of an EPN (like 12282)" % number))
            continue
        problem = path_component_problem(project, "project folder")
        if problem:
            errors.append(error(project, "epn_map %s -> project folder refused: %s" % (number, problem)))
            continue
        usable[number] = project
    return usable, errors


# ---------------------------------------------------------------- plan

def plan_repatriation(visits, epn_map, synced, now, only=None, refused_projects=None):
    """Decide, per EPN seen in ``visits``, whether to transfer it. Pure.

    ``visits`` are visit records (with ``epn``, ``equipment``, ``beamline``, ``end_time``),
    ``epn_map`` the usable map, ``synced`` the recorded EPNs (dict), ``now`` an aware
    datetime, ``only`` an optional list of EPNs to consider. Returns
    ``{"transfers": [...], "skipped": [{epn, equipment, reason}], "errors": [...]}``.
    """
    refused_projects = refused_projects or {}
    transfers, skipped, errors = [], [], []
    seen = set()
    ordered = sorted(visits, key=lambda v: (v.get("end_time") or "", str(v.get("epn"))))
    for visit in ordered:
        epn = visit.get("epn")
        equipment = visit.get("equipment")
        problem = epn_problem(epn)
        if problem:
            errors.append(error(epn, "equipment %s: refused %s" % (equipment, problem)))
            continue
        if epn in seen:
            continue
        seen.add(epn)

        def skip(reason, epn=epn, equipment=equipment):
            skipped.append({"epn": epn, "equipment": equipment, "reason": reason})

        if only and epn not in only:
            skip("not in the EPNs asked for (only)")
            continue
        end = parse_time(visit.get("end_time"))
        if end is None:
            skip("the visit has no end time")
            continue
        if end > now:
            skip("the visit has not ended (ends %s)" % iso_utc(end))
            continue
        if epn in synced:
            skip("already synced (%s)" % (synced[epn].get("at") or "imported from ignore.yml"))
            continue
        number = epn_number(epn)
        if number in refused_projects:
            skip("the project folder mapped to EPN number %s was refused" % number)
            continue
        if number not in epn_map:
            skip("EPN number %s is not in epn_map (unknown ownership)" % number)
            continue
        transfers.append({"epn": epn, "equipment": equipment, "beamline": visit.get("beamline"),
                          "project": epn_map[number], "visit_end": iso_utc(end)})
    return {"transfers": transfers, "skipped": skipped, "errors": errors}


# ---------------------------------------------------------------- state

def read_ignore_file(path):
    """The EPNs listed in an ASSyncy ignore.yml (``previouslySynched: [...]``)."""
    import yaml
    with open(path, "r") as handle:
        document = yaml.safe_load(handle) or {}
    listed = document.get("previouslySynched") if isinstance(document, dict) else document
    if listed is None:
        return []
    if not isinstance(listed, list):
        raise StateError("%s: previouslySynched is not a list" % path)
    return [str(item) for item in listed]


class RepatriationState:
    """Synced EPNs: ``{"synced": {epn: {...}}}`` in an atomic JSON state file.

    ``record`` reloads, adds and saves under a file lock, so parallel transfers (and a
    second run) never lose each other's records.
    """

    def __init__(self, path, ignore_file=None):
        self.file = StateFile(path, STATE_SCHEMA, STATE_VERSION)
        self.lock_path = path + ".lock"
        self.ignore_file = ignore_file
        self._thread_lock = threading.Lock()
        self.imported = []
        self.refused_imports = []

    def load(self):
        """The state, importing ignore.yml when the state file does not exist yet."""
        if self.file.exists():
            return self.file.load({"synced": {}})
        self.file.check_folder()
        data = {"synced": {}}
        imported, refused = [], []
        if self.ignore_file and os.path.exists(self.ignore_file):
            for epn in read_ignore_file(self.ignore_file):
                problem = epn_problem(epn)
                if problem:
                    refused.append(error(epn, "%s: refused %s" % (self.ignore_file, problem)))
                    continue
                data["synced"][epn] = {"at": None, "source": "ignore.yml"}
                imported.append(epn)
        self.imported, self.refused_imports = imported, refused
        return data

    def save_imported(self):
        """Persist an import from ignore.yml (first real run)."""
        with self._thread_lock:
            with RunLock(self.lock_path, wait=True, timeout=120):
                if self.file.exists():
                    return False
                self.file.save(self.load())
                return True

    def record(self, epn, details):
        with self._thread_lock:
            with RunLock(self.lock_path, wait=True, timeout=120):
                data = self.load()
                data["synced"][epn] = details
                self.file.save(data)


# ---------------------------------------------------------------- apply

def equipment_beamlines(params):
    """``([(equipment id, beamline)], refused)`` from the equipment list (beamline names checked)."""
    found, refused = [], []
    for equipment in params["equipment"]:
        beamline = equipment.get("beamline") or params.get("beamline")
        problem = path_component_problem(beamline, "beamline")
        if problem:
            refused.append(error(beamline, "equipment %s: refused %s" % (equipment["id"], problem)))
            continue
        found.append((equipment["id"], beamline))
    return found, refused


def list_portal_visits(params, start, end, no_log_values=None):
    """Visit records (with ``beamline``) of every equipment overlapping [start, end].

    Returns ``(visits, refused, failures)``: refused beamline names, and one message
    per equipment that could not be queried (naming it). Raises PortalError when the
    credentials file cannot be used at all. Every credential and token is added to
    ``no_log_values`` (the module's).
    """
    credentials = load_credentials(params["credentials_file"], no_log_values)
    settings = HttpSettings(validate_certs=params["validate_certs"], ca_bundle=params["ca_bundle"], timeout=params["portal_timeout"],
                            retries=params["portal_retries"], backoff=params["portal_backoff"])
    pairs, refused = equipment_beamlines(params)
    visits, failures = [], []
    for equipment_id, beamline in pairs:
        if equipment_id not in credentials:
            failures.append(error("equipment %s" % equipment_id, "equipment %s: no credentials in %s" % (equipment_id, params["credentials_file"])))
            continue
        client = PortalClient(params["portal_url"], equipment_id, credentials[equipment_id], settings=settings,
                              no_log_values=no_log_values)
        try:
            for visit in client.visits(start, end):
                visit["beamline"] = beamline
                visits.append(visit)
        except PortalError as exc:
            failures.append(error("equipment %s" % equipment_id, str(exc)))
    return visits, refused, failures


def source_missing(stderr, source):
    """Whether rsync said the source folder does not exist (``change_dir`` of a transfer, ``link_stat`` of a listing)."""
    folder = source.rstrip("/")
    return any(("change_dir" in line or "link_stat" in line) and folder in line and "No such file or directory" in line
               for line in (stderr or "").splitlines())


def source_folder_problem(entries, folder):
    """Why the listing of the source EPN folder itself (``parse_listing``) does not show a plain folder, or None."""
    found = [entry for entry in entries if entry["name"] == os.path.basename(folder)] or entries
    if not found:
        return "the listing of %s on the source shows nothing" % folder
    kind = found[0]["type"]
    if kind == "directory":
        return None
    if kind == "symlink":
        return "%s on the source is a symbolic link%s" % (folder, " (-> %s)" % escape_name(found[0]["target"]) if found[0].get("target") else "")
    return "%s on the source is a %s, not a folder" % (folder, kind)


def destination_parts(item):
    """The destination of a transfer below ``destination_root``: ``<project>/<epn>/data``."""
    return "%s/%s/data" % (item["project"], item["epn"])


def now_utc():
    return datetime.datetime.now(datetime.timezone.utc)


class Repatriation:
    """One run of epn_repatriate for an AnsibleModule (params as in its argument_spec)."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.check = module.check_mode
        self.runner = CommandRunner(module)
        self.errors = []
        self.failures = []
        self.use_locks = True

    # -- observe
    def list_visits(self, now):
        start = now - datetime.timedelta(days=self.params["visit_day_range"])
        try:
            visits, refused, failures = list_portal_visits(self.params, start, now, self.module.no_log_values)
        except PortalError as exc:
            self.module.fail_json(msg=str(exc))
        self.errors.extend(refused)
        self.failures.extend(failures)
        return visits

    # -- transfer
    def rsh(self):
        params = self.params
        argv = ssh_argv(params["source_host"], params["source_user"], params["key_file"], port=params["source_port"],
                        known_hosts=params["known_hosts"], connect_timeout=params["connect_timeout"])
        return rsh_command(argv)

    def rsync_options(self, rsh):
        """The ``RsyncOptions`` every EPN transfer of this run shares (made once per run)."""
        extra = list(self.params["rsync_options"] if self.params["rsync_options"] is not None else DEFAULT_RSYNC_OPTIONS)
        extra += self.params["rsync_extra_options"] or []
        problem = extra_option_problem(extra)
        if problem:
            raise ValueError(problem)
        return RsyncOptions(binary=self.params["rsync_path"], recursive=False, symlinks="skip", perms=False, times=False,
                            dry_run=self.check, rsh=rsh, extra=tuple(extra))

    def rsync_argv(self, item, options, dest=None):
        source = remote_shell_source(self.params["source_host"], item["source"])
        return build_argv(source, dest or item["destination"], options)

    def source_check(self, item, options):
        """``(kind, message, rc)``: ``ok``, ``missing`` or ``refused``/``failed`` with a message naming the EPN and the folder.

        ``rc`` is the listing's exit code when it failed (``failed``: ssh could not connect, a
        host key that does not match, ...), else None: a refused folder ran no transfer.

        Lists the EPN folder itself (no trailing slash, not recursive): rsync shows a link
        as a link there, where a transfer of ``folder/`` would follow it.
        """
        folder = item["source"].rstrip("/")
        listing = RsyncOptions(binary=options.binary, list_only=True, recursive=False, symlinks="skip", perms=False, times=False,
                               itemize=False, stats=False, rsh=options.rsh)
        argv = build_argv(remote_shell_source(self.params["source_host"], folder, trailing_slash=False), None, listing)
        ran = self.runner.run_bulk(argv, env=C_ENV)
        if ran.rc == 23 and source_missing(ran.stderr, folder):
            return "missing", None, None
        if ran.rc != 0:
            message = (host_key_problem(ran.stderr, self.params["source_host"], self.params["source_port"], self.params["known_hosts"])
                       or daemon_error(ran.stderr) or (ran.stderr or "").strip()[-500:])
            return "failed", "EPN %s: listing the source folder %s failed with rsync exit %d (%s): %s" % (
                item["epn"], folder, ran.rc, exit_meaning(ran.rc), escape_text(message)), ran.rc
        problem = source_folder_problem(parse_listing(ran.stdout), folder)
        if problem:
            return "refused", "EPN %s refused: %s; nothing was copied and the EPN is not recorded as synced" % (item["epn"], problem), None
        return "ok", None, None

    def open_destination(self, item):
        """``(fd or None, message)``: the destination opened below ``destination_root`` without following links.

        Check mode creates nothing: it only refuses a link or a non-folder on the way (fd None).
        """
        root, relative = self.params["destination_root"], destination_parts(item)
        if self.check:
            if not os.path.isdir(root):
                problem = trusted_folder_problem(deepest_existing_folder(root), "destination_root")
                return None, problem and "EPN %s: %s" % (item["epn"], problem)
            problem = check_below(root, relative)
            return None, problem and "EPN %s: destination %s" % (item["epn"], problem)
        try:
            if not os.path.isdir(root):
                # An existing root is configuration (followed); a missing one is made only below
                # folders no one else controls, without following a link, as a pool's dest_root.
                ensure_trusted_folder(root, "destination_root")
            fd, _created = open_below(root, relative, create=True)
        except UnsafePath as exc:
            return None, "EPN %s: destination %s" % (item["epn"], exc)
        except UnsafePathError as exc:
            return None, "EPN %s: %s" % (item["epn"], exc)
        except OSError as exc:
            return None, "EPN %s: cannot create the destination %s below %s: %s" % (item["epn"], relative, root, exc)
        return fd, None

    def transfer(self, item, options, state):
        result = dict(item, status=None, files=0, bytes=0, duration=0.0, rc=None, rc_meaning=exit_meaning(None))
        lock_path = os.path.join(self.params["lock_dir"], "epn-%s.lock" % item["epn"])
        lock = RunLock(lock_path, wait=False)
        try:
            if self.use_locks:
                lock.acquire()
                result.update(lock.result())
        except LockBusy as exc:
            result.update(busy_result(lock_path, exc.holder_pid), status="skipped", **lock.result())
            result["reason"] = "transfer already running (lock %s held by pid %s)" % (lock_path, exc.holder_pid)
            return result
        except OSError as exc:  # UnsafePathError: a link or foreign file at the lock path, an open lock folder
            result.update(status="failed", refused=True, msg="EPN %s: refused the lock %s: %s; nothing was copied" % (item["epn"], lock_path, exc))
            return result
        fd = None
        try:
            kind, message, rc = self.source_check(item, options)
            if kind == "missing":
                result.update(status="skipped", reason="no folder %s on the source (no data for this visit yet)" % item["source"])
                return result
            if kind != "ok":
                # A failed listing reports its rsync exit code (255: ssh failed, as the transfer would have).
                result.update(status="failed", refused=kind == "refused", msg=message, rc=rc, rc_meaning=exit_meaning(rc))
                return result
            fd, message = self.open_destination(item)
            if message:
                result.update(status="failed", refused=True, msg=message)
                return result
            # rsync runs inside the folder just checked (its descriptor, not its name): a link
            # planted at any level of the path afterwards is never followed.
            argv = self.rsync_argv(item, options, dest="./" if fd is not None else None)
            started = time.monotonic()
            ran = self.runner.run_bulk(argv, env=C_ENV, cwd=fd_path(fd) if fd is not None else None)
            result["duration"] = round(time.monotonic() - started, 3)
            stats = parse_stats(ran.stdout)
            arrived = [escape_name(c.path) for c in parse_itemized(ran.stdout) if c.kind == "file" and c.transferred]
            result.update(rc=ran.rc, rc_meaning=exit_meaning(ran.rc), files=len(arrived),
                          bytes=stats.total_transferred_file_size or 0, file_list=arrived[:MAX_LISTED_FILES],
                          literal_bytes=stats.literal_data, matched_bytes=stats.matched_data)
            if ran.rc == 23 and source_missing(ran.stderr, item["source"]):
                result.update(status="skipped", reason="no folder %s on the source (no data for this visit yet)" % item["source"])
                return result
            if ran.rc != 0:
                message = (host_key_problem(ran.stderr, self.params["source_host"], self.params["source_port"], self.params["known_hosts"])
                           or daemon_error(ran.stderr) or (ran.stderr or "").strip()[-500:])
                message = "EPN %s: rsync exited %d (%s): %s" % (item["epn"], ran.rc, result["rc_meaning"], escape_text(message))
                result.update(status="failed", msg=message)
                return result
            if self.check:
                result["status"] = "would_transfer"
                return result
            state.record(item["epn"], {"at": iso_utc(now_utc()), "project": item["project"], "equipment": item["equipment"],
                                       "destination": item["destination"], "files": result["files"], "bytes": result["bytes"]})
            result["status"] = "transferred"
            return result
        finally:
            if fd is not None:
                os.close(fd)
            lock.release()

    def run(self):
        from concurrent.futures import ThreadPoolExecutor

        params = self.params
        now = now_utc()
        epn_map, map_errors = epn_map_problems(params["epn_map"])
        self.errors.extend(map_errors)
        refused_projects = {str(k): v for k, v in (params["epn_map"] or {}).items() if str(k) not in epn_map}
        state = RepatriationState(params["state_file"], params["ignore_file"])
        try:
            data = state.load()
        except (StateError, OSError, ValueError) as exc:
            self.module.fail_json(msg="cannot read the EPN state: %s" % exc)
        self.errors.extend(state.refused_imports)
        source_root = params["source_root"]
        if not source_root.startswith("/"):
            self.module.fail_json(msg="source_root %r must be an absolute path" % source_root)

        visits = self.list_visits(now)
        only = set(params["only"] or [])
        plan = plan_repatriation(visits, epn_map, data["synced"], now, only=only, refused_projects=refused_projects)
        self.errors.extend(plan["errors"])
        for item in plan["transfers"]:
            item["source"] = "%s/%s/%s/" % (source_root.rstrip("/"), item["beamline"], item["epn"])
            item["destination"] = os.path.join(params["destination_root"], item["project"], item["epn"], "data") + "/"

        results = []
        if plan["transfers"]:
            try:
                options = self.rsync_options(self.rsh())
            except ValueError as exc:  # SshConfigError is one, as a refused rsync option
                self.module.fail_json(msg=str(exc), skipped_epns=plan["skipped"], errors=self.errors)
            # Made here, once: parallel RunLock.acquire() calls would race to create it. Check
            # mode creates nothing; without a lock folder no other run can hold a lock.
            self.use_locks = not self.check or os.path.isdir(params["lock_dir"])
            if not self.check:
                for directory in (params["lock_dir"], os.path.dirname(os.path.abspath(params["state_file"]))):
                    if not os.path.isdir(directory):
                        os.makedirs(directory, 0o755, exist_ok=True)
            with ThreadPoolExecutor(max_workers=max(1, params["max_tasks"])) as pool:
                results = list(pool.map(lambda item: self.transfer(item, options, state), plan["transfers"]))

        imported_saved = False
        if state.imported and not self.check:
            imported_saved = state.save_imported()
        skipped = list(plan["skipped"]) + [{"epn": r["epn"], "equipment": r["equipment"], "reason": r["reason"]}
                                           for r in results if r["status"] == "skipped"]
        done = [r["epn"] for r in results if r["status"] in ("transferred", "would_transfer")]
        failed = [r for r in results if r["status"] == "failed"]
        before = sorted(data["synced"])
        after = sorted(set(before) | set(done))
        result = {
            "changed": bool(done) or imported_saved,
            "epns": results,
            "transferred": [r["epn"] for r in results if r["status"] == "transferred"],
            "would_transfer": [r["epn"] for r in results if r["status"] == "would_transfer"],
            "skipped_epns": skipped,
            "failed_epns": [{"epn": r["epn"], "rc": r["rc"], "rc_meaning": r["rc_meaning"], "msg": r["msg"]} for r in failed],
            "errors": self.errors + self.failures,
            "imported": state.imported,
            "visits": len(visits),
        }
        if self.module._diff:
            result["diff"] = {"before": "\n".join(before) + "\n" if before else "", "after": "\n".join(after) + "\n" if after else "",
                              "before_header": "%s (synced EPNs)" % params["state_file"],
                              "after_header": "%s (synced EPNs)" % params["state_file"]}
        problems = reasons(self.failures) + [r["msg"] for r in failed]
        if problems:
            self.module.fail_json(msg="; ".join(problems), **result)
        self.module.exit_json(**result)
