# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Globus group members -> local POSIX users and groups (gosync). Private to sciops.datasync: not a public API.

The module entry points of globus_user_sync and globus_group_sync: observe (Globus
members, local databases, the state file) -> plan (_identity_plan, pure, unit tested)
-> apply (_identity_apply: ``PosixAccounts`` calls, hooks, state saves), under the run
lock shared by both modules.
"""

from __future__ import annotations

import gc
import os
from dataclasses import replace

from ansible_collections.sciops.datasync.plugins.module_utils._identity.apply import (
    Target, apply_group_plan, apply_user_plan, preview_group_plan, preview_user_plan)
from ansible_collections.sciops.datasync.plugins.module_utils._globus.errors import fail_globus
from ansible_collections.sciops.datasync.plugins.module_utils._globus.groups import ACTIVE, Member, fetch_group_tree, get_group_doc, to_group_doc
from ansible_collections.sciops.datasync.plugins.module_utils._core.progress import module_progress, progress_argument_spec
from ansible_collections.sciops.datasync.plugins.module_utils._core.results import itemized
from ansible_collections.sciops.datasync.plugins.module_utils._globus.identities import identities_by_id
from ansible_collections.sciops.datasync.plugins.module_utils._identity.accounts import AccountError
from ansible_collections.sciops.datasync.plugins.module_utils._identity.directory_options import ascii_gecos, ldap_argument_spec
from ansible_collections.sciops.datasync.plugins.module_utils._identity.ledger import HookJournal, IdLedger, LedgerError
from ansible_collections.sciops.datasync.plugins.module_utils._identity.model import (
    STATE_SCHEMA, STATE_VERSION, drop_pending_hook, empty_state, state_gids, state_uids)
from ansible_collections.sciops.datasync.plugins.module_utils._identity.names import DEFAULT_DENIED_NAMES, GroupNameRules, UsernameRules, pattern_problem
from ansible_collections.sciops.datasync.plugins.module_utils._identity.plan import (
    GroupOptions, GroupPlanSettings, Reserved, UserOptions, UserPlanSettings, group_plan_changed, group_plan_diff, plan_groups, plan_users,
    user_plan_changed, user_plan_diff,
)
from ansible_collections.sciops.datasync.plugins.module_utils._identity.policy import PolicyError, home_owners, login_defs, sudoers_names

STATE_DIR = "var/lib/sciops-datasync"


def identity_sync_argument_spec():
    """A fresh copy of the options globus_user_sync and globus_group_sync share (doc fragment sciops.datasync.identity_sync
    documents root_group, recursive, state_file, lock_file, lock_wait, lock_timeout, deny_names, max_departures and
    ids_file; each module documents the others)."""
    return dict(
        root_group=dict(type="str", required=True),
        recursive=dict(type="bool", default=False),
        adopt_existing=dict(type="bool", default=False),
        hooks_dir=dict(type="path"),
        root=dict(type="path", default="/"),
        state_file=dict(type="path"),
        lock_file=dict(type="path"),
        lock_wait=dict(type="bool", default=True),
        lock_timeout=dict(type="int", default=3600),
        concurrency=dict(type="int", default=16),
        deny_names=dict(type="list", elements="str", default=[]),
        max_departures=dict(type="dict", apply_defaults=True, options=dict(
            count=dict(type="int", default=10),
            percent=dict(type="int", default=10),
        )),
        ids_file=dict(type="path"),
        **ldap_argument_spec(),
        **progress_argument_spec()
    )


def default_paths(params):
    root = params.get("root") or "/"
    state_file = params.get("state_file") or os.path.join(root, STATE_DIR, "identity_sync.json")
    lock_file = params.get("lock_file") or os.path.join(root, STATE_DIR, "identity_sync.lock")
    return root, state_file, lock_file


def side_files(params, state_file):
    """The id ledger (``ids_file``, default ``identity_sync.ids`` next to the state) and the hook journal."""
    base = os.path.splitext(state_file)[0]
    return IdLedger(params.get("ids_file") or base + ".ids"), HookJournal(base + ".hooks-done")


def _check_common(module):
    limits = module.params["max_departures"] or {}
    if (limits.get("count") or 0) < 0 or not 0 <= (limits.get("percent") or 0) <= 100:
        module.fail_json(msg="max_departures: count must be at least 0 and percent within 0..100")


def _host_policy(module, root):
    """(denied names, login.defs) of the target root; an unreadable sudoers file stops the run."""
    try:
        sudoers = sudoers_names(root)
        defs = login_defs(root)
    except PolicyError as exc:
        module.fail_json(msg="cannot read the host's privilege policy safely: %s; nothing was changed" % exc)
    denied = tuple(DEFAULT_DENIED_NAMES) + tuple(module.params["deny_names"] or ()) + tuple(sorted(sudoers))
    return denied, defs


def _reconcile(module, statefile, state, ledger, journal):
    """Fold finished hook runs from the journal into the state, and copy the state's ids into the ledger
    (a state older than the ledger). Returns the ledger's (uids, gids)."""
    try:
        done = journal.done()
        for kind, key, change in done:
            record = state["users" if kind == "u" else "groups"].get(key)
            if record is not None:
                drop_pending_hook(record, change)
        uids, gids = ledger.read()
        missing = [("uid", r["uid"], r["name"], k) for k, r in state["users"].items() if r.get("uid") is not None and r["uid"] not in uids]
        missing += [("gid", g, "-", "-") for g in sorted(state_gids(state) - gids)]
        if not module.check_mode:
            if done:
                statefile.save(state)
                journal.clear()
            ledger.record(missing)
    except (LedgerError, OSError) as exc:
        module.fail_json(msg="identity sync ledger: %s" % exc)
    return uids | state_uids(state), gids | state_gids(state)


