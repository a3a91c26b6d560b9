"""Issue 14 items 5, 6, 7, 8 and 14 on the booted host portal1, against the identity sync as the
site deployed it (docs/security.md). The attack job `gosync-attack` is the deployed job
playbook `/etc/datasync/jobs/gosync-new.yml` with only its Globus app, root group, id ranges,
state, lock and hooks changed (a Globus corner of its own on the lab emulator, so the live
`gosync-new`/`gosync-updated` cron jobs and their accounts are never involved); it runs as cron
runs a root job: `datasync-job gosync-attack` as root, options of one run as extra vars.

The actor is a hostile Globus upstream: the emulator serving users and groups named like the
host's system accounts, privileged and sudoers groups, a local sysadmin's system account and
group, user and group names that fold onto someone else's (and onto a name override), a root
group and a subgroup without a memberships list, a root group listing no subgroups (every
synced group gone at once), the app demoted so every user looks departed; and a crash: the job
SIGKILLed at random points. A local sysadmin's accounts are there before the sync, and a link
is planted among the sudoers files (the host's own config, set up by root). Every attack is
refused naming what it refused, and the host's files are compared before and after: nothing at
all changes in the hostile-data runs; in the runs that legitimately make accounts only the
account files and those accounts' homes change. Teardown removes every account, group, home,
file and link the test made, the job's files, its log and its metrics (so no later run of the
lab lists the attack job).
"""

import json
import random
import re
import shlex
import time

import pytest
import yaml

from tests.integration import host_attack_lab as hal
from tests.integration.gosync_lab import GlobusWorld
from tests.integration.test_gosync_hardening import group_of_ids, hostile_identity, respond

HOST = "portal1"
JOB = "gosync-attack"
PLAYBOOK = "/etc/datasync/jobs/%s.yml" % JOB
ENV = "/etc/datasync/env/%s.env" % JOB
LOG = "/var/log/datasync/%s.log" % JOB
METRICS = "/var/lib/datasync/metrics/datasync_%s.prom" % JOB
WORK = "/var/lib/datasync-attack"   # the attack job's secret, state, lock, hooks (root's, outside the snapshot)
UIDS, GIDS = (31000, 31999), (8000, 8499)
ACCOUNT_FILES = ("/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow", "/etc/sudoers", "/etc/sudoers.d")
# The live gosync cron jobs' own state, lock and metrics change every minute whatever the attack does.
PRUNE = (PLAYBOOK, ENV, "/var/lib/datasync/gosync", "/var/lib/datasync/locks", "/var/lib/datasync/metrics")
HOSTILE_USERS = ("root", "daemon", "bin", "sudo", "adm", "admin", "prometheus")   # admin: a user named in /etc/sudoers
HOSTILE_GROUPS = ("sudo", "adm", "staff", "root", "prometheus")                   # sudo: %sudo in /etc/sudoers
KILL_TRIALS, JOINING = 5, 6


def run_job(lab, **extra):
    """``datasync-job gosync-attack -v`` as root (as cron runs it); (rc, log of this run, module results)."""
    offset = hal.log_size(lab, HOST, LOG)
    argv = ["/usr/local/bin/datasync-job", JOB, "-v"] + (["-e", json.dumps(extra)] if extra else [])
    proc = hal.root(lab, HOST, *argv, check=False)
    log = hal.log_since(lab, HOST, LOG, offset)
    return proc.returncode, log, hal.job_results(log)


def timed(seconds, what, call, *args, **kwargs):
    """``call(*args, **kwargs)``, its duration added to ``seconds[what]`` (what issue 14's later attacks cost)."""
    started = time.monotonic()
    try:
        return call(*args, **kwargs)
    finally:
        seconds[what] = round(seconds.get(what, 0.0) + time.monotonic() - started, 1)


def users_result(results):
    """The user sync's result (or its failure), past the role's argument validation."""
    return next(r for r in results if "skipped_users" in r or ("msg" in r and "validate_args_context" not in r))


def groups_result(results):
    return next((r for r in results if "skipped_groups" in r), None)


def groups_refusal(results):
    """The group sync's failure when max_departures refused its plan."""
    return next((r for r in results if "groups_removed" in r), None)


def passwd(lab):
    return {line.split(":")[0]: line.split(":") for line in hal.root(lab, HOST, "getent", "passwd").stdout.splitlines()}


