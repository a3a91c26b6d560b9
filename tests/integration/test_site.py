"""The whole site: the example inventory is usable, every role works in check mode on a fresh host,
site.yml deploys to the lab's booted hosts over SSH, and the service account cannot touch root's tree."""

import os
import re
import shlex

from tests.integration.site_lab import ssh

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_example_inventory_decrypts_and_site_parses(ansible_playbook, tmp_path):
    password = tmp_path / "vault-password"
    password.write_text("example-only-vault-password\n")
    result = ansible_playbook("-i", "inventories/example", "--vault-password-file", str(password),
                              "--syntax-check", "playbooks/site.yml")
    assert result.rc == 0


def test_every_role_in_check_mode_on_a_fresh_host(ansible_playbook, tmp_path):
    fresh = tmp_path / "fresh"
    result = ansible_playbook("playbooks/site.yml", "--check", "--limit", "portal,transfer,beamline,mirror",
                              "-e", "datasync_prefix=%s/{{ inventory_hostname }}" % fresh)
    assert "failed=0" in result.stdout
    assert not any(fresh.rglob("*")), "check mode wrote files: %s" % sorted(str(p) for p in fresh.rglob("*"))[:10]


def _ssh(lab, host, *command):
    return ssh(lab, host, *command)


# What the root job gosync-new on portal1 executes or reads, parents included.
ROOT_JOB_PATHS = ["/usr/local/bin/datasync-job", "/etc/datasync", "/etc/datasync/jobs",
                  "/etc/datasync/jobs/gosync-new.yml", "/etc/datasync/ansible.cfg", "/etc/datasync/env",
                  "/etc/datasync/env/gosync-new.env", "/etc/datasync/gosync", "/etc/datasync/gosync/user-hooks.d",
                  "/opt/datasync", "/opt/datasync/venv", "/opt/datasync/venv/bin", "/opt/datasync/venv/bin/python3",
                  "/var/lib/datasync", "/var/lib/datasync/gosync", "/var/lib/datasync/locks",
                  "/var/lib/datasync/ansible", "/var/log/datasync"]


def test_site_deploys_to_the_booted_hosts_over_ssh(lab_site, lab):
    """inventories/lab: site.yml over SSH (admin + sudo, host keys checked), then root's tree is root's."""
    assert "portal1" in lab_site.stdout
    # -L: the venv's python3 is a link to the host's Python; its folder (listed too) is root's 0755.
    listing = _ssh(lab, "portal1", "stat", "-L", "-c", "%U:%G %a %n", *ROOT_JOB_PATHS, "/var/lib/datasync-jobs")
    assert listing.returncode == 0, listing.stderr
    owners = dict((line.split()[2], line.split()[:2]) for line in listing.stdout.splitlines())
    assert sorted(owners) == sorted(ROOT_JOB_PATHS + ["/var/lib/datasync-jobs"]), listing.stdout
    for path, (owner, mode) in owners.items():
        if path == "/var/lib/datasync-jobs":
            assert owner == "datasync:datasync", (path, owner)
            continue
        assert owner == "root:root", (path, owner)
        assert int(mode, 8) & 0o022 == 0, (path, mode)
    assert owners["/etc/datasync/env/gosync-new.env"][1] == "600"
    cron = _ssh(lab, "portal1", "cat", "/etc/cron.d/datasync-gosync-new")
    assert " root /usr/local/bin/datasync-job gosync-new" in cron.stdout, cron.stdout + cron.stderr
    version = _ssh(lab, "portal1", "/opt/datasync/venv/bin/ansible", "--version")
    assert "core 2.19." in version.stdout, version.stdout + version.stderr
    wrapper = _ssh(lab, "portal1", "cat", "/usr/local/bin/datasync-job")
    assert wrapper.returncode == 0 and "datasync-job" in wrapper.stdout, wrapper.stderr
    assert "GLOBUS" not in wrapper.stdout and "SECRET" not in wrapper.stdout.upper()


