"""Which steps may run: those whose every parent is satisfied."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, F, Q

from workflows.engine.states import STEP_ACTIVE, STEP_SATISFIED, StepStatus
from workflows.models import Step


def ready_children(step_id: Any) -> list[tuple[Any, int]]:
    """Count ``step_id`` as satisfied for its children; return the ready ones.

    Call it once per parent that became satisfied, with the task row locked:
    each child waits on one parent fewer (``Step.waiting_on``), and the
    pending children now waiting on none are returned as ``(id, timeout)``.
    Touches only the step's children, however many parents they have.
    """
    children = Step.objects.filter(parent_edges__parent_id=step_id)
    children.update(waiting_on=F("waiting_on") - 1)
    return list(
        children.filter(status=StepStatus.PENDING, waiting_on=0).values_list(
            "pk", "template__timeout_seconds"
        )
    )


def task_step_counts(task_id: Any) -> dict[str, int]:
    """Return how many of the task's steps are active, satisfied, failed, in all."""
    return Step.objects.filter(task_id=task_id).aggregate(
        total=Count("pk"),
        active=Count("pk", filter=Q(status__in=STEP_ACTIVE)),
        satisfied=Count("pk", filter=Q(status__in=STEP_SATISFIED)),
        failed=Count("pk", filter=Q(status=StepStatus.FAILED)),
    )