def kill_trial(lab, delay):
    """Start the job as cron would and SIGKILL its whole process group ``delay`` s after the module took
    its run lock (the lock file holds the holder's pid while held); ``rc=137`` when the kill landed."""
    script = ("lock=%s/locks/gosync.lock; setsid /usr/local/bin/datasync-job %s & p=$!; i=0; "
              "while ! [ -s $lock ] && kill -0 $p 2>/dev/null && [ $i -lt 3000 ]; do i=$((i+1)); sleep 0.005; done; "
              "sleep %.3f; /bin/kill -s KILL -- -$p 2>/dev/null; wait $p; echo rc=$?; "
              "i=0; while pgrep -s $p >/dev/null && [ $i -lt 200 ]; do i=$((i+1)); sleep 0.01; done; "  # reaped
              "if pgrep -s $p >/dev/null; then echo still-running; fi" % (WORK, JOB, delay))
    return hal.root_sh(lab, HOST, script, check=False).stdout


def cleanup(lab, names, sysop, planted):
    """Every account, group and home the attack job made or the sysadmin set up for it (``sysop``, a system
    account outside the id ranges, and the ``planted`` sudoers link), the job's files, log and metrics."""
    script = ("for u in $(awk -F: '$3>=%d && $3<=%d {print $1}' /etc/passwd); do userdel -r \"$u\" 2>/dev/null || userdel \"$u\"; done; "
              "for g in $(awk -F: '($3>=%d && $3<=%d) || ($3>=%d && $3<=%d) {print $1}' /etc/group); do groupdel \"$g\"; done; "
              "userdel %s 2>/dev/null; groupdel %s 2>/dev/null; "
              "rm -rf %s %s %s %s %s %s* %s /home/.*.datasync-new; for n in %s; do rm -rf \"/home/$n\"; done"
              % (UIDS + UIDS + GIDS + (sysop, sysop, shlex.quote(WORK), shlex.quote(WORK + "-home"), PLAYBOOK, ENV, METRICS, LOG, planted,
                                       " ".join(shlex.quote(n) for n in names))))
    hal.root_sh(lab, HOST, script, check=False)
    left = hal.root_sh(lab, HOST, "ls -d %s %s %s %s %s 2>/dev/null; getent passwd %s; true" % (PLAYBOOK, ENV, METRICS, LOG, planted, sysop))
    assert left.stdout.strip() == "", "the identity attack left on %s: %s" % (HOST, left.stdout)


