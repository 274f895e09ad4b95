"""API shapes. Serializers validate input and render output; no logic here."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.serializers import TokenRefreshSerializer

from audit.pii import Redactor, context_redactor, task_redactor
from tasker_project.core.json_values import json_value_errors
from workflows.engine.states import StepStatus, TaskStatus
from workflows.models import Step, Task, WorkflowDefinition

MAX_TAGS = 20


def storable_json(value: Any) -> None:
    """Refuse JSON that cannot be stored or rendered back, by path.

    The one check every entry point shares (:mod:`tasker_project.core.json_values`):
    Python's parser turns ``1e999`` into infinity, which no JSON column
    stores; PostgreSQL's jsonb refuses ``\\u0000`` and lone surrogates; and
    very deep nesting exhausts the recursion of every later reader.
    """
    problems = json_value_errors(value, field="")
    if problems:
        raise serializers.ValidationError(problems)


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Field path (dotted, e.g. `context.items.0.sku`) → messages.",
    )


class ErrorSerializer(serializers.Serializer):
    """The body of every 4xx response."""

    error = ErrorDetailSerializer()


# --- namespaces and definitions ------------------------------------------------


class NamespaceSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    roles = serializers.ListField(child=serializers.CharField())


class WorkflowSummarySerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    default_version = serializers.CharField(allow_null=True)
    versions = serializers.ListField(child=serializers.CharField())


class VersionSummarySerializer(serializers.ModelSerializer):
    namespace = serializers.CharField(source="namespace.slug")

    class Meta:
        model = WorkflowDefinition
        fields = [
            "namespace",
            "name",
            "version",
            "is_default",
            "deprecated",
            "created_at",
        ]


class StepTemplateSerializer(serializers.Serializer):
    name = serializers.CharField()
    kind = serializers.CharField()
    handler = serializers.CharField()
    description = serializers.CharField()
    depends_on = serializers.ListField(child=serializers.CharField())
    retryable = serializers.BooleanField()
    retry_limit = serializers.IntegerField()
    timeout_seconds = serializers.IntegerField()
    backoff = serializers.SerializerMethodField()

    @extend_schema_field(
        {
            "type": "object",
            "properties": {
                "base_seconds": {"type": "number"},
                "max_seconds": {"type": "number"},
                "jitter": {"type": "boolean"},
            },
        }
    )
    def get_backoff(self, template: Any) -> dict[str, Any]:
        return {
            "base_seconds": template.backoff_base_seconds,
            "max_seconds": template.backoff_max_seconds,
            "jitter": template.backoff_jitter,
        }


class DagEdgeSerializer(serializers.Serializer):
    parent = serializers.CharField()
    child = serializers.CharField()


class DagSerializer(serializers.Serializer):
    nodes = serializers.ListField(child=serializers.CharField())
    edges = DagEdgeSerializer(many=True)


class VersionDetailSerializer(VersionSummarySerializer):
    description = serializers.CharField()
    context_schema = serializers.JSONField()
    example_context = serializers.JSONField(allow_null=True)
    steps = serializers.SerializerMethodField()
    dag = serializers.SerializerMethodField()

    class Meta(VersionSummarySerializer.Meta):
        fields = [
            *VersionSummarySerializer.Meta.fields,
            "description",
            "context_schema",
            "example_context",
            "steps",
            "dag",
        ]

    @extend_schema_field(StepTemplateSerializer(many=True))
    def get_steps(self, definition: WorkflowDefinition) -> list[dict[str, Any]]:
        return StepTemplateSerializer(definition.step_templates.all(), many=True).data

    @extend_schema_field(DagSerializer)
    def get_dag(self, definition: WorkflowDefinition) -> dict[str, Any]:
        templates = list(definition.step_templates.all())
        return {
            "nodes": [t.name for t in templates],
            "edges": [
                {"parent": dep, "child": t.name}
                for t in templates
                for dep in t.depends_on
            ],
        }


# --- tasks and steps -----------------------------------------------------------------


class SentText(serializers.CharField):
    """A CharField whose ``max_length`` counts the text as sent.

    DRF trims surrounding whitespace before its length check, so 3,000
    carriage returns and a letter passed a 2,000-character limit; the
    schema's ``maxLength`` is about the value in the request. And DRF turns
    a number into its text, where the schema says the value is a string.
    """

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        if (
            self.max_length is not None
            and isinstance(data, str)
            and len(data) > self.max_length
        ):
            self.fail("max_length", max_length=self.max_length)
        return super().to_internal_value(data)


class TaskCreateSerializer(serializers.Serializer):
    namespace = SentText(max_length=63)
    workflow = SentText(max_length=100)
    version = serializers.RegexField(
        r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$",
        max_length=32,
        required=False,
        allow_null=True,
        error_messages={"invalid": "Use MAJOR.MINOR.PATCH."},
    )
    context = serializers.DictField(validators=[storable_json])
    reason = SentText(max_length=2000, required=False, allow_blank=True)
    tags = serializers.ListField(
        child=SentText(max_length=50),
        max_length=MAX_TAGS,
        required=False,
    )


class TaskListQuerySerializer(serializers.Serializer):
    namespace = SentText(max_length=63, required=False)
    workflow = SentText(max_length=100, required=False)
    status = serializers.ChoiceField(choices=TaskStatus.choices, required=False)
    created_after = serializers.DateTimeField(required=False)
    created_before = serializers.DateTimeField(required=False)
    page_size = serializers.IntegerField(
        min_value=1, max_value=200, required=False, help_text="Default 50."
    )


class ReasonSerializer(serializers.Serializer):
    reason = SentText(max_length=2000, required=False, allow_blank=True)


class ResolveSerializer(ReasonSerializer):
    results = serializers.DictField(validators=[storable_json])


class DecisionSerializer(serializers.Serializer):
    comment = SentText(max_length=2000)


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


class TransitionSerializer(serializers.Serializer):
    step = serializers.CharField(allow_null=True)
    from_status = serializers.CharField()
    to_status = serializers.CharField()
    at = serializers.DateTimeField()
    actor = serializers.CharField()
    reason = serializers.CharField()
    attempt = serializers.IntegerField(allow_null=True)


def _redactor(context: dict[str, Any], task: Task, *, steps: bool = True) -> Redactor:
    """Return the caller's redactor of ``task``, built once per task and request.

    ``context["pii_namespace_ids"]`` holds the namespaces where the caller
    holds ``pii_viewer`` (or all of them, for a superuser). With ``steps``
    the redactor also knows the personal values of the task's steps (read
    from the prefetched steps, or in one query); a list page, which shows
    no step data, makes do with the context's.
    """
    cache = context.setdefault("_redactors", {})
    held = cache.get((task.pk, True))
    if held is None and not steps:
        held = cache.get((task.pk, False))
    if held is None:
        reveal = task.namespace_id in context.get("pii_namespace_ids", ())
        if not steps:
            held = context_redactor(task, reveal=reveal)
        else:
            prefetched = getattr(task, "_prefetched_objects_cache", {}).get("steps")
            held = task_redactor(task, reveal=reveal, steps=prefetched)
        cache[(task.pk, steps)] = held
    return held


# Task and step bodies are rendered by hand below rather than field by field:
# DRF deep-copies every declared field for every serializer instance, which
# made a 50-task list page cost ~50 ms of CPU. The declared fields still
# define the OpenAPI schema, and tests/api/test_representation.py checks the
# hand-written bodies against DRF's field-by-field rendering.
_DATETIME = serializers.DateTimeField()


def _datetime(value: Any) -> str | None:
    """Render a datetime exactly as the declared ``DateTimeField`` does."""
    return _DATETIME.to_representation(value) if value else None


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _strings(values: Any) -> list[str | None]:
    return [None if v is None else str(v) for v in values]


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
    context = serializers.SerializerMethodField()
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


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class TokenRefreshRotateSerializer(TokenRefreshSerializer):
    """simplejwt's refresh, answering 401 for a user deleted since issue.

    simplejwt looks the token's user up with ``.get()`` and let
    ``DoesNotExist`` escape as a 500; nothing is written before that look-up.
    """

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        try:
            return super().validate(attrs)
        except get_user_model().DoesNotExist:
            raise AuthenticationFailed(
                self.error_messages["no_active_account"], "no_active_account"
            ) from None


class TaskPageSerializer(serializers.Serializer):
    """One page of tasks; follow ``next`` until it is null."""

    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = TaskSummarySerializer(many=True)
