"""Reads of workflow state, scoped to what the user may see, joins done.

Every function taking ``user`` returns only objects in namespaces where the
user holds a role (superusers: all). An object outside them does not exist
for that user: ``*_get`` raises :class:`NotFound`, never a permission error
that would reveal it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.db.models import Count, Prefetch, Q, QuerySet

from audit.models import AuditEvent
from audit.pii import Redactor
from namespaces.models import Namespace
from namespaces.permissions import namespaces_for
from namespaces.roles import Action
from namespaces.scoping import visible
from tasker_project.core.errors import NotFound
from workflows.engine.states import StepStatus
from workflows.models import (
    Step,
    StepTransition,
    Task,
    TaskTransition,
    WorkflowDefinition,
)


def _as_uuid(value: Any, what: str) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        raise NotFound(f"{what} {value!r} not found") from None


def _visible(
    queryset: QuerySet, *, user: Any, path: str = "namespace", action: str = Action.VIEW
) -> QuerySet:
    """Keep the rows whose namespace (at ``path``) lets ``user`` do ``action``."""
    return visible(queryset, user=user, path=path, action=action)


def namespace_list(*, user: Any) -> QuerySet[Namespace]:
    """Return the namespaces ``user`` holds any role in."""
    return namespaces_for(user, Action.VIEW).order_by("slug")


def namespace_get(*, user: Any, slug: str) -> Namespace:
    """Return one visible namespace by slug."""
    namespace = namespace_list(user=user).filter(slug=slug).first()
    if namespace is None:
        raise NotFound(f"namespace {slug!r} not found")
    return namespace


def definition_list(
    *, user: Any, namespace: str | None = None, name: str | None = None
) -> QuerySet[WorkflowDefinition]:
    """Return visible definitions, newest version first within each workflow."""
    queryset = _visible(
        WorkflowDefinition.objects.select_related("namespace"), user=user
    )
    if namespace:
        queryset = queryset.filter(namespace__slug=namespace)
    if name:
        queryset = queryset.filter(name=name)
    return queryset.order_by(
        "namespace__slug", "name", "-version_major", "-version_minor", "-version_patch"
    )


def task_list(
    *,
    user: Any,
    namespace: str | None = None,
    workflow: str | None = None,
    status: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> QuerySet[Task]:
    """Return visible tasks, newest first, filtered."""
    queryset = _visible(
        Task.objects.select_related("definition", "namespace", "data_key"), user=user
    )
    if namespace:
        queryset = queryset.filter(namespace__slug=namespace)
    if workflow:
        queryset = queryset.filter(definition__name=workflow)
    if status:
        queryset = queryset.filter(status=status)
    if created_after:
        queryset = queryset.filter(created_at__gte=created_after)
    if created_before:
        queryset = queryset.filter(created_at__lt=created_before)
    return queryset.order_by("-created_at", "-id")


# What a list page renders of a task (see TaskSummarySerializer): building
# each row's definition and namespace in full cost a page more than the query.
SUMMARY_COLUMNS = (
    "id",
    "namespace_id",
    "definition_id",
    "status",
    "context",
    "correlation_id",
    "idempotency_key",
    "reason",
    "tags",
    "initiator_label",
    "source_system",
    "parent_step_id",
    "data_key__id",
    "data_key__wrapped",
    "data_key__master_id",
    "created_at",
    "started_at",
    "completed_at",
    "definition__name",
    "definition__version",
    "definition__context_schema",
    "namespace__slug",
)


def task_summary_list(*, user: Any, **filters: Any) -> QuerySet[Task]:
    """Return :func:`task_list` loading only the columns a list page shows."""
    return task_list(user=user, **filters).only(*SUMMARY_COLUMNS)


def step_counts(*, tasks: list[Task]) -> dict[Any, dict[str, int]]:
    """Return each task's number of steps by status, in the state machine's order.

    ``tasks`` are tasks the caller already holds (a page of :func:`task_list`),
    so this needs no scoping of its own. One query, whatever the page size.
    """
    counts: dict[Any, dict[str, int]] = {task.pk: {} for task in tasks}
    rows = (
        Step.objects.filter(task_id__in=list(counts))
        .order_by()
        .values_list("task_id", "status")
        .annotate(n=Count("pk"))
    )
    for task_id, status, n in rows:
        counts[task_id][status] = n
    order = {status: index for index, status in enumerate(StepStatus.values)}
    return {
        pk: dict(sorted(by_status.items(), key=lambda item: order[item[0]]))
        for pk, by_status in counts.items()
    }


def _steps_prefetch() -> Prefetch:
    return Prefetch(
        "steps",
        queryset=Step.objects.select_related("template", "decided_by").order_by(
            "template__position"
        ),
    )


def task_get(*, user: Any, task_id: Any) -> Task:
    """Return one visible task with its steps (definition order) loaded."""
    task = (
        task_list(user=user)
        .prefetch_related(_steps_prefetch())
        .filter(pk=_as_uuid(task_id, "task"))
        .first()
    )
    if task is None:
        raise NotFound(f"task {task_id} not found")
    return task


def step_get(*, user: Any, step_id: Any, task_id: Any = None) -> Step:
    """Return one visible step (of ``task_id`` when given)."""
    queryset = _visible(
        Step.objects.select_related(
            "template",
            "task",
            "task__namespace",
            "task__definition",
            "task__data_key",
            "decided_by",
        ),
        user=user,
        path="task__namespace",
    )
    if task_id is not None:
        queryset = queryset.filter(task_id=_as_uuid(task_id, "task"))
    step = queryset.filter(pk=_as_uuid(step_id, "step")).first()
    if step is None:
        raise NotFound(f"step {step_id} not found")
    return step


def approvals_for(*, user: Any) -> QuerySet[Step]:
    """Return steps waiting for a decision ``user`` may make (not their own tasks)."""
    return (
        _visible(
            Step.objects.select_related(
                "task", "task__namespace", "task__definition", "task__data_key"
            ),
            user=user,
            path="task__namespace",
            action=Action.APPROVE,
        )
        .filter(status=StepStatus.WAITING_FOR_APPROVAL)
        .exclude(task__initiator=user)
        .order_by("updated_at")
    )


def task_transitions(*, task: Task) -> list[dict[str, Any]]:
    """Return the task's and its steps' transitions, oldest first."""
    columns = ("from_status", "to_status", "created_at", "actor_label", "reason")
    rows = [
        {
            "step": None,
            "from_status": from_status,
            "to_status": to_status,
            "at": at,
            "actor": actor,
            "reason": reason,
            "attempt": None,
        }
        for from_status, to_status, at, actor, reason in TaskTransition.objects.filter(
            task=task
        ).values_list(*columns)
    ]
    rows += [
        {
            "step": step,
            "from_status": from_status,
            "to_status": to_status,
            "at": at,
            "actor": actor,
            "reason": reason,
            "attempt": attempt,
        }
        for step, from_status, to_status, at, actor, reason, attempt in (
            StepTransition.objects.filter(step__task=task).values_list(
                "step__name", *columns, "attempt"
            )
        )
    ]
    return sorted(rows, key=lambda row: row["at"])


def task_history(*, task: Task, redactor: Redactor) -> list[dict[str, Any]]:
    """Return the task's whole history on one timeline, oldest first.

    Merges the task's transitions, its steps' transitions and the audit
    events about the task or any of its steps (``object_type`` "task" or
    "step", ``object_id`` the pk). ``task`` comes from :func:`task_get`, so
    the caller may see it; ``redactor`` is the caller's for that task (free
    text scrubbed, metadata masked; an audit event's redactor also learns the
    personal values in its own metadata). Four queries, whatever the length.
    """
    step_names = dict(Step.objects.filter(task=task).values_list("pk", "name"))
    rows: list[dict[str, Any]] = []
    for task_row in TaskTransition.objects.filter(task=task).values(
        "from_status", "to_status", "created_at", "actor_label", "reason", "metadata"
    ):
        rows.append(_history_row("task_transition", task_row, None, None, redactor))
    for step_row in StepTransition.objects.filter(step__task=task).values(
        "step_id",
        "from_status",
        "to_status",
        "created_at",
        "actor_label",
        "reason",
        "metadata",
        "attempt",
    ):
        rows.append(
            _history_row(
                "step_transition",
                step_row,
                step_names.get(step_row["step_id"]),
                None,
                redactor,
            )
        )
    events = AuditEvent.objects.filter(
        Q(object_type="task", object_id=str(task.pk))
        | Q(object_type="step", object_id__in=[str(pk) for pk in step_names])
    ).values(
        "object_type",
        "object_id",
        "created_at",
        "actor_label",
        "action",
        "reason",
        "metadata",
    )
    for event in events:
        step = (
            step_names.get(uuid.UUID(event["object_id"]))
            if event["object_type"] == "step"
            else None
        )
        rows.append(
            _history_row(
                "audit", event, step, event["action"], redactor.learn(event["metadata"])
            )
        )
    return sorted(rows, key=lambda row: row["at"])


def _history_row(
    kind: str,
    row: Mapping[str, Any],
    step: str | None,
    action: str | None,
    redactor: Redactor,
) -> dict[str, Any]:
    """Return one timeline entry of :func:`task_history`, redacted."""
    return {
        "kind": kind,
        "at": row["created_at"],
        "actor": row["actor_label"],
        "step": step,
        "from_status": row.get("from_status"),
        "to_status": row.get("to_status"),
        "action": action,
        "attempt": row.get("attempt"),
        "reason": redactor.text(row["reason"]) or "",
        "metadata": redactor.data(row["metadata"] or {}),
    }


def task_get_with_steps(*, task_id: Any) -> Task:
    """Return one task unscoped, for trusted system callers (CLI, engine)."""
    return (
        Task.objects.select_related("definition", "namespace", "initiator", "data_key")
        .prefetch_related(_steps_prefetch())
        .get(pk=task_id)
    )