@pytest.fixture(scope="module")
def identity_attack(lab, lab_site):
    """The whole attack, once: the attack job, its runs, the host's files before and after each phase."""
    world = GlobusWorld(lab)
    tag = world.tag
    kate, sam, svc, trudy, una, sysop = ("%s%s" % (name, tag) for name in ("kate", "sam", "svc", "trudy", "una", "sysop"))
    joiners = ["k%s%02d" % (tag, n) for n in range(KILL_TRIALS * JOINING)]
    synced = ["kappa-" + tag, "kilo-" + tag, "proj-" + tag]   # Globus subgroups synced from the first run on
    planted = "/etc/sudoers.d/zz-attack-" + tag
    app = world.client_id + "@clients.auth.globus.org"
    seconds = {}
    out = {"tag": tag, "names": dict(kate=kate, sam=sam, svc=svc, trudy=trudy, una=una), "sysop": sysop, "synced": synced,
           "planted": planted, "joiners": joiners, "seconds": seconds}
    accounts = [kate, sam, svc, trudy, una] + joiners
    cleanup(lab, accounts, sysop, planted)
    try:
        # The sysadmin's service account, in the site's uid range, made before the sync ever ran; and the
        # sysadmin's own login, a system account (uid below 1000, its own system group) in the sudo group.
        hal.root(lab, HOST, "useradd", "--uid", "31500", "--home-dir", "/srv/" + svc, "--shell", "/usr/sbin/nologin", svc)
        timed(seconds, "5.4 sysadmin account", hal.root, lab, HOST, "useradd", "--system", "--user-group", "--groups", "sudo",
              "--shell", "/bin/bash", "--comment", "local sysadmin", sysop)
        out["sysop before"] = passwd(lab)[sysop]
        # The attack job: the deployed job with its own Globus app, root group, ranges, state and hooks.
        people = {name: world.identity(name) for name in (kate, sam)}
        # Names that fold onto kate<tag> and sam<tag> (KELVIN SIGN, LONG S), members by identity id (the emulator folds usernames).
        folds = [hostile_identity(world, "\u212aate" + tag), hostile_identity(world, "\u017fam" + tag)]
        world.root_id = group_of_ids(world, "host-attack-" + tag, list(people.values()) + folds)
        subgroups = {name: group_of_ids(world, name, [people[kate]], world.root_id) for name in synced}
        job = yaml.safe_load(hal.root(lab, HOST, "cat", "/etc/datasync/jobs/gosync-new.yml").stdout)
        job[0]["vars"].update(
            gosync_client_id=world.client_id, gosync_client_secret_file=WORK + "/globus.secret", gosync_root_group=world.root_id,
            gosync_token_cache=WORK + "/state/tokens.json", gosync_state_file=WORK + "/state/identity_sync.json",
            gosync_lock_file=WORK + "/locks/gosync.lock", gosync_hooks_dir=WORK + "/user-hooks.d",
            gosync_group_hooks_dir=WORK + "/group-hooks.d", gosync_uid_min=UIDS[0], gosync_uid_max=UIDS[1],
            gosync_gid_min=GIDS[0], gosync_gid_max=GIDS[1], gosync_group_include=["*"], gosync_group_name_rules=[],
            gosync_group_name_overrides={"kappa-" + tag: "kap" + tag}, gosync_adopt_existing=True)
        hal.root_sh(lab, HOST, "install -d -m 0755 %s %s/locks %s/user-hooks.d %s/group-hooks.d && install -d -m 0700 %s/state && "
                    "cp -p /etc/datasync/env/gosync-new.env %s" % ((WORK,) * 5 + (ENV,)))
        hal.write_file(lab, HOST, PLAYBOOK, "---\n" + yaml.safe_dump(job, sort_keys=False))
        hal.write_file(lab, HOST, WORK + "/globus.secret", world.secret + "\n", mode="0600")
        hal.write_file(lab, HOST, WORK + "/user-hooks.d/10-log",
                       '#!/bin/sh\necho "$1 $2 $DATASYNC_UID $DATASYNC_CHANGE_ID" >> %s/hooks.log\n' % WORK, mode="0755")
        out["setup"] = run_job(lab)
        out["groups before"] = hal.root_sh(lab, HOST, "getent group kap%s %s %s" % (tag, synced[1], synced[2])).stdout

        # Phase A, hostile data only: nothing on the host may change.
        hostile = [world.identity(name) for name in HOSTILE_USERS + (sysop,)]
        for username in hostile:
            world.set_member(world.root_id, username)
        for name in HOSTILE_GROUPS + (sysop,):
            world.group(name, [people[kate]], world.root_id)
        # Group names folding (KELVIN SIGN) onto the synced kilo-<tag> and onto the override's key kappa-<tag>.
        out["group folds"] = {group_of_ids(world, name, [people[sam]], world.root_id): name for name in ("\u212aappa-" + tag, "\u212ailo-" + tag)}
        before = hal.snapshot(lab, HOST, PRUNE, checksum=ACCOUNT_FILES)
        # The host's own config: a sudoers file that is a link (to a file sudo itself accepts: the admin's sudo keeps working).
        hal.root(lab, HOST, "ln", "-s", "/etc/sudoers.d/README", planted)
        try:
            out["sudoers link"] = timed(seconds, "5.3 sudoers link run", run_job, lab, gosync_run_mode="all")
        finally:
            hal.root(lab, HOST, "rm", "-f", planted)
        # One subgroup answered without a memberships list, in the run that meets the hostile names.
        respond(world, "/v2/groups/%s" % subgroups[synced[2]], {"id": subgroups[synced[2]], "name": synced[2], "group_type": "regular"})
        out["hostile names"] = run_job(lab, gosync_run_mode="all")
        world.clear_faults()
        # The root group listing no subgroups (both syncs read it): every synced group looks gone at once.
        members = [{"identity_id": world.identities[u], "username": u, "role": "member", "status": "active"} for u in people.values()]
        world.post("/faults", {"pattern": "/v2/groups/%s" % world.root_id, "status": 200, "count": 2, "client_id": world.client_id,
                               "body": {"id": world.root_id, "name": "host-attack-" + tag, "group_type": "regular", "memberships": members}})
        out["groups vanish"] = timed(seconds, "6.4 groups vanish run", run_job, lab, gosync_run_mode="all", gosync_group_departed="remove")
        world.clear_faults()
        respond(world, "/v2/groups/%s" % world.root_id, {"id": world.root_id, "name": "host-attack-" + tag, "group_type": "regular"})
        out["no memberships"] = run_job(lab, gosync_run_mode="all", gosync_departed="remove")
        world.clear_faults()
        world.set_member(world.root_id, app, role="member")
        out["demoted"] = run_job(lab, gosync_run_mode="all", gosync_departed="remove")
        world.set_member(world.root_id, app, role="admin")
        out["phase A"] = (before, hal.snapshot(lab, HOST, PRUNE, checksum=ACCOUNT_FILES))

        # Phase B, what legitimately changes accounts: adoption, lock and unlock, removal, ids after a state loss.
        before = hal.snapshot(lab, HOST, PRUNE, checksum=("/etc/sudoers", "/etc/sudoers.d"))
        world.set_member(world.root_id, world.identity(svc))
        world.set_member(world.root_id, people[sam], status="removed")
        out["adopt and remove"] = run_job(lab, gosync_run_mode="all", gosync_departed="remove")
        out["sam home"] = hal.root(lab, HOST, "stat", "-c", "%u", "/home/" + sam).stdout.strip()
        world.set_member(world.root_id, svc + "@example.org", status="removed")
        out["svc lock"] = run_job(lab, gosync_run_mode="updated")
        out["svc locked"] = passwd(lab)[svc]
        world.set_member(world.root_id, svc + "@example.org", status="active")
        out["svc unlock"] = run_job(lab, gosync_run_mode="updated")
        out["svc unlocked"] = passwd(lab)[svc]
        out["svc expiry"] = hal.root_sh(lab, HOST, "chage -l %s | grep '^Account expires'" % svc).stdout
        # 8.1: the state lost, the id ledger kept; sam's home archived away, so only the ledger remembers the uid.
        hal.root_sh(lab, HOST, "mv /home/%s %s-home && rm %s/state/identity_sync.json" % (sam, WORK, WORK))
        out["ledger kept"] = hal.root(lab, HOST, "cat", WORK + "/state/identity_sync.ids").stdout
        world.set_member(world.root_id, world.identity(una))
        out["state lost, ledger kept"] = timed(seconds, "8.1 ledger kept run", run_job, lab, gosync_run_mode="all")
        hal.root_sh(lab, HOST, "mv %s-home /home/%s" % (WORK, sam))
        # 8.2: state and ledger both lost; sam's home (back in place) still owns the uid.
        hal.root_sh(lab, HOST, "rm %s/state/identity_sync.json %s/state/identity_sync.ids" % (WORK, WORK))
        world.set_member(world.root_id, world.identity(trudy))
        out["state lost"] = run_job(lab, gosync_run_mode="all")

        # Item 14: joiners arrive, each run killed at a random point; then runs to completion.
        rng = random.Random(int(tag, 16))
        out["trials"] = []
        for trial in range(KILL_TRIALS):
            for name in joiners[trial * JOINING:(trial + 1) * JOINING]:
                world.set_member(world.root_id, world.identity(name))
            delay = 0.05 if trial == 0 else rng.uniform(0.0, 0.5)
            report = kill_trial(lab, delay)
            made = sum(1 for name in passwd(lab) if name in joiners)
            out["trials"].append((round(delay, 3), made, report.strip()))
        out["after kills"] = [run_job(lab, gosync_run_mode="new") for dummy in range(2)]
        out["passwd"] = passwd(lab)
        out["homes"] = hal.root_sh(lab, HOST, "find /home -mindepth 1 -maxdepth 2 -printf '%p %U %m\\n'").stdout.splitlines()
        out["skel"] = sorted(hal.root_sh(lab, HOST, "cd /etc/skel && find . -mindepth 1 -printf '%P\\n'").stdout.split())
        out["hooks"] = hal.root(lab, HOST, "cat", WORK + "/hooks.log").stdout.splitlines()
        out["state"] = json.loads(hal.root(lab, HOST, "cat", WORK + "/state/identity_sync.json").stdout)
        out["phase B"] = (before, hal.snapshot(lab, HOST, PRUNE, checksum=("/etc/sudoers", "/etc/sudoers.d")))
        yield out
    finally:
        world.clear_faults()
        cleanup(lab, accounts, sysop, planted)


