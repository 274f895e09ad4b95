"""workflows 0010 seals tasks written before encryption at rest."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.db import connection

from audit import crypto
from tests.factories import start
from workflows.models import Step, StepTransition, Task

migration = importlib.import_module("workflows.migrations.0010_seal_existing_tasks")

EMAIL = "ada@example.com"


def _raw(table: str, column: str, pk) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {column} FROM {table} WHERE id = %s",  # noqa: S608 (fixed names)
            [Task._meta.pk.get_db_prep_value(pk, connection)],
        )
        return str(cursor.fetchone()[0])


@pytest.mark.django_db
def test_an_old_plaintext_task_gets_a_key_and_its_values_sealed(synced):
    """Context, step results, errors and reasons of a pre-encryption task."""
    task = start(
        "testing.strict",
        {"customer_email": EMAIL, "items": [{"sku": "SKU-1", "quantity": 1}]},
    )
    step = task.steps.get()
    # Rewind it to how a task looked before: plaintext everywhere, no key.
    Task.objects.filter(pk=task.pk).update(
        data_key=None,
        context={"customer_email": EMAIL, "items": [{"sku": "SKU-1", "quantity": 1}]},
        reason=f"asked by {EMAIL}",
    )
    Step.objects.filter(pk=step.pk).update(
        results={"to": EMAIL},
        error={"code": "x", "message": f"mailer refused {EMAIL}", "attempt": 1},
    )
    StepTransition.objects.filter(step=step).update(reason=f"sent to {EMAIL}")

    migration.seal(apps, None)

    task.refresh_from_db()
    assert task.data_key_id is not None
    key = task.data_key
    assert (key.owner_type, key.owner_id) == ("workflows.task", str(task.pk))
    assert key.subject_index == crypto.blind_index(EMAIL)
    for table, column, pk in (
        ("workflows_task", "context", task.pk),
        ("workflows_task", "reason", task.pk),
        ("workflows_step", "results", step.pk),
        ("workflows_step", "error", step.pk),
    ):
        assert EMAIL not in _raw(table, column, pk), (table, column)
    assert crypto.box_for(key.pk).open(task.context)["customer_email"] == EMAIL
    assert all(EMAIL not in t.reason for t in StepTransition.objects.filter(step=step))
    # A second run finds nothing left to seal and changes nothing.
    sealed = Task.objects.get(pk=task.pk).context
    migration.seal(apps, None)
    assert Task.objects.get(pk=task.pk).context == sealed
