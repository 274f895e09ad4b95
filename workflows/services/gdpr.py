"""The tasks' part in GDPR export and erasure (:mod:`audit.gdpr`).

Registered from :meth:`workflows.apps.WorkflowsConfig.ready` for the owner
type ``workflows.task``: a subject's tasks are exported with their steps,
transitions and audit events, decrypted with each task's key; unfinished
tasks hold an erasure back until they end or are cancelled through
:func:`workflows.services.tasks.task_cancel`.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import Q

from audit import gdpr
from audit.crypto import box_for
from audit.models import AuditEvent
from tasker_project.core.actors import Actor
from tasker_project.core.errors import ConcurrentChange, IllegalTransition
from workflows.engine.sealing import TASK_OWNER
from workflows.engine.states import TASK_TERMINAL
from workflows.models import Step, StepTransition, Task, TaskTransition
from workflows.services.tasks import task_cancel


def _ids(owner_ids: list[str]) -> list[uuid.UUID]:
    found = []
    for owner_id in owner_ids:
        try:
            found.append(uuid.UUID(str(owner_id)))
        except ValueError:
            continue
    return found


def _transition(row: Any, box: Any) -> dict[str, Any]:
    return {
        "at": row.created_at.isoformat(),
        "from": row.from_status,
        "to": row.to_status,
        "actor": row.actor_label,
        "reason": box.open(row.reason),
        "metadata": box.open(row.metadata),
    }


def tasks_export(owner_ids: list[str]) -> list[dict[str, Any]]:
    """Return each task with its steps, transitions and audit events, decrypted."""
    tasks = list(
        Task.objects.filter(pk__in=_ids(owner_ids))
        .select_related("definition", "namespace")
        .order_by("created_at", "pk")
    )
    task_ids = [task.pk for task in tasks]
    steps: dict[Any, list[Step]] = {}
    for step in Step.objects.filter(task_id__in=task_ids).order_by("created_at", "pk"):
        steps.setdefault(step.task_id, []).append(step)
    step_ids = [step.pk for rows in steps.values() for step in rows]
    task_moves: dict[Any, list[TaskTransition]] = {}
    for move in TaskTransition.objects.filter(task_id__in=task_ids):
        task_moves.setdefault(move.task_id, []).append(move)
    step_moves: dict[Any, list[StepTransition]] = {}
    for step_move in StepTransition.objects.filter(step_id__in=step_ids):
        step_moves.setdefault(step_move.step_id, []).append(step_move)
    step_task = {step.pk: step.task_id for rows in steps.values() for step in rows}
    events: dict[Any, list[AuditEvent]] = {}
    for event in AuditEvent.objects.filter(
        Q(object_type="task", object_id__in=[str(pk) for pk in task_ids])
        | Q(object_type="step", object_id__in=[str(pk) for pk in step_ids])
    ).order_by("created_at", "seq"):
        owner_id = (
            uuid.UUID(event.object_id)
            if event.object_type == "task"
            else step_task.get(uuid.UUID(event.object_id))
        )
        events.setdefault(owner_id, []).append(event)
    exported = []
    for task in tasks:
        box = box_for(task.data_key_id)
        exported.append(
            gdpr.jsonable(
                {
                    "id": str(task.pk),
                    "namespace": task.namespace.slug,
                    "definition": str(task.definition),
                    "status": task.status,
                    "created_at": task.created_at,
                    "completed_at": task.completed_at,
                    "reason": box.open(task.reason),
                    "context": box.open(task.context),
                    "steps": [
                        {
                            "name": step.name,
                            "status": step.status,
                            "results": box.open(step.results),
                            "approval_request": box.open(step.approval_request),
                            "error": box.open(step.error),
                            "decision": step.decision,
                            "decision_comment": box.open(step.decision_comment),
                            "transitions": [
                                _transition(move, box)
                                for move in step_moves.get(step.pk, [])
                            ],
                        }
                        for step in steps.get(task.pk, [])
                    ],
                    "transitions": [
                        _transition(move, box) for move in task_moves.get(task.pk, [])
                    ],
                    "audit_events": [
                        {
                            "at": event.created_at,
                            "action": event.action,
                            "actor": event.actor_label,
                            "object": f"{event.object_type}:{event.object_id}",
                            "reason": box.open(event.reason),
                            "metadata": box.open(event.metadata),
                        }
                        for event in events.get(task.pk, [])
                    ],
                }
            )
        )
    return exported


def _unfinished_tasks(owner_ids: list[str]) -> list[Task]:
    return list(
        Task.objects.filter(pk__in=_ids(owner_ids))
        .exclude(status__in=TASK_TERMINAL)
        .select_related("definition")
        .order_by("created_at", "pk")
    )


def tasks_unfinished(owner_ids: list[str]) -> list[str]:
    """Describe the tasks not yet ended (``task <id> (<definition>, <status>)``)."""
    return [
        f"task {task.pk} ({task.definition}, {task.status})"
        for task in _unfinished_tasks(owner_ids)
    ]


def tasks_cancel(owner_ids: list[str], *, actor: Actor, reason: str) -> int:
    """Cancel the unfinished tasks among ``owner_ids``; return how many."""
    cancelled = 0
    for task in _unfinished_tasks(owner_ids):
        try:
            task_cancel(task=task, actor=actor, reason=f"GDPR erasure: {reason}")
        except (IllegalTransition, ConcurrentChange):
            continue  # ended meanwhile; the erasure re-checks what is left
        cancelled += 1
    return cancelled


def register() -> None:
    """Register the tasks with :mod:`audit.gdpr`."""
    gdpr.register(
        TASK_OWNER,
        export=tasks_export,
        unfinished=tasks_unfinished,
        cancel=tasks_cancel,
    )