def test_privileged_and_system_names_from_globus_are_refused_by_name_and_nothing_changes(identity_attack):
    """Item 5 on the host: users and groups named like portal1's system accounts, privileged and sudoers groups."""
    rc, log, results = identity_attack["setup"]
    kate, sam, sysop = identity_attack["names"]["kate"], identity_attack["names"]["sam"], identity_attack["sysop"]
    assert rc == 0 and sorted(c["name"] for c in users_result(results)["created"]) == sorted([kate, sam]), log[-3000:]
    tag = identity_attack["tag"]
    assert sorted(c["name"] for c in groups_result(results)["created"]) == sorted(["kap" + tag, "kilo-" + tag, "proj-" + tag]), log[-3000:]
    rc, log, results = identity_attack["hostile names"]
    assert rc == 0, log[-3000:]
    users, groups = users_result(results), groups_result(results)
    assert not users["created"] and not users["adopted"] and not users["locked"], users
    skipped = {s["name"]: s["reason"] for s in users["skipped_users"] if s.get("name")}
    assert sorted(skipped) == sorted(HOSTILE_USERS + (sysop,)), skipped
    for name in ("root", "daemon", "bin", "sudo", "adm", "admin"):
        assert "%r is a privileged or reserved name" % name in skipped[name], (name, skipped[name])
    for name in ("prometheus", sysop):   # a daemon's account, and the local sysadmin's own (useradd --system, in sudo)
        assert "a local account %r" % name in skipped[name] and "system account is never adopted" in skipped[name], skipped[name]
    assert not groups["created"] and not groups["updated"] and not groups["removed"], groups
    gskipped = {s["name"]: s["reason"] for s in groups["skipped_groups"]}
    assert set(HOSTILE_GROUPS + (sysop,)) <= set(gskipped), gskipped
    for name in ("sudo", "adm", "staff", "root"):
        assert "%r is a privileged or reserved group name" % name in gskipped[name], (name, gskipped[name])
    for name in ("prometheus", sysop):
        assert "a local group %r" % name in gskipped[name] and "not adopted" in gskipped[name], gskipped


