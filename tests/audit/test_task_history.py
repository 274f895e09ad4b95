"""A task's whole history on one timeline, in the API and in the admin."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction
from django.urls import reverse
from rest_framework.test import APIClient

from audit.trail import audit_record
from namespaces.models import Namespace
from tasker_project.core.actors import Actor
from tests.api.conftest import bearer
from tests.factories import UserFactory, start, step_of
from workflows.engine.executor import execute_step
from workflows.models import Task
from workflows.services import step_retry

pytestmark = pytest.mark.django_db
EMAIL = "jane@example.com"


def api_as(roles: dict[str, list[str]], username: str = "reader") -> APIClient:
    user = UserFactory(
        username=username,
        roles={
            Namespace.objects.get(slug=slug): names for slug, names in roles.items()
        },
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=bearer(user))
    return client


def history(client: APIClient, task: Task) -> Any:
    return client.get(f"/api/v1/tasks/{task.pk}/history/")


@pytest.fixture
def retried(synced) -> Task:
    """A chain whose first step failed and was retried by an operator."""
    task = start("testing.chain", {"start": 1, "fail": {"first": ["permanent"]}})
    execute_step(step_of(task, "first").pk)
    operator = UserFactory(
        username="op", roles={Namespace.objects.get(slug="testing"): ["operator"]}
    )
    step_retry(step=step_of(task, "first"), actor=Actor.of(operator), reason="again")
    return task


def test_history_merges_transitions_and_audit_events_in_time_order(retried):
    """Task and step transitions and the audit events of both, oldest first."""
    response = history(api_as({"testing": ["viewer"]}), retried)

    assert response.status_code == 200
    rows = response.json()
    assert {row["kind"] for row in rows} == {
        "task_transition",
        "step_transition",
        "audit",
    }
    assert [row["at"] for row in rows] == sorted(row["at"] for row in rows)
    retry = next(row for row in rows if row["action"] == "step.retried")
    assert retry["kind"] == "audit"
    assert retry["step"] == "first"
    assert retry["actor"] == "op"
    assert retry["reason"] == "again"
    started = [row for row in rows if row["kind"] == "audit" and row["step"] is None]
    assert started, "the task's own audit event (its start) is on the timeline"
    failed = [
        row
        for row in rows
        if row["kind"] == "step_transition" and row["to_status"] == "failed"
    ]
    assert failed and failed[0]["step"] == "first"
    # The retry comes after the failure it answers.
    assert rows.index(failed[0]) < rows.index(retry)


def test_another_teams_task_is_not_found(retried):
    """A task of a namespace the caller has no role in is a 404, one error body."""
    response = history(api_as({"crossteam": ["viewer", "pii_viewer"]}), retried)

    assert response.status_code == 404
    assert set(response.json()) == {"error"}
    assert response.json()["error"]["code"] == "not_found"


@pytest.fixture
def personal(synced) -> Task:
    """A task whose context, audit event and its metadata hold an e-mail."""
    task = start(
        "testing.strict",
        {"customer_email": EMAIL, "items": [{"sku": "SKU-1", "quantity": 1}]},
    )
    with transaction.atomic():
        audit_record(
            actor=Actor.system_actor("test"),
            action="test.contacted",
            object_type="task",
            object_id=task.pk,
            namespace=task.namespace,
            reason=f"wrote to {EMAIL}",
            metadata={"customer_email": EMAIL, "note": "sent"},
        )
    return task


def test_personal_data_is_masked_without_pii_viewer(personal):
    """A viewer sees the event with the e-mail masked; a pii_viewer sees it."""
    masked = history(api_as({"testing": ["viewer"]}), personal)
    shown = history(api_as({"testing": ["pii_viewer"]}, "pii"), personal)

    assert masked.status_code == shown.status_code == 200
    assert EMAIL not in masked.content.decode()
    event = next(row for row in masked.json() if row["action"] == "test.contacted")
    assert event["metadata"] == {"customer_email": "j***@example.com", "note": "sent"}
    assert event["reason"] == "wrote to j***@example.com"
    assert EMAIL in shown.content.decode()


def test_admin_timeline_shows_audit_events_beside_transitions(client, retried):
    """The admin's task history page lists transitions and audit events."""
    staff = UserFactory(
        username="staff",
        is_staff=True,
        roles={Namespace.objects.get(slug="testing"): ["viewer"]},
    )
    client.force_login(staff)
    url = reverse("admin:workflows_task_timeline", args=[retried.pk])

    page = client.get(url)

    assert page.status_code == 200
    body = page.content.decode()
    assert "step.retried" in body
    assert "history-task_transition" in body
    assert "history-step_transition" in body
    assert "history-audit" in body
    task_page = client.get(reverse("admin:workflows_task_change", args=[retried.pk]))
    assert url in task_page.content.decode()


def test_admin_timeline_masks_personal_data_and_hides_other_teams(client, personal):
    """Without pii_viewer the page masks the e-mail; another team's task is 404."""
    staff = UserFactory(
        username="staff",
        is_staff=True,
        roles={Namespace.objects.get(slug="testing"): ["viewer"]},
    )
    outsider = UserFactory(
        username="outsider",
        is_staff=True,
        roles={Namespace.objects.get(slug="crossteam"): ["viewer", "pii_viewer"]},
    )
    url = reverse("admin:workflows_task_timeline", args=[personal.pk])
    client.force_login(staff)
    page = client.get(url)
    assert page.status_code == 200
    assert "test.contacted" in page.content.decode()
    assert EMAIL not in page.content.decode()

    client.force_login(outsider)
    assert client.get(url).status_code == 404
