"""State of the Globus emulator: clients, tokens, identities, groups, collections, ACLs, tasks.

Everything lives in one dict (``State.data``) guarded by ``State.lock`` and is written
atomically (temp file, fsync, rename) to ``state.json`` by a background saver whenever it
changed. Seeds are YAML (see README.md); seed entries are added once: an entry a test
deleted later is not re-added on restart.
"""

from __future__ import annotations

import datetime
import json
import os
import secrets
import shutil
import tempfile
import threading
import time
import uuid

import yaml

NAMESPACE = uuid.UUID("5b0c3a52-6f7c-4a0e-9d7e-1c1f0d6a7b10")
RS_AUTH = "auth.globus.org"
RS_GROUPS = "groups.api.globus.org"
RS_TRANSFER = "transfer.api.globus.org"
CLIENT_DOMAIN = "clients.auth.globus.org"
SCHEMA_VERSION = 1

DEFAULT_POLICIES = {
    "is_high_assurance": False,
    "authentication_assurance_timeout": 28800,
    "group_visibility": "private",
    "group_members_visibility": "managers",
    "join_requests": False,
    "signup_fields": [],
}
ROLES = ("member", "manager", "admin")
STATUSES = ("active", "invited", "pending", "rejected", "removed", "left", "declined")


def stable_id(*parts):
    return str(uuid.uuid5(NAMESPACE, "/".join(str(p) for p in parts)))


def iso(ts):
    """Transfer / Groups style timestamp: 2026-11-23T01:02:03+00:00."""
    if ts is None:
        return None
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).replace(microsecond=0).isoformat()


