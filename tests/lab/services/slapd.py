"""OpenLDAP slapd (the Debian package) on every lab listen address: the directory of the identity sync's backend ldap.

Port 3389 takes ldap:// with StartTLS, port 6636 ldaps://; both serve the lab CA's server
certificate, and a simple bind without TLS is refused (olcSecurity). The schema is core,
cosine and nis (RFC 2307); the tree is dc=datasync,dc=lab with ou=people, ou=groups and
ou=services. Two service accounts:

- cn=datasync-sync writes entries under ou=people and ou=groups and nothing else; it can
  neither read nor write any userPassword, and reads without the size limit (paged);
- cn=host-reader reads people and groups (what SSSD or nslcd on the hosts bind as).

Their passwords are in 0600 files under .lab/slapd/. slapd drops to the openldap user (unless a
folder above the checkout keeps that user out). The
configuration is rebuilt (and the data wiped) only when the recipe below changes.
"""

import hashlib
import os
import pwd
import shutil
import subprocess

from tests.lab.ca import DNS_NAME, HOST_SYSTEM_BUNDLE
from tests.lab.supervisor import port_open

NAME = "slapd"
ORDER = 25
PORT = 6636
STARTTLS_PORT = 3389
SUFFIX = "dc=datasync,dc=lab"
PEOPLE = "ou=people," + SUFFIX
GROUPS = "ou=groups," + SUFFIX
SERVICES = "ou=services," + SUFFIX
ADMIN_DN = "cn=admin," + SUFFIX
SYNC_DN = "cn=datasync-sync," + SERVICES
READER_DN = "cn=host-reader," + SERVICES
SCHEMAS = ("core", "cosine", "nis")
# The lab hosts that read this directory (nslcd, tests/lab/hosts/provision.py); the others keep local files.
CLIENT_HOSTS = ("beamline1", "analysis1")
RECIPE = 1

CONFIG = """\
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {dir}/slapd.pid
olcTLSCACertificateFile: {dir}/tls/ca.pem
olcTLSCertificateFile: {dir}/tls/server.pem
olcTLSCertificateKeyFile: {dir}/tls/server.key
olcTLSProtocolMin: 3.3
olcSecurity: simple_bind=128
olcLogLevel: stats

dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

{schemas}
dn: olcDatabase={{-1}}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {{-1}}frontend
olcSizeLimit: 500

dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config
olcAccess: {{0}}to * by * none

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcDbDirectory: {dir}/data
olcSuffix: {suffix}
olcRootDN: {admin}
olcRootPW: {admin_hash}
olcDbMaxSize: 2147483648
olcDbIndex: objectClass eq
olcDbIndex: uid,cn,memberUid eq
olcDbIndex: uidNumber,gidNumber eq
olcDbIndex: member eq
olcLimits: {{0}}dn.exact="{sync}" size=unlimited time=unlimited
olcLimits: {{1}}dn.exact="{reader}" size=unlimited time=unlimited
olcAccess: {{0}}to attrs=userPassword by anonymous auth by * none
olcAccess: {{1}}to dn.subtree="{people}" by dn.exact="{sync}" write by dn.exact="{reader}" read by * none
olcAccess: {{2}}to dn.subtree="{groups}" by dn.exact="{sync}" write by dn.exact="{reader}" read by * none
olcAccess: {{3}}to dn.base="{suffix}" by dn.exact="{sync}" read by dn.exact="{reader}" read by * none
olcAccess: {{4}}to * by * none
"""

TREE = """\
dn: {suffix}
objectClass: dcObject
objectClass: organization
dc: datasync
o: datasync lab

dn: {people}
objectClass: organizationalUnit
ou: people

dn: {groups}
objectClass: organizationalUnit
ou: groups

dn: {services}
objectClass: organizationalUnit
ou: services

dn: {sync}
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: datasync-sync
description: the identity sync (globus_user_sync, globus_group_sync with backend ldap)
userPassword: {sync_hash}

dn: {reader}
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: host-reader
description: SSSD or nslcd on the lab hosts
userPassword: {reader_hash}
"""


def _reachable_by(account, folder):
    """Whether ``account`` may pass through every folder above ``folder`` (a checkout under a 0700 folder such as
    mktemp's keeps it out: slapd then keeps root's rights instead of failing with 'invalid config directory')."""
    parent = os.path.dirname(os.path.abspath(folder))
    while True:
        info = os.stat(parent)
        if info.st_uid == account.pw_uid:
            allowed = info.st_mode & 0o100
        elif info.st_gid == account.pw_gid:
            allowed = info.st_mode & 0o010
        else:
            allowed = info.st_mode & 0o001
        if not allowed:
            return False
        if parent == "/":
            return True
        parent = os.path.dirname(parent)


