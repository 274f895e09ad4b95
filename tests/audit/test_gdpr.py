"""GDPR: a subject's export and erasure (superusers only, every action audited)."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from audit import crypto, gdpr
from audit.models import AuditEvent, DataKey
from tasker_project.core.actors import Actor
from tests.factories import UserFactory, start
from tests.workflows.helpers import run_ready
from workflows.engine.sealing import TASK_OWNER, definition_keys
from workflows.engine.states import TaskStatus
from workflows.models import Step, Task

ADA = "ada@example.com"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _empty_cache():
    crypto._cache.clear()
    yield
    crypto._cache.clear()


@pytest.fixture
def admin_user():
    user = UserFactory(username="root", is_superuser=True, is_staff=True)
    user.save()
    return user


def subject_task(
    workflow: str = "testing.chain", email: str = ADA, **context: Any
) -> Task:
    """Start a task about ``email``, its context sealed under its own data key.

    The engine seals contexts at start; should it not (yet), the test seals
    the context itself, so the tests hold either way.
    """
    task = start(workflow, {"start": 1, "customer_email": email, **context})
    task.refresh_from_db()
    if task.data_key_id is None:
        row, box = crypto.new_key(
            owner_type=TASK_OWNER, owner_id=task.pk, subject=email
        )
        row.save()
        Task.objects.filter(pk=task.pk).update(
            data_key=row,
            context=box.seal(task.context, definition_keys(task.definition_id)),
        )
        task.refresh_from_db()
    return task


def command(name: str, *args: str) -> str:
    out = io.StringIO()
    call_command(name, *args, stdout=out)
    return out.getvalue()


def test_export_then_erase_a_subject_with_finished_tasks(synced, admin_user):
    """The export holds the decrypted tasks; after erasure nothing opens."""
    task = run_ready(subject_task())
    other = run_ready(subject_task(email="bob@example.com"))
    assert task.status == TaskStatus.COMPLETE
    stored = Task.objects.get(pk=task.pk).context
    assert crypto.is_token(stored["customer_email"])

    document = json.loads(
        command("gdpr_export", "--subject", "Ada@Example.com ", "--actor", "root")
    )
    (exported,) = document["records"][TASK_OWNER]
    assert exported["id"] == str(task.pk)
    assert exported["context"]["customer_email"] == ADA
    assert [s["name"] for s in exported["steps"]] == ["first", "second", "third"]
    assert exported["steps"][0]["results"]["value"] == 2
    assert exported["transitions"] and exported["audit_events"]
    event = AuditEvent.objects.get(action="gdpr.exported")
    assert ADA not in json.dumps(event.metadata) and event.metadata["records"] == 1

    index = crypto.blind_index(ADA)
    out = command(
        "gdpr_erase",
        "--subject",
        ADA,
        "--actor",
        "root",
        "--reason",
        f"request #12 from {ADA}",
    )
    assert "erased 1 data key" in out

    crypto._cache.clear()
    erased = Task.objects.get(pk=task.pk)
    box = crypto.box_for(erased.data_key_id)
    assert box.open(erased.context)["customer_email"] == crypto.ERASED
    for step in Step.objects.filter(task=erased):
        assert crypto.ERASED not in json.dumps(step.results)  # nothing personal
    assert not DataKey.objects.filter(subject_index=index).exists()
    key = DataKey.objects.get(pk=erased.data_key_id)
    assert key.wrapped is None and key.erased_at is not None
    # Another subject is untouched.
    untouched = Task.objects.get(pk=other.pk)
    assert (
        crypto.box_for(untouched.data_key_id).open(untouched.context)["customer_email"]
        == "bob@example.com"
    )
    erasure = AuditEvent.objects.get(action="gdpr.erased")
    trail = json.dumps([erasure.metadata, erasure.reason, erasure.object_id])
    assert ADA not in trail and index not in trail
    assert erasure.metadata["owners"] == {TASK_OWNER: [str(task.pk)]}
    assert "[e-mail]" in erasure.reason
    assert "audit trail verifies" in command("audit_verify")
    # Exported again: nothing left to find.
    assert gdpr.subject_export(email=ADA, actor=Actor.of(admin_user))["records"] == {}


def test_erasure_is_refused_while_a_task_is_unfinished(synced, admin_user):
    """The refusal names the task; nothing is erased."""
    task = subject_task("testing.approval")
    with pytest.raises(CommandError) as caught:
        command("gdpr_erase", "--subject", ADA, "--actor", "root", "--reason", "asked")
    assert caught.value.returncode == 2
    assert str(task.pk) in str(caught.value)
    with pytest.raises(gdpr.SubjectHasUnfinished) as refused:
        gdpr.subject_erase(email=ADA, actor=Actor.of(admin_user), reason="asked")
    assert refused.value.code == "subject_has_unfinished_tasks"
    assert DataKey.objects.filter(subject_index=crypto.blind_index(ADA)).exists()
    assert not AuditEvent.objects.filter(action="gdpr.erased").exists()


def test_cancel_cancels_the_unfinished_tasks_then_erases(synced, admin_user):
    task = subject_task("testing.approval")
    out = command(
        "gdpr_erase",
        "--subject",
        ADA,
        "--actor",
        "root",
        "--reason",
        "asked",
        "--cancel",
    )
    assert "cancelled 1 task" in out
    task.refresh_from_db()
    assert task.status == TaskStatus.CANCELLED
    cancel = AuditEvent.objects.get(action="task.cancelled", object_id=str(task.pk))
    assert cancel.actor_label == "root"
    assert crypto.box_for(task.data_key_id).erased


def test_an_unknown_subject_exports_nothing_and_erases_nothing(synced, admin_user):
    document = json.loads(
        command("gdpr_export", "--subject", "nobody@example.com", "--actor", "root")
    )
    assert document["records"] == {}
    out = command(
        "gdpr_erase",
        "--subject",
        "nobody@example.com",
        "--actor",
        "root",
        "--reason",
        "asked",
    )
    assert "nothing erased" in out


@pytest.mark.parametrize("name", ["gdpr_export", "gdpr_erase"])
def test_a_non_superuser_and_a_bad_email_exit_2(synced, admin_user, name):
    UserFactory(username="plain").save()
    extra = ["--reason", "asked"] if name == "gdpr_erase" else []
    for args, named in (
        (["--subject", ADA, "--actor", "plain"], "--actor"),
        (["--subject", ADA, "--actor", "ghost"], "--actor"),
        (["--subject", "not-an-email", "--actor", "root"], "--subject"),
    ):
        with pytest.raises(CommandError) as caught:
            command(name, *args, *extra)
        assert caught.value.returncode == 2
        assert named in str(caught.value)
    user = UserFactory(username="plain2")
    with pytest.raises(gdpr.PermissionDenied):
        gdpr.subject_export(email=ADA, actor=Actor.of(user))
    refused = AuditEvent.objects.filter(action="gdpr.refused")
    assert sorted(refused.values_list("actor_label", flat=True)) == ["plain", "plain2"]
    assert not AuditEvent.objects.filter(action__in=["gdpr.exported", "gdpr.erased"])


def test_retention_erases_subjects_inactive_past_the_period(synced, admin_user):
    """Old subjects go; recent ones and ones with unfinished tasks stay."""
    old = run_ready(subject_task())
    busy = subject_task("testing.approval", email="busy@example.com")
    recent = run_ready(subject_task(email="new@example.com"))
    long_ago = timezone.now() - timedelta(days=400)
    DataKey.objects.filter(pk__in=[old.data_key_id, busy.data_key_id]).update(
        created_at=long_ago
    )
    dry = command("gdpr_retention", "--days", "365", "--dry-run")
    assert "would erase 1 subject" in dry
    assert crypto.box_for(old.data_key_id).erased is False
    out = command("gdpr_retention", "--days", "365")
    assert "erased 1 subject" in out and "kept 1" in out
    crypto._cache.clear()
    assert crypto.box_for(old.data_key_id).erased
    assert not crypto.box_for(busy.data_key_id).erased
    assert not crypto.box_for(recent.data_key_id).erased
    event = AuditEvent.objects.get(action="gdpr.erased")
    assert event.actor_label == "system:retention"
    assert "audit trail verifies" in command("audit_verify")
    with pytest.raises(CommandError) as caught:
        command("gdpr_retention", "--days", "0")
    assert caught.value.returncode == 2


def test_erasure_clears_an_example_customers_blind_index(synced, admin_user):
    """A customer's e-mail reads [erased] and its index is blank afterwards."""
    from examples.gdpr import register
    from examples.models import Customer

    register()
    customer = Customer.objects.create(name="Ada L", email=ADA, tier="basic")
    assert customer.email_index == crypto.blind_index(ADA)
    document = gdpr.subject_export(email=ADA, actor=Actor.of(admin_user))
    (row,) = document["records"]["examples.customer"]
    assert row["email"] == ADA and row["name"] == "Ada L"
    assert "email_index" not in row and "data_key_id" not in row
    counts = gdpr.subject_erase(email=ADA, actor=Actor.of(admin_user), reason="asked")
    assert counts["blind_indexes_cleared"] == 1
    crypto._cache.clear()
    erased = Customer.objects.get(pk=customer.pk)
    assert erased.email == crypto.ERASED and erased.name == crypto.ERASED
    assert erased.email_index == ""
    assert "audit trail verifies" in command("audit_verify")


def test_the_admin_action_downloads_for_superusers_only(synced, admin_user, rf):
    """A superuser gets the JSON document (audited); anyone else an error message."""
    from examples.gdpr import gdpr_export_action
    from examples.models import Customer

    Customer.objects.create(name="Ada L", email=ADA, tier="basic")
    told: list[str] = []

    class ModelAdmin:
        def message_user(self, request: Any, message: str, level: Any) -> None:
            told.append(message)

    request = rf.post("/")
    request.user = UserFactory(username="staffer", is_staff=True)
    assert gdpr_export_action(ModelAdmin(), request, Customer.objects.all()) is None
    assert told and "superusers only" in told[0]
    assert AuditEvent.objects.filter(action="gdpr.refused").count() == 1
    request.user = admin_user
    response = gdpr_export_action(ModelAdmin(), request, Customer.objects.all())
    assert response["Content-Disposition"].startswith("attachment;")
    assert (
        json.loads(response.content)["records"]["examples.customer"][0]["email"] == ADA
    )
    assert AuditEvent.objects.filter(action="gdpr.exported").count() == 1
