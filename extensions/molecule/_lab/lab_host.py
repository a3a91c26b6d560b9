"""Boot and remove a molecule scenario's lab hosts (systemd-nspawn, tests/lab/hosts).

    python extensions/molecule/_lab/lab_host.py up   --scenario S --bridge BR --subnet NET [--suite SUITE] HOST...
    python extensions/molecule/_lab/lab_host.py down --scenario S --bridge BR --subnet NET

Each scenario gets a lab of its own, apart from a lab a developer has up (`make lab-up`, bridge
dslab0) and from the integration tests' (dslabtest0): its folder <lab>/molecule/<scenario>
(<lab> is DATASYNC_LAB_DIR or <repo>/.lab), its bridge and its subnet, named in the scenario's
molecule.yml. The folder is fixed, so a run that was killed is cleaned up by the next create or
destroy. `up` boots the hosts from the cached image, makes sure the wheelhouse for the image's
Python is built, and prints one JSON object: per host its address and the admin's SSH key, the
lab's known_hosts, the wheelhouse and the controller's address on the bridge.
`down` stops every host, removes the bridge and deletes the folder.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, REPO)

from tests.lab.hosts.image import SUITES, ImageSpec  # noqa: E402 pylint: disable=wrong-import-position
from tests.lab.hosts.lab import HostLab, lab_dir  # noqa: E402 pylint: disable=wrong-import-position
from tests.lab.hosts.network import LabNetwork  # noqa: E402 pylint: disable=wrong-import-position
from tests.lab.hosts.wheelhouse import SUITE_PYTHON, ensure_wheelhouse  # noqa: E402 pylint: disable=wrong-import-position


def scenario_lab(scenario, bridge, subnet, suite):
    if not scenario.replace("_", "").isalnum():
        raise SystemExit("bad scenario name %r" % scenario)
    if bridge in ("dslab0", "dslabtest0") or len(bridge) > 15:
        raise SystemExit("bridge %r: use a name of its own, at most 15 characters" % bridge)
    return HostLab(os.path.join(lab_dir(), "molecule", scenario), LabNetwork(bridge, subnet), ImageSpec(suite=suite))


def log(message):
    print(message, file=sys.stderr)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("command", choices=("up", "down"))
    parser.add_argument("hosts", nargs="*")
    parser.add_argument("--scenario", required=True)
    parser.add_argument("--bridge", required=True)
    parser.add_argument("--subnet", required=True)
    parser.add_argument("--suite", choices=SUITES, default="bookworm")
    args = parser.parse_intermixed_args(argv)
    lab = scenario_lab(args.scenario, args.bridge, args.subnet, args.suite)
    if args.command == "down":
        lab.down(wipe=True, log=log)
        return 0
    python = SUITE_PYTHON[args.suite]
    wheelhouse = ensure_wheelhouse(python, log)  # before booting: a first build downloads for a while
    lab.down(wipe=True, log=log)  # every run starts from the image, whatever a killed run left
    lab.up(args.hosts, log=log)
    print(json.dumps({
        "instances": [{"instance": name, "address": lab.host(name).address, "user": lab.admin_user, "port": 22,
                       "identity_file": lab.admin_key} for name in args.hosts],
        "known_hosts": lab.known_hosts,
        "ssh_config": lab.ssh_config,
        "controller_address": lab.network.controller_address,
        "python": python,
        "wheelhouse": wheelhouse,
        "state_dir": lab.state_dir,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
