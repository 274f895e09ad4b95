"""Tasks: the list's summary, the detail with steps and history, a page."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from workflows.api.serializers.rendering import (
    _datetime,
    _redactor,
    _str_or_none,
    _strings,
)
from workflows.api.serializers.steps import StepSerializer, step_body
from workflows.engine.states import StepStatus, TaskStatus
from workflows.models import Step, Task


class TransitionSerializer(serializers.Serializer):
    step = serializers.CharField(allow_null=True)
    from_status = serializers.CharField()
    to_status = serializers.CharField()
    at = serializers.DateTimeField()
    actor = serializers.CharField()
    reason = serializers.CharField()
    attempt = serializers.IntegerField(allow_null=True)


def _ordered_steps(task: Task) -> list[Step]:
    return sorted(task.steps.all(), key=lambda s: s.template.position)


def _counts_by_status(statuses: Any) -> dict[str, int]:
    """Return how many steps are in each status, in the state machine's order."""
    counts: dict[str, int] = {}
    for status in statuses:
        counts[status] = counts.get(status, 0) + 1
    return {s: counts[s] for s in StepStatus.values if s in counts}


class TaskSummarySerializer(serializers.Serializer):
    """A task as a list shows it: no steps, only how many are in each status."""

    id = serializers.UUIDField()
    namespace = serializers.CharField(source="namespace.slug")
    workflow = serializers.CharField(source="definition.name")
    version = serializers.CharField(source="definition.version")
    status = serializers.ChoiceField(choices=TaskStatus.choices)
    # SerializerMetaclass pops declared fields off the class: at runtime
    # ``self.context`` is still Field.context, which the stubs cannot know.
    context: Mapping[str, Any] = serializers.SerializerMethodField()  # type: ignore[assignment]
    correlation_id = serializers.CharField()
    idempotency_key = serializers.CharField(allow_null=True)
    reason = serializers.CharField()
    tags = serializers.ListField(child=serializers.CharField())
    initiator = serializers.CharField(source="initiator_label")
    source_system = serializers.CharField()
    parent_step_id = serializers.UUIDField(allow_null=True)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)
    step_counts = serializers.SerializerMethodField()

    def to_representation(self, instance: Task) -> dict[str, Any]:
        task = instance
        redactor = _redactor(self.context, task, steps=False)
        return {
            "id": str(task.id),
            "namespace": str(task.namespace.slug),
            "workflow": str(task.definition.name),
            "version": str(task.definition.version),
            "status": str(task.status),
            "context": self.get_context(task),
            "correlation_id": str(task.correlation_id),
            "idempotency_key": _str_or_none(task.idempotency_key),
            "reason": str(redactor.text(task.reason)),
            "tags": _strings(task.tags),
            "initiator": str(task.initiator_label),
            "source_system": str(task.source_system),
            "parent_step_id": _str_or_none(task.parent_step_id),
            "created_at": _datetime(task.created_at),
            "started_at": _datetime(task.started_at),
            "completed_at": _datetime(task.completed_at),
            "step_counts": self.get_step_counts(task),
        }

    @extend_schema_field({"type": "object", "additionalProperties": True})
    def get_context(self, task: Task) -> Any:
        return _redactor(self.context, task, steps=False).data(task.context)

    @extend_schema_field(
        {
            "type": "object",
            "additionalProperties": {"type": "integer"},
            "description": "Steps by status, statuses with none left out.",
            "example": {"complete": 2, "enqueued": 1},
        }
    )
    def get_step_counts(self, task: Task) -> dict[str, int]:
        page_counts = self.context.get("step_counts")  # selectors.step_counts
        if page_counts is not None:
            return page_counts.get(task.pk, {})
        return _counts_by_status(step.status for step in task.steps.all())


class TaskDetailSerializer(TaskSummarySerializer):
    """A task with its steps, in definition order, and its history."""

    steps = serializers.SerializerMethodField()
    transitions = serializers.SerializerMethodField()

    def to_representation(self, instance: Task) -> dict[str, Any]:
        steps = _ordered_steps(instance)
        # Built first, so the summary's context and reason know the steps' values.
        redactor = _redactor(self.context, instance)
        return {
            **super().to_representation(instance),
            "steps": [step_body(step, redactor) for step in steps],
            "transitions": self.get_transitions(instance),
        }

    @extend_schema_field(StepSerializer(many=True))
    def get_steps(self, task: Task) -> list[dict[str, Any]]:
        redactor = _redactor(self.context, task)
        return [step_body(step, redactor) for step in _ordered_steps(task)]

    @extend_schema_field(TransitionSerializer(many=True))
    def get_transitions(self, task: Task) -> list[dict[str, Any]]:
        redactor = _redactor(self.context, task)
        return [
            {**row, "reason": redactor.text(row["reason"])} if "reason" in row else row
            for row in self.context.get("transitions", [])
        ]


class TaskPageSerializer(serializers.Serializer):
    """One page of tasks; follow ``next`` until it is null."""

    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = TaskSummarySerializer(many=True)
