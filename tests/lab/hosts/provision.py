"""What makes one overlay root a particular host: name, machine id, sshd key, address, admin key, /etc/hosts,
and (when the lab has one) the lab CA in the host's system trust store.

Everything is written into the host's merged root before it boots. The machine id and
the sshd key are made once, on first setup, and kept while the host's folder lives.
"""

from __future__ import annotations

import os
import subprocess

from tests.lab.hosts.keys import ensure_host_key

NETWORK_FILE = "etc/systemd/network/10-lab.network"
# Where a site puts its own CA on Debian; update-ca-certificates adds it to /etc/ssl/certs.
CA_FILE = "usr/local/share/ca-certificates/datasync-lab-ca.crt"


def _write(root, relative, text, mode=0o644):
    path = os.path.join(root, relative)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, mode)
    return path


def _account_ids(root, user):
    with open(os.path.join(root, "etc/passwd"), encoding="utf-8") as handle:
        for line in handle:
            fields = line.split(":")
            if fields[0] == user:
                return int(fields[2]), int(fields[3]), fields[5]
    raise KeyError("no user %s in %s/etc/passwd" % (user, root))


def _ensure_machine_id(root):
    path = os.path.join(root, "etc/machine-id")
    with open(path, encoding="utf-8") as handle:
        if handle.read().strip():
            return
    machine_id = subprocess.run(["systemd-id128", "new"], capture_output=True, text=True, check=True).stdout
    _write(root, "etc/machine-id", machine_id.strip() + "\n", 0o444)


def _network(address, prefix_length):
    # host0 is the container's end of the veth that systemd-nspawn --network-bridge creates.
    return ("[Match]\nName=host0\n\n[Network]\nAddress=%s/%d\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n"
            % (address, prefix_length))


def _authorize(root, user, public_key):
    uid, gid, home = _account_ids(root, user)
    ssh_dir = os.path.join(home.lstrip("/"), ".ssh")
    os.makedirs(os.path.join(root, ssh_dir), mode=0o700, exist_ok=True)
    keys = _write(root, os.path.join(ssh_dir, "authorized_keys"), public_key + "\n", 0o600)
    for path in (os.path.dirname(keys), keys):
        os.chown(path, uid, gid)


def hosts_file(hostname, addresses, services=None):
    """/etc/hosts: localhost, the host's own name, the other lab hosts, and services ({name: address}: the lab's
    service names, such as services.lab on the controller's bridge address)."""
    lines = ["127.0.0.1\tlocalhost\n", "127.0.1.1\t%s\n" % hostname, "::1\tlocalhost ip6-localhost ip6-loopback\n"]
    lines += ["%s\t%s\n" % (address, name) for name, address in sorted(addresses.items()) if name != hostname]
    lines += ["%s\t%s\n" % (address, name) for name, address in sorted((services or {}).items())]
    return "".join(lines)


def provision(root, hostname, address, prefix_length, admin_user, admin_public_key, lab_addresses, services=None,
              ca_file=None):
    _write(root, "etc/hostname", hostname + "\n")
    _ensure_machine_id(root)
    ensure_host_key(root, hostname)
    _write(root, NETWORK_FILE, _network(address, prefix_length))
    _authorize(root, admin_user, admin_public_key)
    # Lingering keeps the admin's user manager running between the deploy's many short SSH sessions: in
    # a container, stopping it between two sessions can hang ("Processes still around after final
    # SIGKILL") and the next login then waits for it, past ansible's become timeout.
    _write(root, os.path.join("var/lib/systemd/linger", admin_user), "")
    write_hosts_file(root, hostname, lab_addresses, services)
    install_ca(root, ca_file)


def write_hosts_file(root, hostname, lab_addresses, services=None):
    _write(root, "etc/hosts", hosts_file(hostname, lab_addresses, services))


