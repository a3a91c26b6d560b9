# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Accounts in an LDAP directory (the ``backend: ldap`` of the identity sync). Private to sciops.datasync: not a public API.

``DirectoryAccounts`` has the methods of ``accounts.PosixAccounts`` and the same ``AccountDatabase``
view, so plan and apply do not know which backend they drive:

- users are ``account`` + ``posixAccount`` + ``shadowAccount`` entries ``uid=NAME,<users_base>``;
  the lock is ``shadowExpire: 1`` with the nologin shell (SSSD's shadow expire policy and
  pam_unix through nslcd refuse an expired account on every host reading the directory);
  no password is ever written;
- groups are ``posixGroup`` entries ``cn=NAME,<groups_base>`` with ``memberUid`` (RFC 2307), or
  ``groupOfNames`` + ``posixGroup`` with ``member`` DNs (rfc2307bis; the directory needs that
  schema). ``groupOfNames`` must have a member: an empty group holds its own DN, never read back;
- a private group per user (``private_group``) is a group entry of the user's name.

The connection is TLS only (``ldaps://`` or StartTLS), with the server's certificate verified
against ``ca_file`` (or the system CAs) and its name checked; the bind password comes from a
file read by ``_core.secrets`` (the one secret reader). Operations are sent without waiting
for each reply (LDAP allows many outstanding requests on one connection) and their results
collected afterwards, so a batch of 20,000 adds costs one round trip per window, not per entry.
Homes are made on this host under ``root``, as the files backend makes them.

ldap3 (pure Python) is the client: python-ldap only ships as source that needs libldap headers
to build, and the hosts install their job virtualenv from binary wheels (docs/gosync.md).
"""

from __future__ import annotations

import os
import ssl

from ansible_collections.sciops.datasync.plugins.module_utils._identity.accounts import (
    AccountDatabase, AccountError, GroupEntry, PasswdEntry, PosixAccounts, ShadowEntry)
from ansible_collections.sciops.datasync.plugins.module_utils._identity.directory_options import ascii_gecos, settings_problem

try:
    import ldap3
    from ldap3.core.exceptions import LDAPException
    from ldap3.utils.conv import escape_filter_chars
    from ldap3.utils.dn import escape_rdn
    HAS_LDAP3 = True
except ImportError:  # reported by check_library()
    HAS_LDAP3 = False
    LDAPException = Exception

USER_CLASSES = ["top", "account", "posixAccount", "shadowAccount"]
USER_ATTRS = ["uid", "uidNumber", "gidNumber", "gecos", "homeDirectory", "loginShell", "shadowExpire"]
USER_ID_ATTRS = ["uid", "uidNumber", "gidNumber", "homeDirectory"]
PAGE = 1000
WINDOW = 256  # requests in flight at once


class DirectoryError(AccountError):
    """The directory cannot be reached, refuses the bind, or refuses a change."""


def connect(settings, password):
    """A bound ldap3 connection (asynchronous strategy) from the ``ldap`` options; raises DirectoryError."""
    if not HAS_LDAP3:
        raise DirectoryError("backend=ldap needs the Python library ldap3 in the Python that runs the module")
    problem = settings_problem(settings)
    if problem:
        raise DirectoryError(problem)
    # Entries come back as plain dicts (read through _attributes): ldap3's case-insensitive dict folds a key on every
    # access, a fifth of the time a 40,000-entry read takes. Process-wide, and this process reads no other directory.
    ldap3.set_config_parameter("CASE_INSENSITIVE_ATTRIBUTE_NAMES", False)
    tls = _VerifiedTls(settings.get("ca_file"), settings.get("validate_certs", True))
    uri = settings["uri"]
    try:
        server = ldap3.Server(uri, use_ssl=uri.lower().startswith("ldaps://"), tls=tls, get_info=ldap3.NONE,
                              connect_timeout=settings.get("timeout") or 30)
        # check_names off: with no schema read (get_info NONE) it checks nothing, yet costs a DN parse per request
        # and a formatter lookup per attribute value read.
        conn = ldap3.Connection(server, user=settings["bind_dn"], password=password, client_strategy=ldap3.ASYNC,
                                auto_bind=ldap3.AUTO_BIND_NONE, receive_timeout=settings.get("timeout") or 30,
                                raise_exceptions=False, read_only=False, check_names=False)
        conn.open()
        if settings.get("start_tls") and not conn.start_tls():
            raise DirectoryError("StartTLS with %s failed: %s" % (uri, (conn.result or {}).get("description") or conn.last_error or "no answer"))
        if not conn.bind():
            why = (conn.result or {}).get("description") or conn.last_error or "no answer"
            raise DirectoryError("the directory %s refused the bind as %s: %s" % (uri, settings["bind_dn"], why))
    except LDAPException as exc:
        raise DirectoryError("cannot reach the directory %s: %s" % (uri, exc))
    return conn


if HAS_LDAP3:
    class _VerifiedTls(ldap3.Tls):
        """TLS 1.2+ with Python's own certificate and name check (ldap3's name check misses IP address SANs)."""

        def __init__(self, ca_file, validate):
            super().__init__(validate=ssl.CERT_REQUIRED if validate else ssl.CERT_NONE, ca_certs_file=ca_file)
            self.checked = validate

        def wrap_socket(self, connection, do_handshake=False):
            context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.ca_certs_file)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            if not self.checked:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            connection.socket = context.wrap_socket(connection.socket, server_hostname=connection.server.host,
                                                    do_handshake_on_connect=do_handshake)
            connection.tls_started = True  # ldap3 reads it: a second StartTLS is refused, referrals keep TLS
            return True


def _die_with(parent):
    """End this child when ``parent`` dies: it shares the run lock's flock (inherited by fork), so it must not hold
    the lock after a killed run (PR_SET_PDEATHSIG on Linux)."""
    import ctypes  # pylint: disable=import-outside-toplevel
    import signal  # pylint: disable=import-outside-toplevel

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        os._exit(1)


def _bound(settings, password, root="/", nologin_shell="/usr/sbin/nologin"):
    """``DirectoryAccounts`` on a connection bound with the ``ldap`` options."""
    return DirectoryAccounts(connect(settings, password), settings["users_base"], settings["groups_base"],
                             settings.get("group_schema", "rfc2307"), root, nologin_shell)


def _read_in_child(send, parent, settings, password, view):
    """The child's side of ``DirectoryReading``: one ("ok", (db, user DNs, group DNs)) or ("error", message) down
    ``send``; never a traceback on the module's output."""
    _die_with(parent)
    try:
        reader = _bound(settings, password)
        db = reader.read(**view)
        db.group_reader = None  # bound to this connection: the parent attaches its own
        answer = ("ok", (db, reader._dns, reader._group_dns))  # pylint: disable=protected-access
        reader.close()
    except AccountError as exc:
        answer = ("error", str(exc))
    except Exception as exc:  # pylint: disable=broad-except  # its text could hold what the server sent back
        answer = ("error", "the directory read failed (%s)" % type(exc).__name__)
    send.send(answer)
    send.close()


