"""Sealing in the engine: a step of an erased or unreadable task."""

from __future__ import annotations

import pytest

from audit import crypto
from audit.models import DataKey
from tasker_project.core.actors import Actor
from tests.factories import start, step_of
from workflows.engine.executor import execute_step
from workflows.engine.sealing import SubjectErased
from workflows.engine.states import StepStatus
from workflows.models import Task
from workflows.services import step_resolve

EMAIL = "ada@example.com"
CONTEXT = {"customer_email": EMAIL, "items": [{"sku": "SKU-1", "quantity": 1}]}


def _erase(task: Task) -> None:
    DataKey.objects.filter(pk=task.data_key_id).update(wrapped=None, subject_index="")
    crypto.forget([task.data_key_id])


@pytest.mark.django_db
def test_a_step_of_an_erased_subject_fails_for_good_with_subject_erased(synced):
    task = start("testing.strict", CONTEXT)
    _erase(task)
    assert execute_step(step_of(task, "only").pk) == "failed"
    step = step_of(task, "only")
    assert step.status == StepStatus.FAILED
    assert step.error["code"] == "subject_erased"
    assert step.attempts == 1  # permanent: no retry is scheduled


@pytest.mark.django_db
def test_an_unreadable_token_is_recorded_on_the_step_not_raised(synced):
    """A corrupted token fails the attempt with pii_unreadable; the worker goes on."""
    task = start("testing.strict", CONTEXT)
    sealed = dict(task.context)
    sealed["customer_email"] = sealed["customer_email"][:-6] + "AAAAAA"
    Task.objects.filter(pk=task.pk).update(context=sealed)
    outcome = execute_step(step_of(task, "only").pk)
    assert outcome in ("retry", "failed")
    step = step_of(task, "only")
    assert step.error["code"] == "pii_unreadable"
    assert EMAIL not in str(step.error)


@pytest.mark.django_db
def test_nothing_can_be_resolved_into_an_erased_task(synced):
    """Resolved results could not be sealed under a shredded key: refused."""
    task = start("testing.strict", CONTEXT)
    step = step_of(task, "only")
    _erase(task)
    execute_step(step.pk)  # fails with subject_erased
    with pytest.raises(SubjectErased) as refused:
        step_resolve(
            step=step_of(task, "only"),
            actor=Actor.system_actor("test"),
            results={"to": EMAIL},
        )
    assert refused.value.code == "subject_erased"
    assert step_of(task, "only").status == StepStatus.FAILED