def test_a_planted_link_among_the_sudoers_files_stops_the_run_naming_it(identity_attack):
    """Item 5.3 on the host: /etc/sudoers.d/zz-attack-<tag> -> README, set up by root; nothing changes (phase A)."""
    rc, log, results = identity_attack["sudoers link"]
    message = users_result(results)["msg"]
    assert rc != 0 and identity_attack["planted"] in message and "symbolic link" in message, log[-3000:]
    assert "nothing was changed" in message and groups_result(results) is None, message


def test_the_local_sysadmins_system_account_is_never_adopted_nor_locked(identity_attack):
    """Item 5.4 on the host: served by name by Globus in every run (adopt_existing), never taken."""
    sysop = identity_attack["sysop"]
    assert identity_attack["passwd"][sysop] == identity_attack["sysop before"], identity_attack["passwd"][sysop]
    assert int(identity_attack["sysop before"][2]) < 1000 and identity_attack["sysop before"][6] == "/bin/bash"
    for phase in ("adopt and remove", "svc lock", "svc unlock", "state lost, ledger kept", "state lost"):
        users = users_result(identity_attack[phase][2])
        assert sysop not in [u["name"] for key in ("adopted", "locked", "removed", "updated", "created") for u in users[key]], (phase, users)


def test_names_that_fold_onto_an_existing_user_are_refused_before_any_case_change(identity_attack):
    """Item 7 on the host: KELVIN SIGN + ate<tag> lower-cases to kate<tag>, LONG S + am<tag> to sam<tag>."""
    _rc, _log, results = identity_attack["hostile names"]
    users = users_result(results)
    refused = {e["globus_username"]: e["reason"] for e in users["errors"]}
    tag = identity_attack["tag"]
    assert sorted(refused) == sorted(["\u212aate%s@example.org" % tag, "\u017fam%s@example.org" % tag]), refused
    assert all("outside ASCII" in reason for reason in refused.values()), refused


