"""Reads of workflow state, with their joins done."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet

from workflows.models import Step, StepEdge, Task


def task_get_with_steps(*, task_id: Any) -> Task:
    """Return one task with its definition, namespace and ordered steps loaded."""
    return (
        Task.objects.select_related("definition", "namespace", "initiator")
        .prefetch_related(
            Prefetch(
                "steps",
                queryset=Step.objects.select_related("template").order_by(
                    "template__position"
                ),
            )
        )
        .get(pk=task_id)
    )


def task_list(
    *, namespace: str | None = None, status: str | None = None
) -> QuerySet[Task]:
    """Return tasks, newest first, optionally filtered."""
    queryset = Task.objects.select_related("definition", "namespace")
    if namespace:
        queryset = queryset.filter(namespace__slug=namespace)
    if status:
        queryset = queryset.filter(status=status)
    return queryset.order_by("-created_at")


def step_dependencies(*, task: Task) -> dict[Any, list[str]]:
    """Return each step id's parent step names."""
    deps: dict[Any, list[str]] = {}
    for child_id, parent_name in StepEdge.objects.filter(task=task).values_list(
        "child_id", "parent__name"
    ):
        deps.setdefault(child_id, []).append(parent_name)
    return deps
