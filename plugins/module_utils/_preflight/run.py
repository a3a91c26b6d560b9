# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The preflight module: its options and one run. Private to sciops.datasync: not a public API.

Each option group names what one job needs; every entry becomes one or more rows
(``_preflight.rows``), in the order local files, folders, services, Globus. A failed
row fails the module, with every row returned, so a playbook can print them all.
"""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.common.text.formatters import human_to_bytes

from ansible_collections.sciops.datasync.plugins.module_utils._core.mail import smtp_options
from ansible_collections.sciops.datasync.plugins.module_utils._core.results import exit_module
from ansible_collections.sciops.datasync.plugins.module_utils._core.runner import CommandRunner
from ansible_collections.sciops.datasync.plugins.module_utils._globus.clients import (
    GLOBUS_MUTUALLY_EXCLUSIVE,
    GLOBUS_REQUIRED_ONE_OF,
    globus_argument_spec,
    globus_sdk,
)
from ansible_collections.sciops.datasync.plugins.module_utils._preflight import local, network
from ansible_collections.sciops.datasync.plugins.module_utils._preflight.globus import GlobusChecks
from ansible_collections.sciops.datasync.plugins.module_utils._preflight.pools import DaemonChecks
from ansible_collections.sciops.datasync.plugins.module_utils._preflight.rows import FAILED, errors_of


def argument_spec():
    globus = globus_argument_spec()
    globus.update(
        root_group=dict(type="str"),
        collections=dict(type="list", elements="dict", default=[], options=dict(
            id=dict(type="str", required=True),
            name=dict(type="str"),
            path=dict(type="str", default="/"),
            access=dict(type="str", default="read", choices=["read", "write", "manage"]),
        )),
    )
    return dict(
        job=dict(type="str", required=True),
        timeout=dict(type="int", default=10),
        secret_files=dict(type="list", elements="dict", default=[], no_log=False, options=dict(
            path=dict(type="path", required=True),
            what=dict(type="str"),
        )),
        destinations=dict(type="list", elements="path", default=[]),
        min_free=dict(type="str", default="1G"),
        web_services=dict(type="list", elements="dict", default=[], options=dict(
            name=dict(type="str", required=True),
            url=dict(type="str", required=True),
            ca_bundle=dict(type="path"),
        )),
        smtp=dict(type="dict", options=smtp_options(
            sender=dict(type="str"),
            to=dict(type="list", elements="str", default=[]),
        )),
        ssh_sources=dict(type="list", elements="dict", default=[], options=dict(
            host=dict(type="str", required=True),
            port=dict(type="int", default=22),
            user=dict(type="str", required=True),
            key_file=dict(type="path", required=True),
            known_hosts=dict(type="path", required=True),
        )),
        rsync_daemons=dict(type="list", elements="dict", default=[], options=dict(
            host=dict(type="str", required=True),
            port=dict(type="int", default=873),
            user=dict(type="str"),
            password_file=dict(type="path", no_log=False),
            rsync_path=dict(type="path"),
            pools=dict(type="list", elements="dict", default=[], options=dict(
                module=dict(type="str", required=True),
                path=dict(type="str", default=""),
            )),
        )),
        pvs=dict(type="dict", options=dict(
            prefix=dict(type="str", default=""),
            names=dict(type="list", elements="str", required=True),
            timeout=dict(type="float", default=2.0),
            addr_list=dict(type="str"),
            auto_addr_list=dict(type="bool"),
            server_port=dict(type="int"),
            repeater_port=dict(type="int"),
        )),
        globus=dict(type="dict", options=globus, mutually_exclusive=GLOBUS_MUTUALLY_EXCLUSIVE,
                    required_one_of=GLOBUS_REQUIRED_ONE_OF),
    )


def collect_rows(params, runner, check_mode):
    """Every row of one job's pre-flight, in order."""
    timeout = params["timeout"]
    rows = [local.check_secret_file(entry["path"], entry.get("what")) for entry in params["secret_files"]]
    failed_secrets = [entry["path"] for entry, secret in zip(params["secret_files"], rows) if secret["result"] == FAILED]
    min_free = human_to_bytes(params["min_free"])
    rows += [local.check_destination(path, min_free) for path in params["destinations"]]
    rows += [network.check_web_service(entry["name"], entry["url"], entry.get("ca_bundle"), timeout)
             for entry in params["web_services"]]
    smtp = params.get("smtp")
    if smtp:
        rows.append(network.check_smtp(smtp, smtp.get("sender"), (smtp.get("to") or [None])[0]))
    rows += [network.check_ssh(runner, s["host"], s["port"], s["user"], s["key_file"], s["known_hosts"], timeout)
             for s in params["ssh_sources"]]
    for daemon in params["rsync_daemons"]:
        rows += DaemonChecks(runner, daemon, timeout, failed_secrets).rows()
    pvs = params.get("pvs")
    if pvs:
        rows.append(network.check_pvs(pvs["prefix"], pvs["names"], pvs["timeout"], pvs.get("addr_list"),
                                      pvs.get("auto_addr_list"), pvs.get("server_port"), pvs.get("repeater_port")))
    if params.get("globus"):
        rows += GlobusChecks(params["globus"], check_mode).rows()
    return rows


def run_module(module):
    params = module.params
    if params.get("globus") and globus_sdk is None:
        module.fail_json(msg=missing_required_lib("globus-sdk (>=4.9,<5)"))
    try:
        human_to_bytes(params["min_free"])
    except ValueError as exc:
        module.fail_json(msg="min_free %r is not a size: %s" % (params["min_free"], exc))
    if params.get("globus") and params["globus"].get("client_secret"):
        module.no_log_values.add(params["globus"]["client_secret"])
    rows = collect_rows(params, CommandRunner(module), module.check_mode)
    for entry in rows:
        entry["job"] = params["job"]
    result = dict(changed=False, job=params["job"], rows=rows,
                  failed_rows=sum(1 for entry in rows if entry["result"] == FAILED), errors=errors_of(rows))
    exit_module(module, result)


def main_module():
    """The AnsibleModule of ``preflight`` (built when main() runs)."""
    return AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
