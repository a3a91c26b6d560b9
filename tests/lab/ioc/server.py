"""A caproto Channel Access IOC serving the TomoScan user PVs for the prefixes in a seed.

Run as `python -m tests.lab.ioc.server --seed tests/lab/seeds/ioc.yml`; the server port and
the repeater port come from EPICS_CA_SERVER_PORT / EPICS_CA_REPEATER_PORT. The PVs are
writable, so tests set them with a Channel Access put (tests/lab/ioc/client.py).
"""

from __future__ import annotations

import argparse
import threading

import yaml
from caproto import ChannelType
from caproto.server import PVGroup, pvproperty, run

# PV suffix -> maximum length; long ones are CHAR waveforms, as in TomoScan.
STRING_PVS = [
    "ExperimentYearMonth", "UserName", "UserLastName", "UserEmail", "UserBadge",
    "UserInstitution", "ProposalNumber", "ESAFNumber", "ESAFDOINumber", "UserInfoUpdate",
]
LONG_STRING_PVS = ["ProposalTitle"]


def build_group_class():
    attrs = {}
    for suffix in STRING_PVS:
        attrs[suffix] = pvproperty(name=suffix, value="", dtype=ChannelType.STRING, max_length=40)
    for suffix in LONG_STRING_PVS:
        attrs[suffix] = pvproperty(name=suffix, value="", string_encoding="utf-8", max_length=256)
    return type("TomoScanUserPVs", (PVGroup,), attrs)


def build_pvdb(seed):
    group_class = build_group_class()
    pvdb = {}
    for prefix, values in (seed.get("prefixes") or {}).items():
        group = group_class(prefix=prefix)
        for suffix, value in (values or {}).items():
            prop = group.attr_pvdb[suffix]
            prop._data["value"] = str(value)
        pvdb.update(group.pvdb)
    return pvdb


def start_repeater():
    from caproto.sync import repeater

    thread = threading.Thread(target=repeater.run, kwargs={"host": "127.0.0.1"}, daemon=True, name="repeater")
    thread.start()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", required=True)
    parser.add_argument("--bind", action="append", default=None, help="interface address (repeatable; default 127.0.0.1)")
    args = parser.parse_args()
    with open(args.seed) as handle:
        seed = yaml.safe_load(handle) or {}
    start_repeater()
    run(build_pvdb(seed), interfaces=args.bind or ["127.0.0.1"])


if __name__ == "__main__":
    main()