def ls_time(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S+00:00")


def parse_time(text):
    """Parse an ISO-ish timestamp (naive = UTC) into epoch seconds; raise ValueError."""
    text = str(text).strip().replace(" ", "T", 1)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    value = datetime.datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    return value.timestamp()


def empty_state():
    return {
        "schema": "sciops-lab-globus",
        "version": SCHEMA_VERSION,
        "seeded": [],
        "clients": {},
        "identities": {},
        "groups": {},
        "collections": {},
        "acl": {},
        "tasks": {},
        "submissions": {},
        "tokens": {},
        "notifications": [],
        "timers": {},
        "config": {
            "clock_offset": 0.0,
            "transfer_rate": None,
            "client_rates": {},
            "client_page_sizes": {},
            "page_size": 100,
            "token_lifetime": 172800,
            "max_active": 3,
        },
    }


class State:
    def __init__(self, directory, seed=None):
        self.directory = os.path.abspath(directory)
        self.path = os.path.join(self.directory, "state.json")
        self.collections_dir = os.path.join(self.directory, "collections")
        os.makedirs(self.collections_dir, exist_ok=True)
        self.lock = threading.RLock()
        self.dirty = False
        self.seed_path = seed
        self._by_username = None
        self.data = self._load()
        if seed:
            self.apply_seed(seed)
        self.save()

    # ---- persistence -------------------------------------------------------------------
    def _load(self):
        try:
            with open(self.path) as handle:
                data = json.load(handle)
            if data.get("version") != SCHEMA_VERSION:
                raise ValueError("schema version %r" % data.get("version"))
        except FileNotFoundError:
            return empty_state()
        except (OSError, ValueError) as exc:
            broken = self.path + ".broken-%d" % int(time.time())
            os.replace(self.path, broken)
            print("globus lab: state unusable (%s), kept as %s, starting fresh" % (exc, broken), flush=True)
            return empty_state()
        base = empty_state()
        for key, value in base.items():
            data.setdefault(key, value)
        for key, value in base["config"].items():
            data["config"].setdefault(key, value)
        return data

    def mark(self):
        self.dirty = True

    def save(self):
        with self.lock:
            blob = json.dumps(self.data, separators=(",", ":"), sort_keys=True)
            self.dirty = False
        fd, tmp = tempfile.mkstemp(prefix=".state.", dir=self.directory)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(blob)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        dfd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    def saver(self, interval=0.5):
        while True:
            time.sleep(interval)
            if self.dirty:
                try:
                    self.save()
                except OSError as exc:
                    print("globus lab: cannot save state: %s" % exc, flush=True)

    # ---- clock -------------------------------------------------------------------------
    def now(self):
        return time.time() + float(self.data["config"].get("clock_offset") or 0)

    # ---- lookups -----------------------------------------------------------------------
    def identity_by_username(self, username):
        if self._by_username is None:
            self._by_username = {i["username"].lower(): i for i in self.data["identities"].values()}
        return self._by_username.get(username.lower())

    def identity_doc(self, identity_id):
        return self.data["identities"].get(identity_id)

    def client_identity_id(self, client_id):
        return client_id

    # ---- creation helpers (used by seeds and admin routes) ------------------------------
    def add_client(self, client_id=None, secret=None, name=None):
        client_id = client_id or str(uuid.uuid4())
        secret = secret or secrets.token_urlsafe(24)
        self._by_username = None
        self.data["clients"][client_id] = {"id": client_id, "secret": secret, "name": name or "lab client"}
        self.data["identities"][client_id] = {
            "id": client_id,
            "username": "%s@%s" % (client_id, CLIENT_DOMAIN),
            "name": name or "lab client",
            "email": None,
            "organization": None,
            "identity_provider": stable_id("idp", CLIENT_DOMAIN),
            "identity_type": "client",
            "status": "used",
        }
        self.mark()
        return self.data["clients"][client_id]

    def add_identity(self, username, identity_id=None, name=None, email=None, organization=None, status="used",
                     identity_provider=None):
        identity_id = identity_id or stable_id("identity", username.lower())
        domain = username.rsplit("@", 1)[-1] if "@" in username else "unknown"
        self._by_username = None
        self.data["identities"][identity_id] = {
            "id": identity_id,
            "username": username,
            "name": name,
            "email": email,
            "organization": organization,
            "identity_provider": identity_provider or stable_id("idp", domain.lower()),
            "identity_type": "login",
            "status": status,
        }
        self.mark()
        return self.data["identities"][identity_id]

    def resolve_identity(self, ref):
        """An identity id, a username, or a client id -> identity id (or None)."""
        if ref in self.data["identities"]:
            return ref
        found = self.identity_by_username(str(ref))
        return found["id"] if found else None

    def add_group(self, name, group_id=None, description="", parent_id=None, policies=None, now=None):
        group_id = group_id or stable_id("group", name)
        merged = dict(DEFAULT_POLICIES)
        merged.update(policies or {})
        self.data["groups"][group_id] = {
            "id": group_id,
            "name": name,
            "description": description or "",
            "parent_id": parent_id,
            "group_type": "regular",
            "enforce_session": False,
            "session_limit": None,
            "session_timeout": None,
            "terms_and_conditions": None,
            "policies": merged,
            "session_timeouts": {},
            "memberships": {},
            "created": now or self.now(),
        }
        self.mark()
        return self.data["groups"][group_id]

    def set_membership(self, group, identity_id, role="member", status="active", fields=None, when=None):
        when = when or self.now()
        identity = self.data["identities"][identity_id]
        previous = group["memberships"].get(identity_id)
        group["memberships"][identity_id] = {
            "identity_id": identity_id,
            "username": identity["username"],
            "role": role,
            "status": status,
            "membership_fields": dict(fields if fields is not None else (previous or {}).get("membership_fields", {})),
            "invite_time": (previous or {}).get("invite_time") or (when if status == "invited" else None),
            "updated": when,
        }
        self.mark()
        return group["memberships"][identity_id]

    def add_collection(self, display_name, owner_id, collection_id=None, folder=None, entity_type="GCSv5_guest_collection",
                       description=""):
        collection_id = collection_id or stable_id("collection", display_name)
        folder = folder or collection_id
        root = os.path.join(self.collections_dir, folder)
        os.makedirs(root, exist_ok=True)
        self.data["collections"][collection_id] = {
            "id": collection_id,
            "display_name": display_name,
            "owner_id": owner_id,
            "entity_type": entity_type,
            "host_endpoint_id": stable_id("host-endpoint", "lab"),
            "folder": folder,
            "description": description,
            "roles": {},
        }
        self.data["acl"].setdefault(collection_id, {})
        self.mark()
        return self.data["collections"][collection_id]

    def collection_root(self, collection):
        return os.path.join(self.collections_dir, collection["folder"])

    def add_acl(self, collection_id, principal_type, principal, path, permissions, rule_id=None, notify_email=None):
        rule_id = rule_id or str(uuid.uuid4())
        self.data["acl"].setdefault(collection_id, {})[rule_id] = {
            "DATA_TYPE": "access",
            "id": rule_id,
            "principal_type": principal_type,
            "principal": principal,
            "path": path,
            "permissions": permissions,
            "role_id": None,
            "role_type": None,
            "create_time": iso(self.now()),
            "expiration_date": None,
            "notify_email": notify_email,
        }
        self.mark()
        return self.data["acl"][collection_id][rule_id]

    # ---- seeds -------------------------------------------------------------------------
    def apply_seed(self, path):
        with open(path) as handle:
            text = handle.read()
        try:
            seed = json.loads(text)  # large generated seeds are JSON (a subset of YAML) for speed
        except ValueError:
            seed = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
        seeded = set(self.data["seeded"])

        def once(key):
            if key in seeded:
                return False
            seeded.add(key)
            return True

        with self.lock:
            for client in seed.get("clients", []):
                if once("client:" + client["id"]):
                    self.add_client(client["id"], client["secret"], client.get("name"))
            for ident in seed.get("identities", []):
                key = "identity:" + (ident.get("id") or ident["username"])
                if once(key):
                    self.add_identity(ident["username"], ident.get("id"), ident.get("name"), ident.get("email"),
                                      ident.get("organization"), ident.get("status", "used"))
            for group in seed.get("groups", []):
                gid = group.get("id") or stable_id("group", group["name"])
                if not once("group:" + gid):
                    continue
                parent = group.get("parent")
                parent_id = None
                if parent:
                    parent_id = parent if parent in self.data["groups"] else stable_id("group", parent)
                created = self.add_group(group["name"], gid, group.get("description", ""), parent_id, group.get("policies"))
                for member in group.get("members", []):
                    ref = member.get("identity") or member.get("username") or member.get("client")
                    identity_id = self.resolve_identity(ref)
                    if identity_id is None:
                        raise ValueError("seed group %s: unknown member %r" % (group["name"], ref))
                    self.set_membership(created, identity_id, member.get("role", "member"), member.get("status", "active"),
                                        member.get("membership_fields", {}))
            for coll in seed.get("collections", []):
                cid = coll.get("id") or stable_id("collection", coll["display_name"])
                if not once("collection:" + cid):
                    continue
                owner = self.resolve_identity(coll["owner"])
                if owner is None:
                    raise ValueError("seed collection %s: unknown owner %r" % (coll["display_name"], coll["owner"]))
                created = self.add_collection(coll["display_name"], owner, cid, coll.get("folder"),
                                              coll.get("entity_type", "GCSv5_guest_collection"), coll.get("description", ""))
                root = self.collection_root(created)
                for rel, content in (coll.get("files") or {}).items():
                    target = os.path.join(root, rel.lstrip("/"))
                    if rel.endswith("/"):
                        os.makedirs(target, exist_ok=True)
                        continue
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    with open(target, "w") as handle:
                        handle.write(content if content is not None else "")
                for rule in coll.get("acl", []):
                    principal = rule.get("principal", "")
                    if rule.get("principal_type", "identity") in ("identity", "group") and principal:
                        resolved = self.resolve_identity(principal) if rule.get("principal_type", "identity") == "identity" else (
                            principal if principal in self.data["groups"] else stable_id("group", principal))
                        principal = resolved or principal
                    self.add_acl(cid, rule.get("principal_type", "identity"), principal, rule.get("path", "/"),
                                 rule.get("permissions", "r"), rule.get("id"))
            self.data["seeded"] = sorted(seeded)
            self.mark()

    def reset(self, seed=None):
        with self.lock:
            shutil.rmtree(self.collections_dir, ignore_errors=True)
            os.makedirs(self.collections_dir, exist_ok=True)
            config = self.data["config"]
            self.data = empty_state()
            self._by_username = None
            self.data["config"]["page_size"] = config.get("page_size", 100)
            if seed or self.seed_path:
                self.apply_seed(seed or self.seed_path)
            self.mark()