def test_group_names_that_fold_onto_a_synced_group_or_an_override_are_refused_before_any_case_change(identity_attack):
    """Item 7.3 on the host: KELVIN SIGN + appa-<tag> folds onto the override key kappa-<tag> (local kap<tag>),
    KELVIN SIGN + ilo-<tag> onto the synced kilo-<tag>; both refused as non-ASCII, not as a second claim."""
    _rc, log, results = identity_attack["hostile names"]
    groups = groups_result(results)
    refused = {e["globus_group_id"]: e for e in groups["errors"] if e.get("globus_group_id") in identity_attack["group folds"]}
    assert sorted(refused) == sorted(identity_attack["group folds"]), groups["errors"]
    for entry in refused.values():
        assert "outside ASCII" in entry["reason"] and entry.get("name") is None, entry
    assert not groups["updated"] and not groups["created"], log[-3000:]


def test_a_root_group_without_memberships_and_a_demoted_app_depart_nobody(identity_attack):
    """Item 6 on the host: no memberships list is an error; every user looking departed trips max_departures."""
    rc, log, results = identity_attack["no memberships"]
    assert rc != 0 and "without a memberships list" in users_result(results)["msg"], log[-3000:]
    rc, log, results = identity_attack["demoted"]
    message = users_result(results)["msg"]
    assert rc != 0 and "refusing 2 user departures (lock/remove) out of 2" in message, log[-3000:]
    assert "max_departures" in message and "'only'" in message, message


def test_a_subgroup_without_memberships_is_an_error_naming_it_and_its_members_stay(identity_attack):
    """Item 6.2 on the host: proj-<tag> answered without a memberships list in the hostile-names run."""
    _rc, log, results = identity_attack["hostile names"]
    groups = groups_result(results)
    errors = [e for e in groups["errors"] if e.get("name") == identity_attack["synced"][2]]
    assert len(errors) == 1 and "no memberships list" in errors[0]["reason"], groups["errors"]
    assert not groups["updated"] and not groups["removed"], log[-3000:]
    line = next(g for g in identity_attack["groups before"].splitlines() if g.startswith(identity_attack["synced"][2] + ":"))
    assert line.split(":")[3] == identity_attack["names"]["kate"], line   # and phase A left /etc/group as it was


def test_every_synced_group_vanishing_at_once_removes_none_and_says_how_to_proceed(identity_attack):
    """Item 6.4 on the host: the root group lists no subgroups (departed: remove); the group sync refuses."""
    rc, log, results = identity_attack["groups vanish"]
    users, refusal = users_result(results), groups_refusal(results)
    assert not any(users[key] for key in ("created", "updated", "locked", "removed", "adopted")), users
    assert rc != 0 and refusal is not None and refusal["groups_removed"] == 3, log[-3000:]
    message = refusal["msg"]
    assert "refusing 3 local groups removed out of 3" in message and "nothing was changed" in message, message
    assert "raise max_departures (role variable gosync_max_departures) for one run" in message, message


def test_nothing_on_portal1_changed_in_the_hostile_runs(identity_attack):
    """Items 5, 6, 7: passwd, group, shadow, gshadow and sudoers (checksums) and every other file compared."""
    before, after = identity_attack["phase A"]
    assert before == after, hal.differences(before, after)[:40]
    assert any(line.endswith(" /etc/shadow") for line in before) and any(line.endswith(" /etc/sudoers") for line in before)


def test_an_adopted_service_account_keeps_its_shell_through_lock_and_unlock(identity_attack):
    """Item 5.5 on the host: the sysadmin's nologin account, adopted, departs (locked) and returns (unlocked)."""
    svc = identity_attack["names"]["svc"]
    _rc, log, results = identity_attack["adopt and remove"]
    assert [a["name"] for a in users_result(results)["adopted"]] == [svc], log[-3000:]
    rc, log, results = identity_attack["svc lock"]
    assert rc == 0 and [u["name"] for u in users_result(results)["locked"]] == [svc], log[-3000:]
    rc, log, results = identity_attack["svc unlock"]
    assert rc == 0 and [u["name"] for u in users_result(results)["updated"]] == [svc], log[-3000:]
    assert identity_attack["svc unlocked"][6] == "/usr/sbin/nologin", identity_attack["svc unlocked"]
    assert identity_attack["svc expiry"].rstrip().endswith("never"), identity_attack["svc expiry"]