def _with_host(options, local):
    """``options`` knowing this host's own files (``local``) when a directory is the backend (``local`` None: the
    files are the backend, which sees them itself)."""
    return options if local is None else replace(options, host=local)


def _reserved(root, home_root, db, ledger_ids, local=None):
    """Ids never handed out: home owners, the ledger's, and with a directory backend the host's own accounts."""
    folders = [home_root] + [os.path.dirname(e.home.rstrip("/")) for e in db.users.values() if e.home.startswith("/")]
    uids, gids = home_owners(root, folders)
    if local is not None:
        uids, gids = uids | set(local.uids), gids | set(local.gids)
    return Reserved(frozenset((uids | ledger_ids[0]) - {0}), frozenset((gids | ledger_ids[1]) - {0}))


class _BackendRefused(Exception):
    """Why the backend cannot be used; the run fails with this message before anything is changed."""


def _open_backend(module, root, nologin_shell="/usr/sbin/nologin", **view):
    """A function that returns (backend, db, local, runner) of ``backend``, its reading already started: the files
    under root (read in a thread), or the directory (read in a child process; ``local`` is then the host's own
    accounts, whose ids the directory must not reuse; ``view`` says what of the directory to read, see
    ``DirectoryAccounts.read``). The reading goes on while Globus answers (seconds of waiting and decoding); a
    directory that is down or refuses the bind raises _BackendRefused from the function."""
    from ansible_collections.sciops.datasync.plugins.module_utils._identity.accounts import PosixAccounts  # pylint: disable=import-outside-toplevel
    from ansible_collections.sciops.datasync.plugins.module_utils._core.runner import CommandRunner  # pylint: disable=import-outside-toplevel

    runner = CommandRunner(module)
    files = PosixAccounts(runner, root, nologin_shell=nologin_shell)
    if module.params["backend"] != "ldap":
        if not module.check_mode:
            files.ensure_databases()
        reading = _in_thread(files.read)
        return lambda: (files, reading.result(), None, runner)
    from ansible_collections.sciops.datasync.plugins.module_utils._core import secrets  # pylint: disable=import-outside-toplevel
    from ansible_collections.sciops.datasync.plugins.module_utils._identity import directory  # pylint: disable=import-outside-toplevel
    from ansible_collections.sciops.datasync.plugins.module_utils._identity.directory_options import settings_problem  # pylint: disable=import-outside-toplevel

    settings = module.params["ldap"]
    problem = settings_problem(settings)
    try:
        if problem:
            raise _BackendRefused(problem)
        reading = directory.DirectoryReading(settings, secrets.read_secret_file(settings["bind_password_file"], "ldap.bind_password_file"),
                                             root, nologin_shell, **view)
    except secrets.SecretFileError as exc:
        refused = _BackendRefused("%s; nothing was changed" % exc)
    except _BackendRefused as exc:
        refused = exc
    else:
        refused = None

    def opened():
        if refused is not None:
            raise refused
        try:
            backend, db = reading.result()
        except AccountError as exc:
            raise _BackendRefused("%s; nothing was changed" % exc)
        return backend, db, files.read(), runner
    return opened


