"""Lab hosts: the inventory's hosts as systemd-nspawn containers on a private bridge.

One cached Debian image (image.py) is the read-only lower layer of every host; each
host boots from its own overlay (overlay.py) with its own name, machine id, sshd keys
and address (provision.py), as a background `systemd-nspawn --boot` (machine.py), on
a bridge the lab creates (bridge.py). HostLab (lab.py) ties them together for the CLI
in __main__.py: `python -m tests.lab.hosts up|down|status` (`make lab-hosts-up`, ...).

State lives in <lab>/hosts/ (<repo>/.lab unless DATASYNC_LAB_DIR is set): one folder per
host, the admin's key pair, and the known_hosts and ssh_config that reach the hosts with
host keys checked (`ssh -F .lab/hosts/ssh_config portal1`). A host's disk (its overlay's
upper layer) survives down/up, as a rebooted machine's would; `down --wipe` deletes it.
"""
