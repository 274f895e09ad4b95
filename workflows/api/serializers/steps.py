"""Steps: their body, errors, approvals, and the approval queue's items."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from audit.pii import Redactor
from workflows.api.serializers.rendering import _datetime, _redactor, _strings
from workflows.engine.states import StepStatus
from workflows.models import Step


class StepErrorSerializer(serializers.Serializer):
    code = serializers.CharField(allow_null=True)
    message = serializers.CharField(allow_null=True)
    attempt = serializers.IntegerField(allow_null=True)


class ApprovalSerializer(serializers.Serializer):
    request = serializers.JSONField(allow_null=True)
    decision = serializers.CharField(allow_blank=True)
    decided_by = serializers.CharField(allow_null=True)
    decided_at = serializers.DateTimeField(allow_null=True)
    comment = serializers.CharField(allow_blank=True)


def _step_error(step: Step, redactor: Redactor) -> dict[str, Any] | None:
    if not step.error:
        return None
    error = {k: step.error.get(k) for k in ("code", "message", "attempt")}
    return redactor.error(error)


def _step_approval(step: Step, redactor: Redactor) -> dict[str, Any] | None:
    if step.template.kind != "approval":
        return None
    return {
        "request": redactor.data(step.approval_request),
        "decision": step.decision,
        "decided_by": step.decided_by.get_username() if step.decided_by else None,
        "decided_at": step.decided_at,
        "comment": redactor.text(step.decision_comment),
    }


def step_body(step: Step, redactor: Redactor) -> dict[str, Any]:
    """Return a step's body, in ``StepSerializer``'s field order."""
    return {
        "id": str(step.id),
        "task_id": str(step.task_id),
        "name": str(step.name),
        "kind": str(step.template.kind),
        "status": str(step.status),
        "attempts": int(step.attempts),
        "max_attempts": int(step.max_attempts),
        "depends_on": _strings(step.template.depends_on),
        "results": redactor.data(step.results),
        "error": _step_error(step, redactor),
        "approval": _step_approval(step, redactor),
        "next_attempt_at": _datetime(step.next_attempt_at),
        "started_at": _datetime(step.started_at),
        "completed_at": _datetime(step.completed_at),
    }


class StepSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    task_id = serializers.UUIDField()
    name = serializers.CharField()
    kind = serializers.CharField(source="template.kind")
    status = serializers.ChoiceField(choices=StepStatus.choices)
    attempts = serializers.IntegerField()
    max_attempts = serializers.IntegerField()
    depends_on = serializers.ListField(
        child=serializers.CharField(), source="template.depends_on"
    )
    results = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()
    approval = serializers.SerializerMethodField()
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)

    def to_representation(self, instance: Step) -> dict[str, Any]:
        return step_body(instance, _redactor(self.context, instance.task))

    @extend_schema_field(
        {"type": "object", "nullable": True, "additionalProperties": True}
    )
    def get_results(self, step: Step) -> Any:
        return _redactor(self.context, step.task).data(step.results)

    @extend_schema_field(StepErrorSerializer(allow_null=True))
    def get_error(self, step: Step) -> dict[str, Any] | None:
        return _step_error(step, _redactor(self.context, step.task))

    @extend_schema_field(ApprovalSerializer(allow_null=True))
    def get_approval(self, step: Step) -> dict[str, Any] | None:
        return _step_approval(step, _redactor(self.context, step.task))


class ApprovalItemSerializer(StepSerializer):
    namespace = serializers.CharField(source="task.namespace.slug")
    workflow = serializers.CharField(source="task.definition.name")
    version = serializers.CharField(source="task.definition.version")
    initiator = serializers.CharField(source="task.initiator_label")

    def to_representation(self, instance: Step) -> dict[str, Any]:
        task = instance.task
        return {
            **super().to_representation(instance),
            "namespace": str(task.namespace.slug),
            "workflow": str(task.definition.name),
            "version": str(task.definition.version),
            "initiator": str(task.initiator_label),
        }
