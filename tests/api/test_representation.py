"""Task and step bodies rendered by hand equal DRF's field-by-field rendering.

The API renders tasks and steps without DRF's per-field machinery (it cost
most of a list page's CPU); these tests hold the hand-written bodies to the
declared serializer fields, byte for byte, key order included.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer

from namespaces.models import Namespace
from workflows.api import serializers as s
from workflows.models import Step, StepTemplate, Task, WorkflowDefinition

UTC = dt.UTC
PLUS_TWO = dt.timezone(dt.timedelta(hours=2))


def drf_rendering(serializer: serializers.Serializer, instance: Any) -> Any:
    """Render ``instance`` field by field, the way DRF does by default."""
    return serializers.Serializer.to_representation(serializer, instance)


def as_json(data: Any) -> bytes:
    return JSONRenderer().render(data)


def a_task(*, steps: list[Step]) -> Task:
    namespace = Namespace(pk=7, slug="testing", name="Testing")
    definition = WorkflowDefinition(
        pk=3,
        namespace=namespace,
        name="approval",
        version="1.2.3",
        context_schema={
            "type": "object",
            "properties": {"ticket": {"type": "string", "x-pii": True}},
        },
    )
    task = Task(
        id=uuid.UUID("01a21bfd-8023-7335-8167-a085b5b14add"),
        namespace=namespace,
        definition=definition,
        status="in_progress",
        context={
            "ticket": "tkt_1",
            "customer_email": "jane@example.com",
            "items": [{"name": "Jane", "n": 1.5}],
            "plain": None,
        },
        initiator_label="olivia",
        source_system="api",
        reason="double charge",
        tags=["a", "b"],
        correlation_id="corr-1",
        idempotency_key="key-1",
        parent_step_id=uuid.UUID("01a21bfd-8024-7aa1-ab0d-178c00000001"),
        created_at=dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        started_at=dt.datetime(2026, 1, 2, 5, 4, 5, tzinfo=PLUS_TWO),
        completed_at=None,
    )
    task._prefetched_objects_cache = {"steps": steps}
    for step in steps:
        step.task = task
    return task


def some_steps() -> list[Step]:
    decider = get_user_model()(pk=9, username="carol")
    work = StepTemplate(pk=1, name="work", position=0, kind="task", depends_on=[])
    decide = StepTemplate(
        pk=2, name="decide", position=1, kind="approval", depends_on=["work"]
    )
    failed = Step(
        id=uuid.UUID("01a21bfd-8024-7aa1-ab0d-178c00000002"),
        task_id=uuid.UUID("01a21bfd-8023-7335-8167-a085b5b14add"),
        template=work,
        name="work",
        status="failed",
        attempts=3,
        max_attempts=3,
        results={"email": "x@example.com", "total": 3},
        error={"code": "boom", "message": "it broke", "attempt": 3, "trace": "…"},
        next_attempt_at=dt.datetime(2026, 1, 2, 3, 4, 6, tzinfo=UTC),
        started_at=dt.datetime(2026, 1, 2, 3, 4, 5, 1, tzinfo=UTC),
        completed_at=dt.datetime(2026, 1, 2, 3, 4, 7, tzinfo=UTC),
    )
    decided = Step(
        id=uuid.UUID("01a21bfd-8024-7aa1-ab0d-178c00000003"),
        task_id=uuid.UUID("01a21bfd-8023-7335-8167-a085b5b14add"),
        template=decide,
        name="decide",
        status="complete",
        attempts=1,
        max_attempts=1,
        results=None,
        error=None,
        approval_request={"agent_notes": "call back", "amount": 15000},
        decision="approved",
        decided_by=decider,
        decided_at=dt.datetime(2026, 1, 2, 3, 5, tzinfo=UTC),
        decision_comment="ok",
    )
    # Definition order is reversed on purpose: the body sorts by position.
    return [decided, failed]


@pytest.mark.parametrize("pii", [False, True], ids=["masked", "pii_viewer"])
def test_a_step_body_equals_drf_rendering(pii):
    """Every step field renders as its declared field would, masked or not."""
    task = a_task(steps=some_steps())
    context = {"pii_namespace_ids": {7} if pii else set()}
    for step in task.steps.all():
        serializer = s.StepSerializer(step, context=context)
        assert as_json(serializer.data) == as_json(drf_rendering(serializer, step))


@pytest.mark.parametrize("pii", [False, True], ids=["masked", "pii_viewer"])
def test_a_task_detail_equals_drf_rendering(pii):
    """A task renders as its declared fields would, steps in definition order."""
    task = a_task(steps=some_steps())
    transitions = [{"step": None, "from_status": "pending", "to_status": "done"}]
    context = {"pii_namespace_ids": {7} if pii else set(), "transitions": transitions}
    serializer = s.TaskDetailSerializer(task, context=context)
    expected = drf_rendering(serializer, task)
    expected["steps"] = [
        drf_rendering(s.StepSerializer(step, context=context), step)
        for step in sorted(task.steps.all(), key=lambda step: step.template.position)
    ]
    assert as_json(serializer.data) == as_json(expected)
    assert [step["name"] for step in serializer.data["steps"]] == ["work", "decide"]
    assert serializer.data["step_counts"] == {"complete": 1, "failed": 1}
    assert serializer.data["transitions"] == transitions
    if not pii:
        assert serializer.data["context"]["ticket"] == "***"
        assert serializer.data["context"]["customer_email"] == "j***@example.com"


def test_a_page_renders_each_summary_as_drf_would():
    """A list item is the detail without steps and transitions; its step
    counts come from the page's one count query."""
    task = a_task(steps=some_steps())
    counts = {task.pk: {"enqueued": 2}}
    page = s.TaskSummarySerializer(
        [task, task], many=True, context={"step_counts": counts}
    )
    item = s.TaskSummarySerializer(task, context={"step_counts": counts})
    assert as_json(page.data) == as_json([drf_rendering(item, task)] * 2)
    detail = s.TaskDetailSerializer(task, context={}).data
    assert list(page.data[0]) == [
        k for k in detail if k not in ("steps", "transitions")
    ]
    assert page.data[0]["step_counts"] == {"enqueued": 2}


def test_an_approval_item_equals_drf_rendering():
    """An inbox item is a step body plus its task's names, in declared order."""
    task = a_task(steps=some_steps())
    step = task.steps.all()[0]
    serializer = s.ApprovalItemSerializer(step, context={})
    expected = drf_rendering(serializer, step)
    assert as_json(serializer.data) == as_json(expected)
    assert serializer.data["approval"]["request"]["agent_notes"] == "***"
