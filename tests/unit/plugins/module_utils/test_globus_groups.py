"""Globus group administration: the plan (pure) and idempotent batch results."""

import pytest

from ansible_collections.sciops.datasync.plugins.module_utils._identity import group_admin as gg

from globus_fakes import ApiError

A, B, C, D, ME = ("a" * 8 + "-0000-0000-0000-" + "0" * 12, "b" * 8 + "-0000-0000-0000-" + "0" * 12,
                  "c" * 8 + "-0000-0000-0000-" + "0" * 12, "d" * 8 + "-0000-0000-0000-" + "0" * 12,
                  "e" * 8 + "-0000-0000-0000-" + "0" * 12)
IDS = {"alice": A, "bob": B, "carol": C, "dave": D}


def membership(identity_id, role="member", status="active"):
    return {"identity_id": identity_id, "username": identity_id[:1] + "@x.org", "role": role, "status": status}


def group(*members, **fields):
    doc = {"id": "g1", "name": "proj", "description": "old", "parent_id": "root",
           "policies": {"group_visibility": "private", "group_members_visibility": "managers", "join_requests": False,
                        "is_high_assurance": False, "signup_fields": []},
           "memberships": [membership(ME, "admin")] + list(members)}
    doc.update(fields)
    return doc


def want(**kw):
    base = dict(state="present", name="proj", parent="root", description=None, policies={}, members=None, managers=None,
                admins=None, membership="append", approve=[], approve_all=False, remove_members=[], rename=False)
    base.update(kw)
    return base


def test_create_with_description_policies_and_admins():
    plan = gg.plan_group(None, want(description="Project", admins=["alice"], policies={"join_requests": True}), IDS, ME)
    assert plan["create"] == {"name": "proj", "description": "Project", "parent_id": "root"}
    assert plan["policies"] == {"join_requests": True}
    assert plan["batch"] == {"add": [{"identity_id": A, "role": "admin"}]}
    assert gg.plan_changed(plan)


@pytest.mark.parametrize("current,kw,batch", [
    # add a new member; nothing for one already active
    (group(membership(A)), dict(members=["alice", "bob"]), {"add": [{"identity_id": B, "role": "member"}]}),
    # promote; append never demotes
    (group(membership(A), membership(B, "manager")), dict(managers=["alice"], members=["bob"]),
     {"change_role": [{"identity_id": A, "role": "manager"}]}),
    # exact demotes and removes the unlisted, never the client itself
    (group(membership(A), membership(B, "manager"), membership(C)), dict(members=["alice", "bob"], membership="exact"),
     {"change_role": [{"identity_id": B, "role": "member"}], "remove": [{"identity_id": C}]}),
    # pending: approve by name, approve all, or approve by listing as member
    (group(membership(A, status="pending"), membership(B, status="pending")), dict(approve=["alice"]),
     {"approve": [{"identity_id": A}]}),
    (group(membership(A, status="pending"), membership(B, status="pending")), dict(approve_all=True),
     {"approve": [{"identity_id": A}, {"identity_id": B}]}),
    (group(membership(A, status="pending")), dict(members=["alice"]), {"approve": [{"identity_id": A}]}),
    # remove (gosync delmember): only if a membership is live
    (group(membership(A), membership(B, status="removed")), dict(remove_members=["alice", "bob"]), {"remove": [{"identity_id": A}]}),
    # a removed member listed again is added back
    (group(membership(A, status="removed")), dict(members=["alice"]), {"add": [{"identity_id": A, "role": "member"}]}),
])
def test_membership_plans(current, kw, batch):
    assert gg.plan_group(current, want(**kw), IDS, ME)["batch"] == batch


def test_no_change_when_in_state_and_policy_merge():
    current = group(membership(A, "admin"))
    plan = gg.plan_group(current, want(description="old", admins=["alice"], policies={"group_visibility": "private"}), IDS, ME)
    assert not gg.plan_changed(plan)
    plan = gg.plan_group(current, want(description="new", policies={"join_requests": True}), IDS, ME)
    assert plan["update"] == {"description": "new"}
    assert plan["policies"]["join_requests"] is True and plan["policies"]["group_visibility"] == "private"
    assert plan["after"]["description"] == "new" and plan["before"]["description"] == "old"


def test_absent():
    assert gg.plan_group(group(), want(state="absent"), IDS)["delete"] is True
    assert not gg.plan_changed(gg.plan_group(None, want(state="absent"), IDS))


class FakeGroups:
    def __init__(self, batch_response=None, create_failures=0, existing_after_failure=False):
        self.calls = []
        self.batch_response = batch_response or {}
        self.create_failures = create_failures
        self.existing_after_failure = existing_after_failure
        self.created = 0

    def batch_membership_action(self, group_id, body):
        self.calls.append(("batch", group_id, body))
        return self.batch_response

    def create_group(self, body):
        self.calls.append(("create", body))
        if self.create_failures:
            self.create_failures -= 1
            if self.existing_after_failure:
                self.created += 1
            raise ApiError(503, "SERVICE_UNAVAILABLE", "503")
        self.created += 1
        return {"id": "new-id"}

    def get_my_groups(self):
        return [{"id": "made-by-first-try", "name": "proj", "parent_id": "root"}] if self.created else []


def test_batch_retry_leftovers_are_not_errors():
    errors = {"add": [{"identity_id": A, "code": "ALREADY_ACTIVE"}], "remove": [{"identity_id": B, "code": "NO_MEMBERSHIP"}],
              "change_role": [{"identity_id": C, "code": "LAST_ADMIN", "detail": "last admin"}]}
    groups = FakeGroups({"add": [], "errors": errors})
    plan = gg.plan_group(group(membership(A)), want(members=["bob"]), IDS, ME)
    gid, errors = gg.apply_group_plan(groups, "g1", plan)
    assert errors == [{"item": C, "action": "change_role", "identity_id": C, "code": "LAST_ADMIN", "reason": "last admin"}]


def test_create_never_duplicates_after_a_failed_response():
    groups = FakeGroups(create_failures=1, existing_after_failure=True)
    assert gg.create_group_once(groups, {"name": "proj", "parent_id": "root"}, sleep=lambda s: None) == "made-by-first-try"
    assert [c[0] for c in groups.calls] == ["create"]
    groups = FakeGroups(create_failures=1)
    assert gg.create_group_once(groups, {"name": "proj", "parent_id": "root"}, sleep=lambda s: None) == "new-id"
    assert [c[0] for c in groups.calls] == ["create", "create"]
