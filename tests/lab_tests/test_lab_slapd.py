"""The lab's slapd: TLS with the lab CA on both ports, no clear-text bind, and service accounts with only the rights
they need (the sync writes people and groups but never a password; the hosts' reader only reads)."""

import os
import ssl

import pytest

ldap3 = pytest.importorskip("ldap3")

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="slapd is started as root and drops to openldap")


def _password(path):
    with open(path) as handle:
        return handle.read().rstrip("\n")


def connect(ep, who, uri=None, start_tls=False, ca_file=None):
    tls = ldap3.Tls(ca_certs_file=ca_file or ep["ca_file"], validate=ssl.CERT_REQUIRED, valid_names=[ep["lab_host"]])
    uri = uri or ep["uri"]
    conn = ldap3.Connection(ldap3.Server(uri, use_ssl=uri.startswith("ldaps://"), tls=tls), user=ep[who + "_dn"],
                            password=_password(ep[who + "_password_file"]))
    conn.open()
    if start_tls:
        assert conn.start_tls()
    return conn


@pytest.fixture(params=["slapd", "slapd_rfc2307bis"])
def ep(lab, request):
    return lab.endpoints()[request.param]


def test_binds_need_tls_and_the_lab_ca(lab, ep):
    uris = [("ldaps://%s:%d" % (a, ep["port"]), False) for a in lab.listen_addresses()]
    uris += [("ldap://%s:%d" % (a, ep["starttls_port"]), True) for a in lab.listen_addresses()]
    for uri, start_tls in uris:
        conn = connect(ep, "reader", uri, start_tls)
        assert conn.bind(), (uri, conn.result)
        conn.unbind()
    clear = ldap3.Connection(ldap3.Server(ep["starttls_uri"]), user=ep["reader_dn"], password=_password(ep["reader_password_file"]))
    clear.open()
    assert not clear.bind() and clear.result["description"] == "confidentialityRequired"
    with pytest.raises(ldap3.core.exceptions.LDAPSocketOpenError, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        connect(ep, "reader", ca_file="/etc/ssl/certs/ca-certificates.crt")


def test_sync_account_writes_people_and_groups_but_no_password(ep):
    tls = ldap3.Tls(ca_certs_file=ep["ca_file"], validate=ssl.CERT_REQUIRED, valid_names=[ep["lab_host"]])
    conn = ldap3.Connection(ldap3.Server(ep["uri"], use_ssl=True, tls=tls), user=ep["bind_dn"], password=_password(ep["bind_password_file"]))
    assert conn.bind()
    dn = "uid=lab-acl-probe," + ep["users_base"]
    entry = {"objectClass": ["account", "posixAccount"], "uid": "lab-acl-probe", "cn": "probe", "uidNumber": "49999",
             "gidNumber": "49999", "homeDirectory": "/nonexistent"}
    try:
        assert conn.add(dn, attributes=entry), conn.result
        assert not conn.modify(dn, {"userPassword": [(ldap3.MODIFY_REPLACE, ["guess"])]})
        assert conn.result["description"] == "insufficientAccessRights"
        assert not conn.add("uid=lab-acl-probe," + ep["suffix"], attributes=entry)  # outside the two bases
        conn.search(ep["suffix"], "(userPassword=*)", attributes=["userPassword"])
        assert conn.entries == []  # the service accounts' hashes are invisible
    finally:
        conn.delete(dn)
    reader = connect(ep, "reader")
    assert reader.bind()
    assert not reader.modify(ep["users_base"], {"description": [(ldap3.MODIFY_REPLACE, ["x"])]})
    assert reader.result["description"] == "insufficientAccessRights"


@pytest.mark.parametrize("name, accepted", [("slapd", False), ("slapd_rfc2307bis", True)])
def test_groups_of_names_with_posix_group_only_where_the_schema_is_rfc2307bis(lab, name, accepted):
    """The nis schema makes posixGroup structural, so it cannot join groupOfNames; rfc2307bis makes it auxiliary."""
    ep = lab.endpoints()[name]
    conn = connect(ep, "bind")
    assert conn.bind()
    dn = "cn=lab-schema-probe," + ep["groups_base"]
    entry = {"objectClass": ["groupOfNames", "posixGroup"], "cn": "lab-schema-probe", "gidNumber": "49998", "member": [dn]}
    try:
        assert conn.add(dn, attributes=entry) is accepted, conn.result
        if not accepted:
            assert conn.result["description"] == "objectClassViolation", conn.result
    finally:
        conn.delete(dn)
        conn.unbind()