def install_ca(root, ca_file, run=None):
    """Put the lab CA into the host's system store as a site installs its own CA; True when it changed.

    ca_file None removes it. run(argv) runs a command inside the host (a running host); by default
    update-ca-certificates runs in a chroot of the (not yet booted) root.
    """
    target = os.path.join(root, CA_FILE)
    wanted = None
    if ca_file:
        with open(ca_file, encoding="utf-8") as handle:
            wanted = handle.read()
    try:
        with open(target, encoding="utf-8") as handle:
            current = handle.read()
    except FileNotFoundError:
        current = None
    if current == wanted:
        return False
    if wanted is None:
        os.unlink(target)
    else:
        _write(root, CA_FILE, wanted)
    command = ["update-ca-certificates", "--fresh"]
    if run is None:
        subprocess.run(["chroot", root, *command], check=True, capture_output=True, text=True,
                       env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"})
    else:
        run(command)
    return True


# A host that reads the lab's directory: nslcd (NSS and PAM through one daemon, no cache, so a change in the
# directory shows at once), the LDAP accounts after the local files, and directory users' keys where the site's
# key provisioning puts them (their homes do not exist before pam_mkhomedir makes them at the first login).
NSLCD_CONF = "etc/nslcd.conf"
NSSWITCH = "etc/nsswitch.conf"
SSHD_DIRECTORY_CONF = "etc/ssh/sshd_config.d/lab-directory.conf"
KEYS_FOLDER = "etc/ssh/authorized_keys"
NSS_MAPS = ("passwd", "group", "shadow")


def nslcd_conf(directory):
    """nslcd.conf for a directory {uri, users_base, groups_base, bind_dn, password, ca_file}: LDAPS with the
    certificate verified, the reader's bind, and accounts below uid 1000 never taken from the directory."""
    lines = ["uid nslcd", "gid nslcd", "uri %s" % directory["uri"],
             "base passwd %s" % directory["users_base"], "base shadow %s" % directory["users_base"],
             "base group %s" % directory["groups_base"],
             "binddn %s" % directory["bind_dn"], "bindpw %s" % directory["password"],
             "tls_reqcert demand", "tls_cacertfile %s" % directory["ca_file"],
             "nss_min_uid 1000", "nss_initgroups_ignoreusers ALLLOCAL"]
    return "".join(line + "\n" for line in lines)


def nsswitch_with_ldap(text):
    out = []
    for line in text.splitlines():
        name, sources = line.split(":", 1) if ":" in line else (line, "")
        if name.strip() in NSS_MAPS and "ldap" not in sources.split():
            line = "%s ldap" % line.rstrip()
        out.append(line + "\n")
    return "".join(out)


def _read(root, relative):
    try:
        with open(os.path.join(root, relative), encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def install_directory_client(root, directory, run=None):
    """Make the host read users, groups and shadow (the lock: shadowExpire) from the directory; True when it
    changed. run(argv) runs a command inside a running host; by default the root is not booted yet."""
    wanted = {NSLCD_CONF: (nslcd_conf(directory), 0o600),
              NSSWITCH: (nsswitch_with_ldap(_read(root, NSSWITCH) or ""), 0o644),
              SSHD_DIRECTORY_CONF: ("AuthorizedKeysFile .ssh/authorized_keys /%s/%%u\n" % KEYS_FOLDER, 0o644)}
    changed = [path for path, (text, mode) in wanted.items()
               if _read(root, path) != text or os.stat(os.path.join(root, path)).st_mode & 0o777 != mode]
    for path in changed:
        # nslcd reads its configuration as root before it drops to the nslcd user: the bind password stays root's.
        _write(root, path, *wanted[path])
        os.chown(os.path.join(root, path), 0, 0)
    os.makedirs(os.path.join(root, KEYS_FOLDER), mode=0o755, exist_ok=True)
    pam = ["pam-auth-update", "--enable", "ldap", "mkhomedir"]
    if run is None:
        subprocess.run(["chroot", root, *pam], check=True, capture_output=True,
                       env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive"})
        subprocess.run(["systemctl", "--root", root, "enable", "nslcd.service"], check=True, capture_output=True)
        return bool(changed)
    run(["env", "DEBIAN_FRONTEND=noninteractive", *pam])
    run(["systemctl", "enable", "--now", "nslcd.service"])
    if NSLCD_CONF in changed:
        run(["systemctl", "restart", "nslcd.service"])
    if SSHD_DIRECTORY_CONF in changed:
        run(["systemctl", "reload", "ssh.service"])
    return bool(changed)
