"""Move a task forward after one of its steps settles.

Called with the task row locked (``lock_task``), so two steps of one task
settling at the same moment are serialised here: the later one sees the
earlier one's commit, and a fan-in child is enqueued exactly once.
"""

from __future__ import annotations

from typing import Any

from django.db.models.functions import Now

from tasker_project.core.actors import Actor
from workflows.engine import dispatch
from workflows.engine.readiness import ready_children, task_step_counts
from workflows.engine.states import StepStatus, TaskStatus
from workflows.engine.transitions import steps_transition, task_transition
from workflows.models import Task


def lock_task(task_id: Any) -> Task:
    """Return the task row locked for update (SQLite: the write lock is held)."""
    # of=("self",): lock the task row only, never the joined namespace row,
    # which every task of the namespace shares.
    return (
        Task.objects.select_for_update(of=("self",))
        .select_related("namespace")
        .get(pk=task_id)
    )


def enqueue_ready_children(
    *, task: Task, step_id: Any, actor: Actor, hold: Any = None
) -> list[Any]:
    """Enqueue the children of ``step_id`` that are now ready; publish on commit.

    ``hold`` (an executor ``Continuation``) may keep one of them for the
    calling worker to run next instead of publishing it.
    """
    ready = dict(ready_children(step_id))
    moved = steps_transition(
        step_ids=list(ready),
        from_status=StepStatus.PENDING,
        to_status=StepStatus.ENQUEUED,
        actor=actor,
        reason="dependencies satisfied",
        updates={"enqueued_at": Now()},
    )
    to_publish = [(child_id, ready[child_id]) for child_id in moved]
    if hold is not None:
        to_publish = hold.take(to_publish)
    dispatch.publish_steps_on_commit(to_publish, namespace_slug=task.namespace.slug)
    return moved


def finalize_task(*, task: Task, actor: Actor) -> str:
    """Finish the task when no step is still moving; return its status.

    Every step satisfied → ``complete``. Nothing moving but a step failed →
    ``failed`` (its dependents can never run until someone retries or
    resolves it). Otherwise the task stays ``in_progress``.
    """
    if task.status != TaskStatus.IN_PROGRESS:
        return task.status
    counts = task_step_counts(task.pk)
    if counts["active"]:
        return task.status
    if counts["satisfied"] == counts["total"]:
        target, reason = TaskStatus.COMPLETE, "every step satisfied"
    elif counts["failed"]:
        target, reason = TaskStatus.FAILED, f"{counts['failed']} step(s) failed"
    else:
        return task.status
    if task_transition(
        task_id=task.pk,
        from_status=TaskStatus.IN_PROGRESS,
        to_status=target,
        actor=actor,
        reason=reason,
        updates={"completed_at": Now()},
    ):
        task.status = target
        if task.parent_step_id:
            from workflows.engine.subtasks import settle_parent_step

            settle_parent_step(child=task)
    return task.status
