"""Namespace scoping for selectors and the admin, and the admin's object pages."""

from __future__ import annotations

import pytest
from django.test import RequestFactory
from django.urls import reverse

from namespaces.models import Namespace
from namespaces.roles import Action
from namespaces.scoping import may, namespace_ids, namespace_slugs, scope, visible
from tests.factories import NamespaceFactory, UserFactory

pytestmark = pytest.mark.django_db


def _request(user):
    request = RequestFactory().get("/admin/")
    request.user = user
    return request


def test_a_request_reads_the_namespaces_of_each_action_once(
    django_assert_num_queries,
):
    """Every check of one request after the first answers from the request."""
    mine, other = NamespaceFactory(slug="mine"), NamespaceFactory(slug="other")
    user = UserFactory(roles={mine: ["operator"]})
    request = _request(user)
    assert namespace_ids(request, Action.RETRY) == {mine.pk}
    with django_assert_num_queries(0):
        for _ in range(20):
            assert may(request, mine, Action.RETRY)
            assert not may(request, other.pk, Action.RETRY)
        assert namespace_slugs(request, Action.RETRY) == {"mine"}
    assert not may(request, mine, Action.APPROVE)
    assert not may(request, None, Action.VIEW)


def test_the_next_request_sees_a_revoked_role():
    """The cache lives on the request, so a new request reads the roles afresh."""
    mine = NamespaceFactory(slug="mine")
    user = UserFactory(roles={mine: ["viewer"]})
    assert may(_request(user), mine, Action.VIEW)
    user.groups.clear()
    assert not may(_request(user), mine, Action.VIEW)


def test_scope_keeps_rows_seen_from_any_of_its_paths():
    """A row seen from either of two namespaces is kept if one of them is visible."""
    a, b, c = (NamespaceFactory(slug=s) for s in ("a", "b", "c"))
    rows = Namespace.objects.filter(slug__in=["a", "b", "c"])
    assert set(scope(rows, {a.pk, c.pk}, "").values_list("slug", flat=True)) == {
        "a",
        "c",
    }
    assert not scope(rows, set(), "").exists()
    assert set(scope(rows, {b.pk}, "", "pk").values_list("slug", flat=True)) == {"b"}


def test_visible_shows_a_superuser_everything_and_others_their_teams():
    """Selectors scope by role; a superuser is not filtered at all."""
    mine, _ = NamespaceFactory(slug="mine"), NamespaceFactory(slug="other")
    user = UserFactory(roles={mine: ["viewer"]})
    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    everything = Namespace.objects.all()
    assert list(visible(everything, user=user, path="")) == [mine]
    assert visible(everything, user=root, path="").count() == everything.count()
    assert not visible(everything, user=user, path="", action=Action.START).exists()


@pytest.mark.parametrize(
    ("name", "suffix"),
    [
        ("admin:workflows_task_cancel", "cancel"),
        ("admin:workflows_step_retry", "retry"),
        ("admin:workflows_step_resolve", "resolve"),
        ("admin:workflows_step_approve", "approve"),
        ("admin:workflows_step_reject", "reject"),
        ("admin:workflows_workflowdefinition_start", "start"),
        ("admin:namespaces_namespace_members", "members"),
    ],
)
def test_object_pages_keep_their_urls_and_names(name, suffix):
    """Each declared object page answers at ``<object_id>/<name>/`` under its name."""
    assert reverse(name, args=["7"]).endswith(f"/7/{suffix}/")