def _in_thread(function):
    """A future of ``function()`` run in a thread of its own."""
    from concurrent.futures import ThreadPoolExecutor  # pylint: disable=import-outside-toplevel

    pool = ThreadPoolExecutor(max_workers=1)
    try:
        return pool.submit(function)
    finally:
        pool.shutdown(wait=False)


def _opened(module, opening):
    """The (backend, db, local, runner) of ``_open_backend``; a refused backend fails the run."""
    try:
        return opening()
    except _BackendRefused as exc:
        module.fail_json(msg=str(exc))


def _without_memberships(docs, failed):
    """Subgroups whose response holds no memberships list are failed reads, never groups without members."""
    for group_id in sorted(docs):
        if not isinstance(docs[group_id].get("memberships"), list):
            failed[group_id] = "Globus returned no memberships list for this group (is the app still its manager?); not judged"
            del docs[group_id]


def _load_state(module, path):
    from ansible_collections.sciops.datasync.plugins.module_utils._core.state import StateError, StateFile  # pylint: disable=import-outside-toplevel

    statefile = StateFile(path, STATE_SCHEMA, STATE_VERSION)
    try:
        state = statefile.load(default=empty_state())
    except StateError as exc:
        module.fail_json(msg=str(exc))
    for key, value in empty_state().items():
        state.setdefault(key, value)
    return statefile, state


def _records(module, params, state_file):
    """(statefile, state, ledger, journal, ledger ids) of the run, reconciled. They live as long as the run, so the
    collector is told to leave them (``gc.freeze``): otherwise each full collection while thousands of Globus responses
    are parsed walks 20,000 state records again (a tenth of a no-op run)."""
    statefile, state = _load_state(module, state_file)
    ledger, journal = side_files(params, state_file)
    ledger_ids = _reconcile(module, statefile, state, ledger, journal)
    gc.freeze()
    return statefile, state, ledger, journal, ledger_ids


def _locked(module, lock_file, body):
    """Run ``body(lock)`` under the run lock (``_core.lock.module_lock``: a busy lock with lock_wait false exits skipped)."""
    from ansible_collections.sciops.datasync.plugins.module_utils._core.lock import module_lock  # pylint: disable=import-outside-toplevel

    with module_lock(module, lock_file, wait=module.params["lock_wait"], timeout=module.params["lock_timeout"]) as lock:
        return body(lock)


def _carry_out(module, preview, plan_changed, apply, change_keys, label):
    """Check mode: the plan's preview; otherwise ``apply(progress)``, with progress lines in the job log. Returns (result, changed)."""
    if module.check_mode:
        return preview(), plan_changed()
    progress, log = module_progress(module.params, label, "accounts")
    if progress.problem:
        module.warn(progress.problem)
    try:
        result = apply(progress)
    except LedgerError as exc:
        module.fail_json(msg="identity sync ledger: %s" % exc)
    except AccountError as exc:  # the directory went away mid-run: what was not done stays pending in the state
        module.fail_json(msg="identity sync stopped: %s; the next run finishes what is pending" % exc)
    finally:
        if log is not None:
            log.close()
    return result, any(result[k] for k in change_keys) or result["hooks_run"] > 0