def _private(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


def _password_file(directory, name):
    path = os.path.join(directory, name)
    if not os.path.exists(path):
        _private(path, hashlib.sha256(os.urandom(32)).hexdigest()[:32] + "\n")
    return path


def _hash(path):
    """{SSHA} of the password in ``path`` (slappasswd -T reads it from the file, never from argv)."""
    with open(path) as handle:
        password = handle.read().rstrip("\n")
    work = path + ".plain"
    _private(work, password)
    try:
        return subprocess.run(["slappasswd", "-h", "{SSHA}", "-T", work], check=True, capture_output=True, text=True).stdout.strip()
    finally:
        os.unlink(work)


class Directory:
    """One slapd of the recipe above: its name (its folder under the lab), its two ports and its schemas
    (LDIF files under /etc/ldap/schema, without the suffix)."""

    def __init__(self, name, port, starttls_port, schemas):
        self.name = name
        self.port = port
        self.starttls_port = starttls_port
        self.schemas = schemas

    def _schemas(self):
        parts = []
        for name in self.schemas:
            with open("/etc/ldap/schema/%s.ldif" % name) as handle:
                parts.append(handle.read().strip() + "\n")
        return "\n".join(parts)

    def _recipe(self, lab):
        text = "%d %s %s" % (RECIPE, CONFIG, TREE) + "".join(self.schemas) + lab.ca()["cert_file"]
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def prepare(self, lab):
        directory = lab.ensure_dir(self.name, mode=0o750)
        owner = pwd.getpwnam("openldap")
        tls = os.path.join(directory, "tls")
        os.makedirs(tls, mode=0o750, exist_ok=True)
        paths = lab.ca()
        for source, target in ((paths["ca_file"], "ca.pem"), (paths["cert_file"], "server.pem"), (paths["key_file"], "server.key")):
            shutil.copyfile(source, os.path.join(tls, target))
            os.chmod(os.path.join(tls, target), 0o600 if target.endswith(".key") else 0o644)
        names = {"dir": directory, "suffix": SUFFIX, "people": PEOPLE, "groups": GROUPS, "services": SERVICES, "admin": ADMIN_DN,
                 "sync": SYNC_DN, "reader": READER_DN}
        passwords = {k: _password_file(directory, "%s.password" % k) for k in ("admin", "sync", "reader")}
        marker = os.path.join(directory, "recipe")
        current = open(marker).read().strip() if os.path.exists(marker) else None
        if current != self._recipe(lab) or not os.path.isdir(os.path.join(directory, "slapd.d")):
            for sub in ("slapd.d", "data"):
                shutil.rmtree(os.path.join(directory, sub), ignore_errors=True)
                os.makedirs(os.path.join(directory, sub), mode=0o700)
            config = CONFIG.format(schemas=self._schemas(), admin_hash=_hash(passwords["admin"]), **names)
            tree = TREE.format(sync_hash=_hash(passwords["sync"]), reader_hash=_hash(passwords["reader"]), **names)
            for name, text, database in (("config.ldif", config, "0"), ("tree.ldif", tree, "1")):
                _private(os.path.join(directory, name), text)
                subprocess.run(["slapadd", "-F", os.path.join(directory, "slapd.d"), "-n", database, "-l", os.path.join(directory, name)],
                               check=True, capture_output=True)
            _private(marker, self._recipe(lab) + "\n")
        # slapd (openldap) owns its configuration, data, TLS copies and pid file; the password files stay root's
        # (the collection's secret reader accepts only the running user's or root's files).
        for sub in ("slapd.d", "data", "tls"):
            for root, dirs, files in os.walk(os.path.join(directory, sub)):
                for name in [root] + [os.path.join(root, n) for n in dirs + files]:
                    os.lchown(name, owner.pw_uid, owner.pw_gid)
        os.lchown(directory, owner.pw_uid, owner.pw_gid)

    def host_client(self, lab):
        """How the client hosts read the directory: by the lab name over LDAPS, the certificate checked against
        their system store (which holds the lab CA), bound as the reader (its password made here if new)."""
        directory = lab.ensure_dir(self.name, mode=0o750)
        with open(_password_file(directory, "reader.password")) as handle:
            password = handle.read().rstrip("\n")
        return {"hosts": CLIENT_HOSTS, "uri": "ldaps://%s:%d/" % (DNS_NAME, self.port), "users_base": PEOPLE,
                "groups_base": GROUPS, "bind_dn": READER_DN, "password": password, "ca_file": HOST_SYSTEM_BUNDLE}

    def command(self, lab):
        urls = []
        for address in lab.listen_addresses():
            urls += ["ldap://%s:%d/" % (address, self.starttls_port), "ldaps://%s:%d/" % (address, self.port)]
        folder = lab.path(self.name)
        drop = ["-u", "openldap", "-g", "openldap"] if _reachable_by(pwd.getpwnam("openldap"), folder) else []
        return ["/usr/sbin/slapd", "-d", "stats"] + drop + ["-F", os.path.join(folder, "slapd.d"), "-h", " ".join(urls)]

    def ready(self, lab):
        return port_open(self.port) and port_open(self.starttls_port)

    def endpoints(self, lab):
        directory = lab.path(self.name)
        return {"host": "127.0.0.1", "lab_host": DNS_NAME, "port": self.port, "starttls_port": self.starttls_port,
                "uri": "ldaps://127.0.0.1:%d" % self.port, "lab_uri": "ldaps://%s:%d" % (DNS_NAME, self.port),
                "starttls_uri": "ldap://127.0.0.1:%d" % self.starttls_port, "suffix": SUFFIX, "users_base": PEOPLE,
                "groups_base": GROUPS, "schemas": list(self.schemas),
                "bind_dn": SYNC_DN, "bind_password_file": os.path.join(directory, "sync.password"),
                "reader_dn": READER_DN, "reader_password_file": os.path.join(directory, "reader.password"),
                "admin_dn": ADMIN_DN, "admin_password_file": os.path.join(directory, "admin.password"),
                "ca_file": lab.ca()["ca_file"]}


DIRECTORY = Directory(NAME, PORT, STARTTLS_PORT, SCHEMAS)
prepare = DIRECTORY.prepare
host_client = DIRECTORY.host_client
command = DIRECTORY.command
ready = DIRECTORY.ready
endpoints = DIRECTORY.endpoints
