"""The workflow admin masks personal data for team members without pii_viewer."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from namespaces.models import Namespace
from namespaces.services import membership_grant, team_roles_ensure
from tasker_project.core.actors import Actor
from tests.factories import UserFactory, start
from workflows.engine.states import StepStatus
from workflows.models import Step, StepTransition
from workflows.services import step_resolve

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


@pytest.fixture
def resolved(task):
    """The task's step failed with an error naming the address, then resolved.

    The failure is written directly (no worker runs here; the scan in
    tests/audit/test_pii_scan.py fails a real one); the resolve is the
    service's, so its transition and audit event are the real ones.
    """
    step = task.steps.get()
    Step.objects.filter(pk=step.pk).update(
        status=StepStatus.FAILED,
        error={
            "code": "email_undeliverable",
            "message": f"mailer refused {EMAIL}",
            "traceback": f"PermanentError: mailer refused {EMAIL}",
            "attempt": 1,
        },
    )
    step.refresh_from_db()
    step_resolve(
        step=step,
        actor=SYSTEM,
        results={"to": EMAIL, "channel": "phone"},
        reason=f"phoned the owner of {EMAIL}",
    )
    return step


def _pages(step) -> list[str]:
    event = AuditEvent.objects.get(action="step.resolved", object_id=str(step.pk))
    transition = StepTransition.objects.filter(step=step).last()
    return [
        reverse("admin:workflows_step_change", args=[step.pk]),
        reverse("admin:workflows_task_change", args=[step.task_id]),
        reverse("admin:workflows_steptransition_changelist"),
        reverse("admin:workflows_steptransition_change", args=[transition.pk]),
        reverse("admin:audit_auditevent_changelist"),
        reverse("admin:audit_auditevent_change", args=[event.pk]),
    ]


@pytest.mark.django_db
def test_errors_history_and_audit_pages_mask_the_email_for_a_viewer(client, resolved):
    """An error, a resolve's reason and its results in the metadata are masked."""
    client.force_login(_member("vic", "viewer"))
    for url in _pages(resolved):
        page = client.get(url)
        assert page.status_code == 200, url
        assert EMAIL not in page.content.decode(), url


@pytest.mark.django_db
def test_errors_history_and_audit_pages_show_the_email_to_a_pii_viewer(
    client, resolved
):
    """The detail pages open the sealed results for a pii_viewer.

    The lists show only prose (reasons), which is stored masked.
    """
    client.force_login(_member("pia", "viewer", "pii_viewer"))
    for url in _pages(resolved):
        page = client.get(url)
        assert page.status_code == 200, url
        if url.endswith("/change/"):
            assert EMAIL in page.content.decode(), url


@pytest.mark.django_db
def test_a_reason_is_stored_with_the_tasks_personal_values_masked(resolved):
    """Free text never holds the plaintext, for any reader: it is masked at write."""
    transition = StepTransition.objects.filter(step=resolved).last()
    event = AuditEvent.objects.get(action="step.resolved", object_id=str(resolved.pk))
    for reason in (transition.reason, event.reason):
        assert EMAIL not in reason
        assert "a***@example.com" in reason
    assert EMAIL not in str(transition.metadata)
    assert EMAIL not in str(event.metadata)
