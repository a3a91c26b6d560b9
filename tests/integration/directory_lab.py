"""The lab's slapd as the tests read it: bind over LDAPS with the lab CA, entries below a base as the hosts'
reader sees them, and an empty ou=people and ou=groups (as the directory's admin) before and after a test."""

import ssl

import pytest

ldap3 = pytest.importorskip("ldap3")


def password(path):
    with open(path) as handle:
        return handle.read().rstrip("\n")


def _bind(ep, dn, password_file):
    tls = ldap3.Tls(ca_certs_file=ep["ca_file"], validate=ssl.CERT_REQUIRED, valid_names=[ep["lab_host"]])
    conn = ldap3.Connection(ldap3.Server(ep["uri"], use_ssl=True, tls=tls), user=dn, password=password(password_file),
                            raise_exceptions=True)
    conn.bind()
    return conn


def entries(ep, base, search_filter="(objectClass=*)"):
    """{rdn value: {attribute: [values]}} of the entries below ``base``, read as the hosts' reader."""
    conn = _bind(ep, ep["reader_dn"], ep["reader_password_file"])
    conn.search(base, search_filter, ldap3.LEVEL, attributes=ldap3.ALL_ATTRIBUTES)
    found = {}
    for entry in conn.response:
        attrs = {k.lower(): [str(v) for v in (vals if isinstance(vals, list) else [vals])] for k, vals in entry["attributes"].items()}
        found[entry["dn"].split(",", 1)[0].split("=", 1)[1]] = attrs
    conn.unbind()
    return found


def clear(ep):
    conn = _bind(ep, ep["admin_dn"], ep["admin_password_file"])
    for base in (ep["users_base"], ep["groups_base"]):
        conn.search(base, "(objectClass=*)", ldap3.LEVEL, attributes=[])
        for entry in list(conn.response):
            conn.delete(entry["dn"])
    conn.unbind()


def add(ep, passwd_lines, group_lines):
    """A site's accounts already in the directory (as its admin): passwd and group lines as posixAccount and posixGroup entries."""
    conn = _bind(ep, ep["admin_dn"], ep["admin_password_file"])
    for line in passwd_lines:
        name, uid, gid, gecos, home, shell = (line.split(":")[i] for i in (0, 2, 3, 4, 5, 6))
        attrs = {"objectClass": ["top", "account", "posixAccount", "shadowAccount"], "uid": name, "cn": name, "uidNumber": uid,
                 "gidNumber": gid, "homeDirectory": home, "loginShell": shell}
        conn.add("uid=%s,%s" % (name, ep["users_base"]), attributes=dict(attrs, gecos=gecos) if gecos else attrs)
    for line in group_lines:
        name, gid, members = (line.split(":")[i] for i in (0, 2, 3))
        attrs = {"objectClass": ["top", "posixGroup"], "cn": name, "gidNumber": gid}
        conn.add("cn=%s,%s" % (name, ep["groups_base"]), attributes=dict(attrs, memberUid=members.split(",")) if members else attrs)
    conn.unbind()