def test_a_removed_users_uid_in_the_kept_id_ledger_is_not_reissued_after_the_state_is_lost(identity_attack):
    """Item 8.1 on the host: sam<tag> removed and his home archived elsewhere, the state deleted, the id ledger
    kept, una<tag> joins: only the ledger remembers sam's uid."""
    names = identity_attack["names"]
    _rc, log, results = identity_attack["adopt and remove"]
    old_uid = str(users_result(results)["removed"][0]["uid"])
    assert "uid %s %s" % (old_uid, names["sam"]) in identity_attack["ledger kept"], identity_attack["ledger kept"]
    rc, log, results = identity_attack["state lost, ledger kept"]
    created = {c["name"]: c["uid"] for c in users_result(results)["created"]}
    assert rc == 0 and list(created) == [names["una"]], log[-3000:]
    assert str(created[names["una"]]) != old_uid


def test_a_removed_users_uid_still_owning_a_home_is_not_reissued_after_the_state_is_lost(identity_attack):
    """Item 8 on the host: sam<tag> removed (home kept), state and id ledger deleted, trudy<tag> joins."""
    names = identity_attack["names"]
    _rc, log, results = identity_attack["adopt and remove"]
    removed = users_result(results)["removed"]
    assert [u["name"] for u in removed] == [names["sam"]], log[-3000:]
    old_uid = str(removed[0]["uid"])
    assert identity_attack["sam home"] == old_uid
    rc, log, results = identity_attack["state lost"]
    created = {c["name"]: c["uid"] for c in users_result(results)["created"]}
    assert rc == 0 and list(created) == [names["trudy"]], log[-3000:]
    assert str(created[names["trudy"]]) != old_uid
    uids = [entry[2] for entry in identity_attack["passwd"].values()]
    assert len(uids) == len(set(uids)) and old_uid not in uids


def test_sigkill_at_random_points_leaves_no_half_home_and_no_lost_hook(identity_attack):
    """Item 14 on the host: the job killed (its whole process group) at random points of five runs."""
    print("kill trials (delay s, joiners with an account after the kill, report):", identity_attack["trials"])
    print("seconds of the runs added for 5.3, 5.4, 6.4, 8.1:", identity_attack["seconds"])
    for trial in identity_attack["trials"]:
        assert "still-running" not in trial[2], trial
    assert any("rc=137" in trial[2] for trial in identity_attack["trials"]), "no kill landed inside a run"
    for rc, log, _results in identity_attack["after kills"]:
        assert rc == 0, log[-3000:]
    joiners, entries = identity_attack["joiners"], identity_attack["passwd"]
    assert all(name in entries for name in joiners), sorted(set(joiners) - set(entries))
    homes = {line.split()[0]: line.split()[1:] for line in identity_attack["homes"]}
    assert [path for path in homes if "datasync-new" in path] == []   # no leftover temp home
    for name in joiners:
        assert homes["/home/" + name] == [entries[name][2], "750"], (name, homes.get("/home/" + name))
        inside = sorted(path.rsplit("/", 1)[1] for path in homes if path.startswith("/home/%s/" % name))
        assert inside == sorted(p for p in identity_attack["skel"] if "/" not in p), (name, inside)
    changes = {}
    for line in identity_attack["hooks"]:
        action, name, uid, change = line.split()
        if action == "created" and name in joiners:
            assert uid == entries[name][2], line
            changes.setdefault(name, set()).add(change)
    assert sorted(changes) == sorted(joiners) and all(len(c) == 1 for c in changes.values()), changes
    users = identity_attack["state"]["data"]["users"].values()
    assert not [u["name"] for u in users if u.get("hooks")], "hooks still owed after two complete runs"


def test_only_the_account_files_and_the_synced_homes_changed_on_portal1(identity_attack):
    """Items 5, 8, 14: the runs that make accounts change nothing else on the host (sudoers by checksum)."""
    before, after = identity_attack["phase B"]
    names = list(identity_attack["names"].values()) + identity_attack["joiners"]
    allowed = r"^(/etc/(passwd|group|shadow|gshadow|subuid|subgid)-?|/etc/\.pwd\.lock|/home/(%s)(/.*)?)$" % "|".join(map(re.escape, names))
    assert hal.changed_outside(before, after, allowed) == []
