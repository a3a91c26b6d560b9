# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pre-flight checks of the Globus app a job uses. Private to sciops.datasync: not a public API.

Rows, in order (a failed token skips the rest: without a token nothing else can be seen):

- ``Globus token``: a new token (no token cache) for each service the job uses, with the
  client secret from its file (``_globus.clients``): a wrong secret fails here;
- ``Globus root group role``: the app's active role on the root group; reading every
  member's identity needs ``manager`` or ``admin``;
- per collection ``Globus list``: ``operation_ls`` of the folder (or its nearest existing
  parent, when the job makes the folder itself);
- ``Globus make folder`` (access ``write`` or ``manage``): a probe folder made there and
  deleted again (a delete task, waited for); not in check mode;
- ``Globus manage access`` (access ``manage``): the collection's access rules can be listed,
  which needs the access manager or administrator role the job's shares use.

Every Globus failure is described by ``_globus.errors`` (service, HTTP status, code,
message, request id); the client secret is scrubbed from all of it.
"""

from __future__ import annotations

import uuid

from ansible_collections.sciops.datasync.plugins.module_utils._globus.clients import GlobusConfigError, clients_from_params
from ansible_collections.sciops.datasync.plugins.module_utils._globus.errors import describe_error
from ansible_collections.sciops.datasync.plugins.module_utils._globus.folders import (
    FolderError,
    access_problem,
    ensure_directory,
    normalize_dir,
    parent_dir,
)
from ansible_collections.sciops.datasync.plugins.module_utils._preflight.rows import failed, ok, skipped

TOKEN = "Globus token"
ROLE = "Globus root group role"
LIST = "Globus list"
WRITE = "Globus make folder"
MANAGE = "Globus manage access"
PROBE_PREFIX = ".datasync-preflight-"
DELETE_WAIT = 30


class GlobusChecks:
    """The Globus rows of one job: ``options`` is the module's ``globus`` option."""

    def __init__(self, options, check_mode):
        self.options = options
        self.check_mode = check_mode
        self.clients = None
        self.secret = None

    def _describe(self, exc, service):
        return describe_error(exc, service, self.secret)

    def services(self):
        wanted = []
        if self.options.get("root_group"):
            wanted.append("groups")
        if self.options.get("collections"):
            wanted.append("transfer")
        return wanted

    def token_row(self):
        item = "client %s" % self.options["client_id"]
        fix_secret = ("put the app's current client secret in %s (Globus web app: Settings > Developers > the app)"
                      % self.options.get("client_secret_file"))
        try:
            self.clients = clients_from_params(self.options)
        except GlobusConfigError as exc:
            return failed(TOKEN, item, str(exc), fix_secret)
        self.secret = self.clients.secret
        services = self.services()
        for service in services:
            try:
                getattr(self.clients, service)
            except Exception as exc:  # pylint: disable=broad-except
                text = self._describe(exc, "auth")
                if "401" in text or "invalid_client" in text or "unauthorized" in text.lower():
                    fix = fix_secret
                else:
                    fix = "check that this host reaches Globus Auth with TLS verified (GLOBUS_SDK_* environment, CA store)"
                return failed(TOKEN, item, "no %s token: %s" % (service, text), fix)
        return ok(TOKEN, item, "tokens for %s" % ", ".join(services) if services else "secret read")

    def role_row(self, group_id):
        item = "group %s" % group_id
        app = self.clients.username
        try:
            doc = getattr(self.clients.groups.get_group(group_id, include=["my_memberships"]), "data", None) or {}
        except Exception as exc:  # pylint: disable=broad-except
            return failed(ROLE, item, self._describe(exc, "groups"),
                          "add %s to the group as a manager (a group it is not in is invisible to it)" % app)
        roles = sorted({m.get("role") for m in doc.get("my_memberships") or [] if m.get("status") == "active" and m.get("role")})
        name = doc.get("name") or group_id
        item = "group %s (%s)" % (name, group_id)
        if not {"admin", "manager"} & set(roles):
            return failed(ROLE, item, "the app %s is %s in the group: it cannot read every member" % (
                app, "a " + "/".join(roles) if roles else "not an active member"),
                "make %s a manager of group %s" % (app, name))
        return ok(ROLE, item, "the app is %s" % "/".join(roles))

    def collection_rows(self, collection):
        cid, name = collection["id"], collection.get("name") or collection["id"]
        path = normalize_dir(collection.get("path") or "/")
        access = collection.get("access") or "read"
        transfer = self.clients.transfer
        app = self.clients.username
        item = "%s %s:%s" % (name, cid, path)
        rows = []
        try:
            missing = ensure_directory(transfer, cid, path, app, check_mode=True, name=name)
            folder = parent_dir(missing[0]) if missing else path
            transfer.operation_ls(cid, path=folder, limit=1)
        except Exception as exc:  # pylint: disable=broad-except
            text = str(exc) if isinstance(exc, FolderError) else (
                access_problem(exc, cid, path, app, "read") or self._describe(exc, "transfer"))
            rows.append(failed(LIST, item, text, "give %s read access to %s on collection %s (an access rule or role)" % (app, path, name)))
            return rows + [skipped(check, item, "the folder could not be listed") for check in self._more_checks(access)]
        where = path if not missing else "%s (%s is made by the job)" % (folder, path)
        rows.append(ok(LIST, item, "listed %s" % where))
        if access in ("write", "manage"):
            rows.append(self._probe_row(transfer, cid, folder, item, app, name))
        if access == "manage":
            try:
                transfer.endpoint_acl_list(cid)
            except Exception as exc:  # pylint: disable=broad-except
                rows.append(failed(MANAGE, item, access_problem(exc, cid, path, app, "access manager") or self._describe(exc, "transfer"),
                                   "give %s the access manager role on collection %s" % (app, name)))
            else:
                rows.append(ok(MANAGE, item, "access rules readable"))
        return rows

    @staticmethod
    def _more_checks(access):
        return {"read": [], "write": [WRITE], "manage": [WRITE, MANAGE]}[access]

    def _probe_row(self, transfer, cid, folder, item, app, name):
        if self.check_mode:
            return skipped(WRITE, item, "check mode: no probe folder made")
        probe = "%s%s%s/" % (folder, PROBE_PREFIX, uuid.uuid4().hex[:12])
        fix = "give %s write access to %s on collection %s (an access rule with permissions rw, or a role)" % (app, folder, name)
        try:
            transfer.operation_mkdir(cid, probe)
        except Exception as exc:  # pylint: disable=broad-except
            return failed(WRITE, item, access_problem(exc, cid, folder, app, "write") or self._describe(exc, "transfer"), fix)
        try:
            deleted, text = self._delete(transfer, cid, probe)
        except Exception as exc:  # pylint: disable=broad-except
            deleted, text = False, self._describe(exc, "transfer")
        if not deleted:
            return failed(WRITE, item, "made %s but could not delete it: %s" % (probe, text),
                          "delete %s by hand and give %s delete access there" % (probe, app))
        return ok(WRITE, item, "made and deleted %s (%s)" % (probe, text))

    @staticmethod
    def _delete(transfer, cid, probe):
        """(deleted, what happened) for the probe folder, by a delete task waited for."""
        import globus_sdk  # pylint: disable=import-outside-toplevel

        data = globus_sdk.DeleteData(cid, recursive=True, label="datasync preflight probe",
                                     submission_id=transfer.get_submission_id()["value"])
        data.add_item(probe)
        task_id = transfer.submit_delete(data)["task_id"]
        if not transfer.task_wait(task_id, timeout=DELETE_WAIT, polling_interval=1):
            return False, "delete task %s still running after %d s" % (task_id, DELETE_WAIT)
        status = transfer.get_task(task_id)["status"]
        return status == "SUCCEEDED", "delete task %s %s" % (task_id, status)

    def rows(self):
        first = self.token_row()
        rows = [first]
        later = []
        if self.options.get("root_group"):
            later.append((ROLE, "group %s" % self.options["root_group"], lambda: [self.role_row(self.options["root_group"])]))
        for collection in self.options.get("collections") or []:
            item = "%s %s:%s" % (collection.get("name") or collection["id"], collection["id"], normalize_dir(collection.get("path") or "/"))
            checks = [LIST] + self._more_checks(collection.get("access") or "read")
            later.append((checks, item, lambda c=collection: self.collection_rows(c)))
        for check, item, run in later:
            if first["result"] != "ok":
                rows += [skipped(c, item, "no Globus token") for c in ([check] if isinstance(check, str) else check)]
            else:
                rows += run()
        return rows