def run_user_sync_module(module):
    """globus_user_sync."""
    from ansible_collections.sciops.datasync.plugins.module_utils._globus import clients  # pylint: disable=import-outside-toplevel

    params = module.params
    root, state_file, lock_file = default_paths(params)
    if params["state"] == "absent" and not params["only"]:
        module.fail_json(msg="state=absent removes the users named in 'only'; 'only' is empty")
    if params["uid_min"] > params["uid_max"] or params["uid_min"] < 1:
        module.fail_json(msg="uid_min must be at least 1 and not above uid_max")
    _check_common(module)
    rules = UsernameRules(params["domains"], params["username_overrides"], params["lowercase"])
    denied, defs = _host_policy(module, root)
    options = UserOptions(params["uid_min"], params["uid_max"], params["primary_group"], params["home_root"], params["shell"],
                          params["departed"], params["adopt_existing"], denied, (defs["UID_MIN"], defs["UID_MAX"]),
                          params["max_departures"], ascii_gecos if params["backend"] == "ldap" else None)

    def body(lock):
        statefile, state, ledger, journal, ledger_ids = _records(module, params, state_file)
        groups_client, auth_client = clients.groups_client(module), clients.auth_client(module)
        opening = _open_backend(module, root, params["nologin_shell"], group_members=False, groups=False)
        failed = {}
        try:
            if params["include_subgroups"]:
                root_doc, docs, failed = fetch_group_tree(groups_client, params["root_group"], params["recursive"], params["concurrency"])
            else:
                root_doc, docs = get_group_doc(groups_client, params["root_group"]), {}
        except Exception as exc:  # pylint: disable=broad-except
            fail_globus(module, exc, "cannot read Globus group %s" % params["root_group"])  # re-raises any other error
        if not isinstance(root_doc.get("memberships"), list):
            module.fail_json(msg="Globus returned group %s without a memberships list (has the app lost its manager or admin role?); "
                             "that is not 'no members': nothing was changed" % params["root_group"])
        _without_memberships(docs, failed)
        memberships = {}
        for doc in [root_doc] + [docs[k] for k in sorted(docs)]:
            for m in doc.get("memberships") or []:
                if m.get("status") == ACTIVE:
                    memberships.setdefault(m["identity_id"], m)
        wanted = list(memberships)
        if params["mode"] == "new" and not params["force"]:
            wanted = [i for i in wanted if i not in state["users"] or state["users"][i].get("status") == "pending"]
        try:
            identities = identities_by_id(auth_client, wanted, params["concurrency"]) if wanted else {}
        except Exception as exc:  # pylint: disable=broad-except
            fail_globus(module, exc, "cannot look up Globus identities")  # re-raises any other error
        members = []
        for identity_id, m in sorted(memberships.items()):
            ident = identities.get(identity_id, {})
            record = state["users"].get(identity_id, {})
            members.append(Member(identity_id, ident.get("username") or m.get("username"),
                                  ident.get("name") if ident else record.get("full_name"),
                                  ident.get("email") if ident else record.get("email"), ACTIVE, m.get("role")))
        backend, db, local, runner = _opened(module, opening)
        settings = UserPlanSettings(rules, _with_host(options, local), params["mode"], tuple(params["only"] or ()),
                                    params["force"], complete=not failed, absent=params["state"] == "absent")
        try:  # the directory's groups are read here when someone new is planned
            plan = plan_users(members, state, db, settings, _reserved(root, params["home_root"], db, ledger_ids, local))
        except AccountError as exc:
            module.fail_json(msg="%s; nothing was changed" % exc)
        if plan["refused"]:
            module.fail_json(msg=plan["refused"], departures=len(plan["lock"]) + len(plan["remove"]), members=len(members))
        diff = user_plan_diff(plan)
        result, changed = _carry_out(
            module, lambda: preview_user_plan(plan), lambda: user_plan_changed(plan),
            lambda progress: apply_user_plan(plan, Target(state, statefile.save, backend, db, runner, params["hooks_dir"], params["skeleton"],
                                                          params["create_home"], ledger, journal, progress)),
            ("created", "updated", "locked", "removed", "adopted"), "identity sync users of %s" % params["root_group"])
        for group_id, reason in sorted(failed.items()):
            result["errors"].append({"globus_group_id": group_id, "reason": "subgroup not read (departures not judged): " + reason})
        result["skipped_users"] = result.pop("skipped")
        result["errors"] = itemized(result["errors"], "globus_username", "identity_id", "name", "globus_group_id")
        result.update(changed=changed, lock_waited=round(lock.waited, 3), state_file=state_file, members=len(members))
        if module._diff:
            result["diff"] = diff
        return result

    module.exit_json(**_locked(module, lock_file, body))


