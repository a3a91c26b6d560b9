"""Issue 13 item 8: the README's steps for real hosts, as printed, against the lab's booted hosts.
The test copies inventories/example, puts the lab hosts in hosts.yml, sets the variables the
example's group_vars comment on to the lab's values (a site would write its own), vaults the
secrets with the README's ansible-vault command, builds the collection with `make build`, runs the
README's two site.yml commands (--check --diff, then for real) and its run-now command on portal1.
The lab's own deployment (inventories/lab) is put back afterwards."""

import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest
import yaml

from tests.integration.site_lab import deploy_site, host_now, lab_file, ssh
from tests.lab.hosts.job_log import job_runs
from tests.lab.hosts.wheelhouse import link_into_lab

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
SITE = "labsite"


def readme_steps():
    text = open(os.path.join(REPO, "README.md"), encoding="utf-8").read()
    return text.split("## Running against real hosts")[1].split("\n## ")[0]


def code_spans(text, prefix):
    return [code for code in re.findall(r"`([^`]+)`", text) if code.startswith(prefix)]


def _telling(secret):
    """The part of a secret that shows it leaked (a key's longest line, not its BEGIN line)."""
    return max(secret.strip().splitlines(), key=len)


def _env():
    # What a user's shell has: the venv on PATH and the checkout's ansible.cfg; nothing of the lab.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GLOBUS_", "DM_", "EPICS_", "DATASYNC_LAB_", "REQUESTS_CA", "SSL_CERT", "ANSIBLE_"))}
    env.update(PATH=BIN + os.pathsep + env.get("PATH", ""), ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, ".collections"), ANSIBLE_NOCOLOR="1")
    return env


def _run(argv, input=None, timeout=900):
    return subprocess.run(argv, cwd=REPO, env=_env(), capture_output=True, text=True, check=False, input=input,
                          timeout=timeout)


def _set(site, relative, values):
    """Set variables of one copied group_vars file: each must be one the example file has (set or
    shown commented out), as a site edits the file it copied."""
    path = os.path.join(site, "group_vars", relative)
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    data = yaml.safe_load(text) or {}
    for name in values:
        assert name in data or re.search(r"(?m)^# %s:" % re.escape(name), text), (relative, name)
    data.update(values)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("---\n" + yaml.safe_dump(data, sort_keys=False))


def _add(site, relative, values):
    """Settings the lab needs beyond the example's (its services are not on their usual ports and
    its Globus is an emulator): documented role variables, in a file of their own."""
    path = os.path.join(site, "group_vars", relative)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("---\n" + yaml.safe_dump(values, sort_keys=False))


