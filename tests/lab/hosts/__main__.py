"""python -m tests.lab.hosts up [HOST...] | down [--wipe] | status | deps"""

from __future__ import annotations

import argparse
import os
import sys

from tests.lab.hosts.image import SUITES, ImageSpec
from tests.lab.hosts.lab import HostLab
from tests.lab.hosts.network import DEFAULT_HOSTS
from tests.lab.hosts.system_packages import ensure_host_tools


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tests.lab.hosts", description="The lab's booted hosts.")
    parser.add_argument("--suite", choices=SUITES, default="bookworm", help="Debian release of the hosts' image")
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="boot hosts (default: %s)" % " ".join(DEFAULT_HOSTS))
    up.add_argument("hosts", nargs="*", default=list(DEFAULT_HOSTS))
    down = commands.add_parser("down", help="stop every host and delete the lab bridge")
    down.add_argument("--wipe", action="store_true", help="also delete the hosts' folders (their disks)")
    commands.add_parser("status", help="host, address and state of each host")
    commands.add_parser("deps", help="install the Debian packages the lab needs (mmdebstrap, systemd-container)")
    args = parser.parse_args(argv)

    lab = HostLab(image=ImageSpec(suite=args.suite))
    if args.command == "up":
        # The hosts trust the lab CA and know the services' name, as in a lab the supervisor brings up.
        from tests.lab import ca
        from tests.lab.hosts.lab import lab_dir

        lab.ca_file = ca.ensure(lab_dir(), lab.network.controller_address)["ca_file"]
        lab.services = {ca.DNS_NAME: lab.network.controller_address}
    if args.command == "deps":
        ensure_host_tools()
    elif args.command == "up":
        lab.up(args.hosts)
        for name, address, state in lab.status():
            print("%-12s %-15s %s" % (name, address, state))
        print("log in: ssh -F %s HOST" % lab.ssh_config)
    elif args.command == "down":
        lab.down(wipe=args.wipe)
    elif args.command == "status":
        for name, address, state in lab.status():
            print("%-12s %-15s %s" % (name, address, state))
        if os.path.isfile(lab.image.record_path):
            record = lab.image.record()
            print("image %s: Debian %s, built in %s s on %s"
                  % (lab.image.key, record["suite"], record["build_seconds"], record["built_at"]))
        else:
            print("image %s (Debian %s) not built yet" % (lab.image.key, lab.image.suite))
    return 0


if __name__ == "__main__":
    sys.exit(main())