class DirectoryReading:
    """``DirectoryAccounts.read`` in a forked child process, started at once; ``result()`` waits for it.

    Decoding 40,000 entries is seconds of pure-Python CPU (ldap3). In a thread it takes turns with the Globus
    responses the parent parses at the same time; a child process decodes on another core. The parent then binds
    its own connection for the changes. Where fork is missing the read happens in ``result()``.
    """

    def __init__(self, settings, password, root="/", nologin_shell="/usr/sbin/nologin", **view):
        import multiprocessing  # pylint: disable=import-outside-toplevel

        self.settings, self.password, self.root, self.nologin_shell, self.view = settings, password, root, nologin_shell, view
        self._receive = self._child = None
        if "fork" in multiprocessing.get_all_start_methods():
            context = multiprocessing.get_context("fork")
            self._receive, send = context.Pipe(duplex=False)
            self._child = context.Process(target=_read_in_child, args=(send, os.getpid(), settings, password, view),
                                          daemon=True)
            self._child.start()
            send.close()

    def _answer(self):
        try:
            return self._receive.recv()
        except EOFError:
            return "error", "the directory reader ended without an answer (exit code %s)" % self._child.exitcode
        finally:
            self._receive.close()
            self._child.join()

    def result(self):
        """(``DirectoryAccounts`` bound in this process, the ``AccountDatabase`` read); raises DirectoryError."""
        answer = self._answer() if self._child is not None else None
        if answer is not None and answer[0] != "ok":
            raise DirectoryError(answer[1])
        backend = _bound(self.settings, self.password, self.root, self.nologin_shell)
        if answer is None:
            return backend, backend.read(**self.view)
        db, backend._dns, backend._group_dns = answer[1]  # pylint: disable=protected-access
        return backend, backend.attach(db, self.view.get("group_members", True))


