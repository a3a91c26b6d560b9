"""Lab hosts: the inventory's hosts as systemd-nspawn containers on a private bridge.

One cached Debian image (image.py) is the read-only lower layer of every host; each
host boots from its own overlay (overlay.py) with its own name, machine id, sshd keys
and address (provision.py), as a background `systemd-nspawn --boot` (machine.py), on
a bridge the lab creates (bridge.py). HostLab (lab.py) ties them together for the CLI
in __main__.py: `python -m tests.lab.hosts up|down|status`.
"""
