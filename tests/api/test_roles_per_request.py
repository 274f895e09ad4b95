"""A request reads the caller's roles once, in one query, the way guardian would.

Every check of one API request (scoping, PII mask, the service's own
authorisation) shares one snapshot of the caller's roles; the next request
reads them afresh.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from guardian.shortcuts import assign_perm, get_objects_for_user, get_perms

from namespaces.models import Namespace
from namespaces.permissions import (
    namespace_ids_for,
    namespaces_for,
    roles_snapshot,
    user_roles,
)
from namespaces.roles import Action, Role, permission_codename, roles_allowing
from namespaces.services import membership_revoke
from tests.api.conftest import SYSTEM
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def guardian_namespace_ids(user, action: str) -> set[int]:
    """The namespaces guardian's own shortcut finds for ``action``."""
    codenames = [permission_codename(role) for role in roles_allowing(action)]
    return set(
        get_objects_for_user(
            user,
            codenames,
            klass=Namespace,
            any_perm=True,
            with_superuser=False,
            accept_global_perms=False,
        ).values_list("pk", flat=True)
    )


def test_roles_match_guardian_for_team_groups_direct_grants_and_other_groups(synced):
    """Team roles, a role granted to the user directly and one through a group
    that is not a team group all count; a non-role permission does not."""
    testing = Namespace.objects.get(slug="testing")
    crossteam = Namespace.objects.get(slug="crossteam")
    user = UserFactory(username="gus", roles={testing: ["viewer", "pii_viewer"]})
    assign_perm(permission_codename(Role.APPROVER), user, crossteam)
    other = Group.objects.create(name="not-a-team")
    other.user_set.add(user)
    assign_perm(permission_codename(Role.OPERATOR), other, crossteam)
    assign_perm("change_namespace", user, testing)
    bystander = UserFactory(username="bea")

    for who in (user, bystander):
        for action in Action.values:
            assert namespace_ids_for(who, action) == guardian_namespace_ids(
                who, action
            ), (who, action)
            assert set(namespaces_for(who, action).values_list("pk", flat=True)) == (
                guardian_namespace_ids(who, action)
            )
        for namespace in (testing, crossteam):
            expected = {
                role
                for role in Role.values
                if permission_codename(role) in get_perms(who, namespace)
            }
            assert user_roles(who, namespace) == expected
    assert user_roles(user, crossteam) == {"approver", "operator"}


def test_inactive_users_hold_nothing_and_superusers_hold_everything(synced):
    testing = Namespace.objects.get(slug="testing")
    idle = UserFactory(username="ida", is_active=False, roles={testing: ["operator"]})
    root = UserFactory(username="root", is_superuser=True)
    assert user_roles(idle, testing) == set()
    assert namespace_ids_for(idle, Action.VIEW) == set()
    assert not namespaces_for(idle, Action.VIEW).exists()
    assert user_roles(root, testing) == set(Role.values)
    assert namespace_ids_for(root, Action.VIEW_PII) == set(
        Namespace.objects.values_list("pk", flat=True)
    )


def test_a_snapshot_reads_the_roles_once_and_the_next_one_afresh(synced):
    """Inside one request the roles are read once; a role revoked in between
    requests is gone for the next request."""
    testing = Namespace.objects.get(slug="testing")
    user = UserFactory(username="sam", roles={testing: ["operator"]})
    with roles_snapshot(), CaptureQueriesContext(connection) as queries:
        assert user_roles(user, testing) == {"operator"}
        assert namespace_ids_for(user, Action.START) == {testing.pk}
        assert namespace_ids_for(user, Action.VIEW_PII) == set()
    assert len(queries) == 1
    membership_revoke(namespace=testing, user=user, role="operator", actor=SYSTEM)
    with roles_snapshot():
        assert user_roles(user, testing) == set()
    assert user_roles(user, testing) == set()


def test_a_list_request_reads_the_roles_in_one_query(make_user, client_for):
    """Scoping the list and masking PII share one read of the caller's roles."""
    client = client_for(make_user("lou", {"testing": ["viewer"]}))
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/v1/tasks/")
    assert response.status_code == 200
    permission_reads = [
        q["sql"] for q in queries.captured_queries if "objectpermission" in q["sql"]
    ]
    assert len(permission_reads) == 1, permission_reads


def test_a_start_request_reads_the_roles_in_one_query(make_user, client_for):
    """Authorising the start, reading the task back and masking share one read."""
    client = client_for(make_user("ola", {"testing": ["operator"]}))
    with CaptureQueriesContext(connection) as queries:
        response = client.post(
            "/api/v1/tasks/",
            {"namespace": "testing", "workflow": "chain", "context": {"start": 1}},
            format="json",
        )
    assert response.status_code == 201, response.content
    permission_reads = [
        q["sql"] for q in queries.captured_queries if "objectpermission" in q["sql"]
    ]
    assert len(permission_reads) == 1, permission_reads