def test_the_service_account_cannot_touch_what_a_root_job_uses(lab_site, lab):
    """As datasync on portal1: append to, replace with a link, rename, or plant a file in every file
    and folder the root job gosync-new uses; every attempt fails, a root run of the job afterwards
    runs nothing planted, and the files are unchanged."""
    site = _ssh(lab, "portal1", "sh", "-c", "ls -d /opt/datasync/venv/lib/python3*/site-packages").stdout.strip()
    assert site.startswith("/opt/datasync/venv/lib/python3"), site
    collection = "/opt/datasync/venv/collections/ansible_collections/sciops/datasync"
    paths = ["/usr/local/bin/datasync-job", "/etc/datasync/jobs/gosync-new.yml", "/etc/datasync/ansible.cfg",
             "/etc/datasync/env/gosync-new.env", "/opt/datasync/venv/bin/python3", site, collection,
             collection + "/MANIFEST.json", "/etc/datasync/gosync/user-hooks.d", "/var/lib/datasync/gosync",
             "/var/lib/datasync/locks", "/var/lib/datasync/ansible", "/var/log/datasync",
             "/var/log/datasync/gosync-new.log", "/etc/datasync/jobs", "/etc/datasync", "/opt/datasync/venv",
             "/opt/datasync"]
    # What a root run changes by itself (state, lock, log) is made once before the "before" listing;
    # the content of everything the job executes or reads (not its state and log) is checksummed.
    # A concurrent cron run's transient files (state temp files, Ansible's temp folders) are left out.
    code = ["/usr/local/bin/datasync-job", "/etc/datasync", "/opt/datasync"]
    state = ["/var/lib/datasync", "/var/log/datasync"]
    checksum = ["sh", "-c", "find %s %s -xdev -printf '%%p %%u:%%g %%m %%y %%l\\n' | grep -Ev '/\\.[^/]+\\.tmp |"
                "/var/lib/datasync/ansible/tmp/' | sort; find %s -xdev -type f -exec md5sum {} + | sort | md5sum"
                % (" ".join(code), " ".join(state), " ".join(code))]
    warm = _ssh(lab, "portal1", "/usr/local/bin/datasync-job", "gosync-new")
    assert warm.returncode == 0, warm.stdout + warm.stderr
    before = _ssh(lab, "portal1", *checksum)
    assert before.returncode == 0 and "/etc/datasync/jobs/gosync-new.yml root:root 644 f" in before.stdout, before
    canary = "/tmp/datasync-attack-canary"
    _ssh(lab, "portal1", "rm", "-f", canary)
    payload = "#!/bin/sh\ntouch %s\n" % canary
    script = "\n".join(
        ["p=%s; (printf '%%s' %s >> \"$p\") 2>/dev/null && echo WROTE $p; "
         "(ln -sfn %s \"$p\") 2>/dev/null && echo LINKED $p; "
         "(mv \"$p\" \"$p.moved\") 2>/dev/null && echo MOVED $p; "
         "(touch \"$p/planted\") 2>/dev/null && echo PLANTED $p; "
         "(ln -s %s \"$p/planted-link\") 2>/dev/null && echo PLANTED-LINK $p; true"
         % (shlex.quote(path), shlex.quote(payload), canary, canary)
         for path in paths] + ["id -un"])
    attack = _ssh(lab, "portal1", "runuser", "-u", "datasync", "--", "/bin/sh", "-c", script)
    # The attacker really ran as datasync, and no attempt succeeded.
    assert attack.stdout.strip() == "datasync", attack.stdout + attack.stderr
    run = _ssh(lab, "portal1", "/usr/local/bin/datasync-job", "gosync-new")
    assert run.returncode == 0, run.stdout + run.stderr
    after = _ssh(lab, "portal1", *checksum)
    assert before.stdout == after.stdout, "\n".join(sorted(set(before.stdout.splitlines()) ^ set(after.stdout.splitlines())))
    assert _ssh(lab, "portal1", "test", "-e", canary).returncode != 0
    # The service account cannot even read the root job's environment, nor run it.
    denied = _ssh(lab, "portal1", "runuser", "-u", "datasync", "--", "/usr/local/bin/datasync-job", "gosync-new")
    assert denied.returncode == 2 and "runs as another account" in denied.stderr, denied


def test_a_role_tag_deploys_that_role_alone(lab_site, ansible_playbook):
    """`site.yml --tags transfer_pools`: the pool role's own tasks run on the mirror host (the tag
    reaches inside the include), no other role's task runs anywhere, and the deployed host needs no change."""
    result = ansible_playbook("-i", "inventories/lab", "playbooks/site.yml", "--tags", "transfer_pools",
                              "--check", "--limit", "mirror1,portal1", env={"ANSIBLE_INVENTORY": ""})
    tasks = [line for line in result.stdout.splitlines() if line.startswith("TASK [")]
    assert any(line.startswith("TASK [sciops.datasync.transfer_pools : ") for line in tasks), tasks
    assert any(line.startswith("TASK [sciops.datasync.runtime : ") and "Build" not in line for line in tasks), tasks
    others = [line for line in tasks if line.startswith(("TASK [sciops.datasync.gosync", "TASK [sciops.datasync.mxsync",
                                                         "TASK [sciops.datasync.collection_sync"))]
    assert not others, others
    recap = result.stdout.split("PLAY RECAP")[1]
    assert re.search(r"mirror1\s+: ok=\d+\s+changed=0 .*failed=0", recap), recap
