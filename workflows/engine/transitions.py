"""Where a task or step changes status on the ORM path: compare-and-set plus history.

A status changes only here, or — on PostgreSQL's hot path — in the two
statements written from :mod:`workflows.engine.states` for it: the claim
(:mod:`workflows.engine.claim_sql`) and the settle function
(:mod:`workflows.engine.settle_function`, called by
:mod:`workflows.engine.settle_sql`). Each writes its transition row in the
same statement or transaction as the change;
``tests/workflows/engine/test_settle_paths.py`` checks that the settle
function and this module leave the same rows.

Each function issues one conditional UPDATE guarded by the expected current
status (and, for a claimed step, the attempt number: a fencing token), then
writes the transition row in the same transaction. It returns whether the
row changed; ``False`` means someone else moved it first, and nothing was
written. Asking for a move the state machine forbids raises
:class:`IllegalTransition` before anything is written.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Now

from tasker_project.core.actors import Actor
from tasker_project.core.errors import ConcurrentChange, IllegalTransition
from workflows.engine.states import step_can_move, task_can_move
from workflows.models import Step, StepTransition, Task, TaskTransition


def step_transition(
    *,
    step_id: Any,
    from_status: str,
    to_status: str,
    actor: Actor,
    attempt: int | None = None,
    record_attempt: int | None = None,
    reason: str = "",
    metadata: dict[str, Any] | None = None,
    updates: dict[str, Any] | None = None,
    where: Q | None = None,
    step_name: str = "",
) -> bool:
    """Move one step ``from_status → to_status`` if it is still there.

    ``attempt`` fences the update to the claim that holds the step (its
    ``attempts`` must still equal it); the transition row records
    ``record_attempt`` (default: ``attempt``). ``where`` adds conditions.
    """
    if not step_can_move(from_status, to_status):
        raise IllegalTransition(
            f"step {step_name or step_id} cannot go from {from_status} to {to_status}"
        )
    filters: dict[str, Any] = {"pk": step_id, "status": from_status}
    if attempt is not None:
        filters["attempts"] = attempt
    queryset = Step.objects.filter(**filters)
    if where is not None:
        queryset = queryset.filter(where)
    with transaction.atomic(savepoint=False):
        changed = queryset.update(status=to_status, updated_at=Now(), **(updates or {}))
        if changed:
            StepTransition.objects.create(
                step_id=step_id,
                from_status=from_status,
                to_status=to_status,
                actor=actor.user,
                actor_label=actor.label,
                attempt=(record_attempt if record_attempt is not None else attempt)
                or 0,
                reason=reason,
                metadata=metadata or {},
            )
    return bool(changed)


def steps_transition(
    *,
    step_ids: Iterable[Any],
    from_status: str,
    to_status: str,
    actor: Actor,
    reason: str = "",
    updates: dict[str, Any] | None = None,
) -> list[Any]:
    """Move many steps of one status at once; return the ids that moved.

    Call it with the task row locked and only for moves that happen under
    that lock (``pending`` steps change only there), so every id given is
    still in ``from_status``; a count that disagrees is a bug, and raises.
    """
    if not step_can_move(from_status, to_status):
        raise IllegalTransition(f"steps cannot go from {from_status} to {to_status}")
    moved = list(step_ids)
    if not moved:
        return []
    with transaction.atomic(savepoint=False):
        changed = Step.objects.filter(pk__in=moved, status=from_status).update(
            status=to_status, updated_at=Now(), **(updates or {})
        )
        if changed != len(moved):
            raise ConcurrentChange(
                f"{len(moved) - changed} of {len(moved)} steps left {from_status} "
                "while their task was locked"
            )
        StepTransition.objects.bulk_create(
            StepTransition(
                step_id=step_id,
                from_status=from_status,
                to_status=to_status,
                actor=actor.user,
                actor_label=actor.label,
                reason=reason,
            )
            for step_id in moved
        )
    return moved


def task_transition(
    *,
    task_id: Any,
    from_status: str,
    to_status: str,
    actor: Actor,
    reason: str = "",
    metadata: dict[str, Any] | None = None,
    updates: dict[str, Any] | None = None,
) -> bool:
    """Move one task ``from_status → to_status`` if it is still there."""
    if not task_can_move(from_status, to_status):
        raise IllegalTransition(
            f"task {task_id} cannot go from {from_status} to {to_status}"
        )
    with transaction.atomic(savepoint=False):
        changed = Task.objects.filter(pk=task_id, status=from_status).update(
            status=to_status, updated_at=Now(), **(updates or {})
        )
        if changed:
            TaskTransition.objects.create(
                task_id=task_id,
                from_status=from_status,
                to_status=to_status,
                actor=actor.user,
                actor_label=actor.label,
                reason=reason,
                metadata=metadata or {},
            )
    return bool(changed)
