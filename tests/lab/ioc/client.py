"""Test helpers: read and put the lab IOC's PVs over Channel Access (caproto sync client)."""

from __future__ import annotations

import os

from tests.lab.ioc.server import LONG_STRING_PVS

CA_ENV_KEYS = ("EPICS_CA_ADDR_LIST", "EPICS_CA_AUTO_ADDR_LIST", "EPICS_CA_SERVER_PORT", "EPICS_CA_REPEATER_PORT")


def _apply_env(env):
    for key in CA_ENV_KEYS:
        if key in env:
            os.environ[key] = str(env[key])


def put_pvs(env, prefix, values, timeout=3.0):
    """Write string values (suffix -> value) to prefix+suffix and wait for completion."""
    from caproto.sync.client import write

    _apply_env(env)
    for suffix, value in values.items():
        if suffix in LONG_STRING_PVS:
            data = list(str(value).encode("utf-8")) + [0]
            write(prefix + suffix, data, notify=True, timeout=timeout)
        else:
            write(prefix + suffix, str(value), notify=True, timeout=timeout)


def get_pv(env, name, timeout=3.0):
    from caproto.sync.client import read

    _apply_env(env)
    response = read(name, timeout=timeout)
    data = response.data
    if response.data_type in (4, 11, 18, 25, 32):  # CHAR variants
        return bytes(bytearray(data)).split(b"\0")[0].decode("utf-8")
    value = data[0]
    return value.decode("utf-8") if isinstance(value, bytes) else value