class DirectoryAccounts:
    """Users and groups in an LDAP directory; homes on this host under ``root``."""

    def __init__(self, conn, users_base, groups_base, group_schema="rfc2307", root="/", nologin_shell="/usr/sbin/nologin"):
        self.conn = conn
        self.users_base = users_base
        self.groups_base = groups_base
        self.group_schema = group_schema
        self.root = root
        self.nologin_shell = nologin_shell
        self._homes = PosixAccounts(None, root, nologin_shell)
        self._dns = {}  # user name -> DN as read (entries made elsewhere may use another RDN)
        self._group_dns = {}

    # -- protocol --------------------------------------------------------------
    def _wait(self, msgid, what):
        """(entries, result) of a request sent earlier; raises DirectoryError when the connection failed."""
        try:
            response, result = self.conn.get_response(msgid)
        except LDAPException as exc:
            raise DirectoryError("%s: the directory did not answer: %s" % (what, exc))
        return response or [], result or {}

    @staticmethod
    def _failure(result, what):
        if result.get("result") == 0:
            return None
        return "%s: %s%s" % (what, result.get("description") or "error %s" % result.get("result"),
                             (" (%s)" % result["message"]) if result.get("message") else "")

    def _one(self, send, what):
        """Send one request, wait for it, raise DirectoryError when it failed."""
        try:
            msgid = send()
        except LDAPException as exc:
            raise DirectoryError("%s: %s" % (what, exc))
        problem = self._failure(self._wait(msgid, what)[1], what)
        if problem:
            raise DirectoryError(problem)

    def _pipeline(self, requests):
        """Send ``(key, what, send)`` requests with up to WINDOW in flight; returns {key: problem} of those that failed."""
        failures = {}
        flight = []
        for key, what, send in requests:
            try:
                flight.append((key, what, send()))
            except LDAPException as exc:
                failures[key] = "%s: %s" % (what, exc)
            if len(flight) >= WINDOW:
                self._land(flight, failures)
        self._land(flight, failures)
        return failures

    def _land(self, flight, failures):
        while flight:
            key, what, msgid = flight.pop(0)
            problem = self._failure(self._wait(msgid, what)[1], what)
            if problem and key not in failures:
                failures[key] = problem

    def _search(self, base, search_filter, attributes):
        """Every entry under ``base`` (paged); a missing base or a refused search raises DirectoryError."""
        entries, cookie = [], None
        while True:
            what = "search %s" % base
            try:
                msgid = self.conn.search(base, search_filter, ldap3.SUBTREE, attributes=attributes, paged_size=PAGE, paged_cookie=cookie)
            except LDAPException as exc:
                raise DirectoryError("%s: %s" % (what, exc))
            response, result = self._wait(msgid, what)
            problem = self._failure(result, what)
            if problem:
                raise DirectoryError(problem)
            entries.extend(e for e in response if e.get("type") == "searchResEntry")
            cookie = ((result.get("controls") or {}).get("1.2.840.113556.1.4.319") or {}).get("value", {}).get("cookie")
            if not cookie:
                return entries

    # -- names -----------------------------------------------------------------
    def user_dn(self, name):
        return self._dns.get(name) or "uid=%s,%s" % (escape_rdn(name), self.users_base)

    def group_dn(self, name):
        return self._group_dns.get(name) or "cn=%s,%s" % (escape_rdn(name), self.groups_base)

    # -- reading ---------------------------------------------------------------
    def ensure_databases(self):
        """Nothing to create: the base DNs are the directory administrator's (a missing one fails the read)."""
        return False

    def read(self, user_details=True, group_members=True, groups=True):
        """The directory as an ``AccountDatabase``. Without ``user_details`` users hold names, ids and homes only (no
        gecos, shell or lock: the group sync needs no more); without ``group_members`` groups hold no members (the user
        sync never looks at them); without ``groups`` they are read when first looked at (``attach``). Each attribute
        or entry left out is one less to decode."""
        self._dns, self._group_dns = {}, {}
        users, shadow = self._read_users(USER_ATTRS if user_details else USER_ID_ATTRS)
        return self.attach(AccountDatabase(users, self._read_groups(group_members) if groups else None, shadow), group_members)

    def attach(self, db, group_members=True):
        """``db`` (read here or by a ``DirectoryReading`` child), its groups read through this connection if they are
        looked at and were not read yet."""
        db.group_reader = lambda: self._read_groups(group_members)
        return db

    def _read_users(self, attributes):
        users, shadow = [], []
        for entry in self._search(self.users_base, "(objectClass=posixAccount)", attributes):
            attrs = _attributes(entry)
            name, uid, gid = _first(attrs, "uid"), _number(attrs, "uidNumber"), _number(attrs, "gidNumber")
            if not name or uid is None or gid is None:
                continue
            self._dns.setdefault(name, entry["dn"])
            users.append(PasswdEntry(name, "x", uid, gid, _first(attrs, "gecos") or "", _first(attrs, "homeDirectory") or "",
                                     _first(attrs, "loginShell") or ""))
            expire = _first(attrs, "shadowExpire")
            shadow.append(ShadowEntry(name, "x", "", "", "", "", "", "" if expire is None else str(expire), ""))
        return users, shadow

    def _read_groups(self, with_members):
        """Group entries; rfc2307bis member DNs become the names of the users read before (others are dropped)."""
        dn_name = {dn.lower(): name for name, dn in self._dns.items()}
        groups = []
        member_attr = "member" if self.group_schema == "rfc2307bis" else "memberUid"
        for entry in self._search(self.groups_base, "(objectClass=posixGroup)", ["cn", "gidNumber"] + ([member_attr] if with_members else [])):
            attrs = _attributes(entry)
            name, gid = _first(attrs, "cn"), _number(attrs, "gidNumber")
            if not name or gid is None:
                continue
            self._group_dns.setdefault(name, entry["dn"])
            values = _all(attrs, member_attr)
            if member_attr == "member":
                members = [dn_name[v.lower()] for v in values if v.lower() in dn_name]
            else:
                members = values
            groups.append(GroupEntry(name, "x", gid, members))
        return groups

    # -- entries ---------------------------------------------------------------
    def _user_attributes(self, user):
        attrs = {"objectClass": USER_CLASSES, "uid": user.name, "cn": user.name, "uidNumber": str(user.uid), "gidNumber": str(user.gid),
                 "homeDirectory": user.home, "loginShell": user.shell}
        gecos = ascii_gecos(user.gecos)
        if gecos:
            attrs["gecos"] = gecos
        return attrs

    def _group_attributes(self, name, gid, members):
        if self.group_schema == "rfc2307bis":
            dns = [self.user_dn(m) for m in members] or [self.group_dn(name)]
            return {"objectClass": ["top", "groupOfNames", "posixGroup"], "cn": name, "gidNumber": str(gid), "member": dns}
        attrs = {"objectClass": ["top", "posixGroup"], "cn": name, "gidNumber": str(gid)}
        if members:
            attrs["memberUid"] = list(members)
        return attrs

    def create_batch(self, users=(), groups=(), db=None):
        """Create new users (with their private groups) and groups, pipelined; returns {name: error}.

        Groups and private groups go first so a user's primary group exists when the user appears on a
        host. Each add's own result is the check: an LDAP add succeeds whole with the attributes sent or
        not at all (an existing name is an error), so nothing is read back (the files backend reads back
        because systemd-sysusers skips an existing name and still succeeds).
        """
        users, groups = list(users), list(groups)
        if db is None:
            db = self.read()
        add = self.conn.add
        requests = [(g.name, "add group %s" % g.name, _sender(add, self.group_dn(g.name), attributes=self._group_attributes(g.name, g.gid, g.members)))
                    for g in groups]
        requests += [(u.name, "add group %s" % u.name, _sender(add, self.group_dn(u.name), attributes=self._group_attributes(u.name, u.gid, [])))
                     for u in users if u.private_group and u.name not in db.groups]
        errors = self._pipeline(requests)
        requests = [(u.name, "add user %s" % u.name, _sender(add, self.user_dn(u.name), attributes=self._user_attributes(u)))
                    for u in users if u.name not in errors]
        errors.update(self._pipeline(requests))
        return errors

    def add_user(self, user, db=None):
        failures = self.create_batch([user], db=db)
        if failures:
            raise DirectoryError(failures[user.name])

    def _modify(self, dn, changes, what):
        self._one(_sender(self.conn.modify, dn, changes), what)

    def modify_user(self, name, gecos=None, home=None, shell=None, gid=None):
        changes = {}
        if gecos is not None:
            changes["gecos"] = [(ldap3.MODIFY_REPLACE, [ascii_gecos(gecos)] if ascii_gecos(gecos) else [])]
        if shell is not None:
            changes["loginShell"] = [(ldap3.MODIFY_REPLACE, [shell])]
        if home is not None:
            changes["homeDirectory"] = [(ldap3.MODIFY_REPLACE, [home])]
        if gid is not None:
            changes["gidNumber"] = [(ldap3.MODIFY_REPLACE, [str(gid)])]
        if changes:
            self._modify(self.user_dn(name), changes, "modify user %s" % name)

    def lock_user(self, name):
        """Expired since day 1 of 1970 and the nologin shell: every host reading the directory refuses the login."""
        self._modify(self.user_dn(name), {"shadowExpire": [(ldap3.MODIFY_REPLACE, ["1"])],
                                          "loginShell": [(ldap3.MODIFY_REPLACE, [self.nologin_shell])]}, "lock user %s" % name)

    def unlock_user(self, name, shell):
        self._modify(self.user_dn(name), {"shadowExpire": [(ldap3.MODIFY_REPLACE, [])],
                                          "loginShell": [(ldap3.MODIFY_REPLACE, [shell])]}, "unlock user %s" % name)

    def remove_user(self, name):
        """Delete the entry, drop it from every group, and delete its private group (as userdel does); homes stay.
        Reads only the entries involved (a departure costs a few requests, not a read of the directory)."""
        dn = self.user_dn(name)
        entry = self._entry(dn, ["gidNumber"])
        self._one(_sender(self.conn.delete, dn), "remove user %s" % name)
        member_attr, value = ("member", dn) if self.group_schema == "rfc2307bis" else ("memberUid", name)
        for group in self._search(self.groups_base, "(&(objectClass=posixGroup)(%s=%s))" % (member_attr, escape_filter_chars(value)),
                                  ["cn", "gidNumber", member_attr]):
            attrs = _attributes(group)
            rest = [v for v in _all(attrs, member_attr) if v.lower() != value.lower()]
            if not rest and member_attr == "member":  # a groupOfNames keeps a member: its own DN, never read back
                change = [(ldap3.MODIFY_REPLACE, [group["dn"]])]
            else:  # the server matches the value by the attribute's own rule (a DN by its meaning, not its spelling)
                change = [(ldap3.MODIFY_DELETE, [value])]
            self._modify(group["dn"], {member_attr: change}, "drop %s from group %s" % (name, _first(attrs, "cn")))
        private = self._entry(self.group_dn(name), ["gidNumber", member_attr])
        if entry is not None and private is not None and _number(private, "gidNumber") == _number(entry, "gidNumber") \
                and not [v for v in _all(private, member_attr) if v.lower() not in (value.lower(), self.group_dn(name).lower())]:
            self.remove_group(name)

    def _entry(self, dn, attributes):
        """The attributes of the entry ``dn`` (lower-cased names), or None when there is none."""
        what = "read %s" % dn
        try:
            msgid = self.conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=attributes)
        except LDAPException as exc:
            raise DirectoryError("%s: %s" % (what, exc))
        response, result = self._wait(msgid, what)
        if result.get("result") == 32:  # noSuchObject
            return None
        problem = self._failure(result, what)
        if problem:
            raise DirectoryError(problem)
        found = [e for e in response if e.get("type") == "searchResEntry"]
        return _attributes(found[0]) if found else None

    def add_group(self, name, gid):
        self._one(_sender(self.conn.add, self.group_dn(name), attributes=self._group_attributes(name, gid, [])), "add group %s" % name)

    def rename_group(self, old, new):
        dn = self.group_dn(old)
        self._one(_sender(self.conn.modify_dn, dn, "cn=%s" % escape_rdn(new), delete_old_dn=True), "rename group %s to %s" % (old, new))
        self._group_dns.pop(old, None)
        self._group_dns[new] = "cn=%s,%s" % (escape_rdn(new), dn.split(",", 1)[1]) if "," in dn else self.group_dn(new)

    def set_group_members(self, name, members, append=False):
        if self.group_schema == "rfc2307bis":
            values = [self.user_dn(m) for m in members] or [self.group_dn(name)]
            attr = "member"
        else:
            values, attr = list(members), "memberUid"
        if append:
            current = self._entry(self.group_dn(name), [attr]) or {}
            have = {v.lower() for v in _all(current, attr)}
            values = [v for v in values if v.lower() not in have] if members else []
            if not values:
                return
            change = [(ldap3.MODIFY_ADD, values)]
        else:
            change = [(ldap3.MODIFY_REPLACE, values)]
        self._modify(self.group_dn(name), {attr: change}, "set members of group %s" % name)

    def remove_group(self, name):
        self._one(_sender(self.conn.delete, self.group_dn(name)), "remove group %s" % name)

    # -- homes (on this host, as the files backend makes them) ---------------------
    def create_home(self, home, uid, gid, skeleton=None, mode=0o750):
        return self._homes.create_home(home, uid, gid, skeleton, mode)

    def close(self):
        try:
            self.conn.unbind()
        except LDAPException:
            pass


def _sender(method, *args, **kwargs):
    return lambda: method(*args, **kwargs)


def _attributes(entry):
    """A search entry's attributes by lower-cased name (names are case-insensitive; ``connect`` has ldap3 return plain dicts).
    Empty ones are left out: ldap3 adds each attribute asked for and not returned, in the spelling asked for."""
    return {name.lower(): values for name, values in entry["attributes"].items() if values not in (None, [], "")}


def _text(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _all(attrs, key):
    value = attrs.get(key.lower())
    if value is None:
        return []
    return [_text(v) for v in (value if isinstance(value, list) else [value])]


def _first(attrs, key):
    value = attrs.get(key.lower())
    if isinstance(value, list):
        value = value[0] if value else None
    return None if value is None else _text(value)


def _number(attrs, key):
    try:
        return int(_first(attrs, key))
    except (TypeError, ValueError):
        return None
