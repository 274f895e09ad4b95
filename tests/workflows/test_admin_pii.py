"""The admin masks personal data for team members without pii_viewer."""

from __future__ import annotations

import pytest
from django.urls import reverse

from namespaces.models import Namespace
from namespaces.services import membership_grant, team_roles_ensure
from tests.factories import UserFactory, start
from workflows.actors import Actor

SYSTEM = Actor.system_actor("test")
EMAIL = "ada@example.com"


@pytest.fixture
def task(synced):
    return start(
        "testing.strict",
        {"customer_email": EMAIL, "items": [{"sku": "SKU-1", "quantity": 1}]},
    )


def _member(username: str, *roles: str):
    namespace = Namespace.objects.get(slug="testing")
    team_roles_ensure(namespace=namespace)
    user = UserFactory(username=username, is_staff=True)
    for role in roles:
        membership_grant(namespace=namespace, user=user, role=role, actor=SYSTEM)
    return user


@pytest.mark.django_db
def test_viewer_sees_the_email_masked(client, task):
    client.force_login(_member("vic", "viewer"))
    page = client.get(reverse("admin:workflows_task_change", args=[task.pk]))
    assert page.status_code == 200
    body = page.content.decode()
    assert EMAIL not in body
    assert "a***@example.com" in body


@pytest.mark.django_db
def test_pii_viewer_sees_the_email(client, task):
    client.force_login(_member("pia", "viewer", "pii_viewer"))
    page = client.get(reverse("admin:workflows_task_change", args=[task.pk]))
    assert page.status_code == 200
    assert EMAIL in page.content.decode()
