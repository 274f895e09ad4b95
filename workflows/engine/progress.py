"""Move a task forward after one of its steps settles.

Called with the task row locked (``lock_task``), so two steps of one task
settling at the same moment are serialised here: the later one sees the
earlier one's commit, and a fan-in child is enqueued exactly once. A child
task that finishes settles the subworkflow step waiting for it
(:func:`settle_parent_step`), which may finish the parent task in turn.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.functions import Now

from tasker_project.core.actors import SUBWORKFLOW, Actor
from workflows.engine import dispatch, sealing
from workflows.engine.readiness import ready_children, task_step_counts
from workflows.engine.states import (
    REASON_DEPENDENCIES_SATISFIED,
    REASON_EVERY_STEP_SATISFIED,
    REASON_STEPS_FAILED,
    StepStatus,
    TaskStatus,
)
from workflows.engine.transitions import (
    step_transition,
    steps_transition,
    task_transition,
)
from workflows.models import Step, Task

ENDED = (TaskStatus.COMPLETE, TaskStatus.FAILED, TaskStatus.CANCELLED)


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
        reason=REASON_DEPENDENCIES_SATISFIED,
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
        target, reason = TaskStatus.COMPLETE, REASON_EVERY_STEP_SATISFIED
    elif counts["failed"]:
        target = TaskStatus.FAILED
        reason = REASON_STEPS_FAILED.format(failed=counts["failed"])
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
            settle_parent_step(child=task)
    return task.status


def _child_results(child: Task) -> dict[str, Any]:
    return dict(child.steps.values_list("name", "results"))


def _outputs(child_results: dict[str, Any], outputs: dict[str, str]) -> dict[str, Any]:
    """Copy ``"<step>.<key>"`` paths from the child's results to the top level."""
    copied: dict[str, Any] = {}
    for name, path in outputs.items():
        step_name, _, key = path.partition(".")
        value: Any = child_results.get(step_name) or {}
        for part in key.split(".") if key else []:
            value = value.get(part) if isinstance(value, dict) else None
        copied[name] = value
    return copied


def settle_parent_step(*, child: Task) -> str | None:
    """Complete or fail the step waiting for ``child``; move its task on.

    A no-op when the parent step is no longer waiting (cancelled, or failed
    earlier and not yet retried).
    """
    if not child.parent_step_id:
        return None
    parent_step = Step.objects.select_related("task").get(pk=child.parent_step_id)
    if parent_step.status != StepStatus.WAITING_FOR_SUBTASK:
        return None
    with transaction.atomic():
        parent_task = lock_task(parent_step.task_id)
        child_results = sealing.open_for_task(child, _child_results(child))
        request = parent_step.approval_request or {}
        outputs = request.get("outputs") or {}
        if child.status == TaskStatus.COMPLETE:
            results = {
                "child_task_id": str(child.pk),
                "child_workflow": str(child.definition),
                "child_status": child.status,
                # The child's values cross sealed under the parent's key.
                **sealing.seal_outputs(
                    _outputs(child_results, outputs),
                    outputs,
                    source=child,
                    target=parent_task,
                ),
            }
            moved = step_transition(
                step_id=parent_step.pk,
                from_status=StepStatus.WAITING_FOR_SUBTASK,
                to_status=StepStatus.COMPLETE,
                actor=SUBWORKFLOW,
                record_attempt=parent_step.attempts,
                reason=f"child task {child.pk} complete",
                updates={"results": results, "error": None, "completed_at": Now()},
                step_name=parent_step.name,
            )
            if moved:
                enqueue_ready_children(
                    task=parent_task, step_id=parent_step.pk, actor=SUBWORKFLOW
                )
        else:
            failed = (
                child.steps.filter(status=StepStatus.FAILED)
                .values("name", "error")
                .first()
            )
            # Only the failing step's name and error code cross into the
            # calling team; the other team's messages stay in its namespace.
            cause = ""
            if failed:
                code = (failed["error"] or {}).get("code", "error")
                cause = f" at step '{failed['name']}' ({code})"
            error: dict[str, Any] = {
                "class": "workflows.engine.subtasks.SubtaskFailed",
                "code": f"subtask_{child.status}",
                "message": f"child task {child.pk} ({child.definition}) "
                f"{child.status}{cause}"[:2000],
                "attempt": parent_step.attempts,
                "child_task_id": str(child.pk),
            }
            moved = step_transition(
                step_id=parent_step.pk,
                from_status=StepStatus.WAITING_FOR_SUBTASK,
                to_status=StepStatus.FAILED,
                actor=SUBWORKFLOW,
                record_attempt=parent_step.attempts,
                reason=error["message"][:500],
                updates={"error": error, "completed_at": Now()},
                step_name=parent_step.name,
            )
        if moved:
            finalize_task(task=parent_task, actor=SUBWORKFLOW)
            return "settled"
    return None
