"""Which steps may run: those whose every parent is satisfied."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Exists, OuterRef, Q

from workflows.engine.states import STEP_ACTIVE, STEP_SATISFIED, StepStatus
from workflows.models import Step, StepEdge


def ready_children(step_id: Any) -> list[tuple[Any, int]]:
    """Return ``(id, timeout)`` of the pending children of ``step_id`` now ready.

    Costs one query touching only the step's children and their parents, so
    it does not grow with the size of the task.
    """
    blocked = StepEdge.objects.filter(child_id=OuterRef("child_id")).exclude(
        parent__status__in=STEP_SATISFIED
    )
    return list(
        StepEdge.objects.filter(parent_id=step_id, child__status=StepStatus.PENDING)
        .annotate(blocked=Exists(blocked))
        .filter(blocked=False)
        .values_list("child_id", "child__template__timeout_seconds")
    )


def task_step_counts(task_id: Any) -> dict[str, int]:
    """Return how many of the task's steps are active, satisfied, failed, in all."""
    return Step.objects.filter(task_id=task_id).aggregate(
        total=Count("pk"),
        active=Count("pk", filter=Q(status__in=STEP_ACTIVE)),
        satisfied=Count("pk", filter=Q(status__in=STEP_SATISFIED)),
        failed=Count("pk", filter=Q(status=StepStatus.FAILED)),
    )
