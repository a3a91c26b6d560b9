import pytest

from globus_fakes import ApiError

from ansible_collections.sciops.datasync.plugins.module_utils._experiment import directory as gd
from ansible_collections.sciops.datasync.plugins.module_utils._globus.identities import resolve_identities

GROUP = "44444444-4444-4444-8444-444444444444"
ALICE = "55555555-5555-4555-8555-555555555555"
BOB = "66666666-6666-4666-8666-666666666666"


def rule(rule_id, principal_type, principal, path="/share/", permissions="r"):
    return {"id": rule_id, "principal_type": principal_type, "principal": principal, "path": path, "permissions": permissions}


def test_identity_lookups_skip_uuids_and_duplicates():
    shares = [{"identity": "alice@example.org"}, {"identity": ALICE}, {"identity": "alice@example.org"}, {"group": GROUP}]
    assert gd.identity_lookups(shares) == ["alice@example.org"]


def test_desired_rules_refuse_by_name():
    shares = [{"identity": "alice@example.org", "permissions": "rw"}, {"identity": "nobody@example.org"},
              {"group": "not-a-group"}, {"identity": "x", "group": GROUP}, {"all_authenticated_users": True},
              {"identity": BOB, "permissions": "w"}]
    rules, errors = gd.desired_rules(shares, "/share/", {"alice@example.org": ALICE})
    assert [(r["principal_type"], r["principal"], r["permissions"]) for r in rules] == [
        ("identity", ALICE, "rw"), ("all_authenticated_users", "", "r")]
    assert len(errors) == 4
    reasons = [e["reason"] for e in errors]
    assert "nobody@example.org" in reasons[0] and "not-a-group" in reasons[1] and "exactly one" in reasons[2] and "'w'" in reasons[3]
    assert [e["item"] for e in errors] == ["nobody@example.org", "group not-a-group", "identity x", "identity %s" % BOB]


def test_plan_adds_missing_and_keeps_others():
    existing = [rule("r1", "identity", BOB), rule("r2", "identity", ALICE, path="/other/")]
    wanted = [{"principal_type": "identity", "principal": ALICE, "path": "/share/", "permissions": "r"}]
    plan = gd.plan_rules(existing, wanted, "/share/")
    assert [r["principal"] for r in plan["add"]] == [ALICE] and plan["delete"] == []


def test_plan_is_idempotent_and_replaces_changed_permissions():
    existing = [rule("r1", "identity", ALICE), rule("r3", "group", GROUP, permissions="r")]
    wanted = [{"principal_type": "identity", "principal": ALICE, "path": "/share/", "permissions": "r"},
              {"principal_type": "group", "principal": GROUP, "path": "/share/", "permissions": "rw"}]
    plan = gd.plan_rules(existing, wanted, "/share/")
    assert [r["id"] for r in plan["delete"]] == ["r3"] and [r["permissions"] for r in plan["add"]] == ["rw"]
    assert gd.plan_rules(existing, wanted[:1], "/share/") == {"add": [], "delete": [], "keep": [existing[0]]}


def test_plan_exact_removes_unrequested_rules_on_the_path_only():
    existing = [rule("r1", "identity", ALICE), rule("r2", "identity", BOB), rule("r4", "identity", BOB, path="/else/")]
    wanted = [{"principal_type": "identity", "principal": ALICE, "path": "/share/", "permissions": "r"}]
    plan = gd.plan_rules(existing, wanted, "/share/", exact=True)
    assert [r["id"] for r in plan["delete"]] == ["r2"] and plan["add"] == []


def test_plan_absent_removes_named_rules():
    existing = [rule("r1", "identity", ALICE, permissions="rw"), rule("r2", "identity", BOB)]
    wanted = [{"principal_type": "identity", "principal": ALICE, "path": "/share/", "permissions": "r"}]
    plan = gd.plan_rules(existing, wanted, "/share/", state="absent")
    assert [r["id"] for r in plan["delete"]] == ["r1"] and plan["add"] == []


class Auth:
    def get_identities(self, usernames):
        return {"identities": [{"id": ALICE, "username": "alice@globusid.org", "email": "Alice@Example.org"}]}


def test_resolve_identities_by_username_or_email():
    found, unknown = resolve_identities(Auth(), ["alice@globusid.org", "alice@example.org", "carol@example.org"], fields=("username", "email"))
    assert found == {"alice@globusid.org": ALICE, "alice@example.org": ALICE} and unknown == ["carol@example.org"]


@pytest.mark.parametrize("path", ["relative", "/a/../b"])
def test_bad_path_is_refused(path):
    result = gd.manage_directory(None, None, gd.DirectoryRequest(ALICE, path, []))
    assert result["errors"] and not result["changed"]


class Stat(dict):
    @property
    def data(self):
        return dict(self)