def _lab_values(lab):
    services = lab.endpoints()
    hosts_env = lab_file(lab)["hosts_env"]
    globus, portal, sshd = services["globus"], services["portal"], services["sshd"]
    rsyncd, smtp = services["rsyncd"], services["smtp"]
    with open(portal["credentials_file"], encoding="utf-8") as handle:
        equipment = {e["id"]: e for e in yaml.safe_load(handle)["equipment"]}
    with open(globus["client_secret_file"], encoding="utf-8") as handle:
        globus_secret = handle.read().strip()
    with open(sshd["key_file"], encoding="utf-8") as handle:
        source_key = handle.read()
    with open(sshd["known_hosts"], encoding="utf-8") as handle:
        source_host_keys = [line for line in handle.read().splitlines() if "services.lab" in line]
    with open(rsyncd["password_file"], encoding="utf-8") as handle:
        pools_password = handle.read().strip()
    globus_env = {k: v for k, v in hosts_env.items()
                  if re.match(r"^(GLOBUS_SDK_ENVIRONMENT|GLOBUS_SDK_SERVICE_URL_[A-Z]+|GLOBUS_SDK_VERIFY_SSL|"
                              r"REQUESTS_CA_BUNDLE|SSL_CERT_FILE)$", k)}
    secrets = {"vault_gosync_client_secret": globus_secret, "vault_collection_sync_client_secret": globus_secret,
               "vault_smtp_login": "unused-the-lab-relay-takes-no-login", "vault_transfer_pools_password": pools_password,
               "vault_mxsync_ssh_private_key": source_key}
    for number, id_ in (("1", 23), ("2", 24)):
        for field in ("username", "password", "client_name", "client_password"):
            secrets["vault_mxsync_mx%s_%s" % (number, field)] = equipment[id_][field]
    files = {
        "portal/gosync.yml": {
            "gosync_client_id": globus["client_id"], "gosync_root_group": globus["root_group_id"],
            "gosync_domains": ["example.org"], "gosync_username_overrides": {},
            "gosync_uid_min": 20000, "gosync_uid_max": 29999, "gosync_group_include": ["sciops.*", "osg.*"],
            "gosync_group_name_template": "{name}", "gosync_gid_min": 7000, "gosync_gid_max": 7999},
        "transfer/collection_sync.yml": {
            "collection_sync_client_id": globus["client_id"],
            "collection_sync_syncs": [{"name": "projects", "source_collection": globus["collections"]["source"],
                                       "source_path": "/projects/",
                                       "destination_collection": globus["collections"]["destination"],
                                       "destination_path": "/backup/projects/"}],
            "collection_sync_mail_host": "services.lab", "collection_sync_mail_port": smtp["port"],
            "collection_sync_mail_tls": "none", "collection_sync_mail_credentials": ""},
        "beamline/epn.yml": {
            "mxsync_portal_url": portal["host_url"],
            "mxsync_equipment": portal["equipment"],
            "mxsync_epn_map": {"12282": "ny79", "12400": "ny79", "13001": "ab12", "20123": "cd34"},
            "mxsync_source_host": "services.lab", "mxsync_source_user": sshd["user"],
            "mxsync_source_root": portal["source_root"], "mxsync_source_host_keys": source_host_keys,
            "mxsync_destination_root": "/var/lib/datasync-jobs/scratch", "mxsync_sync_frequency_hours": 1,
            "mxsync_ignore_file": "", "mxsync_alert_smtp_host": "services.lab", "mxsync_alert_smtp_port": smtp["port"],
            "mxsync_alert_smtp_tls": "none"},
        "mirror/pools.yml": {
            "transfer_pools_host": "services.lab", "transfer_pools_port": rsyncd["port"],
            "transfer_pools_user": rsyncd["user"], "transfer_pools_root": "/var/lib/datasync-jobs/icc-rsync",
            "transfer_pools_modules": [{"module": "pv", "dest": "/srv/pacs/pools/pv"},
                                       {"module": "pv-1", "dest": "/srv/pacs/pools/pv-1"},
                                       {"module": "pv-2", "dest": "/srv/pacs/pools/pv-2"},
                                       {"module": "ops", "dest": "/srv/pacs2/pools/ops", "delete": True}],
            "transfer_pools_delete": False, "transfer_pools_mail_host": "services.lab",
            "transfer_pools_mail_port": smtp["port"], "transfer_pools_mail_tls": "none",
            "transfer_pools_mail_credentials": ""},
    }
    extra = {
        "portal/lab.yml": {"gosync_job_environment": globus_env},
        "transfer/lab.yml": {"collection_sync_job_environment": globus_env},
        "beamline/lab.yml": {"mxsync_source_port": sshd["port"]},
        "mirror/lab.yml": {"transfer_pools_manage_package": False},
    }
    return files, extra, secrets


def _hosts(lab, example):
    """hosts.yml with the lab's hosts in the example's groups, reached as the lab's admin."""
    with open(example, encoding="utf-8") as handle:
        groups = yaml.safe_load(handle)["all"]["children"]
    addresses = lab_file(lab)["network"]["hosts"]
    lab_name = {"portal": "portal1", "transfer": "transfer1", "beamline": "beamline1", "mirror": "mirror1",
                "beamline_detector": "detector1", "beamline_analysis": "analysis1"}
    children = {}
    for group in groups:
        name = lab_name[group]
        children[group] = {"hosts": {name: {"ansible_host": addresses[name]}}}
    known_hosts = lab.path("hosts", "known_hosts")
    connection = {"ansible_user": "admin", "ansible_ssh_private_key_file": lab.path("hosts", "admin_ed25519"),
                  "ansible_ssh_common_args": "-o UserKnownHostsFile=%s -o GlobalKnownHostsFile=/dev/null "
                                             "-o StrictHostKeyChecking=yes -o IdentitiesOnly=yes" % known_hosts}
    return {"all": {"vars": connection, "children": children}}


@pytest.fixture
def lab_deployment_restored(lab, lab_site, ansible_playbook):
    yield
    deploy_site(lab, ansible_playbook)
    # Back on cron (inventories/lab): the example's timers are gone from portal1, not just their files.
    timers = ssh(lab, "portal1", "systemctl", "list-timers", "--all", "--no-legend", "datasync-*")
    assert timers.returncode == 0 and timers.stdout.strip() == "", timers.stdout + timers.stderr


