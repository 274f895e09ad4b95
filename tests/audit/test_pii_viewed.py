"""pii.viewed: a response that showed personal data unmasked is on the trail."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from audit.models import AuditEvent
from namespaces.models import Namespace
from namespaces.services import team_roles_ensure
from tests.factories import UserFactory, start

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
    return UserFactory(username=username, is_staff=True, roles={namespace: roles})


def _api(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    return client


def _viewed():
    return AuditEvent.objects.filter(action="pii.viewed")


@pytest.mark.django_db
def test_an_api_read_by_a_pii_viewer_records_the_viewer_the_ids_and_the_request(task):
    """The event names the viewer, the task id, the correlation id and address."""
    pia = _member("pia", "viewer", "pii_viewer")
    response = _api(pia).get(
        f"/api/v1/tasks/{task.pk}/",
        HTTP_X_CORRELATION_ID="req-viewed-1",
        REMOTE_ADDR="203.0.113.9",
    )
    assert response.status_code == 200
    assert EMAIL in response.content.decode()
    (event,) = _viewed()
    assert event.actor == pia
    assert event.object_type == "task"
    assert event.object_id == str(task.pk)
    assert event.metadata["ids"] == [str(task.pk)]
    assert event.namespace_id == task.namespace_id
    assert event.correlation_id == "req-viewed-1"
    assert event.remote_addr == "203.0.113.9"
    assert EMAIL not in str(event.metadata) + event.reason


@pytest.mark.django_db
def test_a_masked_read_records_nothing(task):
    """A viewer without pii_viewer saw masked data: no pii.viewed event."""
    response = _api(_member("vic", "viewer")).get(f"/api/v1/tasks/{task.pk}/")
    assert response.status_code == 200
    assert EMAIL not in response.content.decode()
    assert not _viewed().exists()


@pytest.mark.django_db
def test_a_list_page_records_one_event_with_every_revealed_id(task):
    other = start(
        "testing.strict",
        {
            "customer_email": "bob@example.com",
            "items": [{"sku": "SKU-1", "quantity": 1}],
        },
    )
    response = _api(_member("pia", "viewer", "pii_viewer")).get("/api/v1/tasks/")
    assert response.status_code == 200
    (event,) = _viewed()
    assert sorted(event.metadata["ids"]) == sorted([str(task.pk), str(other.pk)])
    assert event.metadata["count"] == 2


@pytest.mark.django_db
def test_an_admin_page_shown_unmasked_records_pii_viewed(client, task):
    pia = _member("pia", "viewer", "pii_viewer")
    client.force_login(pia)
    page = client.get(reverse("admin:workflows_task_change", args=[task.pk]))
    assert page.status_code == 200
    assert EMAIL in page.content.decode()
    event = _viewed().get()
    assert event.actor == pia
    assert str(task.pk) in event.metadata["ids"]