class Transfer:
    """An existing folder with the rules given; records every change."""

    def __init__(self, rules):
        self.rules = list(rules)
        self.deleted = []
        self.added = []

    def operation_stat(self, collection, path):
        return Stat(type="dir", name=path)

    def operation_mkdir(self, collection, path):
        raise ApiError(502, "ExternalError.MkdirFailed.Exists", "Path already exists")

    def endpoint_acl_list(self, collection):
        return list(self.rules)

    def delete_endpoint_acl_rule(self, collection, rule_id):
        self.deleted.append(rule_id)
        self.rules = [r for r in self.rules if r["id"] != rule_id]

    def add_endpoint_acl_rule(self, collection, document):
        self.added.append(document)
        self.rules.append(dict(document, id="new-%d" % len(self.added)))
        return {"code": "Created", "access_id": "new-%d" % len(self.added)}


def test_exact_with_a_refused_share_deletes_no_unasked_rule():
    """A typo in one share must not cost that person the access an existing rule gives them."""
    transfer = Transfer([rule("r1", "identity", ALICE), rule("r2", "identity", BOB)])
    shares = [{"identity": ALICE}, {"identity": "bob@exmaple.org"}, {"group": GROUP}]
    result = gd.manage_directory(transfer, Auth(), gd.DirectoryRequest(GROUP, "/share", shares, exact=True))
    assert transfer.deleted == [] and result["deleted_rules"] == []
    assert [d["principal"] for d in transfer.added] == [GROUP], "the shares that could be made are still made"
    assert any("bob@exmaple.org" in e["reason"] for e in result["errors"]) and any("exact" in e["reason"] for e in result["errors"])

    clean = gd.manage_directory(transfer, Auth(), gd.DirectoryRequest(GROUP, "/share", [{"identity": ALICE}], exact=True))
    assert clean["errors"] == [] and sorted(transfer.deleted) == sorted(["r2", "new-1"])


def role_row(principal, role="administrator"):
    return {"id": None, "principal_type": "identity", "principal": principal, "path": "/", "permissions": "rw",
            "role_id": "role-" + principal[:4], "role_type": role}


def test_role_rows_are_never_deleted_duplicated_or_compared():
    """Administrators and access managers have an implicit rw rule on / (id null): exact must leave them alone."""
    existing = [role_row(ALICE), role_row(BOB, "access_manager"), rule("r1", "identity", ALICE, path="/")]
    wanted = [{"principal_type": "identity", "principal": ALICE, "path": "/", "permissions": "rw"}]
    plan = gd.plan_rules(existing, wanted, "/", exact=True)
    assert [r["id"] for r in plan["delete"]] == ["r1"], "the explicit r rule is replaced, the role rows are left alone"
    assert [r["permissions"] for r in plan["add"]] == ["rw"], "a role row does not count as the rule asked for"
    transfer = Transfer(existing)
    rw_on_root = gd.DirectoryRequest(GROUP, "/", [{"identity": ALICE, "permissions": "rw"}], exact=True)
    result = gd.manage_directory(transfer, Auth(), rw_on_root)
    assert transfer.deleted == ["r1"] and not result["errors"]
    assert sum(1 for r in result["rules"] if r.get("role_id")) == 2, "both role rows are shown"
    again = gd.manage_directory(transfer, Auth(), rw_on_root)
    assert not again["changed"] and transfer.deleted == ["r1"]


class LostReply(Transfer):
    """The change is made, then the reply is lost; the SDK's retry sees 409 Exists / 404."""

    def add_endpoint_acl_rule(self, collection, document):
        super().add_endpoint_acl_rule(collection, document)
        raise ApiError(409, "Exists", "Access rule already exists")

    def delete_endpoint_acl_rule(self, collection, rule_id):
        super().delete_endpoint_acl_rule(collection, rule_id)
        raise ApiError(404, "AccessRuleNotFound", "Access rule not found")


def test_add_and_delete_are_safe_to_retry_after_a_lost_reply():
    transfer = LostReply([rule("r2", "identity", BOB)])
    result = gd.manage_directory(transfer, Auth(), gd.DirectoryRequest(GROUP, "/share", [{"identity": ALICE}], exact=True))
    assert not result["errors"] and result["changed"]
    assert transfer.deleted == ["r2"] and [r["principal"] for r in result["rules"]] == [ALICE]
    assert result["rules"][0]["id"] == "new-1"


def test_a_409_for_another_rule_is_still_an_error():
    class Conflict(Transfer):
        def add_endpoint_acl_rule(self, collection, document):
            raise ApiError(409, "Exists", "Access rule already exists")

    result = gd.manage_directory(Conflict([]), Auth(), gd.DirectoryRequest(GROUP, "/share", [{"identity": ALICE}]))
    assert result["errors"] and "Exists" in result["errors"][0]["reason"]
