# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read beamline PVs over Channel Access (caproto threading client).

Private to sciops.datasync: not a public API.

Every PV is searched at once and each one waits only for what is left of one overall
timeout, so ten unreachable PVs cost one timeout, not ten. An unreachable PV, a read
that fails and an empty value are errors naming the PV. Values that will become paths
or DM names are checked here (``value_problem``) before anything uses them.
"""

from __future__ import annotations

import os
import re
import time
import traceback

from ansible_collections.sciops.datasync.plugins.module_utils._core.names import path_component_problem
from ansible_collections.sciops.datasync.plugins.module_utils._core.results import error, reasons_text

CA_ENV = {
    "addr_list": "EPICS_CA_ADDR_LIST",
    "auto_addr_list": "EPICS_CA_AUTO_ADDR_LIST",
    "server_port": "EPICS_CA_SERVER_PORT",
    "repeater_port": "EPICS_CA_REPEATER_PORT",
}
# Characters that may not reach a path, an ssh argument or an APS DM experiment name.
UNSAFE_CHARS = re.compile(r"""[\s#%&{}\\<>*?/$!:@'"`;|,()\[\]=~^]""")
CHAR_TYPES = ("CHAR", "TIME_CHAR", "CTRL_CHAR", "STS_CHAR", "GR_CHAR")


def value_problem(pv_name, value):
    """Why a PV value cannot become a path component or a DM name, or None."""
    what = "PV %s value" % pv_name
    problem = path_component_problem(value, what)
    if problem:
        return problem
    bad = UNSAFE_CHARS.search(value)
    if bad:
        return "%s %r contains %r (spaces, quotes, slashes and shell or DM special characters are refused)" % (
            what, value, bad.group(0))
    return None


def ca_environment(addr_list=None, auto_addr_list=None, server_port=None, repeater_port=None):
    """The EPICS_CA_* variables to set for the client (only those given)."""
    given = {"addr_list": addr_list, "auto_addr_list": auto_addr_list,
             "server_port": server_port, "repeater_port": repeater_port}
    env = {}
    for key, value in given.items():
        if value is None or value == "":
            continue
        if isinstance(value, bool):
            value = "YES" if value else "NO"
        env[CA_ENV[key]] = str(value)
    return env


def decode_value(data_type_name, data):
    """A PV read's data as a Python value: strings decoded, scalars unwrapped."""
    if data_type_name in CHAR_TYPES:
        raw = bytes(bytearray(int(b) & 0xFF for b in data))
        return raw.split(b"\0", 1)[0].decode("utf-8", "replace")
    values = []
    for item in data:
        if isinstance(item, bytes):
            item = item.split(b"\0", 1)[0].decode("utf-8", "replace")
        elif hasattr(item, "item"):
            item = item.item()
        values.append(item)
    if len(values) == 1:
        return values[0]
    return values


def is_empty(value):
    return value is None or (isinstance(value, str) and value.strip() == "") or value == []


def read_pvs(prefix, names, timeout=2.0, environ=None):
    """Read prefix+name for each name. Returns (values by name, errors list of dicts)."""
    environ = environ or {}
    os.environ.update(environ)
    from caproto.threading.client import Context, SharedBroadcaster

    full_names = [prefix + name for name in names]
    values, errors = {}, []
    broadcaster = SharedBroadcaster()
    context = Context(broadcaster, timeout=timeout)
    deadline = time.monotonic() + timeout
    pvs = context.get_pvs(*full_names, timeout=timeout)
    for name, pv in zip(names, pvs):
        remaining = max(0.01, deadline - time.monotonic())
        try:
            pv.wait_for_connection(timeout=remaining)
        except Exception:  # caproto raises its own TimeoutError subclasses
            reason = ("PV %s did not answer within %.1f s (no Channel Access server found for it; "
                      "EPICS_CA_ADDR_LIST=%s, EPICS_CA_SERVER_PORT=%s)" % (
                          pv.name, timeout, os.environ.get("EPICS_CA_ADDR_LIST", "(unset)"),
                          os.environ.get("EPICS_CA_SERVER_PORT", "5064")))
            errors.append(error(pv.name, reason, pv=pv.name, name=name))
            continue
        try:
            response = pv.read(timeout=max(0.5, deadline - time.monotonic()))
        except Exception as exc:
            errors.append(error(pv.name, "reading PV %s failed: %s" % (pv.name, exc), pv=pv.name, name=name))
            continue
        value = decode_value(getattr(response.data_type, "name", str(response.data_type)), response.data)
        if is_empty(value):
            errors.append(error(pv.name, "PV %s is empty" % pv.name, pv=pv.name, name=name))
            continue
        values[name] = value
    # No disconnect: caproto's disconnect joins its client threads (about a second per context);
    # they are daemon threads and the module process exits right after.
    return values, errors


def check_values(values, safe_names, prefix=""):
    """Errors for every value in ``safe_names`` that cannot become a path or DM name."""
    errors = []
    for name in safe_names:
        if name not in values:
            continue
        value = values[name]
        problem = value_problem(prefix + name, value if isinstance(value, str) else str(value))
        if problem:
            errors.append(error(prefix + name, "refused: " + problem, pv=prefix + name, name=name))
    return errors


def run_module(module):
    """epics_pv_info: read, check, and exit."""
    params = module.params
    try:
        import caproto  # noqa: F401  pylint: disable=unused-import
    except ImportError:
        from ansible.module_utils.basic import missing_required_lib
        module.fail_json(msg=missing_required_lib("caproto"), exception=traceback.format_exc())
    environ = ca_environment(params["addr_list"], params["auto_addr_list"], params["server_port"], params["repeater_port"])
    unknown = [n for n in params["safe_names"] if n not in params["names"]]
    if unknown:
        module.fail_json(msg="safe_names not among names: %s" % ", ".join(unknown))
    values, errors = read_pvs(params["prefix"], params["names"], params["timeout"], environ)
    for refused in check_values(values, params["safe_names"], params["prefix"]):
        errors.append(refused)
        values.pop(refused["name"], None)
    result = {"changed": False, "pv_values": values,
              "pvs": {params["prefix"] + k: v for k, v in values.items()}, "errors": errors}
    if errors:
        module.fail_json(msg=reasons_text(errors), **result)
    module.exit_json(**result)
