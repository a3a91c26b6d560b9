"""A scratch corner of the lab's slapd for benchmarks: ``ou=bench-TAG,<suffix>`` holding ou=people and
ou=groups, made and written as the directory's admin, deleted with all it holds on the way out.

Not below the real ou=people and ou=groups: the lab hosts (SSSD) and the integration tests read those
one level down, and a benchmark's 20,000 accounts must never show there, even while it runs.
The sync account may write only the real bases, so the module binds as the admin here (its ACLs
cost nothing measurable next to the writes).

    with ScratchDirectory() as directory:
        module_args["ldap"] = directory.options
"""

from __future__ import annotations

import ssl
import uuid

WINDOW = 256  # deletes in flight


def _password(path):
    with open(path) as handle:
        return handle.read().rstrip("\n")


class ScratchDirectory:
    def __init__(self, lab=None):
        from tests.lab.supervisor import Lab

        self.endpoint = ep = (lab or Lab()).endpoints()["slapd"]
        self.top = "ou=bench-%s,%s" % (uuid.uuid4().hex[:8], ep["suffix"])
        self.bases = ["ou=people," + self.top, "ou=groups," + self.top]
        self.options = {"uri": ep["uri"], "ca_file": ep["ca_file"], "bind_dn": ep["admin_dn"], "bind_password_file": ep["admin_password_file"],
                        "users_base": self.bases[0], "groups_base": self.bases[1]}

    def _admin(self, strategy):
        import ldap3

        ep = self.endpoint
        tls = ldap3.Tls(ca_certs_file=ep["ca_file"], validate=ssl.CERT_REQUIRED, valid_names=[ep["lab_host"]])
        conn = ldap3.Connection(ldap3.Server(ep["uri"], use_ssl=True, tls=tls), user=ep["admin_dn"],
                                password=_password(ep["admin_password_file"]), client_strategy=strategy, raise_exceptions=False)
        conn.open()
        if not conn.bind():
            raise RuntimeError("slapd refused the admin bind: %s" % conn.result)
        return conn

    def __enter__(self):
        import ldap3

        conn = self._admin(ldap3.SYNC)
        try:
            for base in [self.top] + self.bases:
                if not conn.add(base, ["top", "organizationalUnit"], {"ou": base.split(",", 1)[0].split("=", 1)[1]}):
                    raise RuntimeError("cannot add %s: %s" % (base, conn.result))
        finally:
            conn.unbind()
        return self

    def __exit__(self, *exc_info):
        import ldap3

        conn = self._admin(ldap3.ASYNC)
        try:
            msgid = conn.search(self.top, "(objectClass=*)", ldap3.SUBTREE, attributes=["1.1"])
            response, _result = conn.get_response(msgid)
            dns = sorted((e["dn"] for e in response or [] if e.get("type") == "searchResEntry"), key=lambda dn: -dn.count(","))
            flight = []
            for dn in dns:  # deepest first; a level is finished before the one above it starts
                if flight and (len(flight) >= WINDOW or dn.count(",") < flight[-1][0]):
                    for _depth, sent in flight:
                        conn.get_response(sent)
                    flight = []
                flight.append((dn.count(","), conn.delete(dn)))
            for _depth, sent in flight:
                conn.get_response(sent)
        finally:
            conn.unbind()
        return False