def test_readme_real_host_steps_as_printed(lab, lab_site, lab_deployment_restored, tmp_path):
    steps = readme_steps()
    # 1. Copy the example, put the hosts in, set the variables.
    site = str(tmp_path / "inventories" / SITE)
    shutil.copytree(os.path.join(REPO, "inventories", "example"), site)
    with open(os.path.join(site, "hosts.yml"), "w", encoding="utf-8") as handle:
        handle.write("---\n" + yaml.safe_dump(_hosts(lab, os.path.join(REPO, "inventories", "example", "hosts.yml"))))
    files, extra, secrets = _lab_values(lab)
    for relative, values in files.items():
        _set(site, relative, values)
    for relative, values in extra.items():
        _add(site, relative, values)
    example_python = yaml.safe_load(open(os.path.join(site, "group_vars", "all", "main.yml")))["datasync_python"]
    assert ssh(lab, "portal1", "test", "-x", example_python).returncode == 0, \
        "the example's datasync_python %s is not on a stock Debian host" % example_python

    # 2. The secrets, vaulted with the README's command (the secret on standard input).
    password = tmp_path / "vault-password"
    password.write_text("lab-site-vault-password\n")
    encrypt = code_spans(steps, "ansible-vault encrypt_string")
    assert encrypt, steps
    vault = ["---"]
    for name, secret in secrets.items():
        argv = shlex.split(encrypt[0].replace("<file>", str(password)).replace("vault_<name>", name))
        argv[0] = os.path.join(BIN, argv[0])
        result = _run(argv, input=secret)
        assert result.returncode == 0, result.stderr
        assert _telling(secret) not in result.stdout + result.stderr
        vault.append(result.stdout.strip())
    example_vault = yaml.safe_load(open(os.path.join(site, "group_vars", "all", "vault.yml")).read()
                                   .replace("!vault", "")) or {}
    assert sorted(example_vault) == sorted(secrets), "every secret the example vaults is filled in"
    with open(os.path.join(site, "group_vars", "all", "vault.yml"), "w", encoding="utf-8") as handle:
        handle.write("\n".join(vault) + "\n")

    # 3. make build, and the tarball where the README says it is.
    assert "`make build`" in steps
    # --assume-old=venv: `make test` has just made the venv; the build recipe itself runs as printed.
    build = _run(["make", "--assume-old=venv", "build"], timeout=300)
    assert build.returncode == 0, build.stdout + build.stderr
    version = yaml.safe_load(open(os.path.join(REPO, "galaxy.yml")))["version"]
    path = re.search(r"`(\.cache/dist/sciops-datasync-)<version>(\.tar\.gz)`", steps)
    assert path, steps
    tarball = os.path.join(REPO, path.group(1) + version + path.group(2))
    assert os.path.isfile(tarball), tarball
    # The hosts have no internet: the wheelhouse the lab builds for their Python (3.11).
    wheelhouse = os.path.realpath(link_into_lab(lab.root, ("3.11",))["3.11"])
    _set(site, "all/main.yml", {"datasync_collection_source": tarball, "datasync_pip_wheelhouse_src": wheelhouse})

    # 4. The two deploy commands, as printed.
    # (The README's pre-flight command, also under inventories/<site>, is tests/integration/test_preflight.py's.)
    deploys = [code for code in code_spans(steps, "ansible-playbook -i inventories/<site>") if "playbooks/site.yml" in code]
    assert len(deploys) == 2 and deploys[0].endswith("--check --diff"), deploys
    outputs = []
    for command in deploys:
        argv = shlex.split(command.replace("inventories/<site>", site).replace("<file>", str(password)))
        argv[0] = os.path.join(BIN, argv[0])
        result = _run(argv)
        out = result.stdout + result.stderr
        assert result.returncode == 0, out[-6000:]
        recap = out[out.rindex("PLAY RECAP"):]
        for host in ("portal1", "transfer1", "beamline1", "mirror1"):
            assert re.search(r"%s\s+: ok=\d+\s+changed=\d+\s+unreachable=0\s+failed=0" % host, recap), recap
        outputs.append(out)
    check, real = outputs
    # The example's settings reached the hosts: its scheduler is systemd, so portal1 now has timers.
    assert re.search(r"changed: \[portal1\] => \(item=timer\)", check), check[-6000:]
    timer = ssh(lab, "portal1", "systemctl", "is-enabled", "datasync-gosync-new.timer")
    assert timer.stdout.strip() == "enabled", timer.stdout + timer.stderr
    for name, secret in secrets.items():
        if re.search(r"(secret|password|key)$", name):
            assert _telling(secret) not in check + real, name

    # 5. The run-now command on portal1, as printed (through the admin's sudo).
    run_now = code_spans(steps, "sudo datasync-job ")
    assert run_now == ["sudo datasync-job gosync-new"], run_now
    since = host_now(lab, "portal1")
    job = ssh(lab, "portal1", *shlex.split(run_now[0])[1:])
    assert job.returncode == 0, job.stdout + job.stderr
    log = ssh(lab, "portal1", "cat", "/var/log/datasync/gosync-new.log").stdout
    assert any(run.rc == 0 for run in job_runs(log, "gosync-new", since)), log[-3000:]
    assert ssh(lab, "portal1", "getent", "passwd", "alice").returncode == 0