def run_group_sync_module(module):
    """globus_group_sync."""
    from ansible_collections.sciops.datasync.plugins.module_utils._globus import clients  # pylint: disable=import-outside-toplevel

    params = module.params
    root, state_file, lock_file = default_paths(params)
    for pattern in (params["include"] or []) + (params["exclude"] or []):
        problem = pattern_problem(pattern.lstrip("!"))
        if problem:
            module.fail_json(msg=problem)
    if params["gid_min"] > params["gid_max"] or params["gid_min"] < 1:
        module.fail_json(msg="gid_min must be at least 1 and not above gid_max")
    _check_common(module)
    rules = GroupNameRules(params["name_template"], params["name_rules"], params["name_replace"], params["name_lowercase"],
                           params["name_overrides"])
    denied, defs = _host_policy(module, root)
    options = GroupOptions(params["gid_min"], params["gid_max"], params["membership"], params["departed"], params["adopt_existing"],
                           denied, (defs["GID_MIN"], defs["GID_MAX"]), params["max_departures"])

    def body(lock):
        statefile, state, ledger, journal, ledger_ids = _records(module, params, state_file)
        groups_client = clients.groups_client(module)
        opening = _open_backend(module, root, user_details=False)
        try:
            root_doc, docs, failed = fetch_group_tree(groups_client, params["root_group"], params["recursive"], params["concurrency"],
                                                      root_members=False)
        except Exception as exc:  # pylint: disable=broad-except
            fail_globus(module, exc, "cannot read Globus group %s" % params["root_group"])  # re-raises any other error
        _without_memberships(docs, failed)
        backend, db, local, runner = _opened(module, opening)
        settings = GroupPlanSettings(rules, _with_host(options, local), tuple(params["include"] or ()),
                                     tuple(params["exclude"] or ()), complete=not failed)
        plan = plan_groups([to_group_doc(docs[k]) for k in sorted(docs)], failed, state, db, settings,
                           _reserved(root, "/home", db, ledger_ids, local))
        if plan["refused"]:
            module.fail_json(msg=plan["refused"], groups=len(docs), departures=sum(plan["departures"].values()), **plan["departures"])
        diff = group_plan_diff(plan)
        result, changed = _carry_out(
            module, lambda: preview_group_plan(plan), lambda: group_plan_changed(plan),
            lambda progress: apply_group_plan(plan, Target(state, statefile.save, backend, db, runner, params["hooks_dir"], ledger=ledger,
                                                           journal=journal, progress=progress)),
            ("created", "renamed", "updated", "removed"), "identity sync groups of %s" % params["root_group"])
        result["skipped_groups"] = result.pop("skipped")
        result["errors"] = itemized(result["errors"], "globus_group", "globus_group_id", "name")
        result.update(changed=changed, lock_waited=round(lock.waited, 3), state_file=state_file, groups=len(docs),
                      root_group_name=root_doc.get("name"))
        if module._diff:
            result["diff"] = diff
        return result

    module.exit_json(**_locked(module, lock_file, body))
